//! The report model: one serde-serialisable [`Summary`] that every renderer (terminal
//! text, JSON) draws from. Field names are stable snake_case and documented in
//! `docs/output.md`.

pub mod csv;
pub mod html;
pub mod jsonl;
pub mod latency;
pub mod text;
pub mod throughput;

use crate::analyzers::app::{AppRecords, AppSummary};
use crate::analyzers::encrypted::{EncryptedRecord, OpenVpnRecord};
use crate::analyzers::http::{DisguiseRecord, HttpRecord};
use crate::analyzers::quic::QuicSummary;
use crate::analyzers::quic::qtunnel::Carried;
use crate::analyzers::redis::RedisRecord;
use crate::analyzers::socks::SocksRecord;
use crate::analyzers::ssh::SshRecord;
use crate::analyzers::tlsstream::TlsRecord;
use crate::analyzers::tunnel::TunnelReport;
use crate::anomaly::Anomalies;
use crate::assembly::TcpConnRecord;
use crate::capture::{FileInfo, LinkType};
use crate::decode::ProtocolCounts;
use crate::decode::defrag::DefragStats;
use crate::flow::{EndReason, Endpoint, Flow, L4, RoleRule};
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// The JSON document's schema version; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub tunscope: ToolInfo,
    pub capture: CaptureSummary,
    pub flows: FlowStats,
    /// Every connection (TCP) and flow (UDP), in order of their first packet.
    pub connections: Vec<ConnectionRecord>,
    /// Connections beyond the record limit, counted but not listed.
    pub connections_omitted: u64,
    pub quic: QuicReport,
    /// The NAT tunnel: sessions, tunnel connections and the visitors they carried.
    pub tunnel: TunnelReport,
    /// Latency distributions per category and server (computed from the records).
    pub latency: latency::LatencyReport,
    /// Payload bytes over time per protocol and direction, per connection, top talkers.
    pub throughput: throughput::ThroughputReport,
    /// Application records (`tls`, `http`, `socks`, `redis`, `ssh`, `encrypted`, ...).
    #[serde(flatten)]
    pub apps: AppTables,
}

/// Application records by protocol, one per connection and protocol layer (a SOCKS
/// connection carrying TLS has a `socks` and a `tls` record).
#[derive(Clone, Debug, Default, Serialize)]
pub struct AppTables {
    pub tls: Vec<TlsRecord>,
    pub http: Vec<HttpRecord>,
    pub http_disguise: Vec<DisguiseRecord>,
    pub socks: Vec<SocksRecord>,
    pub redis: Vec<RedisRecord>,
    pub ssh: Vec<SshRecord>,
    pub openvpn: Vec<OpenVpnRecord>,
    pub encrypted: Vec<EncryptedRecord>,
}

impl AppTables {
    pub fn from_summaries(summaries: Vec<AppSummary>) -> Self {
        let mut t = AppTables::default();
        for s in summaries {
            for layer in s.layers {
                match layer {
                    AppRecords::Tls(r) => t.tls.push(r),
                    AppRecords::Http(r) => t.http.push(r),
                    AppRecords::HttpDisguise(r) => t.http_disguise.push(r),
                    AppRecords::Socks(r) => t.socks.push(r),
                    AppRecords::Redis(r) => t.redis.push(r),
                    AppRecords::Ssh(r) => t.ssh.push(r),
                    AppRecords::Openvpn(r) => t.openvpn.push(r),
                    AppRecords::Encrypted(r) => t.encrypted.push(r),
                    AppRecords::Unknown(_) => {}
                }
            }
        }
        t
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct QuicReport {
    /// One per UDP flow recognised as QUIC, in order of first packet.
    pub connections: Vec<QuicRecord>,
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

impl Summary {
    pub fn new(
        capture: CaptureSummary,
        flows: FlowStats,
        connections: Vec<ConnectionRecord>,
        connections_omitted: u64,
        quic: Vec<QuicRecord>,
        tunnel: TunnelReport,
        apps: AppTables,
    ) -> Self {
        let mut s = Summary {
            tunscope: ToolInfo {
                version: env!("CARGO_PKG_VERSION"),
                schema: SCHEMA_VERSION,
            },
            capture,
            flows,
            connections,
            connections_omitted,
            quic: QuicReport { connections: quic },
            tunnel,
            latency: latency::LatencyReport::default(),
            throughput: throughput::ThroughputReport::default(),
            apps,
        };
        s.latency = latency::compute(&s);
        s
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ToolInfo {
    pub version: &'static str,
    pub schema: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct CaptureSummary {
    pub files: Vec<FileInfo>,
    pub packets: u64,
    /// Captured bytes, link-layer headers included.
    pub bytes: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub duration_s: f64,
    /// Packets per link type (tcpdump's names: `EN10MB`, `LINUX_SLL2`, ...).
    pub link_types: BTreeMap<LinkType, u64>,
    pub protocols: ProtocolCounts,
    pub defrag: DefragStats,
    pub anomalies: Anomalies,
    pub warnings: Vec<String>,
    /// Capture errors (a file that could not be read to its end), one line each.
    pub errors: Vec<String>,
    /// False when some input could not be read to its end: the report is partial.
    pub complete: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct FlowStats {
    pub tcp: u64,
    pub udp: u64,
    pub evicted: u64,
    pub peak_live: u64,
}

/// One connection or UDP flow.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionRecord {
    pub proto: L4,
    pub client: Endpoint,
    pub server: Endpoint,
    /// Which rule decided who is the client.
    pub role_rule: RoleRule,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub duration_s: f64,
    pub packets_c2s: u64,
    pub packets_s2c: u64,
    /// Captured frame bytes each way.
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    /// Sum of IP total lengths each way (Zeek's `orig_ip_bytes` / `resp_ip_bytes`).
    pub ip_bytes_c2s: u64,
    pub ip_bytes_s2c: u64,
    /// Transport payload bytes each way, retransmissions included.
    pub payload_bytes_c2s: u64,
    pub payload_bytes_s2c: u64,
    /// Why the flow left the table.
    pub end: EndReason,
    /// 0-based index of the flow's first packet in the capture.
    pub first_packet: u64,
    /// The application protocol found by content (`unknown` when none): the innermost
    /// of `app_chain`.
    pub app: String,
    /// Protocols outermost first, e.g. `["socks5", "tls"]`, `["tunnel-data", "http"]`.
    pub app_chain: Vec<&'static str>,
    /// TCP only: what the assembler saw (handshake, history, per-direction streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpConnRecord>,
}

impl ConnectionRecord {
    pub fn from_flow(
        f: &Flow,
        end: EndReason,
        tcp: Option<TcpConnRecord>,
        findings: Option<crate::pipeline::ConnFindings>,
    ) -> Self {
        let (app, app_chain) = findings.map_or_else(
            || ("unknown".to_string(), Vec::new()),
            |x| (x.app, x.app_chain),
        );
        let [c2s, s2c] = f.dirs;
        ConnectionRecord {
            proto: f.key.l4,
            client: f.client,
            server: f.server,
            role_rule: f.role_rule,
            first_ts: f.first_ts,
            last_ts: f.last_ts,
            duration_s: f.last_ts.nanos_since(f.first_ts) as f64 / 1e9,
            packets_c2s: c2s.packets,
            packets_s2c: s2c.packets,
            bytes_c2s: c2s.bytes,
            bytes_s2c: s2c.bytes,
            ip_bytes_c2s: c2s.ip_bytes,
            ip_bytes_s2c: s2c.ip_bytes,
            payload_bytes_c2s: c2s.payload_bytes,
            payload_bytes_s2c: s2c.payload_bytes,
            end,
            first_packet: f.first_packet,
            app,
            app_chain,
            tcp,
        }
    }

    pub fn packets(&self) -> u64 {
        self.packets_c2s + self.packets_s2c
    }

    pub fn bytes(&self) -> u64 {
        self.bytes_c2s + self.bytes_s2c
    }
}
