//! TLS handshake parsing shared by QUIC (CRYPTO frames carry bare handshake messages) and
//! TLS over TCP (record layer, [`super::record`]).
//!
//! Contracts: parsers take `&[u8]` and return owned records or a [`TlsError`]; every read
//! is bounds-checked (no panics, no indexing into input); lists grow only as items are read
//! from bytes actually present, never from a declared length; record-layer input is
//! concatenated up to [`MAX_HANDSHAKE_BYTES`] and anything longer is an error.

/// Largest handshake message the record-layer helper reassembles (64 KiB, the same bound
/// as QUIC CRYPTO reassembly).
pub const MAX_HANDSHAKE_BYTES: usize = 64 * 1024;

pub const HANDSHAKE_CLIENT_HELLO: u8 = 1;
pub const HANDSHAKE_SERVER_HELLO: u8 = 2;

/// Errors are about the input (bad or incomplete bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// More bytes are needed: `needed` is the total length the message declares.
    #[error("incomplete handshake message: {needed} bytes needed, {have} present")]
    Incomplete { needed: usize, have: usize },
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("handshake message type {0} is not the one expected")]
    WrongType(u8),
    #[error("handshake message longer than {MAX_HANDSHAKE_BYTES} bytes")]
    TooLong,
}

pub use crate::analyzers::fingerprints::grease::is_grease;

/// The first handshake message in `buf`: `(type, body, total length incl. 4-byte header)`.
pub fn first_handshake_message(buf: &[u8]) -> Result<(u8, &[u8], usize), TlsError> {
    let hdr = buf.get(..4).ok_or(TlsError::Incomplete {
        needed: 4,
        have: buf.len(),
    })?;
    let len = (usize::from(hdr[1]) << 16) | (usize::from(hdr[2]) << 8) | usize::from(hdr[3]);
    let total = 4 + len;
    let body = buf.get(4..total).ok_or(TlsError::Incomplete {
        needed: total,
        have: buf.len(),
    })?;
    Ok((hdr[0], body, total))
}

/// Bounds-checked big-endian reader.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TlsError> {
        let end = self.pos.checked_add(n).ok_or(TlsError::Malformed(what))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(TlsError::Malformed(what))?;
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, TlsError> {
        let b = *self.buf.get(self.pos).ok_or(TlsError::Malformed(what))?;
        self.pos += 1;
        Ok(b)
    }
    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, TlsError> {
        let b = self.bytes(2, what)?;
        let pair: [u8; 2] = b.try_into().map_err(|_| TlsError::Malformed(what))?;
        Ok(u16::from_be_bytes(pair))
    }
    /// A vector with a 1-byte length prefix.
    pub(crate) fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], TlsError> {
        let n = self.u8(what)?;
        self.bytes(usize::from(n), what)
    }
    /// A vector with a 2-byte length prefix.
    pub(crate) fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], TlsError> {
        let n = self.u16(what)?;
        self.bytes(usize::from(n), what)
    }
    /// Read big-endian u16 items until the slice ends (an odd trailing byte is an error).
    pub(crate) fn u16_list(buf: &[u8], what: &'static str) -> Result<Vec<u16>, TlsError> {
        if !buf.len().is_multiple_of(2) {
            return Err(TlsError::Malformed(what));
        }
        Ok(buf
            .chunks_exact(2)
            .filter_map(|c| c.first_chunk::<2>().map(|a| u16::from_be_bytes(*a)))
            .collect())
    }
}

/// Concatenate the payloads of consecutive TLS handshake records (content type 22) at the
/// start of `buf` until the first handshake message is complete. Stops at the first record
/// of another type. Errors: `Incomplete` when the message is not complete yet, `TooLong`
/// past [`MAX_HANDSHAKE_BYTES`].
pub fn handshake_from_records(buf: &[u8]) -> Result<Vec<u8>, TlsError> {
    let mut out = Vec::new();
    let mut r = Reader::new(buf);
    loop {
        if let Ok((_, _, total)) = first_handshake_message(&out) {
            out.truncate(total);
            return Ok(out);
        }
        if r.is_empty() {
            let needed = first_handshake_message(&out).err().map_or(4, |e| match e {
                TlsError::Incomplete { needed, .. } => needed,
                _ => 4,
            });
            return Err(TlsError::Incomplete {
                needed,
                have: out.len(),
            });
        }
        let incomplete = TlsError::Incomplete {
            needed: out.len() + 5,
            have: out.len(),
        };
        let ty = r.u8("record type").map_err(|_| incomplete)?;
        if ty != 22 {
            return Err(TlsError::Malformed("record type (not handshake)"));
        }
        let _version = r.u16("record version").map_err(|_| incomplete)?;
        let n = r.u16("record length").map_err(|_| incomplete)?;
        let needed = out.len() + usize::from(n);
        let frag = r
            .bytes(usize::from(n), "record")
            .map_err(|_| TlsError::Incomplete {
                needed,
                have: out.len(),
            })?;
        if out.len() + frag.len() > MAX_HANDSHAKE_BYTES + 4 {
            return Err(TlsError::TooLong);
        }
        out.extend_from_slice(frag);
    }
}

pub(crate) use crate::util::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1301));
    }

    #[test]
    fn handshake_framing() {
        assert_eq!(
            first_handshake_message(&[1, 0, 0, 2, 9, 9, 7]),
            Ok((1, &[9u8, 9][..], 6))
        );
        assert_eq!(
            first_handshake_message(&[1, 0, 0, 3, 9]),
            Err(TlsError::Incomplete { needed: 7, have: 5 })
        );
        // A message split over two records.
        let recs = [22, 3, 1, 0, 4, 1, 0, 0, 2, 22, 3, 3, 0, 2, 0xaa, 0xbb, 23];
        assert_eq!(
            handshake_from_records(&recs),
            Ok(vec![1, 0, 0, 2, 0xaa, 0xbb])
        );
        assert!(matches!(
            handshake_from_records(&recs[..10]),
            Err(TlsError::Incomplete { .. })
        ));
        assert_eq!(
            handshake_from_records(&[23, 3, 3, 0, 0]),
            Err(TlsError::Malformed("record type (not handshake)"))
        );
    }
}
