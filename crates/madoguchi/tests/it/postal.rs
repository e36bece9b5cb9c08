//! Address help (docs/postal.md): the postal-code table in the store, its
//! import from Japan Post's KEN_ALL with `madoguchi postal import`, the
//! `/postal/{code}` JSON for the page's script, and 住所を検索 without
//! JavaScript.

use std::ffi::OsStr;

use testkit::Engine;

use crate::{hidden_input, on_both_engines, operator_command, operator_output, post_form, start, water_start_answers};

on_both_engines!(the_store_replaces_and_looks_up_the_table, the_cli_imports_a_shift_jis_ken_all_file);

fn row(code: &str, prefecture: &str, city: &str, town: &str) -> store::PostalRow {
    store::PostalRow { code: code.into(), prefecture: prefecture.into(), city: city.into(), town: town.into() }
}

async fn the_store_replaces_and_looks_up_the_table(engine: Engine) {
    let db = testkit::TestDatabase::new(engine).await;
    let vault = tempfile::tempdir().unwrap();
    let store = db.store(vault.path()).await;
    assert_eq!(store.postal_lookup("1000001").await.unwrap(), None);

    // More rows than one statement takes (1000 parameters, 5 columns a row).
    let mut rows: Vec<store::PostalRow> =
        (0..450).map(|i| row(&format!("{:07}", 2_000_000 + i), "みどり県", "青葉市", &format!("町{i}"))).collect();
    rows.push(row("1000002", "みどり県", "青葉市", "本町"));
    rows.push(row("1000002", "みどり県", "青葉市", "本町一丁目"));
    rows.push(row("1000000", "みどり県", "青葉市", ""));
    assert_eq!(store.import_postal_codes(&rows).await.unwrap(), 453);
    assert_eq!(store.postal_row_count().await.unwrap(), 453);
    let found = store.postal_lookup("1000002").await.unwrap().unwrap();
    assert_eq!(found.prefecture, "みどり県");
    assert_eq!(found.city, "青葉市");
    assert_eq!(found.towns, ["本町", "本町一丁目"], "in the file's order");
    assert_eq!(store.postal_lookup("2000449").await.unwrap().unwrap().towns, ["町449"]);
    assert!(store.postal_lookup("1000000").await.unwrap().unwrap().towns.is_empty());

    // An import replaces the whole table.
    store.import_postal_codes(&[row("3000001", "やまびこ県", "谷間市", "川上")]).await.unwrap();
    assert_eq!(store.postal_row_count().await.unwrap(), 1);
    assert_eq!(store.postal_lookup("1000002").await.unwrap(), None);
    assert_eq!(store.postal_lookup("3000001").await.unwrap().unwrap().city, "谷間市");
}

/// One line of KEN_ALL's 15-column layout.
fn ken_all_line(code: &str, prefecture: &str, city: &str, town: &str) -> String {
    format!(
        "99999,\"{}  \",\"{code}\",\"ｶﾅ\",\"ｶﾅ\",\"ｶﾅ\",\"{prefecture}\",\"{city}\",\"{town}\",0,0,0,0,0,0\r\n",
        &code[..3]
    )
}

fn shift_jis(text: &str) -> Vec<u8> {
    let (bytes, _, failed) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!failed, "representable in Shift_JIS");
    bytes.into_owned()
}

async fn the_cli_imports_a_shift_jis_ken_all_file(engine: Engine) {
    let counter = start(engine).await;
    let client = counter.client();
    let lookup = |code: &str| client.get(format!("{}/postal/{code}", counter.url)).send();
    // The demo table is there from the start.
    assert_eq!(lookup("1000001").await.unwrap().status(), 200);

    let file = counter.root.path().join("KEN_ALL.CSV");
    let text = [
        ken_all_line("0600000", "北海道", "札幌市中央区", "以下に掲載がない場合"),
        ken_all_line("0600042", "北海道", "札幌市中央区", "大通西（１～１９丁目）"),
        ken_all_line("0660005", "北海道", "千歳市", "協和（８８－２、２７１－１０、３４３－２、４０４－１、４２７－"),
        ken_all_line("0660005", "北海道", "千歳市", "３、４３１－１２、４４３－６、６０８－２、６４１－８、８１４、"),
        ken_all_line("0660005", "北海道", "千歳市", "８４２－５、１１３７－３、１３９２、１６５７、１７５２番地）"),
        ken_all_line("1600023", "東京都", "新宿区", "西新宿（次のビルを除く）"),
        ken_all_line("1630690", "東京都", "新宿区", "西新宿新宿センタービル（地階・階層不明）"),
        ken_all_line("9960301", "山形県", "最上郡大蔵村", "南山（大字）"),
        ken_all_line("9960301", "山形県", "最上郡大蔵村", "南山（その他）"),
        ken_all_line("9960301", "山形県", "最上郡大蔵村", "清水"),
    ]
    .concat();
    std::fs::write(&file, shift_jis(&text)).unwrap();
    let printed = operator_command(&counter, &[OsStr::new("postal"), OsStr::new("import"), file.as_os_str()]);
    assert!(printed.contains("imported 6 postal codes (7 rows)"), "{printed}");

    let json = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 200);
        response.json::<serde_json::Value>().await.unwrap()
    };
    let whole_city = json(lookup("0600000").await.unwrap()).await;
    assert_eq!(whole_city["prefecture"], "北海道");
    assert_eq!(whole_city["city"], "札幌市中央区");
    assert_eq!(whole_city["towns"], serde_json::json!([]));
    assert_eq!(json(lookup("0660005").await.unwrap()).await["towns"], serde_json::json!(["協和"]));
    assert_eq!(json(lookup("1600023").await.unwrap()).await["towns"], serde_json::json!(["西新宿"]));
    assert_eq!(json(lookup("1630690").await.unwrap()).await["towns"], serde_json::json!(["西新宿新宿センタービル"]));
    assert_eq!(json(lookup("9960301").await.unwrap()).await["towns"], serde_json::json!(["南山", "清水"]));
    // The import replaced the demo table.
    assert_eq!(lookup("1000001").await.unwrap().status(), 404);

    // The same file forced to the wrong encoding, and a broken line: named,
    // non-zero, and the table is left as it was.
    let wrong = operator_output(
        &counter,
        &[OsStr::new("postal"), OsStr::new("import"), file.as_os_str(), OsStr::new("--encoding"), OsStr::new("utf8")],
    );
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("line 1: not valid UTF-8"));
    let broken = counter.root.path().join("broken.csv");
    std::fs::write(
        &broken,
        format!("{}\"1000001\",\"みどり県\"\r\n", ken_all_line("1000009", "みどり県", "青葉市", "中央")),
    )
    .unwrap();
    let failed = operator_output(&counter, &[OsStr::new("postal"), OsStr::new("import"), broken.as_os_str()]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("broken.csv: line 2: expected 15 columns"), "{stderr}");
    assert_eq!(lookup("0600042").await.unwrap().status(), 200);
    assert_eq!(lookup("1000009").await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postal_json_answers_known_unknown_and_malformed_codes() {
    let counter = start(Engine::Sqlite).await;
    let client = counter.client();
    let get = |code: &str| client.get(format!("{}/postal/{code}", counter.url)).send();

    for typed in ["1000001", "100-0001", "１００－０００１", "〒100-0001"] {
        let response = get(typed).await.unwrap();
        assert_eq!(response.status(), 200, "{typed}");
        let cache = response.headers()["cache-control"].to_str().unwrap().to_owned();
        assert!(cache.contains("public") && cache.contains("max-age"), "{cache}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["prefecture"], "みどり県", "{typed}");
        assert_eq!(body["city"], "青葉市");
        assert_eq!(body["towns"], serde_json::json!(["中央"]));
    }
    let unknown = get("999-9999").await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.json::<serde_json::Value>().await.unwrap()["error"].as_str().unwrap().contains("見つかりません"));
    for malformed in ["12345", "abcdefg", "100-00011", "100%2000"] {
        assert_eq!(get(malformed).await.unwrap().status(), 400, "{malformed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postal_lookup_without_javascript_fills_the_region_and_keeps_the_answers() {
    let counter = start(Engine::Sqlite).await;
    let client = counter.client();
    let form = client.get(format!("{}/t/aoba-city/f/water-start", counter.url)).send().await.unwrap();
    let page = form.text().await.unwrap();
    assert!(page.contains(r#"name="_lookup" value="property""#), "the button is on the form");
    assert!(page.contains("住所を検索"));

    let confirm = format!("{}/t/aoba-city/f/water-start/confirm", counter.url);
    let mut answers =
        water_start_answers(&[("property.postal", "１００－０００１"), ("property.region", ""), ("notes", "そのまま")]);
    answers.push(("_lookup".into(), "property".into()));
    let (status, page) = post_form(&client, &confirm, &answers).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>水道使用開始届</h1>"), "the form again, not the 確認画面");
    assert_eq!(hidden_input(&page, "_draft"), None);
    assert!(page.contains(r#"name="property.region" value="みどり県青葉市""#), "region filled in");
    assert!(page.contains(r#"name="applicant" value="山田 太郎""#), "answers kept");
    assert!(page.contains("そのまま"));
    assert!(page.contains("「みどり県青葉市」を入力しました"));
    assert!(!page.contains("error-summary"), "nothing validated");

    // An unknown code: said next to the field, in English on the English page.
    let mut answers = water_start_answers(&[("property.postal", "999-9999"), ("property.region", "")]);
    answers.push(("_lookup".into(), "property".into()));
    let (status, page) = post_form(&client, &format!("{confirm}?lang=en"), &answers).await;
    assert_eq!(status, 200);
    assert!(page.contains("No address was found for postal code 999-9999"), "{page}");
    assert!(page.contains(r#"name="property.region" value="""#));

    // The filled-in form then goes on to the 確認画面 as usual.
    let (status, page) = post_form(&client, &confirm, &water_start_answers(&[])).await;
    assert_eq!(status, 200);
    assert!(hidden_input(&page, "_draft").is_some());
    // A lookup for something that is not an address field is refused.
    let mut answers = water_start_answers(&[]);
    answers.push(("_lookup".into(), "phone".into()));
    assert_eq!(post_form(&client, &confirm, &answers).await.0, 400);
}
