//! TCP reassembly: segments in, ordered stream chunks out, with every missing byte
//! reported as a gap.
//!
//! The assembler follows gopacket's `tcpassembly` (a page cache with a free list, a sorted
//! page list per direction filled from the tail, out-of-order buffering, page limits per
//! connection and in total, flushing by packet time) and goes further: both directions of
//! a connection live together, gaps say why they happened, closes wait for the data before
//! them, sequence numbers wrap, overlapping copies are compared, and memory is bounded by
//! default. It knows no protocol and does no I/O: it feeds a [`StreamSink`]. The one
//! outside thing it reads is what segments point it to: a payload's place in a store that
//! outlives the packet (`TcpSegment::payload_at`, set for memory-mapped captures), which
//! it recalls only to compare a retransmission with delivered data.
//!
//! # Using it
//!
//! The caller's flow table owns connection keying and client/server roles: for each TCP
//! segment it passes the connection's [`FlowId`] and the segment's [`Direction`]:
//!
//! ```
//! use tunscope::assembly::{Assembler, AssemblerConfig, Chunk, CloseReason, StreamSink};
//! use tunscope::decode::{TcpFlags, TcpSegment};
//! use tunscope::flow::{Direction, FlowId};
//! use tunscope::Timestamp;
//!
//! #[derive(Default)]
//! struct Collect(Vec<u8>);
//! impl StreamSink for Collect {
//!     fn on_chunk(&mut self, _: FlowId, _: Direction, chunk: Chunk<'_>, _: Timestamp) {
//!         if let Chunk::Data(bytes) = chunk {
//!             self.0.extend_from_slice(bytes);
//!         }
//!     }
//! }
//!
//! let mut assembler = Assembler::new(AssemblerConfig::default());
//! let mut sink = Collect::default();
//! let conn = FlowId { slot: 0, generation: 0 };
//! let seg = |seq, flags, payload| TcpSegment {
//!     seq, ack: 0, flags: TcpFlags(flags), window: 1000, mss: None, payload, missing: 0,
//!     payload_at: None,
//! };
//! let c2s = Direction::ClientToServer;
//! assembler.segment(conn, c2s, &seg(99, TcpFlags::SYN, b""), Timestamp(1), &mut sink);
//! assembler.segment(conn, c2s, &seg(105, TcpFlags::ACK, b"world"), Timestamp(2), &mut sink);
//! assembler.segment(conn, c2s, &seg(100, TcpFlags::ACK, b"hello"), Timestamp(3), &mut sink);
//! assert_eq!(sink.0, b"helloworld");
//! let record = assembler.close(conn, CloseReason::EndOfCapture, Timestamp(4), &mut sink);
//! assert_eq!(record.map(|r| r.c2s.stats.delivered_bytes), Some(10));
//! ```
//!
//! Per-connection state is indexed by `FlowId::slot` (slots must be dense, as a flow
//! table hands them out) and checked against `FlowId::generation`; records are recycled
//! through a free list. A segment for a slot whose live connection has another generation
//! first closes that stale connection (`Evicted`, record dropped, counted).
//!
//! # Callback order
//!
//! For each direction of each connection:
//!
//! 1. [`StreamSink::on_direction_start`] once, with [`StreamStart::Handshake`] when the
//!    initial sequence number is known (own SYN, or the peer's SYN-ACK acknowledging
//!    it), else [`StreamStart::Midstream`]: offset 0 is then the first byte captured
//!    (data or FIN) and the sink learns no length for what came before. A stream with no
//!    SYN is delivered as soon as data is contiguous from that first byte, no flush needed.
//! 2. [`StreamSink::on_chunk`] in stream order. Chunks of a direction tile its stream
//!    with no overlap and no hole: every byte from offset 0 to the highest byte seen goes
//!    out exactly once, as [`Chunk::Data`] or inside a [`Chunk::Gap`]. In-order data is
//!    a borrowed slice of the packet (no copy); buffered data comes from the page cache.
//! 3. [`StreamSink::on_conflict`] whenever a copy of bytes disagrees with the first copy
//!    (first wins, the later copy is never delivered), at the packet that brings it.
//! 4. [`StreamSink::on_direction_end`] once, after the direction's last chunk: for a FIN,
//!    only when every byte before it was delivered or declared a gap; for an RST or a
//!    [`Assembler::close`], after forcing out what is buffered.
//!
//! Between directions, calls follow packet order: buffered data of a direction comes out
//! during the call for the packet that completes it (or forces it out).
//!
//! # Gaps and their causes
//!
//! A hole the peer acknowledged past is [`GapCause::AckedNotCaptured`] (capture loss)
//! whatever forced it out; the unacknowledged rest takes the cause of what forced it:
//! [`GapCause::LimitSkipped`] for a page limit or `flush_after`,
//! [`GapCause::NeverAcked`] for an RST or a close. Bytes cut by the snap length
//! (`TcpSegment::missing`) are [`GapCause::SnaplenTruncated`]. Per direction, once it is
//! closed or flushed: `delivered_bytes + gap bytes == stream_length` (offset 0 to the
//! highest byte seen, the FIN included).
//!
//! # Limits (all bounded by default, see [`AssemblerConfig`])
//!
//! - `max_pages_per_conn`: after buffering, while the connection holds more pages than
//!   this, the direction that buffered skips to its first buffered page (a gap for the
//!   hole) and delivers it and what is contiguous with it.
//! - `max_pages_total`: the same, while all connections together hold more; only the
//!   connection being handled gives pages back (gopacket's rule). When a call returns,
//!   pages in use are within both limits; during a call they may exceed them by the
//!   pages of one segment. Every forced skip is counted in [`AssemblerStats`].
//! - `flush_after`: buffered data older than this (packet time) is forced out the same
//!   way, checked for the current connection on each segment and for all of them
//!   periodically; [`Assembler::flush_older_than`] does it on demand.
//! - `max_seq_jump`: a segment starting further than this past the next expected byte,
//!   unless the peer acknowledged it, is dropped and counted (a bogus or corrupt sequence
//!   number must not create a huge gap); the peer's ACKs let later ones in.
//! - `conflict_history_bytes` / `max_history_buffers`: how much delivered data is kept
//!   per direction to compare retransmissions with; retransmissions older than that are
//!   counted but not compared. Delivered bytes whose segment said where they are stored
//!   (`TcpSegment::payload_at`) are remembered by that position, with no copy; the others
//!   are copied into a ring of that size. Either way the same bytes are compared and a
//!   conflict is reported the same (range, both hashes).
//!
//! # Stored payloads
//!
//! A segment's `payload_at`, when set, must say where bytes equal to its `payload` can be
//! recalled later ([`crate::capture::StoredAt`]). The assembler keeps a handle to every
//! store it was pointed into (one per mapped capture file; after 4096 stores it copies
//! instead) until it is dropped, so the positions it remembers stay readable; a position
//! outside its store is ignored (the bytes are copied).
//!
//! # Decisions on odd input
//!
//! - Overlaps: first wins, always (buffered or delivered); later copies are compared.
//! - A SYN with a new ISN moves the direction's start while it has carried nothing (no
//!   byte, no FIN); the peer's SYN-ACK acknowledgement has the last word then. Once data
//!   flowed, it is counted (`syn_isn_changes`) and ignored: port reuse is the flow table's
//!   business.
//! - The first FIN wins; bytes at or after it are not stream (`bytes_after_end`).
//! - An RST ends its direction at once (buffered data forced out, holes `NeverAcked`
//!   unless acknowledged) and the connection reports [`ConnStatus::Finished`]; an RST
//!   answering a SYN before any SYN-ACK (a refusal) ends both directions.
//! - An RST's sequence number is not trusted: it neither extends the stream nor has to
//!   lie in the window.
//! - Snap-cut bytes are placeholders that follow first-wins like data: a later complete
//!   copy of the same range does not replace them.
//! - Empty segments without SYN/FIN/RST (pure ACKs) create no buffering state, but count
//!   for history, statistics and the acknowledgement tracking that classifies gaps. Data
//!   is never rejected because its ACK was captured first.
//! - Bytes before offset 0 (before the ISN, or before a midstream pickup's first byte)
//!   are not stream (`bytes_before_start`).

mod history;
mod pages;
mod record;
pub mod seq;
mod stream;
mod types;

#[cfg(test)]
mod tests;

pub use record::{
    ConnState, DirectionRecord, DirectionStats, GapStats, GapTally, Handshake, TcpConnRecord,
};
pub use seq::SeqNumber;
pub use types::{
    AssemblerConfig, AssemblerStats, Chunk, CloseReason, ConnStatus, GapCause, OverlapConflict,
    StreamSink, StreamStart,
};

use history::{HistoryPool, Stores};
use pages::{PageCache, Piece};
use record::{EndpointState, HistoryLetter, HistoryLetters};
use stream::{Ctx, HalfStream, SegmentTally};

use crate::Timestamp;
use crate::decode::TcpSegment;
use crate::flow::{Direction, FlowId};

const NO_CONN: u32 = u32::MAX;

/// One connection's state.
struct Conn {
    id: FlowId,
    live: bool,
    halves: [HalfStream; 2],
    endpoints: [EndpointState; 2],
    letters: HistoryLetters,
    handshake: Handshake,
    conflicts: u64,
    first_conflict: Option<OverlapConflict>,
    first_ts: Timestamp,
    last_ts: Timestamp,
}

impl Conn {
    fn new(id: FlowId, ts: Timestamp) -> Self {
        Conn {
            id,
            live: true,
            halves: [HalfStream::new(), HalfStream::new()],
            endpoints: [EndpointState::Inactive; 2],
            letters: HistoryLetters::default(),
            handshake: Handshake::default(),
            conflicts: 0,
            first_conflict: None,
            first_ts: ts,
            last_ts: ts,
        }
    }

    fn status(&self) -> ConnStatus {
        let [c2s, s2c] = &self.halves;
        if c2s.end == Some(CloseReason::Rst) || s2c.end == Some(CloseReason::Rst) {
            ConnStatus::Finished(CloseReason::Rst)
        } else if c2s.end.is_some() && s2c.end.is_some() {
            ConnStatus::Finished(CloseReason::Fin)
        } else {
            ConnStatus::Open
        }
    }

    fn pages(&self) -> usize {
        self.halves.iter().map(|h| h.pages.count as usize).sum()
    }
}

/// The TCP reassembler. See the module documentation for the contract.
pub struct Assembler {
    cfg: AssemblerConfig,
    pages: PageCache,
    history_pool: HistoryPool,
    stores: Stores,
    conns: Vec<Conn>,
    free_conns: Vec<u32>,
    slot_to_conn: Vec<u32>,
    live: usize,
    stats: AssemblerStats,
    next_periodic_flush: Option<Timestamp>,
}

/// Borrows what a direction's code needs out of the assembler's fields.
macro_rules! ctx {
    ($cfg:expr, $pages:expr, $pool:expr, $stores:expr, $conn:expr, $sink:expr, $dir:expr) => {
        Ctx {
            cfg: $cfg,
            pages: $pages,
            history_pool: $pool,
            stores: $stores,
            letters: &mut $conn.letters,
            first_conflict: &mut $conn.first_conflict,
            conflicts: &mut $conn.conflicts,
            sink: $sink,
            conn: $conn.id,
            dir: $dir,
        }
    };
}

impl Assembler {
    pub fn new(cfg: AssemblerConfig) -> Self {
        let mut cfg = cfg;
        cfg.page_size = cfg.page_size.clamp(1, u32::MAX as usize);
        cfg.max_seq_jump = cfg.max_seq_jump.min(i32::MAX as u32);
        Assembler {
            pages: PageCache::new(cfg.page_size),
            history_pool: HistoryPool::new(cfg.conflict_history_bytes, cfg.max_history_buffers),
            stores: Stores::default(),
            cfg,
            conns: Vec::new(),
            free_conns: Vec::new(),
            slot_to_conn: Vec::new(),
            live: 0,
            stats: AssemblerStats::default(),
            next_periodic_flush: None,
        }
    }

    pub fn config(&self) -> &AssemblerConfig {
        &self.cfg
    }

    /// Pages holding out-of-order data right now, over all connections.
    pub fn pages_in_use(&self) -> usize {
        self.pages.used()
    }

    pub fn live_connections(&self) -> usize {
        self.live
    }

    pub fn stats(&self) -> AssemblerStats {
        AssemblerStats {
            connections_live: self.live as u64,
            pages_in_use: self.pages.used() as u64,
            pages_peak: self.pages.peak() as u64,
            pages_allocated: self.pages.allocated() as u64,
            ..self.stats
        }
    }

    /// Takes in one TCP segment of connection `conn`, travelling in `dir`, seen at `ts`.
    pub fn segment<S: StreamSink + ?Sized>(
        &mut self,
        conn: FlowId,
        dir: Direction,
        seg: &TcpSegment<'_>,
        ts: Timestamp,
        sink: &mut S,
    ) -> ConnStatus {
        let index = self.conn_index(conn, ts, sink);
        let status = {
            let Assembler {
                cfg,
                pages,
                history_pool,
                stores,
                conns,
                stats,
                ..
            } = self;
            let Some(state) = conns.get_mut(index) else {
                return ConnStatus::Open;
            };
            // Where the payload lies in a store (none when history is off: nothing to
            // remember, no handle to keep).
            let pos = match seg.payload_at {
                Some(at) if cfg.conflict_history_bytes > 0 => stores.pos_of(at, seg.payload.len()),
                _ => None,
            };
            let stores = &*stores;
            process_segment(
                cfg,
                pages,
                history_pool,
                stores,
                stats,
                state,
                dir,
                (seg, pos),
                ts,
                sink,
            )
        };
        if let Some(after) = self.cfg.flush_after {
            let due = self.next_periodic_flush.is_none_or(|at| ts >= at);
            if due {
                self.flush_older_than(ts.saturating_add_nanos(after.saturating_neg()), ts, sink);
                let period = (after / 8).max(1_000_000);
                self.next_periodic_flush = Some(ts.saturating_add_nanos(period));
            }
        }
        status
    }

    /// Ends connection `conn` for the flow table (idle timeout, eviction, end of capture,
    /// port reuse, or after [`ConnStatus::Finished`]): forces out everything buffered
    /// (holes `NeverAcked` unless acknowledged), ends the directions still open with
    /// `reason`, frees the state and returns the record. `None` if `conn` is not live.
    pub fn close<S: StreamSink + ?Sized>(
        &mut self,
        conn: FlowId,
        reason: CloseReason,
        ts: Timestamp,
        sink: &mut S,
    ) -> Option<TcpConnRecord> {
        let index = self.live_index(conn)?;
        let Assembler {
            cfg,
            pages,
            history_pool,
            stores,
            conns,
            ..
        } = self;
        let state = conns.get_mut(index)?;
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let [c2s, s2c] = &mut state.halves;
            let half = match dir {
                Direction::ClientToServer => c2s,
                Direction::ServerToClient => s2c,
            };
            let mut ctx = ctx!(cfg, pages, history_pool, stores, state, sink, dir);
            if half.start.is_some() && half.end.is_none() {
                half.flush_all(&mut ctx, GapCause::NeverAcked, ts);
            }
            half.end_now(&mut ctx, reason, ts);
            half.release(pages, history_pool);
        }
        state.live = false;
        let record = build_record(state, reason);
        if let Some(slot) = self.slot_to_conn.get_mut(conn.slot as usize) {
            *slot = NO_CONN;
        }
        self.free_conns.push(index as u32);
        self.live = self.live.saturating_sub(1);
        Some(record)
    }

    /// Forces out buffered data seen before `cutoff` in every connection (gaps
    /// `LimitSkipped` unless acknowledged); `ts` is the time reported for those gaps.
    /// Connections stay open: closing idle ones is the flow table's call.
    pub fn flush_older_than<S: StreamSink + ?Sized>(
        &mut self,
        cutoff: Timestamp,
        ts: Timestamp,
        sink: &mut S,
    ) {
        let Assembler {
            cfg,
            pages,
            history_pool,
            stores,
            conns,
            stats,
            ..
        } = self;
        for state in conns.iter_mut().filter(|c| c.live && c.pages() > 0) {
            flush_conn_older(
                cfg,
                pages,
                history_pool,
                stores,
                stats,
                state,
                cutoff,
                ts,
                sink,
            );
        }
    }

    /// Index of `conn`'s state, created if needed.
    fn conn_index<S: StreamSink + ?Sized>(
        &mut self,
        conn: FlowId,
        ts: Timestamp,
        sink: &mut S,
    ) -> usize {
        let slot = conn.slot as usize;
        if let Some(&index) = self.slot_to_conn.get(slot)
            && index != NO_CONN
        {
            match self.conns.get(index as usize) {
                Some(state) if state.id == conn => return index as usize,
                Some(state) => {
                    let stale = state.id;
                    self.close(stale, CloseReason::Evicted, ts, sink);
                    self.stats.stale_slots_reset += 1;
                }
                None => {}
            }
        }
        if slot >= self.slot_to_conn.len() {
            self.slot_to_conn.resize(slot + 1, NO_CONN);
        }
        let index = match self.free_conns.pop() {
            Some(index) => {
                if let Some(state) = self.conns.get_mut(index as usize) {
                    *state = Conn::new(conn, ts);
                }
                index as usize
            }
            None => {
                self.conns.push(Conn::new(conn, ts));
                self.conns.len() - 1
            }
        };
        if let Some(entry) = self.slot_to_conn.get_mut(slot) {
            *entry = index as u32;
        }
        self.live += 1;
        index
    }

    fn live_index(&self, conn: FlowId) -> Option<usize> {
        let index = *self.slot_to_conn.get(conn.slot as usize)? as usize;
        let state = self.conns.get(index)?;
        (state.live && state.id == conn).then_some(index)
    }
}

/// The per-packet work on one connection. `pos` is where the payload lies in the
/// assembler's stores, when known.
#[allow(clippy::too_many_arguments)]
fn process_segment<S: StreamSink + ?Sized>(
    cfg: &AssemblerConfig,
    pages: &mut PageCache,
    history_pool: &mut HistoryPool,
    stores: &Stores,
    stats: &mut AssemblerStats,
    state: &mut Conn,
    dir: Direction,
    (seg, pos): (&TcpSegment<'_>, Option<history::Pos>),
    ts: Timestamp,
    sink: &mut S,
) -> ConnStatus {
    let flags = seg.flags;
    // Not `seg.wire_len()`: a decoder's `missing` must not be able to overflow anything.
    let wire_len = (seg.payload.len() as u64).saturating_add(u64::from(seg.missing));
    state.last_ts = ts;
    state.handshake.observe(dir, flags, ts);
    EndpointState::observe(&mut state.endpoints, dir.index(), flags);
    state
        .letters
        .add_segment(dir, flags, wire_len > 0, seg.window);

    let peer_dir = dir.reverse();
    let (half, peer) = {
        let [c2s, s2c] = &mut state.halves;
        match dir {
            Direction::ClientToServer => (c2s, s2c),
            Direction::ServerToClient => (s2c, c2s),
        }
    };
    half.stats.packets += 1;
    half.stats.payload_bytes += wire_len;
    if wire_len > 0 {
        half.first_payload_ts.get_or_insert(ts);
        half.last_payload_ts = Some(ts);
    }
    if seg.window == 0 && !flags.syn() && !flags.rst() {
        half.stats.zero_windows += 1;
    }

    if flags.ack() {
        peer.note_peer_ack(SeqNumber(seg.ack));
        if flags.syn() && peer.end.is_none() {
            // The SYN-ACK says which ISN of the peer was accepted.
            let mut ctx = ctx!(cfg, pages, history_pool, stores, state, sink, peer_dir);
            peer.start_at(&mut ctx, SeqNumber(seg.ack), StreamStart::Handshake, ts);
        }
    }

    if flags.rst() {
        let refusal = dir == Direction::ServerToClient
            && state.handshake.syn_ack_ts.is_none()
            && state.handshake.syn_ts.is_some();
        let mut ctx = ctx!(cfg, pages, history_pool, stores, state, sink, dir);
        if half.start.is_some() && half.end.is_none() {
            half.flush_all(&mut ctx, GapCause::NeverAcked, ts);
        }
        half.end_now(&mut ctx, CloseReason::Rst, ts);
        if refusal {
            let mut ctx = ctx!(cfg, pages, history_pool, stores, state, sink, peer_dir);
            if peer.start.is_some() && peer.end.is_none() {
                peer.flush_all(&mut ctx, GapCause::NeverAcked, ts);
            }
            peer.end_now(&mut ctx, CloseReason::Rst, ts);
        }
        return state.status();
    }

    let mut ctx = ctx!(cfg, pages, history_pool, stores, state, sink, dir);
    let seq = SeqNumber(seg.seq);
    if flags.syn() {
        let data_start = seq.wrapping_add(1);
        if half.start.is_some() && half.base != data_start && !half.no_progress() {
            // A new ISN after data: not this stream (port reuse is the flow table's call).
            half.stats.syn_isn_changes += 1;
            return state.status();
        }
        half.start_at(&mut ctx, data_start, StreamStart::Handshake, ts);
    } else if half.start.is_none() && half.end.is_none() && (wire_len > 0 || flags.fin()) {
        half.start_at(&mut ctx, seq, StreamStart::Midstream, ts);
    }
    if half.start.is_none() {
        if half.end.is_some() {
            half.stats.bytes_after_end += wire_len;
        }
        return state.status();
    }

    let mut tally = SegmentTally::default();
    let data_start = half.offset_of(seq.wrapping_add(u32::from(flags.syn())));
    let captured = seg.payload;
    half.accept(
        &mut ctx,
        data_start,
        Piece::Bytes(captured, pos),
        ts,
        &mut tally,
    );
    if seg.missing > 0 {
        let cut_start = data_start.saturating_add(captured.len() as i64);
        let cut = Piece::Truncated(u64::from(seg.missing));
        half.accept(&mut ctx, cut_start, cut, ts, &mut tally);
    }
    if flags.fin() {
        let fin = data_start.saturating_add(i64::try_from(wire_len).unwrap_or(i64::MAX));
        half.note_fin(&mut ctx, fin, ts);
    }

    let counters = &mut half.stats;
    counters.retransmitted_bytes += tally.old_bytes;
    if tally.old_bytes > 0 {
        if tally.new_bytes == 0 {
            counters.retransmitted_packets += 1;
        } else {
            counters.overlaps += 1;
        }
        ctx.letters.add(dir, HistoryLetter::Retransmission);
    }
    counters.out_of_order_segments += u64::from(tally.buffered);
    counters.overlap_conflicts += u64::from(tally.conflict);
    counters.out_of_window_segments += u64::from(tally.out_of_window);

    // Page limits: this connection gives pages back until it is within both.
    loop {
        let held = (half.pages.count + peer.pages.count) as usize;
        let over_conn = held > cfg.max_pages_per_conn;
        let over_total = ctx.pages.used() > cfg.max_pages_total;
        if !over_conn && !over_total {
            break;
        }
        let forced = if half.pages.count > 0 {
            ctx.dir = dir;
            half.force_out_first(&mut ctx, GapCause::LimitSkipped, ts)
        } else {
            ctx.dir = peer_dir;
            peer.force_out_first(&mut ctx, GapCause::LimitSkipped, ts)
        };
        if !forced {
            break;
        }
        if over_conn {
            stats.per_conn_limit_skips += 1;
        } else {
            stats.total_limit_skips += 1;
        }
    }

    // Stale buffered data of this connection.
    if let Some(after) = cfg.flush_after {
        let cutoff = ts.saturating_add_nanos(after.saturating_neg());
        if half.oldest_page_ts < cutoff || peer.oldest_page_ts < cutoff {
            flush_conn_older(
                cfg,
                pages,
                history_pool,
                stores,
                stats,
                state,
                cutoff,
                ts,
                sink,
            );
        }
    }
    state.status()
}

#[allow(clippy::too_many_arguments)]
fn flush_conn_older<S: StreamSink + ?Sized>(
    cfg: &AssemblerConfig,
    pages: &mut PageCache,
    history_pool: &mut HistoryPool,
    stores: &Stores,
    stats: &mut AssemblerStats,
    state: &mut Conn,
    cutoff: Timestamp,
    ts: Timestamp,
    sink: &mut S,
) {
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        let [c2s, s2c] = &mut state.halves;
        let half = match dir {
            Direction::ClientToServer => c2s,
            Direction::ServerToClient => s2c,
        };
        let mut ctx = ctx!(cfg, pages, history_pool, stores, state, sink, dir);
        if half.flush_older(&mut ctx, cutoff, ts) {
            stats.flush_skips += 1;
        }
    }
}

fn build_record(state: &Conn, reason: CloseReason) -> TcpConnRecord {
    let [c2s, s2c] = &state.halves;
    let (c2s, s2c) = (c2s.record(), s2c.record());
    TcpConnRecord {
        conn: state.id,
        first_ts: state.first_ts,
        last_ts: state.last_ts,
        handshake: state.handshake.with_rtts(),
        conn_state: ConnState::from_endpoints(
            state.endpoints[0],
            state.endpoints[1],
            c2s.stats.payload_bytes,
            s2c.stats.payload_bytes,
        ),
        missed_bytes: c2s.stats.gaps.total_bytes() + s2c.stats.gaps.total_bytes(),
        c2s,
        s2c,
        close_reason: reason,
        history: state.letters.as_string(),
        conflict_events: state.conflicts,
        first_conflict: state.first_conflict,
    }
}
