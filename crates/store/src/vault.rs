//! The vault: content-addressed, create-only objects.

use std::sync::Arc;

use bytes::Bytes;
use object_store::{local::LocalFileSystem, path::Path, ObjectStore, PutMode, PutOptions, PutPayload};

use crate::{sha256_hex, Result, StoreError};

/// An independent store for sealed records. Objects are named by the
/// SHA-256 of their content, written only if absent, never changed, and
/// checked against their name when read.
#[derive(Clone)]
pub struct Vault {
    objects: Arc<dyn ObjectStore>,
    description: String,
}

impl Vault {
    /// A vault in a local directory (created if missing). Put it on another
    /// disk than the database.
    pub fn local(dir: &std::path::Path) -> Result<Vault> {
        std::fs::create_dir_all(dir)
            .map_err(|e| object_store::Error::Generic { store: "local", source: Box::new(e) })?;
        let objects = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Vault { objects: Arc::new(objects), description: format!("local:{}", dir.display()) })
    }

    pub fn from_object_store(objects: Arc<dyn ObjectStore>, description: impl Into<String>) -> Vault {
        Vault { objects, description: description.into() }
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    fn path(kind: &str, hash_hex: &str) -> Path {
        Path::from(format!("{kind}/{}/{hash_hex}", &hash_hex[..2]))
    }

    /// Stores `content` under `kind/` by its hash and returns the hash. An
    /// object already present with that name holds the same bytes.
    pub async fn put(&self, kind: &str, content: &[u8]) -> Result<String> {
        let hash = sha256_hex(content);
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.objects.put_opts(&Self::path(kind, &hash), PutPayload::from(content.to_vec()), opts).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(hash),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads an object and checks it still matches its name.
    pub async fn get(&self, kind: &str, hash_hex: &str) -> Result<Bytes> {
        if hash_hex.len() != 64 || !hash_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Corrupt(hash_hex.to_owned()));
        }
        let bytes = self.objects.get(&Self::path(kind, hash_hex)).await?.bytes().await?;
        if sha256_hex(&bytes) != hash_hex {
            return Err(StoreError::Corrupt(format!("{kind}/{hash_hex}")));
        }
        Ok(bytes)
    }
}
