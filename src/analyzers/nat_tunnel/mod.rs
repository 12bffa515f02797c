//! The NAT-traversal tunnel ("内网穿透"): control frames, tunnel connections and the
//! visitors they serve. Protocol: `shared/specs/tunnel-control.md`.
//!
//! * [`parser`] — pure functions over `&[u8]`: the 8-byte frame header in both byte
//!   orders, the message id table, `ClientConnInfo` and both `UserInfo` layouts.
//! * [`detect`] (here) — content detection of a stream's first bytes, and
//!   [`first_frame_kind`] to tell a control connection from a tunnel connection.
//! * [`deframer`] — [`Deframer`](deframer::Deframer): one direction's reassembled bytes
//!   and gaps to frame events (split or packed frames, both byte orders, gaps and
//!   resynchronisation explicit), knowing nothing of what frames mean.
//! * [`control`] — [`Control`](control::Control): the control connection's logic (auth
//!   request and reply, `USER_INFORMATION`, keep-alives, `NEW_CONNECTION`s).
//! * [`session`] — [`TunnelSession`], the per-connection
//!   [`StreamAnalyzer`](crate::analyzers::StreamAnalyzer) wiring two deframers to the
//!   control logic, or to the hand-off of a tunnel connection's relayed bytes to an inner
//!   analyzer.
//! * [`output`] — what a session tells: [`ControlSummary`], [`ConnSummary`], frame and
//!   anomaly records, [`EndHow`] (how a connection ended, from the assembler's
//!   [`CloseReason`](crate::assembly::CloseReason)s).
//! * [`relay`] — [`RelayTap`]: counts, first-byte times and fingerprints of relayed bytes,
//!   for tunnel connections and for candidate visitor connections alike.
//! * [`correlate`](mod@correlate) — pairs visitors with the tunnel connections that carried them (by
//!   content first, timing as fallback) and builds the report ([`TunnelReport`]).
//!
//! # What the pipeline does
//! 1. Probe each new TCP stream's first bytes with [`detect`] (any port: the protocol has
//!    no fixed port; ports may order the probes). On `Match`, create a
//!    [`TunnelSession`] and feed it the connection ([`StreamAnalyzer`](crate::analyzers::StreamAnalyzer) calls; optionally
//!    [`TunnelSession::note_close`]).
//! 2. For tunnel connections (`kind() == Tunnel`), when [`TunnelSession::wants_inner`]
//!    turns true, detect the relayed protocol from [`RelayTap::prefix`] and hand an
//!    analyzer over with [`TunnelSession::set_inner`] (the logged first bytes are
//!    replayed into it).
//! 3. Once control sessions have an exposed port (`conn_info()`), attach a [`RelayTap`]
//!    to every TCP connection to that port (server side: the visitors).
//! 4. At the end, build [`correlate::ControlInput`], [`correlate::TunnelInput`] and
//!    [`correlate::VisitorInput`] (helpers `from_session` / `from_tap` fill them) and
//!    call [`correlate::correlate`]; serialise the [`TunnelReport`] under `tunnel`.
//!
//! All of it is library code: no I/O, no clock (packet time is passed in), no panics on
//! any input, every buffer bounded (see each module's docs).

pub mod control;
pub mod correlate;
pub mod deframer;
pub mod output;
pub mod parser;
pub mod relay;
pub mod session;

#[cfg(test)]
mod tests;

pub use correlate::{
    ControlInput, CorrelateConfig, TunnelInput, TunnelReport, VisitorInput, correlate,
};
pub use output::{AuthOutcome, ConnKind, ConnSummary, ControlSummary, EndHow};
pub use parser::{ByteOrder, MsgId};
pub use relay::{Fingerprint, RelayFacts, RelayTap};
pub use session::{SessionConfig, TunnelSession};

use crate::analyzers::Detection;
use crate::flow::Direction;
pub use parser::HEADER_LEN;
use parser::{Header, could_begin_header, payload_is_plausible, sniff_order};

/// Content detection on the first bytes of one direction of a stream.
///
/// `Match` needs a full 8-byte header whose id is known and whose `data_len` is sane for
/// that id ([`MsgId::sane_len`]) in one of the two byte orders; when the whole frame is
/// present its payload must also be plausible (12 bytes for `USER_INFORMATION`, any
/// payload for `USER_REQUEST_AUTH` (its header alone decides; a UserInfo that fits no
/// layout is the session's `bad_user_info` anomaly), short printable text
/// otherwise). `NeedMore` while fewer than 8 bytes could still begin such a header;
/// `NotMine` as soon as they cannot (text protocols fail on the first byte).
/// `MatchReversed` when the first bytes of the *server* side are a `USER_REQUEST_AUTH`
/// (only clients send it: the roles are the other way round).
pub fn detect(first_bytes: &[u8], dir: Direction) -> Detection {
    if first_bytes.len() < HEADER_LEN {
        let possible = could_begin_header(first_bytes, ByteOrder::BigEndian)
            || could_begin_header(first_bytes, ByteOrder::LittleEndian);
        return if possible {
            Detection::NeedMore
        } else {
            Detection::NotMine
        };
    }
    let Some(order) = sniff_order(first_bytes) else {
        return Detection::NotMine;
    };
    let Some(h) = Header::read(first_bytes, order) else {
        return Detection::NotMine;
    };
    let Some(msg) = h.msg() else {
        return Detection::NotMine;
    };
    // A `USER_REQUEST_AUTH` header (a 32-bit id and a sane length) is evidence enough:
    // a UserInfo whose name or password lengths do not fit is an anomaly of the session
    // (`bad_user_info`), which still follows the connection and decodes the server's
    // replies, rather than a reason to call the connection unknown.
    if msg != MsgId::UserRequestAuth
        && let Some(data) = first_bytes.get(HEADER_LEN..h.frame_len())
        && !payload_is_plausible(msg, data)
    {
        return Detection::NotMine;
    }
    if dir == Direction::ServerToClient && msg == MsgId::UserRequestAuth {
        Detection::MatchReversed
    } else {
        Detection::Match
    }
}

/// What kind of connection a stream's first frame announces: a client opening with a
/// 12-byte `USER_INFORMATION` is a tunnel connection; a client opening with anything else
/// (`USER_REQUEST_AUTH`, or another frame: an authentication bypass) or a server speaking
/// first (`USER_INFORMATION`, `KEEP_ALIVE`, auth replies when authentication is off) is a
/// control connection. `None` when the bytes do not start with a plausible header.
pub fn first_frame_kind(first_bytes: &[u8], dir: Direction) -> Option<ConnKind> {
    let order = sniff_order(first_bytes)?;
    let msg = Header::read(first_bytes, order)?.msg()?;
    Some(
        if dir == Direction::ClientToServer && msg == MsgId::UserInformation {
            ConnKind::Tunnel
        } else {
            ConnKind::Control
        },
    )
}

/// A [`RelayTap`] to attach to a candidate visitor connection (the same measurements as a
/// tunnel connection's relayed bytes, no replay log).
pub fn visitor_tap() -> RelayTap {
    RelayTap::new(0)
}

/// Tunnel correlation inputs, for the bounds they are kept within (`crate::limits`): the
/// struct plus a fixed allowance for its strings and lists (user names, frame counts,
/// announced connections), estimated.
macro_rules! footprint_estimate {
    ($($t:ty),*) => {$(
        impl crate::limits::Footprint for $t {
            fn footprint(&self) -> usize {
                std::mem::size_of::<$t>() + 512
            }
        }
    )*};
}
footprint_estimate!(ControlInput, TunnelInput, VisitorInput);
