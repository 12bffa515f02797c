//! Flows that carry no recognisable protocol, and the tunnels recognised by shape alone:
//!
//! - the **fully-encrypted** heuristic for VMess-, Shadowsocks-like flows (random-looking
//!   bytes from the first byte on), after the exemptions Wu et al. describe for the Great
//!   Firewall's detector ("How the Great Firewall of China Detects and Blocks Fully
//!   Encrypted Traffic", USENIX Security 2023, §4), which nDPI also follows for its
//!   `Fully Encrypted Flow` risk. The first client payload is *exempt* (not fully
//!   encrypted) when: (Ex1) its average set bits per byte is ≤ 3.4 or ≥ 4.6; (Ex2) its
//!   first 6 bytes are printable ASCII; (Ex3) more than half its bytes are printable;
//!   (Ex4) it has more than 20 contiguous printable bytes; (Ex5) it matches a known
//!   protocol (the other detectors run first). The evidence is reported with the verdict.
//! - **OpenVPN over TCP** (2-byte length framing, hard-reset opcodes), and
//! - **WireGuard** datagrams ([`classify_wireguard`], a pure UDP classifier).
//!
//! The registry of all TCP application analyzers lives in [`crate::analyzers::app`].
//!
//! Contracts: pure functions over `&[u8]`; stream analyzers keep at most
//! [`SAMPLE_BYTES`] per direction.

use crate::analyzers::app::{AppAnalyzer, AppRecords};
use crate::analyzers::{Detection, StreamAnalyzer};
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Bytes of each direction's start kept as evidence.
pub const SAMPLE_BYTES: usize = 1024;
/// Smallest first payload the fully-encrypted verdict is given on.
pub const MIN_SAMPLE: usize = 16;

fn printable(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// Shannon entropy of the byte histogram, bits per byte (0..=8).
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut hist = [0u32; 256];
    for &b in bytes {
        hist[usize::from(b)] += 1;
    }
    let n = bytes.len() as f64;
    hist.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// The measurements behind the fully-encrypted verdict for one payload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub sample_len: usize,
    pub entropy_bits_per_byte: f64,
    pub popcount_per_byte: f64,
    pub printable_fraction: f64,
    pub longest_printable_run: usize,
    /// The first exemption that applies (`ex1_popcount`, ...), or `None` when the payload
    /// looks fully encrypted.
    pub exempt_by: Option<Cow<'static, str>>,
}

/// Measure a payload and apply the exemptions Ex1-Ex4 (see the module doc).
pub fn evidence(payload: &[u8]) -> Evidence {
    let n = payload.len();
    let ones: u32 = payload.iter().map(|b| b.count_ones()).sum();
    let nprint = payload.iter().filter(|b| printable(**b)).count();
    let mut run = 0;
    let mut longest = 0;
    for &b in payload {
        run = if printable(b) { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let pop = if n == 0 {
        0.0
    } else {
        f64::from(ones) / n as f64
    };
    let frac = if n == 0 {
        0.0
    } else {
        nprint as f64 / n as f64
    };
    let exempt_by = if n < MIN_SAMPLE {
        Some("too_short")
    } else if pop <= 3.4 || pop >= 4.6 {
        Some("ex1_popcount")
    } else if payload.iter().take(6).all(|b| printable(*b)) {
        Some("ex2_printable_prefix")
    } else if frac > 0.5 {
        Some("ex3_mostly_printable")
    } else if longest > 20 {
        Some("ex4_printable_run")
    } else {
        None
    };
    Evidence {
        sample_len: n,
        entropy_bits_per_byte: entropy(payload),
        popcount_per_byte: pop,
        printable_fraction: frac,
        longest_printable_run: longest,
        exempt_by: exempt_by.map(Cow::Borrowed),
    }
}

/// The fallback detector: `Match` when the client's first bytes look fully encrypted;
/// `NeedMore` until the client has sent [`MIN_SAMPLE`] bytes.
pub fn detect_fully_encrypted(c2s: &[u8], _s2c: &[u8]) -> Detection {
    if c2s.len() < MIN_SAMPLE {
        return Detection::NeedMore;
    }
    let sample = c2s.get(..SAMPLE_BYTES.min(c2s.len())).unwrap_or_default();
    if evidence(sample).exempt_by.is_none() {
        Detection::Match
    } else {
        Detection::NotMine
    }
}

/// Lower-case hex of up to the first 16 bytes, for reports.
pub fn hex_prefix(b: &[u8]) -> Option<String> {
    (!b.is_empty())
        .then(|| crate::analyzers::tls::hex(b.get(..16.min(b.len())).unwrap_or_default()))
}

/// A flow tunscope could not name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownRecord {
    pub client: String,
    pub server: String,
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    pub gap_bytes: u64,
    pub first_c2s_hex: Option<String>,
    pub first_s2c_hex: Option<String>,
    pub note: Option<String>,
}

impl UnknownRecord {
    pub fn count(&mut self, dir: Direction, n: u64) {
        match dir {
            Direction::ClientToServer => self.bytes_c2s += n,
            Direction::ServerToClient => self.bytes_s2c += n,
        }
    }
}

/// A flow flagged as fully encrypted, with the evidence.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EncryptedRecord {
    pub client: String,
    pub server: String,
    /// Always `fully_encrypted` (the verdict that created this record).
    pub verdict: Cow<'static, str>,
    pub c2s: Evidence,
    /// Evidence over the server's first bytes (informative only).
    pub s2c: Option<Evidence>,
    /// Bytes of the first delivery in each direction (≈ the first flight).
    pub first_c2s_len: usize,
    pub first_s2c_len: usize,
    /// A shape hint when sizes match a known design (e.g. VMess AEAD: client first flight
    /// ≥ 100 bytes; see specs/quic-v2ray.md §8.4). Weak by nature.
    pub shape_hint: Option<Cow<'static, str>>,
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    pub gap_bytes: u64,
}

/// Stream analyzer for flows the fallback detector matched.
#[derive(Default)]
pub struct EncryptedStream {
    sample: [Vec<u8>; 2],
    first_len: [usize; 2],
    rec: EncryptedRecord,
}

impl EncryptedStream {
    pub fn new() -> Self {
        EncryptedStream {
            rec: EncryptedRecord {
                verdict: Cow::Borrowed("fully_encrypted"),
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

impl StreamAnalyzer for EncryptedStream {
    fn on_data(&mut self, dir: Direction, data: &[u8], _ts: Timestamp) {
        let i = dir.index();
        if self.first_len[i] == 0 {
            self.first_len[i] = data.len();
        }
        let room = SAMPLE_BYTES.saturating_sub(self.sample[i].len());
        self.sample[i].extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
        match dir {
            Direction::ClientToServer => self.rec.bytes_c2s += data.len() as u64,
            Direction::ServerToClient => self.rec.bytes_s2c += data.len() as u64,
        }
    }

    fn on_gap(&mut self, _dir: Direction, len: u64, _ts: Timestamp) {
        self.rec.gap_bytes += len;
    }
}

impl AppAnalyzer for EncryptedStream {
    fn name(&self) -> &'static str {
        "encrypted"
    }

    fn summarize(&self) -> AppRecords {
        let mut r = self.rec.clone();
        let [c, s] = &self.sample;
        let c_first = c.get(..self.first_len[0].min(c.len())).unwrap_or_default();
        r.c2s = evidence(c_first);
        r.s2c = (!s.is_empty())
            .then(|| evidence(s.get(..self.first_len[1].min(s.len())).unwrap_or_default()));
        r.first_c2s_len = self.first_len[0];
        r.first_s2c_len = self.first_len[1];
        r.shape_hint =
            (self.first_len[0] >= 100).then_some(Cow::Borrowed("vmess_aead_like_first_flight"));
        AppRecords::Encrypted(r)
    }
}

// ---------------------------------------------------------------------------------------
// OpenVPN over TCP

/// OpenVPN opcodes (high 5 bits of the opcode byte): control hard resets.
pub const OPENVPN_HARD_RESET_CLIENT_V1: u8 = 1;
pub const OPENVPN_HARD_RESET_SERVER_V1: u8 = 2;
pub const OPENVPN_HARD_RESET_CLIENT_V2: u8 = 7;
pub const OPENVPN_HARD_RESET_SERVER_V2: u8 = 8;
pub const OPENVPN_HARD_RESET_CLIENT_V3: u8 = 10;

/// `(opcode, key_id, packet)` of the first length-framed OpenVPN packet in `buf`.
pub fn openvpn_tcp_packet(buf: &[u8]) -> Option<(u8, u8, &[u8])> {
    let [l0, l1] = *buf.first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let pkt = buf.get(2..2 + len)?;
    let op = *pkt.first()?;
    Some((op >> 3, op & 7, pkt))
}

/// OpenVPN over TCP: the client's first packet is a length-framed hard reset
/// (opcode 1, 7 or 10, key id 0) with an 8-byte session id; a server answer, when present,
/// must be a server hard reset.
pub fn detect_openvpn(c2s: &[u8], s2c: &[u8]) -> Detection {
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
    match openvpn_tcp_packet(s2c) {
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
        while let Some((op, _, pkt)) =
            openvpn_tcp_packet(self.buf[i].get(off..).unwrap_or_default())
        {
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
                    self.rec.client_session_id = pkt.get(1..9).map(crate::analyzers::tls::hex);
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

    fn summarize(&self) -> AppRecords {
        AppRecords::Openvpn(self.rec.clone())
    }
}

// ---------------------------------------------------------------------------------------
// WireGuard (UDP)

/// A WireGuard message recognised from one UDP payload (whitepaper §5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireGuardMessage {
    /// Type 1, 148 bytes.
    HandshakeInitiation { sender: u32 },
    /// Type 2, 92 bytes.
    HandshakeResponse { sender: u32, receiver: u32 },
    /// Type 3, 64 bytes.
    CookieReply { receiver: u32 },
    /// Type 4: 16-byte header plus an authenticated payload of at least the 16-byte tag.
    /// (Plaintext is padded to a multiple of 16 except where that would pass the MTU, so
    /// the length alone is not constrained further.)
    TransportData { receiver: u32, counter: u64 },
}

/// Classifies one UDP payload: message type byte, three zero reserved bytes and the exact
/// (or, for data, constrained) length. Anything else is `None`.
pub fn classify_wireguard(p: &[u8]) -> Option<WireGuardMessage> {
    let [ty, r0, r1, r2] = *p.first_chunk::<4>()?;
    if (r0, r1, r2) != (0, 0, 0) {
        return None;
    }
    let le32 = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(*p.get(at..at + 4)?.first_chunk::<4>()?))
    };
    match (ty, p.len()) {
        (1, 148) => Some(WireGuardMessage::HandshakeInitiation { sender: le32(4)? }),
        (2, 92) => Some(WireGuardMessage::HandshakeResponse {
            sender: le32(4)?,
            receiver: le32(8)?,
        }),
        (3, 64) => Some(WireGuardMessage::CookieReply { receiver: le32(4)? }),
        (4, n) if n >= 32 => Some(WireGuardMessage::TransportData {
            receiver: le32(4)?,
            counter: u64::from_le_bytes(*p.get(8..16)?.first_chunk::<8>()?),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
