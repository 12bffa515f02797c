use super::*;
use crate::analyzers::encrypted::{EncryptedRecord, Evidence, UnknownRecord};
use crate::analyzers::http::{DisguiseRecord, HttpRecord, HttpTransaction};
use crate::analyzers::openvpn::OpenVpnRecord;
use crate::analyzers::redis::{RedisCommand, RedisRecord, RedisReply};
use crate::analyzers::registry::AppRecords;
use crate::analyzers::socks::SocksRecord;
use crate::analyzers::ssh::SshRecord;
use crate::analyzers::tls::x509::CertInfo;
use crate::analyzers::tls::{AlertInfo, TlsRecord};
use crate::assembly::{
    CloseReason, ConnState, DirectionRecord, DirectionStats, GapStats, GapTally, Handshake,
    OverlapConflict, StreamStart, TcpConnRecord,
};
use crate::flow::{Direction, Endpoint, FlowId, L4, RoleRule};
use crate::report::AppChain;
use crate::report::ConnectionRecord;
use crate::report::throughput::ConnThroughput;
use crate::timestamp::Timestamp;
use serde::Deserialize;
use std::fmt::Debug;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Timestamps whose nanoseconds a float of seconds cannot hold.
fn ts(i: i64) -> Timestamp {
    Timestamp(1_796_351_502_123_456_789 + i)
}

fn s(x: &str) -> String {
    x.to_string()
}

fn gaps(k: u64) -> GapStats {
    let t = |n: u64| GapTally {
        count: k + n,
        bytes: 100 * (k + n),
    };
    GapStats {
        acked_not_captured: t(1),
        never_acked: t(2),
        limit_skipped: t(3),
        snaplen_truncated: t(4),
    }
}

fn direction(k: u64) -> DirectionRecord {
    DirectionRecord {
        start: Some(StreamStart::Midstream),
        end: Some(CloseReason::PortReuse),
        first_seq: Some(4_294_967_295 - k as u32),
        stream_length: 10_000 + k,
        first_payload_ts: Some(ts(3)),
        last_payload_ts: Some(ts(4)),
        stats: DirectionStats {
            packets: k + 1,
            payload_bytes: k + 2,
            delivered_bytes: k + 3,
            gaps: gaps(k),
            retransmitted_packets: k + 4,
            retransmitted_bytes: k + 5,
            out_of_order_segments: k + 6,
            overlaps: k + 7,
            overlap_conflicts: k + 8,
            zero_windows: k + 9,
            bytes_before_start: k + 10,
            bytes_after_end: k + 11,
            out_of_window_segments: k + 12,
            syn_isn_changes: k + 13,
        },
    }
}

/// A connection record with every field set (and `first_packet` = `n`).
fn connection(n: u64) -> ConnectionRecord {
    let v6 = Endpoint::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        443,
    );
    ConnectionRecord {
        proto: L4::Tcp,
        client: Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40_000 + n as u16),
        server: v6,
        role_rule: RoleRule::WellKnownPort,
        first_ts: ts(0),
        last_ts: ts(999),
        duration_s: 1.234_567_891,
        packets_c2s: 1,
        packets_s2c: 2,
        bytes_c2s: 3,
        bytes_s2c: 4,
        ip_bytes_c2s: 5,
        ip_bytes_s2c: 6,
        payload_bytes_c2s: 7,
        payload_bytes_s2c: u64::MAX,
        end: CloseReason::PortReuse,
        first_packet: n,
        app_chain: AppChain(vec!["socks5".into(), Cow::Owned(s("tls"))]),
        encap: sample_encap(n),
        tcp: Some(TcpConnRecord {
            conn: FlowId {
                slot: 7,
                generation: 9,
            },
            first_ts: ts(0),
            last_ts: ts(999),
            handshake: Handshake {
                syn_ts: Some(ts(0)),
                syn_ack_ts: Some(ts(1)),
                first_ack_ts: Some(ts(2)),
                client_rtt_ns: Some(1),
                server_rtt_ns: Some(-1),
                total_rtt_ns: Some(2),
            },
            c2s: direction(1),
            s2c: direction(2),
            close_reason: CloseReason::Rst,
            history: s("ShADadFf"),
            conn_state: ConnState::ServerSynAckThenReset,
            missed_bytes: 12,
            conflict_events: 3,
            first_conflict: Some(OverlapConflict {
                dir: Direction::ServerToClient,
                offset: 77,
                seq: 78,
                len: 79,
                first_hash: u64::MAX,
                second_hash: 1,
                ts: ts(5),
            }),
        }),
    }
}

fn evidence() -> Evidence {
    Evidence {
        sample_len: 256,
        entropy_bits_per_byte: 7.9,
        popcount_per_byte: 4.01,
        printable_fraction: 0.37,
        longest_printable_run: 5,
        exempt_by: Some("ex4_printable_run".into()),
    }
}

/// One record of each application protocol, every field set.
fn every_app_record() -> Vec<AppRecords> {
    let (c, sv) = (s("10.0.0.1:40000"), s("[2001:db8::1]:443"));
    vec![
        AppRecords::Tls(TlsRecord {
            client: c.clone(),
            server: sv.clone(),
            version: Some(s("TLSv13")),
            client_versions: vec![s("TLSv13"), s("TLSv12")],
            sni: Some(s("example.com")),
            alpn: vec![s("h2"), s("http/1.1")],
            alpn_selected: Some(s("h2")),
            cipher_suites: vec![0x1301, 0xc02f],
            groups: vec![29, 23],
            ja3: Some(s("ja3")),
            ja3_string: Some(s("771,4865,0-23,29,0")),
            ja4: Some(s("t13d0202h2_x_y")),
            ja3s: Some(s("ja3s")),
            cipher: Some(s("TLS_AES_128_GCM_SHA256")),
            certificates: vec![CertInfo {
                serial: s("00AB"),
                subject: s("CN=example.com"),
                issuer: s("CN=ca"),
                not_before: Some(-5),
                not_after: Some(2_000_000_000),
                self_signed: true,
            }],
            alerts: vec![AlertInfo {
                direction: Direction::ServerToClient,
                level: Some(2),
                description: Some(s("handshake_failure")),
            }],
            handshake_ms: Some(12.345_678),
            app_bytes_c2s: 1,
            app_bytes_s2c: 2,
            records_c2s: 3,
            records_s2c: 4,
            mid_stream: true,
            gap_bytes: 5,
            anomalies: vec![s("a"), s("b")],
        }),
        AppRecords::Http(HttpRecord {
            client: c.clone(),
            server: sv.clone(),
            transactions: vec![HttpTransaction {
                method: Some(s("GET")),
                host: Some(s("example.com")),
                target: Some(s("/x?y=1")),
                version: Some(s("1.1")),
                user_agent: Some(s("curl/8")),
                status: Some(101),
                reason: Some(s("Switching Protocols")),
                response_version: Some(s("1.0")),
                request_body_len: 1,
                response_body_len: 2,
                request_trailing_bytes: 3,
                response_trailing_bytes: 4,
                latency_ms: Some(0.5),
                request_ts: Some(ts(6)),
                upgrade: Some(s("websocket")),
                tunnel: true,
                body_incomplete: true,
            }],
            transactions_dropped: 1,
            interim_responses: 2,
            gap_bytes: 3,
            resyncs: 4,
            skipped_bytes: 5,
            leniencies: [(s("bare_lf"), 6)].into_iter().collect(),
            anomalies: vec![s("x")],
        }),
        AppRecords::HttpDisguise(DisguiseRecord {
            client: c.clone(),
            server: sv.clone(),
            kind: "v2ray_http_header".into(),
            method: Some(s("GET")),
            host: Some(s("www.example.com")),
            target: Some(s("/")),
            user_agent: Some(s("Mozilla")),
            status: Some(200),
            evidence: vec![s("binary after the headers")],
        }),
        AppRecords::Socks(SocksRecord {
            client: c.clone(),
            server: sv.clone(),
            version: Some(5),
            auth_methods_offered: vec![s("none"), s("user_password")],
            auth_method: Some(s("user_password")),
            user: Some(s("alice")),
            auth_succeeded: Some(false),
            command: Some(s("connect")),
            destination: Some(s("example.com")),
            destination_is_name: true,
            destination_port: Some(443),
            reply_code: Some(0),
            status: Some(s("succeeded")),
            bound: Some(s("0.0.0.0")),
            bound_port: Some(0),
            anomalies: vec![s("y")],
        }),
        AppRecords::Redis(RedisRecord {
            client: c.clone(),
            server: sv.clone(),
            commands: vec![RedisCommand {
                name: s("GET"),
                argc: 1,
                args: vec![s("key")],
                ts: ts(7),
                reply: Some(RedisReply {
                    kind: "bulk".into(),
                    value: Some(s("v")),
                    error: true,
                    nil: true,
                    elements: 3,
                }),
                latency_ms: Some(0.25),
            }],
            commands_dropped: 1,
            unmatched_replies: 2,
            push_messages: 3,
            gap_bytes: 4,
            anomalies: vec![s("z")],
        }),
        AppRecords::Ssh(SshRecord {
            client: c.clone(),
            server: sv.clone(),
            client_banner: Some(s("SSH-2.0-OpenSSH_9.6")),
            server_banner: Some(s("SSH-2.0-OpenSSH_7.4")),
            version: Some(s("2.0")),
            client_software: Some(s("OpenSSH_9.6")),
            server_software: Some(s("OpenSSH_7.4")),
            kex_alg: Some(s("curve25519-sha256")),
            host_key_alg: Some(s("ssh-ed25519")),
            cipher_alg: Some(s("aes128-ctr")),
            cipher_alg_s2c: Some(s("aes256-ctr")),
            mac_alg: Some(s("hmac-sha2-256")),
            compression_alg: Some(s("none")),
            hassh: Some(s("h1")),
            hassh_server: Some(s("h2")),
            client_kex_algorithms: vec![s("k1"), s("k2")],
            server_kex_algorithms: vec![s("k3")],
            encrypted_bytes_c2s: 1,
            encrypted_bytes_s2c: 2,
            gap_bytes: 3,
            anomalies: vec![s("w")],
        }),
        AppRecords::Openvpn(OpenVpnRecord {
            client: c.clone(),
            server: sv.clone(),
            reset_version: Some(2),
            client_session_id: Some(s("0011223344556677")),
            packets_c2s: 1,
            packets_s2c: 2,
            bytes_c2s: 3,
            bytes_s2c: 4,
            framing_errors: 5,
        }),
        AppRecords::Encrypted(EncryptedRecord {
            client: c.clone(),
            server: sv.clone(),
            verdict: "fully_encrypted".into(),
            c2s: evidence(),
            s2c: Some(evidence()),
            first_c2s_len: 1,
            first_s2c_len: 2,
            shape_hint: Some("vmess_aead_like_first_flight".into()),
            bytes_c2s: 3,
            bytes_s2c: 4,
            gap_bytes: 5,
        }),
        AppRecords::Unknown(UnknownRecord {
            client: c,
            server: sv,
            bytes_c2s: 1,
            bytes_s2c: 2,
            gap_bytes: 3,
            first_c2s_hex: Some(s("00ff")),
            first_s2c_hex: Some(s("ff00")),
            note: Some(s("analyzer chain too deep")),
        }),
    ]
}

/// Every record through a spool that keeps none in memory: equal, and the same JSON.
fn round_trip<T>(records: Vec<T>)
where
    T: Serialize + for<'de> Deserialize<'de> + Clone + PartialEq + Debug,
{
    let mut spool = RecordSpool::new("test records", 0);
    for (i, r) in records.iter().enumerate() {
        spool.push(i as u64, r.clone());
    }
    spool.finish_writing();
    assert!(spool.take_warnings().is_empty());
    assert!(spool.spooled_bytes() > 0);
    let back = spool.to_vec();
    assert_eq!(back, records);
    assert_eq!(
        serde_json::to_string_pretty(&spool).unwrap(),
        serde_json::to_string_pretty(&records).unwrap()
    );
}

#[test]
fn connection_records_round_trip_exactly() {
    let full = connection(5);
    // Unset fields too: `tcp` is left out of the JSON when it is `None`.
    let udp = ConnectionRecord {
        proto: L4::Udp,
        tcp: None,
        app_chain: AppChain::default(),
        ..connection(6)
    };
    let bare = ConnectionRecord {
        tcp: Some(TcpConnRecord {
            handshake: Handshake::default(),
            c2s: DirectionRecord::default(),
            first_conflict: None,
            ..full.tcp.clone().unwrap()
        }),
        ..connection(7)
    };
    round_trip(vec![full, udp, bare]);
}

#[test]
fn every_application_record_round_trips_exactly() {
    // Each protocol's record alone, as the tables spool them (`AppRecords` itself is
    // internally tagged: a positional format cannot read it back, so it is never spooled).
    for r in every_app_record() {
        match r {
            AppRecords::Tls(r) => round_trip(vec![r, TlsRecord::default()]),
            AppRecords::Http(r) => round_trip(vec![r, HttpRecord::default()]),
            AppRecords::HttpDisguise(r) => round_trip(vec![r, DisguiseRecord::default()]),
            AppRecords::Socks(r) => round_trip(vec![r, SocksRecord::default()]),
            AppRecords::Redis(r) => round_trip(vec![r, RedisRecord::default()]),
            AppRecords::Ssh(r) => round_trip(vec![r, SshRecord::default()]),
            AppRecords::Openvpn(r) => round_trip(vec![r, OpenVpnRecord::default()]),
            AppRecords::Encrypted(r) => round_trip(vec![r, EncryptedRecord::default()]),
            AppRecords::Unknown(r) => round_trip(vec![r, UnknownRecord::default()]),
        }
    }
}

#[test]
fn throughput_rows_round_trip_exactly() {
    let c = connection(1);
    round_trip(vec![ConnThroughput {
        proto: s("tcp"),
        client: c.client,
        server: c.server,
        app: s("tls"),
        first_ts: ts(1),
        duration_s: 0.1,
        bytes_c2s: 1,
        bytes_s2c: 2,
        mean_bps_c2s: 3.5,
        mean_bps_s2c: 4.5,
        peak_bps_c2s: 5.0,
        peak_bps_s2c: 6.0,
    }]);
}

#[test]
fn every_conn_state_round_trips() {
    for c in ConnState::ALL {
        let buf = postcard::to_stdvec(&c).unwrap();
        assert_eq!(postcard::from_bytes::<ConnState>(&buf).unwrap(), c);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<ConnState>(&json).unwrap(), c);
    }
}

#[test]
fn timestamps_keep_nanoseconds_in_binary_and_seconds_in_json() {
    let t = ts(0);
    let buf = postcard::to_stdvec(&t).unwrap();
    assert_eq!(postcard::from_bytes::<Timestamp>(&buf).unwrap(), t);
    assert_eq!(serde_json::to_string(&t).unwrap(), "1796351502.1234567");
    // JSON seconds are a float: good to the microsecond, not the nanosecond.
    let back: Timestamp = serde_json::from_str("1796351502.25").unwrap();
    assert!(back.nanos_since(Timestamp(1_796_351_502_250_000_000)).abs() < 1_000);
}

/// Records past the budget go to the file; reading gives append order, then key order
/// after sorting, across the boundary, the write chunks and the read windows.
#[test]
fn order_and_spill_boundary() {
    for budget in [0, 1, 3, 10, 500] {
        let mut spool = RecordSpool::new("connection records", budget);
        let n = 400u64; // about 1 KB each: several write chunks and read windows
        let keys: Vec<u64> = (0..n).map(|i| (i * 7919) % n).collect();
        for &k in &keys {
            spool.push(k, connection(k));
        }
        assert_eq!(spool.len(), n as usize);
        assert_eq!(spool.mem.len(), budget.min(n as usize));
        assert_eq!(spool.spooled_bytes() > 0, budget < n as usize);
        let appended: Vec<u64> = spool.iter().map(|c| c.first_packet).collect();
        assert_eq!(appended, keys, "budget {budget}: append order");
        spool.sort_by_key();
        spool.finish_writing();
        assert!(spool.take_warnings().is_empty());
        let sorted: Vec<u64> = spool.iter().map(|c| c.first_packet).collect();
        assert_eq!(
            sorted,
            (0..n).collect::<Vec<_>>(),
            "budget {budget}: key order"
        );
        assert!(spool.iter().all(|c| *c == connection(c.first_packet)));
        assert!(spool.read_error().is_none());
        let want: Vec<ConnectionRecord> = (0..n).map(connection).collect();
        assert_eq!(
            serde_json::to_string(&spool).unwrap(),
            serde_json::to_string(&want).unwrap()
        );
    }
}

#[test]
fn equal_keys_keep_append_order() {
    let mut spool = RecordSpool::new("test records", 2);
    for (i, k) in [3u64, 1, 3, 1, 2].into_iter().enumerate() {
        spool.push(k, (k, i));
    }
    spool.sort_by_key();
    assert_eq!(spool.to_vec(), vec![(1, 1), (1, 3), (2, 4), (3, 0), (3, 2)]);
}

#[test]
fn without_a_temporary_file_records_stay_in_memory_with_a_warning() {
    let mut spool =
        RecordSpool::new("connection records", 1).in_dir("/nonexistent/tunscope-spool-test");
    for k in 0..300 {
        spool.push(k, connection(k));
    }
    spool.finish_writing();
    let w = spool.take_warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("no temporary file"), "{}", w[0]);
    assert_eq!(spool.to_vec(), (0..300).map(connection).collect::<Vec<_>>());
}

#[test]
fn a_failed_write_keeps_the_records_in_memory_with_a_warning() {
    let mut spool = RecordSpool::new("connection records", 0);
    // A file open for reading only: every write fails.
    spool.file = Some(File::open("Cargo.toml").unwrap());
    for k in 0..300 {
        spool.push(k, connection(k));
    }
    spool.finish_writing();
    let w = spool.take_warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("writing the temporary file failed"),
        "{}",
        w[0]
    );
    assert_eq!(spool.to_vec(), (0..300).map(connection).collect::<Vec<_>>());
}

#[test]
fn a_record_that_cannot_be_read_back_is_an_error_not_a_panic() {
    let mut spool = RecordSpool::new("connection records", 0);
    for k in 0..3 {
        spool.push(k, connection(k));
    }
    spool.finish_writing();
    // Cut the second record short.
    spool.index[1].len = 3;
    assert_eq!(spool.iter().count(), 1);
    assert!(
        spool
            .read_error()
            .is_some_and(|e| e.contains("connection records"))
    );
    assert!(serde_json::to_string(&spool).is_err());
    let results: Vec<bool> = spool.try_iter().map(|r| r.is_ok()).collect();
    assert_eq!(results, [true, false, true]);
}

#[test]
fn recent_hands_back_the_oldest_and_numbers_what_is_new() {
    let mut r = Recent::new(3);
    assert_eq!(r.push(0), None);
    assert_eq!(r.push(1), None);
    assert_eq!(r.push(2), None);
    assert_eq!(r.push(3), Some(0));
    assert_eq!(r.total(), 4);
    assert_eq!(r.since(0).copied().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(r.since(2).copied().collect::<Vec<_>>(), [2, 3]);
    assert_eq!(r.since(4).count(), 0);
    assert_eq!(r.drain().collect::<Vec<_>>(), [1, 2, 3]);
    let mut none = Recent::new(0);
    assert_eq!(none.push(7), Some(7));
    assert_eq!(none.total(), 1);
}

#[test]
fn endpoints_are_text_in_json_and_address_and_port_in_binary() {
    for e in [connection(1).client, connection(1).server] {
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, format!("\"{e}\""));
        assert_eq!(serde_json::from_str::<Endpoint>(&json).unwrap(), e);
        let bin = postcard::to_stdvec(&e).unwrap();
        assert!(bin.len() <= 1 + 16 + 3, "{bin:?}");
        assert_eq!(postcard::from_bytes::<Endpoint>(&bin).unwrap(), e);
    }
}

/// Every other record inside VXLAN inside GRE, so the spool carries encap chains (all
/// fields, `None` ones included) as well as empty ones.
fn sample_encap(n: u64) -> Vec<crate::decode::encap::EncapLayer> {
    use crate::decode::encap::{EncapKind, EncapLayer};
    if n.is_multiple_of(2) {
        return Vec::new();
    }
    vec![
        EncapLayer {
            src: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            dst: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))),
            id: Some(7),
            ..EncapLayer::new(EncapKind::Gre)
        },
        EncapLayer {
            src: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            dst: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            sport: Some(50000),
            dport: Some(4789),
            id: Some(0xab_cdef),
            options: Some((2, 12)),
            ..EncapLayer::new(EncapKind::Vxlan)
        },
    ]
}
