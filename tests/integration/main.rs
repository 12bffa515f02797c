//! One integration-test binary (faster to link than one per file).

mod bad_input;
mod corpus;
mod fixtures;
mod formats;
#[cfg(feature = "live")]
mod live;
mod suricata;
mod util;
mod zeek;
