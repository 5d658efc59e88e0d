//! The chunked transfer coding (RFC 9112 §7.1), decoded in place.
//!
//! [`ChunkedDecoder::decode`] walks the encoded body at the front of a buffer, moving each
//! chunk's data left over the framing before it, so the decoded body ends up contiguous at
//! the start of the same buffer with no copy elsewhere. It is incremental: call it again
//! after more bytes arrive and it resumes where it stopped. Every framing rule is strict
//! (CRLF everywhere, hex sizes without overflow, chunk extensions by the RFC's grammar),
//! and extensions and trailers are capped, because lenient chunk parsing is where request
//! smuggling lives.

/// Most bytes of chunk extensions accepted in one body.
pub(crate) const MAX_EXTENSIONS: usize = 16 * 1024;
/// Most bytes of trailer section accepted in one body.
pub(crate) const MAX_TRAILERS: usize = 16 * 1024;

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkedError {
    /// Malformed framing: answer `400` and close.
    Malformed,
    /// The decoded body passed the limit: answer `413` and close.
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size,
    /// After the size: `;` extensions or CRLF.
    Ext,
    /// Saw CR at the end of a size line.
    SizeLf,
    /// Copying chunk data.
    Data,
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final CRLF).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// Saw CR ending a trailer line.
    TrailerLf,
    /// Saw CR of the final empty line.
    EndLf,
    /// Complete.
    Done,
}

/// Extension-grammar sub-state, inside `State::Ext`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// Before `;` (only BWS allowed).
    BeforeSemi,
    /// After `;`, before the name (BWS allowed).
    BeforeName,
    /// In the name.
    Name,
    /// After the name: `=`, `;`, BWS or CR.
    AfterName,
    /// After `=`, before the value (BWS allowed).
    BeforeValue,
    /// In a token value.
    Token,
    /// In a quoted value.
    Quoted,
    /// After a backslash in a quoted value.
    QuotedEscape,
    /// After a value.
    AfterValue,
}

/// An incremental, in-place chunked decoder for one request body.
#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    ext: Ext,
    /// Encoded bytes consumed so far.
    read: usize,
    /// Decoded bytes written so far (at the front of the buffer).
    written: usize,
    /// Data bytes left in the current chunk, or the size being read.
    remaining: u64,
    size_digits: u8,
    ext_bytes: usize,
    trailer_bytes: usize,
    trailer_line_has_colon: bool,
    trailer_line_len: usize,
    last_chunk: bool,
    /// The last extension byte was whitespace outside a quoted string.
    last_bws: bool,
    max_body: u64,
}

/// A finished body: how many encoded bytes it took and how long it decodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Bytes of the encoded body, through the final CRLF.
    pub(crate) encoded_len: usize,
    /// Bytes of decoded data, now at the front of the buffer.
    pub(crate) decoded_len: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_qdtext(b: u8) -> bool {
    b == b'\t'
        || b == b' '
        || b == 0x21
        || (0x23..=0x5b).contains(&b)
        || (0x5d..=0x7e).contains(&b)
        || b >= 0x80
}

impl ChunkedDecoder {
    /// A decoder for a body of at most `max_body` decoded bytes.
    pub(crate) fn new(max_body: u64) -> Self {
        ChunkedDecoder {
            state: State::Size,
            ext: Ext::BeforeSemi,
            read: 0,
            written: 0,
            remaining: 0,
            size_digits: 0,
            ext_bytes: 0,
            trailer_bytes: 0,
            trailer_line_has_colon: false,
            trailer_line_len: 0,
            last_chunk: false,
            last_bws: false,
            max_body,
        }
    }

    /// Decodes what `buf` (the encoded body, from its first byte) holds so far.
    /// `Ok(None)`: more bytes are needed.
    pub(crate) fn decode(&mut self, buf: &mut [u8]) -> Result<Option<Decoded>, ChunkedError> {
        use ChunkedError::{Malformed, TooLarge};
        while self.read < buf.len() {
            let b = buf[self.read];
            match self.state {
                State::Size => match (b as char).to_digit(16) {
                    Some(d) => {
                        self.size_digits += 1;
                        if self.size_digits > 16 {
                            return Err(Malformed);
                        }
                        self.remaining =
                            self.remaining.checked_mul(16).ok_or(Malformed)? + u64::from(d);
                        self.read += 1;
                    }
                    None => {
                        if self.size_digits == 0 {
                            return Err(Malformed);
                        }
                        if (self.written as u64).saturating_add(self.remaining) > self.max_body {
                            return Err(TooLarge);
                        }
                        self.last_chunk = self.remaining == 0;
                        self.state = State::Ext;
                        self.ext = Ext::BeforeSemi;
                        self.last_bws = false;
                        // Re-examine this byte in `Ext`.
                    }
                },
                State::Ext => {
                    self.read += 1;
                    if b == b'\r' {
                        // BWS is only allowed before `;` and `=`: `a \r\n` and `5;x \r\n`
                        // are not in the grammar.
                        let complete = matches!(
                            self.ext,
                            Ext::BeforeSemi | Ext::Name | Ext::Token | Ext::AfterValue
                        );
                        if !complete || self.last_bws {
                            return Err(Malformed);
                        }
                        self.state = State::SizeLf;
                        continue;
                    }
                    self.ext_bytes += 1;
                    if self.ext_bytes > MAX_EXTENSIONS {
                        return Err(Malformed);
                    }
                    let bws = b == b' ' || b == b'\t';
                    self.last_bws = bws && !matches!(self.ext, Ext::Quoted | Ext::QuotedEscape);
                    self.ext = match (self.ext, b) {
                        (Ext::BeforeSemi, b';') => Ext::BeforeName,
                        (Ext::BeforeSemi, _) if bws => Ext::BeforeSemi,
                        (Ext::BeforeName, _) if bws => Ext::BeforeName,
                        (Ext::BeforeName, c) if is_tchar(c) => Ext::Name,
                        (Ext::Name, c) if is_tchar(c) => Ext::Name,
                        (Ext::Name | Ext::AfterName, b'=') => Ext::BeforeValue,
                        (Ext::Name | Ext::AfterName | Ext::AfterValue | Ext::Token, b';') => {
                            Ext::BeforeName
                        }
                        (Ext::Name | Ext::AfterName, _) if bws => Ext::AfterName,
                        (Ext::BeforeValue, _) if bws => Ext::BeforeValue,
                        (Ext::BeforeValue, b'"') => Ext::Quoted,
                        (Ext::BeforeValue, c) if is_tchar(c) => Ext::Token,
                        (Ext::Token, c) if is_tchar(c) => Ext::Token,
                        (Ext::Token | Ext::AfterValue, _) if bws => Ext::AfterValue,
                        (Ext::Quoted, b'"') => Ext::AfterValue,
                        (Ext::Quoted, b'\\') => Ext::QuotedEscape,
                        (Ext::Quoted, c) if is_qdtext(c) => Ext::Quoted,
                        (Ext::QuotedEscape, c)
                            if c == b'\t'
                                || c == b' '
                                || (0x21..=0x7e).contains(&c)
                                || c >= 0x80 =>
                        {
                            Ext::Quoted
                        }
                        _ => return Err(Malformed),
                    };
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(Malformed);
                    }
                    self.read += 1;
                    self.state = if self.last_chunk {
                        State::TrailerStart
                    } else {
                        State::Data
                    };
                }
                State::Data => {
                    let avail = buf.len() - self.read;
                    let take = usize::try_from(self.remaining)
                        .unwrap_or(usize::MAX)
                        .min(avail);
                    if self.read != self.written {
                        buf.copy_within(self.read..self.read + take, self.written);
                    }
                    self.read += take;
                    self.written += take;
                    self.remaining -= take as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(Malformed);
                    }
                    self.read += 1;
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(Malformed);
                    }
                    self.read += 1;
                    self.state = State::Size;
                    self.size_digits = 0;
                    self.remaining = 0;
                }
                State::TrailerStart => {
                    self.read += 1;
                    if b == b'\r' {
                        self.state = State::EndLf;
                    } else if is_tchar(b) {
                        self.state = State::Trailer;
                        self.trailer_line_has_colon = false;
                        self.trailer_line_len = 1;
                        self.count_trailer()?;
                    } else {
                        // Includes obs-fold (a line starting with whitespace) and bare LF.
                        return Err(Malformed);
                    }
                }
                State::Trailer => {
                    self.read += 1;
                    self.count_trailer()?;
                    match b {
                        b'\r' => {
                            if !self.trailer_line_has_colon {
                                return Err(Malformed);
                            }
                            self.state = State::TrailerLf;
                        }
                        b'\n' | 0 => return Err(Malformed),
                        b':' if !self.trailer_line_has_colon => self.trailer_line_has_colon = true,
                        c if !self.trailer_line_has_colon && !is_tchar(c) => return Err(Malformed),
                        _ => {}
                    }
                    self.trailer_line_len += 1;
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(Malformed);
                    }
                    self.read += 1;
                    self.state = State::TrailerStart;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(Malformed);
                    }
                    self.read += 1;
                    self.state = State::Done;
                }
                State::Done => break,
            }
            if self.state == State::Done {
                break;
            }
        }
        if self.state == State::Done {
            Ok(Some(Decoded {
                encoded_len: self.read,
                decoded_len: self.written,
            }))
        } else {
            Ok(None)
        }
    }

    fn count_trailer(&mut self) -> Result<(), ChunkedError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILERS {
            Err(ChunkedError::Malformed)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` whole, then byte by byte; both must agree.
    fn decode(input: &[u8], max: u64) -> Result<Option<(usize, Vec<u8>)>, ChunkedError> {
        let mut buf = input.to_vec();
        let whole = ChunkedDecoder::new(max)
            .decode(&mut buf)
            .map(|o| o.map(|d| (d.encoded_len, buf[..d.decoded_len].to_vec())));
        let mut dec = ChunkedDecoder::new(max);
        let mut buf2 = Vec::new();
        let mut split = Ok(None);
        for &b in input {
            buf2.push(b);
            split = dec.decode(&mut buf2);
            match split {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => {}
            }
        }
        let split = split.map(|o| o.map(|d| (d.encoded_len, buf2[..d.decoded_len].to_vec())));
        assert_eq!(
            whole,
            split,
            "whole vs byte-by-byte for {:?}",
            String::from_utf8_lossy(input)
        );
        whole
    }

    #[test]
    fn valid_bodies() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"0\r\n\r\n", b""),
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
            (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
            (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
            (b"a\r\n0123456789\r\n000\r\n\r\n", b"0123456789"),
            (b"5;foo=bar\r\nhello\r\n0\r\n\r\n", b"hello"),
            (
                b"5 ; foo = \"b;a\\\"r\" ; x\r\nhello\r\n0\r\n\r\n",
                b"hello",
            ),
            (b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", b"hello"),
        ];
        for (input, want) in cases {
            let got = decode(input, 1 << 20).expect("valid").expect("complete");
            assert_eq!(
                got,
                (input.len(), want.to_vec()),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn trailing_bytes_are_left_alone() {
        let mut buf = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n".to_vec();
        let d = ChunkedDecoder::new(100)
            .decode(&mut buf)
            .expect("ok")
            .expect("done");
        assert_eq!(
            d,
            Decoded {
                encoded_len: 13,
                decoded_len: 3
            }
        );
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(&buf[13..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn malformed_bodies() {
        let cases: &[&[u8]] = &[
            b"x\r\n",
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\r;ABCD\r\n",
            b"a \r\n0123456789\r\n0\r\n\r\n",
            b"2;\r\naa\r\n0\r\n\r\n",
            b"5;a=\"unbalanced\r\nhello\r\n0\r\n\r\n",
            b"5;=x\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"fffffffffffffffff\r\n",
            b"0\r\n folded: x\r\n\r\n",
            b"0\r\nno-colon\r\n\r\n",
            b"0\r\nX: 1\n\r\n",
            b"0\r\n\n",
        ];
        for input in cases {
            assert_eq!(
                decode(input, 1 << 20),
                Err(ChunkedError::Malformed),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn limits() {
        assert_eq!(
            decode(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 8),
            Err(ChunkedError::TooLarge)
        );
        let ext = format!("1;{}\r\n", "a".repeat(MAX_EXTENSIONS + 1));
        assert_eq!(decode(ext.as_bytes(), 100), Err(ChunkedError::Malformed));
        let trailer = format!("0\r\nX: {}\r\n\r\n", "a".repeat(MAX_TRAILERS));
        assert_eq!(
            decode(trailer.as_bytes(), 100),
            Err(ChunkedError::Malformed)
        );
        assert_eq!(decode(b"5\r\nhel", 100), Ok(None));
    }
}
