//! Sealed attachments in the vault, written and read as they stream.
//!
//! A sealed file is cut into parts of [`PART_BYTES`]; each part is a
//! content-addressed, create-only object like every other in the vault
//! (kind `attachment-parts`), and a small manifest naming the parts in
//! order (kind `attachments`) is the file's name: its SHA-256 is what the
//! submission's sealed record and the database keep. So a 20 MB upload
//! never sits whole in memory, the vault stays create-only on a disk and on
//! S3 alike (no multipart uploads to finish or abandon), and every part is
//! checked against its name when read back.

use serde::{Deserialize, Serialize};

use crate::{Result, StoreError, Vault};

/// Bytes per part: large enough that a 20 MB file is a few dozen objects,
/// small enough to hold one in memory per upload.
pub const PART_BYTES: usize = 1024 * 1024;
pub(crate) const PARTS: &str = "attachment-parts";
pub(crate) const MANIFESTS: &str = "attachments";

/// What the manifest object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentManifest {
    /// SHA-256 (hex) of each part, in order.
    pub parts: Vec<String>,
    /// Total bytes of the sealed file.
    pub size: u64,
}

/// Writes one sealed file to the vault as it is produced.
pub struct AttachmentWriter {
    vault: Vault,
    buffer: Vec<u8>,
    parts: Vec<String>,
    size: u64,
}

impl AttachmentWriter {
    pub fn new(vault: &Vault) -> AttachmentWriter {
        AttachmentWriter { vault: vault.clone(), buffer: Vec::with_capacity(PART_BYTES), parts: Vec::new(), size: 0 }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let take = (PART_BYTES - self.buffer.len()).min(bytes.len());
            self.buffer.extend_from_slice(&bytes[..take]);
            self.size += take as u64;
            bytes = &bytes[take..];
            if self.buffer.len() == PART_BYTES {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            self.parts.push(self.vault.put(PARTS, &self.buffer).await?);
            self.buffer.clear();
        }
        Ok(())
    }

    /// Writes the last part and the manifest; returns the manifest's
    /// SHA-256, the attachment's name. Only then is the file in the vault.
    pub async fn finish(mut self) -> Result<(String, u64)> {
        self.flush().await?;
        let manifest = AttachmentManifest { parts: self.parts, size: self.size };
        Ok((self.vault.put(MANIFESTS, &manifest.to_json()).await?, self.size))
    }
}

impl AttachmentManifest {
    fn to_json(&self) -> Vec<u8> {
        // A plain struct of strings and a number always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The attachment's name: the SHA-256 of this manifest as stored.
    pub fn name(&self) -> String {
        crate::sha256_hex(&self.to_json())
    }
}

/// Works out an attachment's name from its sealed bytes as they stream by,
/// cutting them into parts as [`AttachmentWriter`] does: so a desk checks
/// that the bytes it was sent are the file a sealed record names.
pub struct AttachmentHasher {
    part: sha2::Sha256,
    in_part: usize,
    manifest: AttachmentManifest,
}

impl Default for AttachmentHasher {
    fn default() -> Self {
        AttachmentHasher {
            part: sha2::Sha256::default(),
            in_part: 0,
            manifest: AttachmentManifest { parts: Vec::new(), size: 0 },
        }
    }
}

impl AttachmentHasher {
    pub fn update(&mut self, mut bytes: &[u8]) {
        use sha2::Digest;
        while !bytes.is_empty() {
            let take = (PART_BYTES - self.in_part).min(bytes.len());
            self.part.update(&bytes[..take]);
            self.in_part += take;
            self.manifest.size += take as u64;
            bytes = &bytes[take..];
            if self.in_part == PART_BYTES {
                self.end_part();
            }
        }
    }

    fn end_part(&mut self) {
        use sha2::Digest;
        let digest = std::mem::take(&mut self.part).finalize();
        self.manifest.parts.push(hex::encode(digest));
        self.in_part = 0;
    }

    /// The name, and the sealed size.
    pub fn finish(mut self) -> (String, u64) {
        if self.in_part > 0 {
            self.end_part();
        }
        (self.manifest.name(), self.manifest.size)
    }
}

/// The `attachments` column: vault names, space-separated; none is NULL.
pub(crate) fn joined(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| names.join(" "))
}

impl crate::Store {
    /// Whether the submission `receipt` of `tenant` names the sealed file
    /// `name`: the desk API hands a file only to a desk of that tenant.
    pub async fn submission_names_attachment(
        &self,
        tenant: &str,
        receipt: crate::ReceiptNumber,
        name: &str,
    ) -> Result<bool> {
        let row = sqlx::query(
            "SELECT attachments FROM submissions WHERE tenant_id = $1 AND receipt_year = $2 AND receipt_seq = $3",
        )
        .bind(tenant)
        .bind(receipt.year)
        .bind(receipt.seq)
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let names: Option<String> = sqlx::Row::try_get(&row, "attachments")?;
        Ok(names.is_some_and(|names| names.split(' ').any(|n| n == name)))
    }
}

impl Vault {
    /// The manifest of attachment `name`, checked.
    pub async fn attachment_manifest(&self, name: &str) -> Result<AttachmentManifest> {
        let bytes = self.get(MANIFESTS, name).await?;
        let manifest: AttachmentManifest =
            serde_json::from_slice(&bytes).map_err(|_| StoreError::Corrupt(format!("{MANIFESTS}/{name}")))?;
        Ok(manifest)
    }

    /// Part `index` of a manifest, checked against its name.
    pub async fn attachment_part(&self, manifest: &AttachmentManifest, index: usize) -> Result<bytes::Bytes> {
        let name = manifest.parts.get(index).ok_or_else(|| StoreError::Corrupt("attachment part index".into()))?;
        self.get(PARTS, name).await
    }

    /// Whether the attachment and every part of it are in the vault.
    pub async fn has_attachment(&self, name: &str) -> Result<bool> {
        let manifest = match self.attachment_manifest(name).await {
            Ok(manifest) => manifest,
            Err(StoreError::Vault(object_store::Error::NotFound { .. })) => return Ok(false),
            Err(err) => return Err(err),
        };
        let mut size = 0u64;
        for index in 0..manifest.parts.len() {
            size += self.attachment_part(&manifest, index).await?.len() as u64;
        }
        Ok(size == manifest.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(vault: &Vault, data: &[u8], step: usize) -> (String, Vec<u8>) {
        let mut writer = AttachmentWriter::new(vault);
        for piece in data.chunks(step) {
            writer.write(piece).await.unwrap();
        }
        let (name, size) = writer.finish().await.unwrap();
        assert_eq!(size, data.len() as u64);
        let manifest = vault.attachment_manifest(&name).await.unwrap();
        let mut back = Vec::new();
        for index in 0..manifest.parts.len() {
            back.extend_from_slice(&vault.attachment_part(&manifest, index).await.unwrap());
        }
        (name, back)
    }

    #[tokio::test]
    async fn a_file_streams_into_parts_and_back_on_disk_and_in_object_storage() {
        let dir = tempfile::tempdir().unwrap();
        let on_disk = Vault::local(dir.path()).unwrap();
        let in_memory = Vault::from_object_store(std::sync::Arc::new(object_store::memory::InMemory::new()), "memory");
        let data: Vec<u8> = (0..(2 * PART_BYTES + 12_345)).map(|i| (i % 253) as u8).collect();
        for vault in [&on_disk, &in_memory] {
            let (name, back) = round_trip(vault, &data, 70_000).await;
            assert_eq!(back, data);
            // Whoever has the bytes can tell which attachment they are.
            let mut hasher = AttachmentHasher::default();
            for piece in data.chunks(100_000) {
                hasher.update(piece);
            }
            assert_eq!(hasher.finish(), (name.clone(), data.len() as u64));
            assert_eq!(vault.attachment_manifest(&name).await.unwrap().parts.len(), 3);
            assert!(vault.has_attachment(&name).await.unwrap());
            // The same bytes name the same attachment; nothing is rewritten.
            assert_eq!(round_trip(vault, &data, PART_BYTES).await.0, name);
            let (empty, back) = round_trip(vault, b"", 1).await;
            assert!(back.is_empty() && vault.has_attachment(&empty).await.unwrap());
        }
        assert!(!on_disk.has_attachment(&"0".repeat(64)).await.unwrap());
    }

    #[tokio::test]
    async fn a_damaged_part_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::local(dir.path()).unwrap();
        let data = vec![7u8; PART_BYTES + 10];
        let (name, _) = round_trip(&vault, &data, 4096).await;
        let manifest = vault.attachment_manifest(&name).await.unwrap();
        let part = &manifest.parts[1];
        let path = dir.path().join(PARTS).join(&part[..2]).join(part);
        std::fs::write(&path, b"damaged").unwrap();
        assert!(matches!(vault.has_attachment(&name).await, Err(StoreError::Corrupt(_))));
    }
}
