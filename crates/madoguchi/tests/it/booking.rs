//! Bookings (予約): a form offers time slots with capacity; a slot is never
//! overbooked, even when many residents send at once to several counter
//! nodes sharing PostgreSQL; a resident cancels with the 問合せ番号 and
//! access key, and the place is free again.

use std::sync::Arc;

use testkit::{Engine, TestCounter};

use crate::{element_text, hidden_input, on_both_engines, post_form};

on_both_engines!(a_slot_takes_its_capacity_and_no_more_and_a_cancelled_place_is_free_again);

/// A booking form open every day (no holidays) for tomorrow only, at
/// `times`, `capacity` residents per slot.
pub fn booking_form(times: &[&str], capacity: u32) -> String {
    let times: Vec<String> = times.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"
id = "counter-booking"
title = {{ ja = "窓口予約", en = "Counter booking" }}

[[fields]]
name = "applicant"
type = "name"
label = {{ ja = "お名前", en = "Name" }}
required = true
furigana = false

[[fields]]
name = "slot"
type = "booking"
label = {{ ja = "来庁日時", en = "Visit time" }}
required = true
weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
times = [{}]
minutes = 30
capacity = {capacity}
from = "today+1"
until = "today+1"
holidays_closed = false

[[fields]]
name = "consent"
type = "consent"
label = {{ ja = "確認", en = "Confirmation" }}
required = true
statement = {{ ja = "同意します。", en = "I agree." }}
"#,
        times.join(", ")
    )
}

pub async fn publish_booking_form(counter: &TestCounter, times: &[&str], capacity: u32) {
    let store = counter.store().await;
    store.publish_form("aoba-city", "counter-booking", &booking_form(times, capacity), None).await.unwrap();
}

/// The slot values offered on a form page, and which are disabled (full).
pub fn offered_slots(page: &str) -> Vec<(String, bool)> {
    page.split("<option value=\"")
        .skip(1)
        .filter_map(|rest| {
            let (value, tail) = rest.split_once('"')?;
            let tag_end = tail.find('>')?;
            (!value.is_empty()).then(|| (value.to_owned(), tail[..tag_end].contains("disabled")))
        })
        .collect()
}

fn answers(name: &str, slot: &str) -> Vec<(String, String)> {
    [("applicant", name), ("slot", slot), ("consent", "yes")].map(|(k, v)| (k.to_owned(), v.to_owned())).to_vec()
}

async fn a_slot_takes_its_capacity_and_no_more_and_a_cancelled_place_is_free_again(engine: Engine) {
    let counter = crate::start(engine).await;
    publish_booking_form(&counter, &["09:00", "09:30"], 2).await;
    let client = counter.client();
    let base = format!("{}/t/aoba-city/f/counter-booking", counter.url);
    let page = client.get(&base).send().await.unwrap().text().await.unwrap();
    let slots = offered_slots(&page);
    assert_eq!(slots.len(), 2, "{slots:?}");
    assert!(slots.iter().all(|(_, full)| !full));
    assert!(page.contains("残り2"), "places left are shown");
    let slot = slots[0].0.clone();

    let first = crate::apply(&counter, "aoba-city", "counter-booking", &answers("青葉 一郎", &slot)).await;
    assert!(element_text(&first.receipt_page, "booking-slot").is_some_and(|s| s.contains("9:00〜9:30")));
    // The third resident confirms while one place is left …
    let (status, third_confirm) = post_form(&client, &format!("{base}/confirm"), &answers("青葉 三郎", &slot)).await;
    assert_eq!(status, 200);
    let third_draft = hidden_input(&third_confirm, "_draft").unwrap();
    // … the second takes it first …
    crate::apply(&counter, "aoba-city", "counter-booking", &answers("青葉 二郎", &slot)).await;
    // … and the third, sending, is told beside the slot, with every answer kept.
    let (status, page) = post_form(&client, &format!("{base}/submit"), &[("_draft".into(), third_draft)]).await;
    assert_eq!(status, 409);
    assert!(page.contains("この日時は先に予約がいっぱいになりました"), "{page}");
    assert!(page.contains("青葉 三郎"), "the answers stay in the form");
    assert!(page.contains("aria-invalid=\"true\""));
    let slots = offered_slots(&page);
    assert_eq!(slots.iter().find(|(v, _)| *v == slot).map(|(_, full)| *full), Some(true), "a full slot is disabled");
    // Confirming the full slot again is refused at once.
    let (status, _) = post_form(&client, &format!("{base}/confirm"), &answers("青葉 三郎", &slot)).await;
    assert_eq!(status, 409);
    // A slot the schedule does not offer is an input error, not a booking.
    let (status, page) =
        post_form(&client, &format!("{base}/confirm"), &answers("青葉 三郎", "2020-01-01T09:00")).await;
    assert_eq!(status, 422);
    assert!(page.contains("予約できる日時の中から選んでください"));

    // The first resident cancels from the status page.
    let lookup = [
        ("inquiry_number".to_owned(), first.inquiry_number.clone()),
        ("secret".to_owned(), first.inquiry_secret.clone()),
    ];
    let (status, page) = post_form(&client, &format!("{}/t/aoba-city/status", counter.url), &lookup).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"cancel-booking\""), "a booking can be cancelled online");
    let (status, page) = post_form(&client, &format!("{}/t/aoba-city/status/cancel", counter.url), &lookup).await;
    assert_eq!(status, 200);
    assert!(page.contains("予約を取り消しました"));
    assert_eq!(element_text(&page, "status-value").as_deref(), Some("取消"));
    assert!(!page.contains("id=\"cancel-booking\""), "nothing more to cancel");
    let wrong = [lookup[0].clone(), ("secret".to_owned(), "AAAA-BBBB-CCCC".to_owned())];
    let (status, page) = post_form(&client, &format!("{}/t/aoba-city/status/cancel", counter.url), &wrong).await;
    assert_eq!(status, 404);
    assert!(!page.contains("予約を取り消しました"));

    // The place is free again: the third resident books it.
    let third = crate::apply(&counter, "aoba-city", "counter-booking", &answers("青葉 三郎", &slot)).await;
    assert!(!third.receipt_number.is_empty());
    let store = counter.store().await;
    let places = store.booked_places("aoba-city", "counter-booking", "2000-01-01").await.unwrap();
    assert_eq!(places.get(&slot), Some(&2));
}

/// 200 residents race for 20 places (4 slots × 5) on two counter processes
/// sharing one PostgreSQL: every one of them has a confirmed draft before
/// any sends, then all send at once, alternating between the nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_residents_race_for_twenty_places_on_two_counters() {
    let counter = crate::start(Engine::Postgres).await;
    publish_booking_form(&counter, &["09:00", "10:00", "11:00", "13:00"], 5).await;
    let second = counter.second_node().await;
    let nodes = [counter.url.clone(), second.url.clone()];
    let client = counter.client();
    let page = client.get(format!("{}/t/aoba-city/f/counter-booking", nodes[1])).send().await.unwrap();
    let slots: Vec<String> = offered_slots(&page.text().await.unwrap()).into_iter().map(|(v, _)| v).collect();
    assert_eq!(slots.len(), 4);

    let mut drafts = Vec::new();
    for i in 0..200 {
        let node = &nodes[i % 2];
        let url = format!("{node}/t/aoba-city/f/counter-booking/confirm");
        let (status, page) = post_form(&client, &url, &answers(&format!("住民 {i}"), &slots[i % 4])).await;
        assert_eq!(status, 200, "resident {i} confirms while every slot is open");
        drafts.push((i, hidden_input(&page, "_draft").unwrap()));
    }
    let start = Arc::new(tokio::sync::Barrier::new(drafts.len()));
    let racers: Vec<_> = drafts
        .into_iter()
        .map(|(i, draft)| {
            let (client, start) = (client.clone(), start.clone());
            // Each sends to the other node than the one that confirmed.
            let url = format!("{}/t/aoba-city/f/counter-booking/submit", nodes[(i + 1) % 2]);
            tokio::spawn(async move {
                start.wait().await;
                let (status, page) = post_form(&client, &url, &[("_draft".into(), draft)]).await;
                (i, status, page)
            })
        })
        .collect();
    let mut booked = vec![0; 4];
    let mut refused = 0;
    for racer in racers {
        let (i, status, page) = racer.await.unwrap();
        match status.as_u16() {
            200 => {
                assert!(element_text(&page, "receipt-number").is_some());
                booked[i % 4] += 1;
            }
            409 => {
                assert!(page.contains("この日時は先に予約がいっぱいになりました"));
                refused += 1;
            }
            other => panic!("resident {i}: {other}\n{page}"),
        }
    }
    assert_eq!(booked, [5, 5, 5, 5], "exactly the capacity of each slot");
    assert_eq!(refused, 180);
    let places = counter.store().await.booked_places("aoba-city", "counter-booking", "2000-01-01").await.unwrap();
    assert_eq!(places.values().sum::<i64>(), 20);
    assert!(places.values().all(|&n| n == 5), "{places:?}");
}

/// In chromium: residents book the one slot of a day until it is full;
/// the next one sees it marked 満員 and cannot choose it; the first
/// cancels from the status page and it opens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_book_a_slot_in_the_browser_until_it_is_full() {
    use crate::browser::{assert_meets_wcag_aa, browser, click, fill, screenshots_at_both_widths, wait_for_heading};
    use fantoccini::Locator;

    let counter = crate::start(Engine::Sqlite).await;
    publish_booking_form(&counter, &["10:00"], 2).await;
    let crate::browser::Browser { client, _driver } = browser().await;
    let form = format!("{}/t/aoba-city/f/counter-booking", counter.url);
    let mut receipts = Vec::new();
    for name in ["青葉 一郎", "青葉 二郎"] {
        client.goto(&form).await.unwrap();
        wait_for_heading(&client, "窓口予約").await;
        assert_meets_wcag_aa(&client, "booking form").await;
        fill(&client, "f-applicant", name).await;
        // The first offered slot, chosen from the list as a resident would.
        click(&client, "#f-slot option:not([value=''])").await;
        click(&client, "#f-consent").await;
        if receipts.is_empty() {
            screenshots_at_both_widths(&client, "booking-form").await;
        }
        click(&client, "button.primary").await;
        wait_for_heading(&client, "入力内容の確認").await;
        assert!(client.source().await.unwrap().contains("10:00〜10:30"), "the slot on the confirm page");
        click(&client, "button.primary").await;
        wait_for_heading(&client, "受付が完了しました").await;
        let slot = client.find(Locator::Id("booking-slot")).await.unwrap().text().await.unwrap();
        assert!(slot.contains("10:00〜10:30"), "{slot}");
        let number = client.find(Locator::Id("inquiry-number")).await.unwrap().text().await.unwrap();
        let secret = client.find(Locator::Id("inquiry-secret")).await.unwrap().text().await.unwrap();
        receipts.push((number, secret));
    }

    // Full: the slot is shown as 満員, cannot be chosen, and the page says
    // there is nothing left to book.
    client.goto(&form).await.unwrap();
    let option = client.find(Locator::Css("#f-slot option:not([value=''])")).await.unwrap();
    assert!(option.text().await.unwrap().contains("満員"));
    assert_eq!(option.attr("disabled").await.unwrap().as_deref(), Some("true"));
    assert!(client.find(Locator::Css("[id^='no-slots-']")).await.is_ok(), "nothing left is said");
    assert_meets_wcag_aa(&client, "booking form, full").await;
    screenshots_at_both_widths(&client, "booking-full").await;

    // The first resident cancels; the place opens again.
    client.goto(&format!("{}/t/aoba-city/status", counter.url)).await.unwrap();
    fill(&client, "f-inquiry_number", &receipts[0].0).await;
    fill(&client, "f-secret", &receipts[0].1).await;
    click(&client, "button.primary").await;
    client.wait().for_element(Locator::Id("cancel-booking")).await.unwrap();
    assert_meets_wcag_aa(&client, "status with a booking").await;
    screenshots_at_both_widths(&client, "status-booking").await;
    click(&client, "#cancel-booking button").await;
    client.wait().for_element(Locator::Id("cancelled-notice")).await.unwrap();
    assert_eq!(client.find(Locator::Id("status-value")).await.unwrap().text().await.unwrap(), "取消");
    client.goto(&form).await.unwrap();
    let option = client.find(Locator::Css("#f-slot option:not([value=''])")).await.unwrap();
    assert!(option.text().await.unwrap().contains("残り1"));
    assert_eq!(option.attr("disabled").await.unwrap(), None);
}

/// The clerk's desk learns of a cancellation at its next sync: the record
/// shows 取消 by the resident, and the desk cannot move it on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_reaches_the_desk_at_its_next_sync() {
    let counter = crate::start(Engine::Sqlite).await;
    publish_booking_form(&counter, &["09:00"], 3).await;
    // The desk's key ceremony comes first: it registers the key residents' answers are sealed to.
    let desk = testkit::desk::TestDesk::set_up(crate::madoguchi(), &counter, "aoba-city");
    let page = counter.client().get(format!("{}/t/aoba-city/f/counter-booking", counter.url)).send().await.unwrap();
    let slot = offered_slots(&page.text().await.unwrap()).remove(0).0;
    let kept = crate::apply(&counter, "aoba-city", "counter-booking", &answers("青葉 一郎", &slot)).await;
    let given_back = crate::apply(&counter, "aoba-city", "counter-booking", &answers("青葉 二郎", &slot)).await;
    assert!(desk.sync().contains("synced: 2 new records"));

    let lookup = [
        ("inquiry_number".to_owned(), given_back.inquiry_number.clone()),
        ("secret".to_owned(), given_back.inquiry_secret.clone()),
    ];
    let url = format!("{}/t/aoba-city/status/cancel", counter.url);
    assert_eq!(post_form(&counter.client(), &url, &lookup).await.0, 200);
    let printed = desk.sync();
    assert!(printed.contains("1 bookings cancelled by residents"), "{printed}");
    assert!(desk.sync().contains("0 bookings cancelled by residents"), "applied once");

    let store = desk.store().await;
    let records = store.list_records(&desk::work::RecordFilter::default(), 10, 0).await.unwrap();
    let status_of = |receipt: &str| records.iter().find(|r| r.receipt.to_string() == receipt).map(|r| r.status);
    assert_eq!(status_of(&given_back.receipt_number), Some(store::SubmissionStatus::Cancelled));
    assert_eq!(status_of(&kept.receipt_number), Some(store::SubmissionStatus::Received));
    let receipt = store::ReceiptNumber::parse(&given_back.receipt_number).unwrap();
    let moved = store.set_status(&desk.unlock(), receipt, store::SubmissionStatus::InReview, None, "clerk").await;
    assert!(moved.is_err(), "a cancelled booking is final");
}

/// The desk sets opening days, slots, capacity and closed days: checked on
/// the desk (every problem named, nothing published), then published by the
/// counter as the form's next version, which residents are offered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_sets_opening_days_slots_capacity_and_closed_days() {
    let counter = crate::start(Engine::Sqlite).await;
    publish_booking_form(&counter, &["09:00"], 2).await;
    let desk = testkit::desk::TestDesk::set_up(crate::madoguchi(), &counter, "aoba-city");
    let server = desk.serve().await;
    // The form admin's page, where processors are refused (the route table test covers every role).
    let staff = crate::desk::enrol_and_sign_in_as(&desk, &server, "yoyaku.kanri", "form-admin").await;
    let (status, page) = staff.get("/forms/counter-booking/schedule").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("value=\"09:00\"") && page.contains("value=\"2\""), "the published schedule is shown");
    assert!(page.contains("id=\"open-days\""), "the next open days are listed");
    let csrf = crate::hidden_input(&page, "_csrf").unwrap();

    let mut posted = vec![("_csrf", csrf.as_str()), ("times", "9:00、9:30, 10:00"), ("minutes", "30")];
    posted.extend([("from", "today+1"), ("until", "today+1"), ("closed", "")]);
    posted.extend(["wd_mon", "wd_tue", "wd_wed", "wd_thu", "wd_fri", "wd_sat", "wd_sun"].map(|d| (d, "on")));
    // A mistake is named and nothing is published.
    let mut wrong = posted.clone();
    wrong.extend([("capacity", "0")]);
    let (status, page) = staff.post("/forms/counter-booking/schedule", &wrong).await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"schedule-problems\"") && page.contains("capacity"), "{page}");
    let store = counter.store().await;
    assert_eq!(store.current_form("aoba-city", "counter-booking").await.unwrap().unwrap().version, 1);

    posted.extend([("capacity", "4")]);
    let (status, page) = staff.post("/forms/counter-booking/schedule", &posted).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"schedule-published\""));
    let current = store.current_form("aoba-city", "counter-booking").await.unwrap().unwrap();
    assert_eq!(current.version, 2);
    let def = forms::FormDefinition::parse(&current.definition).unwrap();
    let forms::FieldKind::Booking { times, capacity, .. } = &def.field("slot").unwrap().kind else { panic!() };
    assert_eq!((times.len(), *capacity), (3, 4));
    // Residents are offered the new slots with the new places.
    let page = counter.client().get(format!("{}/t/aoba-city/f/counter-booking", counter.url)).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert_eq!(offered_slots(&page).len(), 3);
    assert!(page.contains("残り4"));
    // Who changed it is in the ledger.
    let entries = store.ledger_entries(0, 1000).await.unwrap();
    assert!(entries.iter().any(|e| e.event.actor.starts_with("desk:") && e.event.detail.contains("booking schedule")));
    // Closing the only day leaves nothing to book, and the page says so.
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::hours(9 + 24)).date().to_string();
    let (_, page) = staff.get("/forms/counter-booking/schedule").await;
    let csrf = crate::hidden_input(&page, "_csrf").unwrap();
    let mut closing: Vec<(&str, &str)> =
        posted.iter().filter(|(k, _)| *k != "closed" && *k != "_csrf").copied().collect();
    closing.extend([("closed", tomorrow.as_str()), ("_csrf", csrf.as_str())]);
    let (status, page) = staff.post("/forms/counter-booking/schedule", &closing).await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("id=\"open-days\""), "no day is open");
    let page = counter.client().get(format!("{}/t/aoba-city/f/counter-booking", counter.url)).send().await.unwrap();
    assert!(offered_slots(&page.text().await.unwrap()).is_empty());
}
