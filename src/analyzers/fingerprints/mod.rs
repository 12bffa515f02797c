//! Fingerprints of clients and servers, from what the parsers read, in one place:
//! [`ja3`] (JA3, JA3S), [`ja4`] (JA4, JA4_o, JA4_r), [`hassh`] (HASSH), the [`md5`] they
//! hash with, and [`grease`] (the values every TLS fingerprint leaves out). Inputs are
//! plain lists, so this module imports no protocol.

pub mod grease;
pub mod hassh;
pub mod ja3;
pub mod ja4;
pub mod md5;

pub use hassh::hassh;
pub use md5::md5_hex;
