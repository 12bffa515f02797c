//! The pipeline, one way only: capture -> decode -> flows -> (assembly, analyzers) -> summary.
//!
//! [`Pipeline`] is the library's entry point for a whole run. It does no I/O of its own:
//! it is fed [`RawPacket`]s (from files, a pipe or a live interface) and, at the end,
//! produces a [`Summary`]. Time is the packets' time. The one exception: finished
//! connection and application records beyond a small budget wait for the report in an
//! anonymous temporary file (`report::spool`), so memory stays flat however many
//! connections a capture has.

mod budget;
mod tcp;
mod udp;

use crate::analyzers::quic::qtunnel::TcpStart;
use crate::anomaly::Anomalies;
use crate::assembly::{
    Assembler, AssemblerConfig, Chunk, CloseReason, ConnStatus, StreamStart, TcpConnRecord,
};
use crate::capture::{CaptureError, LinkType, PacketSource, RawPacket};
use crate::decode::defrag::{DefragConfig, Defragmenter};
use crate::decode::encap::{EncapChain, EncapLayer};
use crate::decode::{Decoded, Decoder};
use crate::flow::slots::FlowSlots;
use crate::flow::{Direction, Endpoint, Flow, FlowConfig, FlowId, FlowTable, L4, PacketFacts};
use crate::flow::{EncapContexts, EncapId};
use crate::report::spool::{self, Recent, RecordSpool};
use crate::report::throughput::ThroughputAccumulator;
use crate::report::{CaptureSummary, ConnectionRecord, FlowStats, Summary};
use crate::timestamp::Timestamp;
use tcp::TcpStage;
use udp::UdpStage;

/// Knobs of a run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Keep secrets seen on the wire (tunnel passwords) in the report.
    pub show_secrets: bool,
    /// Run the protocol analyzers (off for `tunscope streams`, which only reassembles).
    pub analyzers: bool,
    /// Reassemble TCP (off for `analyze --flows-only`: packets, protocols and flows are
    /// counted, no stream is rebuilt and no analyzer runs).
    pub reassembly: bool,
    pub flows: FlowConfig,
    pub assembler: AssemblerConfig,
    pub defrag: DefragConfig,
    /// Connection records kept for the report, with their application records; beyond
    /// this a connection is counted in `connections_omitted` only (its tunnel findings are
    /// still kept: the correlator needs them, and they are few).
    pub max_connection_records: usize,
    /// Keys for v2ray's QUIC AEAD layer, tried after the empty key (v2ray's default).
    pub v2ray_keys: Vec<String>,
    /// Measure throughput (off for `tunscope streams`, whose output has none: the
    /// summary's `throughput` then stays empty).
    pub throughput: bool,
    /// Width of the throughput time series' bins, in nanoseconds (packet time).
    pub throughput_bin_ns: i64,
    /// Records of each list (connections, each application protocol, connection
    /// throughput) kept in memory; later ones wait for the report in a temporary file
    /// (`report::spool`). 0 spools every record (tests use it to check the round trip).
    pub spool_after_records: usize,
    /// The memory budget in MiB the caps were brought within (`budget.rs`), for the
    /// report; `None` when no budget was applied.
    pub memory_mb: Option<u64>,
    /// Bytes of analyzer records kept in memory until the report (finished QUIC flows,
    /// tunnel correlation inputs); past it they are counted in `limits.dropped_for_memory`.
    pub record_memory: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            show_secrets: false,
            analyzers: true,
            reassembly: true,
            flows: FlowConfig::default(),
            assembler: AssemblerConfig::default(),
            defrag: DefragConfig::default(),
            max_connection_records: 100_000,
            v2ray_keys: Vec::new(),
            throughput: true,
            throughput_bin_ns: 1_000_000_000,
            spool_after_records: spool::DEFAULT_IN_MEMORY,
            memory_mb: None,
            record_memory: usize::MAX,
        }
    }
}

/// A TCP connection as stream observers see it.
#[derive(Clone, Copy, Debug)]
pub struct TcpConnMeta {
    pub id: FlowId,
    pub client: Endpoint,
    pub server: Endpoint,
    pub first_ts: Timestamp,
}

impl TcpConnMeta {
    /// (source, destination) of direction `dir`.
    pub fn endpoints(&self, dir: Direction) -> (Endpoint, Endpoint) {
        match dir {
            Direction::ClientToServer => (self.client, self.server),
            Direction::ServerToClient => (self.server, self.client),
        }
    }
}

/// Sees the reassembled TCP streams as the pipeline produces them, e.g. to hash or extract
/// them. Calls follow the assembler's callback order (`assembly` module docs); for each
/// connection, `on_connection_end` comes last.
pub trait StreamObserver {
    fn on_start(&mut self, conn: &TcpConnMeta, dir: Direction, start: StreamStart) {
        let _ = (conn, dir, start);
    }
    fn on_chunk(&mut self, conn: &TcpConnMeta, dir: Direction, chunk: &Chunk<'_>, ts: Timestamp);
    /// Asked once, when the observer is installed: `false` means `on_chunk` is never
    /// called (an observer that only needs starts and connection records).
    fn wants_chunks(&self) -> bool {
        true
    }
    fn on_connection_end(&mut self, conn: &TcpConnMeta, record: &TcpConnRecord) {
        let _ = (conn, record);
    }
}

/// Connection and application records a [`Snapshot`] can see (the latest ones).
pub const RECENT_RECORDS: usize = 256;

pub struct Pipeline {
    decoder: Decoder,
    down: Downstream,
}

/// Everything after decoding; kept apart from the decoder so a decoded packet (which may
/// borrow the decoder's defragmentation buffer) can be handed to it.
struct Downstream {
    opts: Options,
    assembler: Assembler,
    tcp: TcpStage,
    udp: UdpStage,
    table: FlowTable,
    ended: Vec<(Flow, CloseReason)>,
    anomalies: Anomalies,
    /// The latest connection records (for snapshots); older ones move on to `connections`.
    recent: Recent<ConnectionRecord>,
    connections: RecordSpool<ConnectionRecord>,
    /// Connection records made (at most `opts.max_connection_records`).
    listed: usize,
    connections_omitted: u64,
    tcp_flows: u64,
    udp_flows: u64,
    packets: u64,
    bytes: u64,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    /// Packets per link type, in order of first appearance (one or two types in practice,
    /// so a short list beats a map on the per-packet path).
    link_types: Vec<(LinkType, u64)>,
    throughput: ThroughputAccumulator,
    /// Encapsulation contexts of inner flows (see `flow::key`).
    encap_contexts: EncapContexts,
    /// The layers of each encapsulated flow's first packet, for its record.
    flow_encap: FlowSlots<Box<[EncapLayer]>>,
}

impl Pipeline {
    pub fn new(opts: Options) -> Self {
        let (opts_records, opts_record_memory) = (opts.max_connection_records, opts.record_memory);
        let mut tcp = TcpStage::new(opts.show_secrets, opts.analyzers, opts.spool_after_records);
        // Records kept across flows until the report: finished QUIC flows get half of
        // `record_memory`, the tunnel correlation inputs the other half, in three.
        tcp.ctx.set_caps(opts_records, opts_record_memory / 6);
        let mut udp = UdpStage::new(&crate::analyzers::api::UdpOptions {
            v2ray_keys: opts.v2ray_keys.clone(),
        });
        udp.ctx.set_caps(opts_records, opts_record_memory / 2);
        Pipeline {
            decoder: Decoder::new(Defragmenter::new(opts.defrag)),
            down: Downstream {
                throughput: ThroughputAccumulator::new(
                    opts.throughput_bin_ns,
                    opts.spool_after_records,
                ),
                assembler: Assembler::new(opts.assembler.clone()),
                tcp,
                recent: Recent::new(RECENT_RECORDS),
                connections: RecordSpool::new("connection records", opts.spool_after_records),
                listed: 0,
                table: FlowTable::new(opts.flows),
                udp,
                opts,
                ended: Vec::new(),
                anomalies: Anomalies::default(),
                connections_omitted: 0,
                tcp_flows: 0,
                udp_flows: 0,
                packets: 0,
                bytes: 0,
                first_ts: None,
                last_ts: None,
                link_types: Vec::new(),
                encap_contexts: EncapContexts::default(),
                flow_encap: FlowSlots::default(),
            },
        }
    }

    /// Hands every reassembled TCP stream to `observer` as well.
    pub fn with_observer(mut self, observer: Box<dyn StreamObserver>) -> Self {
        self.down.tcp.set_observer(observer);
        self
    }

    /// Processes one packet.
    pub fn process(&mut self, pkt: &RawPacket<'_>) {
        self.down.count(pkt);
        let (decoded, chain) = self.decoder.decode_layers(pkt);
        self.down.handle(decoded, chain, pkt);
    }

    /// A read-only view of the run so far, for rolling summaries (`tunscope live`).
    pub fn snapshot(&self) -> Snapshot<'_> {
        let d = &self.down;
        Snapshot {
            packets: d.packets,
            bytes: d.bytes,
            first_ts: d.first_ts,
            last_ts: d.last_ts,
            tcp_flows: d.tcp_flows,
            udp_flows: d.udp_flows,
            open_flows: d.table.live(),
            ended: &d.recent,
            ended_omitted: d.connections_omitted,
            udp: &d.udp.ctx,
            apps: &d.tcp.findings.apps,
            tunnel_controls: &d.tcp.ctx.controls,
            tunnel_conns: &d.tcp.ctx.tunnels,
            tunnel_visitors: &d.tcp.ctx.visitors,
            exposed_ports: d.tcp.ctx.exposed_ports(),
        }
    }

    /// Ends every flow and builds the summary.
    pub fn finish(mut self, source: CaptureSummaryInput) -> Summary {
        self.decoder.defrag.finish();
        self.down.finish(source, &self.decoder)
    }
}

impl Downstream {
    fn count(&mut self, pkt: &RawPacket<'_>) {
        self.packets += 1;
        self.bytes += pkt.data.len() as u64;
        self.first_ts = Some(self.first_ts.map_or(pkt.ts, |t| t.min(pkt.ts)));
        self.last_ts = Some(self.last_ts.map_or(pkt.ts, |t| t.max(pkt.ts)));
        match self.link_types.iter_mut().find(|(l, _)| *l == pkt.link) {
            Some((_, n)) => *n += 1,
            None => self.link_types.push((pkt.link, 1)),
        }
        if pkt.data.len() as u64 > u64::from(pkt.orig_len) {
            self.anomalies
                .record(pkt.index, "caplen_exceeds_wire_len", || {
                    format!(
                        "captured {} bytes of a {}-byte packet",
                        pkt.data.len(),
                        pkt.orig_len
                    )
                });
        }

        self.table.expire(pkt.ts, &mut self.ended);
        if let Some(ts) = self.table.take_time_outlier() {
            // The packet before this one.
            self.anomalies
                .record(pkt.index.saturating_sub(1), "timestamp_outlier", || {
                    format!("stamped {ts}, more than a day from the packets around it")
                });
        }
        self.flush_ended();
    }

    /// Counts the outer UDP flows of a tunnelled packet (each UDP encapsulation layer is a
    /// flow of its own, keyed in the context of the layers outside it, as Zeek's conn.log
    /// lists them; analyzers do not see them) and gives the inner packet's context.
    #[inline(never)]
    fn outer_flows(&mut self, chain: &EncapChain, pkt: &RawPacket<'_>) -> EncapId {
        let layers = chain.layers();
        for (i, layer) in layers.iter().enumerate() {
            let (Some(src), Some(dst), Some(sport), Some(dport)) =
                (layer.src, layer.dst, layer.sport, layer.dport)
            else {
                continue;
            };
            let outside = &layers[..i];
            let facts = PacketFacts {
                l4: L4::Udp,
                src: Endpoint::new(src, sport),
                dst: Endpoint::new(dst, dport),
                ts: pkt.ts,
                index: pkt.index,
                frame_len: pkt.data.len() as u32,
                ip_len: layer.outer_ip_len,
                payload_len: layer.outer_payload_len,
                tcp: None,
                encap: self.encap_contexts.intern(outside),
            };
            let placement = self.table.lookup(&facts, &mut self.ended);
            self.flush_ended();
            if placement.created {
                self.udp_flows += 1;
                if !outside.is_empty() {
                    self.flow_encap
                        .get_or_insert_with(placement.id, || Box::from(outside));
                }
            }
        }
        self.encap_contexts.intern(layers)
    }

    fn handle(&mut self, decoded: Decoded<'_>, chain: &EncapChain, pkt: &RawPacket<'_>) {
        let encap = if chain.is_empty() {
            EncapId::BARE
        } else {
            self.outer_flows(chain, pkt)
        };
        let mut udp_payload: &[u8] = &[];
        let mut tcp_segment = None;
        let facts = match decoded {
            Decoded::Tcp {
                ip,
                sport,
                dport,
                segment,
            } => {
                tcp_segment = Some(segment);
                PacketFacts {
                    l4: L4::Tcp,
                    src: Endpoint::new(ip.src, sport),
                    dst: Endpoint::new(ip.dst, dport),
                    ts: pkt.ts,
                    index: pkt.index,
                    frame_len: pkt.data.len() as u32,
                    ip_len: ip.ip_len,
                    payload_len: segment.wire_len(),
                    tcp: Some((segment.flags, segment.seq)),
                    encap,
                }
            }
            Decoded::Udp {
                ip,
                sport,
                dport,
                payload,
                missing,
            } => {
                udp_payload = payload;
                PacketFacts {
                    l4: L4::Udp,
                    src: Endpoint::new(ip.src, sport),
                    dst: Endpoint::new(ip.dst, dport),
                    ts: pkt.ts,
                    index: pkt.index,
                    frame_len: pkt.data.len() as u32,
                    ip_len: ip.ip_len,
                    payload_len: payload.len() as u32 + missing,
                    tcp: None,
                    encap,
                }
            }
            Decoded::Malformed { kind, detail } => {
                self.anomalies.record(pkt.index, kind, || detail);
                self.flush_ended();
                return;
            }
            Decoded::Other | Decoded::Fragment => {
                self.flush_ended();
                return;
            }
        };
        let placement = self.table.lookup(&facts, &mut self.ended);
        // Flows ended to make room (eviction, port reuse) are finished before this packet
        // is given to the new flow's analyzers.
        self.flush_ended();
        if placement.late_syn {
            // A retransmitted SYN of a connection already reported: not a new one.
            self.anomalies
                .record(pkt.index, "late_syn_retransmission", || {
                    format!(
                        "SYN {} -> {} repeats the ISN of a connection that has ended",
                        facts.src, facts.dst
                    )
                });
            return;
        }
        if placement.created && encap != EncapId::BARE {
            self.flow_encap
                .get_or_insert_with(placement.id, || Box::from(chain.layers()));
        }
        match facts.l4 {
            L4::Tcp => {
                if placement.created {
                    self.tcp_flows += 1;
                    if let Some(flow) = self.table.get(placement.id) {
                        self.tcp.open(TcpConnMeta {
                            id: flow.id,
                            client: flow.client,
                            server: flow.server,
                            first_ts: flow.first_ts,
                        });
                    }
                }
                if let Some(seg) = tcp_segment.filter(|_| self.opts.reassembly) {
                    let status = self.assembler.segment(
                        placement.id,
                        placement.dir,
                        &seg,
                        pkt.ts,
                        &mut self.tcp,
                    );
                    if let ConnStatus::Finished(_) = status {
                        self.table.mark_finished(placement.id);
                    }
                }
            }
            L4::Udp => {
                if placement.created {
                    self.udp_flows += 1;
                }
                if self.opts.analyzers {
                    self.udp
                        .on_datagram(placement.id, placement.dir, udp_payload, pkt.ts);
                }
            }
        }
        // Throughput, after the analyzers saw the packet (so its protocol is known).
        if !self.opts.throughput {
            return;
        }
        let protocol = match facts.l4 {
            L4::Tcp => self.tcp.protocol(placement.id).unwrap_or("tcp"),
            L4::Udp => self.udp.throughput_label(placement.id),
        };
        self.throughput.on_packet(
            placement.id,
            placement.dir,
            pkt.ts,
            u64::from(facts.payload_len),
            protocol,
        );
    }

    /// Hands ended flows to the report (called for every packet; flows rarely end).
    #[inline]
    fn flush_ended(&mut self) {
        if !self.ended.is_empty() {
            self.hand_over_ended();
        }
    }

    #[inline(never)]
    fn hand_over_ended(&mut self) {
        for (flow, reason) in self.ended.drain(..) {
            let peak = self.throughput.on_flow_end(flow.id);
            let listed = self.listed < self.opts.max_connection_records;
            let mut tcp = None;
            let mut findings = None;
            if flow.key.l4 == L4::Tcp {
                tcp = self
                    .assembler
                    .close(flow.id, reason, flow.last_ts, &mut self.tcp);
                let meta = self.tcp.conns.get(flow.id).map(|c| c.meta);
                if let (Some(meta), Some(obs), Some(record)) =
                    (meta, self.tcp.observer_mut(), tcp.as_ref())
                {
                    obs.on_connection_end(&meta, record);
                }
                let syn_ts = tcp.as_ref().and_then(|r| r.handshake.syn_ts);
                findings = self.tcp.finish(flow.id, syn_ts, listed);
            }
            if flow.key.l4 == L4::Udp {
                findings = Some(self.udp.finish(&flow));
            }
            let encap = if flow.key.encap == EncapId::BARE {
                None
            } else {
                self.flow_encap.remove(flow.id)
            };
            if listed {
                self.listed += 1;
                let mut record =
                    ConnectionRecord::from_flow(&flow, reason, tcp, findings.unwrap_or_default());
                if let Some(layers) = encap {
                    record.encap = layers.into_vec();
                }
                self.throughput.on_record(&record, peak);
                if let Some(old) = self.recent.push(record) {
                    self.connections.push(old.first_packet, old);
                }
            } else {
                self.connections_omitted += 1;
            }
        }
    }

    fn finish(mut self, source: CaptureSummaryInput, decoder: &Decoder) -> Summary {
        self.table.drain(&mut self.ended);
        self.flush_ended();
        for r in self.recent.drain() {
            self.connections.push(r.first_packet, r);
        }
        // By first packet (each packet starts at most one flow, so keys are unique); the
        // spool sorts its index, not the records.
        self.connections.sort_by_key();
        self.connections.finish_writing();
        let mut warnings = source.warnings;
        warnings.extend(self.connections.take_warnings());
        let mut limits = crate::limits::LimitsReport {
            memory_mb: self.opts.memory_mb,
            ..Default::default()
        };
        self.udp.ctx.count_limits(&mut limits);
        self.tcp.ctx.count_limits(&mut limits);
        let connections = &self.connections;
        let quic = self.udp.records(|| {
            connections
                .iter()
                .filter(|c| c.proto == L4::Tcp)
                .map(|c| TcpStart {
                    client: c.client,
                    server: c.server,
                    ts: c.first_ts,
                })
        });
        let tunnel = self.tcp.ctx.tunnel_report();
        let mut apps = self.tcp.take_tables();
        warnings.extend(apps.finish_writing());
        let throughput = self.throughput.finish(&mut warnings);
        let mut summary = Summary::new(
            CaptureSummary {
                files: source.files,
                packets: self.packets,
                bytes: self.bytes,
                first_ts: self.first_ts,
                last_ts: self.last_ts,
                duration_s: match (self.first_ts, self.last_ts) {
                    (Some(a), Some(b)) => b.nanos_since(a) as f64 / 1e9,
                    _ => 0.0,
                },
                link_types: self.link_types.into_iter().collect(),
                protocols: decoder.counts.clone(),
                defrag: decoder.defrag.stats.clone(),
                anomalies: self.anomalies,
                warnings,
                errors: source.errors,
                complete: source.complete,
            },
            FlowStats {
                tcp: self.tcp_flows,
                udp: self.udp_flows,
                evicted: self.table.evicted,
                peak_live: self.table.peak_live as u64,
            },
            self.connections,
            self.connections_omitted,
            quic,
            tunnel,
            apps,
        );
        summary.throughput = throughput;
        summary.limits = limits;
        summary
    }
}

/// What a rolling summary of a run in progress can see: counters, and the records of
/// what has ended so far. Cheap: counters are copied, records are borrowed, nothing is
/// computed or sorted. A record appears when its flow leaves the table (FIN/RST, idle
/// timeout in packet time, eviction). Slices only grow between calls (until `finish`), so
/// a caller can remember their lengths to find what is new; connection and application
/// records are the latest [`RECENT_RECORDS`] only (the others wait for the report in a
/// temporary file): remember [`Recent::total`] and ask [`Recent::since`]. Tunnel sessions
/// are paired with their visitors only in `finish`.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot<'a> {
    pub packets: u64,
    /// Captured bytes, link-layer headers included.
    pub bytes: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// TCP connections and UDP flows created so far.
    pub tcp_flows: u64,
    pub udp_flows: u64,
    /// Flows in the table now.
    pub open_flows: usize,
    /// Connections and flows that have ended, in the order they ended (capped at
    /// `Options::max_connection_records`; the rest are counted in `ended_omitted`): the
    /// latest ones, and how many there were.
    pub ended: &'a Recent<ConnectionRecord>,
    pub ended_omitted: u64,
    /// UDP flows' shared state: the QUIC flows that have ended
    /// (`UdpContext::quic_since`).
    pub udp: &'a crate::analyzers::udp::UdpContext,
    /// Application findings (TLS, HTTP, Redis, ...) of ended TCP connections that are
    /// listed (see `Options::max_connection_records`): the latest ones, and how many there
    /// were.
    pub apps: &'a Recent<crate::analyzers::app::AppSummary>,
    /// Tunnel control connections, tunnel connections and visitors that have ended.
    pub tunnel_controls: &'a [crate::analyzers::nat_tunnel::ControlInput],
    pub tunnel_conns: &'a [crate::analyzers::nat_tunnel::TunnelInput],
    pub tunnel_visitors: &'a [crate::analyzers::nat_tunnel::VisitorInput],
    /// Ports that tunnel control sessions have exposed so far (open sessions included):
    /// visitors connect to these.
    pub exposed_ports: &'a std::collections::BTreeSet<u16>,
}

/// What the capture side reports at the end of a run.
#[derive(Debug, Default)]
pub struct CaptureSummaryInput {
    pub files: Vec<crate::capture::FileInfo>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    /// False when some input could not be read to its end.
    pub complete: bool,
}

/// Runs a whole capture set through a pipeline. `on_progress` is called every few
/// thousand packets with the packets read so far.
pub fn run(
    source: &mut crate::capture::CaptureSet,
    mut pipeline: Pipeline,
    mut on_progress: impl FnMut(&crate::capture::CaptureSet, u64),
) -> Summary {
    let mut errors: Vec<CaptureError> = Vec::new();
    let mut n: u64 = 0;
    loop {
        match source.next_packet() {
            Ok(Some(pkt)) => {
                pipeline.process(&pkt);
                n += 1;
                if n.is_multiple_of(8192) {
                    on_progress(source, n);
                }
            }
            Ok(None) => break,
            // The failing file is closed; the set goes on with the next one.
            Err(e) => errors.push(e),
        }
    }
    on_progress(source, n);
    let complete = errors.is_empty();
    pipeline.finish(CaptureSummaryInput {
        files: source.files.clone(),
        warnings: source.warnings.clone(),
        errors: errors.iter().map(|e| e.to_string()).collect(),
        complete,
    })
}
