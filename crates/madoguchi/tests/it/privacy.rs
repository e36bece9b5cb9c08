//! No plaintext personal data on the counter's disk: a marker sent in a
//! submission is found in no file the counter wrote (database, vault, keys,
//! logs) nor in its PostgreSQL rows, in any common encoding.

use std::path::Path;

use base64::Engine as _;
use testkit::Engine;

use crate::{apply, on_both_engines, post_form, start, water_start_answers};

const MARKER: &str = "MARKER-1f3a-やまだ";

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

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn find_marker(haystack: &[u8]) -> Option<String> {
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
    assert!(files.iter().any(|f| f.to_string_lossy().contains("/vault/records/")), "the vault was written");
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
