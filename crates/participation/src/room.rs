//! Rooms: a 電子会議室 on a topic, or a パブリックコメント (public comment)
//! on a draft the tenant publishes, open until a deadline, one opinion per
//! person.

use serde::{Deserialize, Serialize};

use crate::Visibility;

/// How a room's posts become visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moderation {
    /// Shown once a moderator approves them (事前承認).
    Before,
    /// Shown at once; moderators hide what breaks the rules (事後削除).
    After,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomKind {
    /// Residents post and reply, on and on.
    Discussion,
    /// Opinions on a draft, from `opens` until `closes` (unix seconds),
    /// one per person; no replies; a closing report follows.
    PublicComment { opens: i64, closes: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub tenant: String,
    /// Lowercase letters, digits and `-`, as in URLs.
    pub id: String,
    pub title: String,
    pub kind: RoomKind,
    pub moderation: Moderation,
}

/// Whether a room takes a post now, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    Yes,
    NotYet,
    Closed,
}

impl Room {
    /// Whether the room takes posts at `now` (unix seconds).
    pub fn open_at(&self, now: i64) -> Open {
        match self.kind {
            RoomKind::Discussion => Open::Yes,
            RoomKind::PublicComment { opens, .. } if now < opens => Open::NotYet,
            RoomKind::PublicComment { closes, .. } if now >= closes => Open::Closed,
            RoomKind::PublicComment { .. } => Open::Yes,
        }
    }

    /// How a new post starts.
    pub fn first_visibility(&self) -> Visibility {
        match self.moderation {
            Moderation::Before => Visibility::Pending,
            Moderation::After => Visibility::Published,
        }
    }

    /// Whether a person may post again (public comment: one opinion each).
    pub fn takes_more_than_one_each(&self) -> bool {
        matches!(self.kind, RoomKind::Discussion)
    }

    /// Whether posts may answer other posts.
    pub fn has_replies(&self) -> bool {
        matches!(self.kind, RoomKind::Discussion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(moderation: Moderation) -> Room {
        Room {
            tenant: "aoba-city".into(),
            id: "plan-2027".into(),
            title: "青葉市総合計画（案）へのご意見".into(),
            kind: RoomKind::PublicComment { opens: 1_000, closes: 2_000 },
            moderation,
        }
    }

    #[test]
    fn a_public_comment_is_open_from_its_opening_until_its_deadline_one_opinion_each() {
        let room = comment(Moderation::Before);
        assert_eq!(room.open_at(999), Open::NotYet);
        assert_eq!(room.open_at(1_000), Open::Yes);
        assert_eq!(room.open_at(1_999), Open::Yes);
        assert_eq!(room.open_at(2_000), Open::Closed, "the deadline itself is past");
        assert!(!room.takes_more_than_one_each() && !room.has_replies());
        assert_eq!(room.first_visibility(), Visibility::Pending);
    }

    #[test]
    fn a_discussion_is_always_open_and_shows_posts_as_its_moderation_says() {
        let room = Room { kind: RoomKind::Discussion, ..comment(Moderation::After) };
        assert_eq!(room.open_at(0), Open::Yes);
        assert!(room.takes_more_than_one_each() && room.has_replies());
        assert_eq!(room.first_visibility(), Visibility::Published);
    }
}
