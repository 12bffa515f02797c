//! What every protocol folder implements, and all it may import from the analyzer layer:
//! the stream callbacks, detection answers, parse results, the hand-off to an inner
//! protocol, and the two traits a TCP protocol's registration is made of. This module
//! imports no protocol and no registry type; the registry (`super::registry`) imports the
//! protocols and wraps them.
//!
//! # The stream interface
//!
//! A TCP analyzer sees one connection's reassembled byte streams through
//! [`StreamAnalyzer`]. The pipeline calls, in packet-time order across both directions:
//! `on_data` for contiguous bytes (never empty), `on_gap` where the assembler could not
//! deliver bytes (capture loss, limits, snap length: the analyzer must resynchronise or
//! give up on that direction, never assume the bytes were zero), and `on_end` once per
//! direction when that direction is finished (FIN, RST, timeout or end of capture). No
//! call follows `on_end` for that direction.
//!
//! Detection is by content (ports may order the probes, never replace them): a
//! [`Detection`] tells whether the first bytes of a stream belong to a protocol.

use crate::flow::Direction;
use crate::timestamp::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The outcome of probing the first bytes of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detection {
    /// The bytes are this protocol, with the roles as the flow table assigned them.
    Match,
    /// The bytes are this protocol, but client and server are the other way round
    /// (e.g. a server banner seen first on a connection picked up mid-stream).
    MatchReversed,
    /// Not enough bytes to decide yet.
    NeedMore,
    /// Not this protocol.
    NotMine,
}

/// The result of every pure parser over the bytes at hand (Suricata's convention): a
/// value and how many input bytes it used, a need for more bytes, or why the bytes are
/// not this value (`E`: the protocol's error type, a fixed reason by default). Parsers
/// never consume input on `Incomplete` or `Invalid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<T, E = &'static str> {
    /// A value, and the bytes of input it used.
    Done(T, usize),
    /// The input ends before the value does: at least `needed` more bytes are required
    /// (1 when the parser cannot tell more).
    Incomplete {
        /// Bytes past the end of the input needed, at least.
        needed: usize,
    },
    /// The input is not this value, for the reason given.
    Invalid(E),
}

/// What a TCP analyzer is fed for one connection. See the module docs for call order.
pub trait StreamAnalyzer {
    /// Contiguous stream bytes in direction `dir`, seen at `ts` (the time of the packet
    /// that completed them).
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp);
    /// `len` bytes of direction `dir` that will never be delivered.
    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp);
    /// Direction `dir` is finished.
    fn on_end(&mut self, dir: Direction, ts: Timestamp) {
        let _ = (dir, ts);
    }
}

/// Bytes per direction an outer analyzer may hold for its inner one.
pub const MAX_HANDOFF_BYTES: usize = 64 * 1024;

/// Bytes an outer analyzer received past its own protocol, per direction
/// (index = [`Direction::index`]), with the time they arrived.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handoff {
    /// The bytes of each direction.
    pub pending: [Vec<u8>; 2],
    /// When each direction's bytes arrived.
    pub ts: [Timestamp; 2],
}

/// A TCP protocol's per-connection analyzer: the stream callbacks plus a name, its
/// records and the hand-off to an inner protocol.
pub trait AppAnalyzer: StreamAnalyzer {
    /// What [`AppAnalyzer::summarize`] returns: the protocol's own record type (or its own
    /// enum of them); the registry files it into the report's tables.
    type Record;
    /// Short protocol name for `app_chain` (`tls`, `socks5`, `http`, ...).
    fn name(&self) -> &'static str;
    /// The records so far (callable at any time, also mid-stream).
    fn summarize(&self) -> Self::Record;
    /// Once, when the rest of the stream belongs to another protocol: the bytes already
    /// received past this protocol. After `Some`, the analyzer is fed nothing more.
    fn take_handoff(&mut self) -> Option<Handoff> {
        None
    }
}

/// A TCP protocol's registration: one static value in its folder, named `PROTOCOL`.
/// The registry lists these in probe order; nothing else outside the folder names the
/// protocol.
pub struct TcpProtocol<A> {
    /// The protocol's name (its `app_chain` entry unless the analyzer says otherwise).
    pub name: &'static str,
    /// Probes the first bytes of both directions (either may be empty).
    pub detect: fn(c2s: &[u8], s2c: &[u8]) -> Detection,
    /// A fresh analyzer for one connection.
    pub start: fn() -> A,
}

/// Latency values a record contributes, by category (`tls_handshake`, `http`, ...):
/// called as `add(category, server, value)`, `None` where the record has no value.
pub type LatencySink<'a> = dyn FnMut(&'static str, &str, Option<f64>) + 'a;

/// What a live rolling summary learns from a record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LiveNote<'a> {
    /// A name worth announcing once (a TLS SNI), with its kind (`tls`).
    Name(&'static str, &'a str),
    /// A request answered after this many milliseconds.
    ResponseMs(f64),
}

/// A record type of one report table (`tls`, `http`, ...): how the report names, counts,
/// prints and measures it. Implemented in the protocol's folder; the registry lists the
/// tables, and every per-table list of the report (JSONL types, CSV files, HTML tables,
/// text sections, latency categories, live notes) is generated from that list.
pub trait AppRecord: Serialize + DeserializeOwned + Clone {
    /// The text report's section title (`TLS`, `HTTP`, ...).
    const TITLE: &'static str;
    /// The field holding one row per exchange (`transactions`, `commands`), which the
    /// flat views (JSONL, CSV, HTML) emit one line each with the record's endpoints;
    /// `None`: one line per record.
    const ROWS: Option<&'static str> = None;
    /// What the text section counts (`requests`, `commands`) when [`AppRecord::ROWS`]
    /// is set.
    const ROW_NOUN: &'static str = "rows";
    /// Said after the connection count in the text section's heading.
    const HEADING_NOTE: &'static str = "";
    /// `report.html` columns (header, dotted field of the flat record); empty: no table.
    const HTML_COLUMNS: &'static [(&'static str, &'static str)] = &[];

    /// The record's `client` and `server` (`ip:port`) fields, which the analyzer leaves
    /// for the registry to fill.
    fn endpoints_mut(&mut self) -> (&mut String, &mut String);
    /// Fills the connection endpoints, which the analyzer does not know.
    fn set_endpoints(&mut self, client: &str, server: &str) {
        let (c, s) = self.endpoints_mut();
        client.clone_into(c);
        server.clone_into(s);
    }
    /// Rows in this record (1 unless [`AppRecord::ROWS`] is set).
    fn row_count(&self) -> usize {
        1
    }
    /// The text report's one line for this record (without indent), for a record type
    /// without rows.
    fn text_line(&self) -> Option<String> {
        None
    }
    /// The text report's lines for this record (without indent), at most `limit`: its
    /// [`AppRecord::text_line`] unless the type shows one line per row.
    fn text_lines(&self, limit: usize, out: &mut dyn FnMut(String)) {
        if limit > 0
            && let Some(line) = self.text_line()
        {
            out(line);
        }
    }
    /// The latency values of this record.
    fn latency(&self, add: &mut LatencySink<'_>) {
        let _ = add;
    }
    /// What a live rolling summary learns from this record.
    fn live_notes(&self, note: &mut dyn FnMut(LiveNote<'_>)) {
        let _ = note;
    }
}

/// `v` as text, `-` when absent: how the text report prints a missing value.
pub fn or_dash<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), |x| x.to_string())
}

/// The protocols of a connection, outermost first (`["socks5", "tls"]`,
/// `["tunnel-data", "http"]`); the innermost is the connection's application. Empty when
/// nothing was recognised; a layer whose bytes no analyzer claimed is `unknown`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppChain(pub Vec<Cow<'static, str>>);

impl AppChain {
    /// A chain of one protocol.
    pub fn one(name: &'static str) -> Self {
        AppChain(vec![Cow::Borrowed(name)])
    }

    /// The innermost protocol, `None` when nothing was recognised.
    pub fn app(&self) -> Option<&str> {
        self.0.last().map(|a| a.as_ref())
    }

    /// The innermost protocol as reports print it: `unknown` when none.
    pub fn label(&self) -> &str {
        self.app().unwrap_or("unknown")
    }
}

/// A flow's endpoints and times, as the flow table knows them, for a protocol whose
/// finished flows feed records across flows.
#[derive(Clone, Copy, Debug)]
pub struct UdpFlowMeta {
    /// The flow's client, as the flow table decided.
    pub client: crate::flow::Endpoint,
    /// The flow's server.
    pub server: crate::flow::Endpoint,
    /// Its first packet's time.
    pub first_ts: Timestamp,
    /// Its last packet's time.
    pub last_ts: Timestamp,
}

/// What the user told the UDP analyzers.
#[derive(Clone, Debug, Default)]
pub struct UdpOptions {
    /// Keys for v2ray's QUIC AEAD layer, tried after the empty key.
    pub v2ray_keys: Vec<String>,
}

/// What a UDP protocol's probe makes of one of a flow's first datagrams.
pub enum UdpProbe<F> {
    /// This protocol: follow the flow with this state from this datagram on.
    Start(F),
    /// Shaped like this protocol, not proof: the flow is this protocol once
    /// [`UdpProtocol::LIKELY_NEEDED`] of its first datagrams were, if no protocol started.
    Likely,
    /// Not this protocol.
    NotMine,
}

/// A UDP protocol's registration (see `crate::analyzers::registry`): how it probes a
/// flow's first datagrams, what it keeps per flow and across its flows, and what an
/// ended flow leaves for the records made across flows.
///
/// The registry probes the protocols in its order on each of a flow's first datagrams:
/// the first `Start` wins; when none starts, a protocol whose `Likely` answers reached
/// `LIKELY_NEEDED` starts ([`UdpProtocol::start_likely`]); after
/// `crate::analyzers::udp::PROBE_DATAGRAMS` datagrams the flow is unknown.
pub trait UdpProtocol {
    /// `Likely` datagrams that make a flow this protocol (never, by default).
    const LIKELY_NEEDED: u8 = u8::MAX;
    /// State the protocol's flows share in a run (QUIC: connection IDs seen).
    type Shared;
    /// Per-flow state.
    type Flow;
    /// What an ended flow leaves for the records made across flows (kept within the
    /// run's bounds, by its estimated size).
    type Finished: crate::limits::Footprint;
    /// The shared state at the start of a run.
    fn shared(opts: &UdpOptions) -> Self::Shared;
    /// Probes one of a flow's first datagrams.
    fn probe(shared: &Self::Shared, payload: &[u8], dir: Direction) -> UdpProbe<Self::Flow>;
    /// The flow state when `Likely` answers made the flow this protocol.
    fn start_likely() -> Option<Self::Flow> {
        None
    }
    /// Every datagram of the flow from the one that started it, in packet order.
    fn on_datagram(
        flow: &mut Self::Flow,
        shared: &mut Self::Shared,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
    );
    /// What the flow's throughput is counted under.
    fn throughput_label(flow: &Self::Flow) -> &'static str {
        let _ = flow;
        "udp"
    }
    /// The flow ended: its protocol for its connection record (`None`: not named), and
    /// what it leaves for the records made across flows.
    fn finish(
        flow: Self::Flow,
        meta: UdpFlowMeta,
    ) -> (Option<&'static str>, Option<Self::Finished>);
}
