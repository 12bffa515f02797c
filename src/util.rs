//! Small byte helpers shared across stages: lower-case hex text, IPv4 text without the
//! formatting machinery, and the FNV-1a 64-bit fingerprint (used for overlap-conflict
//! copies in the assembler and for relayed-byte prefixes in the tunnel correlator, so
//! both report comparable hashes).

use std::fmt::Write;
use std::net::Ipv4Addr;

/// Lower-case hex, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// `a.b.c.d` or `a.b.c.d:port`, as `Display` writes them, at most 21 bytes.
///
/// Every output names endpoints, once per connection or more; `Ipv4Addr`'s `Display`
/// goes through `core::fmt` once per octet (about 2000 instructions an address, more than
/// reassembling a packet takes), this writes digits straight into a buffer.
pub struct Ipv4Text {
    buf: [u8; 21],
    len: usize,
}

impl Ipv4Text {
    /// The text of `addr`, with `:port` when `port` is given.
    pub fn new(addr: Ipv4Addr, port: Option<u16>) -> Self {
        let mut text = Ipv4Text {
            buf: [0; 21],
            len: 0,
        };
        for (i, octet) in addr.octets().into_iter().enumerate() {
            if i > 0 {
                text.push(b'.');
            }
            text.push_decimal(u32::from(octet));
        }
        if let Some(port) = port {
            text.push(b':');
            text.push_decimal(u32::from(port));
        }
        text
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// `n` below 100 000 (an octet or a port).
    fn push_decimal(&mut self, n: u32) {
        let mut started = false;
        for divisor in [10_000, 1_000, 100, 10, 1] {
            let digit = (n / divisor) % 10;
            if started || digit != 0 || divisor == 1 {
                self.push(b'0' + digit as u8);
                started = true;
            }
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, dots and a colon were written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// FNV-1a 64 offset basis: the hash of no bytes, and the start of an incremental hash.
pub const FNV1A64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV1A64_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Continues an FNV-1a 64 hash `h` over `bytes`.
pub fn fnv1a64_update<'a>(mut h: u64, bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV1A64_PRIME);
    }
    h
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64<'a>(bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    fnv1a64_update(FNV1A64_OFFSET, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_is_what_display_writes() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut cases = vec![
            (0u32, 0u16),
            (u32::MAX, u16::MAX),
            (0x0a00_0001, 80),
            (0x6464_6464, 10_000),
        ];
        cases.extend((0..20_000).map(|_| {
            let r = next();
            // Octets and ports of every digit count, zeros included.
            let octets = (r as u32)
                & [0xffff_ffff, 0x0f0f_0f0f, 0x6363_6363, 0x0909_0909][(r >> 60) as usize & 3];
            (octets, (r >> 32) as u16 >> ((r >> 56) & 15))
        }));
        for (bits, port) in cases {
            let addr = Ipv4Addr::from_bits(bits);
            assert_eq!(Ipv4Text::new(addr, None).as_str(), addr.to_string());
            assert_eq!(
                Ipv4Text::new(addr, Some(port)).as_str(),
                format!("{addr}:{port}")
            );
        }
    }

    #[test]
    fn published_vectors() {
        // FNV-1a 64 test vectors (Fowler/Noll/Vo reference list).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a64_update(fnv1a64(b"foo"), b"bar"), fnv1a64(b"foobar"));
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
