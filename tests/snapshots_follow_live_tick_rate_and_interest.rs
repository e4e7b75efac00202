//! Live settings under load: twelve loadbot bots (random walkers over real
//! QUIC, each its own account) play in a 60 m world; an admin halves the tick
//! rate, then shrinks the interest radius, through the HTTP API. Every bot is
//! told each change (SettingsChanged), its snapshots then come at about half
//! the rate, its inputs follow the new rate (hardly any refused for want of a
//! credit), and its views then hold far fewer entities. Only ratios between
//! the phases are checked, never a duration.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::api::{call, log_in};
use common::{account_join, create_admin, remove_database, start_server_with, temporary_database};
use loadbot::bot::{BehaviourKind, Bot};
use meridian_netcode::driver::client::Behaviour;
use meridian_netcode::{Client, ClientEvent};

const BOTS: usize = 12;

/// What one bot saw: each snapshot's arrival and view size, and the tick
/// rates and interest radii it was told.
#[derive(Default)]
struct Seen {
    snapshots: Vec<(Instant, usize)>,
    changes: Vec<(u16, f32)>,
    ended: bool,
}

/// A loadbot bot that also writes down what it saw.
struct Watched {
    bot: Bot,
    seen: Arc<Mutex<Seen>>,
}

impl Behaviour for Watched {
    fn on_tick(&mut self, client: &mut Client, now: Instant) {
        self.bot.on_tick(client, now);
    }

    fn on_event(&mut self, client: &mut Client, event: ClientEvent, now: Instant) {
        if let Ok(mut seen) = self.seen.lock() {
            match &event {
                ClientEvent::Snapshot { .. } => seen.snapshots.push((now, client.view().len())),
                ClientEvent::SettingsChanged(changed) => seen
                    .changes
                    .push((changed.tick_rate_hz, changed.limits.interest_radius)),
                ClientEvent::Disconnected(_) => seen.ended = true,
                _ => {}
            }
        }
        self.bot.on_event(client, event, now);
    }
}

/// Snapshots a second and mean view size of every bot over `from..to`.
fn phase(bots: &[Arc<Mutex<Seen>>], from: Instant, to: Instant) -> (f64, f64) {
    let (mut count, mut views) = (0usize, 0usize);
    for seen in bots {
        let seen = seen.lock().expect("not poisoned");
        for (at, view) in &seen.snapshots {
            if (from..to).contains(at) {
                count += 1;
                views += view;
            }
        }
    }
    let seconds = (to - from).as_secs_f64() * bots.len() as f64;
    (count as f64 / seconds, views as f64 / count.max(1) as f64)
}

/// Waits (at most a minute) until every bot has been told `count` changes.
async fn everyone_told(bots: &[Arc<Mutex<Seen>>], count: usize) -> Vec<(u16, f32)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let told: Vec<Vec<(u16, f32)>> = bots
            .iter()
            .map(|seen| seen.lock().expect("not poisoned").changes.clone())
            .collect();
        if told.iter().all(|changes| changes.len() >= count) {
            return told[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "not every bot was told: {told:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn snapshot_rate_and_view_sizes_follow_live_settings() {
    let database = temporary_database();
    create_admin(&database, "boss", "boss password");
    let (_server, http) = start_server_with(&database, &["--spawn", "uniform"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let boss = log_in(http, "boss", "boss password").await;
        let mut bots = Vec::new();
        let mut tasks = Vec::new();
        let mut space = 0;
        for index in 0..BOTS {
            let joined = account_join(http, &format!("walker{index}")).await;
            space = joined.space_id;
            let (endpoint, connection, mut client) = joined.connect().await;
            let seen = Arc::new(Mutex::new(Seen::default()));
            bots.push(seen.clone());
            tasks.push(tokio::spawn(async move {
                let _endpoint = endpoint;
                let mut watched = Watched {
                    bot: Bot::new(BehaviourKind::RandomWalk, index as u64, 7),
                    seen,
                };
                connection
                    .drive(
                        &mut client,
                        &mut watched,
                        Duration::from_millis(20),
                        Instant::now() + Duration::from_secs(120),
                    )
                    .await
            }));
        }
        let settings = format!("/api/v1/admin/spaces/{space}/settings");
        let put = |body: &'static str| {
            let (settings, boss) = (settings.clone(), boss.clone());
            async move {
                let (status, answer) = call(http, "PUT", &settings, Some(body), Some(&boss)).await;
                assert_eq!(status, 200, "{body}: {answer}");
            }
        };
        let window = Duration::from_secs(3);

        // Everyone in and seeing: the 20 Hz, 30 m phase.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let start = Instant::now();
        tokio::time::sleep(window).await;
        let (rate_20, view_20) = phase(&bots, start, Instant::now());

        put(r#"{"tickRate":10}"#).await;
        assert_eq!(everyone_told(&bots, 1).await, [(10, 30.0)]);
        // A tick or two at the old pace may still be on its way.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let start = Instant::now();
        tokio::time::sleep(window).await;
        let (rate_10, view_10) = phase(&bots, start, Instant::now());

        put(r#"{"interestRadius":3,"interestHysteresis":0.5}"#).await;
        assert_eq!(everyone_told(&bots, 2).await[1], (10, 3.0));
        // Views refresh within two ticks.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let start = Instant::now();
        tokio::time::sleep(window).await;
        let (rate_small, view_small) = phase(&bots, start, Instant::now());

        // The bots followed the new rate with their inputs (one a server
        // tick): hardly any was refused for want of an input credit.
        let metrics = loadbot::http::get(http, "/metrics").await.expect("metrics");
        let rate_limited = metrics
            .lines()
            .find_map(|line| {
                line.strip_prefix("meridian_rejected_inputs_total{reason=\"rate_limited\"} ")
            })
            .and_then(|value| value.trim().parse::<f64>().ok())
            .expect("the rejection counter is on the page");
        let snapshots: usize = bots
            .iter()
            .map(|seen| seen.lock().expect("not poisoned").snapshots.len())
            .sum();
        eprintln!(
            "inputs refused as rate limited: {rate_limited} (snapshots received: {snapshots})"
        );
        assert!(
            rate_limited < snapshots as f64 * 0.05,
            "inputs kept to one a tick: {rate_limited} refused against {snapshots} snapshots"
        );
        eprintln!(
            "snapshots per bot per second: {rate_20:.1} at 20 Hz, {rate_10:.1} at 10 Hz, \
             {rate_small:.1} at 10 Hz and 3 m; mean view: {view_20:.1} at 30 m, \
             {view_10:.1}, {view_small:.1} at 3 m"
        );
        for seen in &bots {
            assert!(
                !seen.lock().expect("not poisoned").ended,
                "no bot was disconnected"
            );
        }
        assert!(rate_10 > 0.0 && rate_20 > 0.0);
        assert!(
            rate_10 / rate_20 < 0.8,
            "halving the tick rate about halves the snapshot rate: {rate_20:.1} -> {rate_10:.1}"
        );
        assert!(
            rate_10 / rate_20 > 0.3,
            "snapshots keep coming at the new rate: {rate_20:.1} -> {rate_10:.1}"
        );
        // In a 60 m square, 30 m sees most of the others; 3 m almost nobody.
        assert!(view_20 > 4.0, "views at 30 m hold several: {view_20:.1}");
        assert!(
            view_small < view_10 * 0.5,
            "a 3 m radius shrinks the views: {view_10:.1} -> {view_small:.1}"
        );
        for task in tasks {
            task.abort();
        }
    });
    remove_database(&database);
}
