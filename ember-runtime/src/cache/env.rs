//! `${VAR}` / `${VAR:-default}` in a remote cache's `url` or `addr`, resolved when the
//! server starts (the generator checked the syntax at build time).

/// The text with every variable replaced; `None` when a variable without a default is
/// unset (the caller then uses the build-time value). `$${` is a literal `${`.
pub(crate) fn resolve(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let end = body.find('}')?;
        let inner = &body[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return None,
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn table() {
        let env = |k: &str| (k == "SET").then(|| "redis://h:1".to_owned());
        for (text, want) in [
            ("redis://a:1", Some("redis://a:1")),
            ("${SET}", Some("redis://h:1")),
            ("${SET:-x}", Some("redis://h:1")),
            ("${UNSET:-redis://d:2}", Some("redis://d:2")),
            ("${UNSET}", None),
            ("a$${b}", Some("a${b}")),
            ("$x", Some("$x")),
        ] {
            assert_eq!(resolve(text, &env).as_deref(), want, "{text}");
        }
    }
}
