//! Starting the real `meridian serve` binary on ephemeral loopback ports.

#![allow(dead_code, reason = "each test file uses a different part")]

pub(crate) mod api;
pub(crate) mod cluster_load;
pub(crate) mod instance_shards;
pub(crate) mod logs;
pub(crate) mod netns;
pub(crate) mod players;
pub(crate) mod private_services;
pub(crate) mod services;
pub(crate) mod shard_link;
pub(crate) mod silent;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The server process; killed if a test fails half-way.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh SQLite database path in the temporary folder.
pub(crate) fn temporary_database() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "meridian_serve_test_{}_{}.db",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    format!("sqlite://{}", path.display())
}

/// Writes `toml` to a fresh file in the temporary folder, for `--config`.
pub(crate) fn config_file(toml: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "meridian_test_config_{}_{}.toml",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, toml).expect("writes the settings file");
    path
}

/// Starts `meridian serve` with a small zone on ephemeral loopback ports and a
/// fresh database, and returns it with its HTTP address.
pub(crate) fn start_server() -> (Server, SocketAddr) {
    start_server_on(&temporary_database())
}

/// Starts `meridian serve` on the database `database_url` (read from its
/// start-up lines: the HTTP address).
pub(crate) fn start_server_on(database_url: &str) -> (Server, SocketAddr) {
    start_server_with(database_url, &[])
}

/// Starts `meridian serve` on `database_url` with extra flags.
pub(crate) fn start_server_with(database_url: &str, extra: &[&str]) -> (Server, SocketAddr) {
    start_server_env(database_url, extra, &[])
}

/// Starts `meridian serve` on `database_url` with extra flags and environment.
pub(crate) fn start_server_env(
    database_url: &str,
    extra: &[&str],
    environment: &[(&str, &str)],
) -> (Server, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .envs(environment.iter().copied())
        .args([
            "serve",
            "--game-address",
            "127.0.0.1:0",
            "--http-address",
            "127.0.0.1:0",
            "--world-size",
            "60",
            "--database-url",
            database_url,
        ])
        .args(extra)
        .args(transport_override(extra))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let logs = child.stderr.take().expect("piped");
    let mut server = Server(child);
    let http_address = read_start_up(&mut server, logs, START_UP_LIMIT);
    (server, http_address)
}

/// `--transport <MERIDIAN_TEST_TRANSPORT>` when that variable is set and the
/// test did not choose a transport itself: the whole suite runs through the
/// event loop with `MERIDIAN_TEST_TRANSPORT=event-loop`.
pub(crate) fn transport_override(extra: &[&str]) -> Vec<String> {
    match std::env::var("MERIDIAN_TEST_TRANSPORT") {
        Ok(transport) if !extra.contains(&"--transport") => {
            vec!["--transport".to_owned(), transport]
        }
        _ => Vec::new(),
    }
}

/// How long a server may take to log its start-up lines.
pub(crate) const START_UP_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Reads the server's log lines (standard error, text or JSON) until the one
/// that says "ready; stop with ...", and returns the HTTP address it carries
/// (`http=http://ADDRESS` or `"http":"http://ADDRESS"`). A thread keeps
/// draining the log afterwards, so the server never blocks on a full pipe,
/// and copies it to the test's captured output (shown if the test fails).
/// Kills the server and fails if that takes longer than `limit` or the log
/// ends first.
pub(crate) fn read_start_up(
    server: &mut Server,
    logs: impl std::io::Read + Send + 'static,
    limit: std::time::Duration,
) -> SocketAddr {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut started = false;
        for line in BufReader::new(logs).lines() {
            let Ok(line) = line else { break };
            if started {
                eprintln!("server: {line}");
                continue;
            }
            started = line.contains("stop with");
            // Once start-up is read nobody listens; keep draining regardless.
            let _ = sender.send(line);
        }
    });
    let deadline = std::time::Instant::now() + limit;
    let mut printed = Vec::new();
    let mut http_address = None;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = match receiver.recv_timeout(left) {
            Ok(line) => line,
            Err(stopped) => {
                let _ = server.0.kill();
                let why = match stopped {
                    std::sync::mpsc::RecvTimeoutError::Timeout => {
                        format!("did not finish starting within {limit:?}")
                    }
                    std::sync::mpsc::RecvTimeoutError::Disconnected => {
                        format!("closed its output first ({:?})", server.0.wait())
                    }
                };
                panic!(
                    "meridian serve {why}; killed. It printed:\n{}",
                    printed.join("\n")
                );
            }
        };
        let done = line.contains("stop with");
        if done && let Some((_, rest)) = line.split_once("http://") {
            let address: String = rest
                .chars()
                .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
                .collect();
            http_address = Some(address.parse().expect("a socket address"));
        }
        printed.push(line);
        if done {
            break;
        }
    }
    http_address
        .unwrap_or_else(|| panic!("the server logged no HTTP address:\n{}", printed.join("\n")))
}

/// The password every test account gets from [`account_join`].
pub(crate) const TEST_PASSWORD: &str = "correct horse battery";

/// What a join endpoint answered.
pub(crate) struct Joined {
    pub(crate) token: String,
    pub(crate) game: SocketAddr,
    pub(crate) certificate_sha256: [u8; 32],
    pub(crate) space_id: i64,
    /// The access token the join was asked with (empty for a dev join or a
    /// parsed body): ask [`Joined::again`] for a fresh realtime token with it.
    pub(crate) access_token: String,
    /// The gateway the token is for (the HTTP address of the shard that
    /// answered), if the answer named one.
    pub(crate) gateway: Option<String>,
}

/// Joins the hosted space through the real account path: signs `username` up
/// with [`TEST_PASSWORD`] (or reuses it if it exists with that password), logs
/// in, and asks `POST /api/v1/space/{id}/join` for a realtime token. A 429 is
/// waited out; everything is bounded by a minute.
pub(crate) async fn account_join(http_address: SocketAddr, username: &str) -> Joined {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(60);
    let credentials = loadbot::account::Credentials {
        username: username.to_owned(),
        password: TEST_PASSWORD.to_owned(),
    };
    let access = loadbot::account::log_in_or_sign_up(http_address, &credentials, deadline)
        .await
        .unwrap_or_else(|error| panic!("{username} logs in: {error}"));
    let space = loadbot::account::hosted_space(http_address, &access, deadline)
        .await
        .unwrap_or_else(|error| panic!("{username} finds the hosted space: {error}"));
    Joined::with_access(http_address, &access, space).await
}

/// The claims of a signed token (realtime or access), read without checking
/// the signature: the middle part, base64url-decoded JSON.
pub(crate) fn token_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("header.claims.signature");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url claims");
    serde_json::from_slice(&json).expect("JSON claims")
}

/// [`account_join`] on a runtime of its own, for tests without one.
pub(crate) fn account_join_blocking(http_address: SocketAddr, username: &str) -> Joined {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(account_join(http_address, username))
}

impl Joined {
    /// Reads a join answer (dev join or `/space/{id}/join`).
    pub(crate) fn parse(body: &str) -> Self {
        let join: serde_json::Value = serde_json::from_str(body).expect("join answers JSON");
        let text = |key: &str| {
            join[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} in {join}"))
        };
        Self {
            token: text("token").to_owned(),
            game: text("game_address").parse().expect("a socket address"),
            certificate_sha256: meridian_netcode::driver::tls::parse_sha256_hex(text(
                "certificate_sha256",
            ))
            .expect("64 hex digits"),
            space_id: join["space_id"].as_i64().expect("space id"),
            access_token: String::new(),
            gateway: join["gateway"].as_str().map(str::to_owned),
        }
    }

    /// Joins `space` with an access token (a fresh realtime token each time).
    pub(crate) async fn with_access(http_address: SocketAddr, access: &str, space: i64) -> Self {
        use std::time::{Duration, Instant};
        let deadline = Instant::now() + Duration::from_secs(60);
        match loadbot::account::join_space(http_address, access, space, deadline).await {
            Ok(loadbot::account::JoinOutcome::Joined(join)) => Self {
                token: join.token,
                game: join.game_address,
                certificate_sha256: meridian_netcode::driver::tls::parse_sha256_hex(
                    &join.certificate_sha256,
                )
                .expect("64 hex digits"),
                space_id: join.space_id,
                access_token: access.to_owned(),
                gateway: None,
            },
            Ok(loadbot::account::JoinOutcome::LogInAgain) => {
                panic!("the access token was refused at join")
            }
            Err(error) => panic!("join answers: {error}"),
        }
    }

    /// A fresh realtime token for the same account and space (a reconnection).
    pub(crate) async fn again(&self, http_address: SocketAddr) -> Self {
        Self::with_access(http_address, &self.access_token, self.space_id).await
    }

    /// Joins through the development endpoint (a server started with `--dev`),
    /// as a fresh guest named after `name`.
    pub(crate) async fn dev(http_address: SocketAddr, name: Option<&str>) -> Self {
        let body = name.map_or("{}".to_owned(), |name| format!(r#"{{"name":"{name}"}}"#));
        let answer = loadbot::http::post_json(http_address, "/api/v1/dev/join", &body)
            .await
            .expect("join answers");
        Self::parse(&answer)
    }

    /// Opens a raw QUIC connection with the pinned certificate, and the client
    /// that will speak over it (hello queued with the token).
    pub(crate) async fn connect(
        &self,
    ) -> (
        meridian_netcode::driver::client::QuinnEndpoint,
        meridian_netcode::driver::client::ClientConnection,
        meridian_netcode::Client,
    ) {
        use std::time::{Duration, Instant};
        let endpoint = meridian_netcode::driver::client::client_endpoint(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            self.certificate_sha256,
            Duration::from_secs(10),
        )
        .expect("client endpoint");
        let connection = meridian_netcode::driver::client::ClientConnection::connect(
            &endpoint,
            self.game,
            Duration::from_secs(5),
        )
        .await
        .expect("connects over QUIC");
        let client = meridian_netcode::Client::new(
            Instant::now(),
            self.token.clone(),
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        (endpoint, connection, client)
    }
}

/// Makes an admin with `meridian create-admin`, the password on standard input.
pub(crate) fn create_admin(database_url: &str, username: &str, password: &str) {
    use std::io::Write;
    let mut create = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .args([
            "create-admin",
            "--username",
            username,
            "--database-url",
            database_url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs");
    create
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("writes");
    // A deadline, so that a hung command fails the test instead of stalling it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = create.try_wait().expect("waits") {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = create.kill();
            let _ = create.wait();
            panic!("meridian create-admin did not finish within 60 s; killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut printed = String::new();
    if let Some(mut stdout) = create.stdout.take() {
        use std::io::Read;
        let _ = stdout.read_to_string(&mut printed);
    }
    assert!(status.success(), "{status:?}: {printed}");
}

/// Removes a test's SQLite database and its journal files.
pub(crate) fn remove_database(database_url: &str) {
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
}

/// Every owner row in the ledger of a world of `zones` zones.
pub(crate) fn owner_rows(database_url: &str, zones: i64) -> Vec<meridian_persistence::Owner> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let config = meridian_persistence::DatabaseConfig::new(database_url);
            let store = meridian_persistence::Store::open(&config)
                .await
                .expect("opens");
            let mut owners = Vec::new();
            for zone in 0..zones {
                owners.extend(store.owners_in(zone).await.expect("reads"));
            }
            store.close().await;
            owners
        })
}
