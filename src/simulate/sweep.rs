//! `meridian simulate --sweep KNOB=V1,V2,...`: the same short run at every
//! point of a grid of settings, one CSV row per point, and a chart of each
//! figure against each knob (the other knobs' values as separate lines).
//!
//! Every point is checked like the config file before anything runs, so a bad
//! value stops the sweep at once rather than after minutes of the grid.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use meridian_sim::{ConfigError, SimConfig};
use thiserror::Error;

use super::charts::{LineChart, Series};
use super::{Report, RunShape, measure};

/// The most grid points one sweep runs.
const MAX_POINTS: usize = 1_000;

/// A setting a sweep can vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Knob {
    /// `tick_rate_hz`.
    TickRate,
    /// `interest_radius`, metres.
    InterestRadius,
    /// `interest_hysteresis`, metres.
    Hysteresis,
    /// `interest_refresh_ticks`.
    InterestRefreshTicks,
    /// `max_visible_entities`.
    MaxVisible,
    /// `world_width` and `world_height`, metres.
    WorldSize,
    /// Wandering agents.
    Entities,
    /// Static elements.
    Elements,
}

impl Knob {
    /// Every knob, in the order of the help text.
    pub(crate) const ALL: [Self; 8] = [
        Self::TickRate,
        Self::InterestRadius,
        Self::Hysteresis,
        Self::InterestRefreshTicks,
        Self::MaxVisible,
        Self::WorldSize,
        Self::Entities,
        Self::Elements,
    ];

    /// Its name on the command line and in the CSV header.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::TickRate => "tick_rate",
            Self::InterestRadius => "interest_radius",
            Self::Hysteresis => "hysteresis",
            Self::InterestRefreshTicks => "interest_refresh_ticks",
            Self::MaxVisible => "max_visible",
            Self::WorldSize => "world_size",
            Self::Entities => "entities",
            Self::Elements => "elements",
        }
    }

    /// The knob of a name; the config file's field names work too.
    fn parse(name: &str) -> Option<Self> {
        let alias = match name {
            "tick_rate_hz" => Self::TickRate,
            "interest_hysteresis" => Self::Hysteresis,
            "max_visible_entities" => Self::MaxVisible,
            _ => return Self::ALL.into_iter().find(|knob| knob.name() == name),
        };
        Some(alias)
    }

    /// Its unit, for chart axes.
    fn unit(self) -> &'static str {
        match self {
            Self::TickRate => "Hz",
            Self::InterestRadius | Self::Hysteresis | Self::WorldSize => "m",
            Self::InterestRefreshTicks => "ticks",
            Self::MaxVisible | Self::Entities | Self::Elements => "count",
        }
    }

    fn takes_whole_numbers(self) -> bool {
        !matches!(
            self,
            Self::InterestRadius | Self::Hysteresis | Self::WorldSize
        )
    }

    /// Sets this knob to `value` (already checked to be whole where it must be).
    fn apply(self, value: f64, config: &mut SimConfig, shape: &mut RunShape) {
        // Whole, non-negative and below MAX_WHOLE: the casts are exact.
        match self {
            Self::TickRate => config.tick_rate_hz = value as u32,
            Self::InterestRadius => config.interest_radius = value as f32,
            Self::Hysteresis => config.interest_hysteresis = value as f32,
            Self::InterestRefreshTicks => config.interest_refresh_ticks = value as u32,
            Self::MaxVisible => config.max_visible_entities = value as usize,
            Self::WorldSize => {
                config.world_width = value as f32;
                config.world_height = value as f32;
            }
            Self::Entities => shape.entities = value as usize,
            Self::Elements => shape.elements = value as usize,
        }
    }
}

/// The largest value a whole-number knob takes.
const MAX_WHOLE: f64 = 1_000_000.0;

/// Why a sweep cannot run.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub(crate) enum SweepError {
    /// Not `KNOB=V1,V2,...`.
    #[error("--sweep {0:?} is not KNOB=V1,V2,... (like interest_radius=20,30,50)")]
    Syntax(String),
    /// No such knob.
    #[error("unknown knob {name:?} in --sweep; the knobs are {}", knob_names())]
    UnknownKnob {
        /// The name given.
        name: String,
    },
    /// A value is not a number.
    #[error("{knob}: {text:?} is not a number")]
    NotANumber {
        /// The knob.
        knob: &'static str,
        /// The value given.
        text: String,
    },
    /// A count or rate that is not a whole number.
    #[error("{knob} takes whole numbers from 0 to 1000000, not {value}")]
    NotWhole {
        /// The knob.
        knob: &'static str,
        /// The value given.
        value: f64,
    },
    /// The same knob in two sweeps.
    #[error("{0} is swept twice: give its values in one --sweep")]
    Repeated(&'static str),
    /// A point of the grid that the config file would refuse.
    #[error("the grid point {point} is not a valid setting: {source}")]
    Invalid {
        /// The point, as `knob=value` pairs.
        point: String,
        /// What the config check said.
        source: ConfigError,
    },
    /// No agents at a point.
    #[error("the grid point {0} has no entities: give entities of 1 or more")]
    NoEntities(String),
    /// Too many combinations.
    #[error("the grid has {0} points; one sweep runs at most {MAX_POINTS}")]
    TooLarge(usize),
}

fn knob_names() -> String {
    Knob::ALL.map(Knob::name).join(", ")
}

/// One `--sweep`: a knob and its values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sweep {
    knob: Knob,
    values: Vec<f64>,
}

impl Sweep {
    /// Reads `KNOB=V1,V2,...`.
    pub(crate) fn parse(text: &str) -> Result<Self, SweepError> {
        let (name, list) = text
            .split_once('=')
            .ok_or_else(|| SweepError::Syntax(text.into()))?;
        let knob = Knob::parse(name.trim()).ok_or_else(|| SweepError::UnknownKnob {
            name: name.trim().into(),
        })?;
        let mut values = Vec::new();
        for item in list.split(',') {
            let item = item.trim();
            let value: f64 = item
                .parse()
                .ok()
                .filter(|value: &f64| value.is_finite())
                .ok_or_else(|| SweepError::NotANumber {
                    knob: knob.name(),
                    text: item.into(),
                })?;
            let whole = value.fract() == 0.0 && (0.0..=MAX_WHOLE).contains(&value);
            if knob.takes_whole_numbers() && !whole {
                return Err(SweepError::NotWhole {
                    knob: knob.name(),
                    value,
                });
            }
            if !values.contains(&value) {
                values.push(value);
            }
        }
        if values.is_empty() || list.trim().is_empty() {
            return Err(SweepError::Syntax(text.into()));
        }
        Ok(Self { knob, values })
    }
}

/// One point of the grid: the settings it runs with.
#[derive(Debug, Clone)]
struct GridPoint {
    /// The swept knobs' values, in the order of the sweeps.
    values: Vec<f64>,
    config: SimConfig,
    shape: RunShape,
}

/// Every combination of the sweeps' values (the last sweep varies fastest),
/// each checked like the config file.
fn grid(base: &SimConfig, shape: RunShape, sweeps: &[Sweep]) -> Result<Vec<GridPoint>, SweepError> {
    for (index, sweep) in sweeps.iter().enumerate() {
        if sweeps[..index].iter().any(|other| other.knob == sweep.knob) {
            return Err(SweepError::Repeated(sweep.knob.name()));
        }
    }
    let size = sweeps
        .iter()
        .try_fold(1usize, |size, sweep| size.checked_mul(sweep.values.len()))
        .unwrap_or(usize::MAX);
    if size > MAX_POINTS {
        return Err(SweepError::TooLarge(size));
    }
    let mut points = Vec::with_capacity(size);
    for number in 0..size {
        let (mut config, mut point_shape) = (base.clone(), shape);
        let mut values = vec![0.0; sweeps.len()];
        let mut rest = number;
        for (index, sweep) in sweeps.iter().enumerate().rev() {
            let value = sweep.values[rest % sweep.values.len()];
            rest /= sweep.values.len();
            values[index] = value;
            sweep.knob.apply(value, &mut config, &mut point_shape);
        }
        let label = || point_label(sweeps, &values);
        config.validate().map_err(|source| SweepError::Invalid {
            point: label(),
            source,
        })?;
        if point_shape.entities == 0 {
            return Err(SweepError::NoEntities(label()));
        }
        points.push(GridPoint {
            values,
            config,
            shape: point_shape,
        });
    }
    Ok(points)
}

fn point_label(sweeps: &[Sweep], values: &[f64]) -> String {
    sweeps
        .iter()
        .zip(values)
        .map(|(sweep, value)| format!("{}={}", sweep.knob.name(), number(*value)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value as people write it: no decimals when whole, at most three.
fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').to_string()
    }
}

/// What the CSV and charts show of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Measured {
    tick_p50_ms: f64,
    tick_p99_ms: f64,
    movement_and_interest_p99_ms: f64,
    tick_budget_pct_p99: f64,
    bytes_per_client_per_s_mean: f64,
    bytes_per_client_per_s_p99: f64,
    keyframe_bytes_mean: f64,
    view_size_mean: f64,
    view_size_p99: f64,
    entered_per_tick_mean: f64,
    deltas_over_one_datagram: f64,
}

impl Measured {
    fn of(report: &Report) -> Self {
        let budget_ms = 1e3 / f64::from(report.config.tick_rate_hz);
        Self {
            tick_p50_ms: report.tick_ms.p50,
            tick_p99_ms: report.tick_ms.p99,
            movement_and_interest_p99_ms: report.movement_and_interest_ms.p99,
            tick_budget_pct_p99: report.tick_ms.p99 / budget_ms * 100.0,
            bytes_per_client_per_s_mean: report.delta_bytes_per_second.mean,
            bytes_per_client_per_s_p99: report.delta_bytes_per_second.p99,
            keyframe_bytes_mean: report.keyframe_bytes.mean,
            view_size_mean: report.interest_set_size.mean,
            view_size_p99: report.interest_set_size.p99,
            entered_per_tick_mean: report.entered_per_tick.mean,
            deltas_over_one_datagram: report.over_one_datagram as f64,
        }
    }

    /// The CSV's measured columns, in order, with each one's value.
    fn columns(&self) -> [(&'static str, f64); 11] {
        [
            ("tick_p50_ms", self.tick_p50_ms),
            ("tick_p99_ms", self.tick_p99_ms),
            (
                "movement_and_interest_p99_ms",
                self.movement_and_interest_p99_ms,
            ),
            ("tick_budget_pct_p99", self.tick_budget_pct_p99),
            (
                "bytes_per_client_per_s_mean",
                self.bytes_per_client_per_s_mean,
            ),
            (
                "bytes_per_client_per_s_p99",
                self.bytes_per_client_per_s_p99,
            ),
            ("keyframe_bytes_mean", self.keyframe_bytes_mean),
            ("view_size_mean", self.view_size_mean),
            ("view_size_p99", self.view_size_p99),
            ("entered_per_tick_mean", self.entered_per_tick_mean),
            ("deltas_over_one_datagram", self.deltas_over_one_datagram),
        ]
    }
}

/// A figure that gets a chart against each knob: its CSV column, title, unit.
const FIGURES: [(&str, &str, &str); 4] = [
    ("tick_p50_ms", "Tick time p50", "ms"),
    ("tick_p99_ms", "Tick time p99", "ms"),
    (
        "bytes_per_client_per_s_mean",
        "Snapshot bytes per client per second (mean)",
        "bytes/s",
    ),
    ("view_size_mean", "View size (mean)", "entities"),
];

/// Runs the grid and writes `sweep.csv` and the charts into `out`.
pub(crate) fn run(
    base: &SimConfig,
    shape: RunShape,
    sweeps: &[Sweep],
    out: &Path,
) -> anyhow::Result<()> {
    let points = grid(base, shape, sweeps)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let started = Instant::now();
    let mut results = Vec::with_capacity(points.len());
    for (index, point) in points.iter().enumerate() {
        eprintln!(
            "  point {}/{}: {} ({:.1} s elapsed)",
            index + 1,
            points.len(),
            point_label(sweeps, &point.values),
            started.elapsed().as_secs_f64()
        );
        let report = measure(point.config.clone(), point.shape, false)?;
        results.push(Measured::of(&report));
    }
    let csv = out.join("sweep.csv");
    std::fs::write(&csv, to_csv(sweeps, &points, &results))
        .with_context(|| format!("cannot write {}", csv.display()))?;
    let mut charts = Vec::new();
    for (column, title, unit) in FIGURES {
        for (knob_index, sweep) in sweeps.iter().enumerate() {
            let chart = LineChart {
                title: format!("{title} against {}", sweep.knob.name()),
                x_label: format!("{} ({})", sweep.knob.name(), sweep.knob.unit()),
                y_label: unit.to_string(),
                series: series(sweeps, knob_index, &points, &results, column),
            };
            let path = out.join(format!("{column}-vs-{}.svg", sweep.knob.name()));
            std::fs::write(&path, chart.to_svg()?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            charts.push(path);
        }
    }
    print!("{}", to_table(sweeps, &points, &results, shape));
    println!(
        "wrote {} and {} charts in {}",
        csv.display(),
        charts.len(),
        out.display()
    );
    Ok(())
}

fn to_csv(sweeps: &[Sweep], points: &[GridPoint], results: &[Measured]) -> String {
    let mut header: Vec<&str> = sweeps.iter().map(|sweep| sweep.knob.name()).collect();
    header.extend(Measured::default().columns().map(|(name, _)| name));
    let mut text = header.join(",") + "\n";
    for (point, measured) in points.iter().zip(results) {
        let mut cells: Vec<String> = point.values.iter().map(|&value| number(value)).collect();
        cells.extend(measured.columns().map(|(_, value)| number(value)));
        text += &cells.join(",");
        text.push('\n');
    }
    text
}

fn to_table(
    sweeps: &[Sweep],
    points: &[GridPoint],
    results: &[Measured],
    shape: RunShape,
) -> String {
    let mut text = format!(
        "meridian simulate --sweep: {} points, {} ticks each, seed {}\n",
        points.len(),
        shape.ticks,
        shape.seed
    );
    let _ = writeln!(
        text,
        "{:<40} {:>9} {:>9} {:>12} {:>9}",
        "point", "tick p50", "tick p99", "bytes/cl/s", "view"
    );
    for (point, measured) in points.iter().zip(results) {
        let _ = writeln!(
            text,
            "{:<40} {:>6.2} ms {:>6.2} ms {:>12.0} {:>9.1}",
            point_label(sweeps, &point.values),
            measured.tick_p50_ms,
            measured.tick_p99_ms,
            measured.bytes_per_client_per_s_mean,
            measured.view_size_mean
        );
    }
    text
}

/// `column` against the knob at `knob_index`: one line per combination of
/// the other knobs' values, in the grid's order.
fn series(
    sweeps: &[Sweep],
    knob_index: usize,
    points: &[GridPoint],
    results: &[Measured],
    column: &str,
) -> Vec<Series> {
    let mut lines: Vec<(Vec<f64>, Series)> = Vec::new();
    for (point, measured) in points.iter().zip(results) {
        let others: Vec<f64> = point
            .values
            .iter()
            .enumerate()
            .filter(|&(index, _)| index != knob_index)
            .map(|(_, &value)| value)
            .collect();
        let y = measured
            .columns()
            .into_iter()
            .find(|(name, _)| *name == column)
            .map_or(0.0, |(_, value)| value);
        let x = point.values[knob_index];
        match lines.iter_mut().find(|(key, _)| *key == others) {
            Some((_, line)) => line.points.push((x, y)),
            None => {
                let name = sweeps
                    .iter()
                    .enumerate()
                    .filter(|&(index, _)| index != knob_index)
                    .zip(&others)
                    .map(|((_, sweep), value)| format!("{}={}", sweep.knob.name(), number(*value)))
                    .collect::<Vec<_>>()
                    .join(", ");
                lines.push((
                    others,
                    Series {
                        name,
                        points: vec![(x, y)],
                    },
                ));
            }
        }
    }
    lines
        .into_iter()
        .map(|(_, mut line)| {
            line.points.sort_by(|a, b| a.0.total_cmp(&b.0));
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> RunShape {
        RunShape {
            entities: 50,
            elements: 0,
            ticks: 5,
            seed: 3,
            snapshot_sample: 10,
        }
    }

    #[test]
    fn sweeps_parse_with_aliases_and_refuse_unknown_knobs() {
        let sweep = Sweep::parse("tick_rate_hz=10, 20,30").unwrap();
        assert_eq!(sweep.knob, Knob::TickRate);
        assert_eq!(sweep.values, vec![10.0, 20.0, 30.0]);
        assert_eq!(
            Sweep::parse("interest_radius=12.5").unwrap().values,
            vec![12.5]
        );
        let unknown = Sweep::parse("tick_speed=1,2").unwrap_err();
        assert_eq!(
            unknown,
            SweepError::UnknownKnob {
                name: "tick_speed".into()
            }
        );
        assert!(unknown.to_string().contains("interest_radius"), "{unknown}");
        assert!(matches!(
            Sweep::parse("tick_rate=ten"),
            Err(SweepError::NotANumber { .. })
        ));
        assert!(matches!(
            Sweep::parse("tick_rate=12.5"),
            Err(SweepError::NotWhole { .. })
        ));
        assert!(matches!(
            Sweep::parse("entities=-4"),
            Err(SweepError::NotWhole { .. })
        ));
        assert!(matches!(
            Sweep::parse("interest_radius"),
            Err(SweepError::Syntax(_))
        ));
        assert!(matches!(
            Sweep::parse("interest_radius="),
            Err(SweepError::NotANumber { .. })
        ));
    }

    #[test]
    fn the_grid_is_every_combination_checked_like_the_config_file() {
        let sweeps = [
            Sweep::parse("interest_radius=20,30,50,100").unwrap(),
            Sweep::parse("tick_rate=10,20,30").unwrap(),
        ];
        let points = grid(&SimConfig::default(), shape(), &sweeps).unwrap();
        assert_eq!(points.len(), 12);
        assert_eq!(points[0].values, vec![20.0, 10.0]);
        assert_eq!(points[1].values, vec![20.0, 20.0]);
        assert_eq!(points[11].values, vec![100.0, 30.0]);
        assert_eq!(points[11].config.interest_radius, 100.0);
        assert_eq!(points[11].config.tick_rate_hz, 30);

        let bad = [Sweep::parse("tick_rate=20,500").unwrap()];
        let error = grid(&SimConfig::default(), shape(), &bad).unwrap_err();
        assert!(
            error.to_string().contains("tick_rate=500") && error.to_string().contains("1..=240"),
            "{error}"
        );
        // Hysteresis beyond the radius: a combination the config check refuses.
        let mixed = [
            Sweep::parse("interest_radius=5,30").unwrap(),
            Sweep::parse("hysteresis=10").unwrap(),
        ];
        assert!(matches!(
            grid(&SimConfig::default(), shape(), &mixed),
            Err(SweepError::Invalid { .. })
        ));
        let twice = [
            Sweep::parse("tick_rate=10").unwrap(),
            Sweep::parse("tick_rate_hz=20").unwrap(),
        ];
        assert_eq!(
            grid(&SimConfig::default(), shape(), &twice).unwrap_err(),
            SweepError::Repeated("tick_rate")
        );
        let empty = [Sweep::parse("entities=0,10").unwrap()];
        assert!(matches!(
            grid(&SimConfig::default(), shape(), &empty),
            Err(SweepError::NoEntities(_))
        ));
    }

    #[test]
    fn each_other_knob_combination_is_one_line() {
        let sweeps = [
            Sweep::parse("interest_radius=20,30").unwrap(),
            Sweep::parse("tick_rate=10,20,30").unwrap(),
        ];
        let points = grid(&SimConfig::default(), shape(), &sweeps).unwrap();
        let results: Vec<Measured> = points
            .iter()
            .map(|point| Measured {
                view_size_mean: point.values[0] + point.values[1],
                ..Measured::default()
            })
            .collect();
        let against_radius = series(&sweeps, 0, &points, &results, "view_size_mean");
        assert_eq!(against_radius.len(), 3);
        assert_eq!(against_radius[1].name, "tick_rate=20");
        assert_eq!(against_radius[1].points, vec![(20.0, 40.0), (30.0, 50.0)]);
        let against_rate = series(&sweeps, 1, &points, &results, "view_size_mean");
        assert_eq!(against_rate.len(), 2);
        assert_eq!(against_rate[0].points.len(), 3);
        let csv = to_csv(&sweeps, &points, &results);
        assert_eq!(csv.lines().count(), 7);
        assert!(csv.starts_with("interest_radius,tick_rate,tick_p50_ms,"));
        assert!(csv.lines().nth(1).unwrap().starts_with("20,10,"));
    }

    #[test]
    fn numbers_print_short() {
        assert_eq!(number(30.0), "30");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(1.0 / 3.0), "0.333");
    }
}
