//! A Redis and a PostgreSQL of one test's own, on free loopback ports, that the
//! test may stop and start again (the machine's shared ones are used by other
//! tests at the same time and are never touched). Each is stopped, and its
//! files removed, when its guard is dropped, also when the test fails.
//!
//! Without the binaries (`redis-server`; `initdb` and `postgres`) the test
//! says `SKIPPED ...` and passes, except under CI, where it fails.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::services::skipped;

/// How long a service may take to start answering.
const START_LIMIT: Duration = Duration::from_secs(30);

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The first of `candidates` that exists, or `name` found on `PATH`.
fn find_binary(name: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|folder| folder.join(name))
                    .find(|path| path.is_file())
            })
        })
}

/// Waits until something accepts TCP connections at `address`.
fn wait_until_listening(address: SocketAddr, what: &str) {
    let deadline = Instant::now() + START_LIMIT;
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {address} within {START_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A folder of the test's own in the temporary folder.
fn scratch_folder(what: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let folder = std::env::temp_dir().join(format!(
        "meridian_{what}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("creates a scratch folder");
    folder
}

/// A `redis-server` of the test's own, keeping nothing on disk.
pub(crate) struct PrivateRedis {
    binary: PathBuf,
    port: u16,
    process: Option<Child>,
}

impl PrivateRedis {
    /// Starts one on a free port, or says it skipped `test` and returns `None`.
    pub(crate) fn start(test: &str) -> Option<Self> {
        let Some(binary) = find_binary("redis-server", &[PathBuf::from("/usr/bin/redis-server")])
        else {
            skipped(&format!("{test}: no redis-server binary"));
            return None;
        };
        let mut redis = Self {
            binary,
            port: free_port(),
            process: None,
        };
        redis.start_again();
        Some(redis)
    }

    /// `redis://127.0.0.1:PORT/`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it (SIGKILL): what it held is gone.
    pub(crate) fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts it again on the same port, empty, and waits until it listens.
    pub(crate) fn start_again(&mut self) {
        self.kill();
        let port = self.port.to_string();
        let process = Command::new(&self.binary)
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.process = Some(process);
        wait_until_listening(
            SocketAddr::from(([127, 0, 0, 1], self.port)),
            "redis-server",
        );
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL cluster of the test's own (`initdb` in a scratch folder, trust
/// authentication, no fsync), run as the `postgres` user when the test runs
/// as root (PostgreSQL refuses root).
pub(crate) struct PrivatePostgres {
    postgres: PathBuf,
    folder: PathBuf,
    port: u16,
    /// The user and group to run as, when the test runs as root.
    run_as: Option<(u32, u32)>,
    process: Option<Child>,
}

impl PrivatePostgres {
    /// Creates and starts one on a free port, or says it skipped `test` and
    /// returns `None`.
    pub(crate) fn start(test: &str) -> Option<Self> {
        let versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.path().join("bin"))
                    .collect()
            })
            .unwrap_or_default();
        let candidates = |name: &str| -> Vec<PathBuf> {
            std::iter::once(PathBuf::from("/usr/local/bin").join(name))
                .chain(versions.iter().map(|bin| bin.join(name)))
                .collect()
        };
        let (Some(initdb), Some(postgres)) = (
            find_binary("initdb", &candidates("initdb")),
            find_binary("postgres", &candidates("postgres")),
        ) else {
            skipped(&format!("{test}: no initdb / postgres binaries"));
            return None;
        };
        let run_as = if running_as_root() {
            let Some(ids) = user_ids("postgres") else {
                skipped(&format!("{test}: running as root and no postgres user"));
                return None;
            };
            Some(ids)
        } else {
            None
        };
        let folder = scratch_folder("postgres");
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&folder, Some(uid), Some(gid)).expect("chown");
        }
        let data = folder.join("data");
        let mut init = Command::new(&initdb);
        init.args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&data)
            .current_dir(&folder)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_user(&mut init, run_as);
        let initialised = init.output().expect("initdb runs");
        assert!(
            initialised.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initialised.stderr)
        );
        let mut database = Self {
            postgres,
            folder,
            port: free_port(),
            run_as,
            process: None,
        };
        database.start_again();
        Some(database)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops it at once, as a crash would (SIGQUIT: an immediate shutdown,
    /// every connection cut, no checkpoint; the next start recovers).
    pub(crate) fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = Command::new("kill")
                .args(["-QUIT", &process.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while process.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = process.kill();
                    let _ = process.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts it again on the same port and waits until it listens.
    pub(crate) fn start_again(&mut self) {
        self.kill();
        let mut start = Command::new(&self.postgres);
        start
            .arg("-D")
            .arg(self.folder.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.folder)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ])
            .current_dir(&self.folder)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_user(&mut start, self.run_as);
        self.process = Some(start.spawn().expect("postgres starts"));
        wait_until_listening(SocketAddr::from(([127, 0, 0, 1], self.port)), "postgres");
        // Listening comes before accepting queries (recovery after a crash).
        let deadline = Instant::now() + START_LIMIT;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        while !runtime.block_on(answers(&self.url())) {
            assert!(
                Instant::now() < deadline,
                "postgres did not answer within {START_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Whether the database at `url` opens (its schema migrated) and answers.
async fn answers(url: &str) -> bool {
    let config = meridian_persistence::DatabaseConfig::new(url);
    let Ok(store) = meridian_persistence::Store::open(&config).await else {
        return false;
    };
    let answered = store.ping().await.is_ok();
    store.close().await;
    answered
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// `user`'s uid and gid, from /etc/passwd.
fn user_ids(user: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string(Path::new("/etc/passwd")).ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&user) && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

fn as_user(command: &mut Command, run_as: Option<(u32, u32)>) {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid).env("HOME", "/tmp");
    }
}
