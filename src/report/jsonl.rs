//! The report as flat records: one stream per record type, shared by `--format jsonl` (one
//! JSON object per line with a `type` field), the CSV files of `--out` (one file per type)
//! and the tables of `report.html`. Each record is its model value serialised with serde,
//! so a field added to the model shows up in them without a change here; the few types
//! that are reshaped (HTTP transactions and Redis commands with their connection's
//! endpoints, tunnel sessions without their visitors and visitors with their session's
//! `control`, latency rows per category and server, throughput bins) are reshaped in one
//! place, `source`, which every rendering reads through.
//!
//! # Contracts
//!
//! - [`records`] yields the records of one type lazily, in report order. The lists that
//!   grow with the capture (connections, per-connection throughput, application records)
//!   are read from their [`RecordSpool`]s one record at a time: what is held at any moment
//!   is one record's JSON value (an HTTP or Redis record's rows together), never a list.
//!   The bounded parts (capture, tunnel, QUIC, latency, throughput series, top talkers)
//!   are converted a list at a time.
//! - [`write()`] writes every record of every type, in [`RecordType::all`] order, straight
//!   to a writer, one line each; nothing is kept after a line is written. Records that
//!   are not reshaped are serialised from their model type (no JSON value in between),
//!   with the same bytes as through [`records`].
//! - A record that cannot be read back from a spool's temporary file ends the stream with
//!   a [`RecordError::Spool`]: whatever was written before it stays written.

use super::spool::{RecordSpool, SpoolError};
use super::{AppTable, Summary, TableVisitor};
use crate::analyzers::api::AppRecord;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::io::Write;

/// Record types, in output order: the report's own, then one per application table of
/// the registry ([`AppTable`], in its order), then the computed ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordType {
    Capture,
    Connection,
    ConnectionThroughput,
    TunnelSession,
    TunnelVisitor,
    TunnelConnection,
    TunnelAnomaly,
    Quic,
    App(AppTable),
    Latency,
    Throughput,
    TopTalker,
}

impl RecordType {
    /// Every type, in output order.
    pub fn all() -> impl Iterator<Item = RecordType> {
        use RecordType::*;
        let head = [
            Capture,
            Connection,
            ConnectionThroughput,
            TunnelSession,
            TunnelVisitor,
            TunnelConnection,
            TunnelAnomaly,
            Quic,
        ];
        head.into_iter()
            .chain(AppTable::ALL.iter().map(|&t| App(t)))
            .chain([Latency, Throughput, TopTalker])
    }

    /// The `type` field of its JSONL lines.
    pub fn name(self) -> &'static str {
        self.names().0
    }

    /// Its CSV file in `--out DIR`, without `.csv`.
    pub fn csv_stem(self) -> &'static str {
        self.names().1
    }

    fn names(self) -> (&'static str, &'static str) {
        match self {
            RecordType::Capture => ("capture", "capture"),
            RecordType::Connection => ("connection", "connections"),
            RecordType::ConnectionThroughput => ("connection_throughput", "connection_throughput"),
            RecordType::TunnelSession => ("tunnel_session", "tunnel_sessions"),
            RecordType::TunnelVisitor => ("tunnel_visitor", "tunnel_visitors"),
            RecordType::TunnelConnection => ("tunnel_connection", "tunnel_connections"),
            RecordType::TunnelAnomaly => ("tunnel_anomaly", "tunnel_anomalies"),
            RecordType::Quic => ("quic", "quic"),
            RecordType::App(t) => (t.name(), t.name()),
            RecordType::Latency => ("latency", "latency"),
            RecordType::Throughput => ("throughput", "throughput"),
            RecordType::TopTalker => ("top_talker", "top_talkers"),
        }
    }
}

/// Why a record stream or its output stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A record could not be read back from a spool's temporary file.
    #[error("{0}")]
    Spool(#[from] SpoolError),
    /// A record could not be converted to JSON.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Writing the output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl RecordError {
    /// An error of serde_json writing to a writer: [`RecordError::Io`] when the writer
    /// failed (so that a closed pipe can be told apart), else [`RecordError::Json`].
    pub fn from_json_write(e: serde_json::Error) -> RecordError {
        if e.is_io() {
            RecordError::Io(e.into())
        } else {
            RecordError::Json(e)
        }
    }
}

/// A stream of records as JSON values.
pub type Records<'a> = Box<dyn Iterator<Item = Result<Value, RecordError>> + 'a>;

/// The records of type `t`, in report order, one at a time (see the module documentation).
pub fn records(s: &Summary, t: RecordType) -> Records<'_> {
    match source(s, t) {
        Source::Values(values) => values,
        Source::Typed(typed) => Box::new(typed.map(|r| Ok(r?.to_value()?))),
    }
}

/// A record still in its model type, serialised only when written.
trait TypedRecord {
    fn to_value(&self) -> serde_json::Result<Value>;
    /// Compact JSON, appended to `buf`.
    fn write_compact(&self, buf: &mut Vec<u8>) -> serde_json::Result<()>;
}

impl<T: Serialize> TypedRecord for T {
    fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }

    fn write_compact(&self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(buf, self)
    }
}

type TypedRecords<'a> =
    Box<dyn Iterator<Item = Result<Box<dyn TypedRecord + 'a>, RecordError>> + 'a>;

/// Where the records of one type come from: the model's own records (written as they are,
/// or converted to JSON values for CSV and HTML), or values reshaped here.
enum Source<'a> {
    Typed(TypedRecords<'a>),
    Values(Records<'a>),
}

fn source(s: &Summary, t: RecordType) -> Source<'_> {
    use Source::{Typed, Values};
    match t {
        RecordType::Capture => Values(eager(|| Ok(vec![capture_record(s)?]))),
        RecordType::Connection => Typed(spooled(&s.connections)),
        RecordType::ConnectionThroughput => Typed(spooled(&s.throughput.connections)),
        RecordType::TunnelSession => Values(eager(|| tunnel_sessions(s))),
        RecordType::TunnelVisitor => Values(eager(|| tunnel_visitors(s))),
        RecordType::TunnelConnection => Typed(listed(&s.tunnel.tunnels)),
        RecordType::TunnelAnomaly => Typed(listed(&s.tunnel.anomalies)),
        RecordType::Quic => Typed(listed(&s.quic.connections)),
        RecordType::App(table) => {
            let mut v = AppSource(None);
            s.apps.visit(table, &mut v);
            v.0.unwrap_or_else(|| Values(Box::new(std::iter::empty())))
        }
        RecordType::Latency => Values(eager(|| latency_rows(s))),
        RecordType::Throughput => Values(throughput_bins(s)),
        RecordType::TopTalker => Typed(listed(&s.throughput.top_talkers)),
    }
}

/// The records of one application table: one per record, or one per row (HTTP
/// transactions, Redis commands) for a record type with rows.
struct AppSource<'a>(Option<Source<'a>>);

impl<'a> TableVisitor<'a> for AppSource<'a> {
    fn visit<T: AppRecord + 'a>(&mut self, _table: AppTable, records: &'a RecordSpool<T>) {
        self.0 = Some(match T::ROWS {
            Some(rows) => Source::Values(rows_with_endpoints(records, rows)),
            None => Source::Typed(spooled(records)),
        });
    }
}

/// `--format jsonl`: every record, one line each, each with its `type` first.
///
/// Lines go through a concretely typed buffer, so serde_json's many small writes are not
/// virtual calls into `out`; it is flushed at the end.
pub fn write(s: &Summary, out: &mut dyn Write) -> Result<(), RecordError> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut buf = Vec::new();
    for t in RecordType::all() {
        match source(s, t) {
            Source::Values(values) => {
                for r in values {
                    write_line(&mut out, &mut buf, t.name(), &r?)?;
                }
            }
            Source::Typed(typed) => {
                for r in typed {
                    write_line(&mut out, &mut buf, t.name(), &*r?)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// One line: `{"type":NAME,...}` with the record's fields after `type`, compact, and a
/// line break. The record's compact JSON (made in `buf`) is written as it is after `type`;
/// a record that is not an object, or may have a `type` field of its own, is merged with
/// [`with`] instead (its own `type` then keeps its value).
fn write_line(
    out: &mut impl Write,
    buf: &mut Vec<u8>,
    name: &str,
    record: &(impl TypedRecord + ?Sized),
) -> Result<(), RecordError> {
    buf.clear();
    record.write_compact(buf)?;
    match buf.strip_prefix(b"{") {
        Some(fields) if memchr::memmem::find(fields, b"\"type\":").is_none() => {
            out.write_all(b"{\"type\":")?;
            serde_json::to_writer(&mut *out, name).map_err(RecordError::from_json_write)?;
            if fields != b"}" {
                out.write_all(b",")?;
            }
            out.write_all(fields)?;
        }
        _ => {
            let merged = with(&[("type", name.into())], &record.to_value()?, &[]);
            serde_json::to_writer(&mut *out, &merged).map_err(RecordError::from_json_write)?;
        }
    }
    out.write_all(b"\n")?;
    Ok(())
}

/// `extra` fields first, then `v`'s own (minus `drop`).
fn with(extra: &[(&str, Value)], v: &Value, drop: &[&str]) -> Value {
    let mut m = Map::new();
    for (k, x) in extra {
        m.insert((*k).to_string(), x.clone());
    }
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            if !drop.contains(&k.as_str()) {
                m.insert(k.clone(), x.clone());
            }
        }
    }
    Value::Object(m)
}

/// The array `v[key]`, or nothing.
fn elements<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Records made all at once (a bounded part of the report).
fn eager<'a>(make: impl FnOnce() -> Result<Vec<Value>, RecordError>) -> Records<'a> {
    match make() {
        Ok(v) => Box::new(v.into_iter().map(Ok)),
        Err(e) => Box::new(std::iter::once(Err(e))),
    }
}

/// One record per item of a list held in memory.
fn listed<T: Serialize>(items: &[T]) -> TypedRecords<'_> {
    Box::new(
        items
            .iter()
            .map(|x| Ok(Box::new(x) as Box<dyn TypedRecord>)),
    )
}

/// One record per spooled record, read back as it is reached.
fn spooled<T: Serialize + DeserializeOwned + Clone>(spool: &RecordSpool<T>) -> TypedRecords<'_> {
    Box::new(
        spool
            .try_iter()
            .map(|r| Ok(Box::new(r?) as Box<dyn TypedRecord>)),
    )
}

/// One row per element of each spooled record's `field` (HTTP transactions, Redis
/// commands), each with the record's `client` and `server` first.
fn rows_with_endpoints<'a, T: Serialize + DeserializeOwned + Clone>(
    spool: &'a RecordSpool<T>,
    field: &'static str,
) -> Records<'a> {
    let values = spool.try_iter().map(|r| Ok(serde_json::to_value(&*r?)?));
    Box::new(values.flat_map(move |r: Result<Value, RecordError>| {
        let rows: Vec<Result<Value, RecordError>> = match r {
            Ok(rec) => {
                let endpoints = [
                    ("client", rec["client"].clone()),
                    ("server", rec["server"].clone()),
                ];
                elements(&rec, field)
                    .iter()
                    .map(|row| Ok(with(&endpoints, row, &[])))
                    .collect()
            }
            Err(e) => vec![Err(e)],
        };
        rows
    }))
}

/// The `capture` object with `tunscope`, `flows` and `connections_omitted` first.
fn capture_record(s: &Summary) -> Result<Value, RecordError> {
    Ok(with(
        &[
            ("tunscope", serde_json::to_value(&s.tunscope)?),
            ("flows", serde_json::to_value(&s.flows)?),
            (
                "connections_omitted",
                serde_json::to_value(s.connections_omitted)?,
            ),
        ],
        &serde_json::to_value(&s.capture)?,
        &[],
    ))
}

/// Tunnel sessions without their visitors, with `visitor_count`.
fn tunnel_sessions(s: &Summary) -> Result<Vec<Value>, RecordError> {
    let mut out = Vec::with_capacity(s.tunnel.sessions.len());
    for sess in &s.tunnel.sessions {
        let x = serde_json::to_value(sess)?;
        let n = x["visitors"].as_array().map_or(0, Vec::len);
        out.push(with(&[("visitor_count", n.into())], &x, &["visitors"]));
    }
    Ok(out)
}

/// Every session's visitors, each with its session's `control` first.
fn tunnel_visitors(s: &Summary) -> Result<Vec<Value>, RecordError> {
    let mut out = Vec::new();
    for sess in &s.tunnel.sessions {
        let x = serde_json::to_value(sess)?;
        let control = [("control", x["control"].clone())];
        out.extend(
            elements(&x, "visitors")
                .iter()
                .map(|v| with(&control, v, &[])),
        );
    }
    Ok(out)
}

/// Per category: one row for all servers (`server` `*`), then one per server.
fn latency_rows(s: &Summary) -> Result<Vec<Value>, RecordError> {
    let doc = serde_json::to_value(&s.latency)?;
    let mut out = Vec::new();
    for c in elements(&doc, "categories") {
        let cat = c["category"].clone();
        out.push(with(
            &[("category", cat.clone()), ("server", "*".into())],
            c,
            &["by_server", "what"],
        ));
        for srv in elements(c, "by_server") {
            out.push(with(&[("category", cat.clone())], srv, &[]));
        }
    }
    Ok(out)
}

/// One row per series and bin; a series' rows are made when it is reached.
fn throughput_bins(s: &Summary) -> Records<'_> {
    let t = &s.throughput;
    // As the JSON document has them: a number, or null (taken as 0) when not finite.
    let number = |v: Result<Value, serde_json::Error>| v.map(|x| x.as_f64().unwrap_or(0.0));
    let (bin_s, start) = match (
        number(serde_json::to_value(t.bin_s)),
        number(serde_json::to_value(t.start)),
    ) {
        (Ok(bin_s), Ok(start)) => (bin_s, start),
        (Err(e), _) | (_, Err(e)) => return Box::new(std::iter::once(Err(e.into()))),
    };
    Box::new(t.series.iter().flat_map(move |series| -> Records<'_> {
        let mut sr = match serde_json::to_value(series) {
            Ok(sr) => sr,
            Err(e) => return Box::new(std::iter::once(Err(e.into()))),
        };
        let mut take = |k: &str| sr.get_mut(k).map_or(Value::Null, Value::take);
        let (protocol, direction) = (take("protocol"), take("direction"));
        let bins = match take("bins") {
            Value::Array(bins) => bins,
            _ => Vec::new(),
        };
        Box::new(bins.into_iter().enumerate().map(move |(i, bytes)| {
            let mut m = Map::new();
            m.insert("protocol".into(), protocol.clone());
            m.insert("direction".into(), direction.clone());
            m.insert("bin".into(), i.into());
            let t0 = start + i as f64 * bin_s;
            m.insert("start".into(), (((t0 * 1e6).round()) / 1e6).into());
            m.insert("bin_s".into(), bin_s.into());
            m.insert("bytes".into(), bytes);
            Ok(Value::Object(m))
        }))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(name: &str, record: &(impl TypedRecord + ?Sized)) -> String {
        let mut out = Vec::new();
        write_line(&mut out, &mut Vec::new(), name, record).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_line_is_the_record_with_its_type_first() {
        let record =
            json!({"src": "10.0.0.1", "bytes": 7, "nested": {"a": [1, null]}, "s": "q\"\n"});
        let expected = json!({"type": "connection", "src": "10.0.0.1", "bytes": 7,
                              "nested": {"a": [1, null]}, "s": "q\"\n"});
        let got = line("connection", &record);
        assert_eq!(
            got,
            format!("{}\n", serde_json::to_string(&expected).unwrap())
        );
        // Field order is the record's, after `type`.
        assert!(
            got.starts_with(r#"{"type":"connection","src":"10.0.0.1","bytes":7,"#),
            "{got}"
        );
        assert_eq!(line("capture", &json!({})), "{\"type\":\"capture\"}\n");
    }

    #[test]
    fn a_model_type_gives_the_same_line_as_its_json_value() {
        #[derive(Serialize)]
        struct Conn<'a> {
            src: &'a str,
            bytes: u64,
            tcp: Option<Vec<u8>>,
        }
        #[derive(Serialize)]
        struct Empty {}
        let conn = Conn {
            src: "10.0.0.1",
            bytes: 7,
            tcp: Some(vec![1, 2]),
        };
        assert_eq!(
            line("connection", &conn),
            "{\"type\":\"connection\",\"src\":\"10.0.0.1\",\"bytes\":7,\"tcp\":[1,2]}\n"
        );
        assert_eq!(line("capture", &Empty {}), "{\"type\":\"capture\"}\n");
        // Not an object: only `type` (as the merge always did).
        assert_eq!(line("quic", &json!("text")), "{\"type\":\"quic\"}\n");
        // A nested `type` is not the record's own: it stays where it is.
        let v: Value = serde_json::from_str(&line("quic", &json!({"a": {"type": 1}}))).unwrap();
        assert_eq!(v, json!({"type": "quic", "a": {"type": 1}}));
    }

    #[test]
    fn a_record_with_its_own_type_keeps_one_type_field() {
        let got = line("quic", &json!({"a": 1, "type": "initial"}));
        let v: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(got.matches("\"type\"").count(), 1, "{got}");
        assert_eq!(v["type"], "initial");
        assert_eq!(v["a"], 1);
    }
}
