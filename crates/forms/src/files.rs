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

    /// The extension to save it with on the desk.
    pub fn extension(self) -> &'static str {
        match self {
            FileType::Jpeg => "jpg",
            other => other.name(),
        }
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
}
