//! Helpers shared by the integration tests.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// The shared oracle corpus, beside the checkout (`../shared/corpus`).
pub(crate) fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// Whether the corpus is there. When it is not, tests that read it skip, and the first
/// to skip says so in one line; `scripts/test` sets `TUNSCOPE_REQUIRE_CORPUS=1`, which
/// turns the absence into a failure (CI always has the corpus).
pub(crate) fn corpus_present() -> bool {
    static SAID: std::sync::Once = std::sync::Once::new();
    if corpus_dir().join("MANIFEST.md").is_file() {
        return true;
    }
    assert!(
        std::env::var_os("TUNSCOPE_REQUIRE_CORPUS").is_none(),
        "../shared/corpus/MANIFEST.md must exist beside the checkout"
    );
    // Written to the process's stderr, not through `eprintln!`, which the test harness
    // captures (and hides) for passing tests.
    SAID.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "corpus tests skipped: ../shared/corpus is not beside the checkout"
        );
    });
    false
}

/// Returns from the calling test when the corpus is absent (see [`corpus_present`]).
macro_rules! need_corpus {
    () => {
        if !$crate::util::corpus_present() {
            return;
        }
    };
}
pub(crate) use need_corpus;

/// The MANIFEST categories (its `## ` headings) whose captures the code claims to read
/// correctly. A category joins this list when the issue that decodes it lands; until then
/// its captures are left out of the corpus-wide tests, so main stays green.
pub(crate) const CLAIMED_CATEGORIES: &[&str] = &[
    "QUIC",
    "TLS",
    "HTTP/1.x",
    "SOCKS",
    "SSH",
    "Redis",
    "TCP reassembly edge cases",
    "Tunnels / proxies / VPN",
    "Encapsulation tunnels / VPN",
];

/// The corpus captures of the claimed categories, as listed in its MANIFEST
/// (`- Capture: \`path\`` under a `## category` heading).
pub(crate) fn corpus_captures() -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(corpus_dir().join("MANIFEST.md"))
        .expect("../shared/corpus/MANIFEST.md must exist beside the checkout");
    let mut category = "";
    let mut caps: Vec<PathBuf> = Vec::new();
    let mut categories_seen = Vec::new();
    for line in manifest.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            category = heading.trim();
            categories_seen.push(category);
            continue;
        }
        if !CLAIMED_CATEGORIES.contains(&category) {
            continue;
        }
        if let Some(path) = line
            .split("Capture: `")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
        {
            caps.push(corpus_dir().join(path));
        }
    }
    for c in CLAIMED_CATEGORIES {
        assert!(
            categories_seen.contains(c),
            "MANIFEST has no category {c:?}"
        );
    }
    assert!(caps.len() >= 50, "MANIFEST lists {} captures", caps.len());
    caps
}

/// The tshark summary generated for a corpus capture.
pub(crate) fn tshark_summary(capture: &Path) -> String {
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

pub(crate) fn tunscope() -> Command {
    Command::cargo_bin("tunscope").expect("binary built")
}

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }
}

pub(crate) fn run_analyze<I, S>(args: I) -> Run
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

/// The JSON report of one `tunscope analyze --format json` run, with look-ups by client
/// endpoint (the way the trusted tools' outputs name flows).
pub(crate) struct Report {
    pub name: String,
    pub doc: serde_json::Value,
}

impl Report {
    /// Analyses `path`; the run must succeed.
    pub(crate) fn of(path: &Path) -> Report {
        assert!(path.exists(), "capture missing: {}", path.display());
        let run = run_analyze([path.as_os_str(), "--format".as_ref(), "json".as_ref()]);
        assert_eq!(run.code, 0, "{}: {}", path.display(), run.stderr);
        Report {
            name: path.display().to_string(),
            doc: run.json(),
        }
    }

    /// Analyses a capture of the shared corpus (path relative to `../shared/corpus`).
    pub(crate) fn corpus(rel: &str) -> Report {
        let mut r = Report::of(&corpus_dir().join(rel));
        r.name = rel.to_string();
        r
    }

    fn list(&self, pointer: &str) -> &[serde_json::Value] {
        self.doc
            .pointer(pointer)
            .and_then(serde_json::Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("{}: no array at {pointer}", self.name))
    }

    pub(crate) fn connections(&self) -> &[serde_json::Value] {
        self.list("/connections")
    }

    /// The first connection whose client is `client` (`ip:port`).
    pub(crate) fn conn(&self, client: &str) -> &serde_json::Value {
        self.connections()
            .iter()
            .find(|c| c["client"] == client)
            .unwrap_or_else(|| {
                let all: Vec<String> = self
                    .connections()
                    .iter()
                    .map(|c| format!("{} -> {}", c["client"], c["server"]))
                    .collect();
                panic!("{}: no connection from {client}; {all:?}", self.name)
            })
    }

    /// `app_chain` of the first connection from `client`.
    pub(crate) fn chain(&self, client: &str) -> Vec<String> {
        self.conn(client)["app_chain"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every record of application table `table` (`tls`, `http`, ...; `/quic/connections`
    /// for QUIC) whose client is `client`.
    pub(crate) fn records(&self, table: &str, client: &str) -> Vec<&serde_json::Value> {
        let pointer = if table.starts_with('/') {
            table.to_string()
        } else {
            format!("/{table}")
        };
        self.list(&pointer)
            .iter()
            .filter(|r| r["client"] == client)
            .collect()
    }

    /// The one record of `table` for the connection from `client`.
    pub(crate) fn record(&self, table: &str, client: &str) -> &serde_json::Value {
        let found = self.records(table, client);
        assert_eq!(
            found.len(),
            1,
            "{}: {} {table} records from {client}",
            self.name,
            found.len()
        );
        found[0]
    }

    /// QUIC connections (`quic.connections[]`).
    pub(crate) fn quic(&self) -> &[serde_json::Value] {
        self.list("/quic/connections")
    }
}

/// `v` as a string (`None` for null or a non-string).
pub(crate) fn s(v: &serde_json::Value) -> Option<&str> {
    v.as_str()
}

/// `v` as a list of strings (empty for null).
pub(crate) fn strs(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default()
}
