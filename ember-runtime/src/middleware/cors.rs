//! CORS: origin matching, preflight answers and the headers on actual responses.

use crate::http::method::Method;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::status::StatusCode;

/// One `cors` middleware's settings, as generated code writes them (a `static`).
#[derive(Debug)]
pub struct Cors {
    /// `allow_origins: "*"`: any origin (answered with `*`, never reflected; the spec
    /// refuses this together with credentials).
    pub any_origin: bool,
    /// Origins allowed exactly (`https://app.example.com`), compared case-insensitively.
    pub exact: &'static [&'static str],
    /// Host suffixes from `*.example.com` entries, stored as `.example.com`: any origin
    /// whose host ends with one (after its scheme) is allowed.
    pub suffixes: &'static [&'static str],
    /// `Access-Control-Allow-Methods`, joined (`GET, POST`).
    pub methods: &'static str,
    /// `Access-Control-Allow-Headers`, joined and lower-case; `*` allows any.
    pub headers: &'static str,
    /// `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// `Access-Control-Max-Age` in seconds, as text.
    pub max_age: Option<&'static str>,
    /// `Access-Control-Expose-Headers`, joined; empty for none.
    pub expose: &'static str,
}

/// What a route's CORS layer does with a request.
#[derive(Debug)]
pub enum CorsStep<'a> {
    /// Answer now (a preflight), without calling the rest of the route.
    Answer(Response),
    /// Go on; the allowed `Origin` to echo on the response, if any.
    Continue(Option<&'a str>),
}

impl Cors {
    /// Whether `origin` is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        if self.any_origin {
            return true;
        }
        if self.exact.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return true;
        }
        if self.suffixes.is_empty() {
            return false;
        }
        // scheme://host[:port]: match the host.
        let Some((_, rest)) = origin.split_once("://") else {
            return false;
        };
        let host = match rest.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => rest,
        };
        self.suffixes.iter().any(|s| {
            host.len() > s.len()
                && host.as_bytes()[host.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
        })
    }

    /// The CORS layer of a route: a preflight (`OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`) is answered here; other requests go on.
    pub fn before<'a>(&self, req: &Request<'a>) -> CorsStep<'a> {
        let origin = req.header_str("origin");
        if req.method() == Method::Options && req.header("access-control-request-method").is_some()
        {
            return CorsStep::Answer(self.preflight_response(req));
        }
        CorsStep::Continue(origin.filter(|o| self.allows(o)))
    }

    /// Adds the CORS headers to an actual response.
    pub fn after(&self, origin: Option<&str>, mut resp: Response) -> Response {
        if let Some(o) = origin {
            let value = if self.any_origin && !self.credentials {
                "*"
            } else {
                o
            };
            resp = resp.header("Access-Control-Allow-Origin", value);
            if self.credentials {
                resp = resp.header("Access-Control-Allow-Credentials", "true");
            }
            if !self.expose.is_empty() {
                resp = resp.header("Access-Control-Expose-Headers", self.expose);
            }
        }
        if !self.any_origin || self.credentials {
            resp = resp.header("Vary", "Origin");
        }
        resp
    }

    /// The answer to an `OPTIONS` request on an endpoint with CORS but no `OPTIONS` route:
    /// a preflight answer, or `204` with `allow` for a plain `OPTIONS` (as on any path).
    pub fn options(&self, req: &Request<'_>, allow: &'static str) -> Response {
        if req.header("access-control-request-method").is_some() {
            self.preflight_response(req)
        } else {
            Response::new(StatusCode::NO_CONTENT).header("Allow", allow)
        }
    }

    fn preflight_response(&self, req: &Request<'_>) -> Response {
        let vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
        let forbidden = || Response::error(StatusCode::FORBIDDEN).header("Vary", vary);
        let Some(origin) = req.header_str("origin").filter(|o| self.allows(o)) else {
            return forbidden();
        };
        let method = req
            .header_str("access-control-request-method")
            .unwrap_or("");
        if !self.methods.split(", ").any(|m| m == method) {
            return forbidden();
        }
        let requested = req
            .header_str("access-control-request-headers")
            .unwrap_or("");
        if self.headers != "*" {
            let ok = requested
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .all(|h| self.headers.split(", ").any(|a| a.eq_ignore_ascii_case(h)));
            if !ok {
                return forbidden();
            }
        }
        let allow_origin = if self.any_origin && !self.credentials {
            "*"
        } else {
            origin
        };
        let mut r = Response::new(StatusCode::NO_CONTENT)
            .header("Access-Control-Allow-Origin", allow_origin)
            .header("Access-Control-Allow-Methods", self.methods);
        if !self.headers.is_empty() {
            r = r.header("Access-Control-Allow-Headers", self.headers);
        }
        if self.credentials {
            r = r.header("Access-Control-Allow-Credentials", "true");
        }
        if let Some(m) = self.max_age {
            r = r.header("Access-Control-Max-Age", m);
        }
        r.header("Vary", vary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Cors = Cors {
        any_origin: false,
        exact: &["https://a.test"],
        suffixes: &[".example.com"],
        methods: "GET, POST",
        headers: "content-type",
        credentials: true,
        max_age: Some("60"),
        expose: "",
    };

    #[test]
    fn origins() {
        assert!(C.allows("https://a.test"));
        assert!(C.allows("HTTPS://A.TEST"));
        assert!(!C.allows("https://a.test.evil"));
        assert!(C.allows("https://x.example.com"));
        assert!(C.allows("https://x.y.example.com:8443"));
        assert!(!C.allows("https://example.com"));
        assert!(!C.allows("https://evilexample.com"));
        assert!(!C.allows("null"));
    }
}
