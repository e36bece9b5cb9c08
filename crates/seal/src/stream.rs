//! Sealed attachments: a file sealed to the tenant key in chunks, so a
//! 20 MB scan is sealed (and opened) as it streams, never whole in memory.
//!
//! One HPKE context per file; each chunk of [`CHUNK`] bytes is sealed with
//! the context's next nonce (so chunks cannot be reordered, dropped or
//! repeated), and its associated data ends with a flag saying whether it is
//! the last (so the file cannot be cut short). Written here rather than
//! taken from a crate: the age/STREAM crates use their own key formats,
//! and attachments must open with the same tenant key as records.
//!
//! Format: `MDGSA1`, key id and encapsulated key (each u16-length
//! prefixed), then the chunks, each `CHUNK + 16` bytes except the last
//! (`16..=CHUNK + 16`: an empty file is one empty last chunk).

use hpke::{aead::AeadCtxR, aead::AeadCtxS, aead::ChaCha20Poly1305, kdf::HkdfSha256, Deserializable, Kem};
use hpke::{OpModeR, OpModeS, Serializable};

use crate::keys::{KemT, KeyId, TenantPrivateKey, TenantPublicKey};
use crate::SealError;

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const INFO: &[u8] = b"madoguchi sealed attachment v1";
const MAGIC: &[u8; 6] = b"MDGSA1";

/// What an attachment belongs to: sealed before its submission has a
/// 到達番号, it is bound to the tenant, the form and its own random id; the
/// submission's sealed record names that id and the sealed file's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentBinding {
    pub tenant: String,
    pub form_id: String,
    pub attachment_id: String,
}

impl AttachmentBinding {
    pub fn new(tenant: &str, form_id: &str, attachment_id: &str) -> Self {
        AttachmentBinding { tenant: tenant.into(), form_id: form_id.into(), attachment_id: attachment_id.into() }
    }

    fn associated_data(&self, last: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        for part in [self.tenant.as_str(), self.form_id.as_str(), self.attachment_id.as_str()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out.push(u8::from(last));
        out
    }
}

/// Seals a file as it arrives: `push` what was read, write out what it
/// returns, and `finish` once at the end.
pub struct StreamSealer {
    ctx: AeadCtxS<ChaCha20Poly1305, HkdfSha256, KemT>,
    binding: AttachmentBinding,
    pending: Vec<u8>,
}

impl StreamSealer {
    /// The sealer and the header to write first.
    pub fn new(key: &TenantPublicKey, binding: &AttachmentBinding) -> Result<(StreamSealer, Vec<u8>), SealError> {
        let (encapped, ctx) = hpke::setup_sender::<ChaCha20Poly1305, HkdfSha256, KemT, _>(
            &OpModeS::Base,
            &key.key,
            INFO,
            &mut rand::rngs::OsRng,
        )
        .map_err(|_| SealError::Seal)?;
        let key_id = key.id().as_str().as_bytes();
        let encapped = encapped.to_bytes();
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&(key_id.len() as u16).to_be_bytes());
        header.extend_from_slice(key_id);
        header.extend_from_slice(&(encapped.len() as u16).to_be_bytes());
        header.extend_from_slice(&encapped);
        Ok((StreamSealer { ctx, binding: binding.clone(), pending: Vec::with_capacity(CHUNK + 1) }, header))
    }

    /// Takes more of the file; returns the sealed chunks now complete. A
    /// full chunk is held back until a byte after it arrives, since the
    /// last chunk must be marked as last.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let room = CHUNK + 1 - self.pending.len();
            let take = room.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() > CHUNK {
                let rest = self.pending.split_off(CHUNK);
                let sealed = self.ctx.seal(&self.pending, &self.binding.associated_data(false));
                out.extend_from_slice(&sealed.map_err(|_| SealError::Seal)?);
                self.pending = rest;
                self.pending.reserve(CHUNK + 1);
            }
        }
        Ok(out)
    }

    /// Seals what is left as the last chunk.
    pub fn finish(mut self) -> Result<Vec<u8>, SealError> {
        self.ctx.seal(&self.pending, &self.binding.associated_data(true)).map_err(|_| SealError::Seal)
    }
}

/// Opens a sealed file as it is read back: `push` the sealed bytes, use
/// the plaintext returned, and `finish` to learn whether the file was whole.
/// Plaintext returned before `finish` is authentic but may not be the whole
/// file: callers must not treat it as complete until `finish` succeeds.
pub struct StreamOpener {
    ctx: Option<AeadCtxR<ChaCha20Poly1305, HkdfSha256, KemT>>,
    /// The keys it may be sealed to (a desk holds every generation).
    keys: Vec<TenantPrivateKey>,
    binding: AttachmentBinding,
    pending: Vec<u8>,
}

impl StreamOpener {
    pub fn new(key: &TenantPrivateKey, binding: &AttachmentBinding) -> StreamOpener {
        StreamOpener::among([key], binding)
    }

    /// Opens with whichever of `keys` the file names in its header.
    pub fn among<'k>(
        keys: impl IntoIterator<Item = &'k TenantPrivateKey>,
        binding: &AttachmentBinding,
    ) -> StreamOpener {
        let keys = keys.into_iter().cloned().collect();
        StreamOpener { ctx: None, keys, binding: binding.clone(), pending: Vec::new() }
    }

    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, SealError> {
        self.pending.extend_from_slice(data);
        if self.ctx.is_none() && !self.read_header()? {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        // A whole chunk is known not to be the last once a byte follows it.
        while self.pending.len() > CHUNK + TAG {
            let rest = self.pending.split_off(CHUNK + TAG);
            let ctx = self.ctx.as_mut().ok_or(SealError::MalformedRecord)?;
            let plain = ctx.open(&self.pending, &self.binding.associated_data(false)).map_err(|_| SealError::Open)?;
            out.extend_from_slice(&plain);
            self.pending = rest;
        }
        Ok(out)
    }

    /// Opens the last chunk; fails if the file was cut short or altered.
    pub fn finish(mut self) -> Result<Vec<u8>, SealError> {
        if self.ctx.is_none() && !self.read_header()? {
            return Err(SealError::MalformedRecord);
        }
        let ctx = self.ctx.as_mut().ok_or(SealError::MalformedRecord)?;
        ctx.open(&self.pending, &self.binding.associated_data(true)).map_err(|_| SealError::Open)
    }

    /// Reads the header once enough bytes are here; `false` while waiting.
    fn read_header(&mut self) -> Result<bool, SealError> {
        let Some(rest) = self.pending.strip_prefix(MAGIC.as_slice()) else {
            return if self.pending.len() < MAGIC.len() && MAGIC.starts_with(&self.pending) {
                Ok(false)
            } else {
                Err(SealError::MalformedRecord)
            };
        };
        let Some((key_id, rest)) = prefixed(rest) else { return Ok(false) };
        let Some((encapped, _)) = prefixed(rest) else { return Ok(false) };
        let key_id = std::str::from_utf8(key_id).map_err(|_| SealError::MalformedRecord)?;
        let key_id = KeyId::parse(key_id).map_err(|_| SealError::MalformedRecord)?;
        let Some(key) = self.keys.iter().find(|k| k.id() == &key_id) else {
            let given = self.keys.first().map(|k| k.id().clone()).ok_or(SealError::MalformedRecord)?;
            return Err(SealError::WrongKey { sealed_to: key_id, given });
        };
        let encapped = <KemT as Kem>::EncappedKey::from_bytes(encapped).map_err(|_| SealError::MalformedRecord)?;
        let ctx = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, KemT>(&OpModeR::Base, &key.key, &encapped, INFO)
            .map_err(|_| SealError::Open)?;
        let header_len = MAGIC.len() + 4 + key_id.as_str().len() + encapped.to_bytes().len();
        self.pending.drain(..header_len);
        self.ctx = Some(ctx);
        Ok(true)
    }
}

fn prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    let len = u16::from_be_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The size of a sealed file of `plain` bytes (header aside).
pub fn sealed_len(plain: u64) -> u64 {
    let chunks = plain.div_ceil(CHUNK as u64).max(1);
    plain + chunks * TAG as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantKeyPair;

    fn binding() -> AttachmentBinding {
        AttachmentBinding::new("aoba-city", "water-start", "att-0123")
    }

    /// Seals `data` fed in pieces of `step` bytes.
    fn seal_all(pair: &TenantKeyPair, data: &[u8], step: usize) -> Vec<u8> {
        let (mut sealer, mut out) = StreamSealer::new(&pair.public, &binding()).unwrap();
        for piece in data.chunks(step.max(1)) {
            out.extend(sealer.push(piece).unwrap());
        }
        out.extend(sealer.finish().unwrap());
        out
    }

    fn open_all(pair: &TenantKeyPair, sealed: &[u8], step: usize) -> Result<Vec<u8>, SealError> {
        let mut opener = StreamOpener::new(&pair.private, &binding());
        let mut out = Vec::new();
        for piece in sealed.chunks(step.max(1)) {
            out.extend(opener.push(piece)?);
        }
        out.extend(opener.finish()?);
        Ok(out)
    }

    #[test]
    fn files_of_every_awkward_size_round_trip_in_any_pieces() {
        let pair = TenantKeyPair::generate();
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            for step in [1000, CHUNK, 7 * CHUNK] {
                let sealed = seal_all(&pair, &data, step);
                let header = MAGIC.len() + 4 + pair.public.id().as_str().len() + 32;
                assert_eq!(sealed.len() as u64, header as u64 + sealed_len(size as u64), "size {size}");
                assert_eq!(open_all(&pair, &sealed, step + 3).unwrap(), data, "size {size}, step {step}");
            }
        }
    }

    #[test]
    fn a_cut_reordered_or_altered_file_does_not_open() {
        let pair = TenantKeyPair::generate();
        let data = vec![42u8; 3 * CHUNK + 5];
        let sealed = seal_all(&pair, &data, CHUNK);
        let header = sealed.len() - sealed_len(data.len() as u64) as usize;
        // Cut at a chunk boundary: the last whole chunk was not sealed as last.
        let cut = &sealed[..header + 2 * (CHUNK + TAG)];
        assert!(matches!(open_all(&pair, cut, 4096), Err(SealError::Open)));
        // Two chunks swapped.
        let mut swapped = sealed.clone();
        let (a, b) = (header, header + CHUNK + TAG);
        let first: Vec<u8> = swapped[a..b].to_vec();
        swapped.copy_within(b..b + CHUNK + TAG, a);
        swapped[b..b + CHUNK + TAG].copy_from_slice(&first);
        assert!(open_all(&pair, &swapped, 4096).is_err());
        let mut flipped = sealed.clone();
        flipped[header + CHUNK + 100] ^= 1;
        assert!(open_all(&pair, &flipped, 4096).is_err());
        // Another attachment's binding, or another key.
        let other = AttachmentBinding { attachment_id: "att-9999".into(), ..binding() };
        let mut opener = StreamOpener::new(&pair.private, &other);
        assert!(opener.push(&sealed).is_err() || opener.finish().is_err());
        let stranger = TenantKeyPair::generate();
        assert!(matches!(open_all(&stranger, &sealed, 4096), Err(SealError::WrongKey { .. })));
        assert!(open_all(&pair, b"not a sealed file at all", 4).is_err());
    }

    #[test]
    fn the_sealed_file_does_not_contain_the_plaintext() {
        let pair = TenantKeyPair::generate();
        let data = "住民票の写し 山田太郎".repeat(5000).into_bytes();
        let sealed = seal_all(&pair, &data, 10_000);
        assert!(!sealed.windows(12).any(|w| w == &"山田太郎".as_bytes()[..12]));
    }
}
