//! How the report shows a [`SocksRecord`] (see `crate::analyzers::api::AppRecord`).

use super::SocksRecord;
use crate::analyzers::api::{AppRecord, or_dash};

impl AppRecord for SocksRecord {
    const TITLE: &'static str = "SOCKS";

    fn set_endpoints(&mut self, client: &str, server: &str) {
        client.clone_into(&mut self.client);
        server.clone_into(&mut self.server);
    }

    fn text_lines(&self, limit: usize, out: &mut dyn FnMut(String)) {
        if limit == 0 {
            return;
        }
        out(format!(
            "{} -> {}  v{}  {} {}:{}  {}",
            self.client,
            self.server,
            or_dash(&self.version),
            self.command.as_deref().unwrap_or("-"),
            self.destination.as_deref().unwrap_or("-"),
            or_dash(&self.destination_port),
            self.status.as_deref().unwrap_or("-")
        ));
    }
}
