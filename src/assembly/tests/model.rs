//! The assembler against a slow, obviously right model: a byte map where the first copy
//! of each offset wins, on random segmentations with holes, duplicates and conflicting
//! copies, delivered in random order.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::support::*;
use crate::assembly::{AssemblerConfig, GapCause};

/// What a first-wins byte map says the stream is, and what it saw on the way.
struct ByteMap {
    bytes: BTreeMap<u64, u8>,
    old_bytes: u64,
    conflicting_segments: u64,
}

impl ByteMap {
    fn new() -> Self {
        ByteMap {
            bytes: BTreeMap::new(),
            old_bytes: 0,
            conflicting_segments: 0,
        }
    }

    fn add(&mut self, start: u64, payload: &[u8]) {
        let mut conflict = false;
        for (i, &b) in payload.iter().enumerate() {
            match self.bytes.get(&(start + i as u64)) {
                Some(&first) => {
                    self.old_bytes += 1;
                    conflict |= first != b;
                }
                None => {
                    self.bytes.insert(start + i as u64, b);
                }
            }
        }
        self.conflicting_segments += u64::from(conflict);
    }

    /// Offset 0 to the highest byte: the byte, or `None` for a hole.
    fn stream(&self) -> Vec<Option<u8>> {
        let end = self.bytes.keys().next_back().map_or(0, |&last| last + 1);
        (0..end).map(|o| self.bytes.get(&o).copied()).collect()
    }
}

/// A segment: where it starts in the stream, how long it is, and whether it carries a
/// corrupted copy (every byte XORed with `flip`).
fn segment_strategy() -> impl Strategy<Value = (usize, usize, u8)> {
    (
        0usize..240,
        1usize..48,
        prop_oneof![3 => Just(0u8), 1 => 1u8..=255],
    )
}

fn isn_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (u32::MAX - 300)..=u32::MAX]
}

proptest! {
    #![proptest_config(super::support::proptest_config(256, "model"))]

    #[test]
    fn assembler_matches_the_first_wins_byte_map(
        isn in isn_strategy(),
        original in proptest::collection::vec(any::<u8>(), 240),
        segments in proptest::collection::vec(segment_strategy(), 1..40),
    ) {
        let cfg = AssemblerConfig {
            page_size: 16,
            max_pages_per_conn: 1 << 20,
            max_pages_total: 1 << 20,
            conflict_history_bytes: 1 << 12,
            ..AssemblerConfig::default()
        };
        let mut h = Harness::with(cfg);
        let mut model = ByteMap::new();
        h.c(isn, 0, SYN, b"");
        for &(start, len, flip) in &segments {
            let end = (start + len).min(original.len());
            let payload: Vec<u8> = original[start..end].iter().map(|b| b ^ flip).collect();
            model.add(start as u64, &payload);
            h.c(isn.wrapping_add(1).wrapping_add(start as u32), 0, ACK, &payload);
        }
        let r = h.close();
        prop_assert_eq!(h.sink.stream(CONN, C2S), model.stream());
        prop_assert_eq!(r.c2s.stats.retransmitted_bytes, model.old_bytes);
        prop_assert_eq!(r.c2s.stats.overlap_conflicts, model.conflicting_segments);
        let holes = model.stream().iter().filter(|b| b.is_none()).count() as u64;
        prop_assert_eq!(r.c2s.stats.gaps.get(GapCause::NeverAcked).bytes, holes);
        prop_assert_eq!(r.c2s.stats.gaps.total_bytes(), holes);
    }
}
