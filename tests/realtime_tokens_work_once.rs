//! A realtime token admits one game connection: the same token on a second
//! QUIC connection (a replay, or a client that kept it) is refused as a bad
//! token that says it was already used, while a fresh token from the join
//! endpoint is admitted.

mod common;

use std::time::{Duration, Instant};

use common::{Joined, account_join, start_server};
use meridian_netcode::driver::client::{Behaviour, Ending};
use meridian_netcode::{Client, ClientEvent};
use meridian_protocol::messages::RefusalReason;

/// Watches until welcomed (then says goodbye at the deadline) or refused.
#[derive(Default)]
struct Watch(Vec<ClientEvent>);

impl Behaviour for Watch {
    fn on_tick(&mut self, _: &mut Client, _: Instant) {}
    fn on_event(&mut self, _: &mut Client, event: ClientEvent, _: Instant) {
        self.0.push(event);
    }
}

async fn play(joined: &Joined, seconds: u64) -> (Ending, Vec<ClientEvent>, bool) {
    let (_endpoint, connection, mut client) = joined.connect().await;
    let mut watch = Watch::default();
    let ending = connection
        .drive(
            &mut client,
            &mut watch,
            Duration::from_millis(50),
            Instant::now() + Duration::from_secs(seconds),
        )
        .await;
    let welcomed = client.welcome().is_some();
    (ending, watch.0, welcomed)
}

#[test]
fn a_realtime_token_used_twice_is_refused_the_second_time() {
    let (_server, http_address) = start_server();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let joined = account_join(http_address, "once").await;
        let (_, _, welcomed) = play(&joined, 2).await;
        assert!(welcomed, "the first connection is admitted");

        let (ending, events, welcomed) = play(&joined, 10).await;
        assert!(!welcomed, "the same token again is not admitted");
        assert_eq!(ending, Ending::Closed);
        let refusal = events
            .iter()
            .find_map(|event| match event {
                ClientEvent::Refused(refusal) => Some(refusal.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("refused: {events:?}"));
        assert_eq!(refusal.reason, RefusalReason::BadToken);
        assert!(
            refusal.detail.contains("already been used"),
            "{}",
            refusal.detail
        );

        let fresh = joined.again(http_address).await;
        let (_, _, welcomed) = play(&fresh, 2).await;
        assert!(welcomed, "a fresh token is admitted");
    });
}
