//! Classic libpcap files: a 24-byte file header, then 16-byte record headers each followed
//! by the captured bytes. Both byte orders, microsecond and nanosecond timestamps, and the
//! "modified" (Kuznetzov) variant with 24-byte record headers.

use super::{LinkType, MAX_RECORD_LEN, input::Input};
use crate::timestamp::Timestamp;

pub(super) const FILE_HEADER_LEN: usize = 24;

/// Facts from the file header that every record needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct PcapHeader {
    pub big_endian: bool,
    pub nanos: bool,
    pub record_header_len: usize,
    pub snaplen: u32,
    pub link: LinkType,
    /// The largest captured length a record may claim without being flagged (see
    /// `snap_limit`).
    pub max_caplen: usize,
}

/// The largest captured length a record may claim before it is flagged as longer than
/// the snap length. Some writers record a snap length smaller than what they then store
/// for link-layer headers added afterwards; allow 256 bytes of slack. A record longer
/// still is read whole all the same, as tshark does (libpcap cuts it to the snap length;
/// both read the file to the end), and counted ([`Record::over_snaplen`]); only a length
/// past [`MAX_RECORD_LEN`] means a corrupt header. A snap length of 0 means none.
fn snap_limit(snaplen: u32) -> usize {
    if snaplen == 0 {
        MAX_RECORD_LEN
    } else {
        (snaplen as usize).saturating_add(256).min(MAX_RECORD_LEN)
    }
}

/// Recognises the magic number. `None` when the bytes are not a pcap header.
pub(super) fn parse_file_header(b: &[u8]) -> Option<PcapHeader> {
    let magic: [u8; 4] = b.get(0..4)?.try_into().ok()?;
    let (big_endian, nanos, modified) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true, false),
        [0x34, 0xcd, 0xb2, 0xa1] => (false, false, true),
        [0xa1, 0xb2, 0xcd, 0x34] => (true, false, true),
        _ => return None,
    };
    let rd = |off: usize| read_u32(b, off, big_endian);
    let snaplen = rd(16)?;
    // Bits 0-15 are the link type; bits 26-31 may carry FCS information.
    let link = LinkType(rd(20)? & 0xffff);
    Some(PcapHeader {
        big_endian,
        nanos,
        record_header_len: if modified { 24 } else { 16 },
        snaplen,
        link,
        max_caplen: snap_limit(snaplen),
    })
}

/// Where one packet record's parts lie, relative to the read position.
#[derive(Clone, Copy, Debug)]
pub(super) struct Record {
    pub ts: Timestamp,
    pub link: LinkType,
    pub data_start: usize,
    pub caplen: usize,
    pub orig_len: u32,
    /// Bytes to consume to reach the next record.
    pub record_len: usize,
    /// The captured length is past the file's snap length (pcap only; see `snap_limit`).
    pub over_snaplen: bool,
}

/// Reads the next record header and makes sure the whole record is available.
/// `Ok(None)` at a clean end of file; `Err(what)` describes a corrupt or truncated record.
pub(super) fn next_record(h: &PcapHeader, input: &mut Input) -> Result<Option<Record>, String> {
    let hlen = h.record_header_len;
    let head = input.peek(hlen).map_err(|e| format!("read error: {e}"))?;
    if head.is_empty() {
        return Ok(None);
    }
    // `hlen` is 16 or 24: the four fields are the first 16 bytes.
    let (true, Some(fields)) = (head.len() >= hlen, head.first_chunk::<16>()) else {
        return Err(format!(
            "truncated record header: {} of {hlen} bytes before the end of the file",
            head.len()
        ));
    };
    let words: [[u8; 4]; 4] = std::array::from_fn(|i| {
        [
            fields[4 * i],
            fields[4 * i + 1],
            fields[4 * i + 2],
            fields[4 * i + 3],
        ]
    });
    let [secs, frac, caplen, orig_len] = if h.big_endian {
        words.map(u32::from_be_bytes)
    } else {
        words.map(u32::from_le_bytes)
    };
    let caplen = caplen as usize;
    if caplen > MAX_RECORD_LEN {
        return Err(format!(
            "captured length {caplen} is past any real packet ({MAX_RECORD_LEN} bytes; the file's snap length is {}): corrupt record header",
            h.snaplen
        ));
    }
    let record_len = hlen + caplen;
    let whole = input
        .peek(record_len)
        .map_err(|e| format!("read error: {e}"))?;
    if whole.len() < record_len {
        return Err(format!(
            "truncated record: header announces {caplen} captured bytes, only {} remain in the file",
            whole.len().saturating_sub(hlen)
        ));
    }
    let nanos = if h.nanos {
        i64::from(frac)
    } else {
        i64::from(frac) * 1000
    };
    Ok(Some(Record {
        ts: Timestamp::from_secs_nanos(i64::from(secs), nanos),
        link: h.link,
        data_start: hlen,
        caplen,
        orig_len,
        record_len,
        over_snaplen: caplen > h.max_caplen,
    }))
}

pub(super) fn read_u32(b: &[u8], off: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

pub(super) fn read_u16(b: &[u8], off: usize, big_endian: bool) -> Option<u16> {
    let bytes: [u8; 2] = b.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(bytes)
    } else {
        u16::from_le_bytes(bytes)
    })
}
