//! Pure parsers for TLS over TCP (RFC 5246 §6.2, RFC 8446 §5.1): the record layer, alert
//! and Certificate messages, and the JA3/JA3S strings.
//!
//! Contract: functions take `&[u8]` and return borrowed views or owned small records;
//! [`parse_record`] distinguishes a complete record from "incomplete, this many bytes
//! needed" and from bytes that cannot be TLS; no read indexes past its input.

use crate::analyzers::api::Parsed;
use crate::analyzers::fingerprints::ja3;
use crate::analyzers::tls::{ClientHello, Reader, ServerHello, TlsError};

pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_ALERT: u8 = 21;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;
pub const CONTENT_HEARTBEAT: u8 = 24;

pub const RECORD_HEADER_LEN: usize = 5;
/// Largest record fragment accepted: 2^14 plus the 2048 bytes of expansion RFC 5246
/// §6.2.3 allows for ciphertext.
pub const MAX_FRAGMENT_LEN: usize = 16384 + 2048;

pub const HANDSHAKE_CERTIFICATE: u8 = 11;
pub const EXT_EC_POINT_FORMATS: u16 = 0x000b;

/// A complete TLS record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub content_type: u8,
    pub version: u16,
    pub fragment: &'a [u8],
}

/// The outcome of reading one record: the record and the bytes it occupied, how many
/// more bytes it needs, or why these bytes are not a TLS record.
pub type RecordParse<'a> = Parsed<Record<'a>>;

/// Whether a record header is plausible: known content type, version 3.x.
pub fn plausible_header(ct: u8, major: u8, minor: u8) -> bool {
    (CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_HEARTBEAT).contains(&ct) && major == 3 && minor <= 4
}

/// Reads the record at the start of `buf`.
pub fn parse_record(buf: &[u8]) -> RecordParse<'_> {
    let Some(hdr) = buf.first_chunk::<RECORD_HEADER_LEN>() else {
        // Check what is there so garbage is rejected early.
        if let (Some(&ct), Some(&major)) = (buf.first(), buf.get(1))
            && !plausible_header(ct, major, buf.get(2).copied().unwrap_or(0))
        {
            return RecordParse::Invalid("not a TLS record header");
        }
        return RecordParse::Incomplete {
            needed: RECORD_HEADER_LEN - buf.len(),
        };
    };
    let [ct, major, minor, l0, l1] = *hdr;
    if !plausible_header(ct, major, minor) {
        return RecordParse::Invalid("not a TLS record header");
    }
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    if len > MAX_FRAGMENT_LEN {
        return RecordParse::Invalid("record longer than 2^14 + 2048");
    }
    let total = RECORD_HEADER_LEN + len;
    match buf.get(RECORD_HEADER_LEN..total) {
        Some(fragment) => RecordParse::Done(
            Record {
                content_type: ct,
                version: u16::from_be_bytes([major, minor]),
                fragment,
            },
            total,
        ),
        None => RecordParse::Incomplete {
            needed: total - buf.len(),
        },
    }
}

/// An alert (RFC 8446 §6): level and description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    pub level: u8,
    pub description: u8,
}

/// A plaintext alert record body is exactly two bytes.
pub fn parse_alert(fragment: &[u8]) -> Option<Alert> {
    match fragment {
        [level @ (1 | 2), description] => Some(Alert {
            level: *level,
            description: *description,
        }),
        _ => None,
    }
}

/// RFC 8446 §6 / RFC 5246 §7.2 alert names.
pub fn alert_name(d: u8) -> &'static str {
    match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

/// The certificates of a TLS 1.2-and-earlier Certificate message body (RFC 5246 §7.4.2):
/// a u24 list of u24-length DER certificates. Stops at the first inconsistent length.
pub fn certificate_list(body: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let u24 = |b: &[u8]| -> Option<usize> {
        let [a, b, c] = *b.first_chunk::<3>()?;
        Some((usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c))
    };
    let Some(total) = u24(body) else {
        return out;
    };
    let mut list = body.get(3..3 + total).unwrap_or_default();
    while let Some(n) = u24(list) {
        let Some(cert) = list.get(3..3 + n) else {
            break;
        };
        out.push(cert);
        list = list.get(3 + n..).unwrap_or_default();
    }
    out
}

/// The ec_point_formats extension (RFC 8422 §5.1.2) of a ClientHello handshake message,
/// which the shared ClientHello parser does not keep but JA3 needs.
pub fn ec_point_formats(msg: &[u8]) -> Result<Vec<u8>, TlsError> {
    let body = msg
        .get(4..)
        .ok_or(TlsError::Malformed("handshake header"))?;
    let mut r = Reader::new(body);
    r.bytes(2 + 32, "version and random")?;
    r.vec8("session_id")?;
    r.vec16("cipher_suites")?;
    r.vec8("compression_methods")?;
    if r.is_empty() {
        return Ok(Vec::new());
    }
    let mut exts = Reader::new(r.vec16("extensions")?);
    while !exts.is_empty() {
        let ty = exts.u16("extension type")?;
        let data = exts.vec16("extension data")?;
        if ty == EXT_EC_POINT_FORMATS {
            return Ok(Reader::new(data).vec8("ec_point_formats")?.to_vec());
        }
    }
    Ok(Vec::new())
}

/// The JA3 string of a ClientHello (see `crate::analyzers::fingerprints::ja3`).
pub fn ja3_string(ch: &ClientHello, point_formats: &[u8]) -> String {
    ja3::ja3_string(
        ch.legacy_version,
        &ch.cipher_suites,
        &ch.extensions,
        &ch.supported_groups,
        point_formats,
    )
}

/// The JA3S string of a ServerHello.
pub fn ja3s_string(sh: &ServerHello) -> String {
    ja3::ja3s_string(sh.legacy_version, sh.cipher_suite, &sh.extensions)
}

/// `TLSv12`-style names as Zeek's ssl.log prints them.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv10".into(),
        0x0302 => "TLSv11".into(),
        0x0303 => "TLSv12".into(),
        0x0304 => "TLSv13".into(),
        0x7f00..=0x7fff => format!("TLSv13-draft{}", v & 0xff),
        0xfb1a => "TLSv13-fizz".into(),
        _ => format!("0x{v:04x}"),
    }
}

/// IANA names of common cipher suites (the rest print as `0x....`).
pub fn cipher_name(c: u16) -> String {
    let n = match c {
        0x0004 => "TLS_RSA_WITH_RC4_128_MD5",
        0x0005 => "TLS_RSA_WITH_RC4_128_SHA",
        0x000a => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x003c => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0xc007 => "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
        0xc009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xc00a => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xc011 => "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
        0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0xc023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xc027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        _ => return format!("0x{c:04x}"),
    };
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_complete_incomplete_invalid() {
        let rec = [22, 3, 1, 0, 2, 0xaa, 0xbb, 23];
        assert_eq!(
            parse_record(&rec),
            RecordParse::Done(
                Record {
                    content_type: 22,
                    version: 0x0301,
                    fragment: &[0xaa, 0xbb]
                },
                7
            )
        );
        assert_eq!(
            parse_record(&rec[..6]),
            RecordParse::Incomplete { needed: 1 }
        );
        assert_eq!(
            parse_record(&rec[..1]),
            RecordParse::Incomplete { needed: 4 }
        );
        assert!(matches!(
            parse_record(b"GET / HTTP/1.1"),
            RecordParse::Invalid(_)
        ));
        assert!(matches!(
            parse_record(&[23, 3, 3, 0xff, 0xff]),
            RecordParse::Invalid(_)
        ));
        assert!(matches!(parse_record(&[22, 2]), RecordParse::Invalid(_)));
    }

    #[test]
    fn alerts_and_cert_lists() {
        assert_eq!(
            parse_alert(&[2, 40]),
            Some(Alert {
                level: 2,
                description: 40
            })
        );
        assert_eq!(parse_alert(&[2, 40, 0]), None);
        assert_eq!(alert_name(40), "handshake_failure");
        // Two certificates "ab" and "c", then a truncated third.
        let body = [0, 0, 12, 0, 0, 2, b'a', b'b', 0, 0, 1, b'c', 0, 0, 9];
        assert_eq!(certificate_list(&body), vec![&b"ab"[..], &b"c"[..]]);
        assert!(certificate_list(&[0, 0]).is_empty());
    }
}
