//! One memory budget (`--memory MB`) split into per-kind caps, the way Suricata's
//! memcaps work: each kind of state gets a share and its cap is the share divided by
//! what one item of it costs (measured, `reports/benchmark.md`).
//!
//! | kind | share | item | cap it sets |
//! | --- | --- | --- | --- |
//! | live flows | 40% | [`FLOW_COST`] bytes per flow (flow table, assembler, analyzer state) | `flows.max_flows` |
//! | out-of-order pages | 30% | [`PAGE_COST`] bytes per page | `assembler.max_pages_total` |
//! | IP fragments | 10% | bytes held | `defrag.max_bytes` (and `max_datagrams` at [`FRAGMENT_ENTRY_COST`] each) |
//! | analyzer records kept in memory (QUIC flows, tunnel correlation inputs) | 20% | their estimated footprint | byte caps of those lists |
//!
//! # Contract
//!
//! - The budget only lowers caps: a per-kind flag below its share stays (the finer cap);
//!   one above it is brought down to the share.
//! - What each cap refuses is counted where it always was (`flows.evicted`, gaps with
//!   cause `limit_skipped`, `defrag.dropped_for_limit`) or, for the analyzer records, in
//!   the report's `limits` object (`dropped_for_memory` by kind). The least valuable
//!   state goes first within each kind: the least recently active flow, the oldest
//!   buffered pages, the oldest fragments.
//! - Record spools (connection and application records past the first few hundred) live
//!   in a temporary file and cost about 24 bytes each; they are not part of the budget.

use super::Options;

/// Bytes one live flow costs in `analyze` (table entry, assembler state, analyzer
/// probe), rounded up from the measured figure.
pub(super) const FLOW_COST: usize = 2048;
/// Bytes one buffered out-of-order page costs (1900 bytes of data plus its bookkeeping).
pub(super) const PAGE_COST: usize = 2048;
/// Bytes one pending reassembly entry costs beyond its data.
pub(super) const FRAGMENT_ENTRY_COST: usize = 256;

/// The per-kind caps a budget of `mb` MiB allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shares {
    pub flows: usize,
    pub pages: usize,
    pub fragment_bytes: usize,
    pub fragment_entries: usize,
    pub record_bytes: usize,
}

impl Shares {
    pub(super) fn of(mb: u64) -> Shares {
        let total = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        let part = |pct: usize| total / 100 * pct;
        Shares {
            flows: (part(40) / FLOW_COST).max(1),
            pages: (part(30) / PAGE_COST).max(1),
            fragment_bytes: part(10),
            fragment_entries: (part(10) / 4 / FRAGMENT_ENTRY_COST).max(1),
            record_bytes: part(20),
        }
    }
}

impl Options {
    /// These options with every cap brought within a budget of `mb` MiB (see the module
    /// doc); the budget is remembered for the report.
    pub fn with_memory_budget(mut self, mb: u64) -> Options {
        let s = Shares::of(mb);
        self.memory_mb = Some(mb);
        self.flows.max_flows = self.flows.max_flows.min(s.flows);
        self.assembler.max_pages_total = self.assembler.max_pages_total.min(s.pages);
        self.assembler.max_pages_per_conn = self
            .assembler
            .max_pages_per_conn
            .min(self.assembler.max_pages_total);
        self.defrag.max_bytes = self.defrag.max_bytes.min(s.fragment_bytes);
        self.defrag.max_datagrams = self.defrag.max_datagrams.min(s.fragment_entries);
        self.record_memory = self.record_memory.min(s.record_bytes);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_only_lowers_caps() {
        let small = Options::default().with_memory_budget(128);
        let s = Shares::of(128);
        assert_eq!(small.flows.max_flows, s.flows);
        assert_eq!(
            small.flows.max_flows,
            128 * 1024 * 1024 / 100 * 40 / FLOW_COST
        );
        assert_eq!(small.assembler.max_pages_total, s.pages);
        assert!(small.defrag.max_bytes <= 16 * 1024 * 1024);
        assert_eq!(small.record_memory, s.record_bytes);
        assert_eq!(small.memory_mb, Some(128));
        // A large budget leaves the per-kind defaults as they are.
        let big = Options::default().with_memory_budget(64 * 1024);
        let d = Options::default();
        assert_eq!(big.flows.max_flows, d.flows.max_flows);
        assert_eq!(big.assembler.max_pages_total, d.assembler.max_pages_total);
        assert_eq!(big.defrag.max_bytes, d.defrag.max_bytes);
        // A finer cap below the share stays.
        let mut o = Options::default();
        o.flows.max_flows = 10;
        assert_eq!(o.with_memory_budget(128).flows.max_flows, 10);
    }
}
