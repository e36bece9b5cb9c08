//! The console's rooms (電子会議室 and パブリックコメント): opening rooms,
//! the tenant's protections for minors and rules of use, moderating posts
//! (the queue of pending and reported posts first; approve, hide with a
//! reason, restore, annotate, reports reviewed), and a public comment's
//! closing report. Every route needs `Action::ModerateRooms` (the guard);
//! every change is a ledger leaf the store appends in its transaction.
//!
//! Posts are shown here as residents see them: through
//! `participation::markup::render`, never any other way.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use forms::Lang;
use minijinja::context;
use participation::{markup, Action, Moderation, ModerationError, Open, RoomKind, Visibility};
use serde::Deserialize;
use store::rooms::{ClosingReportOutcome, MinorProtections, ModerationOutcome, NewRoom, PostRecord, RoomRecord};

use super::{format_jst, Fields, Visitor};
use crate::{Counter, PageError};

type Shared = State<Arc<Counter>>;

/// The longest rules of use, per language, in characters.
const RULES_MAX_CHARS: usize = 20_000;
/// The longest title, in characters.
const TITLE_MAX_CHARS: usize = 100;
/// The longest description, summary or answer, in characters.
const TEXT_MAX_CHARS: usize = 20_000;

const STRINGS: &[(&str, &str, &str)] = &[
    ("rooms_heading", "電子会議室・パブリックコメント", "Discussion rooms and public comment"),
    ("no_rooms", "まだ会議室はありません。", "No rooms yet."),
    ("room_title", "題名", "Title"),
    ("kind", "種類", "Kind"),
    ("kind_discussion", "電子会議室", "Discussion room"),
    ("kind_public_comment", "パブリックコメント", "Public comment"),
    ("moderation", "掲載の方法", "How posts appear"),
    ("moderation_before", "事前承認（承認後に掲載）", "Moderated before (shown once approved)"),
    ("moderation_after", "事後削除（すぐに掲載、違反は非表示）", "Moderated after (shown at once, hidden if they break the rules)"),
    ("posts", "投稿", "Posts"),
    ("pending", "承認待ち", "Pending"),
    ("reported", "通報あり", "Reported"),
    ("public_page", "公開ページ", "Public page"),
    ("open_room", "会議室を開設する", "Open a room"),
    ("room_id", "会議室ID", "Room ID"),
    ("room_id_hint", "URLに使われます。英小文字・数字・「-」の40文字以内です。例：plan-2027", "Used in the address: up to 40 lowercase letters, digits and '-'. e.g. plan-2027"),
    ("title_ja", "題名（日本語）", "Title (Japanese)"),
    ("title_en", "題名（英語）", "Title (English)"),
    ("description_ja", "説明（日本語）", "Description (Japanese)"),
    ("description_en", "説明（英語・任意）", "Description (English, optional)"),
    ("description_hint", "投稿と同じ書式（Markdown）が使えます。", "The same formatting (Markdown) as posts."),
    ("opens", "受付開始（日本時間）", "Opens (Japan time)"),
    ("closes", "締切（日本時間）", "Closes (Japan time)"),
    ("when_hint", "パブリックコメントのみ。例：2026-05-01 09:00", "Public comment only. e.g. 2026-05-01 09:00"),
    ("room_id_invalid", "会議室IDは英小文字・数字・「-」の40文字以内にしてください（register、login、logout、settings、rules は使えません）。", "Use up to 40 lowercase letters, digits and '-' (not register, login, logout, settings or rules)."),
    ("room_id_taken", "この会議室IDは既に使われています。", "This room ID is taken."),
    ("title_missing", "題名を日本語と英語の両方で入力してください（100文字以内）。", "Enter the title in Japanese and English (at most 100 characters)."),
    ("description_missing", "説明（日本語）を入力してください（20000文字以内）。", "Enter the description in Japanese (at most 20000 characters)."),
    ("kind_invalid", "種類と掲載の方法を選んでください。", "Choose the kind and how posts appear."),
    ("when_invalid", "受付開始と締切を「2026-05-01 09:00」の形で入力し、締切は開始より後にしてください。", "Enter when it opens and closes as 2026-05-01 09:00, closing after it opens."),
    ("room_created", "会議室を開設しました。", "The room is open."),
    ("minors_heading", "18歳未満の参加者の保護", "Protecting participants under 18"),
    ("minors_premoderate", "18歳未満の方の投稿は、事後削除の会議室でも承認後に掲載する", "Posts by people under 18 wait for approval, even in rooms moderated after"),
    ("minors_withhold", "18歳未満の方の表示名を公開しない（「参加者（非公開）」と表示）", "Do not show the nickname of people under 18 (shown as “Participant (name withheld)”)"),
    ("save", "保存する", "Save"),
    ("settings_saved", "設定を保存しました。", "Settings saved."),
    ("unlocked", "ロックを解除しました。参加者はもう一度ログインできます。", "The lock was lifted: the participant can sign in again."),
    ("locked_heading", "ログインがロックされた参加者", "Participants locked out"),
    ("locked_lead", "ログインに10回続けて失敗した参加者です。ご本人から市役所へ連絡があり、本人であることを確かめたうえで解除してください。", "Participants whose sign-in failed ten times in a row. Lift the lock after the resident has contacted the city office and you have made sure it is them."),
    ("locked_none", "ロックされた参加者はいません。", "No participant is locked out."),
    ("unlock", "ロックを解除する", "Lift the lock"),
    ("registered_at", "登録日時", "Registered"),
    ("rules_heading", "利用規約", "Rules of use"),
    ("rules_current", "現在の版", "Current version"),
    ("rules_default", "（標準の規約）", "(the default rules)"),
    ("rules_ja", "利用規約（日本語）", "Rules of use (Japanese)"),
    ("rules_en", "利用規約（英語）", "Rules of use (English)"),
    ("rules_hint", "新しい版を公開すると、これから登録する方はその版に同意します。登録済みの方が同意した版も記録に残ります。", "Once a new version is published, new participants accept it; the version each participant accepted stays on record."),
    ("rules_publish", "新しい版として公開する", "Publish as a new version"),
    ("rules_missing", "利用規約を日本語と英語の両方で入力してください（各20000文字以内）。", "Enter the rules in Japanese and English (at most 20000 characters each)."),
    ("rules_published", "利用規約の新しい版を公開しました。", "A new version of the rules of use is published."),
    ("queue_heading", "対応が必要な投稿（承認待ち・通報あり）", "Posts waiting for a moderator (pending or reported)"),
    ("queue_empty", "対応が必要な投稿はありません。", "Nothing is waiting."),
    ("all_heading", "そのほかの投稿", "Other posts"),
    ("number", "番号", "No."),
    ("author", "表示名", "Nickname"),
    ("minor", "18歳未満", "Under 18"),
    ("posted_at", "投稿日時", "Posted"),
    ("reply_to", "返信先", "Reply to"),
    ("state", "状態", "State"),
    ("state_pending", "承認待ち", "Pending"),
    ("state_published", "掲載中", "Published"),
    ("state_hidden", "非表示", "Hidden"),
    ("hidden_reason", "非表示の理由", "Reason hidden"),
    ("reports", "通報", "Reports"),
    ("reason_abuse", "誹謗中傷", "Abuse or defamation"),
    ("reason_personal", "個人情報", "Personal information"),
    ("reason_spam", "宣伝・スパム", "Advertising or spam"),
    ("reason_other", "その他", "Other"),
    ("report_reviewed", "対応済み", "reviewed"),
    ("notes", "市からの注記", "Notes from the city"),
    ("approve", "承認して掲載する", "Approve"),
    ("hide", "非表示にする", "Hide"),
    ("hide_reason", "非表示の理由（公開されます）", "Reason for hiding (shown to residents)"),
    ("restore", "再表示する", "Restore"),
    ("annotate", "注記を付ける", "Add a note"),
    ("note", "注記（公開されます）", "Note (shown to residents)"),
    ("dismiss", "通報を確認済みにする（投稿はそのまま）", "Mark reports reviewed (keep the post)"),
    ("done", "操作を記録しました。", "Done and recorded."),
    ("refused", "この投稿には、この操作はできません。現在の状態：", "This cannot be done to this post. Its state now: "),
    ("text_missing", "理由または注記を入力してください。", "Please enter the reason or note."),
    ("text_too_long", "理由または注記は1000文字以内にしてください。", "Use at most 1000 characters for the reason or note."),
    ("no_reports", "確認していない通報はありません。", "There are no reports to review."),
    ("closing_heading", "結果の公表（パブリックコメント）", "Closing report (public comment)"),
    ("closing_hint", "締切後、意見の概要と、ご意見ごとの市の考え方を入力して公表します。公表後は変更できません。", "After the deadline, write a summary and the city's answer to each opinion, then publish. A published report does not change."),
    ("summary_ja", "概要（日本語）", "Summary (Japanese)"),
    ("summary_en", "概要（英語・任意）", "Summary (English, optional)"),
    ("answer", "市の考え方", "The city's answer"),
    ("report_save", "下書きを保存する", "Save the draft"),
    ("report_publish", "公表する", "Publish"),
    ("report_saved", "下書きを保存しました。", "Draft saved."),
    ("report_published", "結果を公表しました。", "The closing report is published."),
    ("report_is_published", "結果は公表済みです。", "The closing report is published."),
    ("report_not_closed", "締切前のため公表できません。下書きは保存しました。", "It cannot be published before the deadline; the draft is saved."),
    ("report_no_summary", "概要（日本語）を入力してから公表してください。", "Write the summary (Japanese) before publishing."),
    ("report_pending_left", "承認待ちのご意見があるため公表できません。先に承認するか非表示にしてください。件数：", "Some opinions are still pending; approve or hide them first. Pending: "),
    ("report_text_too_long", "概要や市の考え方は20000文字以内にしてください。", "Use at most 20000 characters for the summary and answers."),
    ("period", "受付期間", "Open for comments"),
    ("state_open", "受付中", "Open"),
    ("state_not_yet", "受付開始前", "Not open yet"),
    ("state_closed", "締切済み", "Closed"),
    ("back_to_rooms", "会議室の一覧へ", "Back to the rooms"),
];

fn strings(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    STRINGS.iter().map(|(key, ja, en)| (*key, if lang == Lang::En { *en } else { *ja })).collect()
}

fn text(lang: Lang, key: &str) -> &'static str {
    STRINGS.iter().find(|(k, _, _)| *k == key).map(|(_, ja, en)| if lang == Lang::En { *en } else { *ja }).unwrap_or("")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Room ids the console's own paths use, besides the residents' pages'.
const CONSOLE_PATHS: &[&str] = &["settings", "rules"];

fn valid_room_id(id: &str) -> bool {
    crate::rooms::valid_room_id(id) && !CONSOLE_PATHS.contains(&id)
}

/// "2026-05-01 09:00" (or with seconds, `T`, or `/`) in Japan time, as unix
/// seconds.
fn parse_jst(typed: &str) -> Option<i64> {
    let text = forms::nfkc(typed).replace('T', " ").replace('/', "-");
    let (date, clock) = text.split_once(' ')?;
    let date: Vec<&str> = date.split('-').collect();
    let clock: Vec<&str> = clock.trim().split(':').collect();
    let [y, mo, d] = date.as_slice() else { return None };
    let (h, mi, s) = match clock.as_slice() {
        [h, mi] => (*h, *mi, "0"),
        [h, mi, s] => (*h, *mi, *s),
        _ => return None,
    };
    let month = time::Month::try_from(mo.parse::<u8>().ok()?).ok()?;
    let date = time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    let at = date.with_hms(h.parse().ok()?, mi.parse().ok()?, s.parse().ok()?).ok()?;
    let jst = time::UtcOffset::from_hms(9, 0, 0).ok()?;
    Some(at.assume_offset(jst).unix_timestamp())
}

fn lang_text<'a>(lang: Lang, ja: &'a str, en: &'a str) -> &'a str {
    if lang == Lang::En && !en.trim().is_empty() {
        en
    } else {
        ja
    }
}

async fn tenant_of(counter: &Counter, id: &str) -> Result<store::Tenant, PageError> {
    counter.store.tenant(id).await?.ok_or(PageError::NotFound)
}

fn tenant_context(tenant: &store::Tenant, lang: Lang) -> minijinja::Value {
    context! { id => tenant.id.clone(), name => lang_text(lang, &tenant.name_ja, &tenant.name_en) }
}

fn room_state(room: &RoomRecord) -> &'static str {
    match room.room().open_at(now()) {
        Open::Yes => "open",
        Open::NotYet => "not_yet",
        Open::Closed => "closed",
    }
}

fn room_context(room: &RoomRecord, lang: Lang) -> minijinja::Value {
    let (kind, period) = match room.kind {
        RoomKind::Discussion => ("discussion", None),
        RoomKind::PublicComment { opens, closes } => {
            ("public_comment", Some(format!("{} 〜 {}", format_jst(opens), format_jst(closes))))
        }
    };
    context! {
        id => room.id.clone(), title => lang_text(lang, &room.title_ja, &room.title_en), kind => kind,
        moderation => if room.moderation == Moderation::Before { "before" } else { "after" },
        period => period, state => room_state(room),
        report_published => room.report.published_at.is_some(),
    }
}

// ---- the rooms of a tenant ---------------------------------------------------

#[derive(Deserialize, Default)]
pub(crate) struct Done {
    done: Option<String>,
}

pub(crate) async fn rooms(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let notice = match done.done.as_deref() {
        Some("room") => Some("room_created"),
        Some("settings") => Some("settings_saved"),
        Some("rules") => Some("rules_published"),
        Some("unlocked") => Some("unlocked"),
        _ => None,
    };
    rooms_page(&counter, &visitor, &tenant, Outcome { notice, ..Default::default() }, StatusCode::OK).await
}

/// What the rooms page says after a form: a notice, or errors by form.
#[derive(Default)]
struct Outcome {
    notice: Option<&'static str>,
    create_error: Option<&'static str>,
    rules_error: Option<&'static str>,
    /// What was typed into the room form, to keep it.
    typed: BTreeMap<String, String>,
}

async fn rooms_page(
    counter: &Counter,
    visitor: &Visitor,
    tenant: &store::Tenant,
    outcome: Outcome,
    status: StatusCode,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let rooms: Vec<_> = counter
        .store
        .rooms(&tenant.id)
        .await?
        .iter()
        .map(|s| {
            context! {
                room => room_context(&s.room, lang), posts => s.posts, pending => s.pending, reported => s.reported,
            }
        })
        .collect();
    let protections = counter.store.minor_protections(&tenant.id).await?;
    let rules = crate::rooms::current_rules(counter, &tenant.id).await?;
    let locked: Vec<_> = counter
        .store
        .locked_participants(&tenant.id)
        .await?
        .into_iter()
        .map(|p| context! { id => p.id, nickname => p.nickname, created_at => super::format_jst(p.created_at) })
        .collect();
    counter.admin_pages.render_status(
        visitor,
        status,
        "admin/rooms.html",
        context! {
            rt => strings(lang), tenant => tenant_context(tenant, lang), rooms => rooms,
            protections => context! { premoderate => protections.premoderate, withhold_name => protections.withhold_name },
            rules => context! { version => rules.version, text_ja => rules.text_ja, text_en => rules.text_en },
            notice => outcome.notice.map(|k| text(lang, k)),
            create_error => outcome.create_error.map(|k| text(lang, k)),
            rules_error => outcome.rules_error.map(|k| text(lang, k)),
            typed => outcome.typed,
            locked => locked,
        },
    )
}

/// Lifts a participant's sign-in lock.
pub(crate) async fn unlock_participant(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path((tenant, participant)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    counter.store.unlock_participant(&tenant.id, &participant, &visitor.actor()).await?;
    Ok(Redirect::to(&format!("/admin/t/{}/rooms?done=unlocked#locked", tenant.id)).into_response())
}

pub(crate) async fn create_room(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let id = fields.get("id").trim().to_ascii_lowercase();
    let title_ja = forms::nfkc(fields.get("title_ja"));
    let title_en = forms::nfkc(fields.get("title_en"));
    let description_ja = fields.get("description_ja").trim().replace("\r\n", "\n");
    let description_en = fields.get("description_en").trim().replace("\r\n", "\n");
    let moderation = match fields.get("moderation") {
        "before" => Some(Moderation::Before),
        "after" => Some(Moderation::After),
        _ => None,
    };
    let kind = match fields.get("kind") {
        "discussion" => Some(Some(RoomKind::Discussion)),
        "public_comment" => match (parse_jst(fields.get("opens")), parse_jst(fields.get("closes"))) {
            (Some(opens), Some(closes)) if closes > opens => Some(Some(RoomKind::PublicComment { opens, closes })),
            _ => Some(None),
        },
        _ => None,
    };
    let too_long = |text: &str, max: usize| text.chars().count() > max;
    let error = if !valid_room_id(&id) {
        Some("room_id_invalid")
    } else if title_ja.is_empty()
        || title_en.is_empty()
        || too_long(&title_ja, TITLE_MAX_CHARS)
        || too_long(&title_en, TITLE_MAX_CHARS)
    {
        Some("title_missing")
    } else if description_ja.is_empty()
        || too_long(&description_ja, TEXT_MAX_CHARS)
        || too_long(&description_en, TEXT_MAX_CHARS)
    {
        Some("description_missing")
    } else if kind.is_none() || moderation.is_none() {
        Some("kind_invalid")
    } else if kind == Some(None) {
        Some("when_invalid")
    } else {
        None
    };
    let typed = || {
        ["id", "kind", "moderation", "title_ja", "title_en", "description_ja", "description_en", "opens", "closes"]
            .iter()
            .map(|k| ((*k).to_owned(), fields.get(k).to_owned()))
            .collect()
    };
    let (Some(Some(kind)), Some(moderation), None) = (kind, moderation, error) else {
        let outcome = Outcome { create_error: error, typed: typed(), ..Default::default() };
        return rooms_page(&counter, &visitor, &tenant, outcome, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let room = NewRoom { id, kind, moderation, title_ja, title_en, description_ja, description_en };
    if !counter.store.create_room(&tenant.id, &room, &visitor.actor()).await? {
        let outcome = Outcome { create_error: Some("room_id_taken"), typed: typed(), ..Default::default() };
        return rooms_page(&counter, &visitor, &tenant, outcome, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    Ok(Redirect::to(&format!("/admin/t/{}/rooms?done=room", tenant.id)).into_response())
}

pub(crate) async fn save_settings(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let protections = MinorProtections {
        premoderate: fields.get("premoderate") == "on",
        withhold_name: fields.get("withhold_name") == "on",
    };
    counter.store.set_minor_protections(&tenant.id, protections, &visitor.actor()).await?;
    Ok(Redirect::to(&format!("/admin/t/{}/rooms?done=settings", tenant.id)).into_response())
}

pub(crate) async fn publish_rules(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path(tenant): Path<String>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let ja = fields.get("rules_ja").trim().replace("\r\n", "\n");
    let en = fields.get("rules_en").trim().replace("\r\n", "\n");
    if ja.is_empty() || en.is_empty() || ja.chars().count() > RULES_MAX_CHARS || en.chars().count() > RULES_MAX_CHARS {
        let outcome = Outcome { rules_error: Some("rules_missing"), ..Default::default() };
        return rooms_page(&counter, &visitor, &tenant, outcome, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    counter.store.publish_rules_of_use(&tenant.id, &ja, &en, &visitor.actor()).await?;
    Ok(Redirect::to(&format!("/admin/t/{}/rooms?done=rules", tenant.id)).into_response())
}

// ---- one room: moderation and the closing report ----------------------------

pub(crate) async fn room(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path((tenant, room)): Path<(String, String)>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let room = counter.store.room(&tenant.id, &room).await?.ok_or(PageError::NotFound)?;
    let notice = match done.done.as_deref() {
        Some("moderated") => Some(text(visitor.lang, "done").to_owned()),
        Some("saved") => Some(text(visitor.lang, "report_saved").to_owned()),
        Some("published") => Some(text(visitor.lang, "report_published").to_owned()),
        _ => None,
    };
    room_page(&counter, &visitor, &tenant, &room, RoomOutcome { notice, ..Default::default() }, StatusCode::OK).await
}

#[derive(Default)]
struct RoomOutcome {
    notice: Option<String>,
    /// A refused action: the post and why.
    error: Option<(i64, String)>,
    report_error: Option<String>,
}

fn post_context(post: &PostRecord, lang: Lang) -> minijinja::Value {
    let state = match post.visibility {
        Visibility::Pending => "pending",
        Visibility::Published => "published",
        Visibility::Hidden => "hidden",
    };
    let reports: Vec<_> = post
        .reports
        .iter()
        .map(|r| {
            context! {
                reason => text(lang, &format!("reason_{}", r.reason)), detail => r.detail.clone(),
                at => format_jst(r.created_at), reviewed => r.reviewed,
            }
        })
        .collect();
    let notes: Vec<_> = post
        .notes
        .iter()
        .map(|n| context! { html => markup::render(&n.note), at => format_jst(n.created_at) })
        .collect();
    context! {
        seq => post.seq, parent => post.parent, author => post.nickname.clone(), minor => post.minor,
        posted_at => format_jst(post.created_at), state => state, body_html => markup::render(&post.body),
        hidden_reason => post.hidden_reason.clone(), reports => reports, open_reports => post.open_reports().count(),
        notes => notes, answer => post.answer.clone().unwrap_or_default(),
    }
}

async fn room_page(
    counter: &Counter,
    visitor: &Visitor,
    tenant: &store::Tenant,
    room: &RoomRecord,
    outcome: RoomOutcome,
    status: StatusCode,
) -> Result<Response, PageError> {
    let lang = visitor.lang;
    let posts = counter.store.room_posts(&tenant.id, &room.id).await?;
    // The queue first: what waits for a moderator, the oldest first.
    let (queue, rest): (Vec<&PostRecord>, Vec<&PostRecord>) =
        posts.iter().partition(|p| p.visibility == Visibility::Pending || p.open_reports().next().is_some());
    let is_public_comment = matches!(room.kind, RoomKind::PublicComment { .. });
    let opinions: Vec<_> = if is_public_comment {
        posts
            .iter()
            .filter(|p| p.visibility == Visibility::Published)
            .map(|p| context! { seq => p.seq, answer => p.answer.clone().unwrap_or_default(), body_html => markup::render(&p.body) })
            .collect()
    } else {
        Vec::new()
    };
    counter.admin_pages.render_status(
        visitor,
        status,
        "admin/room.html",
        context! {
            rt => strings(lang), tenant => tenant_context(tenant, lang), room => room_context(room, lang),
            description_html => markup::render(lang_text(lang, &room.description_ja, &room.description_en)),
            queue => queue.iter().map(|p| post_context(p, lang)).collect::<Vec<_>>(),
            rest => rest.iter().map(|p| post_context(p, lang)).collect::<Vec<_>>(),
            is_public_comment => is_public_comment, opinions => opinions,
            summary_ja => room.report.summary_ja.clone().unwrap_or_default(),
            summary_en => room.report.summary_en.clone().unwrap_or_default(),
            notice => outcome.notice,
            error_post => outcome.error.as_ref().map(|(seq, _)| *seq),
            error => outcome.error.map(|(_, message)| message),
            report_error => outcome.report_error,
        },
    )
}

pub(crate) async fn moderate(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path((tenant, room, post)): Path<(String, String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let room = counter.store.room(&tenant.id, &room).await?.ok_or(PageError::NotFound)?;
    let seq: i64 = post.parse().map_err(|_| PageError::NotFound)?;
    let lang = visitor.lang;
    let action = match fields.get("action") {
        "approve" => Some(Action::Approve),
        "hide" => Some(Action::Hide { reason: fields.get("reason").trim().replace("\r\n", "\n") }),
        "restore" => Some(Action::Restore),
        "annotate" => Some(Action::Annotate { note: fields.get("note").trim().replace("\r\n", "\n") }),
        "dismiss" => None,
        _ => return Err(PageError::BadRequest),
    };
    let refusal = match action {
        None => {
            if counter.store.dismiss_reports(&tenant.id, &room.id, seq, &visitor.actor()).await? {
                None
            } else {
                Some(text(lang, "no_reports").to_owned())
            }
        }
        Some(action) => match counter.store.moderate(&tenant.id, &room.id, seq, &action, &visitor.actor()).await? {
            ModerationOutcome::Done(_) => None,
            ModerationOutcome::NoPost => return Err(PageError::NotFound),
            ModerationOutcome::Refused(ModerationError::Empty) => Some(text(lang, "text_missing").to_owned()),
            ModerationOutcome::Refused(ModerationError::TooLong { .. }) => Some(text(lang, "text_too_long").to_owned()),
            ModerationOutcome::Refused(ModerationError::NotFrom { from, .. }) => {
                let state = match from {
                    Visibility::Pending => "state_pending",
                    Visibility::Published => "state_published",
                    Visibility::Hidden => "state_hidden",
                };
                Some(format!("{}{}", text(lang, "refused"), text(lang, state)))
            }
        },
    };
    match refusal {
        None => Ok(Redirect::to(&format!("/admin/t/{}/rooms/{}?done=moderated#post-{seq}", tenant.id, room.id))
            .into_response()),
        Some(message) => {
            let outcome = RoomOutcome { error: Some((seq, message)), ..Default::default() };
            room_page(&counter, &visitor, &tenant, &room, outcome, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub(crate) async fn closing_report(
    Extension(visitor): Extension<Visitor>,
    State(counter): Shared,
    Path((tenant, room)): Path<(String, String)>,
    fields: Fields,
) -> Result<Response, PageError> {
    let tenant = tenant_of(&counter, &tenant).await?;
    let room = counter.store.room(&tenant.id, &room).await?.ok_or(PageError::NotFound)?;
    let lang = visitor.lang;
    let clean = |text: &str| text.trim().replace("\r\n", "\n");
    let summary_ja = clean(fields.get("summary_ja"));
    let summary_en = clean(fields.get("summary_en"));
    let answers: Vec<(i64, String)> = fields
        .0
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("answer-")?.parse::<i64>().ok()?, clean(v))))
        .collect();
    let too_long = std::iter::once(&summary_ja)
        .chain(std::iter::once(&summary_en))
        .chain(answers.iter().map(|(_, a)| a))
        .any(|t| t.chars().count() > TEXT_MAX_CHARS);
    let refuse = |key: &str, extra: String| RoomOutcome {
        report_error: Some(format!("{}{extra}", text(lang, key))),
        ..Default::default()
    };
    if too_long {
        let outcome = refuse("report_text_too_long", String::new());
        return room_page(&counter, &visitor, &tenant, &room, outcome, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let summary_en = (!summary_en.is_empty()).then_some(summary_en.as_str());
    let saved = counter.store.save_closing_report(&tenant.id, &room.id, &summary_ja, summary_en, &answers).await?;
    let outcome = match saved {
        ClosingReportOutcome::Done if fields.get("publish") == "1" => {
            counter.store.publish_closing_report(&tenant.id, &room.id, &visitor.actor()).await?
        }
        other => other,
    };
    let room = counter.store.room(&tenant.id, &room.id).await?.ok_or(PageError::NotFound)?;
    let refusal = match outcome {
        ClosingReportOutcome::Done => {
            let done = if fields.get("publish") == "1" { "published" } else { "saved" };
            return Ok(
                Redirect::to(&format!("/admin/t/{}/rooms/{}?done={done}#closing", tenant.id, room.id)).into_response()
            );
        }
        ClosingReportOutcome::NoRoom | ClosingReportOutcome::NotPublicComment => return Err(PageError::NotFound),
        ClosingReportOutcome::AlreadyPublished => refuse("report_is_published", String::new()),
        ClosingReportOutcome::NotClosed => refuse("report_not_closed", String::new()),
        ClosingReportOutcome::NoSummary => refuse("report_no_summary", String::new()),
        ClosingReportOutcome::PendingLeft(n) => refuse("report_pending_left", n.to_string()),
    };
    room_page(&counter, &visitor, &tenant, &room, refusal, StatusCode::CONFLICT).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_exists_in_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::BTreeSet::new();
        for (key, ja, en) in STRINGS {
            assert!(keys.insert(key), "duplicate key {key}");
            assert!(!ja.is_empty() && !en.is_empty(), "{key} is missing a language");
        }
    }

    #[test]
    fn times_are_read_in_japan_time_to_the_second() {
        assert_eq!(parse_jst("2026-05-01 09:00"), Some(1_777_593_600));
        assert_eq!(parse_jst("2026-05-01T09:00:30"), Some(1_777_593_630));
        assert_eq!(parse_jst("２０２６/０５/０１ ０９:００"), Some(1_777_593_600), "full-width and slashes");
        for bad in ["", "2026-05-01", "2026-13-01 09:00", "2026-05-01 25:00", "tomorrow 9:00"] {
            assert_eq!(parse_jst(bad), None, "{bad}");
        }
    }

    #[test]
    fn console_paths_are_not_room_ids() {
        assert!(valid_room_id("plan-2027"));
        assert!(!valid_room_id("settings") && !valid_room_id("rules") && !valid_room_id("register"));
    }
}
