//! The record spool (`report::spool`): a run whose records all go through the temporary
//! file reports exactly what a run that keeps them all in memory reports, in every format.

use std::path::{Path, PathBuf};
use tunscope::capture::CaptureSet;
use tunscope::pipeline::{self, Options, Pipeline};
use tunscope::report::jsonl::RecordType;
use tunscope::report::{Summary, csv, html, jsonl, text};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/pcaps/{name}.pcap"))
}

fn all_fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    v.sort();
    v
}

fn run(paths: &[PathBuf], spool_after_records: usize) -> Summary {
    let opts = Options {
        spool_after_records,
        ..Options::default()
    };
    let mut set = CaptureSet::new(paths.to_vec());
    pipeline::run(&mut set, Pipeline::new(opts), |_, _| {})
}

fn jsonl_bytes(s: &Summary) -> Vec<u8> {
    let mut out = Vec::new();
    jsonl::write(s, &mut out).expect("JSONL");
    out
}

/// The CSV files as `--out` writes them: `(file name, contents)`, in record type order.
fn csv_files(s: &Summary) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("temporary directory");
    csv::write_files(s, dir.path()).expect("CSV");
    RecordType::all()
        .map(|t| {
            let name = format!("{}.csv", t.csv_stem());
            let bytes = std::fs::read(dir.path().join(&name)).expect("CSV file written");
            (name, bytes)
        })
        .collect()
}

/// Every rendering of a summary: JSON, JSONL, text, the CSV files and (optionally) HTML.
fn renderings(s: &Summary, with_html: bool) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        (
            "json".to_string(),
            serde_json::to_vec_pretty(s).expect("JSON"),
        ),
        ("jsonl".to_string(), jsonl_bytes(s)),
        ("text".to_string(), text::render(s, 10).into_bytes()),
    ];
    out.extend(csv_files(s));
    if with_html {
        out.push((
            "report.html".to_string(),
            html::render(s).expect("HTML").into_bytes(),
        ));
    }
    assert!(s.read_errors().is_empty(), "{:?}", s.read_errors());
    assert!(
        !s.capture
            .warnings
            .iter()
            .any(|w| w.contains("temporary file")),
        "{:?}",
        s.capture.warnings
    );
    out
}

fn assert_same(paths: &[PathBuf], with_html: bool) {
    let name = paths
        .iter()
        .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let in_memory = renderings(&run(paths, usize::MAX), with_html);
    for spool_after in [0, 1] {
        let spooled = run(paths, spool_after);
        assert!(
            spool_after > 0
                || spooled.connections.is_empty()
                || spooled.connections.spooled_bytes() > 0,
            "{name}: nothing was spooled"
        );
        let spooled = renderings(&spooled, with_html);
        assert_eq!(in_memory.len(), spooled.len());
        for ((what, a), (_, b)) in in_memory.iter().zip(&spooled) {
            assert!(
                a == b,
                "{name}: {what} differs with spool_after_records = {spool_after}:\n{}\n---\n{}",
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b)
            );
        }
    }
}

#[test]
fn spooled_runs_report_what_in_memory_runs_report() {
    for name in [
        "tunnel-http-server",
        "tunnel-redis-client",
        "app-http1",
        "app-tls13",
        "app-socks5-http",
        "quic-streams",
        "qtunnel-server",
    ] {
        assert_same(&[fixture(name)], true);
    }
}

#[test]
fn spooled_runs_report_what_in_memory_runs_report_on_every_fixture() {
    for p in all_fixtures() {
        assert_same(&[p], false);
    }
    // All of them in one run: more records of every kind than the default budget spares.
    assert_same(&all_fixtures(), true);
}
