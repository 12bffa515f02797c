//! What one TCP connection carries, decided and followed for the pipeline, which only
//! hands this module the assembler's chunks:
//!
//! 1. **Probe**: the connection's first bytes wait in the one detection buffer
//!    ([`super::detect::FirstBytes`]); the NAT tunnel probe looks first, at the first
//!    speaker's first [`TUNNEL_PROBE_BYTES`] (its frames have no fixed port).
//! 2. **Tunnel**: a NAT tunnel connection ([`TunnelSession`]). A tunnel connection's
//!    relayed bytes go on to an [`AppSession`] seen from the visitor's side (the
//!    visitor's bytes as client to server), so HTTP or Redis inside tunnels is analysed
//!    like any other.
//! 3. **App**: anything else goes to an [`AppSession`], which tries the registry's
//!    protocols on the same held bytes and follows hand-offs (SOCKS, HTTP CONNECT,
//!    disguises).
//!
//! Connections to a port a tunnel control session exposed also get a [`RelayTap`]: they
//! are the visitors the correlator pairs with tunnel connections at the end.
//!
//! # Contracts
//!
//! - Calls follow the stream order of [`super::api`]; [`ConnAnalysis::finish`] comes
//!   last and decides with what is held if the probe has not decided yet.
//! - The probe holds what the detection buffer holds (its bounds); when it is full the
//!   probe decides and the rest of the chunk goes to the chosen analyzer.
//! - [`TcpContext`] is what connections share: the ports control sessions exposed (at
//!   most [`MAX_EXPOSED_PORTS`]; later ones are not watched for visitors) and the
//!   tunnel correlation inputs of connections that ended.

use super::api::{AppChain, Detection, StreamAnalyzer};
use super::app::{AppSession, AppSummary};
use super::detect::FirstBytes;
use super::nat_tunnel::{
    self, ConnKind, ControlInput, CorrelateConfig, RelayTap, SessionConfig, TunnelInput,
    TunnelReport, TunnelSession, VisitorInput,
};
use crate::assembly::CloseReason;
use crate::flow::{Direction, Endpoint};
use crate::limits::{Capped, LimitsReport};
use crate::timestamp::Timestamp;
use std::collections::BTreeSet;

/// Bytes of the first speaker the NAT tunnel probe looks at (a frame header is 8 bytes;
/// a whole authentication frame rarely exceeds 100).
pub const TUNNEL_PROBE_BYTES: usize = 256;
/// Chunks after which the probe decides even if the first speaker sent fewer bytes
/// than a frame header.
const TUNNEL_PROBE_CHUNKS: usize = 16;
/// Exposed ports remembered for visitor detection (one per control session).
pub const MAX_EXPOSED_PORTS: usize = 4096;

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

enum Analysis {
    /// Analyzers are switched off: streams only.
    Off,
    Probing(FirstBytes),
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

/// What connections share (see the module doc).
pub struct TcpContext {
    session_cfg: SessionConfig,
    analyzers: bool,
    exposed_ports: BTreeSet<u16>,
    /// Tunnel control connections that ended (bounded: see [`TcpContext::set_caps`]).
    pub controls: Capped<ControlInput>,
    /// Tunnel connections that ended.
    pub tunnels: Capped<TunnelInput>,
    /// Connections to exposed ports that ended.
    pub visitors: Capped<VisitorInput>,
}

impl TcpContext {
    /// `analyzers`: false runs no analyzer at all (streams only); `show_secrets` keeps
    /// tunnel passwords.
    pub fn new(show_secrets: bool, analyzers: bool) -> Self {
        TcpContext {
            session_cfg: SessionConfig {
                show_secrets,
                ..SessionConfig::default()
            },
            analyzers,
            exposed_ports: BTreeSet::new(),
            controls: Capped::default(),
            tunnels: Capped::default(),
            visitors: Capped::default(),
        }
    }

    /// Keeps at most `max` of each kind of tunnel correlation input, and at most
    /// `max_bytes` of each kind's estimated size; refusals are counted in the lists.
    pub fn set_caps(&mut self, max: usize, max_bytes: usize) {
        self.controls = Capped::new(max, max_bytes);
        self.tunnels = Capped::new(max, max_bytes);
        self.visitors = Capped::new(max, max_bytes);
    }

    /// What the caps refused, under `tunnel_sessions`, `tunnel_connections` and
    /// `tunnel_visitors`.
    pub fn count_limits(&self, limits: &mut LimitsReport) {
        limits.count("tunnel_sessions", &self.controls);
        limits.count("tunnel_connections", &self.tunnels);
        limits.count("tunnel_visitors", &self.visitors);
    }

    /// Ports tunnel control sessions have exposed so far.
    pub fn exposed_ports(&self) -> &BTreeSet<u16> {
        &self.exposed_ports
    }

    /// The NAT tunnel report: sessions, tunnel connections and the visitors they
    /// carried, paired across the connections that ended.
    pub fn tunnel_report(&self) -> TunnelReport {
        nat_tunnel::correlate(
            &self.controls,
            &self.tunnels,
            &self.visitors,
            &CorrelateConfig::default(),
        )
    }
}

/// One live TCP connection's analysis.
pub struct ConnAnalysis {
    analysis: Analysis,
    /// Set when the connection goes to a port a tunnel control session exposed. Boxed:
    /// few connections are visitors.
    visitor_tap: Option<Box<RelayTap>>,
    ended: [Option<Timestamp>; 2],
}

/// What a finished connection leaves: its app chain for the connection record, and its
/// application records (`None` for a tunnel control connection or no analysis).
pub struct ConnOutcome {
    /// Protocols outermost first.
    pub chain: AppChain,
    /// The application layers' records.
    pub summary: Option<AppSummary>,
}

impl ConnAnalysis {
    /// A new connection to `server`.
    pub fn open(ctx: &TcpContext, server: Endpoint) -> Self {
        ConnAnalysis {
            analysis: if ctx.analyzers {
                Analysis::Probing(FirstBytes::default())
            } else {
                Analysis::Off
            },
            visitor_tap: ctx
                .exposed_ports
                .contains(&server.port)
                .then(|| Box::new(nat_tunnel::visitor_tap())),
            ended: [None; 2],
        }
    }

    /// Nothing here looks at stream bytes (no analyzer, no tap): the caller may skip
    /// [`ConnAnalysis::on_data`] and [`ConnAnalysis::on_gap`].
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.visitor_tap.is_none() && matches!(self.analysis, Analysis::Off)
    }

    /// What the connection is known to carry so far (`None` while undecided): the
    /// tunnel layer for tunnel connections, else the innermost application.
    pub fn protocol(&self) -> Option<&'static str> {
        match &self.analysis {
            Analysis::Off | Analysis::Probing(_) => None,
            Analysis::Tunnel(t) => match t.kind() {
                ConnKind::Control => Some("tunnel-control"),
                ConnKind::Tunnel => Some("tunnel-data"),
                ConnKind::Undecided | ConnKind::NotFramed => None,
            },
            Analysis::App(a) => a.current(),
        }
    }

    /// Contiguous bytes of `dir`.
    pub fn on_data(&mut self, ctx: &mut TcpContext, dir: Direction, bytes: &[u8], ts: Timestamp) {
        if let Some(tap) = self.visitor_tap.as_mut() {
            tap.on_data(dir, bytes, ts);
        }
        match &mut self.analysis {
            Analysis::Off => {}
            Analysis::Probing(first) => {
                let held = first.hold(dir, bytes, ts);
                if held < bytes.len() || first.is_full() {
                    self.decide(ctx, true);
                    if let (Some(rest), Some(a)) = (bytes.get(held..), self.analysis.analyzer())
                        && !rest.is_empty()
                    {
                        a.on_data(dir, rest, ts);
                    }
                    self.after_tunnel_data(ctx);
                } else if first
                    .first_dir()
                    .is_some_and(|d| first_speaker_len(first, d) >= nat_tunnel::HEADER_LEN)
                    || first.chunk_count() > TUNNEL_PROBE_CHUNKS
                {
                    self.decide(ctx, false);
                }
            }
            Analysis::Tunnel(t) => {
                t.on_data(dir, bytes, ts);
                self.after_tunnel_data(ctx);
            }
            Analysis::App(a) => a.on_data(dir, bytes, ts),
        }
    }

    /// `len` bytes of `dir` that will never be delivered.
    pub fn on_gap(&mut self, ctx: &mut TcpContext, dir: Direction, len: u64, ts: Timestamp) {
        if let Some(tap) = self.visitor_tap.as_mut() {
            tap.on_gap(dir, len, ts);
        }
        if matches!(self.analysis, Analysis::Probing(_)) {
            // A hole before the protocol is known: decide with what we have.
            self.decide(ctx, true);
        }
        if let Some(a) = self.analysis.analyzer() {
            a.on_gap(dir, len, ts);
        }
    }

    /// Direction `dir` ended, for `reason`.
    pub fn on_end(&mut self, dir: Direction, reason: CloseReason, ts: Timestamp) {
        self.ended[dir.index()] = Some(ts);
        if let Some(tap) = self.visitor_tap.as_mut() {
            tap.on_end(dir, ts);
        }
        match &mut self.analysis {
            Analysis::Off | Analysis::Probing(_) => {}
            Analysis::Tunnel(t) => {
                t.note_close(dir, reason);
                t.on_end(dir, ts);
            }
            Analysis::App(a) => a.on_end(dir, ts),
        }
    }

    /// Chooses between the tunnel and the registry's protocols, and replays the held
    /// bytes into the choice; `force` when no more bytes will come or fit.
    fn decide(&mut self, ctx: &mut TcpContext, force: bool) {
        let Analysis::Probing(first) = &mut self.analysis else {
            return;
        };
        let Some(first_dir) = first.first_dir() else {
            if force {
                self.analysis = Analysis::App(Box::default());
            }
            return;
        };
        let speaker = first.bytes(first_dir);
        let probe = speaker.get(..TUNNEL_PROBE_BYTES).unwrap_or(&speaker);
        let chosen = match nat_tunnel::detect(probe, first_dir) {
            Detection::Match | Detection::MatchReversed => {
                Analysis::Tunnel(Box::new(TunnelSession::new(ctx.session_cfg)))
            }
            Detection::NeedMore if !force && probe.len() < TUNNEL_PROBE_BYTES => return,
            _ => Analysis::App(Box::default()),
        };
        let Analysis::Probing(first) = std::mem::replace(&mut self.analysis, chosen) else {
            return;
        };
        if let Some(a) = self.analysis.analyzer() {
            for (dir, bytes, ts) in first.chunks() {
                a.on_data(dir, bytes, ts);
            }
            for dir in [Direction::ClientToServer, Direction::ServerToClient] {
                if let Some(ts) = self.ended[dir.index()] {
                    a.on_end(dir, ts);
                }
            }
        }
        self.after_tunnel_data(ctx);
    }

    /// Tunnel bookkeeping after bytes reached a tunnel session: expose ports, start the
    /// relayed application's analysis.
    fn after_tunnel_data(&mut self, ctx: &mut TcpContext) {
        let Analysis::Tunnel(t) = &mut self.analysis else {
            return;
        };
        if t.kind() == ConnKind::Control
            && let Some(info) = t.conn_info()
            && let Ok(port) = u16::try_from(info.port)
            && ctx.exposed_ports.len() < MAX_EXPOSED_PORTS
        {
            ctx.exposed_ports.insert(port);
        }
        if t.wants_inner() {
            t.set_inner(Reversed(AppSession::new()));
        }
    }

    /// The connection ended (`syn`: its SYN's time, else its first packet's): the tunnel
    /// correlation inputs go to `ctx`; the chain and records to the caller.
    pub fn finish(
        mut self,
        ctx: &mut TcpContext,
        client: Endpoint,
        server: Endpoint,
        syn: Timestamp,
    ) -> ConnOutcome {
        self.decide(ctx, true);
        // Endpoint texts for the summaries, made only for a connection that has them.
        let texts = || (client.to_string(), server.to_string());
        let outcome = match self.analysis {
            Analysis::Off | Analysis::Probing(_) => ConnOutcome {
                chain: AppChain::default(),
                summary: None,
            },
            Analysis::App(a) => {
                let (cs, ss) = texts();
                let summary = a.summarize(&cs, &ss);
                ConnOutcome {
                    chain: summary.chain_under(&[]),
                    summary: Some(summary),
                }
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
                        ctx.tunnels.push(input);
                    }
                    ConnOutcome {
                        chain: match &inner {
                            Some(s) => s.chain_under(&["tunnel-data"]),
                            None => AppChain::one("tunnel-data"),
                        },
                        summary: inner,
                    }
                }
                _ => {
                    if let Some(input) = ControlInput::from_session(client, server, Some(syn), &t) {
                        ctx.controls.push(input);
                    }
                    ConnOutcome {
                        chain: AppChain::one("tunnel-control"),
                        summary: None,
                    }
                }
            },
        };
        if let Some(tap) = &self.visitor_tap {
            let app = outcome
                .chain
                .app()
                .filter(|a| *a != "unknown")
                .map(str::to_string);
            ctx.visitors
                .push(VisitorInput::from_tap(client, server, syn, tap, app));
        }
        outcome
    }
}

/// Bytes the first speaker has sent so far.
fn first_speaker_len(first: &FirstBytes, dir: Direction) -> usize {
    first.held()[dir.index()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const C: Direction = Direction::ClientToServer;
    const S: Direction = Direction::ServerToClient;

    fn server() -> Endpoint {
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 9000)
    }

    #[test]
    fn probing_holds_a_bounded_amount_whatever_the_first_speaker_sent() {
        // Three bytes that could still begin a frame header, then the other side streams.
        let mut ctx = TcpContext::new(false, true);
        let mut a = ConnAnalysis::open(&ctx, server());
        a.on_data(&mut ctx, C, &[0, 0, 0], Timestamp(1));
        let block = [0x41u8; 1024];
        for i in 0..100 {
            a.on_data(&mut ctx, S, &block, Timestamp(2 + i));
        }
        assert!(
            !matches!(a.analysis, Analysis::Probing(_)),
            "still probing after 100 KiB"
        );
        // Tiny chunks hit the count bound too.
        let mut a = ConnAnalysis::open(&ctx, server());
        a.on_data(&mut ctx, C, &[0, 0, 0], Timestamp(1));
        for i in 0..300 {
            a.on_data(&mut ctx, S, &[1], Timestamp(2 + i));
        }
        assert!(
            !matches!(a.analysis, Analysis::Probing(_)),
            "still probing after 300 chunks"
        );
    }

    #[test]
    fn bytes_past_the_detection_buffer_reach_the_chosen_analyzer() {
        // An HTTP request larger than the detection buffer in one chunk: the probe
        // decides when the buffer is full and the rest still reaches HTTP.
        let mut ctx = TcpContext::new(false, true);
        let mut a = ConnAnalysis::open(&ctx, server());
        let mut req = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 40000\r\n\r\n".to_vec();
        req.resize(req.len() + 40_000, b'x');
        a.on_data(&mut ctx, C, &req, Timestamp(1));
        a.on_data(
            &mut ctx,
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Timestamp(2),
        );
        let out = a.finish(&mut ctx, server(), server(), Timestamp(0));
        assert_eq!(out.chain.app(), Some("http"));
        let summary = out.summary.expect("records");
        match &summary.layers[0] {
            crate::analyzers::registry::AppRecords::Http(h) => {
                assert_eq!(h.transactions.len(), 1);
                assert_eq!(h.transactions[0].status, Some(200));
            }
            other => panic!("{other:?}"),
        }
    }
}
