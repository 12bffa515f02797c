//! Redis (RESP) commands and replies, matched in order (pipelining), with command → reply
//! latency.
//!
//! # Contracts
//!
//! - Detection: the client's first bytes are a RESP array of bulk strings
//!   (`*N\r\n$M\r\n...`), or an inline command line starting with a common command
//!   (`PING\r\n`, `PUBLISH Foo "Hi there :)"\r\n`) answered, if at all yet, with a RESP
//!   type byte. Inline arguments are split as the server splits them
//!   ([`parser::split_inline`]: quotes and escapes). Servers never speak
//!   first, so server bytes alone are not enough.
//! - Commands are the client's top-level values; replies the server's, RESP3 push
//!   messages (`>`) excepted. The n-th reply answers the n-th command (Redis processes a
//!   connection's commands in order). At most [`MAX_COMMANDS`] commands are kept and at
//!   most [`MAX_OUTSTANDING`] await replies; beyond that they are counted.
//! - `latency_ms` runs from the time the command was complete to the time of the first
//!   byte of its reply.
//! - A gap or invalid RESP stops that direction; a command without a reply keeps
//!   `reply: None`.
//! - Arguments of `AUTH` and `HELLO` are not kept (credentials).
//! - Memory per direction is bounded by [`parser::RespReader`]'s limits.

pub mod parser;
mod report;

use crate::analyzers::api::{AppAnalyzer, Detection, StreamAnalyzer, TcpProtocol};
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use parser::{Event, RespReader, Value};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::VecDeque;

/// The registration (see `crate::analyzers::registry`).
pub static PROTOCOL: TcpProtocol<RedisStream> = TcpProtocol {
    name: "redis",
    detect,
    start: RedisStream::new,
};

pub const MAX_COMMANDS: usize = 10_000;
pub const MAX_OUTSTANDING: usize = 4096;
/// Arguments kept per command (each cut to [`parser::MAX_ITEM_BYTES`]).
pub const MAX_ARGS: usize = 8;

/// Commands accepted as an inline first line (`PING\r\n`), the way redis-cli and
/// telnet users talk; servers never speak first, so this is safe from server-first
/// protocols that share reply syntax (POP3's `+OK`).
const INLINE_FIRST: [&str; 44] = [
    "PING",
    "AUTH",
    "HELLO",
    "SELECT",
    "INFO",
    "ECHO",
    "GET",
    "SET",
    "DEL",
    "EXISTS",
    "KEYS",
    "CLIENT",
    "COMMAND",
    "DBSIZE",
    "PUBLISH",
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "MONITOR",
    "INCR",
    "DECR",
    "INCRBY",
    "MGET",
    "MSET",
    "SETEX",
    "SETNX",
    "APPEND",
    "EXPIRE",
    "TTL",
    "TYPE",
    "SCAN",
    "HGET",
    "HSET",
    "HGETALL",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "LRANGE",
    "SADD",
    "SMEMBERS",
    "ZADD",
    "ZRANGE",
    "CONFIG",
    "FLUSHALL",
];

fn detect_inline(c2s: &[u8], s2c: &[u8]) -> Detection {
    let Some(nl) = c2s.iter().position(|&b| b == b'\n') else {
        return if c2s.len() < 64 && c2s.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            Detection::NeedMore
        } else {
            Detection::NotMine
        };
    };
    let Some(line) = c2s.get(..nl).and_then(|l| l.strip_suffix(b"\r")) else {
        return Detection::NotMine;
    };
    let word = line
        .split(|&b| b == b' ' || b == b'\t')
        .find(|w| !w.is_empty())
        .unwrap_or_default();
    let known = INLINE_FIRST
        .iter()
        .any(|w| w.as_bytes().eq_ignore_ascii_case(word));
    let reply_ok = s2c.first().is_none_or(|b| b"+-:$*_%>~".contains(b));
    if known
        && reply_ok
        && line
            .iter()
            .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\t')
    {
        Detection::Match
    } else {
        Detection::NotMine
    }
}

/// Probe the first bytes of both directions.
pub fn detect(c2s: &[u8], s2c: &[u8]) -> Detection {
    if c2s.first().is_some_and(|b| *b != b'*') {
        return detect_inline(c2s, s2c);
    }
    // `*` digits CRLF `$` digits CRLF
    let mut st = 0u8;
    let mut digits = 0;
    for &b in c2s.iter().take(32) {
        st = match (st, b) {
            (0, b'*') | (3, b'$') => {
                digits = 0;
                st + 1
            }
            (1 | 4, b'0'..=b'9') if digits < 10 => {
                digits += 1;
                st
            }
            (1 | 4, b'\r') if digits > 0 => st + 1,
            (2, b'\n') => 3,
            (5, b'\n') => return Detection::Match,
            _ => return Detection::NotMine,
        };
    }
    if c2s.is_empty() {
        Detection::NotMine
    } else {
        Detection::NeedMore
    }
}

/// A reply as reported.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisReply {
    /// RESP type (`simple`, `error`, `integer`, `bulk`, `array`, ...).
    pub kind: Cow<'static, str>,
    /// Simple string, integer, first bulk or error text (cut to 64 bytes).
    pub value: Option<String>,
    pub error: bool,
    pub nil: bool,
    /// Elements in an aggregate reply.
    pub elements: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedisCommand {
    /// Command name, upper-cased (`GET`, `SET`, ...).
    pub name: String,
    /// Number of arguments after the name.
    pub argc: u64,
    /// The first [`MAX_ARGS`] arguments, each cut to 64 bytes.
    pub args: Vec<String>,
    pub ts: Timestamp,
    pub reply: Option<RedisReply>,
    pub latency_ms: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RedisRecord {
    pub client: String,
    pub server: String,
    pub commands: Vec<RedisCommand>,
    pub commands_dropped: u64,
    pub unmatched_replies: u64,
    pub push_messages: u64,
    pub gap_bytes: u64,
    pub anomalies: Vec<String>,
}

#[derive(Default)]
pub struct RedisStream {
    rec: RedisRecord,
    readers: [RespReader; 2],
    /// Indices into `rec.commands` (or `None` for dropped ones) awaiting a reply.
    outstanding: VecDeque<(Option<usize>, Timestamp)>,
    reply_first_ts: Option<Timestamp>,
}

impl RedisStream {
    pub fn new() -> Self {
        RedisStream::default()
    }

    fn on_command(&mut self, v: Value, ts: Timestamp) {
        let mut items = v.items.into_iter();
        let name = items.next().unwrap_or_default().to_ascii_uppercase();
        // Credentials are never kept: AUTH and HELLO (which may carry AUTH) lose their args.
        let secret = name == "AUTH" || name == "HELLO";
        let cmd = RedisCommand {
            argc: v.leaves.saturating_sub(1),
            args: if secret {
                Vec::new()
            } else {
                items.take(MAX_ARGS).collect()
            },
            name,
            ts,
            ..Default::default()
        };
        let idx = if self.rec.commands.len() < MAX_COMMANDS {
            self.rec.commands.push(cmd);
            Some(self.rec.commands.len() - 1)
        } else {
            self.rec.commands_dropped += 1;
            None
        };
        if self.outstanding.len() >= MAX_OUTSTANDING {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back((idx, ts));
    }

    fn on_reply(&mut self, v: Value, ts: Timestamp) {
        let first = self.reply_first_ts.take().unwrap_or(ts);
        if v.kind == "push" {
            self.rec.push_messages += 1;
            return;
        }
        let Some((idx, cmd_ts)) = self.outstanding.pop_front() else {
            self.rec.unmatched_replies += 1;
            return;
        };
        let reply = RedisReply {
            kind: Cow::Borrowed(v.kind),
            value: v.items.first().cloned(),
            error: v.kind == "error",
            nil: v.nil,
            elements: if matches!(v.kind, "array" | "set" | "map") {
                v.leaves
            } else {
                0
            },
        };
        if let Some(c) = idx.and_then(|i| self.rec.commands.get_mut(i)) {
            c.reply = Some(reply);
            c.latency_ms = Some(first.millis_since(cmd_ts));
        }
    }
}

impl StreamAnalyzer for RedisStream {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        let i = dir.index();
        let was_broken = self.readers[i].broken().is_some();
        let events = self.readers[i].feed(data);
        for e in events {
            match (dir, e) {
                (Direction::ClientToServer, Event::Done(v)) => self.on_command(v, ts),
                (Direction::ServerToClient, Event::Start) => {
                    self.reply_first_ts.get_or_insert(ts);
                }
                (Direction::ServerToClient, Event::Done(v)) => self.on_reply(v, ts),
                (Direction::ClientToServer, Event::Start) => {}
            }
        }
        if !was_broken && let Some(why) = self.readers[i].broken() {
            self.rec.anomalies.push(format!("{}: {why}", dir.short()));
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, _ts: Timestamp) {
        self.rec.gap_bytes += len;
        if self.readers[dir.index()].broken().is_none() {
            self.rec
                .anomalies
                .push(format!("{}: gap, stopped parsing", dir.short()));
        }
        self.readers[dir.index()].stop("gap");
    }
}

impl AppAnalyzer for RedisStream {
    fn name(&self) -> &'static str {
        "redis"
    }

    type Record = RedisRecord;

    fn summarize(&self) -> RedisRecord {
        self.rec.clone()
    }
}

#[cfg(test)]
mod tests;
