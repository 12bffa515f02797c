//! `tunscope streams`: one JSON line per TCP direction (the format `verify.py` checks),
//! optionally with the SHA-256 of the delivered bytes, and optionally each direction's
//! bytes written to a file named like tcpflow's.

use ring::digest;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::rc::Rc;
use tunscope::assembly::{Chunk, GapCause, StreamStart, TcpConnRecord};
use tunscope::flow::slots::FlowSlots;
use tunscope::flow::{Direction, Endpoint};
use tunscope::pipeline::{StreamObserver, TcpConnMeta};
use tunscope::timestamp::Timestamp;
use tunscope::util::{Ipv4Text, hex};

/// Files kept open at once while extracting; beyond this, a direction's file is opened
/// for each chunk and closed again.
const MAX_OPEN_FILES: usize = 256;
/// Gap entries kept per direction for its `.gaps.jsonl` index (the count in the JSON line
/// stays exact).
const MAX_GAP_LINES: usize = 100_000;

#[derive(Serialize)]
struct StreamLine<'a> {
    src: String,
    sport: u16,
    dst: String,
    dport: u16,
    /// Delivered bytes.
    bytes: u64,
    gaps: u64,
    gap_bytes: u64,
    /// True when the direction started with a handshake (SYN seen).
    start: bool,
    close: Option<tunscope::assembly::CloseReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
}

/// One line of a `.gaps.jsonl` index: where the stream has a hole.
#[derive(Serialize)]
struct GapLine {
    /// Offset of the gap in the stream (offset 0 = first byte after the SYN, or the first
    /// byte captured when the connection was picked up mid-stream).
    offset: u64,
    len: u64,
    cause: GapCause,
    /// Where the hole sits in the extracted file, which holds delivered bytes only.
    file_offset: u64,
}

/// One direction's state, kept small: a live connection of a capture with a million of
/// them holds two of these, so the digest and the extraction state (only with `--digest`
/// / `--extract`) are boxed rather than inline (32 bytes instead of 320).
struct Direction1 {
    digest: Option<Box<digest::Context>>,
    /// Stream offset of the next chunk (delivered and gap bytes so far).
    offset: u64,
    /// Delivered bytes so far (the extracted file's length).
    delivered: u64,
    extract: Option<Box<Extract>>,
}

/// Where a direction's bytes go with `--extract`.
struct Extract {
    file: PathBuf,
    open: Option<BufWriter<File>>,
    gaps: Vec<GapLine>,
}

/// The stream lines' writer, shared between the observer (which the pipeline owns and
/// drops) and the CLI, which flushes it explicitly after the run: a flush left to `Drop`
/// loses its error, and with it the lines (`streams > /dev/full` would exit 0).
#[derive(Clone)]
pub(super) struct SharedOut(Rc<RefCell<Box<dyn Write>>>);

impl SharedOut {
    pub(super) fn new(inner: Box<dyn Write>) -> Self {
        SharedOut(Rc::new(RefCell::new(inner)))
    }
}

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.borrow_mut().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

/// Shared with the CLI so it can see errors after the run.
#[derive(Default)]
pub(super) struct StreamsOutcome {
    pub error: Option<String>,
}

pub(super) struct StreamsObserver {
    out: Box<dyn Write>,
    digest: bool,
    extract: Option<PathBuf>,
    dirs: FlowSlots<[Option<Direction1>; 2]>,
    /// How many streams have used each base file name, for tcpflow-style `c1`, `c2` suffixes.
    names: HashMap<String, u32>,
    open_files: usize,
    outcome: Rc<RefCell<StreamsOutcome>>,
    /// The line being written, reused: serialising straight into `out` would make each
    /// of serde_json's small writes a call through `dyn Write`.
    line: Vec<u8>,
}

impl StreamsObserver {
    pub(super) fn new(
        out: Box<dyn Write>,
        digest: bool,
        extract: Option<PathBuf>,
        outcome: Rc<RefCell<StreamsOutcome>>,
    ) -> Self {
        StreamsObserver {
            out,
            digest,
            extract,
            dirs: FlowSlots::default(),
            names: HashMap::new(),
            open_files: 0,
            outcome,
            line: Vec::new(),
        }
    }

    fn fail(&mut self, what: String) {
        let mut o = self.outcome.borrow_mut();
        if o.error.is_none() {
            o.error = Some(what);
        }
    }

    fn new_direction(&mut self, conn: &TcpConnMeta, dir: Direction) -> Direction1 {
        let file = self.extract.as_ref().map(|root| {
            let (src, dst) = conn.endpoints(dir);
            let base = format!("{}-{}", tcpflow_name(src), tcpflow_name(dst));
            let n = self.names.entry(base.clone()).or_insert(0);
            let name = if *n == 0 { base } else { format!("{base}c{n}") };
            *n += 1;
            root.join(name)
        });
        Direction1 {
            digest: self
                .digest
                .then(|| Box::new(digest::Context::new(&digest::SHA256))),
            offset: 0,
            delivered: 0,
            extract: file.map(|file| {
                Box::new(Extract {
                    file,
                    open: None,
                    gaps: Vec::new(),
                })
            }),
        }
    }

    fn write_data(&mut self, conn: &TcpConnMeta, dir: Direction, bytes: &[u8]) {
        let open_files = self.open_files;
        let Some(Some(d)) = self.dirs.get_mut(conn.id).map(|d| &mut d[dir.index()]) else {
            return;
        };
        let Some(x) = d.extract.as_mut() else { return };
        let path = x.file.clone();
        let result = (|| -> std::io::Result<bool> {
            if let Some(w) = x.open.as_mut() {
                w.write_all(bytes)?;
                return Ok(false);
            }
            let f = OpenOptions::new().create(true).append(true).open(&path)?;
            if open_files < MAX_OPEN_FILES {
                let mut w = BufWriter::new(f);
                w.write_all(bytes)?;
                x.open = Some(w);
                Ok(true)
            } else {
                let mut f = f;
                f.write_all(bytes)?;
                Ok(false)
            }
        })();
        match result {
            Ok(true) => self.open_files += 1,
            Ok(false) => {}
            Err(e) => self.fail(format!("{}: {e}", path.display())),
        }
    }
}

/// An address as `Display` writes it (IPv4 without going through `core::fmt`).
fn addr_text(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => Ipv4Text::new(a, None).as_str().to_owned(),
        IpAddr::V6(a) => a.to_string(),
    }
}

/// tcpflow's file name for one endpoint: `127.000.000.001.08080`; IPv6 addresses as their
/// eight groups, dotted (`0000.0000....0001.00443`).
fn tcpflow_name(ep: Endpoint) -> String {
    match ep.addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!(
                "{:03}.{:03}.{:03}.{:03}.{:05}",
                o[0], o[1], o[2], o[3], ep.port
            )
        }
        IpAddr::V6(a) => {
            let groups: Vec<String> = a.segments().iter().map(|g| format!("{g:04x}")).collect();
            format!("{}.{:05}", groups.join("."), ep.port)
        }
    }
}

impl StreamObserver for StreamsObserver {
    fn on_start(&mut self, conn: &TcpConnMeta, dir: Direction, start: StreamStart) {
        let _ = start;
        let d = self.new_direction(conn, dir);
        self.dirs.get_or_insert_with(conn.id, || [None, None])[dir.index()] = Some(d);
    }

    /// The lines come from the assembler's records; the bytes are needed only for a
    /// digest or an extracted file.
    fn wants_chunks(&self) -> bool {
        self.digest || self.extract.is_some()
    }

    fn on_chunk(&mut self, conn: &TcpConnMeta, dir: Direction, chunk: &Chunk<'_>, _ts: Timestamp) {
        match *chunk {
            Chunk::Data(bytes) => {
                if let Some(Some(d)) = self.dirs.get_mut(conn.id).map(|d| &mut d[dir.index()]) {
                    if let Some(ctx) = d.digest.as_mut() {
                        ctx.update(bytes);
                    }
                    d.offset += bytes.len() as u64;
                    d.delivered += bytes.len() as u64;
                }
                if self.extract.is_some() {
                    self.write_data(conn, dir, bytes);
                }
            }
            Chunk::Gap { len, cause } => {
                if let Some(Some(d)) = self.dirs.get_mut(conn.id).map(|d| &mut d[dir.index()]) {
                    if let Some(x) = d.extract.as_mut()
                        && x.gaps.len() < MAX_GAP_LINES
                    {
                        x.gaps.push(GapLine {
                            offset: d.offset,
                            len,
                            cause,
                            file_offset: d.delivered,
                        });
                    }
                    d.offset += len;
                }
            }
        }
    }

    fn on_connection_end(&mut self, conn: &TcpConnMeta, record: &TcpConnRecord) {
        let Some(dirs) = self.dirs.remove(conn.id) else {
            return;
        };
        for (dir, d) in [Direction::ClientToServer, Direction::ServerToClient]
            .into_iter()
            .zip(dirs)
        {
            let Some(mut d) = d else { continue };
            let rec = match dir {
                Direction::ClientToServer => &record.c2s,
                Direction::ServerToClient => &record.s2c,
            };
            if rec.start.is_none() {
                continue;
            }
            if let Some(mut w) = d.extract.as_mut().and_then(|x| x.open.take()) {
                self.open_files -= 1;
                if let Err(e) = w.flush() {
                    self.fail(format!("extracting: {e}"));
                }
            }
            if let Some(x) = &d.extract
                && !x.gaps.is_empty()
            {
                let mut index = String::new();
                let path = &x.file;
                for g in &x.gaps {
                    if let Ok(line) = serde_json::to_string(g) {
                        index.push_str(&line);
                        index.push('\n');
                    }
                }
                let mut gaps_path = path.clone().into_os_string();
                gaps_path.push(".gaps.jsonl");
                if let Err(e) = std::fs::write(&gaps_path, index) {
                    self.fail(format!("{}: {e}", PathBuf::from(gaps_path).display()));
                }
            }
            let g = &rec.stats.gaps;
            let gaps = g.acked_not_captured.count
                + g.never_acked.count
                + g.limit_skipped.count
                + g.snaplen_truncated.count;
            let gap_bytes = g.acked_not_captured.bytes
                + g.never_acked.bytes
                + g.limit_skipped.bytes
                + g.snaplen_truncated.bytes;
            let (src, dst) = conn.endpoints(dir);
            let file_name = d
                .extract
                .as_ref()
                .and_then(|x| x.file.file_name())
                .and_then(|n| n.to_str())
                .map(str::to_owned);
            let line = StreamLine {
                src: addr_text(src.addr),
                sport: src.port,
                dst: addr_text(dst.addr),
                dport: dst.port,
                bytes: rec.stats.delivered_bytes,
                gaps,
                gap_bytes,
                start: rec.start == Some(StreamStart::Handshake),
                close: rec.end,
                sha256: d.digest.take().map(|ctx| hex(ctx.finish().as_ref())),
                file: file_name.as_deref(),
            };
            self.line.clear();
            let written = serde_json::to_writer(&mut self.line, &line)
                .map_err(std::io::Error::other)
                .and_then(|()| {
                    self.line.push(b'\n');
                    self.out.write_all(&self.line)
                });
            if let Err(e) = written
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                self.fail(format!("writing stream lines: {e}"));
            }
        }
    }
}
