//! Relayed bytes: what the correlator needs to recognise the same bytes on two
//! connections (counts, first-byte times, a hash of the first bytes), and a short ordered
//! log of the first bytes for handing them to an application analyzer later.
//!
//! [`RelayTap`] is a [`StreamAnalyzer`]: a tunnel session feeds it the bytes after the
//! tunnel's first frame, and the pipeline can attach one to every candidate visitor
//! connection (connections to an exposed port) so both sides are measured the same way.
//!
//! Bounds: the fingerprint hashes at most [`PREFIX_LEN`] bytes per direction (constant
//! state); the replay log keeps at most `log_bytes` bytes in at most
//! [`MAX_LOG_SEGMENTS`] segments in total (both set at construction), then stops logging
//! and only counts.

use crate::analyzers::StreamAnalyzer;
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use serde::Serialize;

/// Bytes per direction the fingerprint hashes.
pub const PREFIX_LEN: usize = 256;
/// Most segments the replay log keeps.
pub const MAX_LOG_SEGMENTS: usize = 64;
/// Default replay log size in bytes.
pub const DEFAULT_LOG_BYTES: usize = 4096;

pub use crate::util::fnv1a64;
use crate::util::{FNV1A64_OFFSET as FNV_OFFSET, fnv1a64_update as fnv_update};

/// Incremental FNV-1a 64 over the first [`PREFIX_LEN`] bytes of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixHasher {
    len: usize,
    hash: u64,
    /// A gap fell inside the prefix: the hash does not stand for the stream's bytes.
    broken: bool,
}

impl Default for PrefixHasher {
    fn default() -> Self {
        PrefixHasher {
            len: 0,
            hash: FNV_OFFSET,
            broken: false,
        }
    }
}

impl PrefixHasher {
    pub fn update(&mut self, data: &[u8]) {
        let room = PREFIX_LEN.saturating_sub(self.len);
        let take = data.get(..room.min(data.len())).unwrap_or_default();
        self.hash = fnv_update(self.hash, take);
        self.len += take.len();
    }

    pub fn gap(&mut self) {
        if self.len < PREFIX_LEN {
            self.broken = true;
            self.len = PREFIX_LEN; // nothing more is hashed
        }
    }

    pub fn fingerprint(&self) -> Option<Fingerprint> {
        (!self.broken && self.len > 0).then_some(Fingerprint {
            len: self.len as u32,
            hash: self.hash,
        })
    }
}

/// Hash of a stream's first `len` bytes (`len` = min(stream length, [`PREFIX_LEN`])).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Fingerprint {
    pub len: u32,
    pub hash: u64,
}

/// What one direction of relayed bytes looked like: the correlator's input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct RelayFacts {
    /// Stream bytes, delivered or lost in gaps.
    pub bytes: u64,
    /// Of which lost in gaps.
    pub gap_bytes: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// `None` when no byte was seen or a gap fell inside the prefix.
    pub prefix: Option<Fingerprint>,
}

#[derive(Clone, Copy, Debug, Default)]
struct DirTap {
    bytes: u64,
    gap_bytes: u64,
    first_ts: Option<Timestamp>,
    last_ts: Option<Timestamp>,
    hasher: PrefixHasher,
    ended: Option<Timestamp>,
}

/// One logged segment of relayed bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    Data {
        dir: Direction,
        ts: Timestamp,
        bytes: Vec<u8>,
    },
    Gap {
        dir: Direction,
        ts: Timestamp,
        len: u64,
    },
}

/// Counts, times and fingerprints of relayed bytes both ways, plus the ordered log of the
/// first bytes (see the module docs for bounds).
#[derive(Clone)]
pub struct RelayTap {
    dirs: [DirTap; 2],
    log: Vec<LogEntry>,
    log_bytes: usize,
    log_limit: usize,
    /// Bytes relayed but not logged because the log was full.
    unlogged: [u64; 2],
}

impl std::fmt::Debug for RelayTap {
    /// Counts only: relayed bytes may be anybody's secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayTap")
            .field("c2s", &self.facts(Direction::ClientToServer))
            .field("s2c", &self.facts(Direction::ServerToClient))
            .field("logged_bytes", &self.log_bytes)
            .finish()
    }
}

impl Default for RelayTap {
    fn default() -> Self {
        RelayTap::new(DEFAULT_LOG_BYTES)
    }
}

impl RelayTap {
    /// A tap that logs at most `log_bytes` bytes (0: counts and fingerprints only).
    pub fn new(log_bytes: usize) -> Self {
        RelayTap {
            dirs: [DirTap::default(); 2],
            log: Vec::new(),
            log_bytes: 0,
            log_limit: log_bytes,
            unlogged: [0; 2],
        }
    }

    pub fn facts(&self, dir: Direction) -> RelayFacts {
        let d = &self.dirs[dir.index()];
        RelayFacts {
            bytes: d.bytes,
            gap_bytes: d.gap_bytes,
            first_ts: d.first_ts,
            last_ts: d.last_ts,
            prefix: d.hasher.fingerprint(),
        }
    }

    /// When `dir` ended (`on_end`), if it did.
    pub fn ended(&self, dir: Direction) -> Option<Timestamp> {
        self.dirs[dir.index()].ended
    }

    /// The logged first bytes, in arrival order across both directions.
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    /// The logged bytes of one direction, concatenated up to its first gap or the end of
    /// the log (for content detection of the relayed protocol).
    pub fn prefix(&self, dir: Direction) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.log {
            match e {
                LogEntry::Data { dir: d, bytes, .. } if *d == dir => out.extend_from_slice(bytes),
                LogEntry::Gap { dir: d, .. } if *d == dir => break,
                _ => {}
            }
        }
        out
    }

    /// Whether every relayed byte so far is in the log.
    pub fn log_complete(&self) -> bool {
        self.unlogged == [0, 0]
    }

    /// Replays the log into `sink`, then reports what was relayed but not logged as a gap
    /// per direction (so the sink sees the right stream offsets).
    pub fn replay<A: StreamAnalyzer + ?Sized>(&self, sink: &mut A) {
        let mut last = Timestamp::ZERO;
        for e in &self.log {
            match e {
                LogEntry::Data { dir, ts, bytes } => {
                    sink.on_data(*dir, bytes, *ts);
                    last = *ts;
                }
                LogEntry::Gap { dir, ts, len } => {
                    sink.on_gap(*dir, *len, *ts);
                    last = *ts;
                }
            }
        }
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let n = self.unlogged[dir.index()];
            if n > 0 {
                let ts = self.dirs[dir.index()].last_ts.unwrap_or(last);
                sink.on_gap(dir, n, ts);
            }
        }
    }

    fn log_room(&self) -> bool {
        self.log.len() < MAX_LOG_SEGMENTS && self.log_bytes < self.log_limit
    }
}

impl StreamAnalyzer for RelayTap {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        let d = &mut self.dirs[dir.index()];
        d.bytes = d.bytes.saturating_add(data.len() as u64);
        d.first_ts.get_or_insert(ts);
        d.last_ts = Some(ts);
        d.hasher.update(data);
        if self.unlogged[dir.index()] == 0 && self.log_room() {
            let take = (self.log_limit - self.log_bytes).min(data.len());
            let kept = data.get(..take).unwrap_or_default();
            self.log.push(LogEntry::Data {
                dir,
                ts,
                bytes: kept.to_vec(),
            });
            self.log_bytes += take;
            self.unlogged[dir.index()] =
                self.unlogged[dir.index()].saturating_add((data.len() - take) as u64);
        } else {
            self.unlogged[dir.index()] =
                self.unlogged[dir.index()].saturating_add(data.len() as u64);
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        let d = &mut self.dirs[dir.index()];
        d.bytes = d.bytes.saturating_add(len);
        d.gap_bytes = d.gap_bytes.saturating_add(len);
        d.hasher.gap();
        if self.unlogged[dir.index()] == 0 && self.log.len() < MAX_LOG_SEGMENTS {
            self.log.push(LogEntry::Gap { dir, ts, len });
        } else {
            self.unlogged[dir.index()] = self.unlogged[dir.index()].saturating_add(len);
        }
    }

    fn on_end(&mut self, dir: Direction, ts: Timestamp) {
        self.dirs[dir.index()].ended.get_or_insert(ts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const C2S: Direction = Direction::ClientToServer;
    const S2C: Direction = Direction::ServerToClient;

    #[test]
    fn fnv_reference_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fingerprint_is_split_independent_and_capped() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut a = PrefixHasher::default();
        a.update(&data);
        let mut b = PrefixHasher::default();
        for c in data.chunks(3) {
            b.update(c);
        }
        assert_eq!(a.fingerprint(), b.fingerprint());
        let fp = a.fingerprint().expect("bytes seen");
        assert_eq!(fp.len as usize, PREFIX_LEN);
        assert_eq!(fp.hash, fnv1a64(&data[..PREFIX_LEN]));
        let mut g = PrefixHasher::default();
        g.update(&data[..10]);
        g.gap();
        assert_eq!(g.fingerprint(), None);
        assert_eq!(PrefixHasher::default().fingerprint(), None);
    }

    #[derive(Default)]
    struct Rec(Vec<(Direction, Option<Vec<u8>>, u64)>);
    impl StreamAnalyzer for Rec {
        fn on_data(&mut self, dir: Direction, data: &[u8], _ts: Timestamp) {
            self.0.push((dir, Some(data.to_vec()), data.len() as u64));
        }
        fn on_gap(&mut self, dir: Direction, len: u64, _ts: Timestamp) {
            self.0.push((dir, None, len));
        }
    }

    #[test]
    fn tap_counts_logs_and_replays_with_a_gap_for_the_unlogged_rest() {
        let mut t = RelayTap::new(8);
        t.on_data(S2C, b"GET /", Timestamp(10));
        t.on_data(C2S, b"HTTP/1.1 200", Timestamp(20));
        t.on_data(S2C, b"x", Timestamp(30));
        let f = t.facts(C2S);
        assert_eq!(
            (f.bytes, f.first_ts, f.gap_bytes),
            (12, Some(Timestamp(20)), 0)
        );
        assert_eq!(t.facts(S2C).bytes, 6);
        assert!(!t.log_complete());
        assert_eq!(t.prefix(S2C), b"GET /");
        let mut r = Rec::default();
        t.replay(&mut r);
        assert_eq!(
            r.0,
            vec![
                (S2C, Some(b"GET /".to_vec()), 5),
                (C2S, Some(b"HTT".to_vec()), 3),
                (C2S, None, 9),
                (S2C, None, 1),
            ]
        );
        assert!(!format!("{t:?}").contains("GET"));
    }
}
