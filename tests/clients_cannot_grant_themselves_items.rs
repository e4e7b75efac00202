//! A client may only give up what it holds: its `InventoryChange` of +1000 of a
//! catalogue item is answered `NotAllowed` (counted) and nothing is written;
//! dropping what it owns still works, and no more than it owns. Items come from
//! an admin's grant (`POST /api/v1/admin/inventory/grant`), which a user's
//! token cannot call.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::api::{call, grant_items, log_in};
use common::{
    TEST_PASSWORD, account_join, create_admin, remove_database, start_server_on,
    temporary_database, token_claims,
};
use loadbot::http;
use meridian_netcode::driver::client::Behaviour;
use meridian_netcode::{Client, ClientEvent};
use meridian_protocol::messages::{InventoryChange, InventoryResult, InventoryStatus};

/// Sends its changes one at a time, each once the previous one is answered,
/// then leaves.
struct Changes {
    item: String,
    deltas: Vec<i32>,
    results: Vec<InventoryResult>,
    sent: usize,
}

impl Changes {
    fn new(item: i64, deltas: &[i32]) -> Self {
        Self {
            item: item.to_string(),
            deltas: deltas.to_vec(),
            results: Vec::new(),
            sent: 0,
        }
    }

    fn answers(&self) -> Vec<(InventoryStatus, u32)> {
        self.results
            .iter()
            .map(|result| (result.status, result.quantity))
            .collect()
    }
}

impl Behaviour for Changes {
    fn on_tick(&mut self, client: &mut Client, _now: Instant) {
        if self.sent == self.results.len() {
            match self.deltas.get(self.sent) {
                Some(&delta) => {
                    self.sent += 1;
                    client.send_inventory(InventoryChange {
                        request: self.sent as u32,
                        item: self.item.clone(),
                        delta,
                    });
                }
                None => client.disconnect(),
            }
        }
    }

    fn on_event(&mut self, _client: &mut Client, event: ClientEvent, _now: Instant) {
        if let ClientEvent::Inventory(result) = event {
            self.results.push(result);
        }
    }
}

/// Joins as `name`, makes the changes and leaves; returns the answers, the
/// account id and the space id.
async fn play(
    http_address: SocketAddr,
    name: &str,
    item: i64,
    deltas: &[i32],
) -> (Changes, i64, i64) {
    let joined = account_join(http_address, name).await;
    let space = joined.space_id;
    let account = token_claims(&joined.token)["sub"]
        .as_i64()
        .expect("an account id");
    let (endpoint, connection, mut client) = joined.connect().await;
    let mut changes = Changes::new(item, deltas);
    let deadline = Instant::now() + Duration::from_secs(20);
    connection
        .drive(
            &mut client,
            &mut changes,
            Duration::from_millis(50),
            deadline,
        )
        .await;
    endpoint.wait_idle().await;
    (changes, account, space)
}

/// What the database holds for `account` in `space`, read by the test itself.
async fn stored_items(database: &str, account: i64, space: i64) -> meridian_persistence::Items {
    let config = meridian_persistence::DatabaseConfig::new(database);
    let store = meridian_persistence::Store::open(&config)
        .await
        .expect("opens");
    let items = store.inventory(account, space).await.expect("reads");
    store.close().await;
    items
}

#[test]
fn a_client_asking_for_items_is_refused_and_only_admins_grant() {
    let database = temporary_database();
    create_admin(&database, "root_admin", TEST_PASSWORD);
    let (server, http_address) = start_server_on(&database);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let elements = http::get(http_address, "/api/v1/elements")
            .await
            .expect("elements answer");
        let elements: serde_json::Value = serde_json::from_str(&elements).expect("JSON");
        let item = elements["elements"][0]["id"]
            .as_i64()
            .expect("a starter element");

        // Asking for a thousand: refused, nothing written.
        let (asked, account, space) = play(http_address, "ada", item, &[1_000]).await;
        assert_eq!(asked.answers(), [(InventoryStatus::NotAllowed, 0)]);
        assert!(
            stored_items(&database, account, space).await.is_empty(),
            "nothing was granted"
        );

        // Only an admin grants.
        let grant = format!(r#"{{"userId":{account},"itemId":{item},"quantity":5}}"#);
        let path = "/api/v1/admin/inventory/grant";
        let ada = log_in(http_address, "ada", TEST_PASSWORD).await;
        let (status, answer) = call(http_address, "POST", path, Some(&grant), Some(&ada)).await;
        assert_eq!(status, 403, "a user grants nothing: {answer}");
        let (status, _) = call(http_address, "POST", path, Some(&grant), None).await;
        assert_eq!(status, 401, "nor does a stranger");
        let admin = log_in(http_address, "root_admin", TEST_PASSWORD).await;
        assert_eq!(grant_items(http_address, &admin, account, item, 5).await, 5);
        let bad = format!(r#"{{"userId":{account},"itemId":{item},"quantity":0}}"#);
        let (status, _) = call(http_address, "POST", path, Some(&bad), Some(&admin)).await;
        assert_eq!(status, 400, "a grant adds at least one");

        // Dropping what it owns works; dropping more than it owns does not.
        let (dropped, _, _) = play(http_address, "ada", item, &[-2, -4, 3]).await;
        assert_eq!(
            dropped.answers(),
            [
                (InventoryStatus::Applied, 3),
                (InventoryStatus::NotEnough, 3),
                (InventoryStatus::NotAllowed, 0),
            ]
        );
        let stored = stored_items(&database, account, space).await;
        assert_eq!(stored.get(&item.to_string()), Some(&3), "{stored:?}");

        let metrics = http::get(http_address, "/metrics")
            .await
            .expect("metrics answer");
        assert_eq!(
            http::prometheus_value(
                &metrics,
                "meridian_inventory_changes_total{status=\"not_allowed\"}"
            ),
            Some(2.0),
            "{metrics}"
        );
    });
    drop(server);
    remove_database(&database);
}
