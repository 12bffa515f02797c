//! Bytes of one capture file: a memory map for regular files, a reusable buffer for pipes,
//! standard input and gzip streams. The format parsers see both through [`Input::peek`]
//! and [`Input::consume`].

use super::CaptureError;
use flate2::read::MultiGzDecoder;
use memmap2::Mmap;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Initial size of the stream buffer; it grows to the largest record seen (bounded by
/// the parsers' checks against `MAX_RECORD_LEN`).
const STREAM_BUF: usize = 256 * 1024;
/// Consumed parts of a memory map are released to the kernel in chunks of this size
/// (a power of two, a multiple of the page size).
const RELEASE_CHUNK: usize = 2 * 1024 * 1024;

/// The bytes of one capture, positioned at a read offset.
pub enum Input {
    Mapped {
        map: Mmap,
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
        // file while it is mapped, reading the vanished pages raises SIGBUS; that is the
        // documented price of the zero-copy path (tcpdump rotating files only appends).
        // `tests/capture_bad_input.rs` maps real files of every format through this call.
        let map = unsafe { Mmap::map(&file) }.map_err(open_err)?;
        if map.starts_with(&GZIP_MAGIC) {
            let reader = MultiGzDecoder::new(Cursor::new(map));
            return Ok(Input::stream(Box::new(reader)));
        }
        // Sequential access: the kernel reads ahead generously.
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Input::Mapped {
            map,
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
            Input::Mapped { map, .. } => Some(map.len() as u64),
            Input::Stream { .. } => None,
        }
    }

    /// Up to `n` bytes from the read position; fewer only at the end of the input.
    /// The caller bounds `n` (record headers are checked against `MAX_RECORD_LEN` first).
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        match self {
            Input::Mapped { map, pos, .. } => {
                let end = pos.saturating_add(n).min(map.len());
                Ok(map.get(*pos..end).unwrap_or(&[]))
            }
            Input::Stream {
                reader,
                buf,
                start,
                end,
                eof,
                ..
            } => {
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
        }
    }

    /// Advances the read position by `n` bytes, which must have been peeked.
    pub fn consume(&mut self, n: usize) {
        match self {
            Input::Mapped { map, pos, released } => {
                *pos = pos.saturating_add(n).min(map.len());
                // Give consumed pages back so resident memory stays flat however large
                // the file is (mapped file pages count in RSS until released).
                let behind = (*pos & !(RELEASE_CHUNK - 1)).saturating_sub(*released);
                if behind >= RELEASE_CHUNK {
                    // SAFETY: the range lies entirely before the read position, and
                    // nothing borrowed from the map survives past a call to `consume`
                    // (packets borrow the reader mutably until the next call). For a
                    // read-only private file mapping MADV_DONTNEED only drops the pages:
                    // a later access would fault them in again from the file, so even a
                    // stray access stays memory-safe. Exercised by
                    // `tests::mapped_release_keeps_every_byte`.
                    let _ = unsafe {
                        map.unchecked_advise_range(
                            memmap2::UncheckedAdvice::DontNeed,
                            *released,
                            behind,
                        )
                    };
                    *released += behind;
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

    /// The bytes of a record that was peeked with at least `len` bytes, without copying.
    /// Call after a successful `peek(len)`.
    pub fn peeked(&self, len: usize) -> &[u8] {
        match self {
            Input::Mapped { map, pos, .. } => {
                let end = pos.saturating_add(len).min(map.len());
                map.get(*pos..end).unwrap_or(&[])
            }
            Input::Stream {
                buf, start, end, ..
            } => &buf[*start..(*start + len).min(*end)],
        }
    }
}

/// A display path for error messages (`-` reads as `<stdin>`).
pub fn display_path(path: &Path) -> PathBuf {
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
