//! Horizontal bar charts as inline SVG, drawn on the server: no JavaScript
//! and no `style` attribute (the desk's CSP allows neither), only SVG
//! presentation attributes (`fill`, `x`, `width` …), which CSP does not
//! govern.
//!
//! Accessible: the chart is `role="img"` named by its `<title>`
//! (`aria-labelledby`) and described by a `<desc>` holding every figure;
//! the page shows the same figures in a table beside it. Colours: bars
//! #0b4f8a (8.6:1 on white, ≥ 3:1 for graphics), "not answered" #595959
//! (7.0:1), text #1a1a1a (17:1, ≥ 4.5:1).
//!
//! Every text that goes in is escaped here: labels are written by form
//! administrators (and, on a prefecture's template, by someone else).

use std::fmt::Write as _;

use forms::Lang;

use crate::results::format_percent;

/// Bars and text, and the page's own text colour.
const BAR: &str = "#0b4f8a";
const MUTED_BAR: &str = "#595959";
const TEXT: &str = "#1a1a1a";

/// The drawing's width (it scales to the page: the stylesheet sets the
/// width, the viewBox keeps the proportions). About a phone's width, so
/// the text stays about the page's size there (desk.css caps it at 25rem
/// on wider screens for the same reason).
const WIDTH: u32 = 360;
/// The longest bar (100 %): the rest of the width is for its figures
/// ("5000件（100.0%）" is about 126 units long).
const BAR_MAX: f64 = 220.0;
const ROW: u32 = 50;
const FONT: u32 = 15;
/// Labels longer than this are shortened in the drawing (the table beside
/// it and the description keep them whole).
const LABEL_CHARS: usize = 23;

/// One bar: an option or a scale point.
#[derive(Debug, Clone, Copy)]
pub struct Bar<'a> {
    pub label: &'a str,
    pub count: u64,
    /// 0–100; a bar is as long as its share of the base.
    pub percent: f64,
    /// "Not answered": drawn in grey.
    pub muted: bool,
}

/// `12件（40.0%）` / `12 (40.0%)`.
pub fn figures(count: u64, percent: f64, lang: Lang) -> String {
    let p = format_percent(percent);
    match lang {
        Lang::Ja => format!("{count}件（{p}%）"),
        Lang::En => format!("{count} ({p}%)"),
    }
}

/// An SVG bar chart, one row per bar: the label, then the bar with its
/// count and percentage after it. `id` makes the ids of its title and
/// description unique on the page.
pub fn bar_chart(id: &str, title: &str, bars: &[Bar<'_>], lang: Lang) -> String {
    let id = escape(id);
    let height = ROW * bars.len().max(1) as u32 + 4;
    let mut svg = String::with_capacity(512 + bars.len() * 400);
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-labelledby=\"{id}-title\" \
         aria-describedby=\"{id}-desc\" focusable=\"false\">"
    );
    let _ = write!(svg, "<title id=\"{id}-title\">{}</title>", escape(title));
    let described: Vec<String> =
        bars.iter().map(|b| format!("{}: {}", b.label, figures(b.count, clean(b.percent), lang))).collect();
    let separator = if lang == Lang::Ja { "、" } else { "; " };
    let _ = write!(svg, "<desc id=\"{id}-desc\">{}</desc>", escape(&described.join(separator)));
    let _ = write!(svg, "<g font-size=\"{FONT}\" fill=\"{TEXT}\">");
    for (i, bar) in bars.iter().enumerate() {
        let top = ROW * i as u32;
        let percent = clean(bar.percent);
        let length = BAR_MAX * percent / 100.0;
        let _ = write!(svg, "<text x=\"0\" y=\"{}\">{}</text>", top + 17, escape(&shorten(bar.label)));
        if length > 0.0 {
            let fill = if bar.muted { MUTED_BAR } else { BAR };
            let _ = write!(
                svg,
                "<rect x=\"0\" y=\"{}\" width=\"{length:.1}\" height=\"18\" fill=\"{fill}\"></rect>",
                top + 24
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\">{}</text>",
            length + 6.0,
            top + 38,
            escape(&figures(bar.count, percent, lang))
        );
    }
    // The axis the bars start from.
    let _ = write!(svg, "</g><line x1=\"0.5\" y1=\"22\" x2=\"0.5\" y2=\"{height}\" stroke=\"#6b6b6b\"></line></svg>");
    svg
}

/// A share as drawn: 0–100, and 0 for what is not a number.
fn clean(percent: f64) -> f64 {
    if percent.is_finite() {
        percent.clamp(0.0, 100.0)
    } else {
        0.0
    }
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_owned()
    } else {
        let mut short: String = label.chars().take(LABEL_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// Escapes text for SVG (XML) content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, count: u64, percent: f64) -> Bar<'_> {
        Bar { label, count, percent, muted: false }
    }

    #[test]
    fn labels_and_titles_are_escaped() {
        let svg = bar_chart("q1", "A <b>&\"title\"", &[bar("<script>&\"x\"'", 1, 50.0)], Lang::Ja);
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;&amp;&quot;x&quot;&#39;"), "{svg}");
        assert!(svg.contains("<title id=\"q1-title\">A &lt;b&gt;&amp;&quot;title&quot;</title>"), "{svg}");
        let svg = bar_chart("a\"b", "t", &[], Lang::Ja);
        assert!(svg.contains("aria-labelledby=\"a&quot;b-title\""), "{svg}");
    }

    #[test]
    fn the_chart_is_an_image_named_by_its_title_and_described_by_its_figures() {
        let svg = bar_chart("age", "年代", &[bar("29歳以下", 2, 33.33), bar("30〜49歳", 4, 66.67)], Lang::Ja);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\"") && svg.contains("aria-labelledby=\"age-title\""));
        assert!(svg.contains("<desc id=\"age-desc\">29歳以下: 2件（33.3%）、30〜49歳: 4件（66.7%）</desc>"), "{svg}");
        assert!(svg.contains(">29歳以下</text>") && svg.contains(">4件（66.7%）</text>"), "{svg}");
        assert!(!svg.contains("style="), "no style attribute under the CSP");
        let en = bar_chart("age", "Age", &[bar("29 or under", 2, 33.33)], Lang::En);
        assert!(en.contains(">2 (33.3%)</text>"), "{en}");
    }

    #[test]
    fn zero_answers_draw_no_bar_and_no_nan() {
        let svg = bar_chart("q", "t", &[bar("a", 0, 0.0), bar("b", 0, f64::NAN)], Lang::Ja);
        assert!(!svg.contains("<rect"), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert_eq!(svg.matches(">0件（0.0%）</text>").count(), 2, "{svg}");
        let empty = bar_chart("q", "t", &[], Lang::Ja);
        assert!(empty.contains("viewBox=\"0 0 360 54\""), "{empty}");
    }

    #[test]
    fn a_hundred_percent_is_the_longest_bar_and_nothing_goes_past_it() {
        let svg = bar_chart("q", "t", &[bar("all", 6, 100.0), bar("over", 7, 140.0)], Lang::Ja);
        assert_eq!(svg.matches("width=\"220.0\"").count(), 2, "clamped to 100 %: {svg}");
        assert!(svg.contains(">6件（100.0%）</text>"));
    }

    #[test]
    fn not_answered_is_grey_and_long_labels_are_shortened_in_the_drawing_only() {
        let long = "とても長い選択肢のラベルで二十三文字を超えるものはこのように短くなります";
        let svg = bar_chart("q", "t", &[Bar { label: long, count: 1, percent: 10.0, muted: true }], Lang::Ja);
        assert!(svg.contains(&format!("fill=\"{MUTED_BAR}\"")));
        assert!(svg.contains("…</text>"), "{svg}");
        assert!(svg.contains(&format!("<desc id=\"q-desc\">{long}: ")), "the description keeps it whole");
    }
}
