//! Safe rendering of wire strings: the one place that decides how bytes an attacker chose
//! (SNI, ALPN, HTTP host and target, SOCKS destinations, tunnel user names, Redis command
//! names, SSH banners, certificate names...) may appear in a human-facing output.
//!
//! # Contracts
//!
//! - [`terminal`]: no control character survives. ESC is shown as `^[`, every other C0
//!   control, NUL and DEL as `\xNN`, C1 controls (U+0080..U+009F, which some terminals
//!   obey as 8-bit CSI/OSC) and the bidirectional overrides (U+202A..U+202E,
//!   U+2066..U+2069: "Trojan source" reordering) as `\u{NNNN}`. A string longer than its
//!   cap is cut at a character boundary and followed by `…[N bytes]`, N its full length.
//! - [`Lines`]: the text renderer's output buffer. Everything formatted into it with
//!   `write!`/`writeln!` goes through [`terminal`] (newlines at the very start or end of
//!   one write are the renderer's own line structure and kept; any other newline came
//!   from a value and is escaped), so a value cannot end a line or draw a fake one. Only
//!   [`Lines::raw`] appends as is: the renderer's own styling and table lines whose cells
//!   were made with [`terminal`] already.
//! - [`csv_cell`]: controls escaped as in [`terminal`] (ESC as `\x1b`), cut at
//!   [`CSV_CELL_MAX`] (Excel's cell limit is 32 767 characters), and a cell beginning with
//!   `=`, `+`, `-`, `@`, tab or CR (or their full-width forms) prefixed with `'`, as OWASP's
//!   CSV-injection page recommends, unless the whole cell is a plain number.
//! - [`html_text`] (the HTML template's formatter, before minijinja's autoescaping) cuts
//!   and escapes controls visibly; [`html_document`] is the last pass over the finished
//!   page: no raw control byte but tab, LF and CR is left anywhere in it.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Characters of one wire string in a terminal line.
pub const TERMINAL_MAX: usize = 256;
/// Characters of one terminal line built by [`Lines`] (a line holds several values).
pub const LINE_MAX: usize = 2048;
/// Characters of one CSV cell.
pub const CSV_CELL_MAX: usize = 32_000;
/// Characters of one value in the HTML report.
pub const HTML_MAX: usize = 1024;

/// How one character is shown, `None` when it is shown as it is.
fn replacement(c: char, esc_as_caret: bool) -> Option<Repl> {
    match c {
        '\x1b' if esc_as_caret => Some(Repl::Caret),
        '\0'..='\x1f' | '\x7f' => Some(Repl::Byte(c as u8)),
        '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            Some(Repl::Code(c as u32))
        }
        _ => None,
    }
}

enum Repl {
    Caret,
    Byte(u8),
    Code(u32),
}

fn needs_escape(c: char) -> bool {
    replacement(c, true).is_some()
}

/// Appends `s` to `out` with controls replaced and at most `max` characters of `s`
/// kept; a cut string ends with `…[N bytes]`.
fn push_escaped(out: &mut String, s: &str, max: usize, esc_as_caret: bool) {
    for (kept, c) in s.chars().enumerate() {
        if kept == max {
            let _ = write!(out, "…[{} bytes]", s.len());
            return;
        }
        match replacement(c, esc_as_caret) {
            None => out.push(c),
            Some(Repl::Caret) => out.push_str("^["),
            Some(Repl::Byte(b)) => {
                let _ = write!(out, "\\x{b:02x}");
            }
            Some(Repl::Code(u)) => {
                let _ = write!(out, "\\u{{{u:04x}}}");
            }
        }
    }
}

fn escaped(s: &str, max: usize, esc_as_caret: bool) -> Cow<'_, str> {
    if s.chars().count() <= max && !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max * 4) + 16);
    push_escaped(&mut out, s, max, esc_as_caret);
    Cow::Owned(out)
}

/// `s` made safe for a terminal, at most `max` characters of it (see the module doc).
pub fn terminal(s: &str, max: usize) -> Cow<'_, str> {
    escaped(s, max, true)
}

/// A terminal report being built: `write!`/`writeln!` into it escape what they format
/// (see the module doc); [`Lines::raw`] is for the renderer's own styling only.
#[derive(Default)]
pub struct Lines {
    buf: String,
    scratch: String,
}

impl Lines {
    pub fn new() -> Self {
        Self::default()
    }

    /// Called by `write!` and `writeln!` (an inherent method wins over `fmt::Write`'s).
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> fmt::Result {
        self.scratch.clear();
        self.scratch.write_fmt(args)?;
        let s = self.scratch.as_str();
        let body = s.trim_start_matches('\n');
        let lead = s.len() - body.len();
        let (body, trail) = match body.strip_suffix('\n') {
            Some(b) => (b, true),
            None => (body, false),
        };
        self.buf.push_str(&s[..lead]);
        push_escaped(&mut self.buf, body, LINE_MAX, true);
        if trail {
            self.buf.push('\n');
        }
        Ok(())
    }

    /// Appends `s` as it is: only text the renderer made (ANSI styling, table lines whose
    /// cells went through [`terminal`]).
    pub fn raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    pub fn into_string(self) -> String {
        self.buf
    }
}

/// Whether the cell is a plain number (`-12`, `3.5`, `1e-9`): it cannot be a formula.
fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && s.parse::<f64>().is_ok()
}

/// One CSV cell made safe for a spreadsheet (see the module doc).
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    let formula =
        s.starts_with(['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠']) && !is_number(s);
    let body = escaped(s, CSV_CELL_MAX, false);
    if formula {
        Cow::Owned(format!("'{body}"))
    } else {
        body
    }
}

/// One value of the HTML report, before HTML escaping (see the module doc).
pub fn html_text(s: &str) -> Cow<'_, str> {
    escaped(s, HTML_MAX, false)
}

/// The finished HTML page with any raw control character but tab, LF and CR replaced by
/// its `\xNN` text (a NUL is a parse error in HTML; none can come from the template).
pub fn html_document(doc: String) -> String {
    let bad = |c: char| needs_escape(c) && !matches!(c, '\t' | '\n' | '\r');
    if !doc.chars().any(bad) {
        return doc;
    }
    let mut out = String::with_capacity(doc.len() + 64);
    for c in doc.chars() {
        if bad(c) {
            let mut one = [0u8; 4];
            push_escaped(&mut out, c.encode_utf8(&mut one), 1, false);
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `s` holds a character a terminal could obey (for tests of every renderer).
pub fn has_control(s: &str) -> bool {
    s.chars().any(|c| needs_escape(c) && c != '\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_every_control() {
        assert_eq!(terminal("plain.example", 64), "plain.example");
        assert!(matches!(terminal("plain", 64), Cow::Borrowed(_)));
        assert_eq!(
            terminal("a\x1b[2Jb\x1b]0;pwned\x07c", 64),
            "a^[[2Jb^[]0;pwned\\x07c"
        );
        assert_eq!(terminal("nul\0del\x7f", 64), "nul\\x00del\\x7f");
        assert_eq!(terminal("c1\u{9b}31m", 64), "c1\\u{009b}31m");
        assert_eq!(terminal("rtl\u{202e}txt", 64), "rtl\\u{202e}txt");
        assert_eq!(terminal("line\nfake", 64), "line\\x0afake");
        assert_eq!(terminal("é日本", 64), "é日本");
        for s in ["\x1b", "\u{85}", "\r", "\t", "\0"] {
            assert!(!has_control(&terminal(s, 8)), "{s:?}");
        }
    }

    #[test]
    fn long_strings_are_cut_with_their_length() {
        let sni = "a".repeat(60_000);
        let t = terminal(&sni, TERMINAL_MAX);
        assert!(t.starts_with(&"a".repeat(TERMINAL_MAX)));
        assert!(t.ends_with("…[60000 bytes]"), "{}", &t[t.len() - 30..]);
        assert!(t.len() < 300);
        // Cut at a character boundary.
        let wide = "日".repeat(300);
        assert!(terminal(&wide, 10).starts_with(&"日".repeat(10)));
        assert_eq!(terminal("exactly", 7), "exactly");
    }

    #[test]
    fn lines_escape_values_but_keep_the_renderers_newlines() {
        let mut l = Lines::new();
        let sni = "evil\x1b[2J\nInjected line";
        let _ = writeln!(l, "\nTLS  sni {sni}");
        l.raw("\x1b[1mbold\x1b[0m\n");
        let s = l.into_string();
        assert_eq!(
            s,
            "\nTLS  sni evil^[[2J\\x0aInjected line\n\x1b[1mbold\x1b[0m\n"
        );
        let mut l = Lines::new();
        let _ = writeln!(l, "  {}", "x".repeat(10_000));
        let s = l.into_string();
        assert!(s.ends_with("…[10002 bytes]\n"), "{}", &s[s.len() - 30..]);
    }

    #[test]
    fn csv_cells_cannot_be_formulas() {
        for (cell, want) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\\x09=1"),
            ("\r=1", "'\\x0d=1"),
            ("＝1+1", "'＝1+1"),
            ("-12", "-12"),
            ("-1.5e-3", "-1.5e-3"),
            ("example.com", "example.com"),
            ("", ""),
            ("a\x1b[2Jb\0", "a\\x1b[2Jb\\x00"),
        ] {
            assert_eq!(csv_cell(cell), want, "{cell:?}");
        }
        let long = "b".repeat(40_000);
        assert!(csv_cell(&long).ends_with("…[40000 bytes]"));
    }

    #[test]
    fn html_has_no_raw_control() {
        assert_eq!(html_text("a\0b\x1bc"), "a\\x00b\\x1bc");
        let doc = html_document("<p>a\0b\u{85}c</p>\n\t".to_string());
        assert_eq!(doc, "<p>a\\x00b\\u{0085}c</p>\n\t");
        assert!(!has_control(&doc.replace('\t', "")));
    }
}
