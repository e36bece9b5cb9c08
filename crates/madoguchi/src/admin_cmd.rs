//! `madoguchi admin …`: bootstrapping the admin console from the command
//! line. Everything after the first operator is done in the web console.

use anyhow::{bail, Context};
use clap::Subcommand;
use identity::{Grant, Role};

use crate::config::StoreArgs;

/// How long an enrolment code printed here stays valid.
const ENROLMENT_SECS: i64 = 72 * 3600;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an operator account (the first one, or one more) and print
    /// its one-time enrolment code. The owner opens /admin/enrol, chooses a
    /// password and registers an authenticator app.
    CreateOperator {
        /// Login ID: 3–32 lowercase letters, digits, '.', '_' or '-'
        /// (never an e-mail address).
        #[arg(long)]
        login: String,
        /// The name shown in the console and the ledger.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Lift the lock on an account after too many failed sign-ins (tenant
    /// admins do this in the console; this is for a locked-out operator).
    Unlock {
        login: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateOperator { login, name, store } => {
            let login = login.trim().to_ascii_lowercase();
            if !identity::valid_login(&login) {
                bail!("login id {login:?}: use 3–32 lowercase letters, digits, '.', '_' or '-', starting with a letter (not an e-mail address)");
            }
            let store = store.into_config()?.open().await?;
            let code = {
                use rand::RngCore;
                let mut bytes = [0u8; 10];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                hex::encode(bytes)
            };
            let hash = {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(code.as_bytes()))
            };
            let expires = time::OffsetDateTime::now_utc().unix_timestamp() + ENROLMENT_SECS;
            let grants = [Grant { role: Role::Operator, tenant: None }];
            let created = store
                .create_staff(&login, name.trim(), &grants, &hash, expires, &store::Actor::cli())
                .await
                .context("creating the account")?;
            if !created {
                bail!("an account {login:?} exists already");
            }
            println!("operator account: {login}");
            println!("enrolment code:   {code}");
            println!("valid for 72 hours: open /admin/enrol on the counter to choose a password and set up TOTP.");
            Ok(())
        }
        AdminCommand::Unlock { login, store } => {
            let store = store.into_config()?.open().await?;
            if !store.unlock_staff(&login, &store::Actor::cli()).await? {
                bail!("no account {login:?}");
            }
            println!("{login}: unlocked");
            Ok(())
        }
    }
}
