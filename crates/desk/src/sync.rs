//! Pulling sealed records from the counter and pushing status back, over
//! the signed desk API (see `docs/sync-api.md`).

use base64::Engine as _;
use counter::sync::{FormText, RecordPage, StatusPush, StatusPushed, WhoAmI};
use forms::files::FileRef;
use rand::RngCore;
use seal::{RecordBinding, SealedRecord};
use sha2::Digest;
use store::ReceiptNumber;

use crate::keyring::KeyRing;
use crate::store::{at_rest_label, DeskStore, StoredRecord};
use crate::{now_unix, DeskError, Result};

/// What one sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub pages: u64,
    pub pulled: u64,
    pub stored: u64,
    /// Records residents cancelled (bookings), marked 取消 here.
    pub cancelled: u64,
}

pub struct SyncClient {
    base: String,
    http: reqwest::Client,
}

impl SyncClient {
    /// `counter_url`: the counter's base URL, e.g. `https://madoguchi.example.lg.jp`.
    pub fn new(counter_url: &str) -> Result<SyncClient> {
        Self::with_ca(counter_url, None)
    }

    /// As [`SyncClient::new`], also trusting the CA certificate `ca_pem`
    /// (for a counter whose certificate comes from a private CA).
    pub fn with_ca(counter_url: &str, ca_pem: Option<&[u8]>) -> Result<SyncClient> {
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).https_only(
            // Plain HTTP only to this machine (tests, a counter on the same host).
            !(counter_url.starts_with("http://127.")
                || counter_url.starts_with("http://localhost")
                || counter_url.starts_with("http://[::1]")),
        );
        if let Some(pem) = ca_pem {
            let ca = reqwest::Certificate::from_pem(pem).map_err(|e| DeskError::Setup(format!("counter CA: {e}")))?;
            builder = builder.add_root_certificate(ca);
        }
        let http = builder.build().map_err(|e| DeskError::Counter(e.to_string()))?;
        Ok(SyncClient { base: counter_url.trim_end_matches('/').to_owned(), http })
    }

    async fn signed<T: serde::de::DeserializeOwned>(
        &self,
        keys: &KeyRing,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<T> {
        let response = self.send_signed(keys, method, path_and_query, body).await?;
        let text = response.text().await.map_err(|e| DeskError::Counter(format!("{path_and_query}: {e}")))?;
        serde_json::from_str(&text).map_err(|e| DeskError::Counter(format!("{path_and_query}: unreadable answer: {e}")))
    }

    /// Sends a signed request; the response once it is known to be a success.
    async fn send_signed(
        &self,
        keys: &KeyRing,
        method: reqwest::Method,
        path_and_query: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Response> {
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let timestamp = now_unix();
        let request = seal::SignedRequest {
            desk_id: &keys.desk_id,
            method: method.as_str(),
            path_and_query,
            timestamp,
            nonce: &nonce,
            body: &body,
        };
        let signature = keys.signing_key().sign_request(&request);
        let response = self
            .http
            .request(method, format!("{}{path_and_query}", self.base))
            .header("x-madoguchi-desk", &keys.desk_id)
            .header("x-madoguchi-timestamp", timestamp.to_string())
            .header("x-madoguchi-nonce", &nonce)
            .header("x-madoguchi-signature", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| DeskError::Counter(format!("{path_and_query}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(DeskError::Counter(format!("{path_and_query}: {status}: {text}")));
        }
        Ok(response)
    }

    /// Takes in the files a record names that this desk does not hold yet.
    async fn take_files(
        &self,
        keys: &KeyRing,
        store: &DeskStore,
        receipt: ReceiptNumber,
        form_id: &str,
        files: &[FileRef],
    ) -> Result<()> {
        for file in files {
            if store.has_attachment(receipt, &file.id).await? {
                continue;
            }
            let path = format!("/api/desk/v1/records/{receipt}/attachments/{}", file.sealed);
            let response = self.send_signed(keys, reqwest::Method::GET, &path, Vec::new()).await?;
            store.take_attachment(keys, receipt, form_id, file, response.bytes_stream()).await?;
        }
        Ok(())
    }

    /// Asks the counter who it takes this desk to be.
    pub async fn whoami(&self, keys: &KeyRing) -> Result<WhoAmI> {
        self.signed(keys, reqwest::Method::GET, "/api/desk/v1/whoami", Vec::new()).await
    }

    /// Pulls every record after the stored cursor, page by page: each page
    /// is checked, opened, encrypted at rest and stored together with the
    /// new cursor in one transaction.
    pub async fn sync(&self, keys: &KeyRing, store: &DeskStore) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        loop {
            let after = store.cursor(&keys.tenant).await?;
            let page: RecordPage = self
                .signed(keys, reqwest::Method::GET, &format!("/api/desk/v1/records?after={after}"), Vec::new())
                .await?;
            report.pages += 1;
            report.pulled += page.records.len() as u64;
            let mut stored = Vec::with_capacity(page.records.len());
            let mut last = after;
            for synced in &page.records {
                let receipt = ReceiptNumber::parse(&synced.receipt).ok_or_else(|| DeskError::BadRecord {
                    receipt: synced.receipt.clone(),
                    reason: "unreadable 到達番号".into(),
                })?;
                if receipt <= last {
                    return Err(DeskError::BadRecord {
                        receipt: synced.receipt.clone(),
                        reason: "out of order".into(),
                    });
                }
                last = receipt;
                self.ensure_form(keys, store, &synced.form_id, synced.form_version).await?;
                let (record, files) = open_synced(keys, receipt, synced)?;
                // The files first: a record is stored (and the cursor moved
                // past it) only once every file it names is here.
                self.take_files(keys, store, receipt, &synced.form_id, &files).await?;
                stored.push(record);
            }
            if let Some(next) = page.next_after.as_deref().and_then(ReceiptNumber::parse) {
                report.stored += store.store_page(&keys.tenant, &stored, next.max(last)).await?;
            }
            if !page.more {
                report.cancelled = self.sync_cancellations(keys, store).await?;
                return Ok(report);
            }
        }
    }

    /// Reads the bookings residents cancelled since the last time and marks
    /// those records 取消.
    async fn sync_cancellations(&self, keys: &KeyRing, store: &DeskStore) -> Result<u64> {
        let mut changed = 0;
        loop {
            let since = store.cancellation_cursor(&keys.tenant).await?;
            let path = format!("/api/desk/v1/cancellations?since={since}");
            let page: counter::sync::Cancellations = self.signed(keys, reqwest::Method::GET, &path, Vec::new()).await?;
            let mut cancelled = Vec::with_capacity(page.cancelled.len());
            for c in &page.cancelled {
                let receipt = ReceiptNumber::parse(&c.receipt).ok_or_else(|| DeskError::BadRecord {
                    receipt: c.receipt.clone(),
                    reason: "unreadable 到達番号".into(),
                })?;
                cancelled.push((receipt, c.at));
            }
            changed += store.apply_cancellations(&keys.tenant, &cancelled).await?;
            // A full page all within one second would be asked for again
            // forever; the rest come with the next sync's newer ones.
            if !page.more || store.cancellation_cursor(&keys.tenant).await? == since {
                return Ok(changed);
            }
        }
    }

    async fn ensure_form(&self, keys: &KeyRing, store: &DeskStore, form_id: &str, version: i64) -> Result<()> {
        if store.has_form(form_id, version).await? {
            return Ok(());
        }
        let text: FormText = self
            .signed(keys, reqwest::Method::GET, &format!("/api/desk/v1/forms/{form_id}/{version}"), Vec::new())
            .await?;
        forms::FormDefinition::parse(&text.definition).map_err(|e| DeskError::BadRecord {
            receipt: format!("form {form_id} v{version}"),
            reason: format!("the counter's definition does not parse: {e}"),
        })?;
        store.put_form(form_id, version, &text.definition).await
    }

    /// Sends the desk's logged events to the counter's ledger until none
    /// are left; returns how many the counter entered.
    pub async fn push_events(&self, keys: &KeyRing, store: &DeskStore) -> Result<u64> {
        let mut entered = 0;
        loop {
            let events = store.pending_events(500).await?;
            if events.is_empty() {
                return Ok(entered);
            }
            let body = serde_json::to_vec(&counter::sync::EventPush { events })
                .map_err(|e| DeskError::Counter(e.to_string()))?;
            let answer: counter::sync::EventsEntered =
                self.signed(keys, reqwest::Method::POST, "/api/desk/v1/events", body).await?;
            store.events_acknowledged(answer.last_seq).await?;
            entered += answer.entered;
            if answer.entered == 0 {
                return Ok(entered);
            }
        }
    }

    /// The form's version residents are offered now, as this desk stores it.
    pub async fn current_form(
        &self,
        keys: &KeyRing,
        store: &DeskStore,
        form_id: &str,
    ) -> Result<Option<(i64, forms::FormDefinition)>> {
        let current: counter::sync::CurrentForms =
            self.signed(keys, reqwest::Method::GET, "/api/desk/v1/forms", Vec::new()).await?;
        let Some(form) = current.forms.iter().find(|f| f.form_id == form_id) else { return Ok(None) };
        self.ensure_form(keys, store, &form.form_id, form.version).await?;
        let text = store.form(&form.form_id, form.version).await?.unwrap_or_default();
        let def = forms::FormDefinition::parse(&text).map_err(|e| DeskError::BadRecord {
            receipt: format!("form {} v{}", form.form_id, form.version),
            reason: format!("the counter's definition does not parse: {e}"),
        })?;
        Ok(Some((form.version, def)))
    }

    /// Sets a booking field's schedule; returns the form's new version.
    pub async fn set_schedule(
        &self,
        keys: &KeyRing,
        form_id: &str,
        change: &counter::sync::ScheduleChange,
    ) -> Result<i64> {
        let body = serde_json::to_vec(change).map_err(|e| DeskError::Counter(e.to_string()))?;
        let path = format!("/api/desk/v1/forms/{form_id}/schedule");
        let published: counter::sync::SchedulePublished = self.signed(keys, reqwest::Method::POST, &path, body).await?;
        Ok(published.version)
    }

    /// Plants `per_form` synthetic applicants in each of the tenant's
    /// current forms (the last step of the key ceremony; docs/watch.md)
    /// and remembers their numbers. Returns how many were planted.
    pub async fn plant_honeytokens(&self, keys: &KeyRing, store: &DeskStore, per_form: u32) -> Result<u64> {
        let current: counter::sync::CurrentForms =
            self.signed(keys, reqwest::Method::GET, "/api/desk/v1/forms", Vec::new()).await?;
        let mut planted = 0;
        for form in &current.forms {
            self.ensure_form(keys, store, &form.form_id, form.version).await?;
            let text = store.form(&form.form_id, form.version).await?.unwrap_or_default();
            let def = forms::FormDefinition::parse(&text).map_err(|e| DeskError::BadRecord {
                receipt: format!("form {} v{}", form.form_id, form.version),
                reason: format!("the counter's definition does not parse: {e}"),
            })?;
            for _ in 0..per_form {
                let submission = crate::honeytoken::synthetic_applicant(&def, &current.region, &mut rand::thread_rng());
                let body = serde_json::to_vec(&counter::sync::Plant { submission })
                    .map_err(|e| DeskError::Counter(e.to_string()))?;
                let answer: counter::sync::Planted =
                    self.signed(keys, reqwest::Method::POST, "/api/desk/v1/plant", body).await?;
                let receipt = ReceiptNumber::parse(&answer.receipt)
                    .ok_or_else(|| DeskError::Counter(format!("plant: unreadable receipt {:?}", answer.receipt)))?;
                store.add_honeytoken(receipt).await?;
                planted += 1;
            }
        }
        Ok(planted)
    }

    /// Pushes status changes (no content, only state) to the counter.
    pub async fn push_status(&self, keys: &KeyRing, push: &StatusPush) -> Result<u64> {
        let body = serde_json::to_vec(push).map_err(|e| DeskError::Counter(e.to_string()))?;
        let pushed: StatusPushed = self.signed(keys, reqwest::Method::POST, "/api/desk/v1/status", body).await?;
        Ok(pushed.applied)
    }
}

/// Checks a pulled record against its hash, opens it with the key ring
/// (proving it is what was sealed for this 到達番号), and re-encrypts the
/// payload for the desk's store; with the files its answers name.
fn open_synced(
    keys: &KeyRing,
    receipt: ReceiptNumber,
    synced: &counter::sync::SyncedRecord,
) -> Result<(StoredRecord, Vec<FileRef>)> {
    let bad = |reason: String| DeskError::BadRecord { receipt: synced.receipt.clone(), reason };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&synced.record)
        .map_err(|_| bad("record is not base64".into()))?;
    if hex::encode(sha2::Sha256::digest(&bytes)) != synced.record_sha256 {
        return Err(bad("record does not match its hash".into()));
    }
    let record = SealedRecord::from_bytes(&bytes)?;
    let binding = RecordBinding::new(&keys.tenant, &synced.form_id, synced.form_version, &synced.receipt);
    let plaintext = keys.open(&binding, &record)?;
    // Planted honeytokens and records of old may not parse as answers;
    // they name no files either way.
    let files = serde_json::from_slice::<forms::Submission>(&plaintext)
        .map(|s| s.files().cloned().collect())
        .unwrap_or_default();
    let stored = StoredRecord {
        receipt,
        form_id: synced.form_id.clone(),
        form_version: synced.form_version,
        key_id: record.key_id.to_string(),
        record_sha256: synced.record_sha256.clone(),
        payload: keys.encrypt_at_rest(&at_rest_label(&keys.tenant, receipt), &plaintext),
        sealed: bytes,
        received_at: synced.received_at,
        status: "received".into(),
        message_key: synced.message_key.clone(),
        assigned_to: None,
    };
    Ok((stored, files))
}
