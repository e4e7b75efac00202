//! Accounts: a username, a password hash (hashed by the caller), a role.

use crate::error::StoreError;
use crate::ids::next_id;
use crate::store::Store;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A player.
    User,
    /// May edit catalogues and templates, and any space.
    Admin,
}

impl Role {
    /// `user` or `admin`, as stored and as access tokens say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            _ => Err(StoreError::Corrupt { field: "role" }),
        }
    }
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// The password hash (PHC string).
    pub password_hash: String,
    /// Its role.
    pub role: Role,
    /// The chosen avatar from the catalogue, if any.
    pub avatar_id: Option<i64>,
}

/// The password hash of every guest: not a PHC string, so no password matches.
pub const GUEST_PASSWORD_HASH: &str = "!guest";

/// What every guest's username starts with.
pub const GUEST_PREFIX: &str = "guest~";

/// Guest number `number`'s username, after the name it asked for.
fn guest_username(name: Option<&str>, number: i64) -> String {
    match name {
        Some(name) => format!("{GUEST_PREFIX}{name}~{number}"),
        None => format!("{GUEST_PREFIX}{number}"),
    }
}

type AccountRow = (i64, String, String, String, Option<i64>);

fn account(row: AccountRow) -> Result<Account, StoreError> {
    let (id, username, password_hash, role, avatar_id) = row;
    Ok(Account {
        id,
        username,
        password_hash,
        role: Role::parse(&role)?,
        avatar_id,
    })
}

/// Writes account `account` in `transaction`; a taken username is
/// [`StoreError::Conflict`].
async fn insert_account(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &Account,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO accounts (id, username, password_hash, role, avatar_id, created_at) \
         VALUES ($1, $2, $3, $4, NULL, $5)",
    )
    .bind(account.id)
    .bind(&account.username)
    .bind(&account.password_hash)
    .bind(account.role.as_str())
    .bind(now)
    .execute(&mut **transaction)
    .await
    .map_err(|error| StoreError::from_insert(error, "username"))?;
    Ok(())
}

impl Store {
    /// Creates an account; a taken username is [`StoreError::Conflict`].
    pub async fn create_account(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        now: i64,
    ) -> Result<Account, StoreError> {
        let mut transaction = self.begin_write().await?;
        let account = Account {
            id: next_id(&mut *transaction, "accounts").await?,
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            role,
            avatar_id: None,
        };
        insert_account(&mut transaction, &account, now).await?;
        transaction.commit().await?;
        Ok(account)
    }

    /// A new guest account for a development join: username
    /// `guest~{name}~{number}` (or `guest~{number}` without a name), numbered
    /// from the database so no two guests ever share an account, not even
    /// across restarts. `~` is never in a signed-up username, so a guest never
    /// takes a player's name; its password hash is [`GUEST_PASSWORD_HASH`], which
    /// no password matches, so a guest cannot log in.
    pub async fn create_guest(&self, name: Option<&str>, now: i64) -> Result<Account, StoreError> {
        let mut transaction = self.begin_write().await?;
        let number = next_id(&mut *transaction, "guests").await?;
        let account = Account {
            id: next_id(&mut *transaction, "accounts").await?,
            username: guest_username(name, number),
            password_hash: GUEST_PASSWORD_HASH.to_owned(),
            role: Role::User,
            avatar_id: None,
        };
        insert_account(&mut transaction, &account, now).await?;
        transaction.commit().await?;
        Ok(account)
    }

    /// Gives account `id` the role `role`; `false` if there is no such
    /// account. Access tokens already issued keep their role until they
    /// expire; the next refresh reads the new one.
    pub async fn set_role(&self, id: i64, role: Role) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE accounts SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The account with this username.
    pub async fn account_by_username(&self, username: &str) -> Result<Account, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT id, username, password_hash, role, avatar_id FROM accounts WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        account(row.ok_or(StoreError::NotFound { what: "account" })?)
    }
}
