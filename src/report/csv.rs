//! CSV files of `--out DIR`: one per record type ([`super::jsonl::RECORD_TYPES`]), each
//! with a header row, even when it has no record. Nested objects become dotted columns
//! (`tcp.handshake.total_rtt_ns`); arrays of scalars are joined with `;`; other arrays are
//! written as JSON text. Columns are the union of the records' fields, in first-seen order.

use super::Summary;
use super::jsonl::{RECORD_TYPES, records};
use serde_json::Value;

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

/// One CSV document from records.
pub fn table(recs: &[Value]) -> Result<Vec<u8>, String> {
    let rows: Vec<Vec<(String, String)>> = recs
        .iter()
        .map(|r| {
            let mut cells = Vec::new();
            flatten("", r, &mut cells);
            cells
        })
        .collect();
    let mut header: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in &rows {
        for (k, _) in r {
            if seen.insert(k.clone()) {
                header.push(k.clone());
            }
        }
    }
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let err = |e: ::csv::Error| e.to_string();
    if header.is_empty() {
        header.push("none".into());
    }
    w.write_record(&header).map_err(err)?;
    for r in rows {
        let map: std::collections::HashMap<&str, &str> =
            r.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        w.write_record(
            header
                .iter()
                .map(|h| map.get(h.as_str()).copied().unwrap_or("")),
        )
        .map_err(err)?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// Every CSV file: `(file name, contents)`, in [`RECORD_TYPES`] order.
pub fn files(s: &Summary) -> Result<Vec<(String, Vec<u8>)>, String> {
    let recs = records(s).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for ((_, stem), (_, r)) in RECORD_TYPES.iter().zip(recs) {
        out.push((format!("{stem}.csv"), table(&r)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_records_flatten_to_one_header() {
        let recs = vec![
            json!({"a": 1, "b": {"c": "x,y", "d": [1, 2]}}),
            json!({"a": 2, "e": null, "b": {"c": "z"}}),
        ];
        let s = String::from_utf8(table(&recs).unwrap()).unwrap();
        assert_eq!(s, "a,b.c,b.d,e\n1,\"x,y\",1;2,\n2,z,,\n");
    }

    #[test]
    fn empty_tables_still_have_a_header() {
        assert_eq!(table(&[]).unwrap(), b"none\n");
    }
}
