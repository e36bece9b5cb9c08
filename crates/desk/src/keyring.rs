//! The desk's keys: wrapped on disk, unlocked in memory.

use std::path::{Path, PathBuf};

use seal::{KeyKind, SealedRecord, TenantPrivateKey, TokenBox};

use crate::{io_error, DeskError, Result};

/// A wrapped key file found in the desk's key directory.
#[derive(Debug, Clone)]
pub struct LockedKey {
    pub path: PathBuf,
    pub info: seal::WrappedKeyInfo,
}

/// The unlocked keys of one desk: every tenant key it was given (old ones
/// too, so records sealed before a rotation still open) and its signing key.
pub struct KeyRing {
    pub tenant: String,
    pub desk_id: String,
    tenant_keys: Vec<(i64, TenantPrivateKey)>,
    signing: seal::DeskSigningKey,
    storage: TokenBox,
}

impl KeyRing {
    /// Lists the passphrase-wrapped key files in `dir` (recovery copies are
    /// not used for unlocking).
    pub fn locked_keys(dir: &Path) -> Result<Vec<LockedKey>> {
        let mut keys = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(io_error(dir))?;
        for entry in entries {
            let path = entry.map_err(io_error(dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("key") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
            let info = seal::read_key_file_info(&text)?;
            if info.purpose == seal::WrapPurpose::Passphrase {
                keys.push(LockedKey { path, info });
            }
        }
        keys.sort_by_key(|k| (k.info.created_at, k.info.key_id.clone()));
        Ok(keys)
    }

    /// Unlocks every key in `dir` with `passphrase`.
    pub fn unlock(dir: &Path, passphrase: &str) -> Result<KeyRing> {
        let mut tenant_keys = Vec::new();
        let mut signing = None;
        let mut tenant = None;
        for locked in Self::locked_keys(dir)? {
            let text = std::fs::read_to_string(&locked.path).map_err(io_error(&locked.path))?;
            let (secret, info) = seal::unwrap_secret(&text, passphrase)?;
            match info.kind {
                KeyKind::TenantHpke => {
                    if tenant.get_or_insert_with(|| info.owner.clone()) != &info.owner {
                        return Err(DeskError::Setup(format!(
                            "{} belongs to tenant {}, not {}",
                            locked.path.display(),
                            info.owner,
                            tenant.unwrap_or_default()
                        )));
                    }
                    tenant_keys.push((info.created_at, TenantPrivateKey::from_bytes(&secret)?));
                }
                KeyKind::DeskSigning => {
                    signing = Some((info.owner.clone(), seal::DeskSigningKey::from_bytes(&secret)?));
                }
            }
        }
        let tenant = tenant.ok_or_else(|| DeskError::Setup(format!("no tenant key in {}", dir.display())))?;
        let (desk_id, signing) = signing.ok_or_else(|| {
            DeskError::Setup(format!("no desk signing key in {} (run `madoguchi desk init`)", dir.display()))
        })?;
        // The at-rest key comes from the oldest tenant key, which rotation
        // keeps, so the store stays readable across rotations.
        let storage_secret = tenant_keys[0].1.derive_secret("madoguchi desk store v1");
        let storage = TokenBox::new(storage_secret.as_slice())?;
        Ok(KeyRing { tenant, desk_id, tenant_keys, signing, storage })
    }

    pub fn signing_key(&self) -> &seal::DeskSigningKey {
        &self.signing
    }

    /// The newest tenant key (the one the counter seals to after rotation).
    pub fn current_public_key(&self) -> seal::TenantPublicKey {
        // `unlock` refuses a ring without tenant keys; they are sorted oldest first.
        self.tenant_keys.last().map(|(_, k)| k.public()).unwrap_or_else(|| unreachable!())
    }

    /// Every tenant key generation this desk holds.
    pub(crate) fn private_keys(&self) -> impl Iterator<Item = &TenantPrivateKey> {
        self.tenant_keys.iter().map(|(_, k)| k)
    }

    /// Opens a sealed record with whichever tenant key it names.
    pub fn open(&self, binding: &seal::RecordBinding, record: &SealedRecord) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let key = self.tenant_keys.iter().map(|(_, k)| k).find(|k| k.id() == &record.key_id).ok_or_else(|| {
            DeskError::BadRecord {
                receipt: binding.receipt_number.clone(),
                reason: format!("sealed to key {} which this desk does not hold", record.key_id),
            }
        })?;
        Ok(zeroize::Zeroizing::new(seal::open(key, binding, record)?))
    }

    /// Encrypts plaintext for the desk's store, bound to `label` (the
    /// record it belongs to).
    pub(crate) fn encrypt_at_rest(&self, label: &str, plaintext: &[u8]) -> Vec<u8> {
        self.storage.seal(label, plaintext).into_bytes()
    }

    pub(crate) fn decrypt_at_rest(&self, label: &str, stored: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let token = std::str::from_utf8(stored).map_err(|_| seal::SealError::BadToken)?;
        Ok(self.storage.open(label, token)?)
    }
}
