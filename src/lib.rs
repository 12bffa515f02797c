//! tunscope: TCP reassembly and tunnel analysis over packet captures.

pub mod anomaly;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod flow;
pub mod pipeline;
pub mod report;
pub mod timestamp;

pub use timestamp::Timestamp;
