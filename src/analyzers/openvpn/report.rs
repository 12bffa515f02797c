//! How the report shows an [`OpenVpnRecord`] (see `crate::analyzers::api::AppRecord`).

use super::OpenVpnRecord;
use crate::analyzers::api::{AppRecord, or_dash};

impl AppRecord for OpenVpnRecord {
    const TITLE: &'static str = "OpenVPN";

    fn set_endpoints(&mut self, client: &str, server: &str) {
        client.clone_into(&mut self.client);
        server.clone_into(&mut self.server);
    }

    fn text_lines(&self, limit: usize, out: &mut dyn FnMut(String)) {
        if limit == 0 {
            return;
        }
        out(format!(
            "{} -> {}  reset v{}  session {}  {}/{} packets  {}/{} B",
            self.client,
            self.server,
            or_dash(&self.reset_version),
            self.client_session_id.as_deref().unwrap_or("-"),
            self.packets_c2s,
            self.packets_s2c,
            self.bytes_c2s,
            self.bytes_s2c
        ));
    }
}
