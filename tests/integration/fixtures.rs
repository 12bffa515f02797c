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
/// A mapped file's history remembers delivered bytes by their place in the map; a pipe's
/// copies them into a ring. Both must find the same overlap conflicts (ranges and hashes)
/// and report the same connections.
#[test]
fn mapped_and_piped_captures_report_the_same_connections_and_conflicts() {
    need_corpus!();
    let mut captures: Vec<PathBuf> = truths("tcp-").into_iter().map(|(p, _)| p).collect();
    captures.push(
        corpus_dir()
            .join("suricata-verify/tests/eve-payload-01-tcp-exact-overlap/tcp-overlap.pcap"),
    );
    let mut conflicts = 0;
    for pcap in captures {
        let name = pcap.display().to_string();
        let connections = |out: std::process::Output| -> Value {
            assert_eq!(out.status.code(), Some(0), "{name}");
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            v["connections"].clone()
        };
        let mapped = connections(
            tunscope()
                .args(["analyze", "--format", "json"])
                .arg(&pcap)
                .output()
                .expect("runs"),
        );
        let piped = connections(
            tunscope()
                .args(["analyze", "--format", "json", "-"])
                .write_stdin(std::fs::read(&pcap).expect("read"))
                .output()
                .expect("runs"),
        );
        assert_eq!(mapped, piped, "{name}");
        for c in mapped.as_array().into_iter().flatten() {
            conflicts += c["tcp"]["conflict_events"].as_u64().unwrap_or(0);
        }
    }
    assert!(
        conflicts >= 2,
        "the captures exercise conflicts: {conflicts}"
    );
}

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

fn endpoint_of(truth: &Value, conn_id: &str) -> Option<(String, String)> {
    truth["connections"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == conn_id)
        .map(|c| {
            (
                c["client"].as_str().unwrap_or("").to_string(),
                c["server"].as_str().unwrap_or("").to_string(),
            )
        })
}

/// The truth's words for auth outcomes, in tunscope's names.
fn auth_name(truth_auth: &str) -> &str {
    match truth_auth {
        "success" => "ok",
        "fail" => "failed",
        "off" => "not_checked",
        other => other,
    }
}

#[test]
fn tunnel_sessions_tunnels_and_visitors_match_the_truth() {
    let cases = truths("tunnel-");
    assert!(cases.len() >= 14, "only {} tunnel fixtures", cases.len());
    let mut failures = Vec::new();
    let mut checked_pairings = 0;
    let mut checked_requests = 0;
    let mut checked_latencies = 0;
    for (pcap, truth) in cases {
        let name = pcap
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let run = run_analyze([pcap.as_os_str(), "--format".as_ref(), "json".as_ref()]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let doc = run.json();
        let server_side = truth["capture"]["side"] == "server";
        let sessions = doc["tunnel"]["sessions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let tunnels = doc["tunnel"]["tunnels"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut fail = |what: String| failures.push(format!("{name}: {what}"));
        if sessions.len() != truth["sessions"].as_array().map_or(0, Vec::len) {
            fail(format!(
                "{} sessions, truth {}",
                sessions.len(),
                truth["sessions"]
            ));
        }
        for ts in truth["sessions"].as_array().into_iter().flatten() {
            let conn = ts["conn"].as_str().unwrap_or("");
            let Some((client, _)) = endpoint_of(&truth, conn) else {
                fail(format!("truth has no connection {conn}"));
                continue;
            };
            let Some(s) = sessions
                .iter()
                .find(|s| s["control"]["client"] == client.as_str())
            else {
                fail(format!("no session for control connection {client}"));
                continue;
            };
            let want_order = ts["byte_order"].as_str().unwrap_or("").replace('-', "_");
            if s["byte_order"] != want_order.as_str() {
                fail(format!(
                    "{client}: byte order {} truth {want_order}",
                    s["byte_order"]
                ));
            }
            if s["auth"] != auth_name(ts["auth"].as_str().unwrap_or("")) {
                fail(format!("{client}: auth {} truth {}", s["auth"], ts["auth"]));
            }
            if let Some(user) = ts["user"].as_str()
                && s["user"] != user
            {
                fail(format!("{client}: user {} truth {user}", s["user"]));
            }
            for k in ["uid", "port"] {
                if !ts[k].is_null() && s[k] != ts[k] {
                    fail(format!("{client}: {k} {} truth {}", s[k], ts[k]));
                }
            }
            // Every frame the truth lists on this connection, counted by name.
            let mut want: HashMap<String, u64> = HashMap::new();
            for f in truth["frames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["conn"] == conn)
            {
                *want
                    .entry(f["name"].as_str().unwrap_or("").to_string())
                    .or_default() += 1;
            }
            let got: HashMap<String, u64> = s["frames"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect();
            if got != want {
                fail(format!("{client}: frames {got:?} truth {want:?}"));
            }
        }
        if tunnels.len() != truth["tunnels"].as_array().map_or(0, Vec::len) {
            fail(format!(
                "{} tunnels, truth {}",
                tunnels.len(),
                truth["tunnels"].as_array().map_or(0, Vec::len)
            ));
        }
        for tt in truth["tunnels"].as_array().into_iter().flatten() {
            let Some((client, _)) = endpoint_of(&truth, tt["conn"].as_str().unwrap_or("")) else {
                continue;
            };
            let Some(t) = tunnels.iter().find(|t| t["client"] == client.as_str()) else {
                fail(format!("no tunnel {client}"));
                continue;
            };
            if t["uid"] != tt["uid"] || t["port"] != tt["port"] {
                fail(format!(
                    "tunnel {client}: uid/port {}/{} truth {}/{}",
                    t["uid"], t["port"], tt["uid"], tt["port"]
                ));
            }
            let visitor = endpoint_of(&truth, tt["visitor"].as_str().unwrap_or("")).map(|v| v.0);
            if server_side {
                checked_pairings += 1;
                if t["visitor"].as_str() != visitor.as_deref() {
                    fail(format!(
                        "tunnel {client} carried visitor {} truth {visitor:?}",
                        t["visitor"]
                    ));
                }
            } else if !t["visitor"].is_null() {
                fail(format!(
                    "client-side tunnel {client} names a visitor {}",
                    t["visitor"]
                ));
            }
        }
        // The application inside the tunnels: every HTTP request a visitor made is found on
        // a tunnel connection (client side and server side alike).
        let tunnel_clients: Vec<&str> = tunnels
            .iter()
            .filter_map(|t| t["client"].as_str())
            .collect();
        let mut in_tunnels: Vec<(String, String)> = Vec::new();
        for r in doc["http"].as_array().into_iter().flatten() {
            if !tunnel_clients.contains(&r["client"].as_str().unwrap_or("")) {
                continue;
            }
            for t in r["transactions"].as_array().into_iter().flatten() {
                in_tunnels.push((
                    t["method"].as_str().unwrap_or("").to_string(),
                    t["target"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
        for tv in truth["visitors"].as_array().into_iter().flatten() {
            // On the server side the visitor's own connection is visible: its HTTP
            // latency (request sent -> first response byte) must be the visitor's.
            let visitor_txns: Vec<Value> = doc["http"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["client"] == tv["client"])
                .flat_map(|r| r["transactions"].as_array().cloned().unwrap_or_default())
                .collect();
            for req in tv["requests"].as_array().into_iter().flatten() {
                let (Some(method), Some(path)) = (req["method"].as_str(), req["path"].as_str())
                else {
                    continue;
                };
                checked_requests += 1;
                if server_side {
                    let truth_ms = (req["time_response_head"].as_f64().unwrap_or(0.0)
                        - req["time_request"].as_f64().unwrap_or(0.0))
                        * 1000.0;
                    match visitor_txns.iter().find(|t| t["target"] == path) {
                        Some(t) => {
                            let ours = t["latency_ms"].as_f64().unwrap_or(f64::NAN);
                            checked_latencies += 1;
                            if ours.is_nan() || (ours - truth_ms).abs() > 1.0 {
                                fail(format!(
                                    "visitor {} {path}: latency {ours:.3} ms, truth {truth_ms:.3} ms",
                                    tv["client"]
                                ));
                            }
                        }
                        None => fail(format!(
                            "visitor {} {path}: no HTTP transaction",
                            tv["client"]
                        )),
                    }
                }
                if !in_tunnels.contains(&(method.to_string(), path.to_string())) {
                    fail(format!(
                        "HTTP {method} {path} of visitor {} not found inside a tunnel",
                        tv["client"]
                    ));
                }
            }
        }
        if server_side {
            let visitors: Vec<Value> = sessions
                .iter()
                .flat_map(|s| s["visitors"].as_array().cloned().unwrap_or_default())
                .collect();
            for tv in truth["visitors"].as_array().into_iter().flatten() {
                let Some(v) = visitors.iter().find(|v| v["client"] == tv["client"]) else {
                    fail(format!("no visitor {}", tv["client"]));
                    continue;
                };
                if v["bytes_c2s"] != tv["bytes_c2s"] || v["bytes_s2c"] != tv["bytes_s2c"] {
                    fail(format!(
                        "visitor {}: bytes {}/{} truth {}/{}",
                        tv["client"],
                        v["bytes_c2s"],
                        v["bytes_s2c"],
                        tv["bytes_c2s"],
                        tv["bytes_s2c"]
                    ));
                }
                if v["tunnel"] != tv["tunnel_endpoint"] {
                    fail(format!(
                        "visitor {}: tunnel {} truth {}",
                        tv["client"], v["tunnel"], tv["tunnel_endpoint"]
                    ));
                }
            }
        }
    }
    assert!(
        checked_pairings >= 10,
        "only {checked_pairings} pairings checked"
    );
    assert!(
        checked_latencies >= 10,
        "only {checked_latencies} visitor HTTP latencies checked"
    );
    assert!(
        checked_requests >= 10,
        "only {checked_requests} tunnelled HTTP requests checked"
    );
    assert!(
        failures.is_empty(),
        "{} differences from the truth:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn passwords_reach_no_output_unless_asked() {
    let mut checked = 0;
    for (pcap, truth) in truths("tunnel-") {
        for s in truth["sessions"].as_array().into_iter().flatten() {
            let Some(password) = s["password"].as_str() else {
                continue;
            };
            checked += 1;
            // Every rendering: text, JSON, JSONL on stdout, and the --out directory's
            // summary.json, every CSV and report.html.
            let out = tempfile::tempdir().expect("tempdir");
            for format in ["text", "json", "jsonl"] {
                let run = run_analyze([
                    pcap.as_os_str(),
                    "--format".as_ref(),
                    format.as_ref(),
                    "--out".as_ref(),
                    out.path().as_os_str(),
                ]);
                assert_eq!(run.code, 0, "{}", run.stderr);
                assert!(
                    !run.stdout.contains(password) && !run.stderr.contains(password),
                    "{}: the password is in the {format} output",
                    pcap.display()
                );
            }
            let mut files = 0;
            for entry in std::fs::read_dir(out.path()).expect("out dir") {
                let path = entry.expect("entry").path();
                let text = std::fs::read_to_string(&path).expect("text file");
                files += 1;
                assert!(
                    !text.contains(password),
                    "{}: the password is in {}",
                    pcap.display(),
                    path.display()
                );
            }
            assert!(files >= 10, "only {files} files in --out");
            let shown = run_analyze([
                pcap.as_os_str(),
                "--format".as_ref(),
                "json".as_ref(),
                "--show-secrets".as_ref(),
            ]);
            assert!(
                shown.stdout.contains(password),
                "{}: --show-secrets hides the password",
                pcap.display()
            );
        }
    }
    assert!(checked >= 10, "only {checked} passwords checked");
}
