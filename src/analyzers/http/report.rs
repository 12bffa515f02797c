//! How the report shows HTTP's records (see `crate::analyzers::api::AppRecord`): one row
//! per transaction, and the disguises.

use super::{DisguiseRecord, HttpRecord};
use crate::analyzers::api::{AppRecord, LatencySink, LiveNote, or_dash};

impl AppRecord for HttpRecord {
    const TITLE: &'static str = "HTTP";
    const ROWS: Option<&'static str> = Some("transactions");
    const ROW_NOUN: &'static str = "requests";
    const HTML_COLUMNS: &'static [(&'static str, &'static str)] = &[
        ("client", "client"),
        ("server", "server"),
        ("method", "method"),
        ("host", "host"),
        ("target", "target"),
        ("status", "status"),
        ("latency ms", "latency_ms"),
    ];

    fn endpoints_mut(&mut self) -> (&mut String, &mut String) {
        (&mut self.client, &mut self.server)
    }

    fn row_count(&self) -> usize {
        self.transactions.len()
    }

    fn text_lines(&self, limit: usize, out: &mut dyn FnMut(String)) {
        for t in self.transactions.iter().take(limit) {
            out(format!(
                "{} -> {}  {} {}{}  {}  {}",
                self.client,
                self.server,
                t.method.as_deref().unwrap_or("-"),
                t.host.as_deref().unwrap_or(""),
                t.target.as_deref().unwrap_or("-"),
                or_dash(&t.status),
                t.latency_ms
                    .map_or_else(|| "-".to_string(), |ms| format!("{ms:.1} ms"))
            ));
        }
    }

    fn latency(&self, add: &mut LatencySink<'_>) {
        for t in &self.transactions {
            add("http", &self.server, t.latency_ms);
        }
    }

    fn live_notes(&self, note: &mut dyn FnMut(LiveNote<'_>)) {
        for t in &self.transactions {
            if let Some(ms) = t.latency_ms {
                note(LiveNote::ResponseMs(ms));
            }
        }
    }
}

impl AppRecord for DisguiseRecord {
    const TITLE: &'static str = "Disguised";
    const HEADING_NOTE: &'static str = " with fake HTTP in front";

    fn endpoints_mut(&mut self) -> (&mut String, &mut String) {
        (&mut self.client, &mut self.server)
    }

    fn text_line(&self) -> Option<String> {
        Some(format!(
            "{} -> {}  {}  {}",
            self.client,
            self.server,
            self.kind,
            self.evidence.join("; ")
        ))
    }
}
