//! TLS ServerHello parsing (RFC 8446 §4.1.3): the chosen version and cipher suite.
//!
//! Same contracts as `client_hello.rs`: bare handshake message in, `Err(Incomplete)` for
//! truncated input, `Err(Malformed)` for inconsistent lengths, no panics.

use super::{HANDSHAKE_SERVER_HELLO, Reader, TlsError, first_handshake_message};
use serde::Serialize;

/// The `random` of a HelloRetryRequest (RFC 8446 §4.1.3): SHA-256 of "HelloRetryRequest".
pub const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServerHello {
    pub legacy_version: u16,
    pub cipher_suite: u16,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    /// The supported_versions extension's single value (TLS 1.3 servers), if present.
    pub supported_version: Option<u16>,
    /// The key_share group (TLS 1.3), if present.
    pub key_share_group: Option<u16>,
    /// True when the message is a HelloRetryRequest.
    pub hello_retry_request: bool,
    /// The protocol the server chose (ALPN extension, RFC 7301 §3.1; TLS ≤ 1.2 only: a
    /// TLS 1.3 server sends it in the encrypted EncryptedExtensions).
    pub alpn: Option<String>,
}

impl ServerHello {
    /// The negotiated version: supported_versions when present, else the legacy field.
    pub fn selected_version(&self) -> u16 {
        self.supported_version.unwrap_or(self.legacy_version)
    }
}

/// Parse a bare handshake message holding a ServerHello.
pub fn parse_server_hello(msg: &[u8]) -> Result<ServerHello, TlsError> {
    let (ty, body, _) = first_handshake_message(msg)?;
    if ty != HANDSHAKE_SERVER_HELLO {
        return Err(TlsError::WrongType(ty));
    }
    let mut r = Reader::new(body);
    let mut sh = ServerHello {
        legacy_version: r.u16("legacy_version")?,
        ..Default::default()
    };
    sh.hello_retry_request = r.bytes(32, "random")? == HELLO_RETRY_REQUEST_RANDOM;
    r.vec8("session_id")?;
    sh.cipher_suite = r.u16("cipher_suite")?;
    r.u8("compression_method")?;
    if r.is_empty() {
        return Ok(sh);
    }
    let mut exts = Reader::new(r.vec16("extensions")?);
    while !exts.is_empty() {
        let ty = exts.u16("extension type")?;
        let mut data = Reader::new(exts.vec16("extension data")?);
        sh.extensions.push(ty);
        match ty {
            0x002b => sh.supported_version = data.u16("supported_versions").ok(),
            0x0033 => sh.key_share_group = data.u16("key_share").ok(),
            0x0010 => {
                sh.alpn = data
                    .vec16("alpn list")
                    .ok()
                    .and_then(|list| Reader::new(list).vec8("alpn name").ok())
                    .map(|name| String::from_utf8_lossy(name).into_owned());
            }
            _ => {}
        }
    }
    Ok(sh)
}
