//! The [`Service`] trait the generated `App` implements, and [`ParamSpans`], how a route's
//! path parameters travel from routing to dispatch.

use std::future::Future;

use crate::config::{RouteLimits, ServerConfig};
use crate::http::method::Method;
use crate::http::request::Request;
use crate::http::response::Response;

/// An application: a router, a request → response function and its compiled-in settings.
///
/// The runtime routes each request once: [`Service::route`] runs as soon as the head is
/// parsed (its limits decide how much body to accept and how long the handler may take),
/// and the [`Service::Route`] it returns is handed back to [`Service::call`] once the body
/// is in, so dispatch does not match the path again.
///
/// Generated code implements this for a zero-sized `App`; each worker thread gets its own
/// clone, and the futures it returns need not be `Send` (each worker is single-threaded).
pub trait Service: Clone + Send + 'static {
    /// What routing found for a request head. It must not borrow the request: the
    /// connection's buffer may grow (and move) while the body arrives, so positions in the
    /// path are kept as offsets (see [`ParamSpans`]).
    type Route: Copy;

    /// Routes a request head: what [`Service::call`] needs, and the limits of the route
    /// where they differ from the server's. Called before the body is read, so a route's
    /// `max_body_size` is enforced from the headers.
    fn route(&self, method: Method<'_>, path: &str) -> (Self::Route, RouteLimits);

    /// Answers one request, with what [`Service::route`] returned for its head (the same
    /// method and path).
    fn call<'a>(
        &'a self,
        route: Self::Route,
        req: &'a Request<'a>,
    ) -> impl Future<Output = Response> + 'a;

    /// The server settings from the spec (before environment overrides).
    fn config(&self) -> ServerConfig {
        ServerConfig::default()
    }

    /// Runs once when a server starts, before it binds: loads what the spec says must be
    /// there at start-up (cookie keys). An error stops the start with its message.
    fn prepare(&self) -> std::io::Result<()> {
        Ok(())
    }

    /// Runs on each worker thread once its runtime is up, before it serves (inside its
    /// `LocalSet`, so it may `spawn_local`). Generated apps connect their remote caches here.
    fn on_worker_start(&self) {}

    // observe (obs, issue 16)
    /// The label values of the app's metric families (route templates, caches, limiters,
    /// models), from the spec. Generated apps return theirs; `None`: one route.
    #[doc(hidden)]
    fn metric_families(&self) -> Option<&'static crate::observe::metrics::Families> {
        None
    }

    /// The index of `route`'s template among [`Service::metric_families`]' routes (0: no
    /// route matched).
    #[doc(hidden)]
    #[inline]
    fn route_id(&self, route: &Self::Route) -> usize {
        let _ = route;
        0
    }

    /// Runs on each worker thread after it has stopped serving. Generated apps close their
    /// remote cache connections here.
    fn on_worker_stop(&self) {}
}

/// Where a router found up to `N` path parameters: byte ranges into the path, as offsets,
/// so they stay valid when the buffer holding the path moves. `Copy`, no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamSpans<const N: usize>([(u32, u32); N]);

impl<const N: usize> ParamSpans<N> {
    /// The spans of `params`, which a router filled with slices of `path`. An entry that is
    /// not a slice of `path` (a parameter the matched route does not have, left at its
    /// initial `""`) gets an empty span.
    #[inline]
    pub fn of(path: &str, params: &[&str; N]) -> Self {
        let base = path.as_ptr() as usize;
        let mut spans = [(0u32, 0u32); N];
        for (span, p) in spans.iter_mut().zip(params) {
            let start = (p.as_ptr() as usize).wrapping_sub(base);
            let end = start.wrapping_add(p.len());
            // Out of `path` (or beyond `u32`, which no request line reaches): empty.
            if end <= path.len()
                && start <= end
                && let (Ok(s), Ok(e)) = (u32::try_from(start), u32::try_from(end))
            {
                *span = (s, e);
            }
        }
        ParamSpans(spans)
    }

    /// The parameters as slices of `path` (the same text [`ParamSpans::of`] was given,
    /// wherever it is now). A span that does not fit `path` gives `""`.
    #[inline]
    pub fn get<'p>(&self, path: &'p str) -> [&'p str; N] {
        self.0
            .map(|(s, e)| path.get(s as usize..e as usize).unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_survive_a_move_of_the_path() {
        let path = String::from("/things/bolt/parts/42");
        let params = [&path[8..12], &path[19..]];
        let spans = ParamSpans::of(&path, &params);
        let moved = path.clone();
        drop(path);
        assert_eq!(spans.get(&moved), ["bolt", "42"]);
    }

    #[test]
    fn unfilled_and_foreign_entries_are_empty() {
        let path = "/a/b";
        let other = String::from("elsewhere");
        let spans = ParamSpans::of(path, &["", &path[3..], &other]);
        assert_eq!(spans.get(path), ["", "b", ""]);
        // A shorter path than the one routed: no panic, empty.
        assert_eq!(spans.get("/a"), ["", "", ""]);
    }
}
