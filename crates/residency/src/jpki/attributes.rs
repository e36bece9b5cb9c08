//! What a JPKI signing certificate says about its holder, read with
//! x509-parser (OpenSSL's Rust binding does not expose otherName values).
//!
//! A 署名用電子証明書 carries the holder's 基本4情報 as subjectAltName
//! otherName entries, each value a UTF8String inside the otherName's
//! `[0] EXPLICIT`, under J-LIS's arc 1.2.392.200149.8.5.5:
//!
//! | OID    | value                                                       |
//! |--------|-------------------------------------------------------------|
//! | .5.5.1 | 氏名 (name)                                                 |
//! | .5.5.2 | 氏名の代替文字の使用位置 (substitute-character flags)      |
//! | .5.5.3 | 性別 (sex)                                                  |
//! | .5.5.4 | 生年月日, `EYYYYMMDD`: era digit (1 明治 … 5 令和, 0 不明), then the Gregorian date |
//! | .5.5.5 | 住所 (address, from the prefecture, no postcode)            |
//! | .5.5.6 | 住所の代替文字の使用位置                                    |
//!
//! Source: J-LIS 「公的個人認証サービス プロファイル仕様書」 as quoted in
//! public write-ups of real cards' certificates (`openssl x509 -ext
//! subjectAltName` on a card's CertUserSign*.cer shows exactly these OIDs,
//! and the EYYYYMMDD form); the J-LIS document itself was not at hand.
//! Only the birth date and the address are read: the name and sex are
//! never needed, so never touched.

use x509_parser::der_parser::asn1_rs::{Any, Class, FromDer, Tag};
use x509_parser::extensions::GeneralName;
use x509_parser::x509::X509Name;
use zeroize::Zeroizing;

use super::JpkiError;

pub(crate) const OID_BIRTH_DATE: &str = "1.2.392.200149.8.5.5.4";
pub(crate) const OID_ADDRESS: &str = "1.2.392.200149.8.5.5.5";
#[cfg(any(test, feature = "test-pki"))]
pub(crate) const OID_NAME: &str = "1.2.392.200149.8.5.5.1";

/// The parts of the signer's certificate that become a `VerifiedPerson`.
pub(crate) struct Holder {
    /// The issuer's distinguished name, RFC 2253.
    pub issuer: String,
    pub birth_date: Option<time::Date>,
    pub address: Option<Zeroizing<String>>,
}

pub(crate) fn holder(certificate_der: &[u8]) -> Result<Holder, JpkiError> {
    let (_, certificate) = x509_parser::parse_x509_certificate(certificate_der)
        .map_err(|_| JpkiError::Malformed("the signer's certificate cannot be read"))?;
    let issuer = rfc2253(certificate.issuer());
    let mut birth_date = None;
    let mut address = None;
    let san = certificate
        .subject_alternative_name()
        .map_err(|_| JpkiError::Malformed("the signer's subjectAltName cannot be read"))?;
    for name in san.iter().flat_map(|san| san.value.general_names.iter()) {
        let GeneralName::OtherName(oid, value) = name else { continue };
        let oid = oid.to_id_string();
        if oid == OID_BIRTH_DATE && birth_date.is_none() {
            // A date of another shape is not a birth date: no adulthood.
            birth_date = other_name_string(value).and_then(parse_birth_date);
        } else if oid == OID_ADDRESS && address.is_none() {
            address = other_name_string(value).map(|s| Zeroizing::new(s.to_owned()));
        }
    }
    Ok(Holder { issuer, birth_date, address })
}

/// The string inside an otherName value: `[0] EXPLICIT` around a
/// UTF8String (or PrintableString / IA5String).
fn other_name_string(value: &[u8]) -> Option<&str> {
    let (_, explicit) = Any::from_der(value).ok()?;
    if explicit.class() != Class::ContextSpecific || explicit.tag() != Tag(0) {
        return None;
    }
    let (_, inner) = Any::from_der(explicit.data).ok()?;
    match inner.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => std::str::from_utf8(inner.data).ok(),
        _ => None,
    }
}

/// `EYYYYMMDD` (era digit, Gregorian date) or plain `YYYYMMDD`.
pub(crate) fn parse_birth_date(value: &str) -> Option<time::Date> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = match value.len() {
        9 if value.as_bytes()[0] <= b'5' => &value[1..],
        8 => value,
        _ => return None,
    };
    let year: i32 = digits[..4].parse().ok()?;
    let month: u8 = digits[4..6].parse().ok()?;
    let day: u8 = digits[6..].parse().ok()?;
    time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

/// A distinguished name as RFC 2253 writes it: the last RDN first,
/// separated by commas, multi-valued RDNs joined by `+`, well-known types
/// by their short names and others by dotted OID, special characters
/// escaped; a value that is not a string is `#` and the hex of its
/// content octets.
pub(crate) fn rfc2253(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type().to_id_string();
                    let kind = match oid.as_str() {
                        "2.5.4.3" => "CN",
                        "2.5.4.6" => "C",
                        "2.5.4.7" => "L",
                        "2.5.4.8" => "ST",
                        "2.5.4.9" => "STREET",
                        "2.5.4.10" => "O",
                        "2.5.4.11" => "OU",
                        "0.9.2342.19200300.100.1.25" => "DC",
                        "0.9.2342.19200300.100.1.1" => "UID",
                        other => other,
                    };
                    let value = match attribute.as_str() {
                        Ok(s) => escape(s),
                        Err(_) => {
                            let hex: String = attribute.attr_value().data.iter().map(|b| format!("{b:02X}")).collect();
                            format!("#{hex}")
                        }
                    };
                    format!("{kind}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether a CRL is a delta CRL or covers only part of its issuer's
/// certificates (issuingDistributionPoint), or carries another critical
/// extension this verifier does not understand.
pub(crate) fn crl_is_partial(crl_der: &[u8]) -> Result<bool, ()> {
    let (_, crl) = x509_parser::parse_x509_crl(crl_der).map_err(|_| ())?;
    Ok(crl.extensions().iter().any(|extension| {
        let oid = extension.oid.to_id_string();
        // deltaCRLIndicator, issuingDistributionPoint
        oid == "2.5.29.27" || oid == "2.5.29.28" || (extension.critical && oid != "2.5.29.20" && oid != "2.5.29.35")
    }))
}

/// Unix seconds from OpenSSL's printed GeneralizedTime
/// ("Mar  5 12:00:00 2026 GMT", fractions of a second dropped).
pub(crate) fn generalized_time_unix(printed: &str) -> Option<i64> {
    let parts: Vec<&str> = printed.split_whitespace().collect();
    let [month, day, clock, year, "GMT"] = parts.as_slice() else { return None };
    let month = match *month {
        "Jan" => time::Month::January,
        "Feb" => time::Month::February,
        "Mar" => time::Month::March,
        "Apr" => time::Month::April,
        "May" => time::Month::May,
        "Jun" => time::Month::June,
        "Jul" => time::Month::July,
        "Aug" => time::Month::August,
        "Sep" => time::Month::September,
        "Oct" => time::Month::October,
        "Nov" => time::Month::November,
        "Dec" => time::Month::December,
        _ => return None,
    };
    let clock = clock.split('.').next()?;
    let mut hms = clock.split(':').map(|n| n.parse::<u8>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() {
        return None;
    }
    let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    Some(time::PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn birth_dates_are_read_with_or_without_the_era_digit() {
        assert_eq!(parse_birth_date("319800217"), Some(date!(1980 - 02 - 17)));
        assert_eq!(parse_birth_date("520081206"), Some(date!(2008 - 12 - 06)));
        assert_eq!(parse_birth_date("020000229"), Some(date!(2000 - 02 - 29)));
        assert_eq!(parse_birth_date("19800217"), Some(date!(1980 - 02 - 17)));
        for bad in ["", "00000", "919800217", "319801317", "319790229", "3198002１7", "3-1980-02"] {
            assert_eq!(parse_birth_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn openssl_printed_generalized_times_become_unix_seconds() {
        assert_eq!(generalized_time_unix("Jan  1 00:00:00 1970 GMT"), Some(0));
        assert_eq!(generalized_time_unix("Dec  6 09:30:05 2026 GMT"), Some(1_796_549_405));
        assert_eq!(generalized_time_unix("Dec 16 09:30:05.25 2026 GMT"), Some(1_796_549_405 + 10 * 86_400));
        for bad in [
            "",
            "Dec  6 09:30 2026 GMT",
            "Foo  6 09:30:05 2026 GMT",
            "Dec  6 09:30:05 2026",
            "Feb 30 00:00:00 2026 GMT",
        ] {
            assert_eq!(generalized_time_unix(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc2253_escapes_special_characters() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape("#x "), "\\#x\\ ");
        assert_eq!(escape(" 青葉 "), "\\ 青葉\\ ");
        assert_eq!(escape("JPKI"), "JPKI");
    }
}
