//! Keyed, per-survey pseudonyms for verified respondents (住民限定アンケート).
//!
//! When a survey requires proof of residency, the counter learns who
//! answered (a certificate's serial and issuer, or an identity provider's
//! subject) only for the moment of verification. What it keeps is
//! HMAC-SHA256 under a key derived from a secret that is not in the
//! database, over the tenant, the survey and the person: the same person in
//! the same survey always gets the same pseudonym (so a second answer is
//! refused), while two surveys' pseudonyms cannot be linked, and without
//! the key no pseudonym can be tried against a list of people.

use zeroize::Zeroizing;

use crate::token::hmac_sha256;

/// The pseudonym key, derived from the counter's shared secret.
pub struct Pseudonyms {
    key: Zeroizing<[u8; 32]>,
}

impl Pseudonyms {
    /// From the nodes' shared secret (every node derives the same key).
    pub fn new(secret: &[u8]) -> Pseudonyms {
        Pseudonyms { key: Zeroizing::new(hmac_sha256(secret, b"madoguchi survey pseudonyms v1")) }
    }

    /// The pseudonym of `person` in survey `survey` of `tenant`. `person`
    /// names the verified identity with its source, such as
    /// `jpki:{issuer}:{serial}` or `oidc:{issuer}:{subject}`.
    pub fn of(&self, tenant: &str, survey: &str, person: &str) -> String {
        let mut input = Vec::with_capacity(tenant.len() + survey.len() + person.len() + 12);
        for part in [tenant, survey, person] {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            input.extend_from_slice(&(part.len() as u32).to_be_bytes());
            input.extend_from_slice(part.as_bytes());
        }
        hex::encode(hmac_sha256(self.key.as_ref(), &input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_person_is_one_pseudonym_per_survey_and_surveys_do_not_link() {
        let keys = Pseudonyms::new(b"the counters' shared secret, 32 bytes!!");
        let person = "jpki:JPKI Sign CA:0123456789";
        let first = keys.of("aoba-city", "plan-2027", person);
        assert_eq!(first, keys.of("aoba-city", "plan-2027", person), "the same person, the same survey");
        assert_eq!(first.len(), 64);
        assert!(!first.contains("0123456789"));
        assert_ne!(first, keys.of("aoba-city", "parks-2027", person), "another survey");
        assert_ne!(first, keys.of("sakura-town", "plan-2027", person), "another municipality");
        assert_ne!(first, keys.of("aoba-city", "plan-2027", "jpki:JPKI Sign CA:0123456780"), "another person");
        assert_ne!(keys.of("ab", "c", person), keys.of("a", "bc", person), "parts cannot slide");
        let other = Pseudonyms::new(b"another installation's secret........");
        assert_ne!(first, other.of("aoba-city", "plan-2027", person), "without the key, nothing to compare");
    }
}
