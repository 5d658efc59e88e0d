//! A sans-IO codec for the part of memcached's meta protocol a cache needs: `mg` (get
//! the value), `ms` (set with a TTL), `md` (delete). Requests
//! are encoded into a buffer; replies are decoded from the front of a buffer. Nothing
//! here touches a socket or a runtime.
//!
//! Keys are sent as they are when they are 1–250 printable ASCII bytes without spaces,
//! and base64-encoded with the `b` flag otherwise (binary keys, as our `\n`-joined vary
//! keys are); a key that is still too long is refused by the caller.

use bytes::Bytes;

/// The longest key memcached accepts.
pub(crate) const MAX_KEY: usize = 250;

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `VA <size>`: the value.
    Value(Bytes),
    /// `EN`: no such key.
    Miss,
    /// `HD`: stored / deleted / no-op done.
    Done,
    /// `NS`: not stored.
    NotStored,
    /// `NF`: not found (delete).
    NotFound,
    /// `MN`: the end of a no-op.
    Noop,
    /// `ERROR`, `CLIENT_ERROR …`, `SERVER_ERROR …`, or a reply we do not know.
    Error(String),
}

/// Why a request could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EncodeError {
    /// The key is empty or longer than memcached allows, even base64-encoded.
    BadKey,
}

/// Writes the key token (and whether it needs the `b` flag).
fn put_key(out: &mut Vec<u8>, key: &[u8]) -> Result<bool, EncodeError> {
    if key.is_empty() {
        return Err(EncodeError::BadKey);
    }
    if key.len() <= MAX_KEY && key.iter().all(|b| b.is_ascii_graphic()) {
        out.extend_from_slice(key);
        return Ok(false);
    }
    if key.len().div_ceil(3) * 4 > MAX_KEY {
        return Err(EncodeError::BadKey);
    }
    base64(key, out);
    Ok(true)
}

/// `mg <key> v`: get the value.
pub(crate) fn get(out: &mut Vec<u8>, key: &[u8]) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(b"mg ");
    match put_key(out, key) {
        Ok(b) => {
            out.extend_from_slice(if b { b" b v\r\n" } else { b" v\r\n" });
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// `ms <key> <len> T<ttl>`: store `value` for `ttl_secs` seconds (0: no expiry).
pub(crate) fn set(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &[u8],
    ttl_secs: u64,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(b"ms ");
    let b = match put_key(out, key) {
        Ok(b) => b,
        Err(e) => {
            out.truncate(start);
            return Err(e);
        }
    };
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(value.len()).as_bytes());
    if b {
        out.extend_from_slice(b" b");
    }
    out.extend_from_slice(b" T");
    out.extend_from_slice(itoa::Buffer::new().format(ttl_secs).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// `md <key>`: delete.
pub(crate) fn delete(out: &mut Vec<u8>, key: &[u8]) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(b"md ");
    match put_key(out, key) {
        Ok(b) => {
            out.extend_from_slice(if b { b" b\r\n" } else { b"\r\n" });
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Decodes one reply from the front of `buf`: the reply and the bytes it used, or `None`
/// when more bytes are needed. A malformed reply is an `Error` (the caller then drops the
/// connection, since framing is lost).
pub(crate) fn decode(buf: &[u8]) -> Option<(Reply, usize)> {
    let eol = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = &buf[..eol];
    let used = eol + 2;
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let code = words.next().unwrap_or(b"");
    let reply = match code {
        b"VA" => {
            let size = words
                .next()
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.parse::<usize>().ok());
            let Some(size) = size else {
                return Some((Reply::Error("bad VA line".into()), used));
            };
            let end = used.checked_add(size)?.checked_add(2)?;
            if buf.len() < end {
                return None;
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Some((Reply::Error("value not terminated".into()), end));
            }
            return Some((
                Reply::Value(Bytes::copy_from_slice(&buf[used..end - 2])),
                end,
            ));
        }
        b"EN" => Reply::Miss,
        b"HD" => Reply::Done,
        b"NS" => Reply::NotStored,
        b"NF" => Reply::NotFound,
        b"MN" => Reply::Noop,
        _ => Reply::Error(String::from_utf8_lossy(line).into_owned()),
    };
    Some((reply, used))
}

fn base64(input: &[u8], out: &mut Vec<u8>) {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63]);
        out.push(T[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63]
        } else {
            b'='
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_requests() {
        let mut out = Vec::new();
        get(&mut out, b"app:GET /t").expect("binary key");
        assert_eq!(out, b"mg YXBwOkdFVCAvdA== b v\r\n");
        out.clear();
        get(&mut out, b"plain").expect("key");
        set(&mut out, b"plain", b"abc", 5).expect("key");
        delete(&mut out, b"plain").expect("key");
        out.extend_from_slice(b"mn\r\n");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "mg plain v\r\nms plain 3 T5\r\nabc\r\nmd plain\r\nmn\r\n"
        );
        assert_eq!(get(&mut out, b""), Err(EncodeError::BadKey));
        assert_eq!(get(&mut out, &[b'x'; 251]), Err(EncodeError::BadKey));
    }

    #[test]
    fn decodes_replies_whole_and_split() {
        let wire = b"VA 3 \r\nabc\r\nEN\r\nHD\r\nNS\r\nNF\r\nMN\r\nSERVER_ERROR out of memory\r\n";
        let want = [
            Reply::Value(Bytes::from_static(b"abc")),
            Reply::Miss,
            Reply::Done,
            Reply::NotStored,
            Reply::NotFound,
            Reply::Noop,
            Reply::Error("SERVER_ERROR out of memory".into()),
        ];
        let mut at = 0;
        for w in &want {
            let (r, used) = decode(&wire[at..]).expect("complete");
            assert_eq!(&r, w);
            at += used;
        }
        assert_eq!(at, wire.len());
        // Every prefix of a value reply is incomplete, never an error.
        for cut in 0..12 {
            assert_eq!(decode(&wire[..cut]), None, "cut at {cut}");
        }
        assert!(matches!(
            decode(b"VA 3\r\nabcXY"),
            Some((Reply::Error(_), 11))
        ));
        assert!(matches!(decode(b"VA x\r\n"), Some((Reply::Error(_), 6))));
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = Vec::new();
            base64(i.as_bytes(), &mut out);
            assert_eq!(String::from_utf8_lossy(&out), o);
        }
    }
}
