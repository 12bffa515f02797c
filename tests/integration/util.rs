//! Helpers shared by the integration tests.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The shared oracle corpus, beside the checkout (`../shared/corpus`).
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// The corpus captures, as listed in its MANIFEST (`- Capture: \`path\``).
pub fn corpus_captures() -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(corpus_dir().join("MANIFEST.md"))
        .expect("../shared/corpus/MANIFEST.md must exist beside the checkout");
    let caps: Vec<PathBuf> = manifest
        .lines()
        .filter_map(|l| l.split("Capture: `").nth(1))
        .filter_map(|rest| rest.split('`').next())
        .map(|p| corpus_dir().join(p))
        .collect();
    assert!(caps.len() >= 50, "MANIFEST lists {} captures", caps.len());
    caps
}

/// The tshark summary generated for a corpus capture.
pub fn tshark_summary(capture: &Path) -> String {
    let rel = capture.strip_prefix(corpus_dir()).expect("a corpus path");
    let mut parts = rel.components();
    let top = parts.next().expect("tool directory");
    let rest: PathBuf = parts.collect();
    let candidates = [
        corpus_dir()
            .join(top)
            .join("tshark")
            .join(format!("{}.tshark.txt", rest.display())),
        corpus_dir().join(top).join("tshark").join(format!(
            "{}.tshark.txt",
            rest.file_name().expect("file name").to_string_lossy()
        )),
    ];
    for c in &candidates {
        if let Ok(s) = std::fs::read_to_string(c) {
            return s;
        }
    }
    panic!("no tshark summary for {}", capture.display());
}

pub fn tunscope() -> Command {
    Command::cargo_bin("tunscope").expect("binary built")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

pub fn run_analyze<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = tunscope().arg("analyze").args(args).output().expect("runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(run.code, 101, "tunscope panicked: {}", run.stderr);
    run
}
