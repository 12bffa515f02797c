//! Connections, not 4-tuples: finished QUIC flows that share a connection ID are one
//! connection, and every change of the client's address or port inside it is a migration
//! (RFC 9000 §9).
//!
//! [`group`] is a pure function over the finished flows. Two flows are joined when they
//! share a non-empty identity CID ([`super::QuicFlow::identity_cids`]: the client's original
//! and post-Retry DCIDs, both handshake SCIDs; a flow that joined a connection mid-way
//! carries the CID it was recognised by) **and** the same server address (a guard against
//! short random CIDs colliding across unrelated servers; a server moving to its preferred
//! address is therefore a new connection). Joins are transitive (union-find), so a chain of
//! flows (A shares with B, B with C) is one connection.
//!
//! The merged record takes its handshake facts (version, CIDs, SNI, ...) from the earliest
//! flow that has them, adds up packets and bytes, ORs the flags, and lists the flows as
//! `paths` in time order; `migrations` counts the times the client endpoint differs from the
//! previous path's. Cost: O(n · c) hashing for n flows of c CIDs each.
//!
//! [`KnownCids`] is the live half: the CIDs seen so far, so the pipeline can recognise a
//! flow that starts with a short header (no version, no handshake) on a new 4-tuple.

use super::conn::{QuicFlow, QuicPath, QuicSummary};
use crate::flow::Endpoint;
use crate::timestamp::Timestamp;
use std::collections::HashMap;
use std::net::IpAddr;

/// One finished QUIC flow (one 4-tuple, one idle period).
#[derive(Clone, Debug)]
pub struct FinishedFlow {
    pub client: Endpoint,
    pub server: Endpoint,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub cids: Vec<Vec<u8>>,
    pub activity: Vec<(Timestamp, Timestamp)>,
    pub summary: QuicSummary,
}

impl crate::limits::Footprint for FinishedFlow {
    /// The struct, its CIDs and activity spans, and the summary's strings (connection IDs
    /// in hex, SNI, ALPN, JA4...) and parsed ClientHello, estimated.
    fn footprint(&self) -> usize {
        let s = &self.summary;
        let text = |o: &Option<String>| o.as_ref().map_or(0, |x| x.capacity() + 16);
        std::mem::size_of::<Self>()
            + self.cids.iter().map(|c| c.capacity() + 40).sum::<usize>()
            + self.activity.capacity() * std::mem::size_of::<(Timestamp, Timestamp)>()
            + [
                &s.version,
                &s.client_dcid,
                &s.client_scid,
                &s.server_scid,
                &s.retry_dcid,
                &s.sni,
                &s.ja4,
            ]
            .into_iter()
            .map(text)
            .sum::<usize>()
            + s.alpn.iter().map(|a| a.capacity() + 24).sum::<usize>()
            + s.client_hello.as_ref().map_or(0, |_| 1024)
            + s.anomaly_reasons.capacity() * 32
    }
}

/// One QUIC connection after grouping.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The endpoints of its first flow.
    pub client: Endpoint,
    pub server: Endpoint,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// Activity spans of all its flows, merged, in time order.
    pub activity: Vec<(Timestamp, Timestamp)>,
    pub summary: QuicSummary,
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Groups finished flows into connections, in order of first packet.
pub fn group(mut flows: Vec<FinishedFlow>) -> Vec<Connection> {
    flows.sort_by_key(|f| (f.first_ts, f.client, f.server));
    let mut parent: Vec<usize> = (0..flows.len()).collect();
    let mut owner: HashMap<(IpAddr, &[u8]), usize> = HashMap::new();
    for (i, f) in flows.iter().enumerate() {
        for cid in f.cids.iter().filter(|c| !c.is_empty()) {
            match owner.get(&(f.server.addr, cid.as_slice())) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    // The earlier flow stays the root.
                    parent[a.max(b)] = a.min(b);
                }
                None => {
                    owner.insert((f.server.addr, cid.as_slice()), i);
                }
            }
        }
    }
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); flows.len()];
    for i in 0..flows.len() {
        let r = find(&mut parent, i);
        members[r].push(i);
    }
    members
        .into_iter()
        .filter(|m| !m.is_empty())
        .map(|m| merge(m.iter().map(|&i| &flows[i]).collect()))
        .collect()
}

/// Merges one connection's flows (in time order, at least one).
fn merge(flows: Vec<&FinishedFlow>) -> Connection {
    let first = flows[0];
    let mut s = first.summary.clone();
    let mut activity = first.activity.clone();
    let mut last_ts = first.last_ts;
    for f in flows.iter().skip(1) {
        let o = &f.summary;
        last_ts = last_ts.max(f.last_ts);
        activity.extend_from_slice(&f.activity);
        s.packets_c2s += o.packets_c2s;
        s.packets_s2c += o.packets_s2c;
        s.bytes_c2s += o.bytes_c2s;
        s.bytes_s2c += o.bytes_s2c;
        s.zero_rtt |= o.zero_rtt;
        s.retry |= o.retry;
        s.version_negotiation |= o.version_negotiation;
        s.anomalies += o.anomalies;
        for a in &o.anomaly_reasons {
            match s.anomaly_reasons.iter_mut().find(|x| x.reason == a.reason) {
                Some(x) => {
                    x.count += a.count;
                    x.first_ts = x.first_ts.min(a.first_ts);
                }
                None => s.anomaly_reasons.push(a.clone()),
            }
        }
        macro_rules! fill {
            ($($field:ident),*) => { $( if s.$field.is_none() { s.$field = o.$field.clone(); } )* };
        }
        fill!(
            version,
            client_dcid,
            client_scid,
            server_scid,
            retry_dcid,
            sni,
            ja4,
            handshake_ms,
            server_handshake_ms,
            retry_tag_valid,
            tls_version,
            tls_cipher,
            connection_close,
            client_hello,
            disguise,
            security
        );
        if s.alpn.is_empty() {
            s.alpn = o.alpn.clone();
        }
        if s.vn_versions.is_empty() {
            s.vn_versions = o.vn_versions.clone();
        }
        for fp in &o.v2ray_fingerprints {
            if !s.v2ray_fingerprints.contains(fp) {
                s.v2ray_fingerprints.push(fp);
            }
        }
        if let (Some(v), Some(ov)) = (&mut s.v2ray, &o.v2ray) {
            v.datagrams_unwrapped += ov.datagrams_unwrapped;
            v.datagrams_not_unwrapped += ov.datagrams_not_unwrapped;
            v.quic_bytes_c2s += ov.quic_bytes_c2s;
            v.quic_bytes_s2c += ov.quic_bytes_s2c;
        } else if s.v2ray.is_none() {
            s.v2ray = o.v2ray.clone();
        }
    }
    activity.sort_unstable();
    if flows.len() > 1 {
        s.paths = flows
            .iter()
            .map(|f| QuicPath {
                client: f.client,
                server: f.server,
                first_ts: f.first_ts,
                last_ts: f.last_ts,
                packets_c2s: f.summary.packets_c2s,
                packets_s2c: f.summary.packets_s2c,
            })
            .collect();
        s.migrations = flows
            .windows(2)
            .filter(|w| w[0].client != w[1].client)
            .count() as u64;
    }
    Connection {
        client: first.client,
        server: first.server,
        first_ts: first.first_ts,
        last_ts,
        activity,
        summary: s,
    }
}

/// Connection IDs seen in QUIC handshakes, so that a flow starting with a short header to
/// one of them (the client moved to a new address or port) is recognised as QUIC. Bounded:
/// at [`MAX_KNOWN_CIDS`] the table is cleared and learns afresh.
#[derive(Default)]
pub struct KnownCids {
    /// CID -> whether the server chose it.
    owner_is_server: HashMap<Vec<u8>, bool>,
    /// Bit n set when a CID of n bytes is known.
    lengths: u32,
}

pub const MAX_KNOWN_CIDS: usize = 65_536;
/// Shorter CIDs are not learned: a random short header would match them too often.
pub const MIN_KNOWN_CID: usize = 4;

impl KnownCids {
    /// Learns the CIDs `q` has seen (call when [`QuicFlow::take_new_cids`] says so).
    pub fn learn(&mut self, q: &QuicFlow) {
        for (cid, server) in q.owned_cids() {
            if !(MIN_KNOWN_CID..=20).contains(&cid.len()) {
                continue;
            }
            if self.owner_is_server.contains_key(cid) {
                continue;
            }
            if self.owner_is_server.len() >= MAX_KNOWN_CIDS {
                self.owner_is_server.clear();
                self.lengths = 0;
            }
            self.owner_is_server.insert(cid.to_vec(), server);
            self.lengths |= 1 << cid.len();
        }
    }

    /// A short-header datagram's DCID, if it is a known CID: (CID, owner is the server).
    /// The QUIC bit is not required: peers may grease it (RFC 9287; quinn does).
    pub fn find<'a>(&self, d: &'a [u8]) -> Option<(&'a [u8], bool)> {
        if d.first()? & 0x80 != 0 {
            return None;
        }
        (MIN_KNOWN_CID..=20)
            .filter(|n| self.lengths & (1 << n) != 0)
            .filter_map(|n| d.get(1..1 + n))
            .find_map(|c| self.owner_is_server.get(c).map(|&s| (c, s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzers::quic::QuicFlow;
    use std::net::Ipv4Addr;

    fn ep(a: u8, port: u16) -> Endpoint {
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)), port)
    }

    fn flow(client: Endpoint, server: Endpoint, t: i64, cids: &[&[u8]], pk: u64) -> FinishedFlow {
        let mut summary = QuicFlow::new().summarize();
        summary.packets_c2s = pk;
        summary.packets_s2c = pk;
        FinishedFlow {
            client,
            server,
            first_ts: Timestamp(t),
            last_ts: Timestamp(t + 10),
            cids: cids.iter().map(|c| c.to_vec()).collect(),
            activity: vec![(Timestamp(t), Timestamp(t + 10))],
            summary,
        }
    }

    #[test]
    fn nat_rebinding_chain_is_one_connection_with_two_migrations() {
        let s = ep(1, 443);
        let flows = vec![
            // Out of order on purpose: grouping sorts by time.
            flow(ep(2, 50002), s, 300, &[b"SERVERCID"], 3),
            flow(
                ep(2, 50000),
                s,
                100,
                &[b"ODCID-123", b"CLIENTCID", b"SERVERCID"],
                10,
            ),
            flow(ep(3, 50001), s, 200, &[b"SERVERCID"], 5),
            flow(ep(9, 40000), s, 150, &[b"OTHER-ODC", b"OTHERSCID"], 7),
        ];
        let conns = group(flows);
        assert_eq!(conns.len(), 2);
        let c = &conns[0];
        assert_eq!(c.client, ep(2, 50000));
        assert_eq!(c.summary.migrations, 2);
        assert_eq!(c.summary.paths.len(), 3);
        assert_eq!(c.summary.packets_c2s, 18);
        assert_eq!(c.last_ts, Timestamp(310));
        assert_eq!(conns[1].summary.migrations, 0);
        assert!(conns[1].summary.paths.is_empty());
    }

    #[test]
    fn transitive_via_retry_and_guarded_by_server_address() {
        let s = ep(1, 443);
        let flows = vec![
            flow(ep(2, 1), s, 1, &[b"A-ODCID", b"RETRYCID"], 1),
            flow(ep(2, 2), s, 2, &[b"RETRYCID", b"SCID-B"], 1),
            flow(ep(2, 3), s, 3, &[b"SCID-B"], 1),
            // Same CID at another server: a collision, not the same connection.
            flow(ep(2, 4), ep(5, 443), 4, &[b"SCID-B"], 1),
            // Empty CIDs never join anything.
            flow(ep(2, 5), s, 5, &[b""], 1),
            flow(ep(2, 6), s, 6, &[b""], 1),
        ];
        let conns = group(flows);
        assert_eq!(conns.len(), 4);
        assert_eq!(conns[0].summary.migrations, 2);
        // Same 4-tuple twice (an idle split) is one connection without a migration.
        let again = group(vec![
            flow(ep(2, 1), s, 1, &[b"X1234567"], 1),
            flow(ep(2, 1), s, 9, &[b"X1234567"], 1),
        ]);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].summary.migrations, 0);
        assert_eq!(again[0].summary.paths.len(), 2);
    }
}
