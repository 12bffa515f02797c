//! Decoding: from a captured frame to the transport-layer facts the flow table needs.
//!
//! # Contract
//!
//! - Link layers: see [`link`]. IPv4 (with options) and IPv6 (with extension headers) are
//!   sliced by `etherparse`'s lax slicer, so packets cut by the snap length still decode;
//!   TCP and UDP headers are read here.
//! - IP fragments are held by [`defrag::Defragmenter`], which is bounded in bytes and
//!   entries and expires incomplete datagrams in packet time; a completed datagram is
//!   decoded like any other packet, at the time of its last fragment.
//! - A malformed packet becomes [`Decoded::Malformed`] with a reason; the caller records it
//!   as an anomaly and skips the packet. Nothing here panics on any input.
//! - Encapsulation ([`encap`]): an IP protocol (GRE, IP-in-IP), a UDP port (VXLAN, GENEVE,
//!   Teredo, L2TP, GTP-U, GRE-in-UDP, AYIYA) or an EtherType (MPLS, PPPoE, NSH) leads to a
//!   layer whose content is decoded again, in a loop of at most [`encap::MAX_DEPTH`]
//!   layers (more is `encap_too_deep`). The inner packet is the result;
//!   [`Decoder::decode_layers`] gives its layers too (outer endpoints, identifiers), for
//!   the flow key and the records. Fragments inside a datagram that was itself rebuilt are
//!   counted and dropped.
//! - Every packet is counted in [`ProtocolCounts`]: each header once (a tunnelled packet's
//!   inner IPv4 header counts in `ipv4` beside its outer one).

pub mod defrag;
pub mod encap;
pub mod link;
pub mod tcp;

pub use tcp::{TcpFlags, TcpSegment};

use crate::capture::RawPacket;
use crate::timestamp::Timestamp;
use encap::{EncapChain, EncapCounts, EncapKind, EncapLayer};
use etherparse::{LaxIpSlice, LenSource};
use link::{LinkError, Network};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Network-layer facts of a decoded packet.
#[derive(Clone, Copy, Debug)]
pub struct IpMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 total length or IPv6 payload length + 40: the bytes Zeek counts as `ip_bytes`.
    pub ip_len: u32,
    /// True when the packet was rebuilt from fragments.
    pub reassembled: bool,
}

/// The result of decoding one packet.
#[derive(Debug)]
pub enum Decoded<'a> {
    Tcp {
        ip: IpMeta,
        sport: u16,
        dport: u16,
        segment: TcpSegment<'a>,
    },
    Udp {
        ip: IpMeta,
        sport: u16,
        dport: u16,
        payload: &'a [u8],
        /// Payload bytes cut by the snap length.
        missing: u32,
    },
    /// Decoded and counted, but not a flow tunscope tracks (ICMP, ARP, ...).
    Other,
    /// A fragment held for reassembly (or dropped; see the defragmenter's stats).
    Fragment,
    Malformed {
        kind: &'static str,
        detail: String,
    },
}

/// Packets per protocol, as a summary reports them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProtocolCounts {
    pub ipv4: u64,
    pub ipv6: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    pub icmpv6: u64,
    pub arp: u64,
    /// Packets that carried at least one 802.1Q/802.1ad VLAN tag.
    pub vlan_tagged: u64,
    pub ip_fragments: u64,
    pub reassembled_datagrams: u64,
    pub malformed: u64,
    /// Other IP protocols, by number.
    pub other_ip_protocols: BTreeMap<u8, u64>,
    /// Non-IP EtherTypes, by `0x` hex value.
    pub other_ethertypes: BTreeMap<String, u64>,
    /// Frames of link types tunscope does not decode, by link type name.
    pub unsupported_link_types: BTreeMap<String, u64>,
    /// Non-IP frames of other kinds (LLC, PPP control, non-IP loopback families).
    pub other_link_frames: u64,
    /// Encapsulation headers looked inside, and tunnel messages with nothing inside. Not
    /// in outputs when nothing was counted.
    #[serde(skip_serializing_if = "EncapCounts::is_empty")]
    pub encap: EncapCounts,
}

/// Decodes packets, holding fragment state between calls.
#[derive(Debug, Default)]
pub struct Decoder {
    pub counts: ProtocolCounts,
    pub defrag: defrag::Defragmenter,
    /// The encapsulation layers of the packet decoded last (reused).
    chain: EncapChain,
    /// Teredo clients learned from checked exchanges with a Teredo server.
    learned: encap::Learned,
}

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;
const IPPROTO_ICMPV6: u8 = 58;

/// What one header led to: a result, or (its layer already on the chain) the network
/// layer it carries. Small on purpose: the bare path moves it once per packet.
enum Step<'a> {
    Done(Decoded<'a>),
    Inner(Network<'a>),
}

/// Puts `layer` on the chain and goes on with what it carries: `read` is the carried
/// network layer (or nothing), or the layer's format error (the layer still counts, so a
/// UDP encapsulation's outer flow is listed).
#[cold]
#[inline(never)]
fn enter<'a>(
    counts: &mut ProtocolCounts,
    chain: &mut EncapChain,
    layer: EncapLayer,
    read: Result<encap::Carried<'a>, encap::LayerError>,
) -> Step<'a> {
    if !chain.push(layer) {
        return Step::Done(malformed(counts, "encap_too_deep", || {
            format!(
                "more than {} encapsulation layers ({} inside)",
                encap::MAX_DEPTH,
                chain
                    .layers()
                    .iter()
                    .map(|l| l.kind.name())
                    .collect::<Vec<_>>()
                    .join(" > ")
            )
        }));
    }
    counts.encap.layer(layer.kind);
    match read {
        Ok(Some(n)) => Step::Inner(n),
        Ok(None) => Step::Done(Decoded::Other),
        Err(e) => Step::Done(malformed(counts, e.kind, || e.detail)),
    }
}

impl Decoder {
    pub fn new(defrag: defrag::Defragmenter) -> Self {
        Decoder {
            counts: ProtocolCounts::default(),
            defrag,
            chain: EncapChain::default(),
            learned: encap::Learned::default(),
        }
    }

    /// Decodes one packet. The result borrows either the packet or, for a datagram rebuilt
    /// from fragments, the decoder's reassembly buffer. A TCP payload that lies in the
    /// packet gets its position from [`RawPacket::stored_at`]; one in the reassembly
    /// buffer gets none.
    pub fn decode<'a>(&'a mut self, pkt: &RawPacket<'a>) -> Decoded<'a> {
        self.decode_layers(pkt).0
    }

    /// [`Decoder::decode`], with the encapsulation layers the packet was found inside
    /// (outermost first; empty for a bare packet). The layers are there for every result,
    /// a malformed inner packet's included, so outer UDP flows can be counted.
    pub fn decode_layers<'a>(&'a mut self, pkt: &RawPacket<'a>) -> (Decoded<'a>, &'a EncapChain) {
        let Decoder {
            counts,
            defrag,
            chain,
            learned,
        } = self;
        chain.clear();
        let mut decoded = walk(counts, learned, defrag, chain, pkt);
        if let Decoded::Tcp { ip, segment, .. } = &mut decoded
            && !ip.reassembled
        {
            segment.payload_at = pkt
                .stored_at
                .and_then(|at| at.locate(pkt.data, segment.payload));
        }
        (decoded, chain)
    }
}

/// Counts and describes a malformed packet.
fn malformed<'a>(
    counts: &mut ProtocolCounts,
    kind: &'static str,
    detail: impl FnOnce() -> String,
) -> Decoded<'a> {
    counts.malformed += 1;
    Decoded::Malformed {
        kind,
        detail: detail(),
    }
}

/// The link layer, then network layers in a loop: each encapsulation found adds a layer to
/// `chain` and continues with what it carries, up to [`encap::MAX_DEPTH`] layers (a loop,
/// so no input can grow the stack).
fn walk<'a>(
    counts: &mut ProtocolCounts,
    learned: &mut encap::Learned,
    defrag: &'a mut defrag::Defragmenter,
    chain: &mut EncapChain,
    pkt: &RawPacket<'a>,
) -> Decoded<'a> {
    let mut vlan_tags = 0;
    let mut net = match link::strip(pkt.link, pkt.data, &mut vlan_tags) {
        Ok(n) => n,
        Err(LinkError::Unsupported(lt)) => {
            *counts.unsupported_link_types.entry(lt.name()).or_insert(0) += 1;
            return Decoded::Other;
        }
        Err(LinkError::Truncated { need, have }) => {
            return malformed(counts, "truncated_link_header", || {
                format!("{} header needs {need} bytes, frame has {have}", pkt.link)
            });
        }
        Err(LinkError::TooManyVlanTags) => {
            return malformed(counts, "too_many_vlan_tags", || {
                "more than 8 stacked VLAN tags".into()
            });
        }
    };
    if vlan_tags > 0 {
        counts.vlan_tagged += 1;
    }
    let mut defrag = Some(defrag);
    let mut rebuilt = false;
    loop {
        let step = match net {
            Network::Ipv4(b) => {
                counts.ipv4 += 1;
                decode_ip(
                    counts,
                    learned,
                    chain,
                    &mut defrag,
                    &mut rebuilt,
                    b,
                    pkt.index,
                    pkt.ts,
                )
            }
            Network::Ipv6(b) => {
                counts.ipv6 += 1;
                decode_ip(
                    counts,
                    learned,
                    chain,
                    &mut defrag,
                    &mut rebuilt,
                    b,
                    pkt.index,
                    pkt.ts,
                )
            }
            Network::Encap(encap::ETHERTYPE_PPPOE_DISCOVERY, _) => {
                counts.encap.pppoe_discovery += 1;
                return Decoded::Other;
            }
            Network::Encap(t, b) => {
                let read = match t {
                    encap::ETHERTYPE_PPPOE_SESSION => encap::pppoe(b),
                    encap::ETHERTYPE_NSH => encap::nsh(b),
                    _ => encap::mpls(b),
                };
                match read {
                    Ok((layer, carried)) => enter(counts, chain, layer, Ok(carried)),
                    Err(e) => return malformed(counts, e.kind, || e.detail),
                }
            }
            Network::OtherEtherType(link::ETHERTYPE_ARP) => {
                counts.arp += 1;
                return Decoded::Other;
            }
            Network::OtherEtherType(t) => {
                *counts
                    .other_ethertypes
                    .entry(format!("{t:#06x}"))
                    .or_insert(0) += 1;
                return Decoded::Other;
            }
            Network::Llc | Network::OtherPpp(_) | Network::OtherFamily(_) => {
                counts.other_link_frames += 1;
                return Decoded::Other;
            }
        };
        match step {
            Step::Done(mut d) => {
                if rebuilt && let Decoded::Tcp { ip, .. } | Decoded::Udp { ip, .. } = &mut d {
                    ip.reassembled = true;
                }
                return d;
            }
            Step::Inner(n) => net = n,
        }
    }
}

/// One IP header and what follows it. `defrag` is taken once a datagram has been rebuilt
/// (what is inside lies in its buffer): fragments inside it are counted and dropped.
#[allow(clippy::too_many_arguments)]
fn decode_ip<'a>(
    counts: &mut ProtocolCounts,
    learned: &mut encap::Learned,
    chain: &mut EncapChain,
    defrag: &mut Option<&'a mut defrag::Defragmenter>,
    rebuilt: &mut bool,
    bytes: &'a [u8],
    index: u64,
    ts: Timestamp,
) -> Step<'a> {
    if let Some(v4) = plain_ipv4(bytes) {
        return transport(
            counts,
            learned,
            chain,
            v4.meta,
            v4.proto,
            v4.payload,
            v4.declared,
        );
    }
    let ip = match LaxIpSlice::from_slice(bytes) {
        Ok((ip, _ext_err)) => ip,
        Err(e) => return Step::Done(malformed(counts, "bad_ip_header", || e.to_string())),
    };
    let payload = ip.payload();
    let proto = payload.ip_number.0;
    let (src, dst) = (ip.source_addr(), ip.destination_addr());
    // The length the IP header claims for its payload, to tell snap-length cuts apart.
    // Headers (with options and extension headers) span from the start of `bytes` to
    // the start of the payload slice.
    let headers_len =
        (payload.payload.as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize) as u32;
    let ip_len = match &ip {
        LaxIpSlice::Ipv4(v4) => u32::from(v4.header().total_len()),
        LaxIpSlice::Ipv6(v6) => u32::from(v6.header().payload_length()) + 40,
    };
    let declared_payload = ip_len.saturating_sub(headers_len);
    let meta = IpMeta {
        src,
        dst,
        ip_len,
        reassembled: false,
    };
    if payload.fragmented {
        counts.ip_fragments += 1;
        let frag = match &ip {
            LaxIpSlice::Ipv4(v4) => {
                let h = v4.header();
                defrag::FragmentInfo {
                    id: u32::from(h.identification()),
                    offset: h.fragments_offset(),
                    more: h.more_fragments(),
                }
            }
            LaxIpSlice::Ipv6(v6) => {
                let Some(fh) = v6.extensions().clone().into_iter().find_map(|e| match e {
                    etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f.to_header()),
                    _ => None,
                }) else {
                    return Step::Done(malformed(counts, "bad_fragment", || {
                        "IPv6 fragment without a fragment header".into()
                    }));
                };
                defrag::FragmentInfo {
                    id: fh.identification,
                    offset: fh.fragment_offset,
                    more: fh.more_fragments,
                }
            }
        };
        if payload.incomplete {
            return Step::Done(malformed(counts, "truncated_fragment", || {
                "fragment cut by the snap length".into()
            }));
        }
        let Some(d) = defrag.take() else {
            counts.encap.inner_fragments_dropped += 1;
            return Step::Done(Decoded::Fragment);
        };
        let payload_bytes = payload.payload;
        return match d.add(src, dst, proto, frag, payload_bytes, ts, index) {
            Ok(Some(())) => {
                counts.reassembled_datagrams += 1;
                *rebuilt = true;
                let d: &'a defrag::Defragmenter = d;
                let len = d.completed().len() as u32;
                let meta = IpMeta {
                    reassembled: true,
                    ip_len: len + if src.is_ipv4() { 20 } else { 40 },
                    ..meta
                };
                transport(counts, learned, chain, meta, proto, d.completed(), len)
            }
            Ok(None) => Step::Done(Decoded::Fragment),
            Err(reason) => Step::Done(malformed(counts, "bad_fragment", || reason)),
        };
    }
    let declared = if payload.len_source == LenSource::Slice && !payload.incomplete {
        payload.payload.len() as u32
    } else {
        declared_payload
    };
    transport(
        counts,
        learned,
        chain,
        meta,
        proto,
        payload.payload,
        declared,
    )
}

/// An unfragmented IPv4 packet whose header states its length, sliced.
struct PlainIpv4<'a> {
    meta: IpMeta,
    proto: u8,
    /// Captured payload, at most `declared` bytes (Ethernet padding cut off).
    payload: &'a [u8],
    /// Payload length the header claims.
    declared: u32,
}

/// The common case read directly: an IPv4 header (with or without options) that is
/// wholly captured, states a total length at least as long as itself, and is not a
/// fragment. Everything else (IPv6, fragments, total length 0 from segmentation offload,
/// bad header lengths) is `None` and takes the general `etherparse` route, which gives the
/// same result for the packets accepted here (see the `plain_ipv4_agrees_with_etherparse`
/// test).
#[inline]
fn plain_ipv4(bytes: &[u8]) -> Option<PlainIpv4<'_>> {
    let fixed: &[u8; 20] = bytes.get(..20)?.try_into().ok()?;
    if fixed[0] >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(fixed[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    let fragment_bits = u16::from_be_bytes([fixed[6], fixed[7]]) & 0x3fff;
    if header_len < 20 || header_len > bytes.len() || total_len < header_len || fragment_bits != 0 {
        return None;
    }
    let src = [fixed[12], fixed[13], fixed[14], fixed[15]];
    let dst = [fixed[16], fixed[17], fixed[18], fixed[19]];
    Some(PlainIpv4 {
        meta: IpMeta {
            src: IpAddr::from(src),
            dst: IpAddr::from(dst),
            ip_len: total_len as u32,
            reassembled: false,
        },
        proto: fixed[9],
        payload: bytes.get(header_len..total_len.min(bytes.len()))?,
        declared: (total_len - header_len) as u32,
    })
}

/// Decodes TCP or UDP from an IP payload, or finds an encapsulation in it. `declared` is
/// the payload length the IP header claims; captured bytes beyond it (Ethernet padding)
/// are ignored, missing ones are a snap-length cut.
#[allow(clippy::too_many_arguments)]
fn transport<'a>(
    counts: &mut ProtocolCounts,
    learned: &mut encap::Learned,
    chain: &mut EncapChain,
    ip: IpMeta,
    proto: u8,
    bytes: &'a [u8],
    declared: u32,
) -> Step<'a> {
    let bytes = &bytes[..bytes.len().min(declared as usize)];
    let missing_total = (declared as usize).saturating_sub(bytes.len()) as u32;
    Step::Done(match proto {
        IPPROTO_TCP => {
            counts.tcp += 1;
            match parse_tcp(bytes, missing_total) {
                Ok((sport, dport, segment)) => Decoded::Tcp {
                    ip,
                    sport,
                    dport,
                    segment,
                },
                Err((kind, detail)) => {
                    counts.malformed += 1;
                    Decoded::Malformed { kind, detail }
                }
            }
        }
        IPPROTO_UDP => {
            counts.udp += 1;
            let Some(h) = bytes.get(0..8) else {
                counts.malformed += 1;
                return Step::Done(Decoded::Malformed {
                    kind: "truncated_udp_header",
                    detail: format!("UDP header needs 8 bytes, {} captured", bytes.len()),
                });
            };
            let sport = u16::from_be_bytes([h[0], h[1]]);
            let dport = u16::from_be_bytes([h[2], h[3]]);
            let udp_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
            let body = &bytes[8..];
            // The UDP length bounds the payload when it is sane (0 is used by jumbograms
            // and some offload paths: then trust the IP length).
            let wire_len = if udp_len >= 8 {
                udp_len - 8
            } else {
                body.len() + missing_total as usize
            };
            let payload = &body[..body.len().min(wire_len)];
            let missing = wire_len.saturating_sub(payload.len()) as u32;
            if encap::is_encap_port(dport)
                || encap::is_encap_port(sport)
                || learned.knows(ip.src, sport, ip.dst, dport)
            {
                return udp_encap(counts, learned, chain, ip, sport, dport, payload, missing);
            }
            Decoded::Udp {
                ip,
                sport,
                dport,
                payload,
                missing,
            }
        }
        IPPROTO_IPIP | IPPROTO_IPV6 => {
            let want = if proto == IPPROTO_IPIP { 4 } else { 6 };
            let layer = outer_layer(EncapKind::IpInIp, ip);
            return match bytes.first().map(|b| b >> 4) {
                Some(v) if v == want => enter(
                    counts,
                    chain,
                    layer,
                    Ok(Some(if want == 4 {
                        Network::Ipv4(bytes)
                    } else {
                        Network::Ipv6(bytes)
                    })),
                ),
                Some(v) => Step::Done(malformed(counts, "ipip_wrong_version", || {
                    format!("IP protocol {proto} carries an IP version {v} header")
                })),
                None => Step::Done(malformed(counts, "ipip_truncated", || {
                    format!("IP protocol {proto} with no inner header captured")
                })),
            };
        }
        IPPROTO_GRE => {
            return match encap::gre(bytes, false, &mut counts.encap) {
                Ok((layer, carried)) => {
                    let mut outer = outer_layer(layer.kind, ip);
                    outer.id = layer.id;
                    outer.keyed = layer.keyed;
                    enter(counts, chain, outer, Ok(carried))
                }
                Err(e) => Step::Done(malformed(counts, e.kind, || e.detail)),
            };
        }
        IPPROTO_ICMP => {
            counts.icmp += 1;
            Decoded::Other
        }
        IPPROTO_ICMPV6 => {
            counts.icmpv6 += 1;
            Decoded::Other
        }
        other => {
            *counts.other_ip_protocols.entry(other).or_insert(0) += 1;
            Decoded::Other
        }
    })
}

/// A layer of `kind` over the outer IP header `ip`.
fn outer_layer(kind: EncapKind, ip: IpMeta) -> EncapLayer {
    EncapLayer {
        src: Some(ip.src),
        dst: Some(ip.dst),
        outer_ip_len: ip.ip_len,
        ..EncapLayer::new(kind)
    }
}

/// A datagram on an encapsulation port: the layer when its header passes the format's
/// check, else an ordinary datagram.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn udp_encap<'a>(
    counts: &mut ProtocolCounts,
    learned: &mut encap::Learned,
    chain: &mut EncapChain,
    ip: IpMeta,
    sport: u16,
    dport: u16,
    payload: &'a [u8],
    missing: u32,
) -> Step<'a> {
    let udp_layer = |kind| EncapLayer {
        sport: Some(sport),
        dport: Some(dport),
        outer_payload_len: payload.len() as u32 + missing,
        ..outer_layer(kind, ip)
    };
    let read = if encap::is_encap_port(dport) || encap::is_encap_port(sport) {
        let read = encap::udp(sport, dport, payload, missing > 0, &mut counts.encap);
        if let Some(Ok((l, _))) = &read
            && l.kind == EncapKind::Teredo
        {
            learned.teredo_client(ip.src, sport, ip.dst, dport);
        }
        read
    } else {
        encap::teredo(payload, &mut counts.encap)
    };
    match read {
        None => Step::Done(Decoded::Udp {
            ip,
            sport,
            dport,
            payload,
            missing,
        }),
        Some(Ok((layer, carried))) => enter(
            counts,
            chain,
            EncapLayer {
                id: layer.id,
                keyed: layer.keyed,
                options: layer.options,
                ..udp_layer(layer.kind)
            },
            Ok(carried),
        ),
        Some(Err(e)) => {
            let layer = udp_layer(encap::kind_of_port(sport, dport));
            enter(counts, chain, layer, Err(e))
        }
    }
}

/// Reads a TCP header. `missing` is how many bytes of the IP payload the capture lacks.
/// Options are read from SYN segments only: the MSS option is only valid there (RFC 9293
/// section 3.7.1), and nothing else in them is used.
#[inline]
fn parse_tcp(b: &[u8], missing: u32) -> Result<(u16, u16, TcpSegment<'_>), (&'static str, String)> {
    let Some(fixed) = b.first_chunk::<20>() else {
        return Err(tcp_header_error(b.len(), 20, missing));
    };
    let be16 = |o: usize| u16::from_be_bytes([fixed[o], fixed[o + 1]]);
    let be32 = |o: usize| u32::from_be_bytes([fixed[o], fixed[o + 1], fixed[o + 2], fixed[o + 3]]);
    let data_offset = usize::from(fixed[12] >> 4) * 4;
    let (Some(options), Some(payload)) = (b.get(20..data_offset), b.get(data_offset..)) else {
        return Err(tcp_header_error(b.len(), data_offset, missing));
    };
    let flags = TcpFlags(fixed[13]);
    Ok((
        be16(0),
        be16(2),
        TcpSegment {
            seq: be32(4),
            ack: be32(8),
            flags,
            window: be16(14),
            mss: if flags.syn() {
                mss_option(options)
            } else {
                None
            },
            payload,
            missing,
            payload_at: None,
        },
    ))
}

/// Why a TCP header of `data_offset` bytes (20 when even the fixed part is missing) cannot
/// be read from `have` bytes.
#[cold]
#[inline(never)]
fn tcp_header_error(have: usize, data_offset: usize, missing: u32) -> (&'static str, String) {
    if have < 20 {
        (
            "truncated_tcp_header",
            format!("TCP header needs 20 bytes, {have} captured"),
        )
    } else if data_offset < 20 {
        (
            "bad_tcp_header",
            format!("TCP data offset {data_offset} is below 20"),
        )
    } else {
        let kind = if missing > 0 {
            "truncated_tcp_header"
        } else {
            "bad_tcp_header"
        };
        (
            kind,
            format!("TCP header of {data_offset} bytes, {have} available"),
        )
    }
}

/// The MSS option among TCP options, if present and well formed.
fn mss_option(mut opts: &[u8]) -> Option<u16> {
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => break,
            1 => opts = rest,
            _ => {
                let Some(&len) = rest.first() else { break };
                let len = usize::from(len);
                if len < 2 || len > opts.len() {
                    break;
                }
                if kind == 2 && len == 4 {
                    return Some(u16::from_be_bytes([opts[2], opts[3]]));
                }
                opts = &opts[len..];
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use etherparse::PacketBuilder;

    fn raw(link: LinkType, data: &[u8]) -> RawPacket<'_> {
        RawPacket {
            index: 0,
            ts: Timestamp::ZERO,
            link,
            data,
            orig_len: data.len() as u32,
            stored_at: None,
        }
    }

    /// The `len` bytes at `offset` of `store`, as a packet of a mapped capture.
    fn stored(
        store: &crate::capture::Store,
        offset: usize,
        len: usize,
        link: LinkType,
    ) -> RawPacket<'_> {
        RawPacket {
            stored_at: Some(crate::capture::StoredAt {
                store,
                offset: offset as u64,
            }),
            ..raw(
                link,
                store.recall(offset as u64, len).expect("stored bytes"),
            )
        }
    }

    #[test]
    fn tcp_over_ethernet() {
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 65535)
            .syn()
            .ack(5);
        let mut frame = Vec::new();
        builder.write(&mut frame, b"hello").unwrap();
        let mut d = Decoder::default();
        match d.decode(&raw(LinkType::ETHERNET, &frame)) {
            Decoded::Tcp {
                sport,
                dport,
                segment,
                ip,
            } => {
                assert_eq!((sport, dport), (40000, 80));
                assert_eq!(segment.seq, 1000);
                assert_eq!(segment.ack, 5);
                assert!(segment.flags.syn() && segment.flags.ack());
                assert_eq!(segment.payload, b"hello");
                assert_eq!(segment.missing, 0);
                assert_eq!(ip.ip_len, 20 + 20 + 5);
            }
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn snaplen_cut_is_counted_as_missing_bytes() {
        let builder = PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 7, 100);
        let mut pkt = Vec::new();
        builder.write(&mut pkt, &[0xaa; 100]).unwrap();
        let cut = &pkt[..40 + 20 + 30];
        let mut d = Decoder::default();
        match d.decode(&raw(LinkType::RAW, cut)) {
            Decoded::Tcp { segment, .. } => {
                assert_eq!(segment.payload.len(), 30);
                assert_eq!(segment.missing, 70);
            }
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
            .udp(53, 5353);
        let mut frame = Vec::new();
        builder.write(&mut frame, b"ab").unwrap();
        frame.extend_from_slice(&[0; 10]); // padding to the 60-byte minimum
        let mut d = Decoder::default();
        match d.decode(&raw(LinkType::ETHERNET, &frame)) {
            Decoded::Udp {
                payload, missing, ..
            } => {
                assert_eq!(payload, b"ab");
                assert_eq!(missing, 0);
            }
            other => panic!("expected UDP, got {other:?}"),
        }
    }

    #[test]
    fn a_payload_in_the_packet_gets_its_stored_position_a_rebuilt_one_none() {
        use crate::capture::{Store, StoredAt};
        use std::sync::Arc;
        let builder = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 65535)
            .ack(5);
        let mut frame = Vec::new();
        builder.write(&mut frame, b"hello").unwrap();
        // The frame at offset 10 of a store, as in a mapped capture file.
        let mut file = vec![0xee; 10];
        file.extend_from_slice(&frame);
        let store: Store = Arc::new(file);
        let pkt = stored(&store, 10, frame.len(), LinkType::ETHERNET);
        let mut d = Decoder::default();
        match d.decode(&pkt) {
            Decoded::Tcp { segment, .. } => {
                let at = segment.payload_at.expect("a position");
                assert_eq!(at.offset, 10 + 14 + 20 + 20);
                assert_eq!(at.store.recall(at.offset, 5), Some(&b"hello"[..]));
            }
            other => panic!("expected TCP, got {other:?}"),
        }

        // The same TCP packet in two IPv4 fragments: rebuilt in the decoder's buffer.
        let mut whole = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 65535)
            .write(&mut whole, &[0x42; 20])
            .unwrap();
        let transport = &whole[20..];
        let fragment = |off_units: u16, more: bool, bytes: &[u8]| {
            let total = (20 + bytes.len()) as u16;
            let flags = (u16::from(more) << 13) | off_units;
            let mut p = vec![0x45, 0];
            p.extend_from_slice(&total.to_be_bytes());
            p.extend_from_slice(&[0x12, 0x34]);
            p.extend_from_slice(&flags.to_be_bytes());
            p.extend_from_slice(&[64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
            p.extend_from_slice(bytes);
            p
        };
        let mut file = fragment(0, true, &transport[..24]);
        let second_at = file.len();
        file.extend_from_slice(&fragment(3, false, &transport[24..]));
        let store: Store = Arc::new(file);
        let bytes = store.recall(0, store.stored_len() as usize).unwrap();
        let at = |offset: usize, end: usize| RawPacket {
            stored_at: Some(StoredAt {
                store: &store,
                offset: offset as u64,
            }),
            ..raw(LinkType::RAW, &bytes[offset..end])
        };
        let mut d = Decoder::default();
        assert!(matches!(d.decode(&at(0, second_at)), Decoded::Fragment));
        match d.decode(&at(second_at, bytes.len())) {
            Decoded::Tcp { segment, ip, .. } => {
                assert!(ip.reassembled);
                assert_eq!(segment.payload, &[0x42; 20]);
                assert!(segment.payload_at.is_none());
            }
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    /// The IPv4 fast path gives what the general (etherparse) route gives, on headers
    /// with random lengths, options, flags and truncation.
    #[test]
    fn plain_ipv4_agrees_with_etherparse() {
        fn general(bytes: &[u8]) -> Option<(IpMeta, u8, Vec<u8>, u32)> {
            let (ip, _) = LaxIpSlice::from_slice(bytes).ok()?;
            let payload = ip.payload();
            if payload.fragmented {
                return None;
            }
            let headers_len = (payload.payload.as_ptr() as usize - bytes.as_ptr() as usize) as u32;
            let LaxIpSlice::Ipv4(v4) = &ip else {
                return None;
            };
            let ip_len = u32::from(v4.header().total_len());
            let declared = if payload.len_source == LenSource::Slice && !payload.incomplete {
                payload.payload.len() as u32
            } else {
                ip_len.saturating_sub(headers_len)
            };
            let meta = IpMeta {
                src: ip.source_addr(),
                dst: ip.destination_addr(),
                ip_len,
                reassembled: false,
            };
            Some((
                meta,
                payload.ip_number.0,
                payload.payload.to_vec(),
                declared,
            ))
        }
        let mut seed = 0x9e37_79b9u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let mut accepted = 0;
        for _ in 0..200_000 {
            let r = next();
            let ihl = [5u8, 5, 5, 6, 15, 4, 0][(r % 7) as usize];
            let body = (next() % 80) as usize;
            let mut p = vec![0u8; usize::from(ihl) * 4 + body];
            p.resize(p.len().max(20), 0);
            for b in p.iter_mut() {
                *b = next() as u8;
            }
            p[0] = (if r & 0x100 == 0 { 4 } else { 6 } << 4) | ihl;
            if r & 0x200 == 0 {
                p[0] = 0x40 | ihl;
            }
            let total = match (r >> 12) % 4 {
                0 => p.len(),
                1 => usize::from(ihl) * 4 + (next() % 100) as usize,
                2 => 0,
                _ => (next() % 200) as usize,
            } as u16;
            p[2..4].copy_from_slice(&total.to_be_bytes());
            if r & 0x400 == 0 {
                p[6] &= 0x80;
                p[7] = 0;
            }
            let cut = if r & 0x800 == 0 {
                p.len()
            } else {
                (next() as usize) % (p.len() + 1)
            };
            let bytes = &p[..cut];
            if let Some(fast) = plain_ipv4(bytes) {
                accepted += 1;
                let (meta, proto, payload, declared) =
                    general(bytes).expect("etherparse rejects what the fast path takes");
                assert_eq!(
                    (fast.meta.src, fast.meta.dst, fast.meta.ip_len, fast.proto),
                    (meta.src, meta.dst, meta.ip_len, proto),
                    "{bytes:02x?}"
                );
                assert_eq!(
                    (fast.payload, fast.declared),
                    (&payload[..], declared),
                    "{bytes:02x?}"
                );
            }
        }
        assert!(
            accepted > 10_000,
            "only {accepted} packets took the fast path"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut d = Decoder::default();
        let mut seed = 0x1234_5678u32;
        for len in 0..200usize {
            let mut buf = vec![0u8; len];
            for b in &mut buf {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *b = seed as u8;
            }
            if let Some(first) = buf.first_mut() {
                *first = 0x45;
            }
            for link in [
                LinkType::ETHERNET,
                LinkType::RAW,
                LinkType::LINUX_SLL,
                LinkType::LINUX_SLL2,
                LinkType::NULL,
            ] {
                let _ = d.decode(&raw(link, &buf));
            }
        }
    }

    /// An IPv4 header (no options) of protocol `proto` around `payload`.
    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        p.extend_from_slice(payload);
        p
    }

    fn inner_udp() -> Vec<u8> {
        let mut p = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1000, 53)
            .write(&mut p, b"q")
            .unwrap();
        p
    }

    #[test]
    fn nesting_is_capped_without_recursion() {
        // 8 IP-in-IP layers decode; a 9th is `encap_too_deep`.
        for (layers, ok) in [(8, true), (9, false), (5000, false)] {
            let mut pkt = inner_udp();
            for _ in 0..layers {
                pkt = ipv4(4, &pkt);
            }
            let mut d = Decoder::default();
            let (decoded, chain) = d.decode_layers(&raw(LinkType::RAW, &pkt));
            match decoded {
                Decoded::Udp { sport, dport, .. } if ok => {
                    assert_eq!((sport, dport), (1000, 53));
                    assert_eq!(chain.layers().len(), 8);
                    assert!(chain.layers().iter().all(|l| l.kind == EncapKind::IpInIp));
                }
                Decoded::Malformed { kind, .. } if !ok => assert_eq!(kind, "encap_too_deep"),
                other => panic!("{layers} layers: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_layers_are_anomalies_through_the_decoder() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (ipv4(47, &[0, 0, 8]), "gre_truncated"),
            (ipv4(47, &[0, 2, 8, 0, 0x45]), "gre_bad_version"),
            (ipv4(4, &[0x60; 20]), "ipip_wrong_version"),
            (ipv4(41, &[]), "ipip_truncated"),
        ];
        for (pkt, want) in cases {
            let mut d = Decoder::default();
            match d.decode(&raw(LinkType::RAW, &pkt)) {
                Decoded::Malformed { kind, .. } => assert_eq!(kind, want),
                other => panic!("{want}: {other:?}"),
            }
            assert_eq!(d.counts.malformed, 1);
        }
        // A GENEVE header with a version it does not know: ordinary UDP, no anomaly.
        let mut udp = Vec::new();
        PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
            .udp(5000, 6081)
            .write(&mut udp, &[0x40, 0, 0x65, 0x58, 0, 0, 1, 0])
            .unwrap();
        let mut d = Decoder::default();
        let (decoded, chain) = d.decode_layers(&raw(LinkType::RAW, &udp));
        assert!(matches!(decoded, Decoded::Udp { dport: 6081, .. }));
        assert!(chain.is_empty());
        // A truncated VXLAN header: an anomaly, yet the outer datagram is a layer (so the
        // outer UDP flow is still counted).
        let mut udp = Vec::new();
        PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
            .udp(5000, 4789)
            .write(&mut udp, &[0x08, 0, 0])
            .unwrap();
        let (decoded, chain) = d.decode_layers(&raw(LinkType::RAW, &udp));
        assert!(matches!(
            decoded,
            Decoded::Malformed {
                kind: "vxlan_truncated",
                ..
            }
        ));
        assert_eq!(chain.layers()[0].kind, EncapKind::Vxlan);
        assert_eq!(chain.layers()[0].sport, Some(5000));
    }

    #[test]
    fn gre_inner_tcp_payload_keeps_its_stored_position() {
        use crate::capture::Store;
        use std::sync::Arc;
        let mut inner = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1, 2, 3, 4)
            .write(&mut inner, b"hi")
            .unwrap();
        let mut gre = vec![0, 0, 0x08, 0];
        gre.extend_from_slice(&inner);
        let pkt = ipv4(47, &gre);
        let store: Store = Arc::new(pkt.clone());
        let raw = stored(&store, 0, pkt.len(), LinkType::RAW);
        let mut d = Decoder::default();
        match d.decode(&raw) {
            Decoded::Tcp { segment, ip, .. } => {
                assert_eq!(segment.payload, b"hi");
                assert_eq!(ip.ip_len, 42);
                assert_eq!(segment.payload_at.map(|a| a.offset), Some(20 + 4 + 40));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(d.counts.encap.layers.get("gre"), Some(&1));
        assert_eq!(d.counts.ipv4, 2);
    }
}
