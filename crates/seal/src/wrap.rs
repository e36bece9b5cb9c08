//! Private keys at rest: a text key file, wrapped under a passphrase with
//! argon2id and XChaCha20-Poly1305. The format is described for people in
//! docs/key-files.md; keep the two in step.

use base64::{engine::general_purpose::STANDARD, Engine};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use rand::{Rng, RngCore};
use zeroize::Zeroizing;

use crate::SealError;

/// First line of every key file, before the version.
const MAGIC: &str = "madoguchi-key-file";
/// The one version this code writes and reads.
const VERSION: &str = "v1";
/// Header fields after the first line, in the only order v1 allows.
const FIELDS: [&str; 9] = ["kind", "purpose", "owner", "key-id", "created-at", "kdf", "salt", "nonce", "sealed"];
const SALT_LEN: usize = 16;
/// Salts written by others are accepted up to this length.
const MAX_SALT_LEN: usize = 64;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Longest owner or key id; they are names, not data.
const MAX_NAME_LEN: usize = 200;

/// Symbols of a recovery secret: digits and capitals without 0/O/1/I/L,
/// which are misread when copied by hand from paper.
const RECOVERY_ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const RECOVERY_GROUP_LEN: usize = 4;
/// 7 groups of 4 = 28 symbols = 138 bits (log2 31 ≈ 4.95 bits each).
const RECOVERY_GROUPS: usize = 7;
/// 25 symbols of the alphabet carry over 120 bits; wrapping under fewer is refused.
const RECOVERY_MIN_SYMBOLS: usize = 25;

/// What a wrapped key file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A tenant's HPKE private key (opens the tenant's records).
    TenantHpke,
    /// A desk's Ed25519 seed (authenticates the desk to the counter).
    DeskSigning,
}

impl KeyKind {
    fn as_str(self) -> &'static str {
        match self {
            KeyKind::TenantHpke => "tenant-hpke",
            KeyKind::DeskSigning => "desk-ed25519",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [KeyKind::TenantHpke, KeyKind::DeskSigning].into_iter().find(|k| k.as_str() == s)
    }
}

/// Which secret a key file is wrapped under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapPurpose {
    /// The everyday copy, under the passphrase staff type.
    Passphrase,
    /// The escrow copy, under a recovery secret shown once and kept on paper.
    Recovery,
}

impl WrapPurpose {
    fn as_str(self) -> &'static str {
        match self {
            WrapPurpose::Passphrase => "passphrase",
            WrapPurpose::Recovery => "recovery",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [WrapPurpose::Passphrase, WrapPurpose::Recovery].into_iter().find(|p| p.as_str() == s)
    }
}

/// argon2id cost parameters. They are written into each file, so files made
/// with other parameters keep opening when the defaults change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl KdfParams {
    /// RFC 9106's second recommended option (64 MiB, 3 passes, 1 lane);
    /// docs/key-files.md says why.
    pub const PRODUCTION: KdfParams = KdfParams { m_cost_kib: 65536, t_cost: 3, p_cost: 1 };
    /// Tests and demos only: cheap, and therefore easy to guess against.
    pub const FOR_TESTS: KdfParams = KdfParams { m_cost_kib: 256, t_cost: 1, p_cost: 1 };

    /// Bounds that keep a hostile file from asking for absurd work or memory.
    const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
    const MAX_T_COST: u32 = 64;
    const MAX_P_COST: u32 = 16;

    fn check(self) -> Result<(), &'static str> {
        if self.p_cost == 0 || self.p_cost > Self::MAX_P_COST {
            return Err("the argon2id lanes (p) must be between 1 and 16");
        }
        if self.t_cost == 0 || self.t_cost > Self::MAX_T_COST {
            return Err("the argon2id passes (t) must be between 1 and 64");
        }
        if self.m_cost_kib < 8 * self.p_cost || self.m_cost_kib > Self::MAX_M_COST_KIB {
            return Err("the argon2id memory (m) must be between 8 KiB per lane and 4 GiB");
        }
        Ok(())
    }

    fn to_line_value(self) -> String {
        format!("argon2id m={} t={} p={}", self.m_cost_kib, self.t_cost, self.p_cost)
    }

    fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("argon2id m=")?;
        let (m, rest) = rest.split_once(" t=")?;
        let (t, p) = rest.split_once(" p=")?;
        let params = KdfParams { m_cost_kib: m.parse().ok()?, t_cost: t.parse().ok()?, p_cost: p.parse().ok()? };
        // Only the canonical spelling, so the text and the numbers never disagree.
        (params.to_line_value() == s).then_some(params)
    }
}

/// The header of a key file: what is wrapped, for whom and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKeyInfo {
    pub kind: KeyKind,
    pub purpose: WrapPurpose,
    /// The tenant id or desk id the key belongs to.
    pub owner: String,
    pub key_id: String,
    /// Unix seconds, from the caller's clock.
    pub created_at: i64,
}

/// Returns the text of a versioned key file holding `secret`, wrapped under
/// `passphrase`. The passphrase's bytes are used as given: callers normalise
/// (NFKC) before calling. For [`WrapPurpose::Recovery`] the passphrase must be
/// a secret from [`generate_recovery_secret`].
pub fn wrap_secret(
    secret: &[u8],
    info: &WrappedKeyInfo,
    passphrase: &str,
    params: KdfParams,
) -> Result<String, SealError> {
    if secret.is_empty() {
        return Err(SealError::InvalidKeyInfo("the secret to wrap is empty"));
    }
    check_name(&info.owner).map_err(|_| SealError::InvalidKeyInfo("the owner must be 1-200 printable characters"))?;
    check_name(&info.key_id).map_err(|_| SealError::InvalidKeyInfo("the key id must be 1-200 printable characters"))?;
    params.check().map_err(SealError::InvalidKeyInfo)?;
    let passphrase = passphrase_bytes(passphrase, info.purpose)?;
    if info.purpose == WrapPurpose::Recovery
        && (passphrase.len() < RECOVERY_MIN_SYMBOLS || !passphrase.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
    {
        return Err(SealError::InvalidKeyInfo("a recovery copy must be wrapped under a generated recovery secret"));
    }

    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);

    let values = [
        info.kind.as_str().to_owned(),
        info.purpose.as_str().to_owned(),
        info.owner.clone(),
        info.key_id.clone(),
        info.created_at.to_string(),
        params.to_line_value(),
        STANDARD.encode(salt),
        STANDARD.encode(nonce),
    ];
    let mut header = format!("{MAGIC} {VERSION}\n");
    for (field, value) in FIELDS.iter().zip(&values) {
        header.push_str(&format!("{field}: {value}\n"));
    }

    let key = derive_key(passphrase.as_bytes(), &salt, params)
        .map_err(|_| SealError::InvalidKeyInfo("the passphrase is too long for argon2id"))?;
    let cipher = XChaCha20Poly1305::new((&*key).into());
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: secret, aad: header.as_bytes() })
        .map_err(|_| SealError::Seal)?;
    Ok(format!("{header}sealed: {}\n", STANDARD.encode(sealed)))
}

/// Parses and opens a key file. [`SealError::WrongPassphrase`] when the
/// passphrase, or any header line, is not what the file was written with.
pub fn unwrap_secret(file: &str, passphrase: &str) -> Result<(Zeroizing<Vec<u8>>, WrappedKeyInfo), SealError> {
    let parsed = parse(file)?;
    let passphrase = passphrase_bytes(passphrase, parsed.info.purpose)?;
    let key = derive_key(passphrase.as_bytes(), &parsed.salt, parsed.params).map_err(|_| SealError::WrongPassphrase)?;
    let cipher = XChaCha20Poly1305::new((&*key).into());
    let secret = cipher
        .decrypt(XNonce::from_slice(&parsed.nonce), Payload { msg: &parsed.sealed, aad: parsed.header.as_bytes() })
        .map(Zeroizing::new)
        .map_err(|_| SealError::WrongPassphrase)?;
    Ok((secret, parsed.info))
}

/// Only the header, without a passphrase (for listing keys). Nothing in it is
/// authenticated until the file is unwrapped.
pub fn read_key_file_info(file: &str) -> Result<WrappedKeyInfo, SealError> {
    parse(file).map(|parsed| parsed.info)
}

/// A recovery secret to show once: 28 symbols (138 bits) in groups of 4, e.g.
/// `7KQM-2XHD-…`, from an alphabet without 0/O/1/I/L so it survives being
/// copied onto paper and typed back.
pub fn generate_recovery_secret() -> String {
    generate_recovery_secret_with(&mut rand::rngs::OsRng)
}

/// As [`generate_recovery_secret`], from the caller's generator.
fn generate_recovery_secret_with<R: RngCore + rand::CryptoRng>(rng: &mut R) -> String {
    let mut out = String::with_capacity(RECOVERY_GROUPS * (RECOVERY_GROUP_LEN + 1));
    for i in 0..RECOVERY_GROUPS * RECOVERY_GROUP_LEN {
        if i > 0 && i % RECOVERY_GROUP_LEN == 0 {
            out.push('-');
        }
        out.push(char::from(RECOVERY_ALPHABET[rng.gen_range(0..RECOVERY_ALPHABET.len())]));
    }
    out
}

/// The bytes that go into argon2id. A recovery secret is typed back from
/// paper, so case, hyphens, spaces and full-width (IME) forms are forgiven;
/// a passphrase is taken exactly as given.
fn passphrase_bytes(passphrase: &str, purpose: WrapPurpose) -> Result<Zeroizing<String>, SealError> {
    let bytes = match purpose {
        WrapPurpose::Passphrase => Zeroizing::new(passphrase.to_owned()),
        WrapPurpose::Recovery => normalise_recovery_secret(passphrase),
    };
    if bytes.is_empty() {
        return Err(SealError::EmptyPassphrase);
    }
    Ok(bytes)
}

fn normalise_recovery_secret(typed: &str) -> Zeroizing<String> {
    Zeroizing::new(
        typed
            .chars()
            .map(|c| match c {
                // Full-width ASCII (ＡＢＣ, ２３４, －) as a Japanese IME types it.
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                // Dashes and the long-vowel mark an IME gives for the '-' key.
                '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' | '\u{FF70}' => '-',
                _ => c,
            })
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    )
}

fn derive_key(passphrase: &[u8], salt: &[u8], params: KdfParams) -> Result<Zeroizing<[u8; 32]>, argon2::Error> {
    let params = argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(passphrase, salt, &mut *key)?;
    Ok(key)
}

/// Owners and key ids are written on one line and read back unchanged.
fn check_name(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.chars().count() > MAX_NAME_LEN {
        return Err("must be 1-200 characters");
    }
    if s.chars().any(char::is_control) || s.trim() != s {
        return Err("must not hold control characters or start or end with spaces");
    }
    Ok(())
}

struct Parsed {
    info: WrappedKeyInfo,
    params: KdfParams,
    salt: Vec<u8>,
    nonce: Vec<u8>,
    sealed: Vec<u8>,
    /// Every line before `sealed`, each ending in "\n": the AEAD's associated data.
    header: String,
}

fn malformed(line: usize, reason: impl Into<String>) -> SealError {
    SealError::MalformedKeyFile { line, reason: reason.into() }
}

/// Strict v1 parser: every field once, in order, canonical spelling. CRLF line
/// ends and a leading byte-order mark (as Windows editors write them) are
/// tolerated; they are not part of the authenticated text.
fn parse(file: &str) -> Result<Parsed, SealError> {
    let file = file.strip_prefix('\u{FEFF}').unwrap_or(file);
    let mut lines = file.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).zip(1usize..);

    let first = lines.next().map_or("", |(l, _)| l);
    check_first_line(first)?;
    let mut header = format!("{first}\n");

    let mut values: [&str; FIELDS.len()] = [""; FIELDS.len()];
    let mut last_line = 1;
    for (slot, expected) in values.iter_mut().zip(FIELDS) {
        let Some((line, number)) = lines.next() else {
            return Err(malformed(last_line + 1, format!("the file ends before the `{expected}` line")));
        };
        last_line = number;
        if line.is_empty() {
            return Err(malformed(
                number,
                format!("empty line where `{expected}` was expected (is the file cut short?)"),
            ));
        }
        let Some((field, value)) = line.split_once(": ") else {
            return Err(malformed(number, format!("expected `{expected}: <value>`")));
        };
        if field != expected {
            let reason = if FIELDS.contains(&field) {
                format!("expected `{expected}`, found `{field}` (fields are out of order or repeated)")
            } else {
                format!("unknown field `{}`", field.chars().take(40).collect::<String>())
            };
            return Err(malformed(number, reason));
        }
        *slot = value;
        if expected != "sealed" {
            header.push_str(line);
            header.push('\n');
        }
    }
    if let Some((_, number)) = lines.find(|(l, _)| !l.is_empty()) {
        return Err(malformed(number, "unexpected text after the `sealed` line"));
    }

    let [kind, purpose, owner, key_id, created_at, kdf, salt, nonce, sealed] = values;
    let kind = KeyKind::parse(kind).ok_or_else(|| malformed(2, "kind must be `tenant-hpke` or `desk-ed25519`"))?;
    let purpose =
        WrapPurpose::parse(purpose).ok_or_else(|| malformed(3, "purpose must be `passphrase` or `recovery`"))?;
    check_name(owner).map_err(|reason| malformed(4, format!("the owner {reason}")))?;
    check_name(key_id).map_err(|reason| malformed(5, format!("the key id {reason}")))?;
    let created_at = created_at
        .parse::<i64>()
        .ok()
        .filter(|t| t.to_string() == created_at)
        .ok_or_else(|| malformed(6, "created-at must be whole Unix seconds"))?;
    let params =
        KdfParams::parse(kdf).ok_or_else(|| malformed(7, "kdf must read `argon2id m=<KiB> t=<passes> p=<lanes>`"))?;
    params.check().map_err(|reason| malformed(7, reason))?;
    let salt = decode(salt, 8, "salt")?;
    if !(SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
        return Err(malformed(8, "the salt must be 16 to 64 bytes"));
    }
    let nonce = decode(nonce, 9, "nonce")?;
    if nonce.len() != NONCE_LEN {
        return Err(malformed(9, "the nonce must be 24 bytes"));
    }
    let sealed = decode(sealed, 10, "sealed")?;
    if sealed.len() <= TAG_LEN {
        return Err(malformed(10, "the sealed key is too short (is the file cut short?)"));
    }

    let info = WrappedKeyInfo { kind, purpose, owner: owner.to_owned(), key_id: key_id.to_owned(), created_at };
    Ok(Parsed { info, params, salt, nonce, sealed, header })
}

fn check_first_line(line: &str) -> Result<(), SealError> {
    let Some(version) = line.strip_prefix(MAGIC).and_then(|rest| rest.strip_prefix(' ')) else {
        return Err(malformed(1, format!("not a madoguchi key file (the first line must be `{MAGIC} {VERSION}`)")));
    };
    if version == VERSION {
        return Ok(());
    }
    match version.strip_prefix('v') {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Err(SealError::UnsupportedVersion),
        _ => Err(malformed(1, format!("the version must read `{VERSION}`"))),
    }
}

fn decode(value: &str, line: usize, field: &str) -> Result<Vec<u8>, SealError> {
    STANDARD.decode(value).map_err(|_| malformed(line, format!("{field} is not valid base64")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSPHRASE: &str = "窓口の鍵 correct horse battery staple";

    fn info(kind: KeyKind, purpose: WrapPurpose) -> WrappedKeyInfo {
        WrappedKeyInfo {
            kind,
            purpose,
            owner: "aoba-city".into(),
            key_id: "3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7".into(),
            created_at: 1_764_000_000,
        }
    }

    fn tenant_file() -> String {
        wrap_secret(&[7u8; 32], &info(KeyKind::TenantHpke, WrapPurpose::Passphrase), PASSPHRASE, KdfParams::FOR_TESTS)
            .unwrap()
    }

    fn replace_line(file: &str, number: usize, new: &str) -> String {
        file.lines().enumerate().map(|(i, l)| if i + 1 == number { new } else { l }).collect::<Vec<_>>().join("\n")
    }

    fn line_of(err: SealError) -> usize {
        match err {
            SealError::MalformedKeyFile { line, .. } => line,
            other => panic!("expected MalformedKeyFile, got {other:?}"),
        }
    }

    #[test]
    fn both_kinds_and_both_purposes_round_trip() {
        let recovery = generate_recovery_secret();
        for kind in [KeyKind::TenantHpke, KeyKind::DeskSigning] {
            for (purpose, secret) in [(WrapPurpose::Passphrase, PASSPHRASE), (WrapPurpose::Recovery, recovery.as_str())]
            {
                let file = wrap_secret(b"the private key", &info(kind, purpose), secret, KdfParams::FOR_TESTS).unwrap();
                let (opened, read) = unwrap_secret(&file, secret).unwrap();
                assert_eq!(&*opened, b"the private key");
                assert_eq!(read, info(kind, purpose));
                assert_eq!(read_key_file_info(&file).unwrap(), info(kind, purpose));
            }
        }
    }

    #[test]
    fn the_file_is_readable_text_in_the_documented_layout() {
        let file = tenant_file();
        let lines: Vec<&str> = file.lines().collect();
        assert_eq!(lines[0], "madoguchi-key-file v1");
        assert_eq!(lines[1], "kind: tenant-hpke");
        assert_eq!(lines[2], "purpose: passphrase");
        assert_eq!(lines[3], "owner: aoba-city");
        assert_eq!(lines[4], "key-id: 3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7");
        assert_eq!(lines[5], "created-at: 1764000000");
        assert_eq!(lines[6], "kdf: argon2id m=256 t=1 p=1");
        assert_eq!(STANDARD.decode(lines[7].strip_prefix("salt: ").unwrap()).unwrap().len(), 16);
        assert_eq!(STANDARD.decode(lines[8].strip_prefix("nonce: ").unwrap()).unwrap().len(), 24);
        assert_eq!(STANDARD.decode(lines[9].strip_prefix("sealed: ").unwrap()).unwrap().len(), 32 + 16);
        assert_eq!(lines.len(), 10);
        assert!(file.ends_with('\n'));
    }

    #[test]
    fn production_params_are_what_the_file_records() {
        // The one 64 MiB argon2id run in the test suite.
        let file =
            wrap_secret(b"k", &info(KeyKind::TenantHpke, WrapPurpose::Passphrase), PASSPHRASE, KdfParams::PRODUCTION)
                .unwrap();
        assert_eq!(file.lines().nth(6), Some("kdf: argon2id m=65536 t=3 p=1"));
        assert_eq!(parse(&file).unwrap().params, KdfParams::PRODUCTION);
    }

    #[test]
    fn a_wrong_or_empty_passphrase_fails() {
        let file = tenant_file();
        assert!(matches!(unwrap_secret(&file, "correct horse"), Err(SealError::WrongPassphrase)));
        assert!(matches!(unwrap_secret(&file, ""), Err(SealError::EmptyPassphrase)));
        let wrapped = wrap_secret(b"k", &info(KeyKind::TenantHpke, WrapPurpose::Passphrase), "", KdfParams::FOR_TESTS);
        assert!(matches!(wrapped, Err(SealError::EmptyPassphrase)));
    }

    #[test]
    fn passphrase_bytes_are_used_as_given_so_callers_must_normalise() {
        let file =
            wrap_secret(b"k", &info(KeyKind::TenantHpke, WrapPurpose::Passphrase), "パスワード", KdfParams::FOR_TESTS)
                .unwrap();
        // Half-width katakana is the same word after NFKC, but not here.
        assert!(matches!(unwrap_secret(&file, "ﾊﾟｽﾜｰﾄﾞ"), Err(SealError::WrongPassphrase)));
        assert!(matches!(unwrap_secret(&file, "パスワード "), Err(SealError::WrongPassphrase)));
        assert!(unwrap_secret(&file, "パスワード").is_ok());
    }

    #[test]
    fn altering_any_header_line_makes_unwrapping_fail() {
        let file = tenant_file();
        let other_salt = format!("salt: {}", STANDARD.encode([9u8; 16]));
        let other_nonce = format!("nonce: {}", STANDARD.encode([9u8; 24]));
        let altered = [
            (2, "kind: desk-ed25519"),
            (3, "purpose: recovery"),
            (4, "owner: minato-city"),
            (5, "key-id: 00000000000000000000000000000000"),
            (6, "created-at: 1764000001"),
            (7, "kdf: argon2id m=256 t=2 p=1"),
            (7, "kdf: argon2id m=264 t=1 p=1"),
            (8, other_salt.as_str()),
            (9, other_nonce.as_str()),
        ];
        for (number, line) in altered {
            let changed = replace_line(&file, number, line);
            assert_ne!(changed.lines().nth(number - 1), file.lines().nth(number - 1));
            assert!(matches!(unwrap_secret(&changed, PASSPHRASE), Err(SealError::WrongPassphrase)), "line {number}");
        }
        // The first line cannot be altered into anything readable.
        assert!(matches!(
            unwrap_secret(&replace_line(&file, 1, "madoguchi-key-file v2"), PASSPHRASE),
            Err(SealError::UnsupportedVersion)
        ));
        assert_eq!(line_of(unwrap_secret(&replace_line(&file, 1, "madoguchi-keyfile v1"), PASSPHRASE).unwrap_err()), 1);
        // And the ciphertext itself is authenticated.
        let sealed = file.lines().nth(9).unwrap().strip_prefix("sealed: ").unwrap();
        let mut bytes = STANDARD.decode(sealed).unwrap();
        bytes[0] ^= 1;
        let changed = replace_line(&file, 10, &format!("sealed: {}", STANDARD.encode(bytes)));
        assert!(matches!(unwrap_secret(&changed, PASSPHRASE), Err(SealError::WrongPassphrase)));
    }

    #[test]
    fn windows_line_ends_and_a_byte_order_mark_still_open() {
        let file = tenant_file();
        let windows = format!("\u{FEFF}{}", file.replace('\n', "\r\n"));
        assert_eq!(&*unwrap_secret(&windows, PASSPHRASE).unwrap().0, &[7u8; 32]);
    }

    #[test]
    fn truncated_files_name_the_line_where_they_end() {
        let file = tenant_file();
        let lines: Vec<&str> = file.lines().collect();
        for kept in 0..lines.len() {
            // The first missing line is reported; an empty file is not a key file at line 1.
            let expected = if kept == 0 { 1 } else { kept + 1 };
            let cut = lines[..kept].iter().map(|l| format!("{l}\n")).collect::<String>();
            assert_eq!(line_of(read_key_file_info(&cut).unwrap_err()), expected, "{kept} lines");
            let no_final_newline = cut.trim_end_matches('\n');
            assert_eq!(line_of(unwrap_secret(no_final_newline, PASSPHRASE).unwrap_err()), expected, "{kept} lines");
        }
        // Cut inside the last line: too short to hold even the tag.
        let cut = &file[..file.len() - 50];
        assert_eq!(line_of(unwrap_secret(cut, PASSPHRASE).unwrap_err()), 10);
    }

    #[test]
    fn garbled_lines_are_refused_with_their_number() {
        let file = tenant_file();
        let cases = [
            (1, "hello"),
            (2, "kind: tenant-rsa"),
            (3, "purpose: fun"),
            (4, "owner: "),
            (4, "owner:aoba-city"),
            (5, "owner: aoba-city"),
            (6, "created-at: yesterday"),
            (6, "created-at: +1764000000"),
            (7, "kdf: scrypt n=16"),
            (7, "kdf: argon2id m=65536 t=0 p=1"),
            (7, "kdf: argon2id m=99999999 t=3 p=1"),
            (8, "salt: !!!"),
            (8, "salt: AAAA"),
            (9, "nonce: AAAA"),
            (10, "sealed: ###"),
            (3, ""),
        ];
        for (number, line) in cases {
            let err = unwrap_secret(&replace_line(&file, number, line), PASSPHRASE).unwrap_err();
            assert_eq!(line_of(err), number, "{line:?}");
        }
        let unknown = replace_line(&file, 4, "colour: blue");
        match read_key_file_info(&unknown) {
            Err(SealError::MalformedKeyFile { line: 4, reason }) => assert!(reason.contains("unknown field `colour`")),
            other => panic!("{other:?}"),
        }
        let extra = format!("{file}comment: hi\n");
        assert_eq!(line_of(read_key_file_info(&extra).unwrap_err()), 11);
        assert!(read_key_file_info(&format!("{file}\n\n")).is_ok());
    }

    #[test]
    fn a_future_version_is_refused_as_unsupported() {
        let file = tenant_file().replacen("madoguchi-key-file v1", "madoguchi-key-file v2", 1);
        assert!(matches!(read_key_file_info(&file), Err(SealError::UnsupportedVersion)));
        assert!(matches!(unwrap_secret(&file, PASSPHRASE), Err(SealError::UnsupportedVersion)));
    }

    #[test]
    fn recovery_secrets_are_grouped_unambiguous_and_strong() {
        let secret = generate_recovery_secret();
        let groups: Vec<&str> = secret.split('-').collect();
        assert_eq!(groups.len(), RECOVERY_GROUPS);
        assert!(groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))));
        assert!(!secret.contains(['0', 'O', '1', 'I', 'L']));
        let bits = (RECOVERY_GROUPS * RECOVERY_GROUP_LEN) as f64 * (RECOVERY_ALPHABET.len() as f64).log2();
        assert!(bits >= 120.0 && RECOVERY_MIN_SYMBOLS as f64 * (RECOVERY_ALPHABET.len() as f64).log2() >= 120.0);
        assert_ne!(secret, generate_recovery_secret());
    }

    #[test]
    fn a_recovery_secret_opens_however_it_is_typed_back() {
        let secret = generate_recovery_secret();
        let file =
            wrap_secret(b"escrow", &info(KeyKind::TenantHpke, WrapPurpose::Recovery), &secret, KdfParams::FOR_TESTS)
                .unwrap();
        let plain = secret.replace('-', "");
        let full_width: String =
            secret.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap()).collect::<String>().replace('－', "ー");
        for typed in [
            secret.clone(),
            plain.to_lowercase(),
            secret.replace('-', " "),
            format!("  {}\n", secret.to_lowercase()),
            full_width,
        ] {
            assert_eq!(&*unwrap_secret(&file, &typed).unwrap().0, b"escrow", "{typed:?}");
        }
        let mut wrong = plain.clone().into_bytes();
        wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
        assert!(matches!(unwrap_secret(&file, std::str::from_utf8(&wrong).unwrap()), Err(SealError::WrongPassphrase)));
        assert!(matches!(unwrap_secret(&file, " - - "), Err(SealError::EmptyPassphrase)));
    }

    #[test]
    fn a_recovery_copy_needs_a_generated_secret() {
        let recovery = info(KeyKind::TenantHpke, WrapPurpose::Recovery);
        for weak in ["hunter2", "AAAA-BBBB", "0000-0000-0000-0000-0000-0000-0000"] {
            let wrapped = wrap_secret(b"k", &recovery, weak, KdfParams::FOR_TESTS);
            assert!(matches!(wrapped, Err(SealError::InvalidKeyInfo(_))), "{weak}");
        }
    }

    #[test]
    fn header_values_that_would_not_read_back_are_refused() {
        let bad = [
            WrappedKeyInfo { owner: String::new(), ..info(KeyKind::TenantHpke, WrapPurpose::Passphrase) },
            WrappedKeyInfo { owner: "aoba\ncity".into(), ..info(KeyKind::TenantHpke, WrapPurpose::Passphrase) },
            WrappedKeyInfo { key_id: " padded".into(), ..info(KeyKind::TenantHpke, WrapPurpose::Passphrase) },
        ];
        for info in bad {
            assert!(matches!(
                wrap_secret(b"k", &info, PASSPHRASE, KdfParams::FOR_TESTS),
                Err(SealError::InvalidKeyInfo(_))
            ));
        }
        let weak = KdfParams { m_cost_kib: 4, t_cost: 1, p_cost: 1 };
        let info = info(KeyKind::TenantHpke, WrapPurpose::Passphrase);
        assert!(matches!(wrap_secret(b"k", &info, PASSPHRASE, weak), Err(SealError::InvalidKeyInfo(_))));
        assert!(matches!(wrap_secret(b"", &info, PASSPHRASE, KdfParams::FOR_TESTS), Err(SealError::InvalidKeyInfo(_))));
    }
}
