//! `report.html` of `--out DIR`: one self-contained file (no script, no network access):
//! inline SVG charts drawn with plotters' SVG backend, tables, templated with minijinja
//! (`templates/report.html.j2`, autoescaped; only the charts, drawn here, go in unescaped).
//!
//! Charts: payload throughput over time per protocol and direction; one latency CDF per
//! category with values; a tunnel-session timeline (each control connection's lifetime with
//! its visitors and tunnel connections, from the connection records).

use super::Summary;
use super::jsonl::records;
use super::latency;
use crate::flow::Endpoint;
use crate::timestamp::Timestamp;
use minijinja::{Environment, context};
use plotters::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

const TEMPLATE: &str = include_str!("templates/report.html.j2");
/// Rows of each HTML table at most (the CSV files have them all).
pub const MAX_TABLE_ROWS: usize = 200;
/// Rows of the tunnel timeline at most.
pub const MAX_TIMELINE_ROWS: usize = 60;

#[derive(Serialize)]
struct Table {
    id: String,
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    omitted: usize,
}

#[derive(Serialize)]
struct Chart {
    id: String,
    title: String,
    svg: String,
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                let s = format!("{f:.3}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
            _ => n.to_string(),
        },
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            a.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

/// A table of selected (dotted) fields of records.
fn table(id: &str, title: &str, recs: &[Value], cols: &[(&str, &str)]) -> Table {
    let get = |r: &Value, path: &str| {
        let mut v = r;
        for part in path.split('.') {
            v = v.get(part).unwrap_or(&Value::Null);
        }
        cell(v)
    };
    Table {
        id: id.to_string(),
        title: title.to_string(),
        headers: cols.iter().map(|(h, _)| h.to_string()).collect(),
        rows: recs
            .iter()
            .take(MAX_TABLE_ROWS)
            .map(|r| cols.iter().map(|(_, p)| get(r, p)).collect())
            .collect(),
        omitted: recs.len().saturating_sub(MAX_TABLE_ROWS),
    }
}

fn palette(i: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
    ];
    C[i % C.len()]
}

fn finite_max(v: impl Iterator<Item = f64>) -> f64 {
    let m = v.filter(|x| x.is_finite()).fold(0.0f64, f64::max);
    if m > 0.0 { m } else { 1.0 }
}

/// Throughput over time: bytes per second per protocol and direction.
fn throughput_chart(s: &Summary) -> Result<String, String> {
    let t = &s.throughput;
    let bin_s = if t.bin_s > 0.0 { t.bin_s } else { 1.0 };
    let xmax = (t.bins.max(1) as f64) * bin_s;
    let ymax = finite_max(
        t.series
            .iter()
            .flat_map(|x| x.bins.iter().map(|b| *b as f64 / bin_s)),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax * 1.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the first packet")
            .y_desc("payload bytes/s")
            .draw()
            .map_err(err)?;
        for (i, sr) in t.series.iter().enumerate() {
            let color = palette(i);
            // A step line: each bin's rate held over the bin.
            let mut pts = Vec::with_capacity(sr.bins.len() * 2);
            for (k, b) in sr.bins.iter().enumerate() {
                let r = *b as f64 / bin_s;
                pts.push((k as f64 * bin_s, r));
                pts.push(((k + 1) as f64 * bin_s, r));
            }
            let style = if sr.direction == crate::flow::Direction::ClientToServer {
                ShapeStyle::from(&color).stroke_width(2)
            } else {
                ShapeStyle::from(&color.mix(0.6)).stroke_width(2)
            };
            chart
                .draw_series(LineSeries::new(pts, style))
                .map_err(err)?
                .label(format!(
                    "{} {}",
                    sr.protocol,
                    if sr.direction == crate::flow::Direction::ClientToServer {
                        "c2s"
                    } else {
                        "s2c"
                    }
                ))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        if !t.series.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One CDF per category: x latency (ms), y fraction of values at or below.
fn latency_chart(cat: &str, mut vals: Vec<f64>, color: RGBColor) -> Result<String, String> {
    vals.sort_by(f64::total_cmp);
    let xmax = finite_max(vals.iter().copied());
    let n = vals.len() as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (460, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(cat, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..xmax * 1.05, 0f64..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("ms")
            .y_desc("fraction")
            .draw()
            .map_err(err)?;
        let mut pts = vec![(0.0, 0.0)];
        for (i, v) in vals.iter().enumerate() {
            pts.push((*v, i as f64 / n));
            pts.push((*v, (i + 1) as f64 / n));
        }
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(
                vals.iter()
                    .enumerate()
                    .map(|(i, v)| Circle::new((*v, (i + 1) as f64 / n), 3, color.filled())),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Lifetimes (first, last packet) of the connections with the given endpoints, the first
/// listed connection of each pair, in one pass over the connection records.
fn lifetimes(
    s: &Summary,
    wanted: impl IntoIterator<Item = (Endpoint, Endpoint)>,
) -> HashMap<(Endpoint, Endpoint), (Timestamp, Timestamp)> {
    let wanted: HashSet<(Endpoint, Endpoint)> = wanted.into_iter().collect();
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return found;
    }
    for c in s.connections.iter() {
        let k = (c.client, c.server);
        if wanted.contains(&k) {
            found.entry(k).or_insert((c.first_ts, c.last_ts));
            if found.len() == wanted.len() {
                break;
            }
        }
    }
    found
}

/// The tunnel sessions: one row per control connection, visitor and tunnel connection.
fn timeline_chart(s: &Summary) -> Result<Option<String>, String> {
    let t0 = match s.capture.first_ts {
        Some(t) => t,
        None => return Ok(None),
    };
    // Every control connection, visitor and tunnel connection drawn.
    let mut wanted = Vec::new();
    for sess in &s.tunnel.sessions {
        wanted.push((sess.control.client, sess.control.server));
        wanted.extend(sess.visitors.iter().map(|v| (v.client, v.server)));
    }
    wanted.extend(s.tunnel.tunnels.iter().map(|t| (t.client, t.server)));
    let lives = lifetimes(s, wanted);
    let lifetime = |c: Endpoint, sv: Endpoint| lives.get(&(c, sv)).copied();
    // (label, start, end, colour index)
    let mut rows: Vec<(String, f64, f64, usize)> = Vec::new();
    let secs = |t: Timestamp| t.nanos_since(t0) as f64 / 1e9;
    let mut push = |label: String, life: Option<(Timestamp, Timestamp)>, start: Timestamp, k| {
        let (a, b) = life.unwrap_or((start, start));
        if rows.len() < MAX_TIMELINE_ROWS {
            rows.push((label, secs(a), secs(b), k));
        }
    };
    for sess in &s.tunnel.sessions {
        let (c, sv) = (sess.control.client, sess.control.server);
        let first = sess.summary.timeline.first_seen.unwrap_or(t0);
        push(format!("control {c}"), lifetime(c, sv), first, 0);
        for v in &sess.visitors {
            push(
                format!("  visitor {}", v.client),
                lifetime(v.client, v.server),
                v.syn,
                1,
            );
            if let Some(te) = v.tunnel {
                let tn = s.tunnel.tunnels.iter().find(|x| x.client == te);
                if let Some(tn) = tn {
                    push(
                        format!("    tunnel {}", tn.client),
                        lifetime(tn.client, tn.server),
                        tn.syn,
                        2,
                    );
                }
            }
        }
        // Tunnel connections of this session with no visitor seen (client-side capture).
        for tn in s.tunnel.tunnels.iter().filter(|x| {
            x.visitor.is_none()
                && x.session
                    .as_ref()
                    .is_some_and(|r| r.client == sess.control.client)
        }) {
            push(
                format!("  tunnel {}", tn.client),
                lifetime(tn.client, tn.server),
                tn.syn,
                2,
            );
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let xmax = finite_max(rows.iter().map(|r| r.2)).max(s.capture.duration_s);
    let n = rows.len() as i32;
    let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    let height = (80 + 22 * rows.len()) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(230)
            .build_cartesian_2d(0f64..xmax * 1.02, 0i32..n)
            .map_err(err)?;
        let fmt = |y: &i32| {
            // Row r is drawn between n-r-1 and n-r; its label sits on the lower line.
            let r = (n - 1 - *y) as usize;
            labels.get(r).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len())
            .y_label_formatter(&fmt)
            .x_desc("seconds since the first packet")
            .draw()
            .map_err(err)?;
        let colors = [
            RGBColor(31, 119, 180),
            RGBColor(255, 127, 14),
            RGBColor(44, 160, 44),
        ];
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, a, b, k))| {
                let y = n - 1 - i as i32;
                let b = if *b - *a < xmax * 0.003 {
                    *a + xmax * 0.003
                } else {
                    *b
                };
                Rectangle::new([(*a, y), (b, y + 1)], colors[*k % 3].mix(0.8).filled())
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// Renders `report.html`.
pub fn render(s: &Summary) -> Result<String, String> {
    let recs = records(s).map_err(err)?;
    let get = |t: &str| {
        recs.iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    };
    let mut charts = vec![Chart {
        id: "throughput".into(),
        title: "Throughput over time (payload bytes/s per protocol and direction)".into(),
        svg: throughput_chart(s)?,
    }];
    let mut latency_charts = Vec::new();
    for (i, (cat, vals)) in latency::values(s).into_iter().enumerate() {
        if !vals.is_empty() {
            latency_charts.push(Chart {
                id: format!("latency-{cat}"),
                title: cat.to_string(),
                svg: latency_chart(cat, vals, palette(i))?,
            });
        }
    }
    if let Some(svg) = timeline_chart(s)? {
        charts.push(Chart {
            id: "timeline".into(),
            title: "Tunnel sessions: control connections, their visitors and tunnels".into(),
            svg,
        });
    }
    let mut conns: Vec<Value> = get("connection").to_vec();
    conns.sort_by_key(|c| {
        std::cmp::Reverse(
            c["payload_bytes_c2s"].as_u64().unwrap_or(0)
                + c["payload_bytes_s2c"].as_u64().unwrap_or(0),
        )
    });
    let latency_rows: Vec<Value> = get("latency").to_vec();
    let tables = vec![
        table(
            "latency",
            "Latency (ms)",
            &latency_rows,
            &[
                ("category", "category"),
                ("server", "server"),
                ("count", "count"),
                ("min", "min"),
                ("p50", "p50"),
                ("p90", "p90"),
                ("p99", "p99"),
                ("max", "max"),
            ],
        ),
        table(
            "connections",
            "Connections (largest first)",
            &conns,
            &[
                ("proto", "proto"),
                ("client", "client"),
                ("server", "server"),
                ("app", "app"),
                ("duration s", "duration_s"),
                ("payload c2s", "payload_bytes_c2s"),
                ("payload s2c", "payload_bytes_s2c"),
                ("handshake rtt ns", "tcp.handshake.total_rtt_ns"),
                ("end", "end"),
            ],
        ),
        table(
            "connection-throughput",
            "Connection throughput (bytes/s)",
            get("connection_throughput"),
            &[
                ("client", "client"),
                ("server", "server"),
                ("app", "app"),
                ("mean c2s", "mean_bps_c2s"),
                ("peak c2s", "peak_bps_c2s"),
                ("mean s2c", "mean_bps_s2c"),
                ("peak s2c", "peak_bps_s2c"),
            ],
        ),
        table(
            "top-talkers",
            "Top talkers",
            get("top_talker"),
            &[
                ("host", "host"),
                ("sent", "bytes_sent"),
                ("received", "bytes_received"),
                ("connections", "connections"),
            ],
        ),
        table(
            "tunnel-sessions",
            "Tunnel sessions",
            get("tunnel_session"),
            &[
                ("control client", "control.client"),
                ("control server", "control.server"),
                ("user", "user"),
                ("auth", "auth"),
                ("uid", "uid"),
                ("port", "port"),
                ("visitors", "visitor_count"),
                ("keep-alives", "keepalive.count"),
                ("ended", "ended.how"),
            ],
        ),
        table(
            "tunnel-visitors",
            "Tunnel visitors",
            get("tunnel_visitor"),
            &[
                ("visitor", "client"),
                ("exposed", "server"),
                ("tunnel", "tunnel"),
                ("pairing", "pairing"),
                ("app", "app"),
                ("bytes c2s", "bytes_c2s"),
                ("bytes s2c", "bytes_s2c"),
                (
                    "syn->NEW_CONNECTION ms",
                    "latency_ms.visitor_syn_to_new_connection",
                ),
                ("->tunnel SYN ms", "latency_ms.new_connection_to_tunnel_syn"),
                ("->first byte ms", "latency_ms.tunnel_syn_to_first_byte"),
                ("total ms", "latency_ms.total"),
            ],
        ),
        table(
            "quic",
            "QUIC",
            get("quic"),
            &[
                ("client", "client"),
                ("server", "server"),
                ("version", "version"),
                ("sni", "sni"),
                ("alpn", "alpn"),
                ("handshake ms", "handshake_ms"),
            ],
        ),
        table(
            "tls",
            "TLS",
            get("tls"),
            &[
                ("client", "client"),
                ("server", "server"),
                ("version", "version"),
                ("sni", "sni"),
                ("alpn", "alpn"),
                ("handshake ms", "handshake_ms"),
            ],
        ),
        table(
            "http",
            "HTTP",
            get("http"),
            &[
                ("client", "client"),
                ("server", "server"),
                ("method", "method"),
                ("host", "host"),
                ("target", "target"),
                ("status", "status"),
                ("latency ms", "latency_ms"),
            ],
        ),
        table(
            "redis",
            "Redis",
            get("redis"),
            &[
                ("client", "client"),
                ("server", "server"),
                ("command", "name"),
                ("latency ms", "latency_ms"),
            ],
        ),
    ];
    let c = &s.capture;
    let overview = vec![
        (
            "files",
            c.files
                .iter()
                .map(|f| f.path.clone())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("packets", c.packets.to_string()),
        ("bytes", super::text::human_bytes(c.bytes)),
        (
            "time",
            match (c.first_ts, c.last_ts) {
                (Some(a), Some(b)) => format!("{} .. {} UTC", a.utc(), b.utc()),
                _ => "-".into(),
            },
        ),
        ("duration", format!("{:.3} s", c.duration_s)),
        (
            "connections",
            format!("{} TCP, {} UDP", s.flows.tcp, s.flows.udp),
        ),
        ("tunnel sessions", s.tunnel.sessions.len().to_string()),
        ("anomalies", c.anomalies.total.to_string()),
        ("complete", c.complete.to_string()),
    ];
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE).map_err(err)?;
    let tmpl = env.get_template("report.html").map_err(err)?;
    tmpl.render(context! {
        version => s.tunscope.version,
        title => c.files.first().map(|f| f.path.clone()).unwrap_or_else(|| "capture".into()),
        overview => overview,
        charts => charts,
        latency_charts => latency_charts,
        tables => tables,
    })
    .map_err(|e| e.to_string())
}
