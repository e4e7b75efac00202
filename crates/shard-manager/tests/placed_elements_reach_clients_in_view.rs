//! Elements placed, moved and removed through the zone API while a zone runs
//! reach its clients over real QUIC (quinn clients of the task driver, the
//! sans-IO event loop on loopback): each client that sees the spot gets the
//! element, with its catalogue element and footprint, in the first snapshot it
//! decodes after the change; a client far away is never sent it; a move
//! changes its position in place (same id, no leave); a removal takes it out
//! of every view.

mod stepper;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meridian_netcode::driver::client::{Behaviour, ClientConnection, Ending};
use meridian_netcode::{Client, ClientEvent, NetcodeConfig};
use meridian_protocol::NetworkId;
use meridian_protocol::snapshot::{EntityKind, EntityState, Footprint};
use meridian_shard_manager::{SpawnHint, ZoneHost};
use meridian_sim::{Aabb, ElementPlacement, SimConfig, Vec2};
use stepper::event_loop::{LoopZone, live_token, wait_until};

/// A change the test asks the zone thread for, between two ticks.
enum Order {
    Place(ElementPlacement),
    Move(NetworkId, Aabb),
    Remove(NetworkId),
}

/// What the zone thread did: the element's id and the last tick simulated
/// before the change (the change is in the snapshots of the ticks after it).
type Done = (NetworkId, u64);

/// The views one client decoded, by snapshot tick.
type Views = Arc<Mutex<Vec<(u32, Vec<EntityState>)>>>;

struct Watcher {
    views: Views,
    stop: Arc<AtomicBool>,
}

impl Behaviour for Watcher {
    fn on_tick(&mut self, client: &mut Client, _now: Instant) {
        if self.stop.load(Ordering::Relaxed) {
            client.disconnect();
        }
    }

    fn on_event(&mut self, client: &mut Client, event: ClientEvent, _now: Instant) {
        if let ClientEvent::Snapshot { tick, .. } = event {
            let mut views = self.views.lock().expect("not poisoned");
            views.push((tick, client.view().to_vec()));
        }
    }
}

/// Where each account stands: two near each other, one 500 m away.
const PLACES: [(u64, Vec2); 3] = [
    (1, Vec2::new(100.0, 100.0)),
    (2, Vec2::new(106.0, 100.0)),
    (3, Vec2::new(600.0, 600.0)),
];

fn zone_thread(orders: Receiver<Order>, done: Sender<Done>) -> impl FnMut(&mut ZoneHost, Instant) {
    let mut hinted = false;
    move |host, now| {
        if !hinted {
            hinted = true;
            for (account, position) in PLACES {
                host.set_spawn_hint(
                    now,
                    SpawnHint {
                        account,
                        place: Some((position, 0.0)),
                        appearance: None,
                    },
                );
            }
        }
        while let Ok(order) = orders.try_recv() {
            let tick = host.zone().tick();
            let id = match order {
                Order::Place(placement) => host.zone_mut().place_element(placement),
                Order::Move(id, bounds) => host.zone_mut().move_element(id, bounds).map(|()| id),
                Order::Remove(id) => host.zone_mut().remove_element(id).map(|()| id),
            }
            .expect("the zone takes the change");
            let _ = done.send((id, tick));
        }
    }
}

/// Each client's first decoded view of a tick after `tick`, waiting for it.
fn first_views_after(clients: &[Views], tick: u64) -> Vec<(u32, Vec<EntityState>)> {
    let after = |views: &Views| {
        views
            .lock()
            .expect("not poisoned")
            .iter()
            .find(|(decoded, _)| u64::from(*decoded) > tick)
            .cloned()
    };
    wait_until(
        "every client decodes a snapshot after the change",
        Duration::from_secs(10),
        || clients.iter().all(|views| after(views).is_some()),
    );
    clients.iter().filter_map(after).collect()
}

fn element_in(view: &[EntityState], id: NetworkId) -> Option<EntityState> {
    view.iter().find(|state| state.id == id).copied()
}

#[test]
fn clients_in_view_see_placements_moves_and_removals_at_the_next_tick() {
    let sim = SimConfig {
        world_width: 1_000.0,
        world_height: 1_000.0,
        // Views refresh every fourth tick: a placement must not wait for it.
        interest_refresh_ticks: 4,
        ..SimConfig::default()
    };
    let (order_sender, orders) = channel();
    let (done, changes) = channel();
    let zone = LoopZone::start_with(NetcodeConfig::default(), sim, zone_thread(orders, done));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<Views> = PLACES.iter().map(|_| Views::default()).collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let endpoint = runtime.block_on(async { zone.client_endpoint() });
    let mut games = Vec::new();
    for ((account, _), views) in PLACES.iter().zip(&clients) {
        let mut client = zone.client(live_token(&zone.authority, *account));
        let mut watcher = Watcher {
            views: views.clone(),
            stop: stop.clone(),
        };
        let (endpoint, address) = (endpoint.clone(), zone.address);
        games.push(runtime.spawn(async move {
            let connection = ClientConnection::connect(&endpoint, address, Duration::from_secs(10))
                .await
                .expect("the client connects to the event loop");
            connection
                .drive(
                    &mut client,
                    &mut watcher,
                    Duration::from_millis(50),
                    Instant::now() + Duration::from_secs(60),
                )
                .await
        }));
    }
    wait_until("every client sees itself", Duration::from_secs(10), || {
        clients
            .iter()
            .all(|views| !views.lock().expect("not poisoned").is_empty())
    });

    let change = |order: Order| -> Done {
        order_sender.send(order).expect("the zone thread runs");
        changes
            .recv_timeout(Duration::from_secs(10))
            .expect("the zone thread makes the change")
    };

    // A 2 × 1 m table between the two near avatars.
    let corner = Vec2::new(102.0, 104.0);
    let table = ElementPlacement {
        bounds: Aabb::from_corners(corner, corner + Vec2::new(2.0, 1.0)),
        appearance: 77,
        blocking: true,
    };
    let (id, placed_after) = change(Order::Place(table));
    let first = first_views_after(&clients, placed_after);
    for (client, (tick, view)) in first.iter().enumerate().take(2) {
        let element = element_in(view, id)
            .unwrap_or_else(|| panic!("client {client} lacks the element at tick {tick}"));
        assert_eq!(element.kind, EntityKind::Element);
        assert_eq!(element.appearance, 77);
        assert_eq!(element.position(), [103.0, 104.5]);
        assert_eq!(
            element.footprint,
            Some(Footprint {
                width: 128,
                height: 64,
                blocking: true
            })
        );
        eprintln!("client {client}: placed after tick {placed_after}, seen at tick {tick}");
    }

    // Moved two metres east: the same id at its new centre.
    let moved = Aabb::from_corners(corner + Vec2::new(2.0, 0.0), corner + Vec2::new(4.0, 1.0));
    let (_, moved_after) = change(Order::Move(id, moved));
    for (client, (tick, view)) in first_views_after(&clients, moved_after)
        .iter()
        .enumerate()
        .take(2)
    {
        let element = element_in(view, id)
            .unwrap_or_else(|| panic!("client {client} lost the element at tick {tick}"));
        assert_eq!(element.position(), [105.0, 104.5], "client {client}");
    }

    let (_, removed_after) = change(Order::Remove(id));
    for (client, (tick, view)) in first_views_after(&clients, removed_after)
        .iter()
        .enumerate()
    {
        assert_eq!(element_in(view, id), None, "client {client} at tick {tick}");
    }

    // Near clients held it in every view from the placement to the removal;
    // the far one never held it.
    for (client, views) in clients.iter().enumerate() {
        let views = views.lock().expect("not poisoned");
        let held: Vec<u32> = views
            .iter()
            .filter(|(_, view)| element_in(view, id).is_some())
            .map(|(tick, _)| *tick)
            .collect();
        if client == 2 {
            assert!(held.is_empty(), "the far client was sent it at {held:?}");
        } else {
            let during = views
                .iter()
                .filter(|(tick, _)| {
                    u64::from(*tick) > placed_after && u64::from(*tick) <= removed_after
                })
                .count();
            assert_eq!(held.len(), during, "client {client}");
        }
    }

    stop.store(true, Ordering::Relaxed);
    for game in games {
        let ending = runtime.block_on(game).expect("the client task ends");
        assert_eq!(ending, Ending::Closed);
    }
    runtime.block_on(endpoint.wait_idle());
    let report = zone.stop();
    assert_eq!(report.metrics.transport_losses, 0);
}
