//! UDP flows: the classifier of a flow's first datagrams (QUIC by content, then by a
//! connection ID seen on another flow, WireGuard handshakes, v2ray's packet-header
//! disguises and AEAD layer), the per-flow state that follows, and the cross-flow
//! records made at the end (QUIC connections grouped by connection ID, with the local
//! TCP service a QTunnel-style carrier likely serves).
//!
//! # Contracts
//!
//! - [`UdpFlow::on_datagram`] is called for every datagram of the flow in packet order;
//!   at most [`PROBE_DATAGRAMS`] datagrams are probed before a flow is `unknown`.
//! - [`UdpContext`] is what flows share: v2ray keys to try and connection IDs learnt
//!   from QUIC flows, so that a flow joining a known connection after an address change
//!   is recognised by its first short-header packet.
//! - [`UdpFlow::finish`] gives the flow's protocol for its connection record and, for
//!   QUIC (bare or inside v2ray), the finished flow for [`UdpContext::quic_records`].

use super::quic::group::{self, FinishedFlow, KnownCids};
use super::quic::qtunnel::{self, QuicSpan, TcpStart};
use super::quic::v2ray::{self, V2rayFlow, V2rayKey};
use super::quic::{QuicFlow, QuicRecord, header::looks_like_quic};
use super::wireguard::{self, WireGuardMessage};
use crate::flow::{Direction, Endpoint};
use crate::timestamp::Timestamp;

/// How many datagrams of a UDP flow are probed for a known protocol before giving up.
pub const PROBE_DATAGRAMS: u8 = 4;

/// State shared by every UDP flow of a run.
pub struct UdpContext {
    v2ray_keys: Vec<V2rayKey>,
    known_cids: KnownCids,
    /// QUIC flows that have ended, for grouping at the end.
    finished: Vec<FinishedFlow>,
}

impl UdpContext {
    /// `v2ray_keys`: keys for v2ray's QUIC AEAD layer, tried after the empty key.
    pub fn new(v2ray_keys: &[String]) -> Self {
        UdpContext {
            v2ray_keys: V2rayKey::list(v2ray_keys),
            known_cids: KnownCids::default(),
            finished: Vec::new(),
        }
    }

    /// QUIC flows that have ended so far (for rolling summaries).
    pub fn finished_quic(&self) -> &[FinishedFlow] {
        &self.finished
    }

    /// QUIC flows grouped into connections, each with the local TCP service it likely
    /// carries (`tcp` lists the TCP connections' starts; read only when there is QUIC).
    pub fn quic_records<I: IntoIterator<Item = TcpStart>>(
        self,
        tcp: impl FnOnce() -> I,
    ) -> Vec<QuicRecord> {
        let conns = group::group(self.finished);
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

/// What one UDP flow turned out to carry.
pub enum UdpFlow {
    /// Still looking at the first datagrams.
    Probing {
        /// Datagrams probed so far.
        seen: u8,
        /// Probed datagrams shaped like WireGuard messages.
        wireguard: u8,
    },
    /// Two or more datagrams shaped like WireGuard messages (type, zero reserved bytes,
    /// exact lengths), and nothing that was QUIC.
    WireGuard,
    /// QUIC on the wire as it is.
    Quic(Box<QuicFlow>),
    /// QUIC under v2ray's packet header and/or AEAD (or a disguise header alone).
    V2ray(Box<V2rayFlow>),
    /// None of the above after [`PROBE_DATAGRAMS`] datagrams.
    Unknown,
}

impl Default for UdpFlow {
    fn default() -> Self {
        UdpFlow::Probing {
            seen: 0,
            wireguard: 0,
        }
    }
}

/// A flow's endpoints and times, as the flow table knows them.
#[derive(Clone, Copy, Debug)]
pub struct UdpFlowMeta {
    /// The flow's client, as the flow table decided.
    pub client: Endpoint,
    /// The flow's server.
    pub server: Endpoint,
    /// Its first packet's time.
    pub first_ts: Timestamp,
    /// Its last packet's time.
    pub last_ts: Timestamp,
}

impl UdpFlow {
    /// Probes the flow's first datagrams, then feeds the state they chose.
    pub fn on_datagram(
        &mut self,
        ctx: &mut UdpContext,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
    ) {
        if let UdpFlow::Probing { seen, wireguard } = self {
            let wg = wireguard::classify(payload);
            if wg.is_some() {
                *wireguard += 1;
            }
            if looks_like_quic(payload) {
                *self = UdpFlow::Quic(Box::default());
            } else if let Some((cid, server)) = ctx.known_cids.find(payload) {
                *self = UdpFlow::Quic(Box::new(QuicFlow::joined(cid, server, dir)));
            } else if matches!(
                wg,
                Some(
                    WireGuardMessage::HandshakeInitiation { .. }
                        | WireGuardMessage::HandshakeResponse { .. }
                        | WireGuardMessage::CookieReply { .. }
                )
            ) {
                // A WireGuard handshake (exact sizes, zero reserved bytes) is not v2ray's
                // 4-byte "wireguard" disguise, which only imitates transport messages.
                *self = UdpFlow::WireGuard;
            } else if let Some(p) = v2ray::probe(payload, &ctx.v2ray_keys) {
                *self = UdpFlow::V2ray(Box::new(V2rayFlow::new(p)));
            } else if *wireguard >= 2 {
                *self = UdpFlow::WireGuard;
            } else if *seen + 1 >= PROBE_DATAGRAMS {
                *self = UdpFlow::Unknown;
            } else {
                *seen += 1;
            }
        }
        match self {
            UdpFlow::Quic(q) => {
                q.on_datagram(dir, payload, ts);
                if q.take_new_cids() {
                    ctx.known_cids.learn(q);
                }
            }
            UdpFlow::V2ray(v) => v.on_datagram(dir, payload, ts),
            UdpFlow::Probing { .. } | UdpFlow::WireGuard | UdpFlow::Unknown => {}
        }
    }

    /// What throughput is counted under while the flow is live.
    pub fn throughput_label(&self) -> &'static str {
        match self {
            UdpFlow::Quic(_) => "quic",
            _ => "udp",
        }
    }

    /// The flow has ended: its protocol (`None` when unknown); a QUIC flow (bare or
    /// opened inside v2ray) is kept in `ctx` for grouping.
    pub fn finish(self, ctx: &mut UdpContext, meta: UdpFlowMeta) -> Option<&'static str> {
        let app: Option<&'static str> = match &self {
            UdpFlow::Quic(_) => Some("quic"),
            UdpFlow::V2ray(v) if v.opened() => Some("quic"),
            // Transport messages of a WireGuard session picked up mid-way look like
            // v2ray's "wireguard" disguise; without QUIC inside, they are most likely
            // WireGuard itself.
            UdpFlow::V2ray(v) if v.disguise() == Some(v2ray::Disguise::Wireguard) => {
                Some("wireguard")
            }
            UdpFlow::WireGuard => Some("wireguard"),
            _ => None,
        };
        let finished = match self {
            UdpFlow::Quic(q) => Some((
                q.summarize(),
                q.identity_cids(),
                q.activity().to_vec(),
                q.reversed(),
            )),
            UdpFlow::V2ray(v) => v.summarize().map(|s| {
                (
                    s,
                    v.quic().identity_cids(),
                    v.quic().activity().to_vec(),
                    false,
                )
            }),
            _ => None,
        };
        if let Some((summary, cids, activity, reversed)) = finished {
            let (client, server) = if reversed {
                (meta.server, meta.client)
            } else {
                (meta.client, meta.server)
            };
            ctx.finished.push(FinishedFlow {
                client,
                server,
                first_ts: meta.first_ts,
                last_ts: meta.last_ts,
                cids,
                activity,
                summary,
            });
        }
        app
    }
}
