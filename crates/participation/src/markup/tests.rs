use super::*;

/// Strings from the OWASP XSS Filter Evasion Cheat Sheet (and the usual
/// Markdown-specific ones): none may come out as anything but text or an
/// allow-listed tag.
const OWASP: &[&str] = &[
    "<SCRIPT SRC=https://cdn.jsdelivr.net/gh/Moksh45/host-xss.rocks/index.js></SCRIPT>",
    "javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(1)//'>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=javascript:alert('XSS')>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    "\\<a onmouseover=\"alert(document.cookie)\"\\>xxs link\\</a\\>",
    "<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\"\\>",
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    "<IMG SRC= onmouseover=\"alert('xxs')\">",
    "<IMG onmouseover=\"alert('xxs')\">",
    "<IMG SRC=/ onerror=\"alert(String.fromCharCode(88,83,83))\"></img>",
    "<img src=x onerror=\"&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041\">",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x27&#x58&#x53&#x53&#x27&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    "<SCRIPT/XSS SRC=\"http://xss.rocks/xss.js\"></SCRIPT>",
    "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert(\"XSS\")>",
    "<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
    "<SCRIPT SRC=http://xss.rocks/xss.js?< B >",
    "<SCRIPT SRC=//xss.rocks/.j>",
    "<IMG SRC=\"`<javascript:alert>`('XSS')\"",
    "<iframe src=http://xss.rocks/scriptlet.html <",
    "</TITLE><SCRIPT>alert(\"XSS\");</SCRIPT>",
    "<INPUT TYPE=\"IMAGE\" SRC=\"javascript:alert('XSS');\">",
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<svg/onload=alert('XSS')>",
    "<BODY ONLOAD=alert('XSS')>",
    "<BGSOUND SRC=\"javascript:alert('XSS');\">",
    "<LINK REL=\"stylesheet\" HREF=\"javascript:alert('XSS');\">",
    "<STYLE>@import'http://xss.rocks/xss.css';</STYLE>",
    "<META HTTP-EQUIV=\"Link\" Content=\"<http://xss.rocks/xss.css>; REL=stylesheet\">",
    "<IMG STYLE=\"xss:expr/*XSS*/ession(alert('XSS'))\">",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert('XSS');\">",
    "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=data:text/html base64,PHNjcmlwdD5hbGVydCgnWFNTJyk8L3NjcmlwdD4K\">",
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<FRAMESET><FRAME SRC=\"javascript:alert('XSS');\"></FRAMESET>",
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\">",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">",
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    "<OBJECT TYPE=\"text/x-scriptlet\" DATA=\"http://xss.rocks/scriptlet.html\"></OBJECT>",
    "<EMBED SRC=\"data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dH A6Ly93d3cudzMub3JnLzIwMDAvc3ZnIiB4bWxucz0iaHR0cDovL3d3dy53My5vcmcv MjAwMC9zdmciIHhtbG5zOnhsaW5rPSJodHRwOi8vd3d3LnczLm9yZy8xOTk5L3hs aW5rIiB2ZXJzaW9uPSIxLjAiIHg9IjAiIHk9IjAiIHdpZHRoPSIxOTQiIGhlaWdodD0iMjAw IiBpZD0ieHNzIj48c2NyaXB0IHR5cGU9InRleHQvZWNtYXNjcmlwdCI+YWxlcnQoIlh TUyIpOzwvc2NyaXB0Pjwvc3ZnPg==\" type=\"image/svg+xml\" AllowScriptAccess=\"always\"></EMBED>",
    "<a href=\"javascript:alert('XSS')\">click</a>",
    "<a href=\"JAVASCRIPT:alert(1)\">click</a>",
    "<a href=\"  javascript:alert(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<details open ontoggle=alert(1)>",
    "<form action=\"javascript:alert(1)\"><button>x</button></form>",
    "\"><script>alert(1)</script>",
    "'';!--\"<XSS>=&{()}",
    // Markdown's own ways in.
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](vbscript:msgbox(1))",
    "[click]( javascript:alert(1) )",
    "[a](https://example.jp \"title\" onmouseover=\"alert(1)\")",
    "![x](javascript:alert(1))",
    "![x\" onerror=\"alert(1)](https://example.jp/x.png)",
    "<javascript:alert(1)>",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "```\n</code><script>alert(1)</script>\n```",
    "`<script>alert(1)</script>`",
    "> <script>alert(1)</script>",
];

/// Every tag in `html` with its attributes; panics on markup that does not
/// parse as tags (every `<` in safe output opens a tag: text is escaped).
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>').unwrap_or_else(|| panic!("unclosed tag in {html}"));
        rest = &after[end + 1..];
        if after.starts_with('/') {
            continue; // a closing tag: its opening one was checked
        }
        let inside = &after[..end];
        let (name, mut attrs_text) = inside.split_once(' ').unwrap_or((inside, ""));
        let mut attrs = Vec::new();
        while let Some((key, value_start)) = attrs_text.trim_start().split_once("=\"") {
            let close = value_start.find('"').unwrap_or_else(|| panic!("unterminated attribute in {html}"));
            attrs.push((key.trim().to_ascii_lowercase(), value_start[..close].to_owned()));
            attrs_text = &value_start[close + 1..];
        }
        assert!(attrs_text.trim().is_empty(), "an attribute without a quoted value in {html}");
        out.push((name.to_ascii_lowercase(), attrs));
    }
    out
}

fn assert_safe(source: &str) {
    check(source, &render(source));
}

fn check(source: &str, html: &str) {
    let html = html.to_owned();
    for (name, attrs) in tags(&html) {
        assert!(TAGS.contains(&name.as_str()), "<{name}> from {source:?}: {html}");
        for (key, value) in &attrs {
            match key.as_str() {
                "href" => assert!(
                    value.starts_with("http://") || value.starts_with("https://"),
                    "a link to {value:?} from {source:?}: {html}"
                ),
                "rel" => assert_eq!(value, LINK_REL),
                "class" => assert_eq!(value, "external"),
                other => panic!("attribute {other} from {source:?}: {html}"),
            }
        }
        if name == "a" {
            let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
            assert!(
                keys.contains(&"href") && keys.contains(&"rel") && keys.contains(&"class"),
                "an unmarked link from {source:?}: {html}"
            );
        }
    }
    // Shown as text is fine; inside an attribute is not.
    for (_, attrs) in tags(&html) {
        for bad in ["javascript:", "vbscript:", "data:", "onerror", "onload", "onmouseover"] {
            assert!(attrs.iter().all(|(_, v)| !v.to_ascii_lowercase().contains(bad)), "{bad} in {html}");
        }
    }
}

#[test]
fn the_owasp_filter_evasion_strings_come_out_inert() {
    for source in OWASP {
        assert_safe(source);
        // Each also inside a paragraph, in a list and in a quote.
        assert_safe(&format!("ご意見です。{source}"));
        assert_safe(&format!("- {source}"));
        assert_safe(&format!("> {source}"));
    }
}

#[test]
fn html_a_resident_types_is_shown_as_they_typed_it() {
    let html = render("<b>太字</b> と <script>alert(1)</script>");
    assert!(html.contains("&lt;b&gt;太字&lt;/b&gt;"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
}

#[test]
fn the_small_markdown_renders_and_links_are_marked_external_and_nofollow() {
    let html =
        render("**大切**なのは*歩道*です。\n\n- 一つ目\n- 二つ目\n\n> 引用\n\n[市の計画](https://example.lg.jp/plan)");
    assert!(html.contains("<strong>大切</strong>") && html.contains("<em>歩道</em>"), "{html}");
    assert!(html.contains("<li>一つ目</li>") && html.contains("<blockquote>"), "{html}");
    let link = tags(&html).into_iter().find(|(name, _)| name == "a").expect("a link");
    let mut attrs = link.1;
    attrs.sort();
    assert_eq!(
        attrs,
        [
            ("class".to_owned(), "external".to_owned()),
            ("href".to_owned(), "https://example.lg.jp/plan".to_owned()),
            ("rel".to_owned(), LINK_REL.to_owned())
        ]
    );
    assert!(html.contains(">市の計画</a>"), "{html}");
    // A link anywhere but the web keeps its text and loses the link.
    assert_eq!(render("[押して](javascript:alert(1))"), "<p>押して</p>\n");
    // An image is a link to it, never an <img>.
    let html = render("![地図](https://example.jp/map.png)");
    assert!(!html.contains("<img") && html.contains("href=\"https://example.jp/map.png\""), "{html}");
    // Headings are text.
    assert!(!render("# 見出し").contains("<h1"));
}

#[test]
fn the_check_itself_catches_markup_that_is_not_safe() {
    // Or passing the vectors above would prove nothing.
    for unsafe_html in [
        "<p><img src=\"x\"></p>",
        "<p><a href=\"javascript:alert(1)\" rel=\"external nofollow ugc noopener noreferrer\" class=\"external\">x</a></p>",
        "<p onclick=\"alert(1)\">x</p>",
        "<p><a href=\"https://example.jp\">unmarked</a></p>",
        "<script>alert(1)</script>",
    ] {
        let caught = std::panic::catch_unwind(|| check("(planted)", unsafe_html)).is_err();
        assert!(caught, "{unsafe_html} passed the check");
    }
}
