//! The command line: flags are parsed, then validated, then acted on. Everything here
//! calls the library; only `main.rs` maps the outcome to an exit code.

use std::cell::RefCell;
use std::rc::Rc;
use tunscope::assembly::AssemblerConfig;
use tunscope::capture::CaptureSet;
use tunscope::flow::FlowConfig;
use tunscope::pipeline::{self, Options, Pipeline};
use tunscope::report::Summary;
use tunscope::report::jsonl::{self, RecordError};

pub(crate) mod check;
#[cfg(feature = "live")]
mod live;
mod streams;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use tunscope::report::text;

/// Exit code: everything went as asked.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code reserved for `tunscope check` finding a regression.
pub(crate) const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: an error (bad arguments, unreadable or corrupt capture). A report of what
/// could be read is still printed.
pub(crate) const EXIT_ERROR: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "tunscope",
    version,
    about = "Reassemble TCP streams and decode tunnels in packet captures"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Summarise one or more captures (read in the order given, as one capture).
    Analyze(AnalyzeArgs),
    /// Reassemble every TCP direction: one JSON line each (src, sport, dst, dport, bytes,
    /// gaps, gap_bytes, start, close, and sha256 with --digest), optionally extracted to files.
    Streams(StreamsArgs),
    /// Capture on a network interface (libpcap) and analyse as `analyze` does: a rolling
    /// summary on stderr every --interval, the final report on Ctrl-C, SIGTERM, -c or
    /// --duration.
    #[cfg(feature = "live")]
    Live(live::LiveArgs),
    /// Compare a capture's report with a baseline (exact facts, metrics within rules):
    /// exit 0 when everything holds, 1 on a regression (with a diff), 2 on error.
    Check(CheckArgs),
    /// Record a baseline for `tunscope check` (the JSON document of `analyze --format json`).
    Baseline(BaselineArgs),
}

/// Flags every command that reads captures shares.
#[derive(Args, Debug)]
pub(crate) struct CaptureArgs {
    /// pcap or pcapng files (gzip-compressed or not); `-` reads standard input.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Never draw a progress bar (it is drawn only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

/// The pipeline's knobs, shared by offline and live analysis (same flags, same answers).
#[derive(Args, Debug)]
pub(crate) struct PipelineArgs {
    /// Live flows at most; beyond it the least recently active flow is ended.
    #[arg(long, default_value_t = FlowConfig::default().max_flows)]
    pub max_flows: usize,
    /// Seconds of silence (packet time) after which a TCP connection is ended.
    #[arg(long, default_value_t = 300.0)]
    pub tcp_idle: f64,
    /// Seconds of silence (packet time) after which a UDP flow is ended.
    #[arg(long, default_value_t = 60.0)]
    pub udp_idle: f64,
    /// Out-of-order pages (1900 bytes each) one TCP connection may buffer before the
    /// assembler skips ahead, reporting the hole as a gap.
    #[arg(long, default_value_t = AssemblerConfig::default().max_pages_per_conn)]
    pub max_pages_per_conn: usize,
    /// Out-of-order pages all TCP connections together may buffer.
    #[arg(long, default_value_t = AssemblerConfig::default().max_pages_total)]
    pub max_pages_total: usize,
    /// Seconds (packet time) after which buffered out-of-order data is forced out with a gap.
    #[arg(long, default_value_t = 30.0)]
    pub flush_after: f64,
    /// Delivered bytes kept per TCP direction to compare retransmissions with (overlap
    /// conflicts); 0 turns the comparison with delivered data off (faster: no copy of
    /// in-order data), conflicts with buffered data are still found.
    #[arg(long, default_value_t = AssemblerConfig::default().conflict_history_bytes)]
    pub conflict_history: usize,
    /// Show secrets seen on the wire (tunnel passwords) in the report. Off by default:
    /// the report says a password was present and how long it was.
    #[arg(long)]
    pub show_secrets: bool,
    /// Key of v2ray's QUIC transport AEAD layer (its `quicSettings.key`); repeatable. The
    /// empty key (v2ray's default) is always tried first. Keys are never printed.
    #[arg(long, value_name = "KEY")]
    pub v2ray_key: Vec<String>,
    /// Connections (TCP and UDP) listed in the report, with their application records;
    /// later ones are counted in `connections_omitted` only. Listed records wait for the
    /// report in a temporary file (in TMPDIR), about 24 bytes of memory each, so this is
    /// a safety cap on the report's size rather than a memory limit.
    #[arg(long, value_name = "N", default_value_t = Options::default().max_connection_records)]
    pub max_records: usize,
    /// Memory budget in MiB for everything the run holds (flows, out-of-order pages,
    /// fragments, analyzer records), split into per-kind caps; the flags above stay as
    /// finer caps. Default: a quarter of the machine's memory (at least 256 MiB).
    #[arg(long, value_name = "MB")]
    pub memory: Option<u64>,
}

/// A quarter of the machine's memory (`MemTotal` of /proc/meminfo) in MiB, at least 256;
/// 1024 when it cannot be read.
pub(crate) fn default_memory_mb() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    total_kib.map_or(1024, |k| (k / 1024 / 4).max(256))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DigestKind {
    Sha256,
}

#[derive(Args, Debug)]
pub(crate) struct StreamsArgs {
    #[command(flatten)]
    pub input: CaptureArgs,
    /// Add the digest of each direction's delivered bytes.
    #[arg(long, value_enum)]
    pub digest: Option<DigestKind>,
    /// Write each direction's delivered bytes to DIR/SRCIP.SPORT-DSTIP.DPORT (tcpflow's
    /// names, `c1`, `c2`... for reused ports); gaps are listed in a `.gaps.jsonl` beside it,
    /// never padded.
    #[arg(long, value_name = "DIR")]
    pub extract: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Text,
    Json,
    /// One JSON record per line, each with a `type` field.
    Jsonl,
}

#[derive(Args, Debug)]
pub(crate) struct AnalyzeArgs {
    #[command(flatten)]
    pub input: CaptureArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Connections shown in the terminal table (largest first).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Count packets, protocols and flows only: no TCP reassembly, no protocol analysis
    /// (a quick first look at a very large capture).
    #[arg(long)]
    pub flows_only: bool,
    /// Also write DIR/summary.json, one CSV per record type and a self-contained
    /// DIR/report.html (created if missing; files are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Width of the throughput time series' bins: `1s`, `500ms`, `10s`, `1m`...
    /// (doubled as often as needed to keep at most 4096 bins).
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub bin: String,
}

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub input: CaptureArgs,
    /// The baseline: a JSON document of `tunscope analyze --format json` or `tunscope baseline`.
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// Tolerances per metric and fact groups to skip (TOML; docs/output.md).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct BaselineArgs {
    #[command(flatten)]
    pub input: CaptureArgs,
    /// Where to write the baseline (`-` for standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

/// An error worth one line on stderr.
#[derive(Debug)]
pub(crate) struct CliError(pub String);

/// Runs the parsed command; returns the exit code.
pub(crate) fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Streams(args) => streams(args),
        #[cfg(feature = "live")]
        Command::Live(args) => live::run(args),
        Command::Check(args) => check(args),
        Command::Baseline(args) => baseline(args),
    }
}

/// Parses a bin width (`1s`, `250ms`, `2m`, `1h`, or plain seconds) into nanoseconds.
pub(crate) fn parse_duration_ns(s: &str) -> Result<i64, CliError> {
    let t = s.trim();
    let (num, mult) = if let Some(x) = t.strip_suffix("ms") {
        (x, 1e6)
    } else if let Some(x) = t.strip_suffix("us") {
        (x, 1e3)
    } else if let Some(x) = t.strip_suffix('s') {
        (x, 1e9)
    } else if let Some(x) = t.strip_suffix('m') {
        (x, 60e9)
    } else if let Some(x) = t.strip_suffix('h') {
        (x, 3600e9)
    } else {
        (t, 1e9)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| CliError(format!("--bin: not a duration: {s:?} (e.g. 1s, 500ms, 1m)")))?;
    let ns = v * mult;
    if !ns.is_finite() || !(1e6..=1e9 * 86400.0 * 366.0).contains(&ns) {
        return Err(CliError(format!(
            "--bin must be between 1ms and a year, got {s:?}"
        )));
    }
    Ok(ns as i64)
}

fn seconds_to_ns(flag: &str, secs: f64) -> Result<i64, CliError> {
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(CliError(format!(
            "--{flag} must be a positive number of seconds, got {secs}"
        )));
    }
    Ok((secs * 1e9) as i64)
}

impl CaptureArgs {
    /// Validates the flags into pipeline options.
    fn options(&self) -> Result<Options, CliError> {
        self.pipeline.options()
    }
}

impl PipelineArgs {
    /// Validates the flags into pipeline options.
    fn options(&self) -> Result<Options, CliError> {
        if self.max_flows == 0 {
            return Err(CliError("--max-flows must be at least 1".into()));
        }
        if self.v2ray_key.len() >= tunscope::analyzers::quic::v2ray::MAX_KEYS {
            return Err(CliError(format!(
                "--v2ray-key may be given at most {} times",
                tunscope::analyzers::quic::v2ray::MAX_KEYS - 1
            )));
        }
        let memory = self.memory.unwrap_or_else(default_memory_mb);
        if memory < 16 {
            return Err(CliError("--memory must be at least 16 (MiB)".into()));
        }
        if self.max_pages_per_conn == 0 || self.max_pages_total == 0 {
            return Err(CliError(
                "--max-pages-per-conn and --max-pages-total must be at least 1".into(),
            ));
        }
        Ok(Options {
            flows: FlowConfig {
                max_flows: self.max_flows,
                tcp_idle_ns: seconds_to_ns("tcp-idle", self.tcp_idle)?,
                udp_idle_ns: seconds_to_ns("udp-idle", self.udp_idle)?,
                ..FlowConfig::default()
            },
            assembler: AssemblerConfig {
                max_pages_per_conn: self.max_pages_per_conn,
                max_pages_total: self.max_pages_total,
                flush_after: Some(seconds_to_ns("flush-after", self.flush_after)?),
                conflict_history_bytes: self.conflict_history,
                ..AssemblerConfig::default()
            },
            show_secrets: self.show_secrets,
            v2ray_keys: self.v2ray_key.clone(),
            max_connection_records: self.max_records,
            ..Options::default()
        }
        .with_memory_budget(memory))
    }
}

impl CaptureArgs {
    /// Runs the captures through `pipeline`, with a progress bar on a terminal.
    fn run(&self, pipeline: Pipeline) -> Summary {
        let total: Option<u64> = self
            .captures
            .iter()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
            })
            .sum();
        let bar = if self.no_progress {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        };
        let mut set = CaptureSet::new(self.captures.clone());
        let mut done_files_bytes = 0u64;
        let mut files_seen = 0usize;
        let summary = pipeline::run(&mut set, pipeline, |set, packets| {
            if bar.is_hidden() {
                return;
            }
            // Files fully read so far contribute their size; the current one its offset.
            while files_seen + 1 < set.files.len() {
                done_files_bytes +=
                    std::fs::metadata(&set.files[files_seen].path).map_or(0, |m| m.len());
                files_seen += 1;
            }
            let pos = set.position().map_or(0, |(off, _)| off);
            bar.set_position(done_files_bytes + pos);
            bar.set_message(format!("{packets} packets"));
        });
        bar.finish_and_clear();
        summary
    }
}

/// Capture warnings and errors on stderr, then the exit code. Call it after the report
/// was written: errors reading records back from the spool's temporary file (the report
/// then lacks records) are known only then.
fn finish(summary: &Summary) -> u8 {
    for w in &summary.capture.warnings {
        eprintln!("tunscope: warning: {w}");
    }
    for e in &summary.capture.errors {
        eprintln!("tunscope: error: {e}");
    }
    let read_errors = summary.read_errors();
    for e in &read_errors {
        eprintln!("tunscope: error: {e} (the report lacks records)");
    }
    if summary.capture.complete && read_errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    }
}

fn streams(args: StreamsArgs) -> Result<u8, CliError> {
    // Reassembly only: no analyzers, no connection records kept (lines go out as
    // connections end), so memory stays flat however long the capture.
    let opts = Options {
        analyzers: false,
        throughput: false,
        max_connection_records: 0,
        ..args.input.options()?
    };
    if let Some(dir) = &args.extract {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError(format!("--extract {}: {e}", dir.display())))?;
    }
    let outcome = Rc::new(RefCell::new(streams::StreamsOutcome::default()));
    let mut out = streams::SharedOut::new(Box::new(std::io::BufWriter::new(std::io::stdout())));
    let observer = streams::StreamsObserver::new(
        Box::new(out.clone()),
        args.digest.is_some(),
        args.extract.clone(),
        Rc::clone(&outcome),
    );
    let summary = args
        .input
        .run(Pipeline::new(opts).with_observer(Box::new(observer)));
    let code = finish(&summary);
    if let Some(e) = outcome.borrow().error.clone() {
        return Err(CliError(e));
    }
    // The last lines are still in the buffer: flush them here, where the error can be
    // reported (a closed pipe, `| head`, is quiet as everywhere else).
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(CliError(format!("writing stream lines: {e}")));
        }
        _ => {}
    }
    Ok(code)
}

/// Colour on a terminal only, and never when `NO_COLOR` is set (no-color.org).
fn use_color() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes `--out DIR`: summary.json and the CSV files, each streamed to its file as it
/// is made (records are read back from the spools one at a time), then report.html
/// (bounded in size: see `report::html`).
fn write_out_dir(dir: &std::path::Path, summary: &Summary) -> Result<(), CliError> {
    let e = |what: &str, err: &dyn std::fmt::Display| {
        CliError(format!("--out {}: {what}: {err}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(|x| e("creating the directory", &x))?;
    std::fs::File::create(dir.join("summary.json"))
        .map_err(RecordError::from)
        .and_then(|f| write_json(summary, &mut std::io::BufWriter::new(f)))
        .map_err(|x| e("summary.json", &x))?;
    tunscope::report::csv::write_files(summary, dir).map_err(|x| e("CSV", &x))?;
    let html = tunscope::report::html::render(summary).map_err(|x| e("HTML report", &x))?;
    std::fs::write(dir.join("report.html"), html).map_err(|x| e("report.html", &x))?;
    Ok(())
}

fn analyze(args: AnalyzeArgs) -> Result<u8, CliError> {
    let bin_ns = parse_duration_ns(&args.bin)?;
    let mut opts = Options {
        throughput_bin_ns: bin_ns,
        ..args.input.options()?
    };
    if args.flows_only {
        opts.analyzers = false;
        opts.reassembly = false;
    }
    let summary = args.input.run(Pipeline::new(opts));
    if let Some(dir) = &args.out {
        write_out_dir(dir, &summary)?;
    }
    match args.format {
        OutputFormat::Text => write_stdout(&text::render_with(
            &summary,
            &text::TextOptions {
                top: args.top,
                color: use_color(),
            },
        ))?,
        // Both serialised straight to stdout, record by record: the output of a large
        // capture is tens of MB, and building it in memory first would grow with it.
        OutputFormat::Json => stream_stdout("JSON", |out| write_json(&summary, out))?,
        OutputFormat::Jsonl => stream_stdout("JSONL", |out| jsonl::write(&summary, out))?,
    }
    Ok(finish(&summary))
}

/// The JSON document, pretty-printed, with a final newline, streamed to `out` (flushed).
///
/// serde_json emits many writes of a few bytes (a quote, a colon, a line's indent); a
/// concretely typed buffer in front of `out` takes them without a virtual call each. With
/// [`tunscope::report::pretty`] that halves the cost of writing a large document.
fn write_json(summary: &Summary, out: &mut dyn Write) -> Result<(), RecordError> {
    let mut buffered = std::io::BufWriter::with_capacity(1 << 16, out);
    tunscope::report::pretty::to_writer(&mut buffered, summary)
        .map_err(RecordError::from_json_write)?;
    buffered.write_all(b"\n")?;
    buffered.flush()?;
    Ok(())
}

/// Streams `format` output to stdout through a buffer; a closed pipe (`| head`) is quiet.
fn stream_stdout(
    format: &str,
    write: impl FnOnce(&mut dyn Write) -> Result<(), RecordError>,
) -> Result<(), CliError> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = write(&mut out).and_then(|()| Ok(out.flush()?));
    match written {
        Ok(()) => Ok(()),
        Err(RecordError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(RecordError::Io(e)) => Err(CliError(format!("writing the report: {e}"))),
        Err(e) => Err(CliError(format!("{format} output: {e}"))),
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message.
fn write_stdout(s: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError(format!("writing the report: {e}"))),
    }
}

fn baseline(args: BaselineArgs) -> Result<u8, CliError> {
    let summary = args.input.run(Pipeline::new(args.input.options()?));
    if args.output.as_os_str() == "-" {
        stream_stdout("JSON", |out| write_json(&summary, out))?;
    } else {
        std::fs::File::create(&args.output)
            .map_err(RecordError::from)
            .and_then(|f| write_json(&summary, &mut std::io::BufWriter::new(f)))
            .map_err(|e| CliError(format!("{}: {e}", args.output.display())))?;
    }
    Ok(finish(&summary))
}

fn check(args: CheckArgs) -> Result<u8, CliError> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| CliError(format!("{}: {e}", p.display())))
    };
    let baseline: serde_json::Value =
        serde_json::from_str(&read(&args.baseline)?).map_err(|e| {
            CliError(format!(
                "{}: not a JSON report: {e}",
                args.baseline.display()
            ))
        })?;
    if !baseline.get("tunscope").is_some_and(|t| t.is_object()) {
        return Err(CliError(format!(
            "{}: not a tunscope report (no \"tunscope\" field)",
            args.baseline.display()
        )));
    }
    let rules = match &args.rules {
        Some(p) => {
            check::Rules::parse(&read(p)?).map_err(|e| CliError(format!("{}: {e}", p.display())))?
        }
        None => check::Rules::default(),
    };
    let summary = args.input.run(Pipeline::new(args.input.options()?));
    if finish(&summary) != EXIT_OK {
        return Err(CliError(
            "the capture could not be read to its end; nothing compared".into(),
        ));
    }
    let now = serde_json::to_value(&summary).map_err(|e| CliError(format!("JSON: {e}")))?;
    let outcome = check::compare(&baseline, &now, &rules).map_err(CliError)?;
    write_stdout(&outcome.render())?;
    Ok(if outcome.regressions() == 0 {
        EXIT_OK
    } else {
        EXIT_CHECK_FAILED
    })
}
