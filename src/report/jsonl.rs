//! The report as flat records: one list per record type, shared by `--format jsonl` (one
//! JSON object per line with a `type` field) and the CSV files of `--out` (one file per
//! type). Both are derived from the serialised [`Summary`], so a field added to the model
//! shows up in them without a change here.

use super::Summary;
use serde_json::{Map, Value};

/// Record types in output order: `(type, CSV file stem)`.
pub const RECORD_TYPES: &[(&str, &str)] = &[
    ("capture", "capture"),
    ("connection", "connections"),
    ("connection_throughput", "connection_throughput"),
    ("tunnel_session", "tunnel_sessions"),
    ("tunnel_visitor", "tunnel_visitors"),
    ("tunnel_connection", "tunnel_connections"),
    ("tunnel_anomaly", "tunnel_anomalies"),
    ("quic", "quic"),
    ("tls", "tls"),
    ("http", "http"),
    ("http_disguise", "http_disguise"),
    ("socks", "socks"),
    ("redis", "redis"),
    ("ssh", "ssh"),
    ("openvpn", "openvpn"),
    ("encrypted", "encrypted"),
    ("latency", "latency"),
    ("throughput", "throughput"),
    ("top_talker", "top_talkers"),
];

fn arr(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
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

/// Every record, grouped by type, in [`RECORD_TYPES`] order.
pub fn records(s: &Summary) -> Result<Vec<(&'static str, Vec<Value>)>, serde_json::Error> {
    let doc = serde_json::to_value(s)?;
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let capture = with(
        &[
            ("tunscope", doc["tunscope"].clone()),
            ("flows", doc["flows"].clone()),
            ("connections_omitted", doc["connections_omitted"].clone()),
        ],
        &doc["capture"],
        &[],
    );
    for (t, _) in RECORD_TYPES {
        let recs: Vec<Value> = match *t {
            "capture" => vec![capture.clone()],
            "connection" => arr(&doc, "connections"),
            "connection_throughput" => arr(&doc["throughput"], "connections"),
            "tunnel_session" => arr(&doc["tunnel"], "sessions")
                .iter()
                .map(|x| {
                    let n = x["visitors"].as_array().map_or(0, Vec::len);
                    with(&[("visitor_count", n.into())], x, &["visitors"])
                })
                .collect(),
            "tunnel_visitor" => arr(&doc["tunnel"], "sessions")
                .iter()
                .flat_map(|x| {
                    let ctl = x["control"].clone();
                    arr(x, "visitors")
                        .into_iter()
                        .map(move |v| with(&[("control", ctl.clone())], &v, &[]))
                })
                .collect(),
            "tunnel_connection" => arr(&doc["tunnel"], "tunnels"),
            "tunnel_anomaly" => arr(&doc["tunnel"], "anomalies"),
            "quic" => arr(&doc["quic"], "connections"),
            "http" => arr(&doc, "http")
                .iter()
                .flat_map(|h| {
                    let (c, sv) = (h["client"].clone(), h["server"].clone());
                    arr(h, "transactions").into_iter().map(move |t| {
                        with(&[("client", c.clone()), ("server", sv.clone())], &t, &[])
                    })
                })
                .collect(),
            "redis" => arr(&doc, "redis")
                .iter()
                .flat_map(|h| {
                    let (c, sv) = (h["client"].clone(), h["server"].clone());
                    arr(h, "commands").into_iter().map(move |t| {
                        with(&[("client", c.clone()), ("server", sv.clone())], &t, &[])
                    })
                })
                .collect(),
            "latency" => arr(&doc["latency"], "categories")
                .iter()
                .flat_map(|c| {
                    let cat = c["category"].clone();
                    let mut rows = vec![with(
                        &[("category", cat.clone()), ("server", "*".into())],
                        c,
                        &["by_server", "what"],
                    )];
                    rows.extend(
                        arr(c, "by_server")
                            .into_iter()
                            .map(|srv| with(&[("category", cat.clone())], &srv, &[])),
                    );
                    rows
                })
                .collect(),
            "throughput" => {
                let bin_s = doc["throughput"]["bin_s"].as_f64().unwrap_or(0.0);
                let start = doc["throughput"]["start"].as_f64().unwrap_or(0.0);
                arr(&doc["throughput"], "series")
                    .iter()
                    .flat_map(|sr| {
                        let (p, d) = (sr["protocol"].clone(), sr["direction"].clone());
                        arr(sr, "bins").into_iter().enumerate().map(move |(i, b)| {
                            let mut m = Map::new();
                            m.insert("protocol".into(), p.clone());
                            m.insert("direction".into(), d.clone());
                            m.insert("bin".into(), i.into());
                            let t0 = start + i as f64 * bin_s;
                            m.insert("start".into(), (((t0 * 1e6).round()) / 1e6).into());
                            m.insert("bin_s".into(), bin_s.into());
                            m.insert("bytes".into(), b);
                            Value::Object(m)
                        })
                    })
                    .collect()
            }
            "top_talker" => arr(&doc["throughput"], "top_talkers"),
            other => arr(&doc, other),
        };
        out.push((t, recs));
    }
    Ok(out)
}

/// `--format jsonl`: one line per record, each with its `type` first.
pub fn render(s: &Summary) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for (t, recs) in records(s)? {
        for r in recs {
            let line = with(&[("type", t.into())], &r, &[]);
            out.push_str(&serde_json::to_string(&line)?);
            out.push('\n');
        }
    }
    Ok(out)
}
