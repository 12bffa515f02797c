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

/// Xorshift64*, fixed seed: the same mutants every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutant of `orig`: bit flips, extreme bytes, a length-like field set huge or zero,
/// a cut, a duplicated or deleted run (a few edits each).
fn mutate(orig: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = orig.to_vec();
    for _ in 0..1 + rng.below(4) {
        if m.is_empty() {
            break;
        }
        let at = rng.below(m.len());
        match rng.below(7) {
            0 => m[at] ^= 1 << rng.below(8),
            1 => m[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => {
                let v = [u32::MAX, 0, 0x8000_0000, 0xffff][rng.below(4)].to_le_bytes();
                for (i, b) in v.iter().enumerate() {
                    if let Some(x) = m.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            3 => m.truncate(at),
            4 => {
                let len = rng.below(64).min(m.len() - at);
                let run = m[at..at + len].to_vec();
                m.splice(at..at, run);
            }
            5 => {
                let len = rng.below(64).min(m.len() - at);
                m.drain(at..at + len);
            }
            _ => {
                let len = rng.below(16).min(m.len() - at);
                for x in &mut m[at..at + len] {
                    *x = rng.next() as u8;
                }
            }
        }
    }
    m
}

/// Runs the library on `bytes` as the CLI would (every renderer included) and returns
/// the exit code `analyze` would give: 0 when read to the end, 2 otherwise.
fn analyze_in_process(bytes: Vec<u8>) -> u8 {
    use tunscope::capture::CaptureSet;
    use tunscope::pipeline::{self, Options, Pipeline};
    let mut set = CaptureSet::from_reader("mutant", Box::new(std::io::Cursor::new(bytes)));
    let summary = pipeline::run(&mut set, Pipeline::new(Options::default()), |_, _| {});
    let text = tunscope::report::text::render(&summary, 10);
    assert!(!text.chars().any(control), "raw control in the text report");
    let mut jsonl = Vec::new();
    let _ = tunscope::report::jsonl::write(&summary, &mut jsonl);
    let html = tunscope::report::html::render(&summary).unwrap_or_default();
    assert!(
        !html
            .chars()
            .any(|c| control(c) && !matches!(c, '\t' | '\r')),
        "raw control in the HTML report"
    );
    if summary.capture.complete { 0 } else { 2 }
}

#[test]
fn mutated_fixtures_never_panic() {
    // 2000 mutants of the fixtures (each cut to its first 16 KiB, so the run stays well
    // under a minute in a debug build): exit 0 or 2, never a panic.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pcaps");
    let mut fixtures: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("pcap"))
        .map(|p| {
            let mut b = std::fs::read(&p).expect("read");
            b.truncate(16 * 1024);
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                b,
            )
        })
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 25, "only {} fixtures", fixtures.len());
    let mut rng = Rng(0x5eed_0018);
    let mut codes = [0u32; 3];
    let total = 2000;
    for i in 0..total {
        let (name, orig) = &fixtures[i % fixtures.len()];
        let mutant = mutate(orig, &mut rng);
        let keep = mutant.clone();
        let outcome = std::panic::catch_unwind(move || analyze_in_process(mutant));
        match outcome {
            Ok(code) => codes[usize::from(code)] += 1,
            Err(_) => {
                let path = std::env::temp_dir().join(format!("tunscope-mutant-{i}.pcap"));
                let _ = std::fs::write(&path, &keep);
                panic!("mutant {i} of {name} panicked; saved as {}", path.display());
            }
        }
    }
    // Both outcomes happen: the mutations reach the reader and the analyzers alike.
    assert!(codes[0] > 100 && codes[2] > 100, "exit codes {codes:?}");
}
