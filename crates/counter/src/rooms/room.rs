//! The rooms' pages: the list, a room with its posts (threaded one level),
//! the post, reply and report forms, and a public comment's published
//! closing report as a page and as CSV.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use forms::Lang;
use minijinja::context;
use participation::{markup, Open, RoomKind, Visibility};
use serde::Serialize;
use store::rooms::{MinorProtections, PostOutcome, PostRecord, ReportOutcome, RoomRecord};

use super::{format_time, see_other, text, Posted, Visitor, POSTS_PER_NETWORK};
use crate::{Counter, PageError};

type Shared = State<Arc<Counter>>;

/// The reasons a resident may give for a report, as the store keeps them.
pub(crate) const REPORT_REASONS: &[&str] = &["abuse", "personal", "spam", "other"];
/// The longest report detail, in characters.
const REPORT_DETAIL_MAX_CHARS: usize = 1000;

fn title(room: &RoomRecord, lang: Lang) -> &str {
    if lang == Lang::En && !room.title_en.trim().is_empty() {
        &room.title_en
    } else {
        &room.title_ja
    }
}

fn description(room: &RoomRecord, lang: Lang) -> &str {
    if lang == Lang::En && !room.description_en.trim().is_empty() {
        &room.description_en
    } else {
        &room.description_ja
    }
}

/// What the pages say about a room beside its posts.
fn room_context(room: &RoomRecord, lang: Lang, now: i64) -> minijinja::Value {
    let rules = room.room();
    let (kind, period) = match room.kind {
        RoomKind::Discussion => ("discussion", None),
        RoomKind::PublicComment { opens, closes } => (
            "public_comment",
            Some(context! { opens => format_time(opens, lang), closes => format_time(closes, lang) }),
        ),
    };
    let state = match rules.open_at(now) {
        Open::Yes => "open",
        Open::NotYet => "not_yet",
        Open::Closed => "closed",
    };
    context! {
        id => room.id.clone(), title => title(room, lang), kind => kind, period => period, state => state,
        moderation => if room.moderation == participation::Moderation::Before { "before" } else { "after" },
        description_html => markup::render(description(room, lang)),
        report_published => room.report.published_at.is_some(),
    }
}

pub(crate) async fn list(State(counter): Shared, visitor: Visitor) -> Result<Response, PageError> {
    let now = super::now_unix();
    let rooms: Vec<_> = counter
        .store
        .rooms(&visitor.tenant.id)
        .await?
        .iter()
        .map(|s| room_context(&s.room, visitor.lang, now))
        .collect();
    Ok(visitor.page(&counter, StatusCode::OK, "rooms/list.html", context! { rooms => rooms }))
}

/// A post as the reader sees it.
#[derive(Serialize)]
struct PostView {
    seq: i64,
    author: String,
    posted_at: String,
    /// "published", "hidden", or "pending" (only the author's own).
    state: &'static str,
    body_html: String,
    hidden_notice: String,
    notes: Vec<NoteView>,
    own: bool,
    can_report: bool,
    reported: bool,
    can_reply: bool,
    replies: Vec<PostView>,
}

#[derive(Serialize)]
struct NoteView {
    html: String,
    at: String,
}

/// What went wrong with a form on the room page, shown beside that form.
#[derive(Serialize, Default)]
pub(crate) struct FormProblem {
    /// The post a reply or report was about (None: the post box).
    pub seq: Option<i64>,
    pub message: String,
    /// What was typed, to keep it.
    pub body: String,
    pub report: bool,
}

struct Reader<'a> {
    lang: Lang,
    me: Option<&'a str>,
    protections: MinorProtections,
    reported: HashSet<i64>,
    replies_open: bool,
}

impl Reader<'_> {
    /// The post as this reader may see it: None when it is someone else's
    /// post still waiting for a moderator.
    fn view(&self, post: &PostRecord) -> Option<PostView> {
        let own = self.me == Some(post.participant.as_str());
        let state = match post.visibility {
            Visibility::Published => "published",
            Visibility::Hidden => "hidden",
            Visibility::Pending if own => "pending",
            Visibility::Pending => return None,
        };
        let author = if post.minor && self.protections.withhold_name {
            text(self.lang, "withheld").to_owned()
        } else {
            post.nickname.clone()
        };
        let hidden_notice = match post.visibility {
            Visibility::Hidden => {
                text(self.lang, "hidden_notice").replace("{reason}", post.hidden_reason.as_deref().unwrap_or(""))
            }
            _ => String::new(),
        };
        let shown = post.visibility != Visibility::Hidden;
        let published = post.visibility == Visibility::Published;
        Some(PostView {
            seq: post.seq,
            author,
            posted_at: format_time(post.created_at, self.lang),
            state,
            body_html: if shown { markup::render(&post.body) } else { String::new() },
            hidden_notice,
            notes: post
                .notes
                .iter()
                .map(|n| NoteView { html: markup::render(&n.note), at: format_time(n.created_at, self.lang) })
                .collect(),
            own,
            can_report: self.me.is_some() && !own && published && !self.reported.contains(&post.seq),
            reported: self.reported.contains(&post.seq),
            can_reply: self.me.is_some() && self.replies_open && published && post.parent.is_none(),
            replies: Vec::new(),
        })
    }
}

/// The posts of a room for this reader: oldest first, replies under the
/// post they answer.
fn threads(posts: &[PostRecord], reader: &Reader<'_>) -> Vec<PostView> {
    let mut top: Vec<PostView> = Vec::new();
    let mut at: HashMap<i64, usize> = HashMap::new();
    for post in posts.iter().filter(|p| p.parent.is_none()) {
        if let Some(view) = reader.view(post) {
            at.insert(post.seq, top.len());
            top.push(view);
        }
    }
    for post in posts.iter() {
        let Some(parent) = post.parent else { continue };
        if let (Some(&i), Some(view)) = (at.get(&parent), reader.view(post)) {
            top[i].replies.push(view);
        }
    }
    top
}

/// The room page, with a notice (after a post or report) or a form's
/// problem.
async fn room_response(
    counter: &Counter,
    visitor: &Visitor,
    room: &RoomRecord,
    status: StatusCode,
    notice: Option<&str>,
    problem: Option<FormProblem>,
) -> Result<Response, PageError> {
    let tenant = &visitor.tenant.id;
    let now = super::now_unix();
    let posts = counter.store.room_posts(tenant, &room.id).await?;
    let protections = counter.store.minor_protections(tenant).await?;
    let me = visitor.participant.as_ref();
    let reported = match me {
        Some(me) => counter.store.reported_by(tenant, &room.id, &me.id).await?.into_iter().collect(),
        None => HashSet::new(),
    };
    let rules = room.room();
    let open = rules.open_at(now) == Open::Yes;
    let reader = Reader {
        lang: visitor.lang,
        me: me.map(|p| p.id.as_str()),
        protections,
        reported,
        replies_open: open && rules.has_replies(),
    };
    let given = me.is_some_and(|me| !rules.takes_more_than_one_each() && posts.iter().any(|p| p.participant == me.id));
    let can_post = me.is_some() && open && !given;
    let posts = threads(&posts, &reader);
    Ok(visitor.page(
        counter,
        status,
        "rooms/room.html",
        context! {
            room => room_context(room, visitor.lang, now), posts => posts, can_post => can_post, given => given,
            notice => notice, problem => problem, reasons => REPORT_REASONS,
            action_q => visitor.q(),
        },
    ))
}

async fn load_room(counter: &Counter, tenant: &str, room: &str) -> Result<RoomRecord, PageError> {
    counter.store.room(tenant, room).await?.ok_or(PageError::NotFound)
}

fn query_value(visitor: &Visitor, key: &str) -> Option<String> {
    visitor
        .uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v))
}

pub(crate) async fn room_page(
    State(counter): Shared,
    Path((_, room)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let room = load_room(&counter, &visitor.tenant.id, &room).await?;
    let notice = match (query_value(&visitor, "posted").as_deref(), query_value(&visitor, "reported").as_deref()) {
        (Some("pending"), _) => Some(text(visitor.lang, "posted_pending")),
        (Some(_), _) => Some(text(visitor.lang, "posted")),
        (_, Some("again")) => Some(text(visitor.lang, "already_reported")),
        (_, Some(_)) => Some(text(visitor.lang, "reported")),
        _ => None,
    };
    room_response(&counter, &visitor, &room, StatusCode::OK, notice, None).await
}

/// Where to go after a form on the room page: the room, in the reader's
/// language, with what happened, at the post concerned.
fn back_to_room(visitor: &Visitor, room: &str, what: (&str, &str), seq: i64) -> Response {
    let mut pairs = vec![what];
    if visitor.lang == Lang::En {
        pairs.insert(0, ("lang", "en"));
    }
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    see_other(&format!("/t/{}/rooms/{room}?{query}#post-{seq}", visitor.tenant.id))
}

pub(crate) async fn post(
    State(counter): Shared,
    Path((_, room)): Path<(String, String)>,
    Posted { visitor, fields }: Posted,
) -> Result<Response, PageError> {
    let participant = visitor.participant()?;
    let room = load_room(&counter, &visitor.tenant.id, &room).await?;
    let parent = match fields.get("parent") {
        "" => None,
        seq => Some(seq.parse::<i64>().map_err(|_| PageError::BadRequest)?),
    };
    // Kept as typed (only line ends made one kind): a post is the
    // resident's words, shown through the markup renderer.
    let typed = fields.get("body").replace("\r\n", "\n");
    let problem = |key: &str| FormProblem {
        seq: parent,
        message: text(visitor.lang, key).to_owned(),
        body: typed.clone(),
        report: false,
    };
    let refusal = if typed.trim().is_empty() {
        Some(("body_missing", StatusCode::UNPROCESSABLE_ENTITY))
    } else if typed.chars().count() > markup::MAX_CHARS {
        Some(("body_too_long", StatusCode::UNPROCESSABLE_ENTITY))
    } else if counter.store.take_rate("post", &visitor.network, POSTS_PER_NETWORK).await?.is_some() {
        Some(("too_many_from_network", StatusCode::TOO_MANY_REQUESTS))
    } else {
        match counter.store.add_post(&visitor.tenant.id, &room.id, &participant.id, parent, &typed).await? {
            PostOutcome::Posted { seq, visibility } => {
                let what = if visibility == Visibility::Pending { "pending" } else { "published" };
                return Ok(back_to_room(&visitor, &room.id, ("posted", what), seq));
            }
            PostOutcome::NoRoom => return Err(PageError::NotFound),
            PostOutcome::NotOpen(_) => Some(("closed_now", StatusCode::CONFLICT)),
            PostOutcome::OneEach => Some(("one_each", StatusCode::CONFLICT)),
            // Said beside the post box: the post replied to may show no
            // reply form (a public comment, or a post no longer shown).
            PostOutcome::NoReply => {
                return room_response(
                    &counter,
                    &visitor,
                    &room,
                    StatusCode::CONFLICT,
                    None,
                    Some(FormProblem { seq: None, ..problem("reply_gone") }),
                )
                .await
            }
            PostOutcome::TooMany { .. } => Some(("too_many_posts", StatusCode::TOO_MANY_REQUESTS)),
        }
    };
    let (key, status) = refusal.unwrap_or(("body_missing", StatusCode::UNPROCESSABLE_ENTITY));
    room_response(&counter, &visitor, &room, status, None, Some(problem(key))).await
}

pub(crate) async fn report(
    State(counter): Shared,
    Path((_, room, seq)): Path<(String, String, String)>,
    Posted { visitor, fields }: Posted,
) -> Result<Response, PageError> {
    let participant = visitor.participant()?;
    let room = load_room(&counter, &visitor.tenant.id, &room).await?;
    let seq: i64 = seq.parse().map_err(|_| PageError::NotFound)?;
    let reason = fields.get("reason");
    let detail = forms::nfkc(fields.get("detail"));
    let invalid = if !REPORT_REASONS.contains(&reason) {
        Some("report_reason_missing")
    } else if detail.chars().count() > REPORT_DETAIL_MAX_CHARS {
        Some("report_detail_too_long")
    } else {
        None
    };
    if let Some(key) = invalid {
        let problem =
            FormProblem { seq: Some(seq), message: text(visitor.lang, key).to_owned(), body: detail, report: true };
        return room_response(&counter, &visitor, &room, StatusCode::UNPROCESSABLE_ENTITY, None, Some(problem)).await;
    }
    match counter.store.report_post(&visitor.tenant.id, &room.id, seq, &participant.id, reason, &detail).await? {
        ReportOutcome::Reported => Ok(back_to_room(&visitor, &room.id, ("reported", "1"), seq)),
        ReportOutcome::AlreadyReported => Ok(back_to_room(&visitor, &room.id, ("reported", "again"), seq)),
        ReportOutcome::NoPost => Err(PageError::NotFound),
    }
}

/// A public comment's room whose closing report is published.
async fn published_report(counter: &Counter, tenant: &str, room: &str) -> Result<RoomRecord, PageError> {
    let room = load_room(counter, tenant, room).await?;
    match (&room.kind, room.report.published_at) {
        (RoomKind::PublicComment { .. }, Some(_)) => Ok(room),
        _ => Err(PageError::NotFound),
    }
}

fn summary(room: &RoomRecord, lang: Lang) -> &str {
    match (lang, &room.report.summary_en) {
        (Lang::En, Some(en)) if !en.trim().is_empty() => en,
        _ => room.report.summary_ja.as_deref().unwrap_or(""),
    }
}

pub(crate) async fn closing_report(
    State(counter): Shared,
    Path((_, room)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let room = published_report(&counter, &visitor.tenant.id, &room).await?;
    let posts = counter.store.room_posts(&visitor.tenant.id, &room.id).await?;
    let counts = store::rooms::opinion_counts(&posts);
    let opinions: Vec<_> = posts
        .iter()
        .filter(|p| p.visibility == Visibility::Published)
        .map(|p| {
            context! {
                seq => p.seq, received_at => format_time(p.created_at, visitor.lang),
                body_html => markup::render(&p.body),
                answer_html => p.answer.as_deref().map(markup::render).unwrap_or_default(),
            }
        })
        .collect();
    let now = super::now_unix();
    Ok(visitor.page(
        &counter,
        StatusCode::OK,
        "rooms/report.html",
        context! {
            room => room_context(&room, visitor.lang, now),
            published_at => room.report.published_at.map(|t| format_time(t, visitor.lang)),
            summary_html => markup::render(summary(&room, visitor.lang)),
            received => counts.received, published => counts.published, hidden => counts.hidden,
            opinions => opinions,
        },
    ))
}

/// A CSV cell: quoted when it must be, and a cell a spreadsheet would run
/// as a formula (starting = + - @) made text with a leading '.
pub(crate) fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The closing report's opinions as CSV (UTF-8 with BOM, for Excel):
/// 番号,受付日時,ご意見,市の考え方.
pub(crate) async fn closing_report_csv(
    State(counter): Shared,
    Path((_, room)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let room = published_report(&counter, &visitor.tenant.id, &room).await?;
    let posts = counter.store.room_posts(&visitor.tenant.id, &room.id).await?;
    let mut out = String::from("\u{feff}番号,受付日時,ご意見,市の考え方\r\n");
    for post in posts.iter().filter(|p| p.visibility == Visibility::Published) {
        let cells = [
            post.seq.to_string(),
            crate::admin::format_jst(post.created_at),
            post.body.clone(),
            post.answer.clone().unwrap_or_default(),
        ];
        out.push_str(&cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    let disposition = format!("attachment; filename=\"{}-report.csv\"", room.id);
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_never_run_as_formulas_and_keep_commas_and_lines() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+81"), "'+81");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("賛成です、ただし"), "賛成です、ただし", "a full-width comma is text");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("一行目\n二行目"), "\"一行目\n二行目\"");
    }
}
