//! [`TunnelSession`], the per-connection [`StreamAnalyzer`] of the NAT tunnel: it wires
//! one [`Deframer`] per direction to the [`Control`] logic (control connections) or to a
//! [`RelayTap`] and an optional inner analyzer (tunnel connections), and keeps what both
//! kinds share: the kind, the byte order, frame records and counts, anomalies, endings.
//!
//! # Call order
//! The pipeline creates a session once [`super::detect`] says `Match` (or `MatchReversed`,
//! after swapping roles), then feeds it through [`StreamAnalyzer`]: `on_data` / `on_gap`
//! per direction in packet-time order, `on_end` once per direction. It may call
//! [`TunnelSession::note_close`] with the [`CloseReason`] a direction ended for before or
//! after `on_end` (the first one told counts); without it the summary says `closed` or
//! `open_at_end`. [`TunnelSession::summary`] can be called at any time.
//!
//! Within one call, the deframer's frames and events are handled as they are found, so
//! anomalies and frame records are in stream order per direction.
//!
//! # What it decides
//! The connection's kind comes from its first complete frame: a client that opens with a
//! 12-byte `USER_INFORMATION` (and a server that has sent no frame) makes a **tunnel**
//! connection; anything else framed makes a **control** connection; first bytes that are
//! no frame header make it **not framed**. On a tunnel connection both deframers are
//! released at that frame: everything after the 20-byte frame, both ways (including what
//! the server side had buffered), is relayed application data. It goes to the
//! [`RelayTap`] (counts, first-byte times, fingerprints, a short replay log) and to the
//! optional inner analyzer (see [`TunnelSession::set_inner`]).
//!
//! # Bounds, and what happens when they are hit
//! * Per direction, the deframer's bounds (see [`super::deframer`]): one partial frame,
//!   bounded resynchronisation carry, nothing allocated from a declared length.
//! * The first [`SessionConfig::max_frame_records`] frames are recorded individually;
//!   after that they are only counted (per message name). At most
//!   [`SessionConfig::max_new_connections`] `NEW_CONNECTION` times are kept (the rest
//!   counted). At most [`MAX_ANOMALY_SAMPLES`](super::output::MAX_ANOMALY_SAMPLES) anomalies are kept with details; all are
//!   counted.
//!
//! # Secrets
//! The password is never stored unless [`SessionConfig::show_secrets`] is set; only its
//! presence and length are. Partial-frame buffers may hold it transiently; `Debug` of a
//! session shows buffer lengths only, and buffers are cleared as soon as a frame completes.

use super::control::Control;
use super::deframer::{After, CutBy, Deframer, Event, FrameEvent, FrameSink};
use super::output::{
    AnomalyLog, ConnKind, ConnSummary, ControlSummary, EndSummary, FrameRecord, SessionAnomaly,
    TunnelConnSummary,
};
use super::parser::{
    ByteOrder, CLIENT_CONN_INFO_LEN, ClientConnInfo, MAX_DATA_LEN, MsgId, parse_client_conn_info,
};
use super::relay::{RelayFacts, RelayTap};
use crate::analyzers::StreamAnalyzer;
use crate::assembly::CloseReason;
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use std::collections::BTreeMap;
use std::fmt;

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// Options of a session.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// Keep the password from `USER_REQUEST_AUTH` (`--show-secrets`). Off by default.
    pub show_secrets: bool,
    /// Bytes of relayed data logged for a later inner analyzer (see [`RelayTap`]).
    pub relay_log_bytes: usize,
    /// Frames recorded individually (the rest only counted).
    pub max_frame_records: usize,
    /// `NEW_CONNECTION` times kept (the rest counted).
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

/// An inner analyzer that ignores everything (the default type parameter).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoInner;

impl StreamAnalyzer for NoInner {
    fn on_data(&mut self, _dir: Direction, _data: &[u8], _ts: Timestamp) {}
    fn on_gap(&mut self, _dir: Direction, _len: u64, _ts: Timestamp) {}
}

#[derive(Clone, Copy, Debug)]
struct TunnelState {
    info: ClientConnInfo,
    order: ByteOrder,
    frame_ts: Timestamp,
}

/// What the frames of both directions update (apart from the deframers, so that a
/// deframer can report into it).
#[derive(Clone, Debug)]
struct Conn {
    max_frame_records: usize,
    kind: ConnKind,
    /// Byte order of the first header seen, either direction.
    order: Option<ByteOrder>,
    /// Frames with a known id per direction (cut ones included).
    framed: [u64; 2],
    frames: Vec<FrameRecord>,
    frame_counts: BTreeMap<&'static str, u64>,
    control: Control,
    tunnel: Option<TunnelState>,
    anomalies: AnomalyLog,
}

impl Conn {
    /// The deframers' view of `self` during one call of `dir` at `ts`.
    fn sink(&mut self, dir: Direction, ts: Timestamp) -> Sink<'_> {
        Sink {
            conn: self,
            dir,
            ts,
        }
    }

    fn count_frame(&mut self, name: &'static str) {
        *self.frame_counts.entry(name).or_insert(0) += 1;
    }

    /// A frame of `dir`: recorded, counted, the kind decided, then handed to the control
    /// logic (or, the tunnel's first frame, starting the tunnel: `Release`).
    fn frame(&mut self, dir: Direction, f: FrameEvent<'_>, ts: Timestamp) -> After {
        let h = f.header;
        let Some(msg) = h.msg() else {
            return After::Continue;
        };
        self.framed[dir.index()] += 1;
        self.count_frame(msg.name());
        if self.frames.len() < self.max_frame_records {
            self.frames.push(FrameRecord {
                dir,
                msg_id: h.id,
                name: msg.name(),
                ts,
                data_len: h.data_len,
                offset: f.offset,
                truncated: f.truncated,
            });
        }
        if !msg.sane_len().contains(&h.data_len) {
            self.anomalies
                .push("unexpected_length", Some(dir), ts, Some(f.offset), || {
                    format!("{} with {} bytes", msg.name(), h.data_len)
                });
        }
        if matches!(self.kind, ConnKind::Undecided | ConnKind::NotFramed) {
            let other_framed = self.framed[dir.reverse().index()] > 0;
            self.kind = if dir == C2S
                && msg == MsgId::UserInformation
                && !f.truncated
                && !other_framed
                && f.data.len() == CLIENT_CONN_INFO_LEN
            {
                ConnKind::Tunnel
            } else {
                ConnKind::Control
            };
        }
        match self.kind {
            ConnKind::Tunnel if self.tunnel.is_none() => match parse_client_conn_info(f.data) {
                Some(info) => {
                    self.tunnel = Some(TunnelState {
                        info,
                        order: h.order,
                        frame_ts: ts,
                    });
                    After::Release
                }
                None => After::Continue,
            },
            ConnKind::Tunnel => After::Continue,
            _ => {
                self.control.on_frame(dir, msg, &f, ts, &mut self.anomalies);
                After::Continue
            }
        }
    }

    /// A deframer event of `dir`, as an anomaly (and the byte order, the kind).
    fn event(&mut self, dir: Direction, event: Event, offset: u64, ts: Timestamp) {
        let (here, at) = (Some(dir), Some(offset));
        let log = &mut self.anomalies;
        match event {
            Event::Order(o) => match self.order {
                None => self.order = Some(o),
                Some(first) if first != o => log.push("mixed_byte_order", here, ts, at, || {
                    format!(
                        "{} headers in {}, {} in the other direction",
                        o.name(),
                        dir.short(),
                        first.name()
                    )
                }),
                Some(_) => {}
            },
            Event::NotFramed => {
                if self.kind == ConnKind::Undecided {
                    self.kind = ConnKind::NotFramed;
                }
                log.push("not_a_frame", here, ts, at, || {
                    "first bytes of the direction are not a frame header".to_string()
                });
            }
            Event::UnknownId { id, data_len } => {
                *self.frame_counts.entry("UNKNOWN").or_insert(0) += 1;
                log.push("unknown_msg_id", here, ts, at, || {
                    format!("message id {id} with {data_len} bytes")
                });
            }
            Event::TooLong { id, data_len } => log.push("length_too_large", here, ts, at, || {
                format!("message id {id} declares {data_len} bytes (limit {MAX_DATA_LEN})")
            }),
            Event::Resynchronised { skipped } => log.push("resynchronised", here, ts, at, || {
                format!("found a frame boundary after skipping {skipped} bytes")
            }),
            Event::GapAtBoundary { len } => log.push("gap_lost_framing", here, ts, at, || {
                format!("a {len}-byte gap at a frame boundary")
            }),
            Event::GapPastSkip { len } => log.push("gap_lost_framing", here, ts, at, || {
                format!("a {len}-byte gap runs past the end of the frame being skipped")
            }),
            Event::Cut { by, header, have } => {
                let kind = match by {
                    CutBy::Gap => "frame_cut_by_gap",
                    CutBy::End => "frame_cut_by_end",
                };
                log.push(kind, here, ts, at, || match header.and_then(|h| h.msg()) {
                    Some(m) => format!(
                        "{} cut after {have} of {} bytes",
                        m.name(),
                        header.map_or(0, |h| h.frame_len())
                    ),
                    None => format!("frame header cut after {have} bytes"),
                });
            }
            Event::EndInSkip { remaining } => log.push("frame_cut_by_end", here, ts, at, || {
                format!("stream ended {remaining} bytes before the end of a skipped frame")
            }),
        }
    }
}

/// A deframer's view of the session during one call: the direction and the packet time.
struct Sink<'a> {
    conn: &'a mut Conn,
    dir: Direction,
    ts: Timestamp,
}

impl FrameSink for Sink<'_> {
    fn order_hint(&self) -> Option<ByteOrder> {
        self.conn.order
    }

    fn frame(&mut self, frame: FrameEvent<'_>) -> After {
        self.conn.frame(self.dir, frame, self.ts)
    }

    fn event(&mut self, event: Event, offset: u64) {
        self.conn.event(self.dir, event, offset, self.ts);
    }
}

/// Decoder and summariser of one connection (see the module docs).
pub struct TunnelSession<A: StreamAnalyzer = NoInner> {
    deframers: [Deframer; 2],
    conn: Conn,
    relay: RelayTap,
    inner: Option<A>,
    /// When each direction ended (`on_end`).
    ended: [Option<Timestamp>; 2],
    /// Why, when told ([`TunnelSession::note_close`]).
    reasons: [Option<CloseReason>; 2],
}

impl<A: StreamAnalyzer> fmt::Debug for TunnelSession<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunnelSession")
            .field("kind", &self.conn.kind)
            .field("order", &self.conn.order)
            .field("deframers", &self.deframers)
            .field("frames", &self.conn.frame_counts)
            .field("control", &self.conn.control)
            .field("tunnel", &self.conn.tunnel)
            .field("relay", &self.relay)
            .field("inner", &self.inner.as_ref().map(|_| "..."))
            .field("anomalies", self.conn.anomalies.counts())
            .finish()
    }
}

impl Default for TunnelSession<NoInner> {
    fn default() -> Self {
        TunnelSession::new(SessionConfig::default())
    }
}

impl<A: StreamAnalyzer> TunnelSession<A> {
    pub fn new(cfg: SessionConfig) -> Self {
        TunnelSession {
            deframers: [Deframer::new(C2S), Deframer::new(S2C)],
            conn: Conn {
                max_frame_records: cfg.max_frame_records,
                kind: ConnKind::Undecided,
                order: None,
                framed: [0; 2],
                frames: Vec::new(),
                frame_counts: BTreeMap::new(),
                control: Control::new(cfg.show_secrets, cfg.max_new_connections),
                tunnel: None,
                anomalies: AnomalyLog::default(),
            },
            relay: RelayTap::new(cfg.relay_log_bytes),
            inner: None,
            ended: [None; 2],
            reasons: [None; 2],
        }
    }

    pub fn kind(&self) -> ConnKind {
        self.conn.kind
    }

    /// Byte order of the first frame header seen.
    pub fn byte_order(&self) -> Option<ByteOrder> {
        self.conn.order
    }

    /// The recorded frames (the first [`SessionConfig::max_frame_records`]).
    pub fn frames(&self) -> &[FrameRecord] {
        &self.conn.frames
    }

    /// Frames per message name, all of them.
    pub fn frame_counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.conn.frame_counts
    }

    pub fn anomalies(&self) -> &[SessionAnomaly] {
        self.conn.anomalies.samples()
    }

    pub fn anomaly_counts(&self) -> &BTreeMap<&'static str, u64> {
        self.conn.anomalies.counts()
    }

    /// `uid` and `port` of a tunnel connection's frame, or of a control connection's
    /// `USER_INFORMATION`.
    pub fn conn_info(&self) -> Option<ClientConnInfo> {
        self.conn
            .tunnel
            .map(|t| t.info)
            .or(self.conn.control.conn_info())
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
        self.conn.kind == ConnKind::Tunnel
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

    /// Bytes held for `dir` right now: a partial frame (at most [`HEADER_LEN`](super::parser::HEADER_LEN) +
    /// [`MAX_DATA_LEN`]) or resynchronisation carry (see [`Deframer::buffered_bytes`]).
    pub fn buffered_bytes(&self, dir: Direction) -> usize {
        self.deframers[dir.index()].buffered_bytes()
    }

    /// Stream bytes of `dir` not decoded: skipped while resynchronising or after the
    /// direction stopped.
    pub fn undecoded_bytes(&self, dir: Direction) -> u64 {
        self.deframers[dir.index()].undecoded_bytes()
    }

    /// Tells why `dir` ended (optional, the first reason told counts; see the module
    /// docs).
    pub fn note_close(&mut self, dir: Direction, reason: CloseReason) {
        self.reasons[dir.index()].get_or_insert(reason);
    }

    fn ended(&self) -> EndSummary {
        EndSummary::of(self.ended, self.reasons, self.conn.control.auth_failed())
    }

    /// The control connection's summary (`None` unless [`ConnKind::Control`]).
    pub fn control_summary(&self) -> Option<ControlSummary> {
        if self.conn.kind != ConnKind::Control {
            return None;
        }
        Some(self.conn.control.summary(
            self.conn.order,
            &self.conn.frame_counts,
            self.ended(),
            self.conn.anomalies.total(),
        ))
    }

    /// The tunnel connection's summary (`None` unless [`ConnKind::Tunnel`]).
    pub fn tunnel_summary(&self) -> Option<TunnelConnSummary> {
        let t = self.conn.tunnel?;
        Some(TunnelConnSummary {
            byte_order: t.order,
            uid: t.info.uid,
            port: t.info.port,
            frame_ts: t.frame_ts,
            c2s: self.relay.facts(C2S),
            s2c: self.relay.facts(S2C),
            ended: self.ended(),
            anomalies: self.conn.anomalies.total(),
        })
    }

    pub fn summary(&self) -> ConnSummary {
        if let Some(c) = self.control_summary() {
            ConnSummary::Control(Box::new(c))
        } else if let Some(t) = self.tunnel_summary() {
            ConnSummary::Tunnel(Box::new(t))
        } else {
            ConnSummary::Other {
                state: self.conn.kind,
                anomalies: self.conn.anomalies.total(),
            }
        }
    }

    fn relay_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        self.relay.on_data(dir, data, ts);
        if let Some(inner) = self.inner.as_mut() {
            inner.on_data(dir, data, ts);
        }
    }
}

impl<A: StreamAnalyzer> StreamAnalyzer for TunnelSession<A> {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        self.conn.control.saw_bytes(ts);
        let deframer = &mut self.deframers[dir.index()];
        if deframer.is_released() {
            self.relay_data(dir, data, ts);
            return;
        }
        let used = deframer.push(data, &mut self.conn.sink(dir, ts));
        if !deframer.is_released() {
            return;
        }
        // The tunnel connection's frame: what the server side sent so far is relayed
        // data, not a frame, and so is the rest of this chunk.
        let pending = self.deframers[S2C.index()].release();
        if !pending.is_empty() {
            self.relay_data(S2C, &pending, ts);
        }
        let rest = data.get(used..).unwrap_or_default();
        if !rest.is_empty() {
            self.relay_data(dir, rest, ts);
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        if len == 0 {
            return;
        }
        let deframer = &mut self.deframers[dir.index()];
        if deframer.is_released() {
            self.relay.on_gap(dir, len, ts);
            if let Some(inner) = self.inner.as_mut() {
                inner.on_gap(dir, len, ts);
            }
            return;
        }
        deframer.gap(len, &mut self.conn.sink(dir, ts));
    }

    fn on_end(&mut self, dir: Direction, ts: Timestamp) {
        let d = dir.index();
        if self.deframers[d].is_released() {
            self.relay.on_end(dir, ts);
            if let Some(inner) = self.inner.as_mut() {
                inner.on_end(dir, ts);
            }
        }
        self.deframers[d].end(&mut self.conn.sink(dir, ts));
        self.ended[d].get_or_insert(ts);
    }
}

#[cfg(test)]
mod tests {
    //! The wiring: kind decisions, the hand-off at the tunnel frame, what both directions
    //! share. Frames and payloads from `shared/specs/tunnel-control.md`.
    use super::*;
    use crate::analyzers::nat_tunnel::output::EndHow;
    use crate::analyzers::nat_tunnel::parser::encode_frame;

    const BE: ByteOrder = ByteOrder::BigEndian;
    const LE: ByteOrder = ByteOrder::LittleEndian;
    /// The spec's ClientConnInfo: uid 1, port 8080.
    const CONN_INFO: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x1f, 0x90];

    fn t(ms: i64) -> Timestamp {
        Timestamp(1_795_315_344_000_000_000 + ms * 1_000_000)
    }

    fn frame(order: ByteOrder, msg: MsgId, data: &[u8]) -> Vec<u8> {
        encode_frame(order, msg.code(), data)
    }

    fn auth_request() -> Vec<u8> {
        let mut ui = 3i32.to_be_bytes().to_vec();
        ui.extend_from_slice(b"bob");
        ui.extend_from_slice(&2i32.to_be_bytes());
        ui.extend_from_slice(b"pw");
        ui.extend_from_slice(&0i64.to_be_bytes());
        frame(BE, MsgId::UserRequestAuth, &ui)
    }

    /// Records what reaches an inner analyzer, in order.
    #[derive(Default)]
    struct Log(Vec<(Direction, Vec<u8>)>);

    impl StreamAnalyzer for Log {
        fn on_data(&mut self, dir: Direction, data: &[u8], _ts: Timestamp) {
            self.0.push((dir, data.to_vec()));
        }
        fn on_gap(&mut self, dir: Direction, len: u64, _ts: Timestamp) {
            self.0.push((dir, format!("gap {len}").into_bytes()));
        }
    }

    #[test]
    fn tunnel_frame_hands_both_directions_over() {
        let mut s = TunnelSession::<Log>::new(SessionConfig::default());
        // The server's first 3 bytes could begin a header: buffered, not yet relayed.
        s.on_data(S2C, &[0, 0, 0], t(0));
        assert_eq!(s.buffered_bytes(S2C), 3);
        let mut c2s = frame(BE, MsgId::UserInformation, &CONN_INFO);
        c2s.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        s.on_data(C2S, &c2s, t(1));
        assert_eq!(s.kind(), ConnKind::Tunnel);
        assert_eq!(s.conn_info().map(|i| (i.uid, i.port)), Some((1, 8080)));
        assert_eq!(s.buffered_bytes(S2C), 0);
        s.on_data(S2C, b"GET / HTTP/1.1\r\n", t(2));
        s.on_gap(S2C, 5, t(3));
        assert!(s.wants_inner());
        s.set_inner(Log::default());
        s.on_data(C2S, b"x", t(4));
        let got: Vec<(Direction, Vec<u8>)> = s.inner().map(|l| l.0.clone()).unwrap_or_default();
        // Replayed in arrival order: the server's held bytes first, then the rest of the
        // client's chunk after the 20-byte frame, then what followed.
        assert_eq!(
            got,
            vec![
                (S2C, vec![0, 0, 0]),
                (C2S, b"HTTP/1.1 200 OK\r\n".to_vec()),
                (S2C, b"GET / HTTP/1.1\r\n".to_vec()),
                (S2C, b"gap 5".to_vec()),
                (C2S, b"x".to_vec()),
            ]
        );
        let summary = s.tunnel_summary().expect("tunnel");
        // Stream bytes after the frame, gaps included: 17 + 1 and 3 + 16 + 5.
        assert_eq!((summary.c2s.bytes, summary.s2c.bytes), (18, 24));
        assert_eq!(summary.s2c.gap_bytes, 5);
        assert_eq!(summary.frame_ts, t(1));
        assert!(s.control_summary().is_none());
    }

    #[test]
    fn server_speaking_first_is_a_control_connection() {
        let mut s = TunnelSession::default();
        s.on_data(S2C, &frame(BE, MsgId::UserInformation, &CONN_INFO), t(0));
        // A client USER_INFORMATION after a server frame is no tunnel connection.
        s.on_data(C2S, &frame(BE, MsgId::UserInformation, &CONN_INFO), t(1));
        assert_eq!(s.kind(), ConnKind::Control);
        let c = s.control_summary().expect("control");
        assert_eq!((c.uid, c.port), (Some(1), Some(8080)));
        assert_eq!(c.frames.get("USER_INFORMATION"), Some(&2));
        assert_eq!(c.auth, crate::analyzers::nat_tunnel::AuthOutcome::Bypassed);
    }

    #[test]
    fn mixed_byte_orders_are_flagged_once_per_direction() {
        let mut s = TunnelSession::default();
        s.on_data(C2S, &auth_request(), t(0));
        let ka = frame(LE, MsgId::KeepAlive, b"ping");
        s.on_data(S2C, &[ka.clone(), ka].concat(), t(1));
        assert_eq!(s.byte_order(), Some(BE));
        assert_eq!(s.anomaly_counts().get("mixed_byte_order"), Some(&1));
        assert_eq!(s.control_summary().map(|c| c.keepalive.count), Some(2));
    }

    #[test]
    fn frames_are_recorded_up_to_the_limit_and_counted_beyond() {
        let cfg = SessionConfig {
            max_frame_records: 2,
            ..SessionConfig::default()
        };
        let mut s = TunnelSession::<NoInner>::new(cfg);
        s.on_data(C2S, &auth_request(), t(0));
        for i in 0..3 {
            s.on_data(S2C, &frame(BE, MsgId::KeepAlive, b"ping"), t(i + 1));
        }
        assert_eq!(s.frames().len(), 2);
        assert_eq!(s.frames()[1].offset, 0);
        assert_eq!(s.frames()[1].dir, S2C);
        assert_eq!(s.frame_counts().get("KEEP_ALIVE"), Some(&3));
    }

    #[test]
    fn endings_first_reason_counts() {
        let mut s = TunnelSession::default();
        s.on_data(C2S, &auth_request(), t(0));
        s.note_close(C2S, CloseReason::Fin);
        s.note_close(C2S, CloseReason::Rst);
        s.on_end(C2S, t(5));
        s.note_close(S2C, CloseReason::Fin);
        s.on_end(S2C, t(7));
        let e = s.control_summary().expect("control").ended;
        assert_eq!((e.how, e.at), (EndHow::Fin, Some(t(7))));
        assert_eq!(
            (e.c2s, e.s2c),
            (Some(CloseReason::Fin), Some(CloseReason::Fin))
        );
    }

    #[test]
    fn not_framed_tells_only_anomalies() {
        let mut s = TunnelSession::default();
        s.on_data(C2S, b"SSH-2.0-OpenSSH_9.6\r\n", t(0));
        assert_eq!(
            s.summary(),
            ConnSummary::Other {
                state: ConnKind::NotFramed,
                anomalies: 1
            }
        );
        assert_eq!(s.undecoded_bytes(C2S), 21);
    }

    #[test]
    fn debug_never_shows_a_buffered_password() {
        let mut s = TunnelSession::default();
        let auth = auth_request();
        s.on_data(C2S, &auth[..auth.len() - 3], t(0));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("pw") && dbg.contains("buffered"), "{dbg}");
    }
}
