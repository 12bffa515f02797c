//! pcapng files: a sequence of blocks, each `type u32 | total_len u32 | body | total_len u32`.
//! A section header block (SHB) sets the byte order and resets the interface list; each
//! interface description block (IDB) adds an interface with its own link type, snap length,
//! timestamp resolution (`if_tsresol`) and offset (`if_tsoffset`). Packets come from
//! enhanced (EPB), simple (SPB) and obsolete (PB) packet blocks; every other block is
//! skipped whole.

use super::pcap::{Record, read_u16, read_u32};
use super::{LinkType, MAX_RECORD_LEN, input::Input};
use crate::timestamp::Timestamp;

pub(super) const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 1;
const PB_TYPE: u32 = 2;
const SPB_TYPE: u32 = 3;
const EPB_TYPE: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// More interfaces than this in one section means a corrupt or hostile file.
const MAX_INTERFACES: usize = 4096;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    /// Raw `if_tsresol` byte: bit 7 clear = 10^-n seconds, set = 2^-n seconds.
    tsresol: u8,
    tsoffset_secs: i64,
}

impl Interface {
    fn timestamp(&self, ticks: u64) -> Timestamp {
        let ticks = i128::from(ticks);
        let exp = u32::from(self.tsresol & 0x7f);
        let nanos: i128 = if self.tsresol & 0x80 == 0 {
            if exp <= 9 {
                ticks * 10i128.pow(9 - exp)
            } else {
                ticks / 10i128.pow(exp.min(38) - 9)
            }
        } else if exp < 127 {
            (ticks * 1_000_000_000) >> exp.min(100)
        } else {
            0
        };
        let total = nanos + i128::from(self.tsoffset_secs) * 1_000_000_000;
        Timestamp(total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }
}

/// Reading state across blocks.
#[derive(Debug, Default)]
pub(super) struct PcapngState {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// How many section header blocks have been read.
    pub sections: u32,
    /// Blocks consumed that were not packets (headers, statistics, name resolution...).
    pub skipped_blocks: u64,
}

impl PcapngState {
    /// Reads blocks until the next packet. `Ok(None)` at a clean end of file.
    pub(super) fn next_record(&mut self, input: &mut Input) -> Result<Option<Record>, BlockError> {
        loop {
            let head = input
                .peek(12)
                .map_err(|e| BlockError::now(format!("read error: {e}")))?;
            if head.is_empty() {
                return Ok(None);
            }
            if head.len() < 12 {
                return Err(BlockError::now(format!(
                    "truncated block header: {} bytes before the end of the file",
                    head.len()
                )));
            }
            let raw_type = read_u32(head, 0, false).unwrap_or(0);
            if raw_type == SHB_TYPE {
                // The byte order of a section is only known from its own header.
                let bom = read_u32(head, 8, false).unwrap_or(0);
                self.big_endian = match bom {
                    BYTE_ORDER_MAGIC => false,
                    m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
                    _ => {
                        return Err(BlockError::now(format!(
                            "section header with an unknown byte-order magic {bom:#010x}"
                        )));
                    }
                };
            }
            let be = self.big_endian;
            let block_type = read_u32(head, 0, be).unwrap_or(0);
            let total_len = read_u32(head, 4, be).unwrap_or(0) as usize;
            if total_len < 12 || !total_len.is_multiple_of(4) || total_len > MAX_RECORD_LEN {
                return Err(BlockError::now(format!(
                    "impossible block length {total_len} for block type {block_type:#x}"
                )));
            }
            let block = input
                .peek(total_len)
                .map_err(|e| BlockError::now(format!("read error: {e}")))?;
            if block.len() < total_len {
                return Err(BlockError::now(format!(
                    "truncated block: type {block_type:#x} announces {total_len} bytes, only {} remain in the file",
                    block.len()
                )));
            }
            let trailer = read_u32(block, total_len - 4, be).unwrap_or(0) as usize;
            if trailer != total_len {
                return Err(BlockError::now(format!(
                    "block length mismatch: header says {total_len}, trailer says {trailer}"
                )));
            }
            let body = &block[8..total_len - 4];
            let record = match block_type {
                SHB_TYPE => {
                    self.interfaces.clear();
                    self.sections += 1;
                    None
                }
                IDB_TYPE => {
                    if self.sections == 0 {
                        return Err(BlockError::now(
                            "interface block before any section header".into(),
                        ));
                    }
                    if self.interfaces.len() >= MAX_INTERFACES {
                        return Err(BlockError::now(format!(
                            "more than {MAX_INTERFACES} interfaces in one section"
                        )));
                    }
                    let iface = parse_idb(body, be)
                        .ok_or_else(|| BlockError::now("interface block too short".into()))?;
                    self.interfaces.push(iface);
                    None
                }
                EPB_TYPE | PB_TYPE => Some(self.packet_block(block_type, body, be)?),
                SPB_TYPE => Some(self.simple_block(body, be)?),
                _ => None,
            };
            match record {
                Some(mut r) => {
                    r.data_start += 8;
                    r.record_len = total_len;
                    return Ok(Some(r));
                }
                None => {
                    input.consume(total_len);
                    // A block that is not a packet still counts as a record for error
                    // positions; the caller keeps the block count.
                    self.skipped_blocks += 1;
                }
            }
        }
    }

    fn interface(&self, id: usize) -> Result<&Interface, BlockError> {
        self.interfaces.get(id).ok_or_else(|| {
            BlockError::now(format!(
                "packet refers to interface {id}, but the section describes {} interface(s)",
                self.interfaces.len()
            ))
        })
    }

    fn packet_block(&self, block_type: u32, body: &[u8], be: bool) -> Result<Record, BlockError> {
        // EPB: if_id u32 | ts_hi u32 | ts_lo u32 | caplen u32 | origlen u32 | data
        // PB:  if_id u16 | drops u16 | ts_hi u32 | ts_lo u32 | caplen u32 | len u32 | data
        let short = || BlockError::now("packet block too short".into());
        let if_id = if block_type == EPB_TYPE {
            read_u32(body, 0, be).ok_or_else(short)? as usize
        } else {
            usize::from(read_u16(body, 0, be).ok_or_else(short)?)
        };
        let ts_hi = read_u32(body, 4, be).ok_or_else(short)?;
        let ts_lo = read_u32(body, 8, be).ok_or_else(short)?;
        let caplen = read_u32(body, 12, be).ok_or_else(short)? as usize;
        let orig_len = read_u32(body, 16, be).ok_or_else(short)?;
        let room = body.len().saturating_sub(20);
        if caplen > room {
            return Err(BlockError::now(format!(
                "captured length {caplen} is longer than the {room} bytes its block holds"
            )));
        }
        let iface = self.interface(if_id)?;
        let ticks = (u64::from(ts_hi) << 32) | u64::from(ts_lo);
        Ok(Record {
            ts: iface.timestamp(ticks),
            link: iface.link,
            data_start: 20,
            caplen,
            orig_len,
            record_len: 0,
            over_snaplen: false,
        })
    }

    fn simple_block(&self, body: &[u8], be: bool) -> Result<Record, BlockError> {
        let orig_len = read_u32(body, 0, be)
            .ok_or_else(|| BlockError::now("simple packet block too short".into()))?;
        let iface = self.interface(0)?;
        let mut caplen = (orig_len as usize).min(body.len().saturating_sub(4));
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen as usize);
        }
        Ok(Record {
            // A simple packet block carries no timestamp.
            ts: Timestamp::ZERO,
            link: iface.link,
            data_start: 4,
            caplen,
            orig_len,
            record_len: 0,
            over_snaplen: false,
        })
    }
}

/// Reads an interface description block's body: link type, snap length, and the
/// `if_tsresol` / `if_tsoffset` options. Every length is checked against `body` (the
/// block's bytes), never against a declared size; `None` only when the fixed 8 bytes are
/// missing.
fn parse_idb(body: &[u8], be: bool) -> Option<Interface> {
    let link = LinkType(u32::from(read_u16(body, 0, be)?));
    let snaplen = read_u32(body, 4, be)?;
    let mut iface = Interface {
        link,
        snaplen,
        tsresol: 6,
        tsoffset_secs: 0,
    };
    let mut opts = body.get(8..).unwrap_or(&[]);
    while opts.len() >= 4 {
        let code = read_u16(opts, 0, be)?;
        let len = usize::from(read_u16(opts, 2, be)?);
        // The option's value must lie inside the block's own bytes: a declared length
        // longer than what is left ends the options (the interface keeps its defaults
        // for what was not read), whatever the block's declared size says.
        let Some(value) = opts.get(4..4 + len) else {
            break;
        };
        match code {
            0 => break,
            OPT_IF_TSRESOL => {
                if let Some(&r) = value.first() {
                    iface.tsresol = r;
                }
            }
            OPT_IF_TSOFFSET if len >= 8 => {
                let raw = read_u32(value, 0, be)?;
                let raw2 = read_u32(value, 4, be)?;
                let v = if be {
                    (u64::from(raw) << 32) | u64::from(raw2)
                } else {
                    (u64::from(raw2) << 32) | u64::from(raw)
                };
                iface.tsoffset_secs = v as i64;
            }
            _ => {}
        }
        let padded = (4 + len + 3) & !3;
        opts = opts.get(padded..).unwrap_or(&[]);
    }
    Some(iface)
}

/// A block-level error, described in words; the reader adds file, record and offset.
#[derive(Debug)]
pub(super) struct BlockError(pub String);

impl BlockError {
    fn now(what: String) -> Self {
        BlockError(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(tsresol: u8, tsoffset_secs: i64) -> Interface {
        Interface {
            link: LinkType::ETHERNET,
            snaplen: 0,
            tsresol,
            tsoffset_secs,
        }
    }

    /// An IDB body: link type 1, snap length 0, then `opts`.
    fn idb_body(opts: &[u8]) -> Vec<u8> {
        let mut b = vec![1, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(opts);
        b
    }

    #[test]
    fn regression_idb_option_longer_than_the_block() {
        // if_tsresol claiming 200 bytes in a 4-byte option area: used to index an empty
        // slice (exit 101). Now the options end there and the defaults stay.
        let iface = parse_idb(&idb_body(&[9, 0, 200, 0]), false).expect("fixed part");
        assert_eq!(iface.tsresol, 6);
        // The same for if_tsoffset, and for an option cut after its header.
        let iface = parse_idb(&idb_body(&[14, 0, 8, 0, 1, 2]), false).expect("fixed part");
        assert_eq!(iface.tsoffset_secs, 0);
        // A well-formed if_tsresol after a skipped option is still read.
        let iface = parse_idb(
            &idb_body(&[2, 0, 1, 0, b'x', 0, 0, 0, 9, 0, 1, 0, 9, 0, 0, 0]),
            false,
        )
        .expect("fixed part");
        assert_eq!(iface.tsresol, 9);
        // Every truncation of a valid option list parses without a panic.
        let full = idb_body(&[
            9, 0, 1, 0, 9, 0, 0, 0, 14, 0, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        for cut in 0..full.len() {
            let _ = parse_idb(&full[..cut], false);
            let _ = parse_idb(&full[..cut], true);
        }
    }

    #[test]
    fn timestamp_resolutions() {
        // Default microseconds.
        assert_eq!(iface(6, 0).timestamp(1_500_000).0, 1_500_000_000);
        // Nanoseconds.
        assert_eq!(iface(9, 0).timestamp(1_500_000).0, 1_500_000);
        // Picoseconds truncate to nanoseconds.
        assert_eq!(iface(12, 0).timestamp(1_500_000).0, 1_500);
        // Binary: 2^-10 seconds per tick, 1024 ticks = 1 s.
        assert_eq!(iface(0x80 | 10, 0).timestamp(1024).0, 1_000_000_000);
        // if_tsoffset adds whole seconds.
        assert_eq!(iface(6, 100).timestamp(0).0, 100_000_000_000);
        // Absurd resolutions never panic.
        let _ = iface(0x7f, 0).timestamp(u64::MAX);
        let _ = iface(0xff, i64::MAX).timestamp(u64::MAX);
    }
}
