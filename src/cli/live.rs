//! `tunscope live`: capture on an interface and analyse with the same pipeline as
//! `analyze`. tokio lives here and in `capture::live` only (the edge): the capture stream,
//! Ctrl-C/SIGTERM, the rolling-summary timer and `--duration`. The pipeline itself is
//! fed packet by packet on this thread and keeps running on packet time.
//!
//! Stopping (Ctrl-C, SIGTERM, `-c`, `--duration`): the capture stops, packets libpcap
//! already holds are taken (except past `-c`), the `-w` file is flushed, every flow is
//! ended (the assembler flushed) and the report `analyze` prints is printed, with the
//! interface and libpcap's drop counters added to its capture section.

use super::{
    CliError, EXIT_ERROR, EXIT_OK, OutputFormat, PipelineArgs, stream_stdout, write_stdout,
};
use clap::Args;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tunscope::analyzers::api::LiveNote;
use tunscope::capture::LinkType;
use tunscope::capture::live::{
    DEFAULT_SNAPLEN, LiveCapture, LiveConfig, LiveError, LiveStats, list_interfaces,
};
use tunscope::pipeline::{CaptureSummaryInput, Pipeline, Snapshot};
use tunscope::report::escape::{TERMINAL_MAX, terminal};
use tunscope::report::jsonl;
use tunscope::report::text::{self, human_bytes};

/// Packets taken without going back to the event loop once one has arrived.
const BURST: usize = 256;
/// How long stopping may spend taking the packets libpcap already holds.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// Latency samples kept for the rolling percentiles (the final report has them all).
const MAX_SAMPLES: usize = 1 << 20;

#[derive(Args, Debug)]
pub(crate) struct LiveArgs {
    /// Interface to capture on (`--list` shows them; `any` is every interface, on Linux).
    #[arg(
        short = 'i',
        long,
        value_name = "IFACE",
        required_unless_present = "list"
    )]
    pub interface: Option<String>,
    /// List the interfaces libpcap can capture on, and exit (tcpdump -D).
    #[arg(short = 'D', long)]
    pub list: bool,
    /// BPF filter in tcpdump syntax, e.g. "tcp port 8007 or udp". As with tcpdump, the
    /// expression may instead follow the options.
    #[arg(short = 'f', long, value_name = "EXPR", conflicts_with = "expression")]
    pub filter: Option<String>,
    #[arg(value_name = "EXPRESSION", trailing_var_arg = true, hide = true)]
    pub expression: Vec<String>,
    /// Stop after this many packets.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Bytes kept of each packet (0: the default, 262144, as tcpdump).
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = DEFAULT_SNAPLEN)]
    pub snaplen: u32,
    /// Also write every packet analysed to this pcap file (readable by `tunscope analyze`).
    #[arg(short = 'w', long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Put the interface in promiscuous mode (the default, as tcpdump).
    #[arg(long, overrides_with = "no_promisc")]
    pub promisc: bool,
    /// Do not put the interface in promiscuous mode (tcpdump -p).
    #[arg(short = 'p', long, overrides_with = "promisc")]
    pub no_promisc: bool,
    /// Kernel capture buffer in KiB (tcpdump -B); libpcap's default otherwise (2 MiB).
    #[arg(short = 'B', long, value_name = "KIB")]
    pub buffer_size: Option<u32>,
    /// Seconds between rolling summaries on stderr; 0 turns them off.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub interval: f64,
    /// Format of the final report.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Connections shown in the final terminal table (largest first).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// Why the capture stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Signal(&'static str),
    Count,
    Duration,
    /// libpcap ended the capture (the interface went away).
    End,
}

impl Stop {
    fn name(self) -> &'static str {
        match self {
            Stop::Signal("SIGTERM") => "sigterm",
            Stop::Signal(_) => "sigint",
            Stop::Count => "count",
            Stop::Duration => "duration",
            Stop::End => "end_of_capture",
        }
    }
}

/// What the final report adds to `analyze`'s: where the packets came from and what
/// libpcap lost (`capture.live` in JSON; docs/output.md).
#[derive(Debug, serde::Serialize)]
struct LiveInfo {
    interface: String,
    link_type: LinkType,
    filter: Option<String>,
    snaplen: u32,
    promisc: bool,
    /// The `-w` file.
    write: Option<PathBuf>,
    stopped_by: &'static str,
    /// Packets analysed (= written to the `-w` file).
    analysed: u64,
    #[serde(flatten)]
    stats: LiveStats,
    /// Set when libpcap's counters could not be read at the end.
    stats_error: Option<String>,
}

struct Plan {
    cfg: LiveConfig,
    count: Option<u64>,
    duration: Option<Duration>,
    interval: Option<Duration>,
}

fn seconds(flag: &str, v: f64, zero_ok: bool) -> Result<Option<Duration>, CliError> {
    if !v.is_finite() || v < 0.0 || (v == 0.0 && !zero_ok) || v > 1e9 {
        return Err(CliError(format!(
            "--{flag} must be a positive number of seconds, got {v}"
        )));
    }
    Ok((v > 0.0).then(|| Duration::from_secs_f64(v)))
}

impl LiveArgs {
    fn plan(&self) -> Result<Plan, CliError> {
        let Some(interface) = self.interface.clone() else {
            return Err(CliError("-i IFACE is required (or --list)".into()));
        };
        if self.count == Some(0) {
            return Err(CliError("-c must be at least 1".into()));
        }
        let filter = match (&self.filter, self.expression.is_empty()) {
            (Some(f), _) => Some(f.clone()),
            (None, false) => Some(self.expression.join(" ")),
            (None, true) => None,
        };
        let buffer_size = match self.buffer_size {
            Some(0) => return Err(CliError("--buffer-size must be at least 1 KiB".into())),
            Some(kib) => Some(
                kib.checked_mul(1024)
                    .ok_or_else(|| CliError(format!("--buffer-size {kib} KiB is too large")))?,
            ),
            None => None,
        };
        Ok(Plan {
            cfg: LiveConfig {
                interface,
                filter,
                snaplen: if self.snaplen == 0 {
                    DEFAULT_SNAPLEN
                } else {
                    self.snaplen
                },
                promisc: !self.no_promisc,
                buffer_size,
                save: self.write.clone(),
            },
            count: self.count,
            duration: match self.duration {
                Some(d) => seconds("duration", d, false)?,
                None => None,
            },
            interval: seconds("interval", self.interval, true)?,
        })
    }
}

/// One line that says what is wrong and, for permissions, how to fix it.
fn live_error(e: LiveError) -> CliError {
    match e {
        LiveError::Permission { interface, detail } => {
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "tunscope".into());
            CliError(format!(
                "cannot capture on {interface}: permission denied ({detail}); capturing needs \
                 the CAP_NET_RAW capability (CAP_NET_ADMIN too for promiscuous mode and \
                 buffer sizes): run as root, or grant them once with \
                 `sudo setcap cap_net_raw,cap_net_admin=eip {exe}`"
            ))
        }
        other => CliError(other.to_string()),
    }
}

pub(super) fn run(args: LiveArgs) -> Result<u8, CliError> {
    if args.list {
        return list();
    }
    let plan = args.plan()?;
    let pipeline = Pipeline::new(args.pipeline.options()?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| CliError(format!("starting the event loop: {e}")))?;
    let (summary, info, error) = rt.block_on(capture(&plan, pipeline))?;

    match args.format {
        OutputFormat::Text => {
            write_stdout(&with_live_lines(text::render(&summary, args.top), &info))?
        }
        OutputFormat::Json => {
            let mut doc = serde_json::to_value(&summary)
                .map_err(|e| CliError(format!("JSON output: {e}")))?;
            let live =
                serde_json::to_value(&info).map_err(|e| CliError(format!("JSON output: {e}")))?;
            if let Some(capture) = doc.get_mut("capture").and_then(|c| c.as_object_mut()) {
                capture.insert("live".into(), live);
            }
            let mut s = serde_json::to_string_pretty(&doc)
                .map_err(|e| CliError(format!("JSON output: {e}")))?;
            s.push('\n');
            write_stdout(&s)?;
        }
        // Streamed record by record, like `analyze --format jsonl`, then the live line.
        OutputFormat::Jsonl => {
            let live =
                serde_json::to_string(&info).map_err(|e| CliError(format!("JSONL output: {e}")))?;
            stream_stdout("JSONL", |out| {
                jsonl::write(&summary, out)?;
                writeln!(out, "{{\"type\":\"live\",\"live\":{live}}}")?;
                Ok(())
            })?;
        }
    }
    let drops = info.stats.dropped_kernel + info.stats.dropped_interface;
    if drops > 0 {
        eprintln!(
            "tunscope: warning: libpcap dropped {drops} packets ({} by the kernel, {} by the \
             interface); the report misses them (try a larger --buffer-size or a filter)",
            info.stats.dropped_kernel, info.stats.dropped_interface
        );
    }
    if let Some(e) = &info.stats_error {
        eprintln!("tunscope: warning: libpcap statistics: {e}");
    }
    let read_errors = summary.read_errors();
    for e in &read_errors {
        eprintln!("tunscope: error: {e} (the report lacks records)");
    }
    match error {
        Some(e) => {
            eprintln!("tunscope: error: {e}");
            Ok(EXIT_ERROR)
        }
        None if !read_errors.is_empty() => Ok(EXIT_ERROR),
        None => Ok(EXIT_OK),
    }
}

fn list() -> Result<u8, CliError> {
    let mut out = String::new();
    for (n, i) in list_interfaces().map_err(live_error)?.iter().enumerate() {
        let mut flags = Vec::new();
        if i.up {
            flags.push("Up");
        }
        if i.running {
            flags.push("Running");
        }
        if i.loopback {
            flags.push("Loopback");
        }
        let _ = write!(out, "{}.{}", n + 1, i.name);
        if let Some(d) = &i.description {
            let _ = write!(out, " ({d})");
        }
        let _ = write!(out, " [{}]", flags.join(", "));
        if !i.addresses.is_empty() {
            let addrs: Vec<String> = i.addresses.iter().map(|a| a.to_string()).collect();
            let _ = write!(out, " {}", addrs.join(" "));
        }
        out.push('\n');
    }
    write_stdout(&out)?;
    Ok(EXIT_OK)
}

/// The capture section of the text report gets the interface and the drop counters.
fn with_live_lines(report: String, info: &LiveInfo) -> String {
    let mut lines = String::new();
    let _ = writeln!(
        lines,
        "  interface   {} ({}, snaplen {}{}{})",
        info.interface,
        info.link_type,
        info.snaplen,
        if info.promisc { ", promiscuous" } else { "" },
        info.filter
            .as_deref()
            .map(|f| format!(", filter \"{f}\""))
            .unwrap_or_default()
    );
    if let Some(w) = &info.write {
        let _ = writeln!(lines, "  written to  {}", w.display());
    }
    let _ = writeln!(
        lines,
        "  drops       kernel {}, interface {}  (libpcap received {}, analysed {}; stopped by {})",
        info.stats.dropped_kernel,
        info.stats.dropped_interface,
        info.stats.received,
        info.analysed,
        info.stopped_by
    );
    match report.strip_prefix("Capture\n") {
        Some(rest) => format!("Capture\n{lines}{rest}"),
        None => format!("{report}\nLive capture\n{lines}"),
    }
}

type Outcome = (tunscope::report::Summary, LiveInfo, Option<LiveError>);

async fn capture(plan: &Plan, mut pipeline: Pipeline) -> Result<Outcome, CliError> {
    use tokio::signal::unix::{SignalKind, signal};

    // Signals first: a Ctrl-C from here on stops the capture cleanly.
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| CliError(format!("installing the SIGINT handler: {e}")))?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| CliError(format!("installing the SIGTERM handler: {e}")))?;
    let mut cap = LiveCapture::open(&plan.cfg).map_err(live_error)?;
    let cfg = &plan.cfg;
    eprintln!(
        "tunscope: capturing on {} ({}, snaplen {}){}{}; Ctrl-C stops and prints the report",
        cfg.interface,
        cap.link(),
        cfg.snaplen,
        cfg.filter
            .as_deref()
            .map(|f| format!(", filter \"{f}\""))
            .unwrap_or_default(),
        cfg.save
            .as_deref()
            .map(|p| format!(", writing {}", p.display()))
            .unwrap_or_default(),
    );

    let started = Instant::now();
    let deadline = tokio::time::sleep(
        plan.duration
            .unwrap_or(Duration::from_secs(100 * 365 * 86_400)),
    );
    tokio::pin!(deadline);
    let period = plan.interval.unwrap_or(Duration::from_secs(3600));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rolling = Rolling::new(started);
    let count = plan.count.unwrap_or(u64::MAX);
    let mut error = None;

    let stop = 'outer: loop {
        tokio::select! {
            biased;
            _ = sigint.recv() => break Stop::Signal("SIGINT"),
            _ = sigterm.recv() => break Stop::Signal("SIGTERM"),
            _ = &mut deadline, if plan.duration.is_some() => break Stop::Duration,
            _ = ticker.tick(), if plan.interval.is_some() => {
                let stats = cap.stats().ok();
                eprint!("{}", rolling.tick(&cfg.interface, pipeline.snapshot(), stats));
            }
            got = cap.next_packet() => match got {
                Ok(Some(pkt)) => pipeline.process(&pkt),
                Ok(None) => break Stop::End,
                Err(e) => {
                    error = Some(e);
                    break Stop::End;
                }
            },
        }
        // A burst: take what libpcap already holds before going back to the loop.
        for _ in 0..BURST {
            if cap.packets() >= count {
                break 'outer Stop::Count;
            }
            match cap.try_next_packet() {
                Ok(Some(pkt)) => pipeline.process(&pkt),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'outer Stop::End;
                }
            }
        }
        if cap.packets() >= count {
            break Stop::Count;
        }
    };

    // Packets the kernel captured before the stop are reported too (not past -c).
    if matches!(stop, Stop::Signal(_) | Stop::Duration) {
        let until = Instant::now() + DRAIN_LIMIT;
        while cap.packets() < count && Instant::now() < until {
            match cap.try_next_packet() {
                Ok(Some(pkt)) => pipeline.process(&pkt),
                Ok(None) => break,
                Err(e) => {
                    error.get_or_insert(e);
                    break;
                }
            }
        }
    }
    if let Err(e) = cap.flush_save() {
        error.get_or_insert(e);
    }
    let (stats, stats_error) = match cap.stats() {
        Ok(s) => (s, None),
        Err(e) => (LiveStats::default(), Some(e.to_string())),
    };
    let info = LiveInfo {
        interface: cfg.interface.clone(),
        link_type: cap.link(),
        filter: cfg.filter.clone(),
        snaplen: cfg.snaplen,
        promisc: cfg.promisc,
        write: cfg.save.clone(),
        stopped_by: stop.name(),
        analysed: cap.packets(),
        stats,
        stats_error,
    };
    drop(cap);
    let summary = pipeline.finish(CaptureSummaryInput {
        files: Vec::new(),
        warnings: Vec::new(),
        errors: error.iter().map(|e| e.to_string()).collect(),
        complete: error.is_none(),
    });
    Ok((summary, info, error))
}

/// The rolling summary: rates over the last interval, and what is new in the snapshot
/// since the previous one (the snapshot's record lists only grow; of connection and
/// application records it holds the latest, numbered, so what is new is what is numbered
/// from the count seen last time).
struct Rolling {
    started: Instant,
    last: Instant,
    packets: u64,
    bytes: u64,
    flows: u64,
    ended: u64,
    apps: u64,
    quic: u64,
    /// TCP handshake round trips (SYN to ACK) of ended connections, in ms.
    rtt_ms: Vec<f64>,
    /// Request to first response byte (HTTP, Redis) of ended connections, in ms.
    response_ms: Vec<f64>,
    /// Names announced so far (each once), at most [`MAX_SEEN_NAMES`].
    snis: BTreeSet<String>,
    /// New names not announced because [`MAX_SEEN_NAMES`] were remembered.
    names_unshown: u64,
}

/// Names (`tls example.org`, `quic ...`) remembered so that each is announced once; past
/// this, new names are counted in the summary line instead, so the set stays bounded on a
/// long run with hostile or countless SNIs.
const MAX_SEEN_NAMES: usize = 16_384;

/// `true` the first time `key` is seen, while fewer than [`MAX_SEEN_NAMES`] are kept.
fn first_sighting(seen: &mut BTreeSet<String>, unshown: &mut u64, key: String) -> bool {
    if seen.contains(&key) {
        return false;
    }
    if seen.len() >= MAX_SEEN_NAMES {
        *unshown += 1;
        return false;
    }
    seen.insert(key)
}

impl Rolling {
    fn new(now: Instant) -> Self {
        Rolling {
            started: now,
            last: now,
            packets: 0,
            bytes: 0,
            flows: 0,
            ended: 0,
            apps: 0,
            quic: 0,
            rtt_ms: Vec::new(),
            response_ms: Vec::new(),
            snis: BTreeSet::new(),
            names_unshown: 0,
        }
    }

    fn tick(&mut self, iface: &str, s: Snapshot<'_>, stats: Option<LiveStats>) -> String {
        let now = Instant::now();
        let secs = now.duration_since(self.last).as_secs_f64().max(1e-3);
        self.last = now;
        let pps = (s.packets - self.packets) as f64 / secs;
        let bps = ((s.bytes - self.bytes) as f64 / secs) as u64;
        let flows = s.tcp_flows + s.udp_flows;
        let new_flows = flows - self.flows;
        (self.packets, self.bytes, self.flows) = (s.packets, s.bytes, flows);

        for c in s.ended.since(self.ended) {
            if let Some(rtt) = c.tcp.as_ref().and_then(|t| t.handshake.total_rtt_ns) {
                push_sample(&mut self.rtt_ms, rtt as f64 / 1e6);
            }
        }
        self.ended = s.ended.total();
        let mut tls_new = Vec::new();
        for a in s.apps.since(self.apps) {
            for layer in &a.layers {
                layer.live_notes(&mut |note| match note {
                    LiveNote::Name(kind, name) => {
                        if first_sighting(
                            &mut self.snis,
                            &mut self.names_unshown,
                            format!("{kind} {name}"),
                        ) {
                            tls_new.push(terminal(name, TERMINAL_MAX).into_owned());
                        }
                    }
                    LiveNote::ResponseMs(ms) => push_sample(&mut self.response_ms, ms),
                });
            }
        }
        self.apps = s.apps.total();
        let mut quic_new = Vec::new();
        for q in s.udp.quic_since(self.quic) {
            if let Some(sni) = &q.summary.sni
                && first_sighting(
                    &mut self.snis,
                    &mut self.names_unshown,
                    format!("quic {sni}"),
                )
            {
                quic_new.push(terminal(sni, TERMINAL_MAX).into_owned());
            }
        }
        self.quic = s.udp.flows_ended();

        let mut out = String::new();
        let _ = writeln!(
            out,
            "live {iface} +{:.1}s: {pps:.0} pkt/s, {}/s ({} packets); connections {new_flows} new, {} open, {} ended",
            now.duration_since(self.started).as_secs_f64(),
            human_bytes(bps),
            s.packets,
            s.open_flows,
            s.ended.total() + s.ended_omitted,
        );
        let ports: Vec<String> = s.exposed_ports.iter().map(|p| p.to_string()).collect();
        let _ = writeln!(
            out,
            "  tunnel      ports exposed {}; ended: {} control, {} tunnel connections, {} visitors",
            if ports.is_empty() {
                "-".into()
            } else {
                ports.join(" ")
            },
            s.tunnel_controls.len(),
            s.tunnel_conns.len(),
            s.tunnel_visitors.len()
        );
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(
            out,
            "  new SNIs    tls {}; quic {}{}",
            list(&tls_new),
            list(&quic_new),
            if self.names_unshown > 0 {
                format!(
                    " ({} more new names not shown: {MAX_SEEN_NAMES} remembered)",
                    self.names_unshown
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "  latency     TCP handshake {}; responses {}",
            percentiles(&self.rtt_ms),
            percentiles(&self.response_ms)
        );
        let _ = match stats {
            Some(st) => writeln!(
                out,
                "  drops       kernel {}, interface {} (libpcap received {})",
                st.dropped_kernel, st.dropped_interface, st.received
            ),
            None => writeln!(
                out,
                "  drops       unknown (libpcap statistics unavailable)"
            ),
        };
        out
    }
}

fn push_sample(v: &mut Vec<f64>, x: f64) {
    if v.len() < MAX_SAMPLES && x.is_finite() {
        v.push(x);
    }
}

/// `p50 1.20 ms, p90 3.40 ms, p99 5.00 ms (n 42)` by nearest rank, or `-`.
fn percentiles(samples: &[f64]) -> String {
    if samples.is_empty() {
        return "-".into();
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms (n {})",
        at(0.50),
        at(0.90),
        at(0.99),
        v.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_names_stay_bounded_and_count_what_they_refuse() {
        let (mut seen, mut unshown) = (BTreeSet::new(), 0);
        assert!(first_sighting(&mut seen, &mut unshown, "tls a".into()));
        assert!(!first_sighting(&mut seen, &mut unshown, "tls a".into()));
        for i in 0..MAX_SEEN_NAMES + 10 {
            first_sighting(&mut seen, &mut unshown, format!("tls n{i}"));
        }
        assert_eq!(seen.len(), MAX_SEEN_NAMES);
        assert_eq!(unshown, 11);
        assert!(!first_sighting(&mut seen, &mut unshown, "tls a".into()));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentiles(&[]), "-");
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            percentiles(&v),
            "p50 50.00 ms, p90 90.00 ms, p99 99.00 ms (n 100)"
        );
        assert_eq!(
            percentiles(&[3.0]),
            "p50 3.00 ms, p90 3.00 ms, p99 3.00 ms (n 1)"
        );
    }

    #[test]
    fn live_lines_go_into_the_capture_section() {
        let info = LiveInfo {
            interface: "lo".into(),
            link_type: LinkType::ETHERNET,
            filter: Some("tcp".into()),
            snaplen: 262_144,
            promisc: true,
            write: None,
            stopped_by: "sigint",
            analysed: 7,
            stats: LiveStats {
                received: 9,
                dropped_kernel: 2,
                dropped_interface: 0,
            },
            stats_error: None,
        };
        let out = with_live_lines("Capture\n  packets     7\n".into(), &info);
        assert!(
            out.starts_with("Capture\n  interface   lo (EN10MB"),
            "{out}"
        );
        assert!(out.contains("drops       kernel 2, interface 0"), "{out}");
        assert!(out.ends_with("  packets     7\n"), "{out}");
    }
}
