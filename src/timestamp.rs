//! Packet time. Everything in tunscope runs on the capture's clock: the library never
//! reads the wall clock, so the same capture always gives the same answers.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Nanoseconds since the Unix epoch, as recorded in the capture.
///
/// Signed so that arithmetic on differences never wraps; pcap timestamps fit easily
/// (an `i64` of nanoseconds covers the years 1678 to 2262).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The epoch.
    pub const ZERO: Timestamp = Timestamp(0);

    /// `secs` seconds and `nanos` nanoseconds after the epoch (saturating).
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// `secs` seconds after the epoch, to the nearest nanosecond.
    pub fn from_secs_f64(secs: f64) -> Self {
        Timestamp((secs * 1e9).round() as i64)
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> i64 {
        self.0
    }

    /// Seconds as a float, for reports.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// `self - earlier` in nanoseconds (negative when `earlier` is later).
    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self - earlier` in milliseconds, as a float.
    pub fn millis_since(self, earlier: Timestamp) -> f64 {
        self.nanos_since(earlier) as f64 / 1e6
    }

    /// `nanos` later (saturating).
    pub fn saturating_add_nanos(self, nanos: i64) -> Self {
        Timestamp(self.0.saturating_add(nanos))
    }

    /// UTC date and time with microseconds, e.g. `2026-11-22 02:28:35.123456`.
    pub fn utc(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let micros = self.0.rem_euclid(1_000_000_000) / 1000;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{micros:06}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl fmt::Display for Timestamp {
    /// `seconds.nanoseconds`, like tshark's epoch time column.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        write!(f, "{secs}.{nanos:09}")
    }
}

impl Serialize for Timestamp {
    /// In human-readable formats (JSON), seconds since the epoch (a float with
    /// microsecond-or-better precision), the convention of Zeek and tshark's JSON. In
    /// binary formats (the record spool), the exact nanoseconds, an integer.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_f64(self.as_secs_f64())
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// What [`Serialize`] writes. An integer is always nanoseconds and a float always
    /// seconds, whatever the format says of itself: serde reads flattened and
    /// internally tagged types through a buffer that claims to be human-readable even
    /// when the format is not.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seconds (a float) or nanoseconds (an integer) since the epoch")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .map(Timestamp)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Ok(Timestamp::from_secs_f64(v))
            }
        }
        if d.is_human_readable() {
            d.deserialize_f64(V)
        } else {
            d.deserialize_i64(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_pads_nanoseconds() {
        assert_eq!(
            Timestamp::from_secs_nanos(12, 5).to_string(),
            "12.000000005"
        );
        assert_eq!(Timestamp(-1).to_string(), "-1.999999999");
    }

    #[test]
    fn utc_dates() {
        // Values from `date -u -d @SECONDS`.
        assert_eq!(
            Timestamp::from_secs_nanos(0, 0).utc(),
            "1970-01-01 00:00:00.000000"
        );
        assert_eq!(
            Timestamp::from_secs_nanos(951_782_400, 5_000).utc(),
            "2000-02-29 00:00:00.000005"
        );
        assert_eq!(
            Timestamp::from_secs_nanos(1_795_315_262, 692_855_000).utc(),
            "2026-11-22 02:41:02.692855"
        );
        assert_eq!(
            Timestamp::from_secs_nanos(-1, 0).utc(),
            "1969-12-31 23:59:59.000000"
        );
    }

    #[test]
    fn differences_are_signed() {
        let a = Timestamp::from_secs_nanos(10, 0);
        let b = Timestamp::from_secs_nanos(10, 1_500_000);
        assert_eq!(b.nanos_since(a), 1_500_000);
        assert_eq!(a.nanos_since(b), -1_500_000);
        assert!((b.millis_since(a) - 1.5).abs() < 1e-9);
    }
}
