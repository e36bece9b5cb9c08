//! No plaintext personal data on the counter's disk: a marker sent in a
//! submission is found in no file the counter wrote (database, vault, keys,
//! logs) nor in its PostgreSQL rows, in any common encoding.

use std::path::Path;

use base64::Engine as _;
use testkit::Engine;

use crate::{apply, on_both_engines, post_form, start, water_start_answers};

pub(crate) const MARKER: &str = "MARKER-1f3a-やまだ";

on_both_engines!(a_planted_marker_is_found_nowhere_the_counter_wrote);

/// The byte strings the marker could appear as.
fn encodings(text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![("utf-8".to_owned(), text.as_bytes().to_vec())];
    for encoding in [encoding_rs::SHIFT_JIS, encoding_rs::EUC_JP, encoding_rs::ISO_2022_JP] {
        out.push((encoding.name().to_owned(), encoding.encode(text).0.into_owned()));
    }
    out.push(("utf-16le".into(), text.encode_utf16().flat_map(u16::to_le_bytes).collect()));
    out.push(("utf-16be".into(), text.encode_utf16().flat_map(u16::to_be_bytes).collect()));
    let percent: String = text
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect();
    out.push(("percent-encoded".into(), percent.clone().into_bytes()));
    out.push(("percent-encoded (lower)".into(), percent.to_lowercase().into_bytes()));
    let json_escaped: String =
        text.chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("\\u{:04x}", c as u32) }).collect();
    out.push(("json \\u escapes".into(), json_escaped.into_bytes()));
    out.push(("base64".into(), base64::engine::general_purpose::STANDARD.encode(text).into_bytes()));
    out.push(("base64url".into(), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text).into_bytes()));
    // The ASCII part alone and the kana part alone are each a giveaway.
    out.push(("ascii part".into(), b"MARKER-1f3a".to_vec()));
    out.push(("kana part, utf-8".into(), "やまだ".as_bytes().to_vec()));
    out.push(("kana part as katakana".into(), "ヤマダ".as_bytes().to_vec()));
    out
}

pub(crate) fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

pub(crate) fn find_marker(haystack: &[u8]) -> Option<String> {
    encodings(MARKER)
        .into_iter()
        .find(|(_, needle)| haystack.windows(needle.len()).any(|w| w == needle.as_slice()))
        .map(|(name, _)| name)
}

async fn a_planted_marker_is_found_nowhere_the_counter_wrote(engine: Engine) {
    let mut counter = start(engine).await;
    let client = counter.client();
    // The marker goes everywhere a resident can type: name, reading, notes,
    // bank, address; once through a confirm that fails validation, once
    // through 修正する, and once all the way to a receipt.
    let answers = water_start_answers(&[
        ("applicant", MARKER),
        ("applicant.kana", "やまだ"),
        ("bank_name", MARKER),
        ("property.line", MARKER),
        ("notes", MARKER),
    ]);
    let base = format!("{}/t/aoba-city/f/water-start", counter.url);
    let mut invalid = answers.clone();
    invalid.retain(|(k, _)| k != "consent");
    let (status, _) = post_form(&client, &format!("{base}/confirm"), &invalid).await;
    assert_eq!(status, 422);
    let (_, confirm) = post_form(&client, &format!("{base}/confirm"), &answers).await;
    let draft = crate::hidden_input(&confirm, "_draft").unwrap();
    let (status, _) = post_form(&client, &format!("{base}/edit"), &[("_draft".into(), draft)]).await;
    assert_eq!(status, 200);
    let sent = apply(&counter, "aoba-city", "water-start", &answers).await;
    assert!(sent.receipt_number.ends_with("-000001"));
    // Also a status lookup with the marker as the "secret".
    let _ = post_form(
        &client,
        &format!("{}/t/aoba-city/status", counter.url),
        &[("inquiry_number".into(), sent.inquiry_number.clone()), ("secret".into(), MARKER.into())],
    )
    .await;

    // Stop the counter so every buffer reaches the disk, then search it all.
    counter.kill().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut files = Vec::new();
    files_under(counter.root.path(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("stderr.0.log")), "logs were captured");
    assert!(files.iter().any(|f| f.to_string_lossy().contains("/vault/segments/")), "the vault was written");
    let log = std::fs::read_to_string(counter.root.path().join("logs/stderr.0.log")).unwrap();
    assert!(log.contains("submission accepted"), "the logs cover the submission:\n{log}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if let Some(encoding) = find_marker(&bytes) {
            panic!("{} holds the marker ({encoding})", file.display());
        }
    }

    if let Some(schema) = counter.database.schema() {
        let dump = std::process::Command::new("pg_dump")
            .args(["--data-only", "--schema", schema, &testkit::postgres_url()])
            .output()
            .expect("pg_dump");
        assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
        assert!(String::from_utf8_lossy(&dump.stdout).contains("submissions"), "the dump covers the submissions");
        if let Some(encoding) = find_marker(&dump.stdout) {
            panic!("PostgreSQL rows hold the marker ({encoding})");
        }
    }
}

#[test]
fn the_search_finds_the_marker_in_each_encoding() {
    // The detector itself must work, or the test above proves nothing.
    for (name, bytes) in encodings(MARKER) {
        let mut haystack = b"prefix ".to_vec();
        haystack.extend_from_slice(&bytes);
        assert!(find_marker(&haystack).is_some(), "{name}");
    }
    assert!(find_marker(b"nothing to see").is_none());
}

on_both_engines!(a_full_round_trip_with_desk_and_mail_leaves_no_personal_data_on_the_counter);

/// The resident's e-mail address is personal data too.
const MAIL_MARKER: &str = "yamada.mk1f3a@example.jp";

async fn a_full_round_trip_with_desk_and_mail_leaves_no_personal_data_on_the_counter(engine: Engine) {
    let sink = testkit::SmtpSink::start().await;
    let smtp = sink.address.to_string();
    let mut counter = testkit::TestCounter::start_with(crate::madoguchi(), engine, &["--smtp", &smtp]).await;
    let desk = crate::desk::set_up_desk(&counter, "aoba-city");
    let answers = water_start_answers(&[
        ("applicant", MARKER),
        ("notes", MARKER),
        ("email", MAIL_MARKER),
        ("email.confirm", MAIL_MARKER),
    ]);
    let sent = apply(&counter, "aoba-city", "water-start", &answers).await;
    let receipt = store::ReceiptNumber::parse(&sent.receipt_number).unwrap();
    assert!(counter.store().await.has_notify_address("aoba-city", receipt).await.unwrap());

    // On the desk: open it, then 審査中 → 差戻し (with a message naming the
    // resident) → 審査中 → 完了, pushing each change.
    assert!(desk.sync().contains("synced: 1 new records"));
    let keys = desk.unlock();
    let desk_store = desk.store().await;
    let (_, payload) = desk_store.read_record(&keys, receipt, "suzuki").await.unwrap().unwrap();
    assert!(payload.to_string().contains(MARKER));
    let message = format!("{MARKER} 様、押印をお願いします。");
    for (status, message) in [
        (store::SubmissionStatus::InReview, None),
        (store::SubmissionStatus::Returned, Some(message.as_str())),
        (store::SubmissionStatus::InReview, None),
    ] {
        desk_store.set_status(&keys, receipt, status, message, "suzuki").await.unwrap();
        desk.sync();
    }
    // The resident reads the 差戻し message while it is current.
    desk_store.set_status(&keys, receipt, store::SubmissionStatus::Returned, Some(&message), "suzuki").await.unwrap();
    desk.sync();
    let status_url = format!("{}/t/aoba-city/status", counter.url);
    let lookup = [
        ("inquiry_number".to_owned(), sent.inquiry_number.clone()),
        ("secret".to_owned(), sent.inquiry_secret.clone()),
    ];
    let (_, page) = post_form(&counter.client(), &status_url, &lookup).await;
    assert_eq!(crate::element_text(&page, "staff-message").as_deref(), Some(message.as_str()));
    desk_store.set_status(&keys, receipt, store::SubmissionStatus::InReview, None, "suzuki").await.unwrap();
    desk_store.set_status(&keys, receipt, store::SubmissionStatus::Completed, None, "suzuki").await.unwrap();
    desk.sync();

    // One mail per change, to the resident, saying only that it changed.
    // (The last two changes went to the counter in one push: the
    // resident hears of the state it ended in.)
    let mails = sink.wait_for(5, std::time::Duration::from_secs(30)).await;
    if mails.len() != 5 {
        let log = std::fs::read_to_string(counter.root.path().join("logs/stderr.0.log")).unwrap_or_default();
        let outbox = counter.store().await.mail_counts().await.unwrap();
        panic!("{} mails, outbox (unsent, sent) {outbox:?}:\n{log}", mails.len());
    }
    for mail in &mails {
        assert_eq!(mail.to, vec![MAIL_MARKER.to_owned()]);
        assert!(mail_body(&mail.data).contains("/t/aoba-city/status"), "{}", mail.data);
        let body = mail_body(&mail.data);
        assert!(body.contains("状況が「"), "{body}");
        assert!(find_marker(body.as_bytes()).is_none() && !body.contains("押印"), "content leaked: {}", mail.data);
        assert!(!body.contains(MAIL_MARKER));
    }
    // The case is closed: the counter no longer holds the address at all.
    let counter_store = counter.store().await;
    for _ in 0..50 {
        if !counter_store.has_notify_address("aoba-city", receipt).await.unwrap() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!counter_store.has_notify_address("aoba-city", receipt).await.unwrap());

    // A copied desk database is unreadable too: its payloads, comments and
    // messages are encrypted at rest.
    let mut desk_files = Vec::new();
    files_under(desk.path(), &mut desk_files);
    for file in desk_files.iter().filter(|f| f.to_string_lossy().contains("desk.sqlite")) {
        if let Some(encoding) = find_marker(&std::fs::read(file).unwrap()) {
            panic!("the desk's {} holds the marker in plaintext ({encoding})", file.display());
        }
    }

    counter.kill().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut files = Vec::new();
    files_under(counter.root.path(), &mut files);
    let mail_needles = encodings(MAIL_MARKER);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if let Some(encoding) = find_marker(&bytes) {
            panic!("{} holds the marker ({encoding})", file.display());
        }
        if let Some((name, _)) = mail_needles.iter().find(|(_, n)| bytes.windows(n.len()).any(|w| w == n.as_slice())) {
            panic!("{} holds the e-mail address ({name})", file.display());
        }
    }
    if let Some(schema) = counter.database.schema() {
        let dump = std::process::Command::new("pg_dump")
            .args(["--data-only", "--schema", schema, &testkit::postgres_url()])
            .output()
            .expect("pg_dump");
        assert!(find_marker(&dump.stdout).is_none(), "PostgreSQL rows hold the marker");
        assert!(!String::from_utf8_lossy(&dump.stdout).contains(MAIL_MARKER));
    }
}

/// The decoded text of a single-part mail (lettre picks base64, quoted-
/// printable or 7bit as it sees fit).
fn mail_body(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (headers, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let encoding = headers.to_ascii_lowercase();
    if encoding.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(joined).expect("base64 body")).unwrap()
    } else if encoding.contains("content-transfer-encoding: quoted-printable") {
        let mut bytes = Vec::new();
        let soft = body.replace("=\n", "");
        let mut iter = soft.bytes();
        while let Some(b) = iter.next() {
            if b == b'=' {
                let hex: Vec<u8> = iter.by_ref().take(2).collect();
                bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
            } else {
                bytes.push(b);
            }
        }
        String::from_utf8(bytes).unwrap()
    } else {
        body.to_owned()
    }
}
