//! The one detection buffer: the first bytes of both directions of a TCP connection,
//! held while the probes decide what the connection carries (the NAT tunnel probe first,
//! then the registry's protocols), and replayed into whatever they chose.
//!
//! # Contracts
//!
//! - At most [`DETECT_BYTES`] per direction and [`MAX_DETECT_CHUNKS`] chunks are held;
//!   [`FirstBytes::hold`] says how much of a chunk it took, and [`FirstBytes::is_full`]
//!   turns true when either bound is reached: the caller must then decide with what is
//!   held and pass the rest on.
//! - Chunks are kept in arrival order, with their direction and time, so a replay gives
//!   the chosen analyzer exactly the calls it would have had.

use super::api::Handoff;
use crate::flow::Direction;
use crate::timestamp::Timestamp;

/// Bytes per direction held while the probes look for the protocol.
pub const DETECT_BYTES: usize = 16 * 1024;
/// Chunks held while probing, whatever their size (a stream of one-byte segments must
/// not grow the list without bound).
pub const MAX_DETECT_CHUNKS: usize = 256;

/// The first bytes of both directions (see the module doc).
#[derive(Debug, Default)]
pub struct FirstBytes {
    chunks: Vec<(Direction, Vec<u8>, Timestamp)>,
    held: [usize; 2],
    first_dir: Option<Direction>,
}

impl FirstBytes {
    /// The bytes an outer analyzer handed over, as held bytes.
    pub fn from_handoff(h: Handoff) -> Self {
        let mut d = FirstBytes::default();
        let [c, s] = h.pending;
        for (dir, bytes, ts) in [
            (Direction::ClientToServer, c, h.ts[0]),
            (Direction::ServerToClient, s, h.ts[1]),
        ] {
            if !bytes.is_empty() {
                d.held[dir.index()] = bytes.len().min(DETECT_BYTES);
                d.first_dir.get_or_insert(dir);
                d.chunks.push((dir, bytes, ts));
            }
        }
        d
    }

    /// Holds what fits of `data`; returns how many of its bytes were held (the rest is
    /// for the caller to pass on once it has decided).
    pub fn hold(&mut self, dir: Direction, data: &[u8], ts: Timestamp) -> usize {
        if self.chunks.len() >= MAX_DETECT_CHUNKS {
            return 0;
        }
        let i = dir.index();
        let room = DETECT_BYTES.saturating_sub(self.held[i]);
        let take = data.get(..room.min(data.len())).unwrap_or_default();
        if !take.is_empty() {
            self.held[i] += take.len();
            self.first_dir.get_or_insert(dir);
            self.chunks.push((dir, take.to_vec(), ts));
        }
        take.len()
    }

    /// Either bound is reached: no more bytes will be held.
    pub fn is_full(&self) -> bool {
        self.held[0] >= DETECT_BYTES
            || self.held[1] >= DETECT_BYTES
            || self.chunks.len() >= MAX_DETECT_CHUNKS
    }

    /// Nothing held yet.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The direction that sent the first held byte.
    pub fn first_dir(&self) -> Option<Direction> {
        self.first_dir
    }

    /// Chunks held.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The held bytes of `dir`, concatenated.
    pub fn bytes(&self, dir: Direction) -> Vec<u8> {
        let mut v = Vec::new();
        for (d, b, _) in &self.chunks {
            if *d == dir {
                v.extend_from_slice(b);
            }
        }
        v
    }

    /// The held chunks, in arrival order.
    pub fn chunks(&self) -> impl Iterator<Item = (Direction, &[u8], Timestamp)> {
        self.chunks.iter().map(|(d, b, t)| (*d, b.as_slice(), *t))
    }

    /// Bytes held per direction (index = [`Direction::index`]).
    pub fn held(&self) -> [usize; 2] {
        self.held
    }
}
