//! Reports: latency and throughput against the lab's ground truth, the JSONL/CSV/HTML
//! renderings, `tunscope check` against baselines, and the HTML report in a real headless
//! Chromium.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps")
}

fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(format!("{name}.pcap"))
}

fn all_truths() -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let n = p
                .file_name()?
                .to_str()?
                .strip_suffix(".truth.json")?
                .to_string();
            let t: Value = serde_json::from_str(&std::fs::read_to_string(&p).ok()?).ok()?;
            Some((n, t))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn analyze_json(pcap: &Path) -> Value {
    let run = run_analyze([pcap.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    assert_eq!(run.code, 0, "{}: {}", pcap.display(), run.stderr);
    run.json()
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn ms_between(later: &Value, earlier: &Value) -> Option<f64> {
    Some((f(later)? - f(earlier)?) * 1000.0)
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// What the generator's own clocks say each latency was: (category, server) -> values (ms).
/// Only what the capture can show is listed: the visitors of a server-side tunnel capture,
/// the services a fixture names as its server.
fn truth_latencies(
    t: &Value,
    captured: &std::collections::HashSet<String>,
) -> BTreeMap<(String, String), Vec<f64>> {
    let mut out: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut add = |cat: &str, server: &Value, v: Option<f64>| {
        if let (Some(s), Some(v)) = (server.as_str(), v) {
            out.entry((cat.to_string(), s.to_string()))
                .or_default()
                .push(v);
        }
    };
    let server = &t["server"];
    for h in arr(&t["http"]) {
        for x in arr(&h["exchanges"]) {
            add(
                "http",
                server,
                ms_between(&x["time_response_head"], &x["time_request"]),
            );
        }
    }
    for r in arr(&t["redis"]) {
        for x in arr(&r["commands"]) {
            add(
                "redis",
                server,
                ms_between(&x["time_reply"], &x["time_request"]),
            );
        }
    }
    for x in arr(&t["tls"]) {
        add(
            "tls_handshake",
            server,
            ms_between(&x["handshake_done"], &x["connect_time"]),
        );
    }
    // QUIC: from the first Initial on the wire (the server's receive time; the client's
    // `time_connect` precedes it by its key setup, which no capture shows) to the client's
    // handshake completion.
    if t["time_handshake_done_client"].is_number() {
        add(
            "quic_handshake",
            server,
            ms_between(
                &t["time_handshake_done_client"],
                &t["server_view"]["first_initial_time"],
            ),
        );
    }
    // QTunnel users talk HTTP to the front end (captured on host A only).
    let frontend = arr(&t["connections"])
        .iter()
        .find(|c| c["kind"] == "frontend")
        .map(|c| c["server"].clone())
        .unwrap_or(Value::Null);
    if captured.contains(frontend.as_str().unwrap_or("-")) {
        for u in arr(&t["users"]) {
            for x in arr(&u["http"]) {
                add(
                    "http",
                    &frontend,
                    ms_between(&x["time_response_head"], &x["time_request"]),
                );
            }
        }
    }
    if t["capture"]["side"] == "server" {
        let opened = |conn: &Value| {
            arr(&t["connections"])
                .iter()
                .find(|c| c["id"] == *conn)
                .map(|c| c["opened"].clone())
        };
        for v in arr(&t["visitors"]) {
            let srv = &v["server"];
            let mut first_reply = None;
            for r in arr(&v["requests"]) {
                if r["time_response_head"].is_number() {
                    add(
                        "http",
                        srv,
                        ms_between(&r["time_response_head"], &r["time_request"]),
                    );
                    first_reply = first_reply.or(f(&r["time_response_head"]));
                } else if r["time_reply"].is_number() {
                    add(
                        "redis",
                        srv,
                        ms_between(&r["time_reply"], &r["time_request"]),
                    );
                    first_reply = first_reply.or(f(&r["time_reply"]));
                }
            }
            let nc = &v["new_connection_time"];
            add(
                "tunnel_visitor_syn_to_new_connection",
                srv,
                ms_between(nc, &v["connect_time"]),
            );
            let tunnel = arr(&t["tunnels"])
                .iter()
                .find(|x| x["visitor"] == v["conn"])
                .and_then(|x| opened(&x["conn"]));
            // The two middle steps meet at the tunnel's SYN, which the generator has no
            // clock for (its `opened` is when connect() returned, up to milliseconds after
            // the SYN left): they are checked per visitor in `tunnel_steps`.
            if tunnel.is_some()
                && let Some(first) = first_reply
            {
                add(
                    "tunnel_total",
                    srv,
                    f(&v["connect_time"]).map(|c| (first - c) * 1000.0),
                );
            }
        }
    }
    out
}

/// The middle tunnel steps of each visitor of a server-side capture: NEW_CONNECTION ->
/// tunnel SYN plus tunnel SYN -> first byte equals NEW_CONNECTION -> first reply (within
/// 1 ms), and the SYN came no later than the client's connect() returned.
fn tunnel_steps(name: &str, t: &Value, doc: &Value, failures: &mut Vec<String>) -> usize {
    if t["capture"]["side"] != "server" {
        return 0;
    }
    let mut n = 0;
    for v in arr(&t["visitors"]) {
        let Some(tn) = arr(&t["tunnels"])
            .iter()
            .find(|x| x["visitor"] == v["conn"])
        else {
            continue;
        };
        let Some(opened) = arr(&t["connections"])
            .iter()
            .find(|c| c["id"] == tn["conn"])
            .and_then(|c| f(&c["opened"]))
        else {
            continue;
        };
        let first = arr(&v["requests"])
            .iter()
            .find_map(|r| f(&r["time_response_head"]).or(f(&r["time_reply"])));
        let (Some(first), Some(nc)) = (first, f(&v["new_connection_time"])) else {
            continue;
        };
        let ours = arr(&doc["tunnel"]["sessions"])
            .iter()
            .flat_map(|s| arr(&s["visitors"]))
            .find(|x| x["client"] == v["client"]);
        let Some(l) = ours.map(|x| &x["latency_ms"]) else {
            failures.push(format!("{name}: visitor {} not reported", v["client"]));
            continue;
        };
        let (a, b) = (
            f(&l["new_connection_to_tunnel_syn"]).unwrap_or(f64::NAN),
            f(&l["tunnel_syn_to_first_byte"]).unwrap_or(f64::NAN),
        );
        let whole = (first - nc) * 1000.0;
        let connect_done = (opened - nc) * 1000.0;
        if !((a + b - whole).abs() <= 1.0 && a <= connect_done + 1.0 && a >= 0.0) {
            failures.push(format!(
                "{name} visitor {}: steps {a} + {b} ms, truth NEW_CONNECTION -> first reply {whole:.3} ms, connect() done after {connect_done:.3} ms",
                v["client"]
            ));
        }
        n += 1;
    }
    n
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
fn every_fixture_latency_matches_the_generators_clocks_within_1ms() {
    let mut checked = BTreeMap::<String, usize>::new();
    let mut failures = Vec::new();
    for (name, truth) in all_truths() {
        let doc = analyze_json(&fixture(&name));
        let cats = arr(&doc["latency"]["categories"]);
        // Every category is always listed.
        assert_eq!(cats.len(), 9, "{name}");
        // TCP handshakes: one value per connection whose handshake the truth says is complete.
        let complete = arr(&truth["connections"])
            .iter()
            .filter(|c| c["handshake"] == "complete")
            .count();
        if complete > 0 {
            let tcp = cats
                .iter()
                .find(|c| c["category"] == "tcp_handshake")
                .unwrap();
            if tcp["count"].as_u64() != Some(complete as u64) {
                failures.push(format!(
                    "{name}: tcp_handshake count {} truth {complete}",
                    tcp["count"]
                ));
            }
            *checked.entry("tcp_handshake".into()).or_default() += complete;
        }
        let steps = tunnel_steps(&name, &truth, &doc, &mut failures);
        for cat in [
            "tunnel_new_connection_to_tunnel_syn",
            "tunnel_syn_to_first_byte",
        ] {
            *checked.entry(cat.into()).or_default() += steps;
        }
        let (_, captured) = independent_read(&fixture(&name), 1_000_000_000);
        for ((cat, server), mut want) in truth_latencies(&truth, &captured) {
            want.sort_by(f64::total_cmp);
            let got = cats
                .iter()
                .find(|c| c["category"] == cat.as_str())
                .and_then(|c| {
                    arr(&c["by_server"])
                        .iter()
                        .find(|s| s["server"] == server.as_str())
                });
            let Some(got) = got else {
                failures.push(format!("{name}: no {cat} latency for {server}"));
                continue;
            };
            if got["count"].as_u64() != Some(want.len() as u64) {
                failures.push(format!(
                    "{name} {cat} {server}: count {} truth {}",
                    got["count"],
                    want.len()
                ));
                continue;
            }
            for (k, q) in [
                ("min", 0.0),
                ("p50", 0.5),
                ("p90", 0.9),
                ("p99", 0.99),
                ("max", 1.0),
            ] {
                let w = nearest_rank(&want, q);
                let g = got[k].as_f64().unwrap_or(f64::NAN);
                if (g - w).abs() > 1.0 || g.is_nan() {
                    failures.push(format!(
                        "{name} {cat} {server} {k}: {g} ms, truth {w:.3} ms"
                    ));
                }
            }
            *checked.entry(cat).or_default() += want.len();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The oracle really covered every category.
    for cat in [
        "tcp_handshake",
        "tls_handshake",
        "quic_handshake",
        "http",
        "redis",
        "tunnel_visitor_syn_to_new_connection",
        "tunnel_new_connection_to_tunnel_syn",
        "tunnel_syn_to_first_byte",
        "tunnel_total",
    ] {
        assert!(
            checked.get(cat).copied().unwrap_or(0) > 0,
            "{cat} never checked: {checked:?}"
        );
    }
}

/// Payload bytes per bin of `bin_ns` from the first TCP/UDP packet, and every `ip:port`
/// seen, read straight from the pcap with nothing of tunscope.
fn independent_read(pcap: &Path, bin_ns: i128) -> (Vec<u64>, std::collections::HashSet<String>) {
    let b = std::fs::read(pcap).expect("pcap");
    let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let (le, nanos) = match magic {
        0xa1b2c3d4 => (true, false),
        0xa1b23c4d => (true, true),
        0xd4c3b2a1 => (false, false),
        0x4d3cb2a1 => (false, true),
        m => panic!("{}: magic {m:x}", pcap.display()),
    };
    let rd = |x: &[u8]| {
        let a: [u8; 4] = x.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(rd(&b[20..24]), 1, "Ethernet only");
    let mut off = 24;
    let mut start: Option<i128> = None;
    let mut bins: Vec<u64> = Vec::new();
    let mut endpoints = std::collections::HashSet::new();
    let mut frags: std::collections::HashMap<(Vec<u8>, u16), usize> = Default::default();
    while off + 16 <= b.len() {
        let ts = rd(&b[off..off + 4]) as i128 * 1_000_000_000
            + rd(&b[off + 4..off + 8]) as i128 * if nanos { 1 } else { 1000 };
        let incl = rd(&b[off + 8..off + 12]) as usize;
        let pkt = &b[off + 16..(off + 16 + incl).min(b.len())];
        off += 16 + incl;
        if pkt.len() < 14 + 20 || pkt[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &pkt[14..];
        let ihl = (ip[0] & 0x0f) as usize * 4;
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff;
        if frag != 0 {
            // A fragment: the datagram counts once, when its last fragment arrives (fragments
            // arrive in order in these captures).
            let key = (ip[12..20].to_vec(), u16::from_be_bytes([ip[4], ip[5]]));
            let sum = frags.entry(key.clone()).or_insert(0usize);
            *sum += total.saturating_sub(ihl);
            if frag & 0x2000 != 0 {
                continue;
            }
            let whole = frags.remove(&key).unwrap_or(0);
            if ip[9] != 17 {
                continue;
            }
            let s = *start.get_or_insert(ts);
            let bin = ((ts - s).max(0) / bin_ns) as usize;
            if bins.len() <= bin {
                bins.resize(bin + 1, 0);
            }
            bins[bin] += whole.saturating_sub(8) as u64;
            continue;
        }
        if ip.len() >= ihl + 4 && matches!(ip[9], 6 | 17) {
            let port = |k: usize| u16::from_be_bytes([ip[ihl + k], ip[ihl + k + 1]]);
            endpoints.insert(format!(
                "{}.{}.{}.{}:{}",
                ip[12],
                ip[13],
                ip[14],
                ip[15],
                port(0)
            ));
            endpoints.insert(format!(
                "{}.{}.{}.{}:{}",
                ip[16],
                ip[17],
                ip[18],
                ip[19],
                port(2)
            ));
        }
        let payload = match ip[9] {
            6 if ip.len() >= ihl + 13 => {
                total.saturating_sub(ihl + (ip[ihl + 12] >> 4) as usize * 4)
            }
            17 => total.saturating_sub(ihl + 8),
            _ => continue,
        };
        let s = *start.get_or_insert(ts);
        let bin = ((ts - s).max(0) / bin_ns) as usize;
        if bins.len() <= bin {
            bins.resize(bin + 1, 0);
        }
        bins[bin] += payload as u64;
    }
    (bins, endpoints)
}

#[test]
fn throughput_bins_match_an_independent_reading_of_every_fixture() {
    let mut failures = Vec::new();
    for (name, truth) in all_truths() {
        let pcap = fixture(&name);
        let run = run_analyze([
            pcap.as_os_str(),
            "--format".as_ref(),
            "json".as_ref(),
            "--bin".as_ref(),
            "250ms".as_ref(),
        ]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let doc = run.json();
        let th = &doc["throughput"];
        assert_eq!(th["bin_s"], 0.25, "{name}");
        let mut ours = vec![0u64; th["bins"].as_u64().unwrap() as usize];
        for s in arr(&th["series"]) {
            for (i, b) in arr(&s["bins"]).iter().enumerate() {
                ours[i] += b.as_u64().unwrap();
            }
        }
        let (mut want, captured) = independent_read(&pcap, 250_000_000);
        want.resize(ours.len().max(want.len()), 0);
        ours.resize(want.len(), 0);
        if ours != want {
            failures.push(format!("{name}: bins {ours:?}\n   independent {want:?}"));
        }
        // Per connection: payload bytes each way as the generator counted them.
        for c in arr(&truth["connections"]) {
            if !c["bytes_c2s"].is_u64() || c["kind"].is_null() {
                continue;
            }
            // The truth lists every connection of the run, some on links this capture
            // did not record.
            let seen = |k: &str| captured.contains(c[k].as_str().unwrap_or("-"));
            if !seen("client") && !seen("server") {
                continue;
            }
            let row = arr(&th["connections"])
                .iter()
                .find(|r| r["client"] == c["client"] && r["server"] == c["server"]);
            match row {
                Some(r) if r["bytes_c2s"] == c["bytes_c2s"] && r["bytes_s2c"] == c["bytes_s2c"] => {
                    let peak = r["peak_bps_c2s"].as_f64().unwrap_or(0.0);
                    let bytes = r["bytes_c2s"].as_f64().unwrap_or(0.0);
                    let mean = r["mean_bps_c2s"].as_f64().unwrap_or(0.0);
                    // A 1 s bin holds at most everything, at least the mean.
                    if peak > bytes || peak + 1e-6 < mean {
                        failures.push(format!(
                            "{name} {}: peak {peak} mean {mean} bytes {bytes}",
                            c["client"]
                        ));
                    }
                }
                Some(r) => failures.push(format!(
                    "{name} {} -> {}: bytes {}/{} truth {}/{}",
                    c["client"],
                    c["server"],
                    r["bytes_c2s"],
                    r["bytes_s2c"],
                    c["bytes_c2s"],
                    c["bytes_s2c"]
                )),
                None => failures.push(format!(
                    "{name}: no row for {} -> {}",
                    c["client"], c["server"]
                )),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_capture_gives_the_same_report() {
    let pcap = fixture("tunnel-http-server");
    let a = run_analyze([pcap.as_os_str(), "--format".as_ref(), "jsonl".as_ref()]);
    let b = run_analyze([pcap.as_os_str(), "--format".as_ref(), "jsonl".as_ref()]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn jsonl_is_one_typed_record_per_line_matching_the_json_document() {
    let pcap = fixture("tunnel-http-server");
    let doc = analyze_json(&pcap);
    let run = run_analyze([pcap.as_os_str(), "--format".as_ref(), "jsonl".as_ref()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for line in run.stdout.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        let t = v["type"].as_str().expect("type").to_string();
        *by_type.entry(t).or_default() += 1;
    }
    let n = |t: &str| by_type.get(t).copied().unwrap_or(0);
    assert_eq!(n("capture"), 1);
    assert_eq!(n("connection"), arr(&doc["connections"]).len());
    assert_eq!(n("tunnel_session"), 1);
    assert_eq!(n("tunnel_visitor"), 4);
    let tx: usize = arr(&doc["http"])
        .iter()
        .map(|h| arr(&h["transactions"]).len())
        .sum();
    assert_eq!(n("http"), tx);
    assert!(n("latency") >= 9);
    assert!(n("throughput") > 0);
}

#[test]
fn out_dir_has_summary_csvs_and_a_self_contained_html_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = fixture("tunnel-http-server");
    let run = run_analyze([
        pcap.as_os_str(),
        "--out".as_ref(),
        dir.path().as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        summary,
        run.json(),
        "summary.json is the --format json document"
    );
    for csv in [
        "connections.csv",
        "tunnel_sessions.csv",
        "tunnel_visitors.csv",
        "quic.csv",
        "tls.csv",
        "http.csv",
        "latency.csv",
        "throughput.csv",
        "top_talkers.csv",
    ] {
        let text = std::fs::read_to_string(dir.path().join(csv)).unwrap_or_default();
        assert!(!text.is_empty(), "{csv} has a header row");
    }
    let conns = std::fs::read_to_string(dir.path().join("connections.csv")).unwrap();
    let mut lines = conns.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("proto,client,server,"), "{header}");
    assert!(header.contains("tcp.handshake.total_rtt_ns"), "{header}");
    assert_eq!(lines.count(), arr(&summary["connections"]).len());
    let visitors = std::fs::read_to_string(dir.path().join("tunnel_visitors.csv")).unwrap();
    assert_eq!(visitors.lines().count(), 1 + 4);
    assert!(
        visitors
            .lines()
            .next()
            .unwrap()
            .contains("latency_ms.tunnel_syn_to_first_byte")
    );

    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for needle in [
        "chart-throughput",
        "chart-timeline",
        "chart-latency-http",
        "<svg",
        "Tunnel visitors",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }
    // Self-contained: nothing fetched from anywhere.
    for bad in ["<script", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(bad), "report.html contains {bad}");
    }
}

#[test]
fn text_report_has_latency_and_throughput_tables_without_colour_off_a_terminal() {
    let run = run_analyze([fixture("tunnel-http-server").as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Latency (ms)"), "{}", run.stdout);
    assert!(run.stdout.contains("Throughput"), "{}", run.stdout);
    assert!(run.stdout.contains("Top talkers"), "{}", run.stdout);
    assert!(
        !run.stdout.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
}

#[test]
fn bad_bin_is_an_error() {
    for bad in ["0s", "abc", "-1s", "1ns"] {
        let bad = format!("--bin={bad}");
        let run = run_analyze([fixture("tcp-baseline").as_os_str(), bad.as_ref()]);
        assert_eq!(run.code, 2, "--bin {bad}");
        assert!(run.stderr.contains("--bin"), "{}", run.stderr);
    }
}

fn check(capture: &str, baseline: &Path, rules: Option<&Path>) -> Run {
    let mut cmd = tunscope();
    cmd.arg("check")
        .arg(fixture(capture))
        .arg("--baseline")
        .arg(baseline);
    if let Some(r) = rules {
        cmd.arg("--rules").arg(r);
    }
    let out = cmd.output().expect("runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(run.code, 101, "panicked: {}", run.stderr);
    run
}

fn record_baseline(capture: &str, dir: &Path) -> PathBuf {
    let path = dir.join(format!("{capture}.baseline.json"));
    let out = tunscope()
        .args(["baseline", "-o"])
        .arg(&path)
        .arg(fixture(capture))
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

#[test]
fn check_passes_against_its_own_baseline() {
    let dir = tempfile::tempdir().unwrap();
    for capture in [
        "tunnel-http-server",
        "app-tls13",
        "quic-streams",
        "tcp-baseline",
    ] {
        let base = record_baseline(capture, dir.path());
        let run = check(capture, &base, None);
        assert_eq!(run.code, 0, "{capture}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.starts_with("tunscope check: ok"),
            "{}",
            run.stdout
        );
    }
    // `analyze --format json > baseline.json` is a baseline too.
    let doc = run_analyze([
        fixture("tunnel-http-server").as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let p = dir.path().join("analyze.json");
    std::fs::write(&p, doc.stdout).unwrap();
    assert_eq!(check("tunnel-http-server", &p, None).code, 0);
}

#[test]
fn check_fails_on_a_mangled_capture_with_a_readable_diff() {
    let dir = tempfile::tempdir().unwrap();
    let base = record_baseline("tcp-baseline", dir.path());
    // Reordered segments: the same bytes, but the out-of-order count grew from 0.
    let run = check("tcp-reorder", &base, None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("tcp.out_of_order_segments"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        line.contains("REGRESSION") && line.contains("may grow at most 20%"),
        "{line}"
    );
    // Segments missing from the capture: gap bytes may not grow.
    let run = check("tcp-hole-acked", &base, None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("tcp.gap_bytes"))
        .unwrap();
    assert!(
        line.contains("REGRESSION") && line.contains(" 0 ") && line.contains("may not grow"),
        "{line}"
    );
    // A different capture altogether: facts differ (connections per app, tunnel session).
    let run = check(
        "tunnel-redis-server",
        &record_baseline("tunnel-http-server", dir.path()),
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("connections[tcp/http]"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("must be equal"), "{}", run.stdout);
}

#[test]
fn check_fails_when_the_baseline_is_edited_to_demand_more() {
    let dir = tempfile::tempdir().unwrap();
    let base = record_baseline("tunnel-http-server", dir.path());
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    // Demand a faster HTTP p99 (half) and twice the throughput.
    for c in doc["latency"]["categories"].as_array_mut().unwrap() {
        if c["category"] == "http" {
            let p99 = c["p99"].as_f64().unwrap();
            c["p99"] = (p99 / 2.0).into();
        }
    }
    for s in doc["throughput"]["series"].as_array_mut().unwrap() {
        let b = s["bytes"].as_u64().unwrap();
        s["bytes"] = (b * 2).into();
    }
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_string(&doc).unwrap()).unwrap();
    let run = check("tunnel-http-server", &edited, None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let p99 = run
        .stdout
        .lines()
        .find(|l| l.contains("latency.http.p99"))
        .unwrap();
    assert!(
        p99.contains("REGRESSION")
            && p99.contains("+100.0%")
            && p99.contains("may grow at most 20%"),
        "{p99}"
    );
    assert!(
        run.stdout.contains("throughput.all.mean_bps"),
        "{}",
        run.stdout
    );
    // A rules file can loosen exactly those.
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[metrics.\"latency.http.p99\"]\nmax_increase_pct = 150\n[metrics.\"throughput.*\"]\nmax_decrease_pct = 60\n",
    )
    .unwrap();
    let run = check("tunnel-http-server", &edited, Some(&rules));
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn check_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    assert_eq!(check("tcp-baseline", &missing, None).code, 2);
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"a\": 1}").unwrap();
    let run = check("tcp-baseline", &junk, None);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a tunscope report"),
        "{}",
        run.stderr
    );
    let base = record_baseline("tcp-baseline", dir.path());
    let rules = dir.path().join("bad.toml");
    std::fs::write(&rules, "[metrics.\"x\"]\nmax_increse_pct = 1\n").unwrap();
    let run = check("tcp-baseline", &base, Some(&rules));
    assert_eq!(run.code, 2, "{}", run.stdout);
}

/// Finds a Chromium binary.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// The HTML report in a real headless Chromium: the DOM it builds has the charts' SVG
/// elements, and the screenshot is not blank. Skipped (loudly) only when no Chromium is
/// installed and `TUNSCOPE_REQUIRE_CHROMIUM` is unset; `scripts/test` installs it and sets it.
#[test]
fn html_report_renders_its_charts_in_headless_chromium() {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var_os("TUNSCOPE_REQUIRE_CHROMIUM").is_none(),
            "chromium is required (scripts/test installs it)"
        );
        eprintln!("SKIPPED: no chromium on PATH");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let run = run_analyze([
        fixture("tunnel-http-server").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let html = out.join("report.html");
    let url = format!("file://{}", html.display());
    let browse = |extra: &[&str], profile: &str| {
        let profile = dir.path().join(profile);
        std::fs::create_dir_all(&profile).unwrap();
        let out = std::process::Command::new(&chrome)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(
            out.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = browse(&["--dump-dom"], "profile-dom");
    for id in [
        "chart-throughput",
        "chart-timeline",
        "chart-latency-http",
        "chart-latency-tunnel_total",
    ] {
        let at = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no {id} in the DOM"));
        let fig = &dom[at..];
        let end = fig.find("</figure>").unwrap_or(fig.len());
        let fig = &fig[..end];
        assert!(fig.contains("<svg"), "{id} has no <svg>");
        assert!(
            fig.matches("<polyline").count()
                + fig.matches("<rect").count()
                + fig.matches("<path").count()
                >= 2,
            "{id} draws nothing"
        );
    }
    let shot = dir.path().join("shot.png");
    browse(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400",
            "--hide-scrollbars",
        ],
        "profile-shot",
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[1..4], b"PNG");
    assert_not_blank(&png);
    if let Some(keep) = std::env::var_os("TUNSCOPE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// Decodes the PNG (zlib via flate2) enough to count distinct colours: a blank page has
/// one or two; the report's charts have many.
fn assert_not_blank(png: &[u8]) {
    use std::io::Read;
    let mut pos = 8;
    let (mut w, mut h, mut ct, mut depth) = (0usize, 0usize, 0u8, 0u8);
    let mut idat = Vec::new();
    while pos + 8 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &png[pos + 4..pos + 8];
        let data = &png[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                depth = data[8];
                ct = data[9];
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        pos += 12 + len;
    }
    assert_eq!(depth, 8, "8-bit PNG");
    let bpp = match ct {
        2 => 3,
        6 => 4,
        other => panic!("colour type {other}"),
    };
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .expect("zlib");
    let stride = w * bpp;
    assert_eq!(raw.len(), h * (stride + 1));
    let mut prev = vec![0u8; stride];
    let mut cur = vec![0u8; stride];
    let mut colours = std::collections::HashSet::new();
    let mut non_white = 0usize;
    for y in 0..h {
        let row = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let filter = row[0];
        for x in 0..stride {
            let a = if x >= bpp { cur[x - bpp] } else { 0 } as i16;
            let b = prev[x] as i16;
            let c = if x >= bpp { prev[x - bpp] } else { 0 } as i16;
            let pred = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            };
            cur[x] = row[1 + x].wrapping_add(pred as u8);
        }
        for px in cur.chunks(bpp) {
            colours.insert((px[0], px[1], px[2]));
            if px[0] < 200 || px[1] < 200 || px[2] < 200 {
                non_white += 1;
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    assert!(
        colours.len() > 20,
        "only {} colours: blank page",
        colours.len()
    );
    assert!(
        non_white > w * h / 200,
        "{non_white} dark pixels of {}",
        w * h
    );
}
