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
//!
//! It is the registry's last TCP entry: it only speaks once every specific detector
//! has decided (`crate::analyzers::registry`).
//!
//! Contracts: pure functions over `&[u8]`; stream analyzers keep at most
//! [`SAMPLE_BYTES`] per direction.

mod report;

use crate::analyzers::api::{AppAnalyzer, Detection, StreamAnalyzer, TcpProtocol};
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The registration (see `crate::analyzers::registry`).
pub static PROTOCOL: TcpProtocol<EncryptedStream> = TcpProtocol {
    name: "encrypted",
    detect: detect_fully_encrypted,
    start: EncryptedStream::new,
};

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
    (!b.is_empty()).then(|| crate::util::hex(b.get(..16.min(b.len())).unwrap_or_default()))
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

    type Record = EncryptedRecord;

    fn summarize(&self) -> EncryptedRecord {
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
        r
    }
}

#[cfg(test)]
mod tests;
