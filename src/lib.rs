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

pub mod analyzers;
pub mod anomaly;
pub mod assembly;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod flow;
pub mod limits;
pub mod pipeline;
pub mod report;
pub mod timestamp;
pub mod util;

pub use timestamp::Timestamp;
