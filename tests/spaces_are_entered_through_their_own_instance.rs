//! Any space a user may see can be entered: its instance starts at the first
//! join, holds everyone who joins it (and nobody in the process's world),
//! stops once empty for its idle grace, and starts again where it was.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::Joined;
use common::api::{call, create_private_space, create_space, sign_up};
use common::players::Player;
use meridian_protocol::messages::ChatChannel;

const PASSWORD: &str = "a long enough password";

/// The value of the metric line that starts with `prefix` (0 if absent).
fn metric(http: SocketAddr, prefix: &str) -> f64 {
    common::logs::get(http, "/metrics")
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits (at most 20 s) until the metric reaches `value`.
async fn metric_reaches(http: SocketAddr, prefix: &str, value: f64) -> bool {
    for _ in 0..200 {
        if (metric(http, prefix) - value).abs() < 1e-9 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[test]
fn a_created_space_runs_its_own_instance_that_stops_when_empty_and_resumes() {
    let settings = common::config_file("[serve]\ninstance_idle_grace_ms = 1000\n");
    let (server, http) = common::start_server_with(
        &common::temporary_database(),
        &["--config", settings.to_str().expect("utf-8 path")],
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async move {
            let alice = sign_up(http, "alice", PASSWORD).await;
            let bob = sign_up(http, "bob", PASSWORD).await;
            let carol = sign_up(http, "carol", PASSWORD).await;
            let (status, created) = create_space(http, &alice, "alices-bar").await;
            assert_eq!(status, 200, "{created}");
            let bar = created["spaceId"].as_i64().expect("space id");
            let (_, all) = call(http, "GET", "/api/v1/space/all", None, Some(&carol)).await;
            let world = all["spaces"][0]["id"]
                .as_i64()
                .expect("the world comes first");
            assert_ne!(world, bar);

            let alice_joined = Joined::with_access(http, &alice, bar).await;
            assert_eq!(alice_joined.space_id, bar);
            let alice_player = Player::connect("alice", &alice_joined).await;
            let bob_joined = Joined::with_access(http, &bob, bar).await;
            let mut bob_player = Player::connect("bob", &bob_joined).await;
            let carol_joined = Joined::with_access(http, &carol, world).await;
            let mut carol_player = Player::connect("carol", &carol_joined).await;

            // The bar is its own 100 m world; the process's world is 60 m.
            let width = |player: &Player| player.welcome().expect("welcomed").zone_width;
            assert_eq!(width(&alice_player), 100.0);
            assert_eq!(width(&bob_player), 100.0);
            assert_eq!(width(&carol_player), 60.0);
            assert!(
                metric_reaches(http, "meridian_instances_running ", 1.0).await,
                "one instance"
            );
            let players =
                format!("meridian_instance_players{{space=\"{bar}\",room=\"1\",instance=");
            let in_bar = common::logs::get(http, "/metrics")
                .lines()
                .filter(|line| line.starts_with(&players))
                .map(|line| line.rsplit(' ').next().unwrap_or("").to_owned())
                .collect::<Vec<_>>();
            assert_eq!(in_bar, ["2"], "both in the bar's one instance");
            assert!(
                metric(http, "meridian_instance_tick_duration_seconds_count ") > 0.0,
                "the instance's ticks are timed"
            );

            // Alice and Bob see each other.
            let alice_avatar = alice_player.avatar().expect("alice's avatar");
            let bob_avatar = bob_player.avatar().expect("bob's avatar");
            assert!(bob_player.sees(alice_avatar).await, "bob sees alice");
            assert!(alice_player.sees(bob_avatar).await, "alice sees bob");
            // What is said in the bar is heard in the bar, not in the world.
            alice_player.say(ChatChannel::Zone, "two for the bar");
            assert!(bob_player.hears("two for the bar").await, "bob hears alice");
            carol_player.say(ChatChannel::Zone, "the world is here");
            assert!(carol_player.hears("the world is here").await);
            assert!(!carol_player.has_heard("two for the bar"));
            assert!(!bob_player.has_heard("the world is here"));
            assert!(!alice_player.has_heard("the world is here"));

            // Where Alice stood, to find her there after the restart.
            let stood = alice_player
                .view()
                .into_iter()
                .find(|entity| entity.id == alice_avatar)
                .map(|entity| (entity.x, entity.y))
                .expect("alice in her own view");

            // Everyone leaves the bar: after its grace it stops.
            alice_player.stop();
            bob_player.stop();
            assert!(
                metric_reaches(http, "meridian_instances_stopped_total ", 1.0).await,
                "the empty instance stops"
            );
            assert_eq!(metric(http, "meridian_instances_running "), 0.0);
            // The world runs on, Carol still in it.
            carol_player.say(ChatChannel::Zone, "still here");
            assert!(carol_player.hears("still here").await);

            // The next join starts it again, Alice where she left.
            let again = Joined::with_access(http, &alice, bar).await;
            let alice_again = Player::connect("alice", &again).await;
            assert!(metric_reaches(http, "meridian_instances_started_total ", 2.0).await);
            let avatar = alice_again.avatar().expect("alice's avatar");
            assert!(alice_again.sees(avatar).await);
            let now_at = alice_again
                .view()
                .into_iter()
                .find(|entity| entity.id == avatar)
                .map(|entity| (entity.x, entity.y))
                .expect("alice in her own view");
            assert_eq!(now_at, stood, "alice is back where she left the bar");
            alice_again.stop();
            carol_player.stop();
        });
    drop(server);
}

#[test]
fn joins_of_missing_or_private_spaces_are_refused_and_start_nothing() {
    let (server, http) = common::start_server();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async move {
            let owner = sign_up(http, "owner", PASSWORD).await;
            let stranger = sign_up(http, "stranger", PASSWORD).await;
            let (status, created) = create_private_space(http, &owner, "den").await;
            assert_eq!(status, 200, "{created}");
            let den = created["spaceId"].as_i64().expect("space id");
            let join = |space: i64| format!("/api/v1/space/{space}/join");
            let (status, answer) = call(http, "POST", &join(den), None, Some(&stranger)).await;
            assert_eq!(status, 404, "another's private space: {answer}");
            let (status, answer) =
                call(http, "POST", &join(den + 1_000_000), None, Some(&stranger)).await;
            assert_eq!(status, 404, "no such space: {answer}");
            assert_eq!(metric(http, "meridian_instances_started_total "), 0.0);
            // Its owner may enter it.
            let (status, answer) = call(http, "POST", &join(den), None, Some(&owner)).await;
            assert_eq!(status, 200, "the owner's own space: {answer}");
            assert_eq!(answer["space_id"].as_i64(), Some(den));
            assert!(metric_reaches(http, "meridian_instances_started_total ", 1.0).await);
        });
    drop(server);
}
