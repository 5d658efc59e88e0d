//! Each middleware kind's plan, from the values [`crate::validate::middleware::kinds`]
//! checks.

use super::{AuthPlan, CorsPlan, MwKind, RateKeyPlan, RatePlan};
use crate::validate::middleware::kinds::{Auth, Cors, Hook, Rate, RateKey};

impl From<Cors> for CorsPlan {
    fn from(c: Cors) -> CorsPlan {
        CorsPlan {
            any: c.any,
            exact: c.exact,
            suffixes: c.suffixes,
            methods: c.methods,
            headers: c.headers,
            credentials: c.credentials,
            max_age: c.max_age,
            expose: c.expose,
        }
    }
}

impl From<Auth> for AuthPlan {
    fn from(a: Auth) -> AuthPlan {
        AuthPlan {
            api_key: a.api_key,
            header: a.header,
            query: a.query,
            env: a.env,
            file: a.file,
            verify: a.verify,
            realm: a.realm,
        }
    }
}

impl From<RateKey> for RateKeyPlan {
    fn from(k: RateKey) -> RateKeyPlan {
        match k {
            RateKey::ClientIp(ips) => RateKeyPlan::ClientIp(ips),
            RateKey::Global => RateKeyPlan::Global,
            RateKey::Identity => RateKeyPlan::Identity,
            RateKey::Header(h) => RateKeyPlan::Header(h),
        }
    }
}

impl From<Rate> for RatePlan {
    fn from(r: Rate) -> RatePlan {
        RatePlan {
            count: r.count,
            per_secs: r.per_secs,
            burst: r.burst,
            key: r.key.into(),
            redis: r.redis,
            prefix: r.prefix,
            max_keys: r.max_keys,
            timeout_ms: r.timeout_ms,
        }
    }
}

impl From<Hook> for MwKind {
    fn from(h: Hook) -> MwKind {
        MwKind::Hook {
            before: h.before,
            extend: h.extend,
            after: h.after,
        }
    }
}
