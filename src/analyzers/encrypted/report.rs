//! How the report shows an [`EncryptedRecord`] (see `crate::analyzers::api::AppRecord`).

use super::EncryptedRecord;
use crate::analyzers::api::AppRecord;

impl AppRecord for EncryptedRecord {
    const TITLE: &'static str = "Encrypted";
    const HEADING_NOTE: &'static str = " (fully encrypted)";

    fn set_endpoints(&mut self, client: &str, server: &str) {
        client.clone_into(&mut self.client);
        server.clone_into(&mut self.server);
    }

    fn text_lines(&self, limit: usize, out: &mut dyn FnMut(String)) {
        if limit == 0 {
            return;
        }
        out(format!(
            "{} -> {}  {}{}  {}/{} B",
            self.client,
            self.server,
            self.verdict,
            self.shape_hint
                .as_ref()
                .map_or_else(String::new, |h| format!(" ({h})")),
            self.bytes_c2s,
            self.bytes_s2c
        ));
    }
}
