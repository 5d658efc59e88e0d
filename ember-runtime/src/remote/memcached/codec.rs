//! A sans-IO codec for the part of memcached's meta protocol a cache needs: `mg` (get
//! the value and its CAS value, or probe a key), `ms` (set, add or compare-and-swap, with
//! a TTL). Requests
//! are encoded into a buffer; replies are decoded from the front of a buffer. Nothing
//! here touches a socket or a runtime.
//!
//! Keys are sent as they are when they are 1–250 printable ASCII bytes without spaces,
//! and base64-encoded with the `b` flag otherwise (binary keys, as our `\n`-joined vary
//! keys are); a key that is still too long must be shortened by the caller (see
//! [`key_fits`]).

use bytes::Bytes;

/// The longest key memcached accepts.
pub(crate) const MAX_KEY: usize = 250;

/// Return flags of a reply that this codec asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// `c<cas>`: the item's CAS value.
    pub(crate) cas: Option<u64>,
    /// `s<size>`: the item's value size.
    pub(crate) size: Option<usize>,
}

/// A decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `VA <size> <flags>`: the value.
    Value(Bytes, Flags),
    /// `EN`: no such key.
    Miss,
    /// `HD <flags>`: stored / deleted / found.
    Done(Flags),
    /// `NS`: not stored (an add found the key there).
    NotStored,
    /// `EX`: not stored (the CAS value did not match).
    Exists,
    /// `NF`: not found (a delete, or a CAS store of a key that is gone).
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

/// How `ms` stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Always (`set`).
    Set,
    /// Only when the key is absent (`ME`, add).
    Add,
    /// Only when the item's CAS value is still this one (`C<cas>`).
    Cas(u64),
}

/// Whether `key` can be sent (as it is, or base64-encoded).
pub(crate) fn key_fits(key: &[u8]) -> bool {
    !key.is_empty()
        && ((key.len() <= MAX_KEY && key.iter().all(|b| b.is_ascii_graphic()))
            || key.len().div_ceil(3) * 4 <= MAX_KEY)
}

/// Writes the key token (and whether it needs the `b` flag).
fn put_key(out: &mut Vec<u8>, key: &[u8]) -> Result<bool, EncodeError> {
    if !key_fits(key) {
        return Err(EncodeError::BadKey);
    }
    if key.len() <= MAX_KEY && key.iter().all(|b| b.is_ascii_graphic()) {
        out.extend_from_slice(key);
        return Ok(false);
    }
    base64(key, out);
    Ok(true)
}

/// `<cmd> <key> [b]<flags>\r\n`.
fn keyed(out: &mut Vec<u8>, cmd: &[u8], key: &[u8], flags: &[u8]) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(cmd);
    match put_key(out, key) {
        Ok(b) => {
            if b {
                out.extend_from_slice(b" b");
            }
            out.extend_from_slice(flags);
            out.extend_from_slice(b"\r\n");
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// `mg <key> v c`: get the value and its CAS value.
pub(crate) fn get(out: &mut Vec<u8>, key: &[u8]) -> Result<(), EncodeError> {
    keyed(out, b"mg ", key, b" v c")
}

/// `mg <key> s`: whether the key is there, and its value's size.
pub(crate) fn probe(out: &mut Vec<u8>, key: &[u8]) -> Result<(), EncodeError> {
    keyed(out, b"mg ", key, b" s")
}

/// `ms <key> <len> T<ttl> [ME|C<cas>]`: store `value` for `ttl_secs` seconds (0: no
/// expiry), as `mode` says.
pub(crate) fn set(
    out: &mut Vec<u8>,
    key: &[u8],
    value: &[u8],
    ttl_secs: u64,
    mode: Mode,
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
    match mode {
        Mode::Set => {}
        Mode::Add => out.extend_from_slice(b" ME"),
        Mode::Cas(cas) => {
            out.extend_from_slice(b" C");
            out.extend_from_slice(itoa::Buffer::new().format(cas).as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Reads the return flags we ask for (`c`, `s`); others are ignored.
fn flags<'a>(words: impl Iterator<Item = &'a [u8]>) -> Flags {
    let mut f = Flags::default();
    for w in words {
        let Some((&tag, rest)) = w.split_first() else {
            continue;
        };
        let n = std::str::from_utf8(rest).ok();
        match tag {
            b'c' => f.cas = n.and_then(|n| n.parse().ok()),
            b's' => f.size = n.and_then(|n| n.parse().ok()),
            _ => {}
        }
    }
    f
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
            let f = flags(words);
            let end = used.checked_add(size)?.checked_add(2)?;
            if buf.len() < end {
                return None;
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Some((Reply::Error("value not terminated".into()), end));
            }
            return Some((
                Reply::Value(Bytes::copy_from_slice(&buf[used..end - 2]), f),
                end,
            ));
        }
        b"EN" => Reply::Miss,
        b"HD" => Reply::Done(flags(words)),
        b"NS" => Reply::NotStored,
        b"EX" => Reply::Exists,
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
        assert_eq!(out, b"mg YXBwOkdFVCAvdA== b v c\r\n");
        out.clear();
        get(&mut out, b"plain").expect("key");
        probe(&mut out, b"plain").expect("key");
        set(&mut out, b"plain", b"abc", 5, Mode::Set).expect("key");
        set(&mut out, b"plain", b"abc", 5, Mode::Add).expect("key");
        set(&mut out, b"plain", b"abc", 0, Mode::Cas(42)).expect("key");
        out.extend_from_slice(b"mn\r\n");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "mg plain v c\r\nmg plain s\r\nms plain 3 T5\r\nabc\r\nms plain 3 T5 ME\r\nabc\r\n\
             ms plain 3 T0 C42\r\nabc\r\nmn\r\n"
        );
        let before = out.len();
        assert_eq!(get(&mut out, b""), Err(EncodeError::BadKey));
        assert_eq!(get(&mut out, &[b'x'; 251]), Err(EncodeError::BadKey));
        assert_eq!(
            set(&mut out, &[0u8; 188], b"v", 1, Mode::Set),
            Err(EncodeError::BadKey)
        );
        assert_eq!(out.len(), before, "nothing written for a refused key");
        assert!(key_fits(&[b'x'; 250]) && key_fits(&[0u8; 186]));
        assert!(!key_fits(&[b'x'; 251]) && !key_fits(&[0u8; 187]) && !key_fits(b""));
    }

    #[test]
    fn decodes_replies_whole_and_split() {
        let wire = b"VA 3 c9 s3\r\nabc\r\nEN\r\nHD\r\nHD s12\r\nNS\r\nEX\r\nNF\r\nMN\r\nSERVER_ERROR out of memory\r\n";
        let want = [
            Reply::Value(
                Bytes::from_static(b"abc"),
                Flags {
                    cas: Some(9),
                    size: Some(3),
                },
            ),
            Reply::Miss,
            Reply::Done(Flags::default()),
            Reply::Done(Flags {
                cas: None,
                size: Some(12),
            }),
            Reply::NotStored,
            Reply::Exists,
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
        for cut in 0..17 {
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
