//! SOCKS4, SOCKS4a and SOCKS5 proxy handshakes; after a successful CONNECT reply the rest of
//! the stream is handed to the proxied protocol.
//!
//! # Contracts
//!
//! - Detection needs a complete, consistent greeting (SOCKS5: method count matching the
//!   bytes, known method values; SOCKS4: command 1/2 and a NUL-terminated user id), and, when
//!   the server has answered, a matching answer.
//! - Buffering: only the handshake messages (each < 600 bytes) and, once the handshake is
//!   done, the bytes to hand off (bounded by the registry's `MAX_HANDOFF_BYTES`).
//! - The password of RFC 1929 authentication is never stored; the user name is.
//! - A gap or a message that does not parse ends the analysis (an anomaly is recorded).

pub mod parser;
mod report;

use crate::analyzers::api::{
    AppAnalyzer, Detection, Handoff, MAX_HANDOFF_BYTES, StreamAnalyzer, TcpProtocol,
};
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use parser::{Address, Parsed};
use serde::{Deserialize, Serialize};

/// The registration (see `crate::analyzers::registry`).
pub static PROTOCOL: TcpProtocol<SocksStream> = TcpProtocol {
    name: "socks",
    detect,
    start: SocksStream::new,
};

const MAX_ANOMALIES: usize = 8;

fn plausible_method(m: u8) -> bool {
    m <= 9 || (0x80..=0xfe).contains(&m)
}

/// Probe the first bytes of both directions.
pub fn detect(c2s: &[u8], s2c: &[u8]) -> Detection {
    match c2s.first() {
        None => return Detection::NotMine,
        Some(4) => {
            return match parser::socks4_request(c2s) {
                Parsed::Done(r, _) if r.port != 0 => match parser::socks4_reply(s2c) {
                    Parsed::Invalid(_) => Detection::NotMine,
                    _ => Detection::Match,
                },
                Parsed::Incomplete { .. } if c2s.len() < 64 => Detection::NeedMore,
                _ => Detection::NotMine,
            };
        }
        Some(5) => {}
        Some(_) => return Detection::NotMine,
    }
    match parser::socks5_greeting(c2s) {
        Parsed::Incomplete { .. }
            if c2s.len() < 2 || c2s.get(1).is_some_and(|n| *n > 0 && *n <= 16) =>
        {
            Detection::NeedMore
        }
        Parsed::Done(methods, n) => {
            let next_ok = matches!(c2s.get(n), None | Some(1) | Some(5));
            if methods.len() > 16 || !methods.iter().all(|m| plausible_method(*m)) || !next_ok {
                return Detection::NotMine;
            }
            match parser::socks5_method(s2c) {
                Parsed::Done(m, _) if methods.contains(&m) || m == 0xff => Detection::Match,
                Parsed::Incomplete { .. } => Detection::Match,
                _ => Detection::NotMine,
            }
        }
        _ => Detection::NotMine,
    }
}

/// What one SOCKS handshake showed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocksRecord {
    pub client: String,
    pub server: String,
    pub version: Option<u8>,
    pub auth_methods_offered: Vec<String>,
    pub auth_method: Option<String>,
    pub user: Option<String>,
    pub auth_succeeded: Option<bool>,
    pub command: Option<String>,
    /// Destination host name or address, as the client named it.
    pub destination: Option<String>,
    pub destination_is_name: bool,
    pub destination_port: Option<u16>,
    pub reply_code: Option<u8>,
    pub status: Option<String>,
    pub bound: Option<String>,
    pub bound_port: Option<u16>,
    pub anomalies: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum C2s {
    Greeting,
    Auth,
    Request,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum S2c {
    Method,
    AuthReply,
    Reply,
    Done,
}

pub struct SocksStream {
    rec: SocksRecord,
    c2s: C2s,
    s2c: S2c,
    buf: [Vec<u8>; 2],
    ts: [Timestamp; 2],
    stopped: bool,
    handoff: Option<Handoff>,
    handed_off: bool,
}

impl Default for SocksStream {
    fn default() -> Self {
        Self::new()
    }
}

impl SocksStream {
    pub fn new() -> Self {
        SocksStream {
            rec: SocksRecord::default(),
            c2s: C2s::Greeting,
            s2c: S2c::Method,
            buf: [Vec::new(), Vec::new()],
            ts: [Timestamp::ZERO; 2],
            stopped: false,
            handoff: None,
            handed_off: false,
        }
    }

    fn fail(&mut self, what: String) {
        if self.rec.anomalies.len() < MAX_ANOMALIES {
            self.rec.anomalies.push(what);
        }
        self.stopped = true;
        self.buf = [Vec::new(), Vec::new()];
    }

    fn set_destination(&mut self, a: Address, port: u16) {
        self.rec.destination_is_name = matches!(a, Address::Name(_));
        self.rec.destination = Some(a.to_string());
        self.rec.destination_port = Some(port);
    }

    /// One step on the client side; `Some(n)` consumed `n` bytes, `None` needs more.
    fn step_c2s(&mut self) -> Option<usize> {
        let buf = self.buf[0].as_slice();
        match self.c2s {
            C2s::Greeting => {
                if buf.first() == Some(&4) {
                    match parser::socks4_request(buf) {
                        Parsed::Done(r, n) => {
                            self.rec.version = Some(4);
                            self.rec.command = Some(parser::command_name(r.command).into());
                            self.rec.user = (!r.user_id.is_empty()).then_some(r.user_id);
                            self.set_destination(r.address, r.port);
                            self.c2s = C2s::Done;
                            self.s2c = S2c::Reply;
                            Some(n)
                        }
                        Parsed::Incomplete { .. } => None,
                        Parsed::Invalid(e) => {
                            self.fail(format!("c2s: {e}"));
                            None
                        }
                    }
                } else {
                    match parser::socks5_greeting(buf) {
                        Parsed::Done(m, n) => {
                            self.rec.version = Some(5);
                            self.rec.auth_methods_offered = m
                                .iter()
                                .map(|x| parser::method_name(*x).to_string())
                                .collect();
                            self.c2s = C2s::Auth;
                            Some(n)
                        }
                        Parsed::Incomplete { .. } => None,
                        Parsed::Invalid(e) => {
                            self.fail(format!("c2s: {e}"));
                            None
                        }
                    }
                }
            }
            C2s::Auth => match buf.first() {
                // Username/password sub-negotiation (version byte 1) or straight to the request.
                Some(1) => match parser::socks5_userpass(buf) {
                    Parsed::Done(user, n) => {
                        self.rec.user = Some(user);
                        self.c2s = C2s::Request;
                        Some(n)
                    }
                    Parsed::Incomplete { .. } => None,
                    Parsed::Invalid(e) => {
                        self.fail(format!("c2s: {e}"));
                        None
                    }
                },
                Some(_) => {
                    self.c2s = C2s::Request;
                    Some(0)
                }
                None => None,
            },
            C2s::Request => match parser::socks5_message(buf) {
                Parsed::Done(m, n) => {
                    self.rec.command = Some(parser::command_name(m.code).into());
                    self.set_destination(m.address, m.port);
                    self.c2s = C2s::Done;
                    Some(n)
                }
                Parsed::Incomplete { .. } => None,
                Parsed::Invalid(e) => {
                    self.fail(format!("c2s: {e}"));
                    None
                }
            },
            C2s::Done => None,
        }
    }

    fn step_s2c(&mut self) -> Option<usize> {
        let buf = self.buf[1].as_slice();
        match self.s2c {
            S2c::Method => match parser::socks5_method(buf) {
                Parsed::Done(m, n) => {
                    self.rec.auth_method = Some(parser::method_name(m).into());
                    self.s2c = match m {
                        2 => S2c::AuthReply,
                        0xff => S2c::Done,
                        _ => S2c::Reply,
                    };
                    Some(n)
                }
                Parsed::Incomplete { .. } => None,
                Parsed::Invalid(e) => {
                    self.fail(format!("s2c: {e}"));
                    None
                }
            },
            S2c::AuthReply => match parser::socks5_userpass_reply(buf) {
                Parsed::Done(s, n) => {
                    self.rec.auth_succeeded = Some(s == 0);
                    self.s2c = if s == 0 { S2c::Reply } else { S2c::Done };
                    Some(n)
                }
                Parsed::Incomplete { .. } => None,
                Parsed::Invalid(e) => {
                    self.fail(format!("s2c: {e}"));
                    None
                }
            },
            S2c::Reply if self.rec.version == Some(4) => match parser::socks4_reply(buf) {
                Parsed::Done(cd, n) => {
                    self.rec.reply_code = Some(cd);
                    self.rec.status = Some(parser::socks4_status(cd).into());
                    self.s2c = S2c::Done;
                    Some(n)
                }
                Parsed::Incomplete { .. } => None,
                Parsed::Invalid(e) => {
                    self.fail(format!("s2c: {e}"));
                    None
                }
            },
            S2c::Reply => match parser::socks5_message(buf) {
                Parsed::Done(m, n) => {
                    self.rec.reply_code = Some(m.code);
                    self.rec.status = Some(parser::socks5_status(m.code).into());
                    self.rec.bound = Some(m.address.to_string());
                    self.rec.bound_port = Some(m.port);
                    self.s2c = S2c::Done;
                    Some(n)
                }
                Parsed::Incomplete { .. } => None,
                Parsed::Invalid(e) => {
                    self.fail(format!("s2c: {e}"));
                    None
                }
            },
            S2c::Done => None,
        }
    }

    fn run(&mut self) {
        loop {
            if self.stopped {
                return;
            }
            let progressed = match (self.step_c2s(), self.stopped) {
                (Some(n), false) => {
                    self.buf[0].drain(..n.min(self.buf[0].len()));
                    true
                }
                _ => false,
            };
            let progressed_s = match (self.step_s2c(), self.stopped) {
                (Some(n), false) => {
                    self.buf[1].drain(..n.min(self.buf[1].len()));
                    true
                }
                _ => false,
            };
            if !progressed && !progressed_s {
                break;
            }
        }
        let granted = matches!(self.rec.reply_code, Some(0) | Some(90));
        if self.c2s == C2s::Done
            && self.s2c == S2c::Done
            && granted
            && self.rec.command.as_deref() == Some("connect")
            && !self.handed_off
            && self.handoff.is_none()
        {
            self.handoff = Some(Handoff {
                pending: [
                    std::mem::take(&mut self.buf[0]),
                    std::mem::take(&mut self.buf[1]),
                ],
                ts: self.ts,
            });
        }
    }
}

impl StreamAnalyzer for SocksStream {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        if self.stopped || self.handed_off {
            return;
        }
        let i = dir.index();
        if self.buf[i].is_empty() {
            self.ts[i] = ts;
        }
        if self.buf[i].len() + data.len() > MAX_HANDOFF_BYTES {
            self.fail(format!(
                "{}: more than 64 KiB before the handshake ended",
                dir.short()
            ));
            return;
        }
        self.buf[i].extend_from_slice(data);
        self.run();
    }

    fn on_gap(&mut self, dir: Direction, _len: u64, _ts: Timestamp) {
        if !self.handed_off {
            self.fail(format!("{}: gap during the handshake", dir.short()));
        }
    }
}

impl AppAnalyzer for SocksStream {
    fn name(&self) -> &'static str {
        match self.rec.version {
            Some(4) => "socks4",
            _ => "socks5",
        }
    }

    type Record = SocksRecord;

    fn summarize(&self) -> SocksRecord {
        self.rec.clone()
    }

    fn take_handoff(&mut self) -> Option<Handoff> {
        let h = self.handoff.take()?;
        self.handed_off = true;
        Some(h)
    }
}

#[cfg(test)]
mod tests;
