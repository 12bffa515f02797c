//! CSV files of `--out DIR`: one per record type ([`RecordType::all`], records from
//! [`super::jsonl::records`]), each with a header row, even when it has no record (then
//! the single column `none`). Nested objects become dotted columns
//! (`tcp.handshake.total_rtt_ns`); arrays of scalars are joined with `;`; other arrays are
//! written as JSON text. Columns are the union of the records' fields, in first-seen order.
//!
//! # Contracts
//!
//! - Two passes over a type's records: the first collects the header (the column names
//!   only), the second writes each row as it is made, through a buffer, to the file. What
//!   is held is the header and one record, whatever the number of records.
//! - Every cell goes through [`csv_cell`]: a spreadsheet opening the file finds no
//!   formula and no raw control byte in it, and no cell longer than Excel holds.
//! - A record that cannot be read back, or a failed write, stops with an error naming the
//!   file; the files written before it are complete, that file is not.

use super::Summary;
use super::escape::csv_cell;
use super::jsonl::{RecordError, RecordType, Records, records};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
/// Flattens `v` into `(column, cell)` pairs.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, x, out);
            }
        }
        Value::Object(_) => out.push((prefix.to_string(), String::new())),
        Value::Array(a) => {
            let cell = if a.iter().all(|x| !x.is_object() && !x.is_array()) {
                a.iter().map(scalar).collect::<Vec<_>>().join(";")
            } else {
                v.to_string()
            };
            out.push((prefix.to_string(), cell));
        }
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes one CSV document of the records `each` makes, which is called twice: for the
/// header, then for the rows.
pub fn write_table<'a>(each: impl Fn() -> Records<'a>, out: impl Write) -> Result<(), RecordError> {
    let mut cells = Vec::new();
    let mut header: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for r in each() {
        cells.clear();
        flatten("", &r?, &mut cells);
        for (k, _) in cells.drain(..) {
            if !seen.contains(&k) {
                seen.insert(k.clone());
                header.push(k);
            }
        }
    }
    drop(seen);
    if header.is_empty() {
        header.push("none".into());
    }
    let mut w = ::csv::Writer::from_writer(out);
    // Every cell, the header's too, goes through the one CSV escaping (no formula, no
    // raw control byte: `escape::csv_cell`); this is the only place cells are written.
    let mut write_row = |cells: &mut dyn Iterator<Item = &str>| -> std::io::Result<()> {
        for c in cells {
            w.write_field(csv_cell(c).as_bytes())?;
        }
        w.write_record(None::<&[u8]>)?;
        Ok(())
    };
    write_row(&mut header.iter().map(String::as_str))?;
    for r in each() {
        cells.clear();
        flatten("", &r?, &mut cells);
        let row: HashMap<&str, &str> = cells
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        write_row(
            &mut header
                .iter()
                .map(|h| row.get(h.as_str()).copied().unwrap_or("")),
        )?;
    }
    w.flush()?;
    Ok(())
}

/// Every CSV file into `dir`, in [`RecordType::all`] order. The error names the file.
pub fn write_files(s: &Summary, dir: &Path) -> Result<(), String> {
    for t in RecordType::all() {
        let name = format!("{}.csv", t.csv_stem());
        let written = std::fs::File::create(dir.join(&name))
            .map_err(RecordError::from)
            .and_then(|f| write_table(|| records(s, t), std::io::BufWriter::new(f)));
        written.map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table(recs: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        write_table(|| Box::new(recs.iter().cloned().map(Ok)), &mut out).unwrap();
        out
    }

    #[test]
    fn nested_records_flatten_to_one_header() {
        let recs = vec![
            json!({"a": 1, "b": {"c": "x,y", "d": [1, 2]}}),
            json!({"a": 2, "e": null, "b": {"c": "z"}}),
        ];
        let s = String::from_utf8(table(&recs)).unwrap();
        assert_eq!(s, "a,b.c,b.d,e\n1,\"x,y\",1;2,\n2,z,,\n");
    }

    #[test]
    fn empty_tables_still_have_a_header() {
        assert_eq!(table(&[]), b"none\n");
    }
}
