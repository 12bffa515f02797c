//! JA3 and JA3S (Salesforce): the canonical strings whose MD5 ([`super::md5_hex`]) is
//! the fingerprint.

use super::grease::is_grease;

fn dash<T: ToString>(items: impl Iterator<Item = T>) -> String {
    items.map(|x| x.to_string()).collect::<Vec<_>>().join("-")
}

/// The JA3 string (Salesforce): `version,ciphers,extensions,groups,point_formats`, values
/// in decimal and wire order, dash-joined, GREASE (RFC 8701) removed.
pub fn ja3_string(
    version: u16,
    cipher_suites: &[u16],
    extensions: &[u16],
    groups: &[u16],
    point_formats: &[u8],
) -> String {
    let ng = |v: &&u16| !is_grease(**v);
    format!(
        "{},{},{},{},{}",
        version,
        dash(cipher_suites.iter().filter(ng)),
        dash(extensions.iter().filter(ng)),
        dash(groups.iter().filter(ng)),
        dash(point_formats.iter()),
    )
}

/// The JA3S string: `version,cipher,extensions` of the ServerHello.
pub fn ja3s_string(version: u16, cipher_suite: u16, extensions: &[u16]) -> String {
    format!(
        "{},{},{}",
        version,
        cipher_suite,
        dash(extensions.iter().filter(|v| !is_grease(**v)))
    )
}
