//! One integration-test binary (faster to link than one per file).

// Helpers are shared between the test modules of this one binary; `pub` is their norm.
#![allow(unreachable_pub)]

mod apps;
mod apps_fixtures;
mod bad_input;
mod corpus;
mod encap;
mod fixtures;
mod floods;
mod formats;
mod hostile;
#[cfg(feature = "live")]
mod live;
mod quic;
mod quic_fixtures;
mod reports;
mod spool;
mod suricata;
mod util;
mod zeek;
