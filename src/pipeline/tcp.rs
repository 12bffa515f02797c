//! The TCP side of the pipeline: the assembler's sink. It routes each connection's
//! reassembled chunks to a stream observer (if any) and to the connection's analysis:
//!
//! 1. **Probe**: the first bytes of the first speaker are tried as tunnel control frames
//!    (any port; at most [`PROBE_BYTES`] are held).
//! 2. **Tunnel**: a [`TunnelSession`]. A tunnel connection's relayed bytes go on to an
//!    [`AppSession`] (seen from the visitor's side: the visitor's bytes as client to
//!    server), so HTTP or Redis inside tunnels is analysed like any other.
//! 3. **App**: anything else goes to an [`AppSession`], which detects the protocol by
//!    content and follows hand-offs (SOCKS, HTTP CONNECT, disguises).
//!
//! Connections to a port a tunnel control session exposed also get a [`RelayTap`]: they
//! are the visitors the correlator pairs with tunnel connections at the end.

use super::{StreamObserver, TcpConnMeta};
use crate::analyzers::app::{AppRecords, AppSession, AppSummary};
use crate::analyzers::tunnel::{
    self, ConnKind, ControlInput, Ending, RelayTap, SessionConfig, TunnelInput, TunnelSession,
    VisitorInput,
};
use crate::analyzers::{Detection, StreamAnalyzer};
use crate::assembly::{Chunk, CloseReason, OverlapConflict, StreamSink, StreamStart};
use crate::flow::slots::FlowSlots;
use crate::flow::{Direction, FlowId};
use crate::limits::Capped;
use crate::report::AppTables;
use crate::report::spool::Recent;
use crate::timestamp::Timestamp;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Bytes of the first speaker held while deciding whether a stream is the tunnel protocol
/// (a frame header is 8 bytes; a whole authentication frame rarely exceeds 100).
pub const PROBE_BYTES: usize = 256;
/// Bytes of both directions held while probing; past this the probe decides with what it
/// has (a first speaker that sent 3 bytes must not make us hold the other side's stream).
const PROBE_HOLD_MAX: usize = 64 * 1024;
/// Chunks held while probing, whatever their size.
const PROBE_MAX_CHUNKS: usize = 256;
/// Exposed ports remembered for visitor detection (one per control session).
const MAX_EXPOSED_PORTS: usize = 4096;

/// An analyzer seen with client and server swapped. A tunnel connection is opened by the
/// tunnel client, but the application inside is driven by the visitor, whose bytes travel
/// server to client on it.
pub struct Reversed<A>(pub A);

impl<A: StreamAnalyzer> StreamAnalyzer for Reversed<A> {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        self.0.on_data(dir.reverse(), data, ts);
    }
    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        self.0.on_gap(dir.reverse(), len, ts);
    }
    fn on_end(&mut self, dir: Direction, ts: Timestamp) {
        self.0.on_end(dir.reverse(), ts);
    }
}

type Tunnel = TunnelSession<Reversed<AppSession>>;

#[derive(Default)]
struct Probe {
    chunks: Vec<(Direction, Vec<u8>, Timestamp)>,
    /// Bytes held in `chunks`.
    held: usize,
    first_dir: Option<Direction>,
    first_bytes: Vec<u8>,
}

enum Analysis {
    /// Analyzers are switched off (`Options::analyzers`): streams only.
    Off,
    Probing(Probe),
    Tunnel(Box<Tunnel>),
    App(Box<AppSession>),
}

impl Analysis {
    fn analyzer(&mut self) -> Option<&mut dyn StreamAnalyzer> {
        match self {
            Analysis::Off | Analysis::Probing(_) => None,
            Analysis::Tunnel(t) => Some(t.as_mut()),
            Analysis::App(a) => Some(a.as_mut()),
        }
    }
}

/// One live TCP connection.
pub struct TcpConn {
    pub meta: TcpConnMeta,
    analysis: Analysis,
    /// Set when the connection goes to a port a tunnel control session exposed.
    /// Boxed: few connections are visitors, and inline it would cost every live
    /// connection its 232 bytes.
    visitor_tap: Option<Box<RelayTap>>,
    ended: [Option<Timestamp>; 2],
}

/// What the analyzers found on a finished connection, for its connection record.
pub struct ConnFindings {
    pub app: String,
    pub app_chain: Vec<Cow<'static, str>>,
}

/// Everything the TCP side collects for the report.
pub struct TcpFindings {
    /// The latest application summaries (for snapshots); older ones move on to `tables`.
    pub apps: Recent<AppSummary>,
    /// Application records by protocol, spooled.
    pub tables: AppTables,
    /// Tunnel correlation inputs, bounded (`limits::Capped`: the pipeline sets the caps
    /// from `--max-records` and the memory budget; refusals are counted in the report).
    pub controls: Capped<ControlInput>,
    pub tunnels: Capped<TunnelInput>,
    pub visitors: Capped<VisitorInput>,
}

pub struct TcpStage {
    pub conns: FlowSlots<TcpConn>,
    /// Set with [`TcpStage::set_observer`], which also asks it whether it wants chunks.
    observer: Option<Box<dyn StreamObserver>>,
    /// What the observer's `wants_chunks` said when it was installed.
    observer_wants_chunks: bool,
    pub conflicts: u64,
    pub session_cfg: SessionConfig,
    analyzers: bool,
    exposed_ports: BTreeSet<u16>,
    pub findings: TcpFindings,
}

impl TcpStage {
    /// Hands every reassembled stream to `observer` too (chunks only if it wants them).
    pub fn set_observer(&mut self, observer: Box<dyn StreamObserver>) {
        self.observer_wants_chunks = observer.wants_chunks();
        self.observer = Some(observer);
    }

    pub fn observer_mut(&mut self) -> Option<&mut (dyn StreamObserver + 'static)> {
        self.observer.as_deref_mut()
    }

    /// `in_memory`: application records of each protocol kept in memory before the rest
    /// go to a temporary file (see `report::spool`).
    pub fn new(show_secrets: bool, analyzers: bool, in_memory: usize) -> Self {
        TcpStage {
            analyzers,
            conns: FlowSlots::default(),
            observer: None,
            observer_wants_chunks: false,
            conflicts: 0,
            session_cfg: SessionConfig {
                show_secrets,
                ..SessionConfig::default()
            },
            exposed_ports: BTreeSet::new(),
            findings: TcpFindings {
                apps: Recent::new(super::RECENT_RECORDS),
                tables: AppTables::new(in_memory),
                controls: Capped::default(),
                tunnels: Capped::default(),
                visitors: Capped::default(),
            },
        }
    }

    /// Everything found, for the report; the application summaries all in `tables`.
    pub fn take_findings(&mut self) -> TcpFindings {
        let mut f = std::mem::replace(
            &mut self.findings,
            TcpFindings {
                apps: Recent::new(0),
                tables: AppTables::new(0),
                controls: Capped::default(),
                tunnels: Capped::default(),
                visitors: Capped::default(),
            },
        );
        for s in f.apps.drain() {
            f.tables.push(s);
        }
        f
    }

    /// Ports tunnel control sessions have exposed so far (read-only, for snapshots).
    pub fn exposed_ports(&self) -> &BTreeSet<u16> {
        &self.exposed_ports
    }

    /// What a live connection is known to carry so far (`None` while undecided): the
    /// tunnel layer for tunnel connections, else the innermost application.
    pub fn protocol(&self, id: FlowId) -> Option<&'static str> {
        match &self.conns.get(id)?.analysis {
            Analysis::Off | Analysis::Probing(_) => None,
            Analysis::Tunnel(t) => match t.kind() {
                ConnKind::Control => Some("tunnel-control"),
                ConnKind::Tunnel => Some("tunnel-data"),
                ConnKind::Undecided | ConnKind::NotFramed => None,
            },
            Analysis::App(a) => a.current(),
        }
    }

    /// A new connection: connections to an exposed port are tapped as visitors.
    pub fn open(&mut self, meta: TcpConnMeta) {
        let visitor_tap = self
            .exposed_ports
            .contains(&meta.server.port)
            .then(|| Box::new(tunnel::visitor_tap()));
        let analysis = || {
            if self.analyzers {
                Analysis::Probing(Probe::default())
            } else {
                Analysis::Off
            }
        };
        let conn = TcpConn {
            meta,
            analysis: analysis(),
            visitor_tap,
            ended: [None; 2],
        };
        *self.conns.get_or_insert_with(meta.id, || TcpConn {
            meta,
            analysis: analysis(),
            visitor_tap: None,
            ended: [None; 2],
        }) = conn;
    }

    fn decide(&mut self, conn: FlowId, force: bool) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let Analysis::Probing(probe) = &mut c.analysis else {
            return;
        };
        let Some(first_dir) = probe.first_dir else {
            if !force {
                return;
            }
            c.analysis = Analysis::App(Box::default());
            return;
        };
        let verdict = tunnel::detect(&probe.first_bytes, first_dir);
        let chosen = match verdict {
            Detection::Match | Detection::MatchReversed => {
                Analysis::Tunnel(Box::new(TunnelSession::new(self.session_cfg)))
            }
            Detection::NeedMore if !force && probe.first_bytes.len() < PROBE_BYTES => return,
            _ => Analysis::App(Box::default()),
        };
        let probe = std::mem::replace(&mut c.analysis, chosen);
        if let Analysis::Probing(p) = probe
            && let Some(a) = c.analysis.analyzer()
        {
            for (dir, bytes, ts) in &p.chunks {
                a.on_data(*dir, bytes, *ts);
            }
        }
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            if let (Some(ts), Some(a)) = (c.ended[dir.index()], c.analysis.analyzer()) {
                a.on_end(dir, ts);
            }
        }
        self.after_tunnel_data(conn);
    }

    /// Tunnel bookkeeping after bytes reached a tunnel session: expose ports, start the
    /// relayed application's analysis.
    fn after_tunnel_data(&mut self, conn: FlowId) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let Analysis::Tunnel(t) = &mut c.analysis else {
            return;
        };
        if t.kind() == ConnKind::Control
            && let Some(info) = t.conn_info()
            && let Ok(port) = u16::try_from(info.port)
            && self.exposed_ports.len() < MAX_EXPOSED_PORTS
        {
            self.exposed_ports.insert(port);
        }
        if t.wants_inner() {
            t.set_inner(Reversed(AppSession::new()));
        }
    }

    /// The connection ended: its findings go to the report; the record gets the app.
    /// Its application records are kept only when its connection record is (`listed`).
    pub fn finish(
        &mut self,
        conn: FlowId,
        syn_ts: Option<Timestamp>,
        listed: bool,
    ) -> Option<ConnFindings> {
        self.decide(conn, true);
        let c = self.conns.remove(conn)?;
        let (client, server) = (c.meta.client, c.meta.server);
        // Endpoint texts for the summaries, made only for a connection that has them.
        let texts = || (client.to_string(), server.to_string());
        let syn = syn_ts.unwrap_or(c.meta.first_ts);
        let findings = match c.analysis {
            Analysis::Off | Analysis::Probing(_) => ConnFindings {
                app: "unknown".into(),
                app_chain: Vec::new(),
            },
            Analysis::App(a) => {
                let (cs, ss) = texts();
                let summary = a.summarize(&cs, &ss);
                let found = findings_of(&summary, &[]);
                self.keep_app(summary, listed);
                found
            }
            Analysis::Tunnel(t) => match t.kind() {
                ConnKind::Tunnel => {
                    let inner = t.inner().map(|r| {
                        let (cs, ss) = texts();
                        r.0.summarize(&cs, &ss)
                    });
                    let inner_app = inner
                        .as_ref()
                        .and_then(|s| s.app_chain.last().map(|a| a.to_string()));
                    if let Some(input) =
                        TunnelInput::from_session(client, server, syn, &t, inner_app)
                    {
                        self.findings.tunnels.push(input);
                    }
                    let found = match &inner {
                        Some(s) => findings_of(s, &["tunnel-data"]),
                        None => ConnFindings {
                            app: "tunnel-data".into(),
                            app_chain: vec![Cow::Borrowed("tunnel-data")],
                        },
                    };
                    if let Some(s) = inner {
                        self.keep_app(s, listed);
                    }
                    found
                }
                _ => {
                    if let Some(input) = ControlInput::from_session(client, server, Some(syn), &t) {
                        self.findings.controls.push(input);
                    }
                    ConnFindings {
                        app: "tunnel-control".into(),
                        app_chain: vec![Cow::Borrowed("tunnel-control")],
                    }
                }
            },
        };
        if let Some(tap) = &c.visitor_tap {
            let app = (findings.app != "unknown").then(|| findings.app.clone());
            self.findings
                .visitors
                .push(VisitorInput::from_tap(client, server, syn, tap, app));
        }
        Some(findings)
    }

    /// Keeps an application summary unless it saw nothing at all or its connection is
    /// not listed.
    fn keep_app(&mut self, summary: AppSummary, listed: bool) {
        if !listed {
            return;
        }
        let empty = summary.layers.iter().all(|l| match l {
            AppRecords::Unknown(u) => u.bytes_c2s == 0 && u.bytes_s2c == 0 && u.gap_bytes == 0,
            _ => false,
        });
        if !empty && let Some(old) = self.findings.apps.push(summary) {
            self.findings.tables.push(old);
        }
    }
}

fn findings_of(s: &AppSummary, outer: &[&'static str]) -> ConnFindings {
    let mut chain: Vec<Cow<'static, str>> = outer.iter().map(|o| Cow::Borrowed(*o)).collect();
    chain.extend(s.app_chain.iter().cloned());
    ConnFindings {
        app: chain.last().map_or("unknown", |a| a).to_string(),
        app_chain: chain,
    }
}

fn ending(reason: CloseReason) -> Ending {
    match reason {
        CloseReason::Fin => Ending::Fin,
        CloseReason::Rst => Ending::Rst,
        CloseReason::IdleTimeout => Ending::IdleTimeout,
        CloseReason::Evicted | CloseReason::PortReuse => Ending::Evicted,
        CloseReason::EndOfCapture => Ending::EndOfCapture,
    }
}

impl StreamSink for TcpStage {
    fn on_direction_start(
        &mut self,
        conn: FlowId,
        dir: Direction,
        start: StreamStart,
        _ts: Timestamp,
    ) {
        if let (Some(obs), Some(c)) = (self.observer.as_mut(), self.conns.get(conn)) {
            obs.on_start(&c.meta, dir, start);
        }
    }

    /// Once per delivered chunk; inlined up to the analysis, which connections without
    /// analyzers (`tunscope streams`, `--flows-only`) never reach.
    #[inline]
    fn on_chunk(&mut self, conn: FlowId, dir: Direction, chunk: Chunk<'_>, ts: Timestamp) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if self.observer_wants_chunks
            && let Some(obs) = self.observer.as_mut()
        {
            obs.on_chunk(&c.meta, dir, &chunk, ts);
        }
        if c.visitor_tap.is_none() && matches!(c.analysis, Analysis::Off) {
            return;
        }
        self.analyze_chunk(conn, dir, chunk, ts);
    }

    fn on_conflict(&mut self, _conn: FlowId, _dir: Direction, _conflict: &OverlapConflict) {
        self.conflicts += 1;
    }

    fn on_direction_end(
        &mut self,
        conn: FlowId,
        dir: Direction,
        reason: CloseReason,
        ts: Timestamp,
    ) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        c.ended[dir.index()] = Some(ts);
        if let Some(tap) = c.visitor_tap.as_mut() {
            tap.on_end(dir, ts);
        }
        match &mut c.analysis {
            Analysis::Off | Analysis::Probing(_) => {}
            Analysis::Tunnel(t) => {
                t.note_close(dir, ending(reason));
                t.on_end(dir, ts);
            }
            Analysis::App(a) => a.on_end(dir, ts),
        }
    }
}

impl TcpStage {
    /// The analysis part of `on_chunk`: the visitor tap and the connection's analyzer.
    #[inline(never)]
    fn analyze_chunk(&mut self, conn: FlowId, dir: Direction, chunk: Chunk<'_>, ts: Timestamp) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        if let Some(tap) = c.visitor_tap.as_mut() {
            match chunk {
                Chunk::Data(b) => tap.on_data(dir, b, ts),
                Chunk::Gap { len, .. } => tap.on_gap(dir, len, ts),
            }
        }
        match (&mut c.analysis, chunk) {
            (Analysis::Off, _) => {}
            (Analysis::Probing(p), Chunk::Data(bytes)) => {
                let first = *p.first_dir.get_or_insert(dir);
                if first == dir && p.first_bytes.len() < PROBE_BYTES {
                    let room = PROBE_BYTES - p.first_bytes.len();
                    p.first_bytes
                        .extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                p.chunks.push((dir, bytes.to_vec(), ts));
                p.held += bytes.len();
                if p.held > PROBE_HOLD_MAX || p.chunks.len() > PROBE_MAX_CHUNKS {
                    self.decide(conn, true);
                } else if p.first_bytes.len() >= 8 || p.chunks.len() > 16 {
                    self.decide(conn, false);
                }
            }
            (Analysis::Probing(_), Chunk::Gap { len, .. }) => {
                // A hole before the protocol is known: decide with what we have.
                self.decide(conn, true);
                if let Some(a) = self.conns.get_mut(conn).and_then(|c| c.analysis.analyzer()) {
                    a.on_gap(dir, len, ts);
                }
            }
            (Analysis::Tunnel(t), Chunk::Data(bytes)) => {
                t.on_data(dir, bytes, ts);
                self.after_tunnel_data(conn);
            }
            (Analysis::Tunnel(t), Chunk::Gap { len, .. }) => t.on_gap(dir, len, ts),
            (Analysis::App(a), Chunk::Data(bytes)) => a.on_data(dir, bytes, ts),
            (Analysis::App(a), Chunk::Gap { len, .. }) => a.on_gap(dir, len, ts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Endpoint;
    use std::net::{IpAddr, Ipv4Addr};

    fn meta() -> TcpConnMeta {
        let ep = |last, port| Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port);
        TcpConnMeta {
            id: FlowId {
                slot: 0,
                generation: 1,
            },
            client: ep(1, 40000),
            server: ep(2, 9000),
            first_ts: Timestamp(0),
        }
    }

    #[test]
    fn probing_holds_a_bounded_amount_whatever_the_first_speaker_sent() {
        let mut stage = TcpStage::new(false, true, 0);
        let m = meta();
        stage.open(m);
        // Three bytes that could still begin a frame header, then the other side streams.
        stage.on_chunk(
            m.id,
            Direction::ClientToServer,
            Chunk::Data(&[0, 0, 0]),
            Timestamp(1),
        );
        let block = [0x41u8; 1024];
        for i in 0..100 {
            stage.on_chunk(
                m.id,
                Direction::ServerToClient,
                Chunk::Data(&block),
                Timestamp(2 + i),
            );
        }
        let c = stage.conns.get(m.id).expect("connection");
        assert!(
            !matches!(c.analysis, Analysis::Probing(_)),
            "still probing after 100 KiB"
        );
        // Tiny chunks hit the count bound too.
        let mut stage = TcpStage::new(false, true, 0);
        stage.open(m);
        stage.on_chunk(
            m.id,
            Direction::ClientToServer,
            Chunk::Data(&[0, 0, 0]),
            Timestamp(1),
        );
        for i in 0..300 {
            stage.on_chunk(
                m.id,
                Direction::ServerToClient,
                Chunk::Data(&[1]),
                Timestamp(2 + i),
            );
        }
        let c = stage.conns.get(m.id).expect("connection");
        assert!(
            !matches!(c.analysis, Analysis::Probing(_)),
            "still probing after 300 chunks"
        );
    }
}
