//! The one integration-test binary (every extra test binary is another link
//! step). Each module is a specification of one part of madoguchi's
//! behaviour, run against a real `madoguchi serve` started by `testkit`.
//! Add modules here; do not add files directly under `tests/`.

mod admin;
mod attachments;
mod backup;
mod booking;
mod browser;
mod crisis;
mod desk;
mod desk_store;
mod durability;
mod form_builder;
mod form_cli;
mod integrity;
mod isolation;
mod ledger;
mod observability;
mod postal;
mod privacy;
mod resident;
mod rooms;
mod sealing;
mod shield;
mod store_contract;
mod survey;
mod verified_survey;
mod watch;

use std::path::Path;

use testkit::{Engine, TestCounter};

/// The binary under test.
pub fn madoguchi() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_madoguchi"))
}

/// Runs an operator's command (`madoguchi ARGS…`) on `counter`'s data and
/// database, asserts it succeeded, and returns what it printed.
pub fn operator_command(counter: &TestCounter, args: &[&std::ffi::OsStr]) -> String {
    let output = operator_output(counter, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Runs `madoguchi ARGS` on the counter's installation, whatever its exit.
pub fn operator_output(counter: &TestCounter, args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(madoguchi())
        .args(args)
        .arg("--data-dir")
        .arg(counter.data_dir())
        .args(["--database", &counter.database.url])
        .env_remove("MADOGUCHI_CONFIG")
        .output()
        .expect("run madoguchi")
}

/// A bare store with a prefecture ("pref") and two cities in it
/// ("city-a", "city-b"); city-a has a key to seal to.
pub struct TwoCities {
    pub store: store::Store,
    pub keys: seal::TenantKeyPair,
    pub db: testkit::TestDatabase,
    pub vault: tempfile::TempDir,
}

pub async fn two_cities(engine: Engine) -> TwoCities {
    let db = testkit::TestDatabase::new(engine).await;
    let vault = tempfile::tempdir().unwrap();
    let store = db.store(vault.path()).await;
    store
        .put_tenant_group(&store::NewTenantGroup {
            id: "pref".into(),
            name_ja: "県".into(),
            name_en: "Prefecture".into(),
        })
        .await
        .unwrap();
    for id in ["city-a", "city-b"] {
        store
            .put_tenant(&store::NewTenant {
                id: id.into(),
                group_id: Some("pref".into()),
                name_ja: "市".into(),
                name_en: "City".into(),
                contact_ja: "電話".into(),
                contact_en: "Phone".into(),
            })
            .await
            .unwrap();
    }
    let keys = seal::TenantKeyPair::generate();
    store.add_tenant_key("city-a", &keys.public).await.unwrap();
    TwoCities { store, keys, db, vault }
}

pub async fn start(engine: Engine) -> TestCounter {
    TestCounter::start(madoguchi(), engine).await
}

/// Runs an async test body once on SQLite and once on PostgreSQL, as two
/// named tests.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(testkit::Engine::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(testkit::Engine::Postgres).await
                }
            }
        )*
    };
}

/// Today in Japan in 和暦, as a resident would type it: "令和8年11月25日".
pub fn today_wareki() -> String {
    let today = (time::OffsetDateTime::now_utc() + time::Duration::hours(9)).date();
    format!("令和{}年{}月{}日", today.year() - 2018, u8::from(today.month()), today.day())
}

/// A complete, valid 水道使用開始届, with the given changes.
pub fn water_start_answers(changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let date = today_wareki();
    let mut answers: Vec<(String, String)> = [
        ("applicant", "山田 太郎"),
        ("applicant.kana", "やまだ たろう"),
        ("phone", "０９０-１２３４-５６７８"),
        ("email", "taro@example.jp"),
        ("email.confirm", "taro@example.jp"),
        ("property.postal", "〒100-0001"),
        ("property.region", "みどり県青葉市"),
        ("property.line", "中央1-2-3 グリーンハイツ101"),
        ("dwelling", "apartment"),
        ("start_date", date.as_str()),
        ("payment", "transfer"),
        ("bank_name", "みどり銀行"),
        ("notes", ""),
        ("consent", "yes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in changes {
        match answers.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = (*value).to_owned(),
            None => answers.push(((*key).to_owned(), (*value).to_owned())),
        }
    }
    answers
}

pub use testkit::{element_text, hidden_input};

/// A resident's full path through one form over HTTP: confirm, then send.
pub struct Sent {
    pub receipt_number: String,
    pub inquiry_number: String,
    pub inquiry_secret: String,
    pub record_hash: String,
    pub draft: String,
    pub receipt_page: String,
}

pub async fn post_form(
    client: &reqwest::Client,
    url: &str,
    body: &[(String, String)],
) -> (reqwest::StatusCode, String) {
    let response = client.post(url).form(body).send().await.expect("request");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

pub async fn apply(counter: &TestCounter, tenant: &str, form: &str, answers: &[(String, String)]) -> Sent {
    let client = counter.client();
    let base = format!("{}/t/{tenant}/f/{form}", counter.url);
    let (status, page) = post_form(&client, &format!("{base}/confirm"), answers).await;
    assert_eq!(status, 200, "confirm page expected, got:\n{page}");
    let draft = hidden_input(&page, "_draft").expect("draft token on the confirm page");
    let (status, receipt_page) =
        post_form(&client, &format!("{base}/submit"), &[("_draft".into(), draft.clone())]).await;
    assert_eq!(status, 200, "receipt expected, got:\n{receipt_page}");
    Sent {
        receipt_number: element_text(&receipt_page, "receipt-number").expect("到達番号"),
        inquiry_number: element_text(&receipt_page, "inquiry-number").expect("問合せ番号"),
        inquiry_secret: element_text(&receipt_page, "inquiry-secret").expect("secret"),
        record_hash: element_text(&receipt_page, "record-hash").expect("hash"),
        draft,
        receipt_page,
    }
}
