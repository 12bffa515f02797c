//! Latency distributions, computed at the end from the records the analyzers produced
//! (so they are as deterministic as the records): one HdrHistogram per category, and one
//! per category and server endpoint.
//!
//! # Contracts
//!
//! - Values are recorded in microseconds with 3 significant digits; quantiles are
//!   HdrHistogram's (nearest rank: the smallest recorded value with at least
//!   `ceil(q * count)` values at or below it, reported as the highest value equivalent to
//!   it, clamped to the exact max); `min`, `max` and `mean` are exact.
//! - Negative or non-finite inputs (a reply stamped before its request in a capture with
//!   clock steps) are counted in `negative_or_invalid`, never recorded.
//! - Categories with no value are still listed (count 0), so a report always has the same
//!   shape. At most [`MAX_SERVERS`] servers per category are listed, busiest first.
//! - The records are read once, in report order (from the spools: see
//!   `report::spool`); what [`compute`] keeps is 16 bytes per value (every value of a
//!   category, and again under its server) and one string per server.
//! - [`cdfs`] (the HTML report's CDF charts) reads the records again and keeps, per
//!   category, every value up to [`CDF_EXACT_VALUES`]; past it, a histogram of them all
//!   (auto-resizing, 3 significant digits: a few hundred KB at most), from which it gives
//!   [`CDF_QUANTILES`] points. Its memory does not grow with the number of values.

use super::spool::RecordSpool;
use super::{AppTable, Summary, TableVisitor};
use crate::analyzers::api::AppRecord;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

/// Servers listed per category (the busiest by count).
pub const MAX_SERVERS: usize = 20;

/// Every category, in report order, with what it measures.
pub const CATEGORIES: &[(&str, &str)] = &[
    (
        "tcp_handshake",
        "TCP handshake: SYN -> ACK of the SYN-ACK (tcp.handshake.total_rtt_ns)",
    ),
    (
        "tls_handshake",
        "TLS: ClientHello -> client's first application data (tls[].handshake_ms)",
    ),
    (
        "quic_handshake",
        "QUIC: first client Initial -> first client 1-RTT packet (quic.connections[].handshake_ms)",
    ),
    (
        "http",
        "HTTP: request -> first response byte (http[].transactions[].latency_ms)",
    ),
    (
        "redis",
        "Redis: command -> first reply byte (redis[].commands[].latency_ms)",
    ),
    (
        "tunnel_visitor_syn_to_new_connection",
        "tunnel: visitor SYN -> NEW_CONNECTION on the control connection",
    ),
    (
        "tunnel_new_connection_to_tunnel_syn",
        "tunnel: NEW_CONNECTION -> tunnel connection SYN",
    ),
    (
        "tunnel_syn_to_first_byte",
        "tunnel: tunnel SYN -> first byte relayed to the visitor",
    ),
    (
        "tunnel_total",
        "tunnel: visitor SYN -> first byte relayed to it",
    ),
];

/// The `latency` section of the report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyReport {
    pub unit: &'static str,
    pub categories: Vec<CategoryLatency>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CategoryLatency {
    pub category: &'static str,
    pub what: &'static str,
    #[serde(flatten)]
    pub stats: Stats,
    /// Values dropped because they were negative or not a number.
    pub negative_or_invalid: u64,
    /// The same per server endpoint, busiest first.
    pub by_server: Vec<ServerLatency>,
    /// Servers beyond [`MAX_SERVERS`], counted only.
    pub servers_omitted: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ServerLatency {
    pub server: String,
    #[serde(flatten)]
    pub stats: Stats,
}

/// A distribution's summary, in milliseconds (`None` when there is no value).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub count: u64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Stats {
    /// Summarises values in milliseconds (all finite and non-negative).
    pub fn of(values_ms: &[f64]) -> Stats {
        if values_ms.is_empty() {
            return Stats::default();
        }
        let max_us = values_ms.iter().copied().map(micros).max().unwrap_or(0);
        let min = values_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values_ms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = values_ms.iter().sum::<f64>() / values_ms.len() as f64;
        let q = match Histogram::<u64>::new_with_max(max_us.max(2), 3) {
            Ok(mut h) => {
                for v in values_ms {
                    h.saturating_record(micros(*v));
                }
                let at = |q: f64| (h.value_at_quantile(q) as f64 / 1000.0).clamp(min, max);
                [at(0.5), at(0.9), at(0.99)]
            }
            Err(_) => [max; 3],
        };
        let r = |v: f64| (v * 1000.0).round() / 1000.0;
        Stats {
            count: values_ms.len() as u64,
            min: Some(r(min)),
            mean: Some(r(mean)),
            p50: Some(r(q[0])),
            p90: Some(r(q[1])),
            p99: Some(r(q[2])),
            max: Some(r(max)),
        }
    }
}

/// A category's values, in the order they were met: all of them, and by server; and its
/// count of invalid values.
#[derive(Default)]
struct CategorySamples {
    all: Vec<f64>,
    by_server: BTreeMap<String, Vec<f64>>,
    bad: u64,
}

/// Latency values by category, each with its server endpoint.
#[derive(Default)]
struct Samples {
    by_cat: BTreeMap<&'static str, CategorySamples>,
}

impl Samples {
    fn add(&mut self, cat: &'static str, server: &str, v: Option<f64>) {
        let Some(v) = v else { return };
        let e = self.by_cat.entry(cat).or_default();
        if v.is_finite() && v >= 0.0 {
            e.all.push(v);
            match e.by_server.get_mut(server) {
                Some(vals) => vals.push(v),
                None => {
                    e.by_server.insert(server.to_string(), vec![v]);
                }
            }
        } else {
            e.bad += 1;
        }
    }
}

/// Valid values a category's CDF keeps as they are; past it, [`cdfs`] draws the CDF from a
/// histogram of them all.
pub const CDF_EXACT_VALUES: usize = 2000;
/// Points of a CDF drawn from a histogram: the values at quantiles `1/n, 2/n, ..., 1`.
pub const CDF_QUANTILES: usize = 500;

/// What a category's CDF is drawn from.
#[derive(Clone, Debug, PartialEq)]
pub enum CdfValues {
    /// Every valid value in milliseconds, unsorted (at most [`CDF_EXACT_VALUES`]).
    Exact(Vec<f64>),
    /// More values than that: [`CDF_QUANTILES`] points, the values (ms, ascending) at
    /// quantiles `i / CDF_QUANTILES` of a histogram of all `count` values, with the
    /// precision of the `Stats` quantiles (3 significant digits, clamped to the exact
    /// min and max).
    Quantiles { count: u64, values: Vec<f64> },
}

impl CdfValues {
    pub fn is_empty(&self) -> bool {
        match self {
            CdfValues::Exact(v) => v.is_empty(),
            CdfValues::Quantiles { count, .. } => *count == 0,
        }
    }
}

/// A category's values for its CDF, in bounded memory: kept as they are up to
/// [`CDF_EXACT_VALUES`], then all recorded in a histogram.
#[derive(Default)]
struct CdfAccumulator {
    exact: Vec<f64>,
    histogram: Option<Histogram<u64>>,
    count: u64,
    min: f64,
    max: f64,
}

impl CdfAccumulator {
    fn add(&mut self, v: f64) {
        if !(v.is_finite() && v >= 0.0) {
            return;
        }
        self.min = if self.count == 0 { v } else { self.min.min(v) };
        self.max = if self.count == 0 { v } else { self.max.max(v) };
        self.count += 1;
        if self.histogram.is_none() && self.exact.len() < CDF_EXACT_VALUES {
            self.exact.push(v);
            return;
        }
        let histogram = match &mut self.histogram {
            Some(h) => h,
            None => match Histogram::<u64>::new(3) {
                Ok(h) => self.histogram.insert(h),
                // Cannot happen with 3 significant digits; the CDF then stays partial.
                Err(_) => return,
            },
        };
        for x in std::mem::take(&mut self.exact).into_iter().chain([v]) {
            if histogram.record(micros(x)).is_err() {
                histogram.saturating_record(micros(x));
            }
        }
    }

    fn finish(self) -> CdfValues {
        let Some(h) = self.histogram else {
            return CdfValues::Exact(self.exact);
        };
        let at = |q: f64| (h.value_at_quantile(q) as f64 / 1000.0).clamp(self.min, self.max);
        let values = (1..=CDF_QUANTILES)
            .map(|i| at(i as f64 / CDF_QUANTILES as f64))
            .collect();
        CdfValues::Quantiles {
            count: self.count,
            values,
        }
    }
}

/// A value in milliseconds as the histograms record it: whole microseconds.
fn micros(ms: f64) -> u64 {
    (ms * 1000.0).round().clamp(0.0, u64::MAX as f64 / 2.0) as u64
}

/// Every category's CDF values (valid values only), in [`CATEGORIES`] order; empty
/// categories included. Memory is bounded per category (see [`CdfValues`]).
pub fn cdfs(s: &Summary) -> Vec<(&'static str, CdfValues)> {
    let mut acc: BTreeMap<&'static str, CdfAccumulator> = BTreeMap::new();
    each_value(s, |cat, _server, v| {
        if let Some(v) = v {
            acc.entry(cat).or_default().add(v);
        }
    });
    CATEGORIES
        .iter()
        .map(|(cat, _)| (*cat, acc.remove(cat).unwrap_or_default().finish()))
        .collect()
}

/// Computes every category's distribution from the summary's records.
pub fn compute(s: &Summary) -> LatencyReport {
    let mut x = samples(s);
    let categories = CATEGORIES
        .iter()
        .map(|&(cat, what)| {
            let CategorySamples {
                all,
                by_server: per,
                bad,
            } = x.by_cat.remove(cat).unwrap_or_default();
            let mut by_server: Vec<ServerLatency> = per
                .into_iter()
                .map(|(server, v)| ServerLatency {
                    stats: Stats::of(&v),
                    server,
                })
                .collect();
            by_server.sort_by(|a, b| {
                b.stats
                    .count
                    .cmp(&a.stats.count)
                    .then(a.server.cmp(&b.server))
            });
            let omitted = by_server.len().saturating_sub(MAX_SERVERS) as u64;
            by_server.truncate(MAX_SERVERS);
            CategoryLatency {
                category: cat,
                what,
                stats: Stats::of(&all),
                negative_or_invalid: bad,
                by_server,
                servers_omitted: omitted,
            }
        })
        .collect();
    LatencyReport {
        unit: "ms",
        categories,
    }
}

fn samples(s: &Summary) -> Samples {
    let mut x = Samples::default();
    each_value(s, |cat, server, v| x.add(cat, server, v));
    x
}

/// Every application table's latency values (`AppRecord::latency`), to `add`.
struct LatencyOf<'f, F>(&'f mut F);

impl<'a, F: FnMut(&'static str, &str, Option<f64>)> TableVisitor<'a> for LatencyOf<'_, F> {
    fn visit<T: AppRecord + 'a>(&mut self, _table: AppTable, records: &'a RecordSpool<T>) {
        for r in records.iter() {
            r.latency(&mut *self.0);
        }
    }
}

/// Calls `add(category, server, value)` for every latency value of the records (`None`
/// where a record has no value), reading the records once, in report order.
fn each_value(s: &Summary, mut add: impl FnMut(&'static str, &str, Option<f64>)) {
    for c in s.connections.iter() {
        if let Some(t) = &c.tcp {
            let v = t.handshake.total_rtt_ns.map(|ns| ns as f64 / 1e6);
            add("tcp_handshake", &c.server.to_string(), v);
        }
    }
    for q in &s.quic.connections {
        add(
            "quic_handshake",
            &q.server.to_string(),
            q.summary.handshake_ms,
        );
    }
    s.apps.visit_all(&mut LatencyOf(&mut add));
    let mut steps = |server: &str, l: &crate::analyzers::nat_tunnel::correlate::Latency| {
        add(
            "tunnel_visitor_syn_to_new_connection",
            server,
            l.visitor_syn_to_new_connection,
        );
        add(
            "tunnel_new_connection_to_tunnel_syn",
            server,
            l.new_connection_to_tunnel_syn,
        );
        add(
            "tunnel_syn_to_first_byte",
            server,
            l.tunnel_syn_to_first_byte,
        );
        add("tunnel_total", server, l.total);
    };
    for sess in &s.tunnel.sessions {
        for v in &sess.visitors {
            steps(&v.server.to_string(), &v.latency_ms);
        }
    }
    // Tunnel connections whose visitor was not seen (a client-side capture): their steps
    // are not counted through a visitor above.
    for t in &s.tunnel.tunnels {
        if t.visitor.is_none() {
            steps(&t.server.to_string(), &t.latency_ms);
        }
    }
}

/// The nearest-rank quantile of sorted values (what the histogram approximates), for
/// callers that need exact points, e.g. a CDF.
pub fn nearest_rank(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_within_histogram_precision() {
        let v: Vec<f64> = (1..=100).map(|i| i as f64 * 1.5).collect();
        let s = Stats::of(&v);
        assert_eq!(s.count, 100);
        assert_eq!(s.min, Some(1.5));
        assert_eq!(s.max, Some(150.0));
        for (q, got) in [(0.5, s.p50), (0.9, s.p90), (0.99, s.p99)] {
            let want = nearest_rank(&v, q).unwrap();
            let got = got.unwrap();
            assert!(
                (got - want).abs() <= want * 0.001 + 0.001,
                "{q}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(Stats::of(&[]).count, 0);
        let s = Stats::of(&[0.0]);
        assert_eq!((s.min, s.p99, s.max), (Some(0.0), Some(0.0), Some(0.0)));
        let s = Stats::of(&[1e12]);
        assert_eq!(s.p50, Some(1e12));
    }

    #[test]
    fn bad_values_are_counted_not_recorded() {
        let mut x = Samples::default();
        x.add("http", "a", Some(-1.0));
        x.add("http", "a", Some(f64::NAN));
        x.add("http", "a", Some(2.0));
        x.add("http", "a", None);
        let c = &x.by_cat["http"];
        assert_eq!((c.all.len(), c.by_server["a"].len(), c.bad), (1, 1, 2));
    }

    fn cdf_of(values: &[f64]) -> CdfValues {
        let mut acc = CdfAccumulator::default();
        for v in values {
            acc.add(*v);
        }
        acc.finish()
    }

    #[test]
    fn a_cdf_keeps_every_value_up_to_its_cap() {
        let values: Vec<f64> = (0..CDF_EXACT_VALUES).map(|i| (i % 7) as f64).collect();
        let mut with_bad = values.clone();
        with_bad.extend([-1.0, f64::NAN]);
        assert_eq!(cdf_of(&with_bad), CdfValues::Exact(values));
    }

    #[test]
    fn past_its_cap_a_cdf_is_quantiles_of_a_histogram_of_every_value() {
        // Multiples of 0.5, in an order that is not sorted.
        let n = 3 * CDF_EXACT_VALUES + 11;
        let values: Vec<f64> = (0..n).map(|i| ((i * 7919) % n + 1) as f64 * 0.5).collect();
        let CdfValues::Quantiles { count, values: got } = cdf_of(&values) else {
            panic!("expected quantiles");
        };
        assert_eq!((count, got.len()), (n as u64, CDF_QUANTILES));
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for (i, v) in got.iter().enumerate() {
            let q = (i + 1) as f64 / CDF_QUANTILES as f64;
            let want = nearest_rank(&sorted, q).unwrap();
            assert!(
                (v - want).abs() <= want * 0.001 + 0.001,
                "q {q}: {v} vs {want}"
            );
        }
        assert_eq!(got.last(), sorted.last());
        assert!(got.windows(2).all(|w| w[0] <= w[1]));
    }
}
