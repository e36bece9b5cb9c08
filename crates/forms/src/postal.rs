//! Japan Post's postal-code table (KEN_ALL.CSV, 全国一括), parsed into one
//! row per (郵便番号, 町域) with its 都道府県 and 市区町村.
//!
//! The file has 15 columns per line; this reads column 3 (the 7-digit
//! code) and columns 7, 8, 9 (都道府県, 市区町村, 町域 in kanji), and
//! undoes the file's known quirks (`docs/postal.md`):
//! - 町域 `以下に掲載がない場合` (and `…の次に番地がくる場合`) means the
//!   code covers the whole city: the town is empty;
//! - a long 町域 is split over consecutive lines of the same code, its
//!   opening `（` on the first and the closing `）` on a later one: the lines
//!   are joined into one;
//! - parenthesised notes (`（次のビルを除く）`, `（地階・階層不明）`,
//!   `（１～１９丁目）`) are removed: they are not part of an address a
//!   resident writes;
//! - what is then the same code and town twice is kept once.
//!
//! Pure: it decodes and parses bytes it is given, no I/O.

use std::collections::HashSet;

/// One postal code and the place it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalRow {
    /// Seven ASCII digits, no hyphen.
    pub code: String,
    /// 都道府県.
    pub prefecture: String,
    /// 市区町村 (with 郡 where the file has it).
    pub city: String,
    /// 町域, empty when the code covers the whole city.
    pub town: String,
}

/// How the file's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 when the bytes are valid UTF-8, else Shift_JIS.
    #[default]
    Detect,
    Utf8,
    /// Shift_JIS (Japan Post's files), decoded as Windows-31J.
    ShiftJis,
}

impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Encoding, String> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "detect" | "auto" => Ok(Encoding::Detect),
            "utf8" => Ok(Encoding::Utf8),
            "sjis" | "shiftjis" | "cp932" | "windows31j" => Ok(Encoding::ShiftJis),
            _ => Err(format!("unknown encoding {s:?}: use utf8 or sjis")),
        }
    }
}

/// A malformed file, with the (1-based) line where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PostalError {
    pub line: usize,
    pub message: String,
}

fn malformed(line: usize, message: impl Into<String>) -> PostalError {
    PostalError { line, message: message.into() }
}

/// Decodes the file's bytes (a UTF-8 byte order mark is skipped).
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<String, PostalError> {
    let utf8 = || {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        std::str::from_utf8(bytes).map(str::to_owned)
    };
    match encoding {
        Encoding::Utf8 => utf8().map_err(|err| {
            let line = 1 + bytes[..err.valid_up_to()].iter().filter(|b| **b == b'\n').count();
            malformed(line, "not valid UTF-8 (try --encoding sjis)")
        }),
        Encoding::ShiftJis => shift_jis(bytes),
        Encoding::Detect => match utf8() {
            Ok(text) => Ok(text),
            Err(_) => shift_jis(bytes),
        },
    }
}

fn shift_jis(bytes: &[u8]) -> Result<String, PostalError> {
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
    if had_errors {
        let line = text.lines().position(|l| l.contains('\u{FFFD}')).map_or(1, |i| i + 1);
        return Err(malformed(line, "not valid Shift_JIS (try --encoding utf8)"));
    }
    Ok(text.into_owned())
}

/// The table's key for what a resident typed (`〒100-0001`, `１００－０００１`,
/// `1000001`): seven ASCII digits, or None.
pub fn lookup_key(typed: &str) -> Option<String> {
    crate::normalize_postal_code(typed).map(|code| code.replace('-', ""))
}

/// Decodes and parses a KEN_ALL file.
pub fn parse_bytes(bytes: &[u8], encoding: Encoding) -> Result<Vec<PostalRow>, PostalError> {
    parse(&decode(bytes, encoding)?)
}

/// Parses KEN_ALL's text: rows in file order, quirks undone, duplicates
/// dropped. An empty file gives no rows.
pub fn parse(text: &str) -> Result<Vec<PostalRow>, PostalError> {
    let mut out = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut emit = |row: PostalRow, out: &mut Vec<PostalRow>| {
        if seen.insert((row.code.clone(), row.town.clone())) {
            out.push(row);
        }
    };
    // A 町域 whose parenthesis is still open, waiting for its next lines.
    let mut pending: Option<PostalRow> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let row = parse_line(line, number)?;
        let row = match pending.take() {
            Some(mut open) if open.code == row.code => {
                open.town.push_str(&row.town);
                open
            }
            Some(open) => {
                // The code changed before the parenthesis closed: keep what
                // was there (its unclosed note is cut off by `clean_town`).
                emit(finish(open), &mut out);
                row
            }
            None => row,
        };
        if is_open(&row.town) {
            pending = Some(row);
        } else {
            emit(finish(row), &mut out);
        }
    }
    if let Some(open) = pending {
        emit(finish(open), &mut out);
    }
    Ok(out)
}

fn finish(mut row: PostalRow) -> PostalRow {
    row.town = clean_town(&row.town);
    row
}

/// More `（` than `）`: the 町域 goes on on the next line.
fn is_open(town: &str) -> bool {
    town.matches(['（', '(']).count() > town.matches(['）', ')']).count()
}

/// The 町域 as a resident writes it: notes in parentheses removed, the
/// "whole city" markers made empty.
fn clean_town(town: &str) -> String {
    let mut out = String::with_capacity(town.len());
    let mut depth = 0usize;
    for c in town.chars() {
        match c {
            '（' | '(' => depth += 1,
            '）' | ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out.trim();
    if out == "以下に掲載がない場合" || out.ends_with("の次に番地がくる場合") {
        return String::new();
    }
    out.to_owned()
}

fn parse_line(line: &str, number: usize) -> Result<PostalRow, PostalError> {
    let fields = split_csv(line).ok_or_else(|| malformed(number, "unbalanced quotes"))?;
    if fields.len() != 15 {
        return Err(malformed(number, format!("expected 15 columns (KEN_ALL layout), found {}", fields.len())));
    }
    let code = fields[2].trim();
    if code.len() != 7 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(number, format!("column 3 is not a 7-digit postal code: {code:?}")));
    }
    let prefecture = fields[6].trim();
    let city = fields[7].trim();
    if prefecture.is_empty() || city.is_empty() {
        return Err(malformed(number, "columns 7 and 8 (都道府県, 市区町村) must not be empty"));
    }
    Ok(PostalRow {
        code: code.to_owned(),
        prefecture: prefecture.to_owned(),
        city: city.to_owned(),
        town: fields[8].trim().to_owned(),
    })
}

/// Splits one CSV line: fields optionally in double quotes, `""` inside
/// quotes is a quote. None when a quote is left open.
fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A KEN_ALL line for `code` and `town` in 東京都千代田区.
    fn line(code: &str, pref: &str, city: &str, town: &str) -> String {
        format!(
            "13101,\"100  \",\"{code}\",\"ﾄｳｷｮｳﾄ\",\"ﾁﾖﾀﾞｸ\",\"ｶﾅ\",\"{pref}\",\"{city}\",\"{town}\",0,0,0,0,0,0\r\n"
        )
    }

    fn towns(rows: &[PostalRow]) -> Vec<(&str, &str)> {
        rows.iter().map(|r| (r.code.as_str(), r.town.as_str())).collect()
    }

    #[test]
    fn plain_rows_keep_their_columns() {
        let rows = parse(&line("1000001", "東京都", "千代田区", "千代田")).unwrap();
        assert_eq!(
            rows,
            [PostalRow {
                code: "1000001".into(),
                prefecture: "東京都".into(),
                city: "千代田区".into(),
                town: "千代田".into()
            }]
        );
    }

    #[test]
    fn not_listed_below_is_an_empty_town() {
        let rows = parse(&line("1000000", "東京都", "千代田区", "以下に掲載がない場合")).unwrap();
        assert_eq!(towns(&rows), [("1000000", "")]);
        let rows = parse(&line("0250000", "岩手県", "花巻市", "花巻市の次に番地がくる場合")).unwrap();
        assert_eq!(towns(&rows), [("0250000", "")]);
    }

    #[test]
    fn a_parenthesis_split_over_lines_is_joined_and_removed() {
        let text = [
            line("0600042", "北海道", "札幌市中央区", "大通西（１～１９丁目）"),
            line("0660005", "北海道", "千歳市", "協和（８８－２、２７１－１０、３４３－２、４０４－１、４２７－"),
            line("0660005", "北海道", "千歳市", "３、４３１－１２、４４３－６、６０８－２、６４１－８、８１４、"),
            line("0660005", "北海道", "千歳市", "８４２－５、１１３７－３、１３９２、１６５７、１７５２番地）"),
            line("0660006", "北海道", "千歳市", "駒里"),
        ]
        .concat();
        let rows = parse(&text).unwrap();
        assert_eq!(towns(&rows), [("0600042", "大通西"), ("0660005", "協和"), ("0660006", "駒里")]);
    }

    #[test]
    fn notes_in_parentheses_are_removed() {
        let text = [
            line("1600023", "東京都", "新宿区", "西新宿（次のビルを除く）"),
            line("1630690", "東京都", "新宿区", "西新宿新宿センタービル（地階・階層不明）"),
        ]
        .concat();
        let rows = parse(&text).unwrap();
        assert_eq!(towns(&rows), [("1600023", "西新宿"), ("1630690", "西新宿新宿センタービル")]);
    }

    #[test]
    fn duplicates_of_code_and_town_are_collapsed() {
        let text = [
            line("9960301", "山形県", "最上郡大蔵村", "南山（大字）"),
            line("9960301", "山形県", "最上郡大蔵村", "南山（その他）"),
            line("9960301", "山形県", "最上郡大蔵村", "清水"),
        ]
        .concat();
        let rows = parse(&text).unwrap();
        assert_eq!(towns(&rows), [("9960301", "南山"), ("9960301", "清水")]);
    }

    #[test]
    fn an_unclosed_parenthesis_ends_at_the_next_code() {
        let text =
            [line("1000001", "東京都", "千代田区", "千代田（途中"), line("1000002", "東京都", "千代田区", "皇居外苑")]
                .concat();
        let rows = parse(&text).unwrap();
        assert_eq!(towns(&rows), [("1000001", "千代田"), ("1000002", "皇居外苑")]);
    }

    #[test]
    fn shift_jis_is_decoded_and_utf8_is_detected() {
        let text = line("1000001", "東京都", "千代田区", "千代田");
        let (sjis, _, failed) = encoding_rs::SHIFT_JIS.encode(&text);
        assert!(!failed);
        let expected = parse(&text).unwrap();
        assert_eq!(parse_bytes(&sjis, Encoding::ShiftJis).unwrap(), expected);
        assert_eq!(parse_bytes(&sjis, Encoding::Detect).unwrap(), expected);
        assert_eq!(parse_bytes(text.as_bytes(), Encoding::Detect).unwrap(), expected);
        assert_eq!(parse_bytes(text.as_bytes(), Encoding::Utf8).unwrap(), expected);
        let err = parse_bytes(&sjis, Encoding::Utf8).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("UTF-8"));
    }

    #[test]
    fn malformed_lines_are_named() {
        let text = [line("1000001", "東京都", "千代田区", "千代田"), "1,2,3\n".into()].concat();
        let err = parse(&text).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("line 2: expected 15 columns"), "{err}");
        let err = parse(&line("10000", "東京都", "千代田区", "千代田")).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("7-digit"));
        let err = parse("\"unclosed,1\n").unwrap_err();
        assert_eq!(err.line, 1);
    }

    #[test]
    fn lookup_keys_are_seven_digits() {
        assert_eq!(lookup_key("〒100-0001").as_deref(), Some("1000001"));
        assert_eq!(lookup_key("１００－０００１").as_deref(), Some("1000001"));
        assert_eq!(lookup_key("1000001").as_deref(), Some("1000001"));
        assert_eq!(lookup_key("100-001"), None);
        assert_eq!(lookup_key("abc"), None);
    }

    #[test]
    fn encodings_parse_from_their_names() {
        assert_eq!("utf8".parse(), Ok(Encoding::Utf8));
        assert_eq!("UTF-8".parse(), Ok(Encoding::Utf8));
        assert_eq!("sjis".parse(), Ok(Encoding::ShiftJis));
        assert_eq!("Shift_JIS".parse(), Ok(Encoding::ShiftJis));
        assert!("latin1".parse::<Encoding>().is_err());
    }
}
