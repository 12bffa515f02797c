//! Every capture of the shared corpus reads completely, with tshark's packet count and
//! tshark's per-conversation packet and byte counts.

use crate::util::*;
use std::collections::BTreeMap;

/// `udp.stream 0: 10.9.0.1:36588 -> 10.9.0.2:443: 6 pkts / 4555 cap / ... ; reverse: 9 pkts / 4831 cap / ...`
/// -> (sorted endpoint pair, total packets, total captured bytes).
fn tshark_streams(summary: &str) -> BTreeMap<(String, String, String), (u64, u64)> {
    let mut out = BTreeMap::new();
    for line in summary.lines() {
        let line = line.trim();
        let Some((head, rest)) = line.split_once(": ") else {
            continue;
        };
        let proto = if head.starts_with("tcp.stream") {
            "tcp"
        } else if head.starts_with("udp.stream") {
            "udp"
        } else {
            continue;
        };
        let Some((ends, counts)) = rest.split_once(": ") else {
            continue;
        };
        let Some((a, b)) = ends.split_once(" -> ") else {
            continue;
        };
        let nums = |s: &str| -> (u64, u64) {
            let w: Vec<&str> = s.split_whitespace().collect();
            let pk = w.first().and_then(|x| x.parse().ok()).unwrap_or(0);
            let cap = w.get(3).and_then(|x| x.parse().ok()).unwrap_or(0);
            (pk, cap)
        };
        let (fwd, rev) = counts.split_once("; reverse:").unwrap_or((counts, ""));
        let (p1, b1) = nums(fwd);
        let (p2, b2) = nums(rev.trim());
        let (a, b) = (bracket_v6(a), bracket_v6(b));
        let (x, y) = if a <= b { (a, b) } else { (b, a) };
        let e = out.entry((proto.to_string(), x, y)).or_insert((0, 0));
        e.0 += p1 + p2;
        e.1 += b1 + b2;
    }
    out
}

/// tshark prints `::1:80`; tunscope prints `[::1]:80`.
fn bracket_v6(endpoint: &str) -> String {
    match endpoint.rsplit_once(':') {
        Some((addr, port)) if addr.contains(':') => format!("[{addr}]:{port}"),
        _ => endpoint.to_string(),
    }
}

/// Corpus captures whose ICMP errors tshark counts inside the UDP conversations they
/// quote, with the number of ICMP and ICMPv6 packets (quic_interop_V: by
/// `tshark -Y 'icmp || icmpv6'`; stun: the one ICMP port-unreachable its table shows as a
/// ninth packet of the STUN conversation).
const ICMP_QUOTING_CAPTURES: &[(&str, u64)] =
    &[("quic_interop_V.pcapng", 31), ("ndpi/pcap/stun.pcap", 1)];

/// Captures made malformed on purpose, with the anomaly kinds tunscope reports and the
/// oracle that reports the same problem.
const EXPECTED_ANOMALIES: &[(&str, &[&str], &str)] = &[
    (
        "suricata-verify/tests/decode-too-small/test.pcap",
        &[
            "gre_truncated",
            "truncated_tcp_header",
            "truncated_udp_header",
        ],
        "suricata: tcp/udp/gre pkt_too_small alerts",
    ),
    (
        "suricata-verify/tests/decode-too-many-layers/input.pcap",
        &["encap_too_deep"],
        "suricata: stats decoder.too_many_layers 1",
    ),
    (
        "suricata-verify/tests/bug-7964-01/wrong-version-ipv4-ipv6.pcap",
        &["ipip_wrong_version"],
        "suricata: alert 2200083 (IPv4 in IPv6 with the wrong version)",
    ),
    (
        "zeek/Traces/tunnels/mpls-6in6-6in6-4in6-invalid-version-4.pcap",
        &["ipip_wrong_version"],
        "Zeek core.tunnels.ip-in-ip-version: weird invalid_inner_IP_version",
    ),
    (
        "zeek/Traces/tunnels/mpls-6in6-6in6-invalid-version-6.pcap",
        &["ipip_wrong_version"],
        "Zeek core.tunnels.ip-in-ip-version: weird invalid_inner_IP_version",
    ),
    (
        "zeek/Traces/tunnels/geneve-truncated.pcapng",
        &["encap_truncated"],
        "Zeek core.tunnels.geneve-truncated: weird geneve_empty_packet",
    ),
];

fn tshark_packet_count(summary: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("Number of packets:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("capinfos packet count")
}

#[test]
fn every_corpus_capture_reads_with_tsharks_counts() {
    need_corpus!();
    let mut failures = Vec::new();
    for cap in corpus_captures() {
        let name = cap.display().to_string();
        let summary = tshark_summary(&cap);
        let run = run_analyze([cap.as_os_str(), "--format".as_ref(), "json".as_ref()]);
        if run.code != 0 {
            failures.push(format!("{name}: exit {} {}", run.code, run.stderr));
            continue;
        }
        let doc = run.json();
        let c = &doc["capture"];
        let packets = c["packets"].as_u64().unwrap_or(0);
        let expected = tshark_packet_count(&summary);
        if packets != expected {
            failures.push(format!(
                "{name}: {packets} packets, tshark counts {expected}"
            ));
        }
        if c["protocols"]["unsupported_link_types"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
        {
            failures.push(format!(
                "{name}: unsupported link type {}",
                c["protocols"]["unsupported_link_types"]
            ));
        }
        let expected_kinds = EXPECTED_ANOMALIES
            .iter()
            .find(|(n, _, _)| name.ends_with(n))
            .map_or(&[][..], |(_, kinds, _)| *kinds);
        let kinds: Vec<&str> = c["anomalies"]["by_kind"]
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if kinds != expected_kinds {
            failures.push(format!("{name}: anomalies {}", c["anomalies"]));
        }
        // Per conversation: tshark's stream table, summed over both directions.
        let mut ours: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
        for conn in doc["connections"].as_array().into_iter().flatten() {
            let (a, b) = (
                conn["client"].as_str().unwrap_or(""),
                conn["server"].as_str().unwrap_or(""),
            );
            let (x, y) = if a <= b { (a, b) } else { (b, a) };
            let e = ours
                .entry((
                    conn["proto"].as_str().unwrap_or("").to_string(),
                    x.to_string(),
                    y.to_string(),
                ))
                .or_insert((0, 0));
            let n = |k: &str| conn[k].as_u64().unwrap_or(0);
            e.0 += n("packets_c2s") + n("packets_s2c");
            e.1 += n("bytes_c2s") + n("bytes_s2c");
        }
        let theirs = tshark_streams(&summary);
        if c["protocols"]["encap"].is_object() {
            // tshark's exact stream table names tunnelled streams by their outer
            // addresses: compare with its conversation tables (see `encap.rs`).
            let diffs = crate::encap::conversation_diffs(&doc, &summary);
            if !diffs.is_empty() && crate::encap::known_difference(&name).is_none() {
                failures.push(format!("{name}: conversations differ: {diffs:?}"));
            }
        } else if let Some(&(_, want_icmp)) = ICMP_QUOTING_CAPTURES
            .iter()
            .find(|(n, _)| name.ends_with(n))
        {
            // tshark adds each ICMP error to the conversation of the datagram it quotes;
            // tunscope counts ICMP as ICMP. The packets tshark has beyond ours must be
            // exactly the capture's ICMP and ICMPv6 packets (31, by `tshark -Y 'icmp || icmpv6'`).
            let ours_total: u64 = ours.values().map(|v| v.0).sum();
            let theirs_total: u64 = theirs.values().map(|v| v.0).sum();
            let icmp = c["protocols"]["icmp"].as_u64().unwrap_or(0)
                + c["protocols"]["icmpv6"].as_u64().unwrap_or(0);
            if icmp != want_icmp
                || theirs_total != ours_total + icmp
                || ours.keys().ne(theirs.keys())
            {
                failures.push(format!("{name}: ICMP-quoting difference: icmp {icmp}, tshark {theirs_total}, ours {ours_total}, same conversations {}", ours.keys().eq(theirs.keys())));
            }
        } else if ours != theirs {
            let only_ours: Vec<_> = ours
                .iter()
                .filter(|(k, v)| theirs.get(*k) != Some(v))
                .take(3)
                .collect();
            let only_theirs: Vec<_> = theirs
                .iter()
                .filter(|(k, v)| ours.get(*k) != Some(v))
                .take(3)
                .collect();
            failures.push(format!(
                "{name}: conversations differ\n  ours:   {only_ours:?}\n  tshark: {only_theirs:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn flows_only_counts_the_same_flows_as_a_full_analysis() {
    need_corpus!();
    for rel in [
        "ndpi/pcap/443-safari.pcap",
        "zeek/Traces/redis/django-cloud.pcapng",
        "ndpi/pcap/quic_interop_V.pcapng",
    ] {
        let cap = corpus_dir().join(rel);
        let full = run_analyze([cap.as_os_str(), "--format".as_ref(), "json".as_ref()]).json();
        let quick = run_analyze([
            cap.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
            "--flows-only".as_ref(),
        ])
        .json();
        let key = |d: &serde_json::Value| -> Vec<String> {
            d["connections"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{} {} {} {}",
                        c["client"], c["server"], c["packets_c2s"], c["bytes_s2c"]
                    )
                })
                .collect()
        };
        assert_eq!(key(&full), key(&quick), "{rel}");
        assert!(
            quick["connections"]
                .as_array()
                .is_some_and(|v| v.iter().all(|c| c.get("tcp").is_none()))
        );
    }
}
