//! TCP sequence numbers and the only place that knows they wrap at 2^32.
//!
//! The assembler works in 64-bit *stream offsets* (byte 0 is the first byte of the
//! direction's stream) so that nothing past this module has to think about wrap-around.
//! [`unwrap_offset`] turns a 32-bit sequence number into such an offset by picking, among
//! all values congruent to it modulo 2^32, the one nearest a reference offset (the next
//! byte the stream expects). A segment is therefore read correctly as long as it lies
//! within 2^31 bytes of where the stream is, which is twice the largest TCP window.

/// A TCP sequence (or acknowledgement) number: arithmetic modulo 2^32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// `self + n` modulo 2^32.
    pub fn wrapping_add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }

    /// `true` when `self` comes after `other` in sequence space (RFC 1982 comparison:
    /// less than 2^31 ahead).
    pub fn is_after(self, other: SeqNumber) -> bool {
        (self.0.wrapping_sub(other.0) as i32) > 0
    }

    /// The later of two sequence numbers (in sequence space, not as integers).
    pub fn later(self, other: SeqNumber) -> SeqNumber {
        if self.is_after(other) { self } else { other }
    }
}

/// The stream offset of `seq` in a stream whose byte 0 has sequence number `base`,
/// choosing the candidate nearest `near` (an offset the stream has reached).
///
/// The result is negative when `seq` lies before the start of the stream.
pub fn unwrap_offset(seq: SeqNumber, base: SeqNumber, near: u64) -> i64 {
    let low = seq.0.wrapping_sub(base.0);
    let delta = i64::from(low.wrapping_sub(near as u32) as i32);
    // Streams never come near 2^63 bytes: `near` fits an i64.
    (near as i64).saturating_add(delta)
}

/// The sequence number of stream offset `offset` in a stream starting at `base`.
pub fn seq_at(base: SeqNumber, offset: u64) -> SeqNumber {
    base.wrapping_add(offset as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_cross_the_wrap() {
        let before = SeqNumber(u32::MAX - 5);
        let after = before.wrapping_add(10);
        assert_eq!(after, SeqNumber(4));
        assert!(after.is_after(before));
        assert!(!before.is_after(after));
        assert_eq!(before.later(after), after);
        assert!(!before.is_after(before));
    }

    #[test]
    fn offsets_unwrap_near_the_reference() {
        let base = SeqNumber(u32::MAX - 1);
        assert_eq!(unwrap_offset(base, base, 0), 0);
        assert_eq!(unwrap_offset(SeqNumber(3), base, 0), 5);
        // Past one full turn of sequence space.
        let far = (1u64 << 32) + 100;
        assert_eq!(
            unwrap_offset(seq_at(base, far + 7), base, far),
            (far + 7) as i64
        );
        assert_eq!(
            unwrap_offset(seq_at(base, far - 7), base, far),
            (far - 7) as i64
        );
        // Before the start of the stream.
        assert_eq!(unwrap_offset(base.wrapping_add(u32::MAX), base, 0), -1);
    }
}
