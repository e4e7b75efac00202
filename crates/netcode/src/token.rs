//! Realtime tokens: the credential a hello carries.
//!
//! A token is a JSON Web Token signed with HMAC-SHA256 (`alg: HS256`):
//! `base64url(header) . base64url(claims) . base64url(signature)`. Every hello is
//! checked by [`TokenAuthority::verify`], the one code path. Each token carries
//! a random id (`jti`) and a server admits it once. The HTTP API signs its
//! access tokens with another authority (another key), so neither kind of
//! token passes for the other.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The header every token carries, base64url-encoded once.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What a realtime token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealtimeClaims {
    /// The account id.
    pub sub: u64,
    /// The display name.
    pub name: String,
    /// The space (world) the token admits to.
    pub space: u32,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Always `"realtime"`: an access token for the HTTP API is not accepted here.
    pub scope: String,
    /// A random id: a server admits each token once (see
    /// [`Server`](crate::Server)), so a token captured or kept is no use again.
    pub jti: String,
    /// The gateway that admits it: the shard id of the cluster shard whose
    /// join endpoint minted it, 0 for a server of one. Each gateway remembers
    /// the ids it admitted on its own, so a token bound to one gateway cannot
    /// be spent a second time at another.
    #[serde(default)]
    pub gateway: u32,
}

impl RealtimeClaims {
    /// Claims for a realtime token with a fresh random id.
    pub fn new(sub: u64, name: String, space: u32, exp: u64) -> Self {
        Self {
            sub,
            name,
            space,
            exp,
            scope: REALTIME_SCOPE.into(),
            jti: random_token_id(),
            gateway: 0,
        }
    }

    /// The same claims, admitted only by the gateway of shard `gateway`.
    #[must_use]
    pub fn at_gateway(mut self, gateway: u32) -> Self {
        self.gateway = gateway;
        self
    }
}

/// 128 random bits, base64url: a realtime token's id.
pub fn random_token_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    // The system random source fails only on kernels without getrandom(2)
    // and /dev/urandom, where nothing else here would work either.
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The scope a realtime token must carry.
pub const REALTIME_SCOPE: &str = "realtime";

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts, or the parts are not the expected JSON.
    #[error("token is malformed")]
    Malformed,
    /// The signature does not match.
    #[error("token signature is wrong")]
    BadSignature,
    /// The token's expiry has passed.
    #[error("token has expired")]
    Expired,
    /// The token is for another space.
    #[error("token is for another space")]
    WrongSpace,
    /// The token is not a realtime token.
    #[error("token has the wrong scope")]
    WrongScope,
    /// The token was presented before: realtime tokens are single use.
    #[error("token has already been used; ask for a new one")]
    Replayed,
    /// The token was minted for another gateway (another shard's join).
    #[error("token is for another gateway; ask this server's join endpoint")]
    WrongGateway,
}

/// Signs and verifies realtime tokens with one secret key.
#[derive(Clone)]
pub struct TokenAuthority {
    key: hmac::Key,
}

impl std::fmt::Debug for TokenAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenAuthority { key: <secret> }")
    }
}

impl TokenAuthority {
    /// An authority with this secret (at least 32 bytes of randomness in
    /// production).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A signed realtime token for these claims.
    pub fn mint(&self, claims: &RealtimeClaims) -> String {
        self.mint_claims(claims)
    }

    /// A signed token for any claims (the HTTP API's access tokens use this with
    /// their own claims and scope).
    pub fn mint_claims<C: Serialize>(&self, claims: &C) -> String {
        let engine = URL_SAFE_NO_PAD;
        // Serializing a struct of strings and integers cannot fail.
        let claims_json = serde_json::to_vec(claims).unwrap_or_default();
        let mut token = engine.encode(HEADER_JSON);
        token.push('.');
        token.push_str(&engine.encode(claims_json));
        let signature = hmac::sign(&self.key, token.as_bytes());
        token.push('.');
        token.push_str(&engine.encode(signature.as_ref()));
        token
    }

    /// Checks the signature, expiry (`now_unix`, seconds), scope and space of a
    /// realtime token.
    pub fn verify(
        &self,
        token: &str,
        space: u32,
        now_unix: u64,
    ) -> Result<RealtimeClaims, TokenError> {
        let claims: RealtimeClaims = self.verify_claims(token)?;
        if claims.scope != REALTIME_SCOPE {
            return Err(TokenError::WrongScope);
        }
        if claims.jti.is_empty() {
            return Err(TokenError::Malformed);
        }
        if claims.exp <= now_unix {
            return Err(TokenError::Expired);
        }
        if claims.space != space {
            return Err(TokenError::WrongSpace);
        }
        Ok(claims)
    }

    /// Checks the signature and header of any token and returns its claims; the
    /// caller checks expiry and scope.
    pub fn verify_claims<C: DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let engine = URL_SAFE_NO_PAD;
        let signature = engine
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let signed = &token[..header.len() + 1 + claims.len()];
        hmac::verify(&self.key, signed.as_bytes(), &signature)
            .map_err(|_| TokenError::BadSignature)?;
        let header = engine.decode(header).map_err(|_| TokenError::Malformed)?;
        let header: serde_json::Value =
            serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
        if header.get("alg").and_then(|alg| alg.as_str()) != Some("HS256") {
            return Err(TokenError::Malformed);
        }
        let claims = engine.decode(claims).map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&claims).map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(space: u32, exp: u64) -> RealtimeClaims {
        RealtimeClaims {
            sub: 7,
            name: "ada".into(),
            space,
            exp,
            scope: REALTIME_SCOPE.into(),
            jti: "token-1".into(),
            gateway: 0,
        }
    }

    proptest::proptest! {
        /// Whatever a hello carries, verification answers with an error, never a
        /// panic, and never accepts it.
        #[test]
        fn arbitrary_tokens_are_refused_without_panicking(token in ".{0,300}") {
            let authority = TokenAuthority::new(b"a development secret of some length");
            proptest::prop_assert!(authority.verify(&token, 1, 0).is_err());
        }

        /// Flipping any character of a good token breaks it.
        #[test]
        fn a_changed_character_is_refused(position in 0usize..200, replacement in "[A-Za-z0-9_.-]") {
            let authority = TokenAuthority::new(b"a development secret of some length");
            let token = authority.mint(&claims(1, 1_000));
            let position = position % token.len();
            let mut changed = token.clone();
            changed.replace_range(position..position + 1, &replacement);
            proptest::prop_assume!(changed != token);
            proptest::prop_assert!(authority.verify(&changed, 1, 0).is_err());
        }
    }

    #[test]
    fn a_minted_token_verifies_and_every_fault_is_named() {
        let authority = TokenAuthority::new(b"a development secret of some length");
        let token = authority.mint(&claims(1, 1_000));
        assert_eq!(authority.verify(&token, 1, 999), Ok(claims(1, 1_000)));
        assert_eq!(authority.verify(&token, 1, 1_000), Err(TokenError::Expired));
        assert_eq!(
            authority.verify(&token, 2, 999),
            Err(TokenError::WrongSpace)
        );
        let other = TokenAuthority::new(b"another secret");
        assert_eq!(other.verify(&token, 1, 999), Err(TokenError::BadSignature));
        let mut forged = token.clone();
        forged.insert(token.find('.').unwrap_or(0) + 3, 'x');
        assert!(authority.verify(&forged, 1, 999).is_err());
        assert_eq!(authority.verify("a.b", 1, 0), Err(TokenError::Malformed));
        assert_eq!(authority.verify("", 1, 0), Err(TokenError::Malformed));
        let mut wrong_scope = claims(1, 1_000);
        wrong_scope.scope = "access".into();
        assert_eq!(
            authority.verify(&authority.mint(&wrong_scope), 1, 0),
            Err(TokenError::WrongScope)
        );
        let mut no_id = claims(1, 1_000);
        no_id.jti.clear();
        assert_eq!(
            authority.verify(&authority.mint(&no_id), 1, 0),
            Err(TokenError::Malformed)
        );
        let fresh = RealtimeClaims::new(7, "ada".into(), 1, 1_000);
        let other = RealtimeClaims::new(7, "ada".into(), 1, 1_000);
        assert_ne!(fresh.jti, other.jti, "each token gets its own id");
        assert_eq!(fresh.jti.len(), 22);
    }
}
