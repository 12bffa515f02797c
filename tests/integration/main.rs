//! One integration-test binary (faster to link than one per file).

mod bad_input;
mod corpus;
mod fixtures;
mod formats;
mod reports;
mod suricata;
mod util;
mod zeek;
