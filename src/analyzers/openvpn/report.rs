//! How the report shows an [`OpenVpnRecord`] (see `crate::analyzers::api::AppRecord`).

use super::OpenVpnRecord;
use crate::analyzers::api::{AppRecord, or_dash};

impl AppRecord for OpenVpnRecord {
    const TITLE: &'static str = "OpenVPN";

    fn endpoints_mut(&mut self) -> (&mut String, &mut String) {
        (&mut self.client, &mut self.server)
    }

    fn text_line(&self) -> Option<String> {
        Some(format!(
            "{} -> {}  reset v{}  session {}  {}/{} packets  {}/{} B",
            self.client,
            self.server,
            or_dash(&self.reset_version),
            self.client_session_id.as_deref().unwrap_or("-"),
            self.packets_c2s,
            self.packets_s2c,
            self.bytes_c2s,
            self.bytes_s2c
        ))
    }
}
