//! HASSH (Salesforce): the MD5 of an SSH KEXINIT's key exchange, encryption, MAC and
//! compression name-lists, `;`-joined, as the side sends them (client-to-server lists
//! for the client's HASSH, server-to-client for the server's).

use super::md5_hex;

/// The HASSH of the four name-lists.
pub fn hassh(kex: &str, encryption: &str, mac: &str, compression: &str) -> String {
    md5_hex(format!("{kex};{encryption};{mac};{compression}").as_bytes())
}
