//! Run a world, move and chat, stop it, start it again on the same database:
//! the player comes back where it stood, and the chat history still holds what
//! was said. Killed with SIGKILL instead, it loses at most the checkpoint
//! interval (2 s) of movement, and nothing else: every inventory change it
//! acknowledged and every chat line anyone heard is still there. (Players
//! only give items up: an admin grants each a stock first, and they drop.)
//!
//! Each runs on SQLite and on a fresh database of its own on the real
//! PostgreSQL (127.0.0.1:5432, or `MERIDIAN_TEST_DATABASE_URL`); without
//! PostgreSQL that half says `SKIPPED` on stderr, and under `CI` it fails.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::api::{grant_items, log_in};
use common::services::PostgresDatabase;
use common::{
    Server, TEST_PASSWORD, account_join, create_admin, remove_database, start_server_on,
    temporary_database, token_claims,
};
use loadbot::http;
use meridian_netcode::driver::client::Behaviour;
use meridian_netcode::{Client, ClientEvent};
use meridian_protocol::messages::{
    AnimationState, ChatChannel, ChatSend, InventoryChange, InventoryResult, InventoryStatus,
    MovementIntent,
};

/// Walks east, says one line, and remembers where it last saw itself.
#[derive(Default)]
struct Walker {
    walk: bool,
    ticks: u64,
    said: Option<&'static str>,
    first_seen: Option<(u32, u32)>,
    last_seen: Option<(u32, u32)>,
    /// Drops one of this item every 10 ticks (and once on tick 10 at least).
    item: Option<String>,
    /// Keeps dropping after tick 10.
    keep_adding: bool,
    changes_sent: u32,
    results: Vec<InventoryResult>,
    /// Lines relayed back to this client: heard, so stored.
    heard: Vec<String>,
}

impl Behaviour for Walker {
    fn on_tick(&mut self, client: &mut Client, now: Instant) {
        self.ticks += 1;
        let intent = if self.walk {
            MovementIntent {
                move_x: 1.0,
                move_y: 0.0,
                speed: 2.0,
                heading: 0.0,
                animation: AnimationState::Walk,
            }
        } else {
            MovementIntent::idle(0.0)
        };
        client.send_input(now, intent);
        if self.ticks == 10
            && let Some(text) = self.said
        {
            client.send_chat(ChatSend {
                channel: ChatChannel::Zone,
                text: text.to_owned(),
            });
        }
        if self.ticks.is_multiple_of(10)
            && (self.ticks == 10 || self.keep_adding)
            && let Some(item) = &self.item
        {
            self.changes_sent += 1;
            client.send_inventory(InventoryChange {
                request: self.changes_sent,
                item: item.clone(),
                delta: -1,
            });
            if self.keep_adding {
                // A line every second, each heard line must survive the kill.
                client.send_chat(ChatSend {
                    channel: ChatChannel::Zone,
                    text: format!("line {}", self.changes_sent),
                });
            }
        }
    }

    fn on_event(&mut self, client: &mut Client, event: ClientEvent, _now: Instant) {
        match &event {
            ClientEvent::Inventory(result) => self.results.push(result.clone()),
            ClientEvent::Chat(relay) => self.heard.push(relay.text.clone()),
            _ => {}
        }
        if let ClientEvent::Snapshot { .. } = event {
            let me = client.welcome().map(|welcome| welcome.avatar_id);
            if let Some(state) = client.view().iter().find(|state| Some(state.id) == me) {
                self.first_seen.get_or_insert((state.x, state.y));
                self.last_seen = Some((state.x, state.y));
            }
        }
    }
}

/// Joins as `name` and plays for `seconds`; returns what the walker saw and the
/// space id.
fn play(http_address: SocketAddr, name: &str, walker: Walker, seconds: u64) -> (Walker, i64) {
    let (walker, space, _) = play_as(http_address, name, walker, seconds);
    (walker, space)
}

/// [`play`], also returning the account id.
fn play_as(
    http_address: SocketAddr,
    name: &str,
    mut walker: Walker,
    seconds: u64,
) -> (Walker, i64, i64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let joined = account_join(http_address, name).await;
        let space = joined.space_id;
        let account = token_claims(&joined.token)["sub"]
            .as_i64()
            .expect("an account id");
        let (endpoint, connection, mut client) = joined.connect().await;
        let deadline = Instant::now() + Duration::from_secs(seconds);
        connection
            .drive(
                &mut client,
                &mut walker,
                Duration::from_millis(50),
                deadline,
            )
            .await;
        endpoint.wait_idle().await;
        (walker, space, account)
    })
}

/// The first catalogue element (a fresh world has the starter catalogue).
fn first_element(http_address: SocketAddr) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let elements = runtime
        .block_on(http::get(http_address, "/api/v1/elements"))
        .expect("elements answer");
    let elements: serde_json::Value = serde_json::from_str(&elements).expect("JSON");
    elements["elements"][0]["id"]
        .as_i64()
        .map(|id| id.to_string())
        .unwrap_or_else(|| panic!("a starter element in {elements}"))
}

/// What an admin grants each player before it plays.
const STOCK: u32 = 1_000;

/// How many the player held after its last acknowledged drop (the stock if
/// none was acknowledged).
fn held_after(results: &[InventoryResult]) -> u32 {
    results
        .iter()
        .filter(|result| result.status == InventoryStatus::Applied)
        .map(|result| result.quantity)
        .min()
        .unwrap_or(STOCK)
}

/// `name` joins once (so its character exists), then the admin `root_admin`
/// grants it [`STOCK`] of `item`.
fn stock(http_address: SocketAddr, name: &str, item: &str) {
    let (_, _, account) = play_as(http_address, name, Walker::default(), 1);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let admin = log_in(http_address, "root_admin", TEST_PASSWORD).await;
            let item = item.parse().expect("an element id");
            let held = grant_items(http_address, &admin, account, item, i64::from(STOCK)).await;
            assert_eq!(held, u64::from(STOCK));
        });
}

/// The space's chat history as `name` (a member) reads it.
fn chat_history(http_address: SocketAddr, name: &str, space: i64, limit: u32) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let token = log_in(http_address, name, TEST_PASSWORD).await;
            let path = format!("/api/v1/space/{space}/chat?limit={limit}");
            http::send(http_address, "GET", &path, None, Some(&token))
                .await
                .expect("history answers")
        })
}

fn stop(mut server: Server) {
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let begun = Instant::now();
    loop {
        if let Some(status) = server.0.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            return;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(15),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_player_and_the_chat_are_still_there_after_a_restart_on_sqlite() {
    let database = temporary_database();
    the_player_and_the_chat_are_still_there_after_a_restart(&database);
    remove_database(&database);
}

#[test]
fn the_player_and_the_chat_are_still_there_after_a_restart_on_postgres() {
    let Some(database) = PostgresDatabase::create(
        "the_player_and_the_chat_are_still_there_after_a_restart_on_postgres",
        "meridian_restart",
    ) else {
        return;
    };
    the_player_and_the_chat_are_still_there_after_a_restart(&database.url);
}

#[test]
fn a_killed_server_loses_at_most_the_checkpoint_interval_of_movement_on_sqlite() {
    let database = temporary_database();
    a_killed_server_loses_at_most_the_checkpoint_interval_of_movement(&database);
    remove_database(&database);
}

#[test]
fn a_killed_server_loses_at_most_the_checkpoint_interval_of_movement_on_postgres() {
    let Some(database) = PostgresDatabase::create(
        "a_killed_server_loses_at_most_the_checkpoint_interval_of_movement_on_postgres",
        "meridian_killed",
    ) else {
        return;
    };
    a_killed_server_loses_at_most_the_checkpoint_interval_of_movement(&database.url);
}

fn the_player_and_the_chat_are_still_there_after_a_restart(database: &str) {
    create_admin(database, "root_admin", TEST_PASSWORD);
    let (server, http_address) = start_server_on(database);
    let item = first_element(http_address);
    stock(http_address, "ada", &item);
    let walker = Walker {
        walk: true,
        said: Some("remember me"),
        item: Some(item.clone()),
        ..Walker::default()
    };
    let (first, space) = play(http_address, "ada", walker, 3);
    let answers: Vec<_> = first
        .results
        .iter()
        .map(|r| (r.request, r.status))
        .collect();
    assert_eq!(answers, [(1, InventoryStatus::Applied)]);
    let metrics = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(http::get(http_address, "/metrics"))
        .expect("metrics answer");
    assert_eq!(
        http::prometheus_value(
            &metrics,
            "meridian_inventory_changes_total{status=\"applied\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    let (start_x, _) = first.first_seen.expect("saw itself");
    let (left_x, left_y) = first.last_seen.expect("saw itself");
    assert!(left_x > start_x + 64, "it walked: {start_x} → {left_x}");
    stop(server);

    let (server, http_address) = start_server_on(database);
    let again = Walker {
        item: Some(item),
        ..Walker::default()
    };
    let (second, _) = play(http_address, "ada", again, 1);
    assert_eq!(held_after(&second.results), STOCK - 2, "the drop was kept");
    let (back_x, back_y) = second.first_seen.expect("saw itself");
    // Within a metre (64 steps) of where it left: the last snapshot it saw may
    // trail its final position by a few ticks.
    assert!(
        back_x.abs_diff(left_x) <= 64 && back_y.abs_diff(left_y) <= 64,
        "left at ({left_x}, {left_y}), came back at ({back_x}, {back_y})"
    );
    let history = chat_history(http_address, "ada", space, 10);
    assert!(history.contains("remember me"), "{history}");
    assert!(
        history.contains(r#""sender_name":"ada""#),
        "named: {history}"
    );
    stop(server);
}

fn a_killed_server_loses_at_most_the_checkpoint_interval_of_movement(database: &str) {
    create_admin(database, "root_admin", TEST_PASSWORD);
    let (mut server, http_address) = start_server_on(database);
    let item = first_element(http_address);
    stock(http_address, "kim", &item);
    let walker = Walker {
        walk: true,
        item: Some(item.clone()),
        keep_adding: true,
        ..Walker::default()
    };
    // Five seconds of walking east at 2 m/s: at least two checkpoints pass.
    let runtime = std::thread::spawn(move || play(http_address, "kim", walker, 5));
    // Kill it while the client still walks (after about 4.5 s).
    std::thread::sleep(Duration::from_millis(4_500));
    server.0.kill().expect("SIGKILL");
    server.0.wait().expect("reaped");
    let (first, _) = runtime.join().expect("client thread");
    let (start_x, _) = first.first_seen.expect("saw itself");
    let (last_x, last_y) = first.last_seen.expect("saw itself");
    assert!(last_x > start_x + 4 * 64, "it walked: {start_x} → {last_x}");

    let acknowledged = STOCK - held_after(&first.results);
    assert!(
        acknowledged >= 2,
        "changes were acknowledged: {:?}",
        first.results
    );
    assert!(
        first.heard.len() >= 2,
        "lines were heard: {:?}",
        first.heard
    );

    let (server, http_address) = start_server_on(database);
    let again = Walker {
        item: Some(item),
        ..Walker::default()
    };
    let (second, space) = play(http_address, "kim", again, 1);
    let (back_x, back_y) = second.first_seen.expect("saw itself");
    // Every acknowledged change survived; a change sent but not yet answered
    // may have been committed too, nothing more.
    let dropped = STOCK - held_after(&second.results);
    assert!(
        dropped > acknowledged && dropped <= first.changes_sent + 1,
        "acknowledged {acknowledged} of {} sent before the kill; dropped {dropped} after one more",
        first.changes_sent
    );
    let history = chat_history(http_address, "kim", space, 100);
    for line in &first.heard {
        assert!(history.contains(line.as_str()), "{line:?} in {history}");
    }
    // Behind by at most 2 s × 2 m/s = 4 m (256 steps), plus a metre of slack;
    // and a checkpoint did land (it is not back at the start).
    assert!(
        back_x <= last_x + 64
            && last_x.saturating_sub(back_x) <= 5 * 64
            && back_y.abs_diff(last_y) <= 64,
        "last seen at ({last_x}, {last_y}), restored at ({back_x}, {back_y})"
    );
    assert!(
        back_x > start_x + 64,
        "a checkpoint was written before the kill"
    );
    stop(server);
}
