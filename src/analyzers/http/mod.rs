//! HTTP/1.x over a reassembled TCP stream: every transaction (pipelined and keep-alive),
//! body sizes by Content-Length, chunked coding or connection close, request → first
//! response byte latency, CONNECT tunnels handed to the tunnelled protocol, Upgrade noted,
//! and v2ray's HTTP header obfuscation reported as a disguise.
//!
//! # Contracts
//!
//! - Only heads, chunk-size lines and trailers are buffered across calls, each bounded by
//!   [`parser::MAX_HEAD`]; bodies are counted, never stored. At most
//!   [`MAX_TRANSACTIONS`] transactions are kept (the rest are counted).
//! - Responses match requests in order (RFC 9112 §9.3.2). `latency_ms` is from the time the
//!   request head was complete to the time of the first byte of its response (an interim
//!   1xx counts as the first byte).
//! - Body framing follows RFC 9112 §6.3: responses to HEAD and 1xx/204/304 have none;
//!   `Transfer-Encoding: chunked` wins over Content-Length; otherwise a response without
//!   either runs until close.
//! - CONNECT answered 2xx: a hand-off; the bytes the client sent after the CONNECT head
//!   (held, bounded, until the answer arrives) and the bytes after the 2xx head go to the
//!   inner protocol. `101 Switching Protocols` ends parsing; the protocol is noted.
//! - A disguise (specs/quic-v2ray.md §7): a request without body framing immediately
//!   followed by binary bytes, or a "chunked" response whose body is not chunk-framed.
//!   The fake exchange is then reported as [`DisguiseRecord`] (not as a transaction) and the
//!   binary bytes are handed off (usually to the fully-encrypted fallback).
//! - A gap inside a body of known length (Content-Length, a chunk's data) or one that runs
//!   until close is counted in the body (`body_incomplete` is set) and parsing resumes where
//!   the body ends.
//! - Resynchronisation: any other gap, and a head or chunk line that does not parse, make
//!   that direction skip bytes until the next message start ([`parser::message_start`]: a
//!   request line with a [`parser::KNOWN_METHODS`] method, or `HTTP/d.d NNN`) at the start
//!   of a segment or of a line; before the first message of a direction (a capture picked
//!   up mid-stream, a stray keep-alive byte) also at any of the first [`MAX_STRAY`] bytes.
//!   Each resync is counted (`resyncs`, `skipped_bytes`) with an anomaly naming its cause
//!   and the bytes skipped. Responses keep pairing with requests in order: a hole that
//!   swallowed a whole message shifts the pairs after it.
//! - Leniencies ([`parser::Lenient`]) are counted per message head in `leniencies`.
//! - Empty lines before a request or status line are skipped (RFC 9112 §2.2) and counted
//!   on the previous message (`*_trailing_bytes`).
//! - Limits: text fields (method, host, target, version, user agent, reason, upgrade) are
//!   cut to [`MAX_FIELD`] bytes (lossy UTF-8); at most [`MAX_ANOMALIES`] anomaly strings
//!   are kept per connection; a head longer than [`parser::MAX_HEAD`] is an error.

pub mod parser;
mod report;

use crate::analyzers::api::{
    AppAnalyzer, Detection, Handoff, MAX_HANDOFF_BYTES, StreamAnalyzer, TcpProtocol,
};
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use parser::{Parsed, header, parse_chunk_size, parse_request_head, parse_response_head};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The registration (see `crate::analyzers::registry`).
pub static PROTOCOL: TcpProtocol<HttpStream> = TcpProtocol {
    name: "http",
    detect,
    start: HttpStream::new,
};

pub const MAX_TRANSACTIONS: usize = 4096;
pub const MAX_ANOMALIES: usize = 16;
/// Text fields are cut to this many bytes.
pub const MAX_FIELD: usize = 512;
/// Stray bytes skipped at most before a direction's first message (and accepted by
/// [`detect`] before a request line).
pub const MAX_STRAY: usize = 4;

/// Probe the first bytes of both directions.
pub fn detect(c2s: &[u8], s2c: &[u8]) -> Detection {
    let d = detect_at(c2s, s2c);
    if d != Detection::NotMine || c2s.is_empty() {
        return d;
    }
    // A few stray bytes before the first request (a keep-alive probe's byte on a
    // connection picked up mid-stream), while the server has not answered otherwise.
    if !s2c.is_empty() && !s2c.starts_with(b"HTTP/1.") {
        return Detection::NotMine;
    }
    // One byte alone may be the probe's: wait for what follows it.
    let mut need_more = c2s.len() == 1;
    for k in 1..=MAX_STRAY.min(c2s.len()) {
        let rest = c2s.get(k..).unwrap_or_default();
        for m in parser::KNOWN_METHODS {
            let with_sp = [m, b" "].concat();
            if rest.len() >= with_sp.len() && rest.starts_with(&with_sp) {
                return Detection::Match;
            }
            need_more |= !rest.is_empty() && with_sp.starts_with(rest);
        }
    }
    if need_more {
        Detection::NeedMore
    } else {
        Detection::NotMine
    }
}

fn detect_at(c2s: &[u8], s2c: &[u8]) -> Detection {
    if !c2s.is_empty() {
        for m in parser::KNOWN_METHODS {
            let with_sp = [m, b" "].concat();
            if c2s.starts_with(&with_sp) {
                return Detection::Match;
            }
            if with_sp.starts_with(c2s) {
                return Detection::NeedMore;
            }
        }
        if c2s.starts_with(b"HTTP/1.") {
            return Detection::MatchReversed;
        }
        if b"HTTP/1.".starts_with(c2s) {
            return Detection::NeedMore;
        }
        return Detection::NotMine;
    }
    if s2c.starts_with(b"HTTP/1.") {
        Detection::Match
    } else if b"HTTP/1.".starts_with(s2c) {
        Detection::NeedMore
    } else {
        Detection::NotMine
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b.get(..MAX_FIELD.min(b.len())).unwrap_or_default()).into_owned()
}

/// One request and its response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpTransaction {
    /// `None` for a response seen without its request (capture started mid-stream).
    pub method: Option<String>,
    pub host: Option<String>,
    pub target: Option<String>,
    pub version: Option<String>,
    pub user_agent: Option<String>,
    pub status: Option<u16>,
    pub reason: Option<String>,
    /// The response's HTTP version (`1.0`, ...); Zeek's `version` column shows this one
    /// when a response was seen.
    pub response_version: Option<String>,
    pub request_body_len: u64,
    pub response_body_len: u64,
    /// Empty lines (CRLF) after this request that began no message, skipped before the
    /// next request line (RFC 9112 §2.2). libhtp (Suricata) counts such bytes in the body.
    pub request_trailing_bytes: u64,
    /// The same after this response, before the next status line.
    pub response_trailing_bytes: u64,
    pub latency_ms: Option<f64>,
    pub request_ts: Option<Timestamp>,
    /// The protocol a 101 switched to (`websocket`, ...).
    pub upgrade: Option<String>,
    /// CONNECT answered 2xx: the rest of the connection is the tunnelled protocol.
    pub tunnel: bool,
    /// A body was cut by a gap or by the end of the stream.
    pub body_incomplete: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRecord {
    pub client: String,
    pub server: String,
    pub transactions: Vec<HttpTransaction>,
    pub transactions_dropped: u64,
    pub interim_responses: u64,
    pub gap_bytes: u64,
    /// Times a direction resynchronised on a message start after a gap or an error.
    #[serde(default)]
    pub resyncs: u64,
    /// Bytes skipped while resynchronising (gap bytes not included).
    #[serde(default)]
    pub skipped_bytes: u64,
    /// Message heads that needed a leniency, by leniency (`space_before_colon`,
    /// `obs_fold`, `bare_lf`, `no_reason_phrase`, `duplicate_content_length`).
    #[serde(default)]
    pub leniencies: BTreeMap<String, u64>,
    pub anomalies: Vec<String>,
}

/// What an HTTP connection's analyzer reports: its transactions, or the disguise when
/// the HTTP was fake (then the rest of the stream is handed off).
#[derive(Clone, Debug, PartialEq)]
pub enum HttpLayer {
    Http(HttpRecord),
    Disguise(DisguiseRecord),
}

/// A fake HTTP exchange in front of binary data (v2ray "tcp + http header").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DisguiseRecord {
    pub client: String,
    pub server: String,
    pub kind: Cow<'static, str>,
    pub method: Option<String>,
    pub host: Option<String>,
    pub target: Option<String>,
    pub user_agent: Option<String>,
    pub status: Option<u16>,
    pub evidence: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Body(Body),
    /// Bytes are held unparsed (after CONNECT/Upgrade until the answer, or a disguise).
    Hold,
    /// Parsing ended (tunnel, upgrade); bytes are counted only.
    Stopped,
    /// Skipping to the next message start (see the module doc).
    Resync {
        cause: &'static str,
        skipped: u64,
        /// The first byte at hand is where the failed message began: not a candidate.
        past_start: bool,
    },
}

/// Per-connection HTTP state.
pub struct HttpStream {
    rec: HttpRecord,
    state: [State; 2],
    buf: [Vec<u8>; 2],
    buf_ts: [Timestamp; 2],
    /// Transaction whose request body is being read.
    req_idx: Option<usize>,
    /// Next transaction awaiting a final response.
    resp_idx: usize,
    /// Transaction whose response body is being read.
    resp_body_idx: Option<usize>,
    /// Time of the first byte of the response being read.
    resp_first_ts: Option<Timestamp>,
    disguise: Option<DisguiseRecord>,
    handoff: Option<Handoff>,
    handed_off: bool,
    /// A refused CONNECT/Upgrade released held client bytes: parse them before any
    /// further response, so responses still pair with requests in order.
    release_held: bool,
    /// A message head has been read in that direction.
    seen_message: [bool; 2],
}

impl Default for HttpStream {
    fn default() -> Self {
        Self::new()
    }
}

fn looks_binary(b: &[u8]) -> bool {
    b.iter()
        .take(16)
        .any(|&c| c >= 0x7f || (c < 0x20 && !matches!(c, b'\r' | b'\n' | b'\t')))
}

const V2RAY_UAS: [&str; 2] = [
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/53.0.2785.143 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 10_0_2 like Mac OS X) AppleWebKit/601.1 (KHTML, like Gecko) CriOS/53.0.2785.109 Mobile/14A456 Safari/601.1.46",
];

impl HttpStream {
    pub fn new() -> Self {
        HttpStream {
            rec: HttpRecord::default(),
            state: [State::Head, State::Head],
            buf: [Vec::new(), Vec::new()],
            buf_ts: [Timestamp::ZERO; 2],
            req_idx: None,
            resp_idx: 0,
            resp_body_idx: None,
            resp_first_ts: None,
            disguise: None,
            handoff: None,
            handed_off: false,
            release_held: false,
            seen_message: [false; 2],
        }
    }

    fn anomaly(&mut self, what: String) {
        if self.rec.anomalies.len() < MAX_ANOMALIES {
            self.rec.anomalies.push(what);
        }
    }

    fn tx(&mut self, i: usize) -> Option<&mut HttpTransaction> {
        self.rec.transactions.get_mut(i)
    }

    fn push_tx(&mut self, t: HttpTransaction) -> Option<usize> {
        if self.rec.transactions.len() >= MAX_TRANSACTIONS {
            self.rec.transactions_dropped += 1;
            return None;
        }
        self.rec.transactions.push(t);
        Some(self.rec.transactions.len() - 1)
    }

    fn lenient(&mut self, l: parser::Lenient) {
        for name in l.names() {
            *self.rec.leniencies.entry(name.to_string()).or_default() += 1;
        }
    }

    /// Why a head failed: its parse error, or, before the first message of a direction
    /// when `rest` does not even begin like one, the bytes in front of it.
    fn error_cause(&self, dir: Direction, rest: &[u8], e: &'static str) -> &'static str {
        let request = dir == Direction::ClientToServer;
        if self.seen_message[dir.index()]
            || matches!(parser::message_start(rest, request), Parsed::Done(..))
        {
            e
        } else {
            "bytes before the first message"
        }
    }

    /// The start line of a head whose fields failed, alone (bounded by the line).
    fn start_line(rest: &[u8]) -> Vec<u8> {
        let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        [line, b"\r\n\r\n"].concat()
    }

    /// A request whose head failed after a sound request line: kept as a transaction
    /// (method, target, version) so responses keep pairing in order.
    fn failed_request(&mut self, rest: &[u8], ts: Timestamp) {
        let line = Self::start_line(rest);
        if let Parsed::Done(h, _) = parse_request_head(&line) {
            let t = HttpTransaction {
                method: Some(text(h.method)),
                target: Some(text(h.target)),
                version: Some(text(h.version.get(5..).unwrap_or_default())),
                request_ts: Some(ts),
                ..Default::default()
            };
            self.seen_message[0] = true;
            self.req_idx = self.push_tx(t);
        }
    }

    /// The same for a response: its status is noted on the transaction it answers.
    fn failed_response(&mut self, rest: &[u8]) {
        let line = Self::start_line(rest);
        let Parsed::Done(h, _) = parse_response_head(&line) else {
            return;
        };
        self.seen_message[1] = true;
        if (100..200).contains(&h.status) {
            return;
        }
        let idx = if self.resp_idx < self.rec.transactions.len() {
            Some(self.resp_idx)
        } else {
            self.push_tx(HttpTransaction::default())
        };
        let first = self.resp_first_ts.take();
        let req_ts = idx
            .and_then(|i| self.rec.transactions.get(i))
            .and_then(|t| t.request_ts);
        if let Some(t) = idx.and_then(|i| self.tx(i)) {
            t.status = Some(h.status);
            t.reason = Some(text(h.reason));
            t.response_version = Some(text(h.version.get(5..).unwrap_or_default()));
            if let (Some(f), Some(r)) = (first, req_ts) {
                t.latency_ms = Some(f.millis_since(r));
            }
        }
        self.resp_idx = idx.map_or(self.resp_idx, |i| i + 1);
        self.resp_body_idx = idx;
    }

    /// Start skipping to the next message start in `dir`.
    fn start_resync(&mut self, dir: Direction, cause: &'static str, past_start: bool) {
        let i = dir.index();
        if matches!(self.state[i], State::Body(_)) {
            self.mark_incomplete(dir);
        }
        self.state[i] = match self.state[i] {
            // Already skipping: the first cause stays.
            State::Resync { cause, skipped, .. } => State::Resync {
                cause,
                skipped,
                past_start,
            },
            _ => State::Resync {
                cause,
                skipped: 0,
                past_start,
            },
        };
    }

    /// Resync state: skip to the first message start in `rest` (`seg`: where the newest
    /// segment begins in it, if it does).
    fn resync(
        &mut self,
        dir: Direction,
        rest: &[u8],
        seg: Option<usize>,
        ts: Timestamp,
    ) -> Option<usize> {
        let i = dir.index();
        let State::Resync {
            cause,
            skipped,
            past_start,
        } = self.state[i]
        else {
            return Some(0);
        };
        let request = dir == Direction::ClientToServer;
        let first = !self.seen_message[i];
        for p in 0..rest.len() {
            let candidate = if p == 0 {
                !past_start
            } else {
                seg == Some(p) || rest.get(p - 1) == Some(&b'\n') || (first && p <= MAX_STRAY)
            };
            if !candidate {
                continue;
            }
            match parser::message_start(rest.get(p..).unwrap_or_default(), request) {
                Parsed::Done(..) => {
                    let skipped = skipped + p as u64;
                    self.rec.resyncs += 1;
                    self.rec.skipped_bytes += skipped;
                    self.anomaly(format!(
                        "{}: resynchronised after {cause}, {skipped} bytes skipped",
                        dir.short()
                    ));
                    self.state[i] = State::Head;
                    if !request {
                        self.resp_first_ts = Some(ts);
                    }
                    return Some(p);
                }
                Parsed::Incomplete { .. } if p == 0 => return None,
                Parsed::Incomplete { .. } => {
                    self.state[i] = State::Resync {
                        cause,
                        skipped: skipped + p as u64,
                        past_start: false,
                    };
                    return Some(p);
                }
                Parsed::Invalid(_) => {}
            }
        }
        self.state[i] = State::Resync {
            cause,
            skipped: skipped + rest.len() as u64,
            past_start: false,
        };
        Some(rest.len())
    }

    /// Parse as much of direction `i`'s buffer as possible; `seg` is where the bytes
    /// just received begin in it.
    fn process(&mut self, dir: Direction, ts: Timestamp, seg: usize) {
        let i = dir.index();
        let buf = std::mem::take(&mut self.buf[i]);
        let mut off = 0;
        while off < buf.len() && self.handoff.is_none() && !self.handed_off && !self.release_held {
            let rest = buf.get(off..).unwrap_or_default();
            let used = match self.state[i] {
                State::Stopped => Some(rest.len()),
                State::Hold => break,
                State::Resync { .. } => self.resync(dir, rest, seg.checked_sub(off), ts),
                State::Head => match parser::leading_empty_lines(rest) {
                    Parsed::Incomplete { .. } => None,
                    Parsed::Done((), n) if n > 0 => {
                        self.count_trailing(dir, n as u64);
                        Some(n)
                    }
                    _ => match dir {
                        Direction::ClientToServer => self.request_head(rest, ts),
                        Direction::ServerToClient => self.response_head(rest, ts),
                    },
                },
                State::Body(b) => self.body(dir, b, rest),
            };
            match used {
                Some(n) => off += n,
                None => break,
            }
        }
        let mut buf = buf;
        buf.drain(..off.min(buf.len()));
        if self.state[i] == State::Hold && buf.len() > MAX_HANDOFF_BYTES {
            self.anomaly(format!("{}: more than 64 KiB held", dir.short()));
            buf.truncate(MAX_HANDOFF_BYTES);
        }
        self.buf[i] = buf;
        if self.disguise.is_some() && self.handoff.is_none() && !self.handed_off {
            self.maybe_handoff_disguise();
        }
    }

    fn request_head(&mut self, rest: &[u8], ts: Timestamp) -> Option<usize> {
        match parse_request_head(rest) {
            Parsed::Incomplete { .. } => None,
            Parsed::Invalid(e) => {
                let prev_unframed = self
                    .rec
                    .transactions
                    .last()
                    .is_some_and(|t| t.method.is_some() && t.request_body_len == 0);
                if prev_unframed && looks_binary(rest) && self.rec.transactions.len() == 1 {
                    self.start_disguise(
                        "binary bytes right after a request head that declares no body",
                    );
                    self.state[0] = State::Hold;
                    None
                } else {
                    let cause = self.error_cause(Direction::ClientToServer, rest, e);
                    if cause == e {
                        self.failed_request(rest, ts);
                    }
                    self.start_resync(Direction::ClientToServer, cause, true);
                    Some(0)
                }
            }
            Parsed::Done(h, _)
                if !self.seen_message[0] && !parser::KNOWN_METHODS.contains(&h.method) =>
            {
                // Detection saw a known method within the first bytes: what precedes it is
                // stray, not part of the method.
                self.start_resync(
                    Direction::ClientToServer,
                    "bytes before the first message",
                    true,
                );
                Some(0)
            }
            Parsed::Done(h, n) => {
                self.seen_message[0] = true;
                self.lenient(h.lenient);
                let method = text(h.method);
                let connect = h.method.eq_ignore_ascii_case(b"CONNECT");
                let upgrade = header(&h.headers, "upgrade").is_some()
                    && header(&h.headers, "connection")
                        .is_some_and(|v| parser::has_token(v, "upgrade"));
                let chunked = header(&h.headers, "transfer-encoding")
                    .is_some_and(|v| parser::has_token(v, "chunked"));
                let cl = match parser::content_length(&h.headers) {
                    Ok((v, repeated)) => {
                        if repeated {
                            self.lenient(parser::Lenient(
                                parser::Lenient::DUPLICATE_CONTENT_LENGTH,
                            ));
                        }
                        v
                    }
                    Err(e) => {
                        self.anomaly(format!("c2s: {e}"));
                        None
                    }
                };
                let t = HttpTransaction {
                    method: Some(method),
                    host: header(&h.headers, "host").map(text),
                    target: Some(text(h.target)),
                    version: Some(text(h.version.get(5..).unwrap_or_default())),
                    user_agent: header(&h.headers, "user-agent").map(text),
                    request_ts: Some(ts),
                    ..Default::default()
                };
                let idx = self.push_tx(t);
                self.req_idx = idx;
                self.state[0] = if connect || upgrade {
                    State::Hold
                } else if chunked {
                    State::Body(Body::Chunked(Chunk::Size))
                } else {
                    match cl {
                        Some(n) if n > 0 => State::Body(Body::Length(n)),
                        _ => State::Head,
                    }
                };
                Some(n)
            }
        }
    }

    fn start_disguise(&mut self, why: &str) {
        let t = self.rec.transactions.first().cloned().unwrap_or_default();
        let d = self.disguise.get_or_insert_with(|| {
            let mut ev = Vec::new();
            if t.user_agent
                .as_deref()
                .is_some_and(|u| V2RAY_UAS.contains(&u))
            {
                ev.push("User-Agent is one of v2ray's defaults (Chrome 53 / iOS 10)".to_string());
            }
            if t.host
                .as_deref()
                .is_some_and(|h| h == "www.baidu.com" || h == "www.bing.com")
            {
                ev.push("Host is one of v2ray's defaults (www.baidu.com / www.bing.com)".into());
            }
            DisguiseRecord {
                kind: Cow::Borrowed("v2ray_http_header"),
                method: t.method.clone(),
                host: t.host.clone(),
                target: t.target.clone(),
                user_agent: t.user_agent.clone(),
                evidence: ev,
                ..Default::default()
            }
        });
        d.evidence.push(why.to_string());
    }

    /// Hand off once the fake response head (if any) has been read.
    fn maybe_handoff_disguise(&mut self) {
        let response_seen = self
            .rec
            .transactions
            .first()
            .is_some_and(|t| t.status.is_some());
        if !response_seen && self.state[1] == State::Head {
            return; // wait for the fake response head
        }
        if let Some(d) = self.disguise.as_mut() {
            d.status = self.rec.transactions.first().and_then(|t| t.status);
        }
        self.emit_handoff();
    }

    fn emit_handoff(&mut self) {
        let c = std::mem::take(&mut self.buf[0]);
        let s = std::mem::take(&mut self.buf[1]);
        self.handoff = Some(Handoff {
            pending: [c, s],
            ts: self.buf_ts,
        });
        self.state = [State::Stopped, State::Stopped];
    }

    fn response_head(&mut self, rest: &[u8], ts: Timestamp) -> Option<usize> {
        let h = match parse_response_head(rest) {
            Parsed::Incomplete { .. } => return None,
            Parsed::Invalid(e) => {
                if self.disguise.is_some() {
                    self.state[1] = State::Hold;
                    return None;
                }
                let cause = self.error_cause(Direction::ServerToClient, rest, e);
                if cause == e {
                    // The status line is sound, the fields are not: the response still
                    // answers its request, so later responses keep their pairs.
                    self.failed_response(rest);
                }
                self.start_resync(Direction::ServerToClient, cause, true);
                return Some(0);
            }
            Parsed::Done(h, n) => (h, n),
        };
        let (h, n) = h;
        self.seen_message[1] = true;
        self.lenient(h.lenient);
        let first = self.resp_first_ts.take().unwrap_or(ts);
        let idx = if self.resp_idx < self.rec.transactions.len() {
            Some(self.resp_idx)
        } else {
            self.push_tx(HttpTransaction::default())
        };
        let (req_method, req_ts) = idx
            .and_then(|i| self.rec.transactions.get(i))
            .map(|t| (t.method.clone(), t.request_ts))
            .unwrap_or_default();
        if let Some(t) = idx.and_then(|i| self.tx(i))
            && t.latency_ms.is_none()
            && let Some(r) = req_ts
        {
            t.latency_ms = Some(first.millis_since(r));
        }
        let status = h.status;
        if (100..200).contains(&status) && status != 101 {
            self.rec.interim_responses += 1;
            return Some(n);
        }
        let is_connect = req_method
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"));
        let is_head = req_method
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("HEAD"));
        let chunked = header(&h.headers, "transfer-encoding")
            .is_some_and(|v| parser::has_token(v, "chunked"));
        let cl = match parser::content_length(&h.headers) {
            Ok((cl, repeated)) => {
                if repeated {
                    self.lenient(parser::Lenient(parser::Lenient::DUPLICATE_CONTENT_LENGTH));
                }
                cl
            }
            Err(_) => None,
        };
        let upgrade = header(&h.headers, "upgrade").map(text);
        if let Some(t) = idx.and_then(|i| self.tx(i)) {
            t.status = Some(status);
            t.reason = Some(text(h.reason));
            t.response_version = Some(text(h.version.get(5..).unwrap_or_default()));
        }
        self.resp_idx = idx.map_or(self.resp_idx, |i| i + 1);
        self.resp_body_idx = idx;
        if self.disguise.is_some() {
            // The fake response of a disguise: note its telltale, then hand off.
            if chunked && looks_binary(rest.get(n..).unwrap_or_default()) {
                self.start_disguise(
                    "response declares chunked coding but its body is not chunk-framed",
                );
            }
            self.state[1] = State::Hold;
            return Some(n);
        }
        if is_connect && (200..300).contains(&status) {
            if let Some(t) = idx.and_then(|i| self.tx(i)) {
                t.tunnel = true;
            }
            self.buf[1] = rest.get(n..).unwrap_or_default().to_vec();
            self.buf_ts[1] = ts;
            self.emit_handoff();
            return Some(rest.len());
        }
        if status == 101 {
            if let Some(t) = idx.and_then(|i| self.tx(i)) {
                t.upgrade = upgrade.or(Some(String::new()));
            }
            self.state = [State::Stopped, State::Stopped];
            return Some(rest.len());
        }
        if self.state[0] == State::Hold && self.disguise.is_none() {
            // CONNECT refused or Upgrade declined: parse what the client sent meanwhile.
            self.state[0] = State::Head;
            self.release_held = true;
        }
        self.state[1] = if is_head || status == 204 || status == 304 || is_connect {
            State::Head
        } else if chunked {
            State::Body(Body::Chunked(Chunk::Size))
        } else if let Some(len) = cl {
            if len == 0 {
                State::Head
            } else {
                State::Body(Body::Length(len))
            }
        } else {
            State::Body(Body::UntilClose)
        };
        Some(n)
    }

    fn count_body(&mut self, dir: Direction, n: u64) {
        let idx = match dir {
            Direction::ClientToServer => self.req_idx,
            Direction::ServerToClient => self.resp_body_idx,
        };
        if let Some(t) = idx.and_then(|i| self.tx(i)) {
            match dir {
                Direction::ClientToServer => t.request_body_len += n,
                Direction::ServerToClient => t.response_body_len += n,
            }
        }
    }

    /// Empty lines between messages: noted on the previous message of that direction.
    fn count_trailing(&mut self, dir: Direction, n: u64) {
        let idx = match dir {
            Direction::ClientToServer => self.req_idx,
            Direction::ServerToClient => self.resp_body_idx,
        };
        if let Some(t) = idx.and_then(|i| self.tx(i)) {
            match dir {
                Direction::ClientToServer => t.request_trailing_bytes += n,
                Direction::ServerToClient => t.response_trailing_bytes += n,
            }
        }
    }

    fn body(&mut self, dir: Direction, b: Body, rest: &[u8]) -> Option<usize> {
        let i = dir.index();
        match b {
            Body::UntilClose => {
                self.count_body(dir, rest.len() as u64);
                Some(rest.len())
            }
            Body::Length(left) | Body::Chunked(Chunk::Data(left)) => {
                let n = left.min(rest.len() as u64);
                self.count_body(dir, n);
                let left = left - n;
                self.state[i] = match (b, left) {
                    (Body::Length(_), 0) => State::Head,
                    (Body::Length(_), l) => State::Body(Body::Length(l)),
                    (_, 0) => State::Body(Body::Chunked(Chunk::DataEnd)),
                    (_, l) => State::Body(Body::Chunked(Chunk::Data(l))),
                };
                Some(n as usize)
            }
            Body::Chunked(Chunk::Size) => match parse_chunk_size(rest) {
                Parsed::Done(0, n) => {
                    self.state[i] = State::Body(Body::Chunked(Chunk::Trailer));
                    Some(n)
                }
                Parsed::Done(s, n) => {
                    self.state[i] = State::Body(Body::Chunked(Chunk::Data(s)));
                    Some(n)
                }
                Parsed::Incomplete { .. } => None,
                Parsed::Invalid(e) => {
                    if dir == Direction::ServerToClient
                        && looks_binary(rest)
                        && self.rec.transactions.len() == 1
                        && self
                            .rec
                            .transactions
                            .first()
                            .is_some_and(|t| t.response_body_len == 0)
                    {
                        self.start_disguise(
                            "response declares chunked coding but its body is not chunk-framed",
                        );
                        self.state[1] = State::Hold;
                        return None;
                    }
                    self.start_resync(dir, e, true);
                    Some(0)
                }
            },
            Body::Chunked(Chunk::DataEnd) => {
                if rest.starts_with(b"\r\n") {
                    self.state[i] = State::Body(Body::Chunked(Chunk::Size));
                    Some(2)
                } else if rest.starts_with(b"\n") {
                    self.state[i] = State::Body(Body::Chunked(Chunk::Size));
                    Some(1)
                } else if rest == b"\r" {
                    None
                } else {
                    self.start_resync(dir, "chunk data not followed by CRLF", true);
                    Some(0)
                }
            }
            Body::Chunked(Chunk::Trailer) => {
                let nl = rest.iter().position(|&c| c == b'\n')?;
                let line = rest.get(..nl).unwrap_or_default();
                if line.is_empty() || line == b"\r" {
                    self.state[i] = State::Head;
                }
                Some(nl + 1)
            }
        }
    }
}

impl StreamAnalyzer for HttpStream {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        if self.handed_off {
            return;
        }
        let i = dir.index();
        if self.state[i] == State::Stopped {
            return;
        }
        let seg = self.buf[i].len();
        if self.buf[i].is_empty() {
            self.buf_ts[i] = ts;
            if dir == Direction::ServerToClient && self.state[1] == State::Head {
                self.resp_first_ts = Some(ts);
            }
        }
        // (Bodies are counted and resync drains all but a start line: neither piles up.)
        if self.buf[i].len() + data.len() > parser::MAX_HEAD + MAX_HANDOFF_BYTES
            && !matches!(self.state[i], State::Body(_) | State::Resync { .. })
        {
            self.anomaly(format!("{}: buffer limit reached", dir.short()));
            self.buf[i].clear();
            self.state[i] = State::Stopped;
            return;
        }
        self.buf[i].extend_from_slice(data);
        self.process(dir, ts, seg);
        while self.release_held {
            self.release_held = false;
            self.process(Direction::ClientToServer, ts, usize::MAX);
            self.process(Direction::ServerToClient, ts, usize::MAX);
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, _ts: Timestamp) {
        let i = dir.index();
        self.rec.gap_bytes += len;
        // A hole inside a body of known length (Content-Length, or one chunk's data):
        // the framing survives it, and parsing resumes where the body (or chunk) ends,
        // also when the hole ends exactly there.
        let resumed = match self.state[i] {
            State::Body(Body::Length(left)) if len <= left => Some(if len == left {
                State::Head
            } else {
                State::Body(Body::Length(left - len))
            }),
            State::Body(Body::Chunked(Chunk::Data(left))) if len <= left => {
                Some(State::Body(Body::Chunked(if len == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - len)
                })))
            }
            // A body that runs until the close goes on after any hole.
            State::Body(Body::UntilClose) => Some(State::Body(Body::UntilClose)),
            _ => None,
        };
        if let Some(next) = resumed {
            self.count_body(dir, len);
            self.mark_incomplete(dir);
            self.state[i] = next;
            return;
        }
        if matches!(self.state[i], State::Stopped | State::Hold) {
            self.buf[i].clear();
            return;
        }
        // Bytes held before the hole (an unfinished head or line) are skipped too.
        let held = self.buf[i].len() as u64;
        self.buf[i].clear();
        self.start_resync(dir, "a gap", false);
        if let State::Resync { skipped, .. } = &mut self.state[i] {
            *skipped += held;
        }
    }

    fn on_end(&mut self, dir: Direction, _ts: Timestamp) {
        let i = dir.index();
        if let State::Resync { cause, skipped, .. } = self.state[i] {
            let skipped = skipped + self.buf[i].len() as u64;
            if skipped > 0 {
                self.rec.skipped_bytes += skipped;
                self.anomaly(format!(
                    "{}: {cause}, then no message start: {skipped} bytes skipped to the end",
                    dir.short()
                ));
            }
            self.buf[i].clear();
            self.state[i] = State::Stopped;
        }
        if matches!(
            self.state[i],
            State::Body(Body::Length(_)) | State::Body(Body::Chunked(_))
        ) {
            self.mark_incomplete(dir);
        }
        if self.disguise.is_some() && self.handoff.is_none() && !self.handed_off {
            self.emit_handoff();
        }
    }
}

impl HttpStream {
    fn mark_incomplete(&mut self, dir: Direction) {
        let idx = match dir {
            Direction::ClientToServer => self.req_idx,
            Direction::ServerToClient => self.resp_body_idx,
        };
        if let Some(t) = idx.and_then(|i| self.tx(i)) {
            t.body_incomplete = true;
        }
    }
}

impl AppAnalyzer for HttpStream {
    fn name(&self) -> &'static str {
        if self.disguise.is_some() {
            "http_disguise"
        } else {
            "http"
        }
    }

    type Record = HttpLayer;

    fn summarize(&self) -> HttpLayer {
        match &self.disguise {
            Some(d) => HttpLayer::Disguise(d.clone()),
            None => HttpLayer::Http(self.rec.clone()),
        }
    }

    fn take_handoff(&mut self) -> Option<Handoff> {
        let h = self.handoff.take()?;
        self.handed_off = true;
        Some(h)
    }
}

#[cfg(test)]
mod tests;
