//! What kind of file an upload is, judged by its first bytes, never by its
//! name or the type the browser claims: a `.pdf` that is really an
//! executable is refused as "not a PDF".

use serde::{Deserialize, Serialize};

/// The file types a form may accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    Pdf,
    Jpeg,
    Png,
    /// iPhone photos (HEIC/HEIF).
    Heic,
    Webp,
}

impl FileType {
    pub const ALL: [FileType; 5] = [FileType::Pdf, FileType::Jpeg, FileType::Png, FileType::Heic, FileType::Webp];

    /// The media type to serve it with.
    pub fn media_type(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Heic => "image/heic",
            FileType::Webp => "image/webp",
        }
    }

    /// As a form definition names it (`accept = ["pdf", "jpeg"]`).
    pub fn name(self) -> &'static str {
        match self {
            FileType::Pdf => "pdf",
            FileType::Jpeg => "jpeg",
            FileType::Png => "png",
            FileType::Heic => "heic",
            FileType::Webp => "webp",
        }
    }

    pub fn parse(name: &str) -> Option<FileType> {
        FileType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// How residents know it: "PDF", "JPEG".
    pub fn label(self) -> &'static str {
        match self {
            FileType::Pdf => "PDF",
            FileType::Jpeg => "JPEG",
            FileType::Png => "PNG",
            FileType::Heic => "HEIC",
            FileType::Webp => "WebP",
        }
    }

    /// The extension to save it with on the desk.
    pub fn extension(self) -> &'static str {
        match self {
            FileType::Jpeg => "jpg",
            other => other.name(),
        }
    }
}

/// A sealed file as a submission names it: what the resident sees of it
/// (its name, type and size) and where the sealed bytes are (`sealed`,
/// the vault name of the sealed file). `id` is random; the sealed file is
/// bound to it with the tenant and form, so a reference cannot be moved to
/// another file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub id: String,
    /// The file's name as the resident's device gave it, cleaned
    /// ([`clean_name`]): personal data, sealed with the rest.
    pub name: String,
    pub file_type: FileType,
    /// Bytes of the file itself (not sealed).
    pub size: u64,
    pub sealed: String,
}

/// Longest file name kept, in characters.
pub const NAME_MAX_CHARS: usize = 100;

/// A file name fit to show and to save on the desk: the last part of any
/// path, NFKC, no control characters or path separators, at most
/// [`NAME_MAX_CHARS`] (the end, with the extension, is kept); a name that
/// is left empty becomes `file.pdf` (after the type).
pub fn clean_name(raw: &str, file_type: FileType) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String =
        crate::nfkc(last).chars().filter(|c| !c.is_control() && !matches!(c, '/' | '\\' | '"')).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_string();
    if cleaned.is_empty() {
        return format!("file.{}", file_type.extension());
    }
    let count = cleaned.chars().count();
    if count <= NAME_MAX_CHARS {
        return cleaned;
    }
    cleaned.chars().skip(count - NAME_MAX_CHARS).collect()
}

/// "1.2 MB", "340 KB", "12 bytes" (ja: "12 バイト").
pub fn size_label(bytes: u64, lang: crate::Lang) -> String {
    const KB: u64 = 1000;
    const MB: u64 = 1000 * 1000;
    match bytes {
        b if b >= MB => format!("{:.1} MB", b as f64 / MB as f64),
        b if b >= KB => format!("{} KB", b.div_ceil(KB)),
        b if lang == crate::Lang::Ja => format!("{b} バイト"),
        b => format!("{b} bytes"),
    }
}

/// What a form's file field makes of one upload, from its first bytes
/// and its whole size: the type, or what the resident must be told.
pub fn judge(kind: &crate::FieldKind, head: &[u8], size: u64) -> Result<FileType, crate::ErrorCode> {
    let crate::FieldKind::File { accept, max_mb, .. } = kind else {
        return Err(crate::ErrorCode::FileNotAccepted { accept: Vec::new() });
    };
    if size == 0 {
        return Err(crate::ErrorCode::FileEmpty);
    }
    if size > max_bytes(*max_mb) {
        return Err(crate::ErrorCode::FileTooLarge { max_mb: *max_mb });
    }
    match sniff(head) {
        Some(t) if accept.contains(&t) => Ok(t),
        _ => Err(crate::ErrorCode::FileNotAccepted { accept: accept.clone() }),
    }
}

/// `max_mb` in bytes (a megabyte is 10⁶ bytes, as phones and PCs count).
pub fn max_bytes(max_mb: u32) -> u64 {
    u64::from(max_mb) * 1000 * 1000
}

/// "PDF、JPEG、PNG" / "PDF, JPEG or PNG".
pub fn type_list(types: &[FileType], lang: crate::Lang) -> String {
    let names: Vec<String> = types.iter().map(|t| t.label().to_owned()).collect();
    match (lang, names.len()) {
        (crate::Lang::Ja, _) => names.join("、"),
        (crate::Lang::En, 0..=1) => names.join(""),
        (crate::Lang::En, n) => format!("{} or {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

/// How many leading bytes [`sniff`] needs.
pub const SNIFF_BYTES: usize = 16;

/// The type of a file from its first bytes (at least [`SNIFF_BYTES`] when
/// the file is that long); `None` for anything else.
pub fn sniff(head: &[u8]) -> Option<FileType> {
    if head.starts_with(b"%PDF-") {
        return Some(FileType::Pdf);
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(FileType::Jpeg);
    }
    if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Some(FileType::Png);
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        return Some(FileType::Webp);
    }
    // ISO-BMFF: a box size, "ftyp", then the major brand.
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        if [b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"].iter().any(|b| brand == *b) {
            return Some(FileType::Heic);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_known_by_their_first_bytes_not_their_names() {
        assert_eq!(sniff(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3"), Some(FileType::Pdf));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']), Some(FileType::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(FileType::Png));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(FileType::Webp));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Some(FileType::Heic));
        assert_eq!(sniff(b"\0\0\0\x18ftypmp42\0\0\0\0"), None, "a video is not a photo");
        assert_eq!(sniff(b"MZ\x90\0\x03\0\0\0"), None, "an executable named scan.pdf");
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b""), None);
        for t in FileType::ALL {
            assert_eq!(FileType::parse(t.name()), Some(t));
        }
    }

    #[test]
    fn names_lose_their_paths_and_control_characters_and_keep_their_ends() {
        assert_eq!(clean_name("C:\\Users\\yamada\\住民票.pdf", FileType::Pdf), "住民票.pdf");
        assert_eq!(clean_name("../../etc/passwd", FileType::Pdf), "passwd");
        assert_eq!(clean_name("ｓｃａｎ\u{0}\n.ＰＤＦ", FileType::Pdf), "scan.PDF");
        assert_eq!(clean_name("  ", FileType::Jpeg), "file.jpg");
        assert_eq!(clean_name(".htaccess", FileType::Png), "htaccess");
        let long = format!("{}.pdf", "あ".repeat(200));
        let kept = clean_name(&long, FileType::Pdf);
        assert_eq!(kept.chars().count(), NAME_MAX_CHARS);
        assert!(kept.ends_with("あ.pdf"));
    }

    #[test]
    fn an_upload_is_judged_by_content_and_size_against_the_field() {
        use crate::{ErrorCode, FieldKind};
        let kind = FieldKind::File { accept: vec![FileType::Pdf, FileType::Png], max_mb: 2, max_files: 1 };
        assert_eq!(judge(&kind, b"%PDF-1.4\n", 1_000), Ok(FileType::Pdf));
        assert_eq!(judge(&kind, b"%PDF-1.4\n", 2_000_000), Ok(FileType::Pdf));
        assert_eq!(judge(&kind, b"%PDF-1.4\n", 2_000_001), Err(ErrorCode::FileTooLarge { max_mb: 2 }));
        assert_eq!(judge(&kind, b"", 0), Err(ErrorCode::FileEmpty));
        let refused = ErrorCode::FileNotAccepted { accept: vec![FileType::Pdf, FileType::Png] };
        assert_eq!(judge(&kind, &[0xFF, 0xD8, 0xFF, 0xE0], 10), Err(refused.clone()), "a JPEG where PDF or PNG");
        assert_eq!(judge(&kind, b"MZ\x90\0", 10), Err(refused.clone()));
        assert_eq!(
            refused.message(crate::Lang::Ja),
            "PDF、PNG のファイルを選んでください（ファイルの中身で確認しています）。"
        );
        assert_eq!(
            refused.message(crate::Lang::En),
            "Please choose a PDF or PNG file (checked by its content, not its name)."
        );
        assert_eq!(size_label(1_234_567, crate::Lang::Ja), "1.2 MB");
        assert_eq!(size_label(340_100, crate::Lang::En), "341 KB");
        assert_eq!(size_label(12, crate::Lang::Ja), "12 バイト");
    }
}
