//! Bytes of one capture file: a memory map for regular files, a reusable buffer for pipes,
//! standard input and gzip streams. The format parsers see both through [`Input::peek`]
//! and [`Input::consume`].
//!
//! A map is shared ([`MappedFile`] behind a [`Store`]): packets say where their bytes lie in
//! it, and whoever keeps a handle (the assembler's overlap history) may recall them after
//! the reader moved on, after [`Input::consume`] gave the pages back, and after the file
//! is finished. Recalled pages fault back in from the page cache (with the kernel's
//! fault-around window); the reader gives them back again every 256 KiB it reads, so
//! resident memory stays flat. Recalls after the file is finished stay resident until the
//! map goes.

use super::{CaptureError, Store, StoredAt, StoredBytes};
use flate2::read::MultiGzDecoder;
use memmap2::Mmap;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Initial size of the stream buffer; it grows to the largest record seen (bounded by
/// the parsers' checks against `MAX_RECORD_LEN`).
const STREAM_BUF: usize = 256 * 1024;
/// Consumed parts of a memory map are released to the kernel in chunks of this size
/// (a power of two, a multiple of the page size).
const RELEASE_CHUNK: usize = 2 * 1024 * 1024;
/// Pages that recalls of stored bytes faulted back in behind the reader are given back
/// every time the reader crosses a multiple of this.
const RECALL_RELEASE_CHUNK: usize = 256 * 1024;
// `Input::consume` looks at sequential releases only when a recall release is due.
const _: () = assert!(RELEASE_CHUNK.is_multiple_of(RECALL_RELEASE_CHUNK));
/// How much a recall can make resident around the bytes it reads: Linux maps the page
/// cache's whole folio on a fault (up to 2 MiB, PMD-sized, on kernels with large folios;
/// otherwise `fault_around_bytes`, 64 KiB), and folios are aligned to their size in the
/// file. Recalled ranges are given back widened to this alignment; with 64 KiB, pages
/// recalled on a 3 GB capture stayed resident (18 MB of 31 MB peak RSS, kernel 6.18).
const RECALL_ALIGN: usize = 2 * 1024 * 1024;

/// A capture file's memory map, shared between the reader and whoever recalls bytes from
/// it (see [`StoredBytes`]). It stays mapped while any handle is held.
pub struct MappedFile {
    map: Mmap,
    /// Lowest offset recalled since the reader last gave recalled pages back
    /// (`usize::MAX`: none) and end of the highest range recalled (0: none).
    recalled_from: AtomicUsize,
    recalled_to: AtomicUsize,
}

impl MappedFile {
    fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Gives `from .. from + len` back to the kernel. Errors are ignored: the pages then
    /// merely stay resident.
    fn release(&self, from: usize, len: usize) {
        // SAFETY: `Mmap::map` maps the file PROT_READ and MAP_SHARED, and nothing ever
        // writes through it. For a shared file mapping MADV_DONTNEED only drops the page
        // table entries: the next access to the range (by a packet still borrowed, by a
        // recall of stored bytes, from any thread) faults the same bytes back in from the
        // page cache, up to date with the file (madvise(2)). So no borrow of the map, live
        // or later, can see freed memory or other bytes than a fresh read would; the only
        // hazard is the one of mapping at all (the file truncated or rewritten under us,
        // see `Input::open`). `unchecked_advise_range` checks the range against the map and
        // aligns it to pages. Exercised by `tests::mapped_release_keeps_every_byte` and
        // `tests::recall_after_release_and_after_the_reader_is_gone`.
        let _ = unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, len)
        };
    }
}

impl MappedFile {
    /// Gives back what recalls faulted in below `limit` (the released prefix; the rest is
    /// released with it later), widened to [`RECALL_ALIGN`] on either side.
    fn release_recalled(&self, limit: usize) {
        if self.recalled_from.load(Ordering::Relaxed) == usize::MAX {
            return;
        }
        let from = self.recalled_from.swap(usize::MAX, Ordering::Relaxed);
        let to = self.recalled_to.swap(0, Ordering::Relaxed);
        let from = from & !(RECALL_ALIGN - 1);
        let to = to
            .checked_next_multiple_of(RECALL_ALIGN)
            .unwrap_or(usize::MAX)
            .min(limit);
        if from < to {
            self.release(from, to - from);
        }
    }
}

impl StoredBytes for MappedFile {
    fn stored_len(&self) -> u64 {
        self.bytes().len() as u64
    }

    fn recall(&self, offset: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        let bytes = self.bytes().get(start..start.checked_add(len)?)?;
        self.recalled_from.fetch_min(start, Ordering::Relaxed);
        self.recalled_to.fetch_max(start + len, Ordering::Relaxed);
        Some(bytes)
    }
}

/// The bytes of one capture, positioned at a read offset.
pub enum Input {
    Mapped {
        map: Arc<MappedFile>,
        /// The same map as a [`Store`], lent to packets as their [`StoredAt`].
        store: Store,
        pos: usize,
        /// Bytes at the start of the map already given back to the kernel.
        released: usize,
    },
    Stream {
        reader: Box<dyn Read + Send>,
        buf: Vec<u8>,
        start: usize,
        end: usize,
        /// Bytes consumed before `buf[start]`.
        base: u64,
        eof: bool,
    },
}

impl Input {
    /// Opens `path`; `-` is standard input. Regular uncompressed files are memory-mapped.
    pub fn open(path: &Path) -> Result<Input, CaptureError> {
        let shown = display_path(path);
        let open_err = |source| CaptureError::Open {
            path: shown.clone(),
            source,
        };
        if path == Path::new("-") {
            return Input::from_reader(Box::new(io::stdin()), &shown);
        }
        let meta = std::fs::metadata(path).map_err(open_err)?;
        if meta.is_dir() {
            return Err(CaptureError::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        let file = File::open(path).map_err(open_err)?;
        if !meta.is_file() {
            // A FIFO, a character device, /dev/stdin...: read it as a stream.
            return Input::from_reader(Box::new(file), path);
        }
        if meta.len() == 0 {
            return Err(CaptureError::Empty {
                path: path.to_path_buf(),
            });
        }
        // SAFETY: the map is only read, never written. If another process truncates the
        // file while it is mapped, reading the vanished pages raises SIGBUS; if it rewrites
        // bytes in place, later reads (a packet, or a recall of stored bytes, which may come
        // long after the packet: the map is shared with the assembler's history and lives
        // as long as it) see the new bytes, so a recalled first copy could differ from what
        // was delivered and show up as a false overlap conflict. That is the documented
        // price of the zero-copy path (tcpdump rotating files only appends).
        // `tests/integration/bad_input.rs` maps real files of every format through this call.
        let map = unsafe { Mmap::map(&file) }.map_err(open_err)?;
        if map.starts_with(&GZIP_MAGIC) {
            let reader = MultiGzDecoder::new(Cursor::new(map));
            return Ok(Input::stream(Box::new(reader)));
        }
        // Sequential access: the kernel reads ahead generously.
        let _ = map.advise(memmap2::Advice::Sequential);
        let map = Arc::new(MappedFile {
            map,
            recalled_from: AtomicUsize::new(usize::MAX),
            recalled_to: AtomicUsize::new(0),
        });
        let store: Store = map.clone();
        Ok(Input::Mapped {
            map,
            store,
            pos: 0,
            released: 0,
        })
    }

    /// Wraps any reader; gzip is detected from its first two bytes.
    pub fn from_reader(
        mut reader: Box<dyn Read + Send>,
        path: &Path,
    ) -> Result<Input, CaptureError> {
        let mut head = [0u8; 2];
        let mut got = 0;
        while got < head.len() {
            match reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(CaptureError::Read {
                        path: path.to_path_buf(),
                        offset: got as u64,
                        source,
                    });
                }
            }
        }
        if got == 0 {
            return Err(CaptureError::Empty {
                path: path.to_path_buf(),
            });
        }
        let prefix = Cursor::new(head[..got].to_vec());
        let chained: Box<dyn Read + Send> = Box::new(prefix.chain(reader));
        if head[..got] == GZIP_MAGIC {
            Ok(Input::stream(Box::new(MultiGzDecoder::new(chained))))
        } else {
            Ok(Input::stream(chained))
        }
    }

    fn stream(reader: Box<dyn Read + Send>) -> Input {
        Input::Stream {
            reader,
            buf: vec![0; STREAM_BUF],
            start: 0,
            end: 0,
            base: 0,
            eof: false,
        }
    }

    /// Byte offset of the read position from the start of the (decompressed) capture.
    pub fn offset(&self) -> u64 {
        match self {
            Input::Mapped { pos, .. } => *pos as u64,
            Input::Stream { base, .. } => *base,
        }
    }

    /// Size of the underlying file when known (for progress reporting).
    pub fn total_len(&self) -> Option<u64> {
        match self {
            Input::Mapped { map, .. } => Some(map.bytes().len() as u64),
            Input::Stream { .. } => None,
        }
    }

    /// Up to `n` bytes from the read position; fewer only at the end of the input.
    /// The caller bounds `n` (record headers are checked against `MAX_RECORD_LEN` first).
    #[inline]
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        match self {
            // Twice per packet: inlined, with the stream's refilling kept out of line.
            Input::Mapped { map, pos, .. } => {
                let bytes = map.bytes();
                let end = pos.saturating_add(n).min(bytes.len());
                Ok(bytes.get(*pos..end).unwrap_or(&[]))
            }
            Input::Stream {
                reader,
                buf,
                start,
                end,
                eof,
                ..
            } => peek_stream(&mut **reader, buf, start, end, eof, n),
        }
    }

    /// Advances the read position by `n` bytes, which must have been peeked.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        match self {
            Input::Mapped {
                map, pos, released, ..
            } => {
                let before = *pos;
                *pos = pos.saturating_add(n).min(map.bytes().len());
                // Both kinds of release below happen only when the position crosses a
                // multiple of RECALL_RELEASE_CHUNK (RELEASE_CHUNK is one of them).
                if before / RECALL_RELEASE_CHUNK != *pos / RECALL_RELEASE_CHUNK {
                    Self::release_behind(map, *pos, released);
                }
            }
            Input::Stream {
                start, end, base, ..
            } => {
                let n = n.min(*end - *start);
                *start += n;
                *base += n as u64;
            }
        }
    }

    /// Gives consumed pages of a map back so resident memory stays flat however large
    /// the file is (mapped file pages count in RSS until released), and, more often, the
    /// pages recalls brought back (a few a time, each with the folio it faulted in).
    #[inline(never)]
    fn release_behind(map: &MappedFile, pos: usize, released: &mut usize) {
        let behind = (pos & !(RELEASE_CHUNK - 1)).saturating_sub(*released);
        if behind >= RELEASE_CHUNK {
            map.release(*released, behind);
            *released += behind;
        }
        map.release_recalled(*released);
    }

    /// The bytes of a record that was peeked with at least `len` bytes, without copying.
    /// Call after a successful `peek(len)`.
    pub fn peeked(&self, len: usize) -> &[u8] {
        match self {
            Input::Mapped { map, pos, .. } => {
                let bytes = map.bytes();
                let end = pos.saturating_add(len).min(bytes.len());
                bytes.get(*pos..end).unwrap_or(&[])
            }
            Input::Stream {
                buf, start, end, ..
            } => buf
                .get(*start..start.saturating_add(len).min(*end))
                .unwrap_or(&[]),
        }
    }

    /// Starts loading the first bytes `ahead` bytes past the read position (the next
    /// record's header and link-layer headers) into the CPU cache while the current record
    /// is processed. Only for a map: nothing else touches a packet's payload on the way
    /// (no copy), so without this each record header is a cache miss in its own right.
    pub fn prefetch(&self, ahead: usize) {
        if let Input::Mapped { map, pos, .. } = self {
            let at = pos.saturating_add(ahead);
            prefetch_line(map.bytes(), at);
            prefetch_line(map.bytes(), at.saturating_add(64));
        }
    }

    /// Where the bytes at the read position lie in a store that outlives the reader:
    /// `Some` for a memory map, `None` for a stream (its buffer is reused).
    pub fn stored_at_pos(&self) -> Option<StoredAt<'_>> {
        match self {
            Input::Mapped { store, pos, .. } => Some(StoredAt {
                store,
                offset: *pos as u64,
            }),
            Input::Stream { .. } => None,
        }
    }
}

impl Drop for Input {
    /// A finished file's map may live on in stores' handles: give all of it back now.
    fn drop(&mut self) {
        if let Input::Mapped { map, .. } = self
            && Arc::strong_count(map) > 2
        {
            map.recalled_from.store(usize::MAX, Ordering::Relaxed);
            map.recalled_to.store(0, Ordering::Relaxed);
            map.release(0, map.bytes().len());
        }
    }
}

/// [`Input::peek`] for a stream: refills the buffer (moving the unread bytes to its front
/// and growing it when `n` needs more room) until `n` bytes are there or the input ends.
#[inline(never)]
fn peek_stream<'b>(
    reader: &mut dyn Read,
    buf: &'b mut Vec<u8>,
    start: &mut usize,
    end: &mut usize,
    eof: &mut bool,
    n: usize,
) -> io::Result<&'b [u8]> {
    if *end - *start < n && !*eof {
        if buf.len() - *start < n {
            buf.copy_within(*start..*end, 0);
            *end -= *start;
            *start = 0;
            if buf.len() < n {
                buf.resize(n.next_power_of_two(), 0);
            }
        }
        while *end - *start < n {
            match reader.read(&mut buf[*end..]) {
                Ok(0) => {
                    *eof = true;
                    break;
                }
                Ok(k) => *end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    let avail = (*end - *start).min(n);
    Ok(&buf[*start..*start + avail])
}

/// Asks the CPU to start loading the cache line that holds `bytes[at]` (nothing when `at`
/// is out of range). A hint only: it changes nothing a program can observe.
#[inline]
fn prefetch_line(bytes: &[u8], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(byte) = bytes.get(at) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `_mm_prefetch` is unsafe to call only because it needs SSE, which is
        // part of the x86_64 baseline (every x86_64 CPU has it, and the compiler already
        // assumes it). The pointer is into a live slice, and a prefetch neither faults nor
        // reads into the program anyway. Exercised by `tests::prefetch_is_only_a_hint`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(byte).cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, at);
}

/// A display path for error messages (`-` reads as `<stdin>`).
pub(super) fn display_path(path: &Path) -> PathBuf {
    if path == Path::new("-") {
        PathBuf::from("<stdin>")
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(bytes: Vec<u8>) -> Input {
        Input::from_reader(Box::new(Cursor::new(bytes)), Path::new("t")).expect("non-empty")
    }

    #[test]
    fn stream_peek_grows_and_consumes() {
        let data: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
        let mut input = stream_of(data.clone());
        assert_eq!(input.peek(10).unwrap(), &data[..10]);
        input.consume(5);
        assert_eq!(input.offset(), 5);
        let big = input.peek(500_000).unwrap().to_vec();
        assert_eq!(big, &data[5..500_005]);
        input.consume(500_000);
        assert_eq!(input.peek(1_000_000).unwrap().len(), 600_000 - 500_005);
    }

    #[test]
    fn mapped_release_keeps_every_byte() {
        // 20 MiB of a known pattern, read in odd-sized steps across several releases.
        let len = 20 * 1024 * 1024 + 123;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        std::fs::write(&path, &data).unwrap();
        let mut input = Input::open(&path).unwrap();
        assert!(matches!(input, Input::Mapped { .. }));
        let mut pos = 0;
        while pos < len {
            let step = 65_537.min(len - pos);
            assert_eq!(
                input.peek(step).unwrap(),
                &data[pos..pos + step],
                "at {pos}"
            );
            input.consume(step);
            pos += step;
        }
        match input {
            Input::Mapped { released, .. } => assert_eq!(released, 20 * 1024 * 1024),
            Input::Stream { .. } => unreachable!(),
        }
    }

    /// Pages of `bytes` that are mapped in this process (`/proc/self/pagemap`, bit 63);
    /// `None` where that file cannot be read.
    #[cfg(target_os = "linux")]
    fn resident_pages(bytes: &[u8]) -> Option<usize> {
        use std::io::{Read, Seek, SeekFrom};
        const PAGE: usize = 4096;
        let first = bytes.as_ptr() as usize / PAGE;
        let last = (bytes.as_ptr() as usize + bytes.len()).div_ceil(PAGE);
        let mut f = File::open("/proc/self/pagemap").ok()?;
        f.seek(SeekFrom::Start(first as u64 * 8)).ok()?;
        let mut entries = vec![0u8; (last - first) * 8];
        f.read_exact(&mut entries).ok()?;
        Some(entries.chunks_exact(8).filter(|e| e[7] & 0x80 != 0).count())
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn recalled_pages_do_not_stay_resident_behind_the_reader() {
        let len = 48 * 1024 * 1024;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.bin");
        std::fs::write(&path, &data).unwrap();
        // Out of the page cache, so the map reads it from disk as a capture analysed for
        // the first time is: with readahead, in large folios that a fault maps whole.
        let file = File::open(&path).unwrap();
        file.sync_all().unwrap();
        {
            use std::os::fd::AsRawFd;
            // SAFETY: posix_fadvise only reads its integer arguments; the descriptor is
            // open for the whole call. A failure only leaves the pages cached.
            let _ =
                unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        }
        let mut input = Input::open(&path).unwrap();
        let store = input.stored_at_pos().unwrap().store.clone();
        let mut pos = 0;
        let mut recalls = 0;
        while pos + 65_536 <= len {
            input.peek(65_536).unwrap();
            input.consume(65_536);
            pos += 65_536;
            // Every 1 MiB, recall a few bytes from 3 MiB behind (released by then).
            if pos % (1 << 20) == 0 && pos >= 6 << 20 {
                let at = pos - (3 << 20) + 123;
                assert_eq!(store.recall(at as u64, 7), Some(&data[at..at + 7]));
                recalls += 1;
            }
        }
        assert!(recalls >= 40);
        let (bytes, released) = match &input {
            Input::Mapped { map, released, .. } => (map.bytes(), *released),
            Input::Stream { .. } => unreachable!(),
        };
        assert!(released >= len - 2 * RELEASE_CHUNK, "{released}");
        let Some(resident) = resident_pages(&bytes[..released]) else {
            return; // no pagemap (not Linux /proc): nothing to check
        };
        // Recalls since the last release of recalled pages may still be mapped: at most
        // the folio of the last recall. (With a 64 KiB window around each recall, 10 MB
        // stayed resident here on kernel 6.18, whose page cache has 2 MiB folios.)
        assert!(
            resident * 4096 <= RECALL_ALIGN,
            "{resident} pages resident behind the reader ({recalls} recalls)"
        );
    }

    #[test]
    fn recall_after_release_and_after_the_reader_is_gone() {
        let len = 13 * 1024 * 1024 + 17;
        let data: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.bin");
        std::fs::write(&path, &data).unwrap();
        let mut input = Input::open(&path).unwrap();
        input.consume(1000);
        let at = input.stored_at_pos().expect("a map is a store");
        assert_eq!(at.offset, 1000);
        let store = at.store.clone();
        assert_eq!(store.stored_len(), len as u64);
        // Read far past several release chunks: the first pages were given back.
        let mut pos = 1000;
        while pos + 65_536 <= 5 * RELEASE_CHUNK {
            assert_eq!(input.peek(65_536).unwrap(), &data[pos..pos + 65_536]);
            input.consume(65_536);
            pos += 65_536;
        }
        let released = match &input {
            Input::Mapped { released, .. } => *released,
            Input::Stream { .. } => unreachable!(),
        };
        assert!(released >= 3 * RELEASE_CHUNK, "{released}");
        // Released bytes come back intact, and the recall is noted for the next release.
        assert_eq!(store.recall(1000, 3000), Some(&data[1000..4000]));
        assert_eq!(
            store.recall(RELEASE_CHUNK as u64 - 5, 10),
            Some(&data[RELEASE_CHUNK - 5..RELEASE_CHUNK + 5])
        );
        let pending = |input: &Input| match input {
            Input::Mapped { map, .. } => (
                map.recalled_from.load(Ordering::Relaxed),
                map.recalled_to.load(Ordering::Relaxed),
            ),
            Input::Stream { .. } => unreachable!(),
        };
        assert_eq!(pending(&input), (1000, RELEASE_CHUNK + 5));
        // Given back once the reader crosses the next 256 KiB boundary.
        input.consume(RECALL_RELEASE_CHUNK);
        pos += RECALL_RELEASE_CHUNK;
        assert_eq!(pending(&input), (usize::MAX, 0));
        assert_eq!(store.recall(1000, 3000), Some(&data[1000..4000]));
        while pos + 65_536 <= len {
            input.consume(65_536);
            pos += 65_536;
        }
        assert_eq!(pending(&input), (usize::MAX, 0));
        assert_eq!(store.recall(1000, 3000), Some(&data[1000..4000]));
        // Out of range: refused, not clamped.
        assert_eq!(store.recall(len as u64 - 2, 3), None);
        assert_eq!(store.recall(u64::MAX, 1), None);
        // The reader is gone (its drop gave every page back); the store still reads.
        drop(input);
        assert_eq!(store.recall(0, 10), Some(&data[..10]));
        assert_eq!(store.recall(len as u64 - 10, 10), Some(&data[len - 10..]));
    }

    #[test]
    fn prefetch_is_only_a_hint() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.bin");
        std::fs::write(&path, &data).unwrap();
        let mut input = Input::open(&path).unwrap();
        // Ahead of the position, at the very end, past it, and absurdly far.
        for ahead in [0, 100, 9_999, 10_000, 10_064, usize::MAX] {
            input.prefetch(ahead);
        }
        input.consume(5_000);
        input.prefetch(4_999);
        assert_eq!(input.peek(10).unwrap(), &data[5_000..5_010]);
        prefetch_line(&[], 0);
        let stream = stream_of(vec![1, 2, 3]);
        stream.prefetch(1);
    }

    #[test]
    fn streams_have_no_stored_position() {
        let input = stream_of(vec![1, 2, 3]);
        assert!(input.stored_at_pos().is_none());
    }

    #[test]
    fn gzip_stream_is_detected() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(b"hello capture").unwrap();
        let mut input = stream_of(enc.finish().unwrap());
        assert_eq!(input.peek(100).unwrap(), b"hello capture");
    }
}
