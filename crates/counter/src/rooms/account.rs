//! Participants: registration (rules of use, nickname, login id, password,
//! under 18), sign-in with the identity crate's growing delays and lock,
//! and sign-out.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use forms::Lang;
use minijinja::context;
use store::rooms::{NewParticipant, RulesOfUse};

use super::{see_other, session_cookies, text, Fields, Posted, Visitor, REGISTRATIONS_PER_NETWORK};
use crate::{Counter, PageError};

type Shared = State<Arc<Counter>>;

/// The rules of use a tenant has until it publishes its own (version 0).
pub(crate) const DEFAULT_RULES_JA: &str = "\
1. この電子会議室・パブリックコメントは、市政について住民の皆さんが意見を交わし、市に意見を届けるための場です。
2. 投稿は公開されます。ご自身や他の方の氏名・住所・電話番号・メールアドレスなど、個人が特定される情報は書かないでください。
3. 次の投稿は禁止します。管理者は、投稿後であっても非表示にすることがあります。非表示にした場合は、その理由を表示します。
   - 他の方への誹謗中傷、差別、脅迫、名誉やプライバシーを傷つけるもの
   - 宣伝、勧誘、スパム、同じ内容の繰り返し
   - 法令や公序良俗に反するもの、選挙運動に当たるもの
   - 会議室のテーマと関係のないもの
4. 18歳未満の方の投稿は、管理者が確認した後に掲載し、表示名は公開しません。
5. 投稿の内容は市の施策の参考にします。個別の投稿にお答えできない場合があります。
6. 市は、この規約を変更することがあります。変更後は、改めて同意をお願いします。";

pub(crate) const DEFAULT_RULES_EN: &str = "\
1. These discussion rooms and public comments are where residents discuss the city's affairs and send their views to the city.
2. Posts are public. Do not write anything that identifies you or anyone else: names, addresses, phone numbers, e-mail addresses and so on.
3. The following are not allowed; moderators may hide them even after they appear, and show why:
   - abuse of others, discrimination, threats, or anything that harms someone's reputation or privacy;
   - advertising, soliciting, spam, or the same text again and again;
   - anything unlawful or indecent, or election campaigning;
   - anything unrelated to the room's topic.
4. Posts by people under 18 appear after a moderator has checked them, and their nickname is not shown.
5. The city takes posts into account in its work; it may not answer each post.
6. The city may change these rules; you will be asked to accept the new rules.";

/// The rules a registration accepts now: the tenant's latest, or the
/// default text as version 0.
pub(crate) async fn current_rules(counter: &Counter, tenant: &str) -> Result<RulesOfUse, PageError> {
    Ok(match counter.store.rules_of_use(tenant).await? {
        Some(rules) => rules,
        None => RulesOfUse {
            version: 0,
            text_ja: DEFAULT_RULES_JA.to_owned(),
            text_en: DEFAULT_RULES_EN.to_owned(),
            sha256: store::rooms::rules_sha256(DEFAULT_RULES_JA, DEFAULT_RULES_EN),
            published_at: 0,
        },
    })
}

/// The longest nickname, in characters after NFKC.
pub(crate) const NICKNAME_MAX_CHARS: usize = 20;

/// A nickname as shown (NFKC, trimmed), or the key of what is wrong: empty,
/// too long, an e-mail address, control characters, or one of the labels
/// the pages show in place of a name.
pub(crate) fn nickname(typed: &str) -> Result<String, &'static str> {
    let name = forms::nfkc(typed);
    let count = name.chars().count();
    if count == 0 {
        Err("nickname_missing")
    } else if count > NICKNAME_MAX_CHARS {
        Err("nickname_too_long")
    } else if name.chars().any(|c| c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}')) {
        // Control, zero-width and direction characters: a name that reads
        // as another's.
        Err("nickname_control")
    } else if looks_like_email(&name) {
        Err("nickname_email")
    } else if [Lang::Ja, Lang::En].iter().any(|lang| forms::nfkc(text(*lang, "withheld")) == name) {
        Err("nickname_reserved")
    } else {
        Ok(name)
    }
}

/// An `@` after NFKC (so `＠` too) is enough to refuse: no nickname or
/// login id needs one, and no address must end up public or be used as an
/// account name.
fn looks_like_email(text: &str) -> bool {
    text.contains('@')
}

/// A login id as kept (NFKC, lowercase), or the key of what is wrong. The
/// staff's login id rules (identity::valid_login) apply to residents too.
pub(crate) fn login_id(typed: &str) -> Result<String, &'static str> {
    let login = forms::nfkc(typed).to_lowercase();
    if looks_like_email(&login) {
        Err("login_id_email")
    } else if !identity::valid_login(&login) {
        Err("login_id_invalid")
    } else {
        Ok(login)
    }
}

/// The keyed hash the store keeps instead of a login id: the key is the
/// counters' token key, which is not in the database, so a copy of the
/// database does not list anyone's login id.
fn login_hmac(counter: &Counter, tenant: &str, login: &str) -> String {
    hex::encode(counter.tokens.derive("rooms login id", format!("{tenant}\n{login}").as_bytes()))
}

fn rules_context(rules: &RulesOfUse, lang: Lang) -> minijinja::Value {
    let text = if lang == Lang::En { &rules.text_en } else { &rules.text_ja };
    context! { version => rules.version, text => text }
}

pub(crate) async fn register_page(State(counter): Shared, visitor: Visitor) -> Result<Response, PageError> {
    let rules = current_rules(&counter, &visitor.tenant.id).await?;
    let mut response = visitor.page(
        &counter,
        StatusCode::OK,
        "rooms/register.html",
        context! { rules => rules_context(&rules, visitor.lang), values => BTreeMap::<&str, &str>::new() },
    );
    // A resident who opened registration keeps priority while the shield
    // sheds load (the page itself is behind the proof of work when the
    // tenant is under attack).
    if let Some(cookie) =
        crate::guard::form_session_cookie(&counter.tokens, &visitor.tenant.id, counter.settings.secure_cookies)
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

pub(crate) async fn register(
    State(counter): Shared,
    Posted { visitor, fields }: Posted,
) -> Result<Response, PageError> {
    let rules = current_rules(&counter, &visitor.tenant.id).await?;

    let mut errors: BTreeMap<&str, &str> = BTreeMap::new();
    let nickname = super::account::nickname(fields.get("nickname")).map_err(|e| errors.insert("nickname", e)).ok();
    let login = login_id(fields.get("login")).map_err(|e| errors.insert("login", e)).ok();
    let password = fields.get("password");
    if let Some(problem) = identity::password_problem(login.as_deref().unwrap_or(""), password) {
        errors.insert("password", problem.key());
    } else if password != fields.get("password2") {
        errors.insert("password2", "password_mismatch");
    }
    if fields.get("rules") != "accepted" {
        errors.insert("rules", "rules_not_accepted");
    } else if fields.get("rules_version") != rules.version.to_string() {
        errors.insert("rules", "rules_changed");
    }
    let minor = fields.get("minor") == "yes";
    let (Some(nickname), Some(login), true) = (nickname, login, errors.is_empty()) else {
        return Ok(register_again(&counter, &visitor, &rules, &fields, errors, StatusCode::UNPROCESSABLE_ENTITY));
    };

    // Counted only for registrations that would otherwise go through, and
    // before the password is hashed (the expensive part).
    if counter.store.take_rate("register", &visitor.network, REGISTRATIONS_PER_NETWORK).await?.is_some() {
        errors.insert("form", "too_many_registrations");
        return Ok(register_again(&counter, &visitor, &rules, &fields, errors, StatusCode::TOO_MANY_REQUESTS));
    }
    let password = zeroize::Zeroizing::new(password.to_owned());
    let hash = tokio::task::spawn_blocking(move || identity::hash_password(&password))
        .await
        .map_err(|_| PageError::Internal)?
        .map_err(|_| PageError::Internal)?;
    let new = NewParticipant {
        login_hmac: login_hmac(&counter, &visitor.tenant.id, &login),
        password_hash: hash,
        nickname,
        minor,
        rules_version: rules.version,
        rules_sha256: rules.sha256.clone(),
    };
    let Some(participant) = counter.store.register_participant(&visitor.tenant.id, &new).await? else {
        errors.insert("login", "login_id_taken");
        return Ok(register_again(&counter, &visitor, &rules, &fields, errors, StatusCode::UNPROCESSABLE_ENTITY));
    };
    let mut response = see_other(&format!("/t/{}/rooms{}", visitor.tenant.id, visitor.q()));
    for cookie in session_cookies(&counter, &participant) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The registration form again, with what was typed (never the passwords)
/// and each message beside its field.
fn register_again(
    counter: &Counter,
    visitor: &Visitor,
    rules: &RulesOfUse,
    fields: &Fields,
    errors: BTreeMap<&str, &str>,
    status: StatusCode,
) -> Response {
    let values = BTreeMap::from([
        ("nickname", fields.get("nickname")),
        ("login", fields.get("login")),
        ("minor", fields.get("minor")),
        ("rules", if errors.contains_key("rules") { "" } else { fields.get("rules") }),
    ]);
    let messages: BTreeMap<&str, &str> = errors.iter().map(|(field, key)| (*field, text(visitor.lang, key))).collect();
    visitor.page(
        counter,
        status,
        "rooms/register.html",
        context! { rules => rules_context(rules, visitor.lang), values => values, errors => messages },
    )
}

pub(crate) async fn login_page(State(counter): Shared, visitor: Visitor) -> Result<Response, PageError> {
    Ok(visitor.page(&counter, StatusCode::OK, "rooms/login.html", context! { login => "" }))
}

pub(crate) async fn login(State(counter): Shared, Posted { visitor, fields }: Posted) -> Result<Response, PageError> {
    let typed = fields.get("login");
    let refuse = |message: String, status: StatusCode| {
        visitor.page(&counter, status, "rooms/login.html", context! { login => typed, error => message })
    };
    let lang = visitor.lang;
    let login = login_id(typed).unwrap_or_default();
    let found = if login.is_empty() {
        None
    } else {
        let key = login_hmac(&counter, &visitor.tenant.id, &login);
        counter.store.participant_for_sign_in(&visitor.tenant.id, &key).await?
    };
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    // The growing delays and the lock of the identity crate, per account,
    // whatever the address: a wait is refused without checking anything.
    if let Some((participant, _)) = &found {
        match participant.throttle.admits(now_ms) {
            Ok(()) => {}
            Err(None) => return Ok(refuse(text(lang, "login_locked").to_owned(), StatusCode::TOO_MANY_REQUESTS)),
            Err(Some(wait_ms)) => {
                let message = format!("{}{}", text(lang, "login_wait"), (wait_ms + 999) / 1000);
                return Ok(refuse(message, StatusCode::TOO_MANY_REQUESTS));
            }
        }
    }
    let stored = found.as_ref().map(|(_, hash)| hash.clone());
    let password = zeroize::Zeroizing::new(fields.get("password").to_owned());
    // Without an account the same work is done, so the time taken does
    // not tell which login ids exist.
    let good = tokio::task::spawn_blocking(move || identity::verify_password(stored.as_deref(), &password))
        .await
        .map_err(|_| PageError::Internal)?;
    let Some((participant, _)) = found else {
        return Ok(refuse(text(lang, "login_failed").to_owned(), StatusCode::UNAUTHORIZED));
    };
    if !good {
        let unit_ms = counter.settings.sign_in_delay_unit.as_millis() as i64;
        let throttle = participant.throttle.failed(now_ms, unit_ms);
        counter.store.set_participant_throttle(&visitor.tenant.id, &participant.id, throttle).await?;
        let key = if throttle.locked { "login_locked" } else { "login_failed" };
        let status = if throttle.locked { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::UNAUTHORIZED };
        return Ok(refuse(text(lang, key).to_owned(), status));
    }
    if participant.throttle.failures > 0 {
        counter.store.set_participant_throttle(&visitor.tenant.id, &participant.id, Default::default()).await?;
    }
    let mut response = see_other(&format!("/t/{}/rooms{}", visitor.tenant.id, visitor.q()));
    for cookie in session_cookies(&counter, &participant) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

pub(crate) async fn logout(State(counter): Shared, Posted { visitor, .. }: Posted) -> Result<Response, PageError> {
    if let Some(participant) = &visitor.participant {
        counter.store.end_participant_sessions(&visitor.tenant.id, &participant.id).await?;
    }
    let mut response = see_other(&format!("/t/{}/rooms{}", visitor.tenant.id, visitor.q()));
    if let Some(cookie) = super::clear_session_cookie(&counter, &visitor.tenant.id) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nickname_is_short_printable_and_never_an_email_address() {
        assert_eq!(nickname("  みどりの風 "), Ok("みどりの風".to_owned()));
        assert_eq!(nickname("ＡＢＣ"), Ok("ABC".to_owned()), "NFKC");
        assert_eq!(nickname(&"あ".repeat(20)).map(|n| n.chars().count()), Ok(20));
        assert_eq!(nickname(&"あ".repeat(21)), Err("nickname_too_long"));
        assert_eq!(nickname("   "), Err("nickname_missing"));
        assert_eq!(nickname("taro@example.jp"), Err("nickname_email"));
        assert_eq!(nickname("taro＠example.jp"), Err("nickname_email"), "a full-width @ is an @");
        assert_eq!(nickname("a\u{0007}b"), Err("nickname_control"));
        assert_eq!(nickname("ab\u{202e}cd"), Err("nickname_control"));
        assert_eq!(nickname("参加者（非公開）"), Err("nickname_reserved"));
    }

    #[test]
    fn a_login_id_follows_the_staff_rules_and_is_never_an_email_address() {
        assert_eq!(login_id("Midori.Kaze"), Ok("midori.kaze".to_owned()));
        assert_eq!(login_id("ｍｉｄｏｒｉ"), Ok("midori".to_owned()));
        assert_eq!(login_id("taro@example.jp"), Err("login_id_email"));
        assert_eq!(login_id("ab"), Err("login_id_invalid"));
        assert_eq!(login_id("9lives"), Err("login_id_invalid"));
    }

    #[test]
    fn the_default_rules_of_use_say_the_same_in_both_languages() {
        let count = |text: &str| text.lines().filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit())).count();
        assert_eq!(count(DEFAULT_RULES_JA), count(DEFAULT_RULES_EN));
        assert!(DEFAULT_RULES_JA.contains("18歳未満") && DEFAULT_RULES_EN.contains("under 18"));
    }
}
