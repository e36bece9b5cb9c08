//! JPKI: verifying a signature made with a マイナンバーカード's
//! 署名用電子証明書 (the card's signing certificate).
//!
//! [`verify`] takes a CMS/PKCS#7 SignedData (DER or PEM, detached or with
//! the content attached), checks the signature over exactly the content the
//! caller expects, the signer's chain to one of the configured trust
//! anchors at the time the caller passes, the signer's key usage, and
//! revocation (CRLs in [`Trust`], or OCSP through [`Signer::check_ocsp`]).
//! It returns a [`Signer`] whose [`VerifiedPerson`] holds the stable
//! identity (`jpki:{issuer}:{serial}`), the birth date and the address
//! read from the certificate's subjectAltName; the holder's name and sex are
//! never read. OpenSSL does the cryptography and path validation, with the
//! verification time set from the caller's `at_unix` (never the clock).
//!
//! The certificate itself carries the holder's 基本4情報, so a [`Signer`]
//! does not hand it out and its `Debug` shows none of it.

mod attributes;
#[cfg(any(test, feature = "test-pki"))]
pub mod test_pki;
#[cfg(test)]
mod tests;

use std::fmt;

use openssl::asn1::Asn1Time;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse, OcspResponseStatus};
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{CrlStatus, X509Crl, X509KeyUsage, X509StoreContext, X509VerifyResult, X509};
use openssl_sys as ffi;

use crate::VerifiedPerson;

/// How far an OCSP response's thisUpdate may lie ahead of the caller's
/// time, and how long a response without nextUpdate stays usable: five
/// minutes, for the clocks of the responder and the caller.
pub const OCSP_CLOCK_SKEW_SECS: i64 = 300;

/// Why a signature, a certificate or an OCSP response was refused.
///
/// The `Display` text is plain English for operators' logs;
/// [`JpkiError::message_ja`] and [`JpkiError::message_en`] are for the
/// resident. None of them ever contains personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpkiError {
    /// Not a CMS/PKCS#7 SignedData, or not one this verifier can read.
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// The signature does not verify over the content (tampered content, a
    /// tampered signature, or attached content that differs).
    #[error("the signature does not verify over the content")]
    BadSignature,
    /// The signer's chain does not end at a configured trust anchor.
    #[error("the signer's certificate does not chain to a configured trust anchor")]
    UnknownAnchor,
    /// A certificate of the chain had expired at the time of verification.
    #[error("a certificate of the chain has expired")]
    Expired,
    /// A certificate of the chain was not yet valid at the time of verification.
    #[error("a certificate of the chain is not yet valid")]
    NotYetValid,
    /// The chain is broken in another way (the message is OpenSSL's).
    #[error("the certificate chain is invalid: {0}")]
    ChainInvalid(&'static str),
    /// A certificate of the chain is revoked (CRL or OCSP).
    #[error("a certificate of the chain is revoked")]
    Revoked,
    /// No CRL of a certificate's issuer is current at the time of
    /// verification (missing, stale, or not yet valid).
    #[error("no current revocation list for a certificate's issuer")]
    NoRevocationInfo,
    /// The OCSP response cannot be used.
    #[error("unusable OCSP response: {0}")]
    OcspFailed(String),
    /// The signer's certificate is not for signatures (its key usage has
    /// neither digitalSignature nor nonRepudiation).
    #[error("the signer's certificate is not for signatures (key usage)")]
    UnsuitableCertificate,
    /// The trust anchors, intermediates or CRLs given to [`Trust::new`]
    /// cannot be used.
    #[error("invalid trust configuration: {0}")]
    InvalidTrust(String),
    /// OpenSSL failed where it should not.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl JpkiError {
    /// A sentence for the resident, in Japanese.
    pub fn message_ja(&self) -> &'static str {
        match self {
            JpkiError::Malformed(_) => {
                "署名のファイルを読み取れません。マイナンバーカードで署名したファイルを選んでください。"
            }
            JpkiError::BadSignature => "署名が確認できません。署名したファイルと回答の内容が一致しません。",
            JpkiError::UnknownAnchor | JpkiError::ChainInvalid(_) => {
                "この電子証明書は、公的個人認証サービスの署名用電子証明書として確認できません。"
            }
            JpkiError::Expired => "電子証明書の有効期限が切れています。",
            JpkiError::NotYetValid => "電子証明書の有効期間がまだ始まっていません。",
            JpkiError::Revoked => "電子証明書が失効しています。",
            JpkiError::NoRevocationInfo | JpkiError::OcspFailed(_) => {
                "電子証明書が失効していないことを、いま確認できません。しばらくしてからお試しください。"
            }
            JpkiError::UnsuitableCertificate => {
                "この電子証明書は署名には使えません。署名用電子証明書で署名してください。"
            }
            JpkiError::InvalidTrust(_) | JpkiError::Internal(_) => {
                "システムの問題で電子署名を確認できません。お手数ですが、お問い合わせ窓口にご連絡ください。"
            }
        }
    }

    /// A sentence for the resident, in English.
    pub fn message_en(&self) -> &'static str {
        match self {
            JpkiError::Malformed(_) => {
                "The signature file cannot be read. Please choose the file you signed with your My Number Card."
            }
            JpkiError::BadSignature => "The signature cannot be confirmed: the signed file does not match the answers.",
            JpkiError::UnknownAnchor | JpkiError::ChainInvalid(_) => {
                "This certificate cannot be confirmed as a JPKI signing certificate."
            }
            JpkiError::Expired => "The certificate has expired.",
            JpkiError::NotYetValid => "The certificate is not valid yet.",
            JpkiError::Revoked => "The certificate has been revoked.",
            JpkiError::NoRevocationInfo | JpkiError::OcspFailed(_) => {
                "We cannot confirm right now that the certificate has not been revoked. Please try again later."
            }
            JpkiError::UnsuitableCertificate => {
                "This certificate cannot be used for signatures. Please sign with the signing certificate."
            }
            JpkiError::InvalidTrust(_) | JpkiError::Internal(_) => {
                "The signature cannot be checked because of a problem on our side. Please contact the help desk."
            }
        }
    }
}

fn internal(_: ErrorStack) -> JpkiError {
    JpkiError::Internal("the cryptographic library failed")
}

/// What a signer's chain is checked against: the trust anchors (root CAs),
/// the intermediates, and the CRLs.
pub struct Trust {
    anchors: Vec<X509>,
    intermediates: Vec<X509>,
    crls: Vec<X509Crl>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("anchors", &self.anchors.len())
            .field("intermediates", &self.intermediates.len())
            .field("crls", &self.crls.len())
            .finish()
    }
}

impl Trust {
    /// anchors: PEM bundle of trust anchors (self-signed root CAs);
    /// intermediates: PEM bundle (may be empty; a signature's own
    /// certificates are also used to build the chain); crls: each a CRL in
    /// PEM or DER. Delta and partitioned CRLs (deltaCRLIndicator,
    /// issuingDistributionPoint) are refused: each CRL must cover every
    /// certificate of its issuer.
    pub fn new(anchors_pem: &[u8], intermediates_pem: &[u8], crls: &[Vec<u8>]) -> Result<Trust, JpkiError> {
        let anchors = X509::stack_from_pem(anchors_pem)
            .map_err(|_| JpkiError::InvalidTrust("the trust anchors are not a PEM bundle of certificates".into()))?;
        if anchors.is_empty() {
            return Err(JpkiError::InvalidTrust("no trust anchor".into()));
        }
        let intermediates = X509::stack_from_pem(intermediates_pem)
            .map_err(|_| JpkiError::InvalidTrust("the intermediates are not a PEM bundle of certificates".into()))?;
        let crls = crls
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let crl = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
                    X509Crl::from_pem(bytes)
                } else {
                    X509Crl::from_der(bytes)
                }
                .map_err(|_| JpkiError::InvalidTrust(format!("CRL {} is not a CRL in PEM or DER", i + 1)))?;
                let der = crl.to_der().map_err(internal)?;
                if attributes::crl_is_partial(&der)
                    .map_err(|_| JpkiError::InvalidTrust(format!("CRL {} cannot be read", i + 1)))?
                {
                    return Err(JpkiError::InvalidTrust(format!("CRL {} is a delta or partitioned CRL", i + 1)));
                }
                Ok(crl)
            })
            .collect::<Result<Vec<_>, JpkiError>>()?;
        Ok(Trust { anchors, intermediates, crls })
    }

    /// A store of the anchors whose verification time is `at_unix`.
    fn store_at(&self, at_unix: i64) -> Result<X509Store, JpkiError> {
        let mut store = X509StoreBuilder::new().map_err(internal)?;
        for anchor in &self.anchors {
            store.add_cert(anchor.clone()).map_err(internal)?;
        }
        let mut param = X509VerifyParam::new().map_err(internal)?;
        param.set_time(at_unix as _);
        // 112-bit security (RSA >= 2048, no SHA-1 signatures), as JPKI's
        // RSA-2048/SHA-256 certificates have.
        param.set_auth_level(2);
        store.set_param(&param).map_err(internal)?;
        Ok(store.build())
    }

    /// The configured CRLs issued by `issuer` (name and signature).
    fn crls_of<'a>(&'a self, issuer: &'a X509) -> impl Iterator<Item = &'a X509Crl> + 'a {
        let key = issuer.public_key().ok();
        self.crls.iter().filter(move |crl| {
            let named = crl.issuer_name().try_cmp(issuer.subject_name()).is_ok_and(|o| o.is_eq());
            named && key.as_ref().is_some_and(|key| crl.verify(key).unwrap_or(false))
        })
    }
}

/// How the signer's own certificate is checked for revocation.
/// Intermediates are always checked against the CRLs of their issuer when
/// such a CRL is configured (and must then have a current one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Every certificate below the anchor must have a current CRL of its
    /// issuer (thisUpdate <= at < nextUpdate) that does not list it.
    Crl,
    /// The signer's certificate is checked by the caller, who fetches an
    /// OCSP response for [`Signer::ocsp_request`] and passes it to
    /// [`Signer::check_ocsp`]; `verify` itself does not check it.
    Ocsp,
}

/// The outcome of a verified signature: the person, and what is needed to
/// ask an OCSP responder about their certificate.
pub struct Signer {
    pub person: VerifiedPerson,
    certificate: X509,
    issuer: X509,
    ocsp_url: Option<String>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("person", &self.person).field("ocsp_url", &self.ocsp_url).finish()
    }
}

impl Signer {
    /// The OCSP responder named in the certificate's authorityInfoAccess.
    pub fn ocsp_url(&self) -> Option<&str> {
        self.ocsp_url.as_deref()
    }

    /// A DER OCSPRequest for the signer's certificate (CertID with SHA-1,
    /// which every responder accepts), to POST as
    /// `application/ocsp-request`.
    ///
    /// It has no nonce: this crate has no randomness and no clock, and the
    /// response's freshness is judged by its thisUpdate/nextUpdate against
    /// the caller's time in [`Signer::check_ocsp`]; large responders serve
    /// pre-produced responses and ignore nonces anyway, so a replayed
    /// response is only ever as good as its validity window.
    pub fn ocsp_request(&self) -> Result<Vec<u8>, JpkiError> {
        let mut request = OcspRequest::new().map_err(internal)?;
        request.add_id(self.cert_id()?).map_err(internal)?;
        request.to_der().map_err(internal)
    }

    fn cert_id(&self) -> Result<OcspCertId, JpkiError> {
        OcspCertId::from_cert(MessageDigest::sha1(), &self.certificate, &self.issuer).map_err(internal)
    }

    /// Checks an OCSP response (DER) for the signer's certificate at
    /// `at_unix`: signed by the certificate's issuer or by a responder the
    /// issuer delegated (id-kp-OCSPSigning), chaining to a trust anchor at
    /// that time; status good; thisUpdate no later than
    /// [`OCSP_CLOCK_SKEW_SECS`] after `at_unix`, and `at_unix` before
    /// nextUpdate (without nextUpdate: within the skew of thisUpdate).
    pub fn check_ocsp(&self, trust: &Trust, response_der: &[u8], at_unix: i64) -> Result<(), JpkiError> {
        let failed = |why: &str| JpkiError::OcspFailed(why.to_owned());
        let response = OcspResponse::from_der(response_der).map_err(|_| failed("not an OCSP response"))?;
        let status = response.status();
        if status != OcspResponseStatus::SUCCESSFUL {
            return Err(JpkiError::OcspFailed(format!("the responder refused (status {})", status.as_raw())));
        }
        let basic = response.basic().map_err(|_| failed("not a basic OCSP response"))?;
        let store = trust.store_at(at_unix)?;
        let mut certs = Stack::new().map_err(internal)?;
        certs.push(self.issuer.clone()).map_err(internal)?;
        for intermediate in &trust.intermediates {
            certs.push(intermediate.clone()).map_err(internal)?;
        }
        basic
            .verify(&certs, &store, OcspFlag::empty())
            .map_err(|_| failed("the response is not signed by the certificate's issuer or its delegated responder"))?;
        let id = self.cert_id()?;
        let single = basic.find_status(&id).ok_or_else(|| failed("the response does not cover this certificate"))?;
        if single.status == OcspCertStatus::REVOKED {
            return Err(JpkiError::Revoked);
        }
        if single.status != OcspCertStatus::GOOD {
            return Err(failed("the responder does not know this certificate"));
        }
        let this_update = attributes::generalized_time_unix(&single.this_update.to_string())
            .ok_or_else(|| failed("unreadable thisUpdate"))?;
        if this_update > at_unix.saturating_add(OCSP_CLOCK_SKEW_SECS) {
            return Err(failed("the response is not valid yet (thisUpdate)"));
        }
        let fresh_until = match single.next_update() {
            Some(next) => {
                attributes::generalized_time_unix(&next.to_string()).ok_or_else(|| failed("unreadable nextUpdate"))?
            }
            None => this_update.saturating_add(OCSP_CLOCK_SKEW_SECS),
        };
        if at_unix >= fresh_until {
            return Err(failed("the response is stale (nextUpdate)"));
        }
        Ok(())
    }
}

/// Verifies `signature` (CMS/PKCS#7 SignedData, DER or PEM; detached, or
/// attached whose content must equal `content`) over exactly `content`, the
/// signer certificate's chain to one of the trust anchors at time
/// `at_unix` (every certificate valid at that time), key usage
/// digitalSignature or nonRepudiation on the signer, and revocation: with
/// [`Revocation::Crl`] every non-anchor certificate by a CRL signed by its
/// issuer that is current at `at_unix` (thisUpdate <= at < nextUpdate; a
/// missing or stale CRL is an error, not a pass); with
/// [`Revocation::Ocsp`] the intermediates only where their issuer's CRL is
/// configured, the signer being left to [`Signer::check_ocsp`].
///
/// Exactly one signer is accepted. The checks run in that order, so the
/// error is the first that fails.
pub fn verify(
    trust: &Trust,
    signature: &[u8],
    content: &[u8],
    at_unix: i64,
    revocation: Revocation,
) -> Result<Signer, JpkiError> {
    let p7 = parse(signature)?;
    let signed = p7.signed().ok_or(JpkiError::Malformed("not a SignedData"))?;
    let carried: Vec<X509> =
        signed.certificates().map(|s| s.iter().map(ToOwned::to_owned).collect()).unwrap_or_default();
    let none = Stack::<X509>::new().map_err(internal)?;
    let signers = p7
        .signers(&none, Pkcs7Flags::empty())
        .map_err(|_| JpkiError::Malformed("the signature does not carry its signer's certificate"))?;
    let certificate = match signers.iter().collect::<Vec<_>>().as_slice() {
        [one] => (*one).to_owned(),
        _ => return Err(JpkiError::Malformed("not exactly one signer")),
    };
    check_signature(&p7, content)?;
    let chain = validate_chain(trust, &certificate, &carried, at_unix)?;
    check_key_usage(&certificate)?;
    check_revocation(trust, &chain, at_unix, revocation)?;

    let der = certificate.to_der().map_err(internal)?;
    let holder = attributes::holder(&der)?;
    let serial = certificate.serial_number().to_bn().and_then(|bn| bn.to_hex_str()).map_err(internal)?;
    let person = zeroize::Zeroizing::new(format!("jpki:{}:{}", holder.issuer, &*serial));
    let ocsp_url = certificate.ocsp_responders().ok().and_then(|urls| urls.iter().next().map(|u| u.to_string()));
    let issuer = chain[1].clone();
    Ok(Signer {
        person: VerifiedPerson { person, birth_date: holder.birth_date, address: holder.address },
        certificate,
        issuer,
        ocsp_url,
    })
}

/// DER, or PEM with a PKCS7 or CMS header.
fn parse(signature: &[u8]) -> Result<Pkcs7, JpkiError> {
    const NOT_CMS: JpkiError = JpkiError::Malformed("not a CMS/PKCS#7 signature");
    if signature.trim_ascii_start().starts_with(b"-----BEGIN") {
        // `CmsContentInfo` reads both "PKCS7" and "CMS" PEM headers.
        let der =
            openssl::cms::CmsContentInfo::from_pem(signature).and_then(|cms| cms.to_der()).map_err(|_| NOT_CMS)?;
        Pkcs7::from_der(&der).map_err(|_| NOT_CMS)
    } else {
        Pkcs7::from_der(signature).map_err(|_| NOT_CMS)
    }
}

/// The signature alone, over exactly `content`: detached, verified over
/// `content`; attached, verified over its own content, which must then be
/// `content` byte for byte. `NO_DUAL_CONTENT` keeps OpenSSL from verifying
/// an attached signature over `content` while it carries something else.
fn check_signature(p7: &Pkcs7, content: &[u8]) -> Result<(), JpkiError> {
    let store = X509StoreBuilder::new().map_err(internal)?.build();
    let none = Stack::<X509>::new().map_err(internal)?;
    // NOVERIFY: the chain is validated separately, at the caller's time.
    let flags = Pkcs7Flags::NOVERIFY | Pkcs7Flags::BINARY | Pkcs7Flags::NO_DUAL_CONTENT;
    if p7.verify(&none, &store, Some(content), None, flags).is_ok() {
        return Ok(());
    }
    let mut carried = Vec::new();
    match p7.verify(&none, &store, None, Some(&mut carried), flags) {
        Ok(()) if carried == content => Ok(()),
        _ => Err(JpkiError::BadSignature),
    }
}

/// The verified chain, signer first and anchor last.
fn validate_chain(trust: &Trust, certificate: &X509, carried: &[X509], at_unix: i64) -> Result<Vec<X509>, JpkiError> {
    let store = trust.store_at(at_unix)?;
    let mut untrusted = Stack::new().map_err(internal)?;
    for cert in trust.intermediates.iter().chain(carried) {
        untrusted.push(cert.clone()).map_err(internal)?;
    }
    let mut context = X509StoreContext::new().map_err(internal)?;
    let (verified, result, chain) = context
        .init(&store, certificate, &untrusted, |context| {
            let verified = context.verify_cert()?;
            let chain: Vec<X509> =
                context.chain().map(|chain| chain.iter().map(ToOwned::to_owned).collect()).unwrap_or_default();
            Ok((verified, context.error(), chain))
        })
        .map_err(internal)?;
    if !verified {
        return Err(chain_error(result));
    }
    if chain.len() < 2 {
        // The signer's certificate is itself an anchor: not a card's.
        return Err(JpkiError::UnknownAnchor);
    }
    Ok(chain)
}

fn chain_error(result: X509VerifyResult) -> JpkiError {
    match result.as_raw() {
        ffi::X509_V_ERR_CERT_HAS_EXPIRED => JpkiError::Expired,
        ffi::X509_V_ERR_CERT_NOT_YET_VALID => JpkiError::NotYetValid,
        ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
        | ffi::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | ffi::X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
        | ffi::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
        | ffi::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        | ffi::X509_V_ERR_CERT_UNTRUSTED => JpkiError::UnknownAnchor,
        _ => JpkiError::ChainInvalid(result.error_string()),
    }
}

fn check_key_usage(certificate: &X509) -> Result<(), JpkiError> {
    match certificate.key_usage() {
        Some(usage) if usage.intersects(X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::NON_REPUDIATION) => Ok(()),
        _ => Err(JpkiError::UnsuitableCertificate),
    }
}

fn check_revocation(trust: &Trust, chain: &[X509], at_unix: i64, revocation: Revocation) -> Result<(), JpkiError> {
    let at = Asn1Time::from_unix(at_unix as _).map_err(internal)?;
    for (depth, pair) in chain.windows(2).enumerate() {
        let [certificate, issuer] = pair else { continue };
        let mut crls = trust.crls_of(issuer).peekable();
        let required = match revocation {
            Revocation::Crl => true,
            // The signer's certificate is for OCSP; intermediates only
            // where their issuer's CRL is configured.
            Revocation::Ocsp => depth > 0 && crls.peek().is_some(),
        };
        if !required {
            continue;
        }
        let current: Vec<&X509Crl> =
            crls.filter(|crl| crl.last_update() <= at && crl.next_update().is_some_and(|next| at < *next)).collect();
        if current.is_empty() {
            return Err(JpkiError::NoRevocationInfo);
        }
        if current.iter().any(|crl| matches!(crl.get_by_cert(certificate), CrlStatus::Revoked(_))) {
            return Err(JpkiError::Revoked);
        }
    }
    Ok(())
}
