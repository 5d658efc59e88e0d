//! Watching files for the dev loop: `notify` events, debounced (a rebuild starts once
//! the files have been quiet for a while, so one save of several files is one rebuild).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

/// How often a wait looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// A file watcher over a set of paths that may change between rounds.
pub(super) struct Watcher {
    inner: notify::RecommendedWatcher,
    events: Receiver<notify::Result<notify::Event>>,
    watched: Vec<PathBuf>,
    /// The paths whose changes start a round (files, and directories with their contents).
    relevant: Vec<PathBuf>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("watched", &self.watched)
            .finish()
    }
}

impl Watcher {
    /// A watcher over nothing yet.
    pub(super) fn new() -> std::io::Result<Watcher> {
        let (tx, events) = channel();
        let inner = notify::recommended_watcher(move |e| {
            let _ = tx.send(e);
        })
        .map_err(std::io::Error::other)?;
        Ok(Watcher {
            inner,
            events,
            watched: Vec::new(),
            relevant: Vec::new(),
        })
    }

    /// Watches `paths` (directories recursively; missing ones are skipped): the files an
    /// edited spec includes may change from one round to the next.
    pub(super) fn watch(&mut self, paths: &[PathBuf]) {
        for p in std::mem::take(&mut self.watched) {
            let _ = self.inner.unwatch(&p);
        }
        for p in paths {
            // Editors replace a file by renaming a new one over it: watching the file's
            // directory sees that; watching the file alone would lose it.
            let target: &Path = if p.is_dir() {
                p
            } else {
                match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                }
            };
            if self.watched.iter().any(|w| w == target) || !target.exists() {
                continue;
            }
            let mode = if p.is_dir() {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            if self.inner.watch(target, mode).is_ok() {
                self.watched.push(target.to_path_buf());
            }
        }
        self.relevant = paths.iter().map(|p| absolute(p)).collect();
        // Events from before this round (our own build's writes) are stale.
        while self.events.try_recv().is_ok() {}
    }

    /// Waits for a change to a watched path, then for `quiet` without one. `false` when
    /// `stop()` turned true first.
    pub(super) fn wait(&mut self, quiet: Duration, stop: fn() -> bool) -> bool {
        loop {
            if stop() {
                return false;
            }
            match self.events.recv_timeout(POLL) {
                Ok(Ok(e)) if self.matters(&e) => break,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
        loop {
            match self.events.recv_timeout(quiet) {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// Whether an event changes one of the relevant paths (a file itself, or anything
    /// under a watched directory); reads are not changes.
    fn matters(&self, e: &notify::Event) -> bool {
        if matches!(e.kind, EventKind::Access(_)) {
            return false;
        }
        e.paths.iter().any(|p| {
            self.relevant
                .iter()
                .any(|r| p.starts_with(r) || same_file(p, r))
        })
    }
}

/// `p` as an absolute path without `.`/symlinks where it exists (events name absolute paths).
fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or(p.to_path_buf()))
}

/// Whether two paths name one file (one may be relative to the current directory).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.file_name().is_some() && a.file_name() == b.file_name() && a.ends_with(b),
    }
}
