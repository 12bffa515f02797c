//! The flow table: one entry per bidirectional conversation, keyed by the canonical
//! 5-tuple with a seeded hash (5-tuples are chosen by whoever sends the packets).
//!
//! # Contract
//!
//! - [`FlowTable::lookup`] returns the flow a packet belongs to, creating it when needed,
//!   and the packet's [`Direction`] relative to the flow's client.
//! - Roles are decided when the flow is created, by the first rule that applies:
//!   a SYN without ACK is sent by the client ([`RoleRule::Syn`]); a SYN-ACK by the server
//!   ([`RoleRule::SynAck`]); else a well-known port (below 1024) on exactly one side marks
//!   the server ([`RoleRule::WellKnownPort`]); else the lower port is the server's
//!   ([`RoleRule::LowerPort`]); on equal ports the sender of the first packet is the client
//!   ([`RoleRule::FirstPacket`]).
//! - Flows end, and are pushed to the caller's `ended` list with their [`CloseReason`], when:
//!   idle longer than the idle timeout of their protocol in packet time
//!   ([`FlowTable::expire`], cheap enough to call for every packet: it looks at the
//!   least-recently-used end of each list only); the table is full and a new flow needs
//!   room (the least recently active flow is evicted); a TCP SYN with a new ISN arrives on
//!   a 4-tuple whose connection has closed (port reuse); or the capture ends
//!   ([`FlowTable::drain`]). A [`FlowId`] is never reused for another flow: slots carry
//!   a generation.
//! - A late SYN: when a TCP connection that had closed (FIN or RST seen) and whose client
//!   ISN was known leaves the table, its 4-tuple, client and ISN are remembered for the
//!   TCP idle timeout (at most [`MAX_FINISHED`] connections, oldest forgotten first). A
//!   pure SYN from that client with that ISN arriving after the connection left is a
//!   retransmission of its SYN, not a new connection: [`Placement::late_syn`] is set, no
//!   flow is made, and the caller counts the packet as an anomaly only.

use super::{Direction, EncapId, Endpoint, FlowId, FlowKey, L4};
use crate::decode::TcpFlags;
use crate::timestamp::Timestamp;
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

const NIL: u32 = u32::MAX;

/// How the client and server roles of a flow were decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleRule {
    Syn,
    SynAck,
    WellKnownPort,
    LowerPort,
    FirstPacket,
}

/// Why a direction, a connection or a flow ended: one vocabulary from the flow table
/// (which ends flows for the last four reasons) through the assembler (which adds
/// `Fin` and `Rst`) to the analyzers' summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// A FIN, once every byte before it was delivered or declared a gap.
    Fin,
    /// An RST: everything buffered was forced out with gaps for the holes.
    Rst,
    /// The flow table saw no packet for too long.
    IdleTimeout,
    /// The flow table needed the room (too many live connections).
    Evicted,
    /// The capture ended.
    EndOfCapture,
    /// A new connection (a SYN with another ISN) took the same 4-tuple.
    PortReuse,
}

#[derive(Clone, Copy, Debug)]
pub struct FlowConfig {
    /// Live flows at most; a new flow beyond this evicts the least recently active one.
    pub max_flows: usize,
    pub tcp_idle_ns: i64,
    pub udp_idle_ns: i64,
    /// How long a TCP connection whose both directions ended (FIN/RST) stays in the
    /// table to collect its last ACKs and retransmissions.
    pub tcp_closed_ns: i64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 262_144,
            // Zeek's tcp_inactivity_timeout and udp_inactivity_timeout.
            tcp_idle_ns: 300_000_000_000,
            udp_idle_ns: 60_000_000_000,
            // Zeek's tcp_close_delay.
            tcp_closed_ns: 5_000_000_000,
        }
    }
}

/// Per-direction packet counters kept by the table (index with [`Direction::index`]).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct DirCounters {
    pub packets: u64,
    /// Captured frame bytes (as nDPI and tshark count them).
    pub bytes: u64,
    /// IP total lengths (as Zeek's `ip_bytes`).
    pub ip_bytes: u64,
    /// Transport payload bytes on the wire, retransmissions included.
    pub payload_bytes: u64,
}

/// One conversation.
#[derive(Clone, Debug)]
pub struct Flow {
    pub id: FlowId,
    pub key: FlowKey,
    pub client: Endpoint,
    pub server: Endpoint,
    pub role_rule: RoleRule,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub dirs: [DirCounters; 2],
    /// Index of the first packet of the flow in the capture.
    pub first_packet: u64,
    /// TCP: the client's ISN when its SYN was seen.
    pub client_isn: Option<u32>,
    /// TCP: a FIN or RST has been seen (in either direction).
    pub closing: bool,
    /// Which activity list the flow is on (see `class_of`).
    lru_class: u8,
    prev: u32,
    next: u32,
}

impl Flow {
    pub fn direction_of(&self, src: Endpoint) -> Direction {
        if src == self.client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }
}

struct Slot {
    generation: u32,
    flow: Option<Flow>,
}

/// A doubly linked list of slots in order of last activity (head = least recent).
#[derive(Clone, Copy)]
struct Lru {
    head: u32,
    tail: u32,
}

/// A packet's endpoints (as it travelled) and the slot of its flow.
#[derive(Clone, Copy)]
struct LastLookup {
    l4: L4,
    encap: EncapId,
    src: Endpoint,
    dst: Endpoint,
    slot: u32,
}

/// Where a packet landed.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    pub id: FlowId,
    pub dir: Direction,
    pub created: bool,
    /// The packet repeats the SYN of a connection that already left the table (see the
    /// module doc): `id` names no live flow, the packet belongs to no flow.
    pub late_syn: bool,
}

/// Finished connections remembered for late SYNs, at most.
pub const MAX_FINISHED: usize = 65_536;

/// The packet facts the table needs.
#[derive(Clone, Copy, Debug)]
pub struct PacketFacts {
    pub l4: L4,
    pub src: Endpoint,
    pub dst: Endpoint,
    pub ts: Timestamp,
    pub index: u64,
    pub frame_len: u32,
    pub ip_len: u32,
    pub payload_len: u32,
    /// TCP flags and sequence number, for roles and port reuse.
    pub tcp: Option<(TcpFlags, u32)>,
    /// The encapsulation context the packet was found in ([`EncapId::BARE`] for none).
    pub encap: EncapId,
}

pub struct FlowTable {
    cfg: FlowConfig,
    map: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    lru: [Lru; 3],
    /// The endpoints and slot of the last lookup: packets come in trains of one flow (a
    /// window's worth of data, then its ACKs), and comparing endpoints costs less than
    /// making and hashing a key. Cleared when that slot's flow is removed.
    last: Option<LastLookup>,
    pub created: u64,
    pub evicted: u64,
    pub peak_live: usize,
    /// The table's clock: packet time, a lone outlier excepted (see [`FlowTable::expire`]).
    clock: Option<Timestamp>,
    /// A forward jump past [`TIME_OUTLIER_NS`] not yet confirmed by a second packet.
    pending_jump: Option<Timestamp>,
    /// The last packet given to `expire` is held as a possible time outlier.
    outlier: bool,
    /// The packet before the last one turned out a time outlier (its time), once.
    confirmed_outlier: Option<Timestamp>,
    /// Packets found to be time outliers.
    pub time_outliers: u64,
    /// Closed connections that left the table: 4-tuple -> (client, client ISN, when it
    /// left, its id); `finished_order` holds them oldest first.
    finished: HashMap<FlowKey, (Endpoint, u32, Timestamp, FlowId), foldhash::fast::RandomState>,
    finished_order: std::collections::VecDeque<(FlowKey, Timestamp)>,
    /// Late SYNs taken as retransmissions.
    pub late_syns: u64,
}

/// A packet stamped this far (a day) from the table's clock is a time outlier unless the
/// next packet confirms the jump (a capture resumed after a pause).
pub const TIME_OUTLIER_NS: i64 = 86_400_000_000_000;

impl FlowTable {
    pub fn new(cfg: FlowConfig) -> Self {
        FlowTable {
            cfg: FlowConfig {
                max_flows: cfg.max_flows.max(1),
                ..cfg
            },
            map: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            lru: [Lru {
                head: NIL,
                tail: NIL,
            }; 3],
            last: None,
            created: 0,
            evicted: 0,
            peak_live: 0,
            clock: None,
            pending_jump: None,
            outlier: false,
            confirmed_outlier: None,
            time_outliers: 0,
            finished: HashMap::default(),
            finished_order: std::collections::VecDeque::new(),
            late_syns: 0,
        }
    }

    pub fn live(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, id: FlowId) -> Option<&Flow> {
        let slot = self.slots.get(id.slot as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.flow.as_ref()
    }

    /// Finds or creates the flow of a packet and counts the packet in it. Flows ended to
    /// make room (eviction, port reuse) are appended to `ended`.
    pub fn lookup(&mut self, p: &PacketFacts, ended: &mut Vec<(Flow, CloseReason)>) -> Placement {
        let mut created = false;
        // The same two endpoints as the last packet, either way round: the same flow.
        let found = match self.last {
            Some(last)
                if last.l4 == p.l4
                    && last.encap == p.encap
                    && ((last.src == p.src && last.dst == p.dst)
                        || (last.src == p.dst && last.dst == p.src)) =>
            {
                Some(last.slot)
            }
            _ => self
                .map
                .get(&FlowKey::canonical(p.l4, p.src, p.dst, p.encap).0)
                .copied(),
        };
        let slot = match found {
            Some(slot) if self.is_port_reuse(slot, p) => {
                if let Some(f) = self.remove(slot) {
                    ended.push((f, CloseReason::PortReuse));
                }
                created = true;
                self.insert(FlowKey::canonical(p.l4, p.src, p.dst, p.encap).0, p, ended)
            }
            Some(slot) => slot,
            None => {
                let key = FlowKey::canonical(p.l4, p.src, p.dst, p.encap).0;
                if let Some(id) = self.late_syn(&key, p) {
                    self.late_syns += 1;
                    return Placement {
                        id,
                        dir: Direction::ClientToServer,
                        created: false,
                        late_syn: true,
                    };
                }
                created = true;
                self.insert(key, p, ended)
            }
        };
        self.last = Some(LastLookup {
            l4: p.l4,
            encap: p.encap,
            src: p.src,
            dst: p.dst,
            slot,
        });
        self.touch(slot);
        let s = &mut self.slots[slot as usize];
        let generation = s.generation;
        let Some(flow) = s.flow.as_mut() else {
            // A slot returned by insert() or found in the map always holds a flow; were
            // that ever broken, the packet is attributed to a direction-less placement
            // rather than taking the run down.
            debug_assert!(false, "flow table invariant broken: mapped slot is empty");
            return Placement {
                id: FlowId { slot, generation },
                dir: Direction::ClientToServer,
                created,
                late_syn: false,
            };
        };
        let dir = flow.direction_of(p.src);
        if !self.outlier {
            flow.last_ts = flow.last_ts.max(p.ts);
        }
        let c = &mut flow.dirs[dir.index()];
        c.packets += 1;
        c.bytes += u64::from(p.frame_len);
        c.ip_bytes += u64::from(p.ip_len);
        c.payload_bytes += u64::from(p.payload_len);
        if let Some((flags, seq)) = p.tcp {
            if flags.syn() && !flags.ack() && dir == Direction::ClientToServer {
                flow.client_isn.get_or_insert(seq);
            }
            if flags.fin() || flags.rst() {
                flow.closing = true;
            }
        }
        Placement {
            id: FlowId { slot, generation },
            dir,
            created,
            late_syn: false,
        }
    }

    /// Ends every flow idle for longer than its protocol's timeout at `now`.
    ///
    /// Time outliers: a packet stamped more than [`TIME_OUTLIER_NS`] from the clock (the
    /// latest packet time so far), ahead or behind, moves the clock only when the next
    /// packet is within that distance of it too (a capture that really resumed later); a
    /// lone one (a clock glitch decades ahead: the next packet is back near the clock) is
    /// an outlier; one followed by a packet later still moves the clock there (a sparse
    /// capture, days between packets); one whose next packet is far from both otherwise
    /// is let go unnamed. Until the next packet tells, such a packet expires
    /// nothing and does not extend its flow's `last_ts`, so
    /// a lone one neither ends every flow nor splits its own;
    /// [`FlowTable::take_time_outlier`] names it once the next packet has not confirmed it.
    #[inline]
    pub fn expire(&mut self, now: Timestamp, ended: &mut Vec<(Flow, CloseReason)>) {
        // The usual packet: no jump held, and near the clock.
        if self.pending_jump.is_none()
            && let Some(c) = self.clock
            && now.0.abs_diff(c.0) <= TIME_OUTLIER_NS as u64
        {
            if now > c {
                self.clock = Some(now);
            }
            self.outlier = false;
            self.expire_idle(now, ended);
            return;
        }
        self.expire_outlying(now, ended);
    }

    /// [`FlowTable::expire`] for a packet far from the clock, or after one.
    #[inline(never)]
    fn expire_outlying(&mut self, now: Timestamp, ended: &mut Vec<(Flow, CloseReason)>) {
        let held = self.pending_jump;
        let mut jumped = false;
        self.outlier = match self.clock {
            None => {
                self.clock = Some(now);
                false
            }
            Some(c) if now.nanos_since(c).unsigned_abs() > TIME_OUTLIER_NS as u64 => {
                if self.pending_jump.is_some_and(|j| {
                    now.nanos_since(j).unsigned_abs() <= TIME_OUTLIER_NS as u64
                        || (j > c && now >= j)
                }) {
                    // Two packets in a row agree (the clock itself jumped, or was the
                    // outlier, when the capture's first packet was), or time kept going
                    // forward past the held packet: a sparse capture, days between
                    // packets, whose flows really were idle.
                    self.pending_jump = None;
                    self.clock = Some(now);
                    jumped = true;
                    false
                } else {
                    self.pending_jump = Some(now);
                    true
                }
            }
            Some(c) => {
                self.pending_jump = None;
                self.clock = Some(c.max(now));
                false
            }
        };
        if let Some(j) = held
            && !self.outlier
            && !jumped
        {
            // Out and back: the packet after the held one is near the clock again.
            self.time_outliers += 1;
            self.confirmed_outlier = Some(j);
        }
        if self.outlier {
            return;
        }
        self.expire_idle(now, ended);
    }

    /// Ends every flow idle for longer than its protocol's timeout at `now`.
    #[inline]
    fn expire_idle(&mut self, now: Timestamp, ended: &mut Vec<(Flow, CloseReason)>) {
        for (class, timeout) in [
            (CLASS_TCP, self.cfg.tcp_idle_ns),
            (CLASS_UDP, self.cfg.udp_idle_ns),
            (CLASS_TCP_CLOSED, self.cfg.tcp_closed_ns),
        ] {
            loop {
                let head = self.lru[class].head;
                if head == NIL {
                    break;
                }
                let Some(flow) = self.slots[head as usize].flow.as_ref() else {
                    break;
                };
                if now.nanos_since(flow.last_ts) <= timeout {
                    break;
                }
                if let Some(f) = self.remove(head) {
                    self.remember_finished(&f, now);
                    ended.push((f, CloseReason::IdleTimeout));
                }
            }
        }
    }

    /// Whether the packet last given to [`FlowTable::expire`] is held as a possible time
    /// outlier (the next packet decides).
    pub fn was_time_outlier(&self) -> bool {
        self.outlier
    }

    /// The time of the packet before the last one, when it turned out a lone time
    /// outlier; answered once.
    pub fn take_time_outlier(&mut self) -> Option<Timestamp> {
        self.confirmed_outlier.take()
    }

    /// Ends every remaining flow (end of capture), oldest activity first.
    pub fn drain(&mut self, ended: &mut Vec<(Flow, CloseReason)>) {
        for class in 0..self.lru.len() {
            while self.lru[class].head != NIL {
                let head = self.lru[class].head;
                match self.remove(head) {
                    Some(f) => ended.push((f, CloseReason::EndOfCapture)),
                    None => break,
                }
            }
        }
    }

    /// A pure SYN repeating the ISN of a closed connection on this 4-tuple that left the
    /// table within the TCP idle timeout: that connection's id.
    fn late_syn(&self, key: &FlowKey, p: &PacketFacts) -> Option<FlowId> {
        let (flags, seq) = p.tcp?;
        if !flags.syn() || flags.ack() {
            return None;
        }
        let (client, isn, left, id) = *self.finished.get(key)?;
        (client == p.src && isn == seq && p.ts.nanos_since(left) <= self.cfg.tcp_idle_ns)
            .then_some(id)
    }

    /// Remembers a closed connection leaving the table (for late SYNs).
    fn remember_finished(&mut self, f: &Flow, now: Timestamp) {
        let (Some(isn), true) = (f.client_isn, f.closing) else {
            return;
        };
        if f.key.l4 != L4::Tcp {
            return;
        }
        while let Some(&(k, t)) = self.finished_order.front() {
            let stale = now.nanos_since(t) > self.cfg.tcp_idle_ns;
            if !stale && self.finished_order.len() < MAX_FINISHED {
                break;
            }
            self.finished_order.pop_front();
            if self.finished.get(&k).is_some_and(|e| e.2 == t) {
                self.finished.remove(&k);
            }
        }
        self.finished.insert(f.key, (f.client, isn, now, f.id));
        self.finished_order.push_back((f.key, now));
    }

    fn is_port_reuse(&self, slot: u32, p: &PacketFacts) -> bool {
        let Some((flags, seq)) = p.tcp else {
            return false;
        };
        if !flags.syn() || flags.ack() {
            return false;
        }
        match self.slots.get(slot as usize).and_then(|s| s.flow.as_ref()) {
            Some(f) => f.closing && f.client_isn != Some(seq),
            None => false,
        }
    }

    fn insert(
        &mut self,
        key: FlowKey,
        p: &PacketFacts,
        ended: &mut Vec<(Flow, CloseReason)>,
    ) -> u32 {
        while self.map.len() >= self.cfg.max_flows {
            let victim = self.least_recent();
            match victim.and_then(|v| self.remove(v)) {
                Some(f) => {
                    self.evicted += 1;
                    ended.push((f, CloseReason::Evicted));
                }
                None => break,
            }
        }
        let (client, server, role_rule) = decide_roles(p);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    flow: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.generation = s.generation.wrapping_add(1);
        s.flow = Some(Flow {
            id: FlowId {
                slot,
                generation: s.generation,
            },
            key,
            client,
            server,
            role_rule,
            first_ts: p.ts,
            last_ts: p.ts,
            dirs: [DirCounters::default(); 2],
            first_packet: p.index,
            client_isn: None,
            closing: false,
            lru_class: class_of(p.l4) as u8,
            prev: NIL,
            next: NIL,
        });
        self.map.insert(key, slot);
        self.created += 1;
        self.peak_live = self.peak_live.max(self.map.len());
        self.link_tail(class_of(p.l4), slot);
        slot
    }

    /// Both directions of a TCP connection ended: from now on the flow ends after
    /// `tcp_closed_ns` without packets instead of the idle timeout.
    pub fn mark_finished(&mut self, id: FlowId) {
        let Some(class) = self
            .slots
            .get(id.slot as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.flow.as_ref())
            .map(|f| usize::from(f.lru_class))
        else {
            return;
        };
        if class == CLASS_TCP {
            self.unlink(class, id.slot);
            if let Some(f) = self.slots[id.slot as usize].flow.as_mut() {
                f.lru_class = CLASS_TCP_CLOSED as u8;
            }
            self.link_tail(CLASS_TCP_CLOSED, id.slot);
        }
    }

    fn least_recent(&self) -> Option<u32> {
        let heads: Vec<u32> = self
            .lru
            .iter()
            .map(|l| l.head)
            .filter(|&h| h != NIL)
            .collect();
        heads.into_iter().min_by_key(|&h| {
            self.slots[h as usize]
                .flow
                .as_ref()
                .map_or(Timestamp(i64::MIN), |f| f.last_ts)
        })
    }

    fn remove(&mut self, slot: u32) -> Option<Flow> {
        let class = usize::from(self.slots.get(slot as usize)?.flow.as_ref()?.lru_class);
        self.unlink(class, slot);
        let flow = self.slots[slot as usize].flow.take()?;
        self.map.remove(&flow.key);
        if self.last.is_some_and(|last| last.slot == slot) {
            self.last = None;
        }
        self.free.push(slot);
        Some(flow)
    }

    fn touch(&mut self, slot: u32) {
        let Some(class) = self.slots[slot as usize]
            .flow
            .as_ref()
            .map(|f| usize::from(f.lru_class))
        else {
            return;
        };
        if self.lru[class].tail != slot {
            self.unlink(class, slot);
            self.link_tail(class, slot);
        }
    }

    fn link_tail(&mut self, class: usize, slot: u32) {
        let tail = self.lru[class].tail;
        if let Some(f) = self.slots[slot as usize].flow.as_mut() {
            f.prev = tail;
            f.next = NIL;
        }
        if tail == NIL {
            self.lru[class].head = slot;
        } else if let Some(t) = self.slots[tail as usize].flow.as_mut() {
            t.next = slot;
        }
        self.lru[class].tail = slot;
    }

    fn unlink(&mut self, class: usize, slot: u32) {
        let (prev, next) = match self.slots[slot as usize].flow.as_ref() {
            Some(f) => (f.prev, f.next),
            None => return,
        };
        if prev == NIL {
            self.lru[class].head = next;
        } else if let Some(p) = self.slots[prev as usize].flow.as_mut() {
            p.next = next;
        }
        if next == NIL {
            self.lru[class].tail = prev;
        } else if let Some(n) = self.slots[next as usize].flow.as_mut() {
            n.prev = prev;
        }
        if let Some(f) = self.slots[slot as usize].flow.as_mut() {
            f.prev = NIL;
            f.next = NIL;
        }
    }
}

const CLASS_TCP: usize = 0;
const CLASS_UDP: usize = 1;
const CLASS_TCP_CLOSED: usize = 2;

fn class_of(l4: L4) -> usize {
    match l4 {
        L4::Tcp => CLASS_TCP,
        L4::Udp => CLASS_UDP,
    }
}

fn decide_roles(p: &PacketFacts) -> (Endpoint, Endpoint, RoleRule) {
    if let Some((flags, _)) = p.tcp {
        if flags.syn() && !flags.ack() {
            return (p.src, p.dst, RoleRule::Syn);
        }
        if flags.syn() && flags.ack() {
            return (p.dst, p.src, RoleRule::SynAck);
        }
    }
    let (sw, dw) = (p.src.port < 1024, p.dst.port < 1024);
    if dw && !sw {
        return (p.src, p.dst, RoleRule::WellKnownPort);
    }
    if sw && !dw {
        return (p.dst, p.src, RoleRule::WellKnownPort);
    }
    if p.src.port > p.dst.port {
        (p.src, p.dst, RoleRule::LowerPort)
    } else if p.src.port < p.dst.port {
        (p.dst, p.src, RoleRule::LowerPort)
    } else {
        (p.src, p.dst, RoleRule::FirstPacket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), port)
    }

    fn facts(src: Endpoint, dst: Endpoint, ts: i64, tcp: Option<(u8, u32)>) -> PacketFacts {
        PacketFacts {
            l4: if tcp.is_some() { L4::Tcp } else { L4::Udp },
            src,
            dst,
            ts: Timestamp(ts),
            index: 0,
            frame_len: 60,
            ip_len: 40,
            payload_len: 0,
            encap: EncapId::BARE,
            tcp: tcp.map(|(f, s)| (TcpFlags(f), s)),
        }
    }

    #[test]
    fn syn_ack_first_still_names_the_client() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut ended = Vec::new();
        let p = t.lookup(
            &facts(
                ep(1, 80),
                ep(2, 50000),
                0,
                Some((TcpFlags::SYN | TcpFlags::ACK, 9)),
            ),
            &mut ended,
        );
        assert_eq!(p.dir, Direction::ServerToClient);
        let f = t.get(p.id).unwrap();
        assert_eq!(f.client, ep(2, 50000));
        assert_eq!(f.role_rule, RoleRule::SynAck);
        let back = t.lookup(
            &facts(ep(2, 50000), ep(1, 80), 1, Some((TcpFlags::ACK, 1))),
            &mut ended,
        );
        assert_eq!(back.id, p.id);
        assert_eq!(back.dir, Direction::ClientToServer);
    }

    /// One packet stamped 30 years ahead in the middle of a connection (a clock glitch):
    /// it neither ends the connection nor becomes its last time; two packets that agree
    /// on a later time (a capture resumed after a pause) move the clock and expire it.
    #[test]
    fn a_lone_packet_far_ahead_in_time_is_an_outlier() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut ended = Vec::new();
        let sec = 1_000_000_000i64;
        let far = 30 * 365 * 86_400 * sec;
        let (a, b) = (ep(1, 40000), ep(2, 80));
        let mut ids = Vec::new();
        for (i, ts) in [0, sec, far, 2 * sec, 3 * sec].into_iter().enumerate() {
            t.expire(Timestamp(ts), &mut ended);
            assert_eq!(t.was_time_outlier(), i == 2, "packet {i}");
            let (s, d) = if i % 2 == 0 { (a, b) } else { (b, a) };
            ids.push(
                t.lookup(&facts(s, d, ts, Some((TcpFlags::ACK, 1))), &mut ended)
                    .id,
            );
        }
        assert!(ended.is_empty());
        assert!(ids.iter().all(|id| *id == ids[0]));
        assert_eq!(t.get(ids[0]).unwrap().last_ts, Timestamp(3 * sec));
        assert_eq!(t.time_outliers, 1);
        assert_eq!(t.take_time_outlier(), Some(Timestamp(far)));
        assert_eq!(t.take_time_outlier(), None);
        // A real jump: the second packet confirms it, the idle connection ends, and no
        // outlier is named.
        let later = 10 * 86_400 * sec;
        t.expire(Timestamp(later), &mut ended);
        assert!(t.was_time_outlier() && ended.is_empty());
        t.expire(Timestamp(later + sec), &mut ended);
        assert!(!t.was_time_outlier());
        assert_eq!(ended.len(), 1);
        assert_eq!((t.take_time_outlier(), t.time_outliers), (None, 1));
        // A capture stitched from several days (nDPI's gtp_false_positive.pcapng: its last
        // two packets 9 and 11 days apart): no packet comes back, none is named.
        // Its flows were idle for days: the packet 11 days on still ends the one it
        // finds (the clock follows time that keeps going forward).
        let day = 86_400 * sec;
        let id = t
            .lookup(
                &facts(a, b, later + sec, Some((TcpFlags::ACK, 1))),
                &mut ended,
            )
            .id;
        ended.clear();
        for ts in [later + 9 * day, later + 20 * day] {
            t.expire(Timestamp(ts), &mut ended);
        }
        assert_eq!((t.take_time_outlier(), t.time_outliers), (None, 1));
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].0.id, id);
        assert_eq!(ended[0].1, CloseReason::IdleTimeout);
    }

    /// A connection closes and leaves the table (5 s after its last packet); its SYN
    /// arrives again later (a retransmission held up in the network, same ISN): no new
    /// flow. A SYN with another ISN is a new connection, as is the same ISN after the idle
    /// timeout.
    #[test]
    fn a_late_syn_repeating_a_finished_connections_isn_is_no_new_connection() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut ended = Vec::new();
        let sec = 1_000_000_000i64;
        let (c, s) = (ep(1, 40000), ep(2, 80));
        let step = |t: &mut FlowTable, ended: &mut Vec<_>, src, dst, ts, f, seq| {
            t.expire(Timestamp(ts), ended);
            t.lookup(&facts(src, dst, ts, Some((f, seq))), ended)
        };
        let syn = step(&mut t, &mut ended, c, s, 0, TcpFlags::SYN, 1000);
        step(
            &mut t,
            &mut ended,
            s,
            c,
            1,
            TcpFlags::SYN | TcpFlags::ACK,
            5000,
        );
        step(
            &mut t,
            &mut ended,
            c,
            s,
            2,
            TcpFlags::FIN | TcpFlags::ACK,
            1001,
        );
        t.mark_finished(syn.id);
        step(
            &mut t,
            &mut ended,
            ep(3, 1),
            ep(4, 2),
            10 * sec,
            TcpFlags::ACK,
            1,
        );
        assert_eq!(ended.len(), 1, "the closed connection left the table");
        let late = step(&mut t, &mut ended, c, s, 20 * sec, TcpFlags::SYN, 1000);
        assert!(late.late_syn && !late.created);
        assert_eq!(late.id, syn.id);
        assert!(t.get(late.id).is_none());
        assert_eq!(t.late_syns, 1);
        let other = step(&mut t, &mut ended, c, s, 21 * sec, TcpFlags::SYN, 7777);
        assert!(other.created && !other.late_syn);
        let mut t2 = FlowTable::new(FlowConfig::default());
        let id = step(&mut t2, &mut ended, c, s, 0, TcpFlags::SYN, 1000).id;
        step(&mut t2, &mut ended, c, s, 1, TcpFlags::RST, 1001);
        t2.mark_finished(id);
        step(
            &mut t2,
            &mut ended,
            ep(3, 1),
            ep(4, 2),
            10 * sec,
            TcpFlags::ACK,
            1,
        );
        let much_later = step(&mut t2, &mut ended, c, s, 400 * sec, TcpFlags::SYN, 1000);
        assert!(much_later.created && !much_later.late_syn);
    }

    #[test]
    fn port_rules_without_syn() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut ended = Vec::new();
        let a = t.lookup(&facts(ep(1, 53), ep(2, 40000), 0, None), &mut ended);
        assert_eq!(t.get(a.id).unwrap().role_rule, RoleRule::WellKnownPort);
        assert_eq!(a.dir, Direction::ServerToClient);
        let b = t.lookup(&facts(ep(1, 8080), ep(2, 40000), 0, None), &mut ended);
        assert_eq!(t.get(b.id).unwrap().role_rule, RoleRule::LowerPort);
        assert_eq!(t.get(b.id).unwrap().server, ep(1, 8080));
    }

    #[test]
    fn idle_flows_expire_in_packet_time_and_ids_are_not_reused() {
        let mut t = FlowTable::new(FlowConfig {
            udp_idle_ns: 10,
            ..FlowConfig::default()
        });
        let mut ended = Vec::new();
        let a = t.lookup(&facts(ep(1, 1000), ep(2, 2000), 0, None), &mut ended);
        t.expire(Timestamp(5), &mut ended);
        assert!(ended.is_empty());
        t.expire(Timestamp(11), &mut ended);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].1, CloseReason::IdleTimeout);
        let b = t.lookup(&facts(ep(1, 1000), ep(2, 2000), 20, None), &mut ended);
        assert_eq!(a.id.slot, b.id.slot);
        assert_ne!(a.id, b.id);
        assert!(t.get(a.id).is_none());
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_active() {
        let mut t = FlowTable::new(FlowConfig {
            max_flows: 3,
            ..FlowConfig::default()
        });
        let mut ended = Vec::new();
        for port in 0..3u16 {
            t.lookup(
                &facts(ep(1, 1000 + port), ep(2, 53), i64::from(port), None),
                &mut ended,
            );
        }
        // Refresh the first flow so the second becomes the least recent.
        t.lookup(&facts(ep(1, 1000), ep(2, 53), 10, None), &mut ended);
        t.lookup(&facts(ep(1, 2000), ep(2, 53), 11, None), &mut ended);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].0.client, ep(1, 1001));
        assert_eq!(ended[0].1, CloseReason::Evicted);
        assert_eq!(t.live(), 3);
    }

    #[test]
    fn finished_connections_leave_after_the_close_delay() {
        let mut t = FlowTable::new(FlowConfig {
            tcp_idle_ns: 1000,
            tcp_closed_ns: 10,
            ..FlowConfig::default()
        });
        let mut ended = Vec::new();
        let a = t.lookup(
            &facts(ep(1, 40000), ep(2, 80), 0, Some((TcpFlags::SYN, 1))),
            &mut ended,
        );
        let b = t.lookup(
            &facts(ep(1, 40001), ep(2, 80), 0, Some((TcpFlags::SYN, 1))),
            &mut ended,
        );
        t.mark_finished(a.id);
        // A late ACK keeps it on the closed list.
        t.lookup(
            &facts(ep(1, 40000), ep(2, 80), 5, Some((TcpFlags::ACK, 2))),
            &mut ended,
        );
        t.expire(Timestamp(14), &mut ended);
        assert!(ended.is_empty());
        t.expire(Timestamp(16), &mut ended);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].0.id, a.id);
        assert!(t.get(b.id).is_some());
    }

    #[test]
    fn a_new_syn_after_close_is_a_new_connection() {
        let mut t = FlowTable::new(FlowConfig::default());
        let mut ended = Vec::new();
        let (c, s) = (ep(1, 40000), ep(2, 80));
        let a = t.lookup(&facts(c, s, 0, Some((TcpFlags::SYN, 100))), &mut ended);
        // Retransmitted SYN with the same ISN: same connection.
        assert_eq!(
            t.lookup(&facts(c, s, 1, Some((TcpFlags::SYN, 100))), &mut ended)
                .id,
            a.id
        );
        t.lookup(
            &facts(c, s, 2, Some((TcpFlags::FIN | TcpFlags::ACK, 101))),
            &mut ended,
        );
        let b = t.lookup(&facts(c, s, 3, Some((TcpFlags::SYN, 5000))), &mut ended);
        assert_ne!(a.id, b.id);
        assert!(b.created);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].1, CloseReason::PortReuse);
    }
}
