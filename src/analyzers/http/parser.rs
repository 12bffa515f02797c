//! Pure HTTP/1.x parsers (RFC 9112): request and status lines with their header fields,
//! and chunk-size lines.
//!
//! Contract: every function takes the bytes at hand and answers [`Parsed::Done`] with
//! borrowed fields and the bytes consumed, [`Parsed::Incomplete`] when the message head
//! (or line) has not ended yet, or [`Parsed::Error`]. Heads longer than [`MAX_HEAD`] are
//! errors, so a caller never buffers more than that. Lines may end in CRLF or a bare LF
//! (RFC 9112 §2.2 lets recipients accept it). At most [`MAX_HEADERS`] fields are kept.

pub const MAX_HEAD: usize = 64 * 1024;
pub const MAX_HEADERS: usize = 128;

pub use crate::analyzers::Parsed;

/// Header fields as `(name, value)` slices of the head, in wire order.
pub type Headers<'a> = Vec<(&'a [u8], &'a [u8])>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub version: &'a [u8],
    pub headers: Vec<(&'a [u8], &'a [u8])>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead<'a> {
    pub version: &'a [u8],
    pub status: u16,
    pub reason: &'a [u8],
    pub headers: Vec<(&'a [u8], &'a [u8])>,
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
            [b'\r'] => return Parsed::Incomplete,
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

fn headers<'a>(mut it: impl Iterator<Item = &'a [u8]>) -> Result<Headers<'a>, &'static str> {
    let mut out = Vec::new();
    for line in it.by_ref() {
        if line.is_empty() {
            break;
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue; // obsolete line folding: ignored
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or("header line without a colon")?;
        let (name, value) = (
            line.get(..colon).unwrap_or_default(),
            line.get(colon + 1..).unwrap_or_default(),
        );
        if name.is_empty() || !name.iter().all(|b| is_tchar(*b)) {
            return Err("bad header name");
        }
        if out.len() < MAX_HEADERS {
            out.push((name, trim(value)));
        }
    }
    Ok(out)
}

fn head_bytes(buf: &[u8]) -> Parsed<usize> {
    match head_end(buf) {
        Some(n) if n <= MAX_HEAD => Parsed::Done(n, n),
        Some(_) => Parsed::Error("head longer than 64 KiB"),
        None if buf.len() > MAX_HEAD => Parsed::Error("head longer than 64 KiB"),
        None => Parsed::Incomplete,
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
        Parsed::Incomplete => {
            return if request_line_prefix_ok(buf) {
                Parsed::Incomplete
            } else {
                Parsed::Error("not a request line")
            };
        }
        Parsed::Error(e) => return Parsed::Error(e),
    };
    let head = buf.get(..n).unwrap_or_default();
    let mut it = lines(head);
    let line = it.next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Error("request line is not method, target, version");
    };
    if !method.iter().all(|b| is_tchar(*b)) || !is_version(version) {
        return Parsed::Error("bad method or version");
    }
    match headers(it) {
        Ok(headers) => Parsed::Done(
            RequestHead {
                method,
                target,
                version,
                headers,
            },
            n,
        ),
        Err(e) => Parsed::Error(e),
    }
}

pub fn parse_response_head(buf: &[u8]) -> Parsed<ResponseHead<'_>> {
    let n = match head_bytes(buf) {
        Parsed::Done(n, _) => n,
        Parsed::Incomplete => {
            let k = buf.len().min(5);
            return if buf.get(..k) == b"HTTP/".get(..k) {
                Parsed::Incomplete
            } else {
                Parsed::Error("not a status line")
            };
        }
        Parsed::Error(e) => return Parsed::Error(e),
    };
    let head = buf.get(..n).unwrap_or_default();
    let mut it = lines(head);
    let line = it.next().unwrap_or_default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Parsed::Error("status line is not version, code, reason");
    };
    let reason = parts.next().unwrap_or_default();
    if !is_version(version) || code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Parsed::Error("bad version or status code");
    }
    let status = code.iter().fold(0u16, |a, d| a * 10 + u16::from(d - b'0'));
    match headers(it) {
        Ok(headers) => Parsed::Done(
            ResponseHead {
                version,
                status,
                reason,
                headers,
            },
            n,
        ),
        Err(e) => Parsed::Error(e),
    }
}

/// A chunk-size line (RFC 9112 §7.1): hex size, optional `;ext`, CRLF.
pub fn parse_chunk_size(buf: &[u8]) -> Parsed<u64> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > 1024 {
            Parsed::Error("chunk-size line too long")
        } else if buf.first().is_none_or(u8::is_ascii_hexdigit) {
            Parsed::Incomplete // digits, extension or CR still coming
        } else {
            Parsed::Error("not a chunk size")
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
        return Parsed::Error("not a chunk size");
    }
    let size = line.iter().take(hex_len).fold(0u64, |a, d| {
        (a << 4) | u64::from((*d as char).to_digit(16).unwrap_or(0))
    });
    Parsed::Done(size, nl + 1)
}

/// The value of the first header named `name` (case-insensitive).
pub fn header<'a>(headers: &[(&'a [u8], &'a [u8])], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| *v)
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
pub fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// Content-Length as a number; several differing values or garbage are `Err`.
pub fn content_length(headers: &[(&[u8], &[u8])]) -> Result<Option<u64>, &'static str> {
    let mut found: Option<u64> = None;
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
            found = Some(x);
        }
    }
    Ok(found)
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
                Parsed::Incomplete,
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
            Parsed::Error(_)
        ));
        assert!(matches!(
            parse_request_head(b"GET / HTTP/1.1\r\nbad header\r\n\r\n"),
            Parsed::Error(_)
        ));
        assert!(matches!(
            parse_request_head(b"GET /\r\n\r\n"),
            Parsed::Error(_)
        ));
        let long = [b"GET /".as_slice(), &[b'a'; MAX_HEAD + 1]].concat();
        assert!(matches!(parse_request_head(&long), Parsed::Error(_)));
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
        assert_eq!(parse_response_head(b"HTT"), Parsed::Incomplete);
        assert!(matches!(
            parse_response_head(b"HTTP/1.1 20x OK\r\n\r\n"),
            Parsed::Error(_)
        ));
        assert!(matches!(parse_response_head(b"SSH-2.0"), Parsed::Error(_)));
    }

    #[test]
    fn chunk_sizes_and_lengths() {
        assert_eq!(parse_chunk_size(b"1a\r\n"), Parsed::Done(26, 4));
        assert_eq!(parse_chunk_size(b"0;ext=1\r\n"), Parsed::Done(0, 9));
        assert_eq!(parse_chunk_size(b"1a"), Parsed::Incomplete);
        assert!(matches!(
            parse_chunk_size(b"\x05\x99zz\r\n"),
            Parsed::Error(_)
        ));
        assert!(matches!(
            parse_chunk_size(b"ffffffffffffffff\r\n"),
            Parsed::Error(_)
        ));
        let h: Vec<(&[u8], &[u8])> = vec![(b"Content-Length", b"12"), (b"content-length", b"12")];
        assert_eq!(content_length(&h), Ok(Some(12)));
        let h: Vec<(&[u8], &[u8])> = vec![(b"Content-Length", b"12, 13")];
        assert!(content_length(&h).is_err());
        assert!(has_token(b"keep-alive, Upgrade", "upgrade"));
    }
}
