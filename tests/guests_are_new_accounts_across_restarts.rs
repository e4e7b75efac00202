//! Every development join makes a new guest account, numbered by the database:
//! two joins in one run, and a join after a restart on the same database, are
//! never the same account (a new guest never inherits an old one's inventory or
//! place).

mod common;

use common::{Joined, remove_database, start_server_with, temporary_database, token_claims};

fn guest(http_address: std::net::SocketAddr) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    token_claims(&runtime.block_on(Joined::dev(http_address, None)).token)
}

#[test]
fn guests_before_and_after_a_restart_are_different_accounts() {
    let database = temporary_database();
    let (server, http_address) = start_server_with(&database, &["--dev"]);
    let first = guest(http_address);
    let second = guest(http_address);
    drop(server);
    let (server, http_address) = start_server_with(&database, &["--dev"]);
    let third = guest(http_address);
    drop(server);
    remove_database(&database);

    let accounts = [&first["sub"], &second["sub"], &third["sub"]];
    let names = [&first["name"], &second["name"], &third["name"]];
    for (index, account) in accounts.iter().enumerate() {
        for other in &accounts[index + 1..] {
            assert_ne!(account, other, "one account for two guests: {names:?}");
        }
    }
    for (index, name) in names.iter().enumerate() {
        for other in &names[index + 1..] {
            assert_ne!(name, other);
        }
    }
}
