//! Hostile input against every output: wire strings with terminal escapes, NUL, C1
//! controls, bidi overrides and spreadsheet formulas (`fixtures/pcaps/app-hostile-strings`,
//! made by `fixtures/gen`), and mutated fixtures that must never make tunscope panic.

use crate::util::*;
use std::path::{Path, PathBuf};

fn hostile_pcap() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps/app-hostile-strings.pcap")
}

/// A character a terminal (or an HTML parser) could act on: C0 controls but LF, DEL, C1
/// controls, bidirectional overrides.
fn control(c: char) -> bool {
    (c.is_control() && c != '\n')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[test]
fn hostile_strings_reach_no_output_raw() {
    let pcap = hostile_pcap();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_analyze([pcap.as_os_str(), "--out".as_ref(), dir.path().as_os_str()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = &run.stdout;
    if let Some((i, c)) = text.char_indices().find(|&(_, c)| control(c)) {
        panic!(
            "raw {c:?} in the terminal report at {i}: {:?}",
            &text[i.saturating_sub(60)..i]
        );
    }
    // The strings are there, shown: so the test would see them if they were raw.
    for shown in [
        "sni =cmd|' /C calc'!A0^[[2J^[]0;pwned\\x07\\x00\\u{009b}31m\\u{202e}txt",
        "connect =cmd",
        "user =cmd",
        "=CMD|",
    ] {
        assert!(text.contains(shown), "{shown:?} not in\n{text}");
    }
    // The 3000-byte SNI is cut, with its length given.
    assert!(text.contains("bytes]"), "{text}");
    assert!(
        text.lines().all(|l| l.chars().count() < 2200),
        "a line was not cut"
    );

    let html = std::fs::read_to_string(dir.path().join("report.html")).expect("report.html");
    if let Some((i, c)) = html
        .char_indices()
        .find(|&(_, c)| control(c) && !matches!(c, '\t' | '\r'))
    {
        panic!("raw {c:?} in report.html at {i}");
    }
    assert!(
        html.contains("=cmd|"),
        "the hostile SNI is not in the HTML report"
    );

    let mut cells = 0;
    let mut hostile_cells = 0;
    for entry in std::fs::read_dir(dir.path()).expect("out dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("csv") {
            continue;
        }
        let mut rd = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_path(&path)
            .expect("csv");
        for row in rd.records() {
            let row = row.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for cell in row.iter() {
                cells += 1;
                if cell.contains("cmd|") || cell.contains("CMD|") {
                    hostile_cells += 1;
                }
                assert!(
                    !cell.chars().any(control),
                    "{}: raw control in {cell:?}",
                    path.display()
                );
                let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
                let number = cell.parse::<f64>().is_ok();
                assert!(
                    !formula || number,
                    "{}: a spreadsheet would execute {cell:?}",
                    path.display()
                );
            }
        }
    }
    assert!(cells > 100, "only {cells} CSV cells");
    assert!(
        hostile_cells >= 5,
        "only {hostile_cells} CSV cells hold the hostile string"
    );
}
