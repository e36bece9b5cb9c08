//! The draft between 確認画面 and 送信: sealed into a token the resident's
//! browser carries, so nothing of it is stored on the counter.

use rand::RngCore;
use seal::TokenBox;
use serde::{Deserialize, Serialize};

const PURPOSE: &str = "draft v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Draft {
    pub tenant: String,
    pub form_id: String,
    pub form_version: i64,
    /// Random id: sending the same draft twice yields one submission.
    pub draft_id: String,
    /// Unix seconds after which the draft must be confirmed again.
    pub expires_at: i64,
    pub submission: forms::Submission,
    /// A verified survey's respondent (signed in before answering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respondent: Option<crate::verified::Respondent>,
}

pub(crate) enum Opened {
    Valid(Draft),
    /// Authentic but too old: its values may refill the form, not be sent.
    Expired(Draft),
}

impl Draft {
    pub fn new(tenant: &str, form_id: &str, form_version: i64, ttl_secs: i64, submission: forms::Submission) -> Draft {
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        Draft {
            tenant: tenant.to_owned(),
            form_id: form_id.to_owned(),
            form_version,
            draft_id: hex::encode(id),
            expires_at: now_unix() + ttl_secs,
            submission,
            respondent: None,
        }
    }

    pub fn seal(&self, tokens: &TokenBox) -> String {
        // Serialising plain data structures into a Vec cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        tokens.seal(PURPOSE, &json)
    }

    /// Opens a token for this tenant and form; `None` when it is not ours or
    /// was tampered with.
    pub fn open(tokens: &TokenBox, token: &str, tenant: &str, form_id: &str) -> Option<Opened> {
        let json = tokens.open(PURPOSE, token).ok()?;
        let draft: Draft = serde_json::from_slice(&json).ok()?;
        if draft.tenant != tenant || draft.form_id != form_id {
            return None;
        }
        Some(if draft.expires_at < now_unix() { Opened::Expired(draft) } else { Opened::Valid(draft) })
    }

    /// The access key (確認キー) for this draft: derived from the draft's
    /// random id (which only the resident's token holds) so a repeated 送信
    /// of the same draft shows the same key again, and never stored.
    /// Twelve characters (60 bits) from an alphabet without look-alikes
    /// (0/O, 1/I).
    pub fn inquiry_secret(&self, tokens: &TokenBox) -> String {
        inquiry_secret_of(tokens, &self.draft_id)
    }
}

/// The access key (確認キー) of the submission made from draft `draft_id`.
pub(crate) fn inquiry_secret_of(tokens: &TokenBox, draft_id: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = tokens.derive("inquiry secret", draft_id.as_bytes());
    bytes[..12].iter().map(|b| char::from(ALPHABET[usize::from(b % 32)])).collect()
}

/// What a resident typed as the secret, in the form the store hashes:
/// full-width to half-width, upper case, no hyphens or spaces.
pub(crate) fn canonical_secret(typed: &str) -> String {
    forms::nfkc(typed).chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// "ABCD-EFGH-JKLM" for reading aloud and writing down.
pub(crate) fn display_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars.chunks(4).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

pub(crate) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
