//! Properties over a known stream cut into segments that are shuffled, duplicated,
//! overlapped (with the same or with different bytes), and placed across the 2^32 wrap.

use proptest::prelude::*;

use super::support::*;
use crate::assembly::{AssemblerConfig, CloseReason};

/// A deterministic shuffle (xorshift) so the order is part of the generated case.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}

/// Cuts `0..len` into consecutive pieces whose sizes cycle through `sizes`.
fn partition(len: usize, sizes: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < len {
        let size = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let size = size.min(len - at);
        out.push((at, size));
        at += size;
        i += 1;
    }
    out
}

fn isn_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![any::<u32>(), (u32::MAX - 3000)..=u32::MAX]
}

/// (page size, pages per connection, pages in total): small enough to be hit, or never.
fn limits_strategy() -> impl Strategy<Value = (usize, usize, usize)> {
    prop_oneof![
        (1usize..64, 1usize..12, 1usize..24),
        Just((1900usize, 1usize << 20, 1usize << 20)),
        (1usize..64).prop_map(|page| (page, 1 << 20, 1 << 20)),
    ]
}

proptest! {
    #![proptest_config(super::support::proptest_config(256, "props"))]

    /// Every byte is delivered or declared, once; delivered bytes are the stream's; with no
    /// limit hit, the stream comes out whole.
    #[test]
    fn delivered_plus_gaps_is_the_stream_and_no_limit_means_all_of_it(
        isn in isn_strategy(),
        stream in proptest::collection::vec(any::<u8>(), 1..1500),
        sizes in proptest::collection::vec(1usize..150, 1..8),
        extras in proptest::collection::vec((0usize..1500, 1usize..300), 0..8),
        dups in proptest::collection::vec(any::<usize>(), 0..6),
        seed in any::<u64>(),
        (page_size, per_conn, total) in limits_strategy(),
        with_fin in any::<bool>(),
        midstream in any::<bool>(),
    ) {
        let n = stream.len();
        let mut segments = partition(n, &sizes);
        for &d in &dups {
            segments.push(segments[d % segments.len()]);
        }
        for &(start, len) in &extras {
            let start = start % n;
            segments.push((start, len.min(n - start)));
        }
        shuffle(&mut segments, seed);
        let fin_position = (seed >> 32) as usize % (segments.len() + 1);

        let cfg = AssemblerConfig {
            page_size,
            max_pages_per_conn: per_conn,
            max_pages_total: total,
            ..AssemblerConfig::default()
        };
        let mut h = Harness::with(cfg);
        let first_seq = isn.wrapping_add(1);
        if !midstream {
            h.c(isn, 0, SYN, b"");
        }
        // Midstream, the first packet sent (data, or the FIN) is offset 0.
        let origin = match (midstream, with_fin && fin_position == 0) {
            (false, _) => 0,
            (true, true) => n,
            (true, false) => segments[0].0,
        };
        for (i, &(start, len)) in segments.iter().enumerate() {
            if with_fin && i == fin_position {
                h.c(first_seq.wrapping_add(n as u32), 0, FIN | ACK, b"");
            }
            h.c(first_seq.wrapping_add(start as u32), 0, ACK, &stream[start..start + len]);
            prop_assert!(h.asm.pages_in_use() <= total.min(per_conn));
        }
        if with_fin && fin_position == segments.len() {
            h.c(first_seq.wrapping_add(n as u32), 0, FIN | ACK, b"");
        }
        let stats = h.asm.stats();
        let r = h.close();

        prop_assert_eq!(r.c2s.stream_length, (n - origin) as u64);
        let told = h.sink.stream(CONN, C2S);
        for (i, byte) in told.iter().enumerate() {
            if let Some(b) = byte {
                prop_assert_eq!(*b, stream[origin + i], "offset {}", i);
            }
        }
        if stats.per_conn_limit_skips + stats.total_limit_skips + stats.flush_skips == 0 {
            let whole: Vec<Option<u8>> = stream[origin..].iter().map(|&b| Some(b)).collect();
            prop_assert_eq!(told, whole);
            prop_assert_eq!(r.c2s.stats.gaps.total_count(), 0);
        }
        if with_fin {
            prop_assert_eq!(r.c2s.end, Some(CloseReason::Fin));
        }
        prop_assert_eq!(h.asm.pages_in_use(), 0);
    }

    /// A later copy with different bytes is a conflict, counted once per segment; the
    /// first copy is what comes out.
    #[test]
    fn conflicting_retransmissions_are_counted_and_the_first_copy_wins(
        isn in isn_strategy(),
        stream in proptest::collection::vec(any::<u8>(), 1..1200),
        sizes in proptest::collection::vec(1usize..150, 1..8),
        seed in any::<u64>(),
        corruptions in proptest::collection::vec((any::<usize>(), any::<usize>(), any::<usize>(), 1u8..=255), 0..8),
        page_size in 1usize..64,
    ) {
        let n = stream.len();
        let mut segments: Vec<(usize, Vec<u8>)> = partition(n, &sizes)
            .into_iter()
            .map(|(start, len)| (start, stream[start..start + len].to_vec()))
            .collect();
        shuffle(&mut segments, seed);
        // After an original segment, corrupted copies of parts of it: every byte differs.
        let mut copies_after: Vec<Vec<(usize, Vec<u8>)>> = vec![Vec::new(); segments.len()];
        for &(which, from, len, flip) in &corruptions {
            let at = which % segments.len();
            let (start, bytes) = &segments[at];
            let from = from % bytes.len();
            let len = 1 + len % (bytes.len() - from);
            let bad: Vec<u8> = bytes[from..from + len].iter().map(|b| b ^ flip).collect();
            copies_after[at].push((start + from, bad));
        }
        let copies = corruptions.len() as u64;
        let segments: Vec<(usize, Vec<u8>)> = segments
            .into_iter()
            .zip(copies_after)
            .flat_map(|(original, copies)| std::iter::once(original).chain(copies))
            .collect();
        let cfg = AssemblerConfig {
            page_size,
            max_pages_per_conn: 1 << 20,
            max_pages_total: 1 << 20,
            conflict_history_bytes: 1 << 12,
            ..AssemblerConfig::default()
        };
        let mut h = Harness::with(cfg);
        h.c(isn, 0, SYN, b"");
        for (start, bytes) in &segments {
            h.c(isn.wrapping_add(1).wrapping_add(*start as u32), 0, ACK, bytes);
        }
        let r = h.close();
        let whole: Vec<Option<u8>> = stream.iter().map(|&b| Some(b)).collect();
        prop_assert_eq!(h.sink.stream(CONN, C2S), whole);
        prop_assert_eq!(r.c2s.stats.overlap_conflicts, copies);
        prop_assert!(r.conflict_events >= copies);
        prop_assert_eq!(h.sink.conflicts.len() as u64, r.conflict_events);
        for c in &h.sink.conflicts {
            prop_assert!(c.offset + c.len <= n as u64);
            prop_assert_ne!(c.first_hash, c.second_hash);
        }
    }

    /// Arbitrary packets in both directions (any flags, sequence numbers near and far,
    /// snap-cut lengths up to `u32::MAX`, tiny limits and flush times) never panic, never
    /// break the callback contract, and always account for every byte.
    #[test]
    fn arbitrary_packets_keep_the_accounting(
        bases in (any::<u32>(), any::<u32>()),
        packets in proptest::collection::vec(
            (
                any::<bool>(),
                prop_oneof![4 => 0u32..4000, 1 => any::<u32>()],
                prop_oneof![4 => 0u32..4000, 1 => any::<u32>()],
                any::<u8>(),
                proptest::collection::vec(any::<u8>(), 0..200),
                prop_oneof![8 => Just(0u32), 2 => 0u32..3000, 1 => Just(u32::MAX)],
                0i64..2_000,
            ),
            1..60,
        ),
        (page_size, per_conn, total) in limits_strategy(),
        flush_after in prop_oneof![Just(None), (1i64..5_000).prop_map(Some)],
    ) {
        let cfg = AssemblerConfig {
            page_size,
            max_pages_per_conn: per_conn,
            max_pages_total: total,
            flush_after,
            conflict_history_bytes: 64,
            ..AssemblerConfig::default()
        };
        let mut h = Harness::with(cfg);
        for (to_server, seq, ack, flags, payload, missing, pause) in &packets {
            let (own, peer) = if *to_server { bases } else { (bases.1, bases.0) };
            let mut segment = seg(own.wrapping_add(*seq), peer.wrapping_add(*ack), *flags, payload);
            segment.missing = *missing;
            h.now = h.now.saturating_add_nanos(*pause);
            h.send(if *to_server { C2S } else { S2C }, &segment);
            prop_assert!(h.asm.pages_in_use() <= total.min(per_conn));
        }
        h.close();
        prop_assert_eq!(h.asm.pages_in_use(), 0);
        prop_assert_eq!(h.asm.live_connections(), 0);
    }
}
