//! `loadbot`: throw a swarm of real QUIC clients at a Meridian server.
//!
//! ```sh
//! cargo run --release -p loadbot -- --bots 1000 --duration 60s --report report.html
//! loadbot merge a.json b.json -o merged.json --report merged.html
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use loadbot::{BehaviourKind, Destination, Report, SpaceShape, SwarmConfig, http};

/// mimalloc: a snapshot, frame or datagram is allocated and freed per client
/// per tick, and glibc's allocator showed as a tenth of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Throw bots at a Meridian server and report what they saw.
#[derive(Debug, Parser)]
#[command(
    name = "loadbot",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The server's HTTP address (its account API, join endpoint and
    /// metrics); for a cluster, every shard's, comma separated (bots join them
    /// in turn).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Where the servers serve `/metrics` (for the tick and the CPU), when a
    /// server runs with `--metrics-address`: comma separated, in the order of
    /// `--server`. Default: the `--server` addresses.
    #[arg(long, value_name = "URL")]
    metrics: Option<String>,
    /// The bots' accounts: bot i logs in as PREFIX-i, signing the account up
    /// if it does not exist. Its password is derived from PREFIX and i, so
    /// anyone can compute it: for load tests only, never for people's accounts.
    #[arg(long, default_value = "loadbot", value_name = "PREFIX")]
    accounts: String,
    /// Join this space (by id) instead of the one the server hosts; a space
    /// with a capacity seats the bots in rooms.
    #[arg(long, value_name = "ID", conflicts_with = "create_space")]
    space: Option<i64>,
    /// The first bot's account creates a space of W x H metres (and
    /// `capacity` seats per room, overflowing into new rooms) and every bot
    /// joins it, like 60x40:10.
    #[arg(long, value_name = "WxH[:capacity]")]
    create_space: Option<SpaceShape>,
    /// The world's zone size in metres (for the `cross` behaviour).
    #[arg(long)]
    zone_size: Option<f32>,
    /// A bot that loses its connection joins again through the next server,
    /// and the report says how long that took and how far it moved.
    #[arg(long)]
    reconnect: bool,
    /// How many bots.
    #[arg(long, default_value_t = 100)]
    bots: usize,
    /// How long the run lasts after ramp-up, like 60s or 2m.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Bots start evenly over this time, like 10s.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    ramp_up: Duration,
    /// Behaviours, comma separated, assigned round robin: random-walk, flock,
    /// idle, chat, cross (walks back and forth over a zone border).
    #[arg(long, default_value = "random-walk,flock,idle,chat")]
    behaviours: String,
    /// Client UDP sockets to spread the bots over.
    #[arg(long, default_value_t = 4)]
    endpoints: usize,
    /// The server's tick rate: bots send one input per tick.
    #[arg(long, default_value_t = 20)]
    tick_rate: u32,
    /// Seed for the bots' choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Voice bots that speak: bots 0..K send 50 Opus packets/s over WebRTC
    /// (str0m) through the server's voice port.
    #[arg(long, default_value_t = 0)]
    voice_speakers: usize,
    /// Bots that turn voice on and listen (bots 0..N, at least the
    /// speakers); default: every bot when there are speakers.
    #[arg(long)]
    voice_listeners: Option<usize>,
    /// Listening lines each voice bot offers.
    #[arg(long, default_value_t = 10)]
    voice_slots: usize,
    /// Also write the report as JSON here (with the histograms that
    /// `loadbot merge` needs).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write the report as a self-contained HTML page here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Merge the JSON reports of loadbots that ran side by side into one
    /// (counts add up, percentiles come from the merged histograms).
    Merge {
        /// The reports, written with --json.
        #[arg(required = true, num_args = 2..)]
        reports: Vec<PathBuf>,
        /// Write the merged JSON here (default: print the text report only).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Also write the merged report as an HTML page here.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |at| text.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 60s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?}: use ms, s or m")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// Writes the report as JSON and as HTML where asked.
fn write_report(
    report: &Report,
    json: Option<&PathBuf>,
    html: Option<&PathBuf>,
) -> anyhow::Result<()> {
    if let Some(path) = json {
        let json = serde_json::to_string_pretty(report)?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = html {
        let page = loadbot::html::to_html(report)
            .map_err(|error| anyhow::anyhow!("cannot draw the report's charts: {error}"))?;
        std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// `loadbot merge`: reads the reports, adds them up, writes the result.
fn merge(
    reports: &[PathBuf],
    output: Option<&PathBuf>,
    html: Option<&PathBuf>,
) -> anyhow::Result<()> {
    let mut merged: Option<Report> = None;
    for path in reports {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let report: Report = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a loadbot JSON report", path.display()))?;
        match &mut merged {
            None => merged = Some(report),
            Some(merged) => merged
                .merge(&report)
                .with_context(|| format!("cannot merge {}", path.display()))?,
        }
    }
    let Some(mut merged) = merged else {
        bail!("no reports to merge");
    };
    // Percentiles from the histograms, even for a single report.
    merged.settle().context("cannot merge the reports")?;
    print!("{}", merged.to_text());
    write_report(&merged, output, html)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Command::Merge {
        reports,
        output,
        report,
    }) = &args.command
    {
        return merge(reports, output.as_ref(), report.as_ref());
    }
    let behaviours = args
        .behaviours
        .split(',')
        .map(|name| {
            BehaviourKind::parse(name.trim()).with_context(|| format!("unknown behaviour {name:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if behaviours.is_empty() || args.bots == 0 {
        bail!("need at least one bot and one behaviour");
    }
    loadbot::account::check_prefix(&args.accounts)?;
    let config = SwarmConfig {
        servers: args
            .server
            .split(',')
            .map(|server| http::parse_base(server.trim()))
            .collect::<Result<Vec<_>, _>>()?,
        metrics: match &args.metrics {
            Some(list) => list
                .split(',')
                .map(|url| http::parse_base(url.trim()))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        },
        zone_size: args.zone_size,
        reconnect: args.reconnect,
        accounts: args.accounts,
        bots: args.bots,
        duration: args.duration,
        ramp_up: args.ramp_up,
        behaviours,
        endpoints: args.endpoints,
        tick_rate_hz: args.tick_rate,
        seed: args.seed,
        progress: !args.quiet,
        voice: loadbot::VoiceLoad {
            speakers: args.voice_speakers,
            listeners: args.voice_listeners,
            slots: args.voice_slots,
        },
    };
    if !config.metrics.is_empty() && config.metrics.len() != config.servers.len() {
        bail!(
            "--metrics names {} addresses for {} servers: give one per server, in the same order",
            config.metrics.len(),
            config.servers.len()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let destination = match (args.space, args.create_space) {
        (Some(id), _) => Destination::Space(id),
        (None, Some(shape)) => Destination::Create(shape),
        (None, None) => Destination::Hosted,
    };
    let report = runtime.block_on(loadbot::run_into(config, destination))?;
    print!("{}", report.to_text());
    write_report(&report, args.json.as_ref(), args.report.as_ref())?;
    if report.failed > 0 || report.dropped > 0 || report.decode_errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn a_space_is_named_or_created_not_both() {
        let args = Args::try_parse_from(["loadbot", "--create-space", "60x40:10"]).expect("parses");
        assert_eq!(
            args.create_space,
            Some(SpaceShape {
                width: 60,
                height: 40,
                capacity: Some(10)
            })
        );
        assert_eq!(
            Args::try_parse_from(["loadbot", "--space", "7"])
                .expect("parses")
                .space,
            Some(7)
        );
        assert!(Args::try_parse_from(["loadbot", "--create-space", "60x40:0"]).is_err());
        assert!(
            Args::try_parse_from(["loadbot", "--space", "7", "--create-space", "60x40"]).is_err()
        );
    }
}
