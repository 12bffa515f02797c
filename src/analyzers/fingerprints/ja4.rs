//! JA4 (FoxIO; BSD-3-Clause): `a_b_c` from a ClientHello's transport, version, SNI
//! presence, counts and first ALPN (`a`), its sorted cipher suites (`b`) and its sorted
//! extensions plus signature algorithms (`c`), `b` and `c` as the first 12 hex digits of
//! their SHA-256; `ja4_o` keeps wire order, `ja4_r` gives the lists in clear.

use super::grease::is_grease;
use crate::util::hex;

const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_ALPN: u16 = 0x0010;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;

/// Where the ClientHello travelled, for JA4's first character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ja4Transport {
    /// `q`
    Quic,
    /// `t`
    Tcp,
    /// `d`
    Dtls,
}

/// What JA4 reads of a ClientHello.
#[derive(Clone, Copy, Debug)]
pub struct Ja4Hello<'a> {
    /// The legacy version field.
    pub legacy_version: u16,
    /// The supported_versions extension's list.
    pub supported_versions: &'a [u16],
    /// Extension types in wire order.
    pub extensions: &'a [u16],
    /// Cipher suites in wire order.
    pub cipher_suites: &'a [u16],
    /// The signature_algorithms extension's list.
    pub signature_algorithms: &'a [u16],
    /// The first ALPN value's raw bytes.
    pub alpn_first: Option<&'a [u8]>,
}

/// JA4 version: highest non-GREASE supported_version, else the legacy version.
fn version(h: &Ja4Hello<'_>) -> &'static str {
    let v = if h.extensions.contains(&EXT_SUPPORTED_VERSIONS) {
        h.supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
    } else {
        Some(h.legacy_version)
    };
    match v {
        Some(0x0304) => "13",
        Some(0x0303) => "12",
        Some(0x0302) => "11",
        Some(0x0301) => "10",
        Some(0x0300) => "s3",
        Some(0x0002) => "s2",
        Some(0xfeff) => "d1",
        Some(0xfefd) => "d2",
        Some(0xfefc) => "d3",
        _ => "00",
    }
}

/// JA4's two ALPN characters from the first ALPN value's raw bytes.
pub fn alpn(first: Option<&[u8]>) -> String {
    let Some(p) = first else {
        return "00".into();
    };
    let (Some(&f), Some(&l)) = (p.first(), p.last()) else {
        return "00".into();
    };
    if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
        return format!("{}{}", f as char, l as char);
    }
    let h = hex(p);
    let mut cs = h.chars();
    match (cs.next(), h.chars().last()) {
        (Some(a), Some(b)) => format!("{a}{b}"),
        _ => "00".into(),
    }
}

fn part_a(h: &Ja4Hello<'_>, t: Ja4Transport) -> String {
    let t = match t {
        Ja4Transport::Quic => 'q',
        Ja4Transport::Tcp => 't',
        Ja4Transport::Dtls => 'd',
    };
    let sni = if h.extensions.contains(&EXT_SERVER_NAME) {
        'd'
    } else {
        'i'
    };
    let nc = h
        .cipher_suites
        .iter()
        .filter(|c| !is_grease(**c))
        .count()
        .min(99);
    let ne = h
        .extensions
        .iter()
        .filter(|e| !is_grease(**e))
        .count()
        .min(99);
    format!("{t}{}{sni}{nc:02}{ne:02}{}", version(h), alpn(h.alpn_first))
}

/// `(b input, c input)` of JA4 as clear text; `original` keeps wire order and SNI/ALPN.
fn lists(h: &Ja4Hello<'_>, original: bool) -> (String, String) {
    let mut ciphers: Vec<u16> = h
        .cipher_suites
        .iter()
        .copied()
        .filter(|c| !is_grease(*c))
        .collect();
    let mut exts: Vec<u16> = h
        .extensions
        .iter()
        .copied()
        .filter(|e| !is_grease(*e) && (original || (*e != EXT_SERVER_NAME && *e != EXT_ALPN)))
        .collect();
    if !original {
        ciphers.sort_unstable();
        exts.sort_unstable();
    }
    let join = |v: &[u16]| {
        v.iter()
            .map(|x| format!("{x:04x}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let sigs: Vec<u16> = h
        .signature_algorithms
        .iter()
        .copied()
        .filter(|s| !is_grease(*s))
        .collect();
    let mut c = join(&exts);
    if !exts.is_empty() && !sigs.is_empty() {
        c.push('_');
        c.push_str(&join(&sigs));
    }
    (join(&ciphers), c)
}

fn with(h: &Ja4Hello<'_>, t: Ja4Transport, original: bool) -> String {
    let (b, c) = lists(h, original);
    format!("{}_{}_{}", part_a(h, t), sha256_12(&b), sha256_12(&c))
}

/// The JA4 fingerprint (see the module doc for the exact string).
pub fn ja4(h: &Ja4Hello<'_>, t: Ja4Transport) -> String {
    with(h, t, false)
}

/// JA4_o: like JA4 with lists in wire order and SNI/ALPN kept in the extension list.
pub fn ja4_o(h: &Ja4Hello<'_>, t: Ja4Transport) -> String {
    with(h, t, true)
}

/// JA4_r: the sorted lists in clear instead of hashes.
pub fn ja4_r(h: &Ja4Hello<'_>, t: Ja4Transport) -> String {
    let (b, c) = lists(h, false);
    format!("{}_{}_{}", part_a(h, t), b, c)
}

/// First 12 lower-case hex chars of SHA-256, or twelve zeros for an empty list.
pub(crate) fn sha256_12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let mut h = hex(d.as_ref());
    h.truncate(12);
    h
}
