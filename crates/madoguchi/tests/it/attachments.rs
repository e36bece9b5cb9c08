//! Attachments (添付書類): a file field takes scans and photos judged by
//! their content and size; each file is sealed as it streams in, comes
//! back with the form when the resident has something else to fix, is
//! named by the submission and counted by backups, reaches the desk sealed,
//! and is downloaded there as it was sent. The counter's disk never holds
//! a byte of it, nor its name, in plaintext.

use reqwest::multipart::{Form, Part};
use store::ReceiptNumber;
use testkit::{Engine, TestCounter};

use crate::desk::{enrol_and_sign_in, set_up_desk};
use crate::privacy::{files_under, find_marker, MARKER};
use crate::{element_text, hidden_input, on_both_engines, post_form};

on_both_engines!(a_file_is_sealed_as_it_streams_kept_across_corrections_and_downloaded_on_the_desk_as_sent);

const FORM: &str = r#"
id = "documents"
title = { ja = "書類の提出", en = "Sending documents" }

[[fields]]
name = "applicant"
type = "name"
label = { ja = "お名前", en = "Name" }
required = true
furigana = false

[[fields]]
name = "scan"
type = "file"
label = { ja = "本人確認書類", en = "Proof of identity" }
required = true
accept = ["pdf", "png"]
max_mb = 3

[[fields]]
name = "photos"
type = "file"
label = { ja = "現場の写真", en = "Photos of the site" }
accept = ["jpeg"]
max_mb = 1
max_files = 2

[[fields]]
name = "consent"
type = "consent"
label = { ja = "確認", en = "Confirmation" }
required = true
statement = { ja = "同意します。", en = "I agree." }
"#;

/// A "PDF" of `len` bytes whose text is the marker, over and over.
fn pdf(len: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    while out.len() < len {
        out.extend_from_slice(format!("({MARKER}) Tj\n").as_bytes());
    }
    out.truncate(len);
    out
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
    out.extend((0..len - out.len()).map(|i| (i * 7 % 251) as u8));
    out
}

fn file(bytes: &[u8], name: &str) -> Part {
    // What the browser claims is ignored; content decides.
    Part::bytes(bytes.to_vec()).file_name(name.to_owned()).mime_str("application/pdf").unwrap()
}

fn text(form: Form, pairs: &[(&str, &str)]) -> Form {
    pairs.iter().fold(form, |form, (k, v)| form.text((*k).to_owned(), (*v).to_owned()))
}

async fn post_multipart(counter: &TestCounter, form: Form) -> (u16, String) {
    let url = format!("{}/t/aoba-city/f/documents/confirm", counter.url);
    let response = counter.client().post(url).multipart(form).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The message shown beside the input of `field`, without its hidden
/// "error:" prefix.
fn error_beside(page: &str, field: &str) -> Option<String> {
    let marker = format!("id=\"err-f-{field}\">");
    let start = page.find(&marker)? + marker.len();
    let rest = &page[start..];
    let text = rest[..rest.find("</p>")?].rsplit("</span>").next()?;
    Some(text.to_owned())
}

/// `GET path` on the desk API, signed with the desk's key.
async fn signed_get(counter: &TestCounter, desk: &testkit::desk::TestDesk, path: &str) -> reqwest::StatusCode {
    let keys = desk.unlock();
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let nonce = hex::encode(rand_bytes());
    let request = seal::SignedRequest {
        desk_id: &keys.desk_id,
        method: "GET",
        path_and_query: path,
        timestamp: ts,
        nonce: &nonce,
        body: b"",
    };
    reqwest::Client::new()
        .get(format!("{}{path}", counter.url))
        .header("x-madoguchi-desk", &keys.desk_id)
        .header("x-madoguchi-timestamp", ts.to_string())
        .header("x-madoguchi-nonce", &nonce)
        .header("x-madoguchi-signature", keys.signing_key().sign_request(&request))
        .send()
        .await
        .unwrap()
        .status()
}

fn rand_bytes() -> [u8; 16] {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(nanos.to_be_bytes());
    digest[..16].try_into().unwrap()
}

async fn a_file_is_sealed_as_it_streams_kept_across_corrections_and_downloaded_on_the_desk_as_sent(engine: Engine) {
    let mut counter = crate::start(engine).await;
    let desk = set_up_desk(&counter, "aoba-city");
    counter.store().await.publish_form("aoba-city", "documents", FORM, None).await.unwrap();
    let page = counter.client().get(format!("{}/t/aoba-city/f/documents", counter.url)).send().await.unwrap();
    // (minijinja writes "/" in attributes as "&#x2f;", which browsers read back.)
    let page = page.text().await.unwrap().replace("&#x2f;", "/");
    assert!(page.contains(r#"enctype="multipart/form-data""#), "a form with files posts multipart");
    assert!(page.contains(r#"accept="application/pdf,image/png""#));
    assert!(page.contains("PDF、PNG（3MBまで）"), "the limits are said before choosing");

    let name = format!("{MARKER}.pdf");
    let scan = pdf(2_500_000);
    let applicant = [("applicant", "山田 花子")];

    // An executable named .pdf is refused by its content, beside the field,
    // and the rest of the answers stay.
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".repeat(100);
    let (status, page) =
        post_multipart(&counter, text(Form::new(), &applicant).part("scan", file(&exe, "scan.pdf"))).await;
    assert_eq!(status, 422);
    assert_eq!(
        error_beside(&page, "scan").as_deref(),
        Some("PDF、PNG のファイルを選んでください（ファイルの中身で確認しています）。")
    );
    assert!(page.contains("山田 花子"));
    // Too large, said in megabytes.
    let (status, page) =
        post_multipart(&counter, text(Form::new(), &applicant).part("scan", file(&pdf(3_000_001), "big.pdf"))).await;
    assert_eq!(status, 422);
    assert_eq!(error_beside(&page, "scan").as_deref(), Some("3MB以下のファイルを選んでください。"));
    // Two photos where one is allowed... three where two are.
    let photos = (0..3)
        .fold(text(Form::new(), &applicant), |form, i| form.part("photos", file(&jpeg(2000), &format!("{i}.jpg"))));
    let (status, page) = post_multipart(&counter, photos).await;
    assert_eq!(status, 422);
    assert_eq!(error_beside(&page, "photos").as_deref(), Some("添付できるファイルは2個までです。"));

    // A good scan with the consent forgotten: the file comes back as sent,
    // to be kept without sending it again.
    let (status, page) = post_multipart(&counter, text(Form::new(), &applicant).part("scan", file(&scan, &name))).await;
    assert_eq!(status, 422);
    assert!(error_beside(&page, "consent").is_some());
    assert!(error_beside(&page, "scan").is_none(), "{page}");
    let kept = hidden_input(&page, "_file.scan").expect("the sent file is carried by the page");
    assert!(page.contains("送信済み：") && page.contains("PDF・2.5 MB"), "{page}");

    // A kept file token is the counter's own: altered, it is refused.
    let mut forged = kept.clone();
    forged.replace_range(10..11, if &forged[10..11] == "A" { "B" } else { "A" });
    let (status, _) = post_multipart(&counter, text(Form::new(), &[("_file.scan", &forged), ("consent", "yes")])).await;
    assert_eq!(status, 400);

    // Now with consent and a photo: the confirm page lists both files.
    let form = text(Form::new(), &[("applicant", "山田 花子"), ("_file.scan", &kept), ("consent", "yes")])
        .part("photos", Part::bytes(jpeg(50_000)).file_name("現場.jpg"));
    let (status, confirm) = post_multipart(&counter, form).await;
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains("PDF・2.5 MB") && confirm.contains("現場.jpg（JPEG・50 KB）"), "{confirm}");
    let draft = hidden_input(&confirm, "_draft").unwrap();
    let client = counter.client();
    let base = format!("{}/t/aoba-city/f/documents", counter.url);
    let (status, receipt_page) = post_form(&client, &format!("{base}/submit"), &[("_draft".into(), draft)]).await;
    assert_eq!(status, 200, "{receipt_page}");
    let receipt = element_text(&receipt_page, "receipt-number").expect("a 到達番号");

    // The desk takes the files in with the record, still sealed, and a
    // clerk downloads each as it was sent.
    assert!(desk.sync().contains("synced: 1 new records"));
    let server = desk.serve().await;
    let clerk = enrol_and_sign_in(&desk, &server, "tanaka").await;
    let (_, record) = clerk.get(&format!("/records/{receipt}")).await;
    let links: Vec<String> = record
        .split(&format!("href=\"/records/{receipt}/files/"))
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect();
    assert_eq!(links.len(), 2, "{record}");
    let download = reqwest::Client::new()
        .get(format!("{}/records/{receipt}/files/{}", server.url, links[0]))
        .header("cookie", &clerk.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.headers()["content-type"], "application/pdf");
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("filename*=UTF-8''MARKER-1f3a-"),
        "{disposition}"
    );
    assert!(download.bytes().await.unwrap() == scan, "the scan comes back byte for byte");
    let (status, photo) = clerk.get_bytes(&format!("/records/{receipt}/files/{}", links[1])).await;
    assert_eq!((status.as_u16(), photo), (200, jpeg(50_000)));
    let store = desk.store().await;
    let log = store.access_log().await.unwrap();
    let receipt_number = ReceiptNumber::parse(&receipt).unwrap();
    assert!(log.contains(&("tanaka".to_owned(), "download".to_owned(), Some(receipt_number))), "{log:?}");
    let (status, _) = clerk.get_bytes(&format!("/records/{receipt}/files/{}", "0".repeat(32))).await;
    assert_eq!(status.as_u16(), 404);

    // The desk API gives a file only for the record that names it.
    let sealed_name = {
        let keys = desk.unlock();
        let (_, payload) = store.read_record(&keys, receipt_number, "test").await.unwrap().unwrap();
        payload["values"]["scan"]["Files"][0]["sealed"].as_str().unwrap().to_owned()
    };
    let other = ReceiptNumber { seq: receipt_number.seq + 1, ..receipt_number };
    assert_eq!(
        signed_get(&counter, &desk, &format!("/api/desk/v1/records/{other}/attachments/{sealed_name}")).await,
        404
    );
    assert_eq!(
        signed_get(&counter, &desk, &format!("/api/desk/v1/records/{receipt}/attachments/{sealed_name}")).await,
        200
    );

    // Counted by backups: the vault verifies with the files in it.
    // (The command fails, naming them, if any object is missing.)
    crate::operator_command(&counter, &["backup", "verify"].map(std::ffi::OsStr::new));

    // Nothing of the file or its name is on the counter's disk.
    counter.kill().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut written = Vec::new();
    files_under(counter.root.path(), &mut written);
    assert!(written.iter().any(|f| f.to_string_lossy().contains("/vault/attachment-parts/")), "parts were written");
    for path in &written {
        if let Some(encoding) = find_marker(&std::fs::read(path).unwrap()) {
            panic!("{} holds the marker ({encoding})", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_attaches_a_scan_in_chromium_keeps_it_through_a_correction_and_sends_it() {
    use crate::browser::{assert_meets_wcag_aa, browser, click, fill, screenshots_at_both_widths, wait_for_heading};
    use fantoccini::Locator;

    let counter = crate::start(Engine::Sqlite).await;
    let desk = set_up_desk(&counter, "aoba-city");
    counter.store().await.publish_form("aoba-city", "documents", FORM, None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scan_path = dir.path().join("住民票の写し.pdf");
    let scan = pdf(1_200_000);
    std::fs::write(&scan_path, &scan).unwrap();
    let photo_path = dir.path().join("IMG_0001.jpg");
    std::fs::write(&photo_path, jpeg(80_000)).unwrap();

    let crate::browser::Browser { client, _driver } = browser().await;
    client.goto(&format!("{}/t/aoba-city/f/documents", counter.url)).await.unwrap();
    wait_for_heading(&client, "書類の提出").await;
    fill(&client, "f-applicant", "山田 花子").await;
    // A file input takes the file's path, as a resident's choosing would.
    let input = client.find(Locator::Id("f-scan")).await.unwrap();
    input.send_keys(scan_path.to_str().unwrap()).await.unwrap();
    let input = client.find(Locator::Id("f-photos")).await.unwrap();
    input.send_keys(photo_path.to_str().unwrap()).await.unwrap();
    // The consent is forgotten: the page comes back with both files sent.
    click(&client, "button.primary").await;
    client.wait().for_element(Locator::Id("error-summary")).await.unwrap();
    let sent = client.find(Locator::Id("sent-f-scan")).await.unwrap().text().await.unwrap();
    assert!(sent.contains("住民票の写し.pdf（PDF・1.2 MB）"), "{sent}");
    assert_meets_wcag_aa(&client, "form with files sent").await;
    screenshots_at_both_widths(&client, "attachment-sent").await;
    // Nothing chosen again: the files already sent go with the form.
    click(&client, "#f-consent").await;
    click(&client, "button.primary").await;
    wait_for_heading(&client, "入力内容の確認").await;
    let listed = client.source().await.unwrap();
    assert!(listed.contains("住民票の写し.pdf（PDF・1.2 MB）") && listed.contains("IMG_0001.jpg（JPEG・80 KB）"));
    assert_meets_wcag_aa(&client, "confirm with files").await;
    click(&client, "button.primary").await;
    wait_for_heading(&client, "受付が完了しました").await;
    let receipt = client.find(Locator::Id("receipt-number")).await.unwrap().text().await.unwrap();

    // The desk holds both, sealed, and the scan opens to what was chosen.
    assert!(desk.sync().contains("synced: 1 new records"));
    let store = desk.store().await;
    let keys = desk.unlock();
    let receipt = ReceiptNumber::parse(&receipt).unwrap();
    let (_, payload) = store.read_record(&keys, receipt, "test").await.unwrap().unwrap();
    let scan_id = payload["values"]["scan"]["Files"][0]["id"].as_str().unwrap().to_owned();
    let photo_id = payload["values"]["photos"]["Files"][0]["id"].as_str().unwrap().to_owned();
    assert!(store.has_attachment(receipt, &scan_id).await.unwrap());
    assert!(store.has_attachment(receipt, &photo_id).await.unwrap());
}
