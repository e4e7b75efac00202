//! `/health` reports each part as it is: with the database reachable it
//! answers 200 with every part up; once the database cannot be reached (the
//! server's connections to the real PostgreSQL go through a loopback relay
//! that the test then cuts), it answers 503 naming `database`, while the zone
//! thread is still up. `/ready` answers 200 with the phase `running` once the
//! server has started.

mod common;
#[path = "common/raw_http.rs"]
mod raw_http;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::services::PostgresDatabase;
use common::start_server_on;
use raw_http::get;

/// A TCP relay to `target` that can be cut: every connection through it is
/// closed and no new one is accepted.
struct Relay {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds the relay");
        let address = listener.local_addr().expect("an address");
        let cut = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (stop, open) = (cut.clone(), streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let mut open = open.lock().expect("not poisoned");
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (mut from, mut to) = (
                        from.try_clone().expect("clones"),
                        to.try_clone().expect("clones"),
                    );
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        while let Ok(read @ 1..) = from.read(&mut buffer) {
                            if to.write_all(&buffer[..read]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
                open.push(client);
                open.push(server);
            }
        });
        Self {
            address,
            cut,
            streams,
        }
    }

    /// Closes every relayed connection and the listener.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then ends and drops the listener.
        let _ = TcpStream::connect(self.address);
        for stream in self.streams.lock().expect("not poisoned").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON, got {body:?}"))
}

#[test]
fn health_names_a_database_it_cannot_reach() {
    let Some(database) =
        PostgresDatabase::create("health_names_a_database_it_cannot_reach", "meridian_health")
    else {
        return;
    };
    // postgres://user@HOST:PORT/name: the server reaches HOST:PORT through
    // the relay.
    let (before, after) = database.url.split_once('@').expect("a user");
    let (host, name) = after.split_once('/').expect("a database name");
    let target: SocketAddr = host.parse().expect("a numeric PostgreSQL address");
    let relay = Relay::start(target);
    let url = format!("{before}@{}/{name}", relay.address);
    let (server, http_address) = start_server_on(&url);

    // Up: the zone thread ticks (it may take a moment after the start-up
    // line) and the database answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let answer = get(http_address, "/health", &[]);
        if answer.status == 200 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health.status, 200, "{health:?}");
    let report = json(&health.body);
    assert_eq!(report["status"], "up", "{report}");
    assert_eq!(report["failing"], serde_json::json!([]), "{report}");
    assert_eq!(report["database"]["status"], "up", "{report}");
    assert_eq!(report["zone_thread"]["status"], "up", "{report}");
    assert!(
        report.get("redis").is_none(),
        "no Redis in embedded mode: {report}"
    );
    let ready = get(http_address, "/ready", &[]);
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(json(&ready.body)["phase"], "running");

    // The database goes away.
    relay.cut();
    let health = get(http_address, "/health", &[]);
    assert_eq!(health.status, 503, "{health:?}");
    let report = json(&health.body);
    assert_eq!(report["status"], "down", "{report}");
    assert_eq!(
        report["failing"],
        serde_json::json!(["database"]),
        "{report}"
    );
    assert_eq!(report["database"]["status"], "down", "{report}");
    assert!(report["database"]["error"].is_string(), "{report}");
    assert_eq!(report["zone_thread"]["status"], "up", "{report}");
    drop(server);
}
