//! QUIC version numbers: names, families, and the per-version facts a passive decoder needs
//! (long-header type mapping, Initial salt, HKDF labels, Retry integrity key).
//!
//! Sources: RFC 9000/9001 (v1), RFC 9369 (v2), the draft-ietf-quic-tls-NN salts, and the
//! Wireshark/nDPI tables for Google and Facebook versions (`quic-vectors.txt` Part 6).

use std::fmt;

/// A QUIC version field (the 32-bit value after a long header's first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u32);

/// What family a version belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionKind {
    /// 0: the packet is a Version Negotiation packet.
    Negotiation,
    /// RFC 9000.
    V1,
    /// RFC 9369 (0x6b3343cf).
    V2,
    /// draft-ietf-quic-v2-01..07 (0x709a50c4).
    V2Draft,
    /// draft-ietf-quic-transport-NN (0xff0000NN).
    IetfDraft(u8),
    /// Facebook mvfst (0xfaceb0xx), with the draft it follows.
    Mvfst(u8),
    /// Google QUIC `Q0xx` (ASCII 'Q', '0', digit, digit).
    GoogleQ(u16),
    /// Google QUIC with TLS `T0xx` (ASCII 'T', '0', digit, digit).
    GoogleT(u16),
    /// Reserved "greasing" versions `0x?a?a?a?a` (RFC 9000 §15): force Version Negotiation.
    Greased,
    /// Anything else.
    Unknown,
}

/// Which labels derive packet-protection keys from a traffic secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labels {
    /// "quic key", "quic iv", "quic hp" (v1 and every draft).
    V1,
    /// "quicv2 key", "quicv2 iv", "quicv2 hp" (RFC 9369 and its drafts).
    V2,
}

impl Labels {
    pub fn key(self) -> &'static [u8] {
        match self {
            Labels::V1 => b"quic key",
            Labels::V2 => b"quicv2 key",
        }
    }
    pub fn iv(self) -> &'static [u8] {
        match self {
            Labels::V1 => b"quic iv",
            Labels::V2 => b"quicv2 iv",
        }
    }
    pub fn hp(self) -> &'static [u8] {
        match self {
            Labels::V1 => b"quic hp",
            Labels::V2 => b"quicv2 hp",
        }
    }
}

const SALT_V1: [u8; 20] = hex20("38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
const SALT_V2: [u8; 20] = hex20("0dede3def700a6db819381be6e269dcbf9bd2ed9");
const SALT_V2_DRAFT: [u8; 20] = hex20("a707c203a59b47184a1d62ca570406ea7ae3e5d3");
const SALT_D29: [u8; 20] = hex20("afbfec289993d24c9e9786f19c6111e04390a899");
const SALT_D23: [u8; 20] = hex20("c3eef712c72ebb5a11a7d2432bb46365bef9f502");
const SALT_D21: [u8; 20] = hex20("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a");
const SALT_D17: [u8; 20] = hex20("ef4fb0abb47470c41befcf8031334fae485e09a0");
const SALT_Q050: [u8; 20] = hex20("504574efd066fe2f9d945cfcdbd3a7f0d3b56b45");
const SALT_T050: [u8; 20] = hex20("7ff579e5acd072915580304c43a2367c60488310");
const SALT_T051: [u8; 20] = hex20("7a4edef4e7ccee5fa4506c19124fc8ccda6e033d");

/// Retry integrity AES-128-GCM key and nonce (RFC 9001 §5.8, RFC 9369 §3.3.3, draft-29).
const RETRY_V1: ([u8; 16], [u8; 12]) = (
    hex16("be0c690b9f66575a1d766b54e368c84e"),
    hex12("461599d35d632bf2239825bb"),
);
const RETRY_V2: ([u8; 16], [u8; 12]) = (
    hex16("8fb4b01b56ac48e260fbcbcead7ccc92"),
    hex12("d86969bc2d7c6d9990efb04a"),
);
const RETRY_D29: ([u8; 16], [u8; 12]) = (
    hex16("ccce187ed09a09d05728155a6cb96be1"),
    hex12("e54930f97f2136f0530a8c1c"),
);

impl Version {
    pub const NEGOTIATION: Version = Version(0);
    pub const V1: Version = Version(1);
    pub const V2: Version = Version(0x6b33_43cf);
    pub const V2_DRAFT: Version = Version(0x709a_50c4);
    pub const DRAFT_29: Version = Version(0xff00_001d);

    pub fn kind(self) -> VersionKind {
        let v = self.0;
        let b = v.to_be_bytes();
        match v {
            0 => VersionKind::Negotiation,
            1 => VersionKind::V1,
            0x6b33_43cf => VersionKind::V2,
            0x709a_50c4 => VersionKind::V2Draft,
            0xface_b001 => VersionKind::Mvfst(22),
            0xface_b002 | 0xface_b00e => VersionKind::Mvfst(27),
            _ if v & 0xffff_ff00 == 0xff00_0000 && b[3] != 0 => VersionKind::IetfDraft(b[3]),
            _ if v & 0x0f0f_0f0f == 0x0a0a_0a0a => VersionKind::Greased,
            _ if b[1] == b'0' && b[2].is_ascii_digit() && b[3].is_ascii_digit() => {
                let n = u16::from(b[2] - b'0') * 10 + u16::from(b[3] - b'0');
                match b[0] {
                    b'Q' => VersionKind::GoogleQ(n),
                    b'T' => VersionKind::GoogleT(n),
                    _ => VersionKind::Unknown,
                }
            }
            _ => VersionKind::Unknown,
        }
    }

    /// The report name: `"1"`, `"2"`, `"draft-29"`, `"v2-draft"`, `"mvfst-27"`, `"Q050"`,
    /// `"T051"`, otherwise hex such as `"0x0a0a0a0a"`.
    pub fn name(self) -> String {
        match self.kind() {
            VersionKind::V1 => "1".into(),
            VersionKind::V2 => "2".into(),
            VersionKind::V2Draft => "v2-draft".into(),
            VersionKind::IetfDraft(n) => format!("draft-{n}"),
            VersionKind::Mvfst(n) => format!("mvfst-{n}"),
            VersionKind::GoogleQ(n) => format!("Q{n:03}"),
            VersionKind::GoogleT(n) => format!("T{n:03}"),
            VersionKind::Negotiation | VersionKind::Greased | VersionKind::Unknown => {
                format!("0x{:08x}", self.0)
            }
        }
    }

    /// True for versions that use the RFC 9000 long-header layout (type bits, Length field,
    /// token in Initials), so that coalesced packets can be split.
    pub fn has_ietf_long_header(self) -> bool {
        match self.kind() {
            VersionKind::V1 | VersionKind::V2 | VersionKind::V2Draft | VersionKind::Mvfst(_) => {
                true
            }
            VersionKind::IetfDraft(n) => n >= 17,
            // Q050 and the T05x family moved to the IETF invariant header.
            VersionKind::GoogleQ(n) | VersionKind::GoogleT(n) => n >= 50,
            _ => false,
        }
    }

    /// True when the long-header type bits use RFC 9369's mapping.
    pub fn uses_v2_packet_types(self) -> bool {
        matches!(self.kind(), VersionKind::V2 | VersionKind::V2Draft)
    }

    /// Largest CID length the version allows in long headers: 20 for known IETF-layout
    /// versions, 255 (the invariants' limit) otherwise.
    pub fn max_cid_len(self) -> usize {
        if self.has_ietf_long_header() { 20 } else { 255 }
    }

    /// Initial salt and labels, or `None` when the version has no known Initial keys.
    pub fn initial_salt(self) -> Option<(&'static [u8; 20], Labels)> {
        let salt = match self.kind() {
            VersionKind::V1 => &SALT_V1,
            VersionKind::V2 => return Some((&SALT_V2, Labels::V2)),
            VersionKind::V2Draft => return Some((&SALT_V2_DRAFT, Labels::V2)),
            VersionKind::IetfDraft(n) => match n {
                33..=34 => &SALT_V1,
                29..=32 => &SALT_D29,
                23..=28 => &SALT_D23,
                21..=22 => &SALT_D21,
                17..=20 => &SALT_D17,
                _ => return None,
            },
            VersionKind::Mvfst(22) => &SALT_D21,
            VersionKind::Mvfst(_) => &SALT_D23,
            VersionKind::GoogleQ(50) => &SALT_Q050,
            VersionKind::GoogleT(50) => &SALT_T050,
            VersionKind::GoogleT(51) => &SALT_T051,
            _ => return None,
        };
        Some((salt, Labels::V1))
    }

    /// The AES-128-GCM key and nonce of the Retry integrity tag, when known (v1 and drafts
    /// 33-34, v2, drafts 29-32).
    pub fn retry_key(self) -> Option<&'static ([u8; 16], [u8; 12])> {
        match self.kind() {
            VersionKind::V1 => Some(&RETRY_V1),
            VersionKind::V2 => Some(&RETRY_V2),
            VersionKind::IetfDraft(33..=34) => Some(&RETRY_V1),
            VersionKind::IetfDraft(29..=32) => Some(&RETRY_D29),
            _ => None,
        }
    }

    /// True when tunscope knows this version as a real QUIC version (not greased, not
    /// unknown, not Version Negotiation).
    pub fn is_known(self) -> bool {
        !matches!(
            self.kind(),
            VersionKind::Negotiation | VersionKind::Greased | VersionKind::Unknown
        )
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("bad hex digit in a constant"),
    }
}

/// Compile-time hex decoding of the constants above (a bad literal fails the build).
const fn hex_n<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    assert!(b.len() == 2 * N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}
const fn hex20(s: &str) -> [u8; 20] {
    hex_n::<20>(s)
}
const fn hex16(s: &str) -> [u8; 16] {
    hex_n::<16>(s)
}
const fn hex12(s: &str) -> [u8; 12] {
    hex_n::<12>(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Version(1).name(), "1");
        assert_eq!(Version(0x6b3343cf).name(), "2");
        assert_eq!(Version(0xff00001d).name(), "draft-29");
        assert_eq!(Version(0xff00001b).name(), "draft-27");
        assert_eq!(Version(0xff000022).name(), "draft-34");
        assert_eq!(Version(0x54303531).name(), "T051");
        assert_eq!(Version(0x51303530).name(), "Q050");
        assert_eq!(Version(0x51303433).name(), "Q043");
        assert_eq!(Version(0x0a0a0a0a).name(), "0x0a0a0a0a");
        assert_eq!(Version(0x1a2a3a4a).kind(), VersionKind::Greased);
        assert_eq!(Version(0x12345678).kind(), VersionKind::Unknown);
    }

    #[test]
    fn salts_by_draft_range() {
        // Part 6 of quic-vectors.txt: draft-23..28 share c3eef712..., 29..32 afbfec28...
        let s27 = Version(0xff00001b).initial_salt().map(|(s, _)| s[0]);
        let s28 = Version(0xff00001c).initial_salt().map(|(s, _)| s[0]);
        let s29 = Version(0xff00001d).initial_salt().map(|(s, _)| s[0]);
        let s32 = Version(0xff000020).initial_salt().map(|(s, _)| s[0]);
        let s33 = Version(0xff000021).initial_salt().map(|(s, _)| s[0]);
        assert_eq!(
            (s27, s28, s29, s32, s33),
            (Some(0xc3), Some(0xc3), Some(0xaf), Some(0xaf), Some(0x38))
        );
        assert_eq!(Version::V2.initial_salt().map(|(_, l)| l), Some(Labels::V2));
        assert!(Version(0x0a0a0a0a).initial_salt().is_none());
    }
}
