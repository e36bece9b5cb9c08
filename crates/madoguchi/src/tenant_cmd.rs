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
    /// Take one municipality offline: its residents see a notice (お知らせ)
    /// instead of its pages, its desks are refused; every other tenant keeps
    /// serving. Every counter node follows within seconds, no restart.
    Isolate {
        tenant: String,
        /// What residents read, in Japanese: what happened, where to go.
        /// Each line is a paragraph. Default: a standard notice.
        #[arg(long, value_name = "TEXT", default_value = "")]
        notice_ja: String,
        /// The same in English.
        #[arg(long, value_name = "TEXT", default_value = "")]
        notice_en: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Crisis mode (災害モード) in one step: the municipality's home page
    /// becomes a static page with a pinned notice and one form (a damage
    /// report or safety confirmation, adopted from the prefecture's
    /// template if the municipality has not published it) stays open;
    /// every other form and the discussion rooms are paused. Every counter
    /// node follows within seconds.
    Crisis {
        tenant: String,
        state: OnOff,
        /// The form that stays open. Default: damage-report (or
        /// safety-confirmation)
        #[arg(long, value_name = "FORM", default_value = "damage-report")]
        form: String,
        /// The pinned notice in Japanese: what happened, where to go. Each
        /// line is a paragraph. Default: a standard notice.
        #[arg(long, value_name = "TEXT", default_value = "")]
        notice_ja: String,
        /// The same in English.
        #[arg(long, value_name = "TEXT", default_value = "")]
        notice_en: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Bring an isolated municipality back.
    Restore {
        tenant: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Where the watch's alerts for this tenant go: its security contacts
    /// (role mailboxes, 情報セキュリティ担当) and a webhook. Replaces what
    /// was set; with neither option, shows it.
    Security {
        tenant: String,
        /// A mailbox for alerts (repeat for more).
        #[arg(long = "contact", value_name = "ADDRESS")]
        contacts: Vec<String>,
        /// A URL called with every batch of alerts as JSON.
        #[arg(long, value_name = "URL")]
        webhook: Option<String>,
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
        TenantCommand::Isolate { tenant, notice_ja, notice_en, store } => {
            let store = store.into_config()?.open().await?;
            store.isolate_tenant(&tenant, &notice_ja, &notice_en, "operator:cli").await?;
            println!(
                "{tenant}: isolated; its residents see the notice and its desks are refused (all nodes within 5 s)"
            );
            Ok(())
        }
        TenantCommand::Security { tenant, contacts, webhook, store } => {
            let store = store.into_config()?.open().await?;
            if store.tenant(&tenant).await?.is_none() {
                bail!("no tenant {tenant:?}");
            }
            if contacts.is_empty() && webhook.is_none() {
                let set = store.security_contacts(&tenant).await?;
                println!("{tenant}: contacts {:?}, webhook {:?}", set.mail, set.webhook);
                return Ok(());
            }
            for address in &contacts {
                if address.parse::<lettre::Address>().is_err() {
                    bail!("--contact {address:?} is not an e-mail address");
                }
            }
            if let Some(url) = &webhook {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    bail!("--webhook {url:?} is not an http(s) URL");
                }
            }
            let set = store::SecurityContacts { mail: contacts, webhook };
            store.set_security_contacts(&tenant, &set, "operator:cli").await?;
            println!(
                "{tenant}: alerts go to {} mailbox(es){}",
                set.mail.len(),
                if set.webhook.is_some() { " and the webhook" } else { "" }
            );
            Ok(())
        }
        TenantCommand::Crisis { tenant, state: OnOff::On, form, notice_ja, notice_en, store } => {
            let store = store.into_config()?.open().await?;
            store.declare_crisis(&tenant, &form, &notice_ja, &notice_en, "operator:cli").await?;
            println!("{tenant}: crisis mode on; {form} stays open, everything else is paused (all nodes within 5 s)");
            Ok(())
        }
        TenantCommand::Crisis { tenant, state: OnOff::Off, store, .. } => {
            let store = store.into_config()?.open().await?;
            if store.end_crisis(&tenant, "operator:cli").await? {
                println!("{tenant}: crisis mode off; every form is open again (all nodes within 5 s)");
            } else {
                println!("{tenant}: was not in crisis mode");
            }
            Ok(())
        }
        TenantCommand::Restore { tenant, store } => {
            let store = store.into_config()?.open().await?;
            if store.restore_tenant(&tenant, "operator:cli").await? {
                println!("{tenant}: restored; serving again (all nodes within 5 s)");
            } else {
                println!("{tenant}: was not isolated");
            }
            Ok(())
        }
    }
}
