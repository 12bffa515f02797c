//! Encapsulation layers: GRE (with ERSPAN and PPTP's enhanced GRE), GRE over UDP, VXLAN,
//! GENEVE, IP-in-IP, Teredo, MPLS, PPPoE, L2TPv2 and GTP-U.
//!
//! # Contract
//!
//! - Each layer is read by one function over borrowed bytes: the header is checked against
//!   its format, and the result is the layer's facts ([`EncapLayer`]) plus what it carries
//!   (a [`Network`] for the decoder's loop to continue with, or nothing: a GTP echo, a
//!   Teredo bubble, a PPTP acknowledgement). Every read goes through `get`; nothing
//!   allocates except the detail text of a malformed layer.
//! - A header that claims to be the layer but breaks its format (short header, bad version,
//!   a length past the packet, unknown mandatory bits) is a [`LayerError`], which the
//!   decoder reports as an anomaly with the packet index.
//! - UDP encapsulations are found by port, but a port is only a hint: [`udp`] answers
//!   `None` (the datagram stays ordinary UDP) when the header fails the check its format
//!   allows (VXLAN's I flag, GENEVE's version, GTP's version and protocol type, Teredo's
//!   IPv6 header, L2TP's version, GRE-in-UDP's version).
//! - The decoder, not this module, bounds nesting ([`MAX_DEPTH`]).

use super::link::{self, Network};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Encapsulation layers one packet may carry; one more is the anomaly `encap_too_deep`.
pub const MAX_DEPTH: usize = 8;

/// UDP ports of the encapsulations tunscope looks inside.
pub const PORT_VXLAN: u16 = 4789;
/// GENEVE (RFC 8926).
pub const PORT_GENEVE: u16 = 6081;
/// Teredo (RFC 4380).
pub const PORT_TEREDO: u16 = 3544;
/// L2TP (RFC 2661).
pub const PORT_L2TP: u16 = 1701;
/// GTP-U (3GPP TS 29.281).
pub const PORT_GTP_U: u16 = 2152;
/// GTP-C (3GPP TS 29.274 / 29.060): counted, not decapsulated.
pub const PORT_GTP_C: u16 = 2123;
/// GRE over UDP (RFC 8086).
pub const PORT_GRE_UDP: u16 = 4754;

/// MPLS unicast and multicast EtherTypes.
pub const ETHERTYPE_MPLS: u16 = 0x8847;
/// MPLS multicast.
pub const ETHERTYPE_MPLS_MC: u16 = 0x8848;
/// PPPoE discovery (counted).
pub const ETHERTYPE_PPPOE_DISCOVERY: u16 = 0x8863;
/// PPPoE session.
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
/// Transparent Ethernet bridging (GRE's protocol type for Ethernet, NVGRE).
pub const ETHERTYPE_TEB: u16 = 0x6558;
/// ERSPAN type I and II (GRE protocol type).
pub const ETHERTYPE_ERSPAN_2: u16 = 0x88be;
/// ERSPAN type III.
pub const ETHERTYPE_ERSPAN_3: u16 = 0x22eb;
/// PPP (PPTP's enhanced GRE).
pub const ETHERTYPE_PPP: u16 = 0x880b;
/// Network Service Header (RFC 8300).
pub const ETHERTYPE_NSH: u16 = 0x894f;
/// Aruba's GRE protocol types for 802.11 frames from access points (as Zeek reads them:
/// 0x8200 to 0x8390 in steps of 0x10, 0x9000, 0x9001).
pub fn is_aruba(proto: u16) -> bool {
    ((0x8200..=0x8390).contains(&proto) && proto & 0x0f == 0) || proto == 0x9000 || proto == 0x9001
}
/// AYIYA (Anything In Anything).
pub const PORT_AYIYA: u16 = 5072;

/// Which encapsulation a layer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncapKind {
    /// GRE (RFC 2784/2890), `id` = the key when present.
    Gre,
    /// PPTP's enhanced GRE (version 1), `id` = the call ID.
    Pptp,
    /// ERSPAN type I, II or III inside GRE, `id` = the session ID (II, III).
    Erspan,
    /// GRE over UDP (RFC 8086), `id` = the key when present.
    GreUdp,
    /// VXLAN, `id` = the VNI.
    Vxlan,
    /// GENEVE, `id` = the VNI.
    Geneve,
    /// IP in IP (4in4, 6in4, 4in6, 6in6).
    IpInIp,
    /// Teredo (IPv6 in UDP).
    Teredo,
    /// An MPLS label stack, `id` = the bottom label.
    Mpls,
    /// A PPPoE session, `id` = the session ID.
    Pppoe,
    /// L2TPv2 data, `id` = tunnel ID << 16 | session ID.
    L2tp,
    /// GTP-U version 1, `id` = the TEID.
    GtpU,
    /// AYIYA (IP in UDP, port 5072).
    Ayiya,
    /// A Network Service Header, `id` = the service path ID.
    Nsh,
}

impl EncapKind {
    /// The name outputs use.
    pub fn name(self) -> &'static str {
        match self {
            EncapKind::Gre => "gre",
            EncapKind::Pptp => "pptp",
            EncapKind::Erspan => "erspan",
            EncapKind::GreUdp => "gre_udp",
            EncapKind::Vxlan => "vxlan",
            EncapKind::Geneve => "geneve",
            EncapKind::IpInIp => "ip_in_ip",
            EncapKind::Teredo => "teredo",
            EncapKind::Mpls => "mpls",
            EncapKind::Pppoe => "pppoe",
            EncapKind::L2tp => "l2tp",
            EncapKind::GtpU => "gtp_u",
            EncapKind::Ayiya => "ayiya",
            EncapKind::Nsh => "nsh",
        }
    }
}

/// One encapsulation layer of a packet, as its first packet showed it: the outer IP
/// endpoints (none for MPLS and PPPoE, which sit below IP), the outer UDP ports of UDP
/// encapsulations, and the layer's identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct EncapLayer {
    /// The encapsulation.
    pub kind: EncapKind,
    /// Outer IP source.
    pub src: Option<IpAddr>,
    /// Outer IP destination.
    pub dst: Option<IpAddr>,
    /// Outer UDP source port (UDP encapsulations).
    pub sport: Option<u16>,
    /// Outer UDP destination port.
    pub dport: Option<u16>,
    /// Key, VNI, TEID, label or session, as [`EncapKind`] says.
    pub id: Option<u32>,
    /// GENEVE: option count and their total length in bytes.
    pub options: Option<(u16, u16)>,
    /// Whether `id` tells flows apart (a VNI, a GRE key, a PPPoE session: the same both
    /// ways), as opposed to identifiers that differ by direction or hop (TEIDs, labels).
    #[serde(skip)]
    pub keyed: bool,
    /// Outer IP length, for the outer UDP flow's counters.
    #[serde(skip)]
    pub outer_ip_len: u32,
    /// Outer UDP payload length on the wire.
    #[serde(skip)]
    pub outer_payload_len: u32,
}

impl EncapLayer {
    /// A layer of `kind` with nothing else known yet.
    pub fn new(kind: EncapKind) -> Self {
        EncapLayer {
            kind,
            src: None,
            dst: None,
            sport: None,
            dport: None,
            id: None,
            options: None,
            keyed: false,
            outer_ip_len: 0,
            outer_payload_len: 0,
        }
    }

    fn with_id(mut self, id: u32, keyed: bool) -> Self {
        self.id = Some(id);
        self.keyed = keyed;
        self
    }
}

/// Human-readable formats (JSON) get only the fields the layer has; the spool's
/// positional format gets every field.
impl Serialize for EncapLayer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let readable = s.is_human_readable();
        let mut st = s.serialize_struct("EncapLayer", 7)?;
        st.serialize_field("kind", &self.kind)?;
        macro_rules! opt {
            ($name:literal, $v:expr) => {
                if readable && $v.is_none() {
                    st.skip_field($name)?;
                } else {
                    st.serialize_field($name, &$v)?;
                }
            };
        }
        opt!("src", self.src);
        opt!("dst", self.dst);
        opt!("sport", self.sport);
        opt!("dport", self.dport);
        opt!("id", self.id);
        opt!("options", self.options);
        st.end()
    }
}

/// The layers of one packet, outermost first, at most [`MAX_DEPTH`]; reused between
/// packets (no allocation).
#[derive(Clone, Debug)]
pub struct EncapChain {
    layers: [EncapLayer; MAX_DEPTH],
    len: u8,
}

impl Default for EncapChain {
    fn default() -> Self {
        EncapChain {
            layers: [EncapLayer::new(EncapKind::Gre); MAX_DEPTH],
            len: 0,
        }
    }
}

impl EncapChain {
    /// The layers, outermost first.
    #[inline]
    pub fn layers(&self) -> &[EncapLayer] {
        &self.layers[..usize::from(self.len)]
    }

    /// True for a bare packet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Adds a layer; `false` (and nothing added) when the chain is full.
    pub(crate) fn push(&mut self, layer: EncapLayer) -> bool {
        match self.layers.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = layer;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

/// Encapsulation headers seen, by kind, and the messages of those protocols that carry
/// no inner packet. Each header is counted once per packet it appears in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EncapCounts {
    /// Headers decapsulated, by [`EncapKind::name`].
    pub layers: BTreeMap<&'static str, u64>,
    /// Teredo bubbles (an IPv6 header with no payload).
    pub teredo_bubbles: u64,
    /// PPPoE discovery frames.
    pub pppoe_discovery: u64,
    /// GTP-C messages (port 2123, version 1 or 2).
    pub gtp_c: u64,
    /// GTP-U messages that are not user data (echo, error indication, end marker).
    pub gtp_u_signalling: u64,
    /// L2TP control messages.
    pub l2tp_control: u64,
    /// GRE packets of a protocol type tunscope does not look inside, by `0x` hex value.
    pub gre_other_protocols: BTreeMap<String, u64>,
    /// Inner fragments not reassembled because the outer datagram was itself rebuilt.
    pub inner_fragments_dropped: u64,
}

impl EncapCounts {
    /// True when nothing was counted (so outputs of bare captures leave it out).
    pub fn is_empty(&self) -> bool {
        *self == EncapCounts::default()
    }

    pub(crate) fn layer(&mut self, kind: EncapKind) {
        *self.layers.entry(kind.name()).or_insert(0) += 1;
    }
}

/// A header that claims an encapsulation but breaks its format.
#[derive(Debug, PartialEq, Eq)]
pub struct LayerError {
    /// The anomaly kind (`gre_bad_version`, `vxlan_truncated`, ...).
    pub kind: &'static str,
    /// What was wrong.
    pub detail: String,
}

fn err(kind: &'static str, detail: impl Into<String>) -> LayerError {
    LayerError {
        kind,
        detail: detail.into(),
    }
}

/// What a layer carries: the next network-layer bytes, or nothing to decode further.
pub type Carried<'a> = Option<Network<'a>>;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(*b.get(at..at + 2)?.first_chunk()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(*b.get(at..at + 4)?.first_chunk()?))
}

fn truncated(kind: &'static str, layer: &str, need: usize, have: usize) -> LayerError {
    err(
        kind,
        format!("{layer} header needs {need} bytes, {have} captured"),
    )
}

/// The network layer an EtherType-like protocol number names, over `rest`.
fn by_protocol<'a>(proto: u16, rest: &'a [u8], layer: &str) -> Result<Network<'a>, LayerError> {
    let mut tags = 0;
    Ok(match proto {
        link::ETHERTYPE_IPV4 => Network::Ipv4(rest),
        link::ETHERTYPE_IPV6 => Network::Ipv6(rest),
        ETHERTYPE_TEB => link::ethernet(rest, &mut tags).map_err(|_| {
            err(
                "encap_truncated",
                format!("the Ethernet frame inside {layer} is cut short"),
            )
        })?,
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => Network::Encap(proto, rest),
        other => Network::OtherEtherType(other),
    })
}

/// IP by the first nibble (MPLS, GTP-U, Teredo's check).
fn ip_by_nibble(rest: &[u8]) -> Option<Network<'_>> {
    match rest.first()? >> 4 {
        4 => Some(Network::Ipv4(rest)),
        6 => Some(Network::Ipv6(rest)),
        _ => None,
    }
}

/// PPP (optionally with HDLC address and control bytes) to the network layer inside.
pub(crate) fn ppp(data: &[u8]) -> Result<Network<'_>, link::LinkError> {
    let rest = data.strip_prefix(&[0xff, 0x03]).unwrap_or(data);
    let first = *rest.first().ok_or(link::LinkError::Truncated {
        need: 1,
        have: rest.len(),
    })?;
    let (proto, body) = if first & 1 == 1 {
        (u16::from(first), &rest[1..])
    } else {
        (
            be16(rest, 0).ok_or(link::LinkError::Truncated {
                need: 2,
                have: rest.len(),
            })?,
            &rest[2..],
        )
    };
    Ok(match proto {
        0x0021 => Network::Ipv4(body),
        0x0057 => Network::Ipv6(body),
        0x0281 => Network::Encap(ETHERTYPE_MPLS, body),
        other => Network::OtherPpp(other),
    })
}

fn ppp_carried<'a>(data: &'a [u8], layer: &'static str) -> Result<Carried<'a>, LayerError> {
    ppp(data).map(Some).map_err(|_| {
        err(
            "ppp_truncated",
            format!("PPP header inside {layer} is cut short"),
        )
    })
}

/// GRE (RFC 2784 with RFC 2890's key and sequence number; version 1 is PPTP's enhanced
/// GRE, RFC 2637). `in_udp` is GRE-in-UDP (RFC 8086), which allows version 0 only.
///
/// ```text
/// 0      C R K S s Recur | A Flags Ver | Protocol Type (16)
/// 4      [Checksum (16) | Reserved1 (16)]      if C or R
///        [Key (32) / Payload length (16) | Call ID (16)]   if K
///        [Sequence number (32)]                 if S
///        [Acknowledgment number (32)]           if A (version 1)
/// ```
pub fn gre<'a>(
    b: &'a [u8],
    in_udp: bool,
    counts: &mut EncapCounts,
) -> Result<(EncapLayer, Carried<'a>), LayerError> {
    let (Some(&flags), Some(&ver_byte), Some(proto)) = (b.first(), b.get(1), be16(b, 2)) else {
        return Err(truncated("gre_truncated", "GRE", 4, b.len()));
    };
    let (c, r, k, s) = (
        flags & 0x80 != 0,
        flags & 0x40 != 0,
        flags & 0x20 != 0,
        flags & 0x10 != 0,
    );
    let version = ver_byte & 0x07;
    let ack = ver_byte & 0x80 != 0;
    let kind = if in_udp {
        EncapKind::GreUdp
    } else {
        EncapKind::Gre
    };
    match version {
        0 => {
            if r {
                return Err(err(
                    "gre_routing_unsupported",
                    "GRE with the routing bit (RFC 1701 source routes)",
                ));
            }
            let mut at = 4;
            if c {
                at += 4;
            }
            let key = if k {
                let key = be32(b, at)
                    .ok_or_else(|| truncated("gre_truncated", "GRE", at + 4, b.len()))?;
                at += 4;
                Some(key)
            } else {
                None
            };
            if s {
                at += 4;
            }
            let rest = b
                .get(at..)
                .ok_or_else(|| truncated("gre_truncated", "GRE", at, b.len()))?;
            let mut layer = EncapLayer::new(kind);
            if let Some(key) = key {
                layer = layer.with_id(key, true);
            }
            match proto {
                ETHERTYPE_ERSPAN_2 | ETHERTYPE_ERSPAN_3 if !in_udp => erspan(proto, s, rest),
                ETHERTYPE_PPP => Ok((layer, ppp_carried(rest, "GRE")?)),
                link::ETHERTYPE_IPV4
                | link::ETHERTYPE_IPV6
                | ETHERTYPE_TEB
                | ETHERTYPE_MPLS
                | ETHERTYPE_MPLS_MC => Ok((layer, Some(by_protocol(proto, rest, "GRE")?))),
                a if is_aruba(a) && !in_udp => {
                    let mut tags = 0;
                    let net = link::ieee80211(rest, &mut tags).map_err(|_| {
                        err(
                            "encap_truncated",
                            "the 802.11 frame inside Aruba GRE is cut short",
                        )
                    })?;
                    Ok((layer, Some(net)))
                }
                other => {
                    *counts
                        .gre_other_protocols
                        .entry(format!("{other:#06x}"))
                        .or_insert(0) += 1;
                    Ok((layer, None))
                }
            }
        }
        1 if !in_udp => {
            // Enhanced GRE: K set, C and R clear, protocol PPP; the key is payload length
            // and call ID.
            if !k || c || r || proto != ETHERTYPE_PPP {
                return Err(err(
                    "gre_bad_pptp_header",
                    format!("enhanced GRE with flags {flags:#04x}, protocol {proto:#06x}"),
                ));
            }
            let payload_len = usize::from(
                be16(b, 4).ok_or_else(|| truncated("gre_truncated", "enhanced GRE", 8, b.len()))?,
            );
            let call_id =
                be16(b, 6).ok_or_else(|| truncated("gre_truncated", "enhanced GRE", 8, b.len()))?;
            let at = 8 + if s { 4 } else { 0 } + if ack { 4 } else { 0 };
            let rest = b
                .get(at..)
                .ok_or_else(|| truncated("gre_truncated", "enhanced GRE", at, b.len()))?;
            let layer = EncapLayer::new(EncapKind::Pptp).with_id(u32::from(call_id), false);
            if !s || payload_len == 0 {
                // An acknowledgement only.
                return Ok((layer, None));
            }
            let body = rest.get(..payload_len).unwrap_or(rest);
            Ok((layer, ppp_carried(body, "enhanced GRE")?))
        }
        v => Err(err("gre_bad_version", format!("GRE version {v}"))),
    }
}

/// ERSPAN inside GRE: type I (protocol 0x88be without a sequence number: Ethernet right
/// away), type II (0x88be, 8-byte header, version 1) and type III (0x22eb, 12-byte header
/// plus an 8-byte platform subheader when the O bit is set, version 2).
///
/// ```text
/// II:  Ver (4) | VLAN (12) | COS (3) En (2) T (1) Session ID (10) | Reserved (12) | Index (20)
/// III: Ver (4) | VLAN (12) | COS (3) BSO (2) T (1) Session ID (10) | Timestamp (32)
///      | SGT (16) | P (1) FT (5) HW ID (6) D (1) Gra (2) O (1) | [platform subheader (64)]
/// ```
fn erspan(proto: u16, seq: bool, b: &[u8]) -> Result<(EncapLayer, Carried<'_>), LayerError> {
    let mut tags = 0;
    let layer = EncapLayer::new(EncapKind::Erspan);
    if proto == ETHERTYPE_ERSPAN_2 && !seq {
        let net = link::ethernet(b, &mut tags)
            .map_err(|_| truncated("erspan_truncated", "ERSPAN I Ethernet", 14, b.len()))?;
        return Ok((layer, Some(net)));
    }
    let (want_version, len) = if proto == ETHERTYPE_ERSPAN_2 {
        (1, 8)
    } else {
        (2, 12)
    };
    let (Some(first), Some(&last)) = (be16(b, 0), b.get(len - 1)) else {
        return Err(truncated("erspan_truncated", "ERSPAN", len, b.len()));
    };
    let version = first >> 12;
    if version != want_version {
        return Err(err(
            "erspan_bad_version",
            format!("ERSPAN version {version} under protocol {proto:#06x}"),
        ));
    }
    let session = be16(b, 2).map_or(0, |v| v & 0x03ff);
    let layer = layer.with_id(u32::from(session), true);
    let mut at = len;
    if want_version == 2 {
        if last & 0x01 != 0 {
            at += 8;
        }
        let frame_type = be16(b, 10).map_or(0, |v| (v >> 10) & 0x1f);
        let rest = b
            .get(at..)
            .ok_or_else(|| truncated("erspan_truncated", "ERSPAN III", at, b.len()))?;
        if frame_type == 2 {
            return Ok((layer, ip_by_nibble(rest)));
        }
        let net = link::ethernet(rest, &mut tags)
            .map_err(|_| truncated("erspan_truncated", "ERSPAN III Ethernet", at + 14, b.len()))?;
        return Ok((layer, Some(net)));
    }
    let rest = &b[at.min(b.len())..];
    let net = link::ethernet(rest, &mut tags)
        .map_err(|_| truncated("erspan_truncated", "ERSPAN II Ethernet", at + 14, b.len()))?;
    Ok((layer, Some(net)))
}

/// Whether a UDP port is one tunscope looks behind (cheap: the bare path asks this of
/// every datagram).
#[inline]
pub fn is_encap_port(port: u16) -> bool {
    matches!(
        port,
        PORT_VXLAN
            | PORT_GENEVE
            | PORT_TEREDO
            | PORT_L2TP
            | PORT_GTP_U
            | PORT_GTP_C
            | PORT_GRE_UDP
            | PORT_AYIYA
    )
}

/// A UDP payload on an encapsulation port: `None` when it fails the format's check (an
/// ordinary datagram), else the layer (or a malformed one). `cut` is true when the
/// capture lacks some of the datagram (snap length), so lengths past the end are not an
/// error.
pub fn udp<'a>(
    sport: u16,
    dport: u16,
    b: &'a [u8],
    cut: bool,
    counts: &mut EncapCounts,
) -> Option<Result<(EncapLayer, Carried<'a>), LayerError>> {
    let port = if is_encap_port(dport) { dport } else { sport };
    match port {
        PORT_VXLAN => vxlan(b),
        PORT_GENEVE => geneve(b),
        PORT_TEREDO => teredo(b, counts),
        PORT_L2TP => l2tp(b, counts),
        PORT_GTP_U => gtp_u(b, cut, counts),
        PORT_AYIYA => ayiya(b),
        PORT_GTP_C => {
            if matches!(b.first().map(|f| f >> 5), Some(1 | 2)) && b.len() >= 4 {
                counts.gtp_c += 1;
            }
            None
        }
        PORT_GRE_UDP => {
            // RFC 8086: version 0, and the reserved bits of RFC 2784 clear.
            let (&f, &v) = (b.first()?, b.get(1)?);
            if v & 0x07 != 0 || f & 0x4f != 0 || v & 0xf8 != 0 {
                return None;
            }
            Some(gre(b, true, counts))
        }
        _ => None,
    }
}

/// The kind a UDP encapsulation port names (for a malformed header's layer).
pub fn kind_of_port(sport: u16, dport: u16) -> EncapKind {
    let port = if is_encap_port(dport) { dport } else { sport };
    match port {
        PORT_VXLAN => EncapKind::Vxlan,
        PORT_GENEVE => EncapKind::Geneve,
        PORT_TEREDO => EncapKind::Teredo,
        PORT_L2TP => EncapKind::L2tp,
        PORT_GTP_U | PORT_GTP_C => EncapKind::GtpU,
        PORT_AYIYA => EncapKind::Ayiya,
        _ => EncapKind::GreUdp,
    }
}

/// AYIYA (draft-massar-v6ops-ayiya):
///
/// ```text
/// IDLen (4) IDType (4) | SigLen (4) HshMeth (4) | AutMeth (4) OpCode (4) | NextHeader (8)
/// Epoch (32) | Identity (2^IDLen bytes) | Signature (SigLen * 4 bytes) | payload
/// ```
///
/// Only forwarding messages (opcode 1) of IPv4 or IPv6 (next header 4 or 41) are looked
/// inside; anything else stays ordinary UDP.
fn ayiya(b: &[u8]) -> Option<Result<(EncapLayer, Carried<'_>), LayerError>> {
    let h = b.get(..8)?;
    let (opcode, next) = (h[2] & 0x0f, h[3]);
    if opcode != 1 || !matches!(next, 4 | 41) {
        return None;
    }
    let len = 8 + (1usize << (h[0] >> 4)) + usize::from(h[1] >> 4) * 4;
    let Some(rest) = b.get(len..) else {
        return Some(Err(truncated("ayiya_truncated", "AYIYA", len, b.len())));
    };
    let want = if next == 4 { 4 } else { 6 };
    Some(match rest.first().map(|f| f >> 4) {
        Some(v) if v == want => Ok((EncapLayer::new(EncapKind::Ayiya), ip_by_nibble(rest))),
        _ => Err(err(
            "ayiya_wrong_version",
            format!("AYIYA next header {next} over another IP version"),
        )),
    })
}

/// A Network Service Header (RFC 8300):
///
/// ```text
/// Ver (2) O U TTL (6) | Length (6, 4-byte words) | x MD Type (4) | Next Protocol (8)
/// Service Path ID (24) | Service Index (8) | context headers ...
/// ```
///
/// Next protocol 1 IPv4, 2 IPv6, 3 Ethernet, 5 MPLS; others carry nothing tunscope reads.
pub fn nsh(b: &[u8]) -> Result<(EncapLayer, Carried<'_>), LayerError> {
    let (Some(&b0), Some(&b1), Some(&next), Some(path)) =
        (b.first(), b.get(1), b.get(3), be32(b, 4))
    else {
        return Err(truncated("nsh_truncated", "NSH", 8, b.len()));
    };
    if b0 >> 6 != 0 {
        return Err(err("nsh_bad_version", format!("NSH version {}", b0 >> 6)));
    }
    let len = usize::from(b1 & 0x3f) * 4;
    if len < 8 {
        return Err(err("nsh_bad_length", format!("NSH length of {len} bytes")));
    }
    let Some(rest) = b.get(len..) else {
        return Err(truncated("nsh_truncated", "NSH", len, b.len()));
    };
    let layer = EncapLayer::new(EncapKind::Nsh).with_id(path >> 8, false);
    let mut tags = 0;
    let carried = match next {
        1 => Some(Network::Ipv4(rest)),
        2 => Some(Network::Ipv6(rest)),
        3 => Some(
            link::ethernet(rest, &mut tags)
                .map_err(|_| truncated("nsh_truncated", "NSH inner Ethernet", len + 14, b.len()))?,
        ),
        5 => Some(Network::Encap(ETHERTYPE_MPLS, rest)),
        _ => None,
    };
    Ok((layer, carried))
}

/// VXLAN (RFC 7348): `Flags (8, I = 0x08) | Reserved (24) | VNI (24) | Reserved (8)`, then
/// Ethernet. Without the I flag the datagram is not VXLAN.
fn vxlan(b: &[u8]) -> Option<Result<(EncapLayer, Carried<'_>), LayerError>> {
    let flags = *b.first()?;
    if flags & 0x08 == 0 {
        return None;
    }
    let Some(word) = be32(b, 4) else {
        return Some(Err(truncated("vxlan_truncated", "VXLAN", 8, b.len())));
    };
    let layer = EncapLayer::new(EncapKind::Vxlan).with_id(word >> 8, true);
    let mut tags = 0;
    Some(match link::ethernet(&b[8..], &mut tags) {
        Ok(net) => Ok((layer, Some(net))),
        Err(_) => Err(truncated(
            "vxlan_truncated",
            "VXLAN inner Ethernet",
            22,
            b.len(),
        )),
    })
}

/// GENEVE (RFC 8926):
///
/// ```text
/// Ver (2) | Opt Len (6, 4-byte words) | O (1) C (1) Rsvd (6) | Protocol Type (16)
/// VNI (24) | Reserved (8) | options (Class 16 | Type 8 | R 3 Length 5 | data) ...
/// ```
///
/// A version other than 0 is not GENEVE (ordinary UDP); options that do not tile their
/// declared length are malformed.
fn geneve(b: &[u8]) -> Option<Result<(EncapLayer, Carried<'_>), LayerError>> {
    let first = *b.first()?;
    if first >> 6 != 0 {
        return None;
    }
    let (Some(proto), Some(word)) = (be16(b, 2), be32(b, 4)) else {
        return Some(Err(truncated("geneve_truncated", "GENEVE", 8, b.len())));
    };
    let opt_len = usize::from(first & 0x3f) * 4;
    let Some(mut opts) = b.get(8..8 + opt_len) else {
        return Some(Err(err(
            "geneve_options_past_packet",
            format!(
                "{opt_len} bytes of options, {} captured",
                b.len().saturating_sub(8)
            ),
        )));
    };
    let mut count: u16 = 0;
    while !opts.is_empty() {
        let Some(&l) = opts.get(3) else {
            return Some(Err(err(
                "geneve_bad_options",
                "an option header is cut by the options length",
            )));
        };
        let len = 4 + usize::from(l & 0x1f) * 4;
        let Some(rest) = opts.get(len..) else {
            return Some(Err(err(
                "geneve_bad_options",
                format!("an option of {len} bytes overruns the options length"),
            )));
        };
        opts = rest;
        count = count.saturating_add(1);
    }
    let mut layer = EncapLayer::new(EncapKind::Geneve).with_id(word >> 8, true);
    layer.options = Some((count, opt_len as u16));
    let rest = &b[8 + opt_len..];
    Some(by_protocol(proto, rest, "GENEVE").map(|n| (layer, Some(n))))
}

/// What the decoder learns across packets: Teredo clients (address and port) seen
/// talking to a Teredo server on port 3544. A client's datagrams to relays use other
/// ports, so those are checked for Teredo too (the check still decides). Bounded: past
/// [`Learned::MAX`] clients no more are learned.
#[derive(Debug, Default)]
pub struct Learned {
    teredo: hashbrown::HashSet<(IpAddr, u16), foldhash::fast::RandomState>,
}

impl Learned {
    /// Teredo clients remembered at most.
    pub const MAX: usize = 4096;

    /// Whether either end of a datagram is a learned Teredo client.
    #[inline]
    pub fn knows(&self, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> bool {
        !self.teredo.is_empty()
            && (self.teredo.contains(&(src, sport)) || self.teredo.contains(&(dst, dport)))
    }

    /// Remembers the client end of a checked Teredo datagram to or from port 3544.
    pub fn teredo_client(&mut self, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) {
        let client = if dport == PORT_TEREDO {
            (src, sport)
        } else if sport == PORT_TEREDO {
            (dst, dport)
        } else {
            return;
        };
        if self.teredo.len() < Self::MAX {
            self.teredo.insert(client);
        }
    }
}

/// Teredo (RFC 4380): an optional authentication header (`00 01`, ID and auth lengths,
/// client ID, authentication value, 8-byte nonce, confirmation byte) and an optional
/// origin indication (`00 00`, port, address: 8 bytes), then an IPv6 packet. A payload
/// that does not end in a whole IPv6 header is not Teredo. A bubble (no next header, no
/// payload) is counted and carries nothing.
pub fn teredo<'a>(
    mut b: &'a [u8],
    counts: &mut EncapCounts,
) -> Option<Result<(EncapLayer, Carried<'a>), LayerError>> {
    if b.starts_with(&[0, 1]) {
        let (id_len, au_len) = (usize::from(*b.get(2)?), usize::from(*b.get(3)?));
        b = b.get(4 + id_len + au_len + 9..)?;
    }
    if b.starts_with(&[0, 0]) {
        b = b.get(8..)?;
    }
    let header = b.get(..40)?;
    if header[0] >> 4 != 6 {
        return None;
    }
    let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    if 40 + payload_len > b.len() {
        return None;
    }
    let layer = EncapLayer::new(EncapKind::Teredo);
    if header[6] == 59 && payload_len == 0 {
        counts.teredo_bubbles += 1;
        return Some(Ok((layer, None)));
    }
    Some(Ok((layer, Some(Network::Ipv6(b)))))
}

/// L2TPv2 (RFC 2661) data messages, PPP inside:
///
/// ```text
/// T L x x S x O P | x x x x Ver (4) | [Length (16)] | Tunnel ID (16) | Session ID (16)
/// | [Ns (16) | Nr (16)] | [Offset Size (16) | Offset pad]
/// ```
///
/// Version other than 2 is not L2TPv2 (ordinary UDP); control messages (T) are counted.
fn l2tp<'a>(
    b: &'a [u8],
    counts: &mut EncapCounts,
) -> Option<Result<(EncapLayer, Carried<'a>), LayerError>> {
    let (&flags, &ver) = (b.first()?, b.get(1)?);
    if ver & 0x0f != 2 {
        return None;
    }
    if flags & 0x80 != 0 {
        counts.l2tp_control += 1;
        return None;
    }
    let mut at = 2;
    let mut end = b.len();
    if flags & 0x40 != 0 {
        let Some(len) = be16(b, at) else {
            return Some(Err(truncated("l2tp_truncated", "L2TP", 4, b.len())));
        };
        let len = usize::from(len);
        if len > b.len() {
            return Some(Err(err(
                "l2tp_length_past_packet",
                format!("L2TP length {len}, {} captured", b.len()),
            )));
        }
        end = len;
        at += 2;
    }
    let (Some(tunnel), Some(session)) = (be16(b, at), be16(b, at + 2)) else {
        return Some(Err(truncated("l2tp_truncated", "L2TP", at + 4, b.len())));
    };
    at += 4;
    if flags & 0x08 != 0 {
        at += 4;
    }
    if flags & 0x02 != 0 {
        let Some(off) = be16(b, at) else {
            return Some(Err(truncated("l2tp_truncated", "L2TP", at + 2, b.len())));
        };
        at += 2 + usize::from(off);
    }
    let Some(body) = b.get(at..end) else {
        return Some(Err(truncated("l2tp_truncated", "L2TP", at, end)));
    };
    let layer = EncapLayer::new(EncapKind::L2tp)
        .with_id(u32::from(tunnel) << 16 | u32::from(session), false);
    Some(ppp_carried(body, "L2TP").map(|c| (layer, c)))
}

/// GTP-U version 1 (3GPP TS 29.281):
///
/// ```text
/// Version (3) PT (1) x E (1) S (1) PN (1) | Message Type (8) | Length (16) | TEID (32)
/// [Sequence (16) | N-PDU (8) | Next Extension Type (8)]   if E, S or PN
/// [extension: Length (8, 4-byte units) | contents | Next Extension Type (8)] ...
/// ```
///
/// Version other than 1 or PT 0 (GTP') is not GTP-U. Message type 255 (G-PDU) carries an
/// IP packet; the others are counted.
fn gtp_u<'a>(
    b: &'a [u8],
    cut: bool,
    counts: &mut EncapCounts,
) -> Option<Result<(EncapLayer, Carried<'a>), LayerError>> {
    let flags = *b.first()?;
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return None;
    }
    let (Some(&msg), Some(len), Some(teid)) = (b.get(1), be16(b, 2), be32(b, 4)) else {
        return Some(Err(truncated("gtp_truncated", "GTP-U", 8, b.len())));
    };
    let len = usize::from(len);
    if 8 + len > b.len() && !cut {
        return Some(Err(err(
            "gtp_length_past_packet",
            format!("GTP-U length {len}, {} bytes after its header", b.len() - 8),
        )));
    }
    let end = (8 + len).min(b.len());
    let layer = EncapLayer::new(EncapKind::GtpU).with_id(teid, false);
    if msg != 0xff {
        counts.gtp_u_signalling += 1;
        return Some(Ok((layer, None)));
    }
    let mut at = 8;
    if flags & 0x07 != 0 {
        let Some(&next) = b.get(11) else {
            return Some(Err(truncated("gtp_truncated", "GTP-U", 12, b.len())));
        };
        at = 12;
        let mut next = next;
        let mut guard = 0;
        while next != 0 {
            guard += 1;
            let Some(&units) = b.get(at) else {
                return Some(Err(truncated(
                    "gtp_truncated",
                    "GTP-U extension",
                    at + 1,
                    b.len(),
                )));
            };
            if units == 0 || guard > 16 {
                return Some(Err(err(
                    "gtp_bad_extension",
                    format!("extension header of length {units} at {at}"),
                )));
            }
            let ext_end = at + usize::from(units) * 4;
            let Some(&n) = b.get(ext_end - 1) else {
                return Some(Err(truncated(
                    "gtp_truncated",
                    "GTP-U extension",
                    ext_end,
                    b.len(),
                )));
            };
            next = n;
            at = ext_end;
        }
    }
    let Some(inner) = b.get(at..end) else {
        return Some(Err(truncated("gtp_truncated", "GTP-U", at, end)));
    };
    Some(Ok((layer, ip_by_nibble(inner))))
}

/// An MPLS label stack (RFC 3032: `Label (20) | TC (3) | S (1) | TTL (8)` per entry,
/// S marking the bottom), then IPv4 or IPv6 by the first nibble, or an Ethernet
/// pseudowire: with the control word (RFC 4385, first nibble 0) or without.
pub fn mpls(b: &[u8]) -> Result<(EncapLayer, Carried<'_>), LayerError> {
    const MAX_LABELS: usize = 16;
    let mut at = 0;
    let label = loop {
        let Some(entry) = be32(b, at) else {
            return Err(truncated(
                "mpls_truncated",
                "MPLS label stack",
                at + 4,
                b.len(),
            ));
        };
        at += 4;
        if entry & 0x100 != 0 {
            break entry >> 12;
        }
        if at >= MAX_LABELS * 4 {
            return Err(err(
                "mpls_too_many_labels",
                format!("more than {MAX_LABELS} labels"),
            ));
        }
    };
    let layer = EncapLayer::new(EncapKind::Mpls).with_id(label, false);
    let rest = &b[at..];
    let mut tags = 0;
    let carried = match rest.first().map(|f| f >> 4) {
        Some(4) => Network::Ipv4(rest),
        Some(6) => Network::Ipv6(rest),
        Some(0) => {
            let frame = rest.get(4..).unwrap_or(&[]);
            link::ethernet(frame, &mut tags).map_err(|_| {
                truncated(
                    "mpls_truncated",
                    "MPLS pseudowire Ethernet",
                    at + 18,
                    b.len(),
                )
            })?
        }
        Some(_) => link::ethernet(rest, &mut tags).map_err(|_| {
            truncated(
                "mpls_truncated",
                "MPLS pseudowire Ethernet",
                at + 14,
                b.len(),
            )
        })?,
        None => return Ok((layer, None)),
    };
    Ok((layer, Some(carried)))
}

/// A PPPoE session frame (RFC 2516): `Ver (4) = 1 | Type (4) = 1 | Code (8) = 0 |
/// Session ID (16) | Length (16)`, then a PPP protocol field and its payload.
pub fn pppoe(b: &[u8]) -> Result<(EncapLayer, Carried<'_>), LayerError> {
    let (Some(&vt), Some(&code), Some(session), Some(len)) =
        (b.first(), b.get(1), be16(b, 2), be16(b, 4))
    else {
        return Err(truncated("pppoe_truncated", "PPPoE", 6, b.len()));
    };
    if vt != 0x11 {
        return Err(err(
            "pppoe_bad_version",
            format!("PPPoE version/type {vt:#04x}"),
        ));
    }
    if code != 0 {
        return Err(err(
            "pppoe_wrong_code",
            format!("PPPoE session frame with code {code:#04x}"),
        ));
    }
    let len = usize::from(len);
    let Some(body) = b.get(6..6 + len) else {
        return Err(err(
            "pppoe_length_past_packet",
            format!("PPPoE length {len}, {} captured", b.len() - 6),
        ));
    };
    let layer = EncapLayer::new(EncapKind::Pppoe).with_id(u32::from(session), true);
    Ok((layer, ppp_carried(body, "PPPoE")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_ipv4() -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45]);
        f
    }

    #[test]
    fn gre_flags_move_the_payload() {
        let mut c = EncapCounts::default();
        // C, K and S: checksum+reserved, key 0x01020304, sequence, then IPv4.
        let pkt = [0xb0, 0, 0x08, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 9, 0x45];
        let (layer, net) = gre(&pkt, false, &mut c).unwrap();
        assert_eq!(
            (layer.kind, layer.id, layer.keyed),
            (EncapKind::Gre, Some(0x0102_0304), true)
        );
        assert_eq!(net, Some(Network::Ipv4(&[0x45])));
        // Plain GRE carrying IPv6.
        assert_eq!(
            gre(&[0, 0, 0x86, 0xdd, 0x60], false, &mut c).unwrap().1,
            Some(Network::Ipv6(&[0x60]))
        );
        // TEB: an Ethernet frame.
        let mut teb = vec![0, 0, 0x65, 0x58];
        teb.extend_from_slice(&eth_ipv4());
        assert_eq!(
            gre(&teb, false, &mut c).unwrap().1,
            Some(Network::Ipv4(&[0x45]))
        );
        // An unknown protocol type is counted, nothing carried.
        assert_eq!(gre(&[0, 0, 0x12, 0x34], false, &mut c).unwrap().1, None);
        assert_eq!(c.gre_other_protocols.get("0x1234"), Some(&1));
    }

    #[test]
    fn gre_malformed_kinds() {
        let mut c = EncapCounts::default();
        assert_eq!(
            gre(&[0, 0, 8], false, &mut c).unwrap_err().kind,
            "gre_truncated"
        );
        // Key bit set, key missing.
        assert_eq!(
            gre(&[0x20, 0, 8, 0, 1, 2], false, &mut c).unwrap_err().kind,
            "gre_truncated"
        );
        assert_eq!(
            gre(&[0, 3, 8, 0], false, &mut c).unwrap_err().kind,
            "gre_bad_version"
        );
        assert_eq!(
            gre(&[0x40, 0, 8, 0], false, &mut c).unwrap_err().kind,
            "gre_routing_unsupported"
        );
        // Version 1 without the key bit.
        assert_eq!(
            gre(&[0, 1, 0x88, 0x0b], false, &mut c).unwrap_err().kind,
            "gre_bad_pptp_header"
        );
    }

    #[test]
    fn pptp_enhanced_gre_carries_ppp() {
        let mut c = EncapCounts::default();
        // K S, version 1 with A; length 3, call id 7; seq; ack; PPP ff 03 00 21 then 0x45.
        let pkt = [
            0x30, 0x81, 0x88, 0x0b, 0, 5, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0x03, 0x00, 0x21,
            0x45,
        ];
        let (layer, net) = gre(&pkt, false, &mut c).unwrap();
        assert_eq!((layer.kind, layer.id), (EncapKind::Pptp, Some(7)));
        assert_eq!(net, Some(Network::Ipv4(&[0x45])));
        // Acknowledgement only (no S): nothing inside.
        let ack = [0x20, 0x81, 0x88, 0x0b, 0, 0, 0, 7, 0, 0, 0, 1];
        assert_eq!(gre(&ack, false, &mut c).unwrap().1, None);
    }

    #[test]
    fn erspan_types() {
        let mut c = EncapCounts::default();
        // Type II: GRE with S, proto 88be; ERSPAN ver 1, vlan 5, session 0x123.
        let mut pkt = vec![
            0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0x05, 0x01, 0x23, 0, 0, 0, 0,
        ];
        pkt.extend_from_slice(&eth_ipv4());
        let (layer, net) = gre(&pkt, false, &mut c).unwrap();
        assert_eq!((layer.kind, layer.id), (EncapKind::Erspan, Some(0x123)));
        assert_eq!(net, Some(Network::Ipv4(&[0x45])));
        // Type I: no S, Ethernet right after GRE.
        let mut one = vec![0, 0, 0x88, 0xbe];
        one.extend_from_slice(&eth_ipv4());
        assert_eq!(
            gre(&one, false, &mut c).unwrap().1,
            Some(Network::Ipv4(&[0x45]))
        );
        // Type III with the platform subheader (O bit).
        let mut three = vec![
            0x10, 0, 0x22, 0xeb, 0, 0, 0, 1, 0x20, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        three.extend_from_slice(&[0; 8]);
        three.extend_from_slice(&eth_ipv4());
        let (layer, net) = gre(&three, false, &mut c).unwrap();
        assert_eq!(layer.id, Some(9));
        assert_eq!(net, Some(Network::Ipv4(&[0x45])));
        // Wrong version for the protocol type; short header.
        let mut bad = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x20, 0, 0, 0, 0, 0, 0, 0];
        bad.extend_from_slice(&eth_ipv4());
        assert_eq!(
            gre(&bad, false, &mut c).unwrap_err().kind,
            "erspan_bad_version"
        );
        assert_eq!(
            gre(&[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10], false, &mut c)
                .unwrap_err()
                .kind,
            "erspan_truncated"
        );
    }

    #[test]
    fn vxlan_needs_its_flag() {
        let mut c = EncapCounts::default();
        let mut pkt = vec![0x08, 0, 0, 0, 0, 0x30, 0x39, 0];
        pkt.extend_from_slice(&eth_ipv4());
        let (layer, net) = udp(50000, PORT_VXLAN, &pkt, false, &mut c)
            .unwrap()
            .unwrap();
        assert_eq!(
            (layer.kind, layer.id, layer.keyed),
            (EncapKind::Vxlan, Some(12345), true)
        );
        assert_eq!(net, Some(Network::Ipv4(&[0x45])));
        pkt[0] = 0;
        assert!(
            udp(50000, PORT_VXLAN, &pkt, false, &mut c).is_none(),
            "no I flag: ordinary UDP"
        );
        assert_eq!(
            udp(50000, PORT_VXLAN, &[0x08, 0, 0], false, &mut c)
                .unwrap()
                .unwrap_err()
                .kind,
            "vxlan_truncated"
        );
    }

    #[test]
    fn geneve_version_and_options() {
        let mut c = EncapCounts::default();
        // Opt len 3 words: one option of 4 + 1*4 bytes, then 4 more bytes: a second option
        // with no data. Protocol TEB, VNI 0x010203.
        let mut pkt = vec![
            0x03, 0, 0x65, 0x58, 1, 2, 3, 0, 0, 1, 2, 0x01, 9, 9, 9, 9, 0, 1, 3, 0x00,
        ];
        pkt.extend_from_slice(&eth_ipv4());
        let (layer, net) = udp(1, PORT_GENEVE, &pkt, false, &mut c).unwrap().unwrap();
        assert_eq!((layer.id, layer.options), (Some(0x010203), Some((2, 12))));
        assert_eq!(net, Some(Network::Ipv4(&[0x45])));
        pkt[0] = 0x43;
        assert!(
            udp(1, PORT_GENEVE, &pkt, false, &mut c).is_none(),
            "version 1: ordinary UDP"
        );
        // An option claiming more than the options length.
        let bad = [0x01, 0, 0x65, 0x58, 1, 2, 3, 0, 0, 1, 2, 0x05];
        assert_eq!(
            udp(1, PORT_GENEVE, &bad, false, &mut c)
                .unwrap()
                .unwrap_err()
                .kind,
            "geneve_bad_options"
        );
        let past = [0x3f, 0, 0x65, 0x58, 1, 2, 3, 0];
        assert_eq!(
            udp(1, PORT_GENEVE, &past, false, &mut c)
                .unwrap()
                .unwrap_err()
                .kind,
            "geneve_options_past_packet"
        );
    }

    fn ipv6_header(next: u8, payload: u16) -> Vec<u8> {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&payload.to_be_bytes());
        h.extend_from_slice(&[next, 64]);
        h.extend_from_slice(&[0; 32]);
        h
    }

    #[test]
    fn teredo_headers_bubbles_and_non_teredo() {
        let mut c = EncapCounts::default();
        let mut pkt = vec![0, 0, 0x12, 0x34, 1, 2, 3, 4]; // origin indication
        pkt.extend_from_slice(&ipv6_header(17, 0));
        let (layer, net) = udp(PORT_TEREDO, 40000, &pkt, false, &mut c)
            .unwrap()
            .unwrap();
        assert_eq!(layer.kind, EncapKind::Teredo);
        assert!(matches!(net, Some(Network::Ipv6(b)) if b.len() == 40));
        // Authentication header (id len 1, auth len 2) before the IPv6 header.
        let mut auth = vec![0, 1, 1, 2, 0xaa, 0xbb, 0xcc];
        auth.extend_from_slice(&[0; 9]);
        auth.extend_from_slice(&ipv6_header(59, 0));
        assert_eq!(
            udp(PORT_TEREDO, 1, &auth, false, &mut c)
                .unwrap()
                .unwrap()
                .1,
            None
        );
        assert_eq!(c.teredo_bubbles, 1);
        // Not IPv6, or a payload length past the datagram: ordinary UDP.
        assert!(udp(PORT_TEREDO, 1, &[0x45; 60], false, &mut c).is_none());
        assert!(udp(PORT_TEREDO, 1, &ipv6_header(17, 8), false, &mut c).is_none());
    }

    #[test]
    fn l2tp_data_carries_ppp_control_is_counted() {
        let mut c = EncapCounts::default();
        // L bit, version 2, length 12, tunnel 1, session 2, then PPP ff 03 00 21 and 0x45.
        // Length 11 ends inside the PPP protocol field.
        let pkt = [0x40, 0x02, 0, 11, 0, 1, 0, 2, 0xff, 0x03, 0x00, 0x21, 0x45];
        assert_eq!(
            udp(PORT_L2TP, PORT_L2TP, &pkt, false, &mut c)
                .unwrap()
                .unwrap_err()
                .kind,
            "ppp_truncated"
        );
        let pkt = [0x40, 0x02, 0, 13, 0, 1, 0, 2, 0xff, 0x03, 0x00, 0x21, 0x45];
        let (layer, net) = udp(PORT_L2TP, PORT_L2TP, &pkt, false, &mut c)
            .unwrap()
            .unwrap();
        assert_eq!(layer.id, Some(0x0001_0002));
        assert_eq!(net, Some(Network::Ipv4(&[0x45])));
        assert!(udp(PORT_L2TP, 1, &[0xc8, 0x02, 0, 12], false, &mut c).is_none());
        assert_eq!(c.l2tp_control, 1);
        assert!(
            udp(PORT_L2TP, 1, &[0x00, 0x03, 0, 12], false, &mut c).is_none(),
            "L2TPv3 stays UDP"
        );
        assert_eq!(
            udp(PORT_L2TP, 1, &[0x40, 0x02, 0, 99, 0, 1], false, &mut c)
                .unwrap()
                .unwrap_err()
                .kind,
            "l2tp_length_past_packet"
        );
    }

    #[test]
    fn gtp_u_with_extension_headers() {
        let mut c = EncapCounts::default();
        // E flag, G-PDU, length 4+4+1, TEID 0xdeadbeef; seq, npdu, next 0x85; ext of 1 unit
        // (4 bytes) ending with next 0; then IPv4.
        let pkt = [
            0x34, 0xff, 0, 9, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0x85, 1, 0, 0, 0, 0x45,
        ];
        let (layer, net) = udp(PORT_GTP_U, PORT_GTP_U, &pkt, false, &mut c)
            .unwrap()
            .unwrap();
        assert_eq!((layer.kind, layer.id), (EncapKind::GtpU, Some(0xdead_beef)));
        assert_eq!(net, Some(Network::Ipv4(&[0x45])));
        // Echo request: counted, nothing inside.
        assert_eq!(
            udp(1, PORT_GTP_U, &[0x30, 1, 0, 0, 0, 0, 0, 0], false, &mut c)
                .unwrap()
                .unwrap()
                .1,
            None
        );
        assert_eq!(c.gtp_u_signalling, 1);
        // Version 2 or GTP': ordinary UDP.
        assert!(
            udp(
                1,
                PORT_GTP_U,
                &[0x50, 0xff, 0, 0, 0, 0, 0, 0],
                false,
                &mut c
            )
            .is_none()
        );
        assert!(
            udp(
                1,
                PORT_GTP_U,
                &[0x20, 0xff, 0, 0, 0, 0, 0, 0],
                false,
                &mut c
            )
            .is_none()
        );
        // Length past the packet; extension of length 0.
        assert_eq!(
            udp(
                1,
                PORT_GTP_U,
                &[0x30, 0xff, 0, 50, 0, 0, 0, 0],
                false,
                &mut c
            )
            .unwrap()
            .unwrap_err()
            .kind,
            "gtp_length_past_packet"
        );
        assert!(
            udp(
                1,
                PORT_GTP_U,
                &[0x30, 0xff, 0, 50, 0, 0, 0, 0],
                true,
                &mut c
            )
            .unwrap()
            .is_ok(),
            "snap-length cut"
        );
        let zero = [0x34, 0xff, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0x85, 0, 0, 0, 0];
        assert_eq!(
            udp(1, PORT_GTP_U, &zero, false, &mut c)
                .unwrap()
                .unwrap_err()
                .kind,
            "gtp_bad_extension"
        );
        // GTP-C counted, left as UDP.
        assert!(
            udp(
                1,
                PORT_GTP_C,
                &[0x48, 0x20, 0, 4, 0, 0, 0, 0],
                false,
                &mut c
            )
            .is_none()
        );
        assert_eq!(c.gtp_c, 1);
    }

    #[test]
    fn mpls_stack_to_ip_or_pseudowire() {
        // Two labels (100, then 200 with S), IPv6 inside.
        let pkt = [0x00, 0x06, 0x40, 0x40, 0x00, 0x0c, 0x81, 0x40, 0x60];
        let (layer, net) = mpls(&pkt).unwrap();
        assert_eq!(layer.id, Some(200));
        assert_eq!(net, Some(Network::Ipv6(&[0x60])));
        // Control word then Ethernet.
        let mut pw = vec![0x00, 0x01, 0x01, 0x40, 0, 0, 0, 0];
        pw.extend_from_slice(&eth_ipv4());
        assert_eq!(mpls(&pw).unwrap().1, Some(Network::Ipv4(&[0x45])));
        // No control word: Ethernet whose first nibble is not 0, 4 or 6.
        let mut bare = vec![0x00, 0x01, 0x01, 0x40];
        let mut eth = eth_ipv4();
        eth[0] = 0xa0;
        bare.extend_from_slice(&eth);
        assert_eq!(mpls(&bare).unwrap().1, Some(Network::Ipv4(&[0x45])));
        assert_eq!(mpls(&[0, 0, 0]).unwrap_err().kind, "mpls_truncated");
        assert_eq!(mpls(&[0u8; 80]).unwrap_err().kind, "mpls_too_many_labels");
    }

    #[test]
    fn pppoe_session_checks() {
        let pkt = [0x11, 0, 0x12, 0x34, 0, 3, 0x00, 0x21, 0x45, 0xee];
        let (layer, net) = pppoe(&pkt).unwrap();
        assert_eq!((layer.id, layer.keyed), (Some(0x1234), true));
        assert_eq!(
            net,
            Some(Network::Ipv4(&[0x45])),
            "Ethernet padding after the PPPoE length is cut off"
        );
        assert_eq!(
            pppoe(&[0x21, 0, 0, 1, 0, 0]).unwrap_err().kind,
            "pppoe_bad_version"
        );
        assert_eq!(
            pppoe(&[0x11, 0x09, 0, 1, 0, 0]).unwrap_err().kind,
            "pppoe_wrong_code"
        );
        assert_eq!(
            pppoe(&[0x11, 0, 0, 1, 0, 40, 0, 0x21]).unwrap_err().kind,
            "pppoe_length_past_packet"
        );
        assert_eq!(pppoe(&[0x11, 0]).unwrap_err().kind, "pppoe_truncated");
    }

    #[test]
    fn chain_is_capped() {
        let mut chain = EncapChain::default();
        for _ in 0..MAX_DEPTH {
            assert!(chain.push(EncapLayer::new(EncapKind::Mpls)));
        }
        assert!(!chain.push(EncapLayer::new(EncapKind::Mpls)));
        assert_eq!(chain.layers().len(), MAX_DEPTH);
        chain.clear();
        assert!(chain.is_empty());
    }
}
