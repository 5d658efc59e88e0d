//! Human units in the spec (`16KiB`, `30s`) and `${ENV:-default}` interpolation.

use std::time::Duration;

/// Splits `16_384 KiB` into its whole number (underscores allowed) and its trimmed unit.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n = num.replace('_', "").parse().ok()?;
    Some((n, unit.trim()))
}

/// Parses a byte size: a whole number with an optional unit — `B`, `KB`/`MB`/`GB`
/// (powers of 1000), `KiB`/`MiB`/`GiB` (powers of 1024). A bare number is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (n, unit) = number_and_unit(text)
        .ok_or_else(|| format!("`{text}` is not a size (try `16KiB` or `1MiB`)"))?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{text}` (use B, KB, MB, GB, KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Parses a duration: a whole number with a unit — `ms`, `s`, `m`, `h`. A unit is required
/// (a bare `30` could mean seconds or milliseconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (n, unit) = number_and_unit(text)
        .ok_or_else(|| format!("`{text}` is not a duration (try `30s` or `500ms`)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "" => return Err(format!("`{text}` needs a unit: `{text}s` or `{text}ms`")),
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{text}` (use ms, s, m or h)"
            ));
        }
    };
    Ok(d)
}

/// An interpolation failure: the message and the byte range within the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterpError {
    /// What went wrong.
    pub message: String,
    /// Where, within the interpolated text.
    pub range: std::ops::Range<usize>,
}

/// Replaces `${NAME}` and `${NAME:-default}` with values from `env`; `$${` is a literal
/// `${`. Every variable name read is pushed to `read` (for `rerun-if-env-changed`).
pub fn interpolate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    read: &mut Vec<String>,
) -> Result<String, InterpError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            offset += i + 3;
            continue;
        }
        if !after.starts_with("${") {
            out.push('$');
            rest = &after[1..];
            offset += i + 1;
            continue;
        }
        let Some(close) = after.find('}') else {
            return Err(InterpError {
                message: "unclosed `${`".to_owned(),
                range: offset + i..text.len(),
            });
        };
        let inner = &after[2..close];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let range = offset + i..offset + i + close + 1;
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(InterpError {
                message: format!("`{name}` is not an environment variable name"),
                range,
            });
        }
        if !read.iter().any(|r| r == name) {
            read.push(name.to_owned());
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(InterpError {
                    message: format!("environment variable `{name}` is not set and has no default"),
                    range,
                });
            }
        }
        rest = &after[close + 1..];
        offset += i + close + 1;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let ok = [
            ("0", 0),
            ("512", 512),
            ("512B", 512),
            ("16KiB", 16384),
            ("1MiB", 1 << 20),
            ("2KB", 2000),
            ("1_000", 1000),
            ("3GiB", 3 << 30),
        ];
        for (t, want) in ok {
            assert_eq!(parse_size(t), Ok(want), "{t}");
        }
        for bad in ["", "KiB", "1.5MiB", "10 parsecs", "-1", "99999999999999GiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        let ok = [
            ("500ms", 500),
            ("30s", 30_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
        ];
        for (t, ms) in ok {
            assert_eq!(parse_duration(t), Ok(Duration::from_millis(ms)), "{t}");
        }
        assert!(parse_duration("30").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("3 days").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn interpolation() {
        let env = |k: &str| match k {
            "PORT" => Some("9000".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let mut read = Vec::new();
        let mut i = |t: &str| interpolate(t, &env, &mut read);
        assert_eq!(i("0.0.0.0:${PORT}"), Ok("0.0.0.0:9000".to_owned()));
        assert_eq!(
            i("${HOST:-127.0.0.1}:${PORT:-1}"),
            Ok("127.0.0.1:9000".to_owned())
        );
        assert_eq!(i("${EMPTY:-d}"), Ok("d".to_owned()));
        assert_eq!(
            i("cost $5 and $${literal}"),
            Ok("cost $5 and ${literal}".to_owned())
        );
        let e = i("x ${MISSING}").unwrap_err();
        assert_eq!(e.range, 2..12);
        assert!(e.message.contains("`MISSING` is not set"));
        assert!(i("${BAD NAME}").is_err());
        assert!(i("${OPEN").is_err());
        assert_eq!(read, ["PORT", "HOST", "EMPTY", "MISSING"]);
    }
}
