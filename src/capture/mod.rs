//! Capture input: pcap and pcapng files, gzip-compressed or not, from a file or a pipe.
//!
//! # Contract
//!
//! - The format is detected from the first bytes (magic numbers), never from the file name:
//!   classic pcap in both byte orders with microsecond or nanosecond timestamps, pcapng with
//!   any number of sections and interfaces (per-interface link type, `if_tsresol` and
//!   `if_tsoffset`; enhanced, simple and obsolete packet blocks), and either of them inside
//!   gzip.
//! - Regular files are memory-mapped and packets are handed out as slices of the map: no
//!   copy and no heap allocation per packet. Pipes, standard input and gzip streams go
//!   through one reusable buffer that grows only up to [`MAX_RECORD_LEN`].
//! - A [`RawPacket`] borrows the reader; it is valid until the next call. A packet of a
//!   memory-mapped file also says where its bytes lie in the file ([`RawPacket::stored_at`]):
//!   a consumer that must remember bytes it was shown (the assembler's overlap history)
//!   keeps a [`Store`] handle and the offset instead of a copy, and the map stays readable
//!   for as long as a handle to it is held. Packets of streams say `None`.
//! - A broken file (bad magic, truncated record, impossible length) ends reading that file
//!   with a [`CaptureError`] that names the file, the record index and the byte offset of
//!   the record. Packets read before the fault have already been handed out.
//! - No length read from the file sizes an allocation before it has been checked against
//!   [`MAX_RECORD_LEN`].

mod input;
#[cfg(feature = "live")]
pub mod live;
mod pcap;
mod pcapng;
mod set;

pub use input::Input;
pub use set::{CaptureSet, FileInfo};

use crate::timestamp::Timestamp;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The largest record (pcap packet record or pcapng block) tunscope accepts. Larger
/// lengths in a record header mean a corrupt file; 16 MiB is far beyond any real snap
/// length (Wireshark's own limit is 256 KiB for most link types).
pub const MAX_RECORD_LEN: usize = 16 * 1024 * 1024;

/// A link-layer header type, as numbered by tcpdump.org's LINKTYPE_ registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const PPP: LinkType = LinkType(9);
    /// Raw IP as some BSDs number it in files (DLT_RAW 12 / 14).
    pub const RAW_BSD12: LinkType = LinkType(12);
    pub const RAW_BSD14: LinkType = LinkType(14);
    pub const PPP_HDLC: LinkType = LinkType(50);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// tcpdump's short name for the link type (`EN10MB`, `LINUX_SLL2`, ...), or `LINKTYPE_<n>`.
    pub fn name(self) -> String {
        let known = match self {
            LinkType::NULL => "NULL",
            LinkType::ETHERNET => "EN10MB",
            LinkType::PPP => "PPP",
            LinkType::RAW_BSD12 | LinkType::RAW_BSD14 | LinkType::RAW => "RAW",
            LinkType::PPP_HDLC => "PPP_HDLC",
            LinkType::LOOP => "LOOP",
            LinkType::LINUX_SLL => "LINUX_SLL",
            LinkType::IPV4 => "IPV4",
            LinkType::IPV6 => "IPV6",
            LinkType::LINUX_SLL2 => "LINUX_SLL2",
            _ => return format!("LINKTYPE_{}", self.0),
        };
        known.to_string()
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for LinkType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// One captured packet, borrowed from the reader.
#[derive(Clone, Copy, Debug)]
pub struct RawPacket<'a> {
    /// 0-based index of the packet across every file of the run.
    pub index: u64,
    pub ts: Timestamp,
    pub link: LinkType,
    /// The captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// The packet's length on the wire (`>= data.len()` unless the file is odd).
    pub orig_len: u32,
    /// Where `data[0]` lies in a store that outlives the packet (a memory-mapped capture
    /// file); `None` for streams (pipes, standard input, gzip, live capture) and for any
    /// buffer that is not such a store.
    pub stored_at: Option<StoredAt<'a>>,
}

/// Bytes that stay readable, and the same, for as long as a handle to them is held: a
/// capture file mapped into memory. Recalling bytes may fault them back in from the page
/// cache (consumed parts of a map are given back to the kernel), so it is for the rare
/// path (comparing a retransmission with the first copy), not for every byte.
pub trait StoredBytes: Send + Sync {
    /// How many bytes the store holds (cheap: touches none of them).
    fn stored_len(&self) -> u64;
    /// The `len` bytes at `offset`, or `None` unless the range lies entirely inside.
    fn recall(&self, offset: u64, len: usize) -> Option<&[u8]>;
}

/// Bytes held in memory are a store too (tests, fuzzing, callers with their own buffers).
impl StoredBytes for Vec<u8> {
    fn stored_len(&self) -> u64 {
        self.len() as u64
    }

    fn recall(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        self.get(start..start.checked_add(len)?)
    }
}

/// A shared handle to a [`StoredBytes`].
pub type Store = Arc<dyn StoredBytes>;

/// Where a run of bytes lies in a [`Store`].
#[derive(Clone, Copy)]
pub struct StoredAt<'a> {
    pub store: &'a Store,
    pub offset: u64,
}

impl<'a> StoredAt<'a> {
    /// Where `part` lies, given that `whole` starts at `self`: `None` unless `part` is a
    /// sub-slice of `whole` (found by address, so a copy of the bytes elsewhere, such as a
    /// defragmentation buffer, is never taken for them).
    pub fn locate(self, whole: &[u8], part: &[u8]) -> Option<StoredAt<'a>> {
        let whole_start = whole.as_ptr() as usize;
        let part_start = part.as_ptr() as usize;
        let skip = part_start.checked_sub(whole_start)?;
        if skip.checked_add(part.len())? > whole.len() {
            return None;
        }
        Some(StoredAt {
            store: self.store,
            offset: self.offset.checked_add(skip as u64)?,
        })
    }

    /// The position `n` bytes further on.
    pub fn advance(self, n: u64) -> Option<StoredAt<'a>> {
        Some(StoredAt {
            store: self.store,
            offset: self.offset.checked_add(n)?,
        })
    }
}

impl fmt::Debug for StoredAt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredAt")
            .field("store", &Arc::as_ptr(self.store).cast::<u8>())
            .field("offset", &self.offset)
            .finish()
    }
}

/// The capture format detected from the magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pcap,
    Pcapng,
}

/// Why a capture could not be read (completely).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: is a directory, not a capture file")]
    IsDirectory { path: PathBuf },
    #[error("{path}: empty file (0 bytes), not a capture")]
    Empty { path: PathBuf },
    #[error("{path}: not a pcap or pcapng capture (first bytes {magic})")]
    UnknownFormat { path: PathBuf, magic: String },
    #[error("{path}: {what} (record {record}, byte offset {offset})")]
    Corrupt {
        path: PathBuf,
        /// 0-based index of the record (pcap packet record or pcapng block) in this file.
        record: u64,
        /// Byte offset of that record from the start of the (decompressed) file.
        offset: u64,
        what: String,
    },
    #[error("{path}: read error at byte offset {offset}: {source}")]
    Read {
        path: PathBuf,
        offset: u64,
        #[source]
        source: std::io::Error,
    },
}

/// Where packets come from: one file, several files read as one capture, or a live
/// interface. Implementations hand out packets in capture order.
pub trait PacketSource {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError>;
}
