//! Accepting sealed submissions: 到達番号, 問合せ番号, and the durable write.

use rand::Rng;
use seal::{SealError, SealedRecord};
use sqlx::Row;
use time::UtcOffset;

use crate::{sha256_hex, Result, Store, StoreError};

/// Japan Standard Time: 到達番号 years turn over at midnight in Japan.
pub(crate) const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// 到達番号: public, sequential per tenant and year, shown on the receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReceiptNumber {
    pub year: i64,
    pub seq: i64,
}

impl ReceiptNumber {
    /// The number before the first of a tenant's records: a desk that has
    /// pulled nothing starts after it.
    pub const START: ReceiptNumber = ReceiptNumber { year: 0, seq: 0 };

    /// Reads "2026-000042" back.
    pub fn parse(text: &str) -> Option<ReceiptNumber> {
        let (year, seq) = text.trim().split_once('-')?;
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(year) || !all_digits(seq) {
            return None;
        }
        Some(ReceiptNumber { year: year.parse().ok()?, seq: seq.parse().ok()? })
    }
}

impl std::fmt::Display for ReceiptNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{:06}", self.year, self.seq)
    }
}

/// What the counter may show staff of a submission: no contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionSummary {
    pub receipt: ReceiptNumber,
    pub form_id: String,
    pub form_version: i64,
    pub status: SubmissionStatus,
    pub received_at: i64,
    pub record_sha256: String,
    pub ledger_index: Option<i64>,
}

/// 問合せ番号: random, unguessable only together with its secret; lets a
/// resident look up the status of what they sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InquiryNumber(String);

impl InquiryNumber {
    /// An inquiry number as the database keeps it.
    pub(crate) fn from_stored(text: String) -> InquiryNumber {
        InquiryNumber(text)
    }

    pub(crate) fn generate() -> InquiryNumber {
        let mut rng = rand::rngs::OsRng;
        let digits: String = (0..12).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect();
        InquiryNumber(format!("{}-{}-{}", &digits[..4], &digits[4..8], &digits[8..]))
    }

    /// Accepts what a resident types: hyphens, spaces and full-width digits.
    pub fn parse(text: &str) -> Option<InquiryNumber> {
        let digits: String = text
            .chars()
            .filter_map(|c| match c {
                '0'..='9' => Some(c),
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
                _ => None,
            })
            .collect();
        let others = text.chars().filter(|c| !c.is_numeric() && !matches!(c, '-' | '－' | 'ー' | ' ' | '　')).count();
        (digits.len() == 12 && others == 0)
            .then(|| InquiryNumber(format!("{}-{}-{}", &digits[..4], &digits[4..8], &digits[8..])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for InquiryNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a submission is in the tenant's workflow. Set by the desk; the
/// counter only shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionStatus {
    /// 受付
    Received,
    /// 審査中
    InReview,
    /// 完了
    Completed,
    /// 差戻し
    Returned,
    /// 却下
    Rejected,
    /// 取消: the resident cancelled (a booking, with the 問合せ番号 and
    /// access key). Final: a desk's later status does not undo it.
    Cancelled,
}

impl SubmissionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Received => "received",
            SubmissionStatus::InReview => "in_review",
            SubmissionStatus::Completed => "completed",
            SubmissionStatus::Returned => "returned",
            SubmissionStatus::Rejected => "rejected",
            SubmissionStatus::Cancelled => "cancelled",
        }
    }

    /// Every status, in workflow order.
    pub const ALL: [SubmissionStatus; 6] = [
        SubmissionStatus::Received,
        SubmissionStatus::InReview,
        SubmissionStatus::Completed,
        SubmissionStatus::Returned,
        SubmissionStatus::Rejected,
        SubmissionStatus::Cancelled,
    ];

    pub fn parse(s: &str) -> Option<SubmissionStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            SubmissionStatus::Received => "受付",
            SubmissionStatus::InReview => "審査中",
            SubmissionStatus::Completed => "完了",
            SubmissionStatus::Returned => "差戻し",
            SubmissionStatus::Rejected => "却下",
            SubmissionStatus::Cancelled => "取消",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            SubmissionStatus::Received => "Received",
            SubmissionStatus::InReview => "Under review",
            SubmissionStatus::Completed => "Completed",
            SubmissionStatus::Returned => "Returned for correction",
            SubmissionStatus::Rejected => "Rejected",
            SubmissionStatus::Cancelled => "Cancelled",
        }
    }
}

/// What the counter knows about a submission before it is sealed: where it
/// goes, and the draft it came from. No resident data.
#[derive(Debug, Clone)]
pub struct Intake<'a> {
    pub tenant: &'a str,
    pub form_id: &'a str,
    pub form_version: i64,
    /// The random id of the draft token this submission came from: sending
    /// the same draft twice (a double click, a reload) yields one record.
    pub draft_id: &'a str,
    /// The access key (確認キー) the resident will use with the 問合せ番号;
    /// only values derived from it are stored.
    pub inquiry_secret: &'a str,
    /// The resident's e-mail address for status mails, already sealed to
    /// the notification key with [`crate::address_binding`].
    pub notify_address: Option<&'a [u8]>,
    /// The time slot this submission books, if its form offers slots.
    pub booking: Option<BookingClaim>,
    /// The sealed files the submission names (vault names), already
    /// written to the vault.
    pub attachments: &'a [String],
    /// The keyed per-form pseudonym of a verified respondent: the store
    /// accepts one submission per pseudonym and form.
    pub respondent: Option<&'a str>,
}

/// A place in a time slot, claimed by a submission: the store accepts the
/// submission only if fewer than `capacity` submissions of the same
/// tenant and form hold `slot` (cancelled ones do not count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingClaim {
    /// `2026-12-01T09:30`.
    pub slot: String,
    pub capacity: i64,
}

/// The counter's acknowledgement, given only after the sealed record is
/// committed in the database and written to the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    pub receipt: ReceiptNumber,
    pub inquiry: InquiryNumber,
    pub record_sha256: String,
    pub received_at: i64,
    /// True when this draft had already been accepted: nothing new was written.
    pub duplicate: bool,
    /// The ledger leaf that records this submission.
    pub ledger_index: i64,
}

/// What a status lookup shows: no resident data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    pub tenant_id: String,
    pub form_id: String,
    pub form_version: i64,
    pub receipt: ReceiptNumber,
    pub status: SubmissionStatus,
    pub received_at: i64,
    pub status_changed_at: i64,
    /// The message staff left with this status (e.g. why it was returned).
    pub staff_message: Option<String>,
    /// The time slot the submission booked, if any.
    pub booking_slot: Option<String>,
}

/// What the store keeps of a draft's id (and what addresses are bound to).
pub fn draft_sha256(draft_id: &str) -> String {
    sha256_hex(draft_id.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `access_key` is the one of the submission in `row` (which has
/// its `secret_verifier`).
pub(crate) fn verify_resident(row: &sqlx::any::AnyRow, inquiry: &InquiryNumber, access_key: &str) -> Result<bool> {
    let resident = seal::ResidentKeys::derive(access_key, inquiry.as_str());
    let stored: String = row.try_get("secret_verifier")?;
    Ok(constant_time_eq(stored.as_bytes(), hex::encode(resident.verifier).as_bytes()))
}

/// The acceptance of a draft already accepted, if it was.
pub(crate) async fn accepted_draft(db: &sqlx::AnyPool, draft_sha256: &str) -> Result<Option<Acceptance>> {
    let row = sqlx::query(
        "SELECT receipt_year, receipt_seq, inquiry_number, record_sha256, received_at, ledger_index FROM submissions
         WHERE draft_sha256 = $1",
    )
    .bind(draft_sha256)
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        Ok(Acceptance {
            receipt: ReceiptNumber { year: row.try_get("receipt_year")?, seq: row.try_get("receipt_seq")? },
            inquiry: InquiryNumber(row.try_get("inquiry_number")?),
            record_sha256: row.try_get("record_sha256")?,
            received_at: row.try_get("received_at")?,
            duplicate: true,
            ledger_index: row.try_get::<Option<i64>, _>("ledger_index")?.unwrap_or(-1),
        })
    })
    .transpose()
}

impl Store {
    /// Accepts one submission. `seal` is called with the 到達番号 once it is
    /// taken, inside the transaction, and must return the sealed payload
    /// bound to it. Concurrent submissions are group-committed (see
    /// `intake`): the acceptance is returned only once the record is
    /// committed in the database and written to the vault.
    pub async fn accept<F>(&self, intake: &Intake<'_>, seal: F) -> Result<Acceptance>
    where
        F: FnOnce(&ReceiptNumber) -> Result<SealedRecord, SealError> + Send + 'static,
    {
        let draft_sha256 = draft_sha256(intake.draft_id);
        if let Some(done) = accepted_draft(&self.db, &draft_sha256).await? {
            return Ok(done);
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = crate::intake::Job {
            tenant: intake.tenant.to_owned(),
            form_id: intake.form_id.to_owned(),
            form_version: intake.form_version,
            draft_sha256,
            inquiry_secret: intake.inquiry_secret.to_owned(),
            notify_address: intake.notify_address.map(<[u8]>::to_vec),
            booking: intake.booking.clone(),
            attachments: intake.attachments.to_vec(),
            respondent: intake.respondent.map(str::to_owned),
            seal: Box::new(seal),
            reply,
        };
        self.committer.send(job).await.map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?
    }

    /// A submission's sealed record as the vault holds it (its segment,
    /// or for records from before group commit, its own object), checked
    /// against the hash the database keeps.
    pub async fn record_from_vault(&self, tenant: &str, receipt: ReceiptNumber) -> Result<Option<SealedRecord>> {
        let row = sqlx::query(
            "SELECT record_sha256, vault_segment FROM submissions
             WHERE tenant_id = $1 AND receipt_year = $2 AND receipt_seq = $3",
        )
        .bind(tenant)
        .bind(receipt.year)
        .bind(receipt.seq)
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let record_sha256: String = row.try_get("record_sha256")?;
        let bytes = match row.try_get::<Option<String>, _>("vault_segment")? {
            Some(segment) => {
                let bytes = self.vault.get(crate::journal::SEGMENT_KIND, &segment).await?;
                let found = crate::journal::decode(&bytes)
                    .ok_or_else(|| StoreError::Corrupt(format!("segments/{segment}")))?
                    .entries
                    .into_iter()
                    .find_map(|(entry, bytes)| match entry {
                        crate::journal::Entry::Submission(row) if row.tenant == tenant && row.receipt() == receipt => {
                            Some(bytes)
                        }
                        _ => None,
                    });
                found.ok_or_else(|| StoreError::Inconsistent(format!("{receipt} is not in segment {segment}")))?
            }
            None => self.vault.get("records", &record_sha256).await?.to_vec(),
        };
        if sha256_hex(&bytes) != record_sha256 {
            return Err(StoreError::Corrupt(format!("the vault's copy of {tenant} {receipt}")));
        }
        Ok(Some(SealedRecord::from_bytes(&bytes)?))
    }

    /// The status of a submission, for a resident who has both its 問合せ番号
    /// and its access key, with any staff message opened. A wrong key looks
    /// exactly like an unknown number.
    pub async fn lookup_status(&self, inquiry: &InquiryNumber, access_key: &str) -> Result<Option<StatusView>> {
        let row = sqlx::query(
            "SELECT tenant_id, form_id, form_version, receipt_year, receipt_seq, secret_verifier, status, received_at,
               status_changed_at, staff_message, booking_slot FROM submissions WHERE inquiry_number = $1",
        )
        .bind(inquiry.as_str())
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else { return Ok(None) };
        if !verify_resident(&row, inquiry, access_key)? {
            return Ok(None);
        }
        let resident = seal::ResidentKeys::derive(access_key, inquiry.as_str());
        let status: String = row.try_get("status")?;
        let tenant_id: String = row.try_get("tenant_id")?;
        let receipt = ReceiptNumber { year: row.try_get("receipt_year")?, seq: row.try_get("receipt_seq")? };
        let sealed: Option<Vec<u8>> = row.try_get("staff_message")?;
        let staff_message = match sealed {
            // A message that does not open is not shown (and is a fault to look into).
            Some(sealed) => match resident.open_message(&tenant_id, &receipt.to_string(), &sealed) {
                Ok(message) => Some(message),
                Err(_) => {
                    tracing::warn!(tenant = %tenant_id, receipt = %receipt, "a staff message did not open");
                    None
                }
            },
            None => None,
        };
        Ok(Some(StatusView {
            tenant_id,
            form_id: row.try_get("form_id")?,
            form_version: row.try_get("form_version")?,
            receipt,
            status: SubmissionStatus::parse(&status)
                .ok_or_else(|| StoreError::Inconsistent(format!("unknown status {status:?}")))?,
            received_at: row.try_get("received_at")?,
            status_changed_at: row.try_get("status_changed_at")?,
            staff_message,
            booking_slot: row.try_get("booking_slot")?,
        }))
    }

    /// The sealed record of a submission, read from the database.
    pub async fn sealed_record(&self, tenant: &str, receipt: ReceiptNumber) -> Result<Option<SealedRecord>> {
        let row = sqlx::query(
            "SELECT record FROM submissions WHERE tenant_id = $1 AND receipt_year = $2 AND receipt_seq = $3",
        )
        .bind(tenant)
        .bind(receipt.year)
        .bind(receipt.seq)
        .fetch_optional(&self.db)
        .await?;
        row.map(|row| Ok(SealedRecord::from_bytes(&row.try_get::<Vec<u8>, _>("record")?)?)).transpose()
    }

    /// The newest submissions of a tenant as the counter knows them: what
    /// arrived when, in which state, its record hash and ledger leaf. The
    /// counter holds nothing more (the contents are sealed).
    pub async fn submission_summaries(&self, tenant: &str, limit: i64) -> Result<Vec<SubmissionSummary>> {
        let rows = sqlx::query(
            "SELECT receipt_year, receipt_seq, form_id, form_version, status, received_at, record_sha256, ledger_index
             FROM submissions WHERE tenant_id = $1 ORDER BY received_at DESC, receipt_seq DESC LIMIT $2",
        )
        .bind(tenant)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get("status")?;
                Ok(SubmissionSummary {
                    receipt: ReceiptNumber { year: r.try_get("receipt_year")?, seq: r.try_get("receipt_seq")? },
                    form_id: r.try_get("form_id")?,
                    form_version: r.try_get("form_version")?,
                    status: SubmissionStatus::parse(&status)
                        .ok_or_else(|| StoreError::Inconsistent(format!("unknown status {status:?}")))?,
                    received_at: r.try_get("received_at")?,
                    record_sha256: r.try_get("record_sha256")?,
                    ledger_index: r.try_get("ledger_index")?,
                })
            })
            .collect()
    }

    /// How many submissions a tenant has, for a year.
    pub async fn count_submissions(&self, tenant: &str, year: i64) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM submissions WHERE tenant_id = $1 AND receipt_year = $2")
            .bind(tenant)
            .bind(year)
            .fetch_one(&self.db)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Whether the verified respondent `respondent` (a keyed pseudonym) has
    /// answered `form` already: said before they start, and enforced again
    /// by the committer when they send.
    pub async fn has_answered(&self, tenant: &str, form: &str, respondent: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM submissions WHERE tenant_id = $1 AND form_id = $2 AND respondent = $3",
        )
        .bind(tenant)
        .bind(form)
        .bind(respondent)
        .fetch_one(&self.db)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_numbers_read_as_year_and_sequence() {
        assert_eq!(ReceiptNumber { year: 2026, seq: 42 }.to_string(), "2026-000042");
        assert_eq!(ReceiptNumber::parse("2026-000042"), Some(ReceiptNumber { year: 2026, seq: 42 }));
        assert_eq!(ReceiptNumber::parse("0-000000"), Some(ReceiptNumber::START));
        for bad in ["", "2026", "2026-", "-1", "2026-00a", "2026--1", "99999999999999999999-1"] {
            assert_eq!(ReceiptNumber::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn inquiry_numbers_accept_what_residents_type() {
        let cases = [
            ("1234-5678-9012", Some("1234-5678-9012")),
            ("123456789012", Some("1234-5678-9012")),
            ("１２３４－５６７８－９０１２", Some("1234-5678-9012")),
            (" 1234 5678 9012 ", Some("1234-5678-9012")),
            ("1234-5678-901", None),
            ("1234-5678-901x", None),
            ("", None),
        ];
        for (typed, expected) in cases {
            assert_eq!(InquiryNumber::parse(typed).as_ref().map(InquiryNumber::as_str), expected, "{typed:?}");
        }
    }

    #[test]
    fn generated_inquiry_numbers_parse_back() {
        for _ in 0..100 {
            let n = InquiryNumber::generate();
            assert_eq!(InquiryNumber::parse(n.as_str()), Some(n));
        }
    }
}
