//! [`AppSession`]: drives one TCP connection through content detection over the first
//! bytes of both directions and a chain of analyzers (`socks5` → `tls`, `http` → `tls`,
//! ...), from the protocols of the registry (`super::registry`).
//!
//! # What the pipeline calls
//!
//! One [`AppSession`] per TCP connection; feed it exactly what the assembler delivers
//! ([`StreamAnalyzer`] call order, see `crate::analyzers`), then call
//! [`AppSession::summarize`] with the connection's `client` and `server` (`ip:port`).
//! Detection, hand-off and fallbacks happen inside.
//!
//! # Contracts
//!
//! - Detection is by content only; every detector sees the first bytes of both directions
//!   (either may be empty) and answers with a [`Detection`]. [`detect_stream`] tries them
//!   in a fixed order and returns the first `Match`/`MatchReversed`, else `NeedMore` if any
//!   detector still needs bytes, else the fully-encrypted / unknown fallback.
//! - While detecting, a session holds at most [`DETECT_BYTES`] per direction; past that,
//!   or at a gap, or at the end of both directions, it decides with what it has.
//! - A hand-off ([`super::api::AppAnalyzer::take_handoff`]) gives the inner analyzer the bytes the
//!   outer one received past its own protocol (bounded by [`super::api::MAX_HANDOFF_BYTES`]), then
//!   everything that follows. Chains are at most [`MAX_CHAIN`] deep.
//! - With `MatchReversed`, the analyzer is fed with directions swapped, so its records say
//!   who really acted as client.

use super::api::{AppChain, Detection, Handoff, StreamAnalyzer};
pub use super::detect::DETECT_BYTES;
use super::detect::FirstBytes;
use super::encrypted::{self, UnknownRecord};
use super::registry::{AppProto, AppRecords, DynAnalyzer, detect_stream};
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use std::borrow::Cow;

/// Deepest analyzer chain (e.g. socks5 → http → tls is 3).
pub const MAX_CHAIN: usize = 4;

/// Everything one connection's application layers showed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AppSummary {
    /// The connection's client, `ip:port`.
    pub client: String,
    /// The connection's server, `ip:port`.
    pub server: String,
    /// Protocols outermost first, e.g. `["socks5", "tls"]`.
    pub app_chain: Vec<Cow<'static, str>>,
    /// One entry per element of `app_chain`, same order.
    pub layers: Vec<AppRecords>,
    /// The innermost protocol was detected with client and server swapped.
    pub roles_reversed: bool,
}

/// Detection in progress: the shared buffer and which directions ended.
struct Detecting {
    first: FirstBytes,
    ended: [bool; 2],
}

impl AppSummary {
    /// Nothing was seen at all: no layer but an unknown one with no byte and no gap.
    pub fn saw_nothing(&self) -> bool {
        self.layers.iter().all(|l| match l {
            AppRecords::Unknown(u) => u.bytes_c2s == 0 && u.bytes_s2c == 0 && u.gap_bytes == 0,
            _ => false,
        })
    }

    /// This connection's chain below the `outer` layers.
    pub fn chain_under(&self, outer: &[&'static str]) -> AppChain {
        let mut chain: Vec<Cow<'static, str>> = outer.iter().map(|o| Cow::Borrowed(*o)).collect();
        chain.extend(self.app_chain.iter().cloned());
        AppChain(chain)
    }
}

impl Detecting {
    fn from_handoff(h: Handoff) -> Self {
        Detecting {
            first: FirstBytes::from_handoff(h),
            ended: [false, false],
        }
    }
}

enum Stage {
    Detecting(Detecting),
    Active {
        analyzer: Box<dyn DynAnalyzer>,
        reversed: bool,
    },
    Unknown(UnknownRecord),
}

/// Drives one connection through detection and the analyzer chain. See the module doc.
pub struct AppSession {
    finished: Vec<(&'static str, AppRecords)>,
    stage: Stage,
    ended: [bool; 2],
}

impl Default for AppSession {
    fn default() -> Self {
        Self::new()
    }
}

impl AppSession {
    /// A session that detects its first protocol by content.
    pub fn new() -> Self {
        AppSession {
            finished: Vec::new(),
            stage: Stage::Detecting(Detecting::from_handoff(Handoff::default())),
            ended: [false, false],
        }
    }

    /// A session that starts with a known protocol (e.g. after a tunnel's first frame).
    pub fn with_protocol(proto: AppProto) -> Self {
        AppSession {
            finished: Vec::new(),
            stage: Stage::Active {
                analyzer: proto.start(),
                reversed: false,
            },
            ended: [false, false],
        }
    }

    /// The protocol chain so far.
    pub fn app_chain(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.finished.iter().map(|(n, _)| *n).collect();
        match &self.stage {
            Stage::Active { analyzer, .. } => v.push(analyzer.name()),
            Stage::Unknown(_) => v.push("unknown"),
            Stage::Detecting(d) if d.first.is_empty() => {}
            Stage::Detecting(_) => v.push("unknown"),
        }
        v
    }

    /// The innermost protocol found so far, without allocating (`None` while detecting
    /// the first layer): what throughput is counted under.
    pub fn current(&self) -> Option<&'static str> {
        match &self.stage {
            Stage::Active { analyzer, .. } => Some(analyzer.name()),
            Stage::Unknown(_) => Some("unknown"),
            Stage::Detecting(_) => self.finished.last().map(|(n, _)| *n),
        }
    }

    /// Every layer's records so far, with the connection's endpoints filled in.
    pub fn summarize(&self, client: &str, server: &str) -> AppSummary {
        // Exactly as many layers as there are (a Vec's first growth reserves four of these
        // ~0.5 KB records; a finished connection's summary is kept until the report).
        let mut layers: Vec<AppRecords> = Vec::with_capacity(self.finished.len() + 1);
        layers.extend(self.finished.iter().map(|(_, r)| r.clone()));
        let mut roles_reversed = false;
        match &self.stage {
            Stage::Active { analyzer, reversed } => {
                roles_reversed = *reversed;
                layers.push(analyzer.summarize());
            }
            Stage::Unknown(u) => layers.push(AppRecords::Unknown(u.clone())),
            Stage::Detecting(d) if !d.first.is_empty() => {
                let mut u = UnknownRecord::default();
                for (dir, b, _) in d.first.chunks() {
                    u.count(dir, b.len() as u64);
                }
                layers.push(AppRecords::Unknown(u));
            }
            Stage::Detecting(_) => {}
        }
        for l in &mut layers {
            l.set_endpoints(client, server);
        }
        AppSummary {
            client: client.to_string(),
            server: server.to_string(),
            app_chain: self.app_chain().into_iter().map(Cow::Borrowed).collect(),
            layers,
            roles_reversed,
        }
    }

    /// Decide with what the detector holds; `force` when no more bytes will help.
    fn try_detect(&mut self, force: bool) {
        let Stage::Detecting(d) = &mut self.stage else {
            return;
        };
        let c2s = d.first.bytes(Direction::ClientToServer);
        let s2c = d.first.bytes(Direction::ServerToClient);
        let full = d.first.is_full();
        let both_ended = d.ended[0] && d.ended[1];
        let found = detect_stream(&c2s, &s2c);
        let decided = match found {
            Some((p, Detection::Match)) => Some((p, false)),
            Some((p, Detection::MatchReversed)) => Some((p, true)),
            _ if force || full || both_ended => {
                // Last chance: the fallback on whatever is there.
                match AppProto::Encrypted.detect(&c2s, &s2c) {
                    Detection::Match => Some((AppProto::Encrypted, false)),
                    _ => None,
                }
            }
            Some((_, Detection::NeedMore)) => return,
            _ => None,
        };
        let first = std::mem::take(&mut d.first);
        match decided {
            Some((p, reversed)) => {
                self.stage = Stage::Active {
                    analyzer: p.start(),
                    reversed,
                };
                for (dir, bytes, ts) in first.chunks() {
                    self.feed(dir, bytes, ts);
                }
            }
            None => {
                let mut u = UnknownRecord::default();
                for (dir, b, _) in first.chunks() {
                    u.count(dir, b.len() as u64);
                }
                u.first_c2s_hex = encrypted::hex_prefix(&c2s);
                u.first_s2c_hex = encrypted::hex_prefix(&s2c);
                self.stage = Stage::Unknown(u);
            }
        }
    }

    /// Feed an active analyzer, then follow a hand-off.
    fn feed(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        let Stage::Active { analyzer, reversed } = &mut self.stage else {
            return;
        };
        let d = if *reversed { dir.reverse() } else { dir };
        analyzer.on_data(d, data, ts);
        let Some(mut h) = analyzer.take_handoff() else {
            return;
        };
        if *reversed {
            h.pending.swap(0, 1);
            h.ts.swap(0, 1);
        }
        let name = analyzer.name();
        let records = analyzer.summarize();
        self.finished.push((name, records));
        if self.finished.len() >= MAX_CHAIN {
            let mut u = UnknownRecord::default();
            u.count(Direction::ClientToServer, h.pending[0].len() as u64);
            u.count(Direction::ServerToClient, h.pending[1].len() as u64);
            u.note = Some("analyzer chain too deep".into());
            self.stage = Stage::Unknown(u);
            return;
        }
        let mut det = Detecting::from_handoff(h);
        det.ended = self.ended;
        self.stage = Stage::Detecting(det);
        self.try_detect(false);
    }
}

impl StreamAnalyzer for AppSession {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        match &mut self.stage {
            Stage::Detecting(d) => {
                let held = d.first.hold(dir, data, ts);
                if held < data.len() {
                    // Over the detection budget: decide now, then pass the rest on.
                    self.try_detect(true);
                    let rest = data.get(held..).unwrap_or_default();
                    if !rest.is_empty() {
                        self.on_data(dir, rest, ts);
                    }
                } else {
                    self.try_detect(false);
                }
            }
            Stage::Active { .. } => self.feed(dir, data, ts),
            Stage::Unknown(u) => u.count(dir, data.len() as u64),
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, ts: Timestamp) {
        if matches!(self.stage, Stage::Detecting(_)) {
            self.try_detect(true);
        }
        match &mut self.stage {
            Stage::Active { analyzer, reversed } => {
                let d = if *reversed { dir.reverse() } else { dir };
                analyzer.on_gap(d, len, ts);
            }
            Stage::Unknown(u) => u.gap_bytes += len,
            Stage::Detecting(_) => {}
        }
    }

    fn on_end(&mut self, dir: Direction, ts: Timestamp) {
        self.ended[dir.index()] = true;
        if let Stage::Detecting(d) = &mut self.stage {
            d.ended[dir.index()] = true;
            let both = d.ended[0] && d.ended[1];
            self.try_detect(both);
        }
        if let Stage::Active { analyzer, reversed } = &mut self.stage {
            let d = if *reversed { dir.reverse() } else { dir };
            analyzer.on_end(d, ts);
        }
    }
}
