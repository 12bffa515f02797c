//! A streaming RESP2/RESP3 reader (the Redis serialization protocol,
//! <https://redis.io/docs/latest/develop/reference/protocol-spec/>).
//!
//! Contract: [`RespReader::feed`] takes bytes in any split and emits, per top-level
//! value, [`Event::Start`] when its first byte arrives and [`Event::Done`] when it is
//! complete, so any split of the same bytes gives the same values. Memory is bounded no
//! matter what lengths the input declares: one line ([`MAX_LINE`]), at most
//! [`MAX_ITEMS`] leaves of [`MAX_ITEM_BYTES`] each per value, and a nesting depth of
//! [`MAX_DEPTH`]; bulk payloads are skipped, never buffered. Invalid input stops the
//! reader ([`RespReader::broken`]); nothing after it is interpreted.

pub const MAX_LINE: usize = 64 * 1024;
pub const MAX_ITEMS: usize = 16;
pub const MAX_ITEM_BYTES: usize = 64;
pub const MAX_DEPTH: usize = 16;
/// Redis's own limit for a bulk string (proto-max-bulk-len default).
pub const MAX_BULK: i64 = 512 * 1024 * 1024;
/// Largest aggregate count accepted (Redis rejects multibulk lengths above 1024*1024*1024;
/// anything this large is garbage for a trace).
pub const MAX_AGGREGATE: i64 = 1024 * 1024;

/// One complete top-level value, reduced to what tunscope reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Value {
    /// `simple`, `error`, `integer`, `bulk`, `array`, `map`, `set`, `push`, `null`,
    /// `boolean`, `double`, `big_number`, `verbatim`, `inline`.
    pub kind: &'static str,
    /// The first [`MAX_ITEMS`] leaves (strings, numbers), each cut to [`MAX_ITEM_BYTES`].
    pub items: Vec<String>,
    /// Number of leaves in all (nils included).
    pub leaves: u64,
    /// The value (or, for aggregates, the top level) is nil.
    pub nil: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Start,
    Done(Value),
}

#[derive(Debug, Default)]
pub struct RespReader {
    line: Vec<u8>,
    bulk_left: u64,
    bulk_crlf: u8,
    bulk_capture: Vec<u8>,
    stack: Vec<u64>,
    cur: Option<Value>,
    broken: Option<&'static str>,
}

fn int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |a, d| a * 10 + i64::from(d - b'0'));
    Some(if neg { -v } else { v })
}

fn cut(b: &[u8]) -> String {
    String::from_utf8_lossy(b.get(..MAX_ITEM_BYTES.min(b.len())).unwrap_or_default()).into_owned()
}

/// Splits an inline command line (CR LF already removed) into its arguments the way
/// Redis does (`sdssplitargs` in `src/sds.c`, used by `processInlineBuffer`): blanks
/// (`isspace`) separate arguments; `"..."` takes `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a`
/// and `\` + any byte (that byte); `'...'` takes `\'` only; a quote may open inside an
/// argument (`a"b c"` is `ab c`), a closing quote must be followed by a blank or the end.
/// Each argument is passed to `arg` (its bytes, never more than a line); returns the
/// count, or the error the server answers (`unbalanced quotes`, after which it closes
/// the connection). A NUL byte is an error too: the server stops looking for the line's
/// end there and waits.
pub fn split_inline(line: &[u8], mut arg: impl FnMut(&[u8])) -> Result<u64, &'static str> {
    const UNBALANCED: &str = "unbalanced quotes in an inline command";
    if line.contains(&0) {
        return Err("NUL byte in an inline command");
    }
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let hex = |b: u8| (b as char).to_digit(16);
    let mut n = 0u64;
    let mut p = 0usize;
    let at = |i: usize| line.get(i).copied();
    let mut cur = Vec::new();
    loop {
        while at(p).is_some_and(space) {
            p += 1;
        }
        if at(p).is_none() {
            return Ok(n);
        }
        cur.clear();
        let (mut inq, mut insq) = (false, false);
        loop {
            let c = at(p);
            if inq {
                match (
                    c,
                    at(p + 1),
                    at(p + 2).and_then(hex),
                    at(p + 3).and_then(hex),
                ) {
                    (Some(b'\\'), Some(b'x'), Some(h), Some(l)) => {
                        cur.push((h * 16 + l) as u8);
                        p += 3;
                    }
                    (Some(b'\\'), Some(e), _, _) => {
                        cur.push(match e {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        p += 1;
                    }
                    (Some(b'"'), next, _, _) => {
                        if next.is_some_and(|b| !space(b)) {
                            return Err(UNBALANCED);
                        }
                        p += 1;
                        break;
                    }
                    (None, ..) => return Err(UNBALANCED),
                    (Some(b), ..) => cur.push(b),
                }
            } else if insq {
                match (c, at(p + 1)) {
                    (Some(b'\\'), Some(b'\'')) => {
                        cur.push(b'\'');
                        p += 1;
                    }
                    (Some(b'\''), next) => {
                        if next.is_some_and(|b| !space(b)) {
                            return Err(UNBALANCED);
                        }
                        p += 1;
                        break;
                    }
                    (None, _) => return Err(UNBALANCED),
                    (Some(b), _) => cur.push(b),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => inq = true,
                    Some(b'\'') => insq = true,
                    Some(b) => cur.push(b),
                }
            }
            p += 1;
        }
        n += 1;
        arg(&cur);
    }
}

impl RespReader {
    pub fn new() -> Self {
        RespReader::default()
    }

    /// Why the reader stopped, if it did.
    pub fn broken(&self) -> Option<&'static str> {
        self.broken
    }

    /// Stop reading (e.g. after a gap).
    pub fn stop(&mut self, why: &'static str) {
        self.broken.get_or_insert(why);
    }

    fn leaf(&mut self, text: Option<&[u8]>, events: &mut Vec<Event>) {
        if let Some(v) = self.cur.as_mut() {
            v.leaves += 1;
            match text {
                Some(t) if v.items.len() < MAX_ITEMS => v.items.push(cut(t)),
                None if self.stack.is_empty() => v.nil = true,
                _ => {}
            }
        }
        self.complete(events);
    }

    fn complete(&mut self, events: &mut Vec<Event>) {
        loop {
            match self.stack.last_mut() {
                None => {
                    if let Some(v) = self.cur.take() {
                        events.push(Event::Done(v));
                    }
                    return;
                }
                Some(top) => {
                    *top = top.saturating_sub(1);
                    if *top > 0 {
                        return;
                    }
                    self.stack.pop();
                }
            }
        }
    }

    fn set_kind(&mut self, kind: &'static str) {
        if self.stack.is_empty()
            && let Some(v) = self.cur.as_mut()
        {
            v.kind = kind;
        }
    }

    fn on_line(&mut self, line: &[u8], events: &mut Vec<Event>) {
        let (Some(&t), body) = (line.first(), line.get(1..).unwrap_or_default()) else {
            if self.stack.is_empty() {
                // An empty inline line: ignored, as Redis does.
                self.cur = None;
                return;
            }
            self.broken = Some("empty line inside an aggregate");
            return;
        };
        match t {
            b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => {
                let kind = match t {
                    b'+' => "simple",
                    b'-' => "error",
                    b':' => "integer",
                    b'_' => "null",
                    b'#' => "boolean",
                    b',' => "double",
                    _ => "big_number",
                };
                self.set_kind(kind);
                if t == b'_' {
                    self.leaf(None, events);
                } else {
                    self.leaf(Some(body), events);
                }
            }
            b'$' | b'=' | b'!' => {
                let Some(n) = int(body).filter(|n| *n >= -1 && *n <= MAX_BULK) else {
                    self.broken = Some("bad bulk length");
                    return;
                };
                self.set_kind(match t {
                    b'$' => "bulk",
                    b'=' => "verbatim",
                    _ => "error",
                });
                if n < 0 {
                    self.leaf(None, events);
                } else {
                    self.bulk_left = n as u64;
                    self.bulk_capture.clear();
                    if n == 0 {
                        self.bulk_crlf = 2;
                    }
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let Some(n) = int(body).filter(|n| *n >= -1 && *n <= MAX_AGGREGATE) else {
                    self.broken = Some("bad aggregate length");
                    return;
                };
                self.set_kind(match t {
                    b'*' => "array",
                    b'~' => "set",
                    b'>' => "push",
                    _ => "map",
                });
                let n = if matches!(t, b'%' | b'|') { n * 2 } else { n };
                if n < 0 {
                    self.leaf(None, events);
                } else if n == 0 {
                    self.complete(events);
                } else if self.stack.len() >= MAX_DEPTH {
                    self.broken = Some("aggregates nested too deep");
                } else {
                    self.stack.push(n as u64);
                }
            }
            _ if self.stack.is_empty() => {
                // Inline command, split as the server splits it.
                let mut items = Vec::new();
                let leaves = match split_inline(line, |w| {
                    if items.len() < MAX_ITEMS {
                        items.push(cut(w));
                    }
                }) {
                    Ok(n) => n,
                    Err(e) => {
                        self.broken = Some(e);
                        return;
                    }
                };
                if leaves == 0 {
                    // Blanks only: Redis ignores the line.
                    self.cur = None;
                    return;
                }
                if let Some(v) = self.cur.as_mut() {
                    v.kind = "inline";
                    v.leaves = leaves;
                    v.items = items;
                }
                self.complete(events);
            }
            _ => self.broken = Some("unknown RESP type byte"),
        }
    }

    /// Feed bytes; returns the events they complete, in order.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        let mut i = 0;
        while i < data.len() && self.broken.is_none() {
            let rest = data.get(i..).unwrap_or_default();
            if self.bulk_left > 0 {
                let take = self.bulk_left.min(rest.len() as u64) as usize;
                let room = MAX_ITEM_BYTES.saturating_sub(self.bulk_capture.len());
                self.bulk_capture
                    .extend_from_slice(rest.get(..take.min(room)).unwrap_or_default());
                self.bulk_left -= take as u64;
                if self.bulk_left == 0 {
                    self.bulk_crlf = 2;
                }
                i += take;
                continue;
            }
            if self.bulk_crlf > 0 {
                let want = if self.bulk_crlf == 2 { b'\r' } else { b'\n' };
                if rest.first() != Some(&want) {
                    self.broken = Some("bulk string not followed by CRLF");
                    break;
                }
                self.bulk_crlf -= 1;
                i += 1;
                if self.bulk_crlf == 0 {
                    let cap = std::mem::take(&mut self.bulk_capture);
                    self.leaf(Some(&cap), &mut events);
                }
                continue;
            }
            if self.cur.is_none() && self.line.is_empty() {
                self.cur = Some(Value::default());
                events.push(Event::Start);
            }
            match rest.iter().position(|&b| b == b'\n') {
                None => {
                    if self.line.len() + rest.len() > MAX_LINE {
                        self.broken = Some("line longer than 64 KiB");
                        break;
                    }
                    self.line.extend_from_slice(rest);
                    i = data.len();
                }
                Some(nl) => {
                    if self.line.len() + nl > MAX_LINE {
                        self.broken = Some("line longer than 64 KiB");
                        break;
                    }
                    self.line
                        .extend_from_slice(rest.get(..nl).unwrap_or_default());
                    i += nl + 1;
                    let mut line = std::mem::take(&mut self.line);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.on_line(&line, &mut events);
                    line.clear();
                    self.line = line;
                }
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(events: Vec<Event>) -> Vec<Value> {
        events
            .into_iter()
            .filter_map(|e| match e {
                Event::Done(v) => Some(v),
                Event::Start => None,
            })
            .collect()
    }

    #[test]
    fn command_array() {
        // The spec's example: SET mykey myvalue... here "SET test hi".
        let raw = b"*3\r\n$3\r\nSET\r\n$4\r\ntest\r\n$2\r\nhi\r\n";
        let v = done(RespReader::new().feed(raw));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].kind, "array");
        assert_eq!(v[0].items, vec!["SET", "test", "hi"]);
        assert_eq!(v[0].leaves, 3);
    }

    #[test]
    fn replies_of_every_type() {
        let raw = b"+OK\r\n-ERR unknown command\r\n:1000\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n%1\r\n+k\r\n+v\r\n_\r\n";
        let v = done(RespReader::new().feed(raw));
        let kinds: Vec<_> = v.iter().map(|x| x.kind).collect();
        assert_eq!(
            kinds,
            [
                "simple", "error", "integer", "bulk", "array", "array", "array", "map", "null"
            ]
        );
        assert_eq!(v[1].items, vec!["ERR unknown command"]);
        assert!(v[3].nil && v[4].nil && !v[5].nil);
        assert_eq!(v[6].items, vec!["1", ""]);
        assert_eq!(v[7].items, vec!["k", "v"]);
    }

    #[test]
    fn inline_and_garbage() {
        let v = done(RespReader::new().feed(b"PING\r\nECHO  hi\r\n"));
        assert_eq!(v[1].items, vec!["ECHO", "hi"]);
        let mut r = RespReader::new();
        assert!(done(r.feed(b"*1\r\n\x16\x03\r\n")).is_empty());
        assert!(r.broken().is_some());
        let mut r = RespReader::new();
        r.feed(b"$99999999999\r\n");
        assert!(r.broken().is_some());
        let mut r = RespReader::new();
        r.feed(b"$2\r\nabXY");
        assert!(r.broken().is_some());
    }

    /// Inline commands as telnet users type them, with the arguments redis-server 7.0.15
    /// (Debian 12) took from them: each line was sent to a real server on loopback with
    /// `ECHO`, and the value below is the bulk string it echoed (`SET`/`PUBLISH` parse
    /// the same way). The error lines got `-ERR Protocol error: unbalanced quotes in
    /// request` and the connection was closed.
    #[test]
    fn inline_commands_split_as_redis_server_does() {
        let args = |line: &[u8]| {
            let mut v: Vec<Vec<u8>> = Vec::new();
            split_inline(line, |a| v.push(a.to_vec())).map(|_| v)
        };
        let ok = |line: &[u8], want: &[&[u8]]| {
            let got = args(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(line));
        };
        ok(
            br#"PUBLISH Foo "Hi there :)""#,
            &[b"PUBLISH", b"Foo", b"Hi there :)"],
        );
        ok(br#"ECHO "a\x41\n b\q""#, &[b"ECHO", b"aA\n bq"]);
        ok(br"ECHO 'it\'s \n'", &[b"ECHO", br"it's \n"]);
        ok(br#"ECHO a"b c""#, &[b"ECHO", b"ab c"]);
        ok(br#"ECHO """#, &[b"ECHO", b""]);
        ok(b"ECHO  \t x\x0by ", &[b"ECHO", b"x\x0by"]);
        ok(br#"ECHO "\x4g""#, &[b"ECHO", b"x4g"]);
        ok(br"ECHO a\nb", &[b"ECHO", br"a\nb"]);
        assert_eq!(args(b"   "), Ok(vec![]));
        for bad in [
            &br#"ECHO a"b c"d"#[..],
            br#"ECHO "a"b"#,
            br#"ECHO "unbalanced"#,
        ] {
            assert!(args(bad).is_err(), "{bad:?}");
        }
        // Through the reader: the command and its arguments, then PING.
        let v = done(RespReader::new().feed(b"PUBLISH Foo \"Hi there :)\"\r\nPING\r\n"));
        assert_eq!(v[0].items, ["PUBLISH", "Foo", "Hi there :)"]);
        assert_eq!((v[0].kind, v[0].leaves), ("inline", 3));
        assert_eq!(v[1].items, ["PING"]);
        let mut r = RespReader::new();
        assert!(done(r.feed(b"ECHO \"unbalanced\r\n")).is_empty());
        assert!(r.broken().is_some());
    }

    #[test]
    fn big_bulk_is_skipped_not_buffered() {
        let mut r = RespReader::new();
        r.feed(b"$1000000\r\n");
        for _ in 0..1000 {
            assert!(done(r.feed(&[b'x'; 1000])).is_empty());
        }
        assert!(r.bulk_capture.len() <= MAX_ITEM_BYTES);
        let v = done(r.feed(b"\r\n"));
        assert_eq!(v[0].items[0].len(), MAX_ITEM_BYTES);
    }
}
