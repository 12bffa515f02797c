//! Segments in, chunks out: one case per failure mode of stream engines (the spec's last
//! section), plus the behaviours the module documentation promises.
//!
//! Conventions: the client's ISN is 100 (its stream starts at sequence 101), the
//! server's is 500 (stream at 501).

use super::support::*;
use crate::Timestamp;
use crate::assembly::{
    AssemblerConfig, Chunk, CloseReason, ConnState, ConnStatus, GapCause, StreamSink, StreamStart,
};
use crate::flow::{Direction, FlowId};

use GapCause::*;

fn handshake(h: &mut Harness) {
    h.c(100, 0, SYN, b"");
    h.s(500, 101, SYN | ACK, b"");
    h.c(101, 501, ACK, b"");
}

fn gap(dir: Direction, len: u64, cause: GapCause) -> Ev {
    Ev::Gap(dir, len, cause)
}

#[test]
fn retransmission_overlapping_delivered_and_buffered_data() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK | PSH, b"abcd"); // 0..4 delivered
    h.c(109, 501, ACK | PSH, b"ijkl"); // 8..12 buffered
    h.c(103, 501, ACK | PSH, b"cdefghijklmn"); // 2..14: old, new, buffered, new
    assert_eq!(h.chunks(C2S), vec![data(C2S, b"abcdefghijklmn")]);
    let r = h.close();
    let st = r.c2s.stats;
    assert_eq!(st.retransmitted_bytes, 2 + 4);
    assert_eq!((st.overlaps, st.retransmitted_packets), (1, 0));
    assert_eq!(st.out_of_order_segments, 1);
    assert_eq!(st.overlap_conflicts, 0);
    assert!(r.history.contains('T'), "{}", r.history);
}

#[test]
fn conflicting_retransmission_keeps_the_first_copy_and_reports_both_hashes() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK, b"abcd");
    h.c(109, 501, ACK, b"ijkl");
    h.c(103, 501, ACK, b"cXefghiYklmn"); // X differs from delivered d, Y from buffered j
    assert_eq!(
        h.events()[2..],
        [
            data(C2S, b"abcd"),
            Ev::Conflict(C2S, 3, 1),
            data(C2S, b"efgh"),
            Ev::Conflict(C2S, 9, 1),
            data(C2S, b"ijklmn"),
        ]
    );
    let first = h.sink.conflicts[0];
    assert_eq!(first.seq, 104);
    assert_ne!(first.first_hash, first.second_hash);
    let r = h.close();
    assert_eq!(r.c2s.stats.overlap_conflicts, 1, "one segment");
    assert_eq!(r.conflict_events, 2);
    assert_eq!(r.first_conflict, Some(first));
}

#[test]
fn conflict_hashes_fingerprint_each_copy() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK, b"same-d");
    h.c(101, 501, ACK, b"sXmY-d");
    let c = h.sink.conflicts[0];
    // From the first to the last differing byte: "ame" against "XmY".
    assert_eq!((c.offset, c.len), (1, 3));
    let fnv = |bytes: &[u8]| {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    assert_eq!((c.first_hash, c.second_hash), (fnv(b"ame"), fnv(b"XmY")));
    assert_eq!(h.chunks(C2S), vec![data(C2S, b"same-d")]);
}

#[test]
fn fin_before_the_last_data_waits_for_it() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK, b"hello");
    assert_eq!(h.c(111, 501, FIN | ACK, b""), ConnStatus::Open); // FIN at offset 10
    assert!(!h.events().contains(&Ev::End(C2S, CloseReason::Fin)));
    h.c(106, 501, ACK, b"world");
    assert_eq!(
        h.events()[2..],
        [data(C2S, b"helloworld"), Ev::End(C2S, CloseReason::Fin)]
    );
    let r = h.close();
    assert_eq!(r.c2s.end, Some(CloseReason::Fin));
    assert_eq!(r.c2s.stream_length, 10);
}

#[test]
fn fin_before_data_that_never_comes_is_a_gap_then_the_end() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK, b"hello");
    h.c(111, 501, FIN | ACK, b"");
    h.s(501, 112, ACK, b""); // the server got everything, the FIN included
    let r = h.close();
    assert_eq!(
        h.chunks(C2S),
        vec![data(C2S, b"hello"), gap(C2S, 5, AckedNotCaptured)]
    );
    assert_eq!(
        h.events().last(),
        Some(&Ev::End(S2C, CloseReason::EndOfCapture))
    );
    assert_eq!(r.c2s.end, Some(CloseReason::Fin));
    assert!(r.history.contains('G'));
}

#[test]
fn rst_in_the_middle_of_buffered_data_forces_it_out_and_ends_the_direction() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK, b"aaaa"); // 0..4
    h.c(109, 501, ACK, b"cccc"); // 8..12 buffered
    assert_eq!(h.asm.pages_in_use(), 1);
    let status = h.c(107, 501, RST | ACK, b"");
    assert_eq!(status, ConnStatus::Finished(CloseReason::Rst));
    assert_eq!(
        h.events()[2..],
        [
            data(C2S, b"aaaa"),
            gap(C2S, 4, NeverAcked),
            data(C2S, b"cccc"),
            Ev::End(C2S, CloseReason::Rst),
        ]
    );
    assert_eq!(h.asm.pages_in_use(), 0);
    h.c(113, 501, ACK, b"dddd"); // after the end: not stream
    let r = h.close();
    assert_eq!(r.c2s.stats.bytes_after_end, 4);
    assert_eq!(r.c2s.end, Some(CloseReason::Rst));
    assert_eq!(r.s2c.end, Some(CloseReason::EndOfCapture));
    assert_eq!(r.conn_state, ConnState::ClientReset);
}

#[test]
fn rst_refusing_a_syn_closes_both_halves() {
    let mut h = Harness::new();
    h.c(100, 0, SYN, b"");
    let status = h.s(0, 101, RST | ACK, b"");
    assert_eq!(status, ConnStatus::Finished(CloseReason::Rst));
    assert_eq!(
        h.events(),
        [
            Ev::Start(C2S, StreamStart::Handshake),
            Ev::End(C2S, CloseReason::Rst)
        ]
    );
    // Whatever either side sends afterwards is not stream, and the server's direction,
    // ended before it started, never starts.
    h.s(0, 101, ACK, b"late");
    h.c(101, 0, ACK, b"late");
    assert_eq!(h.events().len(), 2);
    let r = h.close();
    assert_eq!(
        (r.c2s.end, r.s2c.end),
        (Some(CloseReason::Rst), Some(CloseReason::Rst))
    );
    assert_eq!(r.s2c.stats.bytes_after_end, 4);
    assert_eq!(r.c2s.stats.bytes_after_end, 4);
    assert_eq!(r.conn_state, ConnState::Rejected);
    assert_eq!(r.history, "SrdD");
}

#[test]
fn syn_retransmitted_with_a_new_isn_follows_the_syn_ack() {
    // Documented rule: a new ISN moves the start while the direction carried nothing;
    // the SYN-ACK's acknowledgement has the last word.
    let mut h = Harness::new();
    h.c(1000, 0, SYN, b"");
    h.c(5000, 0, SYN, b""); // moves the start to 5001
    h.s(700, 1001, SYN | ACK, b""); // the server answered the first: back to 1001
    h.c(1001, 701, ACK, b"hi");
    assert_eq!(h.chunks(C2S), vec![data(C2S, b"hi")]);
    // Once data flowed, a new ISN is counted and ignored.
    h.c(9000, 0, SYN, b"");
    h.c(1003, 701, ACK, b"!");
    let r = h.close();
    assert_eq!(h.chunks(C2S), vec![data(C2S, b"hi!")]);
    assert_eq!(r.c2s.stats.syn_isn_changes, 3);
    assert_eq!(r.c2s.first_seq, Some(1001));
    let starts = h
        .events()
        .iter()
        .filter(|e| matches!(e, Ev::Start(..)))
        .count();
    assert_eq!(starts, 2);
}

#[test]
fn data_without_syn_is_delivered_from_the_first_byte_seen() {
    let mut h = Harness::new();
    h.c(6990, 300, ACK, b""); // a pure ACK first: no stream state
    assert!(h.events().is_empty());
    h.c(7000, 300, ACK, b"abc");
    assert_eq!(
        h.events(),
        [Ev::Start(C2S, StreamStart::Midstream), data(C2S, b"abc")],
        "delivered at once, no flush needed"
    );
    h.c(7006, 300, ACK, b"ghi"); // buffered
    assert_eq!(h.events().len(), 2);
    h.c(7003, 300, ACK, b"def");
    h.c(6997, 300, ACK, b"xyz"); // before the pickup point
    let r = h.close();
    assert_eq!(h.chunks(C2S), vec![data(C2S, b"abcdefghi")]);
    assert_eq!(r.c2s.stats.bytes_before_start, 3);
    assert_eq!(r.c2s.start, Some(StreamStart::Midstream));
    assert_eq!(r.c2s.first_seq, Some(7000));
    assert_eq!(r.conn_state, ConnState::Other);
    assert_eq!(r.history, "AD");
}

#[test]
fn far_sequence_jump_is_dropped_unless_acknowledged() {
    let cfg = AssemblerConfig {
        max_seq_jump: 1 << 20,
        ..AssemblerConfig::default()
    };
    let far = 101 + 3 + (1 << 22);
    let mut h = Harness::with(cfg.clone());
    handshake(&mut h);
    h.c(101, 501, ACK, b"abc");
    h.c(far, 501, ACK, b"zzz");
    h.c(104, 501, ACK, b"def");
    let r = h.close();
    assert_eq!(h.chunks(C2S), vec![data(C2S, b"abcdef")]);
    assert_eq!(r.c2s.stats.out_of_window_segments, 1);
    assert_eq!(r.c2s.stream_length, 6);

    // The server acknowledged the jump: real data, the capture lost what lies between.
    let mut h = Harness::with(cfg);
    handshake(&mut h);
    h.c(101, 501, ACK, b"abc");
    h.s(501, far + 3, ACK, b"");
    h.c(far, 501, ACK, b"zzz");
    h.c(104, 501, ACK, b"def");
    let r = h.close();
    assert_eq!(
        h.chunks(C2S),
        vec![
            data(C2S, b"abcdef"),
            gap(C2S, (1 << 22) - 3, AckedNotCaptured),
            data(C2S, b"zzz")
        ]
    );
    assert_eq!(r.c2s.stats.out_of_window_segments, 0);
}

#[test]
fn zero_length_segments_with_fin() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK, b"abc");
    h.c(104, 501, FIN | ACK, b"");
    h.c(104, 501, FIN | ACK, b""); // retransmitted FIN
    assert_eq!(
        h.s(501, 105, FIN | ACK, b""),
        ConnStatus::Finished(CloseReason::Fin)
    );
    assert_eq!(
        h.events(),
        [
            Ev::Start(C2S, StreamStart::Handshake),
            Ev::Start(S2C, StreamStart::Handshake),
            data(C2S, b"abc"),
            Ev::End(C2S, CloseReason::Fin),
            Ev::End(S2C, CloseReason::Fin),
        ]
    );
    let r = h.close();
    assert_eq!((r.c2s.stream_length, r.s2c.stream_length), (3, 0));
    assert_eq!(r.conn_state, ConnState::NormalClose);
    assert_eq!(r.history, "ShADFf");

    // A zero-length FIN ahead of the data it follows.
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(104, 501, FIN | ACK, b"");
    assert!(!h.events().iter().any(|e| matches!(e, Ev::End(..))));
    h.c(101, 501, ACK, b"abc");
    assert_eq!(
        h.events()[2..],
        [data(C2S, b"abc"), Ev::End(C2S, CloseReason::Fin)]
    );
    h.close();

    // A lone FIN picked up midstream: an empty stream that ends at once.
    let mut h = Harness::new();
    h.c(9000, 1, FIN | ACK, b"");
    assert_eq!(
        h.events(),
        [
            Ev::Start(C2S, StreamStart::Midstream),
            Ev::End(C2S, CloseReason::Fin)
        ]
    );
    assert_eq!(h.close().c2s.stream_length, 0);
}

/// Counts per connection, for runs too big for the recorder.
#[derive(Default)]
struct Tally {
    data: Vec<u64>,
    gaps: Vec<u64>,
    limit_gaps: u64,
}

impl StreamSink for Tally {
    fn on_chunk(&mut self, conn: FlowId, _: Direction, chunk: Chunk<'_>, _: Timestamp) {
        let slot = conn.slot as usize;
        if self.data.len() <= slot {
            self.data.resize(slot + 1, 0);
            self.gaps.resize(slot + 1, 0);
        }
        match chunk {
            Chunk::Data(bytes) => self.data[slot] += bytes.len() as u64,
            Chunk::Gap { len, cause } => {
                self.gaps[slot] += len;
                self.limit_gaps += u64::from(cause == LimitSkipped);
            }
        }
    }
}

#[test]
fn thousands_of_half_open_connections_under_a_small_total_page_cap() {
    let cfg = AssemblerConfig {
        page_size: 100,
        max_pages_per_conn: 4,
        max_pages_total: 8,
        ..AssemblerConfig::default()
    };
    let mut asm = crate::assembly::Assembler::new(cfg);
    let mut sink = Tally::default();
    let payload = [b'x'; 150]; // two pages
    let n = 3000u32;
    for i in 0..n {
        let conn = FlowId {
            slot: i,
            generation: 7,
        };
        let ts = Timestamp(i64::from(i));
        asm.segment(conn, C2S, &seg(10, 0, SYN, b""), ts, &mut sink);
        // A hole of 10 bytes, then data: out of order, never completed.
        asm.segment(conn, C2S, &seg(21, 0, PSH, &payload), ts, &mut sink);
        assert!(asm.pages_in_use() <= 8, "{} pages", asm.pages_in_use());
    }
    assert_eq!(asm.live_connections(), n as usize);
    // The first four connections keep their two pages; every later one is forced out.
    assert_eq!(asm.stats().total_limit_skips, u64::from(n - 4));
    assert_eq!(sink.limit_gaps, u64::from(n - 4));
    for i in 0..n {
        let conn = FlowId {
            slot: i,
            generation: 7,
        };
        let r = asm
            .close(
                conn,
                CloseReason::EndOfCapture,
                Timestamp(1 << 40),
                &mut sink,
            )
            .expect("live");
        assert_eq!(r.c2s.stream_length, 160);
        assert_eq!(
            r.c2s.stats.delivered_bytes + r.c2s.stats.gaps.total_bytes(),
            160
        );
        assert_eq!(sink.data[i as usize] + sink.gaps[i as usize], 160);
        assert_eq!(r.conn_state, ConnState::AttemptNoReply);
    }
    assert_eq!(asm.pages_in_use(), 0);
    assert_eq!(asm.live_connections(), 0);
    assert!(asm.stats().pages_allocated <= 8 + 2);
}

#[test]
fn page_limit_hit_while_the_start_is_unknown() {
    // Midstream, the stream starts at the first byte seen, so a forced skip always has a
    // length: never gopacket's -1.
    let cfg = AssemblerConfig {
        page_size: 4,
        max_pages_per_conn: 2,
        ..AssemblerConfig::default()
    };
    let mut h = Harness::with(cfg);
    h.c(5000, 1, ACK, b"aaaa");
    h.c(5008, 1, ACK, b"cccc");
    h.c(5016, 1, ACK, b"eeee");
    assert_eq!(h.asm.pages_in_use(), 2);
    h.c(5024, 1, ACK, b"gggg"); // a third page: over the limit
    assert_eq!(
        h.events(),
        [
            Ev::Start(C2S, StreamStart::Midstream),
            data(C2S, b"aaaa"),
            gap(C2S, 4, LimitSkipped),
            data(C2S, b"cccc"),
        ]
    );
    assert_eq!(h.asm.stats().per_conn_limit_skips, 1);
    let r = h.close();
    assert_eq!(
        h.chunks(C2S)[3..],
        [
            gap(C2S, 4, NeverAcked),
            data(C2S, b"eeee"),
            gap(C2S, 4, NeverAcked),
            data(C2S, b"gggg"),
        ]
    );
    assert_eq!(r.c2s.stats.gaps.limit_skipped.bytes, 4);
    assert_eq!(r.c2s.stats.gaps.never_acked.count, 2);
}

#[test]
fn very_hole_data_reads_as_suricata_does() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK, b"VERY");
    h.c(109, 501, ACK, b"DATA");
    h.close();
    assert_eq!(
        h.chunks(C2S),
        vec![
            data(C2S, b"VERY"),
            gap(C2S, 4, NeverAcked),
            data(C2S, b"DATA")
        ]
    );
}

#[test]
fn sequence_numbers_wrap_at_2_pow_32() {
    let mut h = Harness::new();
    let isn = u32::MAX - 2;
    h.c(isn, 0, SYN, b"");
    h.c(u32::MAX - 1, 0, ACK, b"ab"); // MAX-1, MAX
    h.c(4, 0, ACK, b"gh");
    h.c(0, 0, ACK, b"cd");
    h.c(2, 0, ACK, b"ef");
    let r = h.close();
    assert_eq!(h.chunks(C2S), vec![data(C2S, b"abcdefgh")]);
    assert_eq!(r.c2s.first_seq, Some(u32::MAX - 1));
}

#[test]
fn snaplen_cut_bytes_are_their_own_gaps() {
    let mut h = Harness::new();
    handshake(&mut h);
    let mut cut = seg(101, 501, ACK, b"abc");
    cut.missing = 5; // 8 bytes on the wire
    h.send(C2S, &cut);
    let mut later = seg(114, 501, ACK, b"xy");
    later.missing = 3; // 13..18, buffered
    h.send(C2S, &later);
    h.c(109, 501, ACK, b"12345"); // 8..13
    let r = h.close();
    assert_eq!(
        h.chunks(C2S),
        vec![
            data(C2S, b"abc"),
            gap(C2S, 5, SnaplenTruncated),
            data(C2S, b"12345xy"),
            gap(C2S, 3, SnaplenTruncated),
        ]
    );
    assert_eq!(r.c2s.stats.gaps.snaplen_truncated.count, 2);
    assert_eq!(r.c2s.stream_length, 18);
}

/// One hole is one gap (issue 17: it was reported as two adjacent gaps, 4 bytes
/// `acked_not_captured` then 4 `never_acked`): the bytes after the acknowledged part lie
/// before captured bytes, so they were sent and lost by the capture too.
#[test]
fn a_partly_acknowledged_hole_is_one_gap_of_capture_loss() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK, b"aaaa"); // 0..4
    h.s(501, 109, ACK, b""); // acknowledges up to 8 before 4..8 is captured
    h.c(105, 501, ACK, b"bbbb"); // still delivered: an early ACK rejects nothing
    h.c(117, 501, ACK, b"dddd"); // 16..20
    h.s(501, 113, ACK, b""); // acknowledges up to 12
    let r = h.close();
    assert_eq!(
        h.chunks(C2S),
        vec![
            data(C2S, b"aaaabbbb"),
            gap(C2S, 8, AckedNotCaptured),
            data(C2S, b"dddd"),
        ]
    );
    assert_eq!(r.missed_bytes, 8);
    assert_eq!(r.c2s.stats.gaps.acked_not_captured.count, 1);
    assert_eq!(r.c2s.stats.gaps.never_acked.count, 0);
}

#[test]
fn buffered_data_older_than_flush_after_is_forced_out() {
    let cfg = AssemblerConfig {
        flush_after: Some(1_000),
        ..AssemblerConfig::default()
    };
    let mut h = Harness::with(cfg);
    handshake(&mut h);
    h.c(101, 501, ACK, b"aaaa");
    h.c(109, 501, ACK, b"cccc");
    h.now = h.now.saturating_add_nanos(500);
    h.s(501, 105, ACK, b"");
    assert_eq!(
        h.chunks(C2S),
        vec![data(C2S, b"aaaa")],
        "not old enough yet"
    );
    h.now = h.now.saturating_add_nanos(1_000);
    h.s(501, 105, ACK, b"");
    assert_eq!(
        h.chunks(C2S),
        vec![
            data(C2S, b"aaaa"),
            gap(C2S, 4, LimitSkipped),
            data(C2S, b"cccc")
        ]
    );
    assert_eq!(h.asm.stats().flush_skips, 1);
    h.close();
}

#[test]
fn periodic_flush_reaches_connections_that_went_quiet() {
    let cfg = AssemblerConfig {
        flush_after: Some(1_000_000_000),
        ..AssemblerConfig::default()
    };
    let mut asm = crate::assembly::Assembler::new(cfg);
    let mut sink = Recorder::default();
    let quiet = FlowId {
        slot: 0,
        generation: 0,
    };
    let busy = FlowId {
        slot: 1,
        generation: 0,
    };
    asm.segment(quiet, C2S, &seg(100, 0, SYN, b""), Timestamp(0), &mut sink);
    asm.segment(
        quiet,
        C2S,
        &seg(105, 0, ACK, b"late"),
        Timestamp(1),
        &mut sink,
    );
    for t in 1..40 {
        let ts = Timestamp(t * 100_000_000);
        asm.segment(busy, C2S, &seg(7, 0, ACK, b""), ts, &mut sink);
    }
    assert_eq!(
        sink.of(quiet)[1..],
        [gap(C2S, 4, LimitSkipped), data(C2S, b"late")]
    );
    assert_eq!(asm.pages_in_use(), 0);
}

#[test]
fn handshake_timing_history_and_state_of_a_whole_connection() {
    let mut h = Harness::new();
    let t0 = h.now;
    let at = |ms: i64| t0.saturating_add_nanos(ms * 1_000_000);
    h.now = at(0);
    h.send_now(C2S, &seg(100, 0, SYN, b""));
    h.now = at(30);
    h.send_now(S2C, &seg(500, 101, SYN | ACK, b""));
    h.now = at(31);
    h.send_now(C2S, &seg(101, 501, ACK, b""));
    h.now = at(32);
    h.send_now(C2S, &seg(101, 501, ACK | PSH, b"GET /"));
    h.now = at(60);
    h.send_now(S2C, &seg(501, 106, ACK | PSH, b"200 OK"));
    h.now = at(61);
    h.send_now(C2S, &seg(106, 507, FIN | ACK, b""));
    h.now = at(62);
    h.send_now(S2C, &seg(507, 107, FIN | ACK, b""));
    let r = h.close();
    let hs = r.handshake;
    assert_eq!(hs.server_rtt_ns, Some(30_000_000));
    assert_eq!(hs.client_rtt_ns, Some(1_000_000));
    assert_eq!(hs.total_rtt_ns, Some(31_000_000));
    assert_eq!(r.c2s.first_payload_ts, Some(at(32)));
    assert_eq!(r.s2c.last_payload_ts, Some(at(60)));
    assert_eq!(r.history, "ShADdFf");
    assert_eq!(r.conn_state, ConnState::NormalClose);
    assert_eq!(r.missed_bytes, 0);
    let json = serde_json::to_value(&r).expect("serialisable");
    assert_eq!(json["conn_state"], "SF");
    assert_eq!(json["close_reason"], "end_of_capture");
    assert_eq!(json["c2s"]["start"], "handshake");
    assert_eq!(json["c2s"]["stats"]["gaps"]["never_acked"]["bytes"], 0);
}

#[test]
fn zero_windows_are_counted() {
    let mut h = Harness::new();
    handshake(&mut h);
    let mut zero = seg(501, 101, ACK, b"");
    zero.window = 0;
    h.send(S2C, &zero);
    h.send(S2C, &zero);
    let r = h.close();
    assert_eq!(r.s2c.stats.zero_windows, 2);
    assert_eq!(r.history, "ShAaw");
}

#[test]
fn a_reused_slot_closes_the_stale_connection_first() {
    let mut h = Harness::new();
    handshake(&mut h);
    h.c(101, 501, ACK, b"old");
    h.c(108, 501, ACK, b"tail"); // buffered behind a hole
    let next = FlowId {
        slot: CONN.slot,
        generation: CONN.generation + 1,
    };
    h.asm
        .segment(next, C2S, &seg(7, 0, SYN, b""), h.now, &mut h.sink);
    assert_eq!(
        h.events()[2..],
        [
            data(C2S, b"old"),
            gap(C2S, 4, NeverAcked),
            data(C2S, b"tail"),
            Ev::End(C2S, CloseReason::Evicted),
            Ev::End(S2C, CloseReason::Evicted),
        ]
    );
    assert_eq!(h.asm.stats().stale_slots_reset, 1);
    assert_eq!(h.asm.live_connections(), 1);
    assert!(
        h.asm
            .close(CONN, CloseReason::Evicted, h.now, &mut h.sink)
            .is_none()
    );
    assert!(
        h.asm
            .close(next, CloseReason::Evicted, h.now, &mut h.sink)
            .is_some()
    );
}

#[test]
fn segments_larger_than_the_mss_and_a_page_are_taken_whole() {
    let cfg = AssemblerConfig {
        page_size: 1900,
        ..AssemblerConfig::default()
    };
    let mut h = Harness::with(cfg);
    let mut syn = seg(100, 0, SYN, b"");
    syn.mss = Some(536);
    h.send(C2S, &syn);
    let big: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    h.c(101 + 100, 0, ACK, &big); // GRO-sized, out of order: three pages
    assert_eq!(h.asm.pages_in_use(), 3);
    h.c(
        101,
        0,
        ACK,
        &big[..100].iter().map(|b| b ^ 0xff).collect::<Vec<_>>(),
    );
    let mut want: Vec<u8> = big[..100].iter().map(|b| b ^ 0xff).collect();
    want.extend_from_slice(&big);
    let r = h.close();
    assert_eq!(h.chunks(C2S), vec![data(C2S, &want)]);
    assert_eq!(r.c2s.stats.delivered_bytes, 4100);
    assert_eq!(h.asm.pages_in_use(), 0);
}

#[test]
fn a_pure_ack_creates_no_buffering_state() {
    let mut h = Harness::new();
    h.c(100, 5, ACK, b"");
    h.s(5, 100, ACK, b"");
    assert!(h.events().is_empty());
    assert_eq!(h.asm.pages_in_use(), 0);
    let r = h.close();
    assert_eq!((r.c2s.start, r.c2s.stats.packets), (None, 1));
    assert_eq!(r.history, "Aa");
}

#[test]
fn in_order_data_is_the_packet_itself() {
    struct PointerCheck {
        expected: *const u8,
        seen: bool,
    }
    impl StreamSink for PointerCheck {
        fn on_chunk(&mut self, _: FlowId, _: Direction, chunk: Chunk<'_>, _: Timestamp) {
            if let Chunk::Data(bytes) = chunk {
                assert_eq!(bytes.as_ptr(), self.expected, "copied");
                self.seen = true;
            }
        }
    }
    let payload = b"zero copy".to_vec();
    let mut sink = PointerCheck {
        expected: payload.as_ptr(),
        seen: false,
    };
    let mut asm = crate::assembly::Assembler::new(AssemblerConfig::default());
    asm.segment(
        CONN,
        C2S,
        &seg(1, 0, ACK, &payload),
        Timestamp(1),
        &mut sink,
    );
    assert!(sink.seen);
}

#[test]
fn data_on_the_syn_is_offset_zero() {
    // TCP Fast Open: the SYN carries the first bytes.
    let mut h = Harness::new();
    h.c(100, 0, SYN, b"GET");
    h.s(500, 104, SYN | ACK, b"");
    h.c(104, 501, ACK, b" /");
    h.c(100, 0, SYN, b"GET"); // the SYN again: a retransmission, nothing new
    let r = h.close();
    // (The server's start lies between the two pieces.)
    assert_eq!(h.chunks(C2S), vec![data(C2S, b"GET"), data(C2S, b" /")]);
    assert_eq!(r.c2s.stats.retransmitted_packets, 1);
    assert_eq!(r.c2s.first_seq, Some(101));
}
