//! Fingerprints of clients and servers computed from what the parsers read: MD5 (for
//! JA3, JA3S and HASSH, which are MD5 digests of a canonical string), with the
//! canonical strings themselves next to the parsers that read their fields.

pub mod md5;

pub use md5::md5_hex;
