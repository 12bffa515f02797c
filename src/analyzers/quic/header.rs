//! QUIC packet headers as they appear on the wire, before any decryption (RFC 8999,
//! RFC 9000 §17, RFC 9369 §3.2).
//!
//! Everything here is a borrowed view over one UDP payload. Contract:
//!
//! * Every parser checks lengths before it reads; **after the length checks no accessor
//!   panics**, whatever the input. Nothing allocates, so nothing is sized by input.
//! * [`parse_packet`] reads one packet; [`packets`] splits a datagram into its coalesced
//!   packets. A long header's `Length` bounds its packet, so a lying length is an error,
//!   never an over-read.
//! * Only the cleartext parts are decoded: the reserved bits, the packet-number length and the
//!   packet number are under header protection (see `initial.rs`).
//! * The QUIC bit (0x40) is reported, not enforced: RFC 9287 lets peers grease it. The
//!   first-packet detector [`looks_like_quic`] does require it.
//! * A short header does not carry its DCID length; the caller passes the length it learned
//!   from the handshake, or `None` (then the DCID is reported unknown).

use super::version::{Version, VersionKind};

/// Most coalesced packets [`packets`] yields from one datagram before it calls the rest
/// trailing data (real stacks coalesce at most three: Initial, 0-RTT/Handshake, 1-RTT).
pub const MAX_COALESCED: usize = 8;

/// Errors are about the input only (the wire bytes are bad or cut short).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("empty datagram")]
    Empty,
    #[error("packet truncated in the {0} field")]
    Truncated(&'static str),
    #[error("connection ID of {len} bytes exceeds {max} allowed by the version")]
    CidTooLong { len: u8, max: usize },
    #[error("Length field {length} exceeds the {available} bytes left in the datagram")]
    LengthBeyondDatagram { length: u64, available: usize },
    #[error("Length field {0} too small to hold a packet number")]
    LengthTooSmall(u64),
    #[error("Version Negotiation list of {0} bytes is empty or not a multiple of 4")]
    BadVersionList(usize),
    #[error("Retry packet shorter than its 16-byte integrity tag")]
    RetryTooShort,
}

/// The first 4 bytes of `b` as a big-endian u32.
fn be32(b: &[u8]) -> Option<u32> {
    b.first_chunk::<4>().map(|a| u32::from_be_bytes(*a))
}

/// Decode a variable-length integer (RFC 9000 §16). Returns the value and the bytes used,
/// or `None` when `buf` is too short. Non-minimal encodings are accepted.
pub fn varint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for b in bytes.iter().skip(1) {
        v = (v << 8) | u64::from(*b);
    }
    Some((v, len))
}

/// Recover a full packet number from its truncated encoding (RFC 9000 App. A.3).
pub fn decode_packet_number(largest_pn: u64, truncated_pn: u64, pn_nbits: u32) -> u64 {
    let expected = largest_pn.wrapping_add(1);
    let win = 1u64 << pn_nbits.min(32);
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | (truncated_pn & mask);
    if candidate.wrapping_add(hwin) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.wrapping_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// Long-header packet types, already mapped from the version's type bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LongType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

impl LongType {
    /// Map the two type bits (`(first_byte >> 4) & 3`) for `version`.
    pub fn from_bits(bits: u8, version: Version) -> LongType {
        let bits = bits & 3;
        if version.uses_v2_packet_types() {
            match bits {
                1 => LongType::Initial,
                2 => LongType::ZeroRtt,
                3 => LongType::Handshake,
                _ => LongType::Retry,
            }
        } else {
            match bits {
                0 => LongType::Initial,
                1 => LongType::ZeroRtt,
                2 => LongType::Handshake,
                _ => LongType::Retry,
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LongType::Initial => "Initial",
            LongType::ZeroRtt => "0-RTT",
            LongType::Handshake => "Handshake",
            LongType::Retry => "Retry",
        }
    }
}

/// An Initial, 0-RTT or Handshake packet of a version with the RFC 9000 layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongHeader<'a> {
    /// First byte as on the wire (low 4 bits still protected).
    pub first_byte: u8,
    pub version: Version,
    pub ty: LongType,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// Initial token (empty for other types).
    pub token: &'a [u8],
    /// The Length field: packet-number bytes plus protected payload.
    pub length: u64,
    /// Offset of the packet number within [`LongHeader::bytes`].
    pub pn_offset: usize,
    /// The whole packet, first byte to `pn_offset + length`.
    pub bytes: &'a [u8],
}

/// A Retry packet (no Length, no packet number; always last in its datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryHeader<'a> {
    pub first_byte: u8,
    pub version: Version,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    pub token: &'a [u8],
    /// The last 16 bytes: Retry Integrity Tag.
    pub tag: &'a [u8],
    /// The whole packet, tag included.
    pub bytes: &'a [u8],
}

/// A Version Negotiation packet (version field 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionNegotiation<'a> {
    pub first_byte: u8,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    /// Supported versions, 4 bytes each (length checked to be a non-zero multiple of 4).
    pub versions_raw: &'a [u8],
    /// The whole packet (it always ends the datagram).
    pub bytes: &'a [u8],
}

impl<'a> VersionNegotiation<'a> {
    pub fn versions(&self) -> impl Iterator<Item = Version> + 'a {
        self.versions_raw
            .chunks_exact(4)
            .filter_map(|c| be32(c).map(Version))
    }
}

/// A long header of a version whose layout beyond the invariants is unknown (greased,
/// unknown, old Google versions): only the invariant fields are decoded, and the packet
/// runs to the end of the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvariantHeader<'a> {
    pub first_byte: u8,
    pub version: Version,
    pub dcid: &'a [u8],
    pub scid: &'a [u8],
    pub bytes: &'a [u8],
}

/// A short-header (1-RTT) packet. It always ends the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortHeader<'a> {
    pub first_byte: u8,
    /// `None` when the caller did not know the DCID length.
    pub dcid: Option<&'a [u8]>,
    pub bytes: &'a [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    Long(LongHeader<'a>),
    Retry(RetryHeader<'a>),
    VersionNegotiation(VersionNegotiation<'a>),
    Invariant(InvariantHeader<'a>),
    Short(ShortHeader<'a>),
}

impl<'a> Packet<'a> {
    /// Bytes of this packet within its datagram.
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            Packet::Long(h) => h.bytes,
            Packet::Retry(h) => h.bytes,
            Packet::VersionNegotiation(h) => h.bytes,
            Packet::Invariant(h) => h.bytes,
            Packet::Short(h) => h.bytes,
        }
    }

    pub fn first_byte(&self) -> u8 {
        match self {
            Packet::Long(h) => h.first_byte,
            Packet::Retry(h) => h.first_byte,
            Packet::VersionNegotiation(h) => h.first_byte,
            Packet::Invariant(h) => h.first_byte,
            Packet::Short(h) => h.first_byte,
        }
    }

    /// The destination CID, when the header carries a known one.
    pub fn dcid(&self) -> Option<&'a [u8]> {
        match self {
            Packet::Long(h) => Some(h.dcid),
            Packet::Retry(h) => Some(h.dcid),
            Packet::VersionNegotiation(h) => Some(h.dcid),
            Packet::Invariant(h) => Some(h.dcid),
            Packet::Short(h) => h.dcid,
        }
    }

    /// Whether the QUIC ("fixed") bit 0x40 is set; clear means greased (RFC 9287) or not QUIC.
    pub fn quic_bit(&self) -> bool {
        self.first_byte() & 0x40 != 0
    }
}

/// A small bounds-checked reader over one packet.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self, what: &'static str) -> Result<u8, HeaderError> {
        let b = *self.buf.get(self.pos).ok_or(HeaderError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }
    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HeaderError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(HeaderError::Truncated(what))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(HeaderError::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }
    fn varint(&mut self, what: &'static str) -> Result<u64, HeaderError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let (v, n) = varint(rest).ok_or(HeaderError::Truncated(what))?;
        self.pos += n;
        Ok(v)
    }
    fn cid(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], HeaderError> {
        let len = self.u8(what)?;
        if usize::from(len) > max {
            return Err(HeaderError::CidTooLong { len, max });
        }
        self.bytes(usize::from(len), what)
    }
}

/// Parse the packet at the start of `buf`. `short_dcid_len` is the DCID length for short
/// headers, if known. Returns the packet and the number of bytes it used.
pub fn parse_packet(
    buf: &[u8],
    short_dcid_len: Option<usize>,
) -> Result<(Packet<'_>, usize), HeaderError> {
    let first_byte = *buf.first().ok_or(HeaderError::Empty)?;
    if first_byte & 0x80 == 0 {
        let dcid = short_dcid_len.and_then(|n| buf.get(1..1 + n));
        let pkt = ShortHeader {
            first_byte,
            dcid,
            bytes: buf,
        };
        return Ok((Packet::Short(pkt), buf.len()));
    }
    let mut c = Cursor { buf, pos: 1 };
    let version = Version(be32(c.bytes(4, "version")?).ok_or(HeaderError::Truncated("version"))?);
    if version == Version::NEGOTIATION {
        let dcid = c.cid(255, "DCID")?;
        let scid = c.cid(255, "SCID")?;
        let versions_raw = buf.get(c.pos..).unwrap_or(&[]);
        if versions_raw.is_empty() || !versions_raw.len().is_multiple_of(4) {
            return Err(HeaderError::BadVersionList(versions_raw.len()));
        }
        let pkt = VersionNegotiation {
            first_byte,
            dcid,
            scid,
            versions_raw,
            bytes: buf,
        };
        return Ok((Packet::VersionNegotiation(pkt), buf.len()));
    }
    let max = version.max_cid_len();
    let dcid = c.cid(max, "DCID")?;
    let scid = c.cid(max, "SCID")?;
    if !version.has_ietf_long_header() {
        let pkt = InvariantHeader {
            first_byte,
            version,
            dcid,
            scid,
            bytes: buf,
        };
        return Ok((Packet::Invariant(pkt), buf.len()));
    }
    let ty = LongType::from_bits(first_byte >> 4, version);
    if ty == LongType::Retry {
        let rest = buf.get(c.pos..).unwrap_or(&[]);
        if rest.len() < 16 {
            return Err(HeaderError::RetryTooShort);
        }
        let (token, tag) = rest.split_at(rest.len() - 16);
        let pkt = RetryHeader {
            first_byte,
            version,
            dcid,
            scid,
            token,
            tag,
            bytes: buf,
        };
        return Ok((Packet::Retry(pkt), buf.len()));
    }
    let token = if ty == LongType::Initial {
        let n = c.varint("token length")?;
        let n = usize::try_from(n).map_err(|_| HeaderError::Truncated("token"))?;
        c.bytes(n, "token")?
    } else {
        &[]
    };
    let length = c.varint("length")?;
    let pn_offset = c.pos;
    let available = buf.len() - pn_offset.min(buf.len());
    if length > available as u64 {
        return Err(HeaderError::LengthBeyondDatagram { length, available });
    }
    if length == 0 {
        return Err(HeaderError::LengthTooSmall(length));
    }
    let end = pn_offset + length as usize; // <= buf.len(), checked above
    let bytes = buf
        .get(..end)
        .ok_or(HeaderError::LengthBeyondDatagram { length, available })?;
    let pkt = LongHeader {
        first_byte,
        version,
        ty,
        dcid,
        scid,
        token,
        length,
        pn_offset,
        bytes,
    };
    Ok((Packet::Long(pkt), end))
}

/// Iterate over the coalesced packets of one datagram (RFC 9000 §12.2).
pub fn packets(datagram: &[u8], short_dcid_len: Option<usize>) -> Packets<'_> {
    Packets {
        rest: datagram,
        short_dcid_len,
        first_dcid: None,
        count: 0,
        trailing: &[],
        done: false,
    }
}

/// Iterator over a datagram's packets. The first packet's error is yielded; after the
/// first packet, bytes that do not parse, that are all zero, whose DCID differs from the
/// first packet's (RFC 9000 §12.2), or beyond [`MAX_COALESCED`] packets end the iteration
/// and are reported by [`Packets::trailing`] instead (clients may pad with junk, §14.1).
pub struct Packets<'a> {
    rest: &'a [u8],
    short_dcid_len: Option<usize>,
    first_dcid: Option<&'a [u8]>,
    count: usize,
    trailing: &'a [u8],
    done: bool,
}

impl<'a> Packets<'a> {
    /// Bytes after the last packet that were not a packet (padding or junk).
    pub fn trailing(&self) -> &'a [u8] {
        self.trailing
    }

    fn stop_trailing(&mut self) -> Option<Result<Packet<'a>, HeaderError>> {
        self.trailing = self.rest;
        self.rest = &[];
        self.done = true;
        None
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Packet<'a>, HeaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        if self.count > 0 {
            if self.count >= MAX_COALESCED || self.rest.iter().all(|&b| b == 0) {
                return self.stop_trailing();
            }
            // A short header can follow a long one, but a cleared QUIC bit there is junk.
            if self.rest.first().is_some_and(|b| b & 0xc0 == 0) {
                return self.stop_trailing();
            }
        }
        match parse_packet(self.rest, self.short_dcid_len) {
            Ok((pkt, used)) => {
                if let (Some(first), Some(d)) = (self.first_dcid, pkt.dcid())
                    && first != d
                {
                    return self.stop_trailing();
                }
                if self.count == 0 {
                    self.first_dcid = pkt.dcid();
                }
                self.count += 1;
                self.rest = self.rest.get(used..).unwrap_or(&[]);
                Some(Ok(pkt))
            }
            Err(e) if self.count == 0 => {
                self.done = true;
                Some(Err(e))
            }
            Err(_) => self.stop_trailing(),
        }
    }
}

/// Conservative first-datagram detector for QUIC on any UDP port.
///
/// Returns the version when `datagram` starts with a plausible QUIC long header:
/// * header form and QUIC bit set, and a known version (v1, v2, v2 draft, IETF drafts 17-34,
///   mvfst, Q050/T050/T051) whose header parses with CID lengths <= 20 and a Length that fits
///   and leaves room for a header-protection sample; for an Initial, at least 8 DCID bytes
///   if it comes from the client (SCID present) or a server-like packet otherwise;
/// * a Version Negotiation packet whose version list is non-empty and names a known version;
/// * a greased version (`0x?a?a?a?a`) only in a >= 1200-byte datagram with a DCID of 8..=20
///   bytes and an SCID <= 20 (what a client probing with a reserved version sends);
/// * Google QUIC Q046-Q049 (long header, CID-length byte 0x50) or the older gQUIC public
///   header (Q043 and earlier; flags with version bit, 8-byte CID, `Q0nn` at byte 9) in a
///   >= 1200-byte datagram.
///
/// Short headers are never detected alone: they carry no version and look like random bytes.
pub fn detect_version(datagram: &[u8]) -> Option<Version> {
    let first = *datagram.first()?;
    if first & 0x80 == 0 {
        return detect_gquic_public_header(datagram);
    }
    let version = Version(be32(datagram.get(1..)?)?);
    match version.kind() {
        VersionKind::Negotiation => match parse_packet(datagram, None) {
            Ok((Packet::VersionNegotiation(vn), _)) => {
                vn.versions().any(|v| v.is_known()).then_some(version)
            }
            _ => None,
        },
        VersionKind::Greased => {
            let dlen = usize::from(*datagram.get(5)?);
            let slen = usize::from(*datagram.get(6 + dlen)?);
            let ok = first & 0xc0 == 0xc0
                && datagram.len() >= 1200
                && (8..=20).contains(&dlen)
                && slen <= 20
                && datagram.len() >= 7 + dlen + slen;
            ok.then_some(version)
        }
        VersionKind::GoogleQ(n) if (46..50).contains(&n) => {
            let ok =
                first & 0xc0 == 0xc0 && datagram.len() >= 1200 && datagram.get(5) == Some(&0x50);
            ok.then_some(version)
        }
        _ if version.has_ietf_long_header() && first & 0x40 != 0 => {
            match parse_packet(datagram, None).ok()? {
                (Packet::Long(h), _) => {
                    // Room for a 4-byte PN sample offset plus a 16-byte sample.
                    let sample_fits = h.bytes.len() >= h.pn_offset + 4 + 16;
                    let client_initial_ok =
                        h.ty != LongType::Initial || h.dcid.len() >= 8 || h.token.is_empty();
                    (sample_fits && client_initial_ok).then_some(version)
                }
                (Packet::Retry(r), _) => (!r.scid.is_empty()).then_some(version),
                _ => None,
            }
        }
        _ => None,
    }
}

fn detect_gquic_public_header(d: &[u8]) -> Option<Version> {
    // Public flags: 0x01 version present, 0x08 8-byte connection ID, 0x80 reserved (clear).
    let flags = *d.first()?;
    if flags & 0x09 != 0x09 || flags & 0x80 != 0 || d.len() < 1200 {
        return None;
    }
    let version = Version(be32(d.get(9..)?)?);
    match version.kind() {
        VersionKind::GoogleQ(n) if (1..=46).contains(&n) => Some(version),
        _ => None,
    }
}

/// True when [`detect_version`] finds a plausible QUIC first packet.
pub fn looks_like_quic(datagram: &[u8]) -> bool {
    detect_version(datagram).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::analyzers::quic::tests::h as hex;

    #[test]
    fn varint_rfc9000_a1_examples() {
        assert_eq!(
            varint(&hex("c2197c5eff14e88c")),
            Some((151_288_809_941_952_652, 8))
        );
        assert_eq!(varint(&hex("9d7f3e7d")), Some((494_878_333, 4)));
        assert_eq!(varint(&hex("7bbd")), Some((15_293, 2)));
        assert_eq!(varint(&hex("25")), Some((37, 1)));
        assert_eq!(varint(&hex("4025")), Some((37, 2)));
        assert_eq!(
            varint(&hex("c2197c5eff14e8")),
            None,
            "truncated 8-byte varint"
        );
        assert_eq!(varint(&[]), None);
    }

    #[test]
    fn packet_number_rfc9000_a3_example() {
        assert_eq!(decode_packet_number(0xa82f30ea, 0x9b32, 16), 0xa82f9b32);
        // RFC 9001 A.5: PN 654360564 encoded on 3 bytes as 0x00bff4.
        assert_eq!(decode_packet_number(654_360_563, 0xbff4, 24), 654_360_564);
    }

    /// RFC 9001 A.3 server Initial header, annotated:
    /// `cf` long|fixed|type 0 (Initial)|protected bits, `00000001` v1, `00` DCID len 0,
    /// `08 f067a5502a4262b5` SCID, `00` token len, `4075` Length 117, then PN + payload.
    const SERVER_INITIAL_V1: &str =
        "cf000000010008f067a5502a4262b500 4075c0d95a482cd0991cd25b0aac406a
        5816b6394100f37a1c69797554780bb3 8cc5a99f5ede4cf73c3ec2493a1839b3
        dbcba3f6ea46c5b7684df3548e7ddeb9 c3bf9c73cc3f3bded74b562bfb19fb84
        022f8ef4cdd93795d77d06edbb7aaf2f 58891850abbdca3d20398c276456cbc4
        2158407dd074ee";

    #[test]
    fn long_header_fields() {
        let d = hex(SERVER_INITIAL_V1);
        let (p, used) = parse_packet(&d, None).unwrap();
        let Packet::Long(h) = p else {
            panic!("not long: {p:?}")
        };
        assert_eq!(h.version, Version::V1);
        assert_eq!(h.ty, LongType::Initial);
        assert_eq!(h.dcid, b"");
        assert_eq!(h.scid, hex("f067a5502a4262b5").as_slice());
        assert_eq!(h.token, b"");
        assert_eq!(h.length, 117);
        assert_eq!(h.pn_offset, 18);
        assert_eq!(used, d.len());
        assert!(looks_like_quic(&d));
    }

    #[test]
    fn v2_type_bits_are_remapped() {
        // RFC 9369 §3.2: Initial 0b01, 0-RTT 0b10, Handshake 0b11, Retry 0b00.
        assert_eq!(LongType::from_bits(1, Version::V2), LongType::Initial);
        assert_eq!(LongType::from_bits(2, Version::V2), LongType::ZeroRtt);
        assert_eq!(LongType::from_bits(3, Version::V2), LongType::Handshake);
        assert_eq!(LongType::from_bits(0, Version::V2), LongType::Retry);
        assert_eq!(LongType::from_bits(0, Version::V1), LongType::Initial);
        assert_eq!(LongType::from_bits(3, Version::V1), LongType::Retry);
        // RFC 9369 A.4 Retry starts with 0xcf: type bits 00 = Retry in v2.
        let retry =
            hex("cf6b3343cf0008f067a5502a4262b5746f6b656ec8646ce8bfe3395 2d955543665dcc7b6");
        let (p, _) = parse_packet(&retry, None).unwrap();
        let Packet::Retry(r) = p else {
            panic!("not retry: {p:?}")
        };
        assert_eq!(r.token, b"token");
        assert_eq!(r.tag.len(), 16);
    }

    #[test]
    fn coalesced_split_and_padding() {
        let s = hex(SERVER_INITIAL_V1);
        // A Handshake packet (type 2) with the same DCID (empty), 20-byte payload.
        let mut hs = hex("e0000000010008f067a5502a4262b514");
        hs.extend_from_slice(&[0x55; 20]);
        let mut d = s.clone();
        d.extend_from_slice(&hs);
        d.extend_from_slice(&[0u8; 30]); // zero padding
        let mut it = packets(&d, None);
        let a = it.next().unwrap().unwrap();
        let b = it.next().unwrap().unwrap();
        assert!(it.next().is_none());
        assert_eq!(it.trailing().len(), 30);
        assert!(matches!(a, Packet::Long(h) if h.ty == LongType::Initial));
        assert!(matches!(b, Packet::Long(h) if h.ty == LongType::Handshake && h.bytes.len() == 36));
    }

    #[test]
    fn coalesced_with_other_dcid_is_trailing() {
        let s = hex(SERVER_INITIAL_V1);
        let mut hs = hex("e00000000101aa08f067a5502a4262b514"); // DCID aa differs
        hs.extend_from_slice(&[0x55; 20]);
        let mut d = s.clone();
        d.extend_from_slice(&hs);
        let mut it = packets(&d, None);
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().is_none());
        assert_eq!(it.trailing().len(), hs.len());
    }

    #[test]
    fn truncated_and_garbage() {
        let d = hex(SERVER_INITIAL_V1);
        // Cut inside the version, the SCID, the Length, and the payload.
        assert_eq!(
            parse_packet(&d[..3], None),
            Err(HeaderError::Truncated("version"))
        );
        assert_eq!(
            parse_packet(&d[..10], None),
            Err(HeaderError::Truncated("SCID"))
        );
        assert_eq!(
            parse_packet(&d[..17], None),
            Err(HeaderError::Truncated("length"))
        );
        assert!(matches!(
            parse_packet(&d[..100], None),
            Err(HeaderError::LengthBeyondDatagram {
                length: 117,
                available: 82
            })
        ));
        assert!(!looks_like_quic(&d[..100]));
        // DCID length 21 is illegal in v1.
        let bad = hex("c00000000115");
        assert_eq!(
            parse_packet(&bad, None),
            Err(HeaderError::CidTooLong { len: 21, max: 20 })
        );
        assert_eq!(parse_packet(&[], None), Err(HeaderError::Empty));
        // Text and DNS-looking payloads are not QUIC.
        assert!(!looks_like_quic(
            b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
        ));
        assert!(!looks_like_quic(&hex(
            "abcd01000001000000000000076578616d706c6503636f6d0000010001"
        )));
        assert!(!looks_like_quic(&[0xc0; 1300]));
    }

    #[test]
    fn version_negotiation() {
        // VN: first byte 0x80|x, version 0, DCID 4 bytes, SCID 8 bytes, versions v1 + greased.
        let d = hex("c5 00000000 04 01020304 08 0102030405060708 00000001 1a2a3a4a");
        let (p, _) = parse_packet(&d, None).unwrap();
        let Packet::VersionNegotiation(vn) = p else {
            panic!()
        };
        assert_eq!(
            vn.versions().collect::<Vec<_>>(),
            vec![Version::V1, Version(0x1a2a3a4a)]
        );
        assert!(looks_like_quic(&d));
        assert_eq!(
            parse_packet(&d[..d.len() - 1], None),
            Err(HeaderError::BadVersionList(7))
        );
    }

    #[test]
    fn short_header_needs_known_dcid_len() {
        let d = hex("4cfe4189655e5cd55c41f69080575d7999c25a5bfb");
        let (p, _) = parse_packet(&d, Some(0)).unwrap();
        assert!(matches!(
            p,
            Packet::Short(ShortHeader {
                dcid: Some(&[]),
                ..
            })
        ));
        let (p, _) = parse_packet(&d, None).unwrap();
        assert!(matches!(p, Packet::Short(ShortHeader { dcid: None, .. })));
        assert!(
            !looks_like_quic(&d),
            "a short header alone is never detected"
        );
    }

    #[test]
    fn google_versions_recognised() {
        let mut t051 = hex("c3 54303531 08 0102030405060708 00 00");
        t051.extend_from_slice(&hex("4400")); // Length 1024
        t051.resize(t051.len() + 1024, 0x11);
        assert_eq!(detect_version(&t051), Some(Version(0x54303531)));
        let mut q043 = hex("09 0102030405060708 51303433");
        q043.resize(1300, 0x22);
        assert_eq!(
            detect_version(&q043).map(|v| v.name()),
            Some("Q043".to_string())
        );
        q043.truncate(1000);
        assert_eq!(
            detect_version(&q043),
            None,
            "short gQUIC public header is not enough"
        );
    }

    #[test]
    fn random_udp_is_not_detected() {
        // Fixed-seed LCG: 100k random datagrams, half of them with a long-header first byte
        // (0xc0..0xff), of random length up to 1500 bytes. None may be called QUIC.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u32
        };
        let mut buf = vec![0u8; 1500];
        for i in 0..100_000 {
            let len = (next() % 1501) as usize;
            for b in buf.iter_mut().take(len) {
                *b = next() as u8;
            }
            if i % 2 == 0 && len > 0 {
                buf[0] |= 0xc0;
            }
            assert!(
                !looks_like_quic(&buf[..len]),
                "random datagram {i} detected: {:02x?}",
                &buf[..len.min(16)]
            );
        }
    }
}
