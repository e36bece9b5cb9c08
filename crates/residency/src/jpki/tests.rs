//! The JPKI verifier's behaviour, against the test hierarchy.

use std::io::{Read, Write};

use time::macros::date;

use super::test_pki::{CardOptions, TestCard, TestPerson, TestPki};
use super::*;
use crate::{Facts, Requirement};

/// 2026-12-06T00:00:00Z: the time of every verification that does not
/// involve OpenSSL's OCSP responder (which stamps responses with the clock).
const NOW: i64 = 1_796_515_200;
const DAY: i64 = 86_400;
const ANSWERS: &[u8] = br#"{"q1":"yes","q2":"3"}"#;

fn crls_now(pki: &TestPki) -> Vec<Vec<u8>> {
    pki.crls(NOW - DAY, NOW + DAY)
}

fn trust(pki: &TestPki) -> Trust {
    Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &crls_now(pki)).unwrap()
}

fn card(pki: &TestPki) -> TestCard {
    pki.issue(&TestPerson::sample(), NOW - 365 * DAY, NOW + 4 * 365 * DAY)
}

fn verify_now(trust: &Trust, signature: &[u8]) -> Result<Signer, JpkiError> {
    verify(trust, signature, ANSWERS, NOW, Revocation::Crl)
}

fn real_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn trust_and_signer_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Trust>();
    shared::<Signer>();
    shared::<TestPki>();
}

#[test]
fn a_valid_detached_signature_yields_the_person_their_birth_date_and_address() {
    let pki = TestPki::new("detached");
    let card = card(&pki);
    let signer = verify_now(&trust(&pki), &card.sign(&pki, ANSWERS)).unwrap();

    let expected = format!("jpki:CN=JPKI Test Sign CA,O=JPKI Test detached,C=JP:{}", card.serial_hex());
    assert_eq!(*signer.person.person, expected);
    assert_eq!(signer.person.birth_date, Some(date!(1980 - 02 - 17)));
    assert_eq!(signer.person.address.as_deref().map(String::as_str), Some("みどり県青葉市本町一丁目２番３号"));
    assert_eq!(signer.ocsp_url(), None);

    let today = date!(2026 - 12 - 06);
    assert_eq!(signer.person.facts("みどり県青葉市", today), Facts { resident: true, adult: true });
    assert_eq!(signer.person.facts("みどり県若葉市", today), Facts { resident: false, adult: true });
    assert_eq!(
        signer.person.facts("みどり県若葉市", today).meets(&[Requirement::Adult, Requirement::Resident]),
        Err(Requirement::Resident)
    );
}

#[test]
fn the_same_card_always_gives_the_same_person_and_another_card_another() {
    let pki = TestPki::new("stable");
    let (first, second) = (card(&pki), card(&pki));
    let trust = trust(&pki);
    let a = verify_now(&trust, &first.sign(&pki, ANSWERS)).unwrap();
    let b = verify_now(&trust, &first.sign(&pki, b"other answers")).err();
    assert_eq!(b, Some(JpkiError::BadSignature), "signed other content than ANSWERS");
    let again = verify(&trust, &first.sign(&pki, b"other answers"), b"other answers", NOW, Revocation::Crl).unwrap();
    let other = verify_now(&trust, &second.sign(&pki, ANSWERS)).unwrap();
    assert_eq!(a.person.person, again.person.person);
    assert_ne!(a.person.person, other.person.person);
}

#[test]
fn neither_debug_nor_errors_show_the_name_address_or_birth_date() {
    let pki = TestPki::new("debug");
    let card = card(&pki);
    let signer = verify_now(&trust(&pki), &card.sign(&pki, ANSWERS)).unwrap();
    let shown = format!("{:?} {:?}", signer.person, signer);
    for secret in ["青葉", "花子", "みどり", "本町", "1980", "19800217", &card.serial_hex()] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("jpki"), "{shown}");
}

#[test]
fn an_attached_signature_verifies_when_it_carries_exactly_the_content() {
    let pki = TestPki::new("attached");
    let card = card(&pki);
    let signature = card.sign_attached(&pki, ANSWERS);
    let signer = verify_now(&trust(&pki), &signature).unwrap();
    assert_eq!(signer.person.birth_date, Some(date!(1980 - 02 - 17)));
    // The content it carries is not the content we were given.
    let refused = verify(&trust(&pki), &signature, b"{\"q1\":\"no\"}", NOW, Revocation::Crl);
    assert_eq!(refused.err(), Some(JpkiError::BadSignature));
}

#[test]
fn a_pem_signature_is_read_like_der() {
    let pki = TestPki::new("pem");
    let card = card(&pki);
    let der = card.sign(&pki, ANSWERS);
    let pem = openssl::pkcs7::Pkcs7::from_der(&der).unwrap().to_pem().unwrap();
    assert!(pem.starts_with(b"-----BEGIN PKCS7-----"));
    verify_now(&trust(&pki), &pem).unwrap();
    let cms = String::from_utf8(pem).unwrap().replace("PKCS7", "CMS");
    verify_now(&trust(&pki), cms.as_bytes()).unwrap();
}

#[test]
fn the_chain_may_come_from_the_signature_alone() {
    let pki = TestPki::new("carried");
    let card = card(&pki);
    let trust = Trust::new(&pki.anchors_pem(), b"", &crls_now(&pki)).unwrap();
    verify_now(&trust, &card.sign(&pki, ANSWERS)).unwrap();
}

#[test]
fn one_changed_byte_of_content_breaks_the_signature() {
    let pki = TestPki::new("content");
    let signature = card(&pki).sign(&pki, ANSWERS);
    let mut tampered = ANSWERS.to_vec();
    tampered[8] ^= 0x01;
    assert_eq!(verify(&trust(&pki), &signature, &tampered, NOW, Revocation::Crl).err(), Some(JpkiError::BadSignature));
}

#[test]
fn a_flipped_byte_in_the_signature_value_breaks_the_signature() {
    let pki = TestPki::new("value");
    let mut signature = card(&pki).sign(&pki, ANSWERS);
    // The RSA-2048 signature value: OCTET STRING of 256 bytes, the last one.
    let at = signature.windows(4).rposition(|w| w == [0x04, 0x82, 0x01, 0x00]).unwrap();
    assert_eq!(signature.len() - (at + 4), 256, "the signature value ends the SignedData");
    signature[at + 4 + 100] ^= 0x80;
    assert_eq!(verify_now(&trust(&pki), &signature).err(), Some(JpkiError::BadSignature));
}

#[test]
fn an_expired_certificate_is_refused() {
    let pki = TestPki::new("expired");
    let card = pki.issue(&TestPerson::sample(), NOW - 6 * 365 * DAY, NOW - DAY);
    assert_eq!(verify_now(&trust(&pki), &card.sign(&pki, ANSWERS)).err(), Some(JpkiError::Expired));
}

#[test]
fn a_certificate_not_yet_valid_is_refused() {
    let pki = TestPki::new("early");
    let card = pki.issue(&TestPerson::sample(), NOW + DAY, NOW + 365 * DAY);
    assert_eq!(verify_now(&trust(&pki), &card.sign(&pki, ANSWERS)).err(), Some(JpkiError::NotYetValid));
}

#[test]
fn validity_is_judged_at_the_callers_time_not_the_clock() {
    let pki = TestPki::new("then");
    let (from, to) = (1_000_000_000, 1_000_000_000 + 365 * DAY); // 2001–2002
    let card = pki.issue(&TestPerson::sample(), from, to);
    let signature = card.sign(&pki, ANSWERS);
    let at = from + 30 * DAY;
    let trust = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &pki.crls(at - DAY, at + DAY)).unwrap();
    verify(&trust, &signature, ANSWERS, at, Revocation::Crl).unwrap();
    // The same CRLs are stale now, and the card expired long ago.
    assert_eq!(verify(&trust, &signature, ANSWERS, NOW, Revocation::Ocsp).err(), Some(JpkiError::Expired));
}

#[test]
fn a_revoked_certificate_is_refused_even_with_a_valid_signature() {
    let mut pki = TestPki::new("revoked");
    let card = card(&pki);
    let signature = card.sign(&pki, ANSWERS);
    pki.revoke(&card, NOW - 2 * DAY);
    assert_eq!(verify_now(&trust(&pki), &signature).err(), Some(JpkiError::Revoked));
    // Another card of the same CA is still fine.
    let other = self::card(&pki);
    verify_now(&trust(&pki), &other.sign(&pki, ANSWERS)).unwrap();
}

#[test]
fn a_card_under_a_revoked_intermediate_is_refused() {
    let mut pki = TestPki::new("revoked-ca");
    let card = card(&pki);
    pki.revoke_intermediate(NOW - 2 * DAY);
    let signature = card.sign(&pki, ANSWERS);
    assert_eq!(verify_now(&trust(&pki), &signature).err(), Some(JpkiError::Revoked));
    // With OCSP for the card, the intermediate is still checked by the root's CRL.
    assert_eq!(verify(&trust(&pki), &signature, ANSWERS, NOW, Revocation::Ocsp).err(), Some(JpkiError::Revoked));
}

#[test]
fn a_card_from_another_hierarchy_has_an_unknown_anchor() {
    let ours = TestPki::new("ours");
    let theirs = TestPki::new("theirs");
    let card = card(&theirs);
    assert_eq!(verify_now(&trust(&ours), &card.sign(&theirs, ANSWERS)).err(), Some(JpkiError::UnknownAnchor));
    // Even with their intermediate configured, the chain ends at their root.
    let mixed = Trust::new(&ours.anchors_pem(), &theirs.intermediates_pem(), &crls_now(&ours)).unwrap();
    assert_eq!(verify_now(&mixed, &card.sign(&theirs, ANSWERS)).err(), Some(JpkiError::UnknownAnchor));
}

#[test]
fn a_look_alike_hierarchy_with_the_same_names_is_not_trusted() {
    let ours = TestPki::new("twin");
    let twin = TestPki::new("twin");
    let card = card(&twin);
    let refused = verify_now(&trust(&ours), &card.sign(&twin, ANSWERS)).err();
    assert!(matches!(refused, Some(JpkiError::UnknownAnchor | JpkiError::ChainInvalid(_))), "{refused:?}");
}

#[test]
fn a_stale_crl_is_no_revocation_info() {
    let pki = TestPki::new("stale");
    let signature = card(&pki).sign(&pki, ANSWERS);
    let stale = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &pki.crls(NOW - 2 * DAY, NOW)).unwrap();
    assert_eq!(verify_now(&stale, &signature).err(), Some(JpkiError::NoRevocationInfo), "nextUpdate == now");
    let future = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &pki.crls(NOW + 1, NOW + DAY)).unwrap();
    assert_eq!(verify_now(&future, &signature).err(), Some(JpkiError::NoRevocationInfo), "thisUpdate after now");
    let exact = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &pki.crls(NOW, NOW + 1)).unwrap();
    verify_now(&exact, &signature).unwrap();
}

#[test]
fn a_missing_crl_is_no_revocation_info() {
    let pki = TestPki::new("missing");
    let signature = card(&pki).sign(&pki, ANSWERS);
    let crls = crls_now(&pki);
    let none = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &[]).unwrap();
    assert_eq!(verify_now(&none, &signature).err(), Some(JpkiError::NoRevocationInfo));
    let no_root_crl = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &crls[..1]).unwrap();
    assert_eq!(verify_now(&no_root_crl, &signature).err(), Some(JpkiError::NoRevocationInfo));
    let no_ca_crl = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &crls[1..]).unwrap();
    assert_eq!(verify_now(&no_ca_crl, &signature).err(), Some(JpkiError::NoRevocationInfo));
}

#[test]
fn a_crl_with_the_issuers_name_but_another_key_does_not_count() {
    let pki = TestPki::new("forged-crl");
    let forger = TestPki::new("forged-crl");
    let signature = card(&pki).sign(&pki, ANSWERS);
    let mut crls = crls_now(&forger);
    crls[1] = crls_now(&pki)[1].clone();
    let trust = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &crls).unwrap();
    assert_eq!(verify_now(&trust, &signature).err(), Some(JpkiError::NoRevocationInfo));
}

#[test]
fn crls_may_be_der() {
    let pki = TestPki::new("der-crl");
    let der: Vec<Vec<u8>> =
        crls_now(&pki).iter().map(|pem| openssl::x509::X509Crl::from_pem(pem).unwrap().to_der().unwrap()).collect();
    let trust = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &der).unwrap();
    verify_now(&trust, &card(&pki).sign(&pki, ANSWERS)).unwrap();
}

#[test]
fn with_ocsp_the_card_needs_no_crl_but_a_configured_root_crl_must_be_current() {
    let pki = TestPki::new("ocsp-mode");
    let signature = card(&pki).sign(&pki, ANSWERS);
    let no_crls = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &[]).unwrap();
    verify(&no_crls, &signature, ANSWERS, NOW, Revocation::Ocsp).unwrap();
    let stale_root = pki.crls(NOW - 2 * DAY, NOW - DAY);
    let trust = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &stale_root[1..]).unwrap();
    assert_eq!(verify(&trust, &signature, ANSWERS, NOW, Revocation::Ocsp).err(), Some(JpkiError::NoRevocationInfo));
}

#[test]
fn a_certificate_without_a_signing_key_usage_is_unsuitable() {
    let pki = TestPki::new("usage");
    let options = CardOptions { unsuitable_key_usage: true, ..CardOptions::default() };
    let card = pki.issue_with(&TestPerson::sample(), NOW - DAY, NOW + DAY, &options);
    assert_eq!(verify_now(&trust(&pki), &card.sign(&pki, ANSWERS)).err(), Some(JpkiError::UnsuitableCertificate));
}

#[test]
fn a_card_with_a_key_weaker_than_rsa_2048_is_refused() {
    let pki = TestPki::new("weak");
    let options = CardOptions { weak_key: true, ..CardOptions::default() };
    let card = pki.issue_with(&TestPerson::sample(), NOW - DAY, NOW + DAY, &options);
    let refused = verify_now(&trust(&pki), &card.sign(&pki, ANSWERS)).err();
    assert!(matches!(refused, Some(JpkiError::ChainInvalid(_))), "{refused:?}");
}

#[test]
fn anything_but_a_signature_is_malformed() {
    let pki = TestPki::new("garbage");
    let trust = trust(&pki);
    let card = card(&pki);
    for garbage in [
        b"".to_vec(),
        b"not a signature".to_vec(),
        vec![0x30, 0x82, 0xff, 0xff, 0x00],
        b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n".to_vec(),
        card.certificate_pem(),
        card.certificate_der(),
    ] {
        assert!(matches!(verify_now(&trust, &garbage), Err(JpkiError::Malformed(_))), "{garbage:?}");
    }
}

#[test]
fn trust_material_must_be_certificates_and_crls() {
    let pki = TestPki::new("config");
    assert!(matches!(Trust::new(b"", b"", &[]), Err(JpkiError::InvalidTrust(_))));
    assert!(matches!(Trust::new(b"junk", b"", &[]), Err(JpkiError::InvalidTrust(_))));
    assert!(matches!(Trust::new(&pki.anchors_pem(), b"", &[b"junk".to_vec()]), Err(JpkiError::InvalidTrust(_))));
    let debug = format!("{:?}", trust(&pki));
    assert_eq!(debug, "Trust { anchors: 1, intermediates: 1, crls: 2 }");
}

#[test]
fn every_error_has_a_japanese_and_an_english_sentence() {
    let all = [
        JpkiError::Malformed("x"),
        JpkiError::BadSignature,
        JpkiError::UnknownAnchor,
        JpkiError::Expired,
        JpkiError::NotYetValid,
        JpkiError::ChainInvalid("x"),
        JpkiError::Revoked,
        JpkiError::NoRevocationInfo,
        JpkiError::OcspFailed("x".into()),
        JpkiError::UnsuitableCertificate,
        JpkiError::InvalidTrust("x".into()),
        JpkiError::Internal("x"),
    ];
    for error in all {
        assert!(error.message_ja().ends_with('。'), "{error:?}");
        assert!(error.message_en().ends_with('.'), "{error:?}");
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(JpkiError::Expired.message_ja(), "電子証明書の有効期限が切れています。");
    assert_eq!(JpkiError::Revoked.message_ja(), "電子証明書が失効しています。");
    assert_eq!(
        JpkiError::BadSignature.message_ja(),
        "署名が確認できません。署名したファイルと回答の内容が一致しません。"
    );
}

// OCSP. `openssl ocsp` stamps its responses with the clock, so these
// verify at the real time, with cards valid around it.

struct OcspCase {
    pki: TestPki,
    card: TestCard,
    trust: Trust,
    dir: tempfile::TempDir,
    now: i64,
}

fn ocsp_case(label: &str) -> OcspCase {
    let pki = TestPki::new(label);
    let now = real_now();
    let card = pki.issue_with_ocsp(&TestPerson::sample(), now - DAY, now + 365 * DAY, "http://ocsp.test/sign");
    let trust = Trust::new(&pki.anchors_pem(), &pki.intermediates_pem(), &[]).unwrap();
    OcspCase { pki, card, trust, dir: tempfile::tempdir().unwrap(), now }
}

impl OcspCase {
    fn signer(&self) -> Signer {
        verify(&self.trust, &self.card.sign(&self.pki, ANSWERS), ANSWERS, self.now, Revocation::Ocsp).unwrap()
    }
}

#[test]
fn a_good_ocsp_response_from_the_issuer_is_accepted() {
    let case = ocsp_case("ocsp-good");
    let signer = case.signer();
    assert_eq!(signer.ocsp_url(), Some("http://ocsp.test/sign"));
    let response = case.pki.ocsp_respond(&signer.ocsp_request().unwrap(), case.dir.path());
    signer.check_ocsp(&case.trust, &response, case.now).unwrap();
    signer.check_ocsp(&case.trust, &response, case.now + DAY - 60).unwrap();
}

#[test]
fn an_ocsp_response_saying_revoked_is_refused() {
    let mut case = ocsp_case("ocsp-revoked");
    let signer = case.signer();
    case.pki.revoke(&case.card, case.now - 60);
    let response = case.pki.ocsp_respond(&signer.ocsp_request().unwrap(), case.dir.path());
    assert_eq!(signer.check_ocsp(&case.trust, &response, case.now).err(), Some(JpkiError::Revoked));
}

#[test]
fn an_ocsp_response_signed_by_an_unknown_key_is_refused() {
    let case = ocsp_case("ocsp-rogue");
    let signer = case.signer();
    let request = signer.ocsp_request().unwrap();
    let elsewhere = TestPki::new("ocsp-rogue-elsewhere");
    let rogue = card(&elsewhere);
    let response = case.pki.ocsp_respond_as(&request, case.dir.path(), &rogue);
    assert!(matches!(signer.check_ocsp(&case.trust, &response, case.now), Err(JpkiError::OcspFailed(_))));
}

#[test]
fn an_ocsp_response_signed_by_a_card_of_the_same_ca_is_refused_unless_delegated() {
    let case = ocsp_case("ocsp-delegation");
    let signer = case.signer();
    let request = signer.ocsp_request().unwrap();
    let neighbour = case.pki.issue(&TestPerson::sample(), case.now - DAY, case.now + DAY);
    let response = case.pki.ocsp_respond_as(&request, case.dir.path(), &neighbour);
    assert!(matches!(signer.check_ocsp(&case.trust, &response, case.now), Err(JpkiError::OcspFailed(_))));

    let delegated = CardOptions { ocsp_signing: true, ..CardOptions::default() };
    let responder = case.pki.issue_with(&TestPerson::sample(), case.now - DAY, case.now + DAY, &delegated);
    let response = case.pki.ocsp_respond_as(&request, case.dir.path(), &responder);
    signer.check_ocsp(&case.trust, &response, case.now).unwrap();
}

#[test]
fn an_ocsp_response_is_only_good_between_this_update_and_next_update() {
    let case = ocsp_case("ocsp-window");
    let signer = case.signer();
    let response = case.pki.ocsp_respond(&signer.ocsp_request().unwrap(), case.dir.path());
    let stale = signer.check_ocsp(&case.trust, &response, case.now + DAY + 3600);
    assert!(matches!(stale, Err(JpkiError::OcspFailed(_))), "{stale:?}");
    let early = signer.check_ocsp(&case.trust, &response, case.now - 3600);
    assert!(matches!(early, Err(JpkiError::OcspFailed(_))), "{early:?}");
}

#[test]
fn an_ocsp_response_about_another_certificate_or_garbage_is_refused() {
    let case = ocsp_case("ocsp-other");
    let signer = case.signer();
    let other = case.pki.issue_with_ocsp(&TestPerson::sample(), case.now - DAY, case.now + DAY, "http://ocsp.test/");
    let other_signer =
        verify(&case.trust, &other.sign(&case.pki, ANSWERS), ANSWERS, case.now, Revocation::Ocsp).unwrap();
    let response = case.pki.ocsp_respond(&other_signer.ocsp_request().unwrap(), case.dir.path());
    assert!(matches!(signer.check_ocsp(&case.trust, &response, case.now), Err(JpkiError::OcspFailed(_))));
    assert!(matches!(signer.check_ocsp(&case.trust, b"junk", case.now), Err(JpkiError::OcspFailed(_))));
}

#[test]
fn the_ocsp_responder_answers_over_http_on_the_loopback() {
    let case = ocsp_case("ocsp-http");
    let signer = case.signer();
    let responder = case.pki.start_ocsp_responder(case.dir.path());
    assert!(responder.url().starts_with("http://127.0.0.1:"), "{}", responder.url());

    let request = signer.ocsp_request().unwrap();
    let authority = responder.url().trim_start_matches("http://").split('/').next().unwrap().to_owned();
    let mut stream = std::net::TcpStream::connect(&authority).unwrap();
    let head = format!(
        "POST /ocsp HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        request.len()
    );
    stream.write_all(&[head.into_bytes(), request].concat()).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(reply.starts_with(b"HTTP/1.0 200 OK"), "{}", String::from_utf8_lossy(&reply[..split]));
    signer.check_ocsp(&case.trust, &reply[split..], case.now).unwrap();
    drop(responder);
}

#[test]
fn test_pki_files_configure_a_trust() {
    let pki = TestPki::new("files");
    let dir = tempfile::tempdir().unwrap();
    let files = pki.write_files(dir.path(), NOW);
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let crls: Vec<Vec<u8>> = files.crls.iter().map(|p| read(p)).collect();
    let trust = Trust::new(&read(&files.anchors), &read(&files.intermediates), &crls).unwrap();
    verify_now(&trust, &card(&pki).sign(&pki, ANSWERS)).unwrap();
}
