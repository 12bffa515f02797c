//! The cross-connection correlator: which tunnel connection carried which visitor, and
//! how long each step took.
//!
//! # Inputs (the pipeline fills them; helpers build them from sessions and taps)
//! * [`ControlInput`]: a control connection's endpoints, SYN time and [`ControlSummary`].
//! * [`TunnelInput`]: a tunnel connection's endpoints, SYN time, `uid`/`port` from its
//!   frame, and [`RelayFacts`] of the bytes relayed after the frame, each way.
//! * [`VisitorInput`]: a connection to an exposed port (server-side captures only):
//!   endpoints, SYN time, [`RelayFacts`] each way (from a [`RelayTap`]).
//!
//! # Which bytes must match
//! The server copies the visitor's bytes *into* the tunnel towards the client and the
//! client's (the exposed service's) bytes back out, so in each connection's own roles:
//! visitor `c2s` = tunnel `s2c`, and visitor `s2c` = tunnel `c2s` after its 20-byte frame.
//!
//! # Steps
//! `correlate` runs a matcher (private; one method per step, each tested on its own).
//! First, who belongs to which control session:
//! * **sessions** (`assign_sessions`): a tunnel belongs to the control session with its
//!   uid and port; a visitor to a session exposing its server port and alive at its SYN
//!   (ties: alive, same server address, latest start before).
//! * **announcements** (`announce_visitors`): `NEW_CONNECTION` frames are matched to
//!   visitors of the same session in SYN order (each visitor gets the first unused one at
//!   or after its SYN, within [`CorrelateConfig::max_visitor_wait_ns`]).
//!
//! Then the pairing. The server pairs a tunnel with *any* waiting visitor of the same uid,
//! so order proves nothing. A visitor and a tunnel are candidates when the tunnel's port
//! is the visitor's server port, their sessions (if known) agree, and the tunnel's SYN is
//! not before the visitor's (`judge_content`). Then:
//! 1. **content** (`pair_unique_content`): per direction, equal byte counts and an equal
//!    hash of the first [`super::relay::PREFIX_LEN`] bytes (score 1.0; hash only 0.8;
//!    counts only when a gap hid the prefix 0.5; a direction empty on both sides is
//!    neutral; bytes on one side only, or different hashes, rule the pair out). Pairs whose
//!    content matches uniquely both ways are taken (`pairing: content`, confidence =
//!    score), repeatedly.
//! 2. **identical content** on several candidates (`pair_identical_content`, e.g. the same
//!    HTTP request twice): the earliest free tunnel SYN wins (`pairing: timing`,
//!    confidence = score / number of tunnels with those bytes).
//! 3. **timing** as the fallback, no content evidence (`pair_by_timing`: no bytes, gaps):
//!    visitor SYN -> its `NEW_CONNECTION` -> the first free tunnel SYN after it within
//!    [`CorrelateConfig::max_visitor_wait_ns`] (`pairing: timing`, confidence
//!    0.6 / candidates).
//!
//! After pairing, visitors without a session inherit their tunnel's (`inherit_sessions`);
//! each tunnel's `NEW_CONNECTION` is its visitor's, or on a client-side capture (no
//! visitors) the first unused one at most [`CorrelateConfig::nc_to_tunnel_max_ns`] before
//! its SYN (`announce_tunnels`). The report lists sessions by start with their visitors in
//! SYN order and tunnels in SYN order; anomalies: the sessions' own, then visitors never
//! served or without a session, then tunnels without a session (`report`).
//!
//! Bounds: work is quadratic in the visitors and tunnels of one exposed port; the report
//! keeps at most [`CorrelateConfig::max_anomalies`] anomalies (the rest counted). No input
//! panics: the matcher indexes only positions of its input slices, made in range.

use super::output::{ControlSummary, SessionAnomaly};
use super::relay::{RelayFacts, RelayTap};
use super::session::TunnelSession;
use crate::analyzers::StreamAnalyzer;
use crate::flow::{Direction, Endpoint};
use crate::timestamp::Timestamp;
use serde::Serialize;

/// Knobs of the correlator.
#[derive(Clone, Copy, Debug)]
pub struct CorrelateConfig {
    /// Longest visitor SYN -> tunnel SYN accepted by timing alone (the implementation
    /// closes pending visitors after about 8 s, when its cleaner runs at all).
    pub max_visitor_wait_ns: i64,
    /// Longest `NEW_CONNECTION` -> tunnel SYN on a client-side capture.
    pub nc_to_tunnel_max_ns: i64,
    /// Tolerance for timestamps of one host taken on different interfaces.
    pub clock_slack_ns: i64,
    pub max_anomalies: usize,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        CorrelateConfig {
            max_visitor_wait_ns: 15_000_000_000,
            nc_to_tunnel_max_ns: 5_000_000_000,
            clock_slack_ns: 1_000_000,
            max_anomalies: 1000,
        }
    }
}

/// A control connection.
#[derive(Clone, Debug)]
pub struct ControlInput {
    pub client: Endpoint,
    pub server: Endpoint,
    pub syn_ts: Option<Timestamp>,
    pub summary: ControlSummary,
    pub anomalies: Vec<SessionAnomaly>,
}

impl ControlInput {
    /// From a session whose kind is control (`None` otherwise).
    pub fn from_session<A: StreamAnalyzer>(
        client: Endpoint,
        server: Endpoint,
        syn_ts: Option<Timestamp>,
        s: &TunnelSession<A>,
    ) -> Option<Self> {
        Some(ControlInput {
            client,
            server,
            syn_ts,
            summary: s.control_summary()?,
            anomalies: s.anomalies().to_vec(),
        })
    }
}

/// A tunnel connection. `c2s`/`s2c` are the relayed bytes after the 20-byte frame.
#[derive(Clone, Debug)]
pub struct TunnelInput {
    pub client: Endpoint,
    pub server: Endpoint,
    pub syn_ts: Timestamp,
    pub uid: Option<i64>,
    pub port: Option<i32>,
    pub c2s: RelayFacts,
    pub s2c: RelayFacts,
    /// Application protocol of the relayed bytes, as the pipeline's analyzers named it.
    pub app: Option<String>,
    pub anomalies: Vec<SessionAnomaly>,
}

impl TunnelInput {
    /// From a session whose kind is tunnel (`None` otherwise).
    pub fn from_session<A: StreamAnalyzer>(
        client: Endpoint,
        server: Endpoint,
        syn_ts: Timestamp,
        s: &TunnelSession<A>,
        app: Option<String>,
    ) -> Option<Self> {
        let t = s.tunnel_summary()?;
        Some(TunnelInput {
            client,
            server,
            syn_ts,
            uid: Some(t.uid),
            port: Some(t.port),
            c2s: t.c2s,
            s2c: t.s2c,
            app,
            anomalies: s.anomalies().to_vec(),
        })
    }
}

/// A connection to an exposed port (a visitor).
#[derive(Clone, Debug)]
pub struct VisitorInput {
    pub client: Endpoint,
    pub server: Endpoint,
    pub syn_ts: Timestamp,
    pub c2s: RelayFacts,
    pub s2c: RelayFacts,
    pub app: Option<String>,
}

impl VisitorInput {
    pub fn from_tap(
        client: Endpoint,
        server: Endpoint,
        syn_ts: Timestamp,
        tap: &RelayTap,
        app: Option<String>,
    ) -> Self {
        VisitorInput {
            client,
            server,
            syn_ts,
            c2s: tap.facts(Direction::ClientToServer),
            s2c: tap.facts(Direction::ServerToClient),
            app,
        }
    }
}

/// A connection's two endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ConnRef {
    pub client: Endpoint,
    pub server: Endpoint,
}

/// How a visitor was tied to its tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pairing {
    Content,
    Timing,
}

/// Step latencies of one visitor, in milliseconds (`None` when a step was not seen).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub visitor_syn_to_new_connection: Option<f64>,
    pub new_connection_to_tunnel_syn: Option<f64>,
    /// Tunnel SYN -> first byte relayed to the visitor (visitor's first `s2c` byte; on a
    /// client-side capture the tunnel's first `c2s` relayed byte).
    pub tunnel_syn_to_first_byte: Option<f64>,
    /// Visitor SYN -> first byte relayed to it.
    pub total: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VisitorReport {
    pub client: Endpoint,
    pub server: Endpoint,
    /// The tunnel connection's client endpoint.
    pub tunnel: Option<Endpoint>,
    pub pairing: Option<Pairing>,
    /// 0..1; 0 when unpaired.
    pub confidence: f64,
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    pub app: Option<String>,
    pub syn: Timestamp,
    pub new_connection: Option<Timestamp>,
    pub latency_ms: Latency,
}

/// One control connection with the visitors it announced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionReport {
    pub control: ConnRef,
    #[serde(flatten)]
    pub summary: ControlSummary,
    pub visitors: Vec<VisitorReport>,
}

/// One tunnel connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TunnelEntry {
    pub client: Endpoint,
    pub server: Endpoint,
    pub uid: Option<i64>,
    pub port: Option<i32>,
    /// The visitor it carried (`None` on a client-side capture or when unpaired).
    pub visitor: Option<Endpoint>,
    pub pairing: Option<Pairing>,
    pub confidence: f64,
    /// The control connection it belongs to.
    pub session: Option<ConnRef>,
    pub syn: Timestamp,
    /// The `NEW_CONNECTION` that asked for it.
    pub new_connection: Option<Timestamp>,
    /// Relayed bytes (after the frame).
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    pub app: Option<String>,
    pub latency_ms: Latency,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnomalyEntry {
    pub kind: &'static str,
    /// `client -> server` of the connection concerned.
    pub conn: Option<String>,
    pub ts: Option<Timestamp>,
    pub detail: String,
}

/// The `tunnel` section of the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TunnelReport {
    pub sessions: Vec<SessionReport>,
    pub tunnels: Vec<TunnelEntry>,
    pub anomalies: Vec<AnomalyEntry>,
    pub anomalies_dropped: u64,
}

struct Sink {
    max: usize,
    out: Vec<AnomalyEntry>,
    dropped: u64,
}

impl Sink {
    fn push(
        &mut self,
        kind: &'static str,
        conn: Option<String>,
        ts: Option<Timestamp>,
        detail: String,
    ) {
        if self.out.len() < self.max {
            self.out.push(AnomalyEntry {
                kind,
                conn,
                ts,
                detail,
            });
        } else {
            self.dropped += 1;
        }
    }
}

fn conn_name(c: Endpoint, s: Endpoint) -> String {
    format!("{c} -> {s}")
}

/// Content agreement of one direction pair.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DirMatch {
    Empty,
    Scored(f64),
    Unknown,
    Mismatch,
}

fn dir_match(a: &RelayFacts, b: &RelayFacts) -> DirMatch {
    if a.bytes == 0 && b.bytes == 0 {
        return DirMatch::Empty;
    }
    if a.bytes == 0 || b.bytes == 0 {
        return DirMatch::Mismatch;
    }
    match (a.prefix, b.prefix) {
        (Some(x), Some(y)) if x == y => {
            DirMatch::Scored(if a.bytes == b.bytes { 1.0 } else { 0.8 })
        }
        (Some(_), Some(_)) => DirMatch::Mismatch,
        _ if a.bytes == b.bytes => DirMatch::Scored(0.5),
        _ => DirMatch::Unknown,
    }
}

/// Content verdict of a visitor/tunnel pair.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    Match(f64),
    Unknown,
    Mismatch,
}

fn verdict(v: &VisitorInput, t: &TunnelInput) -> Verdict {
    let a = dir_match(&v.c2s, &t.s2c);
    let b = dir_match(&v.s2c, &t.c2s);
    match (a, b) {
        (DirMatch::Mismatch, _) | (_, DirMatch::Mismatch) => Verdict::Mismatch,
        (DirMatch::Scored(x), DirMatch::Scored(y)) => Verdict::Match((x + y) / 2.0),
        (DirMatch::Scored(x), DirMatch::Empty) | (DirMatch::Empty, DirMatch::Scored(x)) => {
            Verdict::Match(x * 0.9)
        }
        (DirMatch::Scored(x), DirMatch::Unknown) | (DirMatch::Unknown, DirMatch::Scored(x)) => {
            Verdict::Match(x * 0.8)
        }
        _ => Verdict::Unknown,
    }
}

fn ms(later: Option<Timestamp>, earlier: Option<Timestamp>) -> Option<f64> {
    Some(later?.millis_since(earlier?))
}

/// A visitor tied to a tunnel (or the other way round): the index on the other side, how
/// and how sure.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pair {
    with: usize,
    pairing: Pairing,
    confidence: f64,
}

/// What the matcher learns about one visitor or tunnel connection.
#[derive(Clone, Copy, Debug, Default)]
struct Facts {
    /// Index of its control session.
    session: Option<usize>,
    /// The `NEW_CONNECTION` that announced the visitor (asked for the tunnel).
    new_connection: Option<Timestamp>,
    /// The visitor's tunnel, the tunnel's visitor; a tunnel with one is taken.
    pair: Option<Pair>,
}

/// The correlator's state over one set of inputs: one method per step of the module
/// docs, run in order by [`correlate`].
struct Matcher<'a> {
    controls: &'a [ControlInput],
    tunnels: &'a [TunnelInput],
    visitors: &'a [VisitorInput],
    cfg: &'a CorrelateConfig,
    visitor: Vec<Facts>,
    tunnel: Vec<Facts>,
    /// Per control session, which of its `NEW_CONNECTION`s are taken.
    nc_used: Vec<Vec<bool>>,
    /// Visitors, then tunnels, by SYN time (index breaks ties).
    visitor_order: Vec<usize>,
    tunnel_order: Vec<usize>,
    /// Content verdict per (visitor, tunnel), `None` when they cannot be a pair at all.
    content: Vec<Vec<Option<Verdict>>>,
}

impl<'a> Matcher<'a> {
    fn new(
        controls: &'a [ControlInput],
        tunnels: &'a [TunnelInput],
        visitors: &'a [VisitorInput],
        cfg: &'a CorrelateConfig,
    ) -> Self {
        let mut visitor_order: Vec<usize> = (0..visitors.len()).collect();
        visitor_order.sort_by_key(|&i| (visitors[i].syn_ts, i));
        let mut tunnel_order: Vec<usize> = (0..tunnels.len()).collect();
        tunnel_order.sort_by_key(|&i| (tunnels[i].syn_ts, i));
        Matcher {
            controls,
            tunnels,
            visitors,
            cfg,
            visitor: vec![Facts::default(); visitors.len()],
            tunnel: vec![Facts::default(); tunnels.len()],
            nc_used: controls
                .iter()
                .map(|c| vec![false; c.summary.new_connections.len()])
                .collect(),
            visitor_order,
            tunnel_order,
            content: Vec::new(),
        }
    }

    // ---- sessions -------------------------------------------------------------------

    /// When control session `i` began serving (its `USER_INFORMATION`, else its SYN or
    /// first byte).
    fn start(&self, i: usize) -> Option<Timestamp> {
        let c = self.controls.get(i)?;
        c.summary
            .timeline
            .user_information
            .or(c.syn_ts)
            .or(c.summary.timeline.first_seen)
    }

    /// Whether `ts` falls in control session `i`'s life (with clock slack).
    fn in_window(&self, i: usize, ts: Timestamp) -> bool {
        let Some(c) = self.controls.get(i) else {
            return false;
        };
        let slack = self.cfg.clock_slack_ns;
        let after_start = self
            .start(i)
            .is_none_or(|s| ts.saturating_add_nanos(slack) >= s);
        let before_end = c
            .summary
            .ended
            .at
            .is_none_or(|e| ts <= e.saturating_add_nanos(slack));
        after_start && before_end
    }

    /// Best session among `cands` for something at `ts` reached at `addr`: alive then,
    /// on the same server address, started latest before it.
    fn best(&self, cands: Vec<usize>, ts: Timestamp, addr: std::net::IpAddr) -> Option<usize> {
        cands.into_iter().max_by_key(|&i| {
            (
                self.in_window(i, ts),
                self.controls[i].server.addr == addr,
                self.start(i).filter(|&s| s <= ts),
            )
        })
    }

    /// Step 0: each tunnel's session (same uid and port), each visitor's (its server port
    /// exposed by a session alive at its SYN).
    fn assign_sessions(&mut self) {
        for (ti, t) in self.tunnels.iter().enumerate() {
            let cands: Vec<usize> = (0..self.controls.len())
                .filter(|&i| {
                    let s = &self.controls[i].summary;
                    t.uid.is_some() && s.uid == t.uid && t.port.is_some() && s.port == t.port
                })
                .collect();
            self.tunnel[ti].session = self.best(cands, t.syn_ts, t.server.addr);
        }
        for (vi, v) in self.visitors.iter().enumerate() {
            let cands: Vec<usize> = (0..self.controls.len())
                .filter(|&i| {
                    self.controls[i].summary.port == Some(i32::from(v.server.port))
                        && self.in_window(i, v.syn_ts)
                })
                .collect();
            self.visitor[vi].session = self.best(cands, v.syn_ts, v.server.addr);
        }
    }

    /// Takes the first unused `NEW_CONNECTION` of session `si` that `fits`.
    fn take_new_connection(
        &mut self,
        si: usize,
        fits: impl Fn(Timestamp) -> bool,
    ) -> Option<Timestamp> {
        let ncs = &self.controls.get(si)?.summary.new_connections;
        let used = self.nc_used.get_mut(si)?;
        let k = (0..ncs.len()).find(|&k| !used[k] && fits(ncs[k]))?;
        used[k] = true;
        Some(ncs[k])
    }

    /// Step 0': `NEW_CONNECTION` -> visitor, per session, in SYN order: the first unused
    /// one at or after the SYN, within the visitor wait.
    fn announce_visitors(&mut self) {
        let (slack, wait) = (self.cfg.clock_slack_ns, self.cfg.max_visitor_wait_ns);
        for k in 0..self.visitor_order.len() {
            let vi = self.visitor_order[k];
            let Some(si) = self.visitor[vi].session else {
                continue;
            };
            let syn = self.visitors[vi].syn_ts;
            self.visitor[vi].new_connection = self.take_new_connection(si, |nc| {
                nc.saturating_add_nanos(slack) >= syn && nc.nanos_since(syn) <= wait
            });
        }
    }

    // ---- pairing --------------------------------------------------------------------

    /// Whether visitor `vi` and tunnel `ti` can be a pair at all: the tunnel's port is the
    /// visitor's server port, their sessions (if known) agree, the tunnel came after.
    fn feasible(&self, vi: usize, ti: usize) -> bool {
        let (v, t) = (&self.visitors[vi], &self.tunnels[ti]);
        let same_port = t.port == Some(i32::from(v.server.port));
        let sessions_agree = match (self.visitor[vi].session, self.tunnel[ti].session) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        same_port
            && sessions_agree
            && t.syn_ts.saturating_add_nanos(self.cfg.clock_slack_ns) >= v.syn_ts
    }

    /// The content verdict of every feasible pair.
    fn judge_content(&mut self) {
        self.content = (0..self.visitors.len())
            .map(|vi| {
                (0..self.tunnels.len())
                    .map(|ti| {
                        self.feasible(vi, ti)
                            .then(|| verdict(&self.visitors[vi], &self.tunnels[ti]))
                    })
                    .collect()
            })
            .collect();
    }

    fn verdict(&self, vi: usize, ti: usize) -> Option<Verdict> {
        self.content.get(vi)?.get(ti).copied().flatten()
    }

    /// The content score of a pair whose bytes match.
    fn score(&self, vi: usize, ti: usize) -> Option<f64> {
        match self.verdict(vi, ti) {
            Some(Verdict::Match(s)) => Some(s),
            _ => None,
        }
    }

    fn pair(&mut self, vi: usize, ti: usize, pairing: Pairing, confidence: f64) {
        self.visitor[vi].pair = Some(Pair {
            with: ti,
            pairing,
            confidence,
        });
        self.tunnel[ti].pair = Some(Pair {
            with: vi,
            pairing,
            confidence,
        });
    }

    /// Free tunnels whose content matches visitor `vi`, by SYN time.
    fn free_matches(&self, vi: usize) -> Vec<usize> {
        let mut ts: Vec<usize> = (0..self.tunnels.len())
            .filter(|&ti| self.tunnel[ti].pair.is_none() && self.score(vi, ti).is_some())
            .collect();
        ts.sort_by_key(|&ti| (self.tunnels[ti].syn_ts, ti));
        ts
    }

    /// Pass 1, content: a visitor with exactly one free matching tunnel that no other
    /// unpaired visitor matches takes it (`content`, confidence = score); repeated until
    /// nothing changes.
    fn pair_unique_content(&mut self) {
        loop {
            let mut changed = false;
            for k in 0..self.visitor_order.len() {
                let vi = self.visitor_order[k];
                if self.visitor[vi].pair.is_some() {
                    continue;
                }
                let [ti] = self.free_matches(vi)[..] else {
                    continue;
                };
                let rivals = (0..self.visitors.len())
                    .filter(|&o| self.visitor[o].pair.is_none() && self.score(o, ti).is_some())
                    .count();
                if rivals == 1 {
                    let s = self.score(vi, ti).unwrap_or(0.0);
                    self.pair(vi, ti, Pairing::Content, s);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Pass 2, identical content on several candidates: the earliest free tunnel SYN
    /// (`timing`, confidence = score / tunnels with those bytes, used or not).
    fn pair_identical_content(&mut self) {
        for k in 0..self.visitor_order.len() {
            let vi = self.visitor_order[k];
            if self.visitor[vi].pair.is_some() {
                continue;
            }
            if let Some(&ti) = self.free_matches(vi).first() {
                let ties = (0..self.tunnels.len())
                    .filter(|&o| self.score(vi, o).is_some())
                    .count();
                let s = self.score(vi, ti).unwrap_or(0.0) / ties.max(1) as f64;
                self.pair(vi, ti, Pairing::Timing, s);
            }
        }
    }

    /// Pass 3, no content evidence either way: the first free tunnel SYN after the
    /// visitor's `NEW_CONNECTION` (or SYN) within the visitor wait (`timing`, confidence
    /// 0.6 / candidates).
    fn pair_by_timing(&mut self) {
        let (slack, wait) = (self.cfg.clock_slack_ns, self.cfg.max_visitor_wait_ns);
        for k in 0..self.visitor_order.len() {
            let vi = self.visitor_order[k];
            if self.visitor[vi].pair.is_some() {
                continue;
            }
            let (syn, nc) = (self.visitors[vi].syn_ts, self.visitor[vi].new_connection);
            let mut ts: Vec<usize> = (0..self.tunnels.len())
                .filter(|&ti| {
                    let t_syn = self.tunnels[ti].syn_ts;
                    self.tunnel[ti].pair.is_none()
                        && self.verdict(vi, ti) == Some(Verdict::Unknown)
                        && t_syn.nanos_since(syn) <= wait
                        && nc.is_none_or(|nc| t_syn.saturating_add_nanos(slack) >= nc)
                })
                .collect();
            ts.sort_by_key(|&ti| (self.tunnels[ti].syn_ts, ti));
            if let Some(&ti) = ts.first() {
                self.pair(vi, ti, Pairing::Timing, 0.6 / ts.len() as f64);
            }
        }
    }

    // ---- after pairing --------------------------------------------------------------

    /// Visitors without a session inherit their tunnel's.
    fn inherit_sessions(&mut self) {
        for vi in 0..self.visitors.len() {
            if self.visitor[vi].session.is_none()
                && let Some(p) = self.visitor[vi].pair
            {
                self.visitor[vi].session = self.tunnel[p.with].session;
            }
        }
    }

    /// The `NEW_CONNECTION` of each tunnel: its visitor's, or (client side, no visitor)
    /// the first unused one of its session at most `nc_to_tunnel_max_ns` before its SYN.
    fn announce_tunnels(&mut self) {
        for ti in 0..self.tunnels.len() {
            if let Some(p) = self.tunnel[ti].pair {
                self.tunnel[ti].new_connection = self.visitor[p.with].new_connection;
            }
        }
        let (slack, max) = (self.cfg.clock_slack_ns, self.cfg.nc_to_tunnel_max_ns);
        for k in 0..self.tunnel_order.len() {
            let ti = self.tunnel_order[k];
            if self.tunnel[ti].pair.is_some() {
                continue;
            }
            let Some(si) = self.tunnel[ti].session else {
                continue;
            };
            let syn = self.tunnels[ti].syn_ts;
            self.tunnel[ti].new_connection = self.take_new_connection(si, |nc| {
                nc <= syn.saturating_add_nanos(slack) && syn.nanos_since(nc) <= max
            });
        }
    }

    // ---- the report -----------------------------------------------------------------

    fn latency(&self, vi: Option<usize>, ti: Option<usize>, nc: Option<Timestamp>) -> Latency {
        let v = vi.map(|i| &self.visitors[i]);
        let t = ti.map(|i| &self.tunnels[i]);
        let v_syn = v.map(|v| v.syn_ts);
        let t_syn = t.map(|t| t.syn_ts);
        let first_byte = match v {
            Some(v) => v.s2c.first_ts,
            None => t.and_then(|t| t.c2s.first_ts),
        };
        Latency {
            visitor_syn_to_new_connection: ms(nc, v_syn),
            new_connection_to_tunnel_syn: ms(t_syn, nc),
            tunnel_syn_to_first_byte: ms(first_byte, t_syn),
            total: if t.is_some() {
                ms(first_byte, v_syn)
            } else {
                None
            },
        }
    }

    fn visitor_report(&self, vi: usize) -> VisitorReport {
        let (v, f) = (&self.visitors[vi], &self.visitor[vi]);
        let ti = f.pair.map(|p| p.with);
        VisitorReport {
            client: v.client,
            server: v.server,
            tunnel: ti.map(|t| self.tunnels[t].client),
            pairing: f.pair.map(|p| p.pairing),
            confidence: f.pair.map_or(0.0, |p| p.confidence),
            bytes_c2s: v.c2s.bytes,
            bytes_s2c: v.s2c.bytes,
            app: v
                .app
                .clone()
                .or_else(|| ti.and_then(|t| self.tunnels[t].app.clone())),
            syn: v.syn_ts,
            new_connection: f.new_connection,
            latency_ms: self.latency(Some(vi), ti, f.new_connection),
        }
    }

    fn tunnel_entry(&self, ti: usize) -> TunnelEntry {
        let (t, f) = (&self.tunnels[ti], &self.tunnel[ti]);
        let vi = f.pair.map(|p| p.with);
        TunnelEntry {
            client: t.client,
            server: t.server,
            uid: t.uid,
            port: t.port,
            visitor: vi.map(|v| self.visitors[v].client),
            pairing: f.pair.map(|p| p.pairing),
            confidence: f.pair.map_or(0.0, |p| p.confidence),
            session: f.session.map(|si| ConnRef {
                client: self.controls[si].client,
                server: self.controls[si].server,
            }),
            syn: t.syn_ts,
            new_connection: f.new_connection,
            bytes_c2s: t.c2s.bytes,
            bytes_s2c: t.s2c.bytes,
            app: t
                .app
                .clone()
                .or_else(|| vi.and_then(|v| self.visitors[v].app.clone())),
            latency_ms: self.latency(vi, Some(ti), f.new_connection),
        }
    }

    /// The report: sessions by start with their visitors in SYN order, tunnels in SYN
    /// order; the sessions' own anomalies first, then visitors never served or without
    /// a session, then tunnels without a session.
    fn report(&self) -> TunnelReport {
        let mut sink = Sink {
            max: self.cfg.max_anomalies,
            out: Vec::new(),
            dropped: 0,
        };
        let own = self
            .controls
            .iter()
            .map(|c| (c.client, c.server, &c.anomalies))
            .chain(
                self.tunnels
                    .iter()
                    .map(|t| (t.client, t.server, &t.anomalies)),
            );
        for (client, server, anomalies) in own {
            for a in anomalies {
                let conn = Some(conn_name(client, server));
                sink.push(a.kind, conn, Some(a.ts), a.detail.clone());
            }
        }
        let mut sessions: Vec<SessionReport> = self
            .controls
            .iter()
            .map(|c| SessionReport {
                control: ConnRef {
                    client: c.client,
                    server: c.server,
                },
                summary: c.summary.clone(),
                visitors: Vec::new(),
            })
            .collect();
        for &vi in &self.visitor_order {
            let v = &self.visitors[vi];
            let conn = || Some(conn_name(v.client, v.server));
            if self.visitor[vi].pair.is_none() {
                sink.push(
                    "visitor_never_served",
                    conn(),
                    Some(v.syn_ts),
                    "no tunnel connection carried this visitor's bytes".to_string(),
                );
            }
            match self.visitor[vi].session.and_then(|si| sessions.get_mut(si)) {
                Some(s) => s.visitors.push(self.visitor_report(vi)),
                None => sink.push(
                    "visitor_without_session",
                    conn(),
                    Some(v.syn_ts),
                    format!("no control session exposes port {}", v.server.port),
                ),
            }
        }
        let tunnels = self
            .tunnel_order
            .iter()
            .map(|&ti| {
                let t = &self.tunnels[ti];
                if self.tunnel[ti].session.is_none() {
                    sink.push(
                        "tunnel_without_session",
                        Some(conn_name(t.client, t.server)),
                        Some(t.syn_ts),
                        format!(
                            "no control session with uid {} and port {}",
                            t.uid.map_or("?".to_string(), |u| u.to_string()),
                            t.port.map_or("?".to_string(), |p| p.to_string())
                        ),
                    );
                }
                self.tunnel_entry(ti)
            })
            .collect();
        let mut order: Vec<usize> = (0..sessions.len()).collect();
        order.sort_by_key(|&i| (self.start(i), i));
        let mut slots: Vec<Option<SessionReport>> = sessions.drain(..).map(Some).collect();
        let sessions = order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take))
            .collect();
        TunnelReport {
            sessions,
            tunnels,
            anomalies: sink.out,
            anomalies_dropped: sink.dropped,
        }
    }
}

/// Pairs visitors with tunnels and builds the report (see the module docs).
pub fn correlate(
    controls: &[ControlInput],
    tunnels: &[TunnelInput],
    visitors: &[VisitorInput],
    cfg: &CorrelateConfig,
) -> TunnelReport {
    let mut m = Matcher::new(controls, tunnels, visitors, cfg);
    m.assign_sessions();
    m.announce_visitors();
    m.judge_content();
    m.pair_unique_content();
    m.pair_identical_content();
    m.pair_by_timing();
    m.inherit_sessions();
    m.announce_tunnels();
    m.report()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::nat_tunnel::parser::{ByteOrder, MsgId, encode_frame};
    use crate::analyzers::nat_tunnel::relay::PrefixHasher;
    use crate::analyzers::nat_tunnel::session::TunnelSession;
    use std::net::{IpAddr, Ipv4Addr};

    const BASE: i64 = 1_795_315_344_000_000_000;
    const C2S: Direction = Direction::ClientToServer;
    const S2C: Direction = Direction::ServerToClient;

    /// Capture time `x` milliseconds after an arbitrary start.
    fn ms(x: f64) -> Timestamp {
        Timestamp(BASE + (x * 1e6).round() as i64)
    }

    fn ep(a: [u8; 4], port: u16) -> Endpoint {
        Endpoint::new(IpAddr::V4(Ipv4Addr::from(a)), port)
    }

    fn facts(bytes: &[u8], first_ms: f64) -> RelayFacts {
        let mut h = PrefixHasher::default();
        h.update(bytes);
        RelayFacts {
            bytes: bytes.len() as u64,
            gap_bytes: 0,
            first_ts: (!bytes.is_empty()).then(|| ms(first_ms)),
            last_ts: (!bytes.is_empty()).then(|| ms(first_ms)),
            prefix: h.fingerprint(),
        }
    }

    /// A control session fed like the pipeline would: auth, success, USER_INFORMATION at
    /// 2 ms, then one NEW_CONNECTION per time given.
    fn control(uid: i64, port: i32, ncs: &[f64]) -> ControlInput {
        let mut s = TunnelSession::default();
        let mut ui = 0i64.to_be_bytes().to_vec();
        ui.extend_from_slice(&3i32.to_be_bytes());
        ui.extend_from_slice(b"bob");
        ui.extend_from_slice(&2i32.to_be_bytes());
        ui.extend_from_slice(b"pw");
        ui.extend_from_slice(&0i64.to_be_bytes());
        let be = ByteOrder::BigEndian;
        s.on_data(
            C2S,
            &encode_frame(be, MsgId::UserRequestAuth.code(), &ui),
            ms(0.0),
        );
        s.on_data(S2C, &encode_frame(be, 10001, b""), ms(1.0));
        let mut ci = uid.to_be_bytes().to_vec();
        ci.extend_from_slice(&port.to_be_bytes());
        s.on_data(S2C, &encode_frame(be, 20002, &ci), ms(2.0));
        for &t in ncs {
            s.on_data(S2C, &encode_frame(be, 20001, b"NEW_CONNECTION"), ms(t));
        }
        ControlInput::from_session(
            ep([10, 200, 1, 2], 55498),
            ep([10, 200, 1, 1], 8007),
            Some(ms(0.0)),
            &s,
        )
        .expect("control session")
    }

    fn tunnel(
        cport: u16,
        syn: f64,
        uid: i64,
        port: i32,
        c2s: RelayFacts,
        s2c: RelayFacts,
    ) -> TunnelInput {
        TunnelInput {
            client: ep([10, 200, 1, 2], cport),
            server: ep([10, 200, 1, 1], 8008),
            syn_ts: ms(syn),
            uid: Some(uid),
            port: Some(port),
            c2s,
            s2c,
            app: None,
            anomalies: Vec::new(),
        }
    }

    fn visitor(cport: u16, syn: f64, c2s: RelayFacts, s2c: RelayFacts) -> VisitorInput {
        VisitorInput {
            client: ep([10, 200, 2, 2], cport),
            server: ep([10, 200, 2, 1], 60000),
            syn_ts: ms(syn),
            c2s,
            s2c,
            app: Some("http".to_string()),
        }
    }

    const REQ_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const RESP_A: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na";
    const REQ_B: &[u8] = b"GET /bb HTTP/1.1\r\nHost: x\r\n\r\n";
    const RESP_B: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-6)
    }

    #[test]
    fn crossed_in_time_matched_by_content() {
        let c = control(1, 60000, &[10_000.2, 10_000.7]);
        // V1 connects first but its bytes went through the second tunnel.
        let v1 = visitor(
            51734,
            10_000.0,
            facts(REQ_A, 10_001.6),
            facts(RESP_A, 10_030.0),
        );
        let v2 = visitor(
            51740,
            10_000.5,
            facts(REQ_B, 10_001.1),
            facts(RESP_B, 10_040.0),
        );
        // Tunnel roles: the visitor's request travels server -> client.
        let t1 = tunnel(
            34498,
            10_001.0,
            1,
            60000,
            facts(RESP_B, 10_039.0),
            facts(REQ_B, 10_001.1),
        );
        let t2 = tunnel(
            34510,
            10_001.5,
            1,
            60000,
            facts(RESP_A, 10_029.0),
            facts(REQ_A, 10_001.6),
        );
        let r = correlate(&[c], &[t1, t2], &[v1, v2], &CorrelateConfig::default());
        assert_eq!(r.sessions.len(), 1);
        let vs = &r.sessions[0].visitors;
        assert_eq!(vs.len(), 2);
        assert_eq!(vs[0].client.port, 51734);
        assert_eq!(vs[0].tunnel.map(|e| e.port), Some(34510));
        assert_eq!(vs[0].pairing, Some(Pairing::Content));
        assert_eq!(vs[0].confidence, 1.0);
        assert_eq!(vs[1].tunnel.map(|e| e.port), Some(34498));
        assert_eq!(vs[1].pairing, Some(Pairing::Content));
        // V1: SYN 10000.0 -> NC 10000.2 -> T2 SYN 10001.5 -> first byte 10030.0.
        let l = vs[0].latency_ms;
        assert!(close(l.visitor_syn_to_new_connection, 0.2), "{l:?}");
        assert!(close(l.new_connection_to_tunnel_syn, 1.3), "{l:?}");
        assert!(close(l.tunnel_syn_to_first_byte, 28.5), "{l:?}");
        assert!(close(l.total, 30.0), "{l:?}");
        // V2: SYN 10000.5 -> NC 10000.7 -> T1 SYN 10001.0 -> first byte 10040.0.
        let l = vs[1].latency_ms;
        assert!(close(l.visitor_syn_to_new_connection, 0.2), "{l:?}");
        assert!(close(l.new_connection_to_tunnel_syn, 0.3), "{l:?}");
        assert!(close(l.tunnel_syn_to_first_byte, 39.0), "{l:?}");
        assert!(close(l.total, 39.5), "{l:?}");
        assert_eq!(
            (vs[0].bytes_c2s, vs[0].bytes_s2c),
            (REQ_A.len() as u64, RESP_A.len() as u64)
        );
        // The tunnel list says the same from the other side.
        assert_eq!(r.tunnels.len(), 2);
        assert_eq!(r.tunnels[0].visitor.map(|e| e.port), Some(51740));
        assert_eq!(r.tunnels[1].visitor.map(|e| e.port), Some(51734));
        assert_eq!(r.tunnels[1].new_connection, Some(ms(10_000.2)));
        assert_eq!(r.tunnels[0].app.as_deref(), Some("http"));
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    }

    #[test]
    fn same_direction_bytes_do_not_match() {
        // A tunnel whose c2s equals the visitor's c2s is *not* the visitor's tunnel.
        let c = control(1, 60000, &[100.2]);
        let v = visitor(51734, 100.0, facts(REQ_A, 101.0), facts(RESP_A, 120.0));
        let t = tunnel(
            34498,
            100.5,
            1,
            60000,
            facts(REQ_A, 101.0),
            facts(RESP_A, 120.0),
        );
        let r = correlate(&[c], &[t], &[v], &CorrelateConfig::default());
        assert_eq!(r.sessions[0].visitors[0].tunnel, None);
        let kinds: Vec<&str> = r.anomalies.iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec!["visitor_never_served"]);
    }

    #[test]
    fn only_timing_can_tell() {
        let c = control(1, 60000, &[0.2 + 10.0, 2_000.3]);
        // V1 lost bytes in a gap (no prefix, counts differ); V2 sent nothing at all.
        let mut gapped = facts(&[7u8; 100], 11.0);
        gapped.prefix = None;
        gapped.gap_bytes = 20;
        let v1 = visitor(51734, 10.0, gapped, facts(b"", 0.0));
        let v2 = visitor(51740, 2_000.0, facts(b"", 0.0), facts(b"", 0.0));
        let t1 = tunnel(
            34498,
            11.0,
            1,
            60000,
            facts(b"", 0.0),
            facts(&[7u8; 120], 11.5),
        );
        let t2 = tunnel(34510, 2_001.0, 1, 60000, facts(b"", 0.0), facts(b"", 0.0));
        let r = correlate(&[c], &[t2, t1], &[v2, v1], &CorrelateConfig::default());
        let vs = &r.sessions[0].visitors;
        assert_eq!(vs[0].client.port, 51734);
        assert_eq!(vs[0].tunnel.map(|e| e.port), Some(34498));
        assert_eq!(vs[0].pairing, Some(Pairing::Timing));
        // T2 relayed nothing while V1 sent bytes, so T1 is V1's only candidate.
        assert!((vs[0].confidence - 0.6).abs() < 1e-9);
        assert_eq!(vs[1].tunnel.map(|e| e.port), Some(34510));
        assert!((vs[1].confidence - 0.6).abs() < 1e-9);
        assert!(close(vs[1].latency_ms.new_connection_to_tunnel_syn, 0.7));
        assert_eq!(vs[1].latency_ms.total, None);
    }

    #[test]
    fn empty_visitors_pair_in_order_with_shared_confidence() {
        let c = control(1, 60000, &[10.2, 20.2]);
        let none = || facts(b"", 0.0);
        let v1 = visitor(51734, 10.0, none(), none());
        let v2 = visitor(51740, 20.0, none(), none());
        let t1 = tunnel(34498, 11.0, 1, 60000, none(), none());
        let t2 = tunnel(34510, 21.0, 1, 60000, none(), none());
        let r = correlate(&[c], &[t2, t1], &[v2, v1], &CorrelateConfig::default());
        let vs = &r.sessions[0].visitors;
        assert_eq!(vs[0].tunnel.map(|e| e.port), Some(34498));
        // Both tunnels came within 15 s after V1's NEW_CONNECTION: 0.6 / 2.
        assert!((vs[0].confidence - 0.3).abs() < 1e-9);
        // V2's NEW_CONNECTION (20.2) rules T1 (11.0) out.
        assert_eq!(vs[1].tunnel.map(|e| e.port), Some(34510));
        assert!((vs[1].confidence - 0.6).abs() < 1e-9);
    }

    #[test]
    fn identical_content_is_a_tie() {
        let c = control(1, 60000, &[100.1, 100.3]);
        let v1 = visitor(51734, 100.0, facts(REQ_A, 101.0), facts(RESP_A, 110.0));
        let v2 = visitor(51740, 100.2, facts(REQ_A, 101.2), facts(RESP_A, 111.0));
        let t1 = tunnel(
            34498,
            100.5,
            1,
            60000,
            facts(RESP_A, 109.0),
            facts(REQ_A, 101.0),
        );
        let t2 = tunnel(
            34510,
            100.6,
            1,
            60000,
            facts(RESP_A, 110.5),
            facts(REQ_A, 101.2),
        );
        let r = correlate(&[c], &[t1, t2], &[v1, v2], &CorrelateConfig::default());
        for v in &r.sessions[0].visitors {
            assert_eq!(v.pairing, Some(Pairing::Timing));
            assert!((v.confidence - 0.5).abs() < 1e-9, "{v:?}");
        }
    }

    #[test]
    fn client_side_capture_without_visitors() {
        let c = control(4, 60001, &[5_000.0, 7_000.0]);
        let t1 = tunnel(
            40001,
            5_002.0,
            4,
            60001,
            facts(RESP_A, 5_010.0),
            facts(REQ_A, 5_003.0),
        );
        let t2 = tunnel(
            40002,
            7_003.0,
            4,
            60001,
            facts(RESP_B, 7_020.0),
            facts(REQ_B, 7_004.0),
        );
        let r = correlate(&[c], &[t2, t1], &[], &CorrelateConfig::default());
        assert!(r.sessions[0].visitors.is_empty());
        assert_eq!(r.tunnels.len(), 2);
        let t = &r.tunnels[0];
        assert_eq!((t.client.port, t.visitor, t.pairing), (40001, None, None));
        assert_eq!(t.new_connection, Some(ms(5_000.0)));
        assert_eq!(t.session.map(|s| s.server.port), Some(8007));
        assert!(close(t.latency_ms.new_connection_to_tunnel_syn, 2.0));
        assert!(close(t.latency_ms.tunnel_syn_to_first_byte, 8.0));
        assert_eq!(t.latency_ms.visitor_syn_to_new_connection, None);
        assert_eq!(t.latency_ms.total, None);
        let t = &r.tunnels[1];
        assert_eq!(t.new_connection, Some(ms(7_000.0)));
        assert!(close(t.latency_ms.new_connection_to_tunnel_syn, 3.0));
        assert!(close(t.latency_ms.tunnel_syn_to_first_byte, 17.0));
        assert_eq!(
            (t.bytes_c2s, t.bytes_s2c),
            (RESP_B.len() as u64, REQ_B.len() as u64)
        );
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
    }

    #[test]
    fn orphans_are_anomalies() {
        let c = control(1, 60000, &[50.0]);
        let stray = tunnel(34498, 60.0, 9, 60005, facts(b"x", 61.0), facts(b"y", 60.5));
        let v = visitor(51734, 49.0, facts(REQ_A, 49.5), facts(b"", 0.0));
        let r = correlate(&[c], &[stray], &[v], &CorrelateConfig::default());
        let kinds: Vec<&str> = r.anomalies.iter().map(|a| a.kind).collect();
        assert!(kinds.contains(&"tunnel_without_session"), "{kinds:?}");
        assert!(kinds.contains(&"visitor_never_served"), "{kinds:?}");
        assert_eq!(r.tunnels[0].session, None);
    }

    #[test]
    fn json_has_the_issue_shape() {
        let c = control(1, 60000, &[10_000.2]);
        let v = visitor(
            51734,
            10_000.0,
            facts(REQ_A, 10_001.0),
            facts(RESP_A, 10_030.0),
        );
        let t = tunnel(
            34510,
            10_001.0,
            1,
            60000,
            facts(RESP_A, 10_029.0),
            facts(REQ_A, 10_001.1),
        );
        let r = correlate(&[c], &[t], &[v], &CorrelateConfig::default());
        let j = serde_json::to_value(&r).expect("json");
        let s = &j["sessions"][0];
        assert_eq!(s["control"]["client"], "10.200.1.2:55498");
        assert_eq!(s["control"]["server"], "10.200.1.1:8007");
        assert_eq!(s["byte_order"], "big_endian");
        assert_eq!(s["user"], "bob");
        assert_eq!(s["auth"], "ok");
        assert_eq!(s["uid"], 1);
        assert_eq!(s["port"], 60000);
        assert_eq!(s["password_present"], true);
        assert_eq!(s["password_len"], 2);
        assert!(s.get("password").is_none());
        assert_eq!(s["frames"]["NEW_CONNECTION"], 1);
        assert_eq!(s["frames"]["USER_REQUEST_AUTH"], 1);
        for k in ["count", "mean_interval_s", "stddev_s", "max_gap_s"] {
            assert!(s["keepalive"].get(k).is_some(), "keepalive.{k}");
        }
        let v = &s["visitors"][0];
        assert_eq!(v["client"], "10.200.2.2:51734");
        assert_eq!(v["server"], "10.200.2.1:60000");
        assert_eq!(v["tunnel"], "10.200.1.2:34510");
        assert_eq!(v["pairing"], "content");
        assert_eq!(v["confidence"], 1.0);
        assert_eq!(v["bytes_c2s"], REQ_A.len());
        assert_eq!(v["app"], "http");
        for k in [
            "visitor_syn_to_new_connection",
            "new_connection_to_tunnel_syn",
            "tunnel_syn_to_first_byte",
            "total",
        ] {
            assert!(v["latency_ms"][k].is_number(), "latency_ms.{k}");
        }
        let t = &j["tunnels"][0];
        assert_eq!(t["client"], "10.200.1.2:34510");
        assert_eq!(t["server"], "10.200.1.1:8008");
        assert_eq!(
            (t["uid"].as_i64(), t["port"].as_i64()),
            (Some(1), Some(60000))
        );
        assert_eq!(t["visitor"], "10.200.2.2:51734");
        assert!(j["anomalies"].is_array());
    }

    // ---- the matcher, one step at a time ---------------------------------------------

    const CFG: CorrelateConfig = CorrelateConfig {
        max_visitor_wait_ns: 15_000_000_000,
        nc_to_tunnel_max_ns: 5_000_000_000,
        clock_slack_ns: 1_000_000,
        max_anomalies: 1000,
    };

    /// A matcher with sessions, announcements and content verdicts done.
    fn judged<'a>(
        c: &'a [ControlInput],
        t: &'a [TunnelInput],
        v: &'a [VisitorInput],
    ) -> Matcher<'a> {
        let mut m = Matcher::new(c, t, v, &CFG);
        m.assign_sessions();
        m.announce_visitors();
        m.judge_content();
        m
    }

    fn paired(m: &Matcher<'_>, vi: usize) -> Option<(usize, Pairing, f64)> {
        m.visitor[vi]
            .pair
            .map(|p| (p.with, p.pairing, p.confidence))
    }

    #[test]
    fn direction_scores() {
        let f = |b: &[u8]| facts(b, 1.0);
        assert_eq!(dir_match(&f(b""), &f(b"")), DirMatch::Empty);
        assert_eq!(dir_match(&f(REQ_A), &f(REQ_A)), DirMatch::Scored(1.0));
        assert_eq!(dir_match(&f(REQ_A), &f(b"")), DirMatch::Mismatch);
        assert_eq!(dir_match(&f(REQ_A), &f(REQ_B)), DirMatch::Mismatch);
        // Same first bytes, more of them on one side: hash only.
        let mut longer = REQ_A.to_vec();
        longer.extend_from_slice(b"tail");
        let mut a = f(REQ_A);
        a.bytes = longer.len() as u64;
        assert_eq!(dir_match(&a, &f(REQ_A)), DirMatch::Scored(0.8));
        // A gap hid the prefix: counts alone.
        let mut hidden = f(REQ_A);
        hidden.prefix = None;
        assert_eq!(dir_match(&hidden, &f(REQ_A)), DirMatch::Scored(0.5));
        hidden.bytes += 1;
        assert_eq!(dir_match(&hidden, &f(REQ_A)), DirMatch::Unknown);
    }

    #[test]
    fn verdict_crosses_directions() {
        let v = visitor(1, 0.0, facts(REQ_A, 1.0), facts(b"", 0.0));
        // The visitor's c2s is the tunnel's s2c; an empty pair of directions is neutral.
        let t = tunnel(2, 0.5, 1, 60000, facts(b"", 0.0), facts(REQ_A, 1.0));
        assert_eq!(verdict(&v, &t), Verdict::Match(0.9));
        let t = tunnel(2, 0.5, 1, 60000, facts(REQ_A, 1.0), facts(b"", 0.0));
        assert_eq!(verdict(&v, &t), Verdict::Mismatch);
        let none = visitor(1, 0.0, facts(b"", 0.0), facts(b"", 0.0));
        let t = tunnel(2, 0.5, 1, 60000, facts(b"", 0.0), facts(b"", 0.0));
        assert_eq!(verdict(&none, &t), Verdict::Unknown);
    }

    #[test]
    fn step_sessions_by_uid_port_and_lifetime() {
        let cs = [control(1, 60000, &[]), control(2, 60001, &[])];
        let none = || facts(b"", 0.0);
        let ts = [
            tunnel(1, 10.0, 2, 60001, none(), none()),
            tunnel(2, 10.0, 9, 60000, none(), none()),
        ];
        // Before the session's USER_INFORMATION (2 ms, 1 ms slack): no session.
        let vs = [
            visitor(3, 10.0, none(), none()),
            visitor(4, 0.5, none(), none()),
        ];
        let m = judged(&cs, &ts, &vs);
        assert_eq!(m.tunnel[0].session, Some(1));
        assert_eq!(m.tunnel[1].session, None);
        assert_eq!(m.visitor[0].session, Some(0));
        assert_eq!(m.visitor[1].session, None);
    }

    #[test]
    fn step_announcements_go_to_visitors_in_syn_order() {
        let cs = [control(1, 60000, &[10.2, 20.2, 60_000.0])];
        let none = || facts(b"", 0.0);
        // Listed out of order; the third's only NEW_CONNECTION left is beyond the wait.
        let vs = [
            visitor(2, 20.0, none(), none()),
            visitor(1, 10.0, none(), none()),
            visitor(3, 30.0, none(), none()),
        ];
        let m = judged(&cs, &[], &vs);
        assert_eq!(m.visitor[1].new_connection, Some(ms(10.2)));
        assert_eq!(m.visitor[0].new_connection, Some(ms(20.2)));
        assert_eq!(m.visitor[2].new_connection, None);
        assert_eq!(m.nc_used[0], vec![true, true, false]);
    }

    #[test]
    fn pass_content_takes_unique_matches_only() {
        let cs = [control(1, 60000, &[])];
        let vs = [
            visitor(1, 0.0, facts(REQ_A, 1.0), facts(RESP_A, 2.0)),
            visitor(2, 0.1, facts(REQ_B, 1.0), facts(RESP_B, 2.0)),
            visitor(3, 0.2, facts(REQ_B, 1.0), facts(RESP_B, 2.0)),
        ];
        let ts = [
            tunnel(10, 0.5, 1, 60000, facts(RESP_B, 2.0), facts(REQ_B, 1.0)),
            tunnel(11, 0.6, 1, 60000, facts(RESP_A, 2.0), facts(REQ_A, 1.0)),
            tunnel(12, 0.7, 1, 60000, facts(RESP_B, 2.0), facts(REQ_B, 1.0)),
        ];
        let mut m = judged(&cs, &ts, &vs);
        m.pair_unique_content();
        assert_eq!(paired(&m, 0), Some((1, Pairing::Content, 1.0)));
        // Two visitors, two tunnels with the same bytes: not for this pass.
        assert_eq!((paired(&m, 1), paired(&m, 2)), (None, None));
        assert_eq!(m.tunnel[1].pair.map(|p| p.with), Some(0));
    }

    #[test]
    fn pass_identical_content_takes_the_earliest_tunnel() {
        let cs = [control(1, 60000, &[])];
        let vs = [
            visitor(1, 0.0, facts(REQ_A, 1.0), facts(RESP_A, 2.0)),
            visitor(2, 0.1, facts(REQ_A, 1.0), facts(RESP_A, 2.0)),
        ];
        let ts = [
            tunnel(11, 0.7, 1, 60000, facts(RESP_A, 2.0), facts(REQ_A, 1.0)),
            tunnel(10, 0.5, 1, 60000, facts(RESP_A, 2.0), facts(REQ_A, 1.0)),
        ];
        let mut m = judged(&cs, &ts, &vs);
        m.pair_unique_content();
        m.pair_identical_content();
        // Earliest SYN first; each confidence shared by the two tunnels with those bytes.
        assert_eq!(paired(&m, 0), Some((1, Pairing::Timing, 0.5)));
        assert_eq!(paired(&m, 1), Some((0, Pairing::Timing, 0.5)));
    }

    #[test]
    fn pass_timing_needs_unknown_content_and_the_announcement() {
        let cs = [control(1, 60000, &[10.5])];
        let none = || facts(b"", 0.0);
        let vs = [
            visitor(1, 10.0, none(), none()),
            visitor(2, 11.0, facts(REQ_A, 11.1), none()),
        ];
        let ts = [
            // Within the slack of the visitor's SYN (10 ms) but before its NEW_CONNECTION
            // (10.5 ms, 1 ms slack): not the first visitor's.
            tunnel(10, 9.2, 1, 60000, none(), none()),
            tunnel(11, 12.0, 1, 60000, none(), none()),
        ];
        let mut m = judged(&cs, &ts, &vs);
        m.pair_by_timing();
        assert_eq!(paired(&m, 0), Some((1, Pairing::Timing, 0.6)));
        // Bytes on the visitor's side only rule every tunnel out, timing or not.
        assert_eq!(paired(&m, 1), None);
    }

    #[test]
    fn after_pairing_sessions_are_inherited() {
        let cs = [control(1, 60000, &[])];
        // Its SYN is before the session started serving, but its bytes went through T.
        let vs = [visitor(1, 0.5, facts(REQ_A, 3.0), facts(RESP_A, 4.0))];
        let ts = [tunnel(
            10,
            2.5,
            1,
            60000,
            facts(RESP_A, 4.0),
            facts(REQ_A, 3.0),
        )];
        let mut m = judged(&cs, &ts, &vs);
        assert_eq!(m.visitor[0].session, None);
        m.pair_unique_content();
        m.inherit_sessions();
        assert_eq!(m.visitor[0].session, Some(0));
    }

    #[test]
    fn after_pairing_tunnels_get_their_announcement() {
        let cs = [control(4, 60001, &[5_000.0, 7_000.0, 9_000.0])];
        let none = || facts(b"", 0.0);
        let ts = [
            tunnel(3, 15_000.0, 4, 60001, none(), none()),
            tunnel(2, 7_003.0, 4, 60001, none(), none()),
            tunnel(1, 5_002.0, 4, 60001, none(), none()),
        ];
        let mut m = judged(&cs, &ts, &[]);
        m.announce_tunnels();
        assert_eq!(m.tunnel[2].new_connection, Some(ms(5_000.0)));
        assert_eq!(m.tunnel[1].new_connection, Some(ms(7_000.0)));
        // 6 s after the last unused one: more than nc_to_tunnel_max_ns.
        assert_eq!(m.tunnel[0].new_connection, None);
    }
}
