//! QUIC: header decoding, Initial decryption, ClientHello extraction and per-flow state.
//!
//! * `version` — version numbers, names and per-version constants (salts, labels, Retry keys).
//! * `header` — cleartext headers, coalesced-packet splitting, the content detector
//!   [`header::looks_like_quic`].
//! * `keys` — the key schedule and packet protection on *ring*.
//! * `initial` — header-protection removal, AEAD open, frames, CRYPTO reassembly.
//! * `conn` — [`conn::QuicFlow`], fed one datagram at a time, and its [`conn::QuicSummary`].
//! * `v2ray` — v2ray's QUIC transport: packet-header disguises, its AEAD layer and key
//!   derivation, [`v2ray::V2rayFlow`] (a [`conn::QuicFlow`] under that layer).
//! * `record` — what is reported: [`QuicSummary`] per flow, [`QuicRecord`] per connection.
//! * `group` — finished flows grouped into connections by connection ID (migrations).
//! * `qtunnel` — which QUIC connection likely carries a local TCP service's connections.
//!
//! All of it is pure code over bytes: no I/O, no clock (time is passed in), no panics on
//! any input, and every buffer has a stated bound.

pub mod conn;
pub mod group;
pub mod header;
pub mod initial;
pub mod keys;
pub mod qtunnel;
pub mod record;
pub mod v2ray;
pub mod version;

pub use conn::QuicFlow;
pub use header::{detect_version, looks_like_quic};
pub use record::{QuicRecord, QuicSummary};
pub use version::Version;

#[cfg(test)]
mod tests;
