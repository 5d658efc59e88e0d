//! Task storage: an in-memory map shared by the workers, or PostgreSQL through a pool per
//! worker thread (each worker is its own single-threaded runtime, so its connections live
//! there and never cross threads).

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Its id (assigned in creation order).
    pub id: i64,
    /// What to do.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
    /// When it was created, RFC 3339 in UTC.
    pub created_at: String,
}

/// Where tasks live.
#[derive(Debug, Clone)]
pub enum Mode {
    /// In this process's memory.
    Memory,
    /// In PostgreSQL.
    Postgres {
        /// `postgres://user@host:port/db`.
        url: String,
        /// Connections per worker thread.
        pool_size: usize,
    },
}

/// A storage failure (the database is unreachable or refused a query).
#[derive(Debug)]
pub struct StoreError(String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError(e.to_string())
    }
}

static MODE: OnceLock<Mode> = OnceLock::new();

#[derive(Default)]
struct Memory {
    next: i64,
    tasks: BTreeMap<i64, Task>,
}

static MEMORY: Mutex<Memory> = Mutex::new(Memory {
    next: 0,
    tasks: BTreeMap::new(),
});

thread_local! {
    static POOL: OnceCell<deadpool_postgres::Pool> = const { OnceCell::new() };
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS tasks (
    id BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    done BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// The columns every query returns, `created_at` already formatted.
const COLUMNS: &str =
    "id, title, done, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";

/// Chooses the storage for this process (once) and, for PostgreSQL, creates the schema.
pub fn configure(mode: Mode) -> Result<(), StoreError> {
    if let Mode::Postgres { url, .. } = &mode {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError(e.to_string()))?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            let driver = tokio::spawn(conn);
            client.batch_execute(SCHEMA).await?;
            drop(client);
            let _ = driver.await;
            Ok::<(), StoreError>(())
        })?;
    }
    MODE.set(mode)
        .map_err(|_| StoreError("storage is already configured".to_owned()))
}

fn mode() -> &'static Mode {
    MODE.get_or_init(|| Mode::Memory)
}

/// This worker's pool (created on first use, on this worker's runtime).
fn pool(url: &str, size: usize) -> Result<deadpool_postgres::Pool, StoreError> {
    POOL.with(|cell| {
        if let Some(p) = cell.get() {
            return Ok(p.clone());
        }
        let mut cfg = deadpool_postgres::Config::new();
        cfg.url = Some(url.to_owned());
        cfg.pool = Some(deadpool_postgres::PoolConfig::new(size.max(1)));
        let p = cfg
            .create_pool(
                Some(deadpool_postgres::Runtime::Tokio1),
                tokio_postgres::NoTls,
            )
            .map_err(|e| StoreError(e.to_string()))?;
        let _ = cell.set(p.clone());
        Ok(p)
    })
}

async fn client() -> Result<deadpool_postgres::Object, StoreError> {
    match mode() {
        Mode::Postgres { url, pool_size } => Ok(pool(url, *pool_size)?.get().await?),
        Mode::Memory => Err(StoreError("not a database store".to_owned())),
    }
}

fn row(r: &tokio_postgres::Row) -> Task {
    Task {
        id: r.get(0),
        title: r.get(1),
        done: r.get(2),
        created_at: r.get(3),
    }
}

fn memory() -> std::sync::MutexGuard<'static, Memory> {
    // A panic while holding the lock leaves plain data behind: keep serving it.
    MEMORY.lock().unwrap_or_else(|e| e.into_inner())
}

/// One page of tasks, newest first, and the total count.
pub async fn list(page: i64, limit: i64) -> Result<(Vec<Task>, i64), StoreError> {
    let offset = (page - 1) * limit;
    if let Mode::Memory = mode() {
        let m = memory();
        let tasks = m
            .tasks
            .values()
            .rev()
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        return Ok((tasks, m.tasks.len() as i64));
    }
    let c = client().await?;
    let page_sql = format!("SELECT {COLUMNS} FROM tasks ORDER BY id DESC LIMIT $1 OFFSET $2");
    let (page_stmt, count_stmt) = tokio::try_join!(
        c.prepare_cached(&page_sql),
        c.prepare_cached("SELECT count(*) FROM tasks")
    )?;
    // Both queries go out together on the one connection (tokio-postgres pipelines them).
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&limit, &offset];
    let (rows, count) =
        tokio::try_join!(c.query(&page_stmt, &params), c.query_one(&count_stmt, &[]))?;
    Ok((rows.iter().map(row).collect(), count.get(0)))
}

/// The task with this id.
pub async fn get(id: i64) -> Result<Option<Task>, StoreError> {
    if let Mode::Memory = mode() {
        return Ok(memory().tasks.get(&id).cloned());
    }
    let c = client().await?;
    let stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = $1"))
        .await?;
    Ok(c.query_opt(&stmt, &[&id]).await?.as_ref().map(row))
}

/// Creates a task.
pub async fn create(title: &str) -> Result<Task, StoreError> {
    if let Mode::Memory = mode() {
        let mut m = memory();
        m.next += 1;
        let task = Task {
            id: m.next,
            title: title.to_owned(),
            done: false,
            created_at: now_rfc3339(),
        };
        m.tasks.insert(task.id, task.clone());
        return Ok(task);
    }
    let c = client().await?;
    let stmt = c
        .prepare_cached(&format!(
            "INSERT INTO tasks (title) VALUES ($1) RETURNING {COLUMNS}"
        ))
        .await?;
    Ok(row(&c.query_one(&stmt, &[&title]).await?))
}

/// Changes a task's title and/or done flag.
pub async fn update(
    id: i64,
    title: Option<&str>,
    done: Option<bool>,
) -> Result<Option<Task>, StoreError> {
    if let Mode::Memory = mode() {
        let mut m = memory();
        return Ok(m.tasks.get_mut(&id).map(|t| {
            if let Some(title) = title {
                t.title = title.to_owned();
            }
            if let Some(done) = done {
                t.done = done;
            }
            t.clone()
        }));
    }
    let c = client().await?;
    let stmt = c
        .prepare_cached(&format!(
            "UPDATE tasks SET title = COALESCE($2, title), done = COALESCE($3, done) WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .await?;
    Ok(c.query_opt(&stmt, &[&id, &title, &done])
        .await?
        .as_ref()
        .map(row))
}

/// Deletes a task; `false` when there was none.
pub async fn delete(id: i64) -> Result<bool, StoreError> {
    if let Mode::Memory = mode() {
        return Ok(memory().tasks.remove(&id).is_some());
    }
    let c = client().await?;
    let stmt = c.prepare_cached("DELETE FROM tasks WHERE id = $1").await?;
    Ok(c.execute(&stmt, &[&id]).await? == 1)
}

/// Now as RFC 3339 UTC with microseconds (`2026-11-26T12:00:00.123456Z`).
fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339() {
        let t = super::now_rfc3339();
        assert_eq!(t.len(), 27, "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T",
            "{t}"
        );
    }
}
