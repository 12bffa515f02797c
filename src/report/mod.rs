//! The report model: one serde-serialisable [`Summary`] that every renderer (terminal
//! text, JSON) draws from. Field names are stable snake_case and documented in
//! `docs/output.md`.
//!
//! The lists that grow with the number of connections (`connections`, the application
//! tables, `throughput.connections`) are [`spool::RecordSpool`]s: beyond a small budget
//! their records wait in a temporary file, and serialising the summary streams them from
//! there in order. Read them with `iter()`.

pub mod csv;
pub mod escape;
pub mod html;
pub mod jsonl;
pub mod latency;
pub mod pretty;
pub mod spool;
pub mod text;
pub mod throughput;

pub use crate::analyzers::api::AppChain;
use crate::analyzers::api::AppRecord;
use crate::analyzers::app::AppSummary;
use crate::analyzers::nat_tunnel::TunnelReport;
pub use crate::analyzers::quic::QuicRecord;
use crate::analyzers::registry::{AppRecords, app_tables};
use crate::anomaly::Anomalies;
use crate::assembly::TcpConnRecord;
use crate::capture::{FileInfo, LinkType};
use crate::decode::ProtocolCounts;
use crate::decode::defrag::DefragStats;
use crate::decode::encap::EncapLayer;
use crate::flow::{CloseReason, Endpoint, Flow, L4, RoleRule};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use spool::RecordSpool;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The JSON document's schema version; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Summary {
    pub tunscope: ToolInfo,
    pub capture: CaptureSummary,
    pub flows: FlowStats,
    /// Every connection (TCP) and flow (UDP), in order of their first packet.
    pub connections: RecordSpool<ConnectionRecord>,
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
    /// What the run's bounds refused, by kind (`crate::limits`).
    pub limits: crate::limits::LimitsReport,
}

macro_rules! define_app_tables {
    ($($variant:ident $table:ident: $ty:ty,)*) => {
        /// Application records by protocol, one per connection and protocol layer (a
        /// SOCKS connection carrying TLS has a `socks` and a `tls` record), in the order
        /// their connections ended. One field per table of the registry
        /// (`crate::analyzers::registry`), named as the table.
        #[derive(Debug, Serialize)]
        pub struct AppTables {
            $(pub $table: RecordSpool<$ty>,)*
        }

        /// One table of [`AppTables`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum AppTable {
            $(
                #[doc = concat!("The `", stringify!($table), "` table.")]
                $variant,
            )*
        }

        impl AppTable {
            /// Every table, in report order.
            pub const ALL: &'static [AppTable] = &[$(AppTable::$variant,)*];

            /// The table's name: its JSON key, JSONL `type` and CSV file stem.
            pub fn name(self) -> &'static str {
                match self {
                    $(AppTable::$variant => stringify!($table),)*
                }
            }
        }

        impl AppTables {
            /// Empty tables, each keeping its first `in_memory` records in memory.
            pub fn new(in_memory: usize) -> Self {
                AppTables {
                    $($table: RecordSpool::new(concat!(stringify!($table), " records"), in_memory),)*
                }
            }

            /// Files one connection's application layers, each under its protocol.
            pub fn push(&mut self, summary: AppSummary) {
                fn add<T: Serialize>(s: &mut RecordSpool<T>, r: T) {
                    s.push(s.len() as u64, r);
                }
                for layer in summary.layers {
                    match layer {
                        $(AppRecords::$variant(r) => add(&mut self.$table, r),)*
                        AppRecords::Unknown(_) => {}
                    }
                }
            }

            /// Writes what each table buffered (see [`RecordSpool::finish_writing`]);
            /// returns the tables' warnings.
            pub fn finish_writing(&mut self) -> Vec<String> {
                let mut w = Vec::new();
                $(
                    self.$table.finish_writing();
                    w.extend(self.$table.take_warnings());
                )*
                w
            }

            /// The first read error of any table (see [`RecordSpool::read_error`]).
            pub fn read_error(&self) -> Option<&str> {
                None$(.or(self.$table.read_error()))*
            }

            /// Shows every table to `v`, in report order.
            pub fn visit_all<'a>(&'a self, v: &mut impl TableVisitor<'a>) {
                $(v.visit(AppTable::$variant, &self.$table);)*
            }

            /// Shows table `t` to `v`.
            pub fn visit<'a>(&'a self, t: AppTable, v: &mut impl TableVisitor<'a>) {
                match t {
                    $(AppTable::$variant => v.visit(t, &self.$table),)*
                }
            }
        }
    };
}
app_tables!(define_app_tables);

/// Code that works on any application table, whatever its record type: the renderers'
/// per-table lists are made with one of these rather than a line per protocol.
pub trait TableVisitor<'a> {
    fn visit<T: AppRecord + 'a>(&mut self, table: AppTable, records: &'a RecordSpool<T>);
}

impl Default for AppTables {
    fn default() -> Self {
        AppTables::new(spool::DEFAULT_IN_MEMORY)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct QuicReport {
    /// One per UDP flow recognised as QUIC, in order of first packet.
    pub connections: Vec<QuicRecord>,
}

impl Summary {
    pub fn new(
        capture: CaptureSummary,
        flows: FlowStats,
        connections: RecordSpool<ConnectionRecord>,
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
            limits: crate::limits::LimitsReport::default(),
        };
        s.latency = latency::compute(&s);
        s
    }

    /// Errors met reading records back from the spools' temporary files (by the
    /// renderers or the computations over the records), one line each.
    pub fn read_errors(&self) -> Vec<String> {
        [
            self.connections.read_error(),
            self.throughput.connections.read_error(),
            self.apps.read_error(),
        ]
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect()
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

/// One connection or UDP flow. `Serialize` is written out (below) only so that `tcp` is
/// left out of JSON when absent yet always written in the spool's positional format.
#[derive(Clone, Debug, PartialEq, Deserialize)]
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
    pub end: CloseReason,
    /// 0-based index of the flow's first packet in the capture.
    pub first_packet: u64,
    /// Protocols found by content, outermost first; JSON also has `app`, the innermost
    /// (`unknown` when the chain is empty).
    pub app_chain: AppChain,
    /// TCP only: what the assembler saw (handshake, history, per-direction streams). Not
    /// in JSON when absent.
    #[serde(default)]
    pub tcp: Option<TcpConnRecord>,
    /// The encapsulation layers of the flow's first packet, outermost first (kind, outer
    /// endpoints, key/VNI/TEID/label/session). Not in JSON when the flow was bare.
    #[serde(default)]
    pub encap: Vec<EncapLayer>,
}

impl Serialize for ConnectionRecord {
    /// The derived form, except that `tcp` is skipped when `None` in human-readable
    /// formats only: the spool's format (postcard) is positional, and a skipped field
    /// would shift every later byte.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        // Every field by name: a field added to the struct but not here fails to compile.
        let ConnectionRecord {
            proto,
            client,
            server,
            role_rule,
            first_ts,
            last_ts,
            duration_s,
            packets_c2s,
            packets_s2c,
            bytes_c2s,
            bytes_s2c,
            ip_bytes_c2s,
            ip_bytes_s2c,
            payload_bytes_c2s,
            payload_bytes_s2c,
            end,
            first_packet,
            app_chain,
            tcp,
            encap,
        } = self;
        let readable = s.is_human_readable();
        let skip_tcp = tcp.is_none() && readable;
        let skip_encap = encap.is_empty() && readable;
        let fields = 21 - usize::from(skip_tcp) - usize::from(skip_encap);
        let mut st = s.serialize_struct("ConnectionRecord", fields)?;
        st.serialize_field("proto", proto)?;
        st.serialize_field("client", client)?;
        st.serialize_field("server", server)?;
        st.serialize_field("role_rule", role_rule)?;
        st.serialize_field("first_ts", first_ts)?;
        st.serialize_field("last_ts", last_ts)?;
        st.serialize_field("duration_s", duration_s)?;
        st.serialize_field("packets_c2s", packets_c2s)?;
        st.serialize_field("packets_s2c", packets_s2c)?;
        st.serialize_field("bytes_c2s", bytes_c2s)?;
        st.serialize_field("bytes_s2c", bytes_s2c)?;
        st.serialize_field("ip_bytes_c2s", ip_bytes_c2s)?;
        st.serialize_field("ip_bytes_s2c", ip_bytes_s2c)?;
        st.serialize_field("payload_bytes_c2s", payload_bytes_c2s)?;
        st.serialize_field("payload_bytes_s2c", payload_bytes_s2c)?;
        st.serialize_field("end", end)?;
        st.serialize_field("first_packet", first_packet)?;
        // `app` is derived from the chain: written for readers, not stored in the spool.
        if readable {
            st.serialize_field("app", app_chain.label())?;
        } else {
            st.skip_field("app")?;
        }
        st.serialize_field("app_chain", app_chain)?;
        if skip_tcp {
            st.skip_field("tcp")?;
        } else {
            st.serialize_field("tcp", tcp)?;
        }
        if skip_encap {
            st.skip_field("encap")?;
        } else {
            st.serialize_field("encap", encap)?;
        }
        st.end()
    }
}

impl ConnectionRecord {
    pub fn from_flow(
        f: &Flow,
        end: CloseReason,
        tcp: Option<TcpConnRecord>,
        app_chain: AppChain,
    ) -> Self {
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
            app_chain,
            tcp,
            encap: Vec::new(),
        }
    }

    pub fn packets(&self) -> u64 {
        self.packets_c2s + self.packets_s2c
    }

    pub fn bytes(&self) -> u64 {
        self.bytes_c2s + self.bytes_s2c
    }
}

/// The first `n` of `items` in the order `cmp` defines, as a stable sort of them all
/// would give (items comparing equal keep their order), keeping at most `n` at a time.
pub fn top_n<T>(
    items: impl IntoIterator<Item = T>,
    n: usize,
    cmp: impl Fn(&T, &T) -> Ordering,
) -> Vec<T> {
    let mut best: Vec<T> = Vec::with_capacity(n.min(1024) + 1);
    if n == 0 {
        return best;
    }
    for item in items {
        if best.len() == n
            && best
                .last()
                .is_some_and(|worst| cmp(&item, worst) != Ordering::Less)
        {
            continue;
        }
        // After every kept item that does not come after it: stable.
        let at = best.partition_point(|x| cmp(x, &item) != Ordering::Greater);
        best.insert(at, item);
        best.truncate(n);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_is_the_head_of_a_stable_sort() {
        let items: Vec<(u8, usize)> = (0..200).map(|i| ((i * 37 % 11) as u8, i)).collect();
        let cmp = |a: &(u8, usize), b: &(u8, usize)| b.0.cmp(&a.0);
        for n in [0, 1, 5, 19, 200, 500] {
            let mut sorted = items.clone();
            sorted.sort_by(cmp);
            sorted.truncate(n);
            assert_eq!(top_n(items.iter().copied(), n, cmp), sorted, "n = {n}");
        }
    }
}
