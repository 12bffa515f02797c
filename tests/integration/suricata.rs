//! Stream outcomes of the suricata-verify TCP tests (`../shared/corpus/suricata-verify`),
//! read through `tunscope streams --extract`: what Suricata's reassembled stream holds,
//! tunscope's extracted file holds, with Suricata's `[N bytes missing]` as a gap entry.

use crate::util::*;
use std::path::Path;

/// Runs `streams --extract` on a suricata-verify capture; returns the directory.
fn extract(test: &str, capture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = corpus_dir()
        .join("suricata-verify/tests")
        .join(test)
        .join(capture);
    let out = tunscope()
        .args(["streams", "--extract"])
        .arg(dir.path())
        .arg(&pcap)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn gaps(dir: &Path, name: &str) -> Vec<serde_json::Value> {
    match std::fs::read_to_string(dir.join(format!("{name}.gaps.jsonl"))) {
        Ok(s) => s
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

const C2S: &str = "001.001.001.001.12345-002.002.002.002.08080";
const S2C: &str = "002.002.002.002.08080-001.001.001.001.12345";

#[test]
fn data_gap_reads_very_gap_data() {
    need_corpus!();
    // test.yaml: payload_printable "VERY[4 bytes missing]DATA".
    let dir = extract("eve-payload-05-tcp-data-gap", "tcp-simple-gap2.pcap");
    assert_eq!(read(dir.path(), C2S), b"VERYDATA");
    let g = gaps(dir.path(), C2S);
    assert_eq!(g.len(), 1);
    assert_eq!(
        (g[0]["offset"].as_u64(), g[0]["len"].as_u64()),
        (Some(4), Some(4))
    );
}

#[test]
fn exact_overlap_keeps_the_first_copy() {
    need_corpus!();
    // test.yaml: the stream alert (sid 2) sees "GOOD"; "EVIL" only ever in a packet.
    let dir = extract("eve-payload-01-tcp-exact-overlap", "tcp-overlap.pcap");
    assert_eq!(read(dir.path(), C2S), b"GOOD");
    let run = run_analyze([
        corpus_dir()
            .join("suricata-verify/tests/eve-payload-01-tcp-exact-overlap/tcp-overlap.pcap")
            .as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ]);
    let c2s = &run.json()["connections"][0]["tcp"]["c2s"]["stats"];
    assert_eq!(c2s["overlap_conflicts"], 1, "{c2s}");
}

#[test]
fn unacked_data_after_a_gap_is_still_reassembled_before_the_rst() {
    need_corpus!();
    // test.yaml: content "Me In" matches once in the stream after the RST.
    let dir = extract("tcp-rst-unacked-stream-03-gap", "input.pcap");
    let stream = read(dir.path(), S2C);
    assert!(
        stream.windows(5).any(|w| w == b"Me In"),
        "{}",
        String::from_utf8_lossy(&stream)
    );
    assert_eq!(gaps(dir.path(), S2C).len(), 1);
}

#[test]
fn one_sided_midstream_stream_holds_content_across_segments() {
    need_corpus!();
    // test.yaml: one alert from port 143 for content crossing segment boundaries.
    let dir = extract("tcp-async-01", "input.pcap");
    let stream = read(dir.path(), "123.125.050.047.00143-010.000.001.150.55774");
    let needle = b"C6 OK ID completed\r\n* 21 EXISTS\r\n* 6 RECENT";
    assert_eq!(
        stream.windows(needle.len()).filter(|w| w == needle).count(),
        1
    );
}
