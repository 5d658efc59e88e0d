//! [`Embedder`]: text → vector, and the embedded default, [`Hashed`]: a lexical embedding
//! that needs no model file, no download and no service.
//!
//! Method: the text is lowercased, split into words at anything that is not a letter or
//! a digit (apostrophes are dropped inside words: `what's` → `whats`), and each word is
//! lightly stemmed (a plural `s`, `es`, `ies`, and `ing`/`ed`/`ly` endings). Its features are
//! - every word (weight 1, a stop word such as `the`, `is`, `please` weight 0.25),
//! - every pair of neighbouring content words (weight 0.5: word order counts a little),
//! - every character trigram of each content word padded with spaces (weight 0.35
//!   spread over the word's trigrams: a typo changes only a few of them),
//!
//! each hashed (FNV-1a) to one of [`DIMS`] dimensions with a hashed sign, summed, and the
//! sum L2-normalized, so the cosine of two texts is the dot product of their vectors.
//!
//! Limits (lexical similarity, not meaning): case, punctuation, whitespace, word order,
//! plurals and `-ing`/`-ed` forms, filler and stop words ("please", "can you tell me"),
//! and a typo or two in longer words keep texts close; synonyms and true paraphrases with
//! other words ("automobile" for "car", "How tall is…" for "What is the height of…") do
//! not — use an embeddings upstream for those. Negation is one stop-like word among
//! others: "is X safe" and "is X not safe" are close, which is why the threshold is high
//! and caching is opt-in per model.

use std::future::Future;

/// How many dimensions [`Hashed`] produces.
pub(crate) const DIMS: usize = 256;

/// Why an embedding failed (the request then goes upstream uncached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EmbedError(pub String);

impl std::fmt::Display for EmbedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EmbedError {}

/// Turns texts into vectors of one fixed dimension (L2-normalized by the cache if they
/// are not).
pub(crate) trait Embedder {
    /// One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> impl Future<Output = Result<Vec<Vec<f32>>, EmbedError>>;
}

/// The embedded default: feature-hashed word unigrams, word bigrams and character
/// trigrams (see the module's documentation for the method and its limits).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hashed;

/// Words that carry little meaning (weighted down, not dropped).
const STOP: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for",
    "from", "give", "how", "i", "in", "into", "is", "it", "its", "know", "let", "me", "my", "of",
    "on", "or", "please", "should", "tell", "that", "the", "there", "this", "to", "u", "want",
    "was", "what", "whats", "which", "will", "with", "would", "you", "your",
];

const W_STOP: f32 = 0.15;
const W_WORD: f32 = 0.6;
const W_BIGRAM: f32 = 0.3;
const W_TRIGRAMS: f32 = 1.0;

impl Hashed {
    /// The vector of one text (L2-normalized; all zeros for a text without words).
    pub(crate) fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; DIMS];
        let mut word = String::new();
        let mut prev: Option<u64> = None;
        let mut chars = text.chars().peekable();
        loop {
            let c = chars.next();
            match c {
                Some(c) if c.is_alphanumeric() => word.extend(c.to_lowercase()),
                Some('\'' | '’') if !word.is_empty() => {}
                _ => {
                    if !word.is_empty() {
                        let stem = stem(&word);
                        prev = add_word(&mut v, &word, &stem, prev);
                        word.clear();
                    }
                    if c.is_none() {
                        break;
                    }
                }
            }
        }
        normalize(&mut v);
        v
    }
}

impl Embedder for Hashed {
    fn embed(&self, texts: &[&str]) -> impl Future<Output = Result<Vec<Vec<f32>>, EmbedError>> {
        let out = texts.iter().map(|t| self.vector(t)).collect();
        std::future::ready(Ok(out))
    }
}

/// Adds one word's features; returns the hash bigrams continue from (content words only).
fn add_word(v: &mut [f32], raw: &str, word: &str, prev: Option<u64>) -> Option<u64> {
    let h = fnv(0, word.as_bytes());
    if STOP.contains(&raw) {
        bump(v, h, W_STOP);
        return prev;
    }
    bump(v, h, W_WORD);
    if let Some(p) = prev {
        bump(v, fnv(p ^ 0x9e37_79b9_7f4a_7c15, word.as_bytes()), W_BIGRAM);
    }
    let chars: Vec<char> = std::iter::once(' ')
        .chain(word.chars())
        .chain(std::iter::once(' '))
        .collect();
    if chars.len() >= 3 {
        let n = chars.len() - 2;
        let w = W_TRIGRAMS / (n as f32).sqrt();
        let mut buf = [0u8; 12];
        for t in chars.windows(3) {
            let mut len = 0;
            for c in t {
                len += c.encode_utf8(&mut buf[len..]).len();
            }
            bump(v, fnv(0x5bd1_e995, &buf[..len]), w);
        }
    }
    Some(h)
}

/// Light stemming: plurals (`-s`, `-es` after s/x/z/ch/sh, `-ies` → `y`), then `-ing`,
/// `-ed` and `-ly`, then a final `e`, so `handle`, `handles`, `handled` and `handling`
/// meet; a stem keeps at least three letters.
fn stem(w: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let long = |suffix: &str| w.len() >= suffix.len() + 3 && w.ends_with(suffix);
    let mut s: Cow<'_, str> = Cow::Borrowed(w);
    if long("ies") {
        s = Cow::Owned(format!("{}y", &w[..w.len() - 3]));
    } else if long("es")
        && ["s", "x", "z", "ch", "sh"]
            .iter()
            .any(|e| w[..w.len() - 2].ends_with(e))
    {
        s = Cow::Borrowed(&w[..w.len() - 2]);
    } else if w.len() >= 4 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
        s = Cow::Borrowed(&w[..w.len() - 1]);
    } else {
        for suffix in ["ing", "ed", "ly"] {
            if long(suffix) {
                s = Cow::Borrowed(&w[..w.len() - suffix.len()]);
                break;
            }
        }
    }
    if s.len() >= 4 && s.ends_with('e') {
        s = match s {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..b.len() - 1]),
            Cow::Owned(mut o) => {
                o.pop();
                Cow::Owned(o)
            }
        };
    }
    s
}

/// Adds `w` at `h`'s dimension with `h`'s sign.
fn bump(v: &mut [f32], h: u64, w: f32) {
    let i = (h % DIMS as u64) as usize;
    let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
    v[i] += sign * w;
}

/// 64-bit FNV-1a of `bytes`, from `seed`.
fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Mix the high bits down (the modulus uses the low ones, the sign the top one).
    h ^ (h >> 29)
}

/// Scales `v` to unit length (a zero vector stays zero).
pub(crate) fn normalize(v: &mut [f32]) {
    let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        for x in v {
            *x /= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(a: &str, b: &str) -> f32 {
        let (x, y) = (Hashed.vector(a), Hashed.vector(b));
        x.iter().zip(&y).map(|(a, b)| a * b).sum()
    }

    /// What the method can and cannot see (the figures are in the cache's docs).
    #[test]
    fn lexical_variants_are_close_other_words_are_not() {
        let q = "What is the capital of France?";
        for close in [
            "what is the capital of france",
            "What's the capital of France??",
            "Please tell me what the capital of France is.",
            "France: what is its capital?",
            "capital of France",
        ] {
            assert!(sim(q, close) > 0.92, "{close}: {}", sim(q, close));
        }
        for far in [
            "What is the capital of Germany?",
            "What is the population of France?",
            "Which city is France's capital?", // other words: a miss (lexical method)
            "How do I bake sourdough bread?",
        ] {
            assert!(sim(q, far) < 0.8, "{far}: {}", sim(q, far));
        }
        let q = "Explain how a hash map handles collisions in Rust";
        for close in [
            "explain how hash maps handle collisions in rust",
            "In Rust, explain how a hash map handles collisions.",
            "Explain how a hash map handles colisions in Rust", // a typo
        ] {
            assert!(sim(q, close) > 0.92, "{close}: {}", sim(q, close));
        }
        for far in [
            "Explain how a B-tree handles inserts in Rust",
            "Explain how a hash map handles collisions in Python",
        ] {
            assert!(sim(q, far) < 0.88, "{far}: {}", sim(q, far));
        }
    }

    #[test]
    fn vectors_are_normalized_and_empty_text_is_zero() {
        let v = Hashed.vector("Über große Straßen, naïve café");
        let n: f32 = v.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4);
        assert!(Hashed.vector(" ?! ").iter().all(|x| *x == 0.0));
        assert_eq!(stem("handles"), "handl");
        assert_eq!(stem("handling"), "handl");
        assert_eq!(stem("queries"), "query");
        assert_eq!(stem("boxes"), "box");
        assert_eq!(stem("class"), "class");
    }
}
