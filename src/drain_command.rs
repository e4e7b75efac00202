//! `meridian drain`: asks a running server to drain, as SIGTERM does, and
//! waits until it has handed everything on and exited.
//!
//! It logs in as an admin (`--username`, the password from
//! `MERIDIAN_ADMIN_PASSWORD` or standard input) or takes an admin's access
//! token (`MERIDIAN_ACCESS_TOKEN`), calls `POST /api/v1/admin/drain` on the
//! server's `--http-address`, then reads the server's metrics once a second
//! and says how many instances and players it still holds, until the server
//! no longer answers (it exited) or `--wait-seconds` pass.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Flags of `meridian drain`.
#[derive(Debug, clap::Args)]
pub(crate) struct DrainArgs {
    /// The server's HTTP address (its `--http-address`).
    #[arg(long)]
    http_address: SocketAddr,
    /// An admin's username; the password comes from MERIDIAN_ADMIN_PASSWORD
    /// or standard input. Without it, MERIDIAN_ACCESS_TOKEN must hold an
    /// admin's access token.
    #[arg(long)]
    username: Option<String>,
    /// How long to wait for the server to exit.
    #[arg(long, default_value_t = 120)]
    wait_seconds: u64,
}

/// How long one HTTP exchange may take.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

pub(crate) fn run(args: &DrainArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(drain(args))
}

async fn drain(args: &DrainArgs) -> anyhow::Result<()> {
    let server = args.http_address;
    let token = match &args.username {
        Some(username) => log_in(server, username).await?,
        None => std::env::var("MERIDIAN_ACCESS_TOKEN")
            .context("give --username, or an admin's access token in MERIDIAN_ACCESS_TOKEN")?,
    };
    let (status, body) = exchange(server, "POST", "/api/v1/admin/drain", None, Some(&token))
        .await
        .with_context(|| format!("cannot reach the server at {server}"))?;
    if status != 202 {
        bail!("the server refused the drain ({status}): {body}");
    }
    println!("{server}: draining");
    let began = Instant::now();
    let limit = Duration::from_secs(args.wait_seconds);
    let mut last = String::new();
    while began.elapsed() < limit {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok((_, page)) = exchange(server, "GET", "/metrics", None, None).await else {
            println!(
                "{server}: stopped after {:.1} s",
                began.elapsed().as_secs_f64()
            );
            return Ok(());
        };
        let progress = format!(
            "{server}: {} instance leases held, {} players in instances, {} instances handed on",
            series(&page, "meridian_instance_leases_held").unwrap_or(0.0),
            instance_players(&page),
            series(
                &page,
                "meridian_instance_handoffs_total{outcome=\"handed_on\"}"
            )
            .unwrap_or(0.0),
        );
        if progress != last {
            println!("{progress}");
            last = progress;
        }
    }
    bail!("{server} still answers after {} s", args.wait_seconds)
}

/// Logs `username` in; the access token.
async fn log_in(server: SocketAddr, username: &str) -> anyhow::Result<String> {
    let password = match std::env::var("MERIDIAN_ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    let (status, answer) = exchange(server, "POST", "/api/v1/login", Some(&body), None)
        .await
        .with_context(|| format!("cannot reach the server at {server}"))?;
    if status != 200 {
        bail!("the login was refused ({status}): {answer}");
    }
    let answer: serde_json::Value =
        serde_json::from_str(&answer).context("the login answer is not JSON")?;
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no token")
}

/// The value of one series on a Prometheus page.
fn series(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Players in every instance (`meridian_instance_players`, summed).
fn instance_players(page: &str) -> f64 {
    page.lines()
        .filter(|line| line.starts_with("meridian_instance_players{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One HTTP/1.1 exchange on a connection of its own: the status and body.
async fn exchange(
    server: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    tokio::time::timeout(EXCHANGE_LIMIT, async {
        let mut stream = tokio::net::TcpStream::connect(server).await?;
        let body = body.unwrap_or("");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !body.is_empty() {
            request += "Content-Type: application/json\r\n";
        }
        if let Some(token) = token {
            request += &format!("Authorization: Bearer {token}\r\n");
        }
        request += "\r\n";
        request += body;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .context("not an HTTP answer")?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        anyhow::Ok((status, body))
    })
    .await
    .context("the server did not answer in time")?
}
