//! How the report shows an [`EncryptedRecord`] (see `crate::analyzers::api::AppRecord`).

use super::EncryptedRecord;
use crate::analyzers::api::AppRecord;

impl AppRecord for EncryptedRecord {
    const TITLE: &'static str = "Encrypted";
    const HEADING_NOTE: &'static str = " (fully encrypted)";

    fn endpoints_mut(&mut self) -> (&mut String, &mut String) {
        (&mut self.client, &mut self.server)
    }

    fn text_line(&self) -> Option<String> {
        Some(format!(
            "{} -> {}  {}{}  {}/{} B",
            self.client,
            self.server,
            self.verdict,
            self.shape_hint
                .as_ref()
                .map_or_else(String::new, |h| format!(" ({h})")),
            self.bytes_c2s,
            self.bytes_s2c
        ))
    }
}
