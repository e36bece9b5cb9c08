//! Files residents attach (添付書類), read from a multipart form post as it
//! streams: each is judged by its first bytes and its size against its
//! field, sealed to the tenant key chunk by chunk and written to the vault
//! in parts, so a 20 MB scan never sits whole in memory and no plaintext of
//! it reaches the counter's disk. A file already sent comes back with the
//! next post as a sealed token in a hidden input, so a resident who has to
//! fix another answer does not send it again.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use forms::files::{clean_name, judge, max_bytes, FileRef, SNIFF_BYTES};
use forms::{ErrorCode, Field, FieldError, FieldKind, FormDefinition, RawInput};
use rand::RngCore;
use seal::{AttachmentBinding, StreamSealer, TenantPublicKey, TokenBox};
use serde::{Deserialize, Serialize};
use store::{AttachmentWriter, Vault};

use crate::error::PageError;

/// However slow the line, a post with files is read within this long.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// A post that sends nothing for this long is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Headers and boundaries of one part, generously.
const PART_OVERHEAD: u64 = 16 * 1024;
const PURPOSE: &str = "upload v1";

/// Whether a post is `multipart/form-data` (a form with a file field).
pub(crate) fn is_multipart(headers: &HeaderMap) -> bool {
    content_type(headers).to_ascii_lowercase().starts_with("multipart/form-data")
}

fn content_type(headers: &HeaderMap) -> &str {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Whether a form has a file field (its page posts `multipart/form-data`).
pub(crate) fn has_files(def: &FormDefinition) -> bool {
    def.fields.iter().any(|f| matches!(f.kind, FieldKind::File { .. }))
}

/// What a multipart post carried.
#[derive(Default)]
pub(crate) struct Posted {
    /// The text inputs, as a urlencoded post would give them.
    pub pairs: Vec<(String, String)>,
    /// Files sealed from this post, by field name.
    pub uploaded: Vec<(String, FileRef)>,
    /// Files refused, each with what to say beside its field.
    pub refused: Vec<FieldError>,
}

/// Where sealed files go and who they belong to.
pub(crate) struct Sealing<'a> {
    pub vault: &'a Vault,
    pub key: &'a TenantPublicKey,
    pub tenant: &'a str,
}

/// Reads a multipart post for `def`: text inputs up to `text_limit` bytes
/// in all, and each file field's files up to the field's own limits.
pub(crate) async fn read(
    headers: &HeaderMap,
    body: Body,
    def: &FormDefinition,
    text_limit: usize,
    sealing: &Sealing<'_>,
) -> Result<Posted, PageError> {
    let boundary = multer::parse_boundary(content_type(headers)).map_err(|_| PageError::BadRequest)?;
    let file_bytes: u64 = def
        .fields
        .iter()
        .map(|f| match f.kind {
            FieldKind::File { max_mb, max_files, .. } => (max_bytes(max_mb) + PART_OVERHEAD) * u64::from(max_files),
            _ => 0,
        })
        .sum();
    let whole = file_bytes + text_limit as u64 + PART_OVERHEAD;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > whole) {
        return Err(PageError::TooLarge);
    }
    let constraints = multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(whole));
    let mut multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let deadline = tokio::time::Instant::now() + UPLOAD_TIMEOUT;
    let mut posted = Posted::default();
    let mut text_bytes = 0usize;
    while let Some(mut part) = within(deadline, multipart.next_field()).await?.map_err(refusal)? {
        let name = part.name().unwrap_or_default().to_owned();
        let file_name = part.file_name().map(str::to_owned);
        let field = def.field(&name).filter(|f| matches!(f.kind, FieldKind::File { .. }));
        match (field, file_name) {
            (Some(field), Some(file_name)) => {
                match seal_file(&mut part, deadline, def, field, &file_name, sealing).await? {
                    Sent::Nothing => {}
                    Sent::Sealed(file) => posted.uploaded.push((name, file)),
                    Sent::Refused(code) => {
                        posted.refused.push(FieldError { field: name.clone(), input: name, code });
                    }
                }
            }
            (None, None) => {
                let mut value = Vec::new();
                while let Some(chunk) = within(deadline, part.chunk()).await?.map_err(refusal)? {
                    text_bytes += chunk.len();
                    if text_bytes > text_limit {
                        return Err(PageError::TooLarge);
                    }
                    value.extend_from_slice(&chunk);
                }
                // The pages declare UTF-8; anything else is refused.
                let value = String::from_utf8(value).map_err(|_| PageError::BadRequest)?;
                posted.pairs.push((name, value));
            }
            // A file where no file is asked for, or text for a file field:
            // no form of ours posts that.
            _ => return Err(PageError::BadRequest),
        }
    }
    Ok(posted)
}

/// One step of reading the body, within the post's deadline and without a
/// long silence.
async fn within<T>(deadline: tokio::time::Instant, step: impl std::future::Future<Output = T>) -> Result<T, PageError> {
    let limit = deadline.min(tokio::time::Instant::now() + IDLE_TIMEOUT);
    tokio::time::timeout_at(limit, step).await.map_err(|_| PageError::TimedOut)
}

fn refusal(err: multer::Error) -> PageError {
    match err {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => PageError::TooLarge,
        _ => PageError::BadRequest,
    }
}

enum Sent {
    /// A file input left empty.
    Nothing,
    Sealed(FileRef),
    Refused(ErrorCode),
}

/// Seals one file part into the vault; the type is judged from the first
/// bytes before anything is written.
async fn seal_file(
    part: &mut multer::Field<'_>,
    deadline: tokio::time::Instant,
    def: &FormDefinition,
    field: &Field,
    file_name: &str,
    sealing: &Sealing<'_>,
) -> Result<Sent, PageError> {
    let FieldKind::File { max_mb, .. } = field.kind else {
        return Err(PageError::BadRequest);
    };
    let max = max_bytes(max_mb);
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    let mut first: Vec<Bytes> = Vec::new();
    while head.len() < SNIFF_BYTES {
        let Some(chunk) = within(deadline, part.chunk()).await?.map_err(refusal)? else { break };
        let take = (SNIFF_BYTES - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..take]);
        first.push(chunk);
    }
    let mut size: u64 = first.iter().map(|c| c.len() as u64).sum();
    if size == 0 && file_name.is_empty() {
        return Ok(Sent::Nothing);
    }
    let file_type = match judge(&field.kind, &head, size) {
        Ok(file_type) => file_type,
        Err(code) => return Ok(Sent::Refused(code)),
    };
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let id = hex::encode(id);
    let binding = AttachmentBinding::new(sealing.tenant, &def.id, &id);
    let (mut sealer, header) = StreamSealer::new(sealing.key, &binding).map_err(sealing_failed)?;
    let mut writer = AttachmentWriter::new(sealing.vault);
    writer.write(&header).await?;
    for chunk in &first {
        writer.write(&sealer.push(chunk).map_err(sealing_failed)?).await?;
    }
    while let Some(chunk) = within(deadline, part.chunk()).await?.map_err(refusal)? {
        size += chunk.len() as u64;
        if size > max {
            // What was written stays sealed in the vault, named by nothing.
            return Ok(Sent::Refused(ErrorCode::FileTooLarge { max_mb }));
        }
        writer.write(&sealer.push(&chunk).map_err(sealing_failed)?).await?;
    }
    writer.write(&sealer.finish().map_err(sealing_failed)?).await?;
    let (sealed, _) = writer.finish().await?;
    Ok(Sent::Sealed(FileRef { id, name: clean_name(file_name, file_type), file_type, size, sealed }))
}

fn sealing_failed(err: seal::SealError) -> PageError {
    tracing::error!(error = %err, "an attachment could not be sealed");
    PageError::Internal
}

/// A file already sent, carried by the resident's browser to the next post.
#[derive(Serialize, Deserialize)]
struct Kept {
    tenant: String,
    form_id: String,
    field: String,
    file: FileRef,
}

/// The hidden input's value that brings `file` of `field` back.
pub(crate) fn keep(tokens: &TokenBox, tenant: &str, form_id: &str, field: &str, file: &FileRef) -> String {
    let kept = Kept { tenant: tenant.into(), form_id: form_id.into(), field: field.into(), file: file.clone() };
    // Plain strings and numbers always serialise.
    tokens.seal(PURPOSE, &serde_json::to_vec(&kept).unwrap_or_default())
}

/// Puts the files of a post into `input`: for each file field, those
/// already sent (`_file.{field}` tokens) less those the resident took off
/// (`_remove.{field}`), then those just sent. A field that takes one file
/// takes a new one in place of the old.
pub(crate) fn attach(
    input: &mut RawInput,
    def: &FormDefinition,
    pairs: &[(String, String)],
    uploaded: Vec<(String, FileRef)>,
    tokens: &TokenBox,
    tenant: &str,
) -> Result<(), PageError> {
    for field in &def.fields {
        let FieldKind::File { max_files, .. } = field.kind else { continue };
        let name = field.name.as_str();
        let new: Vec<&FileRef> = uploaded.iter().filter(|(f, _)| f == name).map(|(_, file)| file).collect();
        if max_files != 1 || new.is_empty() {
            let removed: Vec<&str> = control_values(pairs, &format!("_remove.{name}"));
            for token in control_values(pairs, &format!("_file.{name}")) {
                let json = tokens.open(PURPOSE, token).map_err(|_| PageError::BadRequest)?;
                let kept: Kept = serde_json::from_slice(&json).map_err(|_| PageError::BadRequest)?;
                if kept.tenant != tenant || kept.form_id != def.id || kept.field != name {
                    return Err(PageError::BadRequest);
                }
                if !removed.contains(&kept.file.id.as_str()) {
                    input.push_file(name, kept.file);
                }
            }
        }
        for file in new {
            input.push_file(name, file.clone());
        }
    }
    Ok(())
}

fn control_values<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
}
