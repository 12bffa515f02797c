//! TLS over TCP: the record layer over a reassembled stream, the handshake messages in it
//! (ClientHello, ServerHello, TLS 1.2 Certificate), alerts, and application-data volume.
//!
//! # Contracts
//!
//! - Detection ([`detect`]) accepts a stream that starts with a ClientHello record, or
//!   (mid-stream, e.g. after a tunnel hand-off or a capture that misses the start) any
//!   plausible record header. A stream whose first record is a ServerHello sent by the
//!   "client" is [`Detection::MatchReversed`].
//! - Buffering per direction is bounded: one record ([`record::MAX_FRAGMENT_LEN`] + 5) and
//!   one handshake message ([`MAX_HANDSHAKE_BYTES`]). Bigger declared lengths are
//!   anomalies; that direction stops being parsed (its bytes are still counted).
//! - A gap stops parsing in that direction: record boundaries cannot be trusted after it
//!   and nothing is invented (a ClientHello missing a segment gives no SNI).
//! - Handshake time is from the ClientHello to the first client application-data record
//!   (TLS 1.2: the first type-23 record; TLS 1.3: the second client type-23 record, the
//!   first one being the encrypted Finished).
//! - Certificates are read only while the server's handshake is in clear (TLS ≤ 1.2).

use super::record::{self, RecordParse, parse_record};
use crate::analyzers::api::{AppAnalyzer, Detection, StreamAnalyzer, TcpProtocol};
use crate::analyzers::tls::{
    HANDSHAKE_CLIENT_HELLO, HANDSHAKE_SERVER_HELLO, Ja4Transport, MAX_HANDSHAKE_BYTES,
    first_handshake_message, parse_client_hello, parse_server_hello,
};
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// The registration (see `crate::analyzers::registry`).
pub static PROTOCOL: TcpProtocol<TlsStream> = TcpProtocol {
    name: "tls",
    detect,
    start: TlsStream::new,
};
use super::x509;
pub use super::x509::CertInfo;

/// Most certificates and alerts kept per connection.
const MAX_CERTS: usize = 8;
const MAX_ALERTS: usize = 16;
const MAX_ANOMALIES: usize = 16;

/// Probe the first bytes of both directions.
pub fn detect(c2s: &[u8], s2c: &[u8]) -> Detection {
    let hello_type = |b: &[u8]| -> Option<u8> {
        match parse_record_header(b)? {
            (record::CONTENT_HANDSHAKE, _) => b.get(5).copied(),
            _ => None,
        }
    };
    if c2s.len() < 6 && !c2s.is_empty() {
        return if c2s.first().is_some_and(|&b| b == record::CONTENT_HANDSHAKE)
            || c2s.len() < 2
            || header_prefix_ok(c2s)
        {
            Detection::NeedMore
        } else {
            Detection::NotMine
        };
    }
    if !c2s.is_empty() {
        return match hello_type(c2s) {
            Some(HANDSHAKE_CLIENT_HELLO) => Detection::Match,
            Some(HANDSHAKE_SERVER_HELLO) => Detection::MatchReversed,
            Some(_) => Detection::Match,
            // Mid-stream: an application-data / alert / CCS record header.
            None if parse_record_header(c2s).is_some() => Detection::Match,
            None => Detection::NotMine,
        };
    }
    match hello_type(s2c) {
        Some(HANDSHAKE_CLIENT_HELLO) => Detection::MatchReversed,
        Some(_) => Detection::Match,
        None if parse_record_header(s2c).is_some() => Detection::Match,
        None if s2c.len() < 6 => Detection::NeedMore,
        None => Detection::NotMine,
    }
}

fn header_prefix_ok(b: &[u8]) -> bool {
    let ct = b.first().copied().unwrap_or(0);
    let major = b.get(1).copied().unwrap_or(3);
    let minor = b.get(2).copied().unwrap_or(0);
    record::plausible_header(ct, major, minor)
}

/// `(content type, length)` when the first 5 bytes are a plausible record header.
fn parse_record_header(b: &[u8]) -> Option<(u8, usize)> {
    let [ct, major, minor, l0, l1] = *b.first_chunk::<5>()?;
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    (record::plausible_header(ct, major, minor) && len <= record::MAX_FRAGMENT_LEN && len > 0)
        .then_some((ct, len))
}

/// `(content type, body length)` of a record header at the start of `b` (unchecked: call
/// after `parse_record` accepted it).
fn record_header(b: &[u8]) -> Option<(u8, usize)> {
    let [ct, _, _, l0, l1] = *b.first_chunk::<5>()?;
    Some((ct, usize::from(u16::from_be_bytes([l0, l1]))))
}

/// A TLS alert as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertInfo {
    pub direction: Direction,
    /// `None` when the alert was encrypted.
    pub level: Option<u8>,
    pub description: Option<String>,
}

/// What one TLS connection showed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsRecord {
    pub client: String,
    pub server: String,
    /// The negotiated version (`TLSv12`, `TLSv13`, ...), from the ServerHello.
    pub version: Option<String>,
    /// Versions the client offered (supported_versions, else its legacy version).
    pub client_versions: Vec<String>,
    pub sni: Option<String>,
    /// Protocols the client offered (ALPN), in its order.
    pub alpn: Vec<String>,
    /// The protocol the server chose, from the ServerHello (TLS ≤ 1.2; a TLS 1.3 server
    /// says it under encryption).
    pub alpn_selected: Option<String>,
    pub cipher_suites: Vec<u16>,
    pub groups: Vec<u16>,
    pub ja3: Option<String>,
    pub ja3_string: Option<String>,
    pub ja4: Option<String>,
    pub ja3s: Option<String>,
    pub cipher: Option<String>,
    pub certificates: Vec<CertInfo>,
    pub alerts: Vec<AlertInfo>,
    /// ClientHello to the end of the handshake, in milliseconds: the client's last flight
    /// (its ChangeCipherSpec, else its Finished) or, in a full TLS 1.2 handshake, the
    /// server's Finished when that comes later; when neither could be placed, the client's
    /// first application data. The client's ChangeCipherSpec rather than its Finished,
    /// because a client's Finished often waits in its socket behind the CCS (Nagle and
    /// delayed ACK: tens of milliseconds) after the client finished the handshake.
    pub handshake_ms: Option<f64>,
    pub app_bytes_c2s: u64,
    pub app_bytes_s2c: u64,
    pub records_c2s: u64,
    pub records_s2c: u64,
    /// No ClientHello was seen: the stream was picked up after the handshake started.
    pub mid_stream: bool,
    pub gap_bytes: u64,
    pub anomalies: Vec<String>,
}

/// A record whose body is counted, not read (application data, anything encrypted).
#[derive(Clone, Copy)]
struct Skip {
    content_type: u8,
    len: usize,
    remaining: usize,
}

#[derive(Default)]
struct Side {
    /// Bytes of the record being assembled: a header cut by a segment boundary, or a
    /// record whose body is read (plaintext handshake or alert) and arrives in pieces.
    buf: Vec<u8>,
    /// The record being skipped, if any.
    skip: Option<Skip>,
    /// Handshake bytes spanning records.
    hs: Vec<u8>,
    /// After ChangeCipherSpec (or TLS 1.3 handshake traffic): records are opaque.
    encrypted: bool,
    /// Parsing stopped (gap or garbage); bytes are only counted.
    stopped: bool,
    app_records: u64,
    bytes: u64,
}

/// Per-connection TLS state.
#[derive(Default)]
pub struct TlsStream {
    sides: [Side; 2],
    rec: TlsRecord,
    client_hello_ts: Option<Timestamp>,
    seen_client_hello: bool,
    tls13: bool,
    /// When the client's last flight started (CCS or Finished) / the server's Finished
    /// (TLS 1.2) was seen.
    finished_ts: [Option<Timestamp>; 2],
}

impl TlsStream {
    pub fn new() -> Self {
        TlsStream::default()
    }

    fn anomaly(&mut self, what: String) {
        if self.rec.anomalies.len() < MAX_ANOMALIES {
            self.rec.anomalies.push(what);
        }
    }

    /// Whether a record's body is parsed (else it is only counted, never buffered).
    fn reads_body(&self, dir: Direction, content_type: u8) -> bool {
        !self.sides[dir.index()].encrypted
            && matches!(
                content_type,
                record::CONTENT_HANDSHAKE | record::CONTENT_ALERT
            )
    }

    /// Not a TLS record where one should start: that direction stops being parsed.
    fn invalid(&mut self, dir: Direction, why: &str, at: u64) {
        self.anomaly(format!("{}: {why} at stream byte {at}", dir.short()));
        let side = &mut self.sides[dir.index()];
        side.stopped = true;
        side.buf.clear();
    }

    /// Handles the records that start at `data[0]` (nothing held), reading bodies in place;
    /// keeps a cut header or a cut readable record. Returns what is left (empty, or the
    /// body of a record to skip).
    fn records_in_place<'d>(&mut self, dir: Direction, data: &'d [u8], ts: Timestamp) -> &'d [u8] {
        let i = dir.index();
        let at = |side: &Side, rest: &[u8]| side.bytes - rest.len() as u64;
        let mut data = data;
        while !data.is_empty() {
            match parse_record(data) {
                RecordParse::Invalid(why) => {
                    let pos = at(&self.sides[i], data);
                    self.invalid(dir, why, pos);
                    return &[];
                }
                RecordParse::Done(rec, used) if self.reads_body(dir, rec.content_type) => {
                    self.on_record(dir, rec.content_type, rec.fragment, rec.fragment.len(), ts);
                    data = data.get(used..).unwrap_or_default();
                    if self.sides[i].stopped {
                        return &[];
                    }
                }
                RecordParse::Done(..) | RecordParse::Incomplete { .. } => {
                    let Some((content_type, len)) = record_header(data) else {
                        // A header cut by the end of the data.
                        self.sides[i].buf.extend_from_slice(data);
                        return &[];
                    };
                    if self.reads_body(dir, content_type) {
                        // A readable record cut by the end of the data (parse_record
                        // checked its length against the maximum).
                        self.sides[i].buf.extend_from_slice(data);
                        return &[];
                    }
                    self.sides[i].skip = Some(Skip {
                        content_type,
                        len,
                        remaining: len,
                    });
                    return data.get(record::RECORD_HEADER_LEN..).unwrap_or_default();
                }
            }
        }
        data
    }

    /// Completes the header or readable record held in `buf` from `data`. Returns what is
    /// left of `data`.
    fn records_held<'d>(&mut self, dir: Direction, data: &'d [u8], ts: Timestamp) -> &'d [u8] {
        let i = dir.index();
        let header_len = record::RECORD_HEADER_LEN;
        let mut data = data;
        let held = self.sides[i].buf.len();
        if held < header_len {
            let n = (header_len - held).min(data.len());
            self.sides[i]
                .buf
                .extend_from_slice(data.get(..n).unwrap_or_default());
            data = data.get(n..).unwrap_or_default();
            let buf = &self.sides[i].buf;
            if let RecordParse::Invalid(why) = parse_record(buf) {
                let pos = self.sides[i].bytes - (data.len() + buf.len()) as u64;
                self.invalid(dir, why, pos);
                return &[];
            }
            let Some((content_type, len)) = record_header(buf) else {
                return &[];
            };
            if !self.reads_body(dir, content_type) {
                self.sides[i].buf.clear();
                self.sides[i].skip = Some(Skip {
                    content_type,
                    len,
                    remaining: len,
                });
                return data;
            }
        }
        // A readable record's body is being completed.
        let Some((content_type, len)) = record_header(&self.sides[i].buf) else {
            return &[];
        };
        let total = header_len + len;
        let n = total
            .saturating_sub(self.sides[i].buf.len())
            .min(data.len());
        self.sides[i]
            .buf
            .extend_from_slice(data.get(..n).unwrap_or_default());
        data = data.get(n..).unwrap_or_default();
        if self.sides[i].buf.len() < total {
            return &[];
        }
        let mut buf = std::mem::take(&mut self.sides[i].buf);
        let fragment = buf.get(header_len..).unwrap_or_default();
        self.on_record(dir, content_type, fragment, fragment.len(), ts);
        buf.clear();
        if !self.sides[i].stopped {
            // Keep the allocation for the next cut record (at most one record long).
            self.sides[i].buf = buf;
        }
        data
    }

    /// A whole record: `fragment` is its body when read (empty when skipped), `len` the
    /// body's length either way.
    fn on_record(&mut self, dir: Direction, ct: u8, fragment: &[u8], len: usize, ts: Timestamp) {
        let i = dir.index();
        match dir {
            Direction::ClientToServer => self.rec.records_c2s += 1,
            Direction::ServerToClient => self.rec.records_s2c += 1,
        }
        match ct {
            record::CONTENT_CHANGE_CIPHER_SPEC => {
                self.sides[i].encrypted = true;
                if dir == Direction::ClientToServer {
                    self.finished(dir, ts);
                }
            }
            record::CONTENT_ALERT => {
                let alert = (!self.sides[i].encrypted)
                    .then(|| record::parse_alert(fragment))
                    .flatten();
                if self.rec.alerts.len() < MAX_ALERTS {
                    self.rec.alerts.push(AlertInfo {
                        direction: dir,
                        level: alert.map(|a| a.level),
                        description: alert.map(|a| record::alert_name(a.description).into()),
                    });
                }
            }
            record::CONTENT_HANDSHAKE if !self.sides[i].encrypted => {
                self.on_handshake_bytes(dir, fragment, ts)
            }
            // The first handshake record after ChangeCipherSpec is the (encrypted) Finished.
            record::CONTENT_HANDSHAKE if !self.tls13 => self.finished(dir, ts),
            record::CONTENT_APPLICATION_DATA => {
                let side = &mut self.sides[i];
                side.app_records += 1;
                // In TLS 1.3 the client's first type-23 record is its Finished.
                let is_app =
                    !(self.tls13 && dir == Direction::ClientToServer && side.app_records == 1);
                if !is_app {
                    self.finished(dir, ts);
                }
                if is_app {
                    match dir {
                        Direction::ClientToServer => {
                            self.rec.app_bytes_c2s += len as u64;
                            if self.rec.handshake_ms.is_none()
                                && let Some(t0) = self.client_hello_ts
                            {
                                self.rec.handshake_ms = Some(ts.millis_since(t0));
                            }
                        }
                        Direction::ServerToClient => self.rec.app_bytes_s2c += len as u64,
                    }
                }
            }
            _ => {}
        }
    }

    /// A side's last handshake flight was seen: the handshake ends with the client's (TLS
    /// 1.3) or with the later of both (TLS 1.2).
    fn finished(&mut self, dir: Direction, ts: Timestamp) {
        let i = dir.index();
        if self.finished_ts[i].is_some() {
            return;
        }
        self.finished_ts[i] = Some(ts);
        let done = match self.finished_ts {
            [Some(c), _] if self.tls13 => Some(c),
            [Some(c), Some(s)] => Some(c.max(s)),
            _ => None,
        };
        if let Some(ts) = done {
            self.handshake_done(ts);
        }
    }

    fn handshake_done(&mut self, ts: Timestamp) {
        if self.rec.handshake_ms.is_none()
            && let Some(t0) = self.client_hello_ts
        {
            self.rec.handshake_ms = Some(ts.millis_since(t0));
        }
    }

    fn on_handshake_bytes(&mut self, dir: Direction, fragment: &[u8], ts: Timestamp) {
        let i = dir.index();
        if self.sides[i].hs.len() + fragment.len() > MAX_HANDSHAKE_BYTES + 4 {
            self.anomaly(format!("{}: handshake message over 64 KiB", dir.short()));
            self.sides[i].hs.clear();
            self.sides[i].stopped = true;
            return;
        }
        self.sides[i].hs.extend_from_slice(fragment);
        loop {
            let hs = std::mem::take(&mut self.sides[i].hs);
            match first_handshake_message(&hs) {
                Ok((ty, body, total)) => {
                    let msg = hs.get(..total).unwrap_or_default();
                    self.on_handshake_message(dir, ty, msg, body, ts);
                    self.sides[i].hs = hs.get(total..).unwrap_or_default().to_vec();
                    if self.sides[i].encrypted || self.sides[i].stopped {
                        self.sides[i].hs.clear();
                        return;
                    }
                }
                Err(_) => {
                    self.sides[i].hs = hs;
                    return;
                }
            }
        }
    }

    fn on_handshake_message(
        &mut self,
        dir: Direction,
        ty: u8,
        msg: &[u8],
        body: &[u8],
        ts: Timestamp,
    ) {
        match (dir, ty) {
            (Direction::ClientToServer, HANDSHAKE_CLIENT_HELLO) if !self.seen_client_hello => {
                self.seen_client_hello = true;
                self.client_hello_ts = Some(ts);
                match parse_client_hello(msg) {
                    Ok(ch) => {
                        let pf = record::ec_point_formats(msg).unwrap_or_default();
                        let ja3 = record::ja3_string(&ch, &pf);
                        self.rec.ja3 =
                            Some(crate::analyzers::fingerprints::md5_hex(ja3.as_bytes()));
                        self.rec.ja3_string = Some(ja3);
                        self.rec.ja4 = Some(ch.ja4(Ja4Transport::Tcp));
                        self.rec.sni = ch.sni.clone();
                        self.rec.alpn = ch.alpn.clone();
                        self.rec.cipher_suites = ch.cipher_suites.clone();
                        self.rec.groups = ch.supported_groups.clone();
                        self.rec.client_versions = if ch.supported_versions.is_empty() {
                            vec![record::version_name(ch.legacy_version)]
                        } else {
                            ch.supported_versions
                                .iter()
                                .filter(|v| !crate::analyzers::tls::is_grease(**v))
                                .map(|v| record::version_name(*v))
                                .collect()
                        };
                    }
                    Err(e) => self.anomaly(format!("ClientHello: {e}")),
                }
            }
            (Direction::ServerToClient, HANDSHAKE_SERVER_HELLO) if self.rec.cipher.is_none() => {
                match parse_server_hello(msg) {
                    Ok(sh) => {
                        let v = sh.selected_version();
                        self.tls13 = v == 0x0304 || (0x7f00..=0x7fff).contains(&v) || v == 0xfb1a;
                        self.rec.version = Some(record::version_name(v));
                        self.rec.cipher = Some(record::cipher_name(sh.cipher_suite));
                        self.rec.alpn_selected.clone_from(&sh.alpn);
                        self.rec.ja3s = Some(crate::analyzers::fingerprints::md5_hex(
                            record::ja3s_string(&sh).as_bytes(),
                        ));
                        if self.tls13 {
                            // Everything after the ServerHello is under handshake keys.
                            self.sides[dir.index()].encrypted = true;
                        }
                    }
                    Err(e) => self.anomaly(format!("ServerHello: {e}")),
                }
            }
            (Direction::ServerToClient, record::HANDSHAKE_CERTIFICATE) => {
                for der in record::certificate_list(body).into_iter().take(MAX_CERTS) {
                    match x509::parse_certificate(der) {
                        Ok(c) if self.rec.certificates.len() < MAX_CERTS => {
                            self.rec.certificates.push(c)
                        }
                        Ok(_) => {}
                        Err(e) => self.anomaly(format!("certificate: {}", e.0)),
                    }
                }
            }
            _ => {}
        }
    }
}

impl StreamAnalyzer for TlsStream {
    fn on_data(&mut self, dir: Direction, data: &[u8], ts: Timestamp) {
        let i = dir.index();
        self.sides[i].bytes += data.len() as u64;
        let mut data = data;
        while !self.sides[i].stopped {
            // The body of a record that is only counted: skipped without being copied.
            if let Some(skip) = &mut self.sides[i].skip {
                let n = skip.remaining.min(data.len());
                skip.remaining -= n;
                data = data.get(n..).unwrap_or_default();
                if skip.remaining > 0 {
                    return;
                }
                let Skip {
                    content_type, len, ..
                } = *skip;
                self.sides[i].skip = None;
                self.on_record(dir, content_type, &[], len, ts);
                continue;
            }
            if data.is_empty() {
                return;
            }
            if self.sides[i].buf.is_empty() {
                data = self.records_in_place(dir, data, ts);
            } else {
                data = self.records_held(dir, data, ts);
            }
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, _ts: Timestamp) {
        let side = &mut self.sides[dir.index()];
        side.stopped = true;
        side.buf = Vec::new();
        side.skip = None;
        side.hs.clear();
        self.rec.gap_bytes += len;
    }
}

impl AppAnalyzer for TlsStream {
    fn name(&self) -> &'static str {
        "tls"
    }

    type Record = TlsRecord;

    fn summarize(&self) -> TlsRecord {
        let mut rec = self.rec.clone();
        rec.mid_stream = !self.seen_client_hello;
        rec
    }
}

#[cfg(test)]
pub(crate) mod tests;
