//! The kinds of document the knowledge base accepts, and how an upload's kind is recognised.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A kind of document whose text the knowledge base can extract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentKind {
    Pdf,
    Text,
    Markdown,
    Html,
}

/// Leading bytes of binary formats that are sometimes uploaded under a text name or type. Naming
/// them lets a renamed image or office file be refused as unsupported rather than read as text.
/// Only signatures that no real text starts with are listed (each holds a non-text byte or an
/// unmistakable tag).
const BINARY_SIGNATURES: &[&[u8]] = &[
    b"\x89PNG\r\n\x1a\n",
    b"\xFF\xD8\xFF",
    b"GIF87a",
    b"GIF89a",
    b"PK\x03\x04",
    b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
    b"\x1F\x8B",
    b"\x7FELF",
];

impl DocumentKind {
    /// Recognises an upload from its file name, its declared content type and its leading bytes.
    ///
    /// The bytes decide first: a `%PDF-` header means a PDF whatever the name says, and the
    /// signature of another binary format (an image, an archive, an office file) means the upload
    /// is not supported. Then a specific declared content type decides (`text/plain`,
    /// `text/markdown`, `text/html`, `application/pdf`, parameters such as `charset` ignored),
    /// then the file name's extension (`.txt`, `.md`, `.html`, `.pdf` and their variants).
    /// Generic types such as `application/octet-stream` defer to the extension.
    ///
    /// Returns `None` for anything else, which the caller answers as an unsupported media type.
    /// Whether bytes declared as text really are text is judged when they are read (see
    /// [`decode_text`](super::decode_text)).
    #[must_use]
    pub fn detect(
        file_name: Option<&str>,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Option<Self> {
        if has_pdf_header(bytes) {
            return Some(Self::Pdf);
        }
        if BINARY_SIGNATURES
            .iter()
            .any(|signature| bytes.starts_with(signature))
        {
            return None;
        }
        content_type
            .and_then(Self::from_content_type)
            .or_else(|| file_name.and_then(Self::from_file_name))
    }

    /// The kind a declared content type names, if it names one of ours.
    #[must_use]
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/pdf" | "application/x-pdf" => Some(Self::Pdf),
            "text/plain" => Some(Self::Text),
            "text/markdown" | "text/x-markdown" => Some(Self::Markdown),
            "text/html" | "application/xhtml+xml" => Some(Self::Html),
            _ => None,
        }
    }

    /// The kind a file name's extension names, if it names one of ours.
    #[must_use]
    pub fn from_file_name(file_name: &str) -> Option<Self> {
        let (_, extension) = file_name.trim().rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "pdf" => Some(Self::Pdf),
            "txt" | "text" => Some(Self::Text),
            "md" | "markdown" | "mdown" | "mkd" => Some(Self::Markdown),
            "html" | "htm" | "xhtml" => Some(Self::Html),
            _ => None,
        }
    }

    /// The kind's name as the API spells it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Text => "text",
            Self::Markdown => "markdown",
            Self::Html => "html",
        }
    }

    /// The kind named by [`DocumentKind::as_str`], as stored.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Pdf, Self::Text, Self::Markdown, Self::Html]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// The canonical content type of the kind.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Text => "text/plain",
            Self::Markdown => "text/markdown",
            Self::Html => "text/html",
        }
    }

    /// Whether the kind is stored as text (everything but PDF).
    #[must_use]
    pub const fn is_text(self) -> bool {
        !matches!(self, Self::Pdf)
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `%PDF-` header at the start, after an optional byte-order mark and white space. Readers
/// tolerate junk before the header too, but accepting the header anywhere would make a text that
/// merely quotes it into a PDF.
fn has_pdf_header(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"%PDF-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_magic_wins_over_name_and_type() {
        let bytes = b"%PDF-1.7\n...";
        assert_eq!(
            DocumentKind::detect(Some("notes.txt"), Some("text/plain"), bytes),
            Some(DocumentKind::Pdf)
        );
        assert_eq!(
            DocumentKind::detect(None, None, b"\xEF\xBB\xBF%PDF-1.4"),
            Some(DocumentKind::Pdf)
        );
        assert_eq!(
            DocumentKind::detect(Some("a.md"), None, b"Files start with %PDF-1.7."),
            Some(DocumentKind::Markdown)
        );
    }

    #[test]
    fn declared_type_decides_then_extension() {
        let text = b"hello";
        assert_eq!(
            DocumentKind::detect(Some("a.bin"), Some("text/markdown; charset=utf-8"), text),
            Some(DocumentKind::Markdown)
        );
        assert_eq!(
            DocumentKind::detect(Some("Guide.MD"), Some("application/octet-stream"), text),
            Some(DocumentKind::Markdown)
        );
        assert_eq!(
            DocumentKind::detect(Some("index.htm"), None, text),
            Some(DocumentKind::Html)
        );
        assert_eq!(
            DocumentKind::detect(None, Some("Text/HTML"), text),
            Some(DocumentKind::Html)
        );
        assert_eq!(
            DocumentKind::detect(Some("readme.txt"), None, text),
            Some(DocumentKind::Text)
        );
        assert_eq!(
            DocumentKind::detect(None, Some("text/plain"), text),
            Some(DocumentKind::Text)
        );
        // A PDF declared by name but without its header is still a PDF; reading it will say
        // it is corrupt, which is the more useful answer.
        assert_eq!(
            DocumentKind::detect(Some("report.pdf"), None, text),
            Some(DocumentKind::Pdf)
        );
    }

    #[test]
    fn anything_else_is_unsupported() {
        assert_eq!(DocumentKind::detect(Some("sheet.xlsx"), None, b"abc"), None);
        assert_eq!(
            DocumentKind::detect(Some("noextension"), None, b"abc"),
            None
        );
        assert_eq!(
            DocumentKind::detect(None, Some("application/octet-stream"), b"abc"),
            None
        );
        assert_eq!(DocumentKind::detect(None, Some("text/csv"), b"a,b"), None);
        assert_eq!(DocumentKind::detect(None, None, b"abc"), None);
    }

    #[test]
    fn binary_formats_renamed_as_text_are_unsupported() {
        assert_eq!(
            DocumentKind::detect(
                Some("photo.txt"),
                Some("text/plain"),
                b"\x89PNG\r\n\x1a\nxxxx"
            ),
            None
        );
        assert_eq!(
            DocumentKind::detect(Some("letter.md"), None, b"PK\x03\x04rest-of-a-docx"),
            None
        );
    }

    #[test]
    fn kinds_serialise_in_lower_case() {
        let json = serde_json::to_string(&DocumentKind::Markdown).unwrap_or_default();
        assert_eq!(json, "\"markdown\"");
        assert_eq!(DocumentKind::Pdf.to_string(), "pdf");
        assert_eq!(DocumentKind::Html.content_type(), "text/html");
        assert!(!DocumentKind::Pdf.is_text());
    }
}
