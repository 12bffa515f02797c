pub mod quic;
pub mod tls;
