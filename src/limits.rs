//! Bounded collections and the report of what the bounds dropped.
//!
//! # Contracts
//!
//! - A [`Capped`] list holds at most `max` items and at most `max_bytes` of their
//!   estimated size ([`Footprint`]); a push past either bound is refused and counted
//!   (`omitted` for the count, `omitted_for_memory` for the bytes), never silently lost.
//!   The list derefs to a slice, so readers see an ordinary `&[T]`.
//! - [`LimitsReport`] is the report's `limits` object: every bound that refused something
//!   during the run, by kind, so a capture that hit one says so.

use serde::Serialize;
use std::collections::BTreeMap;

/// Estimated heap and inline bytes of one item (an estimate for budgets, not exact).
pub trait Footprint {
    /// The estimate, in bytes.
    fn footprint(&self) -> usize;
}

/// Nothing kept.
impl Footprint for () {
    fn footprint(&self) -> usize {
        0
    }
}

/// A list with a count cap and a byte cap (see the module doc).
#[derive(Debug)]
pub struct Capped<T> {
    items: Vec<T>,
    max: usize,
    max_bytes: usize,
    bytes: usize,
    /// Pushes refused because `max` items were held.
    pub omitted: u64,
    /// Pushes refused because the items would have exceeded `max_bytes`.
    pub omitted_for_memory: u64,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Capped::new(usize::MAX, usize::MAX)
    }
}

impl<T> Capped<T> {
    /// An empty list keeping at most `max` items and `max_bytes` of their estimates.
    pub fn new(max: usize, max_bytes: usize) -> Self {
        Capped {
            items: Vec::new(),
            max,
            max_bytes,
            bytes: 0,
            omitted: 0,
            omitted_for_memory: 0,
        }
    }
}

impl<T: Footprint> Capped<T> {
    /// Keeps `item` when both bounds allow it; `false` (and a count) otherwise.
    pub fn push(&mut self, item: T) -> bool {
        if self.items.len() >= self.max {
            self.omitted += 1;
            return false;
        }
        let cost = item.footprint();
        if self.bytes.saturating_add(cost) > self.max_bytes {
            self.omitted_for_memory += 1;
            return false;
        }
        self.bytes += cost;
        self.items.push(item);
        true
    }

    /// Estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The items, leaving the list empty (its counters stay).
    pub fn take(&mut self) -> Vec<T> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }
}

impl<T> std::ops::Deref for Capped<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

/// What the run's bounds refused, by kind (`quic_flows`, `tunnel_sessions`, ...), with
/// the bound that did it: `records` for `--max-records`, `memory` for `--memory`.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct LimitsReport {
    /// The memory budget in MiB the run had (`--memory`), when one was set.
    pub memory_mb: Option<u64>,
    /// Records not kept because `--max-records` of their type were kept, by type.
    pub records_omitted: BTreeMap<&'static str, u64>,
    /// State dropped (or never kept) to stay inside the memory budget, by kind.
    pub dropped_for_memory: BTreeMap<&'static str, u64>,
}

impl LimitsReport {
    /// Adds a [`Capped`] list's counters under `kind` (nothing when it refused nothing).
    pub fn count<T>(&mut self, kind: &'static str, c: &Capped<T>) {
        if c.omitted > 0 {
            *self.records_omitted.entry(kind).or_insert(0) += c.omitted;
        }
        if c.omitted_for_memory > 0 {
            *self.dropped_for_memory.entry(kind).or_insert(0) += c.omitted_for_memory;
        }
    }

    /// Adds `n` to a dropped-for-memory kind (nothing for 0).
    pub fn dropped(&mut self, kind: &'static str, n: u64) {
        if n > 0 {
            *self.dropped_for_memory.entry(kind).or_insert(0) += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(usize);
    impl Footprint for Item {
        fn footprint(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn both_bounds_refuse_and_count() {
        let mut c = Capped::new(3, 100);
        assert!(c.push(Item(10)));
        assert!(!c.push(Item(95)));
        assert!(c.push(Item(90)));
        assert!(c.push(Item(0)));
        assert!(!c.push(Item(0)));
        assert_eq!((c.len(), c.omitted, c.omitted_for_memory), (3, 1, 1));
        assert_eq!(c.bytes(), 100);
        let mut r = LimitsReport::default();
        r.count("things", &c);
        assert_eq!(r.records_omitted.get("things"), Some(&1));
        assert_eq!(r.dropped_for_memory.get("things"), Some(&1));
        assert_eq!(c.take().len(), 3);
        assert!(c.is_empty());
    }
}
