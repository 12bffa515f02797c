//! GREASE values (RFC 8701), which every TLS fingerprint leaves out.

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}
