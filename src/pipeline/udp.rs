//! The UDP side of the pipeline: per-flow state by `FlowId` slot, each flow driven by
//! the analyzers' UDP classifier ([`crate::analyzers::udp`]), which decides what a flow
//! carries. This stage only stores, feeds and finishes flows; it names no protocol.

use crate::analyzers::udp::{UdpContext, UdpFlow, UdpFlowMeta};
use crate::flow::slots::FlowSlots;
use crate::flow::{Direction, Flow, FlowId};
use crate::report::{AppChain, QuicRecord};
use crate::timestamp::Timestamp;

pub(super) struct UdpStage {
    flows: FlowSlots<UdpFlow>,
    ctx: UdpContext,
}

impl UdpStage {
    pub(super) fn new(v2ray_keys: &[String]) -> Self {
        UdpStage {
            flows: FlowSlots::default(),
            ctx: UdpContext::new(v2ray_keys),
        }
    }

    /// One datagram of flow `id`.
    pub(super) fn on_datagram(
        &mut self,
        id: FlowId,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
    ) {
        self.flows
            .get_or_insert_with(id, UdpFlow::default)
            .on_datagram(&mut self.ctx, dir, payload, ts);
    }

    /// What a live flow's throughput is counted under.
    pub(super) fn throughput_label(&self, id: FlowId) -> &'static str {
        self.flows.get(id).map_or("udp", UdpFlow::throughput_label)
    }

    /// The flow ended: its app chain for the connection record.
    pub(super) fn finish(&mut self, flow: &Flow) -> AppChain {
        let Some(state) = self.flows.remove(flow.id) else {
            return AppChain::default();
        };
        let meta = UdpFlowMeta {
            client: flow.client,
            server: flow.server,
            first_ts: flow.first_ts,
            last_ts: flow.last_ts,
        };
        state
            .finish(&mut self.ctx, meta)
            .map(AppChain::one)
            .unwrap_or_default()
    }

    /// QUIC flows that have ended so far (for snapshots).
    pub(super) fn finished_quic(&self) -> &[crate::analyzers::quic::group::FinishedFlow] {
        self.ctx.finished_quic()
    }

    /// The cross-flow records, at the end of the run.
    pub(super) fn records<I>(self, tcp_starts: impl FnOnce() -> I) -> Vec<QuicRecord>
    where
        I: IntoIterator<Item = crate::analyzers::quic::qtunnel::TcpStart>,
    {
        self.ctx.quic_records(tcp_starts)
    }
}
