//! `madoguchi tenant …`: the operator's switches for one tenant.

use anyhow::bail;
use clap::{Subcommand, ValueEnum};

use crate::config::StoreArgs;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Under-attack mode: new visitors of the tenant get a short
    /// proof-of-work page before a form (residents already filling one are
    /// not asked). Every counter node follows within seconds. The shield
    /// also switches it on by itself when shedding persists.
    UnderAttack {
        tenant: String,
        state: OnOff,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::UnderAttack { tenant, state, store } => {
            let store = store.into_config()?.open().await?;
            if store.tenant(&tenant).await?.is_none() {
                bail!("no tenant {tenant:?}");
            }
            let on = matches!(state, OnOff::On);
            store.set_under_attack(&tenant, on, "operator:cli").await?;
            println!("{tenant}: under-attack mode {}", if on { "on" } else { "off" });
            Ok(())
        }
    }
}
