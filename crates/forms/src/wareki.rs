//! Dates as residents in Japan write them: 和暦 (令和6年4月1日, R6.4.1,
//! 平成31年4月30日, 令和元年) or 西暦 (2024-04-01, 2024/4/1, 2024年4月1日).
//!
//! Era dates are checked against the era's real span, because a date such as
//! 平成31年5月1日 does not exist (令和 began that day) and accepting it would
//! hide a typing mistake in a birth date.

use time::{Date, Month};

use crate::normalize::nfkc;
use crate::Lang;

struct Era {
    kanji: &'static str,
    letter: char,
    /// Gregorian year of the era's year 1, minus one.
    offset: i32,
    /// First day of the era (proleptic Gregorian).
    start: (i32, u8, u8),
}

/// Oldest first. 明治 is taken from its proclamation (1868-10-23); dates
/// before the 1873 calendar reform are treated as Gregorian.
const ERAS: [Era; 5] = [
    Era { kanji: "明治", letter: 'M', offset: 1867, start: (1868, 10, 23) },
    Era { kanji: "大正", letter: 'T', offset: 1911, start: (1912, 7, 30) },
    Era { kanji: "昭和", letter: 'S', offset: 1925, start: (1926, 12, 25) },
    Era { kanji: "平成", letter: 'H', offset: 1988, start: (1989, 1, 8) },
    Era { kanji: "令和", letter: 'R', offset: 2018, start: (2019, 5, 1) },
];

fn ymd(year: i32, month: u32, day: u32) -> Option<Date> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

fn era_start(era: &Era) -> Option<Date> {
    let (y, m, d) = era.start;
    ymd(y, m.into(), d.into())
}

/// Parses a date typed by a resident, 和暦 or 西暦, full-width or not.
/// Returns `None` for anything that is not a real date (2月30日) or not a
/// date of the era named (平成31年5月1日).
pub fn parse_date(s: &str) -> Option<Date> {
    let s: String = nfkc(s).chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(rest) = s.strip_prefix("西暦") {
        return parse_western(rest);
    }
    if let Some((index, rest)) = strip_era(&s) {
        let era = ERAS.get(index)?;
        let (year, month, day) = parse_ymd(rest, true)?;
        if year == 0 {
            return None;
        }
        let date = ymd(era.offset.checked_add(i32::try_from(year).ok()?)?, month, day)?;
        let starts = era_start(era)?;
        let next = match ERAS.get(index + 1) {
            Some(next) => Some(era_start(next)?),
            None => None,
        };
        if date < starts || next.is_some_and(|n| date >= n) {
            return None;
        }
        return Some(date);
    }
    parse_western(&s)
}

fn parse_western(s: &str) -> Option<Date> {
    if s.len() == 8 && s.chars().all(|c| c.is_ascii_digit()) {
        let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
        return ymd(i32::try_from(n(0..4)?).ok()?, n(4..6)?, n(6..8)?);
    }
    let (year, month, day) = parse_ymd(s, false)?;
    ymd(i32::try_from(year).ok()?, month, day)
}

/// The era index and what follows the era name: kanji (令和), a single
/// kanji (令), or a letter (R, r).
fn strip_era(s: &str) -> Option<(usize, &str)> {
    for (i, era) in ERAS.iter().enumerate() {
        if let Some(rest) = s.strip_prefix(era.kanji) {
            return Some((i, rest));
        }
    }
    for (i, era) in ERAS.iter().enumerate() {
        let single = era.kanji.chars().next()?;
        if let Some(rest) = s.strip_prefix(single) {
            return Some((i, rest));
        }
    }
    let first = s.chars().next()?;
    let index = ERAS.iter().position(|e| e.letter == first.to_ascii_uppercase())?;
    Some((index, &s[first.len_utf8()..]))
}

/// `Y年M月D日` or `Y<sep>M<sep>D` with one of `. / -` as the separator.
/// Era years may be `元` and have at most three digits; Western years
/// have exactly four.
fn parse_ymd(s: &str, era: bool) -> Option<(u32, u32, u32)> {
    let (year, rest) = if let Some(rest) = s.strip_prefix('元').filter(|_| era) {
        (1, rest)
    } else {
        let (digits, rest) = take_digits(s);
        let ok = if era { (1..=3).contains(&digits.len()) } else { digits.len() == 4 };
        if !ok {
            return None;
        }
        (digits.parse().ok()?, rest)
    };
    let sep = rest.chars().next()?;
    let rest = &rest[sep.len_utf8()..];
    let (month, rest) = take_number(rest)?;
    let (day, tail) = if sep == '年' {
        let rest = rest.strip_prefix('月')?;
        let (day, rest) = take_number(rest)?;
        (day, rest.strip_prefix('日').unwrap_or(rest))
    } else if matches!(sep, '.' | '/' | '-') {
        let rest = rest.strip_prefix(sep)?;
        take_number(rest)?
    } else {
        return None;
    };
    if !tail.is_empty() {
        return None;
    }
    Some((year, month, day))
}

fn take_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// One or two digits for a month or a day.
fn take_number(s: &str) -> Option<(u32, &str)> {
    let (digits, rest) = take_digits(s);
    if !(1..=2).contains(&digits.len()) {
        return None;
    }
    Some((digits.parse().ok()?, rest))
}

/// The era and year of a date: "令和6年", "令和元年" for year 1. `None`
/// before 明治.
pub fn era_year(d: Date) -> Option<String> {
    let era = ERAS.iter().rev().find(|e| era_start(e).is_some_and(|s| d >= s))?;
    let year = d.year() - era.offset;
    Some(if year == 1 { format!("{}元年", era.kanji) } else { format!("{}{}年", era.kanji, year) })
}

/// A date for residents to read: "2024年4月1日（令和6年）" in Japanese,
/// "1 April 2024" in English.
pub fn display_date(d: Date, lang: Lang) -> String {
    match lang {
        Lang::Ja => {
            let western = format!("{}年{}月{}日", d.year(), u8::from(d.month()), d.day());
            match era_year(d) {
                Some(era) => format!("{western}（{era}）"),
                None => western,
            }
        }
        Lang::En => format!("{} {} {}", d.day(), d.month(), d.year()),
    }
}

/// Parses a stored ISO 8601 date (`2024-04-01`), as found in
/// [`crate::Value::Date`] and in definition bounds.
pub fn parse_iso(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if part.chars().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    ymd(i32::try_from(n(0..4)?).ok()?, n(5..7)?, n(8..10)?)
}

/// ISO 8601 (`2024-04-01`), the stored form of a date.
pub fn to_iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn parses_what_residents_type() {
        let cases: &[(&str, Option<Date>)] = &[
            // 西暦
            ("2024-04-01", Some(date!(2024 - 04 - 01))),
            ("2024/4/1", Some(date!(2024 - 04 - 01))),
            ("2024.4.1", Some(date!(2024 - 04 - 01))),
            ("2024年4月1日", Some(date!(2024 - 04 - 01))),
            ("2024年4月1", Some(date!(2024 - 04 - 01))),
            ("西暦2024年4月1日", Some(date!(2024 - 04 - 01))),
            ("20240401", Some(date!(2024 - 04 - 01))),
            ("２０２４年４月１日", Some(date!(2024 - 04 - 01))),
            ("２０２４／０４／０１", Some(date!(2024 - 04 - 01))),
            (" 2024 年 4 月 1 日 ", Some(date!(2024 - 04 - 01))),
            // 和暦
            ("令和6年4月1日", Some(date!(2024 - 04 - 01))),
            ("R6.4.1", Some(date!(2024 - 04 - 01))),
            ("r6.4.1", Some(date!(2024 - 04 - 01))),
            ("R06/04/01", Some(date!(2024 - 04 - 01))),
            ("R6-4-1", Some(date!(2024 - 04 - 01))),
            ("令6.4.1", Some(date!(2024 - 04 - 01))),
            ("令和６年４月１日", Some(date!(2024 - 04 - 01))),
            ("㋿6年4月1日", Some(date!(2024 - 04 - 01))),
            ("Ｒ６．４．１", Some(date!(2024 - 04 - 01))),
            ("大正15年12月24日", Some(date!(1926 - 12 - 24))),
            ("T1.7.30", Some(date!(1912 - 07 - 30))),
            ("明治45年7月29日", Some(date!(1912 - 07 - 29))),
            ("M45.7.30", None),
            ("昭和元年12月25日", Some(date!(1926 - 12 - 25))),
            ("昭和元年12月24日", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_date(input), *want, "parse_date({input:?})");
        }
    }

    #[test]
    fn era_boundaries() {
        let cases: &[(&str, Option<Date>)] = &[
            ("平成31年4月30日", Some(date!(2019 - 04 - 30))),
            ("平成31年5月1日", None),
            ("H31.4.30", Some(date!(2019 - 04 - 30))),
            ("H31.5.1", None),
            ("令和元年5月1日", Some(date!(2019 - 05 - 01))),
            ("令和1年5月1日", Some(date!(2019 - 05 - 01))),
            ("令和元年4月30日", None),
            ("令和1年4月30日", None),
            ("R1.5.1", Some(date!(2019 - 05 - 01))),
            ("R1.4.30", None),
            ("昭和64年1月7日", Some(date!(1989 - 01 - 07))),
            ("昭和64年1月8日", None),
            ("S64.1.7", Some(date!(1989 - 01 - 07))),
            ("平成元年1月8日", Some(date!(1989 - 01 - 08))),
            ("平成元年1月7日", None),
            ("令和0年5月1日", None),
            ("令和元.5.1", Some(date!(2019 - 05 - 01))),
        ];
        for (input, want) in cases {
            assert_eq!(parse_date(input), *want, "parse_date({input:?})");
        }
    }

    #[test]
    fn rejects_impossible_dates() {
        let cases: &[(&str, Option<Date>)] = &[
            ("2024年2月29日", Some(date!(2024 - 02 - 29))),
            ("2023年2月29日", None),
            ("2000-02-29", Some(date!(2000 - 02 - 29))),
            ("1900-02-29", None),
            ("令和6年2月29日", Some(date!(2024 - 02 - 29))),
            ("令和5年2月29日", None),
            ("2024年2月30日", None),
            ("2024年13月1日", None),
            ("2024-13-01", None),
            ("2024年4月0日", None),
            ("2024年0月1日", None),
            ("2024年4月31日", None),
            ("20240230", None),
            ("24-04-01", None),
            ("2024-04", None),
            ("2024/4-1", None),
            ("2024年4月1日x", None),
            ("令和", None),
            ("X6.4.1", None),
            ("", None),
            ("きのう", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_date(input), *want, "parse_date({input:?})");
        }
    }

    #[test]
    fn era_years() {
        let cases = [
            (date!(2024 - 04 - 01), Some("令和6年")),
            (date!(2019 - 05 - 01), Some("令和元年")),
            (date!(2019 - 04 - 30), Some("平成31年")),
            (date!(1989 - 01 - 08), Some("平成元年")),
            (date!(1989 - 01 - 07), Some("昭和64年")),
            (date!(1926 - 12 - 25), Some("昭和元年")),
            (date!(1912 - 07 - 30), Some("大正元年")),
            (date!(1868 - 10 - 23), Some("明治元年")),
            (date!(1868 - 10 - 22), None),
        ];
        for (d, want) in cases {
            assert_eq!(era_year(d).as_deref(), want, "era_year({d})");
        }
    }

    #[test]
    fn display_and_iso() {
        let d = date!(2024 - 04 - 01);
        assert_eq!(display_date(d, Lang::Ja), "2024年4月1日（令和6年）");
        assert_eq!(display_date(d, Lang::En), "1 April 2024");
        assert_eq!(to_iso(d), "2024-04-01");
        assert_eq!(parse_iso("2024-04-01"), Some(d));
        assert_eq!(parse_iso("2024-4-1"), None);
        assert_eq!(parse_iso("2024-02-30"), None);
        assert_eq!(parse_iso("２０２４-04-01"), None);
    }
}
