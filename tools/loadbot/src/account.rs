//! The real account path a player takes: sign up (once), log in for an access
//! token, find the hosted space, and ask `POST /api/v1/space/{id}/join` for a
//! fresh realtime token before every connection.
//!
//! A 429 (the server's per-address rate limit) is waited out for its
//! `Retry-After` and asked again, up to the caller's deadline; a 401 from the
//! join (the access token expired) logs in again once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Deserialize;
use thiserror::Error;

use crate::http::{self, Answer, HttpError};

/// Waited after a 429 that carries no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A username and its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The login name (`[A-Za-z0-9_-]`, 3 to 32 characters).
    pub username: String,
    /// The password (8 to 128 bytes).
    pub password: String,
}

impl Credentials {
    /// Bot `index` of the accounts `prefix`: username `{prefix}-{index}` and a
    /// password derived from both. Anyone who knows the prefix can compute the
    /// password: these accounts are for load tests only, never for people.
    pub fn for_bot(prefix: &str, index: usize) -> Self {
        Self {
            username: format!("{prefix}-{index}"),
            password: format!("load-test-only:{prefix}:{index}"),
        }
    }
}

/// Why a prefix cannot name bot accounts.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "--accounts {0:?}: a prefix is 1 to 24 letters, digits, '_' or '-' \
     (usernames are PREFIX-INDEX, at most 32 characters)"
)]
pub struct BadPrefix(pub String);

/// Checks that `{prefix}-{index}` is a valid username for any bot index a run
/// can have (up to seven digits).
pub fn check_prefix(prefix: &str) -> Result<(), BadPrefix> {
    let valid = (1..=24).contains(&prefix.len())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(BadPrefix(prefix.to_owned()))
    }
}

/// Why the account path failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AccountError {
    /// No answer (connection refused, timeout, garbage).
    #[error("{0}")]
    Http(#[from] HttpError),
    /// The server refused: wrong password for an existing account, a bad name.
    #[error("{what} refused with HTTP {status}: {body}")]
    Refused {
        /// Which step.
        what: &'static str,
        /// The status code.
        status: u16,
        /// The server's message.
        body: String,
    },
    /// The answer was not what the API describes.
    #[error("{what} answered something unexpected: {detail}")]
    BadAnswer {
        /// Which step.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Rate limited until the deadline.
    #[error("{what} was still rate limited (429) at the deadline")]
    RateLimited {
        /// Which step.
        what: &'static str,
    },
}

/// A join answer: the realtime token and where to use it.
#[derive(Debug, Clone, Deserialize)]
pub struct Join {
    /// The realtime token (the hello presents it).
    pub token: String,
    /// Where the game's QUIC endpoint listens.
    pub game_address: SocketAddr,
    /// The certificate to pin, 64 hex digits.
    pub certificate_sha256: String,
    /// The space joined.
    pub space_id: i64,
    /// The room of the space joined, from 1 (none in the process's world).
    #[serde(default)]
    pub room: Option<u32>,
}

/// Sends a request again while the server answers 429, waiting its
/// `Retry-After` each time, until `deadline`.
async fn exchange_patiently(
    server: SocketAddr,
    what: &'static str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
    deadline: Instant,
) -> Result<Answer, AccountError> {
    let method = if body.is_some() { "POST" } else { "GET" };
    loop {
        let answer = http::exchange(server, method, path, body, token).await?;
        if answer.status != 429 {
            return Ok(answer);
        }
        let wait = answer.retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
        if Instant::now() + wait >= deadline {
            return Err(AccountError::RateLimited { what });
        }
        tokio::time::sleep(wait).await;
    }
}

fn refused(what: &'static str, answer: Answer) -> AccountError {
    AccountError::Refused {
        what,
        status: answer.status,
        body: answer.body,
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    what: &'static str,
    body: &str,
) -> Result<T, AccountError> {
    serde_json::from_str(body).map_err(|error| AccountError::BadAnswer {
        what,
        detail: error.to_string(),
    })
}

/// Logs in; an account that does not exist yet is signed up first. Returns the
/// access token.
pub async fn log_in_or_sign_up(
    server: SocketAddr,
    credentials: &Credentials,
    deadline: Instant,
) -> Result<String, AccountError> {
    if let Some(token) = log_in(server, credentials, deadline).await? {
        return Ok(token);
    }
    let signup = serde_json::json!({
        "username": credentials.username,
        "password": credentials.password,
    })
    .to_string();
    let answer = exchange_patiently(
        server,
        "signup",
        "/api/v1/signup",
        Some(&signup),
        None,
        deadline,
    )
    .await?;
    // A 400 here may be someone else signing the name up in between: the
    // login below tells.
    if !(200..300).contains(&answer.status) && answer.status != 400 {
        return Err(refused("signup", answer));
    }
    log_in(server, credentials, deadline)
        .await?
        .ok_or_else(|| AccountError::Refused {
            what: "login",
            status: 403,
            body: format!(
                "{:?} exists with another password, or cannot be signed up",
                credentials.username
            ),
        })
}

/// Logs in: the access token, or `None` for "wrong username or password".
async fn log_in(
    server: SocketAddr,
    credentials: &Credentials,
    deadline: Instant,
) -> Result<Option<String>, AccountError> {
    #[derive(Deserialize)]
    struct Token {
        token: String,
    }
    let login = serde_json::json!({
        "username": credentials.username,
        "password": credentials.password,
    })
    .to_string();
    let answer = exchange_patiently(
        server,
        "login",
        "/api/v1/login",
        Some(&login),
        None,
        deadline,
    )
    .await?;
    match answer.status {
        200..=299 => Ok(Some(parse::<Token>("login", &answer.body)?.token)),
        401 | 403 if answer.body.contains("wrong username or password") => Ok(None),
        _ => Err(refused("login", answer)),
    }
}

/// The id of the space the server hosts (the first listed, marked `hosted`).
pub async fn hosted_space(
    server: SocketAddr,
    access_token: &str,
    deadline: Instant,
) -> Result<i64, AccountError> {
    #[derive(Deserialize)]
    struct Space {
        id: i64,
        #[serde(default)]
        hosted: bool,
    }
    #[derive(Deserialize)]
    struct Spaces {
        spaces: Vec<Space>,
    }
    let answer = exchange_patiently(
        server,
        "space list",
        "/api/v1/space/all",
        None,
        Some(access_token),
        deadline,
    )
    .await?;
    if !(200..300).contains(&answer.status) {
        return Err(refused("space list", answer));
    }
    let spaces: Spaces = parse("space list", &answer.body)?;
    spaces
        .spaces
        .iter()
        .find(|space| space.hosted)
        .or(spaces.spaces.first())
        .map(|space| space.id)
        .ok_or(AccountError::BadAnswer {
            what: "space list",
            detail: "no space is listed".into(),
        })
}

/// The space to make with `POST /api/v1/space`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSpace {
    /// Its name.
    pub name: String,
    /// Width in metres, 1 to 1,000.
    pub width: u32,
    /// Height in metres, 1 to 1,000.
    pub height: u32,
    /// Seats per room (none: one room with no cap). Full rooms overflow into
    /// new ones.
    pub capacity: Option<u32>,
}

/// Creates `space` with the access token's account as its owner; its id.
pub async fn create_space(
    server: SocketAddr,
    access_token: &str,
    space: &NewSpace,
    deadline: Instant,
) -> Result<i64, AccountError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Created {
        space_id: i64,
    }
    let mut request = serde_json::json!({
        "name": space.name,
        "dimensions": format!("{}x{}", space.width, space.height),
        "overflow": true,
    });
    if let Some(capacity) = space.capacity {
        request["capacity"] = capacity.into();
    }
    let answer = exchange_patiently(
        server,
        "space creation",
        "/api/v1/space",
        Some(&request.to_string()),
        Some(access_token),
        deadline,
    )
    .await?;
    if !(200..300).contains(&answer.status) {
        return Err(refused("space creation", answer));
    }
    Ok(parse::<Created>("space creation", &answer.body)?.space_id)
}

/// What joining answered: a realtime token, or that the access token is no
/// longer accepted (log in again).
#[derive(Debug)]
pub enum JoinOutcome {
    /// The realtime token.
    Joined(Join),
    /// A 401: the access token expired or was revoked.
    LogInAgain,
}

/// `POST /api/v1/space/{space}/join` with the access token.
pub async fn join_space(
    server: SocketAddr,
    access_token: &str,
    space: i64,
    deadline: Instant,
) -> Result<JoinOutcome, AccountError> {
    let mut server = server;
    let mut body = "{}";
    // A cluster shard answers 421 for a room whose instance another shard
    // runs (or should start), naming that shard's gateway: the join is asked
    // again there (saying it was placed there, so that it starts there), and
    // its realtime token is minted for that gateway.
    for _ in 0..MAX_GATEWAY_HOPS {
        let answer = exchange_patiently(
            server,
            "join",
            &format!("/api/v1/space/{space}/join"),
            Some(body),
            Some(access_token),
            deadline,
        )
        .await?;
        match answer.status {
            200..=299 => return Ok(JoinOutcome::Joined(parse("join", &answer.body)?)),
            401 => return Ok(JoinOutcome::LogInAgain),
            421 => {
                server = gateway_of(&answer)?;
                body = r#"{"placed":true}"#;
            }
            _ => return Err(refused("join", answer)),
        }
    }
    Err(AccountError::BadAnswer {
        what: "join",
        detail: format!("sent on to another gateway {MAX_GATEWAY_HOPS} times"),
    })
}

/// How many times a join follows a 421 to another shard's gateway.
const MAX_GATEWAY_HOPS: usize = 4;

/// The gateway a 421 join answer names.
fn gateway_of(answer: &Answer) -> Result<SocketAddr, AccountError> {
    #[derive(Deserialize)]
    struct Misdirected {
        gateway: String,
    }
    let misdirected: Misdirected = parse("join", &answer.body)?;
    misdirected
        .gateway
        .parse()
        .map_err(|_| AccountError::BadAnswer {
            what: "join",
            detail: format!("a gateway that is not an address: {}", misdirected.gateway),
        })
}

/// A player's way in: its credentials and, once logged in, its access token.
#[derive(Debug, Clone)]
pub struct Session {
    credentials: Credentials,
    access_token: Option<String>,
}

impl Session {
    /// A session not yet logged in.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            access_token: None,
        }
    }

    /// The access token, logging in (or signing up) first if there is none.
    pub async fn access_token(
        &mut self,
        server: SocketAddr,
        deadline: Instant,
    ) -> Result<String, AccountError> {
        if let Some(token) = &self.access_token {
            return Ok(token.clone());
        }
        let token = log_in_or_sign_up(server, &self.credentials, deadline).await?;
        self.access_token = Some(token.clone());
        Ok(token)
    }

    /// A fresh realtime token for `space` on `server`; a 401 logs in again once.
    pub async fn join(
        &mut self,
        server: SocketAddr,
        space: i64,
        deadline: Instant,
    ) -> Result<Join, AccountError> {
        for _ in 0..2 {
            let access = self.access_token(server, deadline).await?;
            match join_space(server, &access, space, deadline).await? {
                JoinOutcome::Joined(join) => return Ok(join),
                JoinOutcome::LogInAgain => self.access_token = None,
            }
        }
        Err(AccountError::Refused {
            what: "join",
            status: 401,
            body: "a fresh access token was refused".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers each connection with the next canned
    /// answer and records the request lines it was sent.
    async fn scripted(answers: Vec<&'static str>) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let address = listener.local_addr().expect("bound");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            for answer in answers {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0; 4096];
                // Head and body arrive together on loopback; read until the
                // head ends and the declared body is in.
                while let Ok(read) = stream.read(&mut buffer).await {
                    request.extend_from_slice(&buffer[..read]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|line| line.strip_prefix("Content-Length: "))
                            .and_then(|value| value.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            break;
                        }
                    }
                    if read == 0 {
                        break;
                    }
                }
                let text = String::from_utf8_lossy(&request);
                seen.lock()
                    .expect("not poisoned")
                    .push(text.lines().next().unwrap_or_default().to_owned());
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        (address, requests)
    }

    const TOO_MANY: &str = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\n\
                            Content-Length: 2\r\n\r\n{}";
    const WRONG: &str = "HTTP/1.1 403 Forbidden\r\nContent-Length: 38\r\n\r\n\
                         {\"error\":\"wrong username or password\"}";
    const SIGNED_UP: &str = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"userId\":1}";
    const TOKEN: &str = "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"token\":\"abc\"}";
    const UNAUTHORIZED: &str = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}";
    const JOINED: &str = "HTTP/1.1 200 OK\r\nContent-Length: 81\r\n\r\n\
        {\"token\":\"t\",\"game_address\":\"127.0.0.1:1\",\"certificate_sha256\":\"00\",\"space_id\":1}";

    #[tokio::test]
    async fn a_429_is_waited_out_and_a_missing_account_signed_up() {
        let (server, requests) = scripted(vec![TOO_MANY, WRONG, SIGNED_UP, TOKEN]).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let started = Instant::now();
        let token = log_in_or_sign_up(server, &Credentials::for_bot("t", 0), deadline)
            .await
            .expect("logs in");
        assert_eq!(token, "abc");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After is honoured"
        );
        let requests = requests.lock().expect("not poisoned").clone();
        assert_eq!(
            requests,
            [
                "POST /api/v1/login HTTP/1.1",
                "POST /api/v1/login HTTP/1.1",
                "POST /api/v1/signup HTTP/1.1",
                "POST /api/v1/login HTTP/1.1"
            ]
        );
    }

    #[tokio::test]
    async fn a_429_past_the_deadline_gives_up() {
        let (server, _) = scripted(vec![TOO_MANY]).await;
        let deadline = Instant::now() + Duration::from_millis(500);
        let outcome = log_in_or_sign_up(server, &Credentials::for_bot("t", 0), deadline).await;
        assert!(
            matches!(outcome, Err(AccountError::RateLimited { what: "login" })),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_401_at_join_logs_in_again() {
        let (server, requests) = scripted(vec![TOKEN, UNAUTHORIZED, TOKEN, JOINED]).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut session = Session::new(Credentials::for_bot("t", 0));
        let join = session.join(server, 1, deadline).await.expect("joins");
        assert_eq!(join.token, "t");
        let requests = requests.lock().expect("not poisoned").clone();
        assert_eq!(
            requests,
            [
                "POST /api/v1/login HTTP/1.1",
                "POST /api/v1/space/1/join HTTP/1.1",
                "POST /api/v1/login HTTP/1.1",
                "POST /api/v1/space/1/join HTTP/1.1"
            ]
        );
    }

    #[test]
    fn bot_credentials_are_deterministic_and_valid() {
        let first = Credentials::for_bot("loadbot", 7);
        assert_eq!(first, Credentials::for_bot("loadbot", 7));
        assert_eq!(first.username, "loadbot-7");
        assert_ne!(first.password, Credentials::for_bot("other", 7).password);
        assert!((8..=128).contains(&first.password.len()));
        let longest = Credentials::for_bot(&"p".repeat(24), 9_999_999);
        assert!(longest.username.len() <= 32);
        assert!(check_prefix("loadbot").is_ok());
        assert!(check_prefix("").is_err());
        assert!(check_prefix("bad prefix").is_err());
        assert!(check_prefix(&"p".repeat(25)).is_err());
    }
}
