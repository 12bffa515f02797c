//! Finished records on disk until the report is written, so that a run's memory does not
//! grow with the number of connections.
//!
//! # Contract of [`RecordSpool`]
//!
//! - Records are appended as they finish ([`RecordSpool::push`]), each with a sort key
//!   (a connection's first packet index; the append count for lists kept in append
//!   order).
//! - The first `in_memory` records (a small budget: [`DEFAULT_IN_MEMORY`]) stay in memory
//!   as they are. Beyond that, records are encoded with postcard and appended, through a
//!   64 KiB write buffer, to an anonymous temporary file: created in
//!   [`std::env::temp_dir`] (so `TMPDIR` is honoured) and unlinked at once, so nothing is
//!   left behind however the run ends. A run whose records all fit the budget never
//!   creates the file.
//! - Per record, memory keeps a 24-byte index entry (key, offset, length), nothing else.
//! - Reading back ([`RecordSpool::iter`], [`RecordSpool::try_iter`], and [`Serialize`],
//!   which streams the records one by one into the serializer) yields typed records in
//!   index order: append order, or key order after [`RecordSpool::sort_by_key`]
//!   (stable). Records in memory are lent, records from the file are decoded one at a
//!   time. Reads go through a window: 64 KiB when the record starts inside the window
//!   read last (reading on in file order), else 4 KiB or the record if larger (a jump:
//!   connections are written as they end and listed as they started), so a list read in
//!   about the order it was written costs one system call per 64 KiB, and a jump costs
//!   one small read.
//! - postcard is compact and fast to decode (the report reads each record back once or
//!   twice), and serde calls it not human-readable, so types whose JSON form is lossy
//!   (timestamps) write their exact value instead. It is positional, not self-describing,
//!   which constrains the spooled types: no `skip_serializing_if` unless it skips only in
//!   human-readable formats (see `ConnectionRecord`'s `Serialize`), no `flatten`, no
//!   internally tagged or untagged enums (those need `deserialize_any`; `AppRecords` is
//!   spooled per protocol, as the records inside it). The round-trip tests (every field
//!   set, and every field unset) catch a type that breaks this; at run time, a record
//!   whose decoding does not use exactly its bytes is a read error.
//! - Errors never panic and never lose a record silently. When the temporary file cannot
//!   be created, or writing it fails, the spool keeps the remaining records in memory
//!   (encoded) and says so once in [`RecordSpool::take_warnings`]; a record that cannot be
//!   encoded is kept in memory as it is. A record that cannot be read back ends
//!   [`RecordSpool::iter`] early and leaves the error in [`RecordSpool::read_error`];
//!   [`RecordSpool::try_iter`] and [`Serialize`] return it.
//!
//! [`Recent`] is the other half of a run's bounded memory: the latest records, for
//! rolling views of a run in progress (`tunscope live`).

use serde::de::DeserializeOwned;
use serde::ser::{SerializeSeq, Serializer};
use serde::{Serialize, ser};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
#[cfg(not(unix))]
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::OnceLock;

/// Records a spool keeps in memory before it writes to its temporary file.
pub const DEFAULT_IN_MEMORY: usize = 256;
/// Bytes buffered before a write to the temporary file.
const WRITE_CHUNK: usize = 64 * 1024;
/// Bytes read from the temporary file at a time when reading on in file order.
const READ_WINDOW: usize = 64 * 1024;
/// Bytes read at least after a jump.
const JUMP_WINDOW: usize = 4 * 1024;
/// `Entry::len` of a record held in memory (`Entry::at` is then its index in `mem`).
const IN_MEMORY: u32 = u32::MAX;

/// Where one record is, and its sort key.
#[derive(Clone, Copy, Debug)]
struct Entry {
    key: u64,
    /// Offset in the spool's byte stream, or index in `mem`.
    at: u64,
    /// Encoded length, or [`IN_MEMORY`].
    len: u32,
}

/// A record that could not be read back.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{what}: reading back the temporary file: {detail}")]
pub struct SpoolError {
    what: &'static str,
    detail: String,
}

/// Finished records of one type, in memory up to a budget and in an anonymous temporary
/// file beyond it. See the module documentation.
pub struct RecordSpool<T> {
    /// What the records are, for messages (`connection records`).
    what: &'static str,
    in_memory: usize,
    mem: Vec<T>,
    index: Vec<Entry>,
    /// The temporary file, once created.
    file: Option<File>,
    /// False once the file could not be created or written: later bytes stay in `buf`.
    to_file: bool,
    /// Bytes of the stream that are in the file: `[0, durable)`.
    durable: u64,
    /// Bytes of the stream after `durable`: the write buffer or, once `to_file` is false,
    /// the records kept in memory.
    buf: Vec<u8>,
    warnings: Vec<String>,
    read_error: OnceLock<String>,
    /// Where the temporary file goes (`None`: [`std::env::temp_dir`]).
    dir: Option<std::path::PathBuf>,
}

impl<T> RecordSpool<T> {
    /// An empty spool that keeps its first `in_memory` records in memory.
    pub fn new(what: &'static str, in_memory: usize) -> Self {
        RecordSpool {
            what,
            in_memory,
            mem: Vec::new(),
            index: Vec::new(),
            file: None,
            to_file: true,
            durable: 0,
            buf: Vec::new(),
            warnings: Vec::new(),
            read_error: OnceLock::new(),
            dir: None,
        }
    }

    /// The same spool with its temporary file in `dir` instead of the system's
    /// temporary directory.
    pub fn in_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes of encoded records in the temporary file (or kept in memory after a failure).
    pub fn spooled_bytes(&self) -> u64 {
        self.durable + self.buf.len() as u64
    }

    /// Orders the records by their keys (stable: equal keys keep their append order).
    pub fn sort_by_key(&mut self) {
        self.index.sort_by_key(|e| e.key);
    }

    /// Problems met while writing (each said once), taken.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The first error met by [`RecordSpool::iter`], if any.
    pub fn read_error(&self) -> Option<&str> {
        self.read_error.get().map(String::as_str)
    }

    fn warn(&mut self, w: String) {
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    fn keep_in_memory(&mut self, key: u64, record: T) {
        self.index.push(Entry {
            key,
            at: self.mem.len() as u64,
            len: IN_MEMORY,
        });
        self.mem.push(record);
    }

    /// Writes the buffered bytes to the temporary file (created on first use). On failure
    /// the bytes stay in memory, and so will every later record.
    fn flush(&mut self) {
        if self.buf.is_empty() || !self.to_file {
            return;
        }
        if self.file.is_none() {
            let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
            match tempfile::tempfile_in(&dir) {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.to_file = false;
                    self.warn(format!(
                        "{}: no temporary file could be created in {} ({e}); the records are kept in memory",
                        self.what,
                        dir.display()
                    ));
                    return;
                }
            }
        }
        let Some(f) = self.file.as_ref() else {
            return;
        };
        let written = write_at(f, &self.buf, self.durable);
        match written {
            Ok(()) => {
                self.durable += self.buf.len() as u64;
                self.buf.clear();
            }
            Err(e) => {
                self.to_file = false;
                self.warn(format!(
                    "{}: writing the temporary file failed ({e}); the remaining records are kept in memory",
                    self.what
                ));
            }
        }
    }

    /// Writes what is buffered: call when the last record was pushed.
    pub fn finish_writing(&mut self) {
        self.flush();
        if self.to_file {
            self.buf = Vec::new();
        }
    }
}

impl<T: Serialize> RecordSpool<T> {
    /// Appends a record with its sort key.
    pub fn push(&mut self, key: u64, record: T) {
        if self.mem.len() < self.in_memory {
            self.keep_in_memory(key, record);
            return;
        }
        let start = self.buf.len();
        let at = self.durable + start as u64;
        let encoded = postcard::to_io(&record, &mut self.buf)
            .map(drop)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                u32::try_from(self.buf.len() - start)
                    .ok()
                    .filter(|l| *l != IN_MEMORY)
                    .ok_or_else(|| "record too large".to_string())
            });
        match encoded {
            Ok(len) => {
                self.index.push(Entry { key, at, len });
                if self.buf.len() >= WRITE_CHUNK {
                    self.flush();
                }
            }
            Err(e) => {
                self.buf.truncate(start);
                self.warn(format!(
                    "{}: a record could not be encoded for the temporary file ({e}); kept in memory",
                    self.what
                ));
                self.keep_in_memory(key, record);
            }
        }
    }
}

impl<T: DeserializeOwned + Clone> RecordSpool<T> {
    /// Every record in index order; stops at the first record that cannot be read back,
    /// leaving the error in [`RecordSpool::read_error`].
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            inner: self.try_iter(),
        }
    }

    /// Every record in index order, with read errors.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        self.try_iter_range(0..self.index.len())
    }

    /// The records at positions `range` of the index order, with read errors.
    pub fn try_iter_range(&self, range: std::ops::Range<usize>) -> TryIter<'_, T> {
        let end = range.end.min(self.index.len());
        TryIter {
            spool: self,
            next: range.start.min(end),
            end,
            window_at: 0,
            window: Vec::new(),
        }
    }

    /// The records at positions `range` of the index order; like [`RecordSpool::iter`].
    pub fn iter_range(&self, range: std::ops::Range<usize>) -> Iter<'_, T> {
        Iter {
            inner: self.try_iter_range(range),
        }
    }

    /// Every record, owned (tests and small lists).
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().map(Cow::into_owned).collect()
    }
}

impl<'a, T: DeserializeOwned + Clone> IntoIterator for &'a RecordSpool<T> {
    type Item = Cow<'a, T>;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> Default for RecordSpool<T> {
    fn default() -> Self {
        RecordSpool::new("records", DEFAULT_IN_MEMORY)
    }
}

impl<T> fmt::Debug for RecordSpool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordSpool")
            .field("what", &self.what)
            .field("records", &self.index.len())
            .field("in_memory", &self.mem.len())
            .field("spooled_bytes", &self.spooled_bytes())
            .finish()
    }
}

/// A list of records, streamed from the spool as a sequence (the same output as a `Vec`).
impl<T: Serialize + DeserializeOwned + Clone> Serialize for RecordSpool<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for r in self.try_iter() {
            let r = r.map_err(<S::Error as ser::Error>::custom)?;
            seq.serialize_element(&*r)?;
        }
        seq.end()
    }
}

/// Writes all of `buf` at offset `at`.
fn write_at(f: &File, buf: &[u8], at: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(f, buf, at)
    }
    #[cfg(not(unix))]
    {
        let mut f = f;
        f.seek(SeekFrom::Start(at))?;
        f.write_all(buf)
    }
}

/// Fills `buf` from offset `at`.
fn read_at(f: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
    }
    #[cfg(not(unix))]
    {
        let mut f = f;
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(buf)
    }
}

/// The records of a [`RecordSpool`], with read errors.
pub struct TryIter<'a, T> {
    spool: &'a RecordSpool<T>,
    next: usize,
    end: usize,
    /// Stream offset of `window[0]`.
    window_at: u64,
    window: Vec<u8>,
}

impl<'a, T: DeserializeOwned + Clone> TryIter<'a, T> {
    fn error(&self, detail: String) -> SpoolError {
        SpoolError {
            what: self.spool.what,
            detail,
        }
    }

    fn load(&mut self, e: Entry) -> Result<Cow<'a, T>, SpoolError> {
        let spool = self.spool;
        if e.len == IN_MEMORY {
            return usize::try_from(e.at)
                .ok()
                .and_then(|i| spool.mem.get(i))
                .map(Cow::Borrowed)
                .ok_or_else(|| self.error("index past the records in memory".into()));
        }
        let len = e.len as usize;
        let bytes: &[u8] = if e.at >= spool.durable {
            let from = usize::try_from(e.at - spool.durable).unwrap_or(usize::MAX);
            from.checked_add(len)
                .and_then(|to| spool.buf.get(from..to))
                .ok_or_else(|| self.error("index past the records in memory".into()))?
        } else {
            let end = e.at.saturating_add(len as u64);
            let held = self.window_at + self.window.len() as u64;
            if e.at < self.window_at || end > held {
                self.fill(e.at, len)?;
            }
            let from = (e.at - self.window_at) as usize;
            self.window
                .get(from..from + len)
                .ok_or_else(|| self.error("short read".into()))?
        };
        match postcard::take_from_bytes::<T>(bytes) {
            Ok((r, [])) => Ok(Cow::Owned(r)),
            Ok((_, rest)) => Err(self.error(format!(
                "{} bytes left after the record: it does not decode as written",
                rest.len()
            ))),
            Err(err) => Err(self.error(err.to_string())),
        }
    }

    /// Reads the window starting at `at`: at least `len` bytes, up to [`READ_WINDOW`]
    /// when `at` is inside the current window (reading on), else [`JUMP_WINDOW`], and not
    /// past the end of the file.
    fn fill(&mut self, at: u64, len: usize) -> Result<(), SpoolError> {
        let spool = self.spool;
        let Some(f) = spool.file.as_ref() else {
            return Err(self.error("no temporary file".into()));
        };
        let room = usize::try_from(spool.durable - at).unwrap_or(usize::MAX);
        if room < len {
            return Err(self.error("index past the end of the file".into()));
        }
        let reading_on = at >= self.window_at && at <= self.window_at + self.window.len() as u64;
        let want = if reading_on { READ_WINDOW } else { JUMP_WINDOW };
        let n = len.max(want).min(room);
        self.window.resize(n, 0);
        let read = read_at(f, &mut self.window, at);
        match read {
            Ok(()) => {
                self.window_at = at;
                Ok(())
            }
            Err(err) => {
                self.window.clear();
                Err(self.error(err.to_string()))
            }
        }
    }
}

impl<'a, T: DeserializeOwned + Clone> Iterator for TryIter<'a, T> {
    type Item = Result<Cow<'a, T>, SpoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let e = *self.spool.index.get(self.next)?;
        self.next += 1;
        Some(self.load(e))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end.saturating_sub(self.next);
        (n, Some(n))
    }
}

/// The records of a [`RecordSpool`]; a read error ends it (see [`RecordSpool::iter`]).
pub struct Iter<'a, T> {
    inner: TryIter<'a, T>,
}

impl<'a, T: DeserializeOwned + Clone> Iterator for Iter<'a, T> {
    type Item = Cow<'a, T>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.inner.next()? {
            Ok(r) => Some(r),
            Err(e) => {
                let _ = self.inner.spool.read_error.set(e.to_string());
                self.inner.next = self.inner.end;
                None
            }
        }
    }
}

/// The latest records of a run: at most `capacity`, numbered from 0 in the order they
/// were pushed. Pushing past the capacity hands back the oldest, which is how records
/// move on to a [`RecordSpool`] in the order they finished.
#[derive(Debug)]
pub struct Recent<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// Records ever pushed.
    total: u64,
}

impl<T> Recent<T> {
    pub fn new(capacity: usize) -> Self {
        Recent {
            items: VecDeque::new(),
            capacity,
            total: 0,
        }
    }

    /// Adds a record; returns the oldest one when that made room for it (or `record`
    /// itself when the capacity is 0).
    pub fn push(&mut self, record: T) -> Option<T> {
        self.total += 1;
        if self.capacity == 0 {
            return Some(record);
        }
        self.items.push_back(record);
        if self.items.len() > self.capacity {
            self.items.pop_front()
        } else {
            None
        }
    }

    /// Records ever pushed.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Records held now.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The records numbered `seen` and later that are still held, oldest first: what is
    /// new since a caller saw [`Recent::total`] return `seen` (records pushed out since
    /// then are skipped).
    pub fn since(&self, seen: u64) -> impl Iterator<Item = &T> {
        let first = self.total - self.items.len() as u64;
        let skip = seen.saturating_sub(first);
        self.items
            .iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
    }

    /// Takes every record held, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.items.drain(..)
    }
}

#[cfg(test)]
mod tests;
