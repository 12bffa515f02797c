//! The command line: flags are parsed, then validated, then acted on. Everything here
//! calls the library; only `main.rs` maps the outcome to an exit code.

use crate::assembly::AssemblerConfig;
use crate::capture::CaptureSet;
use crate::flow::FlowConfig;
use crate::pipeline::{self, Options, Pipeline};
use crate::report::Summary;
use std::cell::RefCell;
use std::rc::Rc;

#[cfg(feature = "live")]
mod live;
mod streams;
use crate::report::text;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;

/// Exit code: everything went as asked.
pub const EXIT_OK: u8 = 0;
/// Exit code reserved for `tunscope check` finding a regression.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: an error (bad arguments, unreadable or corrupt capture). A report of what
/// could be read is still printed.
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "tunscope",
    version,
    about = "Reassemble TCP streams and decode tunnels in packet captures"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
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
}

/// Flags every command that reads captures shares.
#[derive(Args, Debug)]
pub struct CaptureArgs {
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
pub struct PipelineArgs {
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DigestKind {
    Sha256,
}

#[derive(Args, Debug)]
pub struct StreamsArgs {
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
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
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
}

/// An error worth one line on stderr.
#[derive(Debug)]
pub struct CliError(pub String);

/// Runs the parsed command; returns the exit code.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Streams(args) => streams(args),
        #[cfg(feature = "live")]
        Command::Live(args) => live::run(args),
    }
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
        if self.v2ray_key.len() >= crate::analyzers::quic::v2ray::MAX_KEYS {
            return Err(CliError(format!(
                "--v2ray-key may be given at most {} times",
                crate::analyzers::quic::v2ray::MAX_KEYS - 1
            )));
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
            ..Options::default()
        })
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

/// Capture warnings and errors on stderr, then the exit code.
fn finish(summary: &Summary) -> u8 {
    for w in &summary.capture.warnings {
        eprintln!("tunscope: warning: {w}");
    }
    for e in &summary.capture.errors {
        eprintln!("tunscope: error: {e}");
    }
    if summary.capture.complete {
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
        max_connection_records: 0,
        ..args.input.options()?
    };
    if let Some(dir) = &args.extract {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError(format!("--extract {}: {e}", dir.display())))?;
    }
    let outcome = Rc::new(RefCell::new(streams::StreamsOutcome::default()));
    let observer = streams::StreamsObserver::new(
        Box::new(std::io::BufWriter::new(std::io::stdout())),
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
    Ok(code)
}

fn analyze(args: AnalyzeArgs) -> Result<u8, CliError> {
    let mut opts = args.input.options()?;
    if args.flows_only {
        opts.analyzers = false;
        opts.reassembly = false;
    }
    let summary = args.input.run(Pipeline::new(opts));
    let rendered = match args.format {
        OutputFormat::Text => text::render(&summary, args.top),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&summary)
                .map_err(|e| CliError(format!("JSON output: {e}")))?;
            s.push('\n');
            s
        }
    };
    write_stdout(&rendered)?;
    for w in &summary.capture.warnings {
        eprintln!("tunscope: warning: {w}");
    }
    for e in &summary.capture.errors {
        eprintln!("tunscope: error: {e}");
    }
    Ok(if summary.capture.complete {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
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
