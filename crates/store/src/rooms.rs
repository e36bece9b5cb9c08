//! Resident participation as kept on the counter: rooms (電子会議室 and
//! パブリックコメント), their participants, posts, moderators' notes,
//! residents' reports, a public comment's closing report, each tenant's
//! rules of use and protections for minors, and the counts behind the
//! rate limits.
//!
//! What the rules are (which moves a moderator may make, when a public
//! comment is open, whether replies exist) is `participation`'s; this
//! module applies them inside the transaction that records the change, so
//! two nodes never both make a move the rules refuse. Every registration,
//! post, report, moderator's action, room and published report is a ledger
//! leaf appended in that same transaction. Leaves name ids and hashes:
//! never a post's text, a nickname, a login id or whether someone is a
//! minor.

use participation::{Action, Moderation, ModerationError, Open, Room, RoomKind, Visibility};
use sqlx::{Any, Row, Transaction};

use identity::Throttle;
use ledger::EventKind;

use crate::journal::{Cell, Journal};

/// The primary keys of the tables whose rows the journal keeps.
const ROOM_PK: &[&str] = &["tenant_id", "id"];
const POST_PK: &[&str] = &["tenant_id", "room_id", "seq"];
const REPORT_PK: &[&str] = &["tenant_id", "room_id", "seq", "participant_id"];

fn cell(text: &str) -> Cell {
    Cell::Text(text.to_owned())
}
use crate::{now_unix, sha256_hex, Actor, Result, Store, StoreError};

/// Posts one participant may make: at most 5 in 10 minutes and 50 in a
/// day (window in seconds, count), counted from the posts themselves, so
/// the limit holds on any number of nodes.
pub const POSTS_PER_PARTICIPANT: &[(i64, i64)] = &[(600, 5), (86_400, 50)];

/// A room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub tenant: String,
    pub id: String,
    pub kind: RoomKind,
    pub moderation: Moderation,
    pub title_ja: String,
    pub title_en: String,
    /// Markdown, shown through `participation::markup::render`.
    pub description_ja: String,
    pub description_en: String,
    pub created_at: i64,
    pub report: ClosingReport,
}

impl RoomRecord {
    /// The room as `participation` reasons about it.
    pub fn room(&self) -> Room {
        Room {
            tenant: self.tenant.clone(),
            id: self.id.clone(),
            title: self.title_ja.clone(),
            kind: self.kind.clone(),
            moderation: self.moderation,
        }
    }
}

/// A public comment's closing report: a draft until published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClosingReport {
    pub summary_ja: Option<String>,
    pub summary_en: Option<String>,
    pub published_at: Option<i64>,
}

/// A room to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoom {
    pub id: String,
    pub kind: RoomKind,
    pub moderation: Moderation,
    pub title_ja: String,
    pub title_en: String,
    pub description_ja: String,
    pub description_en: String,
}

/// A room with what waits for its moderators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub room: RoomRecord,
    pub posts: i64,
    pub pending: i64,
    /// Posts with reports no moderator has acted on yet.
    pub reported: i64,
}

/// A tenant's rules of use (利用規約), one published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesOfUse {
    pub version: i64,
    pub text_ja: String,
    pub text_en: String,
    pub sha256: String,
    pub published_at: i64,
}

/// How a tenant protects participants under 18. Both on unless the tenant
/// turns them off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorProtections {
    /// Their posts wait for a moderator even in a 事後削除 room.
    pub premoderate: bool,
    /// Their nickname is not shown (「参加者（非公開）」).
    pub withhold_name: bool,
}

impl Default for MinorProtections {
    fn default() -> Self {
        MinorProtections { premoderate: true, withhold_name: true }
    }
}

/// A participant, without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub tenant: String,
    /// Random; names the participant in the ledger (`participant:ID`).
    pub id: String,
    pub nickname: String,
    pub minor: bool,
    /// Sessions issued under another generation are over.
    pub generation: i64,
    pub throttle: Throttle,
    pub rules_version: i64,
    pub created_at: i64,
}

impl Participant {
    /// Who the participant is in the ledger.
    pub fn actor(&self) -> String {
        format!("participant:{}", self.id)
    }
}

/// A registration. The login id arrives as a keyed hash (the counter holds
/// the key), the password as its argon2id hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParticipant {
    pub login_hmac: String,
    pub password_hash: String,
    pub nickname: String,
    pub minor: bool,
    pub rules_version: i64,
    pub rules_sha256: String,
}

/// A post with what the pages show about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRecord {
    pub seq: i64,
    /// The post a reply answers.
    pub parent: Option<i64>,
    pub participant: String,
    pub nickname: String,
    pub minor: bool,
    /// Markdown as typed.
    pub body: String,
    pub visibility: Visibility,
    pub hidden_reason: Option<String>,
    pub created_at: i64,
    /// The tenant's answer in a closing report (市の考え方).
    pub answer: Option<String>,
    pub notes: Vec<Note>,
    pub reports: Vec<Report>,
}

impl PostRecord {
    /// Reports no moderator has acted on yet.
    pub fn open_reports(&self) -> impl Iterator<Item = &Report> {
        self.reports.iter().filter(|r| !r.reviewed)
    }
}

/// A moderator's note under a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub note: String,
    pub created_at: i64,
}

/// A participant's report of a post (who reported is not carried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One of the counter's reason codes.
    pub reason: String,
    pub detail: String,
    pub created_at: i64,
    pub reviewed: bool,
}

/// What became of a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    Posted {
        seq: i64,
        visibility: Visibility,
    },
    NoRoom,
    /// A public comment outside its window.
    NotOpen(Open),
    /// A public comment takes one opinion per participant.
    OneEach,
    /// Replies are not taken here, or the post answered is not shown.
    NoReply,
    /// The participant's limit for this window (seconds) is reached.
    TooMany {
        window_secs: i64,
    },
}

/// What became of a moderator's action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModerationOutcome {
    /// The post's state after it.
    Done(Visibility),
    Refused(ModerationError),
    NoPost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    Reported,
    /// This participant has reported this post before.
    AlreadyReported,
    /// No shown post by that number.
    NoPost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosingReportOutcome {
    Done,
    NoRoom,
    /// Not a public comment.
    NotPublicComment,
    /// Published reports do not change.
    AlreadyPublished,
    /// Publishing waits for the deadline…
    NotClosed,
    /// …for a summary…
    NoSummary,
    /// …and for every opinion to be moderated.
    PendingLeft(i64),
}

/// Counts of a closing report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpinionCounts {
    pub received: i64,
    pub published: i64,
    pub hidden: i64,
}

fn kind_text(kind: &RoomKind) -> &'static str {
    match kind {
        RoomKind::Discussion => "discussion",
        RoomKind::PublicComment { .. } => "public_comment",
    }
}

fn moderation_text(moderation: Moderation) -> &'static str {
    match moderation {
        Moderation::Before => "before",
        Moderation::After => "after",
    }
}

pub(crate) fn visibility_text(visibility: Visibility) -> &'static str {
    match visibility {
        Visibility::Pending => "pending",
        Visibility::Published => "published",
        Visibility::Hidden => "hidden",
    }
}

fn parse_visibility(text: &str) -> Result<Visibility> {
    match text {
        "pending" => Ok(Visibility::Pending),
        "published" => Ok(Visibility::Published),
        "hidden" => Ok(Visibility::Hidden),
        other => Err(StoreError::Inconsistent(format!("unknown post visibility {other:?}"))),
    }
}

const ROOM_COLUMNS: &str = "tenant_id, id, kind, moderation, title_ja, title_en, description_ja, description_en,
    opens_at, closes_at, created_at, report_summary_ja, report_summary_en, report_published_at";

fn room_from_row(row: &sqlx::any::AnyRow) -> Result<RoomRecord> {
    let kind: String = row.try_get("kind")?;
    let kind = match kind.as_str() {
        "discussion" => RoomKind::Discussion,
        "public_comment" => {
            let opens: Option<i64> = row.try_get("opens_at")?;
            let closes: Option<i64> = row.try_get("closes_at")?;
            match (opens, closes) {
                (Some(opens), Some(closes)) => RoomKind::PublicComment { opens, closes },
                _ => return Err(StoreError::Inconsistent("a public comment without its window".into())),
            }
        }
        other => return Err(StoreError::Inconsistent(format!("unknown room kind {other:?}"))),
    };
    let moderation: String = row.try_get("moderation")?;
    let moderation = match moderation.as_str() {
        "before" => Moderation::Before,
        "after" => Moderation::After,
        other => return Err(StoreError::Inconsistent(format!("unknown moderation {other:?}"))),
    };
    Ok(RoomRecord {
        tenant: row.try_get("tenant_id")?,
        id: row.try_get("id")?,
        kind,
        moderation,
        title_ja: row.try_get("title_ja")?,
        title_en: row.try_get("title_en")?,
        description_ja: row.try_get("description_ja")?,
        description_en: row.try_get("description_en")?,
        created_at: row.try_get("created_at")?,
        report: ClosingReport {
            summary_ja: row.try_get("report_summary_ja")?,
            summary_en: row.try_get("report_summary_en")?,
            published_at: row.try_get("report_published_at")?,
        },
    })
}

const PARTICIPANT_COLUMNS: &str =
    "tenant_id, id, nickname, minor, generation, failed_logins, not_before, locked, rules_version, created_at";

fn participant_from_row(row: &sqlx::any::AnyRow) -> Result<Participant> {
    Ok(Participant {
        tenant: row.try_get("tenant_id")?,
        id: row.try_get("id")?,
        nickname: row.try_get("nickname")?,
        minor: row.try_get::<i64, _>("minor")? != 0,
        generation: row.try_get("generation")?,
        throttle: Throttle {
            failures: row.try_get("failed_logins")?,
            not_before: row.try_get("not_before")?,
            locked: row.try_get::<i64, _>("locked")? != 0,
        },
        rules_version: row.try_get("rules_version")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The subject of a post's leaves.
fn post_subject(room: &str, seq: i64) -> String {
    format!("room:{room}/post:{seq}")
}

fn random_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn room_in(tx: &mut Transaction<'_, Any>, tenant: &str, room: &str) -> Result<Option<RoomRecord>> {
    let row = sqlx::query(&format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant)
        .bind(room)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(room_from_row).transpose()
}

async fn protections_in(db: impl sqlx::Executor<'_, Database = Any>, tenant: &str) -> Result<MinorProtections> {
    let row = sqlx::query("SELECT minors_premoderated, minors_name_withheld FROM room_settings WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(db)
        .await?;
    Ok(match row {
        None => MinorProtections::default(),
        Some(row) => MinorProtections {
            premoderate: row.try_get::<i64, _>("minors_premoderated")? != 0,
            withhold_name: row.try_get::<i64, _>("minors_name_withheld")? != 0,
        },
    })
}

impl Store {
    // ---- rooms ---------------------------------------------------------

    /// Opens a room; false (nothing changed) when the id is taken.
    pub async fn create_room(&self, tenant: &str, room: &NewRoom, by: &Actor) -> Result<bool> {
        if self.tenant(tenant).await?.is_none() {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        let (opens, closes) = match room.kind {
            RoomKind::Discussion => (None, None),
            RoomKind::PublicComment { opens, closes } => (Some(opens), Some(closes)),
        };
        let mut tx = self.db.begin().await?;
        let mut journal = Journal::default();
        let inserted = sqlx::query(
            "INSERT INTO rooms (tenant_id, id, kind, moderation, title_ja, title_en, description_ja, description_en,
               opens_at, closes_at, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(&room.id)
        .bind(kind_text(&room.kind))
        .bind(moderation_text(room.moderation))
        .bind(&room.title_ja)
        .bind(&room.title_en)
        .bind(&room.description_ja)
        .bind(&room.description_en)
        .bind(opens)
        .bind(closes)
        .bind(now_unix())
        .bind(&by.name)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let window = match room.kind {
            RoomKind::Discussion => String::new(),
            RoomKind::PublicComment { opens, closes } => format!(" from {opens} until {closes}"),
        };
        let event = by.event(
            EventKind::AdminAction,
            Some(tenant),
            Some(&format!("room:{}", room.id)),
            &format!("room opened: {} moderated {}{window}", kind_text(&room.kind), moderation_text(room.moderation)),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.rows(&mut tx, "rooms", ROOM_PK, &[("tenant_id", cell(tenant)), ("id", cell(&room.id))]).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(true)
    }

    pub async fn room(&self, tenant: &str, room: &str) -> Result<Option<RoomRecord>> {
        let row = sqlx::query(&format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant)
            .bind(room)
            .fetch_optional(&self.db)
            .await?;
        row.as_ref().map(room_from_row).transpose()
    }

    /// A tenant's rooms, newest first, with what waits for moderators.
    pub async fn rooms(&self, tenant: &str) -> Result<Vec<RoomSummary>> {
        let rows = sqlx::query(&format!(
            "SELECT {ROOM_COLUMNS},
               (SELECT COUNT(*) FROM room_posts p WHERE p.tenant_id = r.tenant_id AND p.room_id = r.id) AS posts,
               (SELECT COUNT(*) FROM room_posts p WHERE p.tenant_id = r.tenant_id AND p.room_id = r.id
                  AND p.visibility = 'pending') AS pending,
               (SELECT COUNT(DISTINCT q.seq) FROM room_reports q WHERE q.tenant_id = r.tenant_id AND q.room_id = r.id
                  AND q.reviewed_at IS NULL) AS reported
             FROM rooms r WHERE tenant_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(tenant)
        .fetch_all(&self.db)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RoomSummary {
                    room: room_from_row(row)?,
                    posts: row.try_get("posts")?,
                    pending: row.try_get("pending")?,
                    reported: row.try_get("reported")?,
                })
            })
            .collect()
    }

    // ---- rules of use and protections -----------------------------------

    /// The latest rules of use the tenant published (None: the default
    /// text shipped in the counter, version 0).
    pub async fn rules_of_use(&self, tenant: &str) -> Result<Option<RulesOfUse>> {
        let row = sqlx::query(
            "SELECT version, text_ja, text_en, sha256, published_at FROM room_rules WHERE tenant_id = $1
             ORDER BY version DESC LIMIT 1",
        )
        .bind(tenant)
        .fetch_optional(&self.db)
        .await?;
        row.map(|row| {
            Ok(RulesOfUse {
                version: row.try_get("version")?,
                text_ja: row.try_get("text_ja")?,
                text_en: row.try_get("text_en")?,
                sha256: row.try_get("sha256")?,
                published_at: row.try_get("published_at")?,
            })
        })
        .transpose()
    }

    /// Publishes a new version of the rules of use; returns its number.
    /// Participants who accepted an earlier version keep their record of it.
    pub async fn publish_rules_of_use(&self, tenant: &str, text_ja: &str, text_en: &str, by: &Actor) -> Result<i64> {
        if self.tenant(tenant).await?.is_none() {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        let sha256 = rules_sha256(text_ja, text_en);
        let mut tx = self.db.begin().await?;
        let mut journal = Journal::default();
        sqlx::query(
            "INSERT INTO room_rules (tenant_id, version, text_ja, text_en, sha256, published_at, published_by)
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6 FROM room_rules WHERE tenant_id = $1",
        )
        .bind(tenant)
        .bind(text_ja)
        .bind(text_en)
        .bind(&sha256)
        .bind(now_unix())
        .bind(&by.name)
        .execute(&mut *tx)
        .await?;
        let version: i64 = sqlx::query("SELECT MAX(version) AS v FROM room_rules WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(&mut *tx)
            .await?
            .try_get("v")?;
        let event = by.event(
            EventKind::AdminAction,
            Some(tenant),
            Some("rooms:rules"),
            &format!("rules of use v{version} published: sha256 {sha256}"),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        let key = [("tenant_id", cell(tenant)), ("version", Cell::Int(version))];
        journal.rows(&mut tx, "room_rules", &["tenant_id", "version"], &key).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(version)
    }

    pub async fn minor_protections(&self, tenant: &str) -> Result<MinorProtections> {
        protections_in(&self.db, tenant).await
    }

    pub async fn set_minor_protections(&self, tenant: &str, protections: MinorProtections, by: &Actor) -> Result<()> {
        if self.tenant(tenant).await?.is_none() {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        let mut tx = self.db.begin().await?;
        let mut journal = Journal::default();
        sqlx::query(
            "INSERT INTO room_settings (tenant_id, minors_premoderated, minors_name_withheld, updated_at, updated_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id) DO UPDATE SET minors_premoderated = excluded.minors_premoderated,
               minors_name_withheld = excluded.minors_name_withheld, updated_at = excluded.updated_at,
               updated_by = excluded.updated_by",
        )
        .bind(tenant)
        .bind(i64::from(protections.premoderate))
        .bind(i64::from(protections.withhold_name))
        .bind(now_unix())
        .bind(&by.name)
        .execute(&mut *tx)
        .await?;
        let on_off = |on: bool| if on { "on" } else { "off" };
        let event = by.event(
            EventKind::AdminAction,
            Some(tenant),
            Some("rooms:minors"),
            &format!(
                "protections for minors: pre-moderation {}, name withheld {}",
                on_off(protections.premoderate),
                on_off(protections.withhold_name)
            ),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        journal.rows(&mut tx, "room_settings", &["tenant_id"], &[("tenant_id", cell(tenant))]).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(())
    }

    // ---- participants -----------------------------------------------------

    /// Registers a participant; None (nothing changed) when the login id is
    /// taken in this tenant.
    pub async fn register_participant(&self, tenant: &str, new: &NewParticipant) -> Result<Option<Participant>> {
        if self.tenant(tenant).await?.is_none() {
            return Err(StoreError::NoTenant(tenant.to_owned()));
        }
        let id = random_id();
        let now = now_unix();
        let mut tx = self.db.begin().await?;
        let mut journal = Journal::default();
        let inserted = sqlx::query(
            "INSERT INTO room_participants (tenant_id, id, login_hmac, password_hash, nickname, minor, rules_version,
               rules_sha256, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(&id)
        .bind(&new.login_hmac)
        .bind(&new.password_hash)
        .bind(&new.nickname)
        .bind(i64::from(new.minor))
        .bind(new.rules_version)
        .bind(&new.rules_sha256)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let actor = format!("participant:{id}");
        // Ids and the rules' version and hash only: no login id, nickname
        // or age.
        let event = crate::ledger::event(
            EventKind::Participant,
            &actor,
            Some(tenant),
            Some(&actor),
            &format!("registered: accepted rules of use v{} sha256 {}", new.rules_version, new.rules_sha256),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        let key = [("tenant_id", cell(tenant)), ("id", cell(&id))];
        journal.rows(&mut tx, "room_participants", &["tenant_id", "id"], &key).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(Some(Participant {
            tenant: tenant.to_owned(),
            id,
            nickname: new.nickname.clone(),
            minor: new.minor,
            generation: 0,
            throttle: Throttle::default(),
            rules_version: new.rules_version,
            created_at: now,
        }))
    }

    /// The participant a login id (as its keyed hash) names, with the
    /// password hash to check.
    pub async fn participant_for_sign_in(
        &self,
        tenant: &str,
        login_hmac: &str,
    ) -> Result<Option<(Participant, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS}, password_hash FROM room_participants WHERE tenant_id = $1 AND login_hmac = $2"
        ))
        .bind(tenant)
        .bind(login_hmac)
        .fetch_optional(&self.db)
        .await?;
        row.map(|row| Ok((participant_from_row(&row)?, row.try_get("password_hash")?))).transpose()
    }

    pub async fn participant(&self, tenant: &str, id: &str) -> Result<Option<Participant>> {
        let row = sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM room_participants WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        row.as_ref().map(participant_from_row).transpose()
    }

    /// Stores a participant's sign-in throttle after an attempt.
    pub async fn set_participant_throttle(&self, tenant: &str, id: &str, throttle: Throttle) -> Result<()> {
        sqlx::query(
            "UPDATE room_participants SET failed_logins = $3, not_before = $4, locked = $5
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(throttle.failures)
        .bind(throttle.not_before)
        .bind(i64::from(throttle.locked))
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Participants locked out by failed sign-ins, oldest account first.
    pub async fn locked_participants(&self, tenant: &str) -> Result<Vec<Participant>> {
        let rows = sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM room_participants WHERE tenant_id = $1 AND locked <> 0
             ORDER BY created_at, id"
        ))
        .bind(tenant)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(participant_from_row).collect()
    }

    /// Lifts a participant's sign-in lock (a moderator, after the resident
    /// asked the city office); entered in the ledger. False when the
    /// account was not locked.
    pub async fn unlock_participant(&self, tenant: &str, id: &str, by: &Actor) -> Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = sqlx::query(
            "UPDATE room_participants SET failed_logins = 0, not_before = 0, locked = 0
             WHERE tenant_id = $1 AND id = $2 AND locked <> 0",
        )
        .bind(tenant)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let mut journal = Journal::default();
        let subject = format!("participant:{id}");
        let event = by.event(EventKind::AdminAction, Some(tenant), Some(&subject), "sign-in lock lifted");
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        let key = [("tenant_id", cell(tenant)), ("id", cell(id))];
        journal.rows(&mut tx, "room_participants", &["tenant_id", "id"], &key).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(true)
    }

    /// Ends every session of a participant (signing out).
    pub async fn end_participant_sessions(&self, tenant: &str, id: &str) -> Result<()> {
        sqlx::query("UPDATE room_participants SET generation = generation + 1 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    // ---- posts --------------------------------------------------------------

    /// A participant's post (`parent`: the post a reply answers). The room's
    /// rules, the participant's limits and the tenant's protections for
    /// minors are applied here, in the transaction that stores it.
    pub async fn add_post(
        &self,
        tenant: &str,
        room: &str,
        participant: &str,
        parent: Option<i64>,
        body: &str,
    ) -> Result<PostOutcome> {
        let now = now_unix();
        let mut tx = self.db.begin().await?;
        // The participant's row first: it is locked until commit, so one
        // participant's posts are counted one at a time on any node.
        let minor = sqlx::query(
            "UPDATE room_participants SET last_post_at = $3 WHERE tenant_id = $1 AND id = $2 RETURNING minor",
        )
        .bind(tenant)
        .bind(participant)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(minor) = minor else {
            return Err(StoreError::Inconsistent("a post by no known participant".into()));
        };
        let minor = minor.try_get::<i64, _>("minor")? != 0;
        for &(window_secs, max) in POSTS_PER_PARTICIPANT {
            let count: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM room_posts WHERE tenant_id = $1 AND participant_id = $2 AND created_at > $3",
            )
            .bind(tenant)
            .bind(participant)
            .bind(now - window_secs)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if count >= max {
                tx.rollback().await?;
                return Ok(PostOutcome::TooMany { window_secs });
            }
        }
        let Some(record) = room_in(&mut tx, tenant, room).await? else {
            tx.rollback().await?;
            return Ok(PostOutcome::NoRoom);
        };
        let rules = record.room();
        let open = rules.open_at(now);
        if open != Open::Yes {
            tx.rollback().await?;
            return Ok(PostOutcome::NotOpen(open));
        }
        // A reply answers a shown post; a reply to a reply joins its thread
        // (threads are one level deep).
        let parent = match parent {
            None => None,
            Some(_) if !rules.has_replies() => {
                tx.rollback().await?;
                return Ok(PostOutcome::NoReply);
            }
            Some(seq) => {
                let row = sqlx::query(
                    "SELECT parent_seq, visibility FROM room_posts WHERE tenant_id = $1 AND room_id = $2 AND seq = $3",
                )
                .bind(tenant)
                .bind(room)
                .bind(seq)
                .fetch_optional(&mut *tx)
                .await?;
                let shown = match &row {
                    Some(row) => parse_visibility(&row.try_get::<String, _>("visibility")?)? == Visibility::Published,
                    None => false,
                };
                let Some(row) = row.filter(|_| shown) else {
                    tx.rollback().await?;
                    return Ok(PostOutcome::NoReply);
                };
                Some(row.try_get::<Option<i64>, _>("parent_seq")?.unwrap_or(seq))
            }
        };
        let opinion_of = (!rules.takes_more_than_one_each()).then_some(participant);
        if opinion_of.is_some() {
            let given: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM room_posts WHERE tenant_id = $1 AND room_id = $2 AND opinion_of = $3",
            )
            .bind(tenant)
            .bind(room)
            .bind(participant)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if given > 0 {
                tx.rollback().await?;
                return Ok(PostOutcome::OneEach);
            }
        }
        let visibility = if minor && protections_in(&mut *tx, tenant).await?.premoderate {
            Visibility::Pending
        } else {
            rules.first_visibility()
        };
        let seq: i64 = sqlx::query(
            "UPDATE rooms SET last_post = last_post + 1 WHERE tenant_id = $1 AND id = $2 RETURNING last_post",
        )
        .bind(tenant)
        .bind(room)
        .fetch_one(&mut *tx)
        .await?
        .try_get("last_post")?;
        let body_sha256 = sha256_hex(body.as_bytes());
        let mut journal = Journal::default();
        let actor = format!("participant:{participant}");
        let reply = parent.map(|p| format!(" reply to {p};")).unwrap_or_default();
        let event = crate::ledger::event(
            EventKind::Post,
            &actor,
            Some(tenant),
            Some(&post_subject(room, seq)),
            &format!("posted:{reply} {}; text sha256 {body_sha256}", visibility_text(visibility)),
        );
        let index = crate::ledger::append(&mut tx, &mut journal, &event).await?;
        // The unique index on opinion_of is what keeps a public comment to
        // one opinion each when two arrive at once.
        let inserted = sqlx::query(
            "INSERT INTO room_posts (tenant_id, room_id, seq, participant_id, parent_seq, body, body_sha256,
               visibility, opinion_of, created_at, ledger_index)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(room)
        .bind(seq)
        .bind(participant)
        .bind(parent)
        .bind(body)
        .bind(&body_sha256)
        .bind(visibility_text(visibility))
        .bind(opinion_of)
        .bind(now)
        .bind(index)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(PostOutcome::OneEach);
        }
        let key = [("tenant_id", cell(tenant)), ("room_id", cell(room)), ("seq", Cell::Int(seq))];
        journal.rows(&mut tx, "room_posts", POST_PK, &key).await?;
        journal.rows(&mut tx, "rooms", ROOM_PK, &[("tenant_id", cell(tenant)), ("id", cell(room))]).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(PostOutcome::Posted { seq, visibility })
    }

    /// Every post of a room in the order they came, with notes and reports.
    /// The pages decide what each reader sees.
    pub async fn room_posts(&self, tenant: &str, room: &str) -> Result<Vec<PostRecord>> {
        let rows = sqlx::query(
            "SELECT p.seq, p.parent_seq, p.participant_id, p.body, p.visibility, p.hidden_reason, p.created_at,
               p.answer, a.nickname, a.minor
             FROM room_posts p JOIN room_participants a ON a.tenant_id = p.tenant_id AND a.id = p.participant_id
             WHERE p.tenant_id = $1 AND p.room_id = $2 ORDER BY p.seq",
        )
        .bind(tenant)
        .bind(room)
        .fetch_all(&self.db)
        .await?;
        let mut posts = rows
            .iter()
            .map(|row| {
                Ok(PostRecord {
                    seq: row.try_get("seq")?,
                    parent: row.try_get("parent_seq")?,
                    participant: row.try_get("participant_id")?,
                    nickname: row.try_get("nickname")?,
                    minor: row.try_get::<i64, _>("minor")? != 0,
                    body: row.try_get("body")?,
                    visibility: parse_visibility(&row.try_get::<String, _>("visibility")?)?,
                    hidden_reason: row.try_get("hidden_reason")?,
                    created_at: row.try_get("created_at")?,
                    answer: row.try_get("answer")?,
                    notes: Vec::new(),
                    reports: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let index: std::collections::HashMap<i64, usize> = posts.iter().enumerate().map(|(i, p)| (p.seq, i)).collect();
        let notes = sqlx::query(
            "SELECT seq, note, created_at FROM room_notes WHERE tenant_id = $1 AND room_id = $2
             ORDER BY seq, ledger_index",
        )
        .bind(tenant)
        .bind(room)
        .fetch_all(&self.db)
        .await?;
        for row in &notes {
            if let Some(&i) = index.get(&row.try_get::<i64, _>("seq")?) {
                posts[i].notes.push(Note { note: row.try_get("note")?, created_at: row.try_get("created_at")? });
            }
        }
        let reports = sqlx::query(
            "SELECT seq, reason, detail, created_at, reviewed_at FROM room_reports WHERE tenant_id = $1 AND room_id = $2
             ORDER BY seq, created_at",
        )
        .bind(tenant)
        .bind(room)
        .fetch_all(&self.db)
        .await?;
        for row in &reports {
            if let Some(&i) = index.get(&row.try_get::<i64, _>("seq")?) {
                posts[i].reports.push(Report {
                    reason: row.try_get("reason")?,
                    detail: row.try_get("detail")?,
                    created_at: row.try_get("created_at")?,
                    reviewed: row.try_get::<Option<i64>, _>("reviewed_at")?.is_some(),
                });
            }
        }
        Ok(posts)
    }

    /// The posts of a room this participant has reported (their page says
    /// so instead of offering the report form again).
    pub async fn reported_by(&self, tenant: &str, room: &str, participant: &str) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT seq FROM room_reports WHERE tenant_id = $1 AND room_id = $2 AND participant_id = $3 ORDER BY seq",
        )
        .bind(tenant)
        .bind(room)
        .bind(participant)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("seq")?)).collect()
    }

    // ---- reports and moderation ---------------------------------------------

    /// A participant reports a shown post, once.
    pub async fn report_post(
        &self,
        tenant: &str,
        room: &str,
        seq: i64,
        participant: &str,
        reason: &str,
        detail: &str,
    ) -> Result<ReportOutcome> {
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO room_reports (tenant_id, room_id, seq, participant_id, reason, detail, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(room)
        .bind(seq)
        .bind(participant)
        .bind(reason)
        .bind(detail)
        .bind(now_unix())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(ReportOutcome::AlreadyReported);
        }
        let shown = sqlx::query("SELECT visibility FROM room_posts WHERE tenant_id = $1 AND room_id = $2 AND seq = $3")
            .bind(tenant)
            .bind(room)
            .bind(seq)
            .fetch_optional(&mut *tx)
            .await?;
        let shown = match shown {
            Some(row) => parse_visibility(&row.try_get::<String, _>("visibility")?)? == Visibility::Published,
            None => false,
        };
        if !shown {
            tx.rollback().await?;
            return Ok(ReportOutcome::NoPost);
        }
        let mut journal = Journal::default();
        let text =
            if detail.is_empty() { String::new() } else { format!("; text sha256 {}", sha256_hex(detail.as_bytes())) };
        let event = crate::ledger::event(
            EventKind::PostReport,
            &format!("participant:{participant}"),
            Some(tenant),
            Some(&post_subject(room, seq)),
            &format!("reported: {reason}{text}"),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        let key = [("tenant_id", cell(tenant)), ("room_id", cell(room)), ("seq", Cell::Int(seq))];
        journal.rows(&mut tx, "room_reports", REPORT_PK, &key).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(ReportOutcome::Reported)
    }

    /// A moderator's action on a post, if the state machine allows it from
    /// where the post stands now. Acting on a post also settles its open
    /// reports.
    pub async fn moderate(
        &self,
        tenant: &str,
        room: &str,
        seq: i64,
        action: &Action,
        by: &Actor,
    ) -> Result<ModerationOutcome> {
        let now = now_unix();
        let mut tx = self.db.begin().await?;
        // Writing the row first locks it: the state read is the state the
        // move is made from, whatever another moderator does meanwhile.
        let row = sqlx::query(
            "UPDATE room_posts SET moderated_at = $4 WHERE tenant_id = $1 AND room_id = $2 AND seq = $3
             RETURNING visibility",
        )
        .bind(tenant)
        .bind(room)
        .bind(seq)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(ModerationOutcome::NoPost);
        };
        let from = parse_visibility(&row.try_get::<String, _>("visibility")?)?;
        let to = match from.after(action) {
            Ok(to) => to,
            Err(refusal) => {
                tx.rollback().await?;
                return Ok(ModerationOutcome::Refused(refusal));
            }
        };
        let mut journal = Journal::default();
        let text = match action {
            Action::Hide { reason: text } | Action::Annotate { note: text } => {
                format!("; text sha256 {}", sha256_hex(text.trim().as_bytes()))
            }
            Action::Approve | Action::Restore => String::new(),
        };
        let event = by.event(
            EventKind::Moderation,
            Some(tenant),
            Some(&post_subject(room, seq)),
            &format!("{}: {} -> {}{text}", action.name(), visibility_text(from), visibility_text(to)),
        );
        let index = crate::ledger::append(&mut tx, &mut journal, &event).await?;
        let hidden_reason = match (action, to) {
            (Action::Hide { reason }, _) => Some(reason.trim().to_owned()),
            (_, Visibility::Hidden) => {
                sqlx::query("SELECT hidden_reason FROM room_posts WHERE tenant_id = $1 AND room_id = $2 AND seq = $3")
                    .bind(tenant)
                    .bind(room)
                    .bind(seq)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("hidden_reason")?
            }
            _ => None,
        };
        sqlx::query(
            "UPDATE room_posts SET visibility = $4, hidden_reason = $5, moderated_by = $6
             WHERE tenant_id = $1 AND room_id = $2 AND seq = $3",
        )
        .bind(tenant)
        .bind(room)
        .bind(seq)
        .bind(visibility_text(to))
        .bind(hidden_reason)
        .bind(&by.name)
        .execute(&mut *tx)
        .await?;
        if let Action::Annotate { note } = action {
            sqlx::query(
                "INSERT INTO room_notes (tenant_id, room_id, seq, ledger_index, note, created_at, created_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(tenant)
            .bind(room)
            .bind(seq)
            .bind(index)
            .bind(note.trim())
            .bind(now)
            .bind(&by.name)
            .execute(&mut *tx)
            .await?;
        }
        settle_reports(&mut tx, tenant, room, seq, now).await?;
        let key = [("tenant_id", cell(tenant)), ("room_id", cell(room)), ("seq", Cell::Int(seq))];
        journal.rows(&mut tx, "room_posts", POST_PK, &key).await?;
        journal.rows(&mut tx, "room_notes", &["tenant_id", "room_id", "seq", "ledger_index"], &key).await?;
        journal.rows(&mut tx, "room_reports", REPORT_PK, &key).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(ModerationOutcome::Done(to))
    }

    /// A moderator read a post's reports and leaves the post as it is;
    /// false when it had none open.
    pub async fn dismiss_reports(&self, tenant: &str, room: &str, seq: i64, by: &Actor) -> Result<bool> {
        let now = now_unix();
        let mut tx = self.db.begin().await?;
        let settled = settle_reports(&mut tx, tenant, room, seq, now).await?;
        if settled == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let mut journal = Journal::default();
        let event = by.event(
            EventKind::Moderation,
            Some(tenant),
            Some(&post_subject(room, seq)),
            &format!("reports reviewed, post kept: {settled} report(s)"),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        let key = [("tenant_id", cell(tenant)), ("room_id", cell(room)), ("seq", Cell::Int(seq))];
        journal.rows(&mut tx, "room_reports", REPORT_PK, &key).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(true)
    }

    // ---- the closing report ---------------------------------------------------

    /// Saves the closing report's draft: the summary and the tenant's
    /// answers to opinions (by number; an empty answer clears one).
    pub async fn save_closing_report(
        &self,
        tenant: &str,
        room: &str,
        summary_ja: &str,
        summary_en: Option<&str>,
        answers: &[(i64, String)],
    ) -> Result<ClosingReportOutcome> {
        let mut tx = self.db.begin().await?;
        let updated = sqlx::query(
            "UPDATE rooms SET report_summary_ja = $3, report_summary_en = $4
             WHERE tenant_id = $1 AND id = $2 AND kind = 'public_comment' AND report_published_at IS NULL",
        )
        .bind(tenant)
        .bind(room)
        .bind(summary_ja)
        .bind(summary_en)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            let outcome = match room_in(&mut tx, tenant, room).await? {
                None => ClosingReportOutcome::NoRoom,
                Some(r) if matches!(r.kind, RoomKind::Discussion) => ClosingReportOutcome::NotPublicComment,
                Some(_) => ClosingReportOutcome::AlreadyPublished,
            };
            tx.rollback().await?;
            return Ok(outcome);
        }
        for (seq, answer) in answers {
            let answer = answer.trim();
            sqlx::query("UPDATE room_posts SET answer = $4 WHERE tenant_id = $1 AND room_id = $2 AND seq = $3")
                .bind(tenant)
                .bind(room)
                .bind(*seq)
                .bind((!answer.is_empty()).then_some(answer))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ClosingReportOutcome::Done)
    }

    /// Publishes the closing report once the deadline has passed, every
    /// opinion is moderated and there is a summary. The leaf names the
    /// hash of what was published.
    pub async fn publish_closing_report(&self, tenant: &str, room: &str, by: &Actor) -> Result<ClosingReportOutcome> {
        let now = now_unix();
        let mut tx = self.db.begin().await?;
        // Taking the room's row first: no opinion or answer changes under
        // the hash being taken.
        let locked = sqlx::query("UPDATE rooms SET last_post = last_post WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(room)
            .execute(&mut *tx)
            .await?;
        let record = match room_in(&mut tx, tenant, room).await? {
            Some(record) if locked.rows_affected() == 1 => record,
            _ => {
                tx.rollback().await?;
                return Ok(ClosingReportOutcome::NoRoom);
            }
        };
        let refusal = match record.kind {
            RoomKind::Discussion => Some(ClosingReportOutcome::NotPublicComment),
            _ if record.report.published_at.is_some() => Some(ClosingReportOutcome::AlreadyPublished),
            _ if record.room().open_at(now) != Open::Closed => Some(ClosingReportOutcome::NotClosed),
            _ if record.report.summary_ja.as_deref().is_none_or(|s| s.trim().is_empty()) => {
                Some(ClosingReportOutcome::NoSummary)
            }
            _ => None,
        };
        if let Some(refusal) = refusal {
            tx.rollback().await?;
            return Ok(refusal);
        }
        let rows = sqlx::query(
            "SELECT seq, visibility, body_sha256, answer FROM room_posts WHERE tenant_id = $1 AND room_id = $2
             ORDER BY seq",
        )
        .bind(tenant)
        .bind(room)
        .fetch_all(&mut *tx)
        .await?;
        let mut counts = OpinionCounts::default();
        let mut pending = 0;
        // What the hash covers, one line each: the summaries, then every
        // opinion's number, state, text hash and answer hash.
        let mut canonical = format!(
            "summary_ja sha256 {}\nsummary_en sha256 {}\n",
            sha256_hex(record.report.summary_ja.as_deref().unwrap_or("").as_bytes()),
            sha256_hex(record.report.summary_en.as_deref().unwrap_or("").as_bytes())
        );
        for row in &rows {
            let visibility = parse_visibility(&row.try_get::<String, _>("visibility")?)?;
            counts.received += 1;
            match visibility {
                Visibility::Pending => pending += 1,
                Visibility::Published => counts.published += 1,
                Visibility::Hidden => counts.hidden += 1,
            }
            let answer: Option<String> = row.try_get("answer")?;
            canonical.push_str(&format!(
                "{} {} {} {}\n",
                row.try_get::<i64, _>("seq")?,
                visibility_text(visibility),
                row.try_get::<String, _>("body_sha256")?,
                sha256_hex(answer.as_deref().unwrap_or("").as_bytes())
            ));
        }
        if pending > 0 {
            tx.rollback().await?;
            return Ok(ClosingReportOutcome::PendingLeft(pending));
        }
        sqlx::query(
            "UPDATE rooms SET report_published_at = $3, report_published_by = $4 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(room)
        .bind(now)
        .bind(&by.name)
        .execute(&mut *tx)
        .await?;
        let mut journal = Journal::default();
        let event = by.event(
            EventKind::AdminAction,
            Some(tenant),
            Some(&format!("room:{room}")),
            &format!(
                "closing report published: {} received, {} published, {} hidden; sha256 {}",
                counts.received,
                counts.published,
                counts.hidden,
                sha256_hex(canonical.as_bytes())
            ),
        );
        crate::ledger::append(&mut tx, &mut journal, &event).await?;
        // The whole room as published: the city's answers are in the posts.
        journal.rows(&mut tx, "rooms", ROOM_PK, &[("tenant_id", cell(tenant)), ("id", cell(room))]).await?;
        journal.rows(&mut tx, "room_posts", POST_PK, &[("tenant_id", cell(tenant)), ("room_id", cell(room))]).await?;
        journal.commit(&self.vault, tx).await?;
        Ok(ClosingReportOutcome::Done)
    }

    // ---- rate limits ------------------------------------------------------------

    /// Takes one attempt for `key_hash` (a keyed hash, never an address)
    /// under `scope` if every (window seconds, count) limit allows it;
    /// otherwise returns the window that refused. Attempts are kept only
    /// as long as the longest window.
    ///
    /// The attempt is written before counting, so on SQLite (one writer)
    /// the count is exact; on PostgreSQL two nodes counting at the very
    /// same moment may each let one more through, which a limit against
    /// floods can afford.
    pub async fn take_rate(&self, scope: &str, key_hash: &str, limits: &[(i64, i64)]) -> Result<Option<i64>> {
        let now = now_unix();
        let longest = limits.iter().map(|(window, _)| *window).max().unwrap_or(0);
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM room_rate_events WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO room_rate_events (scope, key_hash, at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(scope)
            .bind(key_hash)
            .bind(now)
            .bind(now + longest)
            .execute(&mut *tx)
            .await?;
        for &(window_secs, max) in limits {
            let count: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM room_rate_events WHERE scope = $1 AND key_hash = $2 AND at > $3",
            )
            .bind(scope)
            .bind(key_hash)
            .bind(now - window_secs)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if count > max {
                tx.rollback().await?;
                return Ok(Some(window_secs));
            }
        }
        tx.commit().await?;
        Ok(None)
    }
}

/// Marks a post's open reports as seen by a moderator; returns how many.
async fn settle_reports(tx: &mut Transaction<'_, Any>, tenant: &str, room: &str, seq: i64, now: i64) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE room_reports SET reviewed_at = $4
         WHERE tenant_id = $1 AND room_id = $2 AND seq = $3 AND reviewed_at IS NULL",
    )
    .bind(tenant)
    .bind(room)
    .bind(seq)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// The hash participants' acceptance names: both texts, each with its
/// length, so no two pairs of texts share it.
pub fn rules_sha256(text_ja: &str, text_en: &str) -> String {
    sha256_hex(format!("{}\n{text_ja}{}\n{text_en}", text_ja.len(), text_en.len()).as_bytes())
}

/// The counts of a room's opinions, for its closing report.
pub fn opinion_counts(posts: &[PostRecord]) -> OpinionCounts {
    let mut counts = OpinionCounts::default();
    for post in posts {
        counts.received += 1;
        match post.visibility {
            Visibility::Published => counts.published += 1,
            Visibility::Hidden => counts.hidden += 1,
            Visibility::Pending => {}
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_hash_tells_apart_texts_split_differently() {
        assert_ne!(rules_sha256("ab", "c"), rules_sha256("a", "bc"));
        assert_eq!(rules_sha256("規約", "Rules"), rules_sha256("規約", "Rules"));
    }
}
