//! Sends the ledger's alerts on: a mail to the tenant's security contacts
//! (and the operator's), and a JSON call to each configured webhook.
//!
//! The ledger is the source: whoever raised an alert (the watch on this
//! counter, a desk's watch, the integrity check) entered it there, and
//! this dispatcher follows the alert leaves with a cursor, so an alert is
//! never lost to a crash between raising and sending. One counter node at
//! a time holds the lease. Mail goes only to the configured role mailboxes
//! — never to an address a request supplied — and at most one mail per
//! recipient per `quiet` interval: a storm of alerts becomes one digest.
//! An alert carries ids, rules, counts and addresses, never a record.

use std::collections::BTreeMap;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use store::{LedgerEntry, Store};

/// Deliveries of one batch are retried this many times, then the batch is
/// given up (logged as an error; it stays in the ledger).
const MAX_ATTEMPTS: u32 = 5;

pub struct AlertDispatcher {
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    http: reqwest::Client,
    /// The operator's mailboxes and webhook: every alert, every tenant.
    operator_mail: Vec<String>,
    operator_webhook: Option<String>,
    holder: String,
    /// After a batch went out, wait this long before the next one.
    quiet: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AlertSetupError {
    #[error("mail sender address {0:?} is not an e-mail address")]
    BadFrom(String),
    #[error("the webhook client cannot be built: {0}")]
    Http(String),
}

/// One alert as the webhook receives it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertNotice {
    pub ledger_index: i64,
    pub at: i64,
    pub tenant: Option<String>,
    /// Who raised it (`system:watch`, `staff:…` through a desk's watch).
    pub raised_by: String,
    /// Whom it is about, when that is not who raised it.
    pub principal: Option<String>,
    pub source: Option<String>,
    pub detail: String,
}

#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    service: &'static str,
    alerts: &'a [AlertNotice],
}

impl AlertDispatcher {
    /// `smtp`: the relay (HOST, PORT) and sender, when mail is on.
    pub fn new(
        smtp: Option<(&str, u16, &str)>,
        operator_mail: Vec<String>,
        operator_webhook: Option<String>,
        quiet: Duration,
    ) -> Result<AlertDispatcher, AlertSetupError> {
        let smtp = match smtp {
            Some((host, port, from)) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(port)
                    .timeout(Some(Duration::from_secs(20)))
                    .build();
                let from: Mailbox = from.parse().map_err(|_| AlertSetupError::BadFrom(from.to_owned()))?;
                Some((transport, from))
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AlertSetupError::Http(e.to_string()))?;
        Ok(AlertDispatcher {
            smtp,
            http,
            operator_mail,
            operator_webhook,
            holder: crate::request::random_hex(8),
            quiet,
        })
    }

    /// Follows the ledger's alerts until the process ends.
    pub async fn run(self, store: Store) {
        let mut attempts = 0u32;
        loop {
            let pause = match self.dispatch_once(&store).await {
                Ok(0) => Duration::from_secs(1),
                Ok(_) => {
                    attempts = 0;
                    self.quiet
                }
                Err(err) => {
                    attempts += 1;
                    tracing::warn!(error = %err, attempts, "alerts could not be sent; will retry");
                    if attempts >= MAX_ATTEMPTS {
                        if let Err(err) = self.give_up(&store).await {
                            tracing::error!(error = %err, "could not move past undeliverable alerts");
                        }
                        attempts = 0;
                    }
                    Duration::from_secs(5)
                }
            };
            tokio::time::sleep(pause).await;
        }
    }

    async fn give_up(&self, store: &Store) -> Result<(), store::StoreError> {
        if let Some(batch) = store.claim_alerts(&self.holder, 60, 500).await? {
            if let Some(last) = batch.last() {
                tracing::error!(
                    upto = last.index,
                    "alerts given up after repeated delivery failures; they remain in the ledger"
                );
                store.alerts_dispatched(&self.holder, last.index).await?;
            }
        }
        Ok(())
    }

    /// Sends what is new; returns how many alerts went out.
    pub async fn dispatch_once(&self, store: &Store) -> Result<usize, String> {
        let Some(batch) = store.claim_alerts(&self.holder, 60, 500).await.map_err(|e| e.to_string())? else {
            return Ok(0);
        };
        let Some(last) = batch.last().map(|e| e.index) else { return Ok(0) };
        let mut by_tenant: BTreeMap<Option<String>, Vec<AlertNotice>> = BTreeMap::new();
        for entry in &batch {
            by_tenant.entry(entry.event.tenant.clone()).or_default().push(notice(entry));
        }
        let mut failures = Vec::new();
        for (tenant, notices) in &by_tenant {
            let contacts = match tenant {
                Some(tenant) => store.security_contacts(tenant).await.map_err(|e| e.to_string())?,
                None => store::SecurityContacts::default(),
            };
            if let Err(err) = self.mail(&contacts.mail, tenant.as_deref(), notices).await {
                failures.push(err);
            }
            if let Some(url) = &contacts.webhook {
                if let Err(err) = self.call(url, notices).await {
                    failures.push(err);
                }
            }
        }
        let operator: Vec<AlertNotice> = by_tenant.values().flatten().cloned().collect();
        if let Err(err) = self.mail(&self.operator_mail, None, &operator).await {
            failures.push(err);
        }
        if let Some(url) = &self.operator_webhook {
            if let Err(err) = self.call(url, &operator).await {
                failures.push(err);
            }
        }
        if !failures.is_empty() {
            return Err(failures.join("; "));
        }
        store.alerts_dispatched(&self.holder, last).await.map_err(|e| e.to_string())?;
        tracing::info!(alerts = batch.len(), upto = last, "alerts sent on");
        Ok(batch.len())
    }

    async fn mail(&self, to: &[String], tenant: Option<&str>, notices: &[AlertNotice]) -> Result<(), String> {
        let Some((smtp, from)) = &self.smtp else { return Ok(()) };
        if to.is_empty() || notices.is_empty() {
            return Ok(());
        }
        let mut builder = Message::builder().from(from.clone());
        for address in to {
            let mailbox: Mailbox =
                address.parse().map_err(|_| "a configured security contact is not an e-mail address".to_owned())?;
            builder = builder.to(mailbox);
        }
        let scope = tenant.unwrap_or("madoguchi");
        let mut body = format!(
            "madoguchi の監視が {count} 件の警告を記録しました（{scope}）。\n\
             台帳（監査ログ）で詳細を確認し、必要なら対応してください。凍結されたアカウントは、確認のうえ団体管理者が解除できます。\n\
             The madoguchi watch recorded {count} alert(s) ({scope}). Check the ledger; a tenant admin can lift a freeze after review.\n\n",
            count = notices.len(),
        );
        for n in notices {
            body.push_str(&format!(
                "#{index} {at} · {tenant} · {who} · {detail}{source}\n",
                index = n.ledger_index,
                at = jst(n.at),
                tenant = n.tenant.as_deref().unwrap_or("-"),
                who = n.principal.as_deref().unwrap_or(&n.raised_by),
                detail = n.detail,
                source = n.source.as_deref().map(|s| format!(" · {s}")).unwrap_or_default(),
            ));
        }
        let message = builder
            .subject(format!("【madoguchi 警告】{scope}: {} 件 / alert", notices.len()))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| e.to_string())?;
        smtp.send(message).await.map(|_| ()).map_err(|e| format!("alert mail: {e}"))
    }

    async fn call(&self, url: &str, notices: &[AlertNotice]) -> Result<(), String> {
        if notices.is_empty() {
            return Ok(());
        }
        let body = WebhookBody { service: "madoguchi", alerts: notices };
        let response =
            self.http.post(url).json(&body).send().await.map_err(|e| format!("webhook: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("webhook answered {}", response.status()));
        }
        Ok(())
    }
}

fn notice(entry: &LedgerEntry) -> AlertNotice {
    let e = &entry.event;
    AlertNotice {
        ledger_index: entry.index,
        at: e.at,
        tenant: e.tenant.clone(),
        raised_by: e.actor.clone(),
        principal: e.subject.clone().filter(|s| !s.chars().next().is_some_and(|c| c.is_ascii_digit())),
        source: e.source.clone(),
        detail: e.detail.clone(),
    }
}

fn jst(unix: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(unix + 9 * 3600).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} JST",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}
