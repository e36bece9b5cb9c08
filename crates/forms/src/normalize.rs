//! Normalisation of what residents type: full-width and half-width forms,
//! kana, postal codes, phone numbers and e-mail addresses.
//!
//! Residents type with Japanese IMEs, so the same answer arrives as
//! `１２３`, `123` or `１２３` with an ideographic space; everything is
//! compared and stored after NFKC so that these are one answer.

use unicode_normalization::UnicodeNormalization;

/// NFKC, then trim. Full-width ASCII becomes half-width, half-width katakana
/// becomes full-width, the ideographic space becomes a plain space.
pub fn nfkc(s: &str) -> String {
    let n: String = s.nfkc().collect();
    n.trim().to_string()
}

/// True when `s` is a reading (フリガナ): katakana, hiragana, `ー`, `・` and
/// spaces only, with at least one kana. `・` is allowed because foreign
/// residents' names are written `ジョン・スミス`.
pub fn is_furigana(s: &str) -> bool {
    let s = nfkc(s);
    let mut any_kana = false;
    for c in s.chars() {
        if is_kana(c) {
            any_kana = true;
        } else if !(c == 'ー' || c == '・' || c.is_whitespace()) {
            return false;
        }
    }
    any_kana
}

fn is_kana(c: char) -> bool {
    matches!(c,
        '\u{3041}'..='\u{3096}' // ぁ..ゖ
        | '\u{309D}'..='\u{309E}' // ゝゞ
        | '\u{30A1}'..='\u{30FA}' // ァ..ヺ
        | '\u{30FD}'..='\u{30FE}' // ヽヾ
    )
}

/// Hiragana to katakana, everything else unchanged (readings are stored in
/// katakana whatever the resident typed).
pub(crate) fn to_katakana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309E}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Runs of whitespace become one space.
pub(crate) fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Characters residents (and IMEs) use for a hyphen in numbers: after NFKC
/// the full-width `－` is already `-`, but `ー`, `−`, `‐`, `–`, `—`, `―`
/// and the box-drawing `─` remain.
pub(crate) fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | 'ー'
            | '\u{2010}'
            | '\u{2011}'
            | '\u{2012}'
            | '\u{2013}'
            | '\u{2014}'
            | '\u{2015}'
            | '\u{2212}'
            | '\u{2500}'
            | '\u{FE63}'
    )
}

/// Any dash-like character between two ASCII digits becomes `-`
/// (`1ー2ー3` in an address line is `1-2-3`).
pub(crate) fn hyphens_between_digits(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let prev_digit = i > 0 && chars[i - 1].is_ascii_digit();
        let next_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if is_dash(c) && prev_digit && next_digit {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

/// A 〒 postal code as `123-4567`; accepts `〒123-4567`, `1234567`,
/// full-width digits and any dash a keyboard produces.
pub fn normalize_postal_code(s: &str) -> Option<String> {
    let s = nfkc(s);
    let s = s.strip_prefix('〒').unwrap_or(&s);
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let chars: Vec<char> = s.chars().collect();
    let digits: String = match chars.len() {
        7 if chars.iter().all(char::is_ascii_digit) => s,
        8 if is_dash(chars[3])
            && chars[..3].iter().all(char::is_ascii_digit)
            && chars[4..].iter().all(char::is_ascii_digit) =>
        {
            chars[..3].iter().chain(&chars[4..]).collect()
        }
        _ => return None,
    };
    Some(format!("{}-{}", &digits[..3], &digits[3..]))
}

/// A Japanese phone number as digits only (`0312345678`). Accepts hyphens,
/// spaces, parentheses and `+81`. Mobile, IP and similar numbers
/// (020/050/060/070/080/090 and 0800) have 11 digits, all others 10.
pub fn normalize_phone(s: &str) -> Option<String> {
    let s = nfkc(s);
    let s: String = s.chars().filter(|&c| !(c.is_whitespace() || is_dash(c) || c == '.')).collect();
    let s = if let Some(rest) = s.strip_prefix("+81") {
        // "+81 (0)3 …" and "+81 03 …" both occur.
        let rest = rest.strip_prefix("(0)").unwrap_or(rest);
        let rest = rest.strip_prefix('0').unwrap_or(rest);
        format!("0{rest}")
    } else {
        s
    };
    let digits: String = s.chars().filter(|&c| c != '(' && c != ')').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !digits.starts_with('0') {
        return None;
    }
    if digits.starts_with("00") {
        return None;
    }
    let eleven = is_eleven_digit_prefix(&digits);
    match digits.len() {
        11 if eleven => Some(digits),
        10 if !eleven => Some(digits),
        _ => None,
    }
}

fn is_eleven_digit_prefix(digits: &str) -> bool {
    ["020", "050", "060", "070", "080", "090", "0800"].iter().any(|p| digits.starts_with(p))
}

/// Digits with hyphens where the grouping is unambiguous (mobile, 03/06,
/// free dial); other numbers are returned as digits because the split of
/// a local area code cannot be known without the full numbering plan.
pub(crate) fn format_phone(digits: &str) -> String {
    let ascii = digits.is_ascii() && digits.chars().all(|c| c.is_ascii_digit());
    if !ascii {
        return digits.to_string();
    }
    let split = |a: usize, b: usize| format!("{}-{}-{}", &digits[..a], &digits[a..a + b], &digits[a + b..]);
    match digits.len() {
        11 if digits.starts_with("0800") => split(4, 3),
        11 if ["020", "050", "060", "070", "080", "090"].iter().any(|p| digits.starts_with(p)) => split(3, 4),
        10 if digits.starts_with("0120") || digits.starts_with("0570") => split(4, 3),
        10 if digits.starts_with("03") || digits.starts_with("06") => split(2, 4),
        _ => digits.to_string(),
    }
}

/// A plausible e-mail address, domain lowercased. Deliberately lenient on
/// the local part: older Japanese mobile addresses contain `..` or end in
/// `.` and are still in use.
pub fn normalize_email(s: &str) -> Option<String> {
    let s = nfkc(s);
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (local, domain) = s.split_once('@')?;
    if domain.contains('@') || local.is_empty() || local.len() > 64 {
        return None;
    }
    let local_ok = local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    if !local_ok {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return None;
    }
    let tld = labels.last()?;
    if tld.len() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("{local}@{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfkc_normalises_width_and_trims() {
        let cases = [
            ("ｙａｍａｄａ", "yamada"),
            ("１２３", "123"),
            ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),
            ("　山田　太郎　", "山田 太郎"),
            ("ＡＢＣ－１", "ABC-1"),
            ("㍻", "平成"),
            ("  plain  ", "plain"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(nfkc(input), want, "nfkc({input:?})");
        }
    }

    #[test]
    fn furigana_accepts_kana_only() {
        let cases = [
            ("ヤマダ タロウ", true),
            ("やまだ たろう", true),
            ("ﾔﾏﾀﾞ ﾀﾛｳ", true),
            ("ヤマダ　タロウ", true),
            ("ジョン・スミス", true),
            ("サトー", true),
            ("山田", false),
            ("yamada", false),
            ("ヤマダ1", false),
            ("", false),
            ("ー", false),
            ("   ", false),
        ];
        for (input, want) in cases {
            assert_eq!(is_furigana(input), want, "is_furigana({input:?})");
        }
    }

    #[test]
    fn hiragana_becomes_katakana() {
        assert_eq!(to_katakana("やまだ たろう"), "ヤマダ タロウ");
        assert_eq!(to_katakana("ゔぁ ゝゞ"), "ヴァ ヽヾ");
        assert_eq!(to_katakana("カタカナ"), "カタカナ");
    }

    #[test]
    fn postal_codes() {
        let cases = [
            ("123-4567", Some("123-4567")),
            ("〒123-4567", Some("123-4567")),
            ("〒 123-4567", Some("123-4567")),
            ("1234567", Some("123-4567")),
            ("１２３－４５６７", Some("123-4567")),
            ("１２３４５６７", Some("123-4567")),
            ("123ー4567", Some("123-4567")),
            ("123−4567", Some("123-4567")),
            ("123 4567", Some("123-4567")),
            ("12-34567", None),
            ("123456", None),
            ("12345678", None),
            ("123-456a", None),
            ("", None),
            ("〒", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_postal_code(input).as_deref(), want, "normalize_postal_code({input:?})");
        }
    }

    #[test]
    fn phones() {
        let cases = [
            ("03-1234-5678", Some("0312345678")),
            ("090 1234 5678", Some("09012345678")),
            ("(03)1234-5678", Some("0312345678")),
            ("03(1234)5678", Some("0312345678")),
            ("+81 3 1234 5678", Some("0312345678")),
            ("+81-90-1234-5678", Some("09012345678")),
            ("+81 (0)3 1234 5678", Some("0312345678")),
            ("０３－１２３４－５６７８", Some("0312345678")),
            ("0120-123-456", Some("0120123456")),
            ("0800-123-4567", Some("08001234567")),
            ("045-123-4567", Some("0451234567")),
            ("0312345678", Some("0312345678")),
            ("031234567", None),
            ("03123456789", None),
            ("0901234567", None),
            ("1234567890", None),
            ("0012345678", None),
            ("03-1234-567a", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_phone(input).as_deref(), want, "normalize_phone({input:?})");
        }
    }

    #[test]
    fn phones_are_displayed_with_hyphens_when_unambiguous() {
        let cases = [
            ("0312345678", "03-1234-5678"),
            ("09012345678", "090-1234-5678"),
            ("0120123456", "0120-123-456"),
            ("08001234567", "0800-123-4567"),
            ("0451234567", "0451234567"),
        ];
        for (digits, want) in cases {
            assert_eq!(format_phone(digits), want);
        }
    }

    #[test]
    fn emails() {
        let cases = [
            ("taro@example.jp", Some("taro@example.jp")),
            ("  taro@Example.JP ", Some("taro@example.jp")),
            ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", Some("taro@example.jp")),
            ("Taro.Yamada+city@mail.example.co.jp", Some("Taro.Yamada+city@mail.example.co.jp")),
            ("taro..yamada.@docomo.ne.jp", Some("taro..yamada.@docomo.ne.jp")),
            ("taro@localhost", None),
            ("taro@@example.jp", None),
            ("taro@exa@mple.jp", None),
            ("taro yamada@example.jp", None),
            ("@example.jp", None),
            ("taro@", None),
            ("taro@.jp", None),
            ("taro@example..jp", None),
            ("taro@-example.jp", None),
            ("taro@example.1", None),
            ("たろう@example.jp", None),
            ("taro@例え.jp", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_email(input).as_deref(), want, "normalize_email({input:?})");
        }
    }

    #[test]
    fn dashes_between_digits_become_hyphens() {
        assert_eq!(hyphens_between_digits("千代田1ー1ー1"), "千代田1-1-1");
        assert_eq!(hyphens_between_digits("メゾン・ハイツ101"), "メゾン・ハイツ101");
        assert_eq!(hyphens_between_digits("コーポ2−3"), "コーポ2-3");
    }
}
