//! Text extraction from PDF files with `lopdf`, page by page, telling damaged and
//! password-protected files apart from files that merely hold no text.

use std::panic::{self, AssertUnwindSafe};

use lopdf::Document;
use lopdf::xref::XrefRecovery;
use switchboard_domain::knowledge::ReadError;

/// Reads the text of every page, pages separated by a blank line.
///
/// A PDF encrypted only against editing (an empty user password) opens like any other, as it does
/// in every viewer; one that needs a password to open is `Encrypted`.
pub(super) fn read(bytes: &[u8]) -> Result<String, ReadError> {
    if !has_header(bytes) {
        return Err(ReadError::Corrupt(
            "the file is not a PDF: it does not start with a %PDF- header".into(),
        ));
    }
    // The parser runs on untrusted bytes; should it panic on some malformed input, the upload is
    // refused as corrupt instead of taking the worker thread down with it.
    panic::catch_unwind(AssertUnwindSafe(|| extract(bytes))).unwrap_or_else(|_| {
        Err(ReadError::Corrupt(
            "the PDF is malformed and could not be parsed".into(),
        ))
    })
}

fn has_header(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    bytes.starts_with(b"%PDF-") || bytes.starts_with(b"\xEF\xBB\xBF%PDF-")
}

fn extract(bytes: &[u8]) -> Result<String, ReadError> {
    let document = Document::load_mem(bytes).map_err(|error| match error {
        lopdf::Error::InvalidPassword
        | lopdf::Error::Decryption(_)
        | lopdf::Error::UnsupportedSecurityHandler(_) => ReadError::Encrypted,
        other => ReadError::Corrupt(format!("the PDF could not be parsed ({other})")),
    })?;
    // The loader decrypts what opens with the empty password and removes `/Encrypt` from the
    // trailer; one still there means the file waits for a password.
    if document.trailer.has(b"Encrypt") {
        return Err(ReadError::Encrypted);
    }
    let pages = document.get_pages();
    if pages.is_empty() {
        return Err(ReadError::Corrupt("the PDF has no pages".into()));
    }

    let mut page_texts = Vec::with_capacity(pages.len());
    let mut first_error = None;
    for &number in pages.keys() {
        let mut page_text = String::new();
        for fragment in document.extract_text_chunks(&[number]) {
            match fragment {
                // Fragments are runs of one font; a line break between them keeps words apart
                // where a font change falls between two words.
                Ok(fragment) => {
                    page_text.push_str(&fragment);
                    page_text.push('\n');
                }
                Err(error) => {
                    first_error.get_or_insert(format!("page {number}: {error}"));
                }
            }
        }
        if !page_text.trim().is_empty() {
            page_texts.push(page_text);
        }
    }

    if page_texts.is_empty() {
        if let Some(error) = first_error {
            return Err(ReadError::Corrupt(format!(
                "no page of the PDF could be read ({error})"
            )));
        }
        if document.xref_recovery == Some(XrefRecovery::Reconstructed) {
            return Err(ReadError::Corrupt(
                "the PDF is damaged (its cross-reference table had to be rebuilt) and no text \
                 could be recovered"
                    .into(),
            ));
        }
        return Err(ReadError::Empty);
    }
    Ok(page_texts.join("\n\n"))
}
