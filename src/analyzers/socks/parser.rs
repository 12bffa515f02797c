//! Pure SOCKS parsers: SOCKS4/4a (the SOCKS4 protocol document and its 4A extension) and
//! SOCKS5 (RFC 1928) with username/password authentication (RFC 1929).
//!
//! Contract: each function reads one message at the start of `buf` and answers
//! [`Parsed::Done`] (value, bytes consumed), [`Parsed::Incomplete`] or [`Parsed::Invalid`].
//! Strings are at most 255 bytes by construction (1-byte lengths) or bounded by
//! [`MAX_NUL_STRING`].

use std::net::{Ipv4Addr, Ipv6Addr};

pub const MAX_NUL_STRING: usize = 255;

pub use crate::analyzers::Parsed;

/// A destination as the request named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    Name(String),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::V4(a) => write!(f, "{a}"),
            Address::V6(a) => write!(f, "{a}"),
            Address::Name(n) => f.write_str(n),
        }
    }
}

fn nul_string(buf: &[u8]) -> Parsed<&[u8]> {
    match buf.iter().take(MAX_NUL_STRING + 1).position(|&b| b == 0) {
        Some(p) => Parsed::Done(buf.get(..p).unwrap_or_default(), p + 1),
        None if buf.len() > MAX_NUL_STRING => Parsed::Invalid("string longer than 255 bytes"),
        None => Parsed::Incomplete { needed: 1 },
    }
}

/// A SOCKS4/4a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socks4Request {
    pub command: u8,
    pub port: u16,
    pub address: Address,
    pub user_id: String,
    pub is_4a: bool,
}

/// `04 CD DSTPORT(2) DSTIP(4) USERID 00 [HOST 00 when DSTIP = 0.0.0.x, x != 0]`
pub fn socks4_request(buf: &[u8]) -> Parsed<Socks4Request> {
    let Some(&[vn, cd, p0, p1, a, b, c, d]) = buf.first_chunk::<8>() else {
        return match buf {
            [] | [4] | [4, 1 | 2, ..] => Parsed::Incomplete { needed: 1 },
            _ => Parsed::Invalid("not a SOCKS4 request"),
        };
    };
    if vn != 4 || !(cd == 1 || cd == 2) {
        return Parsed::Invalid("not a SOCKS4 request");
    }
    let rest = buf.get(8..).unwrap_or_default();
    let (user, n) = match nul_string(rest) {
        Parsed::Done(u, n) => (u, n),
        Parsed::Incomplete { .. } => return Parsed::Incomplete { needed: 1 },
        Parsed::Invalid(e) => return Parsed::Invalid(e),
    };
    let is_4a = a == 0 && b == 0 && c == 0 && d != 0;
    let (address, used) = if is_4a {
        match nul_string(rest.get(n..).unwrap_or_default()) {
            Parsed::Done(h, m) => (
                Address::Name(String::from_utf8_lossy(h).into_owned()),
                8 + n + m,
            ),
            Parsed::Incomplete { .. } => return Parsed::Incomplete { needed: 1 },
            Parsed::Invalid(e) => return Parsed::Invalid(e),
        }
    } else {
        (Address::V4(Ipv4Addr::new(a, b, c, d)), 8 + n)
    };
    Parsed::Done(
        Socks4Request {
            command: cd,
            port: u16::from_be_bytes([p0, p1]),
            address,
            user_id: String::from_utf8_lossy(user).into_owned(),
            is_4a,
        },
        used,
    )
}

/// A SOCKS4 reply: `00 CD(90..93) port(2) ip(4)`; returns the reply code.
pub fn socks4_reply(buf: &[u8]) -> Parsed<u8> {
    match buf.first_chunk::<8>() {
        Some([0, cd @ 90..=93, ..]) => Parsed::Done(*cd, 8),
        Some(_) => Parsed::Invalid("not a SOCKS4 reply"),
        None => match buf {
            [] | [0] | [0, 90..=93, ..] => Parsed::Incomplete { needed: 1 },
            _ => Parsed::Invalid("not a SOCKS4 reply"),
        },
    }
}

/// SOCKS5 greeting `05 NMETHODS METHODS...`: the offered methods.
pub fn socks5_greeting(buf: &[u8]) -> Parsed<Vec<u8>> {
    match buf {
        [] | [5] => Parsed::Incomplete { needed: 1 },
        [5, n, rest @ ..] if *n > 0 => match rest.get(..usize::from(*n)) {
            Some(m) => Parsed::Done(m.to_vec(), 2 + usize::from(*n)),
            None => Parsed::Incomplete { needed: 1 },
        },
        _ => Parsed::Invalid("not a SOCKS5 greeting"),
    }
}

/// SOCKS5 method selection `05 METHOD`.
pub fn socks5_method(buf: &[u8]) -> Parsed<u8> {
    match buf {
        [] | [5] => Parsed::Incomplete { needed: 1 },
        [5, m, ..] => Parsed::Done(*m, 2),
        _ => Parsed::Invalid("not a SOCKS5 method selection"),
    }
}

/// RFC 1929 `01 ULEN UNAME PLEN PASSWD`: the user name (the password is skipped).
pub fn socks5_userpass(buf: &[u8]) -> Parsed<String> {
    let [ver, ulen, ..] = *buf else {
        return if buf.first().is_none_or(|&v| v == 1) {
            Parsed::Incomplete { needed: 1 }
        } else {
            Parsed::Invalid("not a username/password request")
        };
    };
    if ver != 1 {
        return Parsed::Invalid("not a username/password request");
    }
    let u = usize::from(ulen);
    let Some(&plen) = buf.get(2 + u) else {
        return Parsed::Incomplete { needed: 1 };
    };
    let total = 3 + u + usize::from(plen);
    if buf.len() < total {
        return Parsed::Incomplete { needed: 1 };
    }
    let user = buf.get(2..2 + u).unwrap_or_default();
    Parsed::Done(String::from_utf8_lossy(user).into_owned(), total)
}

/// RFC 1929 status reply `01 STATUS`.
pub fn socks5_userpass_reply(buf: &[u8]) -> Parsed<u8> {
    match buf {
        [] | [1] => Parsed::Incomplete { needed: 1 },
        [1, s, ..] => Parsed::Done(*s, 2),
        _ => Parsed::Invalid("not a username/password reply"),
    }
}

/// `VER(05) CMD/REP RSV(00) ATYP ADDR PORT`, the shape of both request and reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Socks5Message {
    /// CMD in a request, REP in a reply.
    pub code: u8,
    pub address: Address,
    pub port: u16,
}

pub fn socks5_message(buf: &[u8]) -> Parsed<Socks5Message> {
    let Some(&[ver, code, rsv, atyp]) = buf.first_chunk::<4>() else {
        return match buf {
            [] | [5] | [5, _] | [5, _, 0] => Parsed::Incomplete { needed: 1 },
            _ => Parsed::Invalid("not a SOCKS5 request/reply"),
        };
    };
    if ver != 5 || rsv != 0 {
        return Parsed::Invalid("not a SOCKS5 request/reply");
    }
    let rest = buf.get(4..).unwrap_or_default();
    let (address, alen) = match atyp {
        1 => match rest.first_chunk::<4>() {
            Some(a) => (Address::V4(Ipv4Addr::from(*a)), 4),
            None => return Parsed::Incomplete { needed: 1 },
        },
        4 => match rest.first_chunk::<16>() {
            Some(a) => (Address::V6(Ipv6Addr::from(*a)), 16),
            None => return Parsed::Incomplete { needed: 1 },
        },
        3 => {
            let Some(&n) = rest.first() else {
                return Parsed::Incomplete { needed: 1 };
            };
            match rest.get(1..1 + usize::from(n)) {
                Some(name) => (
                    Address::Name(String::from_utf8_lossy(name).into_owned()),
                    1 + usize::from(n),
                ),
                None => return Parsed::Incomplete { needed: 1 },
            }
        }
        _ => return Parsed::Invalid("unknown SOCKS5 address type"),
    };
    let Some(&[p0, p1]) = rest.get(alen..alen + 2).and_then(|p| p.first_chunk::<2>()) else {
        return Parsed::Incomplete { needed: 1 };
    };
    Parsed::Done(
        Socks5Message {
            code,
            address,
            port: u16::from_be_bytes([p0, p1]),
        },
        4 + alen + 2,
    )
}

pub fn method_name(m: u8) -> &'static str {
    match m {
        0 => "none",
        1 => "gssapi",
        2 => "username_password",
        0xff => "no_acceptable_methods",
        0x80..=0xfe => "private",
        _ => "other",
    }
}

pub fn command_name(c: u8) -> &'static str {
    match c {
        1 => "connect",
        2 => "bind",
        3 => "udp_associate",
        _ => "unknown",
    }
}

/// Reply status names; SOCKS5 codes as Zeek's `socks.log` prints them.
pub fn socks5_status(rep: u8) -> &'static str {
    match rep {
        0 => "succeeded",
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "Network unreachable",
        4 => "Host unreachable",
        5 => "Connection refused",
        6 => "TTL expired",
        7 => "Command not supported",
        8 => "Address type not supported",
        _ => "unknown",
    }
}

pub fn socks4_status(cd: u8) -> &'static str {
    match cd {
        90 => "succeeded",
        91 => "general SOCKS server failure",
        92 => "request failed because client is not running identd",
        93 => {
            "request failed because client's identd could not confirm the user ID string in the request"
        }
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks4_and_4a() {
        // 4a: CONNECT to port 80, ip 0.0.0.1, user "u", host "example.com".
        let req = b"\x04\x01\x00\x50\x00\x00\x00\x01u\x00example.com\x00rest";
        let Parsed::Done(r, n) = socks4_request(req) else {
            panic!("parses");
        };
        assert_eq!(n, req.len() - 4);
        assert_eq!(r.address, Address::Name("example.com".into()));
        assert_eq!(
            (r.port, r.command, r.is_4a, r.user_id.as_str()),
            (80, 1, true, "u")
        );
        for k in 0..n {
            assert_eq!(
                socks4_request(&req[..k]),
                Parsed::Incomplete { needed: 1 },
                "prefix {k}"
            );
        }
        assert_eq!(
            socks4_reply(&[0, 90, 0, 0, 0, 0, 0, 0]),
            Parsed::Done(90, 8)
        );
        assert!(matches!(
            socks4_reply(&[0, 1, 0, 0, 0, 0, 0, 0]),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            socks4_request(b"\x05\x01\x00"),
            Parsed::Invalid(_)
        ));
    }

    #[test]
    fn socks5_messages() {
        assert_eq!(socks5_greeting(&[5, 2, 0, 2]), Parsed::Done(vec![0, 2], 4));
        assert_eq!(
            socks5_greeting(&[5, 2, 0]),
            Parsed::Incomplete { needed: 1 }
        );
        assert!(matches!(socks5_greeting(&[5, 0]), Parsed::Invalid(_)));
        // RFC 1928 §4: CONNECT www.osnews.com:80 by name.
        let req = b"\x05\x01\x00\x03\x0ewww.osnews.com\x00\x50";
        assert_eq!(
            socks5_message(req),
            Parsed::Done(
                Socks5Message {
                    code: 1,
                    address: Address::Name("www.osnews.com".into()),
                    port: 80
                },
                req.len()
            )
        );
        for k in 0..req.len() {
            assert_eq!(
                socks5_message(&req[..k]),
                Parsed::Incomplete { needed: 1 },
                "prefix {k}"
            );
        }
        assert!(matches!(
            socks5_message(&[5, 1, 0, 9, 0]),
            Parsed::Invalid(_)
        ));
        assert_eq!(
            socks5_userpass(b"\x01\x03bob\x05alice"),
            Parsed::Done("bob".into(), 11)
        );
        assert_eq!(
            socks5_userpass(b"\x01\x03bob\x05ali"),
            Parsed::Incomplete { needed: 1 }
        );
    }
}
