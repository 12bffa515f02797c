//! TLS: the handshake messages (shared with QUIC, whose CRYPTO frames carry them bare),
//! the record layer, certificates, and TLS over TCP as a registered protocol.
//!
//! * [`handshake`]: the shared reader, errors and limits; [`client_hello`] and
//!   [`server_hello`] parse the two hellos (JA4 from the ClientHello).
//! * [`record`]: the record layer over `&[u8]` (headers, fragments, JA3/JA3S strings).
//! * [`x509`]: the fields of a certificate the report shows.
//! * [`stream`]: [`TlsStream`], the per-connection analyzer of TLS over TCP, and its
//!   record [`TlsRecord`]; [`PROTOCOL`] is its registration.

pub mod client_hello;
pub mod handshake;
pub mod record;
mod report;
pub mod server_hello;
pub mod stream;
pub mod x509;

pub use client_hello::{ClientHello, Ja4Transport, parse_client_hello, parse_client_hello_records};
pub use handshake::*;
pub use server_hello::{ServerHello, parse_server_hello};
pub use stream::{AlertInfo, PROTOCOL, TlsRecord, TlsStream, detect};
