//! `tunscope check`: re-analyse a capture and compare it with a recorded baseline (the JSON
//! document of `tunscope analyze --format json` or `tunscope baseline`).
//!
//! Two kinds of comparison, both over the JSON documents (so a baseline written by an older
//! tunscope with extra or missing fields still compares what both have):
//!
//! - **Facts** must be equal: connections per protocol and app, tunnel sessions (uid, port,
//!   auth, user), tunnel frame counts by type, the SNI and ALPN sets, HTTP status counts.
//! - **Metrics** may move within a rule: latency p50/p99 per category may grow at most 20%,
//!   throughput (mean payload bytes/s per protocol and direction, and overall) may drop at
//!   most 20%, TCP gap bytes may not grow, retransmitted bytes and out-of-order segments may
//!   grow at most 20%. A rules file (TOML) changes these per metric (see
//!   [`Rules`]); metrics no rule covers are listed, never gating.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// How much a metric may move. Percentages are of the baseline value; absolute limits are
/// in the metric's unit. A limit left out does not apply.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    pub max_increase_pct: Option<f64>,
    pub max_decrease_pct: Option<f64>,
    pub max_increase: Option<f64>,
    pub max_decrease: Option<f64>,
    /// Skip this metric entirely.
    #[serde(default)]
    pub ignore: bool,
}

impl Rule {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.ignore {
            return "ignored".into();
        }
        if let Some(p) = self.max_increase_pct {
            parts.push(if p == 0.0 {
                "may not grow".to_string()
            } else {
                format!("may grow at most {p}%")
            });
        }
        if let Some(p) = self.max_decrease_pct {
            parts.push(if p == 0.0 {
                "may not drop".to_string()
            } else {
                format!("may drop at most {p}%")
            });
        }
        if let Some(a) = self.max_increase {
            parts.push(format!("may grow at most {a}"));
        }
        if let Some(a) = self.max_decrease {
            parts.push(format!("may drop at most {a}"));
        }
        if parts.is_empty() {
            "informational".into()
        } else {
            parts.join(", ")
        }
    }

    /// `None` when `new` satisfies the rule, else why not.
    fn violation(&self, base: f64, new: f64) -> Option<String> {
        if self.ignore {
            return None;
        }
        let diff = new - base;
        let pct = |limit: f64| base.abs() * limit / 100.0;
        if let Some(p) = self.max_increase_pct
            && diff > pct(p) + 1e-9
        {
            return Some(self.describe());
        }
        if let Some(p) = self.max_decrease_pct
            && -diff > pct(p) + 1e-9
        {
            return Some(self.describe());
        }
        if let Some(a) = self.max_increase
            && diff > a + 1e-9
        {
            return Some(self.describe());
        }
        if let Some(a) = self.max_decrease
            && -diff > a + 1e-9
        {
            return Some(self.describe());
        }
        None
    }
}

/// The rules file:
///
/// ```toml
/// # Metric names or patterns (`*` matches anything); the first matching entry wins, and
/// # entries here come before the defaults.
/// [metrics."latency.tcp_handshake.p99"]
/// max_increase_pct = 50
/// [metrics."throughput.*"]
/// max_decrease_pct = 10
/// [metrics."latency.*.p50"]
/// ignore = true
///
/// [facts]
/// ignore = ["sni"]          # fact groups not compared
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rules {
    #[serde(default)]
    pub metrics: toml::Table,
    #[serde(default)]
    pub facts: FactRules,
    /// Drop the built-in default rules (only the file's rules gate).
    #[serde(default)]
    pub no_defaults: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FactRules {
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// The built-in rules, after the file's.
pub(crate) fn default_rules() -> Vec<(String, Rule)> {
    let r = |inc: Option<f64>, dec: Option<f64>| Rule {
        max_increase_pct: inc,
        max_decrease_pct: dec,
        ..Rule::default()
    };
    vec![
        ("latency.*.p50".into(), r(Some(20.0), None)),
        ("latency.*.p99".into(), r(Some(20.0), None)),
        ("throughput.*".into(), r(None, Some(20.0))),
        ("tcp.gap_bytes".into(), r(Some(0.0), None)),
        ("tcp.retransmitted_bytes".into(), r(Some(20.0), None)),
        ("tcp.out_of_order_segments".into(), r(Some(20.0), None)),
    ]
}

impl Rules {
    pub(crate) fn parse(text: &str) -> Result<Rules, String> {
        let rules: Rules = toml::from_str(text).map_err(|e| e.to_string())?;
        // Validate every metric rule now, so a typo is an error, not a silent default.
        rules.metric_rules()?;
        for g in &rules.facts.ignore {
            if !FACT_GROUPS.contains(&g.as_str()) {
                return Err(format!(
                    "facts.ignore: unknown fact group {g:?} (known: {})",
                    FACT_GROUPS.join(", ")
                ));
            }
        }
        Ok(rules)
    }

    /// The file's rules then the defaults, in matching order.
    pub(crate) fn metric_rules(&self) -> Result<Vec<(String, Rule)>, String> {
        let mut out = Vec::new();
        for (name, v) in &self.metrics {
            let rule: Rule = v
                .clone()
                .try_into()
                .map_err(|e| format!("metrics.{name:?}: {e}"))?;
            out.push((name.clone(), rule));
        }
        if !self.no_defaults {
            out.extend(default_rules());
        }
        Ok(out)
    }
}

/// `*` matches any run of characters.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(k) => rest = &rest[k + p.len()..],
                None => return false,
            }
        }
    }
    true
}

/// Fact groups, in report order.
pub(crate) const FACT_GROUPS: &[&str] = &[
    "connections",
    "tunnel_sessions",
    "tunnel_frames",
    "sni",
    "alpn",
    "http_status",
];

fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_array().map_or(&[], Vec::as_slice)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The facts of a report: group -> key -> value (rendered as text).
pub(crate) fn facts(doc: &Value) -> BTreeMap<&'static str, BTreeMap<String, String>> {
    let mut out: BTreeMap<&'static str, BTreeMap<String, String>> = BTreeMap::new();
    let mut count = |g: &'static str, k: String| {
        let e = out
            .entry(g)
            .or_default()
            .entry(k)
            .or_insert_with(|| "0".into());
        *e = (e.parse::<u64>().unwrap_or(0) + 1).to_string();
    };
    for c in arr(doc, &["connections"]) {
        count(
            "connections",
            format!("{}/{}", text(&c["proto"]), text(&c["app"])),
        );
    }
    for t in arr(doc, &["http"]) {
        for x in arr(t, &["transactions"]) {
            count("http_status", text(&x["status"]));
        }
    }
    for s in arr(doc, &["tunnel", "sessions"]) {
        count(
            "tunnel_sessions",
            format!(
                "uid={} port={} auth={} user={}",
                text(&s["uid"]),
                text(&s["port"]),
                text(&s["auth"]),
                text(&s["user"])
            ),
        );
    }
    for s in arr(doc, &["tunnel", "sessions"]) {
        if let Some(frames) = s["frames"].as_object() {
            for (name, n) in frames {
                let e = out
                    .entry("tunnel_frames")
                    .or_default()
                    .entry(name.clone())
                    .or_insert_with(|| "0".into());
                *e = (e.parse::<u64>().unwrap_or(0) + n.as_u64().unwrap_or(0)).to_string();
            }
        }
    }
    let mut set = |g: &'static str, v: &Value| {
        let items: Vec<String> = match v {
            Value::Array(a) => a.iter().map(text).collect(),
            Value::Null => Vec::new(),
            other => vec![text(other)],
        };
        for i in items {
            out.entry(g).or_default().insert(i, "present".into());
        }
    };
    for t in arr(doc, &["tls"]) {
        set("sni", &t["sni"]);
        set("alpn", &t["alpn"]);
    }
    for q in arr(doc, &["quic", "connections"]) {
        set("sni", &q["sni"]);
        set("alpn", &q["alpn"]);
    }
    out
}

/// The metrics of a report: name -> value.
pub(crate) fn metrics(doc: &Value) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for c in arr(doc, &["latency", "categories"]) {
        let cat = text(&c["category"]);
        for q in ["p50", "p99"] {
            if let Some(v) = c[q].as_f64() {
                out.insert(format!("latency.{cat}.{q}"), v);
            }
        }
    }
    let t = &doc["throughput"];
    let span = doc["capture"]["duration_s"]
        .as_f64()
        .unwrap_or(0.0)
        .max(t["bin_s"].as_f64().unwrap_or(1.0))
        .max(1e-3);
    let mut all = 0.0;
    for s in arr(t, &["series"]) {
        let bytes = s["bytes"].as_f64().unwrap_or(0.0);
        all += bytes;
        out.insert(
            format!(
                "throughput.{}.{}.mean_bps",
                text(&s["protocol"]),
                text(&s["direction"])
            ),
            bytes / span,
        );
    }
    out.insert("throughput.all.mean_bps".into(), all / span);
    let (mut gaps, mut retx, mut ooo) = (0.0, 0.0, 0.0);
    for c in arr(doc, &["connections"]) {
        for d in ["c2s", "s2c"] {
            let st = &c["tcp"][d]["stats"];
            if let Some(g) = st["gaps"].as_object() {
                gaps += g.values().filter_map(|x| x["bytes"].as_f64()).sum::<f64>();
            }
            retx += st["retransmitted_bytes"].as_f64().unwrap_or(0.0);
            ooo += st["out_of_order_segments"].as_f64().unwrap_or(0.0);
        }
    }
    out.insert("tcp.gap_bytes".into(), gaps);
    out.insert("tcp.retransmitted_bytes".into(), retx);
    out.insert("tcp.out_of_order_segments".into(), ooo);
    out
}

/// One line of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Finding {
    pub kind: &'static str,
    pub name: String,
    pub baseline: String,
    pub now: String,
    pub rule: String,
    pub regression: bool,
}

/// The whole comparison.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub findings: Vec<Finding>,
    pub facts_compared: usize,
    pub metrics_compared: usize,
}

impl Outcome {
    pub(crate) fn regressions(&self) -> usize {
        self.findings.iter().filter(|f| f.regression).count()
    }

    /// The readable diff: regressions first, then informational changes.
    pub(crate) fn render(&self) -> String {
        // Facts (SNI and ALPN sets...) come from the wire: lines go through the one
        // terminal escaping.
        let mut out = tunscope::report::escape::Lines::new();
        let n = self.regressions();
        if n == 0 {
            let _ = writeln!(
                out,
                "tunscope check: ok: {} facts equal, {} metrics within their rules",
                self.facts_compared, self.metrics_compared
            );
        } else {
            let _ = writeln!(
                out,
                "tunscope check: {n} regression{} ({} facts, {} metrics compared)",
                if n == 1 { "" } else { "s" },
                self.facts_compared,
                self.metrics_compared
            );
        }
        let rows: Vec<&Finding> = self
            .findings
            .iter()
            .filter(|f| f.regression)
            .chain(self.findings.iter().filter(|f| !f.regression))
            .collect();
        if rows.is_empty() {
            return out.into_string();
        }
        let w = |f: fn(&Finding) -> usize| rows.iter().map(|r| f(r)).max().unwrap_or(0);
        let wn = w(|f| f.name.len()).max(4);
        let wb = w(|f| f.baseline.len()).max(8);
        let wv = w(|f| f.now.len()).max(3);
        let _ = writeln!(
            out,
            "  {:<10} {:<6} {:<wn$}  {:>wb$}  {:>wv$}  rule",
            "", "kind", "name", "baseline", "now"
        );
        for f in rows {
            let _ = writeln!(
                out,
                "  {:<10} {:<6} {:<wn$}  {:>wb$}  {:>wv$}  {}",
                if f.regression {
                    "REGRESSION"
                } else {
                    "changed"
                },
                f.kind,
                f.name,
                f.baseline,
                f.now,
                f.rule
            );
        }
        out.into_string()
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// Compares a fresh report with the baseline under `rules`.
pub(crate) fn compare(baseline: &Value, now: &Value, rules: &Rules) -> Result<Outcome, String> {
    let mut o = Outcome::default();
    let (fb, fnow) = (facts(baseline), facts(now));
    for g in FACT_GROUPS {
        if rules.facts.ignore.iter().any(|x| x == g) {
            continue;
        }
        let empty = BTreeMap::new();
        let b = fb.get(g).unwrap_or(&empty);
        let n = fnow.get(g).unwrap_or(&empty);
        let mut keys: Vec<&String> = b.keys().chain(n.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            o.facts_compared += 1;
            let bv = b.get(k).cloned().unwrap_or_else(|| "absent".into());
            let nv = n.get(k).cloned().unwrap_or_else(|| "absent".into());
            if bv != nv {
                o.findings.push(Finding {
                    kind: "fact",
                    name: format!("{g}[{k}]"),
                    baseline: bv,
                    now: nv,
                    rule: "must be equal".into(),
                    regression: true,
                });
            }
        }
    }
    let rules = rules.metric_rules()?;
    let (mb, mnow) = (metrics(baseline), metrics(now));
    let mut names: Vec<&String> = mb.keys().chain(mnow.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let rule = rules
            .iter()
            .find(|(p, _)| glob(p, name))
            .map(|(_, r)| r.clone());
        let Some(rule) = rule.filter(|r| !r.ignore) else {
            continue;
        };
        o.metrics_compared += 1;
        // A throughput series that vanished dropped to 0; a latency that vanished is a
        // change of what was measured (the facts say why).
        let b = mb.get(name).copied();
        let n = mnow
            .get(name)
            .copied()
            .or_else(|| name.starts_with("throughput.").then_some(0.0));
        match (b, n) {
            (Some(b), Some(n)) => {
                let violation = rule.violation(b, n);
                if violation.is_some() || (b - n).abs() > 1e-9 {
                    let pct = if b != 0.0 {
                        format!(" ({:+.1}%)", (n - b) / b.abs() * 100.0)
                    } else {
                        String::new()
                    };
                    o.findings.push(Finding {
                        kind: "metric",
                        name: name.clone(),
                        baseline: num(b),
                        now: format!("{}{pct}", num(n)),
                        rule: rule.describe(),
                        regression: violation.is_some(),
                    });
                }
            }
            (Some(b), None) => o.findings.push(Finding {
                kind: "metric",
                name: name.clone(),
                baseline: num(b),
                now: "absent".into(),
                rule: format!("{} (no longer measured)", rule.describe()),
                regression: true,
            }),
            (None, Some(n)) => o.findings.push(Finding {
                kind: "metric",
                name: name.clone(),
                baseline: "absent".into(),
                now: num(n),
                rule: "new metric".into(),
                regression: false,
            }),
            (None, None) => {}
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(p99: f64, bytes: u64, status: u64) -> Value {
        json!({
            "capture": {"duration_s": 10.0},
            "connections": [{"proto": "tcp", "app": "http", "tcp": {"c2s": {"stats": {
                "gaps": {"acked_not_captured": {"count": 0, "bytes": 0}},
                "retransmitted_bytes": 0, "out_of_order_segments": 0}}}}],
            "http": [{"transactions": [{"status": status}]}],
            "latency": {"categories": [{"category": "http", "p50": 1.0, "p99": p99}]},
            "throughput": {"bin_s": 1.0, "series": [
                {"protocol": "http", "direction": "s2c", "bytes": bytes}]},
            "tunnel": {"sessions": []},
            "tls": [], "quic": {"connections": []}
        })
    }

    #[test]
    fn identical_reports_pass() {
        let d = doc(2.0, 1000, 200);
        let o = compare(&d, &d, &Rules::default()).unwrap();
        assert_eq!(o.regressions(), 0, "{}", o.render());
        assert!(o.facts_compared >= 2 && o.metrics_compared >= 5);
    }

    #[test]
    fn growth_past_the_rule_fails_and_says_which_rule() {
        let o = compare(
            &doc(2.0, 1000, 200),
            &doc(2.5, 1000, 200),
            &Rules::default(),
        )
        .unwrap();
        assert_eq!(o.regressions(), 1, "{}", o.render());
        let f = &o.findings[0];
        assert_eq!(f.name, "latency.http.p99");
        assert_eq!(
            (f.baseline.as_str(), f.now.as_str()),
            ("2", "2.500 (+25.0%)")
        );
        assert_eq!(f.rule, "may grow at most 20%");
        // 10% is within the rule: listed as a change, not a regression.
        let o = compare(
            &doc(2.0, 1000, 200),
            &doc(2.2, 1000, 200),
            &Rules::default(),
        )
        .unwrap();
        assert_eq!(o.regressions(), 0);
        assert_eq!(o.findings.len(), 1);
    }

    #[test]
    fn throughput_drop_and_fact_change_fail() {
        let o = compare(&doc(2.0, 1000, 200), &doc(2.0, 700, 404), &Rules::default()).unwrap();
        let names: Vec<&str> = o
            .findings
            .iter()
            .filter(|f| f.regression)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "http_status[200]",
                "http_status[404]",
                "throughput.all.mean_bps",
                "throughput.http.s2c.mean_bps"
            ]
        );
    }

    #[test]
    fn rules_file_overrides_defaults_and_rejects_typos() {
        let rules = Rules::parse(
            "[metrics.\"latency.http.p99\"]\nmax_increase_pct = 50\n[facts]\nignore = [\"http_status\"]\n",
        )
        .unwrap();
        let o = compare(&doc(2.0, 1000, 200), &doc(2.5, 1000, 404), &rules).unwrap();
        assert_eq!(o.regressions(), 0, "{}", o.render());
        assert!(Rules::parse("[metrics.\"x\"]\nmax_increse_pct = 5\n").is_err());
        assert!(Rules::parse("[facts]\nignore = [\"nope\"]\n").is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("latency.*.p99", "latency.http.p99"));
        assert!(!glob("latency.*.p99", "latency.http.p50"));
        assert!(glob("throughput.*", "throughput.all.mean_bps"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxcyyb"));
        assert!(glob("*", ""));
    }
}
