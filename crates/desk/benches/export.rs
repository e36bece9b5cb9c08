//! CSV export throughput: 100,000 records of the demo 水道使用開始届
//! (water-start) form, in each encoding, written to `io::sink`.
//!
//! `cargo bench -p desk --bench export`; rows/s is the figure to watch.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use desk::export::{CsvEncoding, CsvExport, ExportRow};
use forms::{FormDefinition, Lang, RawInput};
use time::macros::date;

const ROWS: usize = 100_000;
const STATUSES: [&str; 5] = ["received", "in_review", "completed", "returned", "rejected"];

/// A handful of realistic, varied payloads (one with characters Shift_JIS
/// lacks, one with a multiline note that needs quoting), as the counter
/// seals them.
fn payloads(def: &FormDefinition) -> Vec<serde_json::Value> {
    let today = date!(2026 - 11 - 25);
    let people = [
        ("山田 太郎", "ヤマダ タロウ", "transfer", "house", "", "2026-12-01"),
        (
            "佐藤 花子",
            "サトウ ハナコ",
            "slip",
            "apartment",
            "メーターは玄関横にあります。\n前の使用者：鈴木様",
            "2026-11-30",
        ),
        (
            "𠮷田 一郎",
            "ヨシダ イチロウ",
            "transfer",
            "business",
            "開栓の立会いを希望します（平日、午前）。🙏",
            "令和8年12月24日",
        ),
        ("髙橋 美咲", "タカハシ ミサキ", "slip", "apartment", "\"至急\" でお願いします", "2027-01-05"),
    ];
    people
        .iter()
        .enumerate()
        .map(|(i, (name, kana, payment, dwelling, notes, start))| {
            let email = format!("user{i}@example.jp");
            let input = RawInput::from_pairs([
                ("applicant", *name),
                ("applicant.kana", *kana),
                ("phone", "090-1234-5678"),
                ("email", email.as_str()),
                ("email.confirm", email.as_str()),
                ("property.postal", "100-0001"),
                ("property.region", "東京都千代田区"),
                ("property.line", "千代田1-1 メゾン窓口 203号室"),
                ("dwelling", *dwelling),
                ("start_date", *start),
                ("payment", *payment),
                ("bank_name", "まどぐち銀行"),
                ("notes", *notes),
                ("consent", "yes"),
            ]);
            let submission = def.validate(&input, today).expect("the bench input is valid");
            serde_json::to_value(&submission).expect("a submission is JSON")
        })
        .collect()
}

fn export_all(def: &FormDefinition, payloads: &[serde_json::Value], encoding: CsvEncoding) -> u64 {
    let mut export = CsvExport::new(def, encoding, Lang::Ja);
    let mut sink = std::io::sink();
    sink.write_all(&export.header()).expect("sink");
    for i in 0..ROWS {
        let receipt = format!("2026-{:06}", i + 1);
        let row = ExportRow {
            receipt: &receipt,
            received_at: 1_795_000_000 + i as i64 * 37,
            status: STATUSES[i % STATUSES.len()],
            form_version: 1 + (i % 3) as i64,
            payload: &payloads[i % payloads.len()],
        };
        sink.write_all(&export.row(black_box(&row))).expect("sink");
    }
    export.replaced_characters()
}

fn bench_export(c: &mut Criterion) {
    let def = FormDefinition::parse(include_str!("../../../demo/forms/water-start.toml")).expect("demo form parses");
    let payloads = payloads(&def);
    let mut group = c.benchmark_group("csv_export_water_start");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(ROWS as u64));
    for (name, encoding) in [("utf8_bom", CsvEncoding::Utf8Bom), ("shift_jis", CsvEncoding::ShiftJis)] {
        group.bench_function(name, |b| b.iter(|| export_all(&def, &payloads, encoding)));
    }
    group.finish();
}

criterion_group!(benches, bench_export);
criterion_main!(benches);
