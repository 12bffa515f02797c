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
//! # Pairing
//! The server pairs a tunnel with *any* waiting visitor of the same uid, so order proves
//! nothing. A visitor and a tunnel are candidates when the tunnel's port is the visitor's
//! server port, their sessions (if known) agree, and the tunnel's SYN is not before the
//! visitor's. Then:
//! 1. **content**: per direction, equal byte counts and an equal hash of the first
//!    [`super::relay::PREFIX_LEN`] bytes (score 1.0; hash only 0.8; counts only when a gap
//!    hid the prefix 0.5; a direction empty on both sides is neutral; bytes on one side
//!    only, or different hashes, rule the pair out). Pairs whose content matches uniquely
//!    both ways are taken (`pairing: content`, confidence = score), repeatedly.
//! 2. identical content on several candidates (e.g. the same HTTP request twice): the
//!    earliest tunnel SYN wins (`pairing: timing`, confidence = score / candidates).
//! 3. no content evidence (no bytes, gaps): visitor SYN -> its `NEW_CONNECTION` -> the
//!    first free tunnel SYN after it within [`CorrelateConfig::max_visitor_wait_ns`]
//!    (`pairing: timing`, confidence 0.6 / candidates).
//!
//! `NEW_CONNECTION` frames are matched to visitors of the same session in order (each
//! visitor gets the first unused one at or after its SYN); on a client-side capture (no
//! visitors) each tunnel gets the first unused one at most
//! [`CorrelateConfig::nc_to_tunnel_max_ns`] before its SYN.
//!
//! Bounds: work is quadratic in the visitors and tunnels of one exposed port; the report
//! keeps at most [`CorrelateConfig::max_anomalies`] anomalies (the rest counted).

use super::relay::{RelayFacts, RelayTap};
use super::session::{ControlSummary, SessionAnomaly, TunnelSession};
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

struct Ctx<'a> {
    controls: &'a [ControlInput],
    cfg: &'a CorrelateConfig,
}

impl Ctx<'_> {
    fn start(&self, i: usize) -> Option<Timestamp> {
        let c = self.controls.get(i)?;
        c.summary
            .timeline
            .user_information
            .or(c.syn_ts)
            .or(c.summary.timeline.first_seen)
    }

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

    /// Best session among `cands` for something at `ts` reached at `addr`.
    fn best(&self, cands: Vec<usize>, ts: Timestamp, addr: std::net::IpAddr) -> Option<usize> {
        cands.into_iter().max_by_key(|&i| {
            let c = &self.controls[i];
            (
                self.in_window(i, ts),
                c.server.addr == addr,
                self.start(i).filter(|&s| s <= ts),
            )
        })
    }

    fn tunnel_session(&self, t: &TunnelInput) -> Option<usize> {
        let cands: Vec<usize> = (0..self.controls.len())
            .filter(|&i| {
                let s = &self.controls[i].summary;
                t.uid.is_some() && s.uid == t.uid && t.port.is_some() && s.port == t.port
            })
            .collect();
        self.best(cands, t.syn_ts, t.server.addr)
    }

    fn visitor_session(&self, v: &VisitorInput) -> Option<usize> {
        let cands: Vec<usize> = (0..self.controls.len())
            .filter(|&i| {
                self.controls[i].summary.port == Some(i32::from(v.server.port))
                    && self.in_window(i, v.syn_ts)
            })
            .collect();
        self.best(cands, v.syn_ts, v.server.addr)
    }
}

/// Pairs visitors with tunnels and builds the report (see the module docs).
pub fn correlate(
    controls: &[ControlInput],
    tunnels: &[TunnelInput],
    visitors: &[VisitorInput],
    cfg: &CorrelateConfig,
) -> TunnelReport {
    let ctx = Ctx { controls, cfg };
    let mut sink = Sink {
        max: cfg.max_anomalies,
        out: Vec::new(),
        dropped: 0,
    };
    for c in controls {
        for a in &c.anomalies {
            sink.push(
                a.kind,
                Some(conn_name(c.client, c.server)),
                Some(a.ts),
                a.detail.clone(),
            );
        }
    }
    for t in tunnels {
        for a in &t.anomalies {
            sink.push(
                a.kind,
                Some(conn_name(t.client, t.server)),
                Some(a.ts),
                a.detail.clone(),
            );
        }
    }

    let t_sess: Vec<Option<usize>> = tunnels.iter().map(|t| ctx.tunnel_session(t)).collect();
    let mut v_sess: Vec<Option<usize>> = visitors.iter().map(|v| ctx.visitor_session(v)).collect();

    // NEW_CONNECTION -> visitor, per session, in order.
    let mut nc_used: Vec<Vec<bool>> = controls
        .iter()
        .map(|c| vec![false; c.summary.new_connections.len()])
        .collect();
    let mut v_nc: Vec<Option<Timestamp>> = vec![None; visitors.len()];
    let mut v_order: Vec<usize> = (0..visitors.len()).collect();
    v_order.sort_by_key(|&i| (visitors[i].syn_ts, i));
    for &vi in &v_order {
        let Some(si) = v_sess[vi] else { continue };
        let syn = visitors[vi].syn_ts;
        let ncs = &controls[si].summary.new_connections;
        let pick = (0..ncs.len()).find(|&k| {
            !nc_used[si][k]
                && ncs[k].saturating_add_nanos(cfg.clock_slack_ns) >= syn
                && ncs[k].nanos_since(syn) <= cfg.max_visitor_wait_ns
        });
        if let Some(k) = pick {
            nc_used[si][k] = true;
            v_nc[vi] = Some(ncs[k]);
        }
    }

    // Candidate pairs.
    let feasible = |vi: usize, ti: usize| -> bool {
        let (v, t) = (&visitors[vi], &tunnels[ti]);
        let same_port = t.port == Some(i32::from(v.server.port));
        let sessions_agree = match (v_sess[vi], t_sess[ti]) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        same_port && sessions_agree && t.syn_ts.saturating_add_nanos(cfg.clock_slack_ns) >= v.syn_ts
    };
    let verdicts: Vec<Vec<Option<Verdict>>> = (0..visitors.len())
        .map(|vi| {
            (0..tunnels.len())
                .map(|ti| feasible(vi, ti).then(|| verdict(&visitors[vi], &tunnels[ti])))
                .collect()
        })
        .collect();
    let score = |vi: usize, ti: usize| match verdicts[vi][ti] {
        Some(Verdict::Match(s)) => Some(s),
        _ => None,
    };

    let mut v_pair: Vec<Option<(usize, Pairing, f64)>> = vec![None; visitors.len()];
    let mut t_used = vec![false; tunnels.len()];

    // 1. Unique content matches, repeated until stable.
    loop {
        let mut changed = false;
        for &vi in &v_order {
            if v_pair[vi].is_some() {
                continue;
            }
            let ts: Vec<usize> = (0..tunnels.len())
                .filter(|&ti| !t_used[ti] && score(vi, ti).is_some())
                .collect();
            let [ti] = ts[..] else { continue };
            let rivals = (0..visitors.len())
                .filter(|&o| v_pair[o].is_none() && score(o, ti).is_some())
                .count();
            if rivals == 1 {
                let s = score(vi, ti).unwrap_or(0.0);
                v_pair[vi] = Some((ti, Pairing::Content, s));
                t_used[ti] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // 2. Identical content on several candidates: earliest tunnel SYN.
    for &vi in &v_order {
        if v_pair[vi].is_some() {
            continue;
        }
        let mut ts: Vec<usize> = (0..tunnels.len())
            .filter(|&ti| !t_used[ti] && score(vi, ti).is_some())
            .collect();
        ts.sort_by_key(|&ti| (tunnels[ti].syn_ts, ti));
        if let Some(&ti) = ts.first() {
            let s = score(vi, ti).unwrap_or(0.0) / ts.len() as f64;
            v_pair[vi] = Some((ti, Pairing::Timing, s));
            t_used[ti] = true;
        }
    }
    // 3. No content evidence: timing through NEW_CONNECTION.
    for &vi in &v_order {
        if v_pair[vi].is_some() {
            continue;
        }
        let v = &visitors[vi];
        let mut ts: Vec<usize> = (0..tunnels.len())
            .filter(|&ti| {
                let t = &tunnels[ti];
                !t_used[ti]
                    && verdicts[vi][ti] == Some(Verdict::Unknown)
                    && t.syn_ts.nanos_since(v.syn_ts) <= cfg.max_visitor_wait_ns
                    && v_nc[vi]
                        .is_none_or(|nc| t.syn_ts.saturating_add_nanos(cfg.clock_slack_ns) >= nc)
            })
            .collect();
        ts.sort_by_key(|&ti| (tunnels[ti].syn_ts, ti));
        if let Some(&ti) = ts.first() {
            v_pair[vi] = Some((ti, Pairing::Timing, 0.6 / ts.len() as f64));
            t_used[ti] = true;
        }
    }

    // Visitors without a session inherit their tunnel's.
    for vi in 0..visitors.len() {
        if v_sess[vi].is_none()
            && let Some((ti, _, _)) = v_pair[vi]
        {
            v_sess[vi] = t_sess[ti];
        }
    }

    // NEW_CONNECTION of each tunnel: its visitor's, or (client side) the first unused one
    // shortly before its SYN.
    let mut t_nc: Vec<Option<Timestamp>> = vec![None; tunnels.len()];
    let mut t_visitor: Vec<Option<(usize, Pairing, f64)>> = vec![None; tunnels.len()];
    for vi in 0..visitors.len() {
        if let Some((ti, p, c)) = v_pair[vi] {
            t_visitor[ti] = Some((vi, p, c));
            t_nc[ti] = v_nc[vi];
        }
    }
    let mut t_order: Vec<usize> = (0..tunnels.len()).collect();
    t_order.sort_by_key(|&i| (tunnels[i].syn_ts, i));
    for &ti in &t_order {
        if t_visitor[ti].is_some() {
            continue;
        }
        let Some(si) = t_sess[ti] else { continue };
        let syn = tunnels[ti].syn_ts;
        let ncs = &controls[si].summary.new_connections;
        let pick = (0..ncs.len()).find(|&k| {
            !nc_used[si][k]
                && ncs[k] <= syn.saturating_add_nanos(cfg.clock_slack_ns)
                && syn.nanos_since(ncs[k]) <= cfg.nc_to_tunnel_max_ns
        });
        if let Some(k) = pick {
            nc_used[si][k] = true;
            t_nc[ti] = Some(ncs[k]);
        }
    }

    let latency = |vi: Option<usize>, ti: Option<usize>, nc: Option<Timestamp>| {
        let v = vi.map(|i| &visitors[i]);
        let t = ti.map(|i| &tunnels[i]);
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
    };

    // Reports.
    let mut sessions: Vec<SessionReport> = controls
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
    for &vi in &v_order {
        let v = &visitors[vi];
        let pair = v_pair[vi];
        let ti = pair.map(|p| p.0);
        let report = VisitorReport {
            client: v.client,
            server: v.server,
            tunnel: ti.map(|t| tunnels[t].client),
            pairing: pair.map(|p| p.1),
            confidence: pair.map_or(0.0, |p| p.2),
            bytes_c2s: v.c2s.bytes,
            bytes_s2c: v.s2c.bytes,
            app: v
                .app
                .clone()
                .or_else(|| ti.and_then(|t| tunnels[t].app.clone())),
            syn: v.syn_ts,
            new_connection: v_nc[vi],
            latency_ms: latency(Some(vi), ti, v_nc[vi]),
        };
        if pair.is_none() {
            sink.push(
                "visitor_never_served",
                Some(conn_name(v.client, v.server)),
                Some(v.syn_ts),
                "no tunnel connection carried this visitor's bytes".to_string(),
            );
        }
        match v_sess[vi].and_then(|si| sessions.get_mut(si)) {
            Some(s) => s.visitors.push(report),
            None => sink.push(
                "visitor_without_session",
                Some(conn_name(v.client, v.server)),
                Some(v.syn_ts),
                format!("no control session exposes port {}", v.server.port),
            ),
        }
    }
    let tunnels_out: Vec<TunnelEntry> = t_order
        .iter()
        .map(|&ti| {
            let t = &tunnels[ti];
            let tv = t_visitor[ti];
            let session = t_sess[ti].map(|si| ConnRef {
                client: controls[si].client,
                server: controls[si].server,
            });
            if session.is_none() {
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
            TunnelEntry {
                client: t.client,
                server: t.server,
                uid: t.uid,
                port: t.port,
                visitor: tv.map(|(vi, _, _)| visitors[vi].client),
                pairing: tv.map(|p| p.1),
                confidence: tv.map_or(0.0, |p| p.2),
                session,
                syn: t.syn_ts,
                new_connection: t_nc[ti],
                bytes_c2s: t.c2s.bytes,
                bytes_s2c: t.s2c.bytes,
                app: t
                    .app
                    .clone()
                    .or_else(|| tv.and_then(|(vi, _, _)| visitors[vi].app.clone())),
                latency_ms: latency(tv.map(|p| p.0), Some(ti), t_nc[ti]),
            }
        })
        .collect();

    let mut order: Vec<usize> = (0..sessions.len()).collect();
    order.sort_by_key(|&i| (ctx.start(i), i));
    let mut slots: Vec<Option<SessionReport>> = sessions.drain(..).map(Some).collect();
    let sessions = order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect();

    TunnelReport {
        sessions,
        tunnels: tunnels_out,
        anomalies: sink.out,
        anomalies_dropped: sink.dropped,
    }
}
