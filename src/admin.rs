//! `meridian create-admin`: the only way to make an admin account. The password is
//! read from `MERIDIAN_ADMIN_PASSWORD` or, if unset, from the first line of
//! standard input, so it never shows in a process list.

use anyhow::{Context, bail};
use meridian_persistence::{Role, StoreError};

/// Flags of `meridian create-admin`.
#[derive(Debug, clap::Args)]
pub(crate) struct CreateAdminArgs {
    /// The admin's username (3 to 32 letters, digits, '_' or '-').
    #[arg(long)]
    username: String,
    /// The database (env MERIDIAN_DATABASE_URL), as for `serve`.
    #[arg(long)]
    database_url: Option<String>,
}

pub(crate) fn run(args: &CreateAdminArgs) -> anyhow::Result<()> {
    if !crate::serve::valid_username(&args.username) {
        bail!("the username must be 3 to 32 letters, digits, '_' or '-'");
    }
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
    if !(8..=128).contains(&password.len()) {
        bail!("the password must be 8 to 128 bytes long");
    }
    let url = args
        .database_url
        .clone()
        .or_else(|| std::env::var("MERIDIAN_DATABASE_URL").ok())
        .unwrap_or_else(|| crate::serve::DEFAULT_DATABASE_URL.to_owned());
    let hash = crate::serve::hash_password(&password).context("cannot hash the password")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = crate::serve::open_store(&url).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs() as i64);
        let created = store
            .create_account(&args.username, &hash, Role::Admin, now)
            .await;
        store.close().await;
        match created {
            Ok(account) => {
                println!(
                    "created admin {} (account {})",
                    account.username, account.id
                );
                Ok(())
            }
            Err(StoreError::Conflict { .. }) => bail!("the username {} is taken", args.username),
            Err(error) => Err(error).context("cannot create the account"),
        }
    })
}
