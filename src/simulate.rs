//! `meridian simulate`: one zone, N wandering agents, T ticks, and the numbers a
//! designer tunes by: tick time, interest set sizes, snapshot bytes.
//!
//! Agents drive avatars through the same inputs and validation as real clients.
//! Snapshot sizes are real encodings: for a sample of clients, each tick's view is
//! encoded as a delta against the previous tick's view (as if every snapshot were
//! acknowledged at once), and as a keyframe. No byte budget applies yet (that is
//! the netcode's), so a view larger than one datagram is counted, not cut.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use meridian_protocol::limits::MAX_DATAGRAM_PAYLOAD;
use meridian_protocol::snapshot::{EntityState, encode_body};
use meridian_sim::agents::{SplitMix64, Wanderers};
use meridian_sim::{
    Aabb, ClientId, ElementPlacement, InterestChange, RejectReason, SimConfig, SpawnError,
    TickPhase, Vec2, Zone,
};
use serde::Serialize;

use crate::config::FileConfig;
use crate::stats::Summary;

mod charts;
mod sweep;

/// Flags of `meridian simulate`. Each one overrides the config file.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// TOML config file with a `[sim]` table (flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Wandering agents (avatars) to simulate.
    #[arg(long, default_value_t = 1_000)]
    entities: usize,
    /// Ticks to run (default 300; 60 per grid point of a sweep).
    #[arg(long)]
    ticks: Option<u64>,
    /// Seed for spawn points, elements and wandering.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulation ticks per second.
    #[arg(long)]
    tick_rate: Option<u32>,
    /// Interest radius, metres.
    #[arg(long)]
    interest_radius: Option<f32>,
    /// Interest hysteresis, metres beyond the radius before an entity leaves a view.
    #[arg(long)]
    hysteresis: Option<f32>,
    /// Recompute each view every this many ticks (staggered over subscribers).
    #[arg(long)]
    interest_refresh_ticks: Option<u32>,
    /// The most entities one client sees.
    #[arg(long)]
    max_visible: Option<usize>,
    /// Side of a square world, metres (sets both width and height).
    #[arg(long)]
    world_size: Option<f32>,
    /// Static elements (2–6 m boxes) scattered over the world.
    #[arg(long, default_value_t = 0)]
    elements: usize,
    /// How many clients' snapshots to encode each tick (a deterministic sample).
    #[arg(long, default_value_t = 1_000)]
    snapshot_sample: usize,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Sweep a knob over values, like `interest_radius=20,30,50`; repeat for
    /// more knobs (the grid is every combination). Knobs: tick_rate,
    /// interest_radius, hysteresis, interest_refresh_ticks, max_visible,
    /// world_size, entities, elements.
    #[arg(long, value_name = "KNOB=V1,V2,...")]
    sweep: Vec<String>,
    /// Where a sweep writes sweep.csv and its SVG charts.
    #[arg(long, default_value = "sweep", value_name = "DIR")]
    out: PathBuf,
}

/// Ticks of a single run, and of each grid point of a sweep, unless `--ticks`.
const DEFAULT_TICKS: u64 = 300;
const DEFAULT_SWEEP_TICKS: u64 = 60;

/// What one run simulates, apart from the zone's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RunShape {
    entities: usize,
    elements: usize,
    ticks: u64,
    seed: u64,
    snapshot_sample: usize,
}

impl SimulateArgs {
    fn sim_config(&self) -> anyhow::Result<SimConfig> {
        let mut config = match &self.config {
            Some(path) => FileConfig::load(path)?.sim,
            None => SimConfig::default(),
        };
        if let Some(value) = self.tick_rate {
            config.tick_rate_hz = value;
        }
        if let Some(value) = self.interest_radius {
            config.interest_radius = value;
        }
        if let Some(value) = self.hysteresis {
            config.interest_hysteresis = value;
        }
        if let Some(value) = self.interest_refresh_ticks {
            config.interest_refresh_ticks = value;
        }
        if let Some(value) = self.max_visible {
            config.max_visible_entities = value;
        }
        if let Some(value) = self.world_size {
            config.world_width = value;
            config.world_height = value;
        }
        config.validate().context("invalid simulation settings")?;
        Ok(config)
    }

    fn shape(&self, default_ticks: u64) -> RunShape {
        RunShape {
            entities: self.entities,
            elements: self.elements,
            ticks: self.ticks.unwrap_or(default_ticks),
            seed: self.seed,
            snapshot_sample: self.snapshot_sample,
        }
    }
}

/// The report, as printed and as written with `--json`.
#[derive(Debug, Serialize)]
struct Report {
    entities: usize,
    elements: usize,
    ticks: u64,
    seed: u64,
    config: SimConfig,
    /// Wall time of `Zone::step`, milliseconds, first tick (schedule build) excluded.
    tick_ms: Summary,
    /// Each phase's share of the tick, milliseconds, same ticks.
    phase_ms: Vec<(&'static str, Summary)>,
    /// Movement and interest phases together (the target covers these).
    movement_and_interest_ms: Summary,
    /// Visible entities per client, sampled every tick.
    interest_set_size: Summary,
    entered_per_tick: Summary,
    left_per_tick: Summary,
    inputs_accepted: u64,
    inputs_rejected: u64,
    rejected_by_reason: Vec<(&'static str, u64)>,
    snapshot_clients_sampled: usize,
    /// Delta snapshot body bytes per client per tick.
    delta_bytes: Summary,
    /// Keyframe body bytes per client.
    keyframe_bytes: Summary,
    /// Delta bytes per client per second at the tick rate.
    delta_bytes_per_second: Summary,
    /// Bodies larger than one datagram (the netcode's budget will cut these).
    over_one_datagram: u64,
    final_state_hash: String,
}

fn scatter_elements(zone: &mut Zone, count: usize, rng: &mut SplitMix64) -> usize {
    let (width, height) = (zone.config().world_width, zone.config().world_height);
    let mut placed = 0;
    for _ in 0..count * 10 {
        if placed == count {
            break;
        }
        let size = Vec2::new(2.0 + rng.next_f32() * 4.0, 2.0 + rng.next_f32() * 4.0);
        let corner = Vec2::new(
            rng.next_f32() * (width - size.x),
            rng.next_f32() * (height - size.y),
        );
        let placement = ElementPlacement {
            bounds: Aabb::from_corners(corner, corner + size),
            appearance: rng.range_u32(0, 16),
            blocking: true,
        };
        match zone.place_element(placement) {
            Ok(_) => placed += 1,
            Err(SpawnError::Occupied | SpawnError::OutOfBounds) => {}
            Err(_) => break,
        }
    }
    placed
}

/// One sampled client's last view, the baseline of its next delta.
struct SampledClient {
    client: ClientId,
    baseline: Vec<EntityState>,
    has_baseline: bool,
}

pub(crate) fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let config = args.sim_config()?;
    if !args.sweep.is_empty() {
        let knobs = args
            .sweep
            .iter()
            .map(|text| sweep::Sweep::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        return sweep::run(&config, args.shape(DEFAULT_SWEEP_TICKS), &knobs, &args.out);
    }
    let report = measure(config, args.shape(DEFAULT_TICKS), true)?;
    print!("{}", render(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Runs one zone with these settings and measures it; `progress` prints a
/// line to stderr every tenth of the run.
fn measure(config: SimConfig, shape: RunShape, progress: bool) -> anyhow::Result<Report> {
    let mut zone = Zone::new(config.clone()).context("cannot build the zone")?;
    let mut rng = SplitMix64::new(shape.seed ^ 0x5eed_e1e0);
    let elements = scatter_elements(&mut zone, shape.elements, &mut rng);
    let mut agents = Wanderers::spawn(&mut zone, shape.entities, 0, shape.seed)
        .context("cannot spawn the agents")?;

    let sample_every = (shape.entities / shape.snapshot_sample.max(1)).max(1);
    let mut sampled: Vec<SampledClient> = (0..shape.entities)
        .step_by(sample_every)
        .take(shape.snapshot_sample)
        .map(|index| SampledClient {
            client: ClientId(index as u64),
            baseline: Vec::new(),
            has_baseline: false,
        })
        .collect();

    let mut inputs = Vec::new();
    let mut view = Vec::new();
    let mut body = Vec::new();
    let mut tick_ms = Vec::with_capacity(shape.ticks as usize);
    let mut phase_ms: Vec<Vec<f64>> = vec![Vec::new(); TickPhase::ALL.len()];
    let mut movement_and_interest_ms = Vec::new();
    let (mut set_sizes, mut entered, mut left) = (Vec::new(), Vec::new(), Vec::new());
    let (mut delta_bytes, mut keyframe_bytes) = (Vec::new(), Vec::new());
    let mut over_one_datagram = 0u64;
    let mut inputs_accepted = 0u64;
    let mut final_hash = 0u64;
    let started = Instant::now();
    let progress_every = (shape.ticks / 10).max(1);

    for tick in 1..=shape.ticks {
        agents.plan(&zone, &mut inputs);
        let begun = Instant::now();
        let mut phase_end = begun;
        let mut phases = [0.0f64; TickPhase::ALL.len()];
        let output = zone.step_observed(&inputs, |phase| {
            let now = Instant::now();
            let index = TickPhase::ALL.iter().position(|&p| p == phase).unwrap_or(0);
            phases[index] = (now - phase_end).as_secs_f64() * 1e3;
            phase_end = now;
        });
        let elapsed = begun.elapsed();
        if tick > 1 {
            tick_ms.push(elapsed.as_secs_f64() * 1e3);
            for (samples, value) in phase_ms.iter_mut().zip(phases) {
                samples.push(value);
            }
            movement_and_interest_ms.push(phases[1] + phases[2] + phases[3]);
        }
        inputs_accepted += output.accepted_inputs as u64;
        final_hash = output.state_hash;
        let (mut entering, mut leaving) = (0usize, 0usize);
        for event in output.interest_events {
            match event.change {
                InterestChange::Entered => entering += 1,
                InterestChange::Left => leaving += 1,
            }
        }
        entered.push(entering as f64);
        left.push(leaving as f64);
        agents.observe(&output, 0);

        for sample in &mut sampled {
            if !zone.view_of(sample.client, &mut view) {
                continue;
            }
            set_sizes.push(view.len() as f64);
            body.clear();
            let keyframe = encode_body(None, &view, &mut body)?;
            keyframe_bytes.push(keyframe.bytes as f64);
            if sample.has_baseline {
                body.clear();
                let delta = encode_body(Some(&sample.baseline), &view, &mut body)?;
                delta_bytes.push(delta.bytes as f64);
                if delta.bytes > MAX_DATAGRAM_PAYLOAD {
                    over_one_datagram += 1;
                }
            }
            std::mem::swap(&mut sample.baseline, &mut view);
            sample.has_baseline = true;
        }
        if progress && tick % progress_every == 0 {
            eprintln!(
                "  tick {tick}/{} ({:.1} s elapsed)",
                shape.ticks,
                started.elapsed().as_secs_f64()
            );
        }
    }

    let counts = zone.rejection_counts();
    let rate = f64::from(config.tick_rate_hz);
    let mut per_second: Vec<f64> = delta_bytes.iter().map(|bytes| bytes * rate).collect();
    let report = Report {
        entities: shape.entities,
        elements,
        ticks: shape.ticks,
        seed: shape.seed,
        tick_ms: Summary::of(&mut tick_ms),
        phase_ms: TickPhase::ALL
            .iter()
            .zip(&mut phase_ms)
            .map(|(phase, samples)| (phase.name(), Summary::of(samples)))
            .collect(),
        movement_and_interest_ms: Summary::of(&mut movement_and_interest_ms),
        interest_set_size: Summary::of(&mut set_sizes),
        entered_per_tick: Summary::of(&mut entered),
        left_per_tick: Summary::of(&mut left),
        inputs_accepted,
        inputs_rejected: counts.total(),
        rejected_by_reason: RejectReason::ALL
            .iter()
            .map(|&reason| (reason.name(), counts.get(reason)))
            .collect(),
        snapshot_clients_sampled: sampled.len(),
        delta_bytes: Summary::of(&mut delta_bytes),
        keyframe_bytes: Summary::of(&mut keyframe_bytes),
        delta_bytes_per_second: Summary::of(&mut per_second),
        over_one_datagram,
        final_state_hash: format!("{final_hash:016x}"),
        config,
    };
    Ok(report)
}

fn render(report: &Report) -> String {
    let config = &report.config;
    let budget_ms = 1e3 / f64::from(config.tick_rate_hz);
    let line = |name: &str, s: &Summary, unit: &str| {
        format!(
            "{name:<28} mean {:>9.2}  p50 {:>9.2}  p90 {:>9.2}  p99 {:>9.2}  max {:>9.2} {unit}\n",
            s.mean, s.p50, s.p90, s.p99, s.max
        )
    };
    let mut out = format!(
        "meridian simulate: {} agents, {} elements, {} ticks at {} Hz, world {} x {} m, \
         interest radius {} m (+{} m hysteresis, views refreshed every {} ticks), \
         at most {} visible, seed {}\n\n",
        report.entities,
        report.elements,
        report.ticks,
        config.tick_rate_hz,
        config.world_width,
        config.world_height,
        config.interest_radius,
        config.interest_hysteresis,
        config.interest_refresh_ticks,
        config.max_visible_entities,
        report.seed,
    );
    out += &line("tick time", &report.tick_ms, "ms");
    for (name, summary) in &report.phase_ms {
        out += &line(&format!("  phase {name}"), summary, "ms");
    }
    out += &line(
        "  movement + interest",
        &report.movement_and_interest_ms,
        "ms",
    );
    out += &format!(
        "{:<28} {:.1} ms per tick at {} Hz; p99 uses {:.1}% of it\n",
        "tick budget",
        budget_ms,
        config.tick_rate_hz,
        report.tick_ms.p99 / budget_ms * 100.0
    );
    out += &line("interest set size", &report.interest_set_size, "entities");
    out += &line("entered views per tick", &report.entered_per_tick, "events");
    out += &line("left views per tick", &report.left_per_tick, "events");
    out += &format!(
        "{:<28} {} accepted, {} rejected",
        "inputs", report.inputs_accepted, report.inputs_rejected
    );
    let reasons: Vec<String> = report
        .rejected_by_reason
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(name, count)| format!("{name} {count}"))
        .collect();
    if !reasons.is_empty() {
        out += &format!(" ({})", reasons.join(", "));
    }
    out += "\n\n";
    out += &format!(
        "snapshot bodies, {} clients sampled, delta against the previous tick:\n",
        report.snapshot_clients_sampled
    );
    out += &line("  delta per client per tick", &report.delta_bytes, "bytes");
    out += &line(
        "  delta per client per second",
        &report.delta_bytes_per_second,
        "bytes/s",
    );
    out += &line("  keyframe per client", &report.keyframe_bytes, "bytes");
    out += &format!(
        "{:<28} {} (of one datagram's {} bytes)\n\n",
        "  deltas over one datagram", report.over_one_datagram, MAX_DATAGRAM_PAYLOAD
    );
    out += &format!("final state hash: {}\n", report.final_state_hash);
    out
}
