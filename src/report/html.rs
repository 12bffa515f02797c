//! `report.html` of `--out DIR`: one self-contained file (no script, no network access):
//! inline SVG charts drawn with plotters' SVG backend, tables, templated with minijinja
//! (`templates/report.html.j2`, autoescaped; only the charts, drawn here, go in unescaped).
//!
//! Charts: payload throughput over time per protocol and direction; one latency CDF per
//! category with values; a tunnel-session timeline (each control connection's lifetime with
//! its visitors and tunnel connections, from the connection records).
//!
//! # Contracts
//!
//! The page's size and the memory it takes are bounded, whatever the number of records:
//!
//! - Each table shows at most [`MAX_TABLE_ROWS`] rows, with the number of rows left out
//!   and the CSV file that has them all under it. The rows are the type's first records
//!   (from [`super::jsonl::records`], read one at a time); the connections table shows the
//!   largest connections by payload bytes (ties in report order), kept while the records
//!   stream by, never more than [`MAX_TABLE_ROWS`] at a time.
//! - A latency CDF is drawn from every value while a category has at most
//!   [`latency::CDF_EXACT_VALUES`]; beyond, from [`latency::CDF_QUANTILES`] quantiles of a
//!   histogram of them all (3 significant digits), as its caption says.
//! - The timeline has at most [`MAX_TIMELINE_ROWS`] rows; the throughput chart is bounded
//!   by the series' own limits (`report::throughput`).

use super::jsonl::{RecordError, RecordType, Records, records};
use super::latency::{self, CdfValues};
use super::spool::RecordSpool;
use super::{AppTable, Summary, TableVisitor, top_n};
use crate::analyzers::api::AppRecord;
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
    /// Records not shown.
    omitted: usize,
    /// The CSV file with every record.
    csv: String,
}

#[derive(Serialize)]
struct Chart {
    id: String,
    title: String,
    svg: String,
    /// Said under a latency chart, when not empty (how its CDF was drawn).
    caption: String,
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

/// Records chosen for a table, and how many records the type has in all.
struct Shown {
    records: Vec<Value>,
    total: usize,
}

/// The first `n` records of a stream, counting the rest.
fn first_records(recs: Records<'_>, n: usize) -> Result<Shown, RecordError> {
    let mut shown = Shown {
        records: Vec::new(),
        total: 0,
    };
    for r in recs {
        let r = r?;
        if shown.records.len() < n {
            shown.records.push(r);
        }
        shown.total += 1;
    }
    Ok(shown)
}

/// A connection record's payload bytes, both ways.
fn payload_bytes(c: &Value) -> u64 {
    let bytes = |k: &str| c[k].as_u64().unwrap_or(0);
    bytes("payload_bytes_c2s").saturating_add(bytes("payload_bytes_s2c"))
}

/// The `n` connection records with the most payload bytes, largest first (ties in report
/// order), holding at most `n` while the records stream by.
fn largest_connections(recs: Records<'_>, n: usize) -> Result<Shown, RecordError> {
    let mut total = 0;
    let mut failed = None;
    let ok = recs.map_while(|r| match r {
        Ok(v) => {
            total += 1;
            Some(v)
        }
        Err(e) => {
            failed = Some(e);
            None
        }
    });
    let records = top_n(ok, n, |a, b| payload_bytes(b).cmp(&payload_bytes(a)));
    match failed {
        Some(e) => Err(e),
        None => Ok(Shown { records, total }),
    }
}

/// The table `spec` describes, of the records shown.
fn table(spec: &TableSpec, shown: Shown) -> Table {
    let get = |r: &Value, path: &str| {
        let mut v = r;
        for part in path.split('.') {
            v = v.get(part).unwrap_or(&Value::Null);
        }
        cell(v)
    };
    Table {
        id: spec.id.to_string(),
        title: spec.title.to_string(),
        headers: spec.columns.iter().map(|(h, _)| h.to_string()).collect(),
        omitted: shown.total.saturating_sub(shown.records.len()),
        rows: shown
            .records
            .iter()
            .map(|r| spec.columns.iter().map(|(_, p)| get(r, p)).collect())
            .collect(),
        csv: format!("{}.csv", spec.records.csv_stem()),
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

/// One CDF per category: x latency (ms), y fraction of values at or below; a dot per
/// value when drawn from every value.
fn latency_chart(cat: &str, cdf: CdfValues, color: RGBColor) -> Result<String, String> {
    let (mut vals, dot_per_value) = match cdf {
        CdfValues::Exact(v) => (v, true),
        CdfValues::Quantiles { values, .. } => (values, false),
    };
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
        if dot_per_value {
            chart
                .draw_series(
                    vals.iter()
                        .enumerate()
                        .map(|(i, v)| Circle::new((*v, (i + 1) as f64 / n), 3, color.filled())),
                )
                .map_err(err)?;
        }
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

/// A table of `report.html`: which records, which of their (dotted) fields.
#[derive(Clone, Copy)]
struct TableSpec {
    id: &'static str,
    title: &'static str,
    records: RecordType,
    columns: &'static [(&'static str, &'static str)],
}

/// The tables, in page order: [`REPORT_TABLES`], then the application tables of the
/// registry whose record type has HTML columns. The connections table is the largest
/// connections; the others are the first records of their type.
fn table_specs(s: &Summary) -> Vec<TableSpec> {
    struct Apps(Vec<TableSpec>);
    impl<'a> TableVisitor<'a> for Apps {
        fn visit<T: AppRecord + 'a>(&mut self, table: AppTable, _records: &'a RecordSpool<T>) {
            if !T::HTML_COLUMNS.is_empty() {
                self.0.push(TableSpec {
                    id: table.name(),
                    title: T::TITLE,
                    records: RecordType::App(table),
                    columns: T::HTML_COLUMNS,
                });
            }
        }
    }
    let mut apps = Apps(Vec::new());
    s.apps.visit_all(&mut apps);
    REPORT_TABLES.iter().copied().chain(apps.0).collect()
}

/// The tables of the report's own records.
const REPORT_TABLES: &[TableSpec] = &[
    TableSpec {
        id: "latency",
        title: "Latency (ms)",
        records: RecordType::Latency,
        columns: &[
            ("category", "category"),
            ("server", "server"),
            ("count", "count"),
            ("min", "min"),
            ("p50", "p50"),
            ("p90", "p90"),
            ("p99", "p99"),
            ("max", "max"),
        ],
    },
    TableSpec {
        id: "connections",
        title: "Connections (largest first)",
        records: RecordType::Connection,
        columns: &[
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
    },
    TableSpec {
        id: "connection-throughput",
        title: "Connection throughput (bytes/s)",
        records: RecordType::ConnectionThroughput,
        columns: &[
            ("client", "client"),
            ("server", "server"),
            ("app", "app"),
            ("mean c2s", "mean_bps_c2s"),
            ("peak c2s", "peak_bps_c2s"),
            ("mean s2c", "mean_bps_s2c"),
            ("peak s2c", "peak_bps_s2c"),
        ],
    },
    TableSpec {
        id: "top-talkers",
        title: "Top talkers",
        records: RecordType::TopTalker,
        columns: &[
            ("host", "host"),
            ("sent", "bytes_sent"),
            ("received", "bytes_received"),
            ("connections", "connections"),
        ],
    },
    TableSpec {
        id: "tunnel-sessions",
        title: "Tunnel sessions",
        records: RecordType::TunnelSession,
        columns: &[
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
    },
    TableSpec {
        id: "tunnel-visitors",
        title: "Tunnel visitors",
        records: RecordType::TunnelVisitor,
        columns: &[
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
    },
    TableSpec {
        id: "quic",
        title: "QUIC",
        records: RecordType::Quic,
        columns: &[
            ("client", "client"),
            ("server", "server"),
            ("version", "version"),
            ("sni", "sni"),
            ("alpn", "alpn"),
            ("handshake ms", "handshake_ms"),
        ],
    },
];

/// Every table of [`table_specs`], each made in one pass over its records.
fn tables(s: &Summary) -> Result<Vec<Table>, RecordError> {
    table_specs(s)
        .iter()
        .map(|spec| {
            let recs = records(s, spec.records);
            let shown = if spec.records == RecordType::Connection {
                largest_connections(recs, MAX_TABLE_ROWS)?
            } else {
                first_records(recs, MAX_TABLE_ROWS)?
            };
            Ok(table(spec, shown))
        })
        .collect()
}

/// One CDF chart per category with values.
fn latency_charts(s: &Summary) -> Result<Vec<Chart>, String> {
    let mut charts = Vec::new();
    for (i, (cat, cdf)) in latency::cdfs(s).into_iter().enumerate() {
        if !cdf.is_empty() {
            let caption = match &cdf {
                CdfValues::Exact(_) => String::new(),
                CdfValues::Quantiles { count, values } => format!(
                    "{count} values: the curve is drawn through {} quantiles of a histogram of \
                     them all (3 significant digits), not through every value",
                    values.len()
                ),
            };
            charts.push(Chart {
                id: format!("latency-{cat}"),
                title: cat.to_string(),
                svg: latency_chart(cat, cdf, palette(i))?,
                caption,
            });
        }
    }
    Ok(charts)
}

/// Renders `report.html`.
pub fn render(s: &Summary) -> Result<String, String> {
    let mut charts = vec![Chart {
        id: "throughput".into(),
        title: "Throughput over time (payload bytes/s per protocol and direction)".into(),
        svg: throughput_chart(s)?,
        caption: String::new(),
    }];
    let latency_charts = latency_charts(s)?;
    if let Some(svg) = timeline_chart(s)? {
        charts.push(Chart {
            id: "timeline".into(),
            title: "Tunnel sessions: control connections, their visitors and tunnels".into(),
            svg,
            caption: String::new(),
        });
    }
    let tables = tables(s).map_err(|e| e.to_string())?;
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
    // Every value the template prints is cut and has its controls shown
    // (`escape::html_text`) before minijinja's HTML escaping; the finished page gets a
    // last pass (`escape::html_document`) so no raw control byte is left in it at all.
    env.set_formatter(|out, state, value| match value.as_str() {
        Some(s) if !value.is_safe() => {
            let shown = minijinja::Value::from(super::escape::html_text(s).as_ref());
            minijinja::escape_formatter(out, state, &shown)
        }
        _ => minijinja::escape_formatter(out, state, value),
    });
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
    .map(super::escape::html_document)
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureSet;
    use crate::pipeline::{self, Options, Pipeline};
    use etherparse::PacketBuilder;
    use serde_json::json;

    /// A classic pcap (Ethernet) of one UDP datagram per flow, flow `i` from its own client
    /// port carrying `payloads[i]` bytes, a millisecond apart.
    fn udp_flows_pcap(payloads: &[usize]) -> Vec<u8> {
        let mut pcap = Vec::new();
        pcap.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        pcap.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        pcap.extend_from_slice(&4u16.to_le_bytes());
        for field in [0u32, 0, 65535, 1] {
            // time zone, accuracy, snap length, link type (Ethernet)
            pcap.extend_from_slice(&field.to_le_bytes());
        }
        for (i, &len) in payloads.iter().enumerate() {
            let mut frame = Vec::new();
            PacketBuilder::ethernet2([2; 6], [4; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(20000 + i as u16, 9000)
                .write(&mut frame, &vec![0x5a; len])
                .unwrap();
            let usec = (i as u32 + 1) * 1000;
            for field in [1_700_000_000, usec, frame.len() as u32, frame.len() as u32] {
                pcap.extend_from_slice(&field.to_le_bytes());
            }
            pcap.extend_from_slice(&frame);
        }
        pcap
    }

    fn summary_of(pcap: Vec<u8>, spool_after_records: usize) -> Summary {
        let mut set = CaptureSet::from_reader("flows.pcap", Box::new(std::io::Cursor::new(pcap)));
        let opts = Options {
            spool_after_records,
            ..Options::default()
        };
        pipeline::run(&mut set, Pipeline::new(opts), |_, _| {})
    }

    /// The cells of the table with id `id`, row by row.
    fn table_cells(html: &str, id: &str) -> Vec<Vec<String>> {
        let start = html
            .find(&format!("<table id=\"{id}\">"))
            .expect("the table");
        let body = &html[start..];
        let body = &body[..body.find("</table>").expect("the table's end")];
        body.split("<tr>")
            .skip(2) // before the header row, the header row
            .map(|row| {
                row.split("<td>")
                    .skip(1)
                    .map(|c| c.split("</td>").next().unwrap_or_default().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_connections_table_shows_the_largest_and_how_many_more_there_are() {
        let more = 57;
        // Distinct sizes (37 and 1000 are coprime), in no particular order.
        let payloads: Vec<usize> = (0..MAX_TABLE_ROWS + more)
            .map(|i| (i * 37) % 1000 + 1)
            .collect();
        let mut largest: Vec<String> = {
            let mut sorted = payloads.clone();
            sorted.sort_unstable_by(|a, b| b.cmp(a));
            sorted.iter().map(usize::to_string).collect()
        };
        largest.truncate(MAX_TABLE_ROWS);
        for spool_after_records in [usize::MAX, 0] {
            let summary = summary_of(udp_flows_pcap(&payloads), spool_after_records);
            assert_eq!(summary.connections.len(), payloads.len());
            let html = render(&summary).unwrap();
            let rows = table_cells(&html, "connections");
            assert_eq!(rows.len(), MAX_TABLE_ROWS);
            // Columns: proto, client, server, app, duration, payload c2s, payload s2c, ...
            let shown: Vec<String> = rows.iter().map(|r| r[5].clone()).collect();
            assert_eq!(shown, largest);
            assert!(rows.iter().all(|r| r[6] == "0"));
            let note = format!("<p class=\"muted\">{more} more rows in connections.csv");
            assert!(html.contains(&note), "no {note:?}");
        }
    }

    #[test]
    fn equal_connections_keep_report_order() {
        let conn = |id: u64, c2s: u64, s2c: u64| {
            Ok(json!({"id": id, "payload_bytes_c2s": c2s, "payload_bytes_s2c": s2c}))
        };
        let recs = vec![
            conn(0, 5, 0),
            conn(1, 1, 9),
            conn(2, 0, 3),
            conn(3, 10, 0),
            conn(4, 2, 2),
            conn(5, 7, 3),
        ];
        let shown = largest_connections(Box::new(recs.into_iter()), 3).unwrap();
        let ids: Vec<u64> = shown
            .records
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect();
        // Payloads: 5, 10, 3, 10, 4, 10: the three 10s, in report order.
        assert_eq!((ids, shown.total), (vec![1, 3, 5], 6));
    }
}
