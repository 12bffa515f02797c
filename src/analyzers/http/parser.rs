//! Pure HTTP/1.x parsers (RFC 9112): request and status lines with their header fields,
//! and chunk-size lines.
//!
//! Contract: every function takes the bytes at hand and answers [`Parsed::Done`] with
//! borrowed fields and the bytes consumed, [`Parsed::Incomplete`] when the message head
//! (or line) has not ended yet, or [`Parsed::Invalid`]. Heads longer than [`MAX_HEAD`] are
//! errors, so a caller never buffers more than that. Lines may end in CRLF or a bare LF
//! (RFC 9112 §2.2 lets recipients accept it). At most [`MAX_HEADERS`] fields are kept.
//!
//! Leniencies: what browsers, curl and Zeek accept is accepted too and flagged in the
//! head's `lenient` set ([`Lenient`]): whitespace between a field name and its colon
//! (RFC 9112 §5.1 tells servers to reject it, a passive observer reads it), obsolete line
//! folding (§5.2: the continuation joins the previous value with one space), bare LF line
//! ends (§2.2), a status line without a reason phrase (`HTTP/1.1 200`, §4), and repeated
//! Content-Length values that agree (RFC 9110 §8.6).
//!
//! [`message_start`] recognises the first bytes of a request line (a [`KNOWN_METHODS`]
//! method) or of a status line, for resynchronising a stream after a gap or an error.

pub const MAX_HEAD: usize = 64 * 1024;
pub const MAX_HEADERS: usize = 128;

pub use crate::analyzers::Parsed;
use std::borrow::Cow;

/// Header fields as `(name, value)` of the head, in wire order; a value is borrowed unless
/// obsolete line folding joined lines into it.
pub type Headers<'a> = Vec<(&'a [u8], Cow<'a, [u8]>)>;

/// The leniencies a head needed, as bits (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lenient(pub u8);

impl Lenient {
    pub const SPACE_BEFORE_COLON: u8 = 1;
    pub const OBS_FOLD: u8 = 2;
    pub const BARE_LF: u8 = 4;
    pub const NO_REASON_PHRASE: u8 = 8;
    pub const DUPLICATE_CONTENT_LENGTH: u8 = 16;
    /// Every flag with the name it is reported under.
    pub const NAMES: [(u8, &'static str); 5] = [
        (Self::SPACE_BEFORE_COLON, "space_before_colon"),
        (Self::OBS_FOLD, "obs_fold"),
        (Self::BARE_LF, "bare_lf"),
        (Self::NO_REASON_PHRASE, "no_reason_phrase"),
        (Self::DUPLICATE_CONTENT_LENGTH, "duplicate_content_length"),
    ];

    /// The names of the flags set.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(b, _)| self.0 & b != 0)
            .map(|(_, n)| n)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub version: &'a [u8],
    pub headers: Headers<'a>,
    pub lenient: Lenient,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    pub version: &'a [u8],
    pub status: u16,
    pub reason: &'a [u8],
    pub headers: Headers<'a>,
    pub lenient: Lenient,
}

/// Methods the detector accepts at a stream start (the parser accepts any token).
pub const KNOWN_METHODS: [&[u8]; 16] = [
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"TRACE",
    b"CONNECT",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
];

/// Empty lines (CRLF or bare LF) at the start of `buf`, before a message head: RFC 9112
/// §2.2 lets a recipient ignore them. `Done(_, n)` with the `n` bytes to skip (0 when `buf`
/// starts with anything else), `Incomplete` when `buf` ends inside one (a lone `\r`).
pub fn leading_empty_lines(buf: &[u8]) -> Parsed<()> {
    let mut n = 0;
    loop {
        match buf.get(n..).unwrap_or_default() {
            [b'\r', b'\n', ..] => n += 2,
            [b'\n', ..] => n += 1,
            [b'\r'] => return Parsed::Incomplete { needed: 1 },
            _ => return Parsed::Done((), n),
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The offset just past the blank line ending a head, if present.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let nl = i + p;
        let after = buf.get(nl + 1..)?;
        if after.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if after.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        if after.is_empty() {
            return None;
        }
        i = nl + 1;
    }
    None
}

fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn headers<'a>(
    mut it: impl Iterator<Item = &'a [u8]>,
    lenient: &mut Lenient,
) -> Result<Headers<'a>, &'static str> {
    let mut out: Headers<'a> = Vec::new();
    for line in it.by_ref() {
        if line.is_empty() {
            break;
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            // Obsolete line folding (RFC 9112 §5.2): the continuation joins the previous
            // value with one space. Before any field (right after the start line) it is
            // dropped.
            lenient.0 |= Lenient::OBS_FOLD;
            if let Some((_, v)) = out.last_mut() {
                let more = trim(line);
                if !more.is_empty() && v.len() + more.len() < MAX_HEAD {
                    let mut joined = std::mem::take(v).into_owned();
                    if !joined.is_empty() {
                        joined.push(b' ');
                    }
                    joined.extend_from_slice(more);
                    *v = Cow::Owned(joined);
                }
            }
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or("header line without a colon")?;
        let (raw_name, value) = (
            line.get(..colon).unwrap_or_default(),
            line.get(colon + 1..).unwrap_or_default(),
        );
        let name = trim(raw_name);
        if name.len() != raw_name.len() {
            if raw_name.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                return Err("bad header name");
            }
            lenient.0 |= Lenient::SPACE_BEFORE_COLON;
        }
        if name.is_empty() || !name.iter().all(|b| is_tchar(*b)) {
            return Err("bad header name");
        }
        if out.len() < MAX_HEADERS {
            out.push((name, Cow::Borrowed(trim(value))));
        }
    }
    Ok(out)
}

/// Whether a line of `head` ends in a bare LF (no CR before it).
fn has_bare_lf(head: &[u8]) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head.get(i - 1) != Some(&b'\r')))
}

fn head_bytes(buf: &[u8]) -> Parsed<usize> {
    match head_end(buf) {
        Some(n) if n <= MAX_HEAD => Parsed::Done(n, n),
        Some(_) => Parsed::Invalid("head longer than 64 KiB"),
        None if buf.len() > MAX_HEAD => Parsed::Invalid("head longer than 64 KiB"),
        None => Parsed::Incomplete { needed: 1 },
    }
}

fn is_version(v: &[u8]) -> bool {
    matches!(v, [b'H', b'T', b'T', b'P', b'/', a, b'.', b] if a.is_ascii_digit() && b.is_ascii_digit())
}

/// Checks the request line's shape as far as it has arrived (for detection and resync).
pub fn request_line_prefix_ok(buf: &[u8]) -> bool {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let sp = line.iter().position(|&b| b == b' ');
    match sp {
        None => line.len() <= 20 && line.iter().all(|b| is_tchar(*b)),
        Some(0) => false,
        Some(n) => {
            n <= 20
                && line
                    .get(..n)
                    .is_some_and(|m| m.iter().all(|b| is_tchar(*b)))
        }
    }
}

pub fn parse_request_head(buf: &[u8]) -> Parsed<RequestHead<'_>> {
    let n = match head_bytes(buf) {
        Parsed::Done(n, _) => n,
        Parsed::Incomplete { .. } => {
            return if request_line_prefix_ok(buf) {
                Parsed::Incomplete { needed: 1 }
            } else {
                Parsed::Invalid("not a request line")
            };
        }
        Parsed::Invalid(e) => return Parsed::Invalid(e),
    };
    let head = buf.get(..n).unwrap_or_default();
    let mut it = lines(head);
    let line = it.next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Invalid("request line is not method, target, version");
    };
    if !method.iter().all(|b| is_tchar(*b)) || !is_version(version) {
        return Parsed::Invalid("bad method or version");
    }
    let mut lenient = Lenient(if has_bare_lf(head) {
        Lenient::BARE_LF
    } else {
        0
    });
    match headers(it, &mut lenient) {
        Ok(headers) => Parsed::Done(
            RequestHead {
                method,
                target,
                version,
                headers,
                lenient,
            },
            n,
        ),
        Err(e) => Parsed::Invalid(e),
    }
}

pub fn parse_response_head(buf: &[u8]) -> Parsed<ResponseHead<'_>> {
    let n = match head_bytes(buf) {
        Parsed::Done(n, _) => n,
        Parsed::Incomplete { .. } => {
            let k = buf.len().min(5);
            return if buf.get(..k) == b"HTTP/".get(..k) {
                Parsed::Incomplete { needed: 1 }
            } else {
                Parsed::Invalid("not a status line")
            };
        }
        Parsed::Invalid(e) => return Parsed::Invalid(e),
    };
    let head = buf.get(..n).unwrap_or_default();
    let mut it = lines(head);
    let line = it.next().unwrap_or_default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Parsed::Invalid("status line is not version, code, reason");
    };
    let reason = parts.next().unwrap_or_default();
    if !is_version(version) || code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Parsed::Invalid("bad version or status code");
    }
    let status = code.iter().fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
    let mut lenient = Lenient(if has_bare_lf(head) {
        Lenient::BARE_LF
    } else {
        0
    });
    if reason.is_empty() && line.len() == version.len() + 1 + code.len() {
        // `HTTP/1.1 200` with no space after the code (RFC 9112 §4 wants `SP [reason]`).
        lenient.0 |= Lenient::NO_REASON_PHRASE;
    }
    match headers(it, &mut lenient) {
        Ok(headers) => Parsed::Done(
            ResponseHead {
                version,
                status,
                reason,
                headers,
                lenient,
            },
            n,
        ),
        Err(e) => Parsed::Invalid(e),
    }
}

/// A chunk-size line (RFC 9112 §7.1): hex size, optional `;ext`, CRLF.
pub fn parse_chunk_size(buf: &[u8]) -> Parsed<u64> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > 1024 {
            Parsed::Invalid("chunk-size line too long")
        } else if buf.first().is_none_or(u8::is_ascii_hexdigit) {
            Parsed::Incomplete { needed: 1 } // digits, extension or CR still coming
        } else {
            Parsed::Invalid("not a chunk size")
        };
    };
    let line = buf.get(..nl).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let hex_len = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = line.get(hex_len..).unwrap_or_default();
    if hex_len == 0
        || hex_len > 15
        || !(rest.is_empty()
            || rest.starts_with(b";")
            || rest.starts_with(b" ")
            || rest.starts_with(b"\t"))
    {
        return Parsed::Invalid("not a chunk size");
    }
    let size = line.iter().take(hex_len).fold(0u64, |a, d| {
        (a << 4) | u64::from((*d as char).to_digit(16).unwrap_or(0))
    });
    Parsed::Done(size, nl + 1)
}

/// The value of the first header named `name` (case-insensitive).
pub fn header<'h>(headers: &'h [(&[u8], Cow<'_, [u8]>)], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_ref())
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
pub fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// Content-Length as a number, and whether it was given more than once (in several
/// fields or as a list) with one value; differing values or garbage are `Err`.
pub fn content_length(
    headers: &[(&[u8], Cow<'_, [u8]>)],
) -> Result<(Option<u64>, bool), &'static str> {
    let mut found: Option<u64> = None;
    let mut repeated = false;
    for (n, v) in headers {
        if !n.eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        for part in v.split(|&b| b == b',') {
            let p = trim(part);
            if p.is_empty() || p.len() > 18 || !p.iter().all(u8::is_ascii_digit) {
                return Err("bad Content-Length");
            }
            let x = p.iter().fold(0u64, |a, d| a * 10 + u64::from(d - b'0'));
            if found.is_some_and(|f| f != x) {
                return Err("conflicting Content-Length");
            }
            repeated |= found.is_some();
            found = Some(x);
        }
    }
    Ok((found, repeated))
}

/// The longest start line [`message_start`] waits for.
pub const MAX_START_LINE: usize = 8 * 1024;

/// Whether `buf` begins a request line with a [`KNOWN_METHODS`] method (`request`), or a
/// status line (`HTTP/d.d NNN` then SP, CR or LF): `Done((), 0)` yes, `Error` no,
/// Whether the bytes of `buf` that `want` covers have its shape: the same bytes, any
/// digit where `want` has a digit (`HTTP/1.0 404` has the shape of `HTTP/1.1 200`).
fn prefix_has_shape(buf: &[u8], want: &[u8]) -> bool {
    buf.iter().zip(want).all(|(b, w)| {
        if w.is_ascii_digit() {
            b.is_ascii_digit()
        } else {
            b == w
        }
    })
}

/// `Incomplete` when `buf` ends before it can tell (never past [`MAX_START_LINE`]).
pub fn message_start(buf: &[u8], request: bool) -> Parsed<()> {
    let short = |ok: bool| {
        if ok && buf.len() < MAX_START_LINE {
            Parsed::Incomplete { needed: 1 }
        } else {
            Parsed::Invalid("no message start")
        }
    };
    if !request {
        let want = b"HTTP/1.1 200";
        if !prefix_has_shape(buf, want) {
            return Parsed::Invalid("no message start");
        }
        return match buf.get(want.len()) {
            None => short(true),
            Some(b' ' | b'\r' | b'\n') => Parsed::Done((), 0),
            Some(_) => Parsed::Invalid("no message start"),
        };
    }
    let sp = buf.iter().take(12).position(|&b| b == b' ');
    let Some(sp) = sp else {
        let m = buf.get(..buf.len().min(12)).unwrap_or_default();
        return short(KNOWN_METHODS.iter().any(|k| k.starts_with(m)) && buf.len() < 12);
    };
    let method = buf.get(..sp).unwrap_or_default();
    if !KNOWN_METHODS.contains(&method) {
        return Parsed::Invalid("no message start");
    }
    let rest = buf.get(sp + 1..).unwrap_or_default();
    let Some(sp2) = rest
        .iter()
        .position(|&b| b == b' ' || b < 0x21 || b == 0x7f)
    else {
        return short(true);
    };
    if sp2 == 0 || rest.get(sp2) != Some(&b' ') {
        return Parsed::Invalid("no message start");
    }
    let ver = rest.get(sp2 + 1..).unwrap_or_default();
    let want = b"HTTP/1.1";
    if !prefix_has_shape(ver, want) {
        return Parsed::Invalid("no message start");
    }
    match ver.get(want.len()) {
        None => short(true),
        Some(b'\r' | b'\n') => Parsed::Done((), 0),
        Some(_) => Parsed::Invalid("no message start"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_fields() {
        let raw = b"GET /download/CHANGES.bro-aux.txt HTTP/1.1\r\nUser-Agent: Wget/1.14 (darwin12.2.0)\r\nHost: bro.org\r\n\r\nNEXT";
        let Parsed::Done(h, n) = parse_request_head(raw) else {
            panic!("parses");
        };
        assert_eq!(n, raw.len() - 4);
        assert_eq!(h.method, b"GET");
        assert_eq!(h.target, b"/download/CHANGES.bro-aux.txt");
        assert_eq!(h.version, b"HTTP/1.1");
        assert_eq!(header(&h.headers, "host"), Some(&b"bro.org"[..]));
        assert_eq!(
            header(&h.headers, "USER-AGENT"),
            Some(&b"Wget/1.14 (darwin12.2.0)"[..])
        );
        // Every strict prefix is incomplete, never an error.
        for k in 0..n {
            assert_eq!(
                parse_request_head(&raw[..k]),
                Parsed::Incomplete { needed: 1 },
                "prefix {k}"
            );
        }
    }

    #[test]
    fn bare_lf_and_errors() {
        assert!(matches!(
            parse_request_head(b"GET / HTTP/1.0\nHost: a\n\n"),
            Parsed::Done(_, 24)
        ));
        assert!(matches!(
            parse_request_head(b"\x16\x03\x01"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse_request_head(b"GET / HTTP/1.1\r\nbad header\r\n\r\n"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse_request_head(b"GET /\r\n\r\n"),
            Parsed::Invalid(_)
        ));
        let long = [b"GET /".as_slice(), &[b'a'; MAX_HEAD + 1]].concat();
        assert!(matches!(parse_request_head(&long), Parsed::Invalid(_)));
    }

    #[test]
    fn response_head_fields() {
        let raw = b"HTTP/1.0 200 Connection Established\r\nProxy-agent: x\r\n\r\n";
        let Parsed::Done(h, n) = parse_response_head(raw) else {
            panic!("parses");
        };
        assert_eq!(
            (h.status, h.reason, n),
            (200, &b"Connection Established"[..], raw.len())
        );
        assert_eq!(
            parse_response_head(b"HTT"),
            Parsed::Incomplete { needed: 1 }
        );
        assert!(matches!(
            parse_response_head(b"HTTP/1.1 20x OK\r\n\r\n"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse_response_head(b"SSH-2.0"),
            Parsed::Invalid(_)
        ));
    }

    #[test]
    fn chunk_sizes_and_lengths() {
        assert_eq!(parse_chunk_size(b"1a\r\n"), Parsed::Done(26, 4));
        assert_eq!(parse_chunk_size(b"0;ext=1\r\n"), Parsed::Done(0, 9));
        assert_eq!(parse_chunk_size(b"1a"), Parsed::Incomplete { needed: 1 });
        assert!(matches!(
            parse_chunk_size(b"\x05\x99zz\r\n"),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse_chunk_size(b"ffffffffffffffff\r\n"),
            Parsed::Invalid(_)
        ));
        let f = |v: &'static [u8]| Cow::Borrowed(v);
        let h: Headers = vec![(b"Content-Length", f(b"12")), (b"content-length", f(b"12"))];
        assert_eq!(content_length(&h), Ok((Some(12), true)));
        let h: Headers = vec![(b"Content-Length", f(b"12"))];
        assert_eq!(content_length(&h), Ok((Some(12), false)));
        let h: Headers = vec![(b"Content-Length", f(b"12, 12"))];
        assert_eq!(content_length(&h), Ok((Some(12), true)));
        let h: Headers = vec![(b"Content-Length", f(b"12, 13"))];
        assert!(content_length(&h).is_err());
        assert!(has_token(b"keep-alive, Upgrade", "upgrade"));
    }
}
