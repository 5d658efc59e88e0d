//! `middleware:` — the spec types, their validation into [`MwPlan`]s, and the generated
//! code that expands each route's middleware inline around its handler call.
//!
//! Lists may stand at the top level (every route), on a group and on a route. A route's
//! chain is the top-level list, then each enclosing group's (outer to inner), then its
//! own, outermost first: the first entry sees the request first and the response last.
//! `- skip: NAME` in a group's or route's list removes inherited entries named `NAME`
//! (an entry's name is its `name:` option, else its kind).

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::code::{Code, Doc, OptStr, Str, StrList, close, open, w};
use crate::diag::{Diagnostic, did_you_mean};
use crate::plan::{METHODS, MethodSel, RoutePlan};
use crate::spec::Entries;
use crate::units::parse_duration;
use crate::validate::Ctx;

/// A `middleware:` list as written.
pub type MwList = Vec<Spanned<MwEntry>>;

/// One list entry: a single-key mapping `kind: options`.
pub type MwEntry = Entries<Spanned<String>, Spanned<MwValue>>;

/// An option value: a scalar (kept as text), a list or a mapping.
#[derive(Debug)]
pub enum MwValue {
    /// A string, number or boolean, as text.
    Scalar(String),
    /// A list.
    List(Vec<Spanned<MwValue>>),
    /// A mapping.
    Map(Entries<Spanned<String>, Spanned<MwValue>>),
}

impl<'de> Deserialize<'de> for MwValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MwValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value, a list or a mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MwValue, E> {
                Ok(MwValue::Scalar(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MwValue, E> {
                Ok(MwValue::Map(Entries(Vec::new())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MwValue, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(MwValue::List(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<MwValue, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry()? {
                    v.push(e);
                }
                Ok(MwValue::Map(Entries(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The middleware kinds, for suggestions.
pub const KINDS: &[&str] = &["cors", "bearer", "api_key", "rate_limit", "hook", "skip"];

const CORS_KEYS: &[&str] = &[
    "name",
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "allow_credentials",
    "max_age",
    "expose_headers",
];
const BEARER_KEYS: &[&str] = &["name", "tokens_env", "tokens_file", "verify", "realm"];
const API_KEY_KEYS: &[&str] = &[
    "name",
    "header",
    "query",
    "keys_env",
    "keys_file",
    "verify",
    "realm",
];
const RATE_KEYS: &[&str] = &[
    "name",
    "rate",
    "burst",
    "key",
    "trusted_proxies",
    "store",
    "redis_url",
    "prefix",
    "max_keys",
    "timeout",
];
const HOOK_KEYS: &[&str] = &["name", "before", "extend", "after"];

/// One middleware in a route's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MwPlan {
    /// Which declaration it comes from (routes sharing an inherited entry share its state).
    pub id: usize,
    /// Its name (for `skip`).
    pub name: String,
    /// What it does.
    pub kind: MwKind,
}

/// The kinds of middleware, with their checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MwKind {
    /// `cors`.
    Cors(CorsPlan),
    /// `bearer` or `api_key`.
    Auth(AuthPlan),
    /// `rate_limit`.
    RateLimit(RatePlan),
    /// `hook`: user functions before and/or after the rest of the chain.
    Hook {
        /// `async fn(&Request<'_>) -> Option<Response>`.
        before: Option<String>,
        /// `async fn(&Request<'_>) -> Result<T, Response>`: `T` reaches the handler as
        /// `req.extension::<T>()`.
        extend: Option<String>,
        /// `async fn(&Request<'_>, Response) -> Response`.
        after: Option<String>,
    },
}

/// `cors` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsPlan {
    /// `allow_origins: "*"`.
    pub any: bool,
    /// Exact origins.
    pub exact: Vec<String>,
    /// `.example.com` for `*.example.com`.
    pub suffixes: Vec<String>,
    /// Allowed methods, joined.
    pub methods: String,
    /// Allowed request headers, joined, lower-case (`*` = any).
    pub headers: String,
    /// `allow_credentials`.
    pub credentials: bool,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// `expose_headers`, joined.
    pub expose: String,
}

/// `bearer` / `api_key` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthPlan {
    /// `api_key` (else `bearer`).
    pub api_key: bool,
    /// `api_key`: the header carrying the key.
    pub header: Option<String>,
    /// `api_key`: the query parameter carrying the key (when no header).
    pub query: String,
    /// Environment variable with the secrets.
    pub env: Option<String>,
    /// File with the secrets.
    pub file: Option<String>,
    /// A user function checking the token: `async fn(&Request<'_>, &str) -> Option<String>`.
    pub verify: Option<String>,
    /// The realm in `WWW-Authenticate`.
    pub realm: String,
}

/// What a rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKeyPlan {
    /// The client IP, trusting `X-Forwarded-For` from these proxies.
    ClientIp(Vec<IpAddr>),
    /// One bucket for all.
    Global,
    /// The authenticated identity.
    Identity,
    /// A request header (or the API key header).
    Header(String),
}

/// `rate_limit` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatePlan {
    /// Tokens per `per_secs` seconds.
    pub count: u64,
    /// The period of `count`, in seconds.
    pub per_secs: u64,
    /// Bucket size.
    pub burst: u32,
    /// What is counted.
    pub key: RateKeyPlan,
    /// `Some(url)` for the Redis store.
    pub redis: Option<String>,
    /// Redis key prefix.
    pub prefix: String,
    /// Most buckets kept in memory.
    pub max_keys: u64,
    /// The Redis store's timeout in ms (`None`: the runtime's default, 100 ms).
    pub timeout_ms: Option<u64>,
}

/// Validation state: the chain each enclosing level (top level, groups) hands down, and
/// the next declaration id.
#[derive(Debug, Default)]
pub(crate) struct MwState {
    stack: Vec<Vec<MwPlan>>,
    next_id: usize,
}

impl MwState {
    fn inherited(&self) -> Vec<MwPlan> {
        self.stack.last().cloned().unwrap_or_default()
    }
}

/// Checks a list (top-level or a group's) and hands the resulting chain down to what
/// follows until [`leave`]. Returns whether a level was entered.
pub(crate) fn enter(cx: &mut Ctx<'_, '_>, f: usize, list: &Option<Spanned<MwList>>) -> bool {
    let Some(list) = list else {
        return false;
    };
    let inherited = cx.mw.inherited();
    let chain = resolve(cx, f, list, inherited);
    cx.mw.stack.push(chain);
    true
}

/// Leaves a level [`enter`] entered.
pub(crate) fn leave(cx: &mut Ctx<'_, '_>, entered: bool) {
    if entered {
        cx.mw.stack.pop();
    }
}

/// A route's whole chain: what it inherits, then its own list.
pub(crate) fn for_route(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    own: Option<&Spanned<MwList>>,
) -> Vec<MwPlan> {
    let inherited = cx.mw.inherited();
    match own {
        Some(list) => resolve(cx, f, list, inherited),
        None => inherited,
    }
}

fn resolve(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    list: &Spanned<MwList>,
    mut chain: Vec<MwPlan>,
) -> Vec<MwPlan> {
    for entry in &list.value {
        let Some((kind, value)) = single(cx, f, entry) else {
            continue;
        };
        let kind_span = cx.span(f, kind);
        if kind.value == "skip" {
            for (name, span) in names(cx, f, value) {
                if chain.iter().any(|m| m.name == name) {
                    chain.retain(|m| m.name != name);
                } else {
                    let known: Vec<&str> = chain.iter().map(|m| m.name.as_str()).collect();
                    let mut d = Diagnostic::new(format!(
                        "`skip: {name}`: no inherited middleware is named `{name}`"
                    ))
                    .at(span, "nothing to skip");
                    d = match did_you_mean(&name, &known) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None if known.is_empty() => {
                            d.help("this place inherits no middleware".to_owned())
                        }
                        None => d.help(format!("inherited here: {}", known.join(", "))),
                    };
                    cx.error(f, d);
                }
            }
            continue;
        }
        let kind_name = kind.value.clone();
        let allowed = match kind_name.as_str() {
            "cors" => CORS_KEYS,
            "bearer" => BEARER_KEYS,
            "api_key" => API_KEY_KEYS,
            "rate_limit" => RATE_KEYS,
            "hook" => HOOK_KEYS,
            other => {
                let mut d = Diagnostic::new(format!("unknown middleware `{other}`"))
                    .at(kind_span, format!("expected one of {}", KINDS.join(", ")));
                if let Some(s) = did_you_mean(other, KINDS) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                cx.error(f, d);
                continue;
            }
        };
        let mut o = Opts::new(cx, f, value, allowed, &kind_name);
        let name = o.text("name").unwrap_or_else(|| kind_name.clone());
        let kind = match kind_name.as_str() {
            "cors" => cors(&mut o, kind_span).map(MwKind::Cors),
            "bearer" | "api_key" => {
                auth(&mut o, kind_span, kind_name == "api_key").map(MwKind::Auth)
            }
            "rate_limit" => rate(&mut o, kind_span, &name).map(MwKind::RateLimit),
            _ => hook(&mut o, kind_span),
        };
        if let Some(kind) = kind {
            let id = o.cx.mw.next_id;
            o.cx.mw.next_id += 1;
            chain.push(MwPlan { id, name, kind });
        }
    }
    chain
}

/// The `kind: value` of a single-key entry.
fn single<'s>(
    cx: &mut Ctx<'_, '_>,
    f: usize,
    entry: &'s Spanned<MwEntry>,
) -> Option<(&'s Spanned<String>, &'s Spanned<MwValue>)> {
    match entry.value.0.as_slice() {
        [(k, v)] => Some((k, v)),
        _ => {
            let span = cx.span(f, entry);
            let d = Diagnostic::new("a middleware entry is one `kind: options` pair")
                .at(
                    span,
                    "expected e.g. `- cors: { allow_origins: [https://app.example.com] }`",
                )
                .help("write each middleware as its own list item");
            cx.error(f, d);
            None
        }
    }
}

/// The names in `skip: a` or `skip: [a, b]`.
fn names(cx: &mut Ctx<'_, '_>, f: usize, v: &Spanned<MwValue>) -> Vec<(String, Range<usize>)> {
    let items: Vec<&Spanned<MwValue>> = match &v.value {
        MwValue::List(l) => l.iter().collect(),
        _ => vec![v],
    };
    let mut out = Vec::new();
    for it in items {
        match &it.value {
            MwValue::Scalar(s) => out.push((s.clone(), cx.span(f, it))),
            _ => {
                let span = cx.span(f, it);
                cx.error(
                    f,
                    Diagnostic::new("`skip` takes a middleware name or a list of names")
                        .at(span, "expected a name like `cors`"),
                );
            }
        }
    }
    out
}

/// A middleware's options, checked for unknown keys up front.
struct Opts<'c, 'a, 'l, 's> {
    cx: &'c mut Ctx<'a, 'l>,
    f: usize,
    entries: Vec<(&'s str, &'s Spanned<MwValue>, Range<usize>)>,
}

impl<'c, 'a, 'l, 's> Opts<'c, 'a, 'l, 's> {
    fn new(
        cx: &'c mut Ctx<'a, 'l>,
        f: usize,
        value: &'s Spanned<MwValue>,
        allowed: &[&str],
        kind: &str,
    ) -> Self {
        let mut entries = Vec::new();
        match &value.value {
            MwValue::Map(m) => {
                for (k, v) in &m.0 {
                    let span = cx.span(f, k);
                    if allowed.contains(&k.value.as_str()) {
                        entries.push((k.value.as_str(), v, span));
                    } else {
                        let mut d =
                            Diagnostic::new(format!("unknown option `{}` for `{kind}`", k.value))
                                .at(span, format!("`{kind}` takes {}", allowed.join(", ")));
                        if let Some(s) = did_you_mean(&k.value, allowed) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        cx.error(f, d);
                    }
                }
            }
            _ => {
                let span = cx.span(f, value);
                cx.error(
                    f,
                    Diagnostic::new(format!("`{kind}` takes a mapping of options"))
                        .at(span, format!("expected `{kind}: {{ … }}`")),
                );
            }
        }
        Opts { cx, f, entries }
    }

    fn get(&self, key: &str) -> Option<(&'s Spanned<MwValue>, Range<usize>)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, s)| (*v, s.clone()))
    }

    fn err(&mut self, span: Range<usize>, msg: impl Into<String>, label: impl Into<String>) {
        let d = Diagnostic::new(msg).at(span, label);
        self.cx.error(self.f, d);
    }

    fn err_help(&mut self, span: Range<usize>, msg: String, label: &str, help: String) {
        let d = Diagnostic::new(msg).at(span, label).help(help);
        self.cx.error(self.f, d);
    }

    /// A scalar option with `${ENV}` interpolated.
    fn text(&mut self, key: &str) -> Option<String> {
        let (v, _) = self.get(key)?;
        self.scalar(v)
    }

    fn scalar(&mut self, v: &Spanned<MwValue>) -> Option<String> {
        match &v.value {
            MwValue::Scalar(s) => self.cx.interp(self.f, v, s),
            _ => {
                let span = self.cx.span(self.f, v);
                self.err(span, "expected a single value", "not a list or mapping");
                None
            }
        }
    }

    /// A list option (a single value counts as a list of one), with spans.
    fn list(&mut self, key: &str) -> Option<Vec<(String, Range<usize>)>> {
        let (v, _) = self.get(key)?;
        let items: Vec<&Spanned<MwValue>> = match &v.value {
            MwValue::List(l) => l.iter().collect(),
            _ => vec![v],
        };
        let mut out = Vec::new();
        for it in items {
            let span = self.cx.span(self.f, it);
            if let Some(s) = self.scalar(it) {
                out.push((s, span));
            }
        }
        Some(out)
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        let (v, _) = self.get(key)?;
        let span = self.cx.span(self.f, v);
        match self.scalar(v)?.as_str() {
            "true" | "on" | "yes" => Some(true),
            "false" | "off" | "no" => Some(false),
            other => {
                self.err(
                    span,
                    format!("`{other}` is not a boolean"),
                    "expected `true` or `false`",
                );
                None
            }
        }
    }

    fn rust_path(&mut self, key: &str) -> Option<String> {
        let (v, _) = self.get(key)?;
        let span = self.cx.span(self.f, v);
        let text = self.scalar(v)?;
        let full = if text.starts_with("crate::") || text.starts_with("::") {
            text.clone()
        } else {
            format!("{}::{text}", self.cx.handlers_mod)
        };
        if text.is_empty() || !crate::code::is_path(&full) {
            self.err(
                span,
                format!("`{text}` is not a Rust path to a function"),
                "expected a path like `auth::verify`",
            );
            return None;
        }
        Some(full)
    }
}

fn cors(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>) -> Option<CorsPlan> {
    let mut p = CorsPlan::default();
    let mut ok = true;
    let origins_span = o.get("allow_origins").map(|(_, s)| s);
    match o.list("allow_origins") {
        None => {
            o.err(at, "`cors` needs `allow_origins`", "no origins given");
            return None;
        }
        Some(list) => {
            for (origin, span) in list {
                if origin == "*" {
                    p.any = true;
                } else if let Some(rest) = origin.strip_prefix("*.") {
                    if rest.is_empty() || rest.contains(['/', '*', ':']) {
                        o.err(
                            span,
                            format!("`{origin}` is not a valid origin pattern"),
                            "expected `*.example.com`",
                        );
                        ok = false;
                    } else {
                        p.suffixes.push(format!(".{}", rest.to_ascii_lowercase()));
                    }
                } else {
                    let valid = match origin.split_once("://") {
                        Some((scheme, host)) => {
                            !scheme.is_empty()
                                && !host.is_empty()
                                && !host.contains(['/', '*', '?', '#'])
                        }
                        None => false,
                    };
                    if !valid {
                        let trimmed = origin.trim_end_matches('/');
                        let help = if trimmed != origin && trimmed.contains("://") {
                            format!("did you mean `{trimmed}`? (an origin has no path)")
                        } else {
                            "an origin is `scheme://host[:port]`, or `*.example.com`, or `*`"
                                .to_owned()
                        };
                        o.err_help(span, format!("`{origin}` is not an origin"), "here", help);
                        ok = false;
                    } else {
                        p.exact.push(origin.to_ascii_lowercase());
                    }
                }
            }
            if p.any && (!p.exact.is_empty() || !p.suffixes.is_empty()) {
                if let Some(s) = origins_span.clone() {
                    o.err(s, "`*` allows every origin: list no others with it", "here");
                }
                ok = false;
            }
        }
    }
    let methods = match o.list("allow_methods") {
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for (m, span) in list {
                let up = m.to_ascii_uppercase();
                if METHODS.contains(&up.as_str()) && up != "ANY" {
                    out.push(up);
                } else {
                    let mut d = Diagnostic::new(format!("unknown method `{m}`"))
                        .at(span, "in `allow_methods`");
                    if let Some(s) = did_you_mean(&up, METHODS) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    o.cx.error(o.f, d);
                    ok = false;
                }
            }
            out
        }
        None => ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    p.methods = methods.join(", ");
    if let Some(list) = o.list("allow_headers") {
        p.headers = list
            .iter()
            .map(|(h, _)| h.to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(", ");
    }
    if let Some(list) = o.list("expose_headers") {
        p.expose = list
            .iter()
            .map(|(h, _)| h.clone())
            .collect::<Vec<_>>()
            .join(", ");
    }
    p.credentials = o.boolean("allow_credentials").unwrap_or(false);
    if p.credentials {
        if p.any {
            let span = o
                .get("allow_credentials")
                .map(|(_, s)| s)
                .unwrap_or(at.clone());
            o.err_help(
                span,
                "`allow_origins: \"*\"` with `allow_credentials: true` would let any site make credentialed requests".to_owned(),
                "credentials with every origin",
                "list the origins that may send credentials".to_owned(),
            );
            ok = false;
        }
        if p.headers == "*" {
            let span = o.get("allow_headers").map(|(_, s)| s).unwrap_or(at.clone());
            o.err_help(
                span,
                "`allow_headers: \"*\"` is not honoured by browsers with credentials".to_owned(),
                "here",
                "list the headers".to_owned(),
            );
            ok = false;
        }
    }
    if let Some(text) = o.text("max_age") {
        let span = o
            .get("max_age")
            .map(|(v, _)| o.cx.span(o.f, v))
            .unwrap_or(at);
        match text
            .parse::<u64>()
            .ok()
            .or_else(|| parse_duration(&text).ok().map(|d| d.as_secs()))
        {
            Some(s) => p.max_age = Some(s),
            None => {
                o.err(
                    span,
                    format!("invalid max_age `{text}`"),
                    "expected seconds or a duration like `10m`",
                );
                ok = false;
            }
        }
    }
    ok.then_some(p)
}

fn auth(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>, api_key: bool) -> Option<AuthPlan> {
    let (env_key, file_key) = if api_key {
        ("keys_env", "keys_file")
    } else {
        ("tokens_env", "tokens_file")
    };
    let mut p = AuthPlan {
        api_key,
        env: o.text(env_key),
        file: o.text(file_key),
        verify: o.rust_path("verify"),
        realm: o.text("realm").unwrap_or_else(|| "api".to_owned()),
        ..AuthPlan::default()
    };
    let mut ok = true;
    if p.realm.contains(['"', '\\']) {
        let span = o.get("realm").map(|(_, s)| s).unwrap_or(at.clone());
        o.err(span, "a realm may not contain `\"` or `\\`", "here");
        ok = false;
    }
    let has_secrets = p.env.is_some() || p.file.is_some();
    if p.verify.is_some() && has_secrets {
        let span = o.get("verify").map(|(_, s)| s).unwrap_or(at.clone());
        o.err_help(
            span,
            format!("`verify` replaces `{env_key}`/`{file_key}`: give one or the other"),
            "here",
            "remove one".to_owned(),
        );
        ok = false;
    } else if p.verify.is_none() && !has_secrets && o.get("verify").is_none() {
        o.err_help(
            at.clone(),
            "no secrets: nothing could ever be accepted".to_owned(),
            "here",
            format!("add `{env_key}: NAME`, `{file_key}: path` or `verify: function`"),
        );
        ok = false;
    }
    if api_key {
        let header = o.text("header");
        let query = o.text("query");
        if header.is_some() && query.is_some() {
            let span = o.get("query").map(|(_, s)| s).unwrap_or(at);
            o.err(span, "give `header` or `query`, not both", "here");
            ok = false;
        }
        match (header, query) {
            (_, Some(q)) => p.query = q,
            (h, None) => {
                p.header = Some(
                    h.unwrap_or_else(|| "x-api-key".to_owned())
                        .to_ascii_lowercase(),
                )
            }
        }
    }
    ok.then_some(p)
}

/// `100/s`, `6000/min`, `10/h`: (count, seconds).
fn parse_rate(text: &str) -> Option<(u64, u64)> {
    let (n, unit) = text.split_once('/')?;
    let n: u64 = n.trim().parse().ok().filter(|n| *n > 0)?;
    let secs = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86400,
        _ => return None,
    };
    Some((n, secs))
}

fn rate(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>, name: &str) -> Option<RatePlan> {
    let mut ok = true;
    let Some(rate_text) = o.text("rate") else {
        o.err_help(
            at,
            "`rate_limit` needs `rate`".to_owned(),
            "no rate given",
            "e.g. `rate: 100/s`".to_owned(),
        );
        return None;
    };
    let rate_span = o
        .get("rate")
        .map(|(v, _)| o.cx.span(o.f, v))
        .unwrap_or(at.clone());
    let (count, per_secs) = match parse_rate(&rate_text) {
        Some(r) => r,
        None => {
            o.err_help(
                rate_span,
                format!("invalid rate `{rate_text}`"),
                "here",
                "write `N/s`, `N/min`, `N/h` or `N/day` with N > 0".to_owned(),
            );
            ok = false;
            (1, 1)
        }
    };
    let burst = match o.text("burst") {
        Some(b) => match b.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                let span = o
                    .get("burst")
                    .map(|(v, _)| o.cx.span(o.f, v))
                    .unwrap_or(at.clone());
                o.err(
                    span,
                    format!("invalid burst `{b}`"),
                    "expected a whole number from 1",
                );
                ok = false;
                1
            }
        },
        None => count.clamp(1, u64::from(u32::MAX)) as u32,
    };
    let key_text = o.text("key").unwrap_or_else(|| "client_ip".to_owned());
    let key_span = o
        .get("key")
        .map(|(v, _)| o.cx.span(o.f, v))
        .unwrap_or(at.clone());
    let mut key = match key_text.as_str() {
        "client_ip" => RateKeyPlan::ClientIp(Vec::new()),
        "global" => RateKeyPlan::Global,
        "identity" => RateKeyPlan::Identity,
        other => match other.strip_prefix("header:") {
            Some(h) if !h.trim().is_empty() => RateKeyPlan::Header(h.trim().to_ascii_lowercase()),
            _ => {
                let mut d = Diagnostic::new(format!("unknown rate-limit key `{other}`")).at(
                    key_span,
                    "expected `client_ip`, `global`, `identity` or `header:NAME`",
                );
                if let Some(s) = did_you_mean(other, &["client_ip", "global", "identity"]) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                o.cx.error(o.f, d);
                return None;
            }
        },
    };
    if let Some(list) = o.list("trusted_proxies") {
        match &mut key {
            RateKeyPlan::ClientIp(ips) => {
                for (t, span) in list {
                    match t.parse::<IpAddr>() {
                        Ok(ip) => ips.push(ip),
                        Err(_) => {
                            o.err(
                                span,
                                format!("`{t}` is not an IP address"),
                                "expected e.g. `10.0.0.1`",
                            );
                            ok = false;
                        }
                    }
                }
            }
            _ => {
                let span = o
                    .get("trusted_proxies")
                    .map(|(_, s)| s)
                    .unwrap_or(at.clone());
                o.err(
                    span,
                    "`trusted_proxies` only applies to `key: client_ip`",
                    "here",
                );
                ok = false;
            }
        }
    }
    let store = o.text("store").unwrap_or_else(|| "memory".to_owned());
    let redis = match store.as_str() {
        "memory" => None,
        "redis" => Some(
            o.text("redis_url")
                .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned()),
        ),
        other => {
            let span = o
                .get("store")
                .map(|(v, _)| o.cx.span(o.f, v))
                .unwrap_or(at.clone());
            let mut d = Diagnostic::new(format!("unknown store `{other}`"))
                .at(span, "expected `memory` or `redis`");
            if let Some(s) = did_you_mean(other, &["memory", "redis"]) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            o.cx.error(o.f, d);
            return None;
        }
    };
    if redis.is_none() && o.get("redis_url").is_some() {
        let span = o.get("redis_url").map(|(_, s)| s).unwrap_or(at.clone());
        o.err(
            span,
            "`redis_url` needs `store: redis`",
            "ignored with the memory store",
        );
        ok = false;
    }
    let timeout_ms = match o.text("timeout") {
        None => None,
        Some(t) => {
            let span = o
                .get("timeout")
                .map(|(v, _)| o.cx.span(o.f, v))
                .unwrap_or(at.clone());
            match parse_duration(&t) {
                Ok(d) if d.as_millis() > 0 && redis.is_some() => Some(d.as_millis() as u64),
                Ok(_) if redis.is_none() => {
                    o.err(
                        span,
                        "`timeout` needs `store: redis`",
                        "the memory store never waits",
                    );
                    ok = false;
                    None
                }
                _ => {
                    o.err(
                        span,
                        format!("invalid timeout `{t}`"),
                        "expected a duration like `100ms` (more than zero)",
                    );
                    ok = false;
                    None
                }
            }
        }
    };
    let max_keys = match o.text("max_keys") {
        Some(t) => match t.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                let span = o
                    .get("max_keys")
                    .map(|(v, _)| o.cx.span(o.f, v))
                    .unwrap_or(at);
                o.err(
                    span,
                    format!("invalid max_keys `{t}`"),
                    "expected a whole number from 1",
                );
                ok = false;
                1
            }
        },
        None => 100_000,
    };
    let prefix = o
        .text("prefix")
        .unwrap_or_else(|| format!("ember:rl:{name}"));
    ok.then_some(RatePlan {
        count,
        per_secs,
        burst,
        key,
        redis,
        prefix,
        max_keys,
        timeout_ms,
    })
}

fn hook(o: &mut Opts<'_, '_, '_, '_>, at: Range<usize>) -> Option<MwKind> {
    let before = o.rust_path("before");
    let extend = o.rust_path("extend");
    let after = o.rust_path("after");
    if ["before", "extend", "after"]
        .iter()
        .all(|k| o.get(k).is_none())
    {
        o.err(
            at,
            "a `hook` needs `before`, `extend` or `after`",
            "nothing to call",
        );
        return None;
    }
    Some(MwKind::Hook {
        before,
        extend,
        after,
    })
}

// ---------------------------------------------------------------------------------------
// Generation

/// How the generated code reaches the middleware runtime.
const MW: &str = "::ember_runtime::middleware";

/// A Rust expression for an IP address.
fn ip_expr(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => {
            let [a, b, c, d] = v.octets();
            format!("::std::net::IpAddr::V4(::std::net::Ipv4Addr::new({a}, {b}, {c}, {d}))")
        }
        IpAddr::V6(v) => {
            let s: Vec<String> = v.segments().iter().map(u16::to_string).collect();
            format!(
                "::std::net::IpAddr::V6(::std::net::Ipv6Addr::new({}))",
                s.join(", ")
            )
        }
    }
}

/// One `static` per middleware declaration used by some route (its settings or state).
pub(crate) fn emit_statics(c: &mut Code, routes: &[RoutePlan]) {
    let mut seen = std::collections::BTreeMap::new();
    for r in routes {
        for m in &r.middleware {
            seen.entry(m.id).or_insert(m);
        }
    }
    for (id, m) in seen {
        let doc = Doc(&m.name);
        match &m.kind {
            MwKind::Cors(cors) => {
                c.blank();
                w!(c, "/// Middleware `{doc}`.");
                open!(c, "static MW{id}: {MW}::Cors = {MW}::Cors {{");
                w!(c, "any_origin: {},", cors.any);
                w!(c, "exact: &[{}],", StrList(&cors.exact));
                w!(c, "suffixes: &[{}],", StrList(&cors.suffixes));
                w!(c, "methods: {},", Str(&cors.methods));
                w!(c, "headers: {},", Str(&cors.headers));
                w!(c, "credentials: {},", cors.credentials);
                let max_age = cors.max_age.map(|s| s.to_string());
                w!(c, "max_age: {},", OptStr(max_age.as_deref()));
                w!(c, "expose: {},", Str(&cors.expose));
                close!(c, "}};");
            }
            MwKind::Auth(a) if a.verify.is_none() => {
                c.blank();
                w!(c, "/// Middleware `{doc}`.");
                w!(
                    c,
                    "static MW{id}: ::std::sync::LazyLock<{MW}::Secrets> = ::std::sync::LazyLock::new(|| {MW}::Secrets::load({}, {}));",
                    OptStr(a.env.as_deref()),
                    OptStr(a.file.as_deref())
                );
            }
            MwKind::RateLimit(r) => {
                c.blank();
                let per_sec = r.count as f64 / r.per_secs as f64;
                let burst = r.burst;
                if let RateKeyPlan::ClientIp(ips) = &r.key
                    && !ips.is_empty()
                {
                    let ips: Vec<String> = ips.iter().map(ip_expr).collect();
                    w!(c, "/// Middleware `{doc}`: the proxies it trusts.");
                    w!(
                        c,
                        "static MW{id}_TRUSTED: [::std::net::IpAddr; {}] = [{}];",
                        ips.len(),
                        ips.join(", ")
                    );
                }
                w!(c, "/// Middleware `{doc}`.");
                match &r.redis {
                    Some(url) => {
                        let timeout = r
                            .timeout_ms
                            .map(|ms| format!(".timeout(::std::time::Duration::from_millis({ms}))"))
                            .unwrap_or_default();
                        w!(
                            c,
                            "static MW{id}: ::std::sync::LazyLock<{MW}::RedisLimiter> = ::std::sync::LazyLock::new(|| {MW}::RedisLimiter::new({}, {}, {per_sec:?}, {burst}){timeout});",
                            Str(url),
                            Str(&r.prefix)
                        )
                    }
                    None => w!(
                        c,
                        "static MW{id}: ::std::sync::LazyLock<{MW}::RateLimiter> = ::std::sync::LazyLock::new(|| {MW}::RateLimiter::new({per_sec:?}, {burst}, {}));",
                        r.max_keys
                    ),
                }
            }
            _ => {}
        }
    }
}

/// The route function `r{i}` wrapping the handler call `r{i}_h` in the route's middleware
/// (for a route that has some).
pub(crate) fn emit_route(c: &mut Code, i: usize, route: &RoutePlan) {
    let names: Vec<&str> = route.middleware.iter().map(|m| m.name.as_str()).collect();
    w!(
        c,
        "/// Middleware, outermost first: {}.",
        Doc(&names.join(", "))
    );
    open!(
        c,
        "async fn r{i}<'a>(req: &'a Request<'a>, p: &[&'a str; N]) -> Response {{"
    );
    wrap(c, &route.middleware, &format!("r{i}_h(req, p).await"));
    close!(c, "}}");
}

/// Writes the expression that runs `chain` (outermost first) around `inner`.
fn wrap(c: &mut Code, chain: &[MwPlan], inner: &str) {
    let Some((m, rest)) = chain.split_first() else {
        w!(c, "{inner}");
        return;
    };
    let id = m.id;
    match &m.kind {
        MwKind::Cors(_) => {
            open!(c, "match MW{id}.before(req) {{");
            w!(c, "{MW}::CorsStep::Answer(r) => r,");
            open!(c, "{MW}::CorsStep::Continue(origin) => {{");
            let_resp(c, rest, inner);
            w!(c, "MW{id}.after(origin, resp)");
            close!(c, "}}");
            close!(c, "}}");
        }
        MwKind::Auth(a) => {
            let scheme = if a.api_key { "ApiKey" } else { "Bearer" };
            let realm = &a.realm;
            let (challenge, invalid) = if a.api_key {
                let what = match &a.header {
                    Some(h) => format!("header=\"{h}\""),
                    None => format!("query=\"{}\"", a.query),
                };
                let c = format!("{scheme} realm=\"{realm}\", {what}");
                (c.clone(), c)
            } else {
                (
                    format!("{scheme} realm=\"{realm}\""),
                    format!("{scheme} realm=\"{realm}\", error=\"invalid_token\""),
                )
            };
            let presented = if a.api_key {
                format!(
                    "{MW}::api_key(req, {}, {})",
                    OptStr(a.header.as_deref()),
                    Str(&a.query)
                )
            } else {
                format!("{MW}::bearer_token(req)")
            };
            match &a.verify {
                None => {
                    open!(c, "match {presented} {{");
                    open!(c, "Some(token) => match MW{id}.find(token) {{");
                    open!(c, "Some(identity) => {{");
                    w!(c, "let req = &req.with_identity(identity);");
                }
                Some(verify) => {
                    open!(
                        c,
                        "match {presented}.and_then(|t| ::core::str::from_utf8(t).ok()) {{"
                    );
                    open!(c, "Some(token) => match {verify}(req, token).await {{");
                    open!(c, "Some(identity) => {{");
                    w!(c, "let identity: ::std::string::String = identity;");
                    w!(c, "let req = &req.with_identity(&identity);");
                }
            }
            wrap(c, rest, inner);
            close!(c, "}}");
            w!(c, "None => {MW}::unauthorized({}),", Str(&invalid));
            close!(c, "}},");
            w!(c, "None => {MW}::unauthorized({}),", Str(&challenge));
            close!(c, "}}");
        }
        MwKind::RateLimit(r) => {
            let key = match &r.key {
                RateKeyPlan::Global => format!("{MW}::RateKey::Global"),
                RateKeyPlan::Identity => format!(
                    "match req.identity() {{ Some(i) => {MW}::RateKey::Text(i.as_bytes()), None => {MW}::RateKey::Missing }}"
                ),
                RateKeyPlan::Header(h) => format!("{MW}::header_key(req, {})", Str(h)),
                RateKeyPlan::ClientIp(ips) if ips.is_empty() => {
                    format!("{MW}::client_ip(req, &[])")
                }
                RateKeyPlan::ClientIp(_) => format!("{MW}::client_ip(req, &MW{id}_TRUSTED)"),
            };
            let wait = if r.redis.is_some() { ".await" } else { "" };
            open!(c, "{{");
            w!(c, "let decision = MW{id}.check({key}){wait};");
            open!(c, "if decision.allowed {{");
            let_resp(c, rest, inner);
            w!(c, "decision.annotate(resp)");
            close!(c, "}} else {{");
            c.indented(|c| w!(c, "decision.reject()"));
            w!(c, "}}");
            close!(c, "}}");
        }
        MwKind::Hook {
            before,
            extend,
            after,
        } => {
            // `before` sees the request first, then `after` wraps the response of
            // `extend` and the rest of the chain.
            if let Some(b) = before {
                open!(c, "match {b}(req).await {{");
                w!(c, "Some(early) => early,");
                open!(c, "None => {{");
            }
            if after.is_some() {
                open!(c, "{{");
                open!(c, "let resp: Response = {{");
            }
            if let Some(x) = extend {
                open!(c, "match {x}(req).await {{");
                open!(c, "Ok(value) => {{");
                w!(c, "let req = &req.with_extension(&value);");
            }
            wrap(c, rest, inner);
            if extend.is_some() {
                close!(c, "}}");
                w!(c, "Err(early) => early,");
                close!(c, "}}");
            }
            if let Some(a) = after {
                close!(c, "}};");
                w!(c, "{a}(req, resp).await");
                close!(c, "}}");
            }
            if before.is_some() {
                close!(c, "}}");
                close!(c, "}}");
            }
        }
    }
}

/// Writes `let resp = …;` with the response of `chain` around `inner`.
fn let_resp(c: &mut Code, chain: &[MwPlan], inner: &str) {
    if chain.is_empty() {
        w!(c, "let resp = {inner};");
    } else {
        open!(c, "let resp = {{");
        wrap(c, chain, inner);
        close!(c, "}};");
    }
}

/// For an endpoint without an `OPTIONS` route, where a route has CORS: writes the
/// `OPTIONS` arm answering preflights (and `204` with `allow` otherwise).
pub(crate) fn options_arm(c: &mut Code, routes: &[&RoutePlan], allow: &str) {
    if routes
        .iter()
        .any(|r| r.method == MethodSel::Options || r.method == MethodSel::Any)
    {
        return;
    }
    let cors = routes.iter().find_map(|r| {
        r.middleware
            .iter()
            .find(|m| matches!(m.kind, MwKind::Cors(_)))
            .map(|m| m.id)
    });
    if let Some(id) = cors {
        w!(c, "Method::Options => MW{id}.options(req, {}),", Str(allow));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chains(yaml: &str) -> Vec<Vec<String>> {
        let plan = crate::compile(
            yaml,
            "t.yaml",
            &mut |_| Err(std::io::Error::other("no includes")),
            &|_| None,
        )
        .unwrap_or_else(|d| panic!("{d}"));
        plan.routes
            .iter()
            .map(|r| r.middleware.iter().map(|m| m.name.clone()).collect())
            .collect()
    }

    #[test]
    fn order_is_top_then_groups_then_route_and_skip_removes() {
        let c = chains(
            r#"
middleware:
  - cors: { allow_origins: [https://a.example] }
  - rate_limit: { rate: 10/s }
routes:
  GET /a: a
groups:
  - prefix: /g
    middleware:
      - bearer: { tokens_env: T }
    routes:
      GET /b: b
      GET /c: { handler: c, middleware: [ { skip: [cors, bearer] }, { hook: { after: h } } ] }
    groups:
      - prefix: /inner
        middleware: [ { skip: rate_limit } ]
        routes:
          GET /d: d
  - prefix: /h
    routes:
      GET /e: e
"#,
        );
        assert_eq!(c[0], ["cors", "rate_limit"]);
        assert_eq!(c[1], ["cors", "rate_limit", "bearer"]);
        assert_eq!(c[2], ["rate_limit", "hook"]);
        assert_eq!(c[3], ["cors", "bearer"]);
        assert_eq!(c[4], ["cors", "rate_limit"]);
    }

    #[test]
    fn inherited_declarations_share_state() {
        let plan = crate::compile(
            "middleware: [ { rate_limit: { rate: 1/s } } ]\nroutes:\n  GET /a: a\n  GET /b: b\n",
            "t.yaml",
            &mut |_| Err(std::io::Error::other("no includes")),
            &|_| None,
        )
        .unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(plan.routes[0].middleware, plan.routes[1].middleware);
    }

    #[test]
    fn rate_limit_timeout_needs_the_redis_store() {
        let compile = |yaml: &str| {
            crate::compile(
                yaml,
                "t.yaml",
                &mut |_| Err(std::io::Error::other("no includes")),
                &|_| None,
            )
        };
        let plan = compile(
            "middleware: [ { rate_limit: { rate: 1/s, store: redis, timeout: 250ms } } ]\nroutes:\n  GET /a: a\n",
        )
        .unwrap_or_else(|d| panic!("{d}"));
        let MwKind::RateLimit(r) = &plan.routes[0].middleware[0].kind else {
            panic!("a rate limit");
        };
        assert_eq!(r.timeout_ms, Some(250));
        for (yaml, want) in [
            (
                "{ rate: 1/s, timeout: 250ms }",
                "`timeout` needs `store: redis`",
            ),
            (
                "{ rate: 1/s, store: redis, timeout: soon }",
                "invalid timeout `soon`",
            ),
            (
                "{ rate: 1/s, store: redis, timeout: 0ms }",
                "invalid timeout `0ms`",
            ),
        ] {
            let err = compile(&format!(
                "middleware: [ {{ rate_limit: {yaml} }} ]\nroutes:\n  GET /a: a\n"
            ))
            .map(|_| ())
            .expect_err(yaml)
            .to_string();
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100/s"), Some((100, 1)));
        assert_eq!(parse_rate("6000/min"), Some((6000, 60)));
        assert_eq!(parse_rate("5 / h"), Some((5, 3600)));
        assert_eq!(parse_rate("0/s"), None);
        assert_eq!(parse_rate("10/week"), None);
        assert_eq!(parse_rate("10"), None);
    }
}
