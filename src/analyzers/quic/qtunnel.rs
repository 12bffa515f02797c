//! QTunnel-style carriers (`shared/specs/qtunnel-and-v2ray.md`): a local TCP service
//! whose connections each ride as a stream of one long QUIC connection. On the QUIC
//! client's host the TCP service is the tunnel's front end (users connect to it); on the
//! server's host it is the back end (the tunnel server connects to it). Either way its TCP
//! connections start next to activity on the carrying QUIC connection.
//!
//! [`infer`] is a pure function over TCP connection starts and QUIC connections:
//!
//! 1. TCP connections are grouped by server endpoint; only *local* ones count for a QUIC
//!    connection: the TCP server is on a loopback address, or is the QUIC client's address
//!    (a front end on the client host), or the TCP client is the QUIC server's address (a
//!    back end reached from the server host).
//! 2. A TCP start `t` is *next to* a QUIC connection when the QUIC connection began before
//!    `t`, had not ended by `t`, and one of its activity spans comes within [`NEAR_NS`]
//!    (20 ms) of `t`.
//! 3. A QUIC connection carries a group when at least [`MIN_TCP`] of the group's
//!    connections, and at least half of them, are next to it. Among several candidates the
//!    one next to the most wins, then the longer-lived one. Each QUIC connection reports its
//!    largest group.
//!
//! The result is "likely", not proof: a busy QUIC connection is next to everything.

use crate::flow::Endpoint;
use crate::timestamp::Timestamp;
use serde::Serialize;

/// How close (ns) a TCP start must be to QUIC activity.
pub const NEAR_NS: i64 = 20_000_000;
/// Fewest TCP connections that make a carrier.
pub const MIN_TCP: usize = 2;

/// A TCP connection's start.
#[derive(Clone, Copy, Debug)]
pub struct TcpStart {
    pub client: Endpoint,
    pub server: Endpoint,
    pub ts: Timestamp,
}

/// A QUIC connection's time and activity.
#[derive(Clone, Copy, Debug)]
pub struct QuicSpan<'a> {
    pub client: Endpoint,
    pub server: Endpoint,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// (first, last) datagram time of each burst, in time order.
    pub activity: &'a [(Timestamp, Timestamp)],
}

/// What a QUIC connection likely carries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Carried {
    /// The local TCP service: the tunnel's front end on the client's host, its back end on
    /// the server's host.
    pub tcp_server: Endpoint,
    pub tcp_port: u16,
    /// TCP connections to it that started next to this QUIC connection's activity.
    pub tcp_connections: usize,
    /// Their start times, in milliseconds after the QUIC connection's first packet.
    pub offsets_ms: Vec<f64>,
    /// For each, the distance to the nearest QUIC activity in milliseconds (0 inside a burst).
    pub lags_ms: Vec<f64>,
}

fn is_loopback(e: &Endpoint) -> bool {
    e.addr.is_loopback()
}

fn local(t: &TcpStart, q: &QuicSpan<'_>) -> bool {
    is_loopback(&t.server) || t.server.addr == q.client.addr || t.client.addr == q.server.addr
}

/// Distance (ns) from `t` to the nearest activity span, if the QUIC connection spans `t`.
fn lag(t: Timestamp, q: &QuicSpan<'_>) -> Option<i64> {
    if t < q.first_ts || t > q.last_ts {
        return None;
    }
    // Spans are in time order: the first that ends at or after t - NEAR.
    let from = Timestamp(t.0.saturating_sub(NEAR_NS));
    let i = q.activity.partition_point(|&(_, end)| end < from);
    q.activity
        .iter()
        .skip(i)
        .take_while(|&&(start, _)| start.0 <= t.0.saturating_add(NEAR_NS))
        .map(|&(start, end)| {
            if t < start {
                start.nanos_since(t)
            } else if t > end {
                t.nanos_since(end)
            } else {
                0
            }
        })
        .min()
}

/// For each QUIC connection (same order as `quic`), what it likely carries.
pub fn infer(tcp: &[TcpStart], quic: &[QuicSpan<'_>]) -> Vec<Option<Carried>> {
    let mut servers: Vec<Endpoint> = tcp.iter().map(|t| t.server).collect();
    servers.sort_unstable();
    servers.dedup();
    let mut out: Vec<Option<Carried>> = vec![None; quic.len()];
    for server in servers {
        let mut group: Vec<&TcpStart> = tcp.iter().filter(|t| t.server == server).collect();
        group.sort_by_key(|t| t.ts);
        if group.len() < MIN_TCP {
            continue;
        }
        let mut best: Option<(usize, Vec<(Timestamp, i64)>)> = None;
        for (qi, q) in quic.iter().enumerate() {
            let near: Vec<(Timestamp, i64)> = group
                .iter()
                .filter(|t| local(t, q))
                .filter_map(|t| lag(t.ts, q).map(|l| (t.ts, l)))
                .collect();
            if near.len() < MIN_TCP || near.len() * 2 < group.len() {
                continue;
            }
            let better = match &best {
                None => true,
                Some((bi, bn)) => {
                    let dur = |q: &QuicSpan<'_>| q.last_ts.nanos_since(q.first_ts);
                    (near.len(), dur(q)) > (bn.len(), dur(&quic[*bi]))
                }
            };
            if better {
                best = Some((qi, near));
            }
        }
        let Some((qi, near)) = best else { continue };
        let q = &quic[qi];
        let carried = Carried {
            tcp_server: server,
            tcp_port: server.port,
            tcp_connections: near.len(),
            offsets_ms: near
                .iter()
                .map(|(t, _)| t.millis_since(q.first_ts))
                .collect(),
            lags_ms: near.iter().map(|(_, l)| *l as f64 / 1e6).collect(),
        };
        let slot = &mut out[qi];
        if slot
            .as_ref()
            .is_none_or(|c| c.tcp_connections < carried.tcp_connections)
        {
            *slot = Some(carried);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn ep(a: [u8; 4], port: u16) -> Endpoint {
        Endpoint::new(IpAddr::V4(Ipv4Addr::from(a)), port)
    }
    const MS: i64 = 1_000_000;

    fn tcp(port: u16, server: [u8; 4], ms: i64) -> TcpStart {
        TcpStart {
            client: ep([127, 0, 0, 1], 40000 + (ms % 1000) as u16),
            server: ep(server, port),
            ts: Timestamp(ms * MS),
        }
    }

    #[test]
    fn front_end_connections_next_to_quic_bursts() {
        let spans = [(0, 10), (101, 104), (500, 503), (900, 905)]
            .map(|(a, b)| (Timestamp(a * MS), Timestamp(b * MS)));
        let long = QuicSpan {
            client: ep([10, 0, 0, 1], 33000),
            server: ep([10, 0, 0, 2], 4433),
            first_ts: Timestamp(0),
            last_ts: Timestamp(1000 * MS),
            activity: &spans,
        };
        let short_spans = [(Timestamp(99 * MS), Timestamp(99 * MS))];
        let short = QuicSpan {
            first_ts: Timestamp(99 * MS),
            last_ts: Timestamp(99 * MS),
            activity: &short_spans,
            ..long
        };
        let tcps = [
            tcp(8080, [127, 0, 0, 1], 100),
            tcp(8080, [127, 0, 0, 1], 499),
            tcp(8080, [127, 0, 0, 1], 700), // nowhere near activity
            tcp(8080, [127, 0, 0, 1], 899),
            // A remote TCP server is never a front end.
            tcp(80, [93, 184, 216, 34], 100),
            tcp(80, [93, 184, 216, 34], 500),
        ];
        let r = infer(&tcps, &[long, short]);
        let c = r[0].as_ref().expect("carrier");
        assert_eq!(c.tcp_port, 8080);
        assert_eq!(c.tcp_connections, 3);
        assert_eq!(c.offsets_ms, vec![100.0, 499.0, 899.0]);
        assert_eq!(c.lags_ms, vec![1.0, 1.0, 1.0]);
        assert!(
            r[1].is_none(),
            "the short connection spans one TCP start only"
        );
    }

    #[test]
    fn lone_tcp_connection_is_not_enough() {
        let spans = [(Timestamp(0), Timestamp(10 * MS))];
        let q = QuicSpan {
            client: ep([10, 0, 0, 1], 1),
            server: ep([10, 0, 0, 2], 2),
            first_ts: Timestamp(0),
            last_ts: Timestamp(10 * MS),
            activity: &spans,
        };
        assert_eq!(infer(&[tcp(8080, [127, 0, 0, 1], 5)], &[q]), vec![None]);
        assert_eq!(infer(&[], &[]), Vec::<Option<Carried>>::new());
    }
}
