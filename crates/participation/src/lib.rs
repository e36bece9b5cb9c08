//! # participation — discussion rooms, public comment and moderation
//!
//! This crate owns what resident participation means, apart from where it
//! is kept: the kinds of room (a 電子会議室 on a topic, a パブリックコメント
//! with a deadline), how a post becomes visible (at once, or after a
//! moderator approves it) and every state a moderator can move it to, and
//! how a post's text becomes HTML that is safe to show (a small Markdown,
//! raw HTML always shown as text, links only to http(s), marked external
//! and nofollow).
//!
//! It is pure: no I/O, no clock (callers pass the time), no randomness. It
//! must never render a resident's text without [`markup::render`], and
//! never decide who someone is: identities are verified and sealed
//! elsewhere, and reach this crate as pseudonyms.
#![forbid(unsafe_code)]

pub mod markup;
pub mod moderation;
pub mod room;

pub use moderation::{Action, ModerationError, Visibility};
pub use room::{Moderation, Open, Room, RoomKind};
