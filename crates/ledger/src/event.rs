//! What a leaf records, and its canonical bytes.

use serde::{Deserialize, Serialize};

use crate::{Hash, LedgerError};

/// First field of every canonical event, naming the format and its version.
const EVENT_MAGIC: &str = "madoguchi-ledger-event v1";

/// One entry of the ledger. It names who did what to which record, and
/// when; it never carries personal data (use hashes and 到達番号), because
/// leaves are kept forever and shown to auditors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// Unix seconds, from the caller's clock.
    pub at: i64,
    /// The principal: "resident", "desk:aoba-desk1", "staff:tanaka",
    /// "operator:root", "system".
    pub actor: String,
    pub tenant: Option<String>,
    /// The source address, where there is one.
    pub source: Option<String>,
    /// What the event is about, e.g. a 到達番号 "2026-000001".
    pub subject: Option<String>,
    /// E.g. the sealed record's SHA-256 in hex. Never personal data.
    pub detail: String,
}

impl Event {
    /// The bytes whose [`crate::leaf_hash`] is this event's leaf: a fixed
    /// sequence of self-delimiting fields, so that equal events always give
    /// equal bytes and different events never do:
    ///
    /// ```text
    /// str("madoguchi-ledger-event v1")
    /// str(kind)                    e.g. "status_change", see EventKind::as_str
    /// at                           8 bytes, big-endian two's complement
    /// str(actor)
    /// opt(tenant) opt(source) opt(subject)
    /// str(detail)
    ///
    /// str(s)   = length of s in UTF-8 bytes as 8 bytes big-endian || the bytes of s
    /// opt(None)    = 0x00
    /// opt(Some(s)) = 0x01 || str(s)
    /// ```
    ///
    /// Strings are taken as they are (no normalisation); the caller passes
    /// them in the form it wants recorded.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let strings = [self.actor.len(), self.detail.len()]
            .into_iter()
            .chain([&self.tenant, &self.source, &self.subject].iter().map(|s| s.as_ref().map_or(0, |s| s.len())))
            .sum::<usize>();
        let mut out = Vec::with_capacity(EVENT_MAGIC.len() + 32 + 8 * 8 + 3 + strings);
        put_str(&mut out, EVENT_MAGIC);
        put_str(&mut out, self.kind.as_str());
        out.extend_from_slice(&self.at.to_be_bytes());
        put_str(&mut out, &self.actor);
        for field in [&self.tenant, &self.source, &self.subject] {
            match field {
                None => out.push(0x00),
                Some(s) => {
                    out.push(0x01);
                    put_str(&mut out, s);
                }
            }
        }
        put_str(&mut out, &self.detail);
        out
    }

    /// The inverse of [`Event::canonical_bytes`], for a store that keeps the
    /// bytes themselves: refuses anything that is not exactly the canonical
    /// encoding of some event.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, LedgerError> {
        let mut reader = Reader(bytes);
        if reader.str()? != EVENT_MAGIC {
            return Err(LedgerError::MalformedEvent("not a madoguchi ledger event v1"));
        }
        let kind = EventKind::parse(reader.str()?)?;
        let at = i64::from_be_bytes(reader.take(8)?.try_into().map_err(|_| LedgerError::MalformedEvent("time"))?);
        let actor = reader.str()?.to_owned();
        let tenant = reader.opt()?;
        let source = reader.opt()?;
        let subject = reader.opt()?;
        let detail = reader.str()?.to_owned();
        if !reader.0.is_empty() {
            return Err(LedgerError::MalformedEvent("trailing bytes"));
        }
        Ok(Event { kind, at, actor, tenant, source, subject, detail })
    }

    /// The leaf hash of [`Event::canonical_bytes`].
    pub fn leaf_hash(&self) -> Hash {
        crate::leaf_hash(&self.canonical_bytes())
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LedgerError> {
        if self.0.len() < n {
            return Err(LedgerError::MalformedEvent("truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn str(&mut self) -> Result<&'a str, LedgerError> {
        let len = u64::from_be_bytes(self.take(8)?.try_into().map_err(|_| LedgerError::MalformedEvent("length"))?);
        let len = usize::try_from(len).map_err(|_| LedgerError::MalformedEvent("truncated"))?;
        std::str::from_utf8(self.take(len)?).map_err(|_| LedgerError::MalformedEvent("a field is not UTF-8"))
    }

    fn opt(&mut self) -> Result<Option<String>, LedgerError> {
        match self.take(1)? {
            [0x00] => Ok(None),
            [0x01] => Ok(Some(self.str()?.to_owned())),
            _ => Err(LedgerError::MalformedEvent("an optional field's flag is neither 0 nor 1")),
        }
    }
}

/// What happened. The text forms ([`EventKind::as_str`], and serde's) are
/// part of the canonical bytes: never rename one, only add new kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Submission,
    StatusChange,
    Login,
    LoginFailed,
    SecondFactorChange,
    KeyEvent,
    Export,
    RecordView,
    DeskPull,
    AdminAction,
    Alert,
    /// A resident registered as a participant of a tenant's rooms.
    Participant,
    /// A post (or reply, or public-comment opinion) in a room.
    Post,
    /// A participant reported a post (通報).
    PostReport,
    /// A moderator acted on a post: approve, hide, restore, annotate,
    /// or reviewed its reports.
    Moderation,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 15] = [
        EventKind::Submission,
        EventKind::StatusChange,
        EventKind::Login,
        EventKind::LoginFailed,
        EventKind::SecondFactorChange,
        EventKind::KeyEvent,
        EventKind::Export,
        EventKind::RecordView,
        EventKind::DeskPull,
        EventKind::AdminAction,
        EventKind::Alert,
        EventKind::Participant,
        EventKind::Post,
        EventKind::PostReport,
        EventKind::Moderation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Submission => "submission",
            EventKind::StatusChange => "status_change",
            EventKind::Login => "login",
            EventKind::LoginFailed => "login_failed",
            EventKind::SecondFactorChange => "second_factor_change",
            EventKind::KeyEvent => "key_event",
            EventKind::Export => "export",
            EventKind::RecordView => "record_view",
            EventKind::DeskPull => "desk_pull",
            EventKind::AdminAction => "admin_action",
            EventKind::Alert => "alert",
            EventKind::Participant => "participant",
            EventKind::Post => "post",
            EventKind::PostReport => "post_report",
            EventKind::Moderation => "moderation",
        }
    }

    /// The kind whose [`EventKind::as_str`] is exactly `s`.
    pub fn parse(s: &str) -> Result<Self, LedgerError> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s).ok_or_else(|| LedgerError::UnknownEventKind(s.to_owned()))
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventKind {
    type Err = LedgerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            kind: EventKind::Submission,
            at: 1_764_000_000,
            actor: "resident".into(),
            tenant: Some("aoba-city".into()),
            source: Some("203.0.113.7".into()),
            subject: Some("2026-000001".into()),
            detail: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        }
    }

    #[test]
    fn the_canonical_bytes_are_the_documented_ones() {
        let mut expected = Vec::new();
        for part in [
            &b"\0\0\0\0\0\0\0\x19madoguchi-ledger-event v1"[..],
            b"\0\0\0\0\0\0\0\x0asubmission",
            &1_764_000_000i64.to_be_bytes(),
            b"\0\0\0\0\0\0\0\x08resident",
            b"\x01\0\0\0\0\0\0\0\x09aoba-city",
            b"\x01\0\0\0\0\0\0\0\x0b203.0.113.7",
            b"\x01\0\0\0\0\0\0\0\x0b2026-000001",
            b"\0\0\0\0\0\0\0\x40",
            b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            expected.extend_from_slice(part);
        }
        assert_eq!(event().canonical_bytes(), expected);
        assert_eq!(event().leaf_hash(), crate::leaf_hash(&expected));

        let bare = Event { tenant: None, source: None, subject: None, at: -1, ..event() };
        let bytes = bare.canonical_bytes();
        assert_eq!(&bytes[51..59], &[0xff; 8], "negative times are two's complement");
        assert_eq!(&bytes[75..78], &[0, 0, 0], "absent fields are one zero byte each");
    }

    #[test]
    fn canonical_bytes_are_deterministic() {
        assert_eq!(event().canonical_bytes(), event().canonical_bytes());
        assert_eq!(event().clone().leaf_hash(), event().leaf_hash());
        // A round trip through JSON (as a store or an export might do) changes nothing.
        let json = serde_json::to_string(&event()).unwrap();
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back.canonical_bytes(), event().canonical_bytes());
    }

    #[test]
    fn any_change_to_any_field_changes_the_bytes() {
        let variants = [
            event(),
            Event { kind: EventKind::StatusChange, ..event() },
            Event { at: 1_764_000_001, ..event() },
            Event { at: -1_764_000_000, ..event() },
            Event { actor: "staff:tanaka".into(), ..event() },
            Event { actor: "".into(), ..event() },
            Event { tenant: None, ..event() },
            Event { tenant: Some("".into()), ..event() },
            Event { tenant: Some("aoba-cit".into()), ..event() },
            Event { source: None, ..event() },
            Event { source: Some("203.0.113.8".into()), ..event() },
            Event { subject: None, ..event() },
            Event { subject: Some("2026-000002".into()), ..event() },
            Event { detail: "".into(), ..event() },
            Event { detail: "9f86".into(), ..event() },
            // Text moved between neighbouring fields must not collide.
            Event { actor: "residentaoba-city".into(), tenant: Some("".into()), ..event() },
            Event { tenant: None, source: Some("aoba-city".into()), subject: Some("203.0.113.7".into()), ..event() },
            Event { subject: None, detail: format!("2026-000001{}", event().detail), ..event() },
        ];
        let mut seen = std::collections::HashSet::new();
        for v in &variants {
            assert!(seen.insert(v.canonical_bytes()), "collision: {v:?}");
        }
        let mut kinds = std::collections::HashSet::new();
        for kind in EventKind::ALL {
            assert!(kinds.insert(Event { kind, ..event() }.leaf_hash()), "{kind}");
        }
    }

    #[test]
    fn canonical_bytes_decode_back_and_nothing_else_does() {
        let unicode = Event { actor: "staff:田中".into(), subject: None, ..event() };
        for e in [event(), unicode, Event { tenant: None, source: None, subject: None, ..event() }] {
            assert_eq!(Event::from_canonical_bytes(&e.canonical_bytes()).unwrap(), e);
        }
        let bytes = event().canonical_bytes();
        for cut in 0..bytes.len() {
            assert!(Event::from_canonical_bytes(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        assert!(Event::from_canonical_bytes(&[bytes.clone(), vec![0]].concat()).is_err());
        let mut flag = bytes.clone();
        flag[75] = 0x02;
        assert!(Event::from_canonical_bytes(&flag).is_err());
        let mut kind = bytes.clone();
        kind[41] = b'S';
        assert!(matches!(Event::from_canonical_bytes(&kind), Err(LedgerError::UnknownEventKind(_))));
        let mut magic = bytes;
        magic[8] = b'M';
        assert!(Event::from_canonical_bytes(&magic).is_err());
    }

    #[test]
    fn kinds_have_stable_text_forms() {
        let expected = [
            "submission",
            "status_change",
            "login",
            "login_failed",
            "second_factor_change",
            "key_event",
            "export",
            "record_view",
            "desk_pull",
            "admin_action",
            "alert",
            "participant",
            "post",
            "post_report",
            "moderation",
        ];
        for (kind, text) in EventKind::ALL.into_iter().zip(expected) {
            assert_eq!(kind.as_str(), text);
            assert_eq!(kind.to_string(), text);
            assert_eq!(EventKind::parse(text).unwrap(), kind);
            assert_eq!(text.parse::<EventKind>().unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{text}\""));
        }
        for bad in ["", "Submission", "status-change", "submission "] {
            assert!(matches!(EventKind::parse(bad), Err(LedgerError::UnknownEventKind(s)) if s == bad));
        }
    }
}
