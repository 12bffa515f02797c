//! Encapsulation: the corpus's "Encapsulation tunnels / VPN" captures against tshark's
//! conversation tables and Zeek's conn.log.
//!
//! tshark's exact per-stream table in the corpus summaries names a tunnelled stream by the
//! OUTER IP addresses and the inner ports (the generator read the first `ip.src`), so it
//! cannot judge inner flows; the `-z conv,tcp -z conv,udp` tables name each conversation
//! by its own headers, inner ones included, and are used here instead. Frames are exact;
//! bytes are exact where tshark prints bytes and within its rounding where it prints kB.

use crate::util::{corpus_dir, need_corpus, run_analyze, tshark_summary};
use std::collections::BTreeMap;
use std::path::PathBuf;

const CATEGORY: &str = "Encapsulation tunnels / VPN";

/// The captures of the category, as the MANIFEST lists them.
fn captures() -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(corpus_dir().join("MANIFEST.md")).expect("MANIFEST");
    let mut inside = false;
    let mut out = Vec::new();
    for line in manifest.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            inside = h.trim() == CATEGORY;
            continue;
        }
        if inside
            && let Some(p) = line
                .split("Capture: `")
                .nth(1)
                .and_then(|r| r.split('`').next())
        {
            out.push(corpus_dir().join(p));
        }
    }
    assert!(
        out.len() > 50,
        "MANIFEST lists {} encapsulation captures",
        out.len()
    );
    out
}

type Conversations = BTreeMap<(String, String, String), (u64, Bytes)>;

/// A byte count as tshark prints it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bytes {
    Exact(u64),
    Kilo(u64),
}

impl Bytes {
    fn admits(self, ours: u64) -> bool {
        match self {
            Bytes::Exact(n) => n == ours,
            // tshark 4.0 rounds to the nearest kB (1000 or 1024 by version): a wide margin.
            Bytes::Kilo(k) => ours + 1024 >= k * 1000 && ours <= (k + 1) * 1024,
        }
    }
}

fn bracket_v6(endpoint: &str) -> String {
    match endpoint.rsplit_once(':') {
        Some((addr, port)) if addr.contains(':') => format!("[{addr}]:{port}"),
        _ => endpoint.to_string(),
    }
}

/// The `-z conv,tcp` / `-z conv,udp` tables of a summary.
fn tshark_conversations(summary: &str) -> Conversations {
    let mut out = Conversations::new();
    let mut proto = "";
    for line in summary.lines() {
        let t = line.trim();
        if t.starts_with("## ") {
            proto = "";
        }
        if t == "TCP Conversations" {
            proto = "tcp";
            continue;
        }
        if t == "UDP Conversations" {
            proto = "udp";
            continue;
        }
        if proto.is_empty() {
            continue;
        }
        let w: Vec<&str> = t.split_whitespace().collect();
        if w.len() < 12 || w[1] != "<->" {
            continue;
        }
        let (Ok(frames), Ok(n)) = (w[9].parse::<u64>(), w[10].parse::<u64>()) else {
            continue;
        };
        let bytes = match w[11] {
            "bytes" => Bytes::Exact(n),
            _ => Bytes::Kilo(n),
        };
        let (a, b) = (bracket_v6(w[0]), bracket_v6(w[2]));
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        out.insert((proto.to_string(), x, y), (frames, bytes));
    }
    out
}

/// Captures whose conversations differ from tshark's, each with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("tunnels/Teredo.pcap", TEREDO_RELAY),
    ("tunnels/teredo_bubble_with_payload.pcap", TEREDO_RELAY),
    (
        "gre-aruba-amsdu.pcap",
        "an 802.11 A-MSDU carries two TCP segments in one frame; tunscope decodes the first \
     subframe only (one inner packet per captured frame), tshark and Zeek both count two",
    ),
];

/// tshark looks for Teredo on port 3544 only; a client's traffic with a relay uses other
/// ports. tunscope, like Zeek (whose conn.log has this inner connection with 22 packets,
/// see `tunnelled_connections_match_zeek_conn_logs`), learns the client from its exchange
/// with the server and finds the inner TCP connection tshark does not list.
const TEREDO_RELAY: &str = "inner TCP via a Teredo relay on a port other than 3544";

/// Where tunscope's conversations (connection records summed by protocol and endpoint
/// pair) differ from tshark's conversation tables in `summary`.
pub(crate) fn conversation_diffs(doc: &serde_json::Value, summary: &str) -> Vec<String> {
    // tshark's conversation bytes are wire bytes (frame.len); a capture cut by its
    // snap length is compared by frames only.
    let cut = summary.contains("Packet size limit:");
    let mut ours: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
    for conn in doc["connections"].as_array().into_iter().flatten() {
        let (a, b) = (
            conn["client"].as_str().unwrap_or("").to_string(),
            conn["server"].as_str().unwrap_or("").to_string(),
        );
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        let e = ours
            .entry((conn["proto"].as_str().unwrap_or("").to_string(), x, y))
            .or_insert((0, 0));
        let n = |k: &str| conn[k].as_u64().unwrap_or(0);
        e.0 += n("packets_c2s") + n("packets_s2c");
        e.1 += n("bytes_c2s") + n("bytes_s2c");
    }
    let theirs = tshark_conversations(summary);
    let mut diffs = Vec::new();
    for (k, (frames, bytes)) in &theirs {
        match ours.get(k) {
            Some(&(p, b)) if p == *frames && (cut || bytes.admits(b)) => {}
            got => diffs.push(format!(
                "{k:?}: tshark {frames} frames {bytes:?}, ours {got:?}"
            )),
        }
    }
    for k in ours.keys().filter(|k| !theirs.contains_key(*k)) {
        diffs.push(format!("{k:?}: only ours {:?}", ours[k]));
    }
    diffs
}

/// The reason a capture is a known difference, if it is one.
pub(crate) fn known_difference(name: &str) -> Option<&'static str> {
    KNOWN_DIFFERENCES
        .iter()
        .find(|(n, _)| name.ends_with(n))
        .map(|(_, why)| *why)
}

#[test]
fn encapsulated_captures_have_tsharks_conversations() {
    need_corpus!();
    let mut failures = Vec::new();
    let mut passed = 0;
    let all = captures();
    for cap in &all {
        let name = cap.display().to_string();
        let summary = tshark_summary(cap);
        let run = run_analyze([cap.as_os_str(), "--format".as_ref(), "json".as_ref()]);
        if run.code != 0 {
            failures.push(format!("{name}: exit {}", run.code));
            continue;
        }
        let doc = run.json();
        let diffs = conversation_diffs(&doc, &summary);
        let anomalies = doc["capture"]["anomalies"]["total"].as_u64().unwrap_or(0);
        let known = known_difference(&name);
        match (diffs.is_empty(), known) {
            (true, None) => passed += 1,
            (true, Some(_)) => failures.push(format!(
                "{name}: listed as a known difference, but agrees now"
            )),
            (false, Some(_)) => {}
            (false, None) => failures.push(format!(
                "{name} (anomalies {anomalies}):\n    {}",
                diffs
                    .iter()
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n    ")
            )),
        }
    }
    eprintln!(
        "{passed} of {} encapsulation captures agree with tshark",
        all.len()
    );
    assert!(
        failures.is_empty(),
        "{} captures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// (trace, conn.log baseline) pairs of the tunnel btests that run one trace each, as the
/// corpus MANIFEST pairs them.
const ZEEK_PAIRS: &[(&str, &str)] = &[
    ("gre-within-gre.pcap", "core.tunnels.gre-in-gre"),
    ("gre-over-udp-4754.pcap", "core.tunnels.gre-over-udp"),
    ("gre-aruba-amsdu.pcap", "core.tunnels.gre-aruba-amsdu"),
    (
        "tunnel-direct-bypass.pcap",
        "core.tunnels.count-default-tunnel-changes",
    ),
    ("vxlan.pcap", "core.tunnels.vxlan"),
    (
        "vxlan-encapsulated-http.pcap",
        "core.tunnels.analyzer-confirmation",
    ),
    (
        "vxlan-inner-tcp-bad-checksum.pcap",
        "core.tunnels.vxlan-inner-tcp-bad-checksum",
    ),
    (
        "vxlan-encapsulated-igmp-v2.pcap",
        "core.tunnels.vxlan-unknown-internal-packet",
    ),
    ("geneve.pcap", "core.tunnels.geneve"),
    ("geneve-ipv6.pcap", "core.tunnels.geneve-ipv6"),
    ("geneve-47101.pcap", "core.tunnels.geneve-47101"),
    (
        "geneve-many-options.pcap",
        "core.tunnels.geneve-many-options",
    ),
    ("geneve-arp.pcap", "core.tunnels.geneve-arp"),
    (
        "geneve-inner-tcp-bad-checksum.pcap",
        "core.tunnels.geneve-inner-tcp-bad-checksum",
    ),
    ("geneve-truncated.pcapng", "core.tunnels.geneve-truncated"),
    (
        "geneve-vxlan-dns-truncated.pcap",
        "core.tunnels.geneve-vxlan-truncated",
    ),
    (
        "gtp/gtp1_gn_normal_incl_fragmentation.pcap",
        "core.tunnels.gtp.outer_ip_frag",
    ),
    (
        "gtp/gtp2_different_udp_port.pcap",
        "core.tunnels.gtp.different_dl_and_ul",
    ),
    ("gtp/gtp6_gtp_0x32.pcap", "core.tunnels.gtp.opt_header"),
    ("gtp/gtp7_ipv6.pcap", "core.tunnels.gtp.inner_ipv6"),
    ("gtp/gtp8_teredo.pcap", "core.tunnels.gtp.inner_teredo"),
    ("gtp/gtp3_false_gtp.pcap", "core.tunnels.gtp.false_gtp"),
    (
        "gtp/gtp10_not_0xff.pcap",
        "core.tunnels.gtp.not_user_plane_data",
    ),
    ("Teredo.pcap", "core.tunnels.teredo"),
    (
        "teredo_bubble_with_payload.pcap",
        "core.tunnels.teredo_bubble_with_payload",
    ),
    ("ayiya3.pcap", "core.tunnels.ayiya"),
    (
        "ayiya-large-identity.pcap",
        "core.tunnels.ayiya-large-identity",
    ),
];

/// Zeek rows tunscope deliberately counts otherwise (see docs/output.md, "Encapsulation").
const ZEEK_KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "gre-aruba-amsdu.pcap",
        "A-MSDU: the second subframe of the frame is not decoded",
    ),
    (
        "vxlan-encapsulated-igmp-v2.pcap",
        "bad outer UDP checksums (history C): Zeek, run without -C, drops the packets; \
         tunscope does not verify checksums and counts them",
    ),
];

/// Every TCP and UDP connection of Zeek's conn.log for the tunnel traces, inner ones
/// (`tunnel_parents` set) and the outer UDP flows of UDP encapsulations alike: tunscope
/// has it with Zeek's packets and IP bytes, summed over both directions (Zeek keys a
/// connection by its 5-tuple only, so tunscope's flows of that 5-tuple in several
/// encapsulation contexts are summed too), and for UDP with Zeek's payload bytes.
#[test]
fn tunnelled_connections_match_zeek_conn_logs() {
    need_corpus!();
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut inner = 0;
    for (trace, test) in ZEEK_PAIRS {
        let known = ZEEK_KNOWN_DIFFERENCES.iter().any(|(t, _)| t == trace);
        let mut any_differs = false;
        let log = corpus_dir().join(format!("zeek/Baseline/{test}/conn.log"));
        let rows = crate::zeek::parse_zeek_log(&std::fs::read_to_string(&log).expect("baseline"));
        let cap = corpus_dir().join(format!("zeek/Traces/tunnels/{trace}"));
        let run = run_analyze([cap.as_os_str(), "--format".as_ref(), "json".as_ref()]);
        assert_eq!(run.code, 0, "{trace}: {}", run.stderr);
        let doc = run.json();
        let conns = doc["connections"].as_array().cloned().unwrap_or_default();
        // Zeek may log one 5-tuple in several rows (a connection that ended and began
        // again): summed, as tunscope's flows of that 5-tuple are.
        type Key = (String, String, String);
        let mut zeek: BTreeMap<Key, ([u64; 2], Option<u64>, bool)> = BTreeMap::new();
        for row in &rows {
            let field = |k: &str| row.get(k).map_or("-", String::as_str);
            let proto = field("proto");
            if !matches!(proto, "tcp" | "udp") {
                continue;
            }
            let ep = |h: &str, p: &str| {
                let (h, p) = (field(h), field(p));
                if h.contains(':') {
                    format!("[{h}]:{p}")
                } else {
                    format!("{h}:{p}")
                }
            };
            let (a, b) = (ep("id.orig_h", "id.orig_p"), ep("id.resp_h", "id.resp_p"));
            let (x, y) = if a <= b { (a, b) } else { (b, a) };
            let num = |k: &str| field(k).parse::<u64>().ok();
            let e = zeek
                .entry((proto.to_string(), x, y))
                .or_insert(([0, 0], Some(0), false));
            e.0[0] += num("orig_pkts").unwrap_or(0) + num("resp_pkts").unwrap_or(0);
            e.0[1] += num("orig_ip_bytes").unwrap_or(0) + num("resp_ip_bytes").unwrap_or(0);
            // `-` (a one-packet flow has no size in Zeek): payload bytes not compared.
            e.1 = match (e.1, num("orig_bytes"), num("resp_bytes")) {
                (Some(t), Some(o), Some(r)) => Some(t + o + r),
                _ => None,
            };
            e.2 |= field("tunnel_parents") != "-";
        }
        for ((proto, x, y), (want, want_payload, tunnelled)) in &zeek {
            let mine: Vec<&serde_json::Value> = conns
                .iter()
                .filter(|c| {
                    c["proto"] == proto.as_str()
                        && ((c["client"] == x.as_str() && c["server"] == y.as_str())
                            || (c["client"] == y.as_str() && c["server"] == x.as_str()))
                })
                .collect();
            let sum = |k: &str| -> u64 {
                mine.iter()
                    .map(|c| {
                        c[format!("{k}_c2s")].as_u64().unwrap_or(0)
                            + c[format!("{k}_s2c")].as_u64().unwrap_or(0)
                    })
                    .sum()
            };
            let got = [sum("packets"), sum("ip_bytes")];
            let payload = sum("payload_bytes");
            compared += 1;
            if *tunnelled {
                inner += 1;
            }
            let agrees =
                got == *want && (proto == "tcp" || want_payload.is_none_or(|w| w == payload));
            if !agrees && !known {
                failures.push(format!(
                    "{trace}: {proto} {x} <-> {y} (tunnelled {tunnelled}): Zeek pkts, ip bytes {want:?} payload {want_payload:?}; tunscope {got:?} {payload}"
                ));
            }
            any_differs |= !agrees;
        }
        if known && !any_differs {
            failures.push(format!("{trace}: a known difference agrees now"));
        }
    }
    eprintln!("{compared} Zeek connections compared, {inner} of them inner");
    assert!(
        compared > 50 && inner > 20,
        "compared {compared}, inner {inner}"
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A classic pcap (Ethernet) of `frames`, one millisecond apart.
fn pcap_of(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    // The second word is version 2.4 as two little-endian u16s.
    f[4..8].copy_from_slice(&[2, 0, 4, 0]);
    for (i, fr) in frames.iter().enumerate() {
        for v in [
            1_700_000_000u32,
            i as u32 * 1000,
            fr.len() as u32,
            fr.len() as u32,
        ] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(fr);
    }
    f
}

/// An Ethernet/IPv4/UDP frame to port 4789 from `sport` carrying VXLAN `vni` around
/// `inner` (an Ethernet frame).
fn vxlan_frame(outer: ([u8; 4], [u8; 4]), sport: u16, vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut payload = vec![0x08, 0, 0, 0];
    payload.extend_from_slice(&(vni << 8).to_be_bytes());
    payload.extend_from_slice(inner);
    let mut frame = Vec::new();
    etherparse::PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(outer.0, outer.1, 64)
        .udp(sport, 4789)
        .write(&mut frame, &payload)
        .unwrap();
    frame
}

fn inner_tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, syn_ack: bool) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([3; 6], [4; 6])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, if syn_ack { 5000 } else { 1000 }, 1000)
        .syn();
    let b = if syn_ack { b.ack(1001) } else { b };
    let mut f = Vec::new();
    b.write(&mut f, &[]).unwrap();
    f
}

/// The same inner 5-tuple in two VNIs is two connections; both directions of one, through
/// different outer source ports, are one; every outer UDP flow is listed; records carry
/// their chain. Truth: the bytes built here.
#[test]
fn two_vnis_are_two_connections_and_both_directions_meet() {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let (vtep1, vtep2) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let frames = vec![
        vxlan_frame(
            (vtep1, vtep2),
            50000,
            100,
            &inner_tcp(a, b, 1234, 80, false),
        ),
        vxlan_frame((vtep2, vtep1), 40000, 100, &inner_tcp(b, a, 80, 1234, true)),
        vxlan_frame(
            (vtep1, vtep2),
            50000,
            200,
            &inner_tcp(a, b, 1234, 80, false),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vxlan.pcap");
    std::fs::write(&path, pcap_of(&frames)).unwrap();
    let run = run_analyze([path.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    let conns = doc["connections"].as_array().unwrap();
    let tcp: Vec<_> = conns.iter().filter(|c| c["proto"] == "tcp").collect();
    assert_eq!(tcp.len(), 2, "{conns:#?}");
    let mut by_vni: Vec<(u64, u64)> = tcp
        .iter()
        .map(|c| {
            assert_eq!(c["client"], "10.0.0.1:1234");
            assert_eq!(c["server"], "10.0.0.2:80");
            let layers = c["encap"].as_array().expect("an encap chain");
            assert_eq!(layers.len(), 1);
            assert_eq!(layers[0]["kind"], "vxlan");
            assert_eq!(layers[0]["src"], "192.0.2.1");
            assert_eq!(layers[0]["dport"], 4789);
            let packets = c["packets_c2s"].as_u64().unwrap() + c["packets_s2c"].as_u64().unwrap();
            (layers[0]["id"].as_u64().unwrap(), packets)
        })
        .collect();
    by_vni.sort_unstable();
    assert_eq!(by_vni, [(100, 2), (200, 1)]);
    let udp: Vec<_> = conns.iter().filter(|c| c["proto"] == "udp").collect();
    assert_eq!(udp.len(), 2, "two outer source ports: {udp:#?}");
    assert!(
        udp.iter().all(|c| c.get("encap").is_none()),
        "outer flows are bare"
    );
    assert_eq!(doc["capture"]["protocols"]["encap"]["layers"]["vxlan"], 3);
}
