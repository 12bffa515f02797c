//! Flow keys: endpoints, the canonical (direction-free) key, directions, and the
//! encapsulation context a flow lives in.
//!
//! # Encapsulation context
//!
//! A flow inside a tunnel is keyed by its 5-tuple and an [`EncapId`]: a small number
//! [`EncapContexts`] hands out for each distinct chain of layers, so a key stays three
//! words and a bare packet pays one comparison. A context is, per layer outermost first,
//! the kind, the identifier when it names a segment the same way in both directions (a
//! VXLAN or GENEVE VNI, a GRE key, an ERSPAN or PPPoE session) and the two outer IP
//! addresses in either order. Per-direction or per-hop values (outer UDP source ports,
//! GTP TEIDs, MPLS labels, L2TP and PPTP IDs) are left out, so both directions of an inner
//! connection meet in one flow. Two VNIs carrying the same 5-tuple are two flows; so are
//! two tunnel endpoint pairs. The number of contexts is capped ([`EncapContexts::new`]):
//! past it, new chains share [`EncapId::OVERFLOW`] and are counted.

use crate::decode::encap::{EncapKind, EncapLayer, MAX_DEPTH};
use crate::util::Ipv4Text;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// IP protocol numbers tunscope tracks as flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    Tcp,
    Udp,
}

impl L4 {
    pub fn name(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        }
    }
}

/// One side of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(addr: IpAddr, port: u16) -> Self {
        Endpoint { addr, port }
    }

    /// Plain integers that sort exactly as the derived `Ord` does (every IPv4 address
    /// before every IPv6 one, then address bits, then port), cheaper to compare once per
    /// packet than the enum.
    #[inline]
    fn order_key(self) -> (bool, u128, u16) {
        match self.addr {
            IpAddr::V4(a) => (false, u128::from(a.to_bits()), self.port),
            IpAddr::V6(a) => (true, a.to_bits(), self.port),
        }
    }
}

impl fmt::Display for Endpoint {
    /// `1.2.3.4:80` or `[::1]:80`, the form every output of tunscope uses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            IpAddr::V4(a) => f.write_str(Ipv4Text::new(a, Some(self.port)).as_str()),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// `ip:port` text in human-readable formats (JSON); `(address, port)` in binary ones (the
/// record spool), which is smaller and needs no formatting or parsing.
impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            (self.addr, self.port).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    /// What [`Serialize`] writes: `1.2.3.4:80` or `[::1]:80`, or `(address, port)`.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !d.is_human_readable() {
            let (addr, port) = <(IpAddr, u16)>::deserialize(d)?;
            return Ok(Endpoint::new(addr, port));
        }
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Endpoint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an endpoint (`ip:port`)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Endpoint, E> {
                let sa: std::net::SocketAddr = v.parse().map_err(E::custom)?;
                Ok(Endpoint::new(sa.ip(), sa.port()))
            }
        }
        d.deserialize_string(V)
    }
}

/// Which way a packet travels within a flow, relative to the flow's client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// From the client (the side that opened the connection) to the server.
    #[serde(rename = "c2s")]
    ClientToServer,
    /// From the server back to the client.
    #[serde(rename = "s2c")]
    ServerToClient,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ClientToServer => Direction::ServerToClient,
            Direction::ServerToClient => Direction::ClientToServer,
        }
    }

    /// 0 for client-to-server, 1 for server-to-client: an index into per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
        }
    }
}

/// An encapsulation context (see the module doc): 0 for a bare packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncapId(pub u32);

impl EncapId {
    /// No encapsulation.
    pub const BARE: EncapId = EncapId(0);
    /// The context every chain shares once [`EncapContexts`] is full.
    pub const OVERFLOW: EncapId = EncapId(u32::MAX);
}

/// What tells two encapsulation layers' flows apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ContextLayer {
    kind: EncapKind,
    id: u32,
    lo: Option<IpAddr>,
    hi: Option<IpAddr>,
}

impl ContextLayer {
    fn of(l: &EncapLayer) -> Self {
        let (lo, hi) = if l.src <= l.dst {
            (l.src, l.dst)
        } else {
            (l.dst, l.src)
        };
        ContextLayer {
            kind: l.kind,
            id: if l.keyed { l.id.unwrap_or(0) } else { 0 },
            lo,
            hi,
        }
    }
}

/// Interns chains of encapsulation layers as [`EncapId`]s.
#[derive(Debug)]
pub struct EncapContexts {
    ids: hashbrown::HashMap<Box<[ContextLayer]>, EncapId, foldhash::fast::RandomState>,
    max: usize,
    /// The context interned last, and its id: consecutive packets of a tunnel mostly
    /// share it, and comparing is cheaper than hashing.
    last: Option<([ContextLayer; MAX_DEPTH], usize, EncapId)>,
    /// Chains that got [`EncapId::OVERFLOW`] because the table was full.
    pub overflowed: u64,
}

impl Default for EncapContexts {
    fn default() -> Self {
        EncapContexts::new(EncapContexts::DEFAULT_MAX)
    }
}

impl EncapContexts {
    /// Contexts kept by default (each at most [`MAX_DEPTH`] small layers).
    pub const DEFAULT_MAX: usize = 65_536;

    /// A table holding at most `max` contexts.
    pub fn new(max: usize) -> Self {
        EncapContexts {
            ids: hashbrown::HashMap::default(),
            max,
            last: None,
            overflowed: 0,
        }
    }

    /// The context of `layers` ([`EncapId::BARE`] for none); allocates only for a chain
    /// not seen before.
    pub fn intern(&mut self, layers: &[EncapLayer]) -> EncapId {
        if layers.is_empty() {
            return EncapId::BARE;
        }
        let blank = ContextLayer {
            kind: EncapKind::Gre,
            id: 0,
            lo: None,
            hi: None,
        };
        let mut key = [blank; MAX_DEPTH];
        let n = layers.len().min(MAX_DEPTH);
        for (k, l) in key.iter_mut().zip(layers) {
            *k = ContextLayer::of(l);
        }
        if let Some((k, len, id)) = &self.last
            && *len == n
            && k[..n] == key[..n]
        {
            return *id;
        }
        if let Some(&id) = self.ids.get(&key[..n]) {
            self.last = Some((key, n, id));
            return id;
        }
        if self.ids.len() >= self.max {
            self.overflowed += 1;
            return EncapId::OVERFLOW;
        }
        let id = EncapId(self.ids.len() as u32 + 1);
        self.ids.insert(Box::from(&key[..n]), id);
        self.last = Some((key, n, id));
        id
    }

    /// How many contexts there are.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no encapsulated packet has been seen.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A direction-free key: both directions of a conversation map to the same value.
/// `lo` is the smaller endpoint in (address, port) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub l4: L4,
    pub lo: Endpoint,
    pub hi: Endpoint,
    /// The encapsulation context ([`EncapId::BARE`] for a bare flow).
    pub encap: EncapId,
}

/// Hashed once per packet: three fixed-width words instead of the derived walk over two
/// `IpAddr` enums (a discriminant, a length prefix and a byte slice each). Equal keys
/// write equal words, so this agrees with the derived `Eq`.
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        fn addr_bits(addr: IpAddr) -> (u128, u64) {
            match addr {
                IpAddr::V4(a) => (u128::from(a.to_bits()), 4),
                IpAddr::V6(a) => (a.to_bits(), 6),
            }
        }
        let (lo, lo_family) = addr_bits(self.lo.addr);
        let (hi, hi_family) = addr_bits(self.hi.addr);
        let l4 = match self.l4 {
            L4::Tcp => 6,
            L4::Udp => 17,
        };
        state.write_u128(lo);
        state.write_u128(hi);
        state.write_u64(
            u64::from(self.lo.port) << 48
                | u64::from(self.hi.port) << 32
                | lo_family << 24
                | hi_family << 16
                | l4,
        );
        // Bare keys hash as before; a context adds one word.
        if self.encap != EncapId::BARE {
            state.write_u32(self.encap.0);
        }
    }
}

impl FlowKey {
    /// The canonical key of a packet from `src` to `dst`, and whether the packet travels
    /// from `lo` to `hi`.
    #[inline]
    pub fn canonical(l4: L4, src: Endpoint, dst: Endpoint, encap: EncapId) -> (FlowKey, bool) {
        if src.order_key() <= dst.order_key() {
            (
                FlowKey {
                    l4,
                    lo: src,
                    hi: dst,
                    encap,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    l4,
                    lo: dst,
                    hi: src,
                    encap,
                },
                false,
            )
        }
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} <-> {}", self.l4.name(), self.lo, self.hi)?;
        if self.encap != EncapId::BARE {
            write!(f, " (encapsulation context {})", self.encap.0)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ep(a: [u8; 4], port: u16) -> Endpoint {
        Endpoint::new(IpAddr::V4(Ipv4Addr::from(a)), port)
    }

    #[test]
    fn order_key_sorts_as_the_derived_order_and_hash_follows_eq() {
        use std::hash::BuildHasher;
        let addrs = [
            IpAddr::V4(Ipv4Addr::new(0, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)),
            IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)),
            IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a00, 2)),
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        ];
        let eps: Vec<Endpoint> = addrs
            .iter()
            .flat_map(|&a| [0u16, 443, 40000, 65535].map(|p| Endpoint::new(a, p)))
            .collect();
        let hasher = foldhash::fast::FixedState::with_seed(7);
        for &a in &eps {
            for &b in &eps {
                assert_eq!(a.order_key().cmp(&b.order_key()), a.cmp(&b), "{a} vs {b}");
                let (k1, fwd) = FlowKey::canonical(L4::Tcp, a, b, EncapId::BARE);
                let (k2, _) = FlowKey::canonical(L4::Tcp, b, a, EncapId::BARE);
                assert_eq!(k1, k2);
                assert_eq!(hasher.hash_one(k1), hasher.hash_one(k2));
                assert_eq!(fwd, a <= b);
                assert!(k1.lo <= k1.hi);
                let udp = FlowKey::canonical(L4::Udp, a, b, EncapId::BARE).0;
                assert_ne!(hasher.hash_one(k1), hasher.hash_one(udp));
            }
        }
    }

    #[test]
    fn both_directions_meet_in_one_key() {
        let a = ep([10, 0, 0, 2], 40000);
        let b = ep([10, 0, 0, 1], 80);
        let (k1, fwd1) = FlowKey::canonical(L4::Tcp, a, b, EncapId::BARE);
        let (k2, fwd2) = FlowKey::canonical(L4::Tcp, b, a, EncapId::BARE);
        assert_eq!(k1, k2);
        assert_ne!(fwd1, fwd2);
        assert_eq!(k1.lo, b);
    }

    #[test]
    fn endpoints_print_like_urls() {
        assert_eq!(ep([1, 2, 3, 4], 80).to_string(), "1.2.3.4:80");
        let v6 = Endpoint::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 443);
        assert_eq!(v6.to_string(), "[::1]:443");
    }

    #[test]
    fn contexts_split_by_vni_and_endpoints_not_by_direction_or_port() {
        use crate::decode::encap::{EncapKind, EncapLayer};
        let vtep = |a: u8, b: u8, sport: u16, vni: u32| EncapLayer {
            src: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, a))),
            dst: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, b))),
            sport: Some(sport),
            dport: Some(4789),
            id: Some(vni),
            keyed: true,
            ..EncapLayer::new(EncapKind::Vxlan)
        };
        let mut ctx = EncapContexts::new(3);
        assert_eq!(ctx.intern(&[]), EncapId::BARE);
        let a = ctx.intern(&[vtep(1, 2, 50000, 10)]);
        assert_ne!(a, EncapId::BARE);
        assert_eq!(
            ctx.intern(&[vtep(2, 1, 40000, 10)]),
            a,
            "the reverse direction"
        );
        let b = ctx.intern(&[vtep(1, 2, 50000, 11)]);
        assert_ne!(a, b, "another VNI");
        let c = ctx.intern(&[vtep(1, 3, 50000, 10)]);
        assert_ne!(c, a, "another endpoint pair");
        // TEIDs differ by direction: not part of the context.
        let gtp = |teid| EncapLayer {
            id: Some(teid),
            keyed: false,
            ..EncapLayer::new(EncapKind::GtpU)
        };
        assert_eq!(ctx.len(), 3);
        assert_eq!(ctx.intern(&[gtp(1)]), EncapId::OVERFLOW, "table full");
        assert_eq!(ctx.overflowed, 1);
        let mut ctx = EncapContexts::default();
        assert_eq!(ctx.intern(&[gtp(1)]), ctx.intern(&[gtp(2)]));
        // The same inner 5-tuple in two contexts: two keys, whose hashes differ.
        use std::hash::BuildHasher;
        let h = foldhash::fast::FixedState::with_seed(1);
        let (x, y) = (ep([10, 0, 0, 1], 1), ep([10, 0, 0, 2], 2));
        let k1 = FlowKey::canonical(L4::Udp, x, y, a).0;
        let k2 = FlowKey::canonical(L4::Udp, x, y, b).0;
        assert_ne!(k1, k2);
        assert_ne!(h.hash_one(k1), h.hash_one(k2));
    }
}
