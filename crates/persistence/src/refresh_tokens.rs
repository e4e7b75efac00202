//! Refresh tokens: the long-lived half of a login, stored hashed (the caller
//! hashes), rotated on every use. A token used after it was rotated means two
//! parties hold it, so its whole family (every token descended from the same
//! login) is revoked.

use crate::accounts::Role;
use crate::error::StoreError;
use crate::store::Store;

/// A refresh token to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRefreshToken<'a> {
    /// The token's hash (never the token).
    pub token_hash: &'a str,
    /// Whose it is.
    pub account_id: i64,
    /// The login it descends from.
    pub family: &'a str,
    /// Unix seconds after which it is refused.
    pub expires_at: i64,
}

/// The account a rotated refresh token belongs to, as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshedAccount {
    /// Its id.
    pub account_id: i64,
    /// Its username.
    pub username: String,
    /// Its role now (re-read, so a role change reaches the next access token).
    pub role: Role,
}

/// What rotating a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// The old token is revoked and the new one stored in its family.
    Rotated(RefreshedAccount),
    /// No such token (or its account is gone).
    Unknown,
    /// The token has expired.
    Expired,
    /// The token was already rotated or revoked: its family is revoked now.
    Reused,
}

type TokenRow = (i64, String, i64, Option<i64>);

impl Store {
    /// Stores a refresh token of a new login, and forgets tokens that expired
    /// before `now` (so the table holds only live logins and recent history).
    pub async fn issue_refresh_token(
        &self,
        token: NewRefreshToken<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        insert(&mut transaction, token, now).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Exchanges the token hashed `old_hash` for `new` (same account and
    /// family as the old one; `new.account_id` and `new.family` are ignored).
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new: NewRefreshToken<'_>,
        now: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut transaction = self.begin_write().await?;
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT account_id, family, expires_at, revoked_at FROM refresh_tokens \
             WHERE token_hash = $1",
        )
        .bind(old_hash)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some((account_id, family, expires_at, revoked_at)) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        if revoked_at.is_some() {
            revoke_family(&mut transaction, &family, now).await?;
            transaction.commit().await?;
            return Ok(RefreshOutcome::Reused);
        }
        if expires_at <= now {
            return Ok(RefreshOutcome::Expired);
        }
        // Only one of two racing rotations of the same token wins this update
        // (the row is locked by it on PostgreSQL; SQLite holds the write lock).
        let revoked = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 \
             WHERE token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(old_hash)
        .execute(&mut *transaction)
        .await?;
        if revoked.rows_affected() != 1 {
            revoke_family(&mut transaction, &family, now).await?;
            transaction.commit().await?;
            return Ok(RefreshOutcome::Reused);
        }
        let account: Option<(String, String)> =
            sqlx::query_as("SELECT username, role FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(&mut *transaction)
                .await?;
        let Some((username, role)) = account else {
            return Ok(RefreshOutcome::Unknown);
        };
        let role = match role.as_str() {
            "user" => Role::User,
            "admin" => Role::Admin,
            _ => return Err(StoreError::Corrupt { field: "role" }),
        };
        insert(
            &mut transaction,
            NewRefreshToken {
                account_id,
                family: &family,
                ..new
            },
            now,
        )
        .await?;
        transaction.commit().await?;
        Ok(RefreshOutcome::Rotated(RefreshedAccount {
            account_id,
            username,
            role,
        }))
    }

    /// Revokes the family of the token hashed `token_hash` (a logout); `false`
    /// if there is no such token.
    pub async fn revoke_refresh_family(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        let family: Option<(String,)> =
            sqlx::query_as("SELECT family FROM refresh_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&mut *transaction)
                .await?;
        let Some((family,)) = family else {
            return Ok(false);
        };
        revoke_family(&mut transaction, &family, now).await?;
        transaction.commit().await?;
        Ok(true)
    }
}

async fn insert(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    token: NewRefreshToken<'_>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens \
         (token_hash, account_id, family, expires_at, created_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(token.token_hash)
    .bind(token.account_id)
    .bind(token.family)
    .bind(token.expires_at)
    .bind(now)
    .execute(&mut **transaction)
    .await
    .map_err(|error| StoreError::from_insert(error, "refresh token"))?;
    Ok(())
}

async fn revoke_family(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    family: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(family)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}
