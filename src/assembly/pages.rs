//! Out-of-order storage: fixed-size pages from one cache with a free list, chained per
//! direction into a doubly linked list sorted by stream offset.
//!
//! Invariants kept by the stream code (`stream.rs`):
//! - pages of one list never overlap (a later copy of a byte is never stored: first wins);
//! - every page starts after the direction's next expected byte (a page that becomes
//!   contiguous is delivered and freed at once).
//!
//! The cache grows one page at a time up to what the limits allow and never shrinks:
//! freed pages go to the free list and are reused, so steady state allocates nothing.
//! Page indices are internal (never derived from packet data).
//!
//! A page whose bytes lie in a store (a memory-mapped capture, see `history.rs`) holds
//! their position, not a copy: they are recalled when delivered or compared. Only bytes
//! without a position (stream inputs, reassembled fragments) are copied, into a buffer of
//! the page size that the page gets on its first copy. Limits count pages either way.

use super::history::{Pos, Stores};
use crate::Timestamp;

/// A run of stream bytes as a segment brings it: captured bytes, with where they lie in a
/// store when known (see `history.rs`), or bytes the snap length cut (known only by their
/// count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Bytes(&'a [u8], Option<Pos>),
    Truncated(u64),
}

impl<'a> Piece<'a> {
    pub(super) fn len(&self) -> u64 {
        match self {
            Piece::Bytes(bytes, _) => bytes.len() as u64,
            Piece::Truncated(len) => *len,
        }
    }

    /// Bytes `from .. to` of the piece (relative offsets, clamped to the piece).
    pub(super) fn range(&self, from: u64, to: u64) -> Piece<'a> {
        let to = to.min(self.len());
        let from = from.min(to);
        match self {
            Piece::Bytes(bytes, pos) => Piece::Bytes(
                bytes.get(from as usize..to as usize).unwrap_or(&[]),
                pos.map(|p| p.advance(from)),
            ),
            Piece::Truncated(_) => Piece::Truncated(to - from),
        }
    }

    /// The captured bytes, if any.
    pub(super) fn bytes(&self) -> Option<&'a [u8]> {
        match self {
            Piece::Bytes(bytes, _) => Some(bytes),
            Piece::Truncated(_) => None,
        }
    }
}

/// "No page": the end of a list.
pub(crate) const NIL: u32 = u32::MAX;

/// What a page holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageContent {
    /// `len` captured bytes in `data`.
    Bytes,
    /// `len` bytes that were on the wire but cut by the snap length: a placeholder that
    /// becomes a `SnaplenTruncated` gap when delivered.
    Truncated,
}

pub(crate) struct Page {
    /// Stream offset of the first byte.
    pub off: u64,
    pub len: u32,
    pub content: PageContent,
    /// Time of the packet that brought the bytes.
    pub ts: Timestamp,
    /// Where the bytes also lie in a store, when the segment said so.
    pub stored: Option<Pos>,
    prev: u32,
    next: u32,
    data: Box<[u8]>,
}

impl Page {
    pub(super) fn end(&self) -> u64 {
        self.off + u64::from(self.len)
    }

    /// The captured bytes (empty for a truncated placeholder): recalled from `stores` when
    /// the page holds a position, else the page's copy. A position was checked against its
    /// store's length when the segment came (`Stores::pos_of`), so the recall cannot fail.
    pub(super) fn bytes<'s>(&'s self, stores: &'s Stores) -> &'s [u8] {
        match (self.content, self.stored) {
            (PageContent::Truncated, _) => &[],
            (PageContent::Bytes, Some(pos)) => {
                stores.recall(pos, u64::from(self.len)).unwrap_or(&[])
            }
            (PageContent::Bytes, None) => self.data.get(..self.len as usize).unwrap_or(&[]),
        }
    }
}

/// One direction's buffered pages, sorted by offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageList {
    pub head: u32,
    pub tail: u32,
    pub count: u32,
}

impl Default for PageList {
    fn default() -> Self {
        PageList {
            head: NIL,
            tail: NIL,
            count: 0,
        }
    }
}

/// The page cache shared by all connections.
pub(crate) struct PageCache {
    pages: Vec<Page>,
    free: Vec<u32>,
    used: usize,
    peak: usize,
    page_size: usize,
}

impl PageCache {
    pub(super) fn new(page_size: usize) -> Self {
        PageCache {
            pages: Vec::new(),
            free: Vec::new(),
            used: 0,
            peak: 0,
            page_size: page_size.max(1),
        }
    }

    pub(super) fn page_size(&self) -> usize {
        self.page_size
    }

    pub(super) fn used(&self) -> usize {
        self.used
    }

    pub(super) fn peak(&self) -> usize {
        self.peak
    }

    pub(super) fn allocated(&self) -> usize {
        self.pages.len()
    }

    pub(super) fn page(&self, index: u32) -> &Page {
        &self.pages[index as usize]
    }

    pub(super) fn head_off(&self, list: &PageList) -> Option<u64> {
        (list.head != NIL).then(|| self.page(list.head).off)
    }

    pub(super) fn prev_of(&self, index: u32) -> u32 {
        self.page(index).prev
    }

    pub(super) fn next_of(&self, index: u32) -> u32 {
        self.page(index).next
    }

    /// Stores `piece` in a fresh page linked right after `after` (`NIL`: at the head) and
    /// returns its index. Bytes beyond the page size, or a placeholder longer than
    /// `u32::MAX`, are cut: callers split pieces first.
    pub(super) fn insert_after(
        &mut self,
        list: &mut PageList,
        after: u32,
        off: u64,
        piece: Piece<'_>,
        ts: Timestamp,
    ) -> u32 {
        let index = self.take();
        let next = if after == NIL {
            list.head
        } else {
            self.page(after).next
        };
        {
            let page = &mut self.pages[index as usize];
            page.off = off;
            page.ts = ts;
            page.prev = after;
            page.next = next;
            page.stored = None;
            match piece {
                Piece::Bytes(bytes, pos) => {
                    page.stored = pos;
                    let n = bytes.len().min(self.page_size);
                    // Bytes that lie in a store are recalled from it when delivered or
                    // compared; only the others are copied, into a buffer made on the
                    // page's first copy and kept with it.
                    if pos.is_none() {
                        if page.data.len() < n {
                            page.data = vec![0; self.page_size].into_boxed_slice();
                        }
                        if let (Some(dst), Some(src)) = (page.data.get_mut(..n), bytes.get(..n)) {
                            dst.copy_from_slice(src);
                        }
                    }
                    page.content = PageContent::Bytes;
                    page.len = n as u32;
                }
                Piece::Truncated(len) => {
                    page.content = PageContent::Truncated;
                    page.len = u32::try_from(len).unwrap_or(u32::MAX);
                }
            }
        }
        if after == NIL {
            list.head = index;
        } else {
            self.pages[after as usize].next = index;
        }
        if next == NIL {
            list.tail = index;
        } else {
            self.pages[next as usize].prev = index;
        }
        list.count += 1;
        index
    }

    /// Unlinks page `index` from `list` and returns it to the free list.
    pub(super) fn remove(&mut self, list: &mut PageList, index: u32) {
        let (prev, next) = {
            let page = self.page(index);
            (page.prev, page.next)
        };
        if prev == NIL {
            list.head = next;
        } else {
            self.pages[prev as usize].next = next;
        }
        if next == NIL {
            list.tail = prev;
        } else {
            self.pages[next as usize].prev = prev;
        }
        list.count = list.count.saturating_sub(1);
        self.free.push(index);
        self.used = self.used.saturating_sub(1);
    }

    /// Shortens page `index` to its first `len` bytes.
    pub(super) fn truncate(&mut self, index: u32, len: u32) {
        let page = &mut self.pages[index as usize];
        page.len = page.len.min(len);
    }

    /// Frees every page of `list`.
    pub(super) fn remove_all(&mut self, list: &mut PageList) {
        while list.head != NIL {
            self.remove(list, list.head);
        }
    }

    fn take(&mut self) -> u32 {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.pages.push(Page {
                    off: 0,
                    len: 0,
                    content: PageContent::Bytes,
                    ts: Timestamp::ZERO,
                    stored: None,
                    prev: NIL,
                    next: NIL,
                    data: Box::default(),
                });
                (self.pages.len() - 1) as u32
            }
        };
        self.used += 1;
        self.peak = self.peak.max(self.used);
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(cache: &PageCache, list: &PageList) -> Vec<u64> {
        let mut out = Vec::new();
        let mut at = list.head;
        while at != NIL {
            out.push(cache.page(at).off);
            at = cache.next_of(at);
        }
        out
    }

    #[test]
    fn pages_link_in_order_and_recycle() {
        let mut cache = PageCache::new(4);
        let mut list = PageList::default();
        let ts = Timestamp::ZERO;
        let a = cache.insert_after(&mut list, NIL, 10, Piece::Bytes(b"abcd", None), ts);
        let c = cache.insert_after(&mut list, a, 30, Piece::Bytes(b"cc", None), ts);
        let b = cache.insert_after(&mut list, a, 20, Piece::Truncated(7), ts);
        let z = cache.insert_after(&mut list, NIL, 0, Piece::Bytes(b"z", None), ts);
        assert_eq!(offsets(&cache, &list), vec![0, 10, 20, 30]);
        assert_eq!(
            Piece::Bytes(b"hello", None).range(1, 3),
            Piece::Bytes(b"el", None)
        );
        assert_eq!(Piece::Truncated(9).range(4, 20), Piece::Truncated(5));
        assert_eq!(list.count, 4);
        assert_eq!(cache.page(b).end(), 27);
        let stores = Stores::default();
        assert_eq!(cache.page(b).bytes(&stores), b"");
        assert_eq!(cache.page(a).bytes(&stores), b"abcd");
        cache.remove(&mut list, z);
        cache.remove(&mut list, c);
        assert_eq!(offsets(&cache, &list), vec![10, 20]);
        assert_eq!((list.head, list.tail), (a, b));
        assert_eq!(cache.used(), 2);
        // Freed pages are reused before the cache grows.
        cache.insert_after(&mut list, b, 40, Piece::Bytes(b"x", None), ts);
        assert_eq!(cache.allocated(), 4);
        cache.remove_all(&mut list);
        assert_eq!((cache.used(), cache.peak(), list.count), (0, 4, 0));
        assert_eq!(list, PageList::default());
    }
}
