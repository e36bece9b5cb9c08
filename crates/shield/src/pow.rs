//! Proof of work for under-attack mode: before a new visitor of a tenant
//! under attack gets a form, their browser finds a number whose hash with
//! a challenge starts with enough zero bits (a fraction of a second to a
//! few seconds on a phone). Without JavaScript, the same page asks the
//! visitor to wait and press a button: time instead of work.
//!
//! Challenges are stateless (MACed); an answered challenge is remembered
//! until it expires, so one answer passes once: by this node, and with a
//! shared state by every node (an answer accepted on one node is refused on
//! all the others).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::shared::SharedState;

type HmacSha256 = Hmac<Sha256>;

/// How long a challenge may be answered, in seconds.
pub const CHALLENGE_SECS: u64 = 600;
/// How long a pass lets the visitor in without another challenge.
pub const PASS_SECS: u64 = 3600;

/// A challenge as sent to the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The text the browser hashes with its counter.
    pub text: String,
    pub difficulty: u8,
    /// Seconds a visitor without JavaScript waits instead.
    pub wait_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the challenge is not ours or was altered")]
    Forged,
    #[error("the challenge is for another tenant")]
    OtherTenant,
    #[error("the challenge expired")]
    Expired,
    #[error("the answer does not have enough zero bits")]
    NotEnoughWork,
    #[error("answered too early (the wait is not over)")]
    TooEarly,
    #[error("this challenge was already answered")]
    Replayed,
}

pub struct Pow {
    key: [u8; 32],
    answered: Mutex<HashMap<[u8; 16], u64>>,
    /// Where all nodes remember the answers, when configured.
    shared: Option<Arc<SharedState>>,
}

/// A challenge whose answer checked out, not yet spent.
struct Answered {
    nonce: [u8; 16],
    /// Unix seconds until which it must be remembered.
    expires: u64,
}

fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in hash {
        if *byte == 0 {
            bits += 8;
        } else {
            bits += byte.leading_zeros();
            break;
        }
    }
    bits
}

/// The work: SHA-256 of "challenge:counter".
pub fn work_hash(challenge: &str, counter: u64) -> [u8; 32] {
    Sha256::digest(format!("{challenge}:{counter}").as_bytes()).into()
}

/// What a browser does (and the tests): the first counter that meets the
/// difficulty.
pub fn solve(challenge: &Challenge) -> u64 {
    (0u64..)
        .find(|c| leading_zero_bits(&work_hash(&challenge.text, *c)) >= u32::from(challenge.difficulty))
        .unwrap_or(0)
}

/// The difficulty and wait written in a challenge (unverified: for
/// showing the page again).
pub fn parameters(text: &str) -> Option<(u8, u64)> {
    let token = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    if token.len() < 16 + 8 + 1 + 8 + 16 {
        return None;
    }
    Some((token[24], u64::from_be_bytes(token[25..33].try_into().ok()?)))
}

impl Pow {
    pub fn new(key: [u8; 32]) -> Pow {
        Pow { key, answered: Mutex::new(HashMap::new()), shared: None }
    }

    /// A `Pow` that remembers answers in `shared` too (all nodes see them).
    pub fn with_shared(key: [u8; 32], shared: Option<Arc<SharedState>>) -> Pow {
        Pow { shared, ..Pow::new(key) }
    }

    fn mac(&self, label: &str, data: &[u8]) -> [u8; 32] {
        // A key of any length is accepted by HMAC.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// A new challenge for `tenant` at `now` (unix seconds).
    pub fn challenge(&self, tenant: &str, now: u64, difficulty: u8, wait_secs: u64) -> Challenge {
        let mut nonce = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let mut body = Vec::with_capacity(64);
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&now.to_be_bytes());
        body.push(difficulty);
        body.extend_from_slice(&wait_secs.to_be_bytes());
        body.extend_from_slice(tenant.as_bytes());
        let tag = self.mac("challenge", &body);
        let mut token = body;
        token.extend_from_slice(&tag[..16]);
        Challenge { text: URL_SAFE_NO_PAD.encode(token), difficulty, wait_secs }
    }

    /// Checks an answer: `counter` for the work, or None for the patient
    /// visitor without JavaScript. On success the challenge is spent (in
    /// this node's memory only: see [`Pow::verify_shared`]).
    pub fn verify(&self, tenant: &str, text: &str, counter: Option<u64>, now: u64) -> Result<(), Refused> {
        let answered = self.check(tenant, text, counter, now)?;
        self.spend_here(&answered, now)
    }

    /// [`Pow::verify`], and with a shared state the challenge is spent on
    /// every node: an answer accepted here is refused everywhere. When the
    /// shared state cannot answer in time, this node's memory decides
    /// alone (the answer could then pass once more on another node).
    pub async fn verify_shared(&self, tenant: &str, text: &str, counter: Option<u64>, now: u64) -> Result<(), Refused> {
        let answered = self.check(tenant, text, counter, now)?;
        self.spend_here(&answered, now)?;
        if let Some(shared) = &self.shared {
            let ttl = Duration::from_secs(answered.expires.saturating_sub(now).max(1));
            if shared.use_once(&answered.nonce, ttl).await == Some(false) {
                return Err(Refused::Replayed);
            }
        }
        Ok(())
    }

    /// Everything but spending: the MAC, the tenant, the expiry, the work
    /// or the wait.
    fn check(&self, tenant: &str, text: &str, counter: Option<u64>, now: u64) -> Result<Answered, Refused> {
        let token = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| Refused::Forged)?;
        if token.len() < 16 + 8 + 1 + 8 + 16 {
            return Err(Refused::Forged);
        }
        let (body, tag) = token.split_at(token.len() - 16);
        let expected = self.mac("challenge", body);
        if !constant_time_eq(tag, &expected[..16]) {
            return Err(Refused::Forged);
        }
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&body[..16]);
        let issued = u64::from_be_bytes(body[16..24].try_into().map_err(|_| Refused::Forged)?);
        let difficulty = body[24];
        let wait = u64::from_be_bytes(body[25..33].try_into().map_err(|_| Refused::Forged)?);
        if &body[33..] != tenant.as_bytes() {
            return Err(Refused::OtherTenant);
        }
        if now > issued + CHALLENGE_SECS {
            return Err(Refused::Expired);
        }
        match counter {
            Some(counter) if leading_zero_bits(&work_hash(text.trim(), counter)) >= u32::from(difficulty) => {}
            Some(_) => return Err(Refused::NotEnoughWork),
            None if now >= issued + wait => {}
            None => return Err(Refused::TooEarly),
        }
        Ok(Answered { nonce, expires: issued + CHALLENGE_SECS })
    }

    /// Spends the challenge in this node's memory.
    fn spend_here(&self, answered: &Answered, now: u64) -> Result<(), Refused> {
        let mut remembered = match self.answered.lock() {
            Ok(remembered) => remembered,
            Err(poisoned) => poisoned.into_inner(),
        };
        remembered.retain(|_, expires| *expires > now);
        if remembered.insert(answered.nonce, answered.expires).is_some() {
            return Err(Refused::Replayed);
        }
        Ok(())
    }

    /// A pass for `tenant` until `now + PASS_SECS` (the cookie's value).
    pub fn pass(&self, tenant: &str, now: u64) -> String {
        let expires = now + PASS_SECS;
        let mut body = expires.to_be_bytes().to_vec();
        body.extend_from_slice(tenant.as_bytes());
        let tag = self.mac("pass", &body);
        body.extend_from_slice(&tag[..16]);
        URL_SAFE_NO_PAD.encode(body)
    }

    pub fn pass_is_valid(&self, tenant: &str, pass: &str, now: u64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(pass.trim()) else { return false };
        if bytes.len() < 8 + 16 {
            return false;
        }
        let (body, tag) = bytes.split_at(bytes.len() - 16);
        let expected = self.mac("pass", body);
        let expires = body[..8].try_into().map(u64::from_be_bytes).unwrap_or(0);
        constant_time_eq(tag, &expected[..16]) && &body[8..] == tenant.as_bytes() && now <= expires
    }

    /// Answered challenges remembered by this node (memory is bounded by
    /// their expiry).
    pub fn remembered(&self) -> usize {
        self.answered.lock().map(|a| a.len()).unwrap_or(0)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn solved_work_passes_once() {
        let pow = Pow::new([7; 32]);
        let challenge = pow.challenge("aoba-city", NOW, 10, 20);
        let counter = solve(&challenge);
        assert_eq!(pow.verify("aoba-city", &challenge.text, Some(counter), NOW + 1), Ok(()));
        assert_eq!(pow.verify("aoba-city", &challenge.text, Some(counter), NOW + 2), Err(Refused::Replayed));
    }

    #[test]
    fn wrong_work_forged_or_foreign_challenges_are_refused() {
        let pow = Pow::new([7; 32]);
        let challenge = pow.challenge("aoba-city", NOW, 16, 20);
        let counter = solve(&challenge);
        let bad = (0u64..).find(|c| leading_zero_bits(&work_hash(&challenge.text, *c)) == 0).unwrap_or(0);
        assert_eq!(pow.verify("aoba-city", &challenge.text, Some(bad), NOW), Err(Refused::NotEnoughWork));
        assert_eq!(pow.verify("sakura-town", &challenge.text, Some(counter), NOW), Err(Refused::OtherTenant));
        assert_eq!(pow.verify("aoba-city", &challenge.text, Some(counter), NOW + 601), Err(Refused::Expired));
        let other_key = Pow::new([8; 32]);
        assert_eq!(other_key.verify("aoba-city", &challenge.text, Some(counter), NOW), Err(Refused::Forged));
        // An easier difficulty written into the challenge breaks its MAC.
        let mut bytes = URL_SAFE_NO_PAD.decode(&challenge.text).expect("b64");
        bytes[24] = 0;
        let easier = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(pow.verify("aoba-city", &easier, Some(0), NOW), Err(Refused::Forged));
    }

    #[test]
    fn without_javascript_a_patient_visitor_passes_after_the_wait() {
        let pow = Pow::new([7; 32]);
        let challenge = pow.challenge("aoba-city", NOW, 18, 20);
        assert_eq!(pow.verify("aoba-city", &challenge.text, None, NOW + 5), Err(Refused::TooEarly));
        assert_eq!(pow.verify("aoba-city", &challenge.text, None, NOW + 20), Ok(()));
        assert_eq!(pow.verify("aoba-city", &challenge.text, None, NOW + 21), Err(Refused::Replayed));
    }

    #[test]
    fn a_pass_is_for_one_tenant_and_expires() {
        let pow = Pow::new([7; 32]);
        let pass = pow.pass("aoba-city", NOW);
        assert!(pow.pass_is_valid("aoba-city", &pass, NOW + 10));
        assert!(!pow.pass_is_valid("sakura-town", &pass, NOW + 10));
        assert!(!pow.pass_is_valid("aoba-city", &pass, NOW + PASS_SECS + 1));
        assert!(!pow.pass_is_valid("aoba-city", "garbage", NOW));
    }

    fn shared_pair(url: Option<&str>) -> (Pow, Pow, String) {
        let settings = crate::shared::tests::settings(url);
        let prefix = settings.key_prefix.clone();
        let a = SharedState::new(settings.clone(), &[7; 32]).expect("a");
        let b = SharedState::new(settings, &[7; 32]).expect("b");
        (Pow::with_shared([7; 32], Some(a)), Pow::with_shared([7; 32], Some(b)), prefix)
    }

    /// Two nodes, one Redis: an answer node A accepted is refused by node B,
    /// and a pass works on both (it is a signed cookie).
    #[tokio::test]
    async fn an_answer_accepted_on_one_node_is_refused_on_another() {
        crate::shared::tests::require_redis().await;
        let (node_a, node_b, prefix) = shared_pair(None);
        let _clean_up = crate::shared::tests::CleanUp(prefix);
        let challenge = node_a.challenge("aoba-city", NOW, 8, 20);
        let counter = solve(&challenge);
        assert_eq!(node_a.verify_shared("aoba-city", &challenge.text, Some(counter), NOW + 1).await, Ok(()));
        assert_eq!(
            node_b.verify_shared("aoba-city", &challenge.text, Some(counter), NOW + 2).await,
            Err(Refused::Replayed)
        );
        assert_eq!(
            node_a.verify_shared("aoba-city", &challenge.text, Some(counter), NOW + 3).await,
            Err(Refused::Replayed)
        );
        // The patient visitor's answer too.
        let patient = node_b.challenge("aoba-city", NOW, 18, 20);
        assert_eq!(node_b.verify_shared("aoba-city", &patient.text, None, NOW + 20).await, Ok(()));
        assert_eq!(node_a.verify_shared("aoba-city", &patient.text, None, NOW + 21).await, Err(Refused::Replayed));
        let pass = node_a.pass("aoba-city", NOW);
        assert!(node_b.pass_is_valid("aoba-city", &pass, NOW + 5));
    }

    /// Without Redis each node still spends answers in its own memory.
    #[tokio::test]
    async fn without_redis_each_node_still_refuses_its_own_replays() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let (node_a, node_b, _) = shared_pair(Some(&format!("redis://127.0.0.1:{closed}")));
        let challenge = node_a.challenge("aoba-city", NOW, 8, 20);
        let counter = solve(&challenge);
        assert_eq!(node_a.verify_shared("aoba-city", &challenge.text, Some(counter), NOW + 1).await, Ok(()));
        assert_eq!(
            node_a.verify_shared("aoba-city", &challenge.text, Some(counter), NOW + 2).await,
            Err(Refused::Replayed)
        );
        assert_eq!(
            node_b.verify_shared("aoba-city", &challenge.text, Some(counter), NOW + 2).await,
            Ok(()),
            "fail open: node B cannot know"
        );
    }
}
