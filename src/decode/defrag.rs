//! IPv4 and IPv6 fragment reassembly, bounded.
//!
//! # Contract
//!
//! - Fragments are grouped by (source, destination, protocol, identification).
//! - Memory is bounded by [`DefragConfig::max_bytes`] (fragment payload held) and
//!   [`DefragConfig::max_datagrams`] (incomplete datagrams). When a new fragment would
//!   exceed either, the incomplete datagram that started longest ago is dropped and
//!   counted in [`DefragStats::dropped_for_limit`].
//! - An incomplete datagram whose first fragment is older than
//!   [`DefragConfig::timeout_ns`] in packet time is dropped and counted in
//!   [`DefragStats::expired`] (swept at most once per second of packet time).
//! - A completed datagram's payload is available from [`Defragmenter::completed`] until
//!   the next call to [`Defragmenter::add`].

use crate::timestamp::Timestamp;
use etherparse::defrag::IpDefragBuf;
use etherparse::{IpFragOffset, IpNumber};
use hashbrown::HashMap;
use serde::Serialize;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug)]
pub struct DefragConfig {
    pub max_bytes: usize,
    pub max_datagrams: usize,
    pub timeout_ns: i64,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_bytes: 16 * 1024 * 1024,
            max_datagrams: 4096,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// The fragment fields of one packet.
#[derive(Clone, Copy, Debug)]
pub struct FragmentInfo {
    pub id: u32,
    pub offset: IpFragOffset,
    pub more: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct DefragStats {
    pub completed: u64,
    pub expired: u64,
    pub dropped_for_limit: u64,
    pub invalid: u64,
    /// Incomplete datagrams still held at the end.
    pub pending: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Debug)]
struct Entry {
    buf: IpDefragBuf,
    first_ts: Timestamp,
    bytes: usize,
}

#[derive(Debug)]
pub struct Defragmenter {
    cfg: DefragConfig,
    active: HashMap<Key, Entry, foldhash::fast::RandomState>,
    bytes: usize,
    completed: Vec<u8>,
    last_sweep: Timestamp,
    pub stats: DefragStats,
}

impl Default for Defragmenter {
    fn default() -> Self {
        Defragmenter::new(DefragConfig::default())
    }
}

impl Defragmenter {
    pub fn new(cfg: DefragConfig) -> Self {
        Defragmenter {
            cfg,
            active: HashMap::default(),
            bytes: 0,
            completed: Vec::new(),
            last_sweep: Timestamp::ZERO,
            stats: DefragStats::default(),
        }
    }

    /// Adds a fragment. `Ok(Some(()))`: the datagram is complete, see [`Self::completed`].
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        frag: FragmentInfo,
        payload: &[u8],
        ts: Timestamp,
        _packet: u64,
    ) -> Result<Option<()>, String> {
        self.sweep(ts);
        let key = Key {
            src,
            dst,
            proto,
            id: frag.id,
        };
        if !self.active.contains_key(&key) {
            while !self.active.is_empty()
                && (self.active.len() >= self.cfg.max_datagrams
                    || self.bytes + payload.len() > self.cfg.max_bytes)
            {
                self.drop_oldest();
            }
            if payload.len() > self.cfg.max_bytes {
                self.stats.dropped_for_limit += 1;
                return Ok(None);
            }
            self.active.insert(
                key,
                Entry {
                    buf: IpDefragBuf::new(IpNumber(proto), Vec::new(), Vec::new()),
                    first_ts: ts,
                    bytes: 0,
                },
            );
        } else if self.bytes + payload.len() > self.cfg.max_bytes {
            self.stats.dropped_for_limit += 1;
            self.remove(&key);
            return Ok(None);
        }
        let Some(entry) = self.active.get_mut(&key) else {
            return Ok(None);
        };
        if let Err(e) = entry.buf.add(frag.offset, frag.more, payload) {
            self.stats.invalid += 1;
            self.remove(&key);
            return Err(e.to_string());
        }
        entry.bytes += payload.len();
        self.bytes += payload.len();
        if !entry.buf.is_complete() {
            return Ok(None);
        }
        if let Some(entry) = self.remove(&key) {
            let (data, _) = entry.buf.take_bufs();
            self.completed = data;
            self.stats.completed += 1;
            return Ok(Some(()));
        }
        Ok(None)
    }

    /// The payload of the datagram completed by the last call to [`Self::add`].
    pub fn completed(&self) -> &[u8] {
        &self.completed
    }

    /// Counts what is still incomplete (call at the end of the capture).
    pub fn finish(&mut self) {
        self.stats.pending = self.active.len() as u64;
    }

    fn remove(&mut self, key: &Key) -> Option<Entry> {
        let e = self.active.remove(key)?;
        self.bytes -= e.bytes;
        Some(e)
    }

    fn drop_oldest(&mut self) {
        let oldest = self
            .active
            .iter()
            .min_by_key(|(_, e)| e.first_ts)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.remove(&k);
            self.stats.dropped_for_limit += 1;
        }
    }

    fn sweep(&mut self, now: Timestamp) {
        if now.nanos_since(self.last_sweep) < 1_000_000_000 || self.active.is_empty() {
            return;
        }
        self.last_sweep = now;
        let timeout = self.cfg.timeout_ns;
        let expired: Vec<Key> = self
            .active
            .iter()
            .filter(|(_, e)| now.nanos_since(e.first_ts) > timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            self.remove(&k);
            self.stats.expired += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn frag(off_units: u16, more: bool) -> FragmentInfo {
        FragmentInfo {
            id: 7,
            offset: IpFragOffset::try_new(off_units).unwrap(),
            more,
        }
    }

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn reassembles_out_of_order_fragments() {
        let mut d = Defragmenter::default();
        let t = Timestamp(0);
        assert_eq!(d.add(A, B, 17, frag(2, false), b"CCCC", t, 0), Ok(None));
        assert_eq!(
            d.add(A, B, 17, frag(0, true), b"AAAAAAAABBBBBBBB", t, 1),
            Ok(Some(()))
        );
        assert_eq!(d.completed(), b"AAAAAAAABBBBBBBBCCCC");
        assert_eq!(d.stats.completed, 1);
    }

    #[test]
    fn memory_cap_drops_oldest() {
        let mut d = Defragmenter::new(DefragConfig {
            max_bytes: 64,
            max_datagrams: 2,
            timeout_ns: i64::MAX,
        });
        for id in 0..5u32 {
            let f = FragmentInfo {
                id,
                ..frag(0, true)
            };
            d.add(A, B, 17, f, &[0; 16], Timestamp(i64::from(id)), 0)
                .unwrap();
        }
        assert_eq!(d.active.len(), 2);
        assert_eq!(d.stats.dropped_for_limit, 3);
    }

    #[test]
    fn incomplete_datagrams_expire_in_packet_time() {
        let mut d = Defragmenter::default();
        d.add(A, B, 17, frag(0, true), &[0; 8], Timestamp(0), 0)
            .unwrap();
        let later = Timestamp(31_000_000_000);
        let other = FragmentInfo {
            id: 9,
            ..frag(0, true)
        };
        d.add(A, B, 17, other, &[0; 8], later, 1).unwrap();
        assert_eq!(d.stats.expired, 1);
    }
}
