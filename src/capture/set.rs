//! Several capture files read in the order given, as one capture (ring-buffer pieces).

use super::input::{Input, display_path};
use super::pcap::{self, PcapHeader, Record};
use super::pcapng::{self, PcapngState};
use super::{CaptureError, Format, LinkType, PacketSource, RawPacket};
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What was read from one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub format: Option<Format>,
    pub packets: u64,
    /// Captured bytes (sum of the records' captured lengths).
    pub bytes: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// Packets per link type.
    pub link_types: BTreeMap<LinkType, u64>,
    /// Set when reading stopped early; the message names the record and offset.
    pub error: Option<String>,
    /// Packets whose timestamp is earlier than the packet before them in this file.
    pub out_of_order_timestamps: u64,
}

impl FileInfo {
    fn new(path: String) -> Self {
        FileInfo {
            path,
            format: None,
            packets: 0,
            bytes: 0,
            first_ts: None,
            last_ts: None,
            link_types: BTreeMap::new(),
            error: None,
            out_of_order_timestamps: 0,
        }
    }
}

enum FormatState {
    Pcap(PcapHeader),
    Pcapng(PcapngState),
}

struct OpenFile {
    input: Input,
    format: FormatState,
    path: PathBuf,
    /// Bytes of the record handed out last, consumed at the next call.
    pending: usize,
    packet_records: u64,
    /// Records longer than the file's snap length (read whole; one warning per file).
    over_snaplen: u64,
    /// Packet times outside what nanoseconds in an `i64` hold (before 1678, after 2262),
    /// held at the limit (one warning per file).
    saturated_ts: u64,
}

/// Reads a list of files in order as one capture.
///
/// Contract: packets are numbered from 0 across all files. When a file fails (cannot be
/// opened, unknown format, corrupt record), `next_packet` returns that error once, records
/// it in the file's [`FileInfo::error`], and the next call continues with the next file.
/// When time goes backwards from the last packet of one file to the first packet of the
/// next, a warning is recorded in [`CaptureSet::warnings`].
/// One input of a set.
enum Source {
    Path(PathBuf),
    /// An already open stream, with the name used in messages.
    Reader(PathBuf, Option<Box<dyn std::io::Read + Send>>),
}

pub struct CaptureSet {
    paths: Vec<Source>,
    next_file: usize,
    current: Option<OpenFile>,
    index: u64,
    pub files: Vec<FileInfo>,
    pub warnings: Vec<String>,
    last_ts_of_previous_file: Option<(Timestamp, String)>,
}

impl CaptureSet {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        CaptureSet {
            paths: paths.into_iter().map(Source::Path).collect(),
            next_file: 0,
            current: None,
            index: 0,
            files: Vec::new(),
            warnings: Vec::new(),
            last_ts_of_previous_file: None,
        }
    }

    /// A set of one already open stream (a socket, a decompressor, bytes in memory);
    /// `name` stands for it in messages.
    pub fn from_reader(name: &str, reader: Box<dyn std::io::Read + Send>) -> Self {
        let mut set = CaptureSet::new(Vec::new());
        set.paths
            .push(Source::Reader(PathBuf::from(name), Some(reader)));
        set
    }

    /// Bytes read so far in the current file and its size, when known (for progress).
    pub fn position(&self) -> Option<(u64, Option<u64>)> {
        self.current
            .as_ref()
            .map(|f| (f.input.offset(), f.input.total_len()))
    }

    /// The number of files given.
    pub fn file_count(&self) -> usize {
        self.paths.len()
    }

    pub fn had_errors(&self) -> bool {
        self.files.iter().any(|f| f.error.is_some())
    }

    fn open_next(&mut self) -> Result<bool, CaptureError> {
        let Some(source) = self.paths.get_mut(self.next_file) else {
            return Ok(false);
        };
        self.next_file += 1;
        let opened = match source {
            Source::Path(path) => {
                let shown = display_path(path);
                (shown, Input::open(path))
            }
            Source::Reader(name, reader) => {
                let shown = name.clone();
                let result = match reader.take() {
                    Some(r) => Input::from_reader(r, &shown),
                    None => Err(CaptureError::Empty {
                        path: shown.clone(),
                    }),
                };
                (shown, result)
            }
        };
        let (shown, input) = opened;
        self.files.push(FileInfo::new(shown.display().to_string()));
        let mut input = input.map_err(|e| self.fail(e))?;
        let head = input.peek(pcap::FILE_HEADER_LEN).map_err(|source| {
            self.fail(CaptureError::Read {
                path: shown.clone(),
                offset: 0,
                source,
            })
        })?;
        let format = if let Some(h) = pcap::parse_file_header(head) {
            if head.len() < pcap::FILE_HEADER_LEN {
                return Err(self.fail(CaptureError::Corrupt {
                    path: shown,
                    record: 0,
                    offset: 0,
                    what: format!("truncated pcap file header: {} of 24 bytes", head.len()),
                }));
            }
            input.consume(pcap::FILE_HEADER_LEN);
            FormatState::Pcap(h)
        } else if head.len() >= 4 && pcap::read_u32(head, 0, false) == Some(pcapng::SHB_TYPE) {
            FormatState::Pcapng(PcapngState::default())
        } else {
            let magic = head
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ");
            return Err(self.fail(CaptureError::UnknownFormat { path: shown, magic }));
        };
        if let Some(info) = self.files.last_mut() {
            info.format = Some(match format {
                FormatState::Pcap(_) => Format::Pcap,
                FormatState::Pcapng(_) => Format::Pcapng,
            });
        }
        self.current = Some(OpenFile {
            input,
            format,
            path: shown,
            pending: 0,
            packet_records: 0,
            over_snaplen: 0,
            saturated_ts: 0,
        });
        Ok(true)
    }

    /// Records a file-level error in the current file's info and returns it.
    fn fail(&mut self, e: CaptureError) -> CaptureError {
        if let Some(info) = self.files.last_mut() {
            info.error = Some(e.to_string());
        }
        e
    }

    fn finish_current(&mut self) {
        if let Some(f) = self.current.as_ref()
            && f.over_snaplen > 0
        {
            let snaplen = match &f.format {
                FormatState::Pcap(h) => h.snaplen,
                FormatState::Pcapng(_) => 0,
            };
            self.warnings.push(format!(
                "{}: {} record(s) longer than the file's snap length {snaplen}, read whole (as tshark reads them)",
                f.path.display(),
                f.over_snaplen
            ));
        }
        if let Some(f) = self.current.as_ref()
            && f.saturated_ts > 0
        {
            self.warnings.push(format!(
                "{}: {} packet time(s) outside the years 1678-2262 (nanoseconds in 64 bits), held at the nearest limit",
                f.path.display(),
                f.saturated_ts
            ));
        }
        self.current = None;
        if let Some(info) = self.files.last()
            && let Some(ts) = info.last_ts
        {
            self.last_ts_of_previous_file = Some((ts, info.path.clone()));
        }
    }
}

impl CaptureSet {
    /// Moves to the next packet record and updates the bookkeeping; the record's bytes
    /// stay in the current file's input until the next call.
    fn advance(&mut self) -> Result<Option<Record>, CaptureError> {
        loop {
            if self.current.is_none() && !self.open_next()? {
                return Ok(None);
            }
            let Some(file) = self.current.as_mut() else {
                continue;
            };
            file.input.consume(file.pending);
            file.pending = 0;
            let offset = file.input.offset();
            let result: Result<Option<Record>, String> = match &mut file.format {
                FormatState::Pcap(h) => pcap::next_record(h, &mut file.input),
                FormatState::Pcapng(state) => state.next_record(&mut file.input).map_err(|e| e.0),
            };
            let record = match result {
                Ok(Some(r)) => r,
                Ok(None) => {
                    self.finish_current();
                    continue;
                }
                Err(what) => {
                    let record = match &file.format {
                        FormatState::Pcap(_) => file.packet_records,
                        FormatState::Pcapng(s) => file.packet_records + s.skipped_blocks,
                    };
                    // pcapng skips non-packet blocks inside next_record: report where the
                    // failing block starts, not where the last packet started.
                    let offset = offset.max(file.input.offset());
                    let err = CaptureError::Corrupt {
                        path: file.path.clone(),
                        record,
                        offset,
                        what,
                    };
                    self.finish_current();
                    return Err(self.fail(err));
                }
            };
            file.pending = record.record_len;
            file.input.prefetch(record.record_len);
            file.packet_records += 1;
            file.over_snaplen += u64::from(record.over_snaplen);
            file.saturated_ts +=
                u64::from(record.ts == Timestamp(i64::MAX) || record.ts == Timestamp(i64::MIN));
            if let Some(info) = self.files.last_mut() {
                if info.packets == 0 {
                    info.first_ts = Some(record.ts);
                    if let Some((prev, prev_path)) = &self.last_ts_of_previous_file
                        && record.ts < *prev
                    {
                        self.warnings.push(format!(
                            "time goes backwards between files: {} starts at {} but {} ended at {}",
                            info.path, record.ts, prev_path, prev
                        ));
                    }
                } else if info.last_ts.is_some_and(|t| record.ts < t) {
                    info.out_of_order_timestamps += 1;
                }
                info.packets += 1;
                info.bytes += record.caplen as u64;
                info.last_ts = Some(record.ts);
                if let Some(n) = info.link_types.get_mut(&record.link) {
                    *n += 1;
                } else {
                    info.link_types.insert(record.link, 1);
                }
            }
            return Ok(Some(record));
        }
    }
}

impl PacketSource for CaptureSet {
    fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        let Some(record) = self.advance()? else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        let (data, stored_at) = match &self.current {
            Some(file) => {
                let data = file
                    .input
                    .peeked(record.record_len)
                    .get(record.data_start..record.data_start + record.caplen)
                    .unwrap_or(&[]);
                let stored_at = file
                    .input
                    .stored_at_pos()
                    .and_then(|at| at.advance(record.data_start as u64));
                (data, stored_at)
            }
            None => (&[][..], None),
        };
        Ok(Some(RawPacket {
            index,
            ts: record.ts,
            link: record.link,
            data,
            stored_at,
            orig_len: record.orig_len,
        }))
    }
}
