//! UDP flows: each flow's state ([`UdpState`], generated from the registry's UDP list:
//! QUIC, WireGuard, v2ray's QUIC transport), what the protocols share across flows, and
//! the records made across flows at the end (QUIC connections grouped by connection ID,
//! from bare and v2ray-wrapped flows alike, with the local TCP service a QTunnel-style
//! carrier likely serves).
//!
//! # Contracts
//!
//! - [`UdpContext::on_datagram`] is called for every datagram of a flow in packet order;
//!   at most [`PROBE_DATAGRAMS`] datagrams are probed before a flow is `unknown` (see
//!   [`crate::analyzers::api::UdpProtocol`] for how the probe order decides).
//! - [`UdpContext::finish`] gives the flow's protocol for its connection record and
//!   keeps what the flow leaves for [`UdpContext::quic_records`].

pub use super::api::UdpFlowMeta;
use super::api::UdpOptions;
use super::quic::QuicRecord;
use super::quic::group::{self, FinishedFlow};
use super::quic::qtunnel::{self, QuicSpan, TcpStart};
pub use super::registry::{PROBE_DATAGRAMS, UdpState};
use super::registry::{UdpFinished, UdpShared};
use crate::flow::Direction;
use crate::timestamp::Timestamp;

/// State shared by every UDP flow of a run.
pub struct UdpContext {
    shared: UdpShared,
    finished: UdpFinished,
}

impl std::fmt::Debug for UdpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpContext")
            .field("flows_ended", &self.finished.ended)
            .finish_non_exhaustive()
    }
}

impl UdpContext {
    /// A run's context.
    pub fn new(opts: &UdpOptions) -> Self {
        UdpContext {
            shared: UdpShared::new(opts),
            finished: UdpFinished::default(),
        }
    }

    /// One datagram of a flow whose state is `flow`.
    pub fn on_datagram(
        &mut self,
        flow: &mut UdpState,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
    ) {
        flow.on_datagram(&mut self.shared, dir, payload, ts);
    }

    /// The flow has ended: its protocol (`None` when unknown).
    pub fn finish(&mut self, flow: UdpState, meta: UdpFlowMeta) -> Option<&'static str> {
        flow.finish(&mut self.finished, meta)
    }

    /// Keeps at most `max` finished flows for the records made across flows (QUIC
    /// connections), and at most `max_bytes` of their estimated size; refusals are
    /// counted ([`UdpContext::count_limits`]).
    pub fn set_caps(&mut self, max: usize, max_bytes: usize) {
        self.finished.max = max;
        self.finished.max_bytes = max_bytes;
    }

    /// What the caps refused, under `quic_flows`.
    pub fn count_limits(&self, limits: &mut crate::limits::LimitsReport) {
        let f = &self.finished;
        if f.omitted > 0 {
            *limits.records_omitted.entry("quic_flows").or_insert(0) += f.omitted;
        }
        limits.dropped("quic_flows", f.omitted_for_memory);
    }

    /// UDP flows that have ended so far (a position for [`UdpContext::quic_since`]).
    pub fn flows_ended(&self) -> u64 {
        self.finished.ended
    }

    /// QUIC flows (bare or inside v2ray) among the flows that ended after the first
    /// `ended` (for rolling summaries: remember [`UdpContext::flows_ended`]).
    pub fn quic_since(&self, ended: u64) -> impl Iterator<Item = &FinishedFlow> {
        let f = &self.finished;
        let after = move |list: &'_ [(u64, FinishedFlow)]| -> usize {
            list.partition_point(|(n, _)| *n < ended)
        };
        let (q, v) = (after(&f.quic), after(&f.v2ray));
        f.quic[q..]
            .iter()
            .chain(&f.v2ray[v..])
            .map(|(_, flow)| flow)
    }

    /// QUIC flows (bare and inside v2ray) grouped into connections, each with the local
    /// TCP service it likely carries (`tcp` lists the TCP connections' starts; read only
    /// when there is QUIC).
    pub fn quic_records<I: IntoIterator<Item = TcpStart>>(
        self,
        tcp: impl FnOnce() -> I,
    ) -> Vec<QuicRecord> {
        let UdpFinished { quic, v2ray, .. } = self.finished;
        let flows = merge_in_end_order(quic, v2ray);
        let conns = group::group(flows);
        if conns.is_empty() {
            return Vec::new();
        }
        let tcp: Vec<TcpStart> = tcp().into_iter().collect();
        let spans: Vec<QuicSpan<'_>> = conns
            .iter()
            .map(|c| QuicSpan {
                client: c.client,
                server: c.server,
                first_ts: c.first_ts,
                last_ts: c.last_ts,
                activity: &c.activity,
            })
            .collect();
        let carried = qtunnel::infer(&tcp, &spans);
        conns
            .into_iter()
            .zip(carried)
            .map(|(c, carries)| QuicRecord {
                client: c.client,
                server: c.server,
                first_ts: c.first_ts,
                last_ts: c.last_ts,
                duration_s: c.last_ts.nanos_since(c.first_ts) as f64 / 1e9,
                carries,
                summary: c.summary,
            })
            .collect()
    }
}

/// Two lists of finished flows as one, in the order the flows ended.
fn merge_in_end_order(
    a: Vec<(u64, FinishedFlow)>,
    b: Vec<(u64, FinishedFlow)>,
) -> Vec<FinishedFlow> {
    let mut all: Vec<(u64, FinishedFlow)> = a;
    all.extend(b);
    // Each list is in order already; a stable sort of the two keeps it exact.
    all.sort_by_key(|(n, _)| *n);
    all.into_iter().map(|(_, f)| f).collect()
}
