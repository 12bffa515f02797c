//! Protocol analyzers: one folder per protocol, each with pure parsers over `&[u8]` and a
//! per-flow state that the pipeline feeds.
//!
//! * [`api`]: what every protocol implements (stream callbacks, detection, parse
//!   results, hand-offs, its registration and record traits); see there for the call
//!   order.
//! * [`registry`]: the list of TCP protocols in probe order and of report tables; the
//!   only place that names every protocol.
//! * [`app`]: [`app::AppSession`], which drives one TCP connection through detection and
//!   a chain of registered analyzers.
//! * [`detect`]: the one detection buffer, the first bytes of a TCP connection.
//! * [`tcp`]: what one TCP connection carries (the NAT tunnel probe first, then an
//!   [`app::AppSession`]), decided and followed for the pipeline.
//! * [`udp`]: the UDP classifier and per-flow state (QUIC, v2ray, WireGuard).
//! * one folder per protocol.

pub mod api;
pub mod app;
pub mod detect;
#[allow(missing_docs)] // see lib.rs
pub mod encrypted;
pub mod fingerprints;
#[allow(missing_docs)] // see lib.rs
pub mod http;
#[allow(missing_docs)] // see lib.rs
pub mod nat_tunnel;
#[allow(missing_docs)] // see lib.rs
pub mod openvpn;
#[allow(missing_docs)] // see lib.rs
pub mod quic;
#[allow(missing_docs)] // see lib.rs
pub mod redis;
pub mod registry;
#[allow(missing_docs)] // see lib.rs
pub mod socks;
#[allow(missing_docs)] // see lib.rs
pub mod ssh;
pub mod tcp;
#[allow(missing_docs)] // see lib.rs
pub mod tls;
pub mod udp;
#[allow(missing_docs)] // see lib.rs
pub mod wireguard;

pub use api::{Detection, Parsed, StreamAnalyzer};
