//! Protocol analyzers: one folder per protocol, each with pure parsers over `&[u8]` and a
//! per-flow state that the pipeline feeds.
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

pub mod app;
pub mod encrypted;
pub mod http;
pub mod nat_tunnel;
pub mod quic;
pub mod redis;
pub mod socks;
pub mod ssh;
pub mod tls;
pub mod tlsstream;

use crate::flow::Direction;
use crate::timestamp::Timestamp;

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

/// The result of a pure parser over the bytes at hand (Suricata's convention): a value
/// and how many input bytes it used, a need for more bytes, or an error naming what was
/// wrong. Parsers never consume input on `Incomplete` or `Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    Done(T, usize),
    Incomplete,
    Error(&'static str),
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
