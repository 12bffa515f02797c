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

/// The one corpus capture whose ICMP errors tshark counts inside UDP conversations.
const ICMP_QUOTING_CAPTURE: &str = "quic_interop_V.pcapng";

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
        if c["anomalies"]["total"].as_u64() != Some(0) {
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
        if name.ends_with(ICMP_QUOTING_CAPTURE) {
            // tshark adds each ICMP error to the conversation of the datagram it quotes;
            // tunscope counts ICMP as ICMP. The packets tshark has beyond ours must be
            // exactly the capture's ICMP and ICMPv6 packets (31, by `tshark -Y 'icmp || icmpv6'`).
            let ours_total: u64 = ours.values().map(|v| v.0).sum();
            let theirs_total: u64 = theirs.values().map(|v| v.0).sum();
            let icmp = c["protocols"]["icmp"].as_u64().unwrap_or(0)
                + c["protocols"]["icmpv6"].as_u64().unwrap_or(0);
            if icmp != 31 || theirs_total != ours_total + icmp || ours.keys().ne(theirs.keys()) {
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
