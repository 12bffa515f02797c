//! QUIC fixtures (`fixtures/pcaps/quic-streams`, `qtunnel-*`, `v2ray-quic-*`) against the
//! ground truth their generator wrote: what quinn reported (version, SNI, ALPN, CIDs,
//! datagram counters), what the v2ray relays wrote on the wire (every datagram, its header,
//! its inner QUIC length), and when the QTunnel-like front end and back end accepted or
//! opened their TCP connections. None of it comes from tunscope.

use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> (PathBuf, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
    let truth: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.truth.json"))).expect("truth"),
    )
    .expect("truth json");
    (dir.join(format!("{name}.pcap")), truth)
}

fn analyze(pcap: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<&std::ffi::OsStr> =
        vec![pcap.as_os_str(), "--format".as_ref(), "json".as_ref()];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    let run = run_analyze(args);
    assert_eq!(run.code, 0, "{}: {}", pcap.display(), run.stderr);
    run.json()
}

/// The one QUIC connection of a fixture.
fn only_connection(doc: &Value, what: &str) -> Value {
    let conns = doc["quic"]["connections"]
        .as_array()
        .expect("quic.connections");
    assert_eq!(conns.len(), 1, "{what}: {conns:#?}");
    conns[0].clone()
}

/// The truth writes versions as `0x00000001`; tunscope names v1 `"1"`.
fn version_name(truth: &Value) -> String {
    match truth.as_str().expect("version") {
        "0x00000001" => "1".into(),
        "0x6b3343cf" => "2".into(),
        other => other.to_string(),
    }
}

/// The first CID each side issued is its handshake SCID (truth `cid_note`).
fn first_cid(q: &Value, side: &str) -> String {
    q["connection_ids_issued"]
        .as_array()
        .expect("connection_ids_issued")
        .iter()
        .find(|c| c["side"] == side)
        .and_then(|c| c["cid"].as_str())
        .expect("a CID for the side")
        .to_string()
}

/// Version, SNI, ALPN offered, the client's original DCID and both handshake SCIDs.
fn check_handshake(name: &str, rec: &Value, q: &Value) {
    assert_eq!(
        rec["version"],
        version_name(&q["version"]).as_str(),
        "{name}"
    );
    assert_eq!(rec["sni"], q["sni"], "{name}");
    let offered = if q["alpn_offered"].is_array() {
        &q["alpn_offered"]
    } else {
        &q["alpn"] // qtunnel: the one ALPN both sides use
    };
    assert_eq!(&rec["alpn"], offered, "{name}");
    assert_eq!(rec["client_dcid"], q["client_initial_dcid"], "{name}");
    if q["connection_ids_issued"].is_array() {
        assert_eq!(
            rec["client_scid"],
            first_cid(q, "client").as_str(),
            "{name}"
        );
        assert_eq!(
            rec["server_scid"],
            first_cid(q, "server").as_str(),
            "{name}"
        );
    }
    let scid_len = q["scid_len"].as_u64().expect("scid_len") as usize;
    for side in ["client_scid", "server_scid"] {
        assert_eq!(
            rec[side].as_str().map(|s| s.len() / 2),
            Some(scid_len),
            "{name} {side}"
        );
    }
    assert_eq!(rec["anomalies"], 0, "{name}: {:#}", rec["anomaly_reasons"]);
    assert_eq!(rec["migrations"], 0, "{name}");
}

/// quinn's counters are read just before the client sends its CONNECTION_CLOSE (truth
/// `time_close` precedes it on the wire), so the capture may hold one small datagram more
/// each way than the counter: the close, and the peer's answer to it.
fn check_counter(
    name: &str,
    got_packets: &Value,
    got_bytes: &Value,
    datagrams: &Value,
    bytes: &Value,
) {
    let (gp, gb) = (got_packets.as_u64().unwrap(), got_bytes.as_u64().unwrap());
    let (tp, tb) = (datagrams.as_u64().unwrap(), bytes.as_u64().unwrap());
    assert!(
        gp == tp || gp == tp + 1,
        "{name}: {gp} datagrams, truth {tp}"
    );
    assert!(
        gb >= tb && gb - tb <= 64 * (gp - tp),
        "{name}: {gb} bytes, truth {tb}"
    );
}

#[test]
fn quic_streams_matches_quinn() {
    let (pcap, t) = fixture("quic-streams");
    let rec = only_connection(&analyze(&pcap, &[]), "quic-streams");
    check_handshake("quic-streams", &rec, &t);
    assert_eq!(rec["client"], t["client"]);
    assert_eq!(rec["server"], t["server"]);
    assert_eq!(rec["disguise"], Value::Null);
    assert_eq!(rec["security"], Value::Null);
    assert_eq!(rec["v2ray"], Value::Null);
    assert_eq!(rec["carries"], Value::Null);
    let (c, s) = (&t["client_stats"], &t["server_view"]["server_stats"]);
    check_counter(
        "quic-streams c2s",
        &rec["packets_c2s"],
        &rec["bytes_c2s"],
        &c["udp_tx_datagrams"],
        &c["udp_tx_bytes"],
    );
    check_counter(
        "quic-streams s2c",
        &rec["packets_s2c"],
        &rec["bytes_s2c"],
        &s["udp_tx_datagrams"],
        &s["udp_tx_bytes"],
    );
}

/// QTunnel: the one QUIC connection carries the five TCP connections of the local service
/// (front end 8080 on the client's capture, back end 8000 on the server's), each starting
/// where the truth says it did.
#[test]
fn qtunnel_carrier_and_its_tcp_connections() {
    for (name, kind, times_of) in [
        ("qtunnel-client", "frontend", "users"),
        ("qtunnel-server", "backend", "connections"),
    ] {
        let (pcap, t) = fixture(name);
        let rec = only_connection(&analyze(&pcap, &[]), name);
        let q = &t["quic"];
        check_handshake(name, &rec, q);
        assert_eq!(rec["client"], q["client"], "{name}");
        assert_eq!(rec["server"], q["server"], "{name}");
        let c = &q["client_stats"];
        check_counter(
            name,
            &rec["packets_c2s"],
            &rec["bytes_c2s"],
            &c["udp_tx_datagrams"],
            &c["udp_tx_bytes"],
        );
        check_counter(
            name,
            &rec["packets_s2c"],
            &rec["bytes_s2c"],
            &c["udp_rx_datagrams"],
            &c["udp_rx_bytes"],
        );

        // The truth's TCP connections of that kind; their start: the front end's users'
        // connect() times, the back end's connections' open times.
        let conns: Vec<&Value> = t["connections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["kind"] == kind)
            .collect();
        let mut starts: Vec<f64> = if times_of == "users" {
            t["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["connect_time"].as_f64().unwrap())
                .collect()
        } else {
            conns
                .iter()
                .map(|c| c["opened"].as_f64().unwrap())
                .collect()
        };
        starts.sort_by(f64::total_cmp);
        let carries = &rec["carries"];
        assert_eq!(carries["tcp_server"], conns[0]["server"], "{name}");
        assert_eq!(carries["tcp_connections"], conns.len(), "{name}");
        let first_ts = rec["first_ts"].as_f64().unwrap();
        let offsets = carries["offsets_ms"].as_array().unwrap();
        assert_eq!(offsets.len(), starts.len(), "{name}");
        for (o, want) in offsets.iter().zip(&starts) {
            let at = first_ts + o.as_f64().unwrap() / 1000.0;
            // The truth is taken at the socket call, within about 1 ms of the capture.
            assert!(
                (at - want).abs() < 0.002,
                "{name}: TCP start {at} vs truth {want}"
            );
        }
    }
}

struct WireTotals {
    datagrams: [u64; 2],
    bytes: [u64; 2],
    quic_bytes: [u64; 2],
}

fn wire_totals(t: &Value) -> WireTotals {
    let mut w = WireTotals {
        datagrams: [0; 2],
        bytes: [0; 2],
        quic_bytes: [0; 2],
    };
    for d in t["datagrams"].as_array().expect("datagrams") {
        let i = usize::from(d["dir"] != "c2s");
        w.datagrams[i] += 1;
        w.bytes[i] += d["udp_payload_len"].as_u64().unwrap();
        w.quic_bytes[i] += d["quic_len"].as_u64().unwrap();
    }
    w
}

fn v2ray_fixtures() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".truth.json").map(str::to_string))
        .filter(|n| n.starts_with("v2ray-quic-"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    names
}

/// With the key from the truth, every v2ray fixture unwraps to the QUIC connection quinn
/// reported, under the header and security the relays used, datagram for datagram.
#[test]
fn v2ray_fixtures_unwrap_with_the_truth_key() {
    for name in v2ray_fixtures() {
        let (pcap, t) = fixture(&name);
        let v = &t["v2ray"];
        let key = v["key"].as_str().expect("key");
        let rec = only_connection(&analyze(&pcap, &["--v2ray-key", key]), &name);
        let q = &t["quic_inside"];
        check_handshake(&name, &rec, q);
        let header = v["header"].as_str().unwrap();
        let want_disguise = if header == "none" {
            Value::Null
        } else {
            header.into()
        };
        assert_eq!(rec["disguise"], want_disguise, "{name}");
        assert_eq!(rec["security"], v["security"], "{name}");
        assert_eq!(rec["client"], t["wire"]["client"], "{name}");
        assert_eq!(rec["server"], t["wire"]["server"], "{name}");
        let w = wire_totals(&t);
        assert_eq!(rec["packets_c2s"], w.datagrams[0], "{name}");
        assert_eq!(rec["packets_s2c"], w.datagrams[1], "{name}");
        assert_eq!(rec["packets_c2s"], t["wire"]["datagrams_c2s"], "{name}");
        assert_eq!(rec["packets_s2c"], t["wire"]["datagrams_s2c"], "{name}");
        assert_eq!(rec["bytes_c2s"], w.bytes[0], "{name}");
        assert_eq!(rec["bytes_s2c"], w.bytes[1], "{name}");
        let f = &rec["v2ray"];
        assert_eq!(f["verdict"], "v2ray QUIC transport", "{name}");
        assert_eq!(f["header_size"], v["header_size"], "{name}");
        assert_eq!(f["quic_bytes_c2s"], w.quic_bytes[0], "{name}");
        assert_eq!(f["quic_bytes_s2c"], w.quic_bytes[1], "{name}");
        assert_eq!(f["datagrams_not_unwrapped"], 0, "{name}");
        let key_kind = match (v["security"].as_str(), key.is_empty()) {
            (Some("none"), _) => Value::Null,
            (_, true) => "empty".into(),
            _ => "given".into(),
        };
        assert_eq!(f["key"], key_kind, "{name}");
        // The generator ran v2ray's defaults: all three fingerprints are there.
        assert_eq!(
            rec["v2ray_fingerprints"].as_array().map(Vec::len),
            Some(3),
            "{name}"
        );
        assert!(
            f["evidence"].as_array().is_some_and(|e| !e.is_empty()),
            "{name}"
        );
    }
}

/// Without the key: security none and the empty key still open; the other AEAD flows are
/// recognised by their header alone and called a possible encrypted tunnel, with evidence,
/// and nothing inside is claimed.
#[test]
fn v2ray_fixtures_without_the_key() {
    for name in v2ray_fixtures() {
        let (pcap, t) = fixture(&name);
        let v = &t["v2ray"];
        let opens = v["security"] == "none" || v["key"] == "";
        let rec = only_connection(&analyze(&pcap, &[]), &name);
        let header = v["header"].as_str().unwrap();
        let want_disguise = if header == "none" {
            Value::Null
        } else {
            header.into()
        };
        assert_eq!(rec["disguise"], want_disguise, "{name}");
        if opens {
            assert_eq!(rec["security"], v["security"], "{name}");
            assert_eq!(rec["sni"], t["quic_inside"]["sni"], "{name}");
            assert_eq!(rec["v2ray"]["verdict"], "v2ray QUIC transport", "{name}");
        } else {
            assert_eq!(rec["security"], Value::Null, "{name}");
            assert_eq!(rec["version"], Value::Null, "{name}");
            assert_eq!(rec["sni"], Value::Null, "{name}");
            assert_eq!(
                rec["v2ray"]["verdict"], "possible encrypted tunnel",
                "{name}"
            );
            let ev = rec["v2ray"]["evidence"].as_array().unwrap();
            assert!(
                ev.iter().any(|e| e.as_str().unwrap().starts_with(header)),
                "{name}: {ev:?}"
            );
            let w = wire_totals(&t);
            assert_eq!(rec["packets_c2s"], w.datagrams[0], "{name}");
            assert_eq!(rec["bytes_s2c"], w.bytes[1], "{name}");
        }
        // A wrong key changes nothing for the AEAD flows and never opens them.
        if !opens {
            let wrong = only_connection(&analyze(&pcap, &["--v2ray-key", "not the key"]), &name);
            assert_eq!(
                wrong["v2ray"]["verdict"], "possible encrypted tunnel",
                "{name}"
            );
        }
    }
}

/// NAT rebinding, made from quic-streams: from the 30th UDP datagram on, the client's port
/// is rewritten (both directions), as a NAT that changed its mapping would. The result must
/// be the same single connection, one migration, two paths, and the original totals.
#[test]
fn nat_rebinding_is_one_connection_with_a_migration() {
    let (pcap, t) = fixture("quic-streams");
    let original = std::fs::read(&pcap).unwrap();
    let client_port: u16 = t["client"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let new_port: u16 = 40_000;
    let rewritten = rewrite_udp_port(&original, client_port, new_port, 30);
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("rebinding.pcap");
    std::fs::write(&moved, rewritten).unwrap();

    let before = only_connection(&analyze(&pcap, &[]), "original");
    let rec = only_connection(&analyze(&moved, &[]), "rebinding");
    assert_eq!(rec["migrations"], 1);
    let paths = rec["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[0]["client"], t["client"]);
    assert!(paths[1]["client"].as_str().unwrap().ends_with(":40000"));
    for f in [
        "packets_c2s",
        "packets_s2c",
        "bytes_c2s",
        "bytes_s2c",
        "sni",
        "client_dcid",
        "server_scid",
        "version",
    ] {
        assert_eq!(rec[f], before[f], "{f}");
    }
}

/// Rewrites `from` to `to` in the UDP ports of every UDP/IPv4 Ethernet frame from the
/// `start`-th UDP frame on (0-based), in a microsecond little-endian pcap. The UDP checksum
/// is zeroed (allowed over IPv4, and tunscope does not check it anyway).
fn rewrite_udp_port(pcap: &[u8], from: u16, to: u16, start: usize) -> Vec<u8> {
    let mut out = pcap.to_vec();
    assert_eq!(
        &out[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond pcap"
    );
    let mut off = 24;
    let mut udp_seen = 0;
    while off + 16 <= out.len() {
        let caplen = u32::from_le_bytes(out[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = off + 16;
        let is_udp4 =
            caplen > 42 && out[frame + 12..frame + 14] == [0x08, 0x00] && out[frame + 23] == 17;
        if is_udp4 {
            let ihl = usize::from(out[frame + 14] & 0x0f) * 4;
            let udp = frame + 14 + ihl;
            if udp_seen >= start {
                for p in [udp, udp + 2] {
                    if u16::from_be_bytes([out[p], out[p + 1]]) == from {
                        out[p..p + 2].copy_from_slice(&to.to_be_bytes());
                    }
                }
                out[udp + 6..udp + 8].copy_from_slice(&[0, 0]);
            }
            udp_seen += 1;
        }
        off = frame + caplen;
    }
    out
}
