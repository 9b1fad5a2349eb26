//! Local text extraction for every document kind: PDF through `lopdf`, and hand-written
//! converters for Markdown and HTML that need no further dependency.

mod html;
mod markdown;
mod pdf;

use switchboard_domain::knowledge::{DocumentKind, DocumentReader, ReadError, decode_text};

/// Reads documents on the local machine, with no service involved.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalDocumentReader;

impl LocalDocumentReader {
    /// A reader.
    #[must_use]
    pub const fn new() -> Self {
        Self
    }
}

impl DocumentReader for LocalDocumentReader {
    fn read(&self, kind: DocumentKind, bytes: &[u8]) -> Result<String, ReadError> {
        let text = match kind {
            DocumentKind::Pdf => pdf::read(bytes)?,
            DocumentKind::Text => decode_text(bytes)?.into_owned(),
            DocumentKind::Markdown => markdown::to_plain_text(&decode_text(bytes)?),
            DocumentKind::Html => html::to_plain_text(&decode_text(bytes)?),
        };
        // Punctuation and markup leftovers alone are not text anyone could search for.
        if text.chars().any(char::is_alphanumeric) {
            Ok(text)
        } else {
            Err(ReadError::Empty)
        }
    }
}
