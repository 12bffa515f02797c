//! How the report shows a [`TlsRecord`] (see `crate::analyzers::api::AppRecord`).

use super::TlsRecord;
use crate::analyzers::api::{AppRecord, LatencySink, LiveNote};

impl AppRecord for TlsRecord {
    const TITLE: &'static str = "TLS";
    const HTML_COLUMNS: &'static [(&'static str, &'static str)] = &[
        ("client", "client"),
        ("server", "server"),
        ("version", "version"),
        ("sni", "sni"),
        ("alpn", "alpn"),
        ("handshake ms", "handshake_ms"),
    ];

    fn endpoints_mut(&mut self) -> (&mut String, &mut String) {
        (&mut self.client, &mut self.server)
    }

    fn text_line(&self) -> Option<String> {
        Some(format!(
            "{} -> {}  sni {}  alpn {}  {}  {}  ja4 {}",
            self.client,
            self.server,
            self.sni.as_deref().unwrap_or("-"),
            if self.alpn.is_empty() {
                "-".to_string()
            } else {
                self.alpn.join(",")
            },
            self.version.as_deref().unwrap_or("-"),
            self.cipher.as_deref().unwrap_or("-"),
            self.ja4.as_deref().unwrap_or("-")
        ))
    }

    fn latency(&self, add: &mut LatencySink<'_>) {
        add("tls_handshake", &self.server, self.handshake_ms);
    }

    fn live_notes(&self, note: &mut dyn FnMut(LiveNote<'_>)) {
        if let Some(sni) = &self.sni {
            note(LiveNote::Name("tls", sni));
        }
    }
}
