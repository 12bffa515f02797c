//! The terminal rendering of a [`Summary`].
//!
//! Record lists are read from the summary's spools in one pass each; the "largest first"
//! tables keep only their `top` rows while they read ([`super::top_n`]), never every record.
//!
//! No wire string reaches the output raw: lines are written into an [`escape::Lines`]
//! (whatever `write!` formats is escaped) and table cells are made only by [`cell`]; both
//! go through [`escape::terminal`].

use super::escape::{self, Lines};
use super::spool::RecordSpool;
use super::{AppTable, Summary, TableVisitor, top_n};
use crate::analyzers::api::AppRecord;
use comfy_table::{
    Attribute, Cell, CellAlignment, Color, ContentArrangement, Table, TableComponent, presets,
};

/// How to render for the terminal.
#[derive(Clone, Copy, Debug)]
pub struct TextOptions {
    /// Rows of the connection tables (largest first).
    pub top: usize,
    /// ANSI colour (only on a terminal, never with `NO_COLOR`: the CLI decides).
    pub color: bool,
}

/// Renders the summary as aligned plain text without colour; `top` limits the connection
/// table.
pub fn render(s: &Summary, top: usize) -> String {
    render_with(s, &TextOptions { top, color: false })
}

/// A table that fits the terminal (when stdout is one) and is styled only with colour on.
fn new_table(o: &TextOptions, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .remove_style(TableComponent::HorizontalLines)
        .remove_style(TableComponent::LeftBorderIntersections)
        .remove_style(TableComponent::RightBorderIntersections)
        .remove_style(TableComponent::MiddleIntersections);
    if o.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(header.iter().map(|h| {
        let c = cell(h);
        if o.color {
            c.add_attribute(Attribute::Bold).fg(Color::Cyan)
        } else {
            c
        }
    }));
    t
}

/// The one way a table cell is made: its text through [`escape::terminal`] (cut to
/// [`escape::TERMINAL_MAX`] characters), since table lines reach the output as they are
/// ([`indent`]). `Cell::new` is a disallowed method (clippy.toml) for that reason.
#[allow(clippy::disallowed_methods)]
fn cell(v: impl ToString) -> Cell {
    Cell::new(escape::terminal(&v.to_string(), escape::TERMINAL_MAX))
}

fn num_cell(v: impl ToString) -> Cell {
    cell(v).set_alignment(CellAlignment::Right)
}

fn heading(out: &mut Lines, o: &TextOptions, title: &str) {
    let _ = writeln!(out);
    if o.color {
        out.raw("\x1b[1m");
        let _ = write!(out, "{title}");
        out.raw("\x1b[0m\n");
    } else {
        let _ = writeln!(out, "{title}");
    }
}

/// Table lines go in raw (they hold comfy-table's styling); every cell was escaped by
/// [`cell`].
fn indent(out: &mut Lines, t: &Table) {
    for line in t.lines() {
        out.raw("  ");
        out.raw(line.trim_end());
        out.raw("\n");
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.3}"))
}

fn rate(bps: f64) -> String {
    format!("{}/s", human_bytes(bps.round().max(0.0) as u64))
}

/// Latency distributions per category, then the busiest servers of each.
fn latency_section(out: &mut Lines, s: &Summary, o: &TextOptions) {
    let cats: Vec<_> = s
        .latency
        .categories
        .iter()
        .filter(|c| c.stats.count > 0)
        .collect();
    heading(out, o, "Latency (ms)");
    if cats.is_empty() {
        let _ = writeln!(out, "  none measured");
        return;
    }
    let mut t = new_table(
        o,
        &[
            "category", "server", "count", "min", "p50", "p90", "p99", "max",
        ],
    );
    for c in cats {
        let row = |server: &str, st: &super::latency::Stats| {
            vec![
                cell(c.category),
                cell(server),
                num_cell(st.count),
                num_cell(ms(st.min)),
                num_cell(ms(st.p50)),
                num_cell(ms(st.p90)),
                num_cell(ms(st.p99)),
                num_cell(ms(st.max)),
            ]
        };
        t.add_row(row("(all)", &c.stats));
        if c.by_server.len() > 1 {
            for srv in c.by_server.iter().take(o.top) {
                t.add_row(row(&srv.server, &srv.stats));
            }
        }
    }
    indent(out, &t);
}

/// Throughput per protocol and direction, the busiest connections, top talkers.
fn throughput_section(out: &mut Lines, s: &Summary, o: &TextOptions) {
    let th = &s.throughput;
    heading(
        out,
        o,
        &format!("Throughput (payload; {} bins of {} s)", th.bins, th.bin_s),
    );
    if th.series.is_empty() {
        let _ = writeln!(out, "  no payload");
        return;
    }
    let span = s.capture.duration_s.max(th.bin_s).max(1e-9);
    let mut t = new_table(
        o,
        &["protocol", "dir", "packets", "bytes", "mean", "peak bin"],
    );
    for sr in &th.series {
        t.add_row(vec![
            cell(&sr.protocol),
            cell(match sr.direction {
                crate::flow::Direction::ClientToServer => "c2s",
                crate::flow::Direction::ServerToClient => "s2c",
            }),
            num_cell(sr.packets),
            num_cell(human_bytes(sr.bytes)),
            num_cell(rate(sr.bytes as f64 / span)),
            num_cell(rate(sr.peak_bps)),
        ]);
    }
    indent(out, &t);

    let conns = top_n(th.connections.iter(), o.top, |a, b| {
        (b.bytes_c2s + b.bytes_s2c)
            .cmp(&(a.bytes_c2s + a.bytes_s2c))
            .then(a.first_ts.cmp(&b.first_ts))
    });
    if !th.connections.is_empty() {
        let _ = writeln!(out, "\n  Busiest connections");
        let mut t = new_table(
            o,
            &[
                "client", "server", "app", "c2s", "s2c", "duration", "mean c2s", "peak c2s",
                "mean s2c", "peak s2c",
            ],
        );
        for c in conns {
            t.add_row(vec![
                cell(c.client),
                cell(c.server),
                cell(&c.app),
                num_cell(human_bytes(c.bytes_c2s)),
                num_cell(human_bytes(c.bytes_s2c)),
                num_cell(format!("{:.3} s", c.duration_s)),
                num_cell(rate(c.mean_bps_c2s)),
                num_cell(rate(c.peak_bps_c2s)),
                num_cell(rate(c.mean_bps_s2c)),
                num_cell(rate(c.peak_bps_s2c)),
            ]);
        }
        indent(out, &t);
    }
    if !th.top_talkers.is_empty() {
        let _ = writeln!(out, "\n  Top talkers");
        let mut t = new_table(o, &["host", "sent", "received", "connections"]);
        for x in th.top_talkers.iter().take(o.top) {
            t.add_row(vec![
                cell(x.host),
                num_cell(human_bytes(x.bytes_sent)),
                num_cell(human_bytes(x.bytes_received)),
                num_cell(x.connections),
            ]);
        }
        indent(out, &t);
    }
}

/// Renders the summary for the terminal.
pub fn render_with(s: &Summary, o: &TextOptions) -> String {
    let top = o.top;
    let mut out = Lines::new();
    let c = &s.capture;
    let _ = writeln!(out, "Capture");
    for f in &c.files {
        let fmt = f
            .format
            .map_or("-".to_string(), |x| format!("{x:?}").to_lowercase());
        let _ = writeln!(
            out,
            "  file        {}  ({fmt}, {} packets, {} bytes)",
            f.path, f.packets, f.bytes
        );
    }
    let _ = writeln!(out, "  packets     {}", c.packets);
    let _ = writeln!(out, "  bytes       {}", human_bytes(c.bytes));
    match (c.first_ts, c.last_ts) {
        (Some(a), Some(b)) => {
            let _ = writeln!(
                out,
                "  time        {} .. {} UTC  ({:.3} s)",
                a.utc(),
                b.utc(),
                c.duration_s
            );
        }
        _ => {
            let _ = writeln!(out, "  time        -");
        }
    }
    let links: Vec<String> = c
        .link_types
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "  link types  {}",
        if links.is_empty() {
            "-".into()
        } else {
            links.join(", ")
        }
    );
    if !c.complete {
        let _ = writeln!(
            out,
            "  PARTIAL     the capture could not be read to its end (see errors)"
        );
    }

    let p = &c.protocols;
    let _ = writeln!(out, "\nProtocols");
    let mut rows = vec![
        ("IPv4", p.ipv4),
        ("IPv6", p.ipv6),
        ("TCP", p.tcp),
        ("UDP", p.udp),
        ("ICMP", p.icmp),
        ("ICMPv6", p.icmpv6),
        ("ARP", p.arp),
        ("VLAN-tagged", p.vlan_tagged),
        ("IP fragments", p.ip_fragments),
        ("reassembled", p.reassembled_datagrams),
        ("other link", p.other_link_frames),
    ];
    rows.retain(|r| r.1 > 0);
    for (name, n) in rows {
        let _ = writeln!(out, "  {name:<14}{n}");
    }
    for (proto, n) in &p.other_ip_protocols {
        let _ = writeln!(out, "  {:<14}{n}", format!("IP proto {proto}"));
    }
    for (t, n) in &p.other_ethertypes {
        let _ = writeln!(out, "  {:<14}{n}", format!("ethertype {t}"));
    }
    for (t, n) in &p.unsupported_link_types {
        let _ = writeln!(out, "  {:<14}{n}  (link type not decoded)", t);
    }
    for (kind, n) in &p.encap.layers {
        let _ = writeln!(out, "  {:<14}{n}  (decapsulated)", kind);
    }

    let _ = writeln!(out, "\nAnomalies     {}", c.anomalies.total);
    for (kind, n) in &c.anomalies.by_kind {
        let _ = writeln!(out, "  {kind:<28}{n}");
    }

    let _ = writeln!(
        out,
        "\nConnections   {} TCP, {} UDP{}",
        s.flows.tcp,
        s.flows.udp,
        if s.flows.evicted > 0 {
            format!(" ({} evicted at the flow limit)", s.flows.evicted)
        } else {
            String::new()
        }
    );
    let shown = top_n(s.connections.iter(), top, |a, b| {
        b.bytes()
            .cmp(&a.bytes())
            .then(a.first_packet.cmp(&b.first_packet))
    });
    if !shown.is_empty() {
        let cw = shown
            .iter()
            .map(|c| c.client.to_string().len())
            .max()
            .unwrap_or(6)
            .max(6);
        let sw = shown
            .iter()
            .map(|c| c.server.to_string().len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "  {:<5} {:<cw$}  {:<sw$}  {:>8}  {:>10}  {:>10}",
            "proto", "client", "server", "packets", "bytes", "duration"
        );
        for c in shown {
            let _ = writeln!(
                out,
                "  {:<5} {:<cw$}  {:<sw$}  {:>8}  {:>10}  {:>9.3}s",
                c.proto.name(),
                c.client.to_string(),
                c.server.to_string(),
                c.packets(),
                human_bytes(c.bytes()),
                c.duration_s
            );
        }
    }
    tunnel_section(&mut out, s);
    app_sections(&mut out, s, top);
    if !s.quic.connections.is_empty() {
        let _ = writeln!(
            out,
            "\nQUIC          {} connections",
            s.quic.connections.len()
        );
        for q in s.quic.connections.iter().take(top.max(1) * 5) {
            let q_sum = &q.summary;
            let mut facts = vec![format!("v{}", q_sum.version.as_deref().unwrap_or("?"))];
            if let Some(sni) = &q_sum.sni {
                facts.push(format!("sni {sni}"));
            }
            if !q_sum.alpn.is_empty() {
                facts.push(format!("alpn {}", q_sum.alpn.join(",")));
            }
            if let Some(ms) = q_sum.handshake_ms {
                facts.push(format!("handshake {ms:.1} ms"));
            }
            for (flag, name) in [
                (q_sum.retry, "retry"),
                (q_sum.zero_rtt, "0-rtt"),
                (q_sum.version_negotiation, "version-negotiation"),
            ] {
                if flag {
                    facts.push(name.to_string());
                }
            }
            if q_sum.migrations > 0 {
                facts.push(format!("{} migrations", q_sum.migrations));
            }
            if let Some(d) = q_sum.disguise {
                facts.push(format!("v2ray header {d}"));
            }
            if let Some(sec) = q_sum.security {
                facts.push(format!("v2ray security {sec}"));
            }
            let _ = writeln!(
                out,
                "  {} -> {}  {}  ({}/{} packets)",
                q.client,
                q.server,
                facts.join("  "),
                q_sum.packets_c2s,
                q_sum.packets_s2c
            );
            if let Some(v) = &q_sum.v2ray {
                let _ = writeln!(out, "      {}: {}", v.verdict, v.evidence.join("; "));
            }
            if !q_sum.v2ray_fingerprints.is_empty() {
                let _ = writeln!(
                    out,
                    "      v2ray defaults: {}",
                    q_sum.v2ray_fingerprints.join(", ")
                );
            }
            if let Some(c) = &q.carries {
                let offsets: Vec<String> = c.offsets_ms.iter().map(|o| format!("{o:.1}")).collect();
                let _ = writeln!(
                    out,
                    "      likely carries {} TCP connections to {} (starting at +{} ms)",
                    c.tcp_connections,
                    c.tcp_server,
                    offsets.join(", +")
                );
            }
        }
    }
    latency_section(&mut out, s, o);
    throughput_section(&mut out, s, o);
    let l = &s.limits;
    if !l.records_omitted.is_empty() || !l.dropped_for_memory.is_empty() {
        let _ = writeln!(out, "\nLimits");
        for (kind, n) in &l.records_omitted {
            let _ = writeln!(out, "  {kind:<28}{n} not kept (--max-records)");
        }
        for (kind, n) in &l.dropped_for_memory {
            let _ = writeln!(out, "  {kind:<28}{n} not kept (--memory)");
        }
    }
    if !c.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings");
        for w in &c.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    if !c.errors.is_empty() {
        let _ = writeln!(out, "\nErrors");
        for e in &c.errors {
            let _ = writeln!(out, "  {e}");
        }
    }
    out.into_string()
}

/// `1234567` -> `1.2 MB`; exact below 10 kB.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 10_000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn json_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_string(), |x| x.to_string())
}

/// "Tunnel sessions": one line per control session, its visitors indented under it;
/// then the tunnel connections no visitor was paired with (client-side captures).
fn tunnel_section(out: &mut Lines, s: &Summary) {
    let t = &s.tunnel;
    if t.sessions.is_empty() && t.tunnels.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nTunnel sessions  {} sessions, {} tunnel connections",
        t.sessions.len(),
        t.tunnels.len()
    );
    for sess in &t.sessions {
        let c = &sess.summary;
        let mut facts = vec![
            format!("user {}", c.user.as_deref().unwrap_or("-")),
            format!("auth {}", json_name(&c.auth)),
        ];
        if let (Some(uid), Some(port)) = (c.uid, c.port) {
            facts.push(format!("uid {uid} port {port}"));
        }
        if let Some(o) = &c.byte_order {
            facts.push(json_name(o));
        }
        if c.keepalive.count > 0 {
            facts.push(format!(
                "keep-alive {} x {:.3} s (sd {:.1} ms, longest {:.3} s)",
                c.keepalive.count,
                c.keepalive.mean_interval_s.unwrap_or(0.0),
                c.keepalive.stddev_s.unwrap_or(0.0) * 1000.0,
                c.keepalive.max_gap_s.unwrap_or(0.0)
            ));
        }
        if let Some(q) = c.queued_s {
            facts.push(format!("queued {q:.1} s"));
        }
        facts.push(json_name(&c.ended.how));
        let _ = writeln!(
            out,
            "  {} -> {}  {}",
            sess.control.client,
            sess.control.server,
            facts.join("  ")
        );
        for v in &sess.visitors {
            let via = v
                .tunnel
                .map_or_else(|| "no tunnel".to_string(), |e| format!("via {e}"));
            let _ = writeln!(
                out,
                "    visitor {} -> {}  {via} ({}, {:.2})  {}/{} B  {}  total {}",
                v.client,
                v.server,
                json_name(&v.pairing),
                v.confidence,
                v.bytes_c2s,
                v.bytes_s2c,
                v.app.as_deref().unwrap_or("unknown"),
                v.latency_ms
                    .total
                    .map_or_else(|| "-".to_string(), |ms| format!("{ms:.1} ms"))
            );
        }
    }
    for tun in t.tunnels.iter().filter(|x| x.visitor.is_none()) {
        let _ = writeln!(
            out,
            "  tunnel {} -> {}  uid {} port {}  {}  (visitor not in this capture)",
            tun.client,
            tun.server,
            opt(&tun.uid),
            opt(&tun.port),
            tun.app.as_deref().unwrap_or("unknown")
        );
    }
    if !t.anomalies.is_empty() {
        let _ = writeln!(
            out,
            "  {} tunnel anomalies (see JSON `tunnel.anomalies`)",
            t.anomalies.len()
        );
    }
}

/// One short section per application table of the registry, with the lines worth
/// reading (each record type says how it looks: `AppRecord::text_lines`).
fn app_sections(out: &mut Lines, s: &Summary, top: usize) {
    s.apps.visit_all(&mut AppSections {
        out,
        limit: top.max(1) * 5,
    });
}

/// `n` with its noun, singular for one.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

struct AppSections<'o> {
    out: &'o mut Lines,
    limit: usize,
}

impl<'a> TableVisitor<'a> for AppSections<'_> {
    fn visit<T: AppRecord + 'a>(&mut self, _table: AppTable, records: &'a RecordSpool<T>) {
        if records.is_empty() {
            return;
        }
        let out = &mut *self.out;
        let conns = counted(records.len(), "connection", "connections");
        if T::ROWS.is_some() {
            let rows: usize = records.iter().map(|r| r.row_count()).sum();
            let _ = writeln!(
                out,
                "\n{:<14}{rows} {} on {conns}{}",
                T::TITLE,
                T::ROW_NOUN,
                T::HEADING_NOTE
            );
        } else {
            let _ = writeln!(out, "\n{:<14}{conns}{}", T::TITLE, T::HEADING_NOTE);
        }
        let mut shown = 0;
        for r in records.iter() {
            if shown >= self.limit {
                break;
            }
            r.text_lines(self.limit - shown, &mut |line| {
                shown += 1;
                let _ = writeln!(out, "  {line}");
            });
        }
    }
}
