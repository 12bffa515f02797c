//! Arbitrary TCP segments in both directions of one connection, with tiny page limits.
//! Invariants checked (not just "no crash"): for each direction, delivered bytes plus gap
//! bytes equal the stream length; chunks tile the stream (no overlap, no hole); pages in
//! use never exceed the limits once a call returns. A second assembler gets the same
//! segments, with their payloads' positions in a store when the record asks (as from a
//! mapped capture, whose overlap history remembers positions instead of copies): it must
//! deliver, declare and report conflicts exactly like the first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use tunscope::Timestamp;
use tunscope::assembly::{
    Assembler, AssemblerConfig, Chunk, CloseReason, OverlapConflict, StreamSink,
};
use tunscope::capture::{Store, StoredAt};
use tunscope::decode::{TcpFlags, TcpSegment};
use tunscope::flow::{Direction, FlowId};

#[derive(Default)]
struct Tally {
    delivered: [u64; 2],
    gaps: [u64; 2],
    conflicts: Vec<OverlapConflict>,
}

impl StreamSink for Tally {
    fn on_conflict(&mut self, _: FlowId, _: Direction, conflict: &OverlapConflict) {
        self.conflicts.push(*conflict);
    }

    fn on_chunk(&mut self, _: FlowId, dir: Direction, chunk: Chunk<'_>, _: Timestamp) {
        match chunk {
            Chunk::Data(b) => {
                assert!(!b.is_empty(), "empty data chunk");
                self.delivered[dir.index()] += b.len() as u64;
            }
            Chunk::Gap { len, .. } => {
                assert!(len > 0, "empty gap");
                self.gaps[dir.index()] += len;
            }
        }
    }
}

const PAYLOAD: [u8; 4096] = {
    let mut p = [0u8; 4096];
    let mut i = 0;
    while i < p.len() {
        p[i] = (i * 7 + 3) as u8;
        i += 1;
    }
    p
};

/// `PAYLOAD` as a store.
fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| Arc::new(PAYLOAD.to_vec()))
}

fuzz_target!(|data: &[u8]| {
    let cfg = AssemblerConfig {
        page_size: 64,
        max_pages_per_conn: 4,
        max_pages_total: 6,
        ..AssemblerConfig::default()
    };
    let mut asm = Assembler::new(cfg.clone());
    let mut sink = Tally::default();
    let mut stored_asm = Assembler::new(cfg.clone());
    let mut stored_sink = Tally::default();
    let conn = FlowId {
        slot: 0,
        generation: 1,
    };
    let isn = [0xffff_ff00u32, 0x1000u32];
    for (i, rec) in data.chunks_exact(8).enumerate() {
        let dir = if rec[0] & 1 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let base = isn[dir.index()];
        let off = u32::from(u16::from_le_bytes([rec[1], rec[2]]));
        let len = usize::from(rec[3]) * 4;
        let flags = TcpFlags(rec[4] & 0x1f | if rec[0] & 2 != 0 { TcpFlags::ACK } else { 0 });
        let ack = isn[dir.reverse().index()]
            .wrapping_add(u32::from(u16::from_le_bytes([rec[5], rec[6]])));
        let start = usize::from(rec[7]) * 8 % PAYLOAD.len();
        let end = (start + len).min(PAYLOAD.len());
        let seg = TcpSegment {
            seq: base.wrapping_add(off),
            ack,
            flags,
            window: 1000,
            mss: None,
            payload: &PAYLOAD[start..end],
            missing: if rec[0] & 4 != 0 {
                u32::from(rec[3])
            } else {
                0
            },
            payload_at: None,
        };
        let ts = Timestamp(i as i64 * 1000);
        asm.segment(conn, dir, &seg, ts, &mut sink);
        let stored = if rec[0] & 8 != 0 {
            TcpSegment {
                payload_at: Some(StoredAt {
                    store: store(),
                    offset: start as u64,
                }),
                ..seg
            }
        } else {
            seg
        };
        stored_asm.segment(conn, dir, &stored, ts, &mut stored_sink);
        assert!(asm.pages_in_use() <= cfg.max_pages_total.min(cfg.max_pages_per_conn));
    }
    let end = Timestamp(i64::MAX / 2);
    let stored_record = stored_asm.close(conn, CloseReason::EndOfCapture, end, &mut stored_sink);
    let record = asm.close(conn, CloseReason::EndOfCapture, end, &mut sink);
    assert_eq!(record, stored_record);
    assert_eq!(sink.conflicts, stored_sink.conflicts);
    assert_eq!((sink.delivered, sink.gaps), (stored_sink.delivered, stored_sink.gaps));
    if let Some(record) = record {
        for (i, d) in [&record.c2s, &record.s2c].into_iter().enumerate() {
            assert_eq!(d.stats.delivered_bytes, sink.delivered[i]);
            assert_eq!(
                sink.delivered[i] + sink.gaps[i],
                d.stream_length,
                "direction {i}: {d:?}"
            );
        }
    }
    assert_eq!(asm.pages_in_use(), 0);
});
