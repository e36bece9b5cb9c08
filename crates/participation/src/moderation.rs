//! Where a post stands, and what moderators may do to it. Every change is
//! an [`Action`] by a named moderator, recorded in the ledger by the
//! caller; this module only says which changes there are.
//!
//! ```text
//!            approve                hide
//! Pending ───────────▶ Published ─────────▶ Hidden
//!    │                     ▲                  │
//!    └──────── hide ───────┼──────────────────┤
//!                          └──── restore ─────┘
//! ```
//! An annotation (a moderator's note shown under the post, such as 「市の
//! 回答：…」) changes no state and may be added in any state.

use serde::{Deserialize, Serialize};

/// Whether residents see a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Waiting for a moderator (rooms that show posts after moderation).
    Pending,
    Published,
    /// Taken down by a moderator; kept, with the reason, for the record
    /// and for a restore.
    Hidden,
}

/// What a moderator does to a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Approve,
    /// `reason` is shown to residents in place of the post (規約違反 …).
    Hide {
        reason: String,
    },
    Restore,
    /// A note shown under the post.
    Annotate {
        note: String,
    },
}

impl Action {
    /// The name the ledger records it under.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Hide { .. } => "hide",
            Action::Restore => "restore",
            Action::Annotate { .. } => "annotate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModerationError {
    #[error("a {from:?} post cannot be given {action}")]
    NotFrom { from: Visibility, action: &'static str },
    #[error("a reason or note must not be empty")]
    Empty,
    #[error("a reason or note may have at most {max} characters")]
    TooLong { max: usize },
}

/// The longest reason or note, in characters.
pub const NOTE_MAX_CHARS: usize = 1000;

impl Visibility {
    /// The state `action` leaves a post in, or why it cannot be taken.
    pub fn after(self, action: &Action) -> Result<Visibility, ModerationError> {
        use Visibility::*;
        if let Action::Hide { reason: text } | Action::Annotate { note: text } = action {
            let count = text.trim().chars().count();
            if count == 0 {
                return Err(ModerationError::Empty);
            }
            if count > NOTE_MAX_CHARS {
                return Err(ModerationError::TooLong { max: NOTE_MAX_CHARS });
            }
        }
        match (self, action) {
            (Pending, Action::Approve) => Ok(Published),
            (Pending | Published, Action::Hide { .. }) => Ok(Hidden),
            (Hidden, Action::Restore) => Ok(Published),
            (state, Action::Annotate { .. }) => Ok(state),
            (from, action) => Err(ModerationError::NotFrom { from, action: action.name() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Visibility::*;

    fn hide() -> Action {
        Action::Hide {
            reason: "利用規約第5条（誹謗中傷）に当たるため非表示にしました。".into()
        }
    }

    #[test]
    fn every_state_and_action_has_one_answer() {
        let note = Action::Annotate { note: "市の回答：検討します。".into() };
        let table = [
            (Pending, Action::Approve, Ok(Published)),
            (Pending, hide(), Ok(Hidden)),
            (Pending, Action::Restore, Err("restore")),
            (Pending, note.clone(), Ok(Pending)),
            (Published, Action::Approve, Err("approve")),
            (Published, hide(), Ok(Hidden)),
            (Published, Action::Restore, Err("restore")),
            (Published, note.clone(), Ok(Published)),
            (Hidden, Action::Approve, Err("approve")),
            (Hidden, hide(), Err("hide")),
            (Hidden, Action::Restore, Ok(Published)),
            (Hidden, note, Ok(Hidden)),
        ];
        for (from, action, expected) in table {
            let got = from.after(&action);
            match expected {
                Ok(to) => assert_eq!(got, Ok(to), "{from:?} + {action:?}"),
                Err(name) => assert_eq!(got, Err(ModerationError::NotFrom { from, action: name })),
            }
        }
    }

    #[test]
    fn a_reason_and_a_note_say_something_and_not_too_much() {
        assert_eq!(Published.after(&Action::Hide { reason: " 　".trim().into() }), Err(ModerationError::Empty));
        let long = Action::Annotate { note: "あ".repeat(NOTE_MAX_CHARS + 1) };
        assert_eq!(Published.after(&long), Err(ModerationError::TooLong { max: NOTE_MAX_CHARS }));
    }
}
