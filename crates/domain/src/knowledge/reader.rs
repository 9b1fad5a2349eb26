//! The port that turns an uploaded document's bytes into plain text, and the shared check that
//! bytes declared as text really are text.

use std::borrow::Cow;

use super::DocumentKind;

/// Why a document's text could not be read. Each variant is the uploader's problem (the app
/// answers 422 with the message), never a server fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The file is damaged or is not what its kind says; the reason is readable by a person.
    #[error("the document is corrupt: {0}")]
    Corrupt(String),
    /// The file is protected by a password, so its text cannot be read.
    #[error("the document is encrypted with a password; upload an unprotected copy")]
    Encrypted,
    /// The file is valid but holds no extractable text (a scanned PDF without a text layer, an
    /// empty file, markup with nothing between the tags).
    #[error("no text could be extracted from the document")]
    Empty,
    /// Bytes declared as text are not text: invalid UTF-8, NUL bytes, or mostly control codes.
    #[error("the document is not text: it is not valid UTF-8 or holds binary data")]
    NotText,
}

/// Extracts the plain text of a document.
///
/// Contract: the text returned is what a person would read, in reading order, without markup
/// (no HTML tags, no Markdown syntax that would pollute retrieval); white space may be left
/// irregular, chunking normalises it. The result is never blank: a document without text is
/// `Empty`. The work is CPU-bound and synchronous; async callers run it on a blocking thread.
pub trait DocumentReader: Send + Sync {
    /// Reads the text of `bytes`, which were recognised as `kind`.
    ///
    /// # Errors
    /// `Corrupt` when the bytes cannot be parsed as `kind`, `Encrypted` for a password-protected
    /// PDF, `Empty` when no text can be extracted, `NotText` when text kinds hold binary data.
    fn read(&self, kind: DocumentKind, bytes: &[u8]) -> Result<String, ReadError>;
}

/// Control characters (other than tab, line feed, form feed and carriage return) are tolerated up
/// to this share of a text: stray ones occur in real files, a binary file is full of them.
const MAX_CONTROL_PER_MILLE: usize = 10;

/// Decodes bytes that were declared as text: UTF-8 (with or without a byte-order mark), or UTF-16
/// when a UTF-16 byte-order mark says so, as some editors save by default.
///
/// # Errors
/// `NotText` when the bytes are not valid in their encoding, contain a NUL character, or are more
/// than 1% control codes.
pub fn decode_text(bytes: &[u8]) -> Result<Cow<'_, str>, ReadError> {
    let text = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Cow::Borrowed(std::str::from_utf8(rest).map_err(|_| ReadError::NotText)?)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        Cow::Owned(decode_utf16(rest, u16::from_le_bytes)?)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        Cow::Owned(decode_utf16(rest, u16::from_be_bytes)?)
    } else {
        Cow::Borrowed(std::str::from_utf8(bytes).map_err(|_| ReadError::NotText)?)
    };
    let mut chars = 0_usize;
    let mut controls = 0_usize;
    for c in text.chars() {
        if c == '\0' {
            return Err(ReadError::NotText);
        }
        chars += 1;
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}') {
            controls += 1;
        }
    }
    if controls * 1000 > chars * MAX_CONTROL_PER_MILLE {
        return Err(ReadError::NotText);
    }
    Ok(text)
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, ReadError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(ReadError::NotText);
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| unit([pair[0], pair[1]]))
        .collect();
    String::from_utf16(&units).map_err(|_| ReadError::NotText)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn utf8_text_is_borrowed_and_bom_dropped() {
        assert!(matches!(decode_text(b"plain"), Ok(Cow::Borrowed("plain"))));
        assert_eq!(decode_text(b"\xEF\xBB\xBFcaf\xC3\xA9").unwrap(), "café");
        assert_eq!(decode_text(b"").unwrap(), "");
    }

    #[test]
    fn utf16_with_a_byte_order_mark_is_decoded() {
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Hé".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_text(&le).unwrap(), "Hé");
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("Hé".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode_text(&be).unwrap(), "Hé");
        assert_eq!(decode_text(b"\xFF\xFEa"), Err(ReadError::NotText));
    }

    #[test]
    fn binary_is_not_text() {
        assert_eq!(decode_text(b"abc\0def"), Err(ReadError::NotText));
        assert_eq!(decode_text(b"caf\xE9"), Err(ReadError::NotText));
        assert_eq!(
            decode_text(b"\x01\x02\x03\x04 mostly control codes"),
            Err(ReadError::NotText)
        );
        let mut long = "word ".repeat(200);
        long.push('\u{1}');
        assert!(decode_text(long.as_bytes()).is_ok());
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            ReadError::Corrupt("the cross-reference table is missing".into()).to_string(),
            "the document is corrupt: the cross-reference table is missing"
        );
    }
}
