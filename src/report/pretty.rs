//! Pretty-printed JSON, byte for byte what `serde_json::to_writer_pretty` writes (two-space
//! indent), with fewer and larger writes.
//!
//! serde_json's `PrettyFormatter` writes the line break and then each level of indent as a
//! separate two-byte write; a report with thousands of connections six levels deep makes
//! millions of them. This formatter writes `",\n"` and the whole indent as one slice of a
//! static line. The output is the same (tested against serde_json on nested, empty and
//! deeper-than-the-static-line values).

use serde::Serialize;
use serde_json::ser::Formatter;
use std::io::{self, Write};

/// Levels of indent served from [`LINE`]; deeper levels are written one level at a time.
const STATIC_LEVELS: usize = 32;
/// `",\n"` followed by the indent of [`STATIC_LEVELS`] levels.
static LINE: [u8; 2 + 2 * STATIC_LEVELS] = {
    let mut line = [b' '; 2 + 2 * STATIC_LEVELS];
    line[0] = b',';
    line[1] = b'\n';
    line
};

/// Writes `value` as pretty JSON (no trailing newline) to `out`.
pub fn to_writer<W: Write, T: ?Sized + Serialize>(out: W, value: &T) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, Pretty::default());
    value.serialize(&mut ser)
}

#[derive(Default)]
struct Pretty {
    depth: usize,
    has_value: bool,
}

impl Pretty {
    /// A line break (after a comma unless `first`) and the current indent.
    fn new_line<W: ?Sized + Write>(&self, out: &mut W, first: bool) -> io::Result<()> {
        let from = usize::from(first);
        if self.depth <= STATIC_LEVELS {
            out.write_all(&LINE[from..2 + 2 * self.depth])
        } else {
            out.write_all(&LINE[from..])?;
            for _ in STATIC_LEVELS..self.depth {
                out.write_all(b"  ")?;
            }
            Ok(())
        }
    }

    /// Opens an array or object.
    fn open<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        out.write_all(bracket)
    }

    /// Closes an array or object: a line break and indent only if it held something.
    fn close<W: ?Sized + Write>(&mut self, out: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.new_line(out, true)?;
        }
        out.write_all(bracket)
    }
}

impl Formatter for Pretty {
    #[inline]
    fn begin_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"[")
    }

    #[inline]
    fn end_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"]")
    }

    #[inline]
    fn begin_array_value<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.new_line(out, first)
    }

    #[inline]
    fn end_array_value<W: ?Sized + Write>(&mut self, _out: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    #[inline]
    fn begin_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"{")
    }

    #[inline]
    fn end_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"}")
    }

    #[inline]
    fn begin_object_key<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.new_line(out, first)
    }

    #[inline]
    fn begin_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        out.write_all(b": ")
    }

    #[inline]
    fn end_object_value<W: ?Sized + Write>(&mut self, _out: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn ours(v: &Value) -> String {
        let mut out = Vec::new();
        to_writer(&mut out, v).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// `depth` arrays, each holding an object with a scalar, an empty array, an empty
    /// object and the next level.
    fn nested(depth: usize) -> Value {
        let mut v = json!({"leaf": [1, 2.5, "x\"y", null, true]});
        for i in 0..depth {
            v = json!([{"level": i, "empty_list": [], "empty_map": {}, "next": v}, "tail"]);
        }
        v
    }

    #[test]
    fn same_bytes_as_serde_json_at_every_depth() {
        for depth in [
            0,
            1,
            2,
            5,
            STATIC_LEVELS / 2 - 1,
            STATIC_LEVELS / 2,
            STATIC_LEVELS,
            40,
        ] {
            let v = nested(depth);
            assert_eq!(
                ours(&v),
                serde_json::to_string_pretty(&v).unwrap(),
                "depth {depth}"
            );
        }
        for v in [
            json!([]),
            json!({}),
            json!(7),
            json!("s"),
            json!([[]]),
            json!({"a": {}}),
        ] {
            assert_eq!(ours(&v), serde_json::to_string_pretty(&v).unwrap());
        }
    }

    #[test]
    fn deep_values_take_the_slow_indent_path() {
        // 40 nested levels of [{...}] are 80 levels of indent, past the static line.
        let text = ours(&nested(40));
        let widest = text
            .lines()
            .map(|l| l.len() - l.trim_start().len())
            .max()
            .unwrap();
        assert!(widest > 2 * STATIC_LEVELS, "widest indent {widest}");
    }
}
