//! The terminal rendering of a [`Summary`].

use super::Summary;
use std::fmt::Write;

/// Renders the summary as aligned plain text; `top` limits the connection table.
pub fn render(s: &Summary, top: usize) -> String {
    let mut out = String::new();
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
    let mut conns: Vec<_> = s.connections.iter().collect();
    conns.sort_by(|a, b| {
        b.bytes()
            .cmp(&a.bytes())
            .then(a.first_packet.cmp(&b.first_packet))
    });
    let shown: Vec<_> = conns.into_iter().take(top).collect();
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
            let _ = writeln!(
                out,
                "  {} -> {}  {}  ({}/{} packets)",
                q.client,
                q.server,
                facts.join("  "),
                q_sum.packets_c2s,
                q_sum.packets_s2c
            );
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
    out
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
