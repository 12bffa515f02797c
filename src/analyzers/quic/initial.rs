//! Opening Initial packets and reading what they carry: header-protection removal, AEAD
//! open, the frame walk, and CRYPTO stream reassembly (RFC 9001 §5, RFC 9000 §19).
//!
//! Keys come from `keys.rs` ([`InitialKeys::derive`] takes the version and the DCID of the
//! client's first Initial, or the Retry's SCID after a Retry).
//!
//! Contracts:
//! * [`open_packet`] never reads outside the packet: a packet too short for a 16-byte
//!   sample or a tag is `Err(TooShort)`; a wrong key is `Err(AuthFailed)`. The plaintext is
//!   copied into a `Vec` no larger than the packet itself (bounded by the datagram).
//! * [`Frames`] yields frames until the payload ends; an unknown frame type or a truncated
//!   frame yields one `Err` and ends the walk (the rest of the payload is skipped, never
//!   guessed at). It allocates nothing; loops are bounded by the payload length.
//! * [`CryptoStream`] reassembles one CRYPTO stream **in any order** (fragments reordered
//!   inside a packet, across packets, across datagrams, duplicated or overlapping). It
//!   buffers at most [`MAX_CRYPTO_BYTES`] (64 KiB) per stream: bytes at offsets beyond that
//!   are dropped and counted in [`CryptoStream::dropped_bytes`], and a handshake message
//!   reaching past the limit is then never complete. It keeps at most
//!   [`MAX_CRYPTO_RANGES`] disjoint received ranges; a fragment that would need more is
//!   dropped whole and counted too. For overlapping bytes the later copy wins (no
//!   consistency check between retransmissions).

use super::header::{LongHeader, decode_packet_number, varint};
use super::keys::{CryptoError, DirectionalKeys};

pub use super::keys::InitialKeys;

/// Per-stream bound on buffered CRYPTO bytes.
pub const MAX_CRYPTO_BYTES: usize = 64 * 1024;
/// Per-stream bound on disjoint received ranges (holes + 1).
pub const MAX_CRYPTO_RANGES: usize = 128;

/// A packet with protection removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// First byte with header protection removed.
    pub first_byte: u8,
    /// Packet-number length on the wire, 1..=4.
    pub pn_len: usize,
    /// Full packet number (decoded against `largest_pn`, or the truncated value).
    pub pn: u64,
    /// Reserved bits after unmasking (must be zero; non-zero is a protocol violation).
    pub reserved_bits: u8,
    /// The header as authenticated (AAD): first byte .. packet number, unmasked.
    pub header: Vec<u8>,
    /// The decrypted frames.
    pub payload: Vec<u8>,
}

/// Remove header protection in place on a copy of `packet[..pn_offset + 4]` and return
/// `(unmasked first byte, pn_len, truncated pn)`. `long` selects the 4-bit (long) or 5-bit
/// (short) first-byte mask.
pub fn unprotect_header(
    keys: &DirectionalKeys,
    packet: &[u8],
    pn_offset: usize,
    long: bool,
) -> Result<(u8, usize, u64), CryptoError> {
    let sample_start = pn_offset.checked_add(4).ok_or(CryptoError::TooShort)?;
    let sample = packet
        .get(sample_start..sample_start + 16)
        .ok_or(CryptoError::TooShort)?;
    let mask = keys.hp_mask(sample)?;
    let first = *packet.first().ok_or(CryptoError::TooShort)?;
    let first = first ^ (mask[0] & if long { 0x0f } else { 0x1f });
    let pn_len = usize::from(first & 0x03) + 1;
    let pn_bytes = packet
        .get(pn_offset..pn_offset + pn_len)
        .ok_or(CryptoError::TooShort)?;
    let mut pn = 0u64;
    for (b, m) in pn_bytes.iter().zip(&mask[1..]) {
        pn = (pn << 8) | u64::from(b ^ m);
    }
    Ok((first, pn_len, pn))
}

/// Remove header protection and open the AEAD of one packet.
///
/// `packet` is the packet's bytes (for a long header, [`LongHeader::bytes`]), `pn_offset`
/// the offset of its packet number, `largest_pn` the largest packet number already opened
/// in this packet-number space (if any).
pub fn open_packet(
    keys: &DirectionalKeys,
    packet: &[u8],
    pn_offset: usize,
    long: bool,
    largest_pn: Option<u64>,
) -> Result<Opened, CryptoError> {
    let (first_byte, pn_len, truncated) = unprotect_header(keys, packet, pn_offset, long)?;
    let pn = match largest_pn {
        Some(l) => decode_packet_number(l, truncated, 8 * pn_len as u32),
        None => truncated,
    };
    let hdr_end = pn_offset + pn_len; // <= packet.len(): checked by unprotect_header
    let mut header = packet.get(..hdr_end).ok_or(CryptoError::TooShort)?.to_vec();
    if let Some(b) = header.first_mut() {
        *b = first_byte;
    }
    for (i, b) in pn.to_be_bytes()[8 - pn_len..].iter().enumerate() {
        if let Some(h) = header.get_mut(pn_offset + i) {
            *h = *b;
        }
    }
    let mut payload = packet.get(hdr_end..).ok_or(CryptoError::TooShort)?.to_vec();
    if payload.len() < 16 {
        return Err(CryptoError::TooShort);
    }
    let n = keys.open_in_place(pn, &header, &mut payload)?.len();
    payload.truncate(n);
    let reserved_bits = if long {
        first_byte & 0x0c
    } else {
        first_byte & 0x18
    };
    Ok(Opened {
        first_byte,
        pn_len,
        pn,
        reserved_bits,
        header,
        payload,
    })
}

/// [`open_packet`] for a long-header packet.
pub fn open_long(
    keys: &DirectionalKeys,
    h: &LongHeader<'_>,
    largest_pn: Option<u64>,
) -> Result<Opened, CryptoError> {
    open_packet(keys, h.bytes, h.pn_offset, true, largest_pn)
}

/// Frames that Initial and Handshake packets may carry (RFC 9000 §17.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A run of PADDING bytes.
    Padding {
        len: usize,
    },
    Ping,
    Ack {
        largest: u64,
        ranges: u64,
        ecn: bool,
    },
    Crypto {
        offset: u64,
        data: &'a [u8],
    },
    ConnectionClose {
        app: bool,
        error_code: u64,
        frame_type: Option<u64>,
        reason: &'a [u8],
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame truncated in {0}")]
    Truncated(&'static str),
    #[error("frame type 0x{0:x} not expected in an Initial/Handshake packet")]
    Unknown(u64),
}

/// Iterator over the frames of a decrypted payload.
///
/// `gquic` selects Google QUIC framing (Q050/T050/T051 Initials: one-byte frame types):
/// PADDING (0x00), PING (0x07), CRYPTO (0x08: offset, length as varints, data) and ACK
/// (0x40-0x7f) are understood; any other type (STOP_WAITING, STREAM, ...) ends the walk
/// as `Unknown`.
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
    gquic: bool,
    done: bool,
}

impl<'a> Frames<'a> {
    pub fn new(payload: &'a [u8], gquic: bool) -> Self {
        Frames {
            buf: payload,
            pos: 0,
            gquic,
            done: false,
        }
    }

    fn v(&mut self, what: &'static str) -> Result<u64, FrameError> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let (v, n) = varint(rest).ok_or(FrameError::Truncated(what))?;
        self.pos += n;
        Ok(v)
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], FrameError> {
        let n = usize::try_from(n).map_err(|_| FrameError::Truncated(what))?;
        let end = self.pos.checked_add(n).ok_or(FrameError::Truncated(what))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(FrameError::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }

    fn frame(&mut self) -> Result<Frame<'a>, FrameError> {
        if self.gquic {
            return self.gquic_frame();
        }
        let ty = self.v("type")?;
        match ty {
            0x00 => {
                let start = self.pos - 1;
                while self.buf.get(self.pos) == Some(&0) {
                    self.pos += 1;
                }
                Ok(Frame::Padding {
                    len: self.pos - start,
                })
            }
            0x01 => Ok(Frame::Ping),
            0x02 | 0x03 => {
                let largest = self.v("ACK largest")?;
                self.v("ACK delay")?;
                let ranges = self.v("ACK range count")?;
                self.v("ACK first range")?;
                // Each range is two varints (>= 2 bytes): the loop ends when bytes run out.
                let mut i = 0;
                while i < ranges {
                    self.v("ACK gap")?;
                    self.v("ACK range")?;
                    i += 1;
                }
                if ty == 0x03 {
                    self.v("ECT0")?;
                    self.v("ECT1")?;
                    self.v("ECN-CE")?;
                }
                Ok(Frame::Ack {
                    largest,
                    ranges,
                    ecn: ty == 0x03,
                })
            }
            0x06 => self.crypto(),
            0x1c | 0x1d => {
                let error_code = self.v("CONNECTION_CLOSE error")?;
                let frame_type = if ty == 0x1c {
                    Some(self.v("CONNECTION_CLOSE frame type")?)
                } else {
                    None
                };
                let n = self.v("CONNECTION_CLOSE reason length")?;
                let reason = self.take(n, "CONNECTION_CLOSE reason")?;
                Ok(Frame::ConnectionClose {
                    app: ty == 0x1d,
                    error_code,
                    frame_type,
                    reason,
                })
            }
            other => Err(FrameError::Unknown(other)),
        }
    }

    /// Google QUIC frames (one-byte types): PADDING, PING, CRYPTO and ACK are decoded.
    fn gquic_frame(&mut self) -> Result<Frame<'a>, FrameError> {
        let ty = self.take(1, "type")?.first().copied().unwrap_or(0);
        match ty {
            0x00 => Ok(self.padding()),
            0x07 => Ok(Frame::Ping),
            0x08 => self.crypto(),
            // ACK: 0b01nt_llmm (n: more blocks; ll, mm: largest / block length sizes).
            0x40..=0x7f => {
                const LEN: [u64; 4] = [1, 2, 4, 6];
                let ll = LEN[usize::from((ty >> 2) & 3)];
                let mm = LEN[usize::from(ty & 3)];
                let largest = self
                    .take(ll, "ACK largest")?
                    .iter()
                    .fold(0u64, |a, b| a << 8 | u64::from(*b));
                self.take(2, "ACK delay")?;
                let blocks = if ty & 0x20 != 0 {
                    self.byte("ACK block count")?
                } else {
                    0
                };
                self.take(mm, "ACK first block")?;
                for _ in 0..blocks {
                    self.take(1 + mm, "ACK block")?;
                }
                let stamps = self.byte("ACK timestamp count")?;
                if stamps > 0 {
                    self.take(5 + 3 * (u64::from(stamps) - 1), "ACK timestamps")?;
                }
                Ok(Frame::Ack {
                    largest,
                    ranges: u64::from(blocks),
                    ecn: false,
                })
            }
            other => Err(FrameError::Unknown(u64::from(other))),
        }
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, FrameError> {
        self.take(1, what)?
            .first()
            .copied()
            .ok_or(FrameError::Truncated(what))
    }

    /// The rest of a PADDING run whose first byte was just read.
    fn padding(&mut self) -> Frame<'a> {
        let start = self.pos.saturating_sub(1);
        while self.buf.get(self.pos) == Some(&0) {
            self.pos += 1;
        }
        Frame::Padding {
            len: self.pos - start,
        }
    }

    fn crypto(&mut self) -> Result<Frame<'a>, FrameError> {
        let offset = self.v("CRYPTO offset")?;
        let n = self.v("CRYPTO length")?;
        let data = self.take(n, "CRYPTO data")?;
        Ok(Frame::Crypto { offset, data })
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let r = self.frame();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// Why [`CryptoStream::insert`] could not keep (all of) a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoLimit {
    #[error("CRYPTO data beyond the {MAX_CRYPTO_BYTES}-byte buffer dropped ({0} bytes)")]
    BeyondBuffer(u64),
    #[error("CRYPTO stream has more than {MAX_CRYPTO_RANGES} holes: fragment dropped")]
    TooFragmented,
}

/// One direction's CRYPTO byte stream at one encryption level, reassembled in any order.
#[derive(Clone, Debug, Default)]
pub struct CryptoStream {
    buf: Vec<u8>,
    /// Disjoint, sorted, non-adjacent received ranges `[start, end)`.
    ranges: Vec<(usize, usize)>,
    dropped: u64,
}

impl CryptoStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add `data` at stream `offset`. Bytes within the 64 KiB window are kept even when
    /// the tail of the fragment is dropped.
    pub fn insert(&mut self, offset: u64, data: &[u8]) -> Result<(), CryptoLimit> {
        let total = data.len() as u64;
        let start = match usize::try_from(offset) {
            Ok(s) if s < MAX_CRYPTO_BYTES => s,
            _ => {
                self.dropped = self.dropped.saturating_add(total);
                return Err(CryptoLimit::BeyondBuffer(total));
            }
        };
        let keep = data.len().min(MAX_CRYPTO_BYTES - start);
        let end = start + keep;
        if keep > 0 {
            // Where the new range goes, and how many existing ranges it merges with.
            let first = self
                .ranges
                .iter()
                .position(|&(_, e)| e >= start)
                .unwrap_or(self.ranges.len());
            let last = self
                .ranges
                .iter()
                .rposition(|&(s, _)| s <= end)
                .map_or(first, |i| i + 1);
            let merged = last.saturating_sub(first);
            if merged == 0 && self.ranges.len() >= MAX_CRYPTO_RANGES {
                self.dropped = self.dropped.saturating_add(total);
                return Err(CryptoLimit::TooFragmented);
            }
            if self.buf.len() < end {
                self.buf.resize(end, 0); // end <= MAX_CRYPTO_BYTES
            }
            if let (Some(dst), Some(src)) = (self.buf.get_mut(start..end), data.get(..keep)) {
                dst.copy_from_slice(src);
            }
            let (mut s, mut e) = (start, end);
            if merged > 0 {
                if let (Some(a), Some(b)) = (self.ranges.get(first), self.ranges.get(last - 1)) {
                    s = s.min(a.0);
                    e = e.max(b.1);
                }
                self.ranges.drain(first..last);
            }
            self.ranges.insert(first, (s, e));
        }
        if keep < data.len() {
            let lost = (data.len() - keep) as u64;
            self.dropped = self.dropped.saturating_add(lost);
            return Err(CryptoLimit::BeyondBuffer(lost));
        }
        Ok(())
    }

    /// The bytes received contiguously from offset 0.
    pub fn contiguous(&self) -> &[u8] {
        match self.ranges.first() {
            Some(&(0, e)) => self.buf.get(..e).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Bytes currently held (including holes below the highest offset).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes dropped because of the limits.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped
    }

    /// Number of disjoint ranges held (1 when there is no hole).
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_walk_and_stop_at_unknown() {
        // PADDING x3, PING, ACK(largest 5, delay 0, 1 extra range), CRYPTO(off 2, "hi"),
        // CONNECTION_CLOSE(0x0a, type 0x06, "no"), then STREAM 0x08 (unknown here).
        let p = [
            0, 0, 0, 1, 2, 5, 0, 1, 0, 1, 1, 6, 2, 2, b'h', b'i', 0x1c, 0x0a, 0x06, 2, b'n', b'o',
            0x08, 9, 9,
        ];
        let got: Vec<_> = Frames::new(&p, false).collect();
        assert_eq!(
            got,
            vec![
                Ok(Frame::Padding { len: 3 }),
                Ok(Frame::Ping),
                Ok(Frame::Ack {
                    largest: 5,
                    ranges: 1,
                    ecn: false
                }),
                Ok(Frame::Crypto {
                    offset: 2,
                    data: b"hi"
                }),
                Ok(Frame::ConnectionClose {
                    app: false,
                    error_code: 10,
                    frame_type: Some(6),
                    reason: b"no"
                }),
                Err(FrameError::Unknown(8)),
            ]
        );
        // With gQUIC framing 0x08 is a CRYPTO frame: offset 9, length 9 runs past the end.
        let g: Vec<_> = Frames::new(&p[22..], true).collect();
        assert_eq!(g, vec![Err(FrameError::Truncated("CRYPTO data"))]);
        // ... and 0x06 is gQUIC STOP_WAITING, not CRYPTO: the walk stops there.
        let g: Vec<_> = Frames::new(&[0, 0, 7, 6, 0, 1, b'x'], true).collect();
        assert_eq!(
            g,
            vec![
                Ok(Frame::Padding { len: 2 }),
                Ok(Frame::Ping),
                Err(FrameError::Unknown(6))
            ]
        );
        // gQUIC ACK as sent by Google's T051 server: 40 | largest 01 | delay 0000 |
        // first block 01 | 0 timestamps, then CRYPTO(0, "ab").
        let g: Vec<_> = Frames::new(&[0x40, 1, 0, 0, 1, 0, 8, 0, 2, b'a', b'b'], true).collect();
        assert_eq!(
            g,
            vec![
                Ok(Frame::Ack {
                    largest: 1,
                    ranges: 0,
                    ecn: false
                }),
                Ok(Frame::Crypto {
                    offset: 0,
                    data: b"ab"
                })
            ]
        );
    }

    #[test]
    fn ack_with_huge_range_count_ends_at_payload_end() {
        // Range count 2^62-1 must not loop forever: it stops when bytes run out.
        let p = [
            2, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 1,
        ];
        let got: Vec<_> = Frames::new(&p, false).collect();
        assert_eq!(got, vec![Err(FrameError::Truncated("ACK gap"))]);
    }

    #[test]
    fn crypto_reassembles_out_of_order_with_overlaps() {
        let msg: Vec<u8> = (0..200u8).collect();
        let mut s = CryptoStream::new();
        s.insert(150, &msg[150..]).unwrap();
        assert_eq!(s.contiguous(), b"");
        s.insert(10, &msg[10..60]).unwrap();
        s.insert(50, &msg[50..160]).unwrap(); // overlaps both sides
        assert_eq!(s.range_count(), 1, "10..200 merged into one range");
        assert_eq!(s.contiguous(), b"");
        s.insert(0, &msg[..10]).unwrap();
        assert_eq!(s.contiguous(), &msg[..]);
        assert_eq!(s.range_count(), 1);
    }

    #[test]
    fn crypto_limit_drops_beyond_64k() {
        let mut s = CryptoStream::new();
        assert_eq!(
            s.insert(MAX_CRYPTO_BYTES as u64, b"x"),
            Err(CryptoLimit::BeyondBuffer(1))
        );
        assert_eq!(s.insert(u64::MAX, b"xy"), Err(CryptoLimit::BeyondBuffer(2)));
        let big = vec![7u8; 100];
        assert_eq!(
            s.insert(MAX_CRYPTO_BYTES as u64 - 40, &big),
            Err(CryptoLimit::BeyondBuffer(60))
        );
        assert_eq!(s.buffered(), MAX_CRYPTO_BYTES);
        assert_eq!(s.dropped_bytes(), 63);
    }

    #[test]
    fn crypto_limit_on_holes() {
        let mut s = CryptoStream::new();
        for i in 0..MAX_CRYPTO_RANGES {
            s.insert((i * 4 + 1) as u64, b"a").unwrap();
        }
        assert_eq!(s.insert(10_000, b"b"), Err(CryptoLimit::TooFragmented));
        // A fragment that fills a hole (merging) is still accepted.
        s.insert(0, b"abcde").unwrap();
        assert_eq!(s.contiguous().len(), 6);
    }
}
