//! Link-layer headers: from a captured frame to the network-layer bytes inside it.
//!
//! After each length check no slice access can panic; every function returns `None` or a
//! [`LinkError`] instead.

use crate::capture::LinkType;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IEEE 802.1BR E-tag (port extender).
pub const ETHERTYPE_ETAG: u16 = 0x893f;
/// Cisco HDLC (`LINKTYPE_C_HDLC`).
pub const LINKTYPE_C_HDLC: LinkType = LinkType(104);
/// 802.11 without radiotap.
pub const LINKTYPE_IEEE802_11: LinkType = LinkType(105);
/// 802.11 with a radiotap header.
pub const LINKTYPE_RADIOTAP: LinkType = LinkType(127);
/// More stacked VLAN tags than this is treated as malformed.
const MAX_VLAN_TAGS: usize = 8;

/// What a frame carries, once the link-layer header is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    /// Another EtherType (ARP, LLDP, ...): counted, not decoded.
    OtherEtherType(u16),
    /// An 802.3 frame with a length field instead of an EtherType (LLC/SNAP, STP...).
    Llc,
    /// A PPP control protocol (LCP, IPCP, ...).
    OtherPpp(u16),
    /// A BSD loopback address family that is not IP.
    OtherFamily(u32),
    /// An encapsulation below IP (MPLS, PPPoE), by EtherType, with the bytes after it:
    /// the decoder looks inside (see [`super::encap`]).
    Encap(u16, &'a [u8]),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// Shorter than its link-layer header.
    Truncated {
        need: usize,
        have: usize,
    },
    TooManyVlanTags,
    /// The capture's link type is not one tunscope decodes.
    Unsupported(LinkType),
}

/// Removes the link-layer header of `link` from `data`. `vlan_tags` receives how many
/// 802.1Q/802.1ad tags were stripped.
pub fn strip<'a>(
    link: LinkType,
    data: &'a [u8],
    vlan_tags: &mut u8,
) -> Result<Network<'a>, LinkError> {
    match link {
        LinkType::ETHERNET => ethernet(data, vlan_tags),
        LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => raw_ip(data),
        LinkType::IPV4 => Ok(Network::Ipv4(data)),
        LinkType::IPV6 => Ok(Network::Ipv6(data)),
        LinkType::LINUX_SLL => {
            // packet type u16 | ARPHRD u16 | addr len u16 | addr [8] | protocol u16
            let proto = be16(data, 14).ok_or(truncated(16, data))?;
            by_ethertype(proto, &data[16..], vlan_tags)
        }
        LinkType::LINUX_SLL2 => {
            // protocol u16 | reserved u16 | ifindex u32 | ARPHRD u16 | pkttype u8 | addr len u8 | addr [8]
            let proto = be16(data, 0).ok_or(truncated(20, data))?;
            if data.len() < 20 {
                return Err(truncated(20, data));
            }
            by_ethertype(proto, &data[20..], vlan_tags)
        }
        LinkType::NULL | LinkType::LOOP => {
            let raw: [u8; 4] = data
                .get(0..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(truncated(4, data))?;
            // NULL stores the family in the capturing host's byte order, LOOP in network
            // order. Families are small numbers, so whichever reading is small is right.
            let le = u32::from_le_bytes(raw);
            let be = u32::from_be_bytes(raw);
            let family = if link == LinkType::LOOP || le > 0xffff {
                be
            } else {
                le
            };
            let rest = &data[4..];
            match family {
                2 => Ok(Network::Ipv4(rest)),
                // AF_INET6 differs by OS: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30.
                10 | 24 | 28 | 30 => Ok(Network::Ipv6(rest)),
                other => Ok(Network::OtherFamily(other)),
            }
        }
        // Optional HDLC address/control bytes ff 03, then a 1- or 2-byte protocol.
        LinkType::PPP | LinkType::PPP_HDLC => super::encap::ppp(data),
        LINKTYPE_C_HDLC => {
            // address | control | protocol (an EtherType)
            let proto = be16(data, 2).ok_or(truncated(4, data))?;
            by_ethertype(proto, &data[4..], vlan_tags)
        }
        LINKTYPE_IEEE802_11 => ieee80211(data, vlan_tags),
        LINKTYPE_RADIOTAP => {
            // version u8 | pad u8 | length u16 (little-endian) | present flags ...
            let len = data
                .get(2..4)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
                .ok_or(truncated(4, data))?;
            let rest = data.get(len..).ok_or(truncated(len, data))?;
            ieee80211(rest, vlan_tags)
        }
        other => Err(LinkError::Unsupported(other)),
    }
}

/// An 802.11 frame: data frames (with QoS, four addresses, HT control, A-MSDU's first
/// subframe) through LLC/SNAP to their EtherType; management, control and null data
/// frames are [`Network::Llc`] (counted as other link frames). Radiotap's FCS flag is not
/// read: an FCS after the payload lies past the IP length and is ignored like padding.
pub(crate) fn ieee80211<'a>(data: &'a [u8], vlan_tags: &mut u8) -> Result<Network<'a>, LinkError> {
    let (Some(&fc0), Some(&fc1)) = (data.first(), data.get(1)) else {
        return Err(truncated(2, data));
    };
    let frame_type = (fc0 >> 2) & 0x03;
    let subtype = fc0 >> 4;
    if frame_type != 2 || subtype & 0x04 != 0 {
        return Ok(Network::Llc);
    }
    let qos = subtype & 0x08 != 0;
    let mut len = 24;
    if fc1 & 0x03 == 0x03 {
        len += 6;
    }
    let mut amsdu = false;
    if qos {
        amsdu = data.get(len).is_some_and(|q| q & 0x80 != 0);
        len += 2;
        if fc1 & 0x80 != 0 {
            len += 4;
        }
    }
    if fc1 & 0x40 != 0 {
        // Protected: encrypted payload.
        return Ok(Network::Llc);
    }
    let mut body = data.get(len..).ok_or(truncated(len, data))?;
    if amsdu {
        // First A-MSDU subframe: DA | SA | length, then LLC/SNAP.
        body = body.get(14..).ok_or(truncated(len + 14, data))?;
    }
    llc_snap(body, vlan_tags)
}

/// LLC/SNAP (`aa aa 03`, OUI, EtherType) to what it carries; other LLC is [`Network::Llc`].
pub(crate) fn llc_snap<'a>(body: &'a [u8], vlan_tags: &mut u8) -> Result<Network<'a>, LinkError> {
    match body.get(..8) {
        Some([0xaa, 0xaa, 0x03, _, _, _, hi, lo]) => {
            by_ethertype(u16::from_be_bytes([*hi, *lo]), &body[8..], vlan_tags)
        }
        Some(_) => Ok(Network::Llc),
        None => Err(truncated(8, body)),
    }
}

/// An Ethernet II frame (with any VLAN tags) to what it carries.
pub(crate) fn ethernet<'a>(data: &'a [u8], vlan_tags: &mut u8) -> Result<Network<'a>, LinkError> {
    let ethertype = be16(data, 12).ok_or(truncated(14, data))?;
    by_ethertype(ethertype, &data[14..], vlan_tags)
}

pub(crate) fn by_ethertype<'a>(
    mut ethertype: u16,
    mut rest: &'a [u8],
    vlan_tags: &mut u8,
) -> Result<Network<'a>, LinkError> {
    let mut tags = 0;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        tags += 1;
        if tags > MAX_VLAN_TAGS {
            return Err(LinkError::TooManyVlanTags);
        }
        ethertype = be16(rest, 2).ok_or(truncated(4, rest))?;
        rest = &rest[4..];
    }
    *vlan_tags = tags as u8;
    match ethertype {
        ETHERTYPE_ETAG => {
            // 802.1BR E-tag: 6 bytes of tag, then the next EtherType.
            let next = be16(rest, 6).ok_or(truncated(8, rest))?;
            by_ethertype(next, &rest[8..], vlan_tags)
        }
        ETHERTYPE_IPV4 => Ok(Network::Ipv4(rest)),
        ETHERTYPE_IPV6 => Ok(Network::Ipv6(rest)),
        t @ (super::encap::ETHERTYPE_MPLS
        | super::encap::ETHERTYPE_MPLS_MC
        | super::encap::ETHERTYPE_PPPOE_SESSION
        | super::encap::ETHERTYPE_PPPOE_DISCOVERY
        | super::encap::ETHERTYPE_NSH) => Ok(Network::Encap(t, rest)),
        t if t < 0x0600 => Ok(Network::Llc),
        t => Ok(Network::OtherEtherType(t)),
    }
}

fn raw_ip(data: &[u8]) -> Result<Network<'_>, LinkError> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Ok(Network::Ipv4(data)),
        Some(6) => Ok(Network::Ipv6(data)),
        Some(_) => Ok(Network::OtherFamily(0)),
        None => Err(truncated(1, data)),
    }
}

fn be16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn truncated(need: usize, data: &[u8]) -> LinkError {
    LinkError::Truncated {
        need,
        have: data.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_with_qinq() {
        // dst, src, 88a8 tag, 8100 tag, 0800, then one IP byte.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[
            0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00, 0x45,
        ]);
        let mut tags = 0;
        assert_eq!(
            strip(LinkType::ETHERNET, &f, &mut tags),
            Ok(Network::Ipv4(&[0x45]))
        );
        assert_eq!(tags, 2);
    }

    #[test]
    fn sll2_header_is_20_bytes() {
        let mut f = vec![0x86, 0xdd];
        f.extend_from_slice(&[0u8; 18]);
        f.push(0x60);
        let mut tags = 0;
        assert_eq!(
            strip(LinkType::LINUX_SLL2, &f, &mut tags),
            Ok(Network::Ipv6(&[0x60]))
        );
        assert!(matches!(
            strip(LinkType::LINUX_SLL2, &f[..10], &mut tags),
            Err(LinkError::Truncated { .. })
        ));
    }

    #[test]
    fn null_family_in_either_byte_order() {
        let mut tags = 0;
        let le = [2, 0, 0, 0, 0x45];
        let be = [0, 0, 0, 30, 0x60];
        assert_eq!(
            strip(LinkType::NULL, &le, &mut tags),
            Ok(Network::Ipv4(&[0x45]))
        );
        assert_eq!(
            strip(LinkType::NULL, &be, &mut tags),
            Ok(Network::Ipv6(&[0x60]))
        );
        assert_eq!(
            strip(LinkType::LOOP, &be, &mut tags),
            Ok(Network::Ipv6(&[0x60]))
        );
    }

    #[test]
    fn ppp_with_and_without_hdlc_framing() {
        let mut tags = 0;
        assert_eq!(
            strip(LinkType::PPP, &[0xff, 0x03, 0x00, 0x21, 0x45], &mut tags),
            Ok(Network::Ipv4(&[0x45]))
        );
        assert_eq!(
            strip(LinkType::PPP, &[0x00, 0x57, 0x60], &mut tags),
            Ok(Network::Ipv6(&[0x60]))
        );
        assert_eq!(
            strip(LinkType::PPP, &[0xc0, 0x21, 1], &mut tags),
            Ok(Network::OtherPpp(0xc021))
        );
    }

    #[test]
    fn short_and_unknown_frames_are_errors_not_panics() {
        let mut tags = 0;
        for link in [
            LinkType::ETHERNET,
            LinkType::LINUX_SLL,
            LinkType::LINUX_SLL2,
            LinkType::NULL,
            LinkType::PPP,
            LinkType::RAW,
        ] {
            for len in 0..3 {
                let _ = strip(link, &vec![0x81; len], &mut tags);
            }
        }
        assert_eq!(
            strip(LinkType(147), &[1, 2, 3], &mut tags),
            Err(LinkError::Unsupported(LinkType(147)))
        );
        // An endless VLAN stack.
        let mut f = vec![0u8; 12];
        for _ in 0..20 {
            f.extend_from_slice(&[0x81, 0x00, 0, 0]);
        }
        assert_eq!(
            strip(LinkType::ETHERNET, &f, &mut tags),
            Err(LinkError::TooManyVlanTags)
        );
    }
}
