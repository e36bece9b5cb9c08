//! The vault: content-addressed, create-only objects.

use std::sync::Arc;

use bytes::Bytes;
use object_store::{local::LocalFileSystem, path::Path, ObjectStore, PutMode, PutOptions, PutPayload};

use crate::{sha256_hex, Result, StoreError};

/// One object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultObject {
    pub kind: String,
    /// Its SHA-256, hex.
    pub name: String,
    pub size: u64,
    pub written_at_us: i64,
}

impl std::fmt::Display for VaultObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// An independent store for sealed records. Objects are named by the
/// SHA-256 of their content, written only if absent, never changed, and
/// checked against their name when read.
#[derive(Clone)]
pub struct Vault {
    objects: Arc<dyn ObjectStore>,
    description: String,
    /// For a local vault, its directory: object_store writes and renames
    /// files but does not fsync them, so the vault does.
    local_root: Option<std::path::PathBuf>,
}

impl Vault {
    /// A vault in a local directory (created if missing). Put it on another
    /// disk than the database.
    pub fn local(dir: &std::path::Path) -> Result<Vault> {
        std::fs::create_dir_all(dir)
            .map_err(|e| object_store::Error::Generic { store: "local", source: Box::new(e) })?;
        let objects = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Vault {
            objects: Arc::new(objects),
            description: format!("local:{}", dir.display()),
            local_root: Some(dir.to_path_buf()),
        })
    }

    /// An S3-compatible vault, `s3://BUCKET[/…]`, configured from the
    /// standard AWS_* environment variables. Create-only writes use the
    /// conditional PUT (If-None-Match) that S3 and compatible servers offer.
    pub fn s3(url: &str) -> Result<Vault> {
        let objects = object_store::aws::AmazonS3Builder::from_env()
            .with_url(url)
            .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch)
            .build()?;
        Ok(Vault { objects: Arc::new(objects), description: url.to_owned(), local_root: None })
    }

    pub fn from_object_store(objects: Arc<dyn ObjectStore>, description: impl Into<String>) -> Vault {
        Vault { objects, description: description.into(), local_root: None }
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
        timed("put", self.put_unmetered(kind, content)).await
    }

    async fn put_unmetered(&self, kind: &str, content: &[u8]) -> Result<String> {
        let hash = sha256_hex(content);
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        let path = Self::path(kind, &hash);
        match self.objects.put_opts(&path, PutPayload::from(content.to_vec()), opts).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(root) = &self.local_root {
            // The file and its directory entry reach the disk before the
            // caller acknowledges anything.
            let file = root.join(path.as_ref());
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                std::fs::File::open(&file)?.sync_all()?;
                if let Some(dir) = file.parent() {
                    std::fs::File::open(dir)?.sync_all()?;
                }
                Ok(())
            })
            .await
            .map_err(|e| StoreError::VaultUnavailable(e.to_string()))?
            .map_err(|e| StoreError::VaultUnavailable(format!("fsync: {e}")))?;
        }
        Ok(hash)
    }

    /// Every object of `kind` (every object with `None`): its kind, name and
    /// when the storage wrote it (microseconds since the epoch).
    pub async fn list(&self, kind: Option<&str>) -> Result<Vec<VaultObject>> {
        use futures::TryStreamExt;
        let prefix = kind.map(Path::from);
        let metas: Vec<_> = self.objects.list(prefix.as_ref()).try_collect().await?;
        Ok(metas
            .into_iter()
            .filter_map(|meta| {
                let mut parts = meta.location.parts();
                let kind = parts.next()?.as_ref().to_owned();
                let name = parts.last()?.as_ref().to_owned();
                Some(VaultObject { kind, name, size: meta.size, written_at_us: meta.last_modified.timestamp_micros() })
            })
            .collect())
    }

    /// Reads an object and checks it still matches its name.
    pub async fn get(&self, kind: &str, hash_hex: &str) -> Result<Bytes> {
        timed("get", self.get_unmetered(kind, hash_hex)).await
    }

    /// Writes, then removes, the object `probe/{node}`: whether the vault
    /// takes an object now (a node's readiness). The only object that is
    /// ever overwritten or deleted, and it names nothing but the node.
    pub async fn probe(&self, node: &str) -> Result<()> {
        timed("probe", async {
            let path = Path::from(format!("{PROBE_KIND}/{node}"));
            self.objects.put(&path, PutPayload::from_static(b"ready")).await?;
            self.objects.delete(&path).await?;
            Ok(())
        })
        .await
    }

    async fn get_unmetered(&self, kind: &str, hash_hex: &str) -> Result<Bytes> {
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

/// The folder of readiness probes (see [`Vault::probe`]).
pub(crate) const PROBE_KIND: &str = "probe";

/// Times one vault operation for Prometheus (`vault_operation_seconds`)
/// and counts its failures (`vault_errors_total`).
async fn timed<T>(op: &'static str, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let started = std::time::Instant::now();
    let outcome = work.await;
    metrics::histogram!("vault_operation_seconds", "op" => op).record(started.elapsed().as_secs_f64());
    if outcome.is_err() {
        metrics::counter!("vault_errors_total", "op" => op).increment(1);
    }
    outcome
}
