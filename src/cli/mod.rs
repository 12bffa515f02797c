//! The command line: flags are parsed, then validated, then acted on. Everything here
//! calls the library; only `main.rs` maps the outcome to an exit code.

use crate::capture::CaptureSet;
use crate::flow::FlowConfig;
use crate::pipeline::{self, Options};
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// pcap or pcapng files (gzip-compressed or not); `-` reads standard input.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Connections shown in the terminal table (largest first).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Live flows at most; beyond it the least recently active flow is ended.
    #[arg(long, default_value_t = FlowConfig::default().max_flows)]
    pub max_flows: usize,
    /// Seconds of silence (packet time) after which a TCP connection is ended.
    #[arg(long, default_value_t = 300.0)]
    pub tcp_idle: f64,
    /// Seconds of silence (packet time) after which a UDP flow is ended.
    #[arg(long, default_value_t = 60.0)]
    pub udp_idle: f64,
    /// Never draw a progress bar (it is drawn only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

/// An error worth one line on stderr.
#[derive(Debug)]
pub struct CliError(pub String);

/// Runs the parsed command; returns the exit code.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Analyze(args) => analyze(args),
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

fn analyze(args: AnalyzeArgs) -> Result<u8, CliError> {
    if args.max_flows == 0 {
        return Err(CliError("--max-flows must be at least 1".into()));
    }
    let opts = Options {
        flows: FlowConfig {
            max_flows: args.max_flows,
            tcp_idle_ns: seconds_to_ns("tcp-idle", args.tcp_idle)?,
            udp_idle_ns: seconds_to_ns("udp-idle", args.udp_idle)?,
            ..FlowConfig::default()
        },
        ..Options::default()
    };

    let total: Option<u64> = args
        .captures
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())
        })
        .sum();
    let bar = if args.no_progress {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let mut set = CaptureSet::new(args.captures.clone());
    let mut done_files_bytes = 0u64;
    let mut files_seen = 0usize;
    let summary = pipeline::run(&mut set, opts, |set, packets| {
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
