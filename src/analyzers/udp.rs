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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Endpoint;
    use std::net::{IpAddr, Ipv4Addr};

    const C: Direction = Direction::ClientToServer;

    /// A WireGuard transport message (whitepaper §5.4.6): type 4, three zero bytes,
    /// receiver index, counter, then at least the 16-byte tag.
    fn wg_transport(counter: u64) -> Vec<u8> {
        let mut d = vec![4, 0, 0, 0, 1, 0, 0, 0];
        d.extend(counter.to_le_bytes());
        d.extend([0x5a; 32]);
        d
    }

    /// A WireGuard handshake initiation: type 1, zero reserved bytes, 148 bytes.
    fn wg_initiation() -> Vec<u8> {
        let mut d = vec![1, 0, 0, 0, 7, 0, 0, 0];
        d.resize(148, 0x33);
        d
    }

    fn meta() -> UdpFlowMeta {
        let ep = |last, port| Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port);
        UdpFlowMeta {
            client: ep(1, 40000),
            server: ep(2, 51820),
            first_ts: Timestamp(0),
            last_ts: Timestamp(1),
        }
    }

    fn run(datagrams: &[Vec<u8>]) -> Option<&'static str> {
        let mut ctx = UdpContext::new(&UdpOptions::default());
        let mut flow = UdpState::default();
        for (i, d) in datagrams.iter().enumerate() {
            ctx.on_datagram(&mut flow, C, d, Timestamp(i as i64));
        }
        ctx.finish(flow, meta())
    }

    #[test]
    fn a_handshake_starts_wireguard_at_once() {
        assert_eq!(run(&[wg_initiation()]), Some("wireguard"));
    }

    #[test]
    fn a_session_picked_up_after_its_handshake_is_wireguard() {
        // Transport messages only: v2ray's "wireguard" disguise (the same 4-byte header)
        // claims the flow first, and with no QUIC opening under it the flow is named
        // WireGuard, as the classifier did before the registry.
        assert_eq!(run(&[wg_transport(0), wg_transport(1)]), Some("wireguard"));
        assert_eq!(run(&[wg_transport(0), vec![0xff; 40]]), Some("wireguard"));
        // Noise is nothing.
        assert_eq!(run(&[vec![0xff; 40], vec![0xfe; 40]]), None);
    }

    #[test]
    fn a_flow_no_protocol_claims_is_unknown_after_the_probe_window() {
        let noise: Vec<Vec<u8>> = (0..PROBE_DATAGRAMS + 2).map(|_| vec![0x17; 30]).collect();
        let mut ctx = UdpContext::new(&UdpOptions::default());
        let mut flow = UdpState::default();
        for (i, d) in noise.iter().enumerate() {
            ctx.on_datagram(&mut flow, C, d, Timestamp(i as i64));
            let probing = matches!(flow, UdpState::Probing { .. });
            assert_eq!(
                probing,
                i + 1 < usize::from(PROBE_DATAGRAMS),
                "datagram {i}"
            );
        }
        assert_eq!(ctx.finish(flow, meta()), None);
    }

    #[test]
    fn finished_flows_past_the_cap_are_counted_not_kept() {
        // QUIC flows (the RFC 9001 A.3 server Initial) leave a finished flow each; with
        // room for one, the second is refused and counted under `quic_flows`.
        let quic =
            crate::analyzers::quic::tests::h(crate::analyzers::quic::tests::V1_SERVER_PACKET);
        let mut ctx = UdpContext::new(&UdpOptions::default());
        ctx.set_caps(1, usize::MAX);
        for _ in 0..2 {
            let mut flow = UdpState::default();
            ctx.on_datagram(&mut flow, C, &quic, Timestamp(0));
            assert_eq!(ctx.finish(flow, meta()), Some("quic"));
        }
        assert_eq!(ctx.quic_since(0).count(), 1);
        let mut limits = crate::limits::LimitsReport::default();
        ctx.count_limits(&mut limits);
        assert_eq!(limits.records_omitted.get("quic_flows"), Some(&1));
        // A byte cap below one flow's estimate refuses it for memory instead.
        let mut ctx = UdpContext::new(&UdpOptions::default());
        ctx.set_caps(usize::MAX, 1);
        let mut flow = UdpState::default();
        ctx.on_datagram(&mut flow, C, &quic, Timestamp(0));
        ctx.finish(flow, meta());
        let mut limits = crate::limits::LimitsReport::default();
        ctx.count_limits(&mut limits);
        assert_eq!(limits.dropped_for_memory.get("quic_flows"), Some(&1));
        assert_eq!(ctx.flows_ended(), 1);
    }
}
