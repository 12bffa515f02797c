//! The TCP facts the rest of the pipeline needs, copied out of the header.

use crate::capture::StoredAt;
use serde::Serialize;
use std::fmt;

/// TCP header flags (the low byte of the flags field: CWR ECE URG ACK PSH RST SYN FIN).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    pub fn urg(self) -> bool {
        self.0 & Self::URG != 0
    }
}

impl fmt::Display for TcpFlags {
    /// tcpdump's letters: `S`, `S.`, `F.`, `R`, `P.` ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
            (Self::ACK, '.'),
        ] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One TCP segment as seen on the wire.
///
/// `payload` borrows the captured bytes. When the packet was captured shorter than it was
/// on the wire (snap length), `payload` holds only what was captured and `missing` counts
/// the payload bytes that were cut: the segment still covers
/// `seq .. seq + payload.len() + missing` in sequence space.
///
/// `payload_at` says where `payload` lies in a store that outlives the packet (a
/// memory-mapped capture), so that the assembler can remember delivered bytes by position
/// instead of copying them; `None` when the payload is in a reused buffer (a stream input,
/// a datagram rebuilt from fragments) or its origin is unknown.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The MSS option of a SYN or SYN-ACK that carries one (options of other segments
    /// are not read: the MSS is only valid in SYNs, RFC 9293 section 3.7.1).
    pub mss: Option<u16>,
    pub payload: &'a [u8],
    /// Payload bytes present on the wire but not in the capture (snap length).
    pub missing: u32,
    /// Where `payload[0]` lies in a store that outlives the packet, if anywhere.
    pub payload_at: Option<StoredAt<'a>>,
}

impl TcpSegment<'_> {
    /// Payload length on the wire: captured plus cut bytes.
    pub fn wire_len(&self) -> u32 {
        self.payload.len() as u32 + self.missing
    }

    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN.
    pub fn seq_len(&self) -> u32 {
        self.wire_len() + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}
