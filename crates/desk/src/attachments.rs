//! Files attached to records (添付書類) on the desk. They are kept exactly
//! as the counter sealed them (to the tenant key, chunk by chunk), in
//! pieces of the database, so at rest they are as unreadable as on the
//! counter; they are opened piece by piece only while staff download one,
//! so a 20 MB scan never sits whole in memory here either.

use bytes::Bytes;
use forms::files::FileRef;
use futures::StreamExt as _;
use seal::{AttachmentBinding, StreamOpener};
use sqlx::Row;
use store::{AttachmentHasher, ReceiptNumber, PART_BYTES};

use crate::keyring::KeyRing;
use crate::store::DeskStore;
use crate::{now_unix, DeskError, Result};

impl KeyRing {
    /// An opener for a file of this tenant's form `form_id`, with whichever
    /// tenant key (generation) the file was sealed to.
    pub(crate) fn file_opener(&self, form_id: &str, file: &FileRef) -> StreamOpener {
        StreamOpener::among(self.private_keys(), &AttachmentBinding::new(&self.tenant, form_id, &file.id))
    }
}

impl DeskStore {
    /// Whether file `id` of `receipt` is stored whole.
    pub async fn has_attachment(&self, receipt: ReceiptNumber, id: &str) -> Result<bool> {
        Ok(self.attachment_pieces(receipt, id).await?.is_some())
    }

    /// How many pieces file `id` of `receipt` is kept in, once stored whole.
    pub(crate) async fn attachment_pieces(&self, receipt: ReceiptNumber, id: &str) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT pieces FROM attachments WHERE receipt_year = $1 AND receipt_seq = $2 AND attachment_id = $3",
        )
        .bind(receipt.year)
        .bind(receipt.seq)
        .bind(id)
        .fetch_optional(self.db())
        .await?;
        row.map(|row| row.try_get::<i64, _>("pieces")).transpose().map_err(Into::into)
    }

    async fn put_piece(&self, receipt: ReceiptNumber, id: &str, index: i64, bytes: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO attachment_pieces (receipt_year, receipt_seq, attachment_id, piece, bytes)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (receipt_year, receipt_seq, attachment_id, piece) DO UPDATE SET bytes = excluded.bytes",
        )
        .bind(receipt.year)
        .bind(receipt.seq)
        .bind(id)
        .bind(index)
        .bind(bytes)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Marks a file stored whole, once every piece is in.
    async fn attachment_stored(&self, receipt: ReceiptNumber, id: &str, sealed: &str, pieces: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO attachments (receipt_year, receipt_seq, attachment_id, sealed_name, pieces, stored_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (receipt_year, receipt_seq, attachment_id) DO NOTHING",
        )
        .bind(receipt.year)
        .bind(receipt.seq)
        .bind(id)
        .bind(sealed)
        .bind(pieces)
        .bind(now_unix())
        .execute(self.db())
        .await?;
        Ok(())
    }

    async fn piece(&self, receipt: ReceiptNumber, id: &str, index: i64) -> Result<Vec<u8>> {
        let row = sqlx::query(
            "SELECT bytes FROM attachment_pieces
             WHERE receipt_year = $1 AND receipt_seq = $2 AND attachment_id = $3 AND piece = $4",
        )
        .bind(receipt.year)
        .bind(receipt.seq)
        .bind(id)
        .bind(index)
        .fetch_optional(self.db())
        .await?;
        let row = row.ok_or_else(|| DeskError::BadRecord {
            receipt: receipt.to_string(),
            reason: format!("piece {index} of an attached file is missing"),
        })?;
        Ok(row.try_get("bytes")?)
    }

    /// Takes in a file as the counter sends it (sealed), piece by piece:
    /// checks the bytes are the file the record names and that they open
    /// whole with the tenant key, then marks it stored. A file already
    /// stored is not asked for again; one cut off midway is taken again.
    pub(crate) async fn take_attachment<S, E>(
        &self,
        keys: &KeyRing,
        receipt: ReceiptNumber,
        form_id: &str,
        file: &FileRef,
        sealed: S,
    ) -> Result<()>
    where
        S: futures::Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let bad = |reason: String| DeskError::BadRecord { receipt: receipt.to_string(), reason };
        let mut sealed = sealed;
        let mut hasher = AttachmentHasher::default();
        let mut opener = keys.file_opener(form_id, file);
        let (mut piece, mut index, mut size) = (Vec::with_capacity(PART_BYTES), 0i64, 0u64);
        while let Some(chunk) = sealed.next().await {
            let chunk = chunk.map_err(|e| DeskError::Counter(format!("attached file of {receipt}: {e}")))?;
            hasher.update(&chunk);
            size += opener.push(&chunk).map_err(|e| bad(format!("an attached file does not open: {e}")))?.len() as u64;
            piece.extend_from_slice(&chunk);
            while piece.len() >= PART_BYTES {
                let rest = piece.split_off(PART_BYTES);
                self.put_piece(receipt, &file.id, index, &piece).await?;
                index += 1;
                piece = rest;
            }
        }
        size += opener.finish().map_err(|e| bad(format!("an attached file does not open whole: {e}")))?.len() as u64;
        let (name, _) = hasher.finish();
        if name != file.sealed || size != file.size {
            return Err(bad("an attached file is not the one its record names".into()));
        }
        if !piece.is_empty() {
            self.put_piece(receipt, &file.id, index, &piece).await?;
            index += 1;
        }
        self.attachment_stored(receipt, &file.id, &name, index).await
    }

    /// The plaintext of a stored file, opened piece by piece as it is
    /// read. A piece that is missing or does not open ends the stream with
    /// an error, so a damaged file is never handed out as if whole.
    pub(crate) fn open_attachment(
        &self,
        keys: &KeyRing,
        receipt: ReceiptNumber,
        form_id: &str,
        file: &FileRef,
        pieces: i64,
    ) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        enum Step {
            Reading(Box<StreamOpener>, i64),
            Done,
        }
        let store = self.clone();
        let id = file.id.clone();
        let opener = Box::new(keys.file_opener(form_id, file));
        let failed = |what: &str| std::io::Error::other(format!("attached file unreadable: {what}"));
        futures::stream::unfold(Step::Reading(opener, 0), move |step| {
            let (store, id) = (store.clone(), id.clone());
            async move {
                match step {
                    Step::Done => None,
                    Step::Reading(mut opener, index) if index < pieces => {
                        let opened = match store.piece(receipt, &id, index).await {
                            Ok(bytes) => opener.push(&bytes).map_err(|e| failed(&e.to_string())),
                            Err(e) => Err(failed(&e.to_string())),
                        };
                        match opened {
                            Ok(plain) => Some((Ok(Bytes::from(plain)), Step::Reading(opener, index + 1))),
                            Err(e) => Some((Err(e), Step::Done)),
                        }
                    }
                    Step::Reading(opener, _) => match opener.finish() {
                        Ok(plain) => Some((Ok(Bytes::from(plain)), Step::Done)),
                        Err(e) => Some((Err(failed(&e.to_string())), Step::Done)),
                    },
                }
            }
        })
    }
}
