//! QUIC: header decoding, Initial decryption, ClientHello extraction and per-flow state.
//!
//! * `version` — version numbers, names and per-version constants (salts, labels, Retry keys).
//! * `header` — cleartext headers, coalesced-packet splitting, the content detector
//!   [`header::looks_like_quic`].
//! * `keys` — the key schedule and packet protection on *ring*.
//! * `initial` — header-protection removal, AEAD open, frames, CRYPTO reassembly.
//! * `conn` — [`conn::QuicFlow`], fed one datagram at a time, and its [`conn::QuicSummary`].
//! * `v2ray` — v2ray's QUIC transport: packet-header disguises, its AEAD layer and key
//!   derivation, [`v2ray::V2rayFlow`] (a [`conn::QuicFlow`] under that layer).
//! * `record` — what is reported: [`QuicSummary`] per flow, [`QuicRecord`] per connection.
//! * `group` — finished flows grouped into connections by connection ID (migrations).
//! * `qtunnel` — which QUIC connection likely carries a local TCP service's connections.
//!
//! All of it is pure code over bytes: no I/O, no clock (time is passed in), no panics on
//! any input, and every buffer has a stated bound.

pub mod conn;
pub mod group;
pub mod header;
pub mod initial;
pub mod keys;
pub mod qtunnel;
pub mod record;
pub mod v2ray;
pub mod version;

pub use conn::QuicFlow;
pub use header::{detect_version, looks_like_quic};
pub use record::{QuicRecord, QuicSummary};
pub use version::Version;

/// QUIC on the wire as it is, as a registered UDP protocol: by content (a long header
/// of a known version, see [`looks_like_quic`]) or by a connection ID another flow
/// announced (a migrated connection's first short-header packet).
pub struct Udp;

impl crate::analyzers::api::UdpProtocol for Udp {
    type Shared = group::KnownCids;
    type Flow = Box<QuicFlow>;
    type Finished = group::FinishedFlow;

    fn shared(_: &crate::analyzers::api::UdpOptions) -> group::KnownCids {
        group::KnownCids::default()
    }

    fn probe(
        known: &group::KnownCids,
        payload: &[u8],
        dir: crate::flow::Direction,
    ) -> crate::analyzers::api::UdpProbe<Box<QuicFlow>> {
        use crate::analyzers::api::UdpProbe;
        if looks_like_quic(payload) {
            UdpProbe::Start(Box::default())
        } else if let Some((cid, server)) = known.find(payload) {
            UdpProbe::Start(Box::new(QuicFlow::joined(cid, server, dir)))
        } else {
            UdpProbe::NotMine
        }
    }

    fn on_datagram(
        q: &mut Box<QuicFlow>,
        known: &mut group::KnownCids,
        dir: crate::flow::Direction,
        payload: &[u8],
        ts: crate::timestamp::Timestamp,
    ) {
        q.on_datagram(dir, payload, ts);
        if q.take_new_cids() {
            known.learn(q);
        }
    }

    fn throughput_label(_: &Box<QuicFlow>) -> &'static str {
        "quic"
    }

    fn finish(
        q: Box<QuicFlow>,
        meta: crate::analyzers::api::UdpFlowMeta,
    ) -> (Option<&'static str>, Option<group::FinishedFlow>) {
        let (client, server) = if q.reversed() {
            (meta.server, meta.client)
        } else {
            (meta.client, meta.server)
        };
        let finished = group::FinishedFlow {
            client,
            server,
            first_ts: meta.first_ts,
            last_ts: meta.last_ts,
            cids: q.identity_cids(),
            activity: q.activity().to_vec(),
            summary: q.summarize(),
        };
        (Some("quic"), Some(finished))
    }
}

#[cfg(test)]
pub(crate) mod tests;
