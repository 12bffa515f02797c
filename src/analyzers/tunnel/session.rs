//! Per-connection state: [`TunnelSession`] decodes the frames of one TCP connection of the
//! tunnel (control or tunnel connection) from its reassembled streams.
//!
//! # Call order
//! The pipeline creates a session once [`super::detect`] says `Match` (or `MatchReversed`,
//! after swapping roles), then feeds it through [`StreamAnalyzer`]: `on_data` / `on_gap`
//! per direction in packet-time order, `on_end` once per direction. It may call
//! [`TunnelSession::note_close`] with the reason a direction ended (FIN, RST, timeout, end
//! of capture) before or after `on_end`; without it the summary says `closed` or
//! `open_at_end`. [`TunnelSession::summary`] can be called at any time.
//!
//! # What it decides
//! The connection's kind comes from its first complete frame: a client that opens with a
//! 12-byte `USER_INFORMATION` (and a server that has sent no frame) makes a **tunnel**
//! connection; anything else framed makes a **control** connection. On a tunnel
//! connection everything after the 20-byte frame, both ways, is relayed application data:
//! it goes to a [`RelayTap`] (counts, first-byte times, fingerprints, a short replay log)
//! and to the optional inner analyzer (see [`TunnelSession::set_inner`]).
//!
//! # Bounds, and what happens when they are hit
//! * At most one partial frame is buffered per direction, so at most
//!   [`HEADER_LEN`] + [`MAX_DATA_LEN`] bytes; a header declaring more is an anomaly and the
//!   direction goes to resynchronisation. Buffers grow with bytes received, never with a
//!   declared length.
//! * Resynchronisation (after a gap swallowed a frame boundary, an absurd length, or more
//!   than [`MAX_UNKNOWN_RUN`] unknown ids in a row) keeps at most [`RESYNC_MAX_FRAME`]
//!   bytes of carry and accepts a position only if a complete frame with a known id, a sane
//!   length for that id, a plausible payload and a direction that fits starts there, and
//!   the next header (when present) is plausible too. Bytes skipped are counted.
//! * The first [`SessionConfig::max_frame_records`] frames are recorded individually;
//!   after that they are only counted (per message name) and folded into the keep-alive
//!   statistics. At most [`SessionConfig::max_new_connections`] `NEW_CONNECTION` times are
//!   kept (the rest counted). At most [`MAX_ANOMALY_SAMPLES`] anomalies are kept with
//!   details; all are counted.
//! * A gap inside a frame's payload is recovered exactly (the length is known): the frame
//!   is recorded as truncated and decoding resumes at the next boundary.
//!
//! # Secrets
//! The password is never stored unless [`SessionConfig::show_secrets`] is set; only its
//! presence and length are. Partial-frame buffers may hold it transiently; `Debug` of a
//! session shows buffer lengths only, and buffers are cleared as soon as a frame completes.

use super::parser::{
    ByteOrder, ClientConnInfo, HEADER_LEN, Header, MAX_DATA_LEN, MAX_TEXT_LEN, MsgId, Parsed,
    UserInfo, UserInfoLayout, UserInfoParse, could_begin_header, parse_client_conn_info,
    parse_frame, parse_user_info, payload_is_plausible, sniff_order,
};
use super::relay::{RelayFacts, RelayTap};
use crate::analyzers::StreamAnalyzer;
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Unknown ids in a row skipped by their declared length before the direction is treated
/// as desynchronised.
pub const MAX_UNKNOWN_RUN: u32 = 3;
/// Longest frame resynchronisation will lock on to (header + [`MAX_TEXT_LEN`]).
pub const RESYNC_MAX_FRAME: usize = HEADER_LEN + MAX_TEXT_LEN as usize;
/// Anomalies kept with details per session.
pub const MAX_ANOMALY_SAMPLES: usize = 32;
/// Nominal keep-alive period of the implementation (write, then sleep 1 s).
pub const KEEPALIVE_PERIOD_S: f64 = 1.0;
/// A wait for `USER_INFORMATION` longer than this after the auth step counts as queued
/// (the server polls its queue every 100 ms when a port is free).
pub const QUEUED_THRESHOLD_S: f64 = 0.5;
/// Longest user name kept in a summary (bytes, lossy UTF-8); longer ones are cut.
pub const MAX_USER_NAME: usize = 256;

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// Options of a session.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// Keep the password from `USER_REQUEST_AUTH` (`--show-secrets`). Off by default.
    pub show_secrets: bool,
    /// Bytes of relayed data logged for a later inner analyzer (see [`RelayTap`]).
    pub relay_log_bytes: usize,
    pub max_frame_records: usize,
    pub max_new_connections: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            show_secrets: false,
            relay_log_bytes: super::relay::DEFAULT_LOG_BYTES,
            max_frame_records: 4096,
            max_new_connections: 65_536,
        }
    }
}

/// What a connection is, as far as the frames tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnKind {
    /// No complete frame yet.
    Undecided,
    /// Authentication, port assignment, keep-alives, visitor announcements.
    Control,
    /// One `USER_INFORMATION` frame, then relayed application bytes.
    Tunnel,
    /// The first bytes were not frames: not this protocol after all.
    NotFramed,
}

/// Outcome of the authentication step of a control connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthOutcome {
    /// `USER_AUTHENTICATION_SUCCESSFULLY` answered the request.
    Ok,
    /// `AUTH_FAIL` (or another refusal) answered it.
    Failed,
    /// The server never answered (authentication off, or the capture ended first).
    NotChecked,
    /// The client's first frame was not `USER_REQUEST_AUTH`: the server skips the check.
    Bypassed,
}

/// Why a direction ended, as the pipeline knows it (mapped from the assembler's reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Fin,
    Rst,
    IdleTimeout,
    Evicted,
    EndOfCapture,
}

/// How a connection ended, summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndHow {
    /// Still open when the capture ended (the relay never closes sockets: common).
    OpenAtEnd,
    /// Closed after the server refused authentication.
    AuthFailed,
    /// An RST in either direction (how the server notices a departed client).
    Rst,
    /// FIN both ways.
    Fin,
    IdleTimeout,
    Evicted,
    /// Both directions ended, reason not told.
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EndSummary {
    pub how: EndHow,
    /// Time of the last direction's end (`None` while open).
    pub at: Option<Timestamp>,
    pub c2s: Option<Ending>,
    pub s2c: Option<Ending>,
}

/// One frame seen, without its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FrameRecord {
    pub dir: Direction,
    pub msg_id: u32,
    pub name: &'static str,
    /// Time of the packet that completed the frame (or of the gap that cut it).
    pub ts: Timestamp,
    pub data_len: u32,
    /// Stream offset of the frame's first header byte.
    pub offset: u64,
    /// The frame was cut by a gap or the end of the stream.
    pub truncated: bool,
}

/// One anomaly of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionAnomaly {
    /// Stable snake_case kind (`unknown_msg_id`, `length_too_large`, `frame_cut_by_gap`, ...).
    pub kind: &'static str,
    pub dir: Option<Direction>,
    pub ts: Timestamp,
    /// Stream offset in `dir` where it was noticed.
    pub offset: Option<u64>,
    pub detail: String,
}

/// A secret shown only on request. `Debug` never prints it; `Serialize` does (it exists
/// only when [`SessionConfig::show_secrets`] was set).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Keep-alive cadence (server to client, about once a second in the implementation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct KeepAliveStats {
    pub count: u64,
    /// Mean interval between consecutive keep-alives (`None` with fewer than two).
    pub mean_interval_s: Option<f64>,
    /// Population standard deviation of the intervals (jitter).
    pub stddev_s: Option<f64>,
    pub max_gap_s: Option<f64>,
    /// Beats missing at the nominal 1 s period: the sum over intervals of
    /// `round(interval / 1 s) - 1` when positive.
    pub missed_beats: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, Default)]
struct KeepAliveAcc {
    count: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    n: u64,
    mean: f64,
    m2: f64,
    max: f64,
    missed: u64,
}

impl KeepAliveAcc {
    fn push(&mut self, ts: Timestamp) {
        self.count += 1;
        self.first.get_or_insert(ts);
        if let Some(prev) = self.last {
            let x = ts.nanos_since(prev) as f64 / 1e9;
            self.n += 1;
            let delta = x - self.mean;
            self.mean += delta / self.n as f64;
            self.m2 += delta * (x - self.mean);
            self.max = if self.n == 1 { x } else { self.max.max(x) };
            let beats = (x / KEEPALIVE_PERIOD_S).round();
            if beats > 1.0 {
                self.missed = self.missed.saturating_add(beats as u64 - 1);
            }
        }
        self.last = Some(ts);
    }

    fn stats(&self) -> KeepAliveStats {
        let some = |v: f64| (self.n > 0).then_some(v);
        KeepAliveStats {
            count: self.count,
            mean_interval_s: some(self.mean),
            stddev_s: some((self.m2 / self.n.max(1) as f64).max(0.0).sqrt()),
            max_gap_s: some(self.max),
            missed_beats: self.missed,
            first: self.first,
            last: self.last,
        }
    }
}

/// Times of the control connection's steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Timeline {
    /// First byte seen either way.
    pub first_seen: Option<Timestamp>,
    pub auth_request: Option<Timestamp>,
    pub auth_reply: Option<Timestamp>,
    pub user_information: Option<Timestamp>,
    pub last_frame: Option<Timestamp>,
}

/// Durations between the steps, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StepsMs {
    pub auth_request_to_reply: Option<f64>,
    pub reply_to_user_information: Option<f64>,
    pub auth_request_to_user_information: Option<f64>,
}

/// Summary of a control connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ControlSummary {
    pub byte_order: Option<ByteOrder>,
    pub user: Option<String>,
    pub password_present: bool,
    pub password_len: Option<u32>,
    /// Only with `show_secrets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    pub user_info_layout: Option<UserInfoLayout>,
    /// `expire` of the `UserInfo` (Unix seconds).
    pub expire: Option<i64>,
    pub auth: AuthOutcome,
    /// The message that answered the request, if any.
    pub auth_reply: Option<MsgId>,
    pub uid: Option<i64>,
    pub port: Option<i32>,
    /// Frames per message name (unknown ids under `UNKNOWN`), both directions.
    pub frames: BTreeMap<&'static str, u64>,
    pub keepalive: KeepAliveStats,
    pub timeline: Timeline,
    pub steps_ms: StepsMs,
    /// How long the client waited silently for a port after the auth step, when more than
    /// [`QUEUED_THRESHOLD_S`].
    pub queued_s: Option<f64>,
    /// Each `NEW_CONNECTION` (one visitor announcement each), in order.
    pub new_connections: Vec<Timestamp>,
    pub new_connections_dropped: u64,
    pub ended: EndSummary,
    pub anomalies: u64,
}

/// Summary of a tunnel connection. `c2s`/`s2c` count relayed bytes only (after the
/// 20-byte frame).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TunnelConnSummary {
    pub byte_order: ByteOrder,
    pub uid: i64,
    pub port: i32,
    /// Time of the `USER_INFORMATION` frame.
    pub frame_ts: Timestamp,
    pub c2s: RelayFacts,
    pub s2c: RelayFacts,
    pub ended: EndSummary,
    pub anomalies: u64,
}

/// A session's summary by kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnSummary {
    Control(Box<ControlSummary>),
    Tunnel(Box<TunnelConnSummary>),
    /// Undecided or not framed: only anomalies to tell.
    Other {
        state: ConnKind,
        anomalies: u64,
    },
}

/// An inner analyzer that ignores everything (the default type parameter).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoInner;

impl StreamAnalyzer for NoInner {
    fn on_data(&mut self, _dir: Direction, _data: &[u8], _ts: Timestamp) {}
    fn on_gap(&mut self, _dir: Direction, _len: u64, _ts: Timestamp) {}
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Reading frames.
    Framing,
    /// Skipping the rest of a frame (unknown id, or cut by a gap).
    Skipping { remaining: u64 },
    /// Boundary lost: scanning for a plausible frame.
    Lost,
    /// Relayed bytes (tunnel connection after its frame).
    Raw,
    /// Not decoding this direction any more.
    Stopped,
}

#[derive(Clone, Default)]
struct DirState {
    mode: Option<Mode>,
    order: Option<ByteOrder>,
    /// Partial frame (Framing) or resynchronisation carry (Lost).
    buf: Vec<u8>,
    /// Stream offset of the next byte to arrive.
    offset: u64,
    frames: u64,
    unknown_run: u32,
    /// Bytes skipped while lost (since the last resynchronisation).
    lost_bytes: u64,
    /// Bytes skipped in earlier lost stretches.
    resync_skipped: u64,
    ignored_bytes: u64,
    ended: Option<Timestamp>,
    ending: Option<Ending>,
}

impl DirState {
    fn mode(&self) -> Mode {
        self.mode.unwrap_or(Mode::Framing)
    }
}

impl fmt::Debug for DirState {
    /// Lengths only: a partial `USER_REQUEST_AUTH` holds a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirState")
            .field("mode", &self.mode())
            .field("order", &self.order)
            .field("buffered", &self.buf.len())
            .field("offset", &self.offset)
            .field("frames", &self.frames)
            .field("lost_bytes", &self.lost_bytes)
            .finish()
    }
}

/// What examining bytes at a frame boundary found.
enum Step {
    /// A frame was handled; it used this many bytes.
    Frame(usize),
    /// At least this many more bytes are needed.
    NeedMore(usize),
    /// Skip this many bytes (an unknown id's frame), counted from the boundary.
    Skip(u64),
    /// Boundary lost: resynchronise.
    Lost,
    /// Not frames at all: stop this direction.
    Stop,
}

#[derive(Clone, Debug, Default)]
struct ControlState {
    user: Option<String>,
    password_len: Option<u32>,
    password: Option<Secret>,
    layout: Option<UserInfoLayout>,
    expire: Option<i64>,
    first_client_msg: Option<MsgId>,
    auth_reply: Option<(MsgId, Timestamp)>,
    conn_info: Option<ClientConnInfo>,
    new_connections: Vec<Timestamp>,
    new_connections_dropped: u64,
    keepalive: KeepAliveAcc,
    timeline: Timeline,
}

#[derive(Clone, Copy, Debug)]
struct TunnelState {
    info: ClientConnInfo,
    order: ByteOrder,
    frame_ts: Timestamp,
}

/// Decoder and summariser of one connection (see the module docs).
pub struct TunnelSession<A: StreamAnalyzer = NoInner> {
    cfg: SessionConfig,
    kind: ConnKind,
    order: Option<ByteOrder>,
    dirs: [DirState; 2],
    frames: Vec<FrameRecord>,
    frame_counts: BTreeMap<&'static str, u64>,
    control: ControlState,
    tunnel: Option<TunnelState>,
    relay: RelayTap,
    inner: Option<A>,
    anomalies: Vec<SessionAnomaly>,
    anomaly_counts: BTreeMap<&'static str, u64>,
    anomaly_total: u64,
}

impl<A: StreamAnalyzer> fmt::Debug for TunnelSession<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunnelSession")
            .field("kind", &self.kind)
            .field("order", &self.order)
            .field("dirs", &self.dirs)
            .field("frames", &self.frame_counts)
            .field("control", &self.control)
            .field("tunnel", &self.tunnel)
            .field("relay", &self.relay)
            .field("inner", &self.inner.as_ref().map(|_| "..."))
            .field("anomalies", &self.anomaly_counts)
            .finish()
    }
}

impl Default for TunnelSession<NoInner> {
    fn default() -> Self {
        TunnelSession::new(SessionConfig::default())
    }
}

fn opt_ms(later: Option<Timestamp>, earlier: Option<Timestamp>) -> Option<f64> {
    Some(later?.millis_since(earlier?))
}

impl<A: StreamAnalyzer> TunnelSession<A> {
    pub fn new(cfg: SessionConfig) -> Self {
        TunnelSession {
            relay: RelayTap::new(cfg.relay_log_bytes),
            cfg,
            kind: ConnKind::Undecided,
            order: None,
            dirs: [DirState::default(), DirState::default()],
            frames: Vec::new(),
            frame_counts: BTreeMap::new(),
            control: ControlState::default(),
            tunnel: None,
            inner: None,
            anomalies: Vec::new(),
            anomaly_counts: BTreeMap::new(),
            anomaly_total: 0,
        }
    }

    pub fn kind(&self) -> ConnKind {
        self.kind
    }

    /// Byte order of the first frame header seen.
    pub fn byte_order(&self) -> Option<ByteOrder> {
        self.order
    }

    /// The recorded frames (the first [`SessionConfig::max_frame_records`]).
    pub fn frames(&self) -> &[FrameRecord] {
        &self.frames
    }

    /// Frames per message name, all of them.
    pub fn frame_counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.frame_counts
    }

    pub fn anomalies(&self) -> &[SessionAnomaly] {
        &self.anomalies
    }

    pub fn anomaly_counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.anomaly_counts
    }

    /// `uid` and `port` of a tunnel connection's frame, or of a control connection's
    /// `USER_INFORMATION`.
    pub fn conn_info(&self) -> Option<ClientConnInfo> {
        self.tunnel.map(|t| t.info).or(self.control.conn_info)
    }

    /// Relayed bytes of a tunnel connection (counts, times, fingerprints, replay log).
    pub fn relay(&self) -> &RelayTap {
        &self.relay
    }

    /// Relayed facts of one direction (zeros for control connections).
    pub fn relay_facts(&self, dir: Direction) -> RelayFacts {
        self.relay.facts(dir)
    }

    /// Whether this is a tunnel connection with relayed bytes and no inner analyzer yet:
    /// the moment to detect the relayed protocol from [`RelayTap::prefix`] and call
    /// [`TunnelSession::set_inner`].
    pub fn wants_inner(&self) -> bool {
        self.kind == ConnKind::Tunnel
            && self.inner.is_none()
            && (self.relay.facts(C2S).bytes > 0 || self.relay.facts(S2C).bytes > 0)
    }

    /// Hands the relayed bytes to `inner`: the logged first bytes are replayed into it at
    /// once (then a gap per direction for bytes relayed but not logged), and every later
    /// relayed byte, gap and end goes to it as it arrives. Roles are the tunnel
    /// connection's: `ServerToClient` carries what the visitor sent, `ClientToServer` what
    /// the exposed service answered. Replacing an inner analyzer drops the old one.
    pub fn set_inner(&mut self, mut inner: A) {
        self.relay.replay(&mut inner);
        for dir in [C2S, S2C] {
            if let Some(ts) = self.relay.ended(dir) {
                inner.on_end(dir, ts);
            }
        }
        self.inner = Some(inner);
    }

    pub fn inner(&self) -> Option<&A> {
        self.inner.as_ref()
    }

    pub fn inner_mut(&mut self) -> Option<&mut A> {
        self.inner.as_mut()
    }

    pub fn take_inner(&mut self) -> Option<A> {
        self.inner.take()
    }

    /// Bytes held for `dir` right now: a partial frame (at most [`HEADER_LEN`] +
    /// [`MAX_DATA_LEN`]) or resynchronisation carry (at most [`RESYNC_MAX_FRAME`]).
    pub fn buffered_bytes(&self, dir: Direction) -> usize {
        self.dirs[dir.index()].buf.len()
    }

    /// Stream bytes of `dir` not decoded: skipped while resynchronising or after the
    /// direction stopped.
    pub fn undecoded_bytes(&self, dir: Direction) -> u64 {
        let d = &self.dirs[dir.index()];
        d.resync_skipped
            .saturating_add(d.lost_bytes)
            .saturating_add(d.ignored_bytes)
    }

    /// Tells why `dir` ended (optional; see the module docs).
    pub fn note_close(&mut self, dir: Direction, ending: Ending) {
        self.dirs[dir.index()].ending.get_or_insert(ending);
    }

    fn anomaly(
        &mut self,
        kind: &'static str,
        dir: Option<Direction>,
        ts: Timestamp,
        offset: Option<u64>,
        detail: impl FnOnce() -> String,
    ) {
        self.anomaly_total += 1;
        *self.anomaly_counts.entry(kind).or_insert(0) += 1;
        if self.anomalies.len() < MAX_ANOMALY_SAMPLES {
            self.anomalies.push(SessionAnomaly {
                kind,
                dir,
                ts,
                offset,
                detail: detail(),
            });
        }
    }

    fn ended(&self) -> EndSummary {
        let [c, s] = &self.dirs;
        let endings = [c.ending, s.ending];
        let all_ended = c.ended.is_some() && s.ended.is_some();
        let at = match (c.ended, s.ended) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        let any = |e: Ending| endings.contains(&Some(e));
        let auth_failed = self
            .control
            .auth_reply
            .is_some_and(|(m, _)| m.is_auth_failure());
        let how = if any(Ending::Rst) {
            EndHow::Rst
        } else if any(Ending::EndOfCapture) || !all_ended {
            EndHow::OpenAtEnd
        } else if auth_failed {
            EndHow::AuthFailed
        } else if endings == [Some(Ending::Fin); 2] {
            EndHow::Fin
        } else if any(Ending::IdleTimeout) {
            EndHow::IdleTimeout
        } else if any(Ending::Evicted) {
            EndHow::Evicted
        } else {
            EndHow::Closed
        };
        EndSummary {
            how,
            at: if how == EndHow::OpenAtEnd { None } else { at },
            c2s: c.ending,
            s2c: s.ending,
        }
    }

    fn auth_outcome(&self) -> AuthOutcome {
        match (self.control.first_client_msg, self.control.auth_reply) {
            (Some(m), _) if m != MsgId::UserRequestAuth => AuthOutcome::Bypassed,
            (_, Some((m, _))) if m.is_auth_failure() => AuthOutcome::Failed,
            (_, Some(_)) => AuthOutcome::Ok,
            (_, None) => AuthOutcome::NotChecked,
        }
    }

    /// The control connection's summary (`None` unless [`ConnKind::Control`]).
    pub fn control_summary(&self) -> Option<ControlSummary> {
        if self.kind != ConnKind::Control {
            return None;
        }
        let c = &self.control;
        let tl = c.timeline;
        let step_ref = tl.auth_reply.or(tl.auth_request).or(tl.first_seen);
        let queued_s = match (tl.user_information, step_ref) {
            (Some(ui), Some(r)) => {
                let s = ui.nanos_since(r) as f64 / 1e9;
                (s > QUEUED_THRESHOLD_S).then_some(s)
            }
            _ => None,
        };
        Some(ControlSummary {
            byte_order: self.order,
            user: c.user.clone(),
            password_present: c.password_len.is_some_and(|n| n > 0),
            password_len: c.password_len,
            password: c.password.clone(),
            user_info_layout: c.layout,
            expire: c.expire,
            auth: self.auth_outcome(),
            auth_reply: c.auth_reply.map(|(m, _)| m),
            uid: c.conn_info.map(|i| i.uid),
            port: c.conn_info.map(|i| i.port),
            frames: self.frame_counts.clone(),
            keepalive: c.keepalive.stats(),
            timeline: tl,
            steps_ms: StepsMs {
                auth_request_to_reply: opt_ms(tl.auth_reply, tl.auth_request),
                reply_to_user_information: opt_ms(tl.user_information, tl.auth_reply),
                auth_request_to_user_information: opt_ms(tl.user_information, tl.auth_request),
            },
            queued_s,
            new_connections: c.new_connections.clone(),
            new_connections_dropped: c.new_connections_dropped,
            ended: self.ended(),
            anomalies: self.anomaly_total,
        })
    }

    /// The tunnel connection's summary (`None` unless [`ConnKind::Tunnel`]).
    pub fn tunnel_summary(&self) -> Option<TunnelConnSummary> {
        let t = self.tunnel?;
        Some(TunnelConnSummary {
            byte_order: t.order,
            uid: t.info.uid,
            port: t.info.port,
            frame_ts: t.frame_ts,
            c2s: self.relay.facts(C2S),
            s2c: self.relay.facts(S2C),
            ended: self.ended(),
            anomalies: self.anomaly_total,
        })
    }

    pub fn summary(&self) -> ConnSummary {
        if let Some(c) = self.control_summary() {
            ConnSummary::Control(Box::new(c))
        } else if let Some(t) = self.tunnel_summary() {
            ConnSummary::Tunnel(Box::new(t))
        } else {
            ConnSummary::Other {
                state: self.kind,
                anomalies: self.anomaly_total,
            }
        }
    }

    // ---- decoding -------------------------------------------------------------------

    /// Examines bytes at a frame boundary of `dir` (`view` is either caller data or a
    /// buffer moved out of `self`, so frames can be handled in place).
    fn examine(&mut self, dir: Direction, view: &[u8], ts: Timestamp, offset: u64) -> Step {
        let d = dir.index();
        let order = match self.dirs[d].order {
            Some(o) => o,
            None => {
                if view.len() < HEADER_LEN {
                    let possible = could_begin_header(view, ByteOrder::BigEndian)
                        || could_begin_header(view, ByteOrder::LittleEndian);
                    return if possible {
                        Step::NeedMore(HEADER_LEN - view.len())
                    } else {
                        self.not_framed(dir, ts, offset);
                        Step::Stop
                    };
                }
                let Some(o) = sniff_order(view) else {
                    self.not_framed(dir, ts, offset);
                    return Step::Stop;
                };
                self.dirs[d].order = Some(o);
                match self.order {
                    None => self.order = Some(o),
                    Some(first) if first != o => {
                        self.anomaly("mixed_byte_order", Some(dir), ts, Some(offset), || {
                            format!(
                                "{} headers in {}, {} in the other direction",
                                o.name(),
                                dir.short(),
                                first.name()
                            )
                        })
                    }
                    Some(_) => {}
                }
                o
            }
        };
        match parse_frame(view, order) {
            Parsed::Incomplete { needed } => Step::NeedMore(needed),
            Parsed::Ok { frame, consumed } => {
                self.dirs[d].unknown_run = 0;
                let h = Header {
                    data_len: frame.data.len() as u32,
                    id: frame.msg.code(),
                    order,
                };
                self.on_frame(dir, h, frame.data, ts, offset, false);
                Step::Frame(consumed)
            }
            Parsed::Err(super::parser::FrameError::UnknownId { id, data_len }) => {
                self.dirs[d].unknown_run += 1;
                self.count_frame("UNKNOWN");
                self.anomaly("unknown_msg_id", Some(dir), ts, Some(offset), || {
                    format!("message id {id} with {data_len} bytes")
                });
                if self.dirs[d].unknown_run > MAX_UNKNOWN_RUN {
                    Step::Lost
                } else {
                    Step::Skip(HEADER_LEN as u64 + u64::from(data_len))
                }
            }
            Parsed::Err(super::parser::FrameError::TooLong { id, data_len }) => {
                self.anomaly("length_too_large", Some(dir), ts, Some(offset), || {
                    format!("message id {id} declares {data_len} bytes (limit {MAX_DATA_LEN})")
                });
                Step::Lost
            }
        }
    }

    fn not_framed(&mut self, dir: Direction, ts: Timestamp, offset: u64) {
        if self.kind == ConnKind::Undecided {
            self.kind = ConnKind::NotFramed;
        }
        self.anomaly("not_a_frame", Some(dir), ts, Some(offset), || {
            "first bytes of the direction are not a frame header".to_string()
        });
    }

    fn count_frame(&mut self, name: &'static str) {
        *self.frame_counts.entry(name).or_insert(0) += 1;
    }

    /// A complete (or, with `truncated`, cut) frame of `dir` at stream `offset`.
    fn on_frame(
        &mut self,
        dir: Direction,
        h: Header,
        data: &[u8],
        ts: Timestamp,
        offset: u64,
        truncated: bool,
    ) {
        let Some(msg) = h.msg() else { return };
        let d = dir.index();
        self.dirs[d].frames += 1;
        self.count_frame(msg.name());
        if self.frames.len() < self.cfg.max_frame_records {
            self.frames.push(FrameRecord {
                dir,
                msg_id: h.id,
                name: msg.name(),
                ts,
                data_len: h.data_len,
                offset,
                truncated,
            });
        }
        if !msg.sane_len().contains(&h.data_len) {
            self.anomaly("unexpected_length", Some(dir), ts, Some(offset), || {
                format!("{} with {} bytes", msg.name(), h.data_len)
            });
        }
        if matches!(self.kind, ConnKind::Undecided | ConnKind::NotFramed) {
            let other_framed = self.dirs[dir.reverse().index()].frames > 0;
            self.kind = if dir == C2S
                && msg == MsgId::UserInformation
                && !truncated
                && !other_framed
                && data.len() == super::parser::CLIENT_CONN_INFO_LEN
            {
                ConnKind::Tunnel
            } else {
                ConnKind::Control
            };
        }
        match self.kind {
            ConnKind::Tunnel if self.tunnel.is_none() => self.start_tunnel(h, data, ts),
            ConnKind::Tunnel => {}
            _ => self.control_frame(dir, msg, data, ts, offset, truncated),
        }
    }

    fn start_tunnel(&mut self, h: Header, data: &[u8], ts: Timestamp) {
        let Some(info) = parse_client_conn_info(data) else {
            return;
        };
        self.tunnel = Some(TunnelState {
            info,
            order: h.order,
            frame_ts: ts,
        });
        self.dirs[C2S.index()].mode = Some(Mode::Raw);
        // Anything the server side sent so far is relayed data, not a frame.
        let s = S2C.index();
        let pending = std::mem::take(&mut self.dirs[s].buf);
        self.dirs[s].mode = Some(Mode::Raw);
        if !pending.is_empty() {
            self.relay_data(S2C, &pending, ts);
        }
    }

    fn control_frame(
        &mut self,
        dir: Direction,
        msg: MsgId,
        data: &[u8],
        ts: Timestamp,
        offset: u64,
        truncated: bool,
    ) {
        let tl = &mut self.control.timeline;
        tl.last_frame = Some(ts);
        if dir == C2S {
            let first = self.control.first_client_msg.is_none();
            if first {
                self.control.first_client_msg = Some(msg);
                if msg != MsgId::UserRequestAuth {
                    self.anomaly("auth_bypass", Some(dir), ts, Some(offset), || {
                        format!(
                            "client's first frame is {}, not USER_REQUEST_AUTH: the server skips authentication",
                            msg.name()
                        )
                    });
                }
            }
            match msg {
                MsgId::UserRequestAuth if self.control.timeline.auth_request.is_none() => {
                    self.control.timeline.auth_request = Some(ts);
                    if !truncated {
                        self.user_info(data, ts, offset);
                    }
                }
                MsgId::UserRequestAuth => {
                    self.anomaly("repeated_auth_request", Some(dir), ts, Some(offset), || {
                        "a second USER_REQUEST_AUTH on the same connection".to_string()
                    })
                }
                _ if !first => self.anomaly(
                    "unexpected_client_frame",
                    Some(dir),
                    ts,
                    Some(offset),
                    || format!("{} from the client on a control connection", msg.name()),
                ),
                _ => {}
            }
            return;
        }
        match msg {
            MsgId::UserRequestAuth => {
                self.anomaly("unexpected_direction", Some(dir), ts, Some(offset), || {
                    "USER_REQUEST_AUTH sent by the server".to_string()
                })
            }
            m if m == MsgId::UserAuthenticationSuccessfully || m.is_auth_failure() => {
                if self.control.auth_reply.is_none() {
                    self.control.auth_reply = Some((m, ts));
                    self.control.timeline.auth_reply = Some(ts);
                } else {
                    self.anomaly("repeated_auth_reply", Some(dir), ts, Some(offset), || {
                        format!("a second authentication reply ({})", m.name())
                    });
                }
            }
            MsgId::UserInformation => match (truncated, parse_client_conn_info(data)) {
                (false, Some(info)) => match self.control.conn_info {
                    None => {
                        self.control.conn_info = Some(info);
                        self.control.timeline.user_information = Some(ts);
                    }
                    Some(prev) if prev != info => self.anomaly(
                        "changed_user_information",
                        Some(dir),
                        ts,
                        Some(offset),
                        || {
                            format!(
                                "uid {} port {} after uid {} port {}",
                                info.uid, info.port, prev.uid, prev.port
                            )
                        },
                    ),
                    Some(_) => {}
                },
                (false, None) => {
                    self.anomaly("bad_user_information", Some(dir), ts, Some(offset), || {
                        format!("USER_INFORMATION payload of {} bytes", data.len())
                    })
                }
                (true, _) => {}
            },
            MsgId::KeepAlive => self.control.keepalive.push(ts),
            MsgId::NewConnection => {
                if self.control.new_connections.len() < self.cfg.max_new_connections {
                    self.control.new_connections.push(ts);
                } else {
                    self.control.new_connections_dropped += 1;
                }
            }
            _ => {}
        }
    }

    fn user_info(&mut self, data: &[u8], ts: Timestamp, offset: u64) {
        let ui: UserInfo<'_> = match parse_user_info(data) {
            UserInfoParse::One(u) => u,
            UserInfoParse::Ambiguous(imp, _) => {
                self.anomaly("ambiguous_user_info", Some(C2S), ts, Some(offset), || {
                    "both UserInfo layouts fit; read with the implementation's".to_string()
                });
                imp
            }
            UserInfoParse::Neither => {
                self.anomaly("bad_user_info", Some(C2S), ts, Some(offset), || {
                    // The name lengths each layout would read (absurd ones are the
                    // usual reason), so the anomaly says what did not fit.
                    let len_at = |at: usize| {
                        data.get(at..at + 4)
                            .and_then(|b| <[u8; 4]>::try_from(b).ok())
                            .map_or("none".to_string(), |b| i32::from_be_bytes(b).to_string())
                    };
                    format!(
                        "USER_REQUEST_AUTH payload of {} bytes fits no layout (name length {} in the document's layout, {} in the implementation's)",
                        data.len(),
                        len_at(0),
                        len_at(8)
                    )
                });
                return;
            }
        };
        let name = ui.name.get(..MAX_USER_NAME).unwrap_or(ui.name);
        if name.len() < ui.name.len() {
            self.anomaly("long_user_name", Some(C2S), ts, Some(offset), || {
                format!(
                    "user name of {} bytes cut to {MAX_USER_NAME}",
                    ui.name.len()
                )
            });
        }
        let c = &mut self.control;
        c.user = Some(String::from_utf8_lossy(name).into_owned());
        c.password_len = Some(ui.password.len() as u32);
        c.password = self
            .cfg
            .show_secrets
            .then(|| Secret(String::from_utf8_lossy(ui.password).into_owned()));
        c.layout = Some(ui.layout);
        c.expire = Some(ui.expire);
    }

    fn relay_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        self.relay.on_data(dir, data, ts);
        if let Some(inner) = self.inner.as_mut() {
            inner.on_data(dir, data, ts);
        }
    }

    /// Framing with a partial frame in the buffer: completes it from `input`; returns the
    /// bytes of `input` used.
    fn fill_buffer(&mut self, dir: Direction, input: &[u8], ts: Timestamp) -> usize {
        let d = dir.index();
        let mut buf = std::mem::take(&mut self.dirs[d].buf);
        let start = self.dirs[d].offset - buf.len() as u64;
        let mut used = 0;
        loop {
            match self.examine(dir, &buf, ts, start) {
                Step::NeedMore(needed) => {
                    let rest = input.get(used..).unwrap_or_default();
                    if rest.is_empty() {
                        break;
                    }
                    let take = rest.get(..needed.min(rest.len())).unwrap_or_default();
                    buf.extend_from_slice(take);
                    used += take.len();
                }
                Step::Frame(_) => {
                    buf.clear();
                    break;
                }
                Step::Skip(total) => {
                    let remaining = total.saturating_sub(buf.len() as u64);
                    buf.clear();
                    if remaining > 0 {
                        self.dirs[d].mode = Some(Mode::Skipping { remaining });
                    }
                    break;
                }
                Step::Lost => {
                    // Rescan what was buffered after its first byte.
                    let carry = buf.get(1..).unwrap_or_default().to_vec();
                    buf.clear();
                    self.dirs[d].mode = Some(Mode::Lost);
                    self.dirs[d].lost_bytes = 1;
                    self.dirs[d].buf = carry;
                    return used;
                }
                Step::Stop => {
                    buf.clear();
                    self.dirs[d].mode = Some(Mode::Stopped);
                    break;
                }
            }
        }
        // Keep the (cleared or partial) buffer and its capacity.
        self.dirs[d].buf = buf;
        used
    }

    /// Resynchronisation check of a candidate position: `Some(true)` a frame starts here,
    /// `Some(false)` none does, `None` not enough bytes to tell.
    fn resync_candidate(view: &[u8], order: ByteOrder, dir: Direction) -> Option<bool> {
        if view.len() < HEADER_LEN {
            return if could_begin_header(view, order) {
                None
            } else {
                Some(false)
            };
        }
        let h = Header::read(view, order)?;
        let Some(msg) = h.msg() else {
            return Some(false);
        };
        let fits_dir = match dir {
            Direction::ClientToServer => msg.sent_by_client(),
            Direction::ServerToClient => msg.sent_by_server(),
        };
        if !fits_dir || !h.is_plausible() || h.frame_len() > RESYNC_MAX_FRAME {
            return Some(false);
        }
        let data = view.get(HEADER_LEN..h.frame_len())?;
        if !payload_is_plausible(msg, data) {
            return Some(false);
        }
        let next = view.get(h.frame_len()..).unwrap_or_default();
        if next.len() >= HEADER_LEN {
            let ok = Header::read(next, order).is_some_and(|n| n.is_plausible());
            return Some(ok);
        }
        Some(true)
    }

    /// [`Self::resync_candidate`] in `order`, or in both orders when unknown.
    fn resync_candidate_any(view: &[u8], order: Option<ByteOrder>, dir: Direction) -> Option<bool> {
        match order {
            Some(o) => Self::resync_candidate(view, o, dir),
            None => {
                let be = Self::resync_candidate(view, ByteOrder::BigEndian, dir);
                let le = Self::resync_candidate(view, ByteOrder::LittleEndian, dir);
                match (be, le) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (None, _) | (_, None) => None,
                    _ => Some(false),
                }
            }
        }
    }

    /// Lost mode: scans `input` (after the carry) for a frame boundary. Returns the index
    /// in `input` where framing resumes (`input.len()` when it does not).
    fn resync(&mut self, dir: Direction, input: &[u8], ts: Timestamp) -> usize {
        let d = dir.index();
        // Unknown order (the first header was cut): try both; framing re-sniffs.
        let order = self.dirs[d].order.or(self.order);
        let carry = std::mem::take(&mut self.dirs[d].buf);
        let found = |s: &mut Self, skipped: u64, at: u64| {
            s.dirs[d].mode = Some(Mode::Framing);
            s.dirs[d].unknown_run = 0;
            let lost = s.dirs[d].lost_bytes.saturating_add(skipped);
            s.dirs[d].lost_bytes = 0;
            s.dirs[d].resync_skipped = s.dirs[d].resync_skipped.saturating_add(lost);
            s.anomaly("resynchronised", Some(dir), ts, Some(at), || {
                format!("found a frame boundary after skipping {lost} bytes")
            });
        };
        let input_off = self.dirs[d].offset;
        if !carry.is_empty() {
            let mut win = carry.clone();
            let look = input.get(..input.len().min(RESYNC_MAX_FRAME + HEADER_LEN));
            win.extend_from_slice(look.unwrap_or_default());
            for p in 0..carry.len() {
                let view = win.get(p..).unwrap_or_default();
                match Self::resync_candidate_any(view, order, dir) {
                    Some(false) => continue,
                    Some(true) => {
                        found(self, p as u64, input_off - (carry.len() - p) as u64);
                        self.dirs[d].buf = carry.get(p..).unwrap_or_default().to_vec();
                        return 0;
                    }
                    None => {
                        // The window holds all of `input`: keep the rest for next time.
                        self.dirs[d].lost_bytes = self.dirs[d].lost_bytes.saturating_add(p as u64);
                        self.dirs[d].buf = view.to_vec();
                        return input.len();
                    }
                }
            }
            self.dirs[d].lost_bytes = self.dirs[d].lost_bytes.saturating_add(carry.len() as u64);
        }
        for p in 0..input.len() {
            let view = input.get(p..).unwrap_or_default();
            match Self::resync_candidate_any(view, order, dir) {
                Some(false) => continue,
                Some(true) => {
                    found(self, p as u64, input_off.saturating_add(p as u64));
                    return p;
                }
                None => {
                    self.dirs[d].lost_bytes = self.dirs[d].lost_bytes.saturating_add(p as u64);
                    self.dirs[d].buf = view.to_vec();
                    return input.len();
                }
            }
        }
        self.dirs[d].lost_bytes = self.dirs[d].lost_bytes.saturating_add(input.len() as u64);
        input.len()
    }

    /// Records the frame in the buffer as cut (its header is complete) and clears it.
    /// Returns the bytes of the frame still to come after the buffered part.
    fn cut_buffered_frame(&mut self, dir: Direction, ts: Timestamp, why: &'static str) -> u64 {
        let d = dir.index();
        let buf = std::mem::take(&mut self.dirs[d].buf);
        let start = self.dirs[d].offset - buf.len() as u64;
        let header = self.dirs[d].order.and_then(|o| Header::read(&buf, o));
        let have = buf.len();
        self.anomaly(why, Some(dir), ts, Some(start), || {
            match header.and_then(|h| h.msg()) {
                Some(m) => format!(
                    "{} cut after {have} of {} bytes",
                    m.name(),
                    header.map_or(0, |h| h.frame_len())
                ),
                None => format!("frame header cut after {have} bytes"),
            }
        });
        let remaining = match header {
            Some(h) if h.msg().is_some() => {
                let data = buf.get(HEADER_LEN..).unwrap_or_default();
                self.on_frame(dir, h, data, ts, start, true);
                h.frame_len().saturating_sub(have) as u64
            }
            _ => u64::MAX,
        };
        let mut buf = buf;
        buf.clear();
        self.dirs[d].buf = buf;
        remaining
    }
}

impl<A: StreamAnalyzer> StreamAnalyzer for TunnelSession<A> {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        let d = dir.index();
        if self.control.timeline.first_seen.is_none() {
            self.control.timeline.first_seen = Some(ts);
        }
        let mut pos = 0usize;
        while pos < data.len() {
            let input = data.get(pos..).unwrap_or_default();
            let used = match self.dirs[d].mode() {
                Mode::Raw => {
                    self.relay_data(dir, input, ts);
                    input.len()
                }
                Mode::Stopped => {
                    self.dirs[d].ignored_bytes = self.dirs[d]
                        .ignored_bytes
                        .saturating_add(input.len() as u64);
                    input.len()
                }
                Mode::Skipping { remaining } => {
                    let n = remaining.min(input.len() as u64);
                    let left = remaining - n;
                    self.dirs[d].mode = Some(if left == 0 {
                        Mode::Framing
                    } else {
                        Mode::Skipping { remaining: left }
                    });
                    n as usize
                }
                Mode::Lost => self.resync(dir, input, ts),
                Mode::Framing if !self.dirs[d].buf.is_empty() => self.fill_buffer(dir, input, ts),
                Mode::Framing => {
                    let offset = self.dirs[d].offset;
                    match self.examine(dir, input, ts, offset) {
                        Step::Frame(n) => n,
                        Step::NeedMore(_) => {
                            // Shorter than one frame (at most HEADER_LEN + MAX_DATA_LEN).
                            self.dirs[d].buf.extend_from_slice(input);
                            input.len()
                        }
                        Step::Skip(total) => {
                            let n = total.min(input.len() as u64);
                            if total > n {
                                self.dirs[d].mode = Some(Mode::Skipping {
                                    remaining: total - n,
                                });
                            }
                            n as usize
                        }
                        Step::Lost => {
                            self.dirs[d].mode = Some(Mode::Lost);
                            self.dirs[d].lost_bytes = 1;
                            1
                        }
                        Step::Stop => {
                            self.dirs[d].mode = Some(Mode::Stopped);
                            0
                        }
                    }
                }
            };
            // A frame can switch the mode (tunnel start) without using all of `input`.
            pos += used;
            self.dirs[d].offset = self.dirs[d].offset.saturating_add(used as u64);
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        let d = dir.index();
        if len == 0 {
            return;
        }
        match self.dirs[d].mode() {
            Mode::Raw => {
                self.relay.on_gap(dir, len, ts);
                if let Some(inner) = self.inner.as_mut() {
                    inner.on_gap(dir, len, ts);
                }
            }
            Mode::Stopped => {
                self.dirs[d].ignored_bytes = self.dirs[d].ignored_bytes.saturating_add(len);
            }
            Mode::Lost => {
                self.dirs[d].buf.clear();
                self.dirs[d].lost_bytes = self.dirs[d].lost_bytes.saturating_add(len);
            }
            Mode::Skipping { remaining } => {
                self.dirs[d].mode = Some(if len < remaining {
                    Mode::Skipping {
                        remaining: remaining - len,
                    }
                } else if len == remaining {
                    Mode::Framing
                } else {
                    self.dirs[d].lost_bytes = len - remaining;
                    self.anomaly(
                        "gap_lost_framing",
                        Some(dir),
                        ts,
                        Some(self.dirs[d].offset),
                        || format!("a {len}-byte gap runs past the end of the frame being skipped"),
                    );
                    Mode::Lost
                });
            }
            Mode::Framing => {
                let offset = self.dirs[d].offset;
                let remaining = if self.dirs[d].buf.is_empty() {
                    self.anomaly("gap_lost_framing", Some(dir), ts, Some(offset), || {
                        format!("a {len}-byte gap at a frame boundary")
                    });
                    u64::MAX
                } else {
                    self.cut_buffered_frame(dir, ts, "frame_cut_by_gap")
                };
                // `u64::MAX`: the boundary is unknown (the header itself was cut).
                self.dirs[d].mode = Some(if remaining == u64::MAX {
                    self.dirs[d].lost_bytes = len;
                    Mode::Lost
                } else if len < remaining {
                    Mode::Skipping {
                        remaining: remaining - len,
                    }
                } else if len == remaining {
                    Mode::Framing
                } else {
                    self.dirs[d].lost_bytes = len - remaining;
                    Mode::Lost
                });
            }
        }
        self.dirs[d].offset = self.dirs[d].offset.saturating_add(len);
    }

    fn on_end(&mut self, dir: Direction, ts: Timestamp) {
        let d = dir.index();
        match self.dirs[d].mode() {
            Mode::Framing if !self.dirs[d].buf.is_empty() => {
                self.cut_buffered_frame(dir, ts, "frame_cut_by_end");
            }
            Mode::Skipping { remaining } => {
                let offset = self.dirs[d].offset;
                self.anomaly("frame_cut_by_end", Some(dir), ts, Some(offset), || {
                    format!("stream ended {remaining} bytes before the end of a skipped frame")
                });
            }
            Mode::Raw => {
                self.relay.on_end(dir, ts);
                if let Some(inner) = self.inner.as_mut() {
                    inner.on_end(dir, ts);
                }
            }
            _ => {}
        }
        self.dirs[d].buf = Vec::new();
        self.dirs[d].ended.get_or_insert(ts);
    }
}
