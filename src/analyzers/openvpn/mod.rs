//! OpenVPN over TCP: 2-byte length framing, the hard-reset opcodes of the control
//! channel, and the session id of the client's first packet.
//!
//! Contracts: [`detect`] and [`tcp_packet`] are pure functions over `&[u8]`; the stream
//! analyzer holds at most one frame (2 + 65535 bytes) per direction; past that, or after
//! a gap, that direction is only counted (a framing error is recorded for the first).

mod report;

use crate::analyzers::api::{AppAnalyzer, Detection, StreamAnalyzer, TcpProtocol};
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// The registration (see `crate::analyzers::registry`).
pub static PROTOCOL: TcpProtocol<OpenVpnStream> = TcpProtocol {
    name: "openvpn",
    detect,
    start: OpenVpnStream::new,
};

/// OpenVPN opcodes (high 5 bits of the opcode byte): control hard resets.
pub const OPENVPN_HARD_RESET_CLIENT_V1: u8 = 1;
pub const OPENVPN_HARD_RESET_SERVER_V1: u8 = 2;
pub const OPENVPN_HARD_RESET_CLIENT_V2: u8 = 7;
pub const OPENVPN_HARD_RESET_SERVER_V2: u8 = 8;
pub const OPENVPN_HARD_RESET_CLIENT_V3: u8 = 10;

/// `(opcode, key_id, packet)` of the first length-framed OpenVPN packet in `buf`.
pub fn tcp_packet(buf: &[u8]) -> Option<(u8, u8, &[u8])> {
    let [l0, l1] = *buf.first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let pkt = buf.get(2..2 + len)?;
    let op = *pkt.first()?;
    Some((op >> 3, op & 7, pkt))
}

/// OpenVPN over TCP: the client's first packet is a length-framed hard reset
/// (opcode 1, 7 or 10, key id 0) with an 8-byte session id; a server answer, when present,
/// must be a server hard reset.
pub fn detect(c2s: &[u8], s2c: &[u8]) -> Detection {
    if c2s.len() < 3 {
        return if c2s.is_empty() && !s2c.is_empty() {
            Detection::NotMine
        } else {
            Detection::NeedMore
        };
    }
    let op = c2s.get(2).map_or(0, |b| b >> 3);
    let key = c2s.get(2).map_or(1, |b| b & 7);
    let len = c2s
        .first_chunk::<2>()
        .map_or(0, |l| usize::from(u16::from_be_bytes(*l)));
    let reset = matches!(
        op,
        OPENVPN_HARD_RESET_CLIENT_V1 | OPENVPN_HARD_RESET_CLIENT_V2 | OPENVPN_HARD_RESET_CLIENT_V3
    );
    // opcode + session id (8) + packet-id array length (1) + packet id (4) at least.
    if !reset || key != 0 || !(14..=1600).contains(&len) {
        return Detection::NotMine;
    }
    if c2s.len() < 2 + len {
        return Detection::NeedMore;
    }
    match tcp_packet(s2c) {
        Some((op, _, _))
            if op == OPENVPN_HARD_RESET_SERVER_V1 || op == OPENVPN_HARD_RESET_SERVER_V2 =>
        {
            Detection::Match
        }
        Some(_) => Detection::NotMine,
        None if s2c.len() < 3 => Detection::Match,
        None => Detection::NotMine,
    }
}

/// What an OpenVPN-over-TCP connection showed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenVpnRecord {
    pub client: String,
    pub server: String,
    /// Client hard-reset version (1, 2 or 3).
    pub reset_version: Option<u8>,
    /// Session id of the client's first packet (hex).
    pub client_session_id: Option<String>,
    pub packets_c2s: u64,
    pub packets_s2c: u64,
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    pub framing_errors: u64,
}

#[derive(Default)]
pub struct OpenVpnStream {
    buf: [Vec<u8>; 2],
    stopped: [bool; 2],
    rec: OpenVpnRecord,
}

impl OpenVpnStream {
    pub fn new() -> Self {
        OpenVpnStream::default()
    }
}

impl StreamAnalyzer for OpenVpnStream {
    fn on_data(&mut self, dir: Direction, data: &[u8], _ts: Timestamp) {
        let i = dir.index();
        match dir {
            Direction::ClientToServer => self.rec.bytes_c2s += data.len() as u64,
            Direction::ServerToClient => self.rec.bytes_s2c += data.len() as u64,
        }
        if self.stopped[i] {
            return;
        }
        self.buf[i].extend_from_slice(data);
        let mut off = 0;
        while let Some((op, _, pkt)) = tcp_packet(self.buf[i].get(off..).unwrap_or_default()) {
            off += 2 + pkt.len();
            if dir == Direction::ClientToServer {
                self.rec.packets_c2s += 1;
                if self.rec.reset_version.is_none() {
                    self.rec.reset_version = match op {
                        OPENVPN_HARD_RESET_CLIENT_V1 => Some(1),
                        OPENVPN_HARD_RESET_CLIENT_V2 => Some(2),
                        OPENVPN_HARD_RESET_CLIENT_V3 => Some(3),
                        _ => None,
                    };
                    self.rec.client_session_id = pkt.get(1..9).map(crate::util::hex);
                }
            } else {
                self.rec.packets_s2c += 1;
            }
        }
        self.buf[i].drain(..off.min(self.buf[i].len()));
        if self.buf[i].len() > 2 + usize::from(u16::MAX) {
            self.rec.framing_errors += 1;
            self.stopped[i] = true;
            self.buf[i].clear();
        }
    }

    fn on_gap(&mut self, dir: Direction, _len: u64, _ts: Timestamp) {
        self.stopped[dir.index()] = true;
        self.buf[dir.index()].clear();
    }
}

impl AppAnalyzer for OpenVpnStream {
    fn name(&self) -> &'static str {
        "openvpn"
    }

    type Record = OpenVpnRecord;

    fn summarize(&self) -> OpenVpnRecord {
        self.rec.clone()
    }
}

#[cfg(test)]
mod tests;
