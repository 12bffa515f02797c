//! What QUIC analysis reports: one flow's summary ([`QuicSummary`], with its v2ray
//! findings) and one connection's record ([`QuicRecord`], flows grouped by connection ID).
//! Plain data: this module imports no QUIC logic, so the flow, the v2ray layer and the
//! grouping all read it without importing each other.

use super::qtunnel::Carried;
use crate::analyzers::tls::ClientHello;
use crate::flow::{Direction, Endpoint};
use crate::timestamp::Timestamp;
use serde::Serialize;

/// One 4-tuple a connection used (listed when it used more than one).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuicPath {
    pub client: crate::flow::Endpoint,
    pub server: crate::flow::Endpoint,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub packets_c2s: u64,
    pub packets_s2c: u64,
}

/// One kind of anomaly: a fixed reason, how often, and when first seen.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnomalyCount {
    pub reason: &'static str,
    pub count: u64,
    pub first_ts: Timestamp,
}

/// Report of one QUIC flow. CIDs are lower-case hex (`""` for a zero-length CID, `null` when
/// never seen).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuicSummary {
    /// `"1"`, `"2"`, `"draft-29"`, `"T051"`, or hex such as `"0x0a0a0a0a"`.
    pub version: Option<String>,
    pub client_dcid: Option<String>,
    pub client_scid: Option<String>,
    pub server_scid: Option<String>,
    /// DCID of the client's first Initial after a Retry (the CID the Retry asked for).
    pub retry_dcid: Option<String>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub ja4: Option<String>,
    /// First client Initial to first client 1-RTT (short-header) packet.
    pub handshake_ms: Option<f64>,
    /// First client Initial to first server Handshake packet.
    pub server_handshake_ms: Option<f64>,
    pub packets_c2s: u64,
    pub packets_s2c: u64,
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    pub zero_rtt: bool,
    pub retry: bool,
    /// Whether the Retry integrity tag verified (`null` when no Retry or no key known).
    pub retry_tag_valid: Option<bool>,
    pub version_negotiation: bool,
    /// Versions offered in the Version Negotiation packet.
    pub vn_versions: Vec<String>,
    /// TLS version chosen by the server (e.g. `0x0304`), from its ServerHello.
    pub tls_version: Option<String>,
    /// Cipher suite chosen by the server, from its ServerHello.
    pub tls_cipher: Option<String>,
    /// Error code of the first CONNECTION_CLOSE seen in an Initial, with its direction.
    pub connection_close: Option<(Direction, u64)>,
    pub client_hello: Option<ClientHello>,
    pub anomalies: u64,
    pub anomaly_reasons: Vec<AnomalyCount>,
    /// Times the client's address or port changed within the connection (flows grouped by
    /// connection ID).
    pub migrations: u64,
    /// Every 4-tuple of the connection in time order, when there was more than one.
    pub paths: Vec<QuicPath>,
    /// v2ray packet-header disguise stripped from each datagram (`srtp`, `utp`,
    /// `wechat-video`, `dtls`, `wireguard`), `null` when none.
    pub disguise: Option<&'static str>,
    /// v2ray security layer: `none`, `aes-128-gcm`, `chacha20-poly1305`; `null` for QUIC
    /// on the wire as is (or an AEAD layer that did not open).
    pub security: Option<&'static str>,
    /// v2ray transport findings, with the evidence; `null` for plain QUIC.
    pub v2ray: Option<V2rayFindings>,
    /// v2ray default-configuration fingerprints this connection shows.
    pub v2ray_fingerprints: Vec<&'static str>,
}

/// Serialized under `v2ray` on a QUIC record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct V2rayFindings {
    /// `"v2ray QUIC transport"` (the QUIC inside was read) or `"possible encrypted
    /// tunnel"` (a disguise header fits every datagram but nothing under it opened).
    pub verdict: &'static str,
    /// Bytes of packet header stripped from each datagram.
    pub header_size: usize,
    /// Which key opened the AEAD: `"empty"` (v2ray's default) or `"given"` (`--v2ray-key`);
    /// `null` without AEAD or when nothing opened.
    pub key: Option<&'static str>,
    /// Datagrams unwrapped into QUIC, and those that did not open (dropped by v2ray too).
    pub datagrams_unwrapped: u64,
    pub datagrams_not_unwrapped: u64,
    /// Bytes of the QUIC datagrams inside, each way.
    pub quic_bytes_c2s: u64,
    pub quic_bytes_s2c: u64,
    pub evidence: Vec<String>,
}

/// One QUIC connection (flows grouped by connection ID): its endpoints (of its first
/// flow) and what its packets revealed.
#[derive(Clone, Debug, Serialize)]
pub struct QuicRecord {
    pub client: Endpoint,
    pub server: Endpoint,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub duration_s: f64,
    /// The local TCP service whose connections this QUIC connection likely carries
    /// (QTunnel-style front end or back end), `null` when none.
    pub carries: Option<Carried>,
    #[serde(flatten)]
    pub summary: QuicSummary,
}
