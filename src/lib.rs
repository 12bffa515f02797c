//! tunscope: TCP reassembly and tunnel analysis over packet captures.

pub mod assembly;
pub mod decode;
pub mod flow;
pub mod timestamp;

pub use timestamp::Timestamp;
