//! The form builder in the admin console: a form admin builds a form field
//! by field, sees the check's problems at their inputs, previews, publishes
//! new versions, round-trips TOML, adopts the prefecture's templates; other
//! tenants' staff and forged posts are refused. Last, the same in a real
//! browser, up to a resident's 到達番号.

use reqwest::StatusCode;
use testkit::{Engine, TestCounter};

use crate::admin::{create_account, sign_in_staff, signed_in_operator, start_counter, Browser, Page};
use crate::{apply, hidden_input};

const BUILDER: &str = "/admin/t/aoba-city/forms/builder";

/// A form admin of `tenant`, signed in (the operator makes the account).
async fn form_admin(counter: &TestCounter, tenants: &[(&str, &str)]) -> Vec<Browser> {
    let (mut operator, _) = signed_in_operator(counter).await;
    let mut out = Vec::new();
    for (tenant, login) in tenants {
        let code = create_account(&mut operator, tenant, login, "form-admin").await;
        out.push(sign_in_staff(counter, &code, login).await.0);
    }
    out
}

/// The builder's inputs for a form: `fields` are each a field's inputs
/// without the `f{i}.` prefix (`was` defaults to the type, as a page sends
/// it when the type was not changed).
fn sheet(id: &str, title: &str, fields: &[&[(&str, &str)]]) -> Vec<(String, String)> {
    let mut out = vec![
        ("id".to_owned(), id.to_owned()),
        ("title_ja".to_owned(), title.to_owned()),
        ("title_en".to_owned(), format!("{title} (en)")),
        ("count".to_owned(), fields.len().to_string()),
    ];
    for (i, field) in fields.iter().enumerate() {
        for (k, v) in field.iter() {
            out.push((format!("f{i}.{k}"), (*v).to_owned()));
        }
        if !field.iter().any(|(k, _)| *k == "was") {
            let ty = field.iter().find(|(k, _)| *k == "type").map(|(_, v)| *v).unwrap_or("text");
            out.push((format!("f{i}.was"), ty.to_owned()));
        }
    }
    out
}

/// Presses the builder button `op` with these inputs.
async fn press(browser: &mut Browser, op: &str, inputs: &[(String, String)]) -> Page {
    let csrf = browser.csrf("/admin/t/aoba-city/forms").await;
    let mut all: Vec<(&str, &str)> = vec![("_csrf", &csrf), ("_op", op)];
    all.extend(inputs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    browser.post(BUILDER, &all).await
}

/// The value of the input (text or hidden) `name` on a page.
fn input_value(html: &str, name: &str) -> Option<String> {
    hidden_input(html, name)
}

const OWNER: &[(&str, &str)] =
    &[("name", "owner"), ("type", "name"), ("label_ja", "飼い主の氏名"), ("required", "on"), ("furigana", "on")];
const SIZE: &[(&str, &str)] = &[
    ("name", "size"),
    ("type", "choice"),
    ("label_ja", "犬の大きさ"),
    ("required", "on"),
    ("options", "small|小型|Small\nlarge|大型|Large"),
];
const WEIGHT: &[(&str, &str)] = &[
    ("name", "weight"),
    ("type", "number"),
    ("label_ja", "体重（kg）"),
    ("min", "0.5"),
    ("max", "90"),
    ("show_field", "size"),
    ("show_equals", "large"),
];
const AGREE: &[(&str, &str)] = &[
    ("name", "agree"),
    ("type", "consent"),
    ("label_ja", "同意"),
    ("required", "on"),
    ("statement_ja", "登録内容は狂犬病予防法に基づき利用されます。"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_builder_builds_a_form_field_by_field_shows_problems_and_publishes_versions() {
    let counter = start_counter(Engine::Sqlite).await;
    let mut admin = form_admin(&counter, &[("aoba-city", "aoba.forms")]).await.remove(0);

    // The list links to the editor, a new form and import.
    let list = admin.get("/admin/t/aoba-city/forms").await;
    assert_eq!(list.status, 200, "{}", list.body);
    for link in [
        "/admin/t/aoba-city/forms/new",
        "/admin/t/aoba-city/forms/import",
        "/admin/t/aoba-city/forms/water-start/edit",
        "/admin/t/aoba-city/forms/water-start/export.toml",
    ] {
        assert!(list.body.contains(link), "no {link} on {}", list.body);
    }

    // A new form starts with one field; "add" adds the next.
    let new = admin.get("/admin/t/aoba-city/forms/new").await;
    assert_eq!(new.status, 200, "{}", new.body);
    assert_eq!(input_value(&new.body, "f0.name").as_deref(), Some("field1"));
    let one = sheet("dog-licence", "犬の登録", &[OWNER]);
    let added = press(&mut admin, "add", &one).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(input_value(&added.body, "f0.name").as_deref(), Some("owner"));
    assert_eq!(input_value(&added.body, "f1.name").as_deref(), Some("field2"));
    assert_eq!(input_value(&added.body, "count").as_deref(), Some("2"));

    // Problems are shown at their inputs, in Japanese, with the TOML line.
    let bad_name: &[(&str, &str)] = &[("name", "Size"), ("type", "text"), ("label_ja", "大きさ")];
    let duplicate: &[(&str, &str)] = &[("name", "owner"), ("type", "phone"), ("label_ja", "電話")];
    let no_options: &[(&str, &str)] = &[("name", "colour"), ("type", "choice"), ("label_ja", "毛色")];
    let broken = sheet("dog-licence", "犬の登録", &[OWNER, bad_name, duplicate, no_options]);
    let refused = press(&mut admin, "save", &broken).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let body = &refused.body;
    for (input, words) in [
        ("b-f1-name", "項目名は英小文字で始め"),
        ("b-f2-name", "この項目名は既に使われています"),
        ("b-f3-options", "選択肢を1つ以上入力してください"),
    ] {
        assert!(body.contains(&format!("<a href=\"#{input}\">{words}")), "{input}: {words} in {body}");
        assert!(body.contains(&format!("id=\"err-{input}\"")), "inline error for {input}");
        assert!(body.contains(&format!("aria-describedby=\"err-{input}")), "{input} described by its error");
    }
    assert!(body.contains("行目"), "the TOML line is named");
    assert!(counter.store().await.current_form("aoba-city", "dog-licence").await.unwrap().is_none());

    // Moving and removing carry the whole form in the post.
    let moved = press(&mut admin, "down-0", &sheet("dog-licence", "犬の登録", &[OWNER, SIZE])).await;
    assert_eq!(input_value(&moved.body, "f0.name").as_deref(), Some("size"));
    let removed = press(&mut admin, "remove-0", &sheet("dog-licence", "犬の登録", &[SIZE, OWNER])).await;
    assert_eq!(input_value(&removed.body, "count").as_deref(), Some("1"));
    assert_eq!(input_value(&removed.body, "f0.name").as_deref(), Some("owner"));

    // Changing a field's type shows that type's settings, with defaults.
    let retyped: &[(&str, &str)] = &[("name", "mail"), ("type", "email"), ("was", "text"), ("label_ja", "メール")];
    let page = press(&mut admin, "check", &sheet("dog-licence", "犬の登録", &[OWNER, retyped])).await;
    assert!(page.body.contains("name=\"f1.confirm\" value=\"on\" checked"), "{}", page.body);

    // The preview is the resident's form, with nothing to send.
    let good = sheet("dog-licence", "犬の登録", &[OWNER, SIZE, WEIGHT, AGREE]);
    let preview = press(&mut admin, "preview", &good).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(preview.body.contains("<h1>犬の登録</h1>") && preview.body.contains("小型"), "{}", preview.body);
    assert!(!preview.body.contains("/t/aoba-city/f/dog-licence/confirm"), "the preview posts nowhere");
    assert!(preview.body.contains("disabled aria-describedby=\"preview-note\""));
    assert!(preview.body.contains("id=\"preview-tools\""));
    assert!(counter.store().await.current_form("aoba-city", "dog-licence").await.unwrap().is_none());

    // Saving publishes version 1; residents get it at once.
    let saved = press(&mut admin, "save", &good).await;
    assert_eq!(
        (saved.status, saved.location.as_str()),
        (StatusCode::SEE_OTHER, "/admin/t/aoba-city/forms?published=dog-licence&version=1"),
        "{}",
        saved.body
    );
    let store = counter.store().await;
    let v1 = store.current_form("aoba-city", "dog-licence").await.unwrap().unwrap();
    assert_eq!((v1.version, v1.template), (1, None));
    let def = forms::FormDefinition::parse(&v1.definition).unwrap();
    assert_eq!(def.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["owner", "size", "weight", "agree"]);
    let resident = reqwest::get(format!("{}/t/aoba-city/f/dog-licence", counter.url)).await.unwrap();
    assert!(resident.text().await.unwrap().contains("犬の大きさ"));

    // Editing it again and saving makes version 2 (N + 1), in the ledger.
    let edit = admin.get("/admin/t/aoba-city/forms/dog-licence/edit").await;
    assert_eq!(input_value(&edit.body, "base").as_deref(), Some("1"));
    assert_eq!(input_value(&edit.body, "f1.name").as_deref(), Some("size"));
    let mut changed = sheet("dog-licence", "犬の登録（改）", &[OWNER, SIZE, WEIGHT, AGREE]);
    changed.extend([("editing".to_owned(), "dog-licence".to_owned()), ("base".to_owned(), "1".to_owned())]);
    let saved = press(&mut admin, "save", &changed).await;
    assert_eq!(saved.location, "/admin/t/aoba-city/forms?published=dog-licence&version=2", "{}", saved.body);
    // The same again makes no version; a stale base or a taken id is refused.
    let again = press(&mut admin, "save", &changed).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("ほかの人がこの様式の新しい版を公開しました"));
    let mut current = changed.clone();
    current.retain(|(k, _)| k != "base");
    current.push(("base".into(), "2".into()));
    let same = press(&mut admin, "save", &current).await;
    assert_eq!(same.status, 200);
    assert!(same.body.contains("新しい版は作られませんでした"), "{}", same.body);
    let taken = press(&mut admin, "save", &sheet("water-start", "上書き", &[OWNER])).await;
    assert_eq!(taken.status, 409);
    assert!(taken.body.contains("この様式IDは別の様式で使われています"));
    let entries = store.ledger_entries(0, 10_000).await.unwrap();
    let published: Vec<&str> = entries
        .iter()
        .filter(|e| e.event.subject.as_deref() == Some("form:dog-licence"))
        .map(|e| e.event.detail.as_str())
        .collect();
    assert_eq!(
        published,
        ["form published as version 1 (console form builder)", "form published as version 2 (console form builder)"]
    );
    assert!(entries.iter().any(|e| e.event.subject.as_deref() == Some("form:dog-licence")
        && e.event.actor == "staff:aoba.forms"
        && e.event.tenant.as_deref() == Some("aoba-city")));

    // A resident applies on version 2.
    let sent = apply(
        &counter,
        "aoba-city",
        "dog-licence",
        &[
            ("owner".into(), "山田 太郎".into()),
            ("owner.kana".into(), "やまだ たろう".into()),
            ("size".into(), "large".into()),
            ("weight".into(), "12.5".into()),
            ("agree".into(), "yes".into()),
        ],
    )
    .await;
    assert!(!sent.receipt_number.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_builder_exports_toml_that_reads_back_and_imports_with_line_numbers() {
    let counter = start_counter(Engine::Sqlite).await;
    let mut admin = form_admin(&counter, &[("aoba-city", "aoba.forms")]).await.remove(0);
    let exported = admin.get("/admin/t/aoba-city/forms/water-start/export.toml").await;
    assert_eq!(exported.status, 200);
    assert!(exported.set_cookie.is_empty());
    let current = counter.store().await.current_form("aoba-city", "water-start").await.unwrap().unwrap();
    let published = forms::FormDefinition::parse(&current.definition).unwrap();
    assert_eq!(forms::FormDefinition::parse(&exported.body).unwrap(), published, "{}", exported.body);

    // What `madoguchi form check` says of the same file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("water-start.toml");
    std::fs::write(&file, &exported.body).unwrap();
    let out = std::process::Command::new(crate::madoguchi()).args(["form", "check"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Every published form opens in the editor and, saved untouched,
    // comes back equal: no new version.
    for form in counter.store().await.tenant_forms("aoba-city").await.unwrap() {
        let edit = admin.get(&format!("/admin/t/aoba-city/forms/{}/edit", form.form_id)).await;
        assert_eq!(edit.status, 200, "{}", edit.body);
        let same = press(&mut admin, "save", &page_inputs(&edit.body)).await;
        assert_eq!(same.status, 200, "{}: {}", form.form_id, same.body);
        assert!(same.body.contains("新しい版は作られませんでした"), "{}: {}", form.form_id, same.body);
    }

    // Broken TOML: every problem with its line, nothing loaded.
    let broken = "id = \"dog\"\ntitle = { ja = \"犬\" }\n\n[[fields]]\nname = \"Bad Name\"\ntype = \"text\"\nlabel = { ja = \"x\" }\n\n[[fields]]\nname = \"kind\"\ntype = \"choice\"\nlabel = { ja = \"種類\" }\n";
    let page =
        admin.submit("/admin/t/aoba-city/forms/import", "/admin/t/aoba-city/forms/import", &[("toml", broken)]).await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("5行目"), "{}", page.body);
    assert!(page.body.contains("href=\"#line-5\""));
    assert!(page.body.contains("必要な設定がありません") && page.body.contains("missing key"), "{}", page.body);
    let syntax = admin
        .submit(
            "/admin/t/aoba-city/forms/import",
            "/admin/t/aoba-city/forms/import",
            &[("toml", "id = \"x\"\ntitle = {")],
        )
        .await;
    assert_eq!(syntax.status, 422);
    assert!(syntax.body.contains("2行目") && syntax.body.contains("TOMLの書き方に誤りがあります"), "{}", syntax.body);

    // Good TOML opens in the editor (as the next version of its form);
    // nothing is saved until the admin saves.
    let mut changed = exported.body.replace("水道使用開始届", "水道の使用開始届");
    changed.push('\n');
    let loaded =
        admin.submit("/admin/t/aoba-city/forms/import", "/admin/t/aoba-city/forms/import", &[("toml", &changed)]).await;
    assert_eq!(loaded.status, 200, "{}", loaded.body);
    assert_eq!(input_value(&loaded.body, "title_ja").as_deref(), Some("水道の使用開始届"));
    assert_eq!(input_value(&loaded.body, "editing").as_deref(), Some("water-start"));
    assert_eq!(input_value(&loaded.body, "base").as_deref(), Some(current.version.to_string().as_str()));
    let still = counter.store().await.current_form("aoba-city", "water-start").await.unwrap().unwrap();
    assert_eq!(still.version, current.version);

    // Saving what the editor shows (every input as the page has it).
    let inputs = page_inputs(&loaded.body);
    let saved = press(&mut admin, "save", &inputs).await;
    let next = current.version + 1;
    assert_eq!(
        saved.location,
        format!("/admin/t/aoba-city/forms?published=water-start&version={next}"),
        "{}",
        saved.body
    );
    let now = counter.store().await.current_form("aoba-city", "water-start").await.unwrap().unwrap();
    let def = forms::FormDefinition::parse(&now.definition).unwrap();
    assert_eq!(def.title.ja, "水道の使用開始届");
    assert_eq!(def.fields, published.fields, "the fields survive the round trip through the editor");
}

/// Every input of the builder's form as the page fills it in: text inputs
/// and hidden ones by value, textareas by content, checked boxes, and
/// selected options.
fn page_inputs(html: &str) -> Vec<(String, String)> {
    let start = html.find("id=\"builder\"").expect("the builder form");
    let end = html[start..].find("</form>").map(|e| e + start).unwrap_or(html.len());
    let form = &html[start..end];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let marker = format!("{name}=\"");
        let at = tag.find(&marker)? + marker.len();
        Some(unescape(&tag[at..at + tag[at..].find('"')?]))
    };
    let mut out = Vec::new();
    let mut rest = form;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        let close = rest.find('>').unwrap_or(rest.len() - 1);
        let tag = &rest[..=close];
        if tag.starts_with("<input") {
            let name = attr(tag, "name");
            let value = attr(tag, "value").unwrap_or_default();
            let checkbox = tag.contains("type=\"checkbox\"");
            if let Some(name) = name.filter(|n| n != "_csrf") {
                if !checkbox || tag.contains(" checked") {
                    out.push((name, value));
                }
            }
        } else if tag.starts_with("<textarea") {
            let body_end = rest.find("</textarea>").unwrap_or(close);
            if let Some(name) = attr(tag, "name") {
                out.push((name, unescape(&rest[close + 1..body_end])));
            }
        } else if tag.starts_with("<select") {
            let body_end = rest.find("</select>").unwrap_or(close);
            let options = &rest[close + 1..body_end];
            let selected = options
                .split("<option")
                .find(|o| o.contains(" selected"))
                .and_then(|o| attr(o, "value"))
                .unwrap_or_default();
            if let Some(name) = attr(tag, "name") {
                out.push((name, selected));
            }
        }
        rest = &rest[close + 1..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

const DOG_TEMPLATE: &str = "id = \"dog-licence\"\ntitle = { ja = \"犬の登録申請\", en = \"Dog registration\" }\n\n[[fields]]\nname = \"owner\"\ntype = \"name\"\nlabel = { ja = \"飼い主の氏名\" }\nrequired = true\n\n[[fields]]\nname = \"dog_name\"\ntype = \"text\"\nlabel = { ja = \"犬の名前\" }\nrequired = true\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_builder_adopts_a_prefecture_template_then_saves_the_towns_own_version() {
    let counter = start_counter(Engine::Sqlite).await;
    let mut admin = form_admin(&counter, &[("aoba-city", "aoba.forms")]).await.remove(0);
    let store = counter.store().await;
    store.publish_template("midori-pref", "dog-licence", DOG_TEMPLATE).await.unwrap();

    let list = admin.get("/admin/t/aoba-city/forms").await;
    assert!(list.body.contains("犬の登録申請") && list.body.contains("id=\"adopt-dog-licence\""), "{}", list.body);
    assert!(!list.body.contains("id=\"adopt-water-start\""), "adopted templates have no button");
    let adopted = admin
        .submit("/admin/t/aoba-city/forms", "/admin/t/aoba-city/forms/adopt", &[("template", "dog-licence")])
        .await;
    assert_eq!(adopted.location, "/admin/t/aoba-city/forms?adopted=dog-licence&version=1", "{}", adopted.body);
    let copy = store.current_form("aoba-city", "dog-licence").await.unwrap().unwrap();
    assert_eq!((copy.version, copy.template), (1, Some(("midori-pref".to_owned(), 1))));
    let unknown =
        admin.submit("/admin/t/aoba-city/forms", "/admin/t/aoba-city/forms/adopt", &[("template", "nothing")]).await;
    assert_eq!(unknown.status, 404);

    // The town adjusts it in the editor and saves its own version.
    let edit = admin.get("/admin/t/aoba-city/forms/dog-licence/edit").await;
    let mut inputs = page_inputs(&edit.body);
    for (k, v) in inputs.iter_mut() {
        if k == "f1.label_ja" {
            *v = "犬の名前（呼び名）".into();
        }
    }
    let saved = press(&mut admin, "save", &inputs).await;
    assert_eq!(saved.location, "/admin/t/aoba-city/forms?published=dog-licence&version=2", "{}", saved.body);
    let own = store.current_form("aoba-city", "dog-licence").await.unwrap().unwrap();
    assert_eq!((own.version, own.template), (2, None));
    let page = reqwest::get(format!("{}/t/aoba-city/f/dog-licence", counter.url)).await.unwrap().text().await.unwrap();
    assert!(page.contains("犬の名前（呼び名）"));
    let entries = store.ledger_entries(0, 10_000).await.unwrap();
    assert!(entries
        .iter()
        .any(|e| e.event.detail.starts_with("template midori-pref/dog-licence v1 adopted as version 1")));
    let list = admin.get("/admin/t/aoba-city/forms").await;
    assert!(list.body.contains("独自の版を公開中"), "{}", list.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_builder_refuses_other_tenants_staff_and_posts_without_csrf() {
    let counter = start_counter(Engine::Sqlite).await;
    let mut admins = form_admin(&counter, &[("aoba-city", "aoba.forms"), ("sakura-town", "sakura.forms")]).await;
    let mut sakura = admins.remove(1);
    let mut aoba = admins.remove(0);
    for path in [
        "/admin/t/aoba-city/forms",
        "/admin/t/aoba-city/forms/new",
        "/admin/t/aoba-city/forms/import",
        "/admin/t/aoba-city/forms/water-start/edit",
        "/admin/t/aoba-city/forms/water-start/export.toml",
    ] {
        let page = sakura.get(path).await;
        assert_eq!((page.status, page.denied), (StatusCode::FORBIDDEN, true), "{path}");
    }
    let csrf = sakura.csrf("/admin/t/sakura-town/forms").await;
    let good = sheet("dog-licence", "犬の登録", &[OWNER]);
    let mut fields: Vec<(&str, &str)> = vec![("_csrf", &csrf), ("_op", "save")];
    fields.extend(good.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for path in [BUILDER, "/admin/t/aoba-city/forms/adopt", "/admin/t/aoba-city/forms/import"] {
        let page = sakura.post(path, &fields).await;
        assert_eq!((page.status, page.denied), (StatusCode::FORBIDDEN, true), "{path}");
    }
    // Its own tenant's builder works for it, and writes only there.
    let own = sakura.post("/admin/t/sakura-town/forms/builder", &fields).await;
    assert_eq!(own.location, "/admin/t/sakura-town/forms?published=dog-licence&version=1", "{}", own.body);
    let store = counter.store().await;
    assert!(store.current_form("aoba-city", "dog-licence").await.unwrap().is_none());

    // Without the CSRF token (or with a wrong one) nothing is published.
    let mut forged: Vec<(&str, &str)> = vec![("_op", "save")];
    forged.extend(good.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let page = aoba.post(BUILDER, &forged).await;
    assert_eq!((page.status, page.denied), (StatusCode::FORBIDDEN, true));
    let mut wrong = vec![("_csrf", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")];
    wrong.extend_from_slice(&forged);
    assert_eq!(aoba.post(BUILDER, &wrong).await.status, StatusCode::FORBIDDEN);
    let adopt = aoba.post("/admin/t/aoba-city/forms/adopt", &[("template", "water-start")]).await;
    assert_eq!(adopt.status, StatusCode::FORBIDDEN);
    assert!(store.current_form("aoba-city", "dog-licence").await.unwrap().is_none());
    // Nor does anyone signed out.
    let mut anonymous = Browser::new(&counter);
    assert!(anonymous.get("/admin/t/aoba-city/forms/new").await.denied);
}

/// Ticks the checkbox `#id` unless it is ticked already.
async fn tick(client: &fantoccini::Client, id: &str) {
    let checkbox = client.find(fantoccini::Locator::Id(id)).await.unwrap_or_else(|e| panic!("#{id}: {e}"));
    if !checkbox.is_selected().await.unwrap() {
        checkbox.click().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_builds_a_form_in_the_builder_and_a_resident_submits_it() {
    use crate::browser::{
        assert_meets_wcag_aa, browser, choose, click, click_and_leave_page, enrol_in_console, fill, sign_in_to_console,
        text, wait_for, wait_for_heading, Browser as RealBrowser,
    };
    use fantoccini::Locator;

    let counter = start_counter(Engine::Sqlite).await;
    let (mut operator, _) = signed_in_operator(&counter).await;
    let code = create_account(&mut operator, "aoba-city", "aoba.forms", "form-admin").await;
    let RealBrowser { client, _driver } = browser().await;
    let base = counter.url.clone();
    let password = "midori-ken-2026-aoba!";
    let (_, _, codes) = enrol_in_console(&client, &base, "aoba.forms", &code, password).await;
    sign_in_to_console(&client, &base, "aoba.forms", password, &codes[0]).await;

    // The forms page, then a new form.
    client.goto(&format!("{base}/admin/t/aoba-city/forms")).await.unwrap();
    wait_for_heading(&client, "公開中の様式：青葉市").await;
    assert_meets_wcag_aa(&client, "admin: forms").await;
    click_and_leave_page(&client, "#new-form").await;
    wait_for_heading(&client, "様式の編集").await;
    fill(&client, "b-id", "dog-licence").await;
    fill(&client, "b-title_ja", "犬の登録").await;
    fill(&client, "b-title_en", "Dog registration").await;

    // Field 1: the owner's name (the type's settings appear after a check).
    fill(&client, "b-f0-name", "owner").await;
    choose(&client, "b-f0-type", "name").await;
    fill(&client, "b-f0-label_ja", "飼い主の氏名").await;
    tick(&client, "b-f0-required").await;
    click_and_leave_page(&client, "#b-add").await;
    wait_for(&client, Locator::Id("b-f1-name")).await;
    assert!(client.find(Locator::Id("b-f0-furigana")).await.unwrap().is_selected().await.unwrap());

    // Field 2: a choice with two options.
    fill(&client, "b-f1-name", "size").await;
    choose(&client, "b-f1-type", "choice").await;
    fill(&client, "b-f1-label_ja", "犬の大きさ").await;
    tick(&client, "b-f1-required").await;
    click_and_leave_page(&client, "#b-check").await;
    wait_for(&client, Locator::Id("b-f1-options")).await;
    // A choice without options is a problem, linked to its input.
    assert!(text(&client, "#problems").await.contains("選択肢を1つ以上入力してください"));
    assert_meets_wcag_aa(&client, "admin: form builder with problems").await;
    fill(&client, "b-f1-options", "small|小型|Small\nlarge|大型|Large").await;

    // Field 3: consent.
    click_and_leave_page(&client, "#b-add").await;
    wait_for(&client, Locator::Id("b-f2-name")).await;
    fill(&client, "b-f2-name", "agree").await;
    choose(&client, "b-f2-type", "consent").await;
    fill(&client, "b-f2-label_ja", "同意事項").await;
    tick(&client, "b-f2-required").await;
    click_and_leave_page(&client, "#b-check").await;
    wait_for(&client, Locator::Id("b-f2-statement_ja")).await;
    fill(&client, "b-f2-statement_ja", "登録内容は狂犬病予防法に基づき利用されます。").await;
    click_and_leave_page(&client, "#b-check").await;
    wait_for(&client, Locator::Id("b-f2-statement_ja")).await;
    assert!(client.find(Locator::Id("problems")).await.is_err(), "{}", client.source().await.unwrap());
    assert_meets_wcag_aa(&client, "admin: form builder").await;

    // The preview: the resident's page, which cannot be sent.
    click_and_leave_page(&client, "#b-preview").await;
    wait_for_heading(&client, "犬の登録").await;
    assert_eq!(text(&client, "label[for='f-size-2']").await, "大型");
    let send = client.find(Locator::Css("form:not(#preview-tools) button.primary")).await.unwrap();
    assert!(!send.is_enabled().await.unwrap(), "the preview's 確認 button is disabled");
    assert_meets_wcag_aa(&client, "admin: form preview").await;

    // Saved from the preview: version 1 is published.
    click_and_leave_page(&client, "#preview-tools button.primary").await;
    wait_for_heading(&client, "公開中の様式：青葉市").await;
    assert!(text(&client, "#forms-notice").await.contains("dog-licence"));
    let published = counter.store().await.current_form("aoba-city", "dog-licence").await.unwrap().unwrap();
    assert_eq!(published.version, 1);

    // A resident applies on it.
    client.goto(&format!("{base}/t/aoba-city/f/dog-licence")).await.unwrap();
    wait_for_heading(&client, "犬の登録").await;
    fill(&client, "f-owner", "山田 花子").await;
    fill(&client, "f-owner-kana", "やまだ はなこ").await;
    click(&client, "input[name='size'][value='large']").await;
    click(&client, "#f-agree").await;
    click_and_leave_page(&client, "button.primary").await;
    wait_for_heading(&client, "入力内容の確認").await;
    assert!(client.source().await.unwrap().contains("ヤマダ ハナコ"));
    click_and_leave_page(&client, "button.primary").await;
    wait_for_heading(&client, "受付が完了しました").await;
    let receipt = text(&client, "#receipt-number").await;
    let year = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).year();
    assert_eq!(receipt, format!("{year}-000001"));
    client.close().await.unwrap();
}
