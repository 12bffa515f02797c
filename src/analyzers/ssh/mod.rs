//! SSH: both identification lines, the KEXINIT algorithm lists and the negotiated
//! algorithms (RFC 4253 §7.1), HASSH fingerprints, then encrypted bytes counted.
//!
//! # Contracts
//!
//! - Detection: either direction starts with `SSH-` (the server usually speaks first).
//! - Per direction, buffering is bounded by the banner search
//!   ([`parser::MAX_PRE_BANNER_BYTES`]) and one packet ([`parser::MAX_PACKET`]).
//! - After NEWKEYS in a direction, its bytes are counted as encrypted and not parsed. A
//!   gap, or a packet that does not parse before NEWKEYS, stops parsing in that direction.
//! - HASSH (Salesforce): MD5 of `kex;encryption;mac;compression` of the client's KEXINIT
//!   (client-to-server lists); HASSHServer the same over the server's KEXINIT
//!   (server-to-client lists).

pub mod parser;
mod report;

use crate::analyzers::api::{AppAnalyzer, Detection, StreamAnalyzer, TcpProtocol};
use crate::analyzers::fingerprints::hassh;
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use parser::{KexInit, Parsed, negotiate};
use serde::{Deserialize, Serialize};

/// The registration (see `crate::analyzers::registry`).
pub static PROTOCOL: TcpProtocol<SshStream> = TcpProtocol {
    name: "ssh",
    detect,
    start: SshStream::new,
};

const MAX_ANOMALIES: usize = 8;

/// Probe the first bytes of both directions.
pub fn detect(c2s: &[u8], s2c: &[u8]) -> Detection {
    let probe = |b: &[u8]| {
        let k = b.len().min(4);
        if b.is_empty() {
            Some(false)
        } else if b.starts_with(b"SSH-") {
            Some(true)
        } else if b.get(..k) == b"SSH-".get(..k) {
            None
        } else {
            Some(false)
        }
    };
    match (probe(c2s), probe(s2c)) {
        (Some(true), _) | (_, Some(true)) => Detection::Match,
        (None, _) | (_, None) => Detection::NeedMore,
        _ if c2s.is_empty() && s2c.is_empty() => Detection::NeedMore,
        _ => Detection::NotMine,
    }
}

/// What one SSH connection showed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshRecord {
    pub client: String,
    pub server: String,
    /// Full identification lines (`SSH-2.0-OpenSSH_7.4`).
    pub client_banner: Option<String>,
    pub server_banner: Option<String>,
    pub version: Option<String>,
    /// Software versions (`OpenSSH_7.4`).
    pub client_software: Option<String>,
    pub server_software: Option<String>,
    pub kex_alg: Option<String>,
    pub host_key_alg: Option<String>,
    pub cipher_alg: Option<String>,
    pub cipher_alg_s2c: Option<String>,
    pub mac_alg: Option<String>,
    pub compression_alg: Option<String>,
    pub hassh: Option<String>,
    pub hassh_server: Option<String>,
    pub client_kex_algorithms: Vec<String>,
    pub server_kex_algorithms: Vec<String>,
    pub encrypted_bytes_c2s: u64,
    pub encrypted_bytes_s2c: u64,
    pub gap_bytes: u64,
    pub anomalies: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Banner,
    Packets,
    Encrypted,
    Stopped,
}

pub struct SshStream {
    rec: SshRecord,
    state: [State; 2],
    buf: [Vec<u8>; 2],
    kex: [Option<KexInit>; 2],
}

impl Default for SshStream {
    fn default() -> Self {
        Self::new()
    }
}

impl SshStream {
    pub fn new() -> Self {
        SshStream {
            rec: SshRecord::default(),
            state: [State::Banner; 2],
            buf: [Vec::new(), Vec::new()],
            kex: [None, None],
        }
    }

    fn anomaly(&mut self, what: String) {
        if self.rec.anomalies.len() < MAX_ANOMALIES {
            self.rec.anomalies.push(what);
        }
    }

    fn count_encrypted(&mut self, dir: Direction, n: u64) {
        match dir {
            Direction::ClientToServer => self.rec.encrypted_bytes_c2s += n,
            Direction::ServerToClient => self.rec.encrypted_bytes_s2c += n,
        }
    }

    fn on_kexinit(&mut self, dir: Direction, k: KexInit) {
        let hassh = |k: &KexInit, c2s: bool| {
            let (e, m, c) = if c2s { (2, 4, 6) } else { (3, 5, 7) };
            hassh(&k.raw[0], &k.raw[e], &k.raw[m], &k.raw[c])
        };
        match dir {
            Direction::ClientToServer => {
                self.rec.hassh = Some(hassh(&k, true));
                self.rec.client_kex_algorithms = k.kex.clone();
            }
            Direction::ServerToClient => {
                self.rec.hassh_server = Some(hassh(&k, false));
                self.rec.server_kex_algorithms = k.kex.clone();
            }
        }
        self.kex[dir.index()] = Some(k);
        if let [Some(c), Some(s)] = &self.kex {
            self.rec.kex_alg = negotiate(&c.kex, &s.kex);
            self.rec.host_key_alg = negotiate(&c.host_key, &s.host_key);
            self.rec.cipher_alg = negotiate(&c.enc_c2s, &s.enc_c2s);
            self.rec.cipher_alg_s2c = negotiate(&c.enc_s2c, &s.enc_s2c);
            self.rec.mac_alg = negotiate(&c.mac_c2s, &s.mac_c2s);
            self.rec.compression_alg = negotiate(&c.comp_c2s, &s.comp_c2s);
        }
    }

    fn process(&mut self, dir: Direction) {
        let i = dir.index();
        let buf = std::mem::take(&mut self.buf[i]);
        let mut off = 0;
        loop {
            let rest = buf.get(off..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            match self.state[i] {
                State::Banner => match parser::parse_banner(rest) {
                    Parsed::Done(b, n) => {
                        let sw = Some(b.software.clone());
                        self.rec.version.get_or_insert(b.proto_version.clone());
                        match dir {
                            Direction::ClientToServer => {
                                self.rec.client_banner = Some(b.line);
                                self.rec.client_software = sw;
                            }
                            Direction::ServerToClient => {
                                self.rec.server_banner = Some(b.line);
                                self.rec.server_software = sw;
                            }
                        }
                        // SSH-1 has no KEXINIT: its packets are not parsed here.
                        self.state[i] =
                            if b.proto_version.starts_with('2') || b.proto_version == "1.99" {
                                State::Packets
                            } else {
                                State::Encrypted
                            };
                        off += n;
                    }
                    Parsed::Incomplete { .. } => break,
                    Parsed::Invalid(e) => {
                        self.anomaly(format!("{}: {e}", dir.short()));
                        self.state[i] = State::Stopped;
                        break;
                    }
                },
                State::Packets => match parser::parse_packet(rest) {
                    Parsed::Done((ty, payload), n) => {
                        if ty == parser::MSG_KEXINIT && self.kex[i].is_none() {
                            match parser::parse_kexinit(payload) {
                                Ok(k) => self.on_kexinit(dir, k),
                                Err(e) => self.anomaly(format!("{}: {e}", dir.short())),
                            }
                        }
                        if ty == parser::MSG_NEWKEYS {
                            self.state[i] = State::Encrypted;
                        }
                        off += n;
                    }
                    Parsed::Incomplete { .. } => break,
                    Parsed::Invalid(e) => {
                        self.anomaly(format!("{}: {e}", dir.short()));
                        self.state[i] = State::Stopped;
                        break;
                    }
                },
                State::Encrypted => {
                    self.count_encrypted(dir, rest.len() as u64);
                    off = buf.len();
                }
                State::Stopped => break,
            }
        }
        if self.state[i] != State::Stopped {
            let mut buf = buf;
            buf.drain(..off.min(buf.len()));
            self.buf[i] = buf;
        }
    }
}

impl StreamAnalyzer for SshStream {
    fn on_data(&mut self, dir: Direction, data: &[u8], _ts: Timestamp) {
        let i = dir.index();
        match self.state[i] {
            State::Stopped => {}
            State::Encrypted => self.count_encrypted(dir, data.len() as u64),
            _ => {
                self.buf[i].extend_from_slice(data);
                self.process(dir);
            }
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, _ts: Timestamp) {
        let i = dir.index();
        self.rec.gap_bytes += len;
        if self.state[i] != State::Encrypted {
            self.state[i] = State::Stopped;
            self.buf[i].clear();
        }
    }
}

impl AppAnalyzer for SshStream {
    fn name(&self) -> &'static str {
        "ssh"
    }

    type Record = SshRecord;

    fn summarize(&self) -> SshRecord {
        self.rec.clone()
    }
}

#[cfg(test)]
mod tests;
