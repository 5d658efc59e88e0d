//! Sessions declared in the spec: a [`Session`] handle for the handlers of routes with
//! `session: NAME`, loaded before the handler runs and saved after it returns.
//!
//! ```yaml
//! cookies: { keys_env: COOKIE_KEYS }     # needed by the `cookie` store only
//! sessions:
//!   web:
//!     store: redis                       # cookie | memory | redis
//!     redis: { url: "${REDIS_URL:-redis://127.0.0.1:6379}", prefix: "app:sess:" }
//!     cookie: { name: sid, secure: true, same_site: lax }
//!     idle_ttl: 30m
//!     absolute_ttl: 12h
//! routes:
//!   POST /login: { handler: login, session: web }
//! ```
//!
//! ```ignore
//! use ember_runtime::{Request, Response, Session, StatusCode};
//!
//! pub async fn login(req: &Request<'_>, session: &mut Session) -> Response {
//!     let user = check_password(req.body()).await;
//!     session.regenerate();                  // a new id: defeats session fixation
//!     let _ = session.insert("user", &user);
//!     Response::new(StatusCode::NO_CONTENT)
//! }
//!
//! pub async fn me(session: &mut Session) -> Response {
//!     match session.get::<String>("user") {
//!         Some(u) => Response::text(u),
//!         None => Response::error(StatusCode::UNAUTHORIZED),
//!     }
//! }
//! ```
//!
//! * **Stores**: `cookie` keeps the data in an encrypted (private) cookie, nothing on the
//!   server; `memory` in this process (shared by its workers, lost on restart); `redis`
//!   in Redis (shared by every instance using it).
//! * **Ids** are 256 random bits. The cookie is set only when needed: a new session with
//!   data, a new id (`regenerate`), data changed (cookie store), a cookie re-issued
//!   (cookie store: under a rotated key, or to refresh its idle time), a session emptied
//!   or destroyed (the cookie is removed). A session with no data is never stored.
//! * **TTLs**: `idle_ttl` since the last use (refreshed on every use; the cookie store
//!   re-issues its cookie at most every quarter of it), `absolute_ttl` since creation,
//!   which `regenerate` keeps.
//! * **Store failures** (Redis down or slow): the handler gets an empty session and the
//!   registry logs a rate-limited warning (`on_store_error: fail_open`, the default), or
//!   the request is answered `503` (`fail_closed`).
//! * The cookie store cannot revoke: a copy of an old cookie stays valid until its TTLs
//!   end, whatever `destroy` or `regenerate` did. Use `memory` or `redis` where that
//!   matters.

mod config;
mod memory;
mod record;
mod redis;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use config::SessionConfig;
use config::Store;
use record::{Record, new_id, now_ms, valid_id};

use crate::http::request::Request;
use crate::http::response::{IntoResponse, Response};
use crate::http::status::StatusCode;

/// Longest `Set-Cookie` value the cookie store writes (browsers keep 4096 bytes a cookie).
const MAX_COOKIE: usize = 4000;

/// A value that could not be stored in a session (it does not serialize to JSON). As a
/// response, a `500`.
#[derive(Debug)]
pub struct SessionError(String);

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session value: {}", self.0)
    }
}

impl std::error::Error for SessionError {}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        Response::error(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The session of one request, for handlers of routes declared with `session: NAME`:
/// take `session: &mut Session` as the last argument. Values are anything serde handles.
///
/// Changes are saved after the handler returns (see the module docs for when the cookie
/// is set).
pub struct Session {
    config: &'static SessionConfig,
    /// The current id, if the session was loaded (a new one gets its id when saved).
    id: Option<String>,
    record: Record,
    /// An id to drop from the store when the request ends (`regenerate`, `destroy`).
    old_id: Option<String>,
    /// Data changed (or the id must change): save when the request ends.
    changed: bool,
    /// A stored session was found.
    loaded: bool,
    /// The request carried the session cookie.
    had_cookie: bool,
    /// Cookie store: set the cookie again though nothing changed (rotated key, idle time).
    reissue: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config.name)
            .field("keys", &self.record.data.keys().collect::<Vec<_>>())
            .field("changed", &self.changed)
            .field("loaded", &self.loaded)
            .finish()
    }
}

impl Session {
    fn new(config: &'static SessionConfig, had_cookie: bool) -> Session {
        let now = now_ms();
        Session {
            config,
            id: None,
            record: Record {
                created: now,
                seen: now,
                ..Record::default()
            },
            old_id: None,
            changed: false,
            loaded: false,
            had_cookie,
            reissue: false,
        }
    }

    /// The value under `key` as a `T`; `None` if there is none or it is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let v = self.record.data.get(key)?;
        T::deserialize(v).ok()
    }

    /// Stores `value` under `key`.
    pub fn insert<T: Serialize>(&mut self, key: &str, value: T) -> Result<(), SessionError> {
        let v = serde_json::to_value(value).map_err(|e| SessionError(e.to_string()))?;
        if self.record.data.get(key) != Some(&v) {
            self.record.data.insert(key.to_owned(), v);
            self.changed = true;
        }
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let was = self.record.data.remove(key).is_some();
        self.changed |= was;
        was
    }

    /// Whether the session holds no data.
    pub fn is_empty(&self) -> bool {
        self.record.data.is_empty()
    }

    /// The keys the session holds.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.record.data.keys().map(String::as_str)
    }

    /// The session's id, if it has one yet (a new session gets its id when it is saved).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Gives the session a new id, keeping its data (call it on login: an id an attacker
    /// planted before is worth nothing after). The old id stops working.
    pub fn regenerate(&mut self) {
        if let Some(id) = self.id.take() {
            self.old_id.get_or_insert(id);
        }
        self.changed = true;
    }

    /// Ends the session: its data is dropped, it is removed from the store and the client
    /// is told to drop the cookie (call it on logout). Values inserted afterwards start a
    /// new session.
    pub fn destroy(&mut self) {
        self.regenerate();
        self.record.data.clear();
        self.record.created = now_ms();
    }
}

/// Loads the session of `req` (generated code calls this before a route's handler).
/// `Err` is the answer when the store cannot be reached and the session fails closed.
pub async fn load(config: &'static SessionConfig, req: &Request<'_>) -> Result<Session, Response> {
    let raw = req.cookie(&config.cookie_name);
    let mut s = Session::new(config, raw.is_some());
    let Some(raw) = raw else { return Ok(s) };
    let now = now_ms();
    let ttls = config.ttls;
    let found = match &config.store {
        Store::Cookie => {
            let Some(keys) = crate::cookie::installed() else {
                return Ok(s);
            };
            match keys.decrypt(&config.cookie_name, &raw) {
                Some((text, key)) => serde_json::from_str::<Record>(&text)
                    .ok()
                    .filter(|r| valid_id(&r.id) && ttls.alive(r.created, r.seen, now))
                    .map(|mut r| {
                        // Re-issue under the current key, or to move the idle deadline.
                        s.reissue = key > 0 || now.saturating_sub(r.seen) >= ttls.idle / 4;
                        r.seen = now;
                        r
                    }),
                None => None,
            }
        }
        Store::Memory(m) if valid_id(&raw) => m.load(&raw, ttls, now).map(|mut r| {
            r.id = raw.to_string();
            r
        }),
        Store::Redis(r) if valid_id(&raw) => match r.load(config.name, &raw, ttls.idle).await {
            // The idle TTL is the key's own (restarted by the load).
            Ok(rec) => rec
                .filter(|x| now.saturating_sub(x.created) < ttls.absolute)
                .map(|mut x| {
                    x.id = raw.to_string();
                    x
                }),
            // Logged (rate-limited) by the registry.
            Err(_) if config.fail_closed => {
                return Err(Response::error(StatusCode::SERVICE_UNAVAILABLE));
            }
            Err(_) => None,
        },
        Store::Memory(_) | Store::Redis(_) => None,
    };
    if let Some(mut rec) = found {
        s.id = Some(std::mem::take(&mut rec.id));
        rec.seen = now;
        s.record = rec;
        s.loaded = true;
    }
    Ok(s)
}

/// Saves `session` after its handler answered `response`, and sets or removes the cookie
/// where needed (generated code calls this after a route's handler).
pub async fn finish(mut s: Session, response: Response) -> Response {
    let config = s.config;
    let now = now_ms();
    if let Some(old) = s.old_id.take() {
        // A failure leaves the old id to expire by its TTL.
        let _ = delete(config, &old).await;
    }
    if !s.changed {
        if s.reissue && s.loaded {
            return save(s, response, now).await;
        }
        return response;
    }
    if s.record.data.is_empty() {
        if let Some(id) = s.id.take() {
            let _ = delete(config, &id).await;
        }
        return if s.had_cookie {
            response.remove_cookie(config.removal())
        } else {
            response
        };
    }
    save(s, response, now).await
}

/// Drops session `id` from the store.
async fn delete(config: &'static SessionConfig, id: &str) -> Result<(), ()> {
    match &config.store {
        Store::Cookie => Ok(()),
        Store::Memory(m) => {
            m.delete(id);
            Ok(())
        }
        Store::Redis(r) => r.delete(config.name, id).await.map_err(|_| ()),
    }
}

/// Stores the session (a new id if it has none) and sets the cookie where needed.
async fn save(mut s: Session, response: Response, now: u64) -> Response {
    let config = s.config;
    let new = s.id.is_none();
    let Some(id) = s.id.take().or_else(new_id) else {
        return failed(config, response);
    };
    s.record.seen = now;
    let created = s.record.created;
    let keep = config.ttls.keep_ms(created, now);
    let value = match &config.store {
        Store::Cookie => {
            let Some(keys) = crate::cookie::installed() else {
                return failed(config, response);
            };
            s.record.id = id;
            let Ok(text) = serde_json::to_string(&s.record) else {
                return failed(config, response);
            };
            let c = keys.encrypt(config.cookie(text, s.record.created, now));
            if c.value().len() > MAX_COOKIE {
                tracing::error!(
                    "sessions `{}`: {} bytes of session data do not fit in a cookie; not saved",
                    config.name,
                    c.value().len()
                );
                return failed(config, response);
            }
            return response.cookie(c);
        }
        Store::Memory(m) => {
            m.save(&id, s.record, config.ttls, now);
            id
        }
        Store::Redis(r) => match r.save(config.name, &id, &s.record, keep).await {
            Ok(()) => id,
            Err(_) => return failed(config, response),
        },
    };
    if new {
        response.cookie(config.cookie(value, created, now))
    } else {
        response
    }
}

/// The answer when a session could not be saved: the handler's (no cookie), or `503`
/// when the session fails closed.
fn failed(config: &SessionConfig, response: Response) -> Response {
    if config.fail_closed {
        Response::error(StatusCode::SERVICE_UNAVAILABLE)
    } else {
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::method::Method;
    use crate::http::request::{Header, Version};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    /// One request through `load`, `handler` and `finish`; the session cookie it sets
    /// (`Some("")` for a removal).
    fn request(
        config: &'static SessionConfig,
        cookie: Option<&str>,
        handler: impl FnOnce(&mut Session),
    ) -> (StatusCode, Option<String>) {
        let value = cookie.map(|c| format!("{}={c}", config.cookie_name));
        let headers: Vec<Header<'_>> = value
            .iter()
            .map(|v| Header {
                name: "Cookie",
                value: v.as_bytes(),
            })
            .collect();
        let req = Request::from_parts(Method::Get, "/", Version::Http11, &headers, b"");
        block_on(async {
            let mut s = match load(config, &req).await {
                Ok(s) => s,
                Err(r) => return (r.status(), None),
            };
            handler(&mut s);
            let resp = finish(s, Response::text("ok")).await;
            let set = resp.set_cookies().next().map(|l| {
                l.split(';')
                    .next()
                    .and_then(|p| p.split_once('='))
                    .map(|(_, v)| v.to_owned())
                    .unwrap_or_default()
            });
            (resp.status(), set)
        })
    }

    #[test]
    fn memory_sessions_save_regenerate_and_destroy() {
        let config: &'static SessionConfig = Box::leak(Box::new(SessionConfig::memory("t")));
        let (_, none) = request(config, None, |_| {});
        assert_eq!(none, None, "an unused session sets nothing");
        let (_, id) = request(config, None, |s| {
            s.insert("user", "ann").expect("insert");
        });
        let id = id.expect("a new session's cookie");
        let (_, again) = request(config, Some(&id), |s| {
            assert_eq!(s.get::<String>("user").as_deref(), Some("ann"));
            assert_eq!(s.id(), Some(id.as_str()));
            s.insert("user", "ann").expect("same value");
        });
        assert_eq!(again, None, "nothing changed: no cookie");
        let (_, new_id) = request(config, Some(&id), |s| s.regenerate());
        let new_id = new_id.expect("a new id");
        assert_ne!(new_id, id);
        request(config, Some(&id), |s| {
            assert!(s.is_empty(), "the old id is dead")
        });
        let (_, removal) = request(config, Some(&new_id), |s| s.destroy());
        assert_eq!(removal.as_deref(), Some(""), "the cookie is removed");
        request(config, Some(&new_id), |s| assert!(s.is_empty()));
    }

    #[test]
    fn a_refused_redis_fails_open_or_closed() {
        let open: &'static SessionConfig = Box::leak(Box::new(SessionConfig::redis(
            "t",
            "redis://127.0.0.1:1",
            "redis://127.0.0.1:1",
            "t:",
            "t:",
        )));
        let id = "A".repeat(record::ID_LEN);
        let (status, set) = request(open, Some(&id), |s| {
            assert!(s.is_empty());
            s.insert("k", 1).expect("insert");
        });
        assert_eq!(
            (status, set),
            (StatusCode::OK, None),
            "empty session, not saved"
        );
        let closed: &'static SessionConfig = Box::leak(Box::new(
            SessionConfig::redis("t", "redis://127.0.0.1:1", "", "t:", "").fail_closed(true),
        ));
        let (status, _) = request(closed, Some(&id), |_| panic!("the handler must not run"));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
