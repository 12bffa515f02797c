//! The assembler's vocabulary: what it hands the sink, and how it is configured.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::flow::{Direction, FlowId};

/// One piece of a reassembled direction, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Stream bytes. On the in-order path this borrows the packet itself.
    Data(&'a [u8]),
    /// `len` stream bytes that will never be delivered, and why.
    Gap { len: u64, cause: GapCause },
}

impl Chunk<'_> {
    /// Stream bytes this chunk stands for (data or missing).
    pub fn len(&self) -> u64 {
        match self {
            Chunk::Data(bytes) => bytes.len() as u64,
            Chunk::Gap { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why stream bytes were declared missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapCause {
    /// The peer acknowledged past the hole: the bytes were sent and received, the capture
    /// lost them.
    AckedNotCaptured,
    /// Nobody acknowledged the bytes and they never came: the stream was cut (end of
    /// capture, RST, close by the flow table).
    NeverAcked,
    /// A page limit (per connection or in total) or the `flush_after` time limit forced
    /// buffered data out before the hole before it was filled.
    LimitSkipped,
    /// The packet was captured shorter than it was on the wire (snap length).
    SnaplenTruncated,
}

/// How a direction's stream began, told to the sink before its first chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamStart {
    /// The initial sequence number is known (the direction's SYN, or the peer's SYN-ACK
    /// acknowledging it): offset 0 is the first byte the application sent.
    Handshake,
    /// Picked up midstream: offset 0 is the first byte captured; how much came before it
    /// is unknown. Analyzers should not expect a protocol's opening bytes.
    Midstream,
}

pub use crate::flow::CloseReason;

/// A retransmission whose bytes differ from the copy seen first. The first copy is the one
/// delivered; this records the disagreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlapConflict {
    pub dir: Direction,
    /// Stream offset of the first differing byte.
    pub offset: u64,
    /// Sequence number of the first differing byte.
    pub seq: u32,
    /// From the first to the last differing byte of this overlap, inclusive.
    pub len: u64,
    /// FNV-1a 64 of the first copy's bytes over that range.
    pub first_hash: u64,
    /// FNV-1a 64 of the later copy's bytes over that range.
    pub second_hash: u64,
    /// Time of the packet carrying the later copy.
    pub ts: Timestamp,
}

/// Where the assembler sends what it reassembles. See the module documentation for the
/// order in which these are called.
pub trait StreamSink {
    /// A direction's stream begins. Called once per direction, before its first chunk.
    fn on_direction_start(
        &mut self,
        _conn: FlowId,
        _dir: Direction,
        _start: StreamStart,
        _ts: Timestamp,
    ) {
    }

    /// The next chunk of `dir`'s stream. `ts` is the time of the packet that carried the
    /// data (for buffered data: the packet that first brought it), or for a gap the time
    /// the gap was declared.
    fn on_chunk(&mut self, conn: FlowId, dir: Direction, chunk: Chunk<'_>, ts: Timestamp);

    /// A retransmission disagreed with the first copy of the same bytes.
    fn on_conflict(&mut self, _conn: FlowId, _dir: Direction, _conflict: &OverlapConflict) {}

    /// `dir`'s stream is over: no chunk for it follows. Called once for each direction that
    /// started.
    fn on_direction_end(
        &mut self,
        _conn: FlowId,
        _dir: Direction,
        _reason: CloseReason,
        _ts: Timestamp,
    ) {
    }
}

/// What a connection is doing after a segment, so the flow table knows when to close it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnStatus {
    /// At least one direction may still carry data.
    Open,
    /// Both directions ended by FIN (`Fin`), or an RST ended one of them (`Rst`). The
    /// caller should call [`Assembler::close`](super::Assembler::close) (possibly after a
    /// short grace time for stragglers) to get the record and free the state.
    Finished(CloseReason),
}

/// Limits and behaviour. Every default is bounded.
#[derive(Clone, Debug, Serialize)]
pub struct AssemblerConfig {
    /// Bytes per buffered page (gopacket: 1900).
    pub page_size: usize,
    /// Most pages one connection (both directions) may hold. Above it, the first buffered
    /// run of the direction that just buffered is forced out behind a `LimitSkipped` gap.
    pub max_pages_per_conn: usize,
    /// Most pages all connections together may hold. Above it, the first buffered run of
    /// the connection that just buffered is forced out behind a `LimitSkipped` gap. Pages
    /// in use never exceed this plus the pages of one segment.
    pub max_pages_total: usize,
    /// Buffered out-of-order data older than this (packet time, nanoseconds) is forced out
    /// behind a `LimitSkipped` gap. `None` disables the check (pages are still capped).
    pub flush_after: Option<i64>,
    /// Delivered bytes remembered per direction to compare retransmissions against
    /// (conflict detection). Bytes with a stored position (`TcpSegment::payload_at`) are
    /// remembered by position; the others are copied into a ring of this size. 0 disables
    /// it; nothing is remembered or copied on the in-order path then.
    pub conflict_history_bytes: usize,
    /// Most directions that may hold such a history at once (memory bound:
    /// `conflict_history_bytes * max_history_buffers` of rings, allocated only by the
    /// directions that copy, plus a list of at most 32 positions each). Directions beyond
    /// it go unchecked.
    pub max_history_buffers: usize,
    /// A segment starting more than this many bytes past the next expected byte, and not
    /// covered by the peer's acknowledgement, is dropped as out of window (counted). At
    /// most 2^31 - 1; the default, 2^30, is the largest window TCP can advertise.
    pub max_seq_jump: u32,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            page_size: 1900,
            max_pages_per_conn: 1024,
            max_pages_total: 65_536,
            flush_after: Some(30_000_000_000),
            conflict_history_bytes: 4096,
            max_history_buffers: 8192,
            max_seq_jump: 1 << 30,
        }
    }
}

/// Counters over the whole assembler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AssemblerStats {
    pub connections_live: u64,
    pub pages_in_use: u64,
    pub pages_peak: u64,
    /// Pages ever allocated (the cache never frees them, it recycles them).
    pub pages_allocated: u64,
    /// Forced skips because a connection held more than `max_pages_per_conn`.
    pub per_conn_limit_skips: u64,
    /// Forced skips because all connections held more than `max_pages_total`.
    pub total_limit_skips: u64,
    /// Forced skips because buffered data was older than `flush_after`.
    pub flush_skips: u64,
    /// Slots the caller reused without closing the previous connection (it was closed
    /// as `Evicted`, its record dropped).
    pub stale_slots_reset: u64,
}
