//! A small, bounded DER walk over an X.509 certificate (RFC 5280 §4.1) for the fields
//! tunscope reports: serial, issuer, subject, validity, and whether the certificate is
//! self-issued.
//!
//! Contract: input is one DER certificate; every read is bounds-checked; only
//! single-byte tags and definite lengths of up to 4 bytes are accepted (DER allows nothing
//! else for these fields); names render in RFC 4514 order (last RDN first) with
//! OpenSSL's short attribute names, the form Zeek's `x509.log` uses. Nothing here
//! allocates more than the certificate's own size.

use serde::{Deserialize, Serialize};

/// What tunscope reports about one certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    /// Serial number in upper-case hex, leading zero bytes kept (as Zeek prints it).
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    /// Validity bounds in seconds since the Unix epoch.
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    /// Subject and issuer are byte-identical: the certificate is self-issued (a root or a
    /// self-signed leaf).
    pub self_signed: bool,
}

/// Why a certificate could not be walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DerError(pub &'static str);

/// One DER element: `(tag, contents, rest after the element)`.
fn element(buf: &[u8]) -> Result<(u8, &[u8], &[u8]), DerError> {
    let (&tag, rest) = buf.split_first().ok_or(DerError("missing tag"))?;
    if tag & 0x1f == 0x1f {
        return Err(DerError("high tag number"));
    }
    let (&l0, rest) = rest.split_first().ok_or(DerError("missing length"))?;
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 {
            return Err(DerError("unsupported length form"));
        }
        let bytes = rest.get(..n).ok_or(DerError("truncated length"))?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest.get(n..).unwrap_or_default())
    };
    let contents = rest.get(..len).ok_or(DerError("truncated element"))?;
    Ok((tag, contents, rest.get(len..).unwrap_or_default()))
}

fn expect<'a>(
    buf: &'a [u8],
    want: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), DerError> {
    let (tag, c, rest) = element(buf)?;
    if tag != want {
        return Err(DerError(what));
    }
    Ok((c, rest))
}

/// Walks a DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, DerError> {
    let (cert, _) = expect(der, 0x30, "certificate is not a SEQUENCE")?;
    let (tbs, _) = expect(cert, 0x30, "tbsCertificate is not a SEQUENCE")?;
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after; // explicit [0] version
    }
    let (serial, rest) = expect(rest, 0x02, "serialNumber is not an INTEGER")?;
    let (_, rest) = expect(rest, 0x30, "signature is not a SEQUENCE")?;
    let (issuer, rest) = expect(rest, 0x30, "issuer is not a SEQUENCE")?;
    let (validity, rest) = expect(rest, 0x30, "validity is not a SEQUENCE")?;
    let (subject, _) = expect(rest, 0x30, "subject is not a SEQUENCE")?;
    let (nb_tag, nb, vrest) = element(validity)?;
    let (na_tag, na, _) = element(vrest)?;
    Ok(CertInfo {
        serial: serial.iter().map(|b| format!("{b:02X}")).collect(),
        subject: render_name(subject),
        issuer: render_name(issuer),
        not_before: parse_time(nb_tag, nb),
        not_after: parse_time(na_tag, na),
        self_signed: subject == issuer,
    })
}

fn attribute_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x2a] => "GN",
        [0x55, 0x04, 0x04] => "SN",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return None,
    })
}

fn dotted_oid(oid: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn string_value(tag: u8, v: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16BE
        0x1e => {
            let units: Vec<u16> = v
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, ch) in value.chars().enumerate() {
        let special = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (ch == '#' || ch == ' '));
        if special {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// `CN=...,O=...,C=..`: RDNs last-first, attributes of one RDN joined by `+`.
/// Elements that do not parse are skipped.
pub fn render_name(name: &[u8]) -> String {
    let mut rdns: Vec<String> = Vec::new();
    let mut rest = name;
    while let Ok((tag, set, after)) = element(rest) {
        rest = after;
        if tag != 0x31 {
            continue;
        }
        let mut attrs: Vec<String> = Vec::new();
        let mut s = set;
        while let Ok((atag, atv, after)) = element(s) {
            s = after;
            if atag != 0x30 {
                continue;
            }
            let Ok((oid, vrest)) = expect(atv, 0x06, "attribute type") else {
                continue;
            };
            let Ok((vtag, v, _)) = element(vrest) else {
                continue;
            };
            let key = attribute_name(oid).map_or_else(|| dotted_oid(oid), str::to_string);
            attrs.push(format!("{key}={}", escape(&string_value(vtag, v))));
        }
        if !attrs.is_empty() {
            rdns.push(attrs.join("+"));
        }
    }
    rdns.reverse();
    rdns.join(",")
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |a, d| a * 10 + i64::from(d - b'0')))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 50-99 are 19xx) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`) to Unix seconds. Only the `Z` forms DER allows are accepted.
pub fn parse_time(tag: u8, v: &[u8]) -> Option<i64> {
    let (year, rest) = match tag {
        0x17 => {
            let yy = digits(v.get(..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, v.get(2..)?)
        }
        0x18 => (digits(v.get(..4)?)?, v.get(4..)?),
        _ => return None,
    };
    if rest.len() != 11 || rest.last() != Some(&b'Z') {
        return None;
    }
    let f = |i: usize| digits(rest.get(i..i + 2)?);
    let (mo, d, h, mi, s) = (f(0)?, f(2)?, f(4)?, f(6)?, f(8)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if body.len() < 0x80 {
            v.push(body.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    fn name(attrs: &[(&[u8], &str)]) -> Vec<u8> {
        let mut rdns = Vec::new();
        for (oid, val) in attrs {
            let atv = [tlv(0x06, oid), tlv(0x13, val.as_bytes())].concat();
            rdns.extend(tlv(0x31, &tlv(0x30, &atv)));
        }
        tlv(0x30, &rdns)
    }

    fn cert(issuer: &[u8], subject: &[u8]) -> Vec<u8> {
        let validity = [tlv(0x17, b"120411000437Z"), tlv(0x18, b"20130411000437Z")].concat();
        let tbs = [
            tlv(0xa0, &tlv(0x02, &[2])),
            tlv(0x02, &[0x0b, 0x67, 0x71]),
            tlv(
                0x30,
                &tlv(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 5]),
            ),
            issuer.to_vec(),
            tlv(0x30, &validity),
            subject.to_vec(),
        ]
        .concat();
        tlv(0x30, &tlv(0x30, &tbs))
    }

    #[test]
    fn walks_fields_in_rfc4514_order() {
        let issuer = name(&[(&[0x55, 4, 6], "US"), (&[0x55, 4, 10], "Google Inc")]);
        let subject = name(&[(&[0x55, 4, 6], "US"), (&[0x55, 4, 3], "a,b")]);
        let c = parse_certificate(&cert(&issuer, &subject)).expect("walks");
        assert_eq!(c.serial, "0B6771");
        assert_eq!(c.issuer, "O=Google Inc,C=US");
        assert_eq!(c.subject, "CN=a\\,b,C=US");
        // `date -u -d 2012-04-11T00:04:37Z +%s` = 1334102677 (also Zeek's x509.log value
        // for the gstatic leaf, whose notBefore is this instant).
        assert_eq!(c.not_before, Some(1_334_102_677));
        assert_eq!(c.not_after, Some(1_365_638_677));
        assert!(!c.self_signed);
        assert!(parse_certificate(&cert(&issuer, &issuer)).is_ok_and(|c| c.self_signed));
    }

    #[test]
    fn truncated_and_garbage_are_errors() {
        let issuer = name(&[(&[0x55, 4, 3], "x")]);
        let der = cert(&issuer, &issuer);
        for n in 0..der.len() {
            assert!(parse_certificate(&der[..n]).is_err(), "prefix {n}");
        }
        assert!(parse_certificate(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(parse_certificate(&[0x1f, 0x01, 0x00]).is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(parse_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(parse_time(0x18, b"20000229000000Z"), Some(951_782_400));
        assert_eq!(parse_time(0x17, b"7001010000Z"), None);
        assert_eq!(parse_time(0x17, b"701301000000Z"), None);
    }
}
