//! How the report shows an [`SshRecord`] (see `crate::analyzers::api::AppRecord`).

use super::SshRecord;
use crate::analyzers::api::AppRecord;

impl AppRecord for SshRecord {
    const TITLE: &'static str = "SSH";

    fn set_endpoints(&mut self, client: &str, server: &str) {
        client.clone_into(&mut self.client);
        server.clone_into(&mut self.server);
    }

    fn text_lines(&self, limit: usize, out: &mut dyn FnMut(String)) {
        if limit == 0 {
            return;
        }
        out(format!(
            "{} -> {}  client {}  server {}  kex {}",
            self.client,
            self.server,
            self.client_software.as_deref().unwrap_or("-"),
            self.server_software.as_deref().unwrap_or("-"),
            self.kex_alg.as_deref().unwrap_or("-")
        ));
    }
}
