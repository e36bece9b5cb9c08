//! # residency — proof that a survey respondent is a verified person
//!
//! This crate owns the proof behind "verified-resident surveys": it checks
//! a respondent's identity evidence (a マイナンバーカード 署名用電子証明書
//! signature in [`jpki`]; an OpenID Connect identity in `oidc`) and reduces
//! the person to a [`VerifiedPerson`] from which a caller takes only the
//! [`Facts`] a municipality asks for (resident, adult) and the stable
//! identity to feed into a keyed pseudonym. It is pure: no network, no
//! files, no clock (callers pass the time). It must never log, `Debug`-print
//! or put into an error a person's name, address or birth date, and it
//! never keeps them: a `VerifiedPerson` lives in memory for the moment of
//! verification (its strings are zeroised on drop), and callers get only
//! what they ask for.
#![forbid(unsafe_code)]

use std::fmt;

use unicode_normalization::UnicodeNormalization;

pub mod jpki;
pub mod oidc;

/// A person whose identity was verified, held in memory only for the moment of verification.
pub struct VerifiedPerson {
    /// The stable identity with its source: "jpki:{issuer DN as RFC 2253 / openssl oneline string}:{serial hex upper}" or "oidc:{issuer}:{subject}". Only ever fed into a keyed pseudonym, never stored.
    pub person: zeroize::Zeroizing<String>,
    pub birth_date: Option<time::Date>,
    pub address: Option<zeroize::Zeroizing<String>>,
}

impl fmt::Debug for VerifiedPerson {
    /// Only the source ("jpki"/"oidc") and which facts are present: never the
    /// identity, the birth date or the address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.person.split_once(':') {
            Some(("jpki", _)) => "jpki",
            Some(("oidc", _)) => "oidc",
            _ => "unknown",
        };
        f.debug_struct("VerifiedPerson")
            .field("source", &source)
            .field("birth_date", &if self.birth_date.is_some() { "present" } else { "absent" })
            .field("address", &if self.address.is_some() { "present" } else { "absent" })
            .finish()
    }
}

/// The age from which a person is an adult in Japan (民法 4条, since 2022).
pub const ADULT_AGE: u8 = 18;

impl VerifiedPerson {
    /// The facts a tenant may require: resident = the address, NFKC-normalised with all whitespace removed, starts with `municipality` (also normalised so, e.g. "みどり県青葉市"); adult = 18 full years old on `today` (born 2008-12-06 is adult on 2026-12-06; 29 Feb birthdays turn a year older on 1 Mar in non-leap years, as Japanese law counts: the day before the birthday anniversary ends the year).
    ///
    /// `municipality` should name the prefecture and end with 市, 区, 町 or
    /// 村 ("みどり県青葉市"), so that it is not the prefix of a neighbour's
    /// name; an empty municipality makes nobody a resident.
    pub fn facts(&self, municipality: &str, today: time::Date) -> Facts {
        let municipality = compact(municipality);
        let resident = !municipality.is_empty()
            && self.address.as_ref().is_some_and(|address| compact(address).starts_with(municipality.as_str()));
        let adult = self.birth_date.is_some_and(|born| is_of_age(born, ADULT_AGE, today));
        Facts { resident, adult }
    }
}

/// NFKC with every whitespace character removed ("みどり県 青葉市１－２" →
/// "みどり県青葉市1-2"). Zeroised on drop: it is a copy of an address.
fn compact(s: &str) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(s.nfkc().filter(|c| !c.is_whitespace()).collect())
}

/// Whether someone born on `born` is `years` full years old on `today`.
///
/// 年齢計算ニ関スル法律 counts age from the day of birth, and 民法 143条
/// ends each year at the end of the day before the anniversary; where the
/// anniversary does not exist (29 February in a common year) the year ends
/// with the month, so the person is a year older from 1 March.
fn is_of_age(born: time::Date, years: u8, today: time::Date) -> bool {
    let Some(year) = born.year().checked_add(i32::from(years)) else {
        return false;
    };
    let anniversary = match time::Date::from_calendar_date(year, born.month(), born.day()) {
        Ok(day) => day,
        // Only 29 February of a common year has no anniversary.
        Err(_) => match time::Date::from_calendar_date(year, time::Month::March, 1) {
            Ok(day) => day,
            Err(_) => return false,
        },
    };
    today >= anniversary
}

/// The facts about a verified person that a survey may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Facts {
    pub resident: bool,
    pub adult: bool,
}

/// What a survey may require of a respondent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    Resident,
    Adult,
}

impl Facts {
    /// `Ok` when every requirement holds; otherwise the first unmet one, in
    /// the order given.
    pub fn meets(&self, required: &[Requirement]) -> Result<(), Requirement> {
        match required.iter().find(|r| !self.holds(**r)) {
            Some(unmet) => Err(*unmet),
            None => Ok(()),
        }
    }

    fn holds(&self, requirement: Requirement) -> bool {
        match requirement {
            Requirement::Resident => self.resident,
            Requirement::Adult => self.adult,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;
    use zeroize::Zeroizing;

    fn person(birth_date: Option<time::Date>, address: Option<&str>) -> VerifiedPerson {
        VerifiedPerson {
            person: Zeroizing::new("jpki:CN=JPKI Test Sign CA,O=JPKI Test,C=JP:0A1B".to_owned()),
            birth_date,
            address: address.map(|a| Zeroizing::new(a.to_owned())),
        }
    }

    const TODAY: time::Date = date!(2026 - 12 - 06);

    #[test]
    fn a_resident_is_one_whose_address_starts_with_the_municipality() {
        let p = person(None, Some("みどり県青葉市本町一丁目２番３号"));
        assert!(p.facts("みどり県青葉市", TODAY).resident);
        assert!(!p.facts("みどり県若葉市", TODAY).resident);
        assert!(!p.facts("青葉市", TODAY).resident, "the prefecture is part of the prefix");
    }

    #[test]
    fn the_address_and_municipality_are_compared_after_nfkc_without_whitespace() {
        // Full-width digits and an ideographic space in the certificate,
        // half-width and ASCII spaces in the tenant's setting.
        let p = person(None, Some("みどり県　青葉市　本町１－２－３"));
        assert!(p.facts(" みどり県 青葉市 ", TODAY).resident);
        let p = person(None, Some("ﾐﾄﾞﾘ県青葉市本町1-2-3"));
        assert!(p.facts("ミドリ県青葉市", TODAY).resident, "half-width katakana is normalised");
    }

    #[test]
    fn nobody_is_a_resident_of_an_empty_municipality_or_without_an_address() {
        assert!(!person(None, Some("みどり県青葉市本町")).facts("  ", TODAY).resident);
        assert!(!person(None, None).facts("みどり県青葉市", TODAY).resident);
    }

    #[test]
    fn an_adult_is_eighteen_from_the_anniversary_of_the_birth_day() {
        let p = person(Some(date!(2008 - 12 - 06)), None);
        assert!(p.facts("x", date!(2026 - 12 - 06)).adult);
        assert!(!p.facts("x", date!(2026 - 12 - 05)).adult);
        assert!(p.facts("x", date!(2040 - 01 - 01)).adult);
        assert!(!person(None, None).facts("x", TODAY).adult, "no birth date, no adulthood");
    }

    #[test]
    fn a_leap_day_birthday_turns_a_year_older_on_the_first_of_march_in_a_common_year() {
        let p = person(Some(date!(2008 - 02 - 29)), None);
        // 2026 is a common year: still 17 on 28 February, 18 on 1 March.
        assert!(!p.facts("x", date!(2026 - 02 - 28)).adult);
        assert!(p.facts("x", date!(2026 - 03 - 01)).adult);
        // In a leap year the anniversary exists.
        let p = person(Some(date!(2010 - 02 - 28)), None);
        assert!(!p.facts("x", date!(2028 - 02 - 27)).adult);
        assert!(p.facts("x", date!(2028 - 02 - 28)).adult);
        let p = person(Some(date!(1992 - 02 - 29)), None);
        assert!(!p.facts("x", date!(2010 - 02 - 28)).adult);
        assert!(p.facts("x", date!(2010 - 03 - 01)).adult);
    }

    #[test]
    fn facts_meets_returns_the_first_unmet_requirement() {
        let both = Facts { resident: true, adult: true };
        assert_eq!(both.meets(&[Requirement::Resident, Requirement::Adult]), Ok(()));
        assert_eq!(both.meets(&[]), Ok(()));
        let minor = Facts { resident: true, adult: false };
        assert_eq!(minor.meets(&[Requirement::Resident, Requirement::Adult]), Err(Requirement::Adult));
        let neither = Facts { resident: false, adult: false };
        assert_eq!(neither.meets(&[Requirement::Adult, Requirement::Resident]), Err(Requirement::Adult));
        assert_eq!(neither.meets(&[Requirement::Resident, Requirement::Adult]), Err(Requirement::Resident));
        assert_eq!(Facts { resident: false, adult: true }.meets(&[Requirement::Adult]), Ok(()));
    }

    #[test]
    fn requirements_and_facts_serialise_in_snake_case() {
        assert_eq!(serde_json::to_string(&Requirement::Resident).unwrap(), "\"resident\"");
        let facts: Facts = serde_json::from_str(r#"{"resident":true,"adult":false}"#).unwrap();
        assert_eq!(facts, Facts { resident: true, adult: false });
    }

    #[test]
    fn debug_shows_the_source_and_presence_only() {
        let p = person(Some(date!(1980 - 02 - 17)), Some("みどり県青葉市本町1-2-3"));
        let shown = format!("{p:?}");
        assert_eq!(shown, r#"VerifiedPerson { source: "jpki", birth_date: "present", address: "present" }"#);
        for secret in ["青葉", "1980", "0A1B", "JPKI Test"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let p = VerifiedPerson { person: Zeroizing::new("oidc:https://id.example:abc".into()), ..person(None, None) };
        assert_eq!(format!("{p:?}"), r#"VerifiedPerson { source: "oidc", birth_date: "absent", address: "absent" }"#);
    }
}
