//! TLS ClientHello parsing (RFC 8446 §4.1.2) and the JA4 client fingerprint.
//!
//! [`parse_client_hello`] takes a bare handshake message (type 1, u24 length, body), which
//! is what QUIC CRYPTO frames carry; [`parse_client_hello_records`] takes TLS records (for
//! TLS over TCP). Truncated input is `Err(Incomplete)`, inconsistent lengths are
//! `Err(Malformed)`. A malformed *extension body* does not fail the whole hello: the
//! extension type stays in [`ClientHello::extensions`] and its typed field stays empty.
//!
//! # JA4 (FoxIO, BSD-3-Clause; `technical_details/JA4.md`)
//!
//! `JA4 = a_b_c` where
//! * `a` = transport (`q` QUIC, `t` TLS over TCP, `d` DTLS)
//!   + version: the highest non-GREASE value of supported_versions if that extension is
//!     present, else the legacy version; `0304`→`13`, `0303`→`12`, `0302`→`11`, `0301`→`10`,
//!     `0300`→`s3`, `0002`→`s2`, `feff`→`d1`, `fefd`→`d2`, `fefc`→`d3`, anything else `00`
//!   + `d` when the SNI extension (0x0000) is present, else `i`
//!   + number of cipher suites, two digits, GREASE excluded, capped at 99
//!   + number of extensions, two digits, GREASE excluded, SNI and ALPN included, capped at 99
//!   + first and last character of the first ALPN value; `00` when there is no ALPN or the
//!     first value is empty; one character is used twice; when the first or last byte is
//!     not ASCII alphanumeric, the first and last characters of the value's lower-case hex
//!     form are used instead;
//! * `b` = first 12 hex chars of SHA-256 of the cipher suites as 4-digit lower-case hex,
//!   sorted, comma-separated, GREASE excluded; `000000000000` when there are none;
//! * `c` = first 12 hex chars of SHA-256 of the extension types (GREASE, 0x0000 and 0x0010
//!   excluded) sorted and comma-separated, then `_` and the signature algorithms in wire
//!   order (GREASE excluded) when there are any; `000000000000` when no extension is left.
//!
//! [`ClientHello::ja4_r`] gives the same with the lists in clear (`JA4_r`), and
//! [`ClientHello::ja4_o`] the unsorted variant (`JA4_o`, original order, SNI/ALPN kept).

use super::{
    HANDSHAKE_CLIENT_HELLO, Reader, TlsError, first_handshake_message, handshake_from_records,
};
use serde::Serialize;

pub const EXT_SERVER_NAME: u16 = 0x0000;
pub const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
pub const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
pub const EXT_ALPN: u16 = 0x0010;
pub const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
pub const EXT_KEY_SHARE: u16 = 0x0033;
pub const EXT_QUIC_TRANSPORT_PARAMETERS: u16 = 0x0039;

/// What a ClientHello offers. Lists keep wire order; GREASE values are kept here (JA4
/// drops them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientHello {
    pub legacy_version: u16,
    #[serde(skip)]
    pub random: [u8; 32],
    #[serde(skip)]
    pub session_id: Vec<u8>,
    pub cipher_suites: Vec<u16>,
    pub compression_methods: Vec<u8>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// First host_name of the server_name extension (lossy UTF-8).
    pub sni: Option<String>,
    /// ALPN protocol names (lossy UTF-8).
    pub alpn: Vec<String>,
    #[serde(skip)]
    alpn_first_raw: Option<Vec<u8>>,
    pub supported_versions: Vec<u16>,
    pub supported_groups: Vec<u16>,
    pub key_share_groups: Vec<u16>,
    pub signature_algorithms: Vec<u16>,
    /// Length of the QUIC transport parameters extension body, when present.
    pub quic_transport_parameters_len: Option<usize>,
}

use crate::analyzers::fingerprints::ja4;
pub use crate::analyzers::fingerprints::ja4::{Ja4Hello, Ja4Transport};

/// Parse a bare handshake message holding a ClientHello (bytes after it are ignored).
pub fn parse_client_hello(msg: &[u8]) -> Result<ClientHello, TlsError> {
    let (ty, body, _) = first_handshake_message(msg)?;
    if ty != HANDSHAKE_CLIENT_HELLO {
        return Err(TlsError::WrongType(ty));
    }
    parse_body(body)
}

/// Parse a ClientHello carried in TLS records (possibly split over several records).
pub fn parse_client_hello_records(records: &[u8]) -> Result<ClientHello, TlsError> {
    let msg = handshake_from_records(records)?;
    parse_client_hello(&msg)
}

fn parse_body(body: &[u8]) -> Result<ClientHello, TlsError> {
    let mut r = Reader::new(body);
    let mut ch = ClientHello {
        legacy_version: r.u16("legacy_version")?,
        ..Default::default()
    };
    ch.random.copy_from_slice(r.bytes(32, "random")?);
    ch.session_id = r.vec8("session_id")?.to_vec();
    ch.cipher_suites = Reader::u16_list(r.vec16("cipher_suites")?, "cipher_suites")?;
    ch.compression_methods = r.vec8("compression_methods")?.to_vec();
    if r.is_empty() {
        return Ok(ch); // extensions are optional before TLS 1.3
    }
    let mut exts = Reader::new(r.vec16("extensions")?);
    while !exts.is_empty() {
        let ty = exts.u16("extension type")?;
        let data = exts.vec16("extension data")?;
        ch.extensions.push(ty);
        // A bad extension body leaves its field empty; the hello still parses.
        let _ = ch.extension(ty, data);
    }
    Ok(ch)
}

impl ClientHello {
    fn extension(&mut self, ty: u16, data: &[u8]) -> Result<(), TlsError> {
        let mut r = Reader::new(data);
        match ty {
            EXT_SERVER_NAME if self.sni.is_none() => {
                let mut list = Reader::new(r.vec16("server_name_list")?);
                while !list.is_empty() {
                    let kind = list.u8("name_type")?;
                    let name = list.vec16("host_name")?;
                    if kind == 0 && self.sni.is_none() {
                        self.sni = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            EXT_ALPN => {
                let mut list = Reader::new(r.vec16("alpn list")?);
                while !list.is_empty() {
                    let p = list.vec8("protocol")?;
                    if self.alpn_first_raw.is_none() {
                        self.alpn_first_raw = Some(p.to_vec());
                    }
                    self.alpn.push(String::from_utf8_lossy(p).into_owned());
                }
            }
            EXT_SUPPORTED_VERSIONS => {
                self.supported_versions =
                    Reader::u16_list(r.vec8("supported_versions")?, "supported_versions")?;
            }
            EXT_SUPPORTED_GROUPS => {
                self.supported_groups =
                    Reader::u16_list(r.vec16("supported_groups")?, "supported_groups")?;
            }
            EXT_SIGNATURE_ALGORITHMS => {
                self.signature_algorithms =
                    Reader::u16_list(r.vec16("signature_algorithms")?, "signature_algorithms")?;
            }
            EXT_KEY_SHARE => {
                let mut list = Reader::new(r.vec16("key_share")?);
                while !list.is_empty() {
                    self.key_share_groups.push(list.u16("key_share group")?);
                    list.vec16("key_exchange")?;
                }
            }
            EXT_QUIC_TRANSPORT_PARAMETERS => self.quic_transport_parameters_len = Some(data.len()),
            _ => {}
        }
        Ok(())
    }

    /// What JA4 reads of this ClientHello.
    fn ja4_hello(&self) -> Ja4Hello<'_> {
        Ja4Hello {
            legacy_version: self.legacy_version,
            supported_versions: &self.supported_versions,
            extensions: &self.extensions,
            cipher_suites: &self.cipher_suites,
            signature_algorithms: &self.signature_algorithms,
            alpn_first: self.alpn_first_raw.as_deref(),
        }
    }

    /// The JA4 fingerprint (see `crate::analyzers::fingerprints::ja4`).
    pub fn ja4(&self, t: Ja4Transport) -> String {
        ja4::ja4(&self.ja4_hello(), t)
    }

    /// JA4_o: like JA4 with lists in wire order and SNI/ALPN kept in the extension list.
    pub fn ja4_o(&self, t: Ja4Transport) -> String {
        ja4::ja4_o(&self.ja4_hello(), t)
    }

    /// JA4_r: the sorted lists in clear instead of hashes.
    pub fn ja4_r(&self, t: Ja4Transport) -> String {
        ja4::ja4_r(&self.ja4_hello(), t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a ClientHello handshake message from parts (test helper, wire encoding).
    fn build(ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[0x11; 32]);
        body.push(0);
        body.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut e = Vec::new();
        for (t, d) in exts {
            e.extend_from_slice(&t.to_be_bytes());
            e.extend_from_slice(&(d.len() as u16).to_be_bytes());
            e.extend_from_slice(d);
        }
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend_from_slice(&e);
        let mut m = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        m.extend_from_slice(&body);
        m
    }

    fn u16s(prefix_len: usize, v: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = v.len() * 2;
        if prefix_len == 1 {
            out.push(n as u8);
        } else {
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        for x in v {
            out.extend_from_slice(&x.to_be_bytes());
        }
        out
    }

    /// The example of FoxIO's JA4.md: its cipher list, extension list (original order),
    /// signature algorithms, SNI present, ALPN h2, TLS 1.3.
    fn foxio_example() -> Vec<u8> {
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let order = [
            0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
            0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
        ];
        let sigs = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let mut exts = vec![(0x0a0a, vec![])]; // a GREASE extension, to be ignored
        for t in order {
            let d = match t {
                0x0000 => {
                    let mut d = vec![0, 14, 0, 0, 11];
                    d.extend_from_slice(b"example.com");
                    d
                }
                0x0010 => vec![0, 3, 2, b'h', b'2'],
                0x000d => u16s(2, &sigs),
                0x002b => u16s(1, &[0x2a2a, 0x0304, 0x0303]),
                _ => vec![],
            };
            exts.push((t, d));
        }
        let mut cs = vec![0x3a3a];
        cs.extend_from_slice(&ciphers);
        build(&cs, &exts)
    }

    #[test]
    fn ja4_matches_foxio_documented_example() {
        let ch = parse_client_hello(&foxio_example()).unwrap();
        assert_eq!(ch.sni.as_deref(), Some("example.com"));
        assert_eq!(ch.alpn, vec!["h2".to_string()]);
        // Expected strings: FoxIO technical_details/JA4.md ("Example", "Raw Output").
        assert_eq!(
            ch.ja4(Ja4Transport::Tcp),
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
        assert_eq!(
            ch.ja4_o(Ja4Transport::Tcp),
            "t13d1516h2_acb858a92679_18f69afefd3d"
        );
        assert_eq!(
            ch.ja4_r(Ja4Transport::Tcp),
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
        );
    }

    #[test]
    fn ja4_hash_without_signature_algorithms() {
        // FoxIO JA4.md: the extension list alone hashes to 6d807ffa2a79.
        assert_eq!(
            ja4::sha256_12("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"),
            "6d807ffa2a79"
        );
        assert_eq!(ja4::sha256_12(""), "000000000000");
    }

    #[test]
    fn ja4_alpn_rules_from_spec() {
        let mut ch = ClientHello::default();
        let cases: [(&[u8], &str); 6] = [
            (b"http/1.1", "h1"),
            (&[0xab], "ab"),
            (&[0xab, 0xcd], "ad"),
            (&[0x30, 0xab], "3b"),
            (&[0x30, 0x31, 0xab, 0xcd], "3d"),
            (&[0x30, 0xab, 0xcd, 0x31], "01"),
        ];
        for (raw, want) in cases {
            ch.alpn_first_raw = Some(raw.to_vec());
            assert_eq!(ja4::alpn(ch.alpn_first_raw.as_deref()), want, "{raw:02x?}");
        }
        ch.alpn_first_raw = Some(b"h".to_vec());
        assert_eq!(ja4::alpn(ch.alpn_first_raw.as_deref()), "hh");
        ch.alpn_first_raw = Some(vec![]);
        assert_eq!(ja4::alpn(ch.alpn_first_raw.as_deref()), "00");
    }

    #[test]
    fn truncated_and_garbage() {
        let m = foxio_example();
        for cut in 0..m.len() {
            assert!(parse_client_hello(&m[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            parse_client_hello(&[2, 0, 0, 0]),
            Err(TlsError::WrongType(2))
        );
        // Declared cipher list longer than the body.
        let bad = [
            1, 0, 0, 38, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0,
        ];
        assert!(matches!(
            parse_client_hello(&bad),
            Err(TlsError::Malformed(_) | TlsError::Incomplete { .. })
        ));
    }

    #[test]
    fn record_layer_helper() {
        let m = foxio_example();
        let (a, b) = m.split_at(50);
        let mut recs = vec![22, 3, 1];
        recs.extend_from_slice(&(a.len() as u16).to_be_bytes());
        recs.extend_from_slice(a);
        recs.extend_from_slice(&[22, 3, 1]);
        recs.extend_from_slice(&(b.len() as u16).to_be_bytes());
        recs.extend_from_slice(b);
        let ch = parse_client_hello_records(&recs).unwrap();
        assert_eq!(
            ch.ja4(Ja4Transport::Tcp),
            "t13d1516h2_8daaf6152771_e5627efa2ab1"
        );
    }
}
