//! The lab's fixtures (`fixtures/pcaps`) against the ground truth their generator wrote:
//! what the peers really sent, and what a correct reassembler can deliver from the capture.

use crate::util::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps")
}

fn truths(prefix: &str) -> Vec<(PathBuf, Value)> {
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/pcaps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with(prefix) && name.ends_with(".truth.json")
        })
        .map(|p| {
            let truth: Value =
                serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
            let pcap = fixtures_dir().join(truth["pcap"].as_str().expect("pcap name"));
            (pcap, truth)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_fixture_reads_with_its_packet_count() {
    let all = truths("");
    assert!(all.len() >= 25, "only {} fixtures", all.len());
    for (pcap, truth) in all {
        let run = run_analyze([pcap.as_os_str(), "--format".as_ref(), "json".as_ref()]);
        assert_eq!(run.code, 0, "{}: {}", pcap.display(), run.stderr);
        let doc = run.json();
        assert_eq!(
            doc["capture"]["packets"],
            truth["packets"],
            "{}",
            pcap.display()
        );
        assert_eq!(
            doc["capture"]["anomalies"]["total"],
            0,
            "{}",
            pcap.display()
        );
    }
}

/// The truth's words for a gap's cause, in tunscope's names.
fn cause_name(truth_cause: &str) -> &'static str {
    if truth_cause.contains("snap length") {
        "snaplen_truncated"
    } else if truth_cause.contains("ACK passed") {
        "acked_not_captured"
    } else {
        "unknown"
    }
}

#[test]
fn tcp_edge_cases_deliver_exactly_what_the_truth_says() {
    let cases = truths("tcp-");
    assert!(cases.len() >= 12, "only {} TCP fixtures", cases.len());
    let mut failures = Vec::new();
    for (pcap, truth) in cases {
        let name = pcap
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let extracted = tempfile::tempdir().expect("tempdir");
        let out = tunscope()
            .args(["streams", "--digest", "sha256", "--extract"])
            .arg(extracted.path())
            .arg(&pcap)
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Our lines per direction 4-tuple, in the order connections ended.
        let mut ours: HashMap<(String, String), Vec<Value>> = HashMap::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let v: Value = serde_json::from_str(line).expect("json line");
            let src = format!("{}:{}", v["src"].as_str().unwrap_or(""), v["sport"]);
            let dst = format!("{}:{}", v["dst"].as_str().unwrap_or(""), v["dport"]);
            ours.entry((src, dst)).or_default().push(v);
        }
        let mut used: HashMap<(String, String), usize> = HashMap::new();
        for conn in truth["connections"].as_array().into_iter().flatten() {
            let client = conn["client"].as_str().unwrap_or("").to_string();
            let server = conn["server"].as_str().unwrap_or("").to_string();
            for (dir, src, dst) in [("c2s", &client, &server), ("s2c", &server, &client)] {
                let key = (src.clone(), dst.clone());
                let n = used.entry(key.clone()).or_insert(0);
                let Some(line) = ours.get(&key).and_then(|v| v.get(*n)) else {
                    failures.push(format!("{name}: no stream {src} -> {dst} (#{n})"));
                    continue;
                };
                *n += 1;
                let t = &conn[dir];
                if line["bytes"] != t["delivered_len"] || line["sha256"] != t["delivered_sha256"] {
                    failures.push(format!(
                        "{name} {src}->{dst}: delivered {} bytes sha {}, truth {} sha {}",
                        line["bytes"], line["sha256"], t["delivered_len"], t["delivered_sha256"]
                    ));
                }
                let want: Vec<(u64, u64, &str)> = t["gaps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|g| {
                        (
                            g["offset"].as_u64().unwrap_or(0),
                            g["len"].as_u64().unwrap_or(0),
                            cause_name(g["cause"].as_str().unwrap_or("")),
                        )
                    })
                    .collect();
                let file = line["file"].as_str().unwrap_or("");
                let got: Vec<(u64, u64, String)> =
                    std::fs::read_to_string(extracted.path().join(format!("{file}.gaps.jsonl")))
                        .unwrap_or_default()
                        .lines()
                        .map(|l| {
                            let g: Value = serde_json::from_str(l).expect("gap line");
                            (
                                g["offset"].as_u64().unwrap_or(0),
                                g["len"].as_u64().unwrap_or(0),
                                g["cause"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect();
                let got_ref: Vec<(u64, u64, &str)> =
                    got.iter().map(|(o, l, c)| (*o, *l, c.as_str())).collect();
                if got_ref != want {
                    failures.push(format!(
                        "{name} {src}->{dst}: gaps {got_ref:?}, truth {want:?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences from the truth:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
