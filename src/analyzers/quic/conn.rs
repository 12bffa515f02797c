//! Per-flow QUIC state: what a passive observer learns from one UDP 4-tuple.
//!
//! [`QuicFlow::on_datagram`] takes each UDP payload with its direction and capture time;
//! [`QuicFlow::summarize`] gives a serde-serialisable [`QuicSummary`]. No I/O, no clock.
//!
//! What it tracks: version (the latest Initial's, so compatible version negotiation shows
//! the final one), client original DCID, client SCID, server SCID (first server long
//! header), Retry (its integrity tag is verified against the DCID it answers; the client's
//! next Initial DCID is the one Initial keys derive from afterwards), Version Negotiation,
//! 0-RTT, datagrams and UDP payload bytes each way, handshake times, and the ClientHello
//! (SNI, ALPN list, JA4) and ServerHello (version, cipher) reassembled from Initial CRYPTO
//! frames in any order.
//!
//! Contracts and bounds:
//! * Never panics on any input; a malformed packet is counted as an anomaly (reason and
//!   first time) and skipped. Anomaly reasons are a fixed set of static strings, so the
//!   anomaly list is bounded.
//! * Each direction's Initial CRYPTO stream buffers at most 64 KiB
//!   ([`super::initial::MAX_CRYPTO_BYTES`]); past that, bytes are dropped with an anomaly
//!   and a hello that does not fit is never parsed.
//! * CIDs are at most 255 bytes each (the invariants' limit); at most
//!   [`MAX_VN_VERSIONS`] versions of a Version Negotiation packet are kept.
//! * `packets_*` count UDP datagrams, `bytes_*` UDP payload bytes (coalesced QUIC packets
//!   are one datagram).
//! * Grouping flows by CID across 4-tuples (migration) is left to the caller
//!   ([`super::group`]): the CIDs are exposed by [`QuicFlow::identity_cids`].
//! * Activity is kept as at most [`MAX_ACTIVITY_SPANS`] time spans (datagrams less than
//!   [`ACTIVITY_GAP_NS`] apart share a span; past the cap the last span grows).
//! * A flow can also start in the middle of a known connection ([`QuicFlow::joined`]): a
//!   short header whose DCID is a CID seen in another flow's handshake (NAT rebinding or
//!   migration without a new CID).

use super::header::{LongHeader, LongType, Packet, packets};
use super::initial::{CryptoStream, Frame, FrameError, Frames, InitialKeys, open_long};
use super::keys::verify_retry;
pub use super::record::{AnomalyCount, QuicPath, QuicSummary};
use super::version::{Version, VersionKind};
use crate::analyzers::tls::{
    ClientHello, Ja4Transport, ServerHello, TlsError, first_handshake_message, hex,
    parse_client_hello, parse_server_hello,
};
use crate::flow::Direction;
use crate::timestamp::Timestamp;

/// Most versions kept from a Version Negotiation packet.
pub const MAX_VN_VERSIONS: usize = 16;
/// Distinct short-header DCIDs kept per direction.
pub const MAX_SHORT_DCIDS: usize = 16;
/// Most activity spans kept per flow.
pub const MAX_ACTIVITY_SPANS: usize = 1024;
/// Datagrams closer than this (20 ms) belong to one activity span.
pub const ACTIVITY_GAP_NS: i64 = 20_000_000;

/// v2ray's default TLS server names (v2fly, then v2ray/v2ray-core; spec §6.4).
pub const V2RAY_DEFAULT_SNI: [&str; 2] = ["quic.internal.v2fly.org", "quic.internal.v2ray.com"];

/// Per-flow QUIC state (see the module doc).
#[derive(Debug, Default)]
pub struct QuicFlow {
    version: Option<Version>,
    client_dcid: Option<Vec<u8>>,
    client_scid: Option<Vec<u8>>,
    server_scid: Option<Vec<u8>>,
    /// DCID the Initial keys derive from (the original DCID, or the post-Retry one).
    keys_dcid: Option<Vec<u8>>,
    retry_scid: Option<Vec<u8>>,
    retry_dcid: Option<Vec<u8>>,
    keys: Option<(Version, Vec<u8>, InitialKeys)>,
    largest_pn: [Option<u64>; 2],
    crypto: [CryptoStream; 2],
    client_hello: Option<ClientHello>,
    server_hello: Option<ServerHello>,
    retry: bool,
    retry_tag_valid: Option<bool>,
    awaiting_post_retry_initial: bool,
    vn: bool,
    vn_versions: Vec<Version>,
    zero_rtt: bool,
    packets: [u64; 2],
    bytes: [u64; 2],
    t_client_initial: Option<Timestamp>,
    t_server_handshake: Option<Timestamp>,
    t_client_short: Option<Timestamp>,
    connection_close: Option<(Direction, u64)>,
    anomalies: Vec<AnomalyCount>,
    activity: Vec<(Timestamp, Timestamp)>,
    /// Distinct DCIDs of short headers each way (CIDs issued in NEW_CONNECTION_ID frames show
    /// up here), at most [`MAX_SHORT_DCIDS`] each.
    short_dcids: [Vec<Vec<u8>>; 2],
    /// Set when a CID was learned; cleared by [`QuicFlow::take_new_cids`].
    cids_dirty: bool,
    /// The flow's roles are the reverse of the caller's (learned from a joined CID).
    reversed: bool,
    /// SNI from a legacy Google QUIC (Q0xx before Q050) plaintext CHLO.
    gquic_sni: Option<String>,
}

/// The version of a legacy Google QUIC client packet (Q001-Q049: the public header of
/// Q043 and earlier, or the Q046-Q049 long header), as the first-datagram detector knows
/// them; Q050 and later use IETF-style encrypted Initials and are parsed as those.
fn legacy_gquic_version(d: &[u8]) -> Option<Version> {
    let v = super::header::detect_version(d)?;
    matches!(v.kind(), VersionKind::GoogleQ(n) if n < 50).then_some(v)
}

/// Most tag entries read from a CHLO (gQUIC's `kMaxEntries` is 128).
const MAX_CHLO_TAGS: usize = 128;

/// The `SNI` tag of the first plaintext CHLO in a legacy gQUIC datagram: the message
/// (`CHLO`, u16 LE tag count, u16 padding, then per tag its 4-byte name and u32 LE end
/// offset, then the values) is found by its tag, bounds-checked throughout. An SNI that is
/// empty, longer than 255 bytes or not printable ASCII is not taken.
fn gquic_chlo_sni(d: &[u8]) -> Option<String> {
    let at = d.windows(4).position(|w| w == b"CHLO")?;
    let m = d.get(at..)?;
    let n = usize::from(u16::from_le_bytes([*m.get(4)?, *m.get(5)?]));
    if n == 0 || n > MAX_CHLO_TAGS {
        return None;
    }
    let values = m.get(8 + 8 * n..)?;
    let mut start = 0usize;
    for i in 0..n {
        let e = m.get(8 + 8 * i..16 + 8 * i)?;
        let end = u32::from_le_bytes([*e.get(4)?, *e.get(5)?, *e.get(6)?, *e.get(7)?]) as usize;
        if end < start {
            return None;
        }
        if e.get(..4)? == b"SNI\0" {
            let v = values.get(start..end)?;
            let ok = !v.is_empty() && v.len() <= 255 && v.iter().all(u8::is_ascii_graphic);
            return ok.then(|| String::from_utf8_lossy(v).into_owned());
        }
        start = end;
    }
    None
}

fn hexo(v: &Option<Vec<u8>>) -> Option<String> {
    v.as_deref().map(hex)
}

impl QuicFlow {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn version(&self) -> Option<Version> {
        self.version
    }
    pub fn client_dcid(&self) -> Option<&[u8]> {
        self.client_dcid.as_deref()
    }
    pub fn client_scid(&self) -> Option<&[u8]> {
        self.client_scid.as_deref()
    }
    pub fn server_scid(&self) -> Option<&[u8]> {
        self.server_scid.as_deref()
    }
    pub fn retry_dcid(&self) -> Option<&[u8]> {
        self.retry_dcid.as_deref()
    }
    pub fn client_hello(&self) -> Option<&ClientHello> {
        self.client_hello.as_ref()
    }
    pub fn server_hello(&self) -> Option<&ServerHello> {
        self.server_hello.as_ref()
    }
    pub fn anomalies(&self) -> &[AnomalyCount] {
        &self.anomalies
    }

    /// A flow that starts in the middle of a known connection: `cid` was seen as the
    /// server's SCID (`owner_is_server`) or the client's, and the first datagram, sent in
    /// direction `dir` as the caller sees it, carries it as its DCID. When that makes the
    /// caller's client the QUIC server, the flow swaps directions ([`QuicFlow::reversed`]).
    pub fn joined(cid: &[u8], owner_is_server: bool, dir: Direction) -> Self {
        let mut f = QuicFlow::new();
        // A datagram to the server's CID comes from the client, and vice versa.
        let sender_is_client = owner_is_server;
        f.reversed = sender_is_client != (dir == Direction::ClientToServer);
        if owner_is_server {
            f.server_scid = Some(cid.to_vec());
        } else {
            f.client_scid = Some(cid.to_vec());
        }
        f
    }

    /// Whether the caller's client is this flow's QUIC server.
    pub fn reversed(&self) -> bool {
        self.reversed
    }

    /// The connection IDs that identify this connection across flows: the client's original
    /// and post-Retry DCIDs, both sides' handshake SCIDs and the DCIDs seen in short headers
    /// (zero-length ones left out).
    pub fn identity_cids(&self) -> Vec<Vec<u8>> {
        [&self.client_dcid, &self.retry_dcid]
            .into_iter()
            .flatten()
            .map(Vec::as_slice)
            .chain(self.owned_cids().into_iter().map(|(c, _)| c))
            .filter(|c| !c.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// CIDs an endpoint chose, with whether it was the server: the handshake SCIDs and the
    /// DCIDs of short headers (client-to-server ones are the server's).
    pub fn owned_cids(&self) -> Vec<(&[u8], bool)> {
        let mut out = Vec::new();
        out.extend(self.server_scid.as_deref().map(|c| (c, true)));
        out.extend(self.client_scid.as_deref().map(|c| (c, false)));
        out.extend(self.short_dcids[0].iter().map(|c| (c.as_slice(), true)));
        out.extend(self.short_dcids[1].iter().map(|c| (c.as_slice(), false)));
        out
    }

    /// True once after the flow learned a new CID (handshake SCIDs, short-header DCIDs).
    pub fn take_new_cids(&mut self) -> bool {
        std::mem::take(&mut self.cids_dirty)
    }

    /// Activity spans (first, last datagram time), in time order.
    pub fn activity(&self) -> &[(Timestamp, Timestamp)] {
        &self.activity
    }

    /// Records a datagram's time in the activity spans.
    pub fn note_activity(&mut self, ts: Timestamp) {
        let full = self.activity.len() >= MAX_ACTIVITY_SPANS;
        match self.activity.last_mut() {
            Some((_, end)) if full || ts.nanos_since(*end) < ACTIVITY_GAP_NS => {
                *end = (*end).max(ts);
            }
            _ => self.activity.push((ts, ts)),
        }
    }

    fn anomaly(&mut self, reason: &'static str, ts: Timestamp) {
        match self.anomalies.iter_mut().find(|a| a.reason == reason) {
            Some(a) => a.count += 1,
            None => self.anomalies.push(AnomalyCount {
                reason,
                count: 1,
                first_ts: ts,
            }),
        }
    }

    /// Feed one UDP payload.
    pub fn on_datagram(&mut self, dir: Direction, payload: &[u8], ts: Timestamp) {
        let dir = if self.reversed { dir.reverse() } else { dir };
        self.note_activity(ts);
        let scids = (self.client_scid.is_some(), self.server_scid.is_some());
        self.on_datagram_inner(dir, payload, ts);
        if scids != (self.client_scid.is_some(), self.server_scid.is_some()) {
            self.cids_dirty = true;
        }
    }

    fn on_datagram_inner(&mut self, dir: Direction, payload: &[u8], ts: Timestamp) {
        let d = dir.index();
        self.packets[d] += 1;
        self.bytes[d] += payload.len() as u64;
        // Short headers carry the peer's chosen CID: the server's SCID client-to-server.
        let short_len = match dir {
            Direction::ClientToServer => self.server_scid.as_ref().map(Vec::len),
            Direction::ServerToClient => self.client_scid.as_ref().map(Vec::len),
        };
        if dir == Direction::ClientToServer
            && self.gquic_sni.is_none()
            && let Some(v) = legacy_gquic_version(payload)
        {
            // Legacy Google QUIC: its headers are not IETF QUIC's, and the CHLO is plaintext.
            self.version.get_or_insert(v);
            self.gquic_sni = gquic_chlo_sni(payload);
            if self.client_dcid.is_none() {
                self.t_client_initial.get_or_insert(ts);
            }
            return;
        }
        if self
            .version
            .is_some_and(|v| matches!(v.kind(), VersionKind::GoogleQ(n) if n < 50))
        {
            return; // later legacy gQUIC packets: counted, not parsed
        }
        let mut it = packets(payload, short_len);
        for r in &mut it {
            match r {
                Ok(p) => self.on_packet(dir, p, ts),
                Err(_) => self.anomaly("unparsable QUIC header", ts),
            }
        }
        if it.trailing().iter().any(|&b| b != 0) {
            self.anomaly("non-zero bytes after the last coalesced packet", ts);
        }
    }

    fn on_packet(&mut self, dir: Direction, p: Packet<'_>, ts: Timestamp) {
        let c2s = dir == Direction::ClientToServer;
        match p {
            Packet::Long(h) => self.on_long(dir, &h, ts),
            Packet::Retry(r) => {
                if c2s {
                    self.anomaly("Retry sent by the client", ts);
                    return;
                }
                self.retry = true;
                self.retry_scid = Some(r.scid.to_vec());
                self.awaiting_post_retry_initial = true;
                if let Some(odcid) = self.keys_dcid.as_deref()
                    && r.version.retry_key().is_some()
                {
                    let ok = verify_retry(r.version, odcid, r.bytes);
                    self.retry_tag_valid = Some(ok);
                    if !ok {
                        self.anomaly("Retry integrity tag does not verify", ts);
                    }
                }
            }
            Packet::VersionNegotiation(vn) => {
                if c2s {
                    self.anomaly("Version Negotiation sent by the client", ts);
                    return;
                }
                self.vn = true;
                for v in vn.versions() {
                    if self.vn_versions.len() < MAX_VN_VERSIONS {
                        self.vn_versions.push(v);
                    }
                }
            }
            Packet::Invariant(h) => {
                if self.version.is_none() {
                    self.version = Some(h.version);
                }
                if c2s && self.client_dcid.is_none() {
                    self.client_dcid = Some(h.dcid.to_vec());
                    self.client_scid = Some(h.scid.to_vec());
                    self.t_client_initial.get_or_insert(ts);
                }
            }
            Packet::Short(h) => {
                if c2s && self.t_client_initial.is_some() {
                    self.t_client_short.get_or_insert(ts);
                }
                if let Some(dcid) = h.dcid.filter(|d| !d.is_empty()) {
                    let seen = &mut self.short_dcids[dir.index()];
                    if seen.len() < MAX_SHORT_DCIDS && !seen.iter().any(|c| c == dcid) {
                        seen.push(dcid.to_vec());
                        self.cids_dirty = true;
                    }
                }
            }
        }
    }

    fn on_long(&mut self, dir: Direction, h: &LongHeader<'_>, ts: Timestamp) {
        let c2s = dir == Direction::ClientToServer;
        match (c2s, h.ty) {
            (true, LongType::Initial) => {
                self.version = Some(h.version);
                if self.client_dcid.is_none() {
                    self.client_dcid = Some(h.dcid.to_vec());
                    self.keys_dcid = Some(h.dcid.to_vec());
                    self.client_scid = Some(h.scid.to_vec());
                    self.t_client_initial = Some(ts);
                } else if self.awaiting_post_retry_initial {
                    self.awaiting_post_retry_initial = false;
                    if self.retry_scid.as_deref() != Some(h.dcid) {
                        self.anomaly("client Initial after Retry does not use the Retry SCID", ts);
                    }
                    self.retry_dcid = Some(h.dcid.to_vec());
                    self.keys_dcid = Some(h.dcid.to_vec());
                }
                self.open_initial(dir, h, ts);
            }
            (false, LongType::Initial) => {
                if self.server_scid.is_none() {
                    self.server_scid = Some(h.scid.to_vec());
                }
                if h.version.is_known() {
                    // Compatible version negotiation: the server's Initial names the final version.
                    self.version = Some(h.version);
                }
                self.open_initial(dir, h, ts);
            }
            (false, LongType::Handshake) => {
                if self.server_scid.is_none() {
                    self.server_scid = Some(h.scid.to_vec());
                }
                if self.t_client_initial.is_some() {
                    self.t_server_handshake.get_or_insert(ts);
                }
            }
            (true, LongType::ZeroRtt) => self.zero_rtt = true,
            (false, LongType::ZeroRtt) => self.anomaly("0-RTT packet sent by the server", ts),
            (true, LongType::Handshake) => {}
            // Retry is parsed as its own packet kind; the type cannot reach here.
            (_, LongType::Retry) => {}
        }
    }

    /// Initial keys for `version` derived from `dcid`, cached for the last pair used.
    fn keys_for(&mut self, version: Version, dcid: &[u8]) -> Option<&InitialKeys> {
        let fresh = match &self.keys {
            Some((v, d, _)) => *v != version || d.as_slice() != dcid,
            None => true,
        };
        if fresh {
            self.keys = InitialKeys::derive(version, dcid)
                .ok()
                .map(|k| (version, dcid.to_vec(), k));
        }
        self.keys.as_ref().map(|(_, _, k)| k)
    }

    fn open_initial(&mut self, dir: Direction, h: &LongHeader<'_>, ts: Timestamp) {
        let d = dir.index();
        if h.version.initial_salt().is_none() {
            return; // no keys known for this version: header only
        }
        // Keys from the connection's DCID; if the first Initial was missed, from this
        // packet's own DCID (a client Initial), as Wireshark and Suricata do.
        let mut candidates: Vec<Vec<u8>> = Vec::with_capacity(2);
        if let Some(k) = &self.keys_dcid {
            candidates.push(k.clone());
        }
        if dir == Direction::ClientToServer && self.keys_dcid.as_deref() != Some(h.dcid) {
            candidates.push(h.dcid.to_vec());
        }
        let largest = self.largest_pn[d];
        let mut opened = None;
        for dcid in &candidates {
            let Some(keys) = self.keys_for(h.version, dcid) else {
                continue;
            };
            let dk = if dir == Direction::ClientToServer {
                &keys.client
            } else {
                &keys.server
            };
            if let Ok(o) = open_long(dk, h, largest) {
                opened = Some(o);
                break;
            }
        }
        let Some(o) = opened else {
            self.anomaly("Initial packet does not decrypt", ts);
            return;
        };
        self.largest_pn[d] = Some(self.largest_pn[d].map_or(o.pn, |l| l.max(o.pn)));
        if o.reserved_bits != 0 {
            self.anomaly("reserved header bits set in a decrypted Initial", ts);
        }
        let gquic = matches!(
            h.version.kind(),
            VersionKind::GoogleQ(_) | VersionKind::GoogleT(_)
        );
        for f in Frames::new(&o.payload, gquic) {
            match f {
                Ok(Frame::Crypto { offset, data }) => {
                    if self.crypto[d].insert(offset, data).is_err() {
                        self.anomaly("CRYPTO data beyond the reassembly limit dropped", ts);
                    }
                }
                Ok(Frame::ConnectionClose { error_code, .. }) => {
                    self.connection_close.get_or_insert((dir, error_code));
                }
                Ok(_) => {}
                // gQUIC ACK/STOP_WAITING are not decoded: ending the walk there is normal.
                Err(FrameError::Unknown(_)) if gquic => {}
                Err(_) => self.anomaly("unexpected or truncated frame in an Initial", ts),
            }
        }
        self.try_parse_hello(dir, ts);
    }

    fn try_parse_hello(&mut self, dir: Direction, ts: Timestamp) {
        let c2s = dir == Direction::ClientToServer;
        if (c2s && self.client_hello.is_some()) || (!c2s && self.server_hello.is_some()) {
            return;
        }
        let stream = self.crypto[dir.index()].contiguous();
        match first_handshake_message(stream) {
            Err(TlsError::Incomplete { .. }) => {}
            Err(_) => self.anomaly("bad TLS handshake framing in CRYPTO", ts),
            Ok((_, _, total)) => {
                let msg = stream.get(..total).unwrap_or(&[]);
                if c2s {
                    match parse_client_hello(msg) {
                        Ok(ch) => self.client_hello = Some(ch),
                        Err(_) => self.anomaly("malformed ClientHello", ts),
                    }
                } else {
                    match parse_server_hello(msg) {
                        Ok(sh) => self.server_hello = Some(sh),
                        Err(_) => self.anomaly("malformed ServerHello", ts),
                    }
                }
            }
        }
    }

    pub fn summarize(&self) -> QuicSummary {
        let ms = |end: Option<Timestamp>| match (self.t_client_initial, end) {
            (Some(a), Some(b)) => Some(b.millis_since(a)),
            _ => None,
        };
        let ch = self.client_hello.as_ref();
        QuicSummary {
            version: self.version.map(|v| v.name()),
            client_dcid: hexo(&self.client_dcid),
            client_scid: hexo(&self.client_scid),
            server_scid: hexo(&self.server_scid),
            retry_dcid: hexo(&self.retry_dcid),
            sni: ch
                .and_then(|c| c.sni.clone())
                .or_else(|| self.gquic_sni.clone()),
            alpn: ch.map(|c| c.alpn.clone()).unwrap_or_default(),
            ja4: ch.map(|c| c.ja4(Ja4Transport::Quic)),
            handshake_ms: ms(self.t_client_short),
            server_handshake_ms: ms(self.t_server_handshake),
            packets_c2s: self.packets[0],
            packets_s2c: self.packets[1],
            bytes_c2s: self.bytes[0],
            bytes_s2c: self.bytes[1],
            zero_rtt: self.zero_rtt,
            retry: self.retry,
            retry_tag_valid: self.retry_tag_valid,
            version_negotiation: self.vn,
            vn_versions: self.vn_versions.iter().map(|v| v.name()).collect(),
            tls_version: self
                .server_hello
                .as_ref()
                .map(|s| format!("0x{:04x}", s.selected_version())),
            tls_cipher: self
                .server_hello
                .as_ref()
                .map(|s| format!("0x{:04x}", s.cipher_suite)),
            connection_close: self.connection_close,
            client_hello: self.client_hello.clone(),
            anomalies: self.anomalies.iter().map(|a| a.count).sum(),
            anomaly_reasons: self.anomalies.clone(),
            migrations: 0,
            paths: Vec::new(),
            disguise: None,
            security: None,
            v2ray: None,
            v2ray_fingerprints: self.v2ray_fingerprints(),
        }
    }

    /// Spec §6.4: v2ray's QUIC transport without `tlsSettings` sends SNI
    /// `quic.internal.v2fly.org` (or `…v2ray.com`), offers ALPN `h2,http/1.1`, and uses
    /// 12-byte connection IDs on both sides.
    fn v2ray_fingerprints(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let ch = self.client_hello.as_ref();
        if ch
            .and_then(|c| c.sni.as_deref())
            .is_some_and(|s| V2RAY_DEFAULT_SNI.contains(&s))
        {
            out.push("v2ray default SNI");
        }
        if ch.is_some_and(|c| c.alpn == ["h2", "http/1.1"]) {
            out.push("v2ray default ALPN h2,http/1.1");
        }
        let twelve = |c: &Option<Vec<u8>>| c.as_ref().is_some_and(|c| c.len() == 12);
        if twelve(&self.client_scid) && twelve(&self.server_scid) {
            out.push("12-byte connection IDs both ways");
        }
        out
    }
}
