//! The assembler's connection facts against Zeek's conn.log baselines for the same traces
//! (`../shared/corpus/zeek`): bytes from sequence numbers, missed bytes, history and
//! connection state. Deliberate differences are documented in docs/output.md and applied
//! here in one place (`normalise_history`).

use crate::util::*;
use std::collections::HashMap;

/// (trace, conn.log baseline) pairs, as the corpus MANIFEST pairs them.
const PAIRS: &[(&str, &str)] = &[
    (
        "zeek/Traces/http/get.pcap",
        "zeek/Baseline/core.tcp.reassembly-known-ports/conn.log",
    ),
    (
        "zeek/Traces/tcp/missing-syn.pcap",
        "zeek/Baseline/core.tcp.missing-syn/conn.log",
    ),
    (
        "zeek/Traces/tcp/retransmit-fast009.pcap",
        "zeek/Baseline/core.tcp.rxmit-history/conn-1.log",
    ),
    (
        "zeek/Traces/tcp/one-sided-2745.pcap",
        "zeek/Baseline/core.conn-size-flip/conn.log.one-sided",
    ),
    (
        "zeek/Traces/http/connect-with-header.pcap",
        "zeek/Baseline/scripts.base.protocols.http.http-connect-with-header/conn.log",
    ),
];

/// Zeek TSV (`#fields` header) or zeek-cut output (one plain header line) into rows.
pub(crate) fn parse_zeek_log(text: &str) -> Vec<HashMap<String, String>> {
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(str::to_owned).collect();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if fields.is_empty() {
            fields = line.split('\t').map(str::to_owned).collect();
            continue;
        }
        rows.push(
            fields
                .iter()
                .cloned()
                .zip(line.split('\t').map(str::to_owned))
                .collect(),
        );
    }
    rows
}

/// Traces captured with a short snap length. tunscope declares the gap for bytes the snap
/// length cut at the packet that carried them; Zeek declares it later, when the peer's
/// ACK passes the hole, so `G`/`g` take another place in the history (same letters).
const SNAPLEN_CUT_TRACES: &[&str] = &["zeek/Traces/tcp/retransmit-fast009.pcap"];

fn sorted(s: &str) -> Vec<char> {
    let mut v: Vec<char> = s.chars().collect();
    v.sort_unstable();
    v
}

/// Zeek marks flipped roles with `^`; tunscope reports the rule that decided the roles
/// instead (`role_rule`), so the letter is not part of its history.
fn normalise_history(h: &str) -> String {
    h.replace('^', "")
}

#[test]
fn tcp_connections_match_zeek_conn_logs() {
    need_corpus!();
    let mut failures = Vec::new();
    let mut compared = 0;
    for (trace, log) in PAIRS {
        let rows =
            parse_zeek_log(&std::fs::read_to_string(corpus_dir().join(log)).expect("baseline"));
        let run = run_analyze([
            corpus_dir().join(trace).as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
        ]);
        assert_eq!(run.code, 0, "{trace}: {}", run.stderr);
        let doc = run.json();
        let conns = doc["connections"].as_array().cloned().unwrap_or_default();
        for row in rows
            .iter()
            .filter(|r| r.get("proto").is_none_or(|p| p == "tcp"))
        {
            let orig = format!("{}:{}", row["id.orig_h"], row["id.orig_p"]);
            let resp = format!("{}:{}", row["id.resp_h"], row["id.resp_p"]);
            let bracket = |s: &str| match s.rsplit_once(':') {
                Some((a, p)) if a.contains(':') => format!("[{a}]:{p}"),
                _ => s.to_string(),
            };
            let (orig, resp) = (bracket(&orig), bracket(&resp));
            let Some(c) = conns
                .iter()
                .find(|c| c["client"] == orig.as_str() && c["server"] == resp.as_str())
            else {
                failures.push(format!(
                    "{trace}: no connection {orig} -> {resp} (roles as Zeek's)"
                ));
                continue;
            };
            compared += 1;
            let tcp = &c["tcp"];
            let dir_bytes = |d: &str| {
                let s = &tcp[d]["stats"];
                let gaps: u64 = [
                    "acked_not_captured",
                    "never_acked",
                    "limit_skipped",
                    "snaplen_truncated",
                ]
                .iter()
                .map(|k| s["gaps"][k]["bytes"].as_u64().unwrap_or(0))
                .sum();
                s["delivered_bytes"].as_u64().unwrap_or(0) + gaps
            };
            let mut check = |field: &str, ours: String| {
                if let Some(theirs) = row.get(field)
                    && *theirs != ours
                {
                    failures.push(format!(
                        "{trace} {orig}: {field} zeek {theirs} tunscope {ours}"
                    ));
                }
            };
            check("orig_bytes", dir_bytes("c2s").to_string());
            check("resp_bytes", dir_bytes("s2c").to_string());
            check("missed_bytes", tcp["missed_bytes"].to_string());
            check(
                "conn_state",
                tcp["conn_state"].as_str().unwrap_or("").to_string(),
            );
            check("orig_pkts", c["packets_c2s"].to_string());
            check("resp_pkts", c["packets_s2c"].to_string());
            check("orig_ip_bytes", c["ip_bytes_c2s"].to_string());
            check("resp_ip_bytes", c["ip_bytes_s2c"].to_string());
            if let Some(h) = row.get("history") {
                let ours = tcp["history"].as_str().unwrap_or("").to_string();
                let same = if SNAPLEN_CUT_TRACES.contains(trace) {
                    sorted(&normalise_history(h)) == sorted(&ours)
                } else {
                    normalise_history(h) == ours
                };
                if !same {
                    failures.push(format!("{trace} {orig}: history zeek {h} tunscope {ours}"));
                }
            }
        }
    }
    assert!(compared >= 6, "compared only {compared} connections");
    assert!(
        failures.is_empty(),
        "{} differences from Zeek:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
