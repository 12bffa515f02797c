//! Anomalies: malformed or suspicious input met along the way. They are ordinary events:
//! counted by kind, the first few kept with their packet index, and the run goes on.

use serde::Serialize;
use std::collections::BTreeMap;

/// How many anomalies are kept with their details; the rest are only counted.
pub const MAX_ANOMALY_SAMPLES: usize = 200;

/// One anomaly with where it happened.
#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    /// 0-based packet index across the run (the packet that revealed it).
    pub packet: u64,
    /// A stable snake_case name of the kind (`truncated_ip_header`, ...).
    pub kind: &'static str,
    /// Human-readable detail.
    pub detail: String,
}

/// A bounded collection of anomalies.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Anomalies {
    /// Anomalies met, all kinds.
    pub total: u64,
    /// Anomalies met, by kind.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// The first [`MAX_ANOMALY_SAMPLES`] anomalies, in the order met.
    pub samples: Vec<Anomaly>,
}

impl Anomalies {
    /// Records an anomaly; `detail` is only built while samples are still kept.
    pub fn record(&mut self, packet: u64, kind: &'static str, detail: impl FnOnce() -> String) {
        self.total += 1;
        *self.by_kind.entry(kind).or_insert(0) += 1;
        if self.samples.len() < MAX_ANOMALY_SAMPLES {
            self.samples.push(Anomaly {
                packet,
                kind,
                detail: detail(),
            });
        }
    }

    /// Adds `other`'s counts, and its samples while there is room.
    pub fn merge(&mut self, other: &Anomalies) {
        self.total += other.total;
        for (k, v) in &other.by_kind {
            *self.by_kind.entry(k).or_insert(0) += v;
        }
        for a in &other.samples {
            if self.samples.len() >= MAX_ANOMALY_SAMPLES {
                break;
            }
            self.samples.push(a.clone());
        }
    }
}
