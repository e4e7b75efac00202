//! One avatar per player: when an account connects again (another tab, another
//! device), the real binary ends its older session with `SessionReplaced`, a
//! reason of its own (not `Kicked`, a moderator's decision), and the newer
//! session goes on.

mod common;

use common::players::Player;
use common::{account_join, start_server_on, temporary_database};
use meridian_protocol::messages::{ChatChannel, DisconnectReason};

#[test]
fn a_second_session_of_one_account_ends_the_first_as_replaced() {
    let (_server, http) = start_server_on(&temporary_database());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let first_join = account_join(http, "ada").await;
        let mut first = Player::connect("ada in one tab", &first_join).await;
        let second_join = first_join.again(http).await;
        let mut second = Player::connect("ada in another tab", &second_join).await;

        assert_eq!(
            first.disconnected().await,
            Some(DisconnectReason::SessionReplaced),
            "{:?}",
            first.events
        );
        second.say(ChatChannel::Zone, "still here");
        assert!(
            second.hears("still here").await,
            "the newer session goes on: {:?}",
            second.events
        );
        first.stop();
        second.stop();
    });
}
