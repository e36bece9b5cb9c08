//! Status mails to residents, through SMTP (`lettre`).
//!
//! A mail says only that the status changed and where to look (the status
//! page, where the 問合せ番号 and access key are needed): never the
//! submission's content, never the staff message. The address is opened
//! from its sealed form in memory just to send, and deleted once the case
//! is closed (完了 / 却下).

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use seal::NotificationKey;
use store::{OutgoingMail, Store, SubmissionStatus};

/// How to reach residents by mail.
pub struct Notifier {
    key: NotificationKey,
    smtp: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The counter's public base URL, for the link in the mail.
    public_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("mail sender address {0:?} is not an e-mail address")]
    BadFrom(String),
}

impl Notifier {
    /// `smtp_host`/`smtp_port`: the relay (a local MTA that handles TLS and
    /// delivery onward).
    pub fn new(
        key: NotificationKey,
        smtp_host: &str,
        smtp_port: u16,
        from: &str,
        public_url: &str,
    ) -> Result<Notifier, NotifyError> {
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp_host)
            .port(smtp_port)
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from: Mailbox = from.parse().map_err(|_| NotifyError::BadFrom(from.to_owned()))?;
        Ok(Notifier { key, smtp, from, public_url: public_url.trim_end_matches('/').to_owned() })
    }

    /// Seals the resident's address for a new submission.
    pub(crate) fn seal_address(&self, tenant: &str, draft_sha256: &str, address: &str) -> Option<Vec<u8>> {
        match self.key.seal_address(&store::address_binding(tenant, draft_sha256), address) {
            Ok(sealed) => Some(sealed),
            Err(err) => {
                tracing::error!(error = %err, "could not seal a notification address; no mail will be sent");
                None
            }
        }
    }

    /// Sends pending mails every `every` until the process ends.
    pub async fn run(self: Arc<Self>, store: Store, every: Duration) {
        loop {
            if let Err(err) = self.send_pending(&store).await {
                tracing::warn!(error = %err, "mail outbox failed; will retry");
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Sends what is in the outbox now; returns how many went out.
    pub async fn send_pending(&self, store: &Store) -> Result<usize, store::StoreError> {
        let mut sent = 0;
        for mail in store.claim_mail(50, 120).await? {
            let closes = matches!(mail.status, SubmissionStatus::Completed | SubmissionStatus::Rejected);
            match self.send(store, &mail).await {
                Ok(()) => {
                    store.mail_done(&mail.tenant_id, mail.receipt, mail.changed_at, closes).await?;
                    tracing::info!(tenant = %mail.tenant_id, receipt = %mail.receipt, "status mail sent");
                    sent += 1;
                }
                Err(reason) => {
                    // The reason names no address: lettre's errors are about
                    // the connection and the server's replies.
                    tracing::warn!(tenant = %mail.tenant_id, receipt = %mail.receipt, %reason, "status mail failed");
                    store.mail_failed(&mail.tenant_id, mail.receipt, mail.changed_at, &reason).await?;
                }
            }
        }
        Ok(sent)
    }

    async fn send(&self, store: &Store, mail: &OutgoingMail) -> Result<(), String> {
        let address = zeroize::Zeroizing::new(
            self.key.open_address(&mail.address_binding, &mail.notify_address).map_err(|e| e.to_string())?,
        );
        let to: Mailbox = address.parse().map_err(|_| "the stored address does not parse".to_owned())?;
        let tenant = store.tenant(&mail.tenant_id).await.map_err(|e| e.to_string())?;
        let (name_ja, name_en) = tenant.map(|t| (t.name_ja, t.name_en)).unwrap_or_default();
        let link = format!("{}/t/{}/status", self.public_url, mail.tenant_id);
        let body = format!(
            "{name_ja}への申請（到達番号 {receipt}）の状況が「{status_ja}」に更新されました。\n\
             内容は、次のページで問合せ番号と確認キーを入力してご確認ください。\n{link}\n\n\
             このメールは送信専用です。\n\n\
             The status of your application to {name_en} (receipt number {receipt}) is now \"{status_en}\".\n\
             Please see {link}?lang=en with your inquiry number and access key.\n",
            receipt = mail.receipt,
            status_ja = mail.status.label_ja(),
            status_en = mail.status.label_en(),
        );
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("【{name_ja}】申請の状況が更新されました / Status update"))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| e.to_string())?;
        self.smtp.send(message).await.map(|_| ()).map_err(|e| e.to_string())
    }
}
