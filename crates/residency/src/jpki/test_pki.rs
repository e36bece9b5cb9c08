//! A JPKI-like test hierarchy: a root CA "JPKI Test Root CA", an
//! intermediate "JPKI Test Sign CA" (RSA 2048, as JPKI), cards carrying the
//! JPKI subjectAltName attributes, CRLs, and OCSP responses from a real
//! responder. For this crate's tests and, through the `test-pki` feature,
//! the integration tests (testkit). Test tooling: it panics with a clear
//! message where generation fails, and uses the clock only where OpenSSL's
//! own tools do (signingTime in signatures, thisUpdate in OCSP responses).
//!
//! Certificates and CRLs are made with the `openssl` crate (`X509Builder`,
//! `X509CrlBuilder`, which the crate has had since 0.10.7x), so no second
//! X.509 stack is needed; the few extension values the builders cannot
//! express (the otherName strings, authorityInfoAccess, the CRL's
//! authorityKeyIdentifier) are written as DER by `tlv` below. OCSP
//! responses come from the `openssl ocsp` command, a real responder, over
//! an index file in `openssl ca`'s format.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::stack::Stack;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, CrlNumber, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509Crl, X509CrlBuilder, X509Extension, X509Name, X509RevokedBuilder, X509};
use time::macros::date;

use super::attributes::{OID_ADDRESS, OID_BIRTH_DATE, OID_NAME};

/// The CAs are valid from 2000-01-01 to 2099-12-31, so that tests may
/// choose any time in between.
const CA_NOT_BEFORE: i64 = 946_684_800;
const CA_NOT_AFTER: i64 = 4_102_444_799;

fn ok<T>(result: Result<T, ErrorStack>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("test PKI: {what}: {e}"))
}

/// DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn extension_from_der(oid: &str, critical: bool, der: &[u8]) -> X509Extension {
    let oid = ok(Asn1Object::from_str(oid), "an OID");
    let value = ok(Asn1OctetString::new_from_bytes(der), "an extension value");
    ok(X509Extension::new_from_der(&oid, critical, &value), "an extension")
}

fn rsa_key() -> PKey<Private> {
    rsa_key_of(2048)
}

fn rsa_key_of(bits: u32) -> PKey<Private> {
    ok(Rsa::generate(bits).and_then(PKey::from_rsa), "an RSA key")
}

fn random_serial() -> BigNum {
    let mut serial = ok(BigNum::new(), "a serial");
    ok(serial.rand(64, MsbOption::ONE, false), "a serial");
    serial
}

fn hex_serial(cert: &X509) -> String {
    ok(cert.serial_number().to_bn().and_then(|bn| bn.to_hex_str()), "a serial").to_string()
}

fn name(label: &str, common_name: &str) -> X509Name {
    let mut name = ok(X509Name::builder(), "a name");
    ok(name.append_entry_by_nid(Nid::COUNTRYNAME, "JP"), "a name");
    ok(name.append_entry_by_nid(Nid::ORGANIZATIONNAME, &format!("JPKI Test {label}")), "a name");
    ok(name.append_entry_by_nid(Nid::COMMONNAME, common_name), "a name");
    name.build()
}

/// A certificate of `subject` with `key`, signed by `issuer` (itself when
/// `None`), with the extensions `extensions` makes in the builder's context.
fn certificate(
    subject: &X509Name,
    key: &PKey<Private>,
    issuer: Option<&Authority>,
    serial: &BigNum,
    not_before: i64,
    not_after: i64,
    extensions: impl FnOnce(&X509Builder, Option<&X509>) -> Result<Vec<X509Extension>, ErrorStack>,
) -> X509 {
    let build = || -> Result<X509, ErrorStack> {
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = serial.to_asn1_integer()?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(subject)?;
        builder.set_issuer_name(issuer.map_or(subject, |i| i.cert.subject_name()))?;
        builder.set_pubkey(key)?;
        let (not_before, not_after) = (Asn1Time::from_unix(not_before as _)?, Asn1Time::from_unix(not_after as _)?);
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        for extension in extensions(&builder, issuer.map(|i| &i.cert))? {
            builder.append_extension(extension)?;
        }
        builder.sign(issuer.map_or(key, |i| &i.key), MessageDigest::sha256())?;
        Ok(builder.build())
    };
    ok(build(), "a certificate")
}

struct Authority {
    cert: X509,
    key: PKey<Private>,
}

impl Authority {
    /// A CRL of this authority listing `revoked` (serial hex, time).
    fn crl(&self, revoked: &[(String, i64)], this_update: i64, next_update: i64) -> X509Crl {
        let build = || -> Result<X509Crl, ErrorStack> {
            let mut crl = X509CrlBuilder::new()?;
            crl.set_issuer_name(self.cert.subject_name())?;
            let (this_update, next_update) =
                (Asn1Time::from_unix(this_update as _)?, Asn1Time::from_unix(next_update as _)?);
            crl.set_last_update(&this_update)?;
            crl.set_next_update(&next_update)?;
            for (serial, at) in revoked {
                let mut entry = X509RevokedBuilder::new()?;
                let (serial, at) = (BigNum::from_hex_str(serial)?.to_asn1_integer()?, Asn1Time::from_unix(*at as _)?);
                entry.set_serial_number(&serial)?;
                entry.set_revocation_date(&at)?;
                crl.add_revoked(entry.build())?;
            }
            let key_id = self.cert.subject_key_id().map(|id| id.as_slice().to_vec()).unwrap_or_default();
            crl.append_extension(extension_from_der("2.5.29.35", false, &tlv(0x30, &tlv(0x80, &key_id))))?;
            crl.append_extension(CrlNumber::new(BigNum::from_u32(1)?)?.build()?)?;
            crl.sort()?;
            crl.sign(&self.key, MessageDigest::sha256())?;
            crl.build()
        };
        ok(build(), "a CRL")
    }
}

/// A person as a card's certificate describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPerson {
    pub name: String,
    pub birth_date: time::Date,
    pub address: String,
}

impl TestPerson {
    /// 青葉 花子, born 1980-02-17, of みどり県青葉市 (written as a card
    /// writes it: full-width digits and hyphen-free 丁目/番/号).
    pub fn sample() -> TestPerson {
        TestPerson {
            name: "青葉　花子".into(),
            birth_date: date!(1980 - 02 - 17),
            address: "みどり県青葉市本町一丁目２番３号".into(),
        }
    }
}

/// How [`TestPki::issue_with`] makes a card's certificate unusual.
#[derive(Debug, Clone, Default)]
pub struct CardOptions {
    /// An authorityInfoAccess with this OCSP responder URL.
    pub ocsp_url: Option<String>,
    /// keyUsage keyEncipherment only: not a signing certificate.
    pub unsuitable_key_usage: bool,
    /// extendedKeyUsage id-kp-OCSPSigning: a responder the Sign CA delegated.
    pub ocsp_signing: bool,
    /// An RSA-1024 key, weaker than JPKI's (and the verifier's floor).
    pub weak_key: bool,
}

/// A card: its signing certificate and private key.
pub struct TestCard {
    cert: X509,
    key: PKey<Private>,
}

impl std::fmt::Debug for TestCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCard").field("serial", &self.serial_hex()).finish()
    }
}

impl TestCard {
    /// A DER CMS SignedData over `content`, detached, SHA-256, with the
    /// signer's certificate and the Sign CA's.
    pub fn sign(&self, pki: &TestPki, content: &[u8]) -> Vec<u8> {
        self.sign_flags(pki, content, Pkcs7Flags::DETACHED)
    }

    /// The same with `content` inside the signature.
    pub fn sign_attached(&self, pki: &TestPki, content: &[u8]) -> Vec<u8> {
        self.sign_flags(pki, content, Pkcs7Flags::empty())
    }

    fn sign_flags(&self, pki: &TestPki, content: &[u8], flags: Pkcs7Flags) -> Vec<u8> {
        let sign = || -> Result<Vec<u8>, ErrorStack> {
            let mut certs = Stack::new()?;
            certs.push(pki.ca.cert.clone())?;
            let flags = flags | Pkcs7Flags::BINARY | Pkcs7Flags::NOSMIMECAP;
            Pkcs7::sign(&self.cert, &self.key, &certs, content, flags)?.to_der()
        };
        ok(sign(), "a signature")
    }

    pub fn certificate_pem(&self) -> Vec<u8> {
        ok(self.cert.to_pem(), "a certificate PEM")
    }

    pub fn certificate_der(&self) -> Vec<u8> {
        ok(self.cert.to_der(), "a certificate DER")
    }

    /// The serial number in upper-case hex, as in `VerifiedPerson::person`.
    pub fn serial_hex(&self) -> String {
        hex_serial(&self.cert)
    }
}

/// The files of a [`TestPki`] for a counter's configuration.
#[derive(Debug, Clone)]
pub struct TestPkiFiles {
    pub anchors: PathBuf,
    pub intermediates: PathBuf,
    pub crls: Vec<PathBuf>,
}

/// A fresh test hierarchy.
pub struct TestPki {
    label: String,
    root: Authority,
    ca: Authority,
    /// Every card issued: serial hex, notAfter.
    issued: Mutex<Vec<(String, i64)>>,
    /// Revoked cards: serial hex, time.
    revoked: Vec<(String, i64)>,
    intermediate_revoked_at: Option<i64>,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").field("label", &self.label).finish_non_exhaustive()
    }
}

impl TestPki {
    /// A fresh hierarchy: root "JPKI Test Root CA" and intermediate "JPKI
    /// Test Sign CA", both with O="JPKI Test {label}", valid 2000–2099. A
    /// second hierarchy is a "wrong anchor" for the first.
    pub fn new(label: &str) -> TestPki {
        let root_key = rsa_key();
        let root_name = name(label, "JPKI Test Root CA");
        let one = ok(BigNum::from_u32(1), "a serial");
        let root_cert = certificate(&root_name, &root_key, None, &one, CA_NOT_BEFORE, CA_NOT_AFTER, |b, _| {
            Ok(vec![
                BasicConstraints::new().critical().ca().build()?,
                KeyUsage::new().critical().key_cert_sign().crl_sign().build()?,
                SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?,
            ])
        });
        let root = Authority { cert: root_cert, key: root_key };
        let ca_key = rsa_key();
        let ca_cert = certificate(
            &name(label, "JPKI Test Sign CA"),
            &ca_key,
            Some(&root),
            &random_serial(),
            CA_NOT_BEFORE,
            CA_NOT_AFTER,
            |b, issuer| {
                let context = b.x509v3_context(issuer.map(|i| &**i), None);
                Ok(vec![
                    BasicConstraints::new().critical().ca().pathlen(0).build()?,
                    KeyUsage::new().critical().key_cert_sign().crl_sign().build()?,
                    SubjectKeyIdentifier::new().build(&context)?,
                    AuthorityKeyIdentifier::new().keyid(true).build(&context)?,
                ])
            },
        );
        TestPki {
            label: label.to_owned(),
            root,
            ca: Authority { cert: ca_cert, key: ca_key },
            issued: Mutex::new(Vec::new()),
            revoked: Vec::new(),
            intermediate_revoked_at: None,
        }
    }

    /// A card for `person`, valid from `not_before_unix` to
    /// `not_after_unix`: subjectAltName with the JPKI name, birth date
    /// (EYYYYMMDD) and address, keyUsage digitalSignature and
    /// nonRepudiation (critical), no OCSP URL.
    pub fn issue(&self, person: &TestPerson, not_before_unix: i64, not_after_unix: i64) -> TestCard {
        self.issue_with(person, not_before_unix, not_after_unix, &CardOptions::default())
    }

    /// The same with an authorityInfoAccess naming the OCSP responder `url`.
    pub fn issue_with_ocsp(
        &self,
        person: &TestPerson,
        not_before_unix: i64,
        not_after_unix: i64,
        url: &str,
    ) -> TestCard {
        let options = CardOptions { ocsp_url: Some(url.to_owned()), ..CardOptions::default() };
        self.issue_with(person, not_before_unix, not_after_unix, &options)
    }

    pub fn issue_with(
        &self,
        person: &TestPerson,
        not_before_unix: i64,
        not_after_unix: i64,
        options: &CardOptions,
    ) -> TestCard {
        let key = rsa_key_of(if options.weak_key { 1024 } else { 2048 });
        let serial = random_serial();
        let serial_hex = ok(serial.to_hex_str(), "a serial").to_string();
        // Like a real card's, the subject names no one.
        let subject = name(&self.label, &serial_hex);
        let cert =
            certificate(&subject, &key, Some(&self.ca), &serial, not_before_unix, not_after_unix, |b, issuer| {
                let context = b.x509v3_context(issuer.map(|i| &**i), None);
                let mut usage = KeyUsage::new();
                usage.critical();
                if options.unsuitable_key_usage {
                    usage.key_encipherment();
                } else {
                    usage.digital_signature().non_repudiation();
                }
                let utf8 = |s: &str| tlv(0x0c, s.as_bytes());
                let mut san = SubjectAlternativeName::new();
                san.other_name2(Asn1Object::from_str(OID_NAME)?, &utf8(&person.name))
                    .other_name2(Asn1Object::from_str(OID_BIRTH_DATE)?, &utf8(&jpki_birth_date(person.birth_date)))
                    .other_name2(Asn1Object::from_str(OID_ADDRESS)?, &utf8(&person.address));
                let mut extensions = vec![
                    BasicConstraints::new().critical().build()?,
                    usage.build()?,
                    SubjectKeyIdentifier::new().build(&context)?,
                    AuthorityKeyIdentifier::new().keyid(true).build(&context)?,
                    san.build(&context)?,
                ];
                if let Some(url) = &options.ocsp_url {
                    // AccessDescription { id-ad-ocsp, [6] uniformResourceIdentifier }
                    let id_ad_ocsp = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
                    let description = [&id_ad_ocsp[..], &tlv(0x86, url.as_bytes())].concat();
                    extensions.push(extension_from_der(
                        "1.3.6.1.5.5.7.1.1",
                        false,
                        &tlv(0x30, &tlv(0x30, &description)),
                    ));
                }
                if options.ocsp_signing {
                    extensions.push(ExtendedKeyUsage::new().other("OCSPSigning").build()?);
                }
                Ok(extensions)
            });
        self.issued.lock().unwrap_or_else(|e| e.into_inner()).push((serial_hex, not_after_unix));
        TestCard { cert, key }
    }

    /// Revokes a card from `at_unix`: the Sign CA's CRL lists it from now
    /// on (whatever the CRL's times), and the OCSP responder answers revoked.
    pub fn revoke(&mut self, card: &TestCard, at_unix: i64) {
        self.revoked.push((card.serial_hex(), at_unix));
    }

    /// Revokes the Sign CA itself: the root's CRL lists it.
    pub fn revoke_intermediate(&mut self, at_unix: i64) {
        self.intermediate_revoked_at = Some(at_unix);
    }

    /// The Sign CA's CRL (the cards revoked) and the root's CRL (the Sign
    /// CA, if revoked), PEM, with these thisUpdate and nextUpdate.
    pub fn crls(&self, this_update_unix: i64, next_update_unix: i64) -> Vec<Vec<u8>> {
        let intermediate: Vec<(String, i64)> =
            self.intermediate_revoked_at.map(|at| (hex_serial(&self.ca.cert), at)).into_iter().collect();
        [
            self.ca.crl(&self.revoked, this_update_unix, next_update_unix),
            self.root.crl(&intermediate, this_update_unix, next_update_unix),
        ]
        .iter()
        .map(|crl| ok(crl.to_pem(), "a CRL PEM"))
        .collect()
    }

    /// The Sign CA's CRL alone (no root CRL), PEM.
    pub fn sign_ca_crl(&self, this_update_unix: i64, next_update_unix: i64) -> Vec<u8> {
        ok(self.ca.crl(&self.revoked, this_update_unix, next_update_unix).to_pem(), "a CRL PEM")
    }

    pub fn anchors_pem(&self) -> Vec<u8> {
        ok(self.root.cert.to_pem(), "a certificate PEM")
    }

    pub fn intermediates_pem(&self) -> Vec<u8> {
        ok(self.ca.cert.to_pem(), "a certificate PEM")
    }

    /// anchors.pem, intermediates.pem and the two CRLs (current from an
    /// hour before `now_unix` to seven days after it) in `dir`.
    pub fn write_files(&self, dir: &Path, now_unix: i64) -> TestPkiFiles {
        let write = |file: &str, bytes: &[u8]| {
            let path = dir.join(file);
            std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("test PKI: writing {}: {e}", path.display()));
            path
        };
        let crls = self.crls(now_unix - 3600, now_unix + 7 * 86_400);
        TestPkiFiles {
            anchors: write("anchors.pem", &self.anchors_pem()),
            intermediates: write("intermediates.pem", &self.intermediates_pem()),
            crls: vec![write("crl-sign-ca.pem", &crls[0]), write("crl-root.pem", &crls[1])],
        }
    }

    /// Writes what `openssl ocsp` needs in `dir`: the Sign CA (ca.pem), the
    /// responder's certificate and key (the Sign CA's), and index.txt in
    /// `openssl ca`'s format (a V line per card issued, R for those
    /// revoked). Call again after [`TestPki::revoke`] to update a running
    /// [`OcspResponder`].
    pub fn write_ocsp_files(&self, dir: &Path) {
        self.write_ocsp_files_signed_by(dir, &self.ca.cert, &self.ca.key);
    }

    fn write_ocsp_files_signed_by(&self, dir: &Path, signer: &X509, signer_key: &PKey<Private>) {
        let mut index = String::new();
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (serial, not_after) in issued {
            let revoked = self.revoked.iter().find(|(s, _)| *s == serial);
            let (flag, revoked_at) = match revoked {
                Some((_, at)) => ("R", index_time(*at)),
                None => ("V", String::new()),
            };
            index.push_str(&format!(
                "{flag}\t{}\t{revoked_at}\t{serial}\tunknown\t/CN={serial}\n",
                index_time(not_after)
            ));
        }
        let files: [(&str, Vec<u8>); 5] = [
            ("ca.pem", ok(self.ca.cert.to_pem(), "a certificate PEM")),
            ("responder.pem", ok(signer.to_pem(), "a certificate PEM")),
            ("responder.key", ok(signer_key.private_key_to_pem_pkcs8(), "a key PEM")),
            ("index.txt", index.into_bytes()),
            ("index.txt.attr", b"unique_subject = no\n".to_vec()),
        ];
        for (file, bytes) in files {
            let path = dir.join(file);
            std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("test PKI: writing {}: {e}", path.display()));
        }
    }

    /// A real OCSP response (DER) to `request_der`, signed by the Sign CA,
    /// from the `openssl ocsp` responder run on files in `dir`;
    /// thisUpdate is the clock's now, nextUpdate a day later.
    pub fn ocsp_respond(&self, request_der: &[u8], dir: &Path) -> Vec<u8> {
        self.write_ocsp_files(dir);
        run_ocsp_responder(dir, request_der).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The same, signed by `responder`'s card instead (a delegated
    /// responder when issued with `CardOptions::ocsp_signing`; otherwise
    /// one the verifier must refuse).
    pub fn ocsp_respond_as(&self, request_der: &[u8], dir: &Path, responder: &TestCard) -> Vec<u8> {
        self.write_ocsp_files_signed_by(dir, &responder.cert, &responder.key);
        run_ocsp_responder(dir, request_der).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An HTTP OCSP responder on 127.0.0.1 (a free port) answering POSTed
    /// requests with `openssl ocsp` over the files in `dir`, signed by the
    /// Sign CA. It stops when dropped.
    pub fn start_ocsp_responder(&self, dir: &Path) -> OcspResponder {
        self.write_ocsp_files(dir);
        OcspResponder::start(dir.to_owned())
    }
}

/// The era digit of JPKI's EYYYYMMDD: 1 明治 … 5 令和, 0 before 明治.
fn jpki_birth_date(date: time::Date) -> String {
    let era = if date >= date!(2019 - 05 - 01) {
        5
    } else if date >= date!(1989 - 01 - 08) {
        4
    } else if date >= date!(1926 - 12 - 25) {
        3
    } else if date >= date!(1912 - 07 - 30) {
        2
    } else if date >= date!(1868 - 10 - 23) {
        1
    } else {
        0
    };
    format!("{era}{:04}{:02}{:02}", date.year(), u8::from(date.month()), date.day())
}

/// `openssl ca`'s index times: UTCTime YYMMDDHHMMSSZ (GeneralizedTime from 2050).
fn index_time(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let year =
        if (1950..2050).contains(&t.year()) { format!("{:02}", t.year() % 100) } else { format!("{:04}", t.year()) };
    format!("{year}{:02}{:02}{:02}{:02}{:02}Z", u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

/// Runs `openssl ocsp` over the files `write_ocsp_files` left in `dir`.
fn run_ocsp_responder(dir: &Path, request_der: &[u8]) -> Result<Vec<u8>, String> {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let (request, response) = (format!("request-{n}.der"), format!("response-{n}.der"));
    std::fs::write(dir.join(&request), request_der).map_err(|e| format!("test PKI: writing the OCSP request: {e}"))?;
    #[rustfmt::skip]
    let args = [
        "ocsp", "-index", "index.txt", "-CA", "ca.pem", "-rsigner", "responder.pem", "-rkey", "responder.key",
        "-reqin", &request, "-respout", &response, "-ndays", "1",
    ];
    let output = Command::new("openssl").args(args).current_dir(dir).output().map_err(|e| {
        format!("test PKI: OCSP responses need the `openssl` command (Debian package `openssl`), which failed to start: {e}")
    })?;
    if !output.status.success() {
        return Err(format!("test PKI: `openssl ocsp` failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let der = std::fs::read(dir.join(&response)).map_err(|e| format!("test PKI: reading the OCSP response: {e}"))?;
    let _ = std::fs::remove_file(dir.join(&request));
    let _ = std::fs::remove_file(dir.join(&response));
    Ok(der)
}

/// An OCSP responder over HTTP on 127.0.0.1: a small HTTP/1.0 front (one
/// request at a time) to the `openssl ocsp` responder. (`openssl ocsp
/// -port` would bind every interface, so it is not used.) Stops on drop.
pub struct OcspResponder {
    url: String,
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for OcspResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspResponder").field("url", &self.url).finish()
    }
}

impl OcspResponder {
    fn start(dir: PathBuf) -> OcspResponder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("test PKI: binding the OCSP responder on 127.0.0.1");
        let address = listener.local_addr().expect("test PKI: the OCSP responder's address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut stream) = stream {
                    let _ = serve(&mut stream, &dir);
                }
            }
        });
        OcspResponder { url: format!("http://{address}/ocsp"), address, stop, thread: Some(thread) }
    }

    /// `http://127.0.0.1:{port}/ocsp`
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One HTTP/1.0 exchange: POST with an `application/ocsp-request` body.
fn serve(stream: &mut TcpStream, dir: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let body_start = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 || received.len() > 64 * 1024 {
            return Ok(());
        }
        received.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&received[..body_start]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while received.len() < body_start + length {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        received.extend_from_slice(&buffer[..n]);
    }
    let request = &received[body_start..body_start + length];
    let reply = match run_ocsp_responder(dir, request) {
        Ok(der) => {
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                der.len()
            );
            [head.into_bytes(), der].concat()
        }
        Err(_) => b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_vec(),
    };
    stream.write_all(&reply)
}
