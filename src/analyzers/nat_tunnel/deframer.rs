//! The per-direction deframer: turns one direction's reassembled bytes and gaps into
//! frame events. It knows the frame format (`parser`) and nothing of what frames mean.
//!
//! # Calls and callbacks
//! The owner calls [`Deframer::push`] for contiguous bytes, [`Deframer::gap`] for bytes
//! the assembler could not deliver and [`Deframer::end`] once, in stream order. Each call
//! reports, synchronously and in stream order, to the [`FrameSink`] passed in:
//! * [`FrameSink::frame`] for every frame with a known id: complete, or cut by a gap or
//!   the end of the stream (`truncated`, header complete, payload partial). Answering
//!   [`After::Release`] to a complete frame stops deframing right after it: `push` returns
//!   the bytes it used, and every later byte of the direction is the owner's (raw data; the
//!   tunnel connection after its `USER_INFORMATION` frame). [`Deframer::release`] does the
//!   same from outside, handing back the bytes buffered so far.
//! * [`FrameSink::event`] for everything else: the byte order of the first header
//!   ([`Event::Order`], once), bytes that are not frames, unknown ids, absurd lengths,
//!   gaps, cut frames, resynchronisation. A [`Event::Cut`] with a known header is followed
//!   by that frame's `truncated` [`FrameSink::frame`].
//!
//! # Modes
//! Framing (at a boundary, or completing a buffered partial frame) -> Skipping (the rest of
//! an unknown id's frame, or of a frame cut by a gap: the length is known) -> Framing; any
//! mode -> Lost (a gap over a boundary, a length above [`MAX_DATA_LEN`](super::parser::MAX_DATA_LEN), more than
//! [`MAX_UNKNOWN_RUN`] unknown ids in a row) -> Framing once resynchronised; Stopped when
//! the direction's first bytes are not a header (bytes counted, not decoded); Released.
//!
//! # Bounds, and what happens when they are hit
//! * At most one partial frame is buffered, so at most [`HEADER_LEN`] + [`MAX_DATA_LEN`](super::parser::MAX_DATA_LEN)
//!   bytes; a header declaring more is [`Event::TooLong`] and the direction goes to
//!   resynchronisation. The buffer grows with bytes received, never with a declared
//!   length.
//! * Resynchronisation keeps at most [`RESYNC_MAX_FRAME`] bytes of carry (plus one header
//!   of look-ahead) and accepts a position only if a complete frame with a known id, a sane
//!   length for that id, a plausible payload and a direction that fits starts there, and
//!   the next header (when present) is plausible too. Bytes skipped are counted
//!   ([`Deframer::undecoded_bytes`]).
//! * A gap inside a frame's payload is recovered exactly: the frame is reported cut and
//!   decoding resumes at the next boundary.
//! * No input panics; offsets and counters saturate.

use super::parser::{
    ByteOrder, FrameError, HEADER_LEN, Header, MAX_TEXT_LEN, Parsed, could_begin_header,
    parse_frame, payload_is_plausible, sniff_order,
};
use crate::flow::Direction;
use std::fmt;

/// Unknown ids in a row skipped by their declared length before the direction is treated
/// as desynchronised.
pub const MAX_UNKNOWN_RUN: u32 = 3;
/// Longest frame resynchronisation will lock on to (header + [`MAX_TEXT_LEN`]).
pub const RESYNC_MAX_FRAME: usize = HEADER_LEN + MAX_TEXT_LEN as usize;

/// A frame with a known id, borrowing its payload.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FrameEvent<'a> {
    pub header: Header,
    /// The payload: all `header.data_len` bytes, or fewer when `truncated`.
    pub data: &'a [u8],
    /// Stream offset of the frame's first header byte.
    pub offset: u64,
    /// Cut by a gap or the end of the stream.
    pub truncated: bool,
}

impl fmt::Debug for FrameEvent<'_> {
    /// The payload's length only: a `USER_REQUEST_AUTH` payload holds a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameEvent")
            .field("header", &self.header)
            .field("data_len", &self.data.len())
            .field("offset", &self.offset)
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// What the deframer does after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Go on deframing.
    Continue,
    /// Stop deframing: the rest of the direction is the owner's (honoured for complete
    /// frames only).
    Release,
}

/// Why a buffered partial frame was cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutBy {
    Gap,
    End,
}

/// Everything but frames, each reported with the stream offset where it was noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The byte order of the direction's first header (reported once).
    Order(ByteOrder),
    /// The direction's first bytes are not a frame header: nothing more is decoded.
    NotFramed,
    /// A header with an unknown id: its frame is skipped by the declared length, or, past
    /// [`MAX_UNKNOWN_RUN`] in a row, the boundary is treated as lost.
    UnknownId { id: u32, data_len: u32 },
    /// A header declaring more than [`MAX_DATA_LEN`](super::parser::MAX_DATA_LEN): the boundary is lost.
    TooLong { id: u32, data_len: u32 },
    /// A frame boundary found again after `skipped` bytes.
    Resynchronised { skipped: u64 },
    /// A gap of `len` bytes at a frame boundary: the boundary is lost.
    GapAtBoundary { len: u64 },
    /// A gap of `len` bytes runs past the end of the frame being skipped.
    GapPastSkip { len: u64 },
    /// The buffered partial frame was cut after `have` bytes; `header` when its header was
    /// complete (with a known id a `truncated` frame follows).
    Cut {
        by: CutBy,
        header: Option<Header>,
        have: usize,
    },
    /// The stream ended `remaining` bytes before the end of a frame being skipped.
    EndInSkip { remaining: u64 },
}

/// Where a [`Deframer`] reports (see the module docs for the order).
pub trait FrameSink {
    /// The byte order to resynchronise in while the direction's own is unknown (its first
    /// header was cut): the connection's, when the other direction told it.
    fn order_hint(&self) -> Option<ByteOrder>;
    /// A frame with a known id.
    fn frame(&mut self, frame: FrameEvent<'_>) -> After;
    /// Anything else, noticed at stream `offset`.
    fn event(&mut self, event: Event, offset: u64);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Reading frames.
    Framing,
    /// Skipping the rest of a frame (unknown id, or cut by a gap).
    Skipping { remaining: u64 },
    /// Boundary lost: scanning for a plausible frame.
    Lost,
    /// Not decoding this direction any more (not frames).
    Stopped,
    /// The rest of the direction is the owner's.
    Released,
}

/// What examining bytes at a frame boundary found.
enum Step {
    /// A frame was handled; it used this many bytes.
    Frame(usize),
    /// At least this many more bytes are needed.
    NeedMore(usize),
    /// Skip this many bytes (an unknown id's frame), counted from the boundary.
    Skip(u64),
    /// Boundary lost: resynchronise.
    Lost,
    /// Not frames at all: stop this direction.
    Stop,
}

/// The deframer of one direction (see the module docs).
#[derive(Clone)]
pub struct Deframer {
    dir: Direction,
    mode: Mode,
    order: Option<ByteOrder>,
    /// Partial frame (Framing) or resynchronisation carry (Lost).
    buf: Vec<u8>,
    /// Stream offset of the next byte to arrive.
    offset: u64,
    unknown_run: u32,
    /// Bytes skipped while lost (since the last resynchronisation).
    lost_bytes: u64,
    /// Bytes skipped in earlier lost stretches.
    resync_skipped: u64,
    ignored_bytes: u64,
}

impl fmt::Debug for Deframer {
    /// Lengths only: a partial `USER_REQUEST_AUTH` holds a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deframer")
            .field("dir", &self.dir)
            .field("mode", &self.mode)
            .field("order", &self.order)
            .field("buffered", &self.buf.len())
            .field("offset", &self.offset)
            .field("lost_bytes", &self.lost_bytes)
            .finish()
    }
}

impl Deframer {
    /// A deframer for the bytes `dir` sends (the direction decides which message ids
    /// resynchronisation accepts).
    pub fn new(dir: Direction) -> Self {
        Deframer {
            dir,
            mode: Mode::Framing,
            order: None,
            buf: Vec::new(),
            offset: 0,
            unknown_run: 0,
            lost_bytes: 0,
            resync_skipped: 0,
            ignored_bytes: 0,
        }
    }

    /// The byte order of this direction's headers, once its first header told it.
    pub fn order(&self) -> Option<ByteOrder> {
        self.order
    }

    /// Whether deframing stopped for the owner ([`After::Release`], [`Deframer::release`]).
    pub fn is_released(&self) -> bool {
        self.mode == Mode::Released
    }

    /// Bytes held right now: a partial frame (at most [`HEADER_LEN`] + [`MAX_DATA_LEN`](super::parser::MAX_DATA_LEN))
    /// or resynchronisation carry (at most [`RESYNC_MAX_FRAME`] + [`HEADER_LEN`]).
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes not decoded: skipped while resynchronising or after the direction stopped.
    pub fn undecoded_bytes(&self) -> u64 {
        self.resync_skipped
            .saturating_add(self.lost_bytes)
            .saturating_add(self.ignored_bytes)
    }

    /// Stops deframing and hands back the bytes buffered so far (a partial frame or
    /// resynchronisation carry); every later byte is the owner's.
    pub fn release(&mut self) -> Vec<u8> {
        self.mode = Mode::Released;
        std::mem::take(&mut self.buf)
    }

    /// Contiguous bytes of the direction. Returns how many of them were deframed: all of
    /// them unless a frame released the rest (then the bytes after that frame are the
    /// owner's); 0 once released.
    pub fn push(&mut self, data: &[u8], sink: &mut impl FrameSink) -> usize {
        let mut pos = 0usize;
        while pos < data.len() {
            let input = data.get(pos..).unwrap_or_default();
            let used = match self.mode {
                Mode::Released => break,
                Mode::Stopped => {
                    self.ignored_bytes = self.ignored_bytes.saturating_add(input.len() as u64);
                    input.len()
                }
                Mode::Skipping { remaining } => {
                    let n = remaining.min(input.len() as u64);
                    let left = remaining - n;
                    self.mode = if left == 0 {
                        Mode::Framing
                    } else {
                        Mode::Skipping { remaining: left }
                    };
                    n as usize
                }
                Mode::Lost => self.resync(input, sink),
                Mode::Framing if !self.buf.is_empty() => self.fill_buffer(input, sink),
                Mode::Framing => match self.examine(input, self.offset, sink) {
                    Step::Frame(n) => n,
                    Step::NeedMore(_) => {
                        // Shorter than one frame (at most HEADER_LEN + MAX_DATA_LEN).
                        self.buf.extend_from_slice(input);
                        input.len()
                    }
                    Step::Skip(total) => {
                        let n = total.min(input.len() as u64);
                        if total > n {
                            self.mode = Mode::Skipping {
                                remaining: total - n,
                            };
                        }
                        n as usize
                    }
                    Step::Lost => {
                        self.mode = Mode::Lost;
                        self.lost_bytes = 1;
                        1
                    }
                    Step::Stop => {
                        self.mode = Mode::Stopped;
                        0
                    }
                },
            };
            pos += used;
            self.offset = self.offset.saturating_add(used as u64);
        }
        pos
    }

    /// `len` bytes of the direction that were not delivered (nothing once released).
    pub fn gap(&mut self, len: u64, sink: &mut impl FrameSink) {
        if len == 0 {
            return;
        }
        match self.mode {
            Mode::Released => return,
            Mode::Stopped => self.ignored_bytes = self.ignored_bytes.saturating_add(len),
            Mode::Lost => {
                self.buf.clear();
                self.lost_bytes = self.lost_bytes.saturating_add(len);
            }
            Mode::Skipping { remaining } => {
                self.mode = self.gap_in_frame(len, remaining);
                if self.mode == Mode::Lost {
                    sink.event(Event::GapPastSkip { len }, self.offset);
                }
            }
            Mode::Framing => {
                let remaining = if self.buf.is_empty() {
                    sink.event(Event::GapAtBoundary { len }, self.offset);
                    u64::MAX
                } else {
                    self.cut_buffered_frame(CutBy::Gap, sink)
                };
                // `u64::MAX`: the boundary is unknown (the header itself was cut).
                self.mode = if remaining == u64::MAX {
                    self.lost_bytes = len;
                    Mode::Lost
                } else {
                    self.gap_in_frame(len, remaining)
                };
            }
        }
        self.offset = self.offset.saturating_add(len);
    }

    /// The mode after a gap of `len` bytes when `remaining` bytes of the current frame
    /// were still to come: skipping the rest of it, at the next boundary, or lost past it
    /// (the bytes beyond the frame counted as lost).
    fn gap_in_frame(&mut self, len: u64, remaining: u64) -> Mode {
        if len < remaining {
            Mode::Skipping {
                remaining: remaining - len,
            }
        } else if len == remaining {
            Mode::Framing
        } else {
            self.lost_bytes = len - remaining;
            Mode::Lost
        }
    }

    /// The direction ended: a buffered partial frame is reported cut, a frame being
    /// skipped too; the buffer is freed.
    pub fn end(&mut self, sink: &mut impl FrameSink) {
        match self.mode {
            Mode::Framing if !self.buf.is_empty() => {
                self.cut_buffered_frame(CutBy::End, sink);
            }
            Mode::Skipping { remaining } => {
                sink.event(Event::EndInSkip { remaining }, self.offset);
            }
            _ => {}
        }
        self.buf = Vec::new();
    }

    /// Examines bytes at a frame boundary (`view` is either caller data or the buffer
    /// moved out of `self`).
    fn examine(&mut self, view: &[u8], offset: u64, sink: &mut impl FrameSink) -> Step {
        let order = match self.order {
            Some(o) => o,
            None => {
                if view.len() < HEADER_LEN {
                    let possible = could_begin_header(view, ByteOrder::BigEndian)
                        || could_begin_header(view, ByteOrder::LittleEndian);
                    return if possible {
                        Step::NeedMore(HEADER_LEN - view.len())
                    } else {
                        sink.event(Event::NotFramed, offset);
                        Step::Stop
                    };
                }
                let Some(o) = sniff_order(view) else {
                    sink.event(Event::NotFramed, offset);
                    return Step::Stop;
                };
                self.order = Some(o);
                sink.event(Event::Order(o), offset);
                o
            }
        };
        match parse_frame(view, order) {
            Parsed::Incomplete { needed } => Step::NeedMore(needed),
            Parsed::Done(frame, consumed) => {
                self.unknown_run = 0;
                let header = Header {
                    data_len: frame.data.len() as u32,
                    id: frame.msg.code(),
                    order,
                };
                let after = sink.frame(FrameEvent {
                    header,
                    data: frame.data,
                    offset,
                    truncated: false,
                });
                if after == After::Release {
                    self.mode = Mode::Released;
                }
                Step::Frame(consumed)
            }
            Parsed::Invalid(FrameError::UnknownId { id, data_len }) => {
                self.unknown_run += 1;
                sink.event(Event::UnknownId { id, data_len }, offset);
                if self.unknown_run > MAX_UNKNOWN_RUN {
                    Step::Lost
                } else {
                    Step::Skip(HEADER_LEN as u64 + u64::from(data_len))
                }
            }
            Parsed::Invalid(FrameError::TooLong { id, data_len }) => {
                sink.event(Event::TooLong { id, data_len }, offset);
                Step::Lost
            }
        }
    }

    /// Framing with a partial frame in the buffer: completes it from `input`; returns the
    /// bytes of `input` used.
    fn fill_buffer(&mut self, input: &[u8], sink: &mut impl FrameSink) -> usize {
        let mut buf = std::mem::take(&mut self.buf);
        let start = self.offset.saturating_sub(buf.len() as u64);
        let mut used = 0;
        loop {
            match self.examine(&buf, start, sink) {
                Step::NeedMore(needed) => {
                    let rest = input.get(used..).unwrap_or_default();
                    if rest.is_empty() {
                        break;
                    }
                    let take = rest.get(..needed.min(rest.len())).unwrap_or_default();
                    buf.extend_from_slice(take);
                    used += take.len();
                }
                Step::Frame(_) => {
                    buf.clear();
                    break;
                }
                Step::Skip(total) => {
                    let remaining = total.saturating_sub(buf.len() as u64);
                    buf.clear();
                    if remaining > 0 {
                        self.mode = Mode::Skipping { remaining };
                    }
                    break;
                }
                Step::Lost => {
                    // Rescan what was buffered after its first byte.
                    let carry = buf.get(1..).unwrap_or_default().to_vec();
                    self.mode = Mode::Lost;
                    self.lost_bytes = 1;
                    self.buf = carry;
                    return used;
                }
                Step::Stop => {
                    buf.clear();
                    self.mode = Mode::Stopped;
                    break;
                }
            }
        }
        // Keep the (cleared or partial) buffer and its capacity.
        self.buf = buf;
        used
    }

    /// Boundary found again after `skipped` more bytes, at stream offset `at`.
    fn found(&mut self, skipped: u64, at: u64, sink: &mut impl FrameSink) {
        self.mode = Mode::Framing;
        self.unknown_run = 0;
        let lost = self.lost_bytes.saturating_add(skipped);
        self.lost_bytes = 0;
        self.resync_skipped = self.resync_skipped.saturating_add(lost);
        sink.event(Event::Resynchronised { skipped: lost }, at);
    }

    /// Lost mode: scans `input` (after the carry) for a frame boundary. Returns the index
    /// in `input` where framing resumes (`input.len()` when it does not).
    fn resync(&mut self, input: &[u8], sink: &mut impl FrameSink) -> usize {
        // Unknown order (the first header was cut): the connection's, else both; framing
        // re-sniffs.
        let order = self.order.or(sink.order_hint());
        let dir = self.dir;
        let carry = std::mem::take(&mut self.buf);
        let input_off = self.offset;
        if !carry.is_empty() {
            let mut win = carry.clone();
            let look = input.get(..input.len().min(RESYNC_MAX_FRAME + HEADER_LEN));
            win.extend_from_slice(look.unwrap_or_default());
            for p in 0..carry.len() {
                let view = win.get(p..).unwrap_or_default();
                match resync_candidate_any(view, order, dir) {
                    Some(false) => continue,
                    Some(true) => {
                        let at = input_off.saturating_sub((carry.len() - p) as u64);
                        self.found(p as u64, at, sink);
                        self.buf = carry.get(p..).unwrap_or_default().to_vec();
                        return 0;
                    }
                    None => {
                        // The window holds all of `input`: keep the rest for next time.
                        self.lost_bytes = self.lost_bytes.saturating_add(p as u64);
                        self.buf = view.to_vec();
                        return input.len();
                    }
                }
            }
            self.lost_bytes = self.lost_bytes.saturating_add(carry.len() as u64);
        }
        for p in 0..input.len() {
            let view = input.get(p..).unwrap_or_default();
            match resync_candidate_any(view, order, dir) {
                Some(false) => continue,
                Some(true) => {
                    self.found(p as u64, input_off.saturating_add(p as u64), sink);
                    return p;
                }
                None => {
                    self.lost_bytes = self.lost_bytes.saturating_add(p as u64);
                    self.buf = view.to_vec();
                    return input.len();
                }
            }
        }
        self.lost_bytes = self.lost_bytes.saturating_add(input.len() as u64);
        input.len()
    }

    /// Reports the frame in the buffer as cut and clears it. Returns the bytes of the
    /// frame still to come after the buffered part (`u64::MAX` when its header was cut:
    /// the boundary is unknown).
    fn cut_buffered_frame(&mut self, by: CutBy, sink: &mut impl FrameSink) -> u64 {
        let mut buf = std::mem::take(&mut self.buf);
        let start = self.offset.saturating_sub(buf.len() as u64);
        let header = self.order.and_then(|o| Header::read(&buf, o));
        let have = buf.len();
        sink.event(Event::Cut { by, header, have }, start);
        let remaining = match header {
            Some(h) if h.msg().is_some() => {
                let data = buf.get(HEADER_LEN..).unwrap_or_default();
                // A cut frame cannot release the direction: the answer is not needed.
                let _ = sink.frame(FrameEvent {
                    header: h,
                    data,
                    offset: start,
                    truncated: true,
                });
                h.frame_len().saturating_sub(have) as u64
            }
            _ => u64::MAX,
        };
        buf.clear();
        self.buf = buf;
        remaining
    }
}

/// Resynchronisation check of a candidate position: `Some(true)` a frame starts here,
/// `Some(false)` none does, `None` not enough bytes to tell.
fn resync_candidate(view: &[u8], order: ByteOrder, dir: Direction) -> Option<bool> {
    if view.len() < HEADER_LEN {
        return if could_begin_header(view, order) {
            None
        } else {
            Some(false)
        };
    }
    let h = Header::read(view, order)?;
    let Some(msg) = h.msg() else {
        return Some(false);
    };
    let fits_dir = match dir {
        Direction::ClientToServer => msg.sent_by_client(),
        Direction::ServerToClient => msg.sent_by_server(),
    };
    if !fits_dir || !h.is_plausible() || h.frame_len() > RESYNC_MAX_FRAME {
        return Some(false);
    }
    let data = view.get(HEADER_LEN..h.frame_len())?;
    if !payload_is_plausible(msg, data) {
        return Some(false);
    }
    let next = view.get(h.frame_len()..).unwrap_or_default();
    if next.len() >= HEADER_LEN {
        let ok = Header::read(next, order).is_some_and(|n| n.is_plausible());
        return Some(ok);
    }
    Some(true)
}

/// [`resync_candidate`] in `order`, or in both orders when unknown.
fn resync_candidate_any(view: &[u8], order: Option<ByteOrder>, dir: Direction) -> Option<bool> {
    match order {
        Some(o) => resync_candidate(view, o, dir),
        None => {
            let be = resync_candidate(view, ByteOrder::BigEndian, dir);
            let le = resync_candidate(view, ByteOrder::LittleEndian, dir);
            match (be, le) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (None, _) | (_, None) => None,
                _ => Some(false),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Annotated bytes from `shared/specs/tunnel-control.md`; expected events worked out
    //! by hand from the frame format (offsets are stream offsets of the direction).
    use super::*;

    const C2S: Direction = Direction::ClientToServer;
    const S2C: Direction = Direction::ServerToClient;
    const BE: ByteOrder = ByteOrder::BigEndian;
    const LE: ByteOrder = ByteOrder::LittleEndian;

    /// The spec's example: big-endian KEEP_ALIVE (20003 = 0x4e23), payload `ping`.
    const KEEP_ALIVE_BE: [u8; 12] = [0, 0, 0, 4, 0, 0, 0x4e, 0x23, b'p', b'i', b'n', b'g'];
    /// The same frame from a legacy build: little-endian header, `23 4e 00 00` gives it away.
    const KEEP_ALIVE_LE: [u8; 12] = [4, 0, 0, 0, 0x23, 0x4e, 0, 0, b'p', b'i', b'n', b'g'];
    /// USER_INFORMATION (20002 = 0x4e22) with the spec's ClientConnInfo: uid 1, port 8080.
    const USER_INFORMATION: [u8; 20] = [
        0, 0, 0, 12, 0, 0, 0x4e, 0x22, // header: 12 bytes, id 20002
        0, 0, 0, 0, 0, 0, 0, 1, // uid 1 (i64)
        0, 0, 0x1f, 0x90, // port 8080 (i32)
    ];
    /// NEW_CONNECTION (20001 = 0x4e21) with a 2-byte text payload.
    const NEW_CONNECTION: [u8; 10] = [0, 0, 0, 2, 0, 0, 0x4e, 0x21, b'o', b'k'];

    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Rec {
        Frame {
            id: u32,
            data: Vec<u8>,
            offset: u64,
            truncated: bool,
        },
        Event(Event, u64),
    }

    #[derive(Default)]
    struct Recorder {
        hint: Option<ByteOrder>,
        release_on: Option<u32>,
        got: Vec<Rec>,
    }

    impl FrameSink for Recorder {
        fn order_hint(&self) -> Option<ByteOrder> {
            self.hint
        }
        fn frame(&mut self, f: FrameEvent<'_>) -> After {
            self.got.push(Rec::Frame {
                id: f.header.id,
                data: f.data.to_vec(),
                offset: f.offset,
                truncated: f.truncated,
            });
            if self.release_on == Some(f.header.id) && !f.truncated {
                After::Release
            } else {
                After::Continue
            }
        }
        fn event(&mut self, event: Event, offset: u64) {
            self.got.push(Rec::Event(event, offset));
        }
    }

    fn frame(id: u32, data: &[u8], offset: u64) -> Rec {
        Rec::Frame {
            id,
            data: data.to_vec(),
            offset,
            truncated: false,
        }
    }

    fn cut(id: u32, data: &[u8], offset: u64) -> Rec {
        Rec::Frame {
            id,
            data: data.to_vec(),
            offset,
            truncated: true,
        }
    }

    fn header(id: u32, data_len: u32, order: ByteOrder) -> Option<Header> {
        Some(Header {
            data_len,
            id,
            order,
        })
    }

    fn fresh(dir: Direction) -> (Deframer, Recorder) {
        (Deframer::new(dir), Recorder::default())
    }

    fn run(dir: Direction, pieces: &[&[u8]]) -> (Deframer, Recorder) {
        let (mut d, mut r) = fresh(dir);
        for p in pieces {
            assert_eq!(d.push(p, &mut r), p.len());
        }
        (d, r)
    }

    #[test]
    fn spec_keep_alive_big_endian() {
        let (d, r) = run(S2C, &[&KEEP_ALIVE_BE]);
        assert_eq!(
            r.got,
            vec![Rec::Event(Event::Order(BE), 0), frame(20003, b"ping", 0)]
        );
        assert_eq!(
            (d.order(), d.buffered_bytes(), d.undecoded_bytes()),
            (Some(BE), 0, 0)
        );
    }

    #[test]
    fn legacy_little_endian_header() {
        let (d, r) = run(S2C, &[&KEEP_ALIVE_LE, &KEEP_ALIVE_LE]);
        assert_eq!(
            r.got,
            vec![
                Rec::Event(Event::Order(LE), 0),
                frame(20003, b"ping", 0),
                frame(20003, b"ping", 12),
            ]
        );
        assert_eq!(d.order(), Some(LE));
    }

    #[test]
    fn split_frames_byte_by_byte() {
        let mut stream = KEEP_ALIVE_BE.to_vec();
        stream.extend_from_slice(&USER_INFORMATION);
        let pieces: Vec<&[u8]> = stream.chunks(1).collect();
        let (d, r) = run(S2C, &pieces);
        assert_eq!(
            r.got,
            vec![
                Rec::Event(Event::Order(BE), 0),
                frame(20003, b"ping", 0),
                frame(20002, &USER_INFORMATION[8..], 12),
            ]
        );
        assert_eq!(d.buffered_bytes(), 0);
    }

    #[test]
    fn partial_frame_is_buffered_up_to_its_length() {
        let (d, r) = run(S2C, &[&KEEP_ALIVE_BE[..3], &KEEP_ALIVE_BE[3..10]]);
        // No order yet after 3 bytes; the header (8) plus 2 payload bytes held after 10.
        assert!(
            r.got
                .iter()
                .all(|g| matches!(g, Rec::Event(Event::Order(_), _)))
        );
        assert_eq!(d.buffered_bytes(), 10);
    }

    #[test]
    fn packed_frames_in_one_chunk() {
        let mut stream = USER_INFORMATION.to_vec();
        stream.extend_from_slice(&KEEP_ALIVE_BE);
        stream.extend_from_slice(&NEW_CONNECTION);
        let (_, r) = run(S2C, &[&stream]);
        assert_eq!(
            r.got,
            vec![
                Rec::Event(Event::Order(BE), 0),
                frame(20002, &USER_INFORMATION[8..], 0),
                frame(20003, b"ping", 20),
                frame(20001, b"ok", 32),
            ]
        );
    }

    #[test]
    fn gap_inside_a_payload_is_recovered_exactly() {
        let (mut d, mut r) = fresh(S2C);
        d.push(&KEEP_ALIVE_BE[..10], &mut r); // header + "pi"
        d.gap(2, &mut r); // "ng" lost: the frame ends exactly at the gap's end
        d.push(&NEW_CONNECTION, &mut r);
        assert_eq!(
            r.got,
            vec![
                Rec::Event(Event::Order(BE), 0),
                Rec::Event(
                    Event::Cut {
                        by: CutBy::Gap,
                        header: header(20003, 4, BE),
                        have: 10
                    },
                    0
                ),
                cut(20003, b"pi", 0),
                frame(20001, b"ok", 12),
            ]
        );
        assert_eq!(d.undecoded_bytes(), 0);
    }

    #[test]
    fn gap_shorter_than_the_rest_skips_the_remainder() {
        let (mut d, mut r) = fresh(S2C);
        d.push(&KEEP_ALIVE_BE[..9], &mut r); // header + "p"
        d.gap(1, &mut r); // "i" lost; "ng" still to come and skipped
        d.push(&KEEP_ALIVE_BE[10..], &mut r);
        d.push(&NEW_CONNECTION, &mut r);
        assert_eq!(r.got.last(), Some(&frame(20001, b"ok", 12)));
        assert_eq!(r.got[2], cut(20003, b"p", 0));
    }

    #[test]
    fn gap_over_a_boundary_then_resynchronisation() {
        let (mut d, mut r) = fresh(S2C);
        d.push(&KEEP_ALIVE_BE[..10], &mut r);
        // 2 bytes end the first frame, 5 more eat the start of the second (offset 12).
        d.gap(7, &mut r);
        // The second frame's last 7 bytes, then a whole frame at offset 24.
        let mut rest = KEEP_ALIVE_BE[5..].to_vec();
        rest.extend_from_slice(&KEEP_ALIVE_BE);
        d.push(&rest, &mut r);
        assert_eq!(
            r.got[3..],
            [
                // 5 bytes in the gap + 7 scanned over.
                Rec::Event(Event::Resynchronised { skipped: 12 }, 24),
                frame(20003, b"ping", 24),
            ]
        );
        assert_eq!(d.undecoded_bytes(), 12);
    }

    #[test]
    fn gap_at_a_boundary_loses_it() {
        let (mut d, mut r) = fresh(S2C);
        d.push(&KEEP_ALIVE_BE, &mut r);
        d.gap(3, &mut r);
        assert_eq!(r.got[2], Rec::Event(Event::GapAtBoundary { len: 3 }, 12));
        // The next frame, whole and plausible, is found again at once.
        d.push(&KEEP_ALIVE_BE, &mut r);
        assert_eq!(
            r.got[3..],
            [
                Rec::Event(Event::Resynchronised { skipped: 3 }, 15),
                frame(20003, b"ping", 15),
            ]
        );
    }

    #[test]
    fn gap_in_the_first_header_before_the_order_is_known() {
        let (mut d, mut r) = fresh(S2C);
        d.push(&KEEP_ALIVE_LE[..3], &mut r);
        d.gap(9, &mut r);
        assert_eq!(
            r.got,
            vec![Rec::Event(
                Event::Cut {
                    by: CutBy::Gap,
                    header: None,
                    have: 3
                },
                0
            )]
        );
        // Resynchronises in either order, then learns it from the header.
        d.push(&KEEP_ALIVE_LE, &mut r);
        assert_eq!(
            r.got[1..],
            [
                Rec::Event(Event::Resynchronised { skipped: 9 }, 12),
                Rec::Event(Event::Order(LE), 12),
                frame(20003, b"ping", 12),
            ]
        );
    }

    #[test]
    fn truncated_body_at_the_end() {
        let (mut d, mut r) = fresh(C2S);
        d.push(&USER_INFORMATION[..15], &mut r);
        d.end(&mut r);
        assert_eq!(
            r.got[1..],
            [
                Rec::Event(
                    Event::Cut {
                        by: CutBy::End,
                        header: header(20002, 12, BE),
                        have: 15
                    },
                    0
                ),
                cut(20002, &USER_INFORMATION[8..15], 0),
            ]
        );
        assert_eq!(d.buffered_bytes(), 0);
    }

    #[test]
    fn unknown_id_is_skipped_by_its_length() {
        // id 12345 (0x3039), 3 bytes, split so the skip spans two chunks.
        let unknown = [0, 0, 0, 3, 0, 0, 0x30, 0x39, 1, 2, 3];
        let (_, r) = run(
            S2C,
            &[
                &KEEP_ALIVE_BE,
                &unknown[..9],
                &unknown[9..],
                &NEW_CONNECTION,
            ],
        );
        assert_eq!(
            r.got[2..],
            [
                Rec::Event(
                    Event::UnknownId {
                        id: 12345,
                        data_len: 3
                    },
                    12
                ),
                frame(20001, b"ok", 23),
            ]
        );
    }

    #[test]
    fn unknown_ids_in_a_row_lose_the_boundary() {
        let unknown = [0, 0, 0, 0, 0, 0, 0x30, 0x39];
        let mut stream = KEEP_ALIVE_BE.to_vec();
        for _ in 0..=MAX_UNKNOWN_RUN {
            stream.extend_from_slice(&unknown);
        }
        stream.extend_from_slice(&KEEP_ALIVE_BE);
        let (d, r) = run(S2C, &[&stream]);
        let unknowns = r
            .got
            .iter()
            .filter(|g| matches!(g, Rec::Event(Event::UnknownId { .. }, _)))
            .count();
        assert_eq!(unknowns, MAX_UNKNOWN_RUN as usize + 1);
        let at = 12 + 8 * (u64::from(MAX_UNKNOWN_RUN) + 1);
        assert!(r.got.contains(&frame(20003, b"ping", at)), "{:?}", r.got);
        assert_eq!(d.undecoded_bytes(), 8);
    }

    #[test]
    fn absurd_length_is_never_allocated() {
        // KEEP_ALIVE declaring 0x00100000 bytes (1 MiB, above MAX_DATA_LEN).
        let absurd = [0, 0x10, 0, 0, 0, 0, 0x4e, 0x23];
        let (d, r) = run(S2C, &[&KEEP_ALIVE_BE, &absurd, b"xx"]);
        assert_eq!(
            r.got[2],
            Rec::Event(
                Event::TooLong {
                    id: 20003,
                    data_len: 0x0010_0000
                },
                12
            )
        );
        assert!(d.buffered_bytes() <= RESYNC_MAX_FRAME + HEADER_LEN);
        assert_eq!(d.undecoded_bytes(), 10);
    }

    #[test]
    fn text_is_not_framed() {
        let (d, r) = run(C2S, &[b"GET / HTTP/1.1\r\n", b"Host: x\r\n"]);
        assert_eq!(r.got, vec![Rec::Event(Event::NotFramed, 0)]);
        assert_eq!(d.undecoded_bytes(), 25);
    }

    #[test]
    fn release_after_the_tunnel_frame() {
        let mut d = Deframer::new(C2S);
        let mut r = Recorder {
            release_on: Some(20002),
            ..Recorder::default()
        };
        let mut stream = USER_INFORMATION.to_vec();
        stream.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(d.push(&stream, &mut r), USER_INFORMATION.len());
        assert!(d.is_released());
        assert_eq!(d.push(b"more", &mut r), 0);
        d.gap(10, &mut r);
        assert_eq!(r.got.len(), 2);
    }

    #[test]
    fn release_hands_back_what_was_buffered() {
        let (mut d, _) = run(S2C, &[&KEEP_ALIVE_BE[..5]]);
        assert_eq!(d.release(), KEEP_ALIVE_BE[..5].to_vec());
        assert!(d.is_released());
        assert_eq!(d.buffered_bytes(), 0);
    }

    #[test]
    fn resynchronisation_respects_the_direction() {
        // KEEP_ALIVE is server to client only: after a lost boundary on the client side
        // a well-formed one is not taken for a boundary.
        let mut d = Deframer::new(C2S);
        let mut r = Recorder {
            hint: Some(BE),
            ..Recorder::default()
        };
        d.gap(4, &mut r);
        d.push(&KEEP_ALIVE_BE, &mut r);
        assert_eq!(r.got, vec![Rec::Event(Event::GapAtBoundary { len: 4 }, 0)]);
        assert_eq!(d.undecoded_bytes(), 16);
    }
}
