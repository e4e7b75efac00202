//! A `meridian serve` whose log (standard error) goes to a file, read whole
//! once it has stopped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Server, temporary_database, transport_override};

/// A server logging to a file, on a known HTTP port.
pub(crate) struct LoggedServer {
    pub(crate) server: Server,
    pub(crate) http_address: SocketAddr,
    pub(crate) log: PathBuf,
}

/// Starts `meridian serve` with `environment` and `extra` flags on a fresh
/// database and a free loopback port, its standard error written to a file;
/// returns once `GET /health` answers (at most a minute). It may log nothing
/// at all, so the port is chosen here rather than read from its log.
pub(crate) fn start_logging_to_file(extra: &[&str], environment: &[(&str, &str)]) -> LoggedServer {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let log = std::env::temp_dir().join(format!(
        "meridian_test_log_{}_{}.log",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let file = std::fs::File::create(&log).expect("creates the log file");
    // Free a moment ago: the server binds it next.
    let http_address = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let database = temporary_database();
    let child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .env_remove("RUST_LOG")
        .env_remove("MERIDIAN_LOG_FORMAT")
        .envs(environment.iter().copied())
        .args([
            "serve",
            "--game-address",
            "127.0.0.1:0",
            "--world-size",
            "60",
        ])
        .args(["--http-address", &http_address.to_string()])
        .args(["--database-url", &database])
        .args(extra)
        .args(transport_override(extra))
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("the binary starts");
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.0.try_wait().expect("waits") {
            panic!("the server exited ({status}):\n{}", read(&log));
        }
        if get(http_address, "/health").starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not answer within a minute:\n{}",
            read(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    LoggedServer {
        server,
        http_address,
        log,
    }
}

impl LoggedServer {
    /// Stops the server with SIGTERM (a graceful stop, at most 15 s) and
    /// returns its log's lines; the file is removed.
    pub(crate) fn stop(mut self) -> Vec<String> {
        let pid = self.server.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.server.0.try_wait().expect("waits").is_none() {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = read(&self.log);
        let _ = std::fs::remove_file(&self.log);
        text.lines().map(str::to_owned).collect()
    }
}

/// `GET path` with `Connection: close`: the whole answer, or nothing if the
/// server is not there (yet).
pub(crate) fn get(address: SocketAddr, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(address) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: test.local\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn read(log: &PathBuf) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}
