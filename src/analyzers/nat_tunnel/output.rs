//! What a [`TunnelSession`](super::TunnelSession) tells: the serialisable summaries of a
//! control or tunnel connection, the frame and anomaly records, and the bounded
//! [`AnomalyLog`] that collects them.
//!
//! These types are the report's `tunnel` section (through
//! [`SessionReport`](super::correlate::SessionReport), which flattens a
//! [`ControlSummary`]): field names and serialised values are the output schema. Renaming
//! a field or a variant changes the JSON.

use super::parser::{ByteOrder, MsgId, UserInfoLayout};
use super::relay::RelayFacts;
use crate::assembly::CloseReason;
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Anomalies kept with details per session (all are counted).
pub const MAX_ANOMALY_SAMPLES: usize = 32;

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

/// How a connection ended, summarised from both directions' [`CloseReason`]s and what
/// the server replied (more than a `CloseReason` says: `open_at_end`, `auth_failed`,
/// `closed`).
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
    /// The flow table needed the room, or a new connection took the 4-tuple.
    Evicted,
    /// Both directions ended, reason not told.
    Closed,
}

/// How a connection ended: the summary and each direction's reason.
///
/// `c2s` / `s2c` serialise [`CloseReason::PortReuse`] as `evicted`, as the tunnel's
/// schema always has (it predates the assembler telling the two apart).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EndSummary {
    pub how: EndHow,
    /// Time of the last direction's end (`None` while open).
    pub at: Option<Timestamp>,
    #[serde(serialize_with = "ser_close")]
    pub c2s: Option<CloseReason>,
    #[serde(serialize_with = "ser_close")]
    pub s2c: Option<CloseReason>,
}

fn ser_close<S: Serializer>(r: &Option<CloseReason>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(CloseReason::PortReuse) => Some(CloseReason::Evicted).serialize(s),
        other => other.serialize(s),
    }
}

impl EndSummary {
    /// The summary of a connection whose directions ended at `ended` (`None`: still open)
    /// for the reasons in `reasons` (`None`: not told), `auth_failed` when the server
    /// refused authentication. Precedence: an RST anywhere, then open at the end (either
    /// direction open, or ended by the end of the capture), then a refused
    /// authentication, FIN both ways, idle timeout, eviction (or port reuse), else
    /// `closed`. `at` is the later end, `None` when open at the end.
    pub fn of(
        ended: [Option<Timestamp>; 2],
        reasons: [Option<CloseReason>; 2],
        auth_failed: bool,
    ) -> EndSummary {
        let all_ended = ended[0].is_some() && ended[1].is_some();
        let at = match ended {
            [Some(a), Some(b)] => Some(a.max(b)),
            _ => None,
        };
        let any = |e: CloseReason| reasons.contains(&Some(e));
        let how = if any(CloseReason::Rst) {
            EndHow::Rst
        } else if any(CloseReason::EndOfCapture) || !all_ended {
            EndHow::OpenAtEnd
        } else if auth_failed {
            EndHow::AuthFailed
        } else if reasons == [Some(CloseReason::Fin); 2] {
            EndHow::Fin
        } else if any(CloseReason::IdleTimeout) {
            EndHow::IdleTimeout
        } else if any(CloseReason::Evicted) || any(CloseReason::PortReuse) {
            EndHow::Evicted
        } else {
            EndHow::Closed
        };
        EndSummary {
            how,
            at: if how == EndHow::OpenAtEnd { None } else { at },
            c2s: reasons[0],
            s2c: reasons[1],
        }
    }
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

/// A session's anomalies: every one counted (in total and per kind), the first
/// [`MAX_ANOMALY_SAMPLES`] kept with details in arrival order; the detail of the others is
/// never formatted.
#[derive(Clone, Debug, Default)]
pub struct AnomalyLog {
    samples: Vec<SessionAnomaly>,
    counts: BTreeMap<&'static str, u64>,
    total: u64,
}

impl AnomalyLog {
    pub fn push(
        &mut self,
        kind: &'static str,
        dir: Option<Direction>,
        ts: Timestamp,
        offset: Option<u64>,
        detail: impl FnOnce() -> String,
    ) {
        self.total += 1;
        *self.counts.entry(kind).or_insert(0) += 1;
        if self.samples.len() < MAX_ANOMALY_SAMPLES {
            self.samples.push(SessionAnomaly {
                kind,
                dir,
                ts,
                offset,
                detail: detail(),
            });
        }
    }

    /// The first [`MAX_ANOMALY_SAMPLES`], in order.
    pub fn samples(&self) -> &[SessionAnomaly] {
        &self.samples
    }

    pub fn counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.counts
    }

    pub fn total(&self) -> u64 {
        self.total
    }
}

/// A secret shown only on request. `Debug` never prints it; `Serialize` does (it exists
/// only when [`SessionConfig::show_secrets`](super::SessionConfig::show_secrets) was set).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(super) String);

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
    /// [`QUEUED_THRESHOLD_S`](super::control::QUEUED_THRESHOLD_S).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp(1_795_315_344_000_000_000 + s * 1_000_000_000)
    }

    use CloseReason::{EndOfCapture, Evicted, Fin, IdleTimeout, PortReuse, Rst};

    fn how(
        ended: [Option<i64>; 2],
        reasons: [Option<CloseReason>; 2],
        auth_failed: bool,
    ) -> EndHow {
        EndSummary::of(ended.map(|e| e.map(t)), reasons, auth_failed).how
    }

    #[test]
    fn end_precedence() {
        let both = [Some(1), Some(2)];
        // The relay never closes sockets: one direction still open is open at the end.
        assert_eq!(
            how([Some(1), None], [Some(Fin), None], false),
            EndHow::OpenAtEnd
        );
        assert_eq!(how(both, [Some(EndOfCapture); 2], false), EndHow::OpenAtEnd);
        // An RST wins over everything (how the server notices a departed client).
        assert_eq!(how([Some(1), None], [Some(Rst), None], true), EndHow::Rst);
        assert_eq!(
            how(both, [Some(Fin), Some(EndOfCapture)], true),
            EndHow::OpenAtEnd
        );
        assert_eq!(how(both, [Some(Fin); 2], true), EndHow::AuthFailed);
        assert_eq!(how(both, [Some(Fin); 2], false), EndHow::Fin);
        assert_eq!(
            how(both, [Some(Fin), Some(IdleTimeout)], false),
            EndHow::IdleTimeout
        );
        assert_eq!(how(both, [Some(Evicted), None], false), EndHow::Evicted);
        assert_eq!(
            how(both, [Some(PortReuse), Some(Fin)], false),
            EndHow::Evicted
        );
        assert_eq!(how(both, [None, None], false), EndHow::Closed);
    }

    #[test]
    fn end_time_only_when_closed() {
        let e = EndSummary::of([Some(t(1)), Some(t(3))], [Some(Fin); 2], false);
        assert_eq!(e.at, Some(t(3)));
        let e = EndSummary::of([Some(t(1)), Some(t(3))], [Some(EndOfCapture); 2], false);
        assert_eq!(e.at, None);
    }

    #[test]
    fn end_reasons_serialise_in_the_tunnel_vocabulary() {
        let e = EndSummary::of(
            [Some(t(1)), Some(t(2))],
            [Some(PortReuse), Some(IdleTimeout)],
            false,
        );
        let j = serde_json::to_value(e).expect("json");
        assert_eq!(j["how"], "idle_timeout");
        assert_eq!(j["c2s"], "evicted");
        assert_eq!(j["s2c"], "idle_timeout");
        let e = EndSummary::of([None, None], [None, Some(EndOfCapture)], false);
        let j = serde_json::to_value(e).expect("json");
        assert_eq!(j["how"], "open_at_end");
        assert_eq!(j["c2s"], serde_json::Value::Null);
        assert_eq!(j["s2c"], "end_of_capture");
        assert_eq!(j["at"], serde_json::Value::Null);
    }

    #[test]
    fn anomaly_log_keeps_the_first_samples_and_counts_all() {
        let mut log = AnomalyLog::default();
        let mut formatted = 0;
        for i in 0..(MAX_ANOMALY_SAMPLES as u64 + 5) {
            let kind = if i % 2 == 0 { "even" } else { "odd" };
            log.push(kind, None, t(0), Some(i), || {
                formatted += 1;
                format!("#{i}")
            });
        }
        assert_eq!(log.total(), MAX_ANOMALY_SAMPLES as u64 + 5);
        assert_eq!(log.samples().len(), MAX_ANOMALY_SAMPLES);
        assert_eq!(formatted, MAX_ANOMALY_SAMPLES);
        assert_eq!(log.samples()[3].detail, "#3");
        assert_eq!(log.counts()["even"] + log.counts()["odd"], log.total());
    }

    #[test]
    fn secret_debug_hides_the_password() {
        let s = Secret("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "Secret(<7 bytes>)");
        assert_eq!(serde_json::to_value(&s).expect("json"), "hunter2");
    }
}
