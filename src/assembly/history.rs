//! What a direction remembers of the bytes it delivered last, to compare a later copy of
//! them (a retransmission overlapping delivered data) with the first one.
//!
//! The window is the same as a byte ring of `conflict_history_bytes` would hold: the
//! delivered bytes `start .. next`, at most that many, restarted after every gap. What
//! changed is how the bytes are held. Bytes that lie in a store that outlives the packet
//! (a memory-mapped capture file, see [`crate::capture::StoredBytes`]) are remembered by
//! position, with no copy; only the others (stream inputs, datagrams rebuilt from
//! fragments) are copied into the ring.
//!
//! Invariants of a direction's [`History`] holding a buffer:
//! - its pieces tile `start .. next` in order, contiguous, each non-empty, and
//!   `next - start <= cap` (`next` being the direction's next undelivered byte);
//! - there are at most [`MAX_PIECES`] of them: when one more comes, the two oldest are
//!   copied into the ring (if not there yet) and merged, which keeps the window whole;
//! - a piece in the ring has its byte at offset `o` in `ring[o % cap]`: bytes of the window
//!   never share a slot, so any piece can move into the ring while it is in the window;
//! - a stored piece's position was checked against its store's length when remembered.

use std::collections::{HashMap, VecDeque};

use crate::capture::{Store, StoredAt};

/// Most pieces one direction remembers. Segments of usual sizes (hundreds of bytes and
/// up) never reach it within the default 4 KiB; tiny ones are copied into the ring then.
pub(crate) const MAX_PIECES: usize = 32;

/// Slices a first copy can come in: each piece gives one, or two when it wraps the ring.
pub(crate) const MAX_SLICES: usize = 2 * MAX_PIECES;

/// Most stores the assembler keeps handles to (one per mapped capture file in a run);
/// segments pointing into further stores are remembered by copy.
const MAX_STORES: usize = 4096;

/// A position in one of the assembler's stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    store: u32,
    offset: u64,
}

impl Pos {
    /// The position `n` bytes further on.
    pub(super) fn advance(self, n: u64) -> Pos {
        Pos {
            store: self.store,
            offset: self.offset.saturating_add(n),
        }
    }
}

/// The stores segments pointed into, kept alive as long as the assembler so that
/// remembered positions stay readable. Handles are looked up by address, which cannot be
/// reused while the handle is held.
#[derive(Default)]
pub(crate) struct Stores {
    list: Vec<(Store, u64)>,
    index: HashMap<usize, u32>,
    last: Option<u32>,
}

impl Stores {
    fn key(store: &Store) -> usize {
        std::sync::Arc::as_ptr(store).cast::<u8>() as usize
    }

    /// The position of `len` bytes at `at`, or `None` when they do not lie inside the
    /// store or no more stores can be kept.
    pub(super) fn pos_of(&mut self, at: StoredAt<'_>, len: usize) -> Option<Pos> {
        let store = match self.last {
            Some(last)
                if self
                    .list
                    .get(last as usize)
                    .is_some_and(|(s, _)| std::sync::Arc::ptr_eq(s, at.store)) =>
            {
                last
            }
            _ => {
                let key = Self::key(at.store);
                let found = match self.index.get(&key) {
                    Some(&found) => found,
                    None if self.list.len() < MAX_STORES => {
                        let found = self.list.len() as u32;
                        self.list.push((at.store.clone(), at.store.stored_len()));
                        self.index.insert(key, found);
                        found
                    }
                    None => return None,
                };
                self.last = Some(found);
                found
            }
        };
        let stored_len = self.list.get(store as usize)?.1;
        let end = at.offset.checked_add(len as u64)?;
        (end <= stored_len).then_some(Pos {
            store,
            offset: at.offset,
        })
    }

    /// The `len` bytes at `pos`.
    pub(crate) fn recall(&self, pos: Pos, len: u64) -> Option<&[u8]> {
        let (store, _) = self.list.get(pos.store as usize)?;
        store.recall(pos.offset, usize::try_from(len).ok()?)
    }
}

/// Where a remembered piece's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Stored(Pos),
    Ring,
}

impl Place {
    /// Whether `next` holds the bytes that follow `len` bytes held here.
    fn continued_by(self, len: u64, next: Place) -> bool {
        match (self, next) {
            (Place::Ring, Place::Ring) => true,
            (Place::Stored(a), Place::Stored(b)) => a.advance(len) == b,
            _ => false,
        }
    }
}

/// Delivered bytes `off .. off + len`.
#[derive(Clone, Copy, Debug)]
struct Remembered {
    off: u64,
    len: u64,
    place: Place,
}

impl Remembered {
    fn end(&self) -> u64 {
        self.off + self.len
    }
}

/// One direction's history storage, recycled through the [`HistoryPool`].
pub(crate) struct HistoryBuf {
    cap: u64,
    /// Allocated on first use: a history of stored pieces only needs none.
    ring: Box<[u8]>,
    pieces: VecDeque<Remembered>,
}

/// Recycled history buffers, at most `max` out at once (memory bound: `size * max` bytes
/// of rings, plus the piece lists).
pub(crate) struct HistoryPool {
    free: Vec<HistoryBuf>,
    outstanding: usize,
    max: usize,
    size: usize,
}

impl HistoryPool {
    pub(super) fn new(size: usize, max: usize) -> Self {
        HistoryPool {
            free: Vec::new(),
            outstanding: 0,
            max,
            size,
        }
    }

    /// A buffer, or `None` when history is disabled or `max` buffers are out.
    fn acquire(&mut self) -> Option<HistoryBuf> {
        if self.size == 0 || self.outstanding >= self.max {
            return None;
        }
        self.outstanding += 1;
        Some(self.free.pop().unwrap_or_else(|| HistoryBuf {
            cap: self.size as u64,
            ring: Box::default(),
            pieces: VecDeque::with_capacity(MAX_PIECES + 1),
        }))
    }

    fn release(&mut self, mut buffer: HistoryBuf) {
        buffer.pieces.clear();
        self.outstanding = self.outstanding.saturating_sub(1);
        self.free.push(buffer);
    }
}

/// One direction's memory of its last delivered bytes.
pub(crate) struct History {
    buf: Option<HistoryBuf>,
    /// First remembered offset; nothing before it is compared.
    start: u64,
}

impl History {
    pub(super) fn new() -> Self {
        History {
            buf: None,
            start: 0,
        }
    }

    /// Bytes up to `next` were declared missing: forget everything before.
    pub(super) fn restart_at(&mut self, next: u64) {
        self.start = next;
        if let Some(buf) = self.buf.as_mut() {
            buf.pieces.clear();
        }
    }

    /// Gives the buffer back (the direction delivers nothing more).
    pub(super) fn release(&mut self, pool: &mut HistoryPool) {
        if let Some(buf) = self.buf.take() {
            pool.release(buf);
        }
    }

    /// Remembers `bytes`, about to be delivered at `next`, found at `pos` when given.
    /// Inlined for the usual case (once per in-order segment): stored bytes no longer
    /// than the window, with room for one more piece; the rest is out of line.
    #[inline]
    pub(super) fn remember(
        &mut self,
        pool: &mut HistoryPool,
        stores: &Stores,
        next: u64,
        bytes: &[u8],
        pos: Option<Pos>,
    ) {
        if let (Some(buf), Some(pos)) = (self.buf.as_mut(), pos) {
            let len = bytes.len() as u64;
            if len > 0 && len <= buf.cap && buf.pieces.len() < MAX_PIECES {
                buf.append(next, len, Place::Stored(pos));
                self.start = self.start.max((next + len).saturating_sub(buf.cap));
                buf.forget_before(self.start);
                return;
            }
        }
        self.remember_any(pool, stores, next, bytes, pos);
    }

    #[inline(never)]
    fn remember_any(
        &mut self,
        pool: &mut HistoryPool,
        stores: &Stores,
        next: u64,
        bytes: &[u8],
        pos: Option<Pos>,
    ) {
        if self.buf.is_none() {
            self.buf = pool.acquire();
            self.start = next;
        }
        let Some(buf) = self.buf.as_mut() else {
            return;
        };
        let cap = buf.cap;
        if cap == 0 || bytes.is_empty() {
            return;
        }
        let skip = (bytes.len() as u64).saturating_sub(cap);
        let (at, bytes, pos) = (
            next + skip,
            bytes.get(skip as usize..).unwrap_or(&[]),
            pos.map(|p| p.advance(skip)),
        );
        let len = bytes.len() as u64;
        let place = match pos {
            Some(pos) => Place::Stored(pos),
            None => {
                buf.write_ring(at, bytes);
                Place::Ring
            }
        };
        buf.append(at, len, place);
        // Keep the last `cap` bytes.
        self.start = self.start.max((at + len).saturating_sub(cap));
        buf.forget_before(self.start);
        while buf.pieces.len() > MAX_PIECES {
            if let Err(lost_to) = buf.merge_oldest(stores) {
                self.start = lost_to;
            }
        }
    }

    /// The first copy of `from .. to` (delivered bytes, `to` at most `next`), as slices in
    /// order into `out`. Returns how many slices and the offset they reach: less than
    /// `to` when part of the range is no longer remembered (or a store failed to give its
    /// bytes back); nothing when `from` is before the window.
    pub(super) fn first_copy<'s>(
        &'s self,
        stores: &'s Stores,
        from: u64,
        to: u64,
        out: &mut [&'s [u8]; MAX_SLICES],
    ) -> (usize, u64) {
        let Some(buf) = self.buf.as_ref() else {
            return (0, from);
        };
        let mut n = 0;
        let mut reached = from;
        for piece in &buf.pieces {
            if piece.end() <= reached {
                continue;
            }
            if piece.off > reached || reached >= to {
                break;
            }
            let upto = piece.end().min(to);
            let len = upto - reached;
            let parts = match piece.place {
                Place::Stored(pos) => match stores.recall(pos.advance(reached - piece.off), len) {
                    Some(bytes) => [bytes, &[][..]],
                    None => break,
                },
                Place::Ring => buf.ring_slices(reached, len),
            };
            for part in parts.into_iter().filter(|p| !p.is_empty()) {
                let Some(slot) = out.get_mut(n) else {
                    return (n, reached);
                };
                *slot = part;
                n += 1;
            }
            reached = upto;
        }
        (n, reached)
    }

    /// Offset of the first remembered byte (`next` when nothing is).
    pub(super) fn start(&self) -> u64 {
        self.start
    }

    /// Pieces remembered and bytes they span (for tests of the bounds).
    #[cfg(test)]
    pub(super) fn extent(&self) -> (usize, u64) {
        self.buf.as_ref().map_or((0, 0), |b| {
            (b.pieces.len(), b.pieces.iter().map(|p| p.len).sum())
        })
    }
}

impl HistoryBuf {
    /// Copies `bytes` (at most `cap` of them) into the ring at offset `at`.
    fn write_ring(&mut self, at: u64, bytes: &[u8]) {
        let cap = self.cap as usize;
        if self.ring.len() != cap {
            self.ring = vec![0; cap].into_boxed_slice();
        }
        let pos = (at % self.cap) as usize;
        let first = bytes.len().min(cap - pos);
        let (head, tail) = bytes.split_at(first);
        if let Some(dst) = self.ring.get_mut(pos..pos + first) {
            dst.copy_from_slice(head);
        }
        if let Some(dst) = self.ring.get_mut(..tail.len()) {
            dst.copy_from_slice(tail);
        }
    }

    /// The ring's bytes for `at .. at + len` (within the window): one or two slices.
    fn ring_slices(&self, at: u64, len: u64) -> [&[u8]; 2] {
        let pos = (at % self.cap) as usize;
        let len = len as usize;
        let first = len.min(self.ring.len().saturating_sub(pos));
        [
            self.ring.get(pos..pos + first).unwrap_or(&[]),
            self.ring.get(..len - first).unwrap_or(&[]),
        ]
    }

    /// Appends delivered bytes `off .. off + len` held at `place`: the last piece grows
    /// when they continue it in the same place.
    fn append(&mut self, off: u64, len: u64, place: Place) {
        match self.pieces.back_mut() {
            Some(back) if back.end() == off && back.place.continued_by(back.len, place) => {
                back.len += len;
            }
            _ => self.pieces.push_back(Remembered { off, len, place }),
        }
    }

    /// Drops what the pieces hold before `start`.
    fn forget_before(&mut self, start: u64) {
        while let Some(front) = self.pieces.front_mut() {
            if front.end() <= start {
                self.pieces.pop_front();
            } else {
                if front.off < start {
                    let cut = start - front.off;
                    front.off += cut;
                    front.len -= cut;
                    if let Place::Stored(p) = &mut front.place {
                        *p = p.advance(cut);
                    }
                }
                break;
            }
        }
    }

    /// One piece fewer: moves the two oldest pieces into the ring and merges them. When a
    /// store cannot give a piece's bytes back, everything up to its end is forgotten
    /// instead, and `Err` says where the history now starts.
    fn merge_oldest(&mut self, stores: &Stores) -> Result<(), u64> {
        for i in 0..2 {
            let Some(&piece) = self.pieces.get(i) else {
                return Ok(());
            };
            if let Place::Stored(pos) = piece.place {
                let Some(bytes) = stores.recall(pos, piece.len) else {
                    self.pieces.drain(..=i);
                    return Err(piece.end());
                };
                self.write_ring(piece.off, bytes);
                if let Some(p) = self.pieces.get_mut(i) {
                    p.place = Place::Ring;
                }
            }
        }
        if let Some(second) = self.pieces.remove(1)
            && let Some(first) = self.pieces.front_mut()
        {
            first.len += second.len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn store_of(bytes: &[u8]) -> Store {
        Arc::new(bytes.to_vec())
    }

    /// Bytes `from .. to` as the history gives them back.
    fn recalled(h: &History, stores: &Stores, from: u64, to: u64) -> (Vec<u8>, u64) {
        let mut out = [&[][..]; MAX_SLICES];
        let (n, reached) = h.first_copy(stores, from, to, &mut out);
        (out[..n].concat(), reached)
    }

    #[test]
    fn stored_and_ring_pieces_give_back_the_same_bytes() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let store = store_of(&data);
        let mut stores = Stores::default();
        let mut pool = HistoryPool::new(1000, 4);
        let mut h = History::new();
        let mut next = 0u64;
        // Alternate stored and copied pieces of varied sizes, 1 to 1500 bytes.
        for (i, size) in [1usize, 700, 3, 1500, 20, 999, 64, 2]
            .iter()
            .cycle()
            .take(60)
            .enumerate()
        {
            let size = (*size).min(data.len() - next as usize);
            if size == 0 {
                break;
            }
            let bytes = &data[next as usize..next as usize + size];
            let pos = if i % 3 == 0 {
                None
            } else {
                stores.pos_of(
                    StoredAt {
                        store: &store,
                        offset: next,
                    },
                    size,
                )
            };
            h.remember(&mut pool, &stores, next, bytes, pos);
            next += size as u64;
            let (pieces, span) = h.extent();
            assert!(pieces <= MAX_PIECES, "{pieces} pieces");
            assert!(span <= 1000, "{span} bytes");
            assert_eq!(span, next - h.start());
            assert_eq!(h.start(), next.saturating_sub(1000));
            let (got, reached) = recalled(&h, &stores, h.start(), next);
            assert_eq!(reached, next);
            assert_eq!(got, &data[h.start() as usize..next as usize]);
        }
    }

    #[test]
    fn eviction_by_count_and_by_bytes_keeps_the_bounds_and_the_window() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
        // Each packet's payload in its own store region, 3 bytes apart (headers between).
        let mut file = Vec::new();
        let mut at = Vec::new();
        for chunk in data.chunks(5) {
            file.extend_from_slice(b"hdr");
            at.push(file.len() as u64);
            file.extend_from_slice(chunk);
        }
        let store = store_of(&file);
        let mut stores = Stores::default();
        let mut pool = HistoryPool::new(4096, 1);
        let mut h = History::new();
        let mut next = 0u64;
        for (chunk, &offset) in data.chunks(5).zip(&at) {
            let pos = stores.pos_of(
                StoredAt {
                    store: &store,
                    offset,
                },
                chunk.len(),
            );
            assert!(pos.is_some());
            h.remember(&mut pool, &stores, next, chunk, pos);
            next += chunk.len() as u64;
            let (pieces, span) = h.extent();
            assert!(pieces <= MAX_PIECES);
            assert!(span <= 4096);
            // The window is the ring's: the last 4096 bytes, whatever the count.
            assert_eq!(h.start(), next.saturating_sub(4096));
            assert_eq!(span, next - h.start());
        }
        let (got, reached) = recalled(&h, &stores, h.start(), next);
        assert_eq!(reached, next);
        assert_eq!(got, &data[h.start() as usize..]);
        // A sub-range anywhere in the window.
        let (got, _) = recalled(&h, &stores, next - 3000, next - 1234);
        assert_eq!(got, &data[next as usize - 3000..next as usize - 1234]);
    }

    #[test]
    fn a_gap_restarts_and_the_pool_bounds_directions() {
        let store = store_of(&[7u8; 100]);
        let mut stores = Stores::default();
        let mut pool = HistoryPool::new(64, 1);
        let (mut a, mut b) = (History::new(), History::new());
        let pos = stores.pos_of(
            StoredAt {
                store: &store,
                offset: 0,
            },
            10,
        );
        a.remember(&mut pool, &stores, 0, &[7; 10], pos);
        b.remember(&mut pool, &stores, 0, &[7; 10], pos);
        assert_eq!((a.extent(), b.extent()), ((1, 10), (0, 0)));
        a.restart_at(50);
        assert_eq!((a.start(), a.extent()), (50, (0, 0)));
        a.release(&mut pool);
        b.remember(&mut pool, &stores, 10, &[7; 5], None);
        assert_eq!((b.start(), b.extent()), (10, (1, 5)));
        // Disabled history remembers nothing.
        let mut off = HistoryPool::new(0, 10);
        let mut c = History::new();
        c.remember(&mut off, &stores, 0, &[1; 5], None);
        assert_eq!(c.extent(), (0, 0));
    }

    #[test]
    fn positions_outside_a_store_are_refused() {
        let store = store_of(&[1u8; 10]);
        let mut stores = Stores::default();
        assert!(
            stores
                .pos_of(
                    StoredAt {
                        store: &store,
                        offset: 5
                    },
                    5
                )
                .is_some()
        );
        assert!(
            stores
                .pos_of(
                    StoredAt {
                        store: &store,
                        offset: 6
                    },
                    5
                )
                .is_none()
        );
        assert!(
            stores
                .pos_of(
                    StoredAt {
                        store: &store,
                        offset: u64::MAX
                    },
                    5
                )
                .is_none()
        );
        let other = store_of(&[2u8; 3]);
        let p = stores.pos_of(
            StoredAt {
                store: &other,
                offset: 0,
            },
            3,
        );
        assert_eq!(p.map(|p| p.store), Some(1));
        assert_eq!(
            stores.recall(
                p.unwrap_or(Pos {
                    store: 9,
                    offset: 0
                }),
                3
            ),
            Some(&[2u8; 3][..])
        );
    }
}
