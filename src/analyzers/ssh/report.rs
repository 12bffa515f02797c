//! How the report shows an [`SshRecord`] (see `crate::analyzers::api::AppRecord`).

use super::SshRecord;
use crate::analyzers::api::AppRecord;

impl AppRecord for SshRecord {
    const TITLE: &'static str = "SSH";

    fn endpoints_mut(&mut self) -> (&mut String, &mut String) {
        (&mut self.client, &mut self.server)
    }

    fn text_line(&self) -> Option<String> {
        Some(format!(
            "{} -> {}  client {}  server {}  kex {}",
            self.client,
            self.server,
            self.client_software.as_deref().unwrap_or("-"),
            self.server_software.as_deref().unwrap_or("-"),
            self.kex_alg.as_deref().unwrap_or("-")
        ))
    }
}
