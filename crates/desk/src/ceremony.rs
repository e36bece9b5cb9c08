//! The key ceremony on the desk machine: create the tenant's key pair and
//! the desk's signing key, wrap them under a passphrase (and, once, under a
//! recovery secret for escrow), and export the public halves for the
//! counter's operator to import.
//!
//! File formats: `docs/key-files.md`.

use std::path::{Path, PathBuf};

use seal::{KdfParams, KeyKind, WrapPurpose, WrappedKeyInfo};

use crate::{io_error, now_unix, DeskError, Result};

/// What the ceremony produced, for printing.
#[derive(Debug, Clone)]
pub struct CeremonyOutcome {
    pub key_file: PathBuf,
    /// The file to hand to the counter's operator.
    pub public_file: PathBuf,
    pub fingerprint: String,
    /// Shown once; needed with the escrow file if the passphrase is lost.
    pub recovery_secret: Option<String>,
    pub escrow_file: Option<PathBuf>,
}

/// A public key as exported by the ceremony and imported at the counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyFile {
    pub kind: KeyKind,
    pub tenant: String,
    /// The desk id, for desk signing keys.
    pub desk: Option<String>,
    pub fingerprint: String,
    pub public: String,
}

const PUBLIC_MAGIC: &str = "madoguchi-public-key v1";

impl PublicKeyFile {
    pub fn to_text(&self) -> String {
        let kind = match self.kind {
            KeyKind::TenantHpke => "tenant-hpke",
            KeyKind::DeskSigning => "desk-ed25519",
        };
        let mut out = format!("{PUBLIC_MAGIC}\nkind: {kind}\ntenant: {}\n", self.tenant);
        if let Some(desk) = &self.desk {
            out.push_str(&format!("desk: {desk}\n"));
        }
        out.push_str(&format!("fingerprint: {}\npublic: {}\n", self.fingerprint, self.public));
        out
    }

    /// Reads an exported public key and checks the fingerprint matches the key.
    pub fn parse(text: &str) -> Result<PublicKeyFile> {
        let bad = |why: String| DeskError::Setup(format!("not a madoguchi public key file: {why}"));
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some(PUBLIC_MAGIC) {
            return Err(bad(format!("the first line must be `{PUBLIC_MAGIC}`")));
        }
        let (mut kind, mut tenant, mut desk, mut fingerprint, mut public) = (None, None, None, None, None);
        for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let (key, value) =
                line.split_once(':').ok_or_else(|| bad(format!("line {}: expected `key: value`", n + 2)))?;
            let value = value.trim().to_owned();
            match key.trim() {
                "kind" => kind = Some(value),
                "tenant" => tenant = Some(value),
                "desk" => desk = Some(value),
                "fingerprint" => fingerprint = Some(value),
                "public" => public = Some(value),
                other => return Err(bad(format!("line {}: unknown key `{other}`", n + 2))),
            }
        }
        let missing = |what: &str| bad(format!("`{what}` is missing"));
        let kind = match kind.as_deref() {
            Some("tenant-hpke") => KeyKind::TenantHpke,
            Some("desk-ed25519") => KeyKind::DeskSigning,
            Some(other) => return Err(bad(format!("unknown kind `{other}`"))),
            None => return Err(missing("kind")),
        };
        let file = PublicKeyFile {
            kind,
            tenant: tenant.ok_or_else(|| missing("tenant"))?,
            desk,
            fingerprint: fingerprint.ok_or_else(|| missing("fingerprint"))?,
            public: public.ok_or_else(|| missing("public"))?,
        };
        let actual = match kind {
            KeyKind::TenantHpke => seal::TenantPublicKey::from_base64(&file.public)?.id().to_string(),
            KeyKind::DeskSigning => {
                if file.desk.is_none() {
                    return Err(missing("desk"));
                }
                seal::DeskPublicKey::from_base64(&file.public)?.fingerprint()
            }
        };
        if actual != file.fingerprint {
            return Err(bad(format!("the fingerprint {} does not match the key ({actual})", file.fingerprint)));
        }
        Ok(file)
    }
}

fn write_new(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(text.as_bytes()).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Creates a tenant key pair in `keys_dir`, wrapped under `passphrase`.
/// With `escrow_dir`, also writes a second copy wrapped under a fresh
/// recovery secret, returned to be shown once. The public half goes to
/// `export_dir` for the counter's operator.
pub fn create_tenant_key(
    keys_dir: &Path,
    export_dir: &Path,
    tenant: &str,
    passphrase: &str,
    params: KdfParams,
    escrow_dir: Option<&Path>,
) -> Result<CeremonyOutcome> {
    check_passphrase(passphrase)?;
    let existing = crate::KeyRing::locked_keys(keys_dir).unwrap_or_default();
    if let Some(other) = existing.iter().find(|k| k.info.kind == KeyKind::TenantHpke && k.info.owner != tenant) {
        return Err(DeskError::Setup(format!(
            "{} already holds a key of tenant {}; one desk serves one tenant",
            keys_dir.display(),
            other.info.owner
        )));
    }
    let pair = seal::TenantKeyPair::generate();
    let key_id = pair.public.id().to_string();
    let info = WrappedKeyInfo {
        kind: KeyKind::TenantHpke,
        purpose: WrapPurpose::Passphrase,
        owner: tenant.to_owned(),
        key_id: key_id.clone(),
        created_at: now_unix(),
    };
    let secret = pair.private.to_bytes();
    let key_file = keys_dir.join(format!("tenant-{key_id}.key"));
    write_new(&key_file, &seal::wrap_secret(&secret, &info, passphrase, params)?)?;
    let (recovery_secret, escrow_file) = match escrow_dir {
        Some(dir) => {
            let recovery = seal::generate_recovery_secret();
            let escrow_info = WrappedKeyInfo { purpose: WrapPurpose::Recovery, ..info.clone() };
            let file = dir.join(format!("tenant-{key_id}.recovery.key"));
            write_new(&file, &seal::wrap_secret(&secret, &escrow_info, &recovery, params)?)?;
            (Some(recovery), Some(file))
        }
        None => (None, None),
    };
    let public = PublicKeyFile {
        kind: KeyKind::TenantHpke,
        tenant: tenant.to_owned(),
        desk: None,
        fingerprint: key_id.clone(),
        public: pair.public.to_base64(),
    };
    let public_file = export_dir.join(format!("{tenant}-{key_id}.public-key"));
    write_new(&public_file, &public.to_text())?;
    Ok(CeremonyOutcome { key_file, public_file, fingerprint: key_id, recovery_secret, escrow_file })
}

/// Creates the desk's Ed25519 signing key, wrapped under `passphrase`, and
/// exports its public half.
pub fn create_desk_key(
    keys_dir: &Path,
    export_dir: &Path,
    tenant: &str,
    desk_id: &str,
    passphrase: &str,
    params: KdfParams,
) -> Result<CeremonyOutcome> {
    check_passphrase(passphrase)?;
    if crate::KeyRing::locked_keys(keys_dir).unwrap_or_default().iter().any(|k| k.info.kind == KeyKind::DeskSigning) {
        return Err(DeskError::Setup(format!("{} already holds a desk signing key", keys_dir.display())));
    }
    let key = seal::DeskSigningKey::generate();
    let public = key.public();
    let info = WrappedKeyInfo {
        kind: KeyKind::DeskSigning,
        purpose: WrapPurpose::Passphrase,
        owner: desk_id.to_owned(),
        key_id: public.fingerprint(),
        created_at: now_unix(),
    };
    let key_file = keys_dir.join("desk-signing.key");
    write_new(&key_file, &seal::wrap_secret(&key.to_bytes(), &info, passphrase, params)?)?;
    let export = PublicKeyFile {
        kind: KeyKind::DeskSigning,
        tenant: tenant.to_owned(),
        desk: Some(desk_id.to_owned()),
        fingerprint: public.fingerprint(),
        public: public.to_base64(),
    };
    let public_file = export_dir.join(format!("{desk_id}.desk-key"));
    write_new(&public_file, &export.to_text())?;
    Ok(CeremonyOutcome {
        key_file,
        public_file,
        fingerprint: public.fingerprint(),
        recovery_secret: None,
        escrow_file: None,
    })
}

/// Rejects passphrases too weak to protect a tenant's records.
pub fn check_passphrase(passphrase: &str) -> Result<()> {
    if passphrase.chars().count() < 12 {
        return Err(DeskError::Setup("the passphrase must be at least 12 characters".into()));
    }
    Ok(())
}

/// When the passphrase is lost: opens the escrow copy with its recovery
/// secret and writes the tenant key again, wrapped under a new passphrase.
/// A key file already there for that key (under the lost passphrase) is
/// kept beside it with a `.lost` suffix. Returns the new key file.
pub fn recover_tenant_key(
    escrow_file: &Path,
    recovery_secret: &str,
    keys_dir: &Path,
    new_passphrase: &str,
    params: KdfParams,
) -> Result<PathBuf> {
    check_passphrase(new_passphrase)?;
    let text = std::fs::read_to_string(escrow_file).map_err(io_error(escrow_file))?;
    let (secret, info) = seal::unwrap_secret(&text, recovery_secret)?;
    if info.kind != KeyKind::TenantHpke || info.purpose != WrapPurpose::Recovery {
        return Err(DeskError::Setup(format!("{} is not the escrow copy of a tenant key", escrow_file.display())));
    }
    let key_file = keys_dir.join(format!("tenant-{}.key", info.key_id));
    if key_file.exists() {
        let lost = keys_dir.join(format!("tenant-{}.key.lost-{}", info.key_id, now_unix()));
        std::fs::rename(&key_file, &lost).map_err(io_error(&key_file))?;
    }
    let info = WrappedKeyInfo { purpose: WrapPurpose::Passphrase, ..info };
    write_new(&key_file, &seal::wrap_secret(&secret, &info, new_passphrase, params)?)?;
    Ok(key_file)
}
