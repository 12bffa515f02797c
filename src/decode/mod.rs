//! Link, network and transport decoding.

pub mod tcp;

pub use tcp::{TcpFlags, TcpSegment};
