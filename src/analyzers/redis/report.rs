//! How the report shows a [`RedisRecord`] (see `crate::analyzers::api::AppRecord`): one
//! row per command.

use super::RedisRecord;
use crate::analyzers::api::{AppRecord, LatencySink, LiveNote};

impl AppRecord for RedisRecord {
    const TITLE: &'static str = "Redis";
    const ROWS: Option<&'static str> = Some("commands");
    const ROW_NOUN: &'static str = "commands";
    const HTML_COLUMNS: &'static [(&'static str, &'static str)] = &[
        ("client", "client"),
        ("server", "server"),
        ("command", "name"),
        ("latency ms", "latency_ms"),
    ];

    fn endpoints_mut(&mut self) -> (&mut String, &mut String) {
        (&mut self.client, &mut self.server)
    }

    fn row_count(&self) -> usize {
        self.commands.len()
    }

    fn text_lines(&self, limit: usize, out: &mut dyn FnMut(String)) {
        for c in self.commands.iter().take(limit) {
            out(format!(
                "{} -> {}  {} ({} args)  {}",
                self.client,
                self.server,
                c.name,
                c.argc,
                c.latency_ms
                    .map_or_else(|| "-".to_string(), |ms| format!("{ms:.2} ms"))
            ));
        }
    }

    fn latency(&self, add: &mut LatencySink<'_>) {
        for c in &self.commands {
            add("redis", &self.server, c.latency_ms);
        }
    }

    fn live_notes(&self, note: &mut dyn FnMut(LiveNote<'_>)) {
        for c in &self.commands {
            if let Some(ms) = c.latency_ms {
                note(LiveNote::ResponseMs(ms));
            }
        }
    }
}
