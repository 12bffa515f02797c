//! One direction of a connection: where its stream is, what is buffered, what was
//! delivered. All positions are 64-bit stream offsets (see `seq.rs`).
//!
//! State invariants (`next` = first byte not yet delivered nor declared a gap):
//! - every byte below `next` went to the sink exactly once, as data or inside a gap;
//! - buffered pages lie strictly after `next`, sorted, never overlapping;
//! - `next <= highest`, and `next <= fin_at` until the direction ends;
//! - the history remembers the delivered bytes `history.start() .. next` (at most
//!   `conflict_history_bytes` of them, none before the last gap), by position in a store
//!   or copied into its ring (see `history.rs`), and compares later copies with them.

use super::history::{History, HistoryPool, MAX_SLICES, Pos, Stores};
use super::pages::{NIL, PageCache, PageContent, PageList, Piece};
use super::record::{DirectionRecord, DirectionStats, HistoryLetter, HistoryLetters};
use super::seq::{SeqNumber, seq_at, unwrap_offset};
use super::types::{
    AssemblerConfig, Chunk, CloseReason, GapCause, OverlapConflict, StreamSink, StreamStart,
};
use crate::Timestamp;
use crate::flow::{Direction, FlowId};

/// What a direction's code may touch besides the direction itself.
pub(crate) struct Ctx<'a, S: StreamSink + ?Sized> {
    pub cfg: &'a AssemblerConfig,
    pub pages: &'a mut PageCache,
    pub history_pool: &'a mut HistoryPool,
    /// Where stored pieces of the history are recalled from.
    pub stores: &'a Stores,
    pub letters: &'a mut HistoryLetters,
    pub first_conflict: &'a mut Option<OverlapConflict>,
    pub conflicts: &'a mut u64,
    pub sink: &'a mut S,
    pub conn: FlowId,
    pub dir: Direction,
}

/// What one segment did, summed over its pieces, turned into counters at the end.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SegmentTally {
    /// Bytes already delivered, declared, or buffered.
    pub old_bytes: u64,
    /// Bytes delivered or buffered for the first time.
    pub new_bytes: u64,
    pub buffered: bool,
    pub conflict: bool,
    pub out_of_window: bool,
}

pub(crate) struct HalfStream {
    pub start: Option<StreamStart>,
    pub end: Option<CloseReason>,
    /// Sequence number of offset 0 (meaningful once `start` is set).
    pub base: SeqNumber,
    pub next: u64,
    pub highest: u64,
    pub fin_at: Option<u64>,
    /// Highest acknowledgement the peer sent for this direction's bytes.
    pub peer_ack: Option<SeqNumber>,
    pub pages: PageList,
    /// No buffered page is older than this (may be stale-old; then recomputed).
    pub oldest_page_ts: Timestamp,
    history: History,
    pub first_payload_ts: Option<Timestamp>,
    pub last_payload_ts: Option<Timestamp>,
    pub stats: DirectionStats,
}

const NO_PAGES: Timestamp = Timestamp(i64::MAX);

impl HalfStream {
    pub(super) fn new() -> Self {
        HalfStream {
            start: None,
            end: None,
            base: SeqNumber(0),
            next: 0,
            highest: 0,
            fin_at: None,
            peer_ack: None,
            pages: PageList::default(),
            oldest_page_ts: NO_PAGES,
            history: History::new(),
            first_payload_ts: None,
            last_payload_ts: None,
            stats: DirectionStats::default(),
        }
    }

    pub(super) fn record(&self) -> DirectionRecord {
        DirectionRecord {
            start: self.start,
            end: self.end,
            first_seq: self.start.map(|_| self.base.0),
            stream_length: self.highest,
            first_payload_ts: self.first_payload_ts,
            last_payload_ts: self.last_payload_ts,
            stats: self.stats,
        }
    }

    /// Nothing of the stream is known yet beyond where it starts: its start may still
    /// be moved (a new ISN).
    pub(super) fn no_progress(&self) -> bool {
        self.next == 0
            && self.highest == 0
            && self.pages.count == 0
            && self.fin_at.is_none()
            && self.end.is_none()
    }

    /// Starts the stream at `base`, or moves a stream without progress there. A direction
    /// that already ended (an RST before any data) never starts.
    pub(super) fn start_at<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        base: SeqNumber,
        how: StreamStart,
        ts: Timestamp,
    ) {
        if self.end.is_some() {
            return;
        }
        match self.start {
            None => {
                self.start = Some(how);
                self.base = base;
                ctx.sink.on_direction_start(ctx.conn, ctx.dir, how, ts);
            }
            Some(_) if self.base != base && self.no_progress() => {
                self.base = base;
                self.stats.syn_isn_changes += 1;
            }
            Some(_) => {}
        }
    }

    pub(super) fn note_peer_ack(&mut self, ack: SeqNumber) {
        self.peer_ack = Some(match self.peer_ack {
            Some(previous) => previous.later(ack),
            None => ack,
        });
    }

    /// The offset the peer acknowledged up to, when known.
    fn acked_offset(&self) -> Option<u64> {
        self.start?;
        let ack = self.peer_ack?;
        Some(unwrap_offset(ack, self.base, self.next).max(0) as u64)
    }

    /// Offset of sequence number `seq`, unwrapped near where the stream is.
    pub(super) fn offset_of(&self, seq: SeqNumber) -> i64 {
        unwrap_offset(seq, self.base, self.next)
    }

    /// Takes in one piece of a segment at offset `start`.
    pub(super) fn accept<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        start: i64,
        piece: Piece<'_>,
        ts: Timestamp,
        tally: &mut SegmentTally,
    ) {
        let mut piece = piece;
        let len = piece.len();
        if len == 0 {
            return;
        }
        let start = if start < 0 {
            let before = start.unsigned_abs().min(len);
            self.stats.bytes_before_start += before;
            piece = piece.range(before, len);
            if piece.len() == 0 {
                return;
            }
            0
        } else {
            start as u64
        };
        // Nothing at or past the FIN, or past the end of an ended direction, is stream.
        let limit = match (self.end, self.fin_at) {
            (Some(_), _) => self.next,
            (None, Some(fin)) => fin,
            (None, None) => u64::MAX,
        };
        let mut end = start.saturating_add(piece.len());
        if end > limit {
            self.stats.bytes_after_end += end - start.max(limit);
            if start >= limit {
                return;
            }
            piece = piece.range(0, limit - start);
            end = limit;
        }
        let mut start = start;
        if start < self.next {
            let old_end = end.min(self.next);
            tally.old_bytes += old_end - start;
            if let Some(bytes) = piece.range(0, old_end - start).bytes() {
                self.check_against_history(ctx, start, bytes, ts, tally);
            }
            if end <= self.next {
                return;
            }
            piece = piece.range(self.next - start, piece.len());
            start = self.next;
        }
        if start > self.next {
            let jump = start - self.next;
            let acked = self.acked_offset().is_some_and(|acked| acked >= start);
            if jump > u64::from(ctx.cfg.max_seq_jump) && !acked {
                tally.out_of_window = true;
                return;
            }
        }
        self.highest = self.highest.max(end);
        if start == self.next {
            self.deliver_in_order(ctx, start, piece, ts, tally);
        } else {
            self.buffer(ctx, start, piece, ts, tally);
        }
    }

    /// Delivers `piece`, which starts at `next`, interleaved with any buffered pages it
    /// overlaps (their bytes came first and win), then every page that became contiguous.
    fn deliver_in_order<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        start: u64,
        piece: Piece<'_>,
        ts: Timestamp,
        tally: &mut SegmentTally,
    ) {
        let end = start + piece.len();
        let mut cursor = start;
        loop {
            let stop = match ctx.pages.head_off(&self.pages) {
                Some(off) if off < end => off.max(cursor),
                _ => end,
            };
            if cursor < stop {
                tally.new_bytes += stop - cursor;
                let part = piece.range(cursor - start, stop - start);
                self.emit_piece(ctx, part, ts);
                cursor = stop;
            }
            self.pop_contiguous(ctx, Some((start, piece, ts)), tally);
            cursor = cursor.max(self.next);
            if cursor >= end {
                break;
            }
        }
        self.finish_if_complete(ctx, ts);
    }

    /// Delivers every buffered page that starts at or before `next`. When `overlapping`
    /// is given, the bytes of that piece that a page also covers are compared with it.
    /// (Inlined: after every in-order segment, and there are usually no pages.)
    #[inline]
    fn pop_contiguous<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        overlapping: Option<(u64, Piece<'_>, Timestamp)>,
        tally: &mut SegmentTally,
    ) {
        if self.pages.head != NIL {
            self.pop_pages(ctx, overlapping, tally);
        }
        if self.pages.count == 0 {
            self.oldest_page_ts = NO_PAGES;
        }
    }

    fn pop_pages<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        overlapping: Option<(u64, Piece<'_>, Timestamp)>,
        tally: &mut SegmentTally,
    ) {
        while self.pages.head != NIL {
            let index = self.pages.head;
            let page = ctx.pages.page(index);
            let (off, page_end, page_ts) = (page.off, page.end(), page.ts);
            if off > self.next {
                break;
            }
            if page_end > self.next {
                if let Some((piece_start, piece, later_ts)) = overlapping {
                    let from = off.max(piece_start);
                    let to = page_end.min(piece_start + piece.len());
                    self.compare_with_page(
                        ctx,
                        index,
                        piece_start,
                        piece,
                        from..to,
                        later_ts,
                        tally,
                    );
                }
                let page = ctx.pages.page(index);
                let skip = self.next - off;
                match page.content {
                    PageContent::Bytes => {
                        let bytes = page.bytes(ctx.stores).get(skip as usize..).unwrap_or(&[]);
                        let pos = page.stored.map(|p| p.advance(skip));
                        self.write_history(ctx.history_pool, ctx.stores, bytes, pos);
                        self.next += bytes.len() as u64;
                        self.stats.delivered_bytes += bytes.len() as u64;
                        ctx.sink
                            .on_chunk(ctx.conn, ctx.dir, Chunk::Data(bytes), page.ts);
                    }
                    PageContent::Truncated => {
                        let len = page_end - self.next;
                        self.emit_gap(ctx, len, GapCause::SnaplenTruncated, page_ts);
                    }
                }
            }
            ctx.pages.remove(&mut self.pages, index);
        }
    }

    /// Stores the parts of `piece` (at `start > next`) that no page holds yet; compares
    /// the parts that pages already hold.
    fn buffer<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        start: u64,
        piece: Piece<'_>,
        ts: Timestamp,
        tally: &mut SegmentTally,
    ) {
        let end = start + piece.len();
        // Walk back from the tail: in-order arrival puts the new data at the end.
        let mut at = self.pages.tail;
        while at != NIL && ctx.pages.page(at).off >= end {
            at = ctx.pages.prev_of(at);
        }
        let mut region_end = end;
        let mut inserted = false;
        while at != NIL {
            let page = ctx.pages.page(at);
            let (off, page_end) = (page.off, page.end());
            if page_end <= start {
                break;
            }
            if page_end < region_end {
                let part = piece.range(page_end - start, region_end - start);
                self.insert_run(ctx, at, page_end, part, ts);
                inserted = true;
            }
            let from = off.max(start);
            let to = page_end.min(region_end);
            self.compare_with_page(ctx, at, start, piece, from..to, ts, tally);
            region_end = from;
            at = ctx.pages.prev_of(at);
            if region_end <= start {
                break;
            }
        }
        if region_end > start {
            let part = piece.range(0, region_end - start);
            self.insert_run(ctx, at, start, part, ts);
            inserted = true;
        }
        if inserted {
            tally.buffered = true;
            self.oldest_page_ts = self.oldest_page_ts.min(ts);
        }
    }

    /// Copies `piece` into as many pages as it needs, linked after page `after`.
    fn insert_run<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        after: u32,
        off: u64,
        piece: Piece<'_>,
        ts: Timestamp,
    ) -> u32 {
        let step = match piece {
            Piece::Bytes(..) => ctx.pages.page_size() as u64,
            Piece::Truncated(_) => u64::from(u32::MAX),
        };
        let mut after = after;
        let mut done = 0;
        while done < piece.len() {
            let part = piece.range(done, done + step);
            after = ctx
                .pages
                .insert_after(&mut self.pages, after, off + done, part, ts);
            done += part.len().max(1);
        }
        after
    }

    fn emit_piece<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        piece: Piece<'_>,
        ts: Timestamp,
    ) {
        match piece {
            Piece::Bytes(bytes, pos) => {
                if bytes.is_empty() {
                    return;
                }
                self.write_history(ctx.history_pool, ctx.stores, bytes, pos);
                self.next += bytes.len() as u64;
                self.stats.delivered_bytes += bytes.len() as u64;
                ctx.sink.on_chunk(ctx.conn, ctx.dir, Chunk::Data(bytes), ts);
            }
            Piece::Truncated(len) => self.emit_gap(ctx, len, GapCause::SnaplenTruncated, ts),
        }
    }

    fn emit_gap<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        len: u64,
        cause: GapCause,
        ts: Timestamp,
    ) {
        if len == 0 {
            return;
        }
        self.stats.gaps.add(cause, len);
        self.next += len;
        self.history.restart_at(self.next);
        ctx.letters.add(ctx.dir, HistoryLetter::Gap);
        ctx.sink
            .on_chunk(ctx.conn, ctx.dir, Chunk::Gap { len, cause }, ts);
    }

    /// Declares `next .. to` missing as one gap: one hole is one gap with one cause.
    /// When the peer acknowledged any of it, the cause is capture loss
    /// ([`GapCause::AckedNotCaptured`]): the bytes after the acknowledged part lie in the
    /// same hole, before bytes that were captured or before the stream's end, so they
    /// were sent too. Otherwise the hole has `cause`.
    fn declare_hole<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        to: u64,
        cause: GapCause,
        ts: Timestamp,
    ) {
        if to <= self.next {
            return;
        }
        let acked = self.acked_offset().is_some_and(|a| a > self.next);
        let cause = if acked {
            GapCause::AckedNotCaptured
        } else {
            cause
        };
        self.emit_gap(ctx, to - self.next, cause, ts);
    }

    /// Skips to the first buffered page, declaring the hole before it, and delivers it and
    /// every page contiguous with it. Returns `false` when nothing was buffered.
    pub(super) fn force_out_first<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        cause: GapCause,
        ts: Timestamp,
    ) -> bool {
        let Some(head) = ctx.pages.head_off(&self.pages) else {
            return false;
        };
        self.declare_hole(ctx, head, cause, ts);
        self.pop_contiguous(ctx, None, &mut SegmentTally::default());
        self.finish_if_complete(ctx, ts);
        true
    }

    /// Forces out everything buffered and declares any trailing hole up to the highest
    /// byte seen (or the FIN).
    pub(super) fn flush_all<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        cause: GapCause,
        ts: Timestamp,
    ) {
        while self.force_out_first(ctx, cause, ts) {}
        if self.end.is_none() {
            let to = self.highest;
            self.declare_hole(ctx, to, cause, ts);
            self.finish_if_complete(ctx, ts);
        }
    }

    /// Forces out buffered data that came before `cutoff`. Returns whether it did.
    pub(super) fn flush_older<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        cutoff: Timestamp,
        ts: Timestamp,
    ) -> bool {
        if self.pages.count == 0 || self.oldest_page_ts >= cutoff {
            return false;
        }
        let mut target_end = None;
        let mut at = self.pages.head;
        while at != NIL {
            let page = ctx.pages.page(at);
            if page.ts < cutoff {
                target_end = Some(page.end());
            }
            at = ctx.pages.next_of(at);
        }
        let flushed = match target_end {
            Some(target_end) => {
                while ctx
                    .pages
                    .head_off(&self.pages)
                    .is_some_and(|head| head < target_end)
                {
                    self.force_out_first(ctx, GapCause::LimitSkipped, ts);
                }
                true
            }
            None => false,
        };
        self.recompute_oldest(ctx.pages);
        flushed
    }

    fn recompute_oldest(&mut self, pages: &PageCache) {
        let mut oldest = NO_PAGES;
        let mut at = self.pages.head;
        while at != NIL {
            oldest = oldest.min(pages.page(at).ts);
            at = pages.next_of(at);
        }
        self.oldest_page_ts = oldest;
    }

    /// A FIN at offset `fin`: the stream ends there once everything before it is
    /// delivered or declared. The first FIN wins; buffered bytes past it are dropped.
    pub(super) fn note_fin<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        fin: i64,
        ts: Timestamp,
    ) {
        if self.end.is_some() || self.fin_at.is_some() {
            return;
        }
        let fin = (fin.max(0) as u64).max(self.next);
        if fin < self.highest {
            self.drop_beyond(ctx.pages, fin);
            self.highest = fin;
        }
        self.fin_at = Some(fin);
        self.highest = self.highest.max(fin);
        self.finish_if_complete(ctx, ts);
    }

    fn drop_beyond(&mut self, pages: &mut PageCache, fin: u64) {
        while self.pages.tail != NIL {
            let tail = self.pages.tail;
            let page = pages.page(tail);
            let (off, end) = (page.off, page.end());
            if off >= fin {
                self.stats.bytes_after_end += end - off;
                pages.remove(&mut self.pages, tail);
            } else {
                if end > fin {
                    self.stats.bytes_after_end += end - fin;
                    pages.truncate(tail, (fin - off) as u32);
                }
                break;
            }
        }
        if self.pages.count == 0 {
            self.oldest_page_ts = NO_PAGES;
        }
    }

    fn finish_if_complete<S: StreamSink + ?Sized>(&mut self, ctx: &mut Ctx<'_, S>, ts: Timestamp) {
        if self.end.is_none() && self.fin_at.is_some_and(|fin| self.next >= fin) {
            self.end_now(ctx, CloseReason::Fin, ts);
        }
    }

    /// Ends the direction (no chunk follows) and tells the sink if it had started.
    pub(super) fn end_now<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        reason: CloseReason,
        ts: Timestamp,
    ) {
        if self.end.is_some() {
            return;
        }
        self.end = Some(reason);
        ctx.pages.remove_all(&mut self.pages);
        self.oldest_page_ts = NO_PAGES;
        // Nothing more is delivered on an ended direction: give its history back now
        // rather than when the flow table lets the connection go (after the close delay),
        // so finished connections hold no memory.
        self.history.release(ctx.history_pool);
        if self.start.is_some() {
            ctx.sink.on_direction_end(ctx.conn, ctx.dir, reason, ts);
        }
    }

    /// Returns pages and history to their pools (the connection is going away).
    pub(super) fn release(&mut self, pages: &mut PageCache, history_pool: &mut HistoryPool) {
        pages.remove_all(&mut self.pages);
        self.oldest_page_ts = NO_PAGES;
        self.history.release(history_pool);
    }

    /// Remembers bytes about to be delivered at `next` (for conflict detection), found at
    /// `pos` in a store when given.
    #[inline]
    fn write_history(
        &mut self,
        pool: &mut HistoryPool,
        stores: &Stores,
        bytes: &[u8],
        pos: Option<Pos>,
    ) {
        self.history.remember(pool, stores, self.next, bytes, pos);
    }

    /// Compares a retransmission of delivered bytes (`start .. start + bytes.len()`, all
    /// below `next`) with what the history remembers.
    fn check_against_history<S: StreamSink + ?Sized>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        start: u64,
        bytes: &[u8],
        ts: Timestamp,
        tally: &mut SegmentTally,
    ) {
        let from = start.max(self.history.start());
        let to = (start + bytes.len() as u64).min(self.next);
        if from >= to {
            return;
        }
        let mut first = [&[][..]; MAX_SLICES];
        let (n, reached) = self.history.first_copy(ctx.stores, from, to, &mut first);
        if reached <= from {
            return;
        }
        let later = bytes
            .get((from - start) as usize..(reached - start) as usize)
            .unwrap_or(&[]);
        let first = first.get(..n).unwrap_or(&[]);
        let found = detect_conflict(ctx.dir, self.base, from, first.iter().copied(), later, ts);
        if let Some(conflict) = found {
            record_conflict(ctx, conflict, tally);
        }
    }
}

impl HalfStream {
    /// Compares the bytes `range` (stream offsets) that both the buffered page `index`
    /// (the first copy) and `piece` (starting at `piece_start`, the later copy) cover,
    /// counting them as old bytes; an empty range does nothing.
    #[allow(clippy::too_many_arguments)]
    fn compare_with_page<S: StreamSink + ?Sized>(
        &self,
        ctx: &mut Ctx<'_, S>,
        index: u32,
        piece_start: u64,
        piece: Piece<'_>,
        range: std::ops::Range<u64>,
        later_ts: Timestamp,
        tally: &mut SegmentTally,
    ) {
        let (from, to) = (range.start, range.end);
        if from >= to {
            return;
        }
        tally.old_bytes += to - from;
        let page = ctx.pages.page(index);
        let off = page.off;
        let later = piece.range(from - piece_start, to - piece_start).bytes();
        let first = page
            .bytes(ctx.stores)
            .get((from - off) as usize..(to - off) as usize);
        let (Some(first), Some(later)) = (first, later) else {
            return;
        };
        let found = detect_conflict(
            ctx.dir,
            self.base,
            from,
            std::iter::once(first),
            later,
            later_ts,
        );
        if let Some(conflict) = found {
            record_conflict(ctx, conflict, tally);
        }
    }
}

fn record_conflict<S: StreamSink + ?Sized>(
    ctx: &mut Ctx<'_, S>,
    conflict: OverlapConflict,
    tally: &mut SegmentTally,
) {
    tally.conflict = true;
    *ctx.conflicts += 1;
    if ctx.first_conflict.is_none() {
        *ctx.first_conflict = Some(conflict);
    }
    ctx.sink.on_conflict(ctx.conn, ctx.dir, &conflict);
}

/// Compares the first copy of a range (`first`, given as consecutive slices, as the history
/// or a page holds it) with a later copy of the same range starting at offset `at`.
fn detect_conflict<'f, I>(
    dir: Direction,
    base: SeqNumber,
    at: u64,
    first: I,
    later: &[u8],
    ts: Timestamp,
) -> Option<OverlapConflict>
where
    I: Iterator<Item = &'f [u8]> + Clone,
{
    // Most retransmissions are faithful: compare slice by slice (memcmp) first.
    let mut rest = later;
    let mut same = true;
    for part in first.clone() {
        let n = part.len().min(rest.len());
        let (head, tail) = rest.split_at(n);
        if part.get(..n) != Some(head) {
            same = false;
            break;
        }
        rest = tail;
    }
    if same {
        return None;
    }
    let first_bytes = || first.clone().flat_map(|part| part.iter());
    let mut first_diff = None;
    let mut last_diff = 0;
    for (i, (a, b)) in first_bytes().zip(later.iter()).enumerate() {
        if a != b {
            first_diff.get_or_insert(i);
            last_diff = i;
        }
    }
    let first_diff = first_diff?;
    let len = last_diff - first_diff + 1;
    let offset = at + first_diff as u64;
    Some(OverlapConflict {
        dir,
        offset,
        seq: seq_at(base, offset).0,
        len: len as u64,
        first_hash: crate::util::fnv1a64(first_bytes().skip(first_diff).take(len)),
        second_hash: crate::util::fnv1a64(later.iter().skip(first_diff).take(len)),
        ts,
    })
}
