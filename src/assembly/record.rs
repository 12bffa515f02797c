//! What the assembler tells about a connection when it ends: per-direction counters,
//! handshake timing, and Zeek-style `history` and `conn_state`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::types::{CloseReason, GapCause, OverlapConflict, StreamStart};
use crate::Timestamp;
use crate::decode::TcpFlags;
use crate::flow::{Direction, FlowId};

/// Gaps of one cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapTally {
    pub count: u64,
    pub bytes: u64,
}

/// Gaps by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapStats {
    pub acked_not_captured: GapTally,
    pub never_acked: GapTally,
    pub limit_skipped: GapTally,
    pub snaplen_truncated: GapTally,
}

impl GapStats {
    pub fn add(&mut self, cause: GapCause, len: u64) {
        let tally = match cause {
            GapCause::AckedNotCaptured => &mut self.acked_not_captured,
            GapCause::NeverAcked => &mut self.never_acked,
            GapCause::LimitSkipped => &mut self.limit_skipped,
            GapCause::SnaplenTruncated => &mut self.snaplen_truncated,
        };
        tally.count += 1;
        tally.bytes += len;
    }

    pub fn get(&self, cause: GapCause) -> GapTally {
        match cause {
            GapCause::AckedNotCaptured => self.acked_not_captured,
            GapCause::NeverAcked => self.never_acked,
            GapCause::LimitSkipped => self.limit_skipped,
            GapCause::SnaplenTruncated => self.snaplen_truncated,
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.acked_not_captured.bytes
            + self.never_acked.bytes
            + self.limit_skipped.bytes
            + self.snaplen_truncated.bytes
    }

    pub fn total_count(&self) -> u64 {
        self.acked_not_captured.count
            + self.never_acked.count
            + self.limit_skipped.count
            + self.snaplen_truncated.count
    }
}

/// Counters of one direction.
///
/// Once the direction is closed or flushed,
/// `delivered_bytes + gaps.total_bytes() == stream_length` of its [`DirectionRecord`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectionStats {
    /// Every segment of the direction, pure ACKs included.
    pub packets: u64,
    /// Payload bytes on the wire, retransmissions included.
    pub payload_bytes: u64,
    /// Bytes handed to the sink as data.
    pub delivered_bytes: u64,
    pub gaps: GapStats,
    /// Segments all of whose payload had been seen before.
    pub retransmitted_packets: u64,
    /// Payload bytes seen before (delivered, buffered or declared a gap), in any segment.
    pub retransmitted_bytes: u64,
    /// Segments that were buffered because bytes before them were missing.
    pub out_of_order_segments: u64,
    /// Segments carrying both bytes seen before and new bytes.
    pub overlaps: u64,
    /// Segments whose bytes differed from the first copy of the same range.
    pub overlap_conflicts: u64,
    /// Segments advertising a zero window.
    pub zero_windows: u64,
    /// Bytes before offset 0 (before the ISN, or before the first byte of a midstream
    /// pickup): not part of the stream.
    pub bytes_before_start: u64,
    /// Bytes at or past the FIN, or arriving after the direction ended: not part of the
    /// stream.
    pub bytes_after_end: u64,
    /// Segments dropped for starting too far ahead (`max_seq_jump`).
    pub out_of_window_segments: u64,
    /// SYNs with an initial sequence number different from the one in use.
    pub syn_isn_changes: u64,
}

/// One direction of a finished connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectionRecord {
    /// `None` when the direction never carried data, a SYN or a FIN.
    pub start: Option<StreamStart>,
    pub end: Option<CloseReason>,
    /// Sequence number of stream offset 0.
    pub first_seq: Option<u32>,
    /// From offset 0 to the highest byte seen (data, snap-cut bytes, or the FIN).
    pub stream_length: u64,
    pub first_payload_ts: Option<Timestamp>,
    pub last_payload_ts: Option<Timestamp>,
    pub stats: DirectionStats,
}

/// Handshake times and round-trip halves, in nanoseconds of packet time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    pub syn_ts: Option<Timestamp>,
    pub syn_ack_ts: Option<Timestamp>,
    /// First client ACK (without SYN) after the SYN-ACK.
    pub first_ack_ts: Option<Timestamp>,
    /// SYN-ACK to ACK: the client side of the capture point.
    pub client_rtt_ns: Option<i64>,
    /// SYN to SYN-ACK: the server side of the capture point.
    pub server_rtt_ns: Option<i64>,
    /// SYN to ACK.
    pub total_rtt_ns: Option<i64>,
}

impl Handshake {
    pub(crate) fn observe(&mut self, dir: Direction, flags: TcpFlags, ts: Timestamp) {
        match dir {
            Direction::ClientToServer if flags.syn() && !flags.ack() => {
                self.syn_ts.get_or_insert(ts);
            }
            Direction::ServerToClient if flags.syn() && flags.ack() => {
                self.syn_ack_ts.get_or_insert(ts);
            }
            Direction::ClientToServer
                if !flags.syn() && flags.ack() && self.syn_ack_ts.is_some() =>
            {
                self.first_ack_ts.get_or_insert(ts);
            }
            _ => {}
        }
    }

    pub(crate) fn with_rtts(mut self) -> Self {
        let diff = |later: Option<Timestamp>, earlier: Option<Timestamp>| {
            Some(later?.nanos_since(earlier?))
        };
        self.server_rtt_ns = diff(self.syn_ack_ts, self.syn_ts);
        self.client_rtt_ns = diff(self.first_ack_ts, self.syn_ack_ts);
        self.total_rtt_ns = diff(self.first_ack_ts, self.syn_ts);
        self
    }
}

/// Everything known about a connection when the flow table closes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpConnRecord {
    pub conn: FlowId,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub handshake: Handshake,
    pub c2s: DirectionRecord,
    pub s2c: DirectionRecord,
    pub close_reason: CloseReason,
    /// Zeek's history letters (client uppercase, server lowercase), each once per side.
    pub history: String,
    pub conn_state: ConnState,
    /// Gap bytes of both directions, all causes.
    pub missed_bytes: u64,
    /// Conflict events over both directions (one segment may bring several, one per
    /// overlapped run); the per-direction `overlap_conflicts` count segments.
    pub conflict_events: u64,
    /// The first conflict seen (the sink was told about every one).
    pub first_conflict: Option<OverlapConflict>,
}

impl TcpConnRecord {
    pub fn direction(&self, dir: Direction) -> &DirectionRecord {
        match dir {
            Direction::ClientToServer => &self.c2s,
            Direction::ServerToClient => &self.s2c,
        }
    }
}

/// Zeek's `conn_state`, serialised as Zeek's code (`S0`, `SF`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// `S0`: connection attempt seen, no reply.
    AttemptNoReply,
    /// `S1`: established, not terminated.
    Established,
    /// `SF`: both sides sent a FIN.
    NormalClose,
    /// `REJ`: the attempt was rejected (RST in reply to a SYN).
    Rejected,
    /// `S2`: established, the client closed, no FIN from the server.
    ClientCloseOnly,
    /// `S3`: established, the server closed, no FIN from the client.
    ServerCloseOnly,
    /// `RSTO`: established, the client aborted (RST).
    ClientReset,
    /// `RSTR`: established, the server aborted (RST).
    ServerReset,
    /// `RSTOS0`: the client sent a SYN then an RST; no SYN-ACK seen.
    ClientSynThenReset,
    /// `RSTRH`: the server sent a SYN-ACK then an RST; no SYN seen.
    ServerSynAckThenReset,
    /// `SH`: the client sent a SYN then a FIN; no SYN-ACK seen.
    ClientHalfOpenClose,
    /// `SHR`: the server sent a SYN-ACK then a FIN; no SYN seen.
    ServerHalfOpenClose,
    /// `OTH`: anything else, e.g. midstream traffic without a close.
    Other,
}

impl ConnState {
    /// Every state, in declaration order.
    pub const ALL: [ConnState; 13] = [
        ConnState::AttemptNoReply,
        ConnState::Established,
        ConnState::NormalClose,
        ConnState::Rejected,
        ConnState::ClientCloseOnly,
        ConnState::ServerCloseOnly,
        ConnState::ClientReset,
        ConnState::ServerReset,
        ConnState::ClientSynThenReset,
        ConnState::ServerSynAckThenReset,
        ConnState::ClientHalfOpenClose,
        ConnState::ServerHalfOpenClose,
        ConnState::Other,
    ];

    pub fn zeek_code(self) -> &'static str {
        match self {
            ConnState::AttemptNoReply => "S0",
            ConnState::Established => "S1",
            ConnState::NormalClose => "SF",
            ConnState::Rejected => "REJ",
            ConnState::ClientCloseOnly => "S2",
            ConnState::ServerCloseOnly => "S3",
            ConnState::ClientReset => "RSTO",
            ConnState::ServerReset => "RSTR",
            ConnState::ClientSynThenReset => "RSTOS0",
            ConnState::ServerSynAckThenReset => "RSTRH",
            ConnState::ClientHalfOpenClose => "SH",
            ConnState::ServerHalfOpenClose => "SHR",
            ConnState::Other => "OTH",
        }
    }

    /// Zeek's `conn_state()` function over the two endpoint states.
    pub(crate) fn from_endpoints(
        client: EndpointState,
        server: EndpointState,
        client_bytes: u64,
        server_bytes: u64,
    ) -> ConnState {
        use EndpointState::*;
        let client_inactive = matches!(client, Inactive | Partial);
        let server_inactive = matches!(server, Inactive | Partial);
        if server == Reset {
            if matches!(client, SynSent | SynAckSent)
                || (client == Reset && client_bytes == 0 && server_bytes == 0)
            {
                ConnState::Rejected
            } else if client_inactive {
                ConnState::ServerSynAckThenReset
            } else {
                ConnState::ServerReset
            }
        } else if client == Reset {
            if server_inactive {
                ConnState::ClientSynThenReset
            } else {
                ConnState::ClientReset
            }
        } else if client == Closed && server == Closed {
            ConnState::NormalClose
        } else if client == Closed {
            if server_inactive {
                ConnState::ClientHalfOpenClose
            } else {
                ConnState::ClientCloseOnly
            }
        } else if server == Closed {
            if client_inactive {
                ConnState::ServerHalfOpenClose
            } else {
                ConnState::ServerCloseOnly
            }
        } else if client == SynSent && server == Inactive {
            ConnState::AttemptNoReply
        } else if client == Established && server == Established {
            ConnState::Established
        } else {
            ConnState::Other
        }
    }
}

impl Serialize for ConnState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.zeek_code())
    }
}

impl<'de> Deserialize<'de> for ConnState {
    /// The Zeek code [`Serialize`] writes.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ConnState;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Zeek conn_state code")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ConnState, E> {
                ConnState::ALL
                    .into_iter()
                    .find(|c| c.zeek_code() == v)
                    .ok_or_else(|| E::unknown_variant(v, &[]))
            }
        }
        d.deserialize_string(V)
    }
}

/// Zeek's per-endpoint TCP state, as far as `conn_state` needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum EndpointState {
    /// Nothing sent yet.
    #[default]
    Inactive,
    SynSent,
    /// A SYN-ACK sent without the peer's SYN seen.
    SynAckSent,
    /// Active, but no SYN seen from it (midstream).
    Partial,
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent an RST.
    Reset,
}

impl EndpointState {
    /// Advances both endpoints for a segment from `sender` (index into `states`).
    pub(crate) fn observe(states: &mut [EndpointState; 2], sender: usize, flags: TcpFlags) {
        use EndpointState::*;
        let peer_index = 1 - (sender & 1);
        let peer = states[peer_index];
        let me = &mut states[sender & 1];
        if flags.rst() {
            *me = Reset;
            return;
        }
        if *me == Reset {
            return;
        }
        if flags.syn() {
            if flags.ack() {
                if matches!(*me, Inactive | SynSent) {
                    if peer == SynSent {
                        *me = Established;
                        states[peer_index] = Established;
                    } else {
                        *me = SynAckSent;
                    }
                }
            } else if *me == Inactive {
                *me = SynSent;
            }
        } else if flags.ack() && *me == SynSent && matches!(peer, SynAckSent | Established) {
            *me = Established;
            states[peer_index] = Established;
        } else if *me == Inactive {
            *me = Partial;
        }
        if flags.fin() {
            states[sender & 1] = Closed;
        }
    }
}

/// One letter of Zeek's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HistoryLetter {
    Syn,
    SynAck,
    PureAck,
    Data,
    Fin,
    Rst,
    Retransmission,
    Gap,
    ZeroWindow,
    MultiFlag,
    Inconsistent,
}

impl HistoryLetter {
    fn client_char(self) -> u8 {
        match self {
            HistoryLetter::Syn => b'S',
            HistoryLetter::SynAck => b'H',
            HistoryLetter::PureAck => b'A',
            HistoryLetter::Data => b'D',
            HistoryLetter::Fin => b'F',
            HistoryLetter::Rst => b'R',
            HistoryLetter::Retransmission => b'T',
            HistoryLetter::Gap => b'G',
            HistoryLetter::ZeroWindow => b'W',
            HistoryLetter::MultiFlag => b'Q',
            HistoryLetter::Inconsistent => b'I',
        }
    }

    /// The letters a segment's flags and length earn.
    pub(crate) fn for_segment(
        flags: TcpFlags,
        has_payload: bool,
        window: u16,
    ) -> [Option<Self>; 5] {
        let multi = if flags.syn() && (flags.fin() || flags.rst()) {
            Some(HistoryLetter::MultiFlag)
        } else if flags.fin() && flags.rst() {
            Some(HistoryLetter::Inconsistent)
        } else {
            None
        };
        let syn = match (flags.syn(), flags.ack()) {
            (true, true) => Some(HistoryLetter::SynAck),
            (true, false) => Some(HistoryLetter::Syn),
            _ => None,
        };
        let end = if flags.rst() {
            Some(HistoryLetter::Rst)
        } else if flags.fin() {
            Some(HistoryLetter::Fin)
        } else {
            None
        };
        let body = if has_payload {
            Some(HistoryLetter::Data)
        } else if flags.ack() && !flags.syn() && !flags.fin() && !flags.rst() {
            Some(HistoryLetter::PureAck)
        } else {
            None
        };
        let zero_window =
            (window == 0 && !flags.syn() && !flags.rst()).then_some(HistoryLetter::ZeroWindow);
        [multi, syn, end, body, zero_window]
    }
}

/// Zeek's `history`: letters in the order first seen, each at most once per side.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistoryLetters {
    letters: [u8; 24],
    len: u8,
    seen: [u16; 2],
    /// Per side, what decided the letters of its last segment (see `add_segment`).
    last_segment: [u16; 2],
}

impl Default for HistoryLetters {
    fn default() -> Self {
        HistoryLetters {
            letters: [0; 24],
            len: 0,
            seen: [0; 2],
            last_segment: [NO_SEGMENT; 2],
        }
    }
}

/// No segment yet (no flags, length and window give this key).
const NO_SEGMENT: u16 = u16::MAX;

impl HistoryLetters {
    /// Adds the letters a segment earns ([`HistoryLetter::for_segment`]). They depend on
    /// its flags, whether it has payload and whether its window is zero, and each letter
    /// counts once per side: a segment like the side's previous one adds nothing new and
    /// is skipped without working its letters out (most segments of a transfer).
    pub(crate) fn add_segment(
        &mut self,
        dir: Direction,
        flags: TcpFlags,
        has_payload: bool,
        window: u16,
    ) {
        let key = u16::from(flags.0) | u16::from(has_payload) << 8 | u16::from(window == 0) << 9;
        let last = &mut self.last_segment[dir.index()];
        if *last == key {
            return;
        }
        *last = key;
        for letter in HistoryLetter::for_segment(flags, has_payload, window)
            .into_iter()
            .flatten()
        {
            self.add(dir, letter);
        }
    }

    pub(crate) fn add(&mut self, dir: Direction, letter: HistoryLetter) {
        let bit = 1u16 << (letter as u16);
        let seen = &mut self.seen[dir.index()];
        if *seen & bit != 0 {
            return;
        }
        *seen |= bit;
        let upper = letter.client_char();
        let ch = match dir {
            Direction::ClientToServer => upper,
            Direction::ServerToClient => upper.to_ascii_lowercase(),
        };
        if let Some(slot) = self.letters.get_mut(self.len as usize) {
            *slot = ch;
            self.len += 1;
        }
    }

    pub(crate) fn as_string(&self) -> String {
        self.letters
            .get(..self.len as usize)
            .unwrap_or(&[])
            .iter()
            .map(|&b| char::from(b))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndpointState::*;

    fn run(packets: &[(Direction, u8)]) -> (ConnState, String) {
        let mut states = [Inactive; 2];
        let mut history = HistoryLetters::default();
        for &(dir, flags) in packets {
            let flags = TcpFlags(flags);
            EndpointState::observe(&mut states, dir.index(), flags);
            for letter in HistoryLetter::for_segment(flags, false, 1)
                .into_iter()
                .flatten()
            {
                history.add(dir, letter);
            }
        }
        (
            ConnState::from_endpoints(states[0], states[1], 0, 0),
            history.as_string(),
        )
    }

    #[test]
    fn skipping_repeated_segments_changes_no_letter() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2_000 {
            let (mut fast, mut slow) = (HistoryLetters::default(), HistoryLetters::default());
            for _ in 0..40 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let dir = if state & 1 == 0 { C } else { S };
                // Few flag combinations, so that segments repeat as in real transfers.
                let flags = TcpFlags(
                    [
                        ACK,
                        ACK,
                        ACK | TcpFlags::PSH,
                        SYN,
                        SYN | ACK,
                        FIN | ACK,
                        RST,
                        0xff,
                    ][(state >> 8) as usize % 8],
                );
                let payload = state & 0x200 != 0;
                let window = if state & 0xc00 == 0 { 0 } else { 512 };
                fast.add_segment(dir, flags, payload, window);
                for letter in HistoryLetter::for_segment(flags, payload, window)
                    .into_iter()
                    .flatten()
                {
                    slow.add(dir, letter);
                }
            }
            assert_eq!(fast.as_string(), slow.as_string());
        }
    }

    const C: Direction = Direction::ClientToServer;
    const S: Direction = Direction::ServerToClient;
    const SYN: u8 = TcpFlags::SYN;
    const ACK: u8 = TcpFlags::ACK;
    const FIN: u8 = TcpFlags::FIN;
    const RST: u8 = TcpFlags::RST;

    #[test]
    fn zeek_states_for_classic_exchanges() {
        type Case<'a> = (&'a [(Direction, u8)], &'a str, &'a str);
        let cases: &[Case<'_>] = &[
            (&[(C, SYN)], "S0", "S"),
            (&[(C, SYN), (S, RST | ACK)], "REJ", "Sr"),
            (&[(C, SYN), (S, SYN | ACK), (C, ACK)], "S1", "ShA"),
            (
                &[
                    (C, SYN),
                    (S, SYN | ACK),
                    (C, ACK),
                    (C, FIN | ACK),
                    (S, FIN | ACK),
                    (C, ACK),
                ],
                "SF",
                "ShAFf",
            ),
            (&[(C, SYN), (S, SYN | ACK), (C, FIN | ACK)], "S2", "ShF"),
            (&[(C, SYN), (S, SYN | ACK), (S, FIN | ACK)], "S3", "Shf"),
            (&[(C, SYN), (S, SYN | ACK), (C, RST)], "RSTO", "ShR"),
            (
                &[(C, SYN), (S, SYN | ACK), (C, ACK), (S, RST)],
                "RSTR",
                "ShAr",
            ),
            (&[(C, SYN), (C, RST)], "RSTOS0", "SR"),
            (&[(S, SYN | ACK), (S, RST)], "RSTRH", "hr"),
            (&[(C, SYN), (C, FIN)], "SH", "SF"),
            (&[(S, SYN | ACK), (S, FIN)], "SHR", "hf"),
            (&[(C, ACK), (S, ACK)], "OTH", "Aa"),
            (&[(C, SYN | FIN)], "SH", "QSF"),
        ];
        for (packets, state, history) in cases {
            let (got_state, got_history) = run(packets);
            assert_eq!(
                (got_state.zeek_code(), got_history.as_str()),
                (*state, *history),
                "{packets:?}"
            );
        }
    }

    #[test]
    fn letters_appear_once_per_side() {
        let mut h = HistoryLetters::default();
        for dir in [C, S, C, S] {
            h.add(dir, HistoryLetter::Data);
            h.add(dir, HistoryLetter::Retransmission);
        }
        h.add(S, HistoryLetter::Gap);
        assert_eq!(h.as_string(), "DTdtg");
    }
}
