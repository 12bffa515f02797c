//! v2ray's QUIC transport (`shared/specs/quic-v2ray.md` §6): each UDP datagram is
//!
//! ```text
//! [packet header, H bytes (0, 4 or 13)] [nonce, 12 bytes, AEAD only] [QUIC datagram | AEAD(QUIC datagram) + 16-byte tag]
//! ```
//!
//! * [`Disguise`] — the five packet headers (srtp, utp, wechat-video, dtls, wireguard) by
//!   their fixed bytes, and [`HeaderTrack`], which checks their counters across a flow.
//! * [`V2rayKey`] — v2ray's key derivation: `SHA-256(key ‖ "v2ray-quic-salt")`, the first 16
//!   bytes for AES-128-GCM, all 32 for ChaCha20-Poly1305; nonce = the 12 bytes after the
//!   header; no AAD.
//! * [`probe`] — finds the layer (header × security × key) under which one datagram holds a
//!   QUIC first packet ([`super::header::looks_like_quic`]); [`Layer::unwrap`] strips it from
//!   every later datagram.
//! * [`V2rayFlow`] — a flow under a layer: unwraps each datagram into a [`QuicFlow`] and
//!   gathers the evidence the report names.
//!
//! Pure code over bytes: no I/O, no clock, no panics on any input. The only buffer is one
//! scratch copy of the current datagram (at most a UDP payload, 65535 bytes); keys tried
//! are capped at [`MAX_KEYS`].

use super::conn::QuicFlow;
use super::header::looks_like_quic;
use super::record::QuicSummary;
pub use super::record::V2rayFindings;
use crate::flow::Direction;
use crate::timestamp::Timestamp;
use ring::aead::{self, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Bytes of the AEAD tag.
pub const TAG_LEN: usize = 16;
/// Keys tried on a flow at most (the empty key plus the ones given).
pub const MAX_KEYS: usize = 8;
/// Largest packet header (wechat-video, dtls).
pub const MAX_HEADER: usize = 13;

/// v2ray's packet-header disguises (`transport/internet/headers/*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disguise {
    Srtp,
    Utp,
    WechatVideo,
    Dtls,
    Wireguard,
}

impl Disguise {
    pub const ALL: [Disguise; 5] = [
        Disguise::Srtp,
        Disguise::Utp,
        Disguise::WechatVideo,
        Disguise::Dtls,
        Disguise::Wireguard,
    ];

    /// v2ray's JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Disguise::Srtp => "srtp",
            Disguise::Utp => "utp",
            Disguise::WechatVideo => "wechat-video",
            Disguise::Dtls => "dtls",
            Disguise::Wireguard => "wireguard",
        }
    }

    /// Header size in bytes.
    pub fn size(self) -> usize {
        match self {
            Disguise::Srtp | Disguise::Utp | Disguise::Wireguard => 4,
            Disguise::WechatVideo | Disguise::Dtls => 13,
        }
    }

    /// Whether `d` starts with this header's fixed bytes (and has something after it).
    pub fn template_matches(self, d: &[u8]) -> bool {
        if d.len() <= self.size() {
            return false;
        }
        match self {
            Disguise::Srtp => d.starts_with(&[0xb5, 0xe8]),
            Disguise::Utp => d.get(2..4) == Some(&[0x01, 0x00][..]),
            Disguise::WechatVideo => {
                d.starts_with(&[0xa1, 0x08])
                    && d.get(6..13) == Some(&[0x00, 0x10, 0x11, 0x18, 0x30, 0x22, 0x30][..])
            }
            Disguise::Dtls => {
                d.starts_with(&[0x17, 0xfe, 0xfd]) && d.get(5..7) == Some(&[0x00, 0x00][..])
            }
            Disguise::Wireguard => d.starts_with(&[0x04, 0x00, 0x00, 0x00]),
        }
    }

    /// What the header's changing fields must do from one datagram to the next.
    fn counter_rule(self) -> &'static str {
        match self {
            Disguise::Srtp => "sequence number (bytes 2-3) increasing",
            Disguise::Utp => "connection ID (bytes 0-1) constant",
            Disguise::WechatVideo => "sequence number (bytes 2-5) increasing",
            Disguise::Dtls => {
                "epoch constant, sequence increasing, length field on v2ray's fake 17/+17/-50 cycle"
            }
            Disguise::Wireguard => "all four bytes fixed (04 00 00 00)",
        }
    }
}

/// The AEAD layer under the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Security {
    None,
    Aes128Gcm,
    Chacha20Poly1305,
}

impl Security {
    /// v2ray's JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::Aes128Gcm => "aes-128-gcm",
            Security::Chacha20Poly1305 => "chacha20-poly1305",
        }
    }

    fn overhead(self) -> usize {
        match self {
            Security::None => 0,
            _ => NONCE_LEN + TAG_LEN,
        }
    }
}

/// Key material derived from one configured key string.
#[derive(Clone)]
pub struct V2rayKey {
    digest: [u8; 32],
    /// False for the default empty key.
    given: bool,
}

impl std::fmt::Debug for V2rayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("V2rayKey")
            .field("given", &self.given)
            .finish_non_exhaustive()
    }
}

impl V2rayKey {
    /// `SHA-256(key ‖ "v2ray-quic-salt")` (spec §6.2).
    pub fn derive(key: &str, given: bool) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(key.as_bytes());
        ctx.update(b"v2ray-quic-salt");
        let mut digest = [0u8; 32];
        digest.copy_from_slice(ctx.finish().as_ref());
        V2rayKey { digest, given }
    }

    /// The keys to try: the empty key first, then the given ones (at most [`MAX_KEYS`]).
    pub fn list(given: &[String]) -> Vec<V2rayKey> {
        std::iter::once(V2rayKey::derive("", false))
            .chain(
                given
                    .iter()
                    .filter(|k| !k.is_empty())
                    .map(|k| V2rayKey::derive(k, true)),
            )
            .take(MAX_KEYS)
            .collect()
    }

    fn aead(&self, security: Security) -> Option<LessSafeKey> {
        let (alg, key) = match security {
            Security::None => return None,
            Security::Aes128Gcm => (&aead::AES_128_GCM, self.digest.get(..16)?),
            Security::Chacha20Poly1305 => (&aead::CHACHA20_POLY1305, &self.digest[..]),
        };
        UnboundKey::new(alg, key).ok().map(LessSafeKey::new)
    }
}

/// One datagram layout: which header, which AEAD and key.
pub struct Layer {
    pub disguise: Option<Disguise>,
    pub security: Security,
    /// Whether the key that opened the AEAD was given by the user (false: the empty key).
    pub key_given: bool,
    aead: Option<LessSafeKey>,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("disguise", &self.disguise)
            .field("security", &self.security)
            .field("key_given", &self.key_given)
            .finish_non_exhaustive()
    }
}

impl Layer {
    fn header_size(&self) -> usize {
        self.disguise.map_or(0, Disguise::size)
    }

    /// The QUIC datagram inside `d`, or `None` when `d` is too short or does not open.
    /// The header's bytes are not checked here (v2ray does not check them either); see
    /// [`HeaderTrack`]. `scratch` receives a copy of the ciphertext to open in place.
    pub fn unwrap<'a>(&self, d: &'a [u8], scratch: &'a mut Vec<u8>) -> Option<&'a [u8]> {
        let body = d.get(self.header_size()..)?;
        let Some(key) = &self.aead else {
            return (!body.is_empty()).then_some(body);
        };
        open(key, body, scratch)
    }
}

/// Opens `nonce ‖ ciphertext ‖ tag` with `key` into `scratch`.
fn open<'a>(key: &LessSafeKey, body: &[u8], scratch: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    if body.len() <= NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, sealed) = body.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    scratch.clear();
    scratch.extend_from_slice(sealed);
    let plain = key
        .open_in_place(nonce, Aad::empty(), scratch.as_mut_slice())
        .ok()?;
    Some(&*plain)
}

/// What [`probe`] found in one datagram.
#[derive(Debug)]
pub enum Probe {
    /// A QUIC first packet lies under this layer.
    Quic(Box<Layer>),
    /// The datagram carries a disguise header, but nothing under it opened as QUIC with the
    /// keys tried (unknown key, or not QUIC): track the header only.
    HeaderOnly(Disguise),
}

/// Looks for a v2ray layer in one datagram that plain QUIC detection rejected: every
/// header whose fixed bytes match (and no header), with security none, then AES-128-GCM and
/// ChaCha20-Poly1305 under every key. At most `6 × (1 + 2 × keys)` attempts, each one pass
/// over the datagram.
pub fn probe(d: &[u8], keys: &[V2rayKey]) -> Option<Probe> {
    let mut scratch = Vec::new();
    let headers = Disguise::ALL
        .iter()
        .copied()
        .filter(|h| h.template_matches(d))
        .map(Some)
        .chain(std::iter::once(None));
    let mut header_only = None;
    for disguise in headers {
        let body = d.get(disguise.map_or(0, Disguise::size)..).unwrap_or(&[]);
        if disguise.is_some() && looks_like_quic(body) {
            return Some(Probe::Quic(Box::new(Layer {
                disguise,
                security: Security::None,
                key_given: false,
                aead: None,
            })));
        }
        for key in keys.iter().take(MAX_KEYS) {
            for security in [Security::Aes128Gcm, Security::Chacha20Poly1305] {
                let Some(aead) = key.aead(security) else {
                    continue;
                };
                if open(&aead, body, &mut scratch).is_some_and(looks_like_quic) {
                    return Some(Probe::Quic(Box::new(Layer {
                        disguise,
                        security,
                        key_given: key.given,
                        aead: Some(aead),
                    })));
                }
            }
        }
        if header_only.is_none() {
            header_only = disguise;
        }
    }
    header_only.map(Probe::HeaderOnly)
}

/// The fake DTLS length field's next value (v2ray `dtls.go`: +17, and −50 when over 100).
fn dtls_next_len(l: u16) -> u16 {
    let n = l.wrapping_add(17);
    if n > 100 { n - 50 } else { n }
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Largest counter step between two datagrams of one direction still called "increasing"
/// (a shared server's counters advance for its other clients too).
const MAX_STEP: u32 = 64;

/// One direction's header observations. Fixed size.
#[derive(Clone, Debug, Default)]
struct DirTrack {
    datagrams: u64,
    template: u64,
    /// Consecutive template-matching pairs checked / consistent with the counter rule.
    pairs: u64,
    consistent: u64,
    /// Datagrams whose dtls length field equals the real record length (`len - 13`).
    dtls_real_len: u64,
    prev: Option<[u8; MAX_HEADER]>,
    first_len: Option<usize>,
}

/// Checks a disguise's fixed bytes and counters across a flow, per direction.
#[derive(Clone, Debug)]
pub struct HeaderTrack {
    pub disguise: Disguise,
    dirs: [DirTrack; 2],
}

impl HeaderTrack {
    pub fn new(disguise: Disguise) -> Self {
        HeaderTrack {
            disguise,
            dirs: Default::default(),
        }
    }

    pub fn on_datagram(&mut self, dir: Direction, d: &[u8]) {
        let h = self.disguise;
        let t = &mut self.dirs[dir.index()];
        t.datagrams += 1;
        t.first_len.get_or_insert(d.len());
        if !h.template_matches(d) {
            t.prev = None;
            return;
        }
        t.template += 1;
        let mut cur = [0u8; MAX_HEADER];
        let n = h.size().min(d.len());
        cur[..n].copy_from_slice(&d[..n]);
        if h == Disguise::Dtls && be16(d, 11).map(usize::from) == Some(d.len() - 13) {
            t.dtls_real_len += 1;
        }
        if let Some(prev) = t.prev {
            t.pairs += 1;
            if Self::consistent(h, &prev, &cur) {
                t.consistent += 1;
            }
        }
        t.prev = Some(cur);
    }

    fn consistent(h: Disguise, prev: &[u8], cur: &[u8]) -> bool {
        let step16 = |at| match (be16(prev, at), be16(cur, at)) {
            (Some(a), Some(b)) => {
                let s = u32::from(b.wrapping_sub(a));
                (1..=MAX_STEP).contains(&s).then_some(s)
            }
            _ => None,
        };
        let step32 = |at| match (be32(prev, at), be32(cur, at)) {
            (Some(a), Some(b)) => {
                let s = b.wrapping_sub(a);
                (1..=MAX_STEP).contains(&s).then_some(s)
            }
            _ => None,
        };
        match h {
            Disguise::Srtp => step16(2).is_some(),
            Disguise::Utp => prev.get(..2) == cur.get(..2),
            Disguise::WechatVideo => step32(2).is_some(),
            Disguise::Dtls => {
                let Some(steps) = step32(7) else {
                    return false;
                };
                let (Some(pl), Some(cl)) = (be16(prev, 11), be16(cur, 11)) else {
                    return false;
                };
                let want = (0..steps).fold(pl, |l, _| dtls_next_len(l));
                prev.get(3..5) == cur.get(3..5) && cl == want
            }
            Disguise::Wireguard => prev.get(..4) == cur.get(..4),
        }
    }

    fn totals(&self) -> (u64, u64, u64, u64) {
        let s = |f: fn(&DirTrack) -> u64| self.dirs.iter().map(f).sum::<u64>();
        (
            s(|t| t.datagrams),
            s(|t| t.template),
            s(|t| t.pairs),
            s(|t| t.consistent),
        )
    }

    /// Whether the header explains the flow: its fixed bytes on at least 90% of the
    /// datagrams of both directions, and at least 90% of consecutive pairs following its
    /// counter rule, over at least `min_datagrams` datagrams.
    pub fn convincing(&self, min_datagrams: u64) -> bool {
        let (n, tpl, pairs, ok) = self.totals();
        let both = self
            .dirs
            .iter()
            .all(|t| t.datagrams > 0 && t.template * 10 >= t.datagrams * 9);
        let dtls_fake = self.disguise != Disguise::Dtls
            || self.dirs.iter().map(|t| t.dtls_real_len).sum::<u64>() == 0;
        n >= min_datagrams && both && tpl * 10 >= n * 9 && ok * 10 >= pairs * 9 && dtls_fake
    }

    /// Evidence sentences.
    pub fn evidence(&self) -> Vec<String> {
        let (n, tpl, pairs, ok) = self.totals();
        let h = self.disguise;
        let mut ev = vec![
            format!(
                "{} header ({} bytes) on {tpl} of {n} datagrams, both directions",
                h.name(),
                h.size()
            ),
            format!("{}: {ok} of {pairs} consecutive pairs", h.counter_rule()),
        ];
        if h == Disguise::Dtls {
            let real: u64 = self.dirs.iter().map(|t| t.dtls_real_len).sum();
            ev.push(format!(
                "dtls length field equals the real record length on {real} datagrams (never, in v2ray's fake header)"
            ));
        }
        if h == Disguise::Wireguard && self.dirs[0].first_len.is_some_and(|l| l != 148) {
            ev.push(
                "first client datagram is a data message, not a 148-byte handshake initiation as real WireGuard sends"
                    .to_string(),
            );
        }
        ev
    }

    fn first_client_len(&self) -> Option<usize> {
        self.dirs[0].first_len
    }
}

/// v2ray's QUIC transport as a registered UDP protocol: one of its packet-header
/// disguises and/or its AEAD layer around QUIC ([`probe`]). Its finished flows join the
/// bare QUIC flows when QUIC connections are grouped.
pub struct Udp;

impl crate::analyzers::api::UdpProtocol for Udp {
    type Shared = Vec<V2rayKey>;
    type Flow = Box<V2rayFlow>;
    type Finished = super::group::FinishedFlow;

    fn shared(opts: &crate::analyzers::api::UdpOptions) -> Vec<V2rayKey> {
        V2rayKey::list(&opts.v2ray_keys)
    }

    fn probe(
        keys: &Vec<V2rayKey>,
        payload: &[u8],
        _dir: Direction,
    ) -> crate::analyzers::api::UdpProbe<Box<V2rayFlow>> {
        match probe(payload, keys) {
            Some(p) => crate::analyzers::api::UdpProbe::Start(Box::new(V2rayFlow::new(p))),
            None => crate::analyzers::api::UdpProbe::NotMine,
        }
    }

    fn on_datagram(
        v: &mut Box<V2rayFlow>,
        _keys: &mut Vec<V2rayKey>,
        dir: Direction,
        payload: &[u8],
        ts: Timestamp,
    ) {
        v.on_datagram(dir, payload, ts);
    }

    fn finish(
        v: Box<V2rayFlow>,
        meta: crate::analyzers::api::UdpFlowMeta,
    ) -> (Option<&'static str>, Option<super::group::FinishedFlow>) {
        let app = if v.opened() {
            Some("quic")
        } else if v.disguise() == Some(Disguise::Wireguard) {
            // Transport messages of a WireGuard session picked up mid-way look like
            // v2ray's "wireguard" disguise; without QUIC inside, they are most likely
            // WireGuard itself.
            Some("wireguard")
        } else {
            None
        };
        let finished = v.summarize().map(|summary| super::group::FinishedFlow {
            client: meta.client,
            server: meta.server,
            first_ts: meta.first_ts,
            last_ts: meta.last_ts,
            cids: v.quic().identity_cids(),
            activity: v.quic().activity().to_vec(),
            summary,
        });
        (app, finished)
    }
}

/// Datagrams a header-only flow needs before it is called a possible tunnel.
pub const MIN_HEADER_ONLY_DATAGRAMS: u64 = 8;

/// A UDP flow under a v2ray layer (see the module doc).
#[derive(Debug)]
pub struct V2rayFlow {
    /// `None`: header recognised, contents not opened.
    layer: Option<Box<Layer>>,
    disguise: Option<Disguise>,
    track: Option<HeaderTrack>,
    quic: QuicFlow,
    wire_packets: [u64; 2],
    wire_bytes: [u64; 2],
    quic_bytes: [u64; 2],
    unwrapped: u64,
    not_unwrapped: u64,
    scratch: Vec<u8>,
}

impl V2rayFlow {
    pub fn new(probe: Probe) -> Self {
        let (layer, disguise) = match probe {
            Probe::Quic(l) => {
                let d = l.disguise;
                (Some(l), d)
            }
            Probe::HeaderOnly(d) => (None, Some(d)),
        };
        V2rayFlow {
            layer,
            disguise,
            track: disguise.map(HeaderTrack::new),
            quic: QuicFlow::new(),
            wire_packets: [0; 2],
            wire_bytes: [0; 2],
            quic_bytes: [0; 2],
            unwrapped: 0,
            not_unwrapped: 0,
            scratch: Vec::new(),
        }
    }

    /// The QUIC flow inside (empty when nothing opened).
    pub fn quic(&self) -> &QuicFlow {
        &self.quic
    }

    pub fn quic_mut(&mut self) -> &mut QuicFlow {
        &mut self.quic
    }

    /// The packet-header disguise recognised, if any.
    pub fn disguise(&self) -> Option<Disguise> {
        self.disguise
    }

    /// Whether the QUIC inside could be read.
    pub fn opened(&self) -> bool {
        self.layer.is_some()
    }

    pub fn on_datagram(&mut self, dir: Direction, d: &[u8], ts: Timestamp) {
        let i = dir.index();
        self.wire_packets[i] += 1;
        self.wire_bytes[i] += d.len() as u64;
        if let Some(t) = &mut self.track {
            t.on_datagram(dir, d);
        }
        let Some(layer) = &self.layer else {
            self.quic.note_activity(ts);
            return;
        };
        match layer.unwrap(d, &mut self.scratch) {
            Some(inner) => {
                self.unwrapped += 1;
                self.quic_bytes[i] += inner.len() as u64;
                self.quic.on_datagram(dir, inner, ts);
            }
            None => {
                self.not_unwrapped += 1;
                self.quic.note_activity(ts);
            }
        }
    }

    /// The report, or `None` for a header-only flow whose header is not convincing.
    pub fn summarize(&self) -> Option<QuicSummary> {
        let mut s = self.quic.summarize();
        let mut evidence = Vec::new();
        if let Some(t) = &self.track {
            evidence.extend(t.evidence());
        }
        let verdict = match &self.layer {
            Some(l) => {
                if l.security != Security::None {
                    evidence.push(format!(
                        "{} opened {} of {} datagrams with the {} key (nonce = 12 bytes after the header, no AAD)",
                        l.security.name(),
                        self.unwrapped,
                        self.unwrapped + self.not_unwrapped,
                        if l.key_given { "given" } else { "empty" }
                    ));
                }
                if let Some(v) = &s.version {
                    evidence.push(format!("QUIC version {v} long header inside"));
                }
                "v2ray QUIC transport"
            }
            None => {
                let t = self.track.as_ref()?;
                if !t.convincing(MIN_HEADER_ONLY_DATAGRAMS) {
                    return None;
                }
                let h = t.disguise.size();
                let first = t.first_client_len().unwrap_or(0);
                if first < 1200 + h + Security::Aes128Gcm.overhead() {
                    return None;
                }
                evidence.push(format!(
                    "first client datagram of {first} bytes: room for the {h}-byte header, a 12-byte nonce, a >= 1200-byte QUIC Initial and a 16-byte tag"
                ));
                evidence.push(
                    "no QUIC under the header in clear, and no AEAD opened it with the keys tried"
                        .to_string(),
                );
                "possible encrypted tunnel"
            }
        };
        s.disguise = self.disguise.map(Disguise::name);
        s.security = self.layer.as_ref().map(|l| l.security.name());
        s.packets_c2s = self.wire_packets[0];
        s.packets_s2c = self.wire_packets[1];
        s.bytes_c2s = self.wire_bytes[0];
        s.bytes_s2c = self.wire_bytes[1];
        s.v2ray = Some(V2rayFindings {
            verdict,
            header_size: self.disguise.map_or(0, Disguise::size),
            key: self
                .layer
                .as_ref()
                .filter(|l| l.security != Security::None)
                .map(|l| if l.key_given { "given" } else { "empty" }),
            datagrams_unwrapped: self.unwrapped,
            datagrams_not_unwrapped: self.not_unwrapped,
            quic_bytes_c2s: self.quic_bytes[0],
            quic_bytes_s2c: self.quic_bytes[1],
            evidence,
        });
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::analyzers::quic::tests::h;

    #[test]
    fn key_derivation_matches_the_spec_and_fixture_digests() {
        // Spec §6.2: SHA-256("v2ray-quic-salt") = 445ac95f…833361 (also in the fixtures'
        // truth as `key_digest_sha256` of the empty key).
        assert_eq!(
            V2rayKey::derive("", false).digest.to_vec(),
            h("445ac95fc8deb3099fd1a8ce3317f88739dce62f8a3eccdaa39f2c5407833361")
        );
        // v2ray-quic-utp-aes128gcm.truth.json: key "tunscope-fixture-key".
        assert_eq!(
            V2rayKey::derive("tunscope-fixture-key", true)
                .digest
                .to_vec(),
            h("ab3a60ab518a26c9820627f77be896d88430e0a589a56bd49ba14cac617f83b9")
        );
        let keys = V2rayKey::list(&["a".into(), String::new(), "b".into()]);
        assert_eq!(keys.len(), 3, "empty key first, empty given keys skipped");
        assert!(!keys[0].given && keys[1].given);
    }

    #[test]
    fn dtls_fake_length_cycle() {
        // Spec §6.5: 17, 34, 51, 68, 85, 52, 69, 86, 53, ...
        let mut l = 17u16;
        let mut seq = vec![l];
        for _ in 0..8 {
            l = dtls_next_len(l);
            seq.push(l);
        }
        assert_eq!(seq, vec![17, 34, 51, 68, 85, 52, 69, 86, 53]);
    }

    #[test]
    fn templates() {
        let body = [0xaa; 20];
        let with = |hdr: &[u8]| [hdr, &body[..]].concat();
        assert!(Disguise::Srtp.template_matches(&with(&h("b5e82667"))));
        assert!(Disguise::Utp.template_matches(&with(&h("358b0100"))));
        assert!(Disguise::WechatVideo.template_matches(&with(&h("a1080000c78200101118302230"))));
        assert!(Disguise::Dtls.template_matches(&with(&h("17fefda77b0000000000000011"))));
        assert!(Disguise::Wireguard.template_matches(&with(&h("04000000"))));
        assert!(!Disguise::Wireguard.template_matches(&with(&h("01000000"))));
        assert!(
            !Disguise::Srtp.template_matches(&h("b5e82667")),
            "header alone"
        );
        assert!(!Disguise::Dtls.template_matches(&with(&h("17fefda77b0001"))));
    }

    /// Seals `quic` as v2ray's `WriteTo` does: header ‖ nonce ‖ AEAD(quic) (no AAD).
    fn wrap(hdr: &[u8], sec: Security, key: &V2rayKey, nonce: [u8; 12], quic: &[u8]) -> Vec<u8> {
        let mut out = hdr.to_vec();
        match key.aead(sec) {
            None => out.extend_from_slice(quic),
            Some(k) => {
                out.extend_from_slice(&nonce);
                let mut body = quic.to_vec();
                k.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    &mut body,
                )
                .unwrap();
                out.extend_from_slice(&body);
            }
        }
        out
    }

    /// RFC 9001 A.2's client Initial (1200 bytes), as a QUIC first packet to wrap.
    fn rfc_initial() -> Vec<u8> {
        h(super::super::tests::V1_CLIENT_PACKET)
    }

    #[test]
    fn independent_vector_wechat_aes_gcm() {
        // Built with Python `cryptography` (AESGCM(sha256(b"k" + b"v2ray-quic-salt")[:16]),
        // nonce 000102..0b, no AAD) around the RFC 9001 A.2 Initial, wechat-video header with
        // sn 0x00001234: sha256 of the whole 1241-byte datagram.
        let key = V2rayKey::derive("k", true);
        let nonce: [u8; 12] = core::array::from_fn(|i| i as u8);
        let d = wrap(
            &h("a10800001234 00101118302230"),
            Security::Aes128Gcm,
            &key,
            nonce,
            &rfc_initial(),
        );
        assert_eq!(d.len(), 1241);
        let digest = ring::digest::digest(&ring::digest::SHA256, &d);
        assert_eq!(
            crate::util::hex(digest.as_ref()),
            super::super::tests::V2RAY_WECHAT_AES_SHA256
        );
        // Without the key only the header is recognised; with it the Initial comes out.
        assert!(matches!(
            probe(&d, &V2rayKey::list(&[])),
            Some(Probe::HeaderOnly(Disguise::WechatVideo))
        ));
        let Some(Probe::Quic(layer)) = probe(&d, &V2rayKey::list(&["k".into()])) else {
            panic!("not opened")
        };
        assert_eq!(layer.disguise, Some(Disguise::WechatVideo));
        assert_eq!(layer.security, Security::Aes128Gcm);
        assert!(layer.key_given);
        let mut s = Vec::new();
        assert_eq!(layer.unwrap(&d, &mut s), Some(&rfc_initial()[..]));
    }

    #[test]
    fn every_header_and_security_round_trips() {
        let quic = rfc_initial();
        let keys = V2rayKey::list(&["tunscope".into()]);
        let headers: [(Option<Disguise>, &str); 6] = [
            (None, ""),
            (Some(Disguise::Srtp), "b5e80001"),
            (Some(Disguise::Utp), "beef0100"),
            (Some(Disguise::WechatVideo), "a1080000000100101118302230"),
            (Some(Disguise::Dtls), "17fefd12340000000000000011"),
            (Some(Disguise::Wireguard), "04000000"),
        ];
        for (disguise, hdr) in headers {
            for sec in [
                Security::None,
                Security::Aes128Gcm,
                Security::Chacha20Poly1305,
            ] {
                for key in &keys {
                    if disguise.is_none() && sec == Security::None {
                        continue; // plain QUIC: not v2ray's business
                    }
                    let d = wrap(&h(hdr), sec, key, [7; 12], &quic);
                    let Some(Probe::Quic(l)) = probe(&d, &keys) else {
                        panic!("{disguise:?} {sec:?} not found")
                    };
                    assert_eq!((l.disguise, l.security), (disguise, sec));
                    let mut s = Vec::new();
                    assert_eq!(l.unwrap(&d, &mut s), Some(&quic[..]));
                    // A flipped ciphertext bit must not open.
                    if sec != Security::None {
                        let mut bad = d.clone();
                        let last = bad.len() - 1;
                        bad[last] ^= 1;
                        assert_eq!(l.unwrap(&bad, &mut s), None);
                    }
                }
            }
        }
    }

    #[test]
    fn counters_tracked_per_direction() {
        let body = [0x55u8; 1232];
        let mut t = HeaderTrack::new(Disguise::Dtls);
        let (mut lc, mut ls) = (17u16, 17u16);
        for seq in 0u32..10 {
            let mut c = h("17fefda77b0000");
            c.extend_from_slice(&seq.to_be_bytes());
            c.extend_from_slice(&lc.to_be_bytes());
            c.extend_from_slice(&body);
            t.on_datagram(Direction::ClientToServer, &c);
            let mut s = h("17fefd0d1c0000");
            s.extend_from_slice(&(seq * 2).to_be_bytes()); // a shared server: gaps
            s.extend_from_slice(&ls.to_be_bytes());
            s.extend_from_slice(&body[..100]);
            t.on_datagram(Direction::ServerToClient, &s);
            lc = dtls_next_len(lc);
            ls = dtls_next_len(dtls_next_len(ls));
        }
        assert!(t.convincing(8), "{:?}", t.evidence());
        // A changing epoch breaks the rule.
        let mut bad = HeaderTrack::new(Disguise::Dtls);
        for seq in 0u32..10 {
            let mut c = h("17fefd");
            c.extend_from_slice(&(seq as u16).to_be_bytes());
            c.extend_from_slice(&[0, 0]);
            c.extend_from_slice(&seq.to_be_bytes());
            c.extend_from_slice(&17u16.to_be_bytes());
            c.extend_from_slice(&body);
            bad.on_datagram(Direction::ClientToServer, &c);
            bad.on_datagram(Direction::ServerToClient, &c);
        }
        assert!(!bad.convincing(8));
    }

    #[test]
    fn header_only_flow_reported_only_with_evidence() {
        let mut f = V2rayFlow::new(Probe::HeaderOnly(Disguise::Srtp));
        let mut x: u64 = 1;
        let mut rnd = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (x >> 33) as u8
                })
                .collect()
        };
        for i in 0u16..6 {
            for (dir, base, len) in [
                (Direction::ClientToServer, 100u16, 1232usize),
                (Direction::ServerToClient, 9000, 300),
            ] {
                let mut d = vec![0xb5, 0xe8];
                d.extend_from_slice(&(base + i).to_be_bytes());
                d.extend_from_slice(&rnd(len));
                f.on_datagram(dir, &d, Timestamp::ZERO);
            }
        }
        let s = f.summarize().expect("12 consistent srtp datagrams");
        let v = s.v2ray.unwrap();
        assert_eq!(v.verdict, "possible encrypted tunnel");
        assert_eq!(s.disguise, Some("srtp"));
        assert_eq!(s.security, None);
        assert!(v.evidence.len() >= 3, "{:?}", v.evidence);
        // Too few datagrams: no verdict at all.
        let mut g = V2rayFlow::new(Probe::HeaderOnly(Disguise::Srtp));
        g.on_datagram(
            Direction::ClientToServer,
            &[0xb5, 0xe8, 0, 1, 9],
            Timestamp::ZERO,
        );
        assert!(g.summarize().is_none());
    }
}
