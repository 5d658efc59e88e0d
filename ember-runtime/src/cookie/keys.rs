//! Cookie keys: parsed from text (an environment variable or a file), several at once for
//! rotation. The first key signs and encrypts; every key is tried when verifying or
//! decrypting, so cookies issued under an older key stay valid while it is listed.

use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use cookie::{Cookie, CookieJar, Key};

/// The fewest bytes a key may have (`cookie::Key`: 32 for HMAC-SHA256 signing, 32 for
/// AES-256-GCM encryption).
pub const MIN_KEY_BYTES: usize = 64;

/// Why cookie keys could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// The keys signed and private cookies use: the first signs and encrypts, all verify and
/// decrypt (key rotation).
///
/// Text form: base64 keys (standard or URL-safe alphabet, padding optional) of at least
/// [`MIN_KEY_BYTES`] bytes each, separated by commas or whitespace; lines starting with
/// `#` are comments. `openssl rand -base64 64` makes one. To rotate, put the new key
/// first and keep the old one after it until the cookies it signed have expired.
///
/// ```
/// use ember_runtime::cookie::CookieKeys;
///
/// let k = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB";
/// let keys = CookieKeys::parse(k).expect("one 64-byte key");
/// assert_eq!(keys.len(), 1);
/// assert!(CookieKeys::parse("c2hvcnQ=").is_err()); // 5 bytes: refused
/// ```
#[derive(Clone)]
pub struct CookieKeys {
    keys: Vec<Key>,
}

impl fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CookieKeys({} keys)", self.keys.len())
    }
}

impl CookieKeys {
    /// Parses the text form described on [`CookieKeys`]; at least one key is required.
    pub fn parse(text: &str) -> Result<CookieKeys, KeyError> {
        let mut keys = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            for item in line.split(|c: char| c == ',' || c.is_whitespace()) {
                if item.is_empty() {
                    continue;
                }
                let n = keys.len() + 1;
                let bytes = decode_base64(item)
                    .ok_or_else(|| KeyError(format!("cookie key #{n} is not base64")))?;
                if bytes.len() < MIN_KEY_BYTES {
                    return Err(KeyError(format!(
                        "cookie key #{n} has {} bytes; at least {MIN_KEY_BYTES} are needed \
                         (make one with `openssl rand -base64 64`)",
                        bytes.len()
                    )));
                }
                let key = Key::try_from(bytes.as_slice())
                    .map_err(|e| KeyError(format!("cookie key #{n}: {e}")))?;
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(KeyError("no cookie key given".to_owned()));
        }
        Ok(CookieKeys { keys })
    }

    /// Loads keys from the environment variable `env` or, when `env` is `None`, the file
    /// `file`.
    pub fn load(env: Option<&str>, file: Option<&str>) -> Result<CookieKeys, KeyError> {
        let (text, source) = match (env, file) {
            (Some(var), _) => (
                std::env::var(var)
                    .map_err(|_| KeyError(format!("`{var}` (cookie keys) is not set")))?,
                format!("`{var}`"),
            ),
            (None, Some(path)) => (
                std::fs::read_to_string(path)
                    .map_err(|e| KeyError(format!("cannot read cookie keys from `{path}`: {e}")))?,
                format!("`{path}`"),
            ),
            (None, None) => return Err(KeyError("no source of cookie keys".to_owned())),
        };
        CookieKeys::parse(&text).map_err(|e| KeyError(format!("{source}: {e}")))
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: there is at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `cookie` with its value signed (HMAC-SHA256) by the first key.
    pub fn sign(&self, cookie: Cookie<'static>) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.keys[0]).add(cookie.clone());
        jar.get(cookie.name()).cloned().unwrap_or(cookie)
    }

    /// `cookie` with its value encrypted and authenticated (AES-256-GCM) by the first key.
    pub fn encrypt(&self, cookie: Cookie<'static>) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.keys[0]).add(cookie.clone());
        jar.get(cookie.name()).cloned().unwrap_or(cookie)
    }

    /// The value of a signed cookie named `name` whose (decoded) value is `value`, if some
    /// key verifies it, and the index of that key (0: the current one).
    pub fn verify(&self, name: &str, value: &str) -> Option<(String, usize)> {
        self.keys.iter().enumerate().find_map(|(i, k)| {
            let c = Cookie::new(name.to_owned(), value.to_owned());
            let jar = CookieJar::new();
            jar.signed(k).verify(c).map(|c| (c.value().to_owned(), i))
        })
    }

    /// The plain value of a private cookie named `name` whose (decoded) value is `value`,
    /// if some key decrypts it, and the index of that key (0: the current one).
    pub fn decrypt(&self, name: &str, value: &str) -> Option<(String, usize)> {
        self.keys.iter().enumerate().find_map(|(i, k)| {
            let c = Cookie::new(name.to_owned(), value.to_owned());
            let jar = CookieJar::new();
            jar.private(k).decrypt(c).map(|c| (c.value().to_owned(), i))
        })
    }
}

/// Base64 in either alphabet, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(text).ok())
}

/// The process's cookie keys, once the app installed them.
static INSTALLED: OnceLock<CookieKeys> = OnceLock::new();

/// Makes `keys` the process's cookie keys (what [`Request::signed_cookie`],
/// [`Response::signed_cookie`] and the cookie session store use). The first call wins:
/// one process serves one app's keys.
///
/// [`Request::signed_cookie`]: crate::Request::signed_cookie
/// [`Response::signed_cookie`]: crate::Response::signed_cookie
pub fn install(keys: CookieKeys) {
    let _ = INSTALLED.set(keys);
}

/// The installed keys (see [`install`]).
pub fn installed() -> Option<&'static CookieKeys> {
    INSTALLED.get()
}

/// Loads the keys a spec's `cookies:` names and installs them, unless keys are installed
/// already (generated apps call this when a server starts; an error stops the start).
pub fn load_and_install(env: Option<&str>, file: Option<&str>) -> Result<(), KeyError> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    install(CookieKeys::load(env, file)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([byte; 64])
    }

    #[test]
    fn keys_parse_with_rotation_and_short_ones_are_refused() {
        let keys = CookieKeys::parse(&format!("# current first\n{}, {}\n", key(1), key(2)))
            .expect("two keys");
        assert_eq!(keys.len(), 2);
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        let e = CookieKeys::parse(&format!("{} {short}", key(1))).expect_err("short");
        assert!(e.to_string().contains("#2 has 32 bytes"), "{e}");
        assert!(CookieKeys::parse("not base64!").is_err());
        assert!(CookieKeys::parse(" \n# only a comment").is_err());
    }

    #[test]
    fn the_first_key_signs_and_every_key_verifies() {
        let old = CookieKeys::parse(&key(2)).expect("old");
        let rotated = CookieKeys::parse(&format!("{},{}", key(1), key(2))).expect("rotated");
        let by_old = old.sign(Cookie::new("s", "hello"));
        assert_ne!(by_old.value(), "hello");
        assert_eq!(
            rotated.verify("s", by_old.value()),
            Some(("hello".to_owned(), 1))
        );
        let by_new = rotated.sign(Cookie::new("s", "hello"));
        assert_eq!(
            rotated.verify("s", by_new.value()),
            Some(("hello".to_owned(), 0))
        );
        assert_eq!(old.verify("s", by_new.value()), None, "unknown key");
        // A tampered value. (The signature covers the value only, not the name.)
        let tampered = by_new.value().replace("hello", "hellO");
        assert_eq!(rotated.verify("s", &tampered), None);
    }

    #[test]
    fn private_cookies_round_trip_and_hide_their_value() {
        let keys = CookieKeys::parse(&format!("{},{}", key(1), key(2))).expect("keys");
        let old = CookieKeys::parse(&key(2)).expect("old");
        let c = old.encrypt(Cookie::new("p", "secret value"));
        assert!(!c.value().contains("secret"));
        assert_eq!(
            keys.decrypt("p", c.value()),
            Some(("secret value".to_owned(), 1))
        );
        assert_eq!(keys.decrypt("other", c.value()), None, "bound to its name");
        assert_eq!(keys.decrypt("p", "garbage"), None);
    }
}
