//! Throughput: how many bytes went which way, and when.
//!
//! The pipeline feeds [`ThroughputAccumulator::on_packet`] once per TCP/UDP packet (O(1):
//! a short linear search among at most [`MAX_SERIES`] series, one counter per live flow),
//! [`ThroughputAccumulator::on_flow_end`] once per ended flow (which hands back the flow's
//! peak rates), and [`ThroughputAccumulator::on_record`] once per connection record, which
//! makes the connection's [`ConnThroughput`] row there and then and counts it for the top
//! talkers. [`ThroughputAccumulator::finish`] makes the report.
//!
//! # Contracts
//!
//! - Bytes are transport payload bytes (TCP segment or UDP datagram payload, retransmissions
//!   included), the same measure as a connection's `payload_bytes_*`.
//! - Time is the packets' time. Bins are counted from the first TCP or UDP packet; a
//!   packet stamped before it counts in bin 0.
//! - Memory is bounded: at most [`MAX_BINS`] bins per series (when a capture is longer, the
//!   bin width doubles and neighbouring bins merge, so the width is always the requested
//!   one times a power of two), at most [`MAX_SERIES`] series, one small counter per live
//!   flow; the per-connection rows go to a [`RecordSpool`] (a temporary file beyond a
//!   small budget), and so do the per-host tallies of the top talkers beyond
//!   [`TALKER_HOSTS_IN_MEMORY`] hosts (sorted runs, merged at the end: see `Talkers`).
//! - A series' protocol is what its connection was known to carry when the packet was
//!   processed: the outermost tunnel layer (`tunnel-control`, `tunnel-data`), else the
//!   application found by content (`http`, `tls`, ...; `quic` for UDP), else `tcp` / `udp`
//!   while undecided.

use super::spool::RecordSpool;
use super::{ConnectionRecord, top_n};
use crate::flow::slots::FlowSlots;
use crate::flow::{Direction, Endpoint, FlowId};
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Bins per series at most; past it the bin width doubles.
pub const MAX_BINS: usize = 4096;
/// Distinct (protocol, direction) series at most; later ones are counted as `other`.
pub const MAX_SERIES: usize = 64;
/// Width of the bins a connection's peak rate is measured over.
pub const PEAK_BIN_NS: i64 = 1_000_000_000;
/// Top talkers listed.
pub const TOP_TALKERS: usize = 10;
/// Hosts tallied in memory for the top talkers; beyond, tallies go to a temporary file.
pub const TALKER_HOSTS_IN_MEMORY: usize = 8192;

struct SeriesAcc {
    protocol: &'static str,
    dir: Direction,
    packets: u64,
    bytes: u64,
    bins: Vec<u64>,
}

/// A live flow's rate state: the current 1 s bin and the peak so far, each way.
#[derive(Clone, Copy)]
struct FlowRate {
    first: Timestamp,
    /// Start of the current peak bin, in ns after `first`.
    bin_start: i64,
    cur: [u64; 2],
    peak: [u64; 2],
}

impl FlowRate {
    fn peak(&self) -> [u64; 2] {
        [self.peak[0].max(self.cur[0]), self.peak[1].max(self.cur[1])]
    }
}

fn dir_index(dir: Direction) -> usize {
    match dir {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

/// Collects throughput per (protocol, direction) and per connection, packet by packet.
pub struct ThroughputAccumulator {
    requested_bin_ns: i64,
    bin_ns: i64,
    start: Option<Timestamp>,
    used_bins: usize,
    /// The bin found last: (its start in ns after `start`, its index).
    last_bin: (i64, usize),
    series: Vec<SeriesAcc>,
    /// Index of the series found last (a hint: checked before use).
    last_series: usize,
    flows: FlowSlots<FlowRate>,
    /// One row per connection record, keyed by its first packet index.
    conns: RecordSpool<ConnThroughput>,
    talkers: Talkers,
}

impl ThroughputAccumulator {
    /// `bin_ns` is the requested series bin width (at least 1 ms); the first `in_memory`
    /// per-connection rows stay in memory, later ones go to a temporary file.
    pub fn new(bin_ns: i64, in_memory: usize) -> Self {
        let bin_ns = bin_ns.max(1_000_000);
        ThroughputAccumulator {
            requested_bin_ns: bin_ns,
            bin_ns,
            start: None,
            used_bins: 0,
            last_bin: (0, 0),
            series: Vec::new(),
            last_series: 0,
            flows: FlowSlots::default(),
            conns: RecordSpool::new("connection throughput rows", in_memory),
            talkers: Talkers::new(TALKER_HOSTS_IN_MEMORY),
        }
    }

    /// One packet of flow `id` going `dir`, carrying `payload` transport payload bytes.
    pub fn on_packet(
        &mut self,
        id: FlowId,
        dir: Direction,
        ts: Timestamp,
        payload: u64,
        protocol: &'static str,
    ) {
        let start = *self.start.get_or_insert(ts);
        let offset = ts.nanos_since(start).max(0);
        let bin = self.bin_at(offset);
        self.used_bins = self.used_bins.max(bin + 1);
        if payload > 0 {
            self.add_to_series(bin, dir, payload, protocol);
        }

        let d = dir_index(dir);
        let f = self.flows.get_or_insert_with(id, || FlowRate {
            first: ts,
            bin_start: 0,
            cur: [0; 2],
            peak: [0; 2],
        });
        let since_first = ts.nanos_since(f.first).max(0);
        if !(f.bin_start..f.bin_start.saturating_add(PEAK_BIN_NS)).contains(&since_first) {
            f.peak = f.peak();
            f.cur = [0; 2];
            f.bin_start = since_first / PEAK_BIN_NS * PEAK_BIN_NS;
        }
        f.cur[d] = f.cur[d].saturating_add(payload);
    }

    /// The series bin of a packet `offset` ns after the start (coarsening the bins when
    /// it lies past the last one). Packets come in bursts within a bin, so the bin found
    /// last is tried before dividing.
    fn bin_at(&mut self, offset: i64) -> usize {
        let (lo, bin) = self.last_bin;
        if offset >= lo && offset - lo < self.bin_ns {
            return bin;
        }
        let mut bin = (offset / self.bin_ns) as u64;
        while bin >= MAX_BINS as u64 {
            self.coarsen();
            bin = (offset / self.bin_ns) as u64;
        }
        let bin = bin as usize;
        self.last_bin = (bin as i64 * self.bin_ns, bin);
        bin
    }

    fn add_to_series(&mut self, bin: usize, dir: Direction, payload: u64, protocol: &'static str) {
        let same = |s: &SeriesAcc| std::ptr::eq(s.protocol, protocol) && s.dir == dir;
        let cached = self.series.get(self.last_series).filter(|s| same(s));
        let found = match cached {
            Some(_) => Some(self.last_series),
            None => self
                .series
                .iter()
                .position(|s| s.protocol == protocol && s.dir == dir),
        };
        let idx = match found {
            Some(i) => i,
            None => {
                let protocol = if self.series.len() >= MAX_SERIES {
                    "other"
                } else {
                    protocol
                };
                match self
                    .series
                    .iter()
                    .position(|s| s.protocol == protocol && s.dir == dir)
                {
                    Some(i) => i,
                    None => {
                        self.series.push(SeriesAcc {
                            protocol,
                            dir,
                            packets: 0,
                            bytes: 0,
                            bins: Vec::new(),
                        });
                        self.series.len() - 1
                    }
                }
            }
        };
        self.last_series = idx;
        let s = &mut self.series[idx];
        s.packets += 1;
        s.bytes = s.bytes.saturating_add(payload);
        if s.bins.len() <= bin {
            s.bins.resize(bin + 1, 0);
        }
        s.bins[bin] = s.bins[bin].saturating_add(payload);
    }

    /// Flow `id` ended: forgets it, and returns its peak bytes per 1 s bin each way (zero
    /// for a flow that never had a packet here).
    pub fn on_flow_end(&mut self, id: FlowId) -> [u64; 2] {
        self.flows.remove(id).map_or([0; 2], |f| f.peak())
    }

    /// A connection record was made, for a flow whose peaks [`Self::on_flow_end`] gave:
    /// its throughput row, and its bytes for the top talkers.
    pub fn on_record(&mut self, c: &ConnectionRecord, peak: [u64; 2]) {
        // Mean over the connection's life, at least one peak bin long, so a short
        // connection's mean never exceeds its peak.
        let span = c.duration_s.max(PEAK_BIN_NS as f64 / 1e9);
        self.conns.push(
            c.first_packet,
            ConnThroughput {
                proto: c.proto.name().to_string(),
                client: c.client,
                server: c.server,
                app: c.app_chain.label().to_string(),
                first_ts: c.first_ts,
                duration_s: c.duration_s,
                bytes_c2s: c.payload_bytes_c2s,
                bytes_s2c: c.payload_bytes_s2c,
                mean_bps_c2s: c.payload_bytes_c2s as f64 / span,
                mean_bps_s2c: c.payload_bytes_s2c as f64 / span,
                peak_bps_c2s: peak[0] as f64,
                peak_bps_s2c: peak[1] as f64,
            },
        );
        self.talkers
            .add(c.client.addr, c.payload_bytes_c2s, c.payload_bytes_s2c);
        self.talkers
            .add(c.server.addr, c.payload_bytes_s2c, c.payload_bytes_c2s);
    }

    /// Problems met spooling (each said once), taken: the throughput rows' and the top
    /// talkers'.
    pub fn take_warnings(&mut self) -> Vec<String> {
        let mut w = self.conns.take_warnings();
        w.extend(self.talkers.runs.take_warnings());
        w
    }

    /// Doubles the bin width, merging neighbouring bins.
    fn coarsen(&mut self) {
        self.bin_ns = self.bin_ns.saturating_mul(2);
        self.last_bin = (0, 0);
        for s in &mut self.series {
            let merged: Vec<u64> = s
                .bins
                .chunks(2)
                .map(|c| c.iter().fold(0u64, |a, b| a.saturating_add(*b)))
                .collect();
            s.bins = merged;
        }
        self.used_bins = self.used_bins.div_ceil(2);
    }

    /// The report: the series, one row per connection record (in the order of their first
    /// packets, as the records are listed) and the top talkers. Problems met spooling are
    /// in `warnings` (see [`Self::take_warnings`]).
    pub fn finish(mut self, warnings: &mut Vec<String>) -> ThroughputReport {
        let bin_s = self.bin_ns as f64 / 1e9;
        let mut series: Vec<Series> = self
            .series
            .iter_mut()
            .map(|s| {
                s.bins.resize(self.used_bins, 0);
                let peak = s.bins.iter().copied().max().unwrap_or(0);
                Series {
                    protocol: s.protocol.to_string(),
                    direction: s.dir,
                    packets: s.packets,
                    bytes: s.bytes,
                    peak_bps: peak as f64 / bin_s,
                    bins: std::mem::take(&mut s.bins),
                }
            })
            .collect();
        series.sort_by(|a, b| {
            (a.protocol.as_str(), dir_index(a.direction))
                .cmp(&(b.protocol.as_str(), dir_index(b.direction)))
        });
        self.conns.sort_by_key();
        self.conns.finish_writing();
        let top_talkers = self.talkers.top(TOP_TALKERS);
        warnings.extend(self.take_warnings());
        if let Some(e) = self.talkers.runs.read_error() {
            warnings.push(format!("top talkers are incomplete: {e}"));
        }
        ThroughputReport {
            bin_s,
            requested_bin_s: self.requested_bin_ns as f64 / 1e9,
            start: self.start,
            bins: self.used_bins,
            series,
            connections: self.conns,
            top_talkers,
        }
    }
}

/// Throughput of the whole capture (`throughput` in the JSON document).
#[derive(Debug, Default, Serialize)]
pub struct ThroughputReport {
    /// Width of the series' bins in seconds (the requested width times a power of two
    /// when the capture was too long for [`MAX_BINS`] bins).
    pub bin_s: f64,
    pub requested_bin_s: f64,
    /// Time of the start of bin 0 (the first TCP or UDP packet).
    pub start: Option<Timestamp>,
    /// Bins in every series.
    pub bins: usize,
    /// One per protocol and direction, sorted by protocol then direction.
    pub series: Vec<Series>,
    /// One per connection record, in the same order.
    pub connections: RecordSpool<ConnThroughput>,
    /// Hosts by payload bytes sent plus received, largest first.
    pub top_talkers: Vec<Talker>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Series {
    pub protocol: String,
    pub direction: Direction,
    /// Packets with payload.
    pub packets: u64,
    /// Payload bytes in all bins.
    pub bytes: u64,
    /// Largest bin, in bytes per second.
    pub peak_bps: f64,
    /// Payload bytes per bin.
    pub bins: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnThroughput {
    pub proto: String,
    pub client: Endpoint,
    pub server: Endpoint,
    pub app: String,
    pub first_ts: Timestamp,
    pub duration_s: f64,
    /// Payload bytes each way.
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    /// Bytes per second over the connection's duration (at least 1 s).
    pub mean_bps_c2s: f64,
    pub mean_bps_s2c: f64,
    /// The busiest 1 s bin (counted from the connection's first packet), bytes per second.
    pub peak_bps_c2s: f64,
    pub peak_bps_s2c: f64,
}

/// Payload bytes per host over the connection records, for the top talkers, in bounded
/// memory: at most `in_memory` hosts are tallied in memory; when more come, the tallies
/// so far go to a spool as one run sorted by host and the tally starts afresh. At the end
/// the runs are merged (a host's tallies from every run summed) and the largest kept.
struct Talkers {
    map: BTreeMap<IpAddr, Tally>,
    in_memory: usize,
    runs: RecordSpool<(IpAddr, Tally)>,
    /// Where each run ends in `runs`.
    run_ends: Vec<usize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Tally {
    sent: u64,
    received: u64,
    connections: u64,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.sent = self.sent.saturating_add(o.sent);
        self.received = self.received.saturating_add(o.received);
        self.connections = self.connections.saturating_add(o.connections);
    }

    fn talker(self, host: IpAddr) -> Talker {
        Talker {
            host,
            bytes_sent: self.sent,
            bytes_received: self.received,
            bytes: self.sent.saturating_add(self.received),
            connections: self.connections,
        }
    }
}

impl Talkers {
    fn new(in_memory: usize) -> Self {
        Talkers {
            map: BTreeMap::new(),
            in_memory: in_memory.max(1),
            runs: RecordSpool::new("top talker tallies", 0),
            run_ends: Vec::new(),
        }
    }

    fn add(&mut self, host: IpAddr, sent: u64, received: u64) {
        if self.map.len() >= self.in_memory && !self.map.contains_key(&host) {
            self.spill();
        }
        self.map.entry(host).or_default().merge(Tally {
            sent,
            received,
            connections: 1,
        });
    }

    /// The tallies so far go to the spool, as one run sorted by host.
    fn spill(&mut self) {
        for (host, t) in std::mem::take(&mut self.map) {
            let k = self.runs.len() as u64;
            self.runs.push(k, (host, t));
        }
        self.run_ends.push(self.runs.len());
    }

    /// The `n` hosts with the most bytes sent plus received, largest first (then by
    /// address).
    fn top(&mut self, n: usize) -> Vec<Talker> {
        let rank = |a: &Talker, b: &Talker| b.bytes.cmp(&a.bytes).then(a.host.cmp(&b.host));
        if self.run_ends.is_empty() {
            let map = std::mem::take(&mut self.map);
            return top_n(map.into_iter().map(|(h, t)| t.talker(h)), n, rank);
        }
        self.spill();
        self.runs.finish_writing();
        let mut starts = vec![0];
        starts.extend(self.run_ends.iter().copied());
        let mut cursors: Vec<_> = starts
            .iter()
            .zip(&self.run_ends)
            .map(|(&a, &b)| self.runs.iter_range(a..b).peekable())
            .collect();
        // A k-way merge by host: each step takes the smallest host at any cursor's head and
        // sums its tallies from every run (a host appears at most once per run).
        let merged = std::iter::from_fn(|| {
            let host = cursors
                .iter_mut()
                .filter_map(|c| c.peek().map(|r| r.0))
                .min()?;
            let mut sum = Tally::default();
            for c in &mut cursors {
                if let Some(r) = c.next_if(|r| r.0 == host) {
                    sum.merge(r.1);
                }
            }
            Some(sum.talker(host))
        });
        top_n(merged, n, rank)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Talker {
    pub host: IpAddr,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub bytes: u64,
    pub connections: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(slot: u32) -> FlowId {
        FlowId {
            slot,
            generation: 1,
        }
    }

    fn ts_ms(ms: i64) -> Timestamp {
        Timestamp(1_000_000_000_000 + ms * 1_000_000)
    }

    #[test]
    fn bins_sum_to_bytes_and_peaks_are_per_second() {
        let mut a = ThroughputAccumulator::new(1_000_000_000, 10);
        a.on_packet(id(0), Direction::ClientToServer, ts_ms(0), 100, "http");
        a.on_packet(id(0), Direction::ServerToClient, ts_ms(500), 1000, "http");
        a.on_packet(id(0), Direction::ServerToClient, ts_ms(1500), 3000, "http");
        a.on_packet(id(0), Direction::ServerToClient, ts_ms(2100), 10, "http");
        a.on_flow_end(id(0));
        let mut rec = a.finish(&mut Vec::new());
        assert_eq!(rec.bins, 3);
        let s2c = rec.series.remove(1);
        assert_eq!(s2c.bins, vec![1000, 3000, 10]);
        assert_eq!(s2c.bytes, 4010);
        assert_eq!(s2c.peak_bps, 3000.0);
    }

    #[test]
    fn long_captures_coarsen_and_keep_every_byte() {
        let mut a = ThroughputAccumulator::new(1_000_000_000, 10);
        let mut total = 0;
        for s in 0..(3 * MAX_BINS as i64) {
            a.on_packet(id(1), Direction::ClientToServer, ts_ms(s * 1000), 7, "tcp");
            total += 7;
        }
        let r = a.finish(&mut Vec::new());
        assert!(r.bins <= MAX_BINS);
        assert_eq!(r.bin_s, 4.0);
        assert_eq!(r.series[0].bins.iter().sum::<u64>(), total);
    }

    #[test]
    fn far_future_and_past_timestamps_stay_bounded() {
        let mut a = ThroughputAccumulator::new(1_000_000, 10);
        a.on_packet(id(1), Direction::ClientToServer, Timestamp(0), 1, "udp");
        a.on_packet(
            id(1),
            Direction::ClientToServer,
            Timestamp(i64::MAX),
            1,
            "udp",
        );
        a.on_packet(
            id(1),
            Direction::ClientToServer,
            Timestamp(i64::MIN),
            1,
            "udp",
        );
        let r = a.finish(&mut Vec::new());
        assert!(r.bins <= MAX_BINS);
        assert_eq!(r.series[0].bins.iter().sum::<u64>(), 3);
    }

    #[test]
    fn top_talkers_spilled_to_runs_equal_the_in_memory_tally() {
        let host = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(i % 37 * 1_000_003));
        let adds: Vec<(IpAddr, u64, u64)> = (0..500u32)
            .map(|i| (host(i * 7), u64::from(i * 13 % 101), u64::from(i % 17)))
            .collect();
        let mut want: BTreeMap<IpAddr, Tally> = BTreeMap::new();
        for &(h, s, r) in &adds {
            want.entry(h).or_default().merge(Tally {
                sent: s,
                received: r,
                connections: 1,
            });
        }
        let mut want: Vec<Talker> = want.into_iter().map(|(h, t)| t.talker(h)).collect();
        want.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.host.cmp(&b.host)));
        want.truncate(TOP_TALKERS);
        for in_memory in [1, 3, 10, 1000] {
            let mut t = Talkers::new(in_memory);
            for &(h, s, r) in &adds {
                t.add(h, s, r);
            }
            assert_eq!(t.run_ends.is_empty(), in_memory >= 37);
            let got = t.top(TOP_TALKERS);
            let key = |v: &[Talker]| {
                v.iter()
                    .map(|x| {
                        (
                            x.host,
                            x.bytes_sent,
                            x.bytes_received,
                            x.bytes,
                            x.connections,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(key(&got), key(&want), "in_memory {in_memory}");
            assert!(t.runs.take_warnings().is_empty());
        }
    }

    #[test]
    fn series_are_capped() {
        let names: Vec<&'static str> = (0..200)
            .map(|i| &*Box::leak(format!("p{i}").into_boxed_str()))
            .collect();
        let mut a = ThroughputAccumulator::new(1_000_000_000, 10);
        for n in &names {
            a.on_packet(id(1), Direction::ClientToServer, ts_ms(0), 1, n);
        }
        let r = a.finish(&mut Vec::new());
        assert!(r.series.len() <= MAX_SERIES + 1);
        assert_eq!(r.series.iter().map(|s| s.bytes).sum::<u64>(), 200);
    }
}
