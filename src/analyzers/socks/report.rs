//! How the report shows a [`SocksRecord`] (see `crate::analyzers::api::AppRecord`).

use super::SocksRecord;
use crate::analyzers::api::{AppRecord, or_dash};

impl AppRecord for SocksRecord {
    const TITLE: &'static str = "SOCKS";

    fn endpoints_mut(&mut self) -> (&mut String, &mut String) {
        (&mut self.client, &mut self.server)
    }

    fn text_line(&self) -> Option<String> {
        Some(format!(
            "{} -> {}  v{}  {} {}:{}  {}",
            self.client,
            self.server,
            or_dash(&self.version),
            self.command.as_deref().unwrap_or("-"),
            self.destination.as_deref().unwrap_or("-"),
            or_dash(&self.destination_port),
            self.status.as_deref().unwrap_or("-")
        ))
    }
}
