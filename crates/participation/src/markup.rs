//! A post's text as HTML a page may carry. Residents write a small
//! Markdown: paragraphs and line breaks, *emphasis*, **strong**,
//! ~~strike~~, lists, quotes, `code`, and links. Everything else is text:
//! raw HTML is shown as typed, images become links to them (no tracking
//! pixels, no pictures nobody moderated), headings become plain text.
//!
//! Two steps, each enough on its own: pulldown-cmark's events are rewritten
//! so that HTML in the source is text, then ammonia keeps only the
//! allow-listed tags and attributes of what was rendered, with links
//! limited to http and https and marked external, nofollow and ugc.

use std::collections::HashSet;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The longest post, in characters.
pub const MAX_CHARS: usize = 4000;

/// The tags a rendered post may contain.
pub const TAGS: &[&str] = &["p", "br", "em", "strong", "del", "ul", "ol", "li", "blockquote", "code", "pre", "a"];

/// What every link in a post carries: it leaves the service, search
/// engines are not to follow it, and it is user content.
pub const LINK_REL: &str = "external nofollow ugc noopener noreferrer";

/// Renders a post's Markdown to safe HTML.
pub fn render(source: &str) -> String {
    // For each link open: whether it was dropped (its text stays).
    let mut dropped: Vec<bool> = Vec::new();
    let events = Parser::new_ext(source, Options::ENABLE_STRIKETHROUGH)
        .map(|event| match event {
            // HTML in a post is what the resident typed, shown as such.
            Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                Event::Start(Tag::Link { link_type, dest_url, title, id })
            }
            Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
            other => other,
        })
        .filter(|event| match event {
            // A link anywhere but the web is its text alone.
            Event::Start(Tag::Link { dest_url, .. }) => {
                let keep = is_web_address(dest_url);
                dropped.push(!keep);
                keep
            }
            Event::End(TagEnd::Link) => !dropped.pop().unwrap_or(false),
            _ => true,
        });
    let mut html = String::with_capacity(source.len() * 2);
    pulldown_cmark::html::push_html(&mut html, events);
    ammonia::Builder::empty()
        .add_tags(TAGS)
        .add_tag_attributes("a", &["href"])
        .url_schemes(HashSet::from(["http", "https"]))
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some(LINK_REL))
        .set_tag_attribute_value("a", "class", "external")
        .clean(&html)
        .to_string()
}

/// `http://…` or `https://…`, as written (no scheme in another case or
/// behind spaces: those are how filters are evaded).
fn is_web_address(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

#[cfg(test)]
mod tests;
