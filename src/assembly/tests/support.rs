//! Test helpers: a sink that records what it is told, segment builders, and the
//! accounting invariants every test checks.

use super::super::{
    Assembler, AssemblerConfig, Chunk, CloseReason, ConnStatus, GapCause, OverlapConflict,
    StreamSink, StreamStart, TcpConnRecord,
};
use crate::Timestamp;
use crate::capture::{Store, StoredAt};
use crate::decode::{TcpFlags, TcpSegment};
use crate::flow::{Direction, FlowId};
use std::sync::Arc;

pub(super) const C2S: Direction = Direction::ClientToServer;
pub(super) const S2C: Direction = Direction::ServerToClient;
pub(super) const SYN: u8 = TcpFlags::SYN;
pub(super) const ACK: u8 = TcpFlags::ACK;
pub(super) const FIN: u8 = TcpFlags::FIN;
pub(super) const RST: u8 = TcpFlags::RST;
pub(super) const PSH: u8 = TcpFlags::PSH;

/// What the sink was told, with adjacent data of one direction merged (chunk boundaries
/// are not part of the contract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ev {
    Start(Direction, StreamStart),
    Data(Direction, Vec<u8>),
    Gap(Direction, u64, GapCause),
    Conflict(Direction, u64, u64),
    End(Direction, CloseReason),
}

pub(super) fn data(dir: Direction, bytes: &[u8]) -> Ev {
    Ev::Data(dir, bytes.to_vec())
}

#[derive(Default)]
pub(super) struct Recorder {
    pub events: Vec<(FlowId, Ev)>,
    pub conflicts: Vec<OverlapConflict>,
}

impl Recorder {
    /// Events of one connection.
    pub(super) fn of(&self, conn: FlowId) -> Vec<Ev> {
        self.events
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Stream of one direction as (offset, chunk) runs: data bytes, `None` for gaps.
    pub(super) fn stream(&self, conn: FlowId, dir: Direction) -> Vec<Option<u8>> {
        let mut out = Vec::new();
        for (c, e) in &self.events {
            if *c != conn {
                continue;
            }
            match e {
                Ev::Data(d, bytes) if *d == dir => out.extend(bytes.iter().map(|&b| Some(b))),
                Ev::Gap(d, len, _) if *d == dir => {
                    out.extend(std::iter::repeat_n(None, *len as usize))
                }
                _ => {}
            }
        }
        out
    }
}

impl StreamSink for Recorder {
    fn on_direction_start(
        &mut self,
        conn: FlowId,
        dir: Direction,
        start: StreamStart,
        _: Timestamp,
    ) {
        self.events.push((conn, Ev::Start(dir, start)));
    }

    fn on_chunk(&mut self, conn: FlowId, dir: Direction, chunk: Chunk<'_>, _: Timestamp) {
        assert!(!chunk.is_empty(), "empty chunk {chunk:?}");
        let ended = self
            .events
            .iter()
            .any(|(c, e)| *c == conn && matches!(e, Ev::End(d, _) if *d == dir));
        assert!(!ended, "chunk after the end of {dir:?}: {chunk:?}");
        match chunk {
            Chunk::Data(bytes) => {
                if let Some((c, Ev::Data(d, prev))) = self.events.last_mut()
                    && *c == conn
                    && *d == dir
                {
                    prev.extend_from_slice(bytes);
                } else {
                    self.events.push((conn, Ev::Data(dir, bytes.to_vec())));
                }
            }
            Chunk::Gap { len, cause } => self.events.push((conn, Ev::Gap(dir, len, cause))),
        }
    }

    fn on_conflict(&mut self, conn: FlowId, dir: Direction, conflict: &OverlapConflict) {
        self.conflicts.push(*conflict);
        self.events
            .push((conn, Ev::Conflict(dir, conflict.offset, conflict.len)));
    }

    fn on_direction_end(
        &mut self,
        conn: FlowId,
        dir: Direction,
        reason: CloseReason,
        _: Timestamp,
    ) {
        self.events.push((conn, Ev::End(dir, reason)));
    }
}

pub(super) fn seg(seq: u32, ack: u32, flags: u8, payload: &[u8]) -> TcpSegment<'_> {
    TcpSegment {
        seq,
        ack,
        flags: TcpFlags(flags),
        window: 65535,
        mss: None,
        payload,
        missing: 0,
        payload_at: None,
    }
}

/// How the harness hands payloads to the assembler: as bytes the history must copy into
/// its ring (a stream input), as bytes with their position in a store (a mapped capture:
/// each packet its own store, its payload between other bytes), or alternately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Recall {
    Ring,
    Stored,
    Mixed,
}

/// One call the harness made, to replay it in another [`Recall`] mode.
#[derive(Clone, Debug)]
enum Step {
    Segment {
        dir: Direction,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        missing: u32,
        payload: Vec<u8>,
        ts: Timestamp,
    },
    Close(Timestamp),
}

pub(super) const CONN: FlowId = FlowId {
    slot: 0,
    generation: 0,
};

/// One connection driven packet by packet, one nanosecond apart (unless told otherwise).
///
/// Every close replays what the harness did so far with payloads in stores
/// ([`Recall::Stored`], [`Recall::Mixed`]) and checks that the sink heard exactly the same
/// (data, gaps, conflicts with their ranges and hashes) and the records are the same: the
/// history's stored pieces must behave like its ring.
pub(super) struct Harness {
    pub asm: Assembler,
    pub sink: Recorder,
    pub now: Timestamp,
    recall: Recall,
    steps: Vec<Step>,
    /// What each close returned.
    records: Vec<TcpConnRecord>,
}

impl Harness {
    pub(super) fn new() -> Self {
        Self::with(AssemblerConfig::default())
    }

    pub(super) fn with(cfg: AssemblerConfig) -> Self {
        Self::with_recall(cfg, Recall::Ring)
    }

    pub(super) fn with_recall(cfg: AssemblerConfig, recall: Recall) -> Self {
        Harness {
            asm: Assembler::new(cfg),
            sink: Recorder::default(),
            now: Timestamp(1_000_000_000),
            recall,
            steps: Vec::new(),
            records: Vec::new(),
        }
    }

    pub(super) fn send(&mut self, dir: Direction, seg: &TcpSegment<'_>) -> ConnStatus {
        self.now = self.now.saturating_add_nanos(1);
        self.send_now(dir, seg)
    }

    /// Sends at `now`, without moving the clock.
    pub(super) fn send_now(&mut self, dir: Direction, seg: &TcpSegment<'_>) -> ConnStatus {
        self.steps.push(Step::Segment {
            dir,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            missing: seg.missing,
            payload: seg.payload.to_vec(),
            ts: self.now,
        });
        let stored = match self.recall {
            Recall::Ring => false,
            Recall::Stored => true,
            Recall::Mixed => self.steps.len().is_multiple_of(2),
        };
        if !stored {
            return self.asm.segment(CONN, dir, seg, self.now, &mut self.sink);
        }
        let mut file = vec![0xa5; 7];
        file.extend_from_slice(seg.payload);
        file.extend_from_slice(&[0x5a; 3]);
        let store: Store = Arc::new(file);
        let payload = store
            .recall(7, seg.payload.len())
            .expect("the payload is in its store");
        let stored = TcpSegment {
            payload,
            payload_at: Some(StoredAt {
                store: &store,
                offset: 7,
            }),
            ..*seg
        };
        self.asm
            .segment(CONN, dir, &stored, self.now, &mut self.sink)
    }

    pub(super) fn c(&mut self, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> ConnStatus {
        self.send(C2S, &seg(seq, ack, flags, payload))
    }

    pub(super) fn s(&mut self, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> ConnStatus {
        self.send(S2C, &seg(seq, ack, flags, payload))
    }

    pub(super) fn close(&mut self) -> TcpConnRecord {
        self.now = self.now.saturating_add_nanos(1);
        self.steps.push(Step::Close(self.now));
        let record = self
            .asm
            .close(CONN, CloseReason::EndOfCapture, self.now, &mut self.sink)
            .expect("the connection is live");
        check_accounting(&record, &self.sink, CONN);
        self.records.push(record.clone());
        if self.recall == Recall::Ring {
            for recall in [Recall::Stored, Recall::Mixed] {
                let again = self.replay(recall);
                assert_eq!(again.sink.events, self.sink.events, "{recall:?}");
                assert_eq!(again.sink.conflicts, self.sink.conflicts, "{recall:?}");
                assert_eq!(again.records, self.records, "{recall:?}");
                assert_eq!(again.asm.stats(), self.asm.stats(), "{recall:?}");
            }
        }
        record
    }

    /// Does again, on a fresh assembler of the same configuration, what this harness did,
    /// handing payloads over as `recall` says; every close must give the same record.
    fn replay(&self, recall: Recall) -> Harness {
        let mut h = Harness::with_recall(self.asm.config().clone(), recall);
        let mut records = Vec::new();
        for step in &self.steps {
            match step {
                Step::Segment {
                    dir,
                    seq,
                    ack,
                    flags,
                    window,
                    missing,
                    payload,
                    ts,
                } => {
                    h.now = *ts;
                    let segment = TcpSegment {
                        window: *window,
                        missing: *missing,
                        ..seg(*seq, *ack, flags.0, payload)
                    };
                    h.send_now(*dir, &segment);
                }
                Step::Close(ts) => {
                    h.now = *ts;
                    let record = h
                        .asm
                        .close(CONN, CloseReason::EndOfCapture, *ts, &mut h.sink)
                        .expect("the connection is live in the replay too");
                    records.push(record);
                }
            }
        }
        h.records = records;
        h
    }

    pub(super) fn events(&self) -> Vec<Ev> {
        self.sink.of(CONN)
    }

    /// Events of one direction, without Start/End.
    pub(super) fn chunks(&self, dir: Direction) -> Vec<Ev> {
        self.events()
            .into_iter()
            .filter(|e| match e {
                Ev::Data(d, _) | Ev::Gap(d, _, _) => *d == dir,
                _ => false,
            })
            .collect()
    }
}

/// The accounting every closed connection must satisfy, checked against both the record
/// and what the sink received.
pub(super) fn check_accounting(record: &TcpConnRecord, sink: &Recorder, conn: FlowId) {
    for dir in [C2S, S2C] {
        let r = record.direction(dir);
        assert_eq!(
            r.stats.delivered_bytes + r.stats.gaps.total_bytes(),
            r.stream_length,
            "{dir:?}: delivered + gaps != stream length in {r:?}"
        );
        let (mut told_len, mut told_data) = (0u64, 0u64);
        for event in sink.of(conn) {
            match event {
                Ev::Data(d, bytes) if d == dir => {
                    told_len += bytes.len() as u64;
                    told_data += bytes.len() as u64;
                }
                Ev::Gap(d, len, _) if d == dir => told_len += len,
                _ => {}
            }
        }
        assert_eq!(
            told_len, r.stream_length,
            "{dir:?}: the sink saw another length"
        );
        assert_eq!(told_data, r.stats.delivered_bytes, "{dir:?}");
        let events = sink.of(conn);
        let starts = events
            .iter()
            .filter(|e| matches!(e, Ev::Start(d, _) if *d == dir))
            .count();
        let ends = events
            .iter()
            .filter(|e| matches!(e, Ev::End(d, _) if *d == dir))
            .count();
        assert_eq!(starts, usize::from(r.start.is_some()), "{dir:?} starts");
        assert_eq!(ends, starts, "{dir:?} ends");
    }
    assert_eq!(
        record.missed_bytes,
        record.c2s.stats.gaps.total_bytes() + record.s2c.stats.gaps.total_bytes()
    );
}

/// Proptest settings for this module: `cases` cases, and failures saved next to the tests
/// (`src/assembly/tests/<name>.proptest-regressions`) so they replay on every run.
pub(super) fn proptest_config(cases: u32, name: &str) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence};
    let path: &'static str = match name {
        "model" => "src/assembly/tests/model.proptest-regressions",
        _ => "src/assembly/tests/props.proptest-regressions",
    };
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        ..Config::default()
    }
}
