//! tunscope: TCP reassembly and tunnel analysis over packet captures.
//!
//! The pipeline runs one way only (see `ARCHITECTURE.md`):
//!
//! ```text
//! capture ──RawPacket──> decode ──Decoded──> flow table ──> assembly / analyzers ──> Summary ──> report
//! ```
//!
//! - [`capture`]: pcap and pcapng files (gzip or not, or a pipe) as [`capture::RawPacket`]s.
//! - [`decode`]: link layers, IP (with defragmentation), TCP and UDP headers.
//! - [`flow`]: the flow table with client/server roles, timeouts and eviction.
//! - [`assembly`]: the TCP assembler: byte-exact streams, every byte delivered or a gap.
//! - [`analyzers`]: protocol decoders over reassembled streams and datagrams.
//! - [`pipeline`]: wires the stages together; [`report`]: the summary model and renderings.
//!
//! Time is always the packet's timestamp; the library never reads the clock and does no
//! I/O beyond reading the capture.

// `missing_docs` is on for the whole crate (Cargo.toml `[lints]`). The modules marked
// `allow` below still have undocumented public items; each loses its mark once they are
// documented.
pub mod analyzers;
pub mod anomaly;
#[allow(missing_docs)]
pub mod assembly;
#[allow(missing_docs)]
pub mod capture;
#[allow(missing_docs)]
pub mod decode;
#[allow(missing_docs)]
pub mod flow;
pub mod limits;
#[allow(missing_docs)]
pub mod pipeline;
#[allow(missing_docs)]
pub mod report;
pub mod timestamp;
pub mod util;

pub use timestamp::Timestamp;
