//! One secret, separate keys: access tokens are signed with a key derived for
//! them (HKDF-SHA256, info "meridian access tokens"), realtime tokens with
//! another ("meridian realtime tokens"). An access token signed with the
//! realtime key, or with the secret itself, is refused by the API; a realtime
//! token signed with the access key is refused by the game server.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{account_join, start_server_env, temporary_database, token_claims};
use loadbot::http::exchange;
use meridian_netcode::driver::client::Behaviour;
use meridian_netcode::{Client, ClientEvent, RealtimeClaims, TokenAuthority};
use meridian_protocol::messages::RefusalReason;
use ring::hkdf;

const SECRET: &str = "a cluster secret of at least thirty-two bytes";

struct Length;

impl hkdf::KeyType for Length {
    fn len(&self) -> usize {
        32
    }
}

/// The key for `info`, derived as docs/SECURITY.md and src/serve/keys.rs say.
fn derived(info: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, b"meridian key derivation v1")
        .extract(SECRET.as_bytes())
        .expand(&[info], Length)
        .and_then(|okm| okm.fill(&mut key))
        .expect("32 bytes");
    key
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[derive(Default)]
struct Watch(Vec<ClientEvent>);

impl Behaviour for Watch {
    fn on_tick(&mut self, _: &mut Client, _: Instant) {}
    fn on_event(&mut self, _: &mut Client, event: ClientEvent, _: Instant) {
        self.0.push(event);
    }
}

#[test]
fn each_kind_of_token_is_checked_with_its_own_key() {
    let (_server, http_address) = start_server_env(
        &temporary_database(),
        &[],
        &[("MERIDIAN_TOKEN_SECRET", SECRET)],
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let joined = account_join(http_address, "keyed").await;
        let real = token_claims(&joined.access_token);
        let space = joined.space_id;
        let access_claims = serde_json::json!({
            "sub": real["sub"],
            "username": real["username"],
            "role": "user",
            "exp": now() + 600,
            "scope": "access",
        });
        let status = |token: String| async move {
            exchange(
                http_address,
                "POST",
                &format!("/api/v1/space/{space}/join"),
                None,
                Some(&token),
            )
            .await
            .expect("answers")
            .status
        };
        let access_key = derived(b"meridian access tokens");
        let realtime_key = derived(b"meridian realtime tokens");
        let signed = |key: &[u8]| TokenAuthority::new(key).mint_claims(&access_claims);
        assert_eq!(status(signed(&access_key)).await, 200, "the access key");
        assert_eq!(status(signed(&realtime_key)).await, 401, "the realtime key");
        assert_eq!(
            status(signed(SECRET.as_bytes())).await,
            401,
            "the bare secret"
        );
        assert_eq!(status(joined.token.clone()).await, 401, "a realtime token");

        // The game server: realtime claims signed with the access key are refused.
        let claims = token_claims(&joined.token);
        let forged = RealtimeClaims::new(
            claims["sub"].as_u64().expect("sub"),
            claims["name"].as_str().expect("name").to_owned(),
            claims["space"].as_u64().expect("space") as u32,
            now() + 60,
        );
        let mut wrong_key = joined.again(http_address).await;
        wrong_key.token = TokenAuthority::new(&access_key).mint(&forged);
        let (_endpoint, connection, mut client) = wrong_key.connect().await;
        let mut watch = Watch::default();
        connection
            .drive(
                &mut client,
                &mut watch,
                Duration::from_millis(50),
                Instant::now() + Duration::from_secs(10),
            )
            .await;
        assert!(
            watch.0.iter().any(|event| matches!(
                event,
                ClientEvent::Refused(refusal) if refusal.reason == RefusalReason::BadToken
            )),
            "{:?}",
            watch.0
        );
    });
}
