//! The UDP side of the pipeline: per-flow state by `FlowId` slot, each flow driven by
//! the analyzers' UDP registry ([`crate::analyzers::udp`]), which decides what a flow
//! carries. This stage only stores, feeds and finishes flows; it names no protocol.

use crate::analyzers::api::UdpOptions;
use crate::analyzers::quic::qtunnel::TcpStart;
use crate::analyzers::udp::{UdpContext, UdpFlowMeta, UdpState};
use crate::flow::slots::FlowSlots;
use crate::flow::{Direction, Flow, FlowId};
use crate::report::{AppChain, QuicRecord};
use crate::timestamp::Timestamp;

pub(super) struct UdpStage {
    flows: FlowSlots<UdpState>,
    pub(super) ctx: UdpContext,
}

impl UdpStage {
    pub(super) fn new(opts: &UdpOptions) -> Self {
        UdpStage {
            flows: FlowSlots::default(),
            ctx: UdpContext::new(opts),
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
        let flow = self.flows.get_or_insert_with(id, UdpState::default);
        self.ctx.on_datagram(flow, dir, payload, ts);
    }

    /// What a live flow's throughput is counted under.
    pub(super) fn throughput_label(&self, id: FlowId) -> &'static str {
        self.flows.get(id).map_or("udp", UdpState::throughput_label)
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
        self.ctx
            .finish(state, meta)
            .map(AppChain::one)
            .unwrap_or_default()
    }

    /// The cross-flow records, at the end of the run.
    pub(super) fn records<I>(self, tcp_starts: impl FnOnce() -> I) -> Vec<QuicRecord>
    where
        I: IntoIterator<Item = TcpStart>,
    {
        self.ctx.quic_records(tcp_starts)
    }
}
