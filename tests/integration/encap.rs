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
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "gre-aruba-amsdu.pcap",
    "an 802.11 A-MSDU carries two TCP segments in one frame; tunscope decodes the first \
     subframe only (one inner packet per captured frame), tshark and Zeek both count two",
)];

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
