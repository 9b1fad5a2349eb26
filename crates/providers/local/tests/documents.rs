//! `LocalDocumentReader` held to the `DocumentReader` contract on PDFs built here with lopdf's
//! own writer, and on text, Markdown and HTML samples.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lopdf::content::{Content, Operation};
use lopdf::{
    Document, EncryptionState, EncryptionVersion, Object, Permissions, Stream, dictionary,
};
use switchboard_domain::knowledge::{DocumentKind, DocumentReader, ReadError};
use switchboard_local::LocalDocumentReader;

/// A PDF with one page per entry of `pages`, each page showing its lines in Helvetica.
fn pdf_document(pages: &[&[&str]]) -> Document {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for lines in pages {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 720.into()]),
            Operation::new("TL", vec![14.into()]),
        ];
        for line in *lines {
            operations.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).unwrap();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    doc
}

fn save(mut doc: Document) -> Vec<u8> {
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

fn pdf(pages: &[&[&str]]) -> Vec<u8> {
    save(pdf_document(pages))
}

fn encrypted_pdf(user_password: &str) -> Vec<u8> {
    let mut doc = pdf_document(&[&["Confidential pricing for partners."]]);
    // The standard security handler derives its key from the file identifier.
    doc.trailer.set(
        "ID",
        vec![
            Object::string_literal(b"0123456789abcdef".to_vec()),
            Object::string_literal(b"0123456789abcdef".to_vec()),
        ],
    );
    let state = EncryptionState::try_from(EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner-secret",
        user_password,
        key_length: 128,
        permissions: Permissions::PRINTABLE,
    })
    .unwrap();
    doc.encrypt(&state).unwrap();
    save(doc)
}

fn read(kind: DocumentKind, bytes: &[u8]) -> Result<String, ReadError> {
    LocalDocumentReader::new().read(kind, bytes)
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_one_page_pdf_gives_its_text() {
    let bytes = pdf(&[&[
        "Our support line is open from 8 am to 6 pm.",
        "Call us any weekday.",
    ]]);
    assert_eq!(
        DocumentKind::detect(Some("x.bin"), None, &bytes),
        Some(DocumentKind::Pdf)
    );
    let text = read(DocumentKind::Pdf, &bytes).unwrap();
    assert_eq!(
        words(&text),
        "Our support line is open from 8 am to 6 pm. Call us any weekday."
    );
}

#[test]
fn pages_are_read_in_order_and_kept_apart() {
    let bytes = pdf(&[
        &["First page text."],
        &["Second page text."],
        &["Third page text."],
    ]);
    let text = read(DocumentKind::Pdf, &bytes).unwrap();
    assert_eq!(
        words(&text),
        "First page text. Second page text. Third page text."
    );
    assert!(text.contains("\n\n"));
}

#[test]
fn a_compressed_pdf_is_read_too() {
    let mut doc = pdf_document(&[&["Compressed streams are inflated before reading."]]);
    doc.compress();
    let text = read(DocumentKind::Pdf, &save(doc)).unwrap();
    assert_eq!(
        words(&text),
        "Compressed streams are inflated before reading."
    );
}

#[test]
fn a_pdf_that_needs_a_password_is_encrypted() {
    assert_eq!(
        read(DocumentKind::Pdf, &encrypted_pdf("user-secret")),
        Err(ReadError::Encrypted)
    );
}

#[test]
fn a_pdf_with_an_unusable_encrypt_entry_is_encrypted() {
    let mut doc = pdf_document(&[&["Secret text."]]);
    let encrypt_id = doc.add_object(dictionary! {
        "Filter" => "Standard",
        "V" => 2,
        "R" => 3,
        "Length" => 128,
        "P" => -4,
        "O" => Object::string_literal(vec![0_u8; 32]),
        "U" => Object::string_literal(vec![0_u8; 32]),
    });
    doc.trailer.set("Encrypt", encrypt_id);
    doc.trailer.set(
        "ID",
        vec![
            Object::string_literal(vec![1_u8; 16]),
            Object::string_literal(vec![1_u8; 16]),
        ],
    );
    assert_eq!(
        read(DocumentKind::Pdf, &save(doc)),
        Err(ReadError::Encrypted)
    );
}

#[test]
fn a_pdf_locked_only_against_editing_opens_as_in_any_viewer() {
    let text = read(DocumentKind::Pdf, &encrypted_pdf("")).unwrap();
    assert_eq!(words(&text), "Confidential pricing for partners.");
}

#[test]
fn truncated_and_garbage_pdfs_are_corrupt() {
    let bytes = pdf(&[&["This file will be cut in half."]]);
    let truncated = &bytes[..bytes.len() / 2];
    match read(DocumentKind::Pdf, truncated) {
        Err(ReadError::Corrupt(reason)) => assert!(!reason.is_empty()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    match read(
        DocumentKind::Pdf,
        b"%PDF-1.7\n\x00\x01 this is not a PDF body at all",
    ) {
        Err(ReadError::Corrupt(reason)) => assert!(reason.contains("PDF"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    match read(DocumentKind::Pdf, b"Just some text named report.pdf") {
        Err(ReadError::Corrupt(reason)) => assert!(reason.contains("%PDF-"), "{reason}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_pdf_without_text_is_empty() {
    assert_eq!(read(DocumentKind::Pdf, &pdf(&[&[]])), Err(ReadError::Empty));
}

#[test]
fn text_is_read_as_utf8_and_binary_refused() {
    assert_eq!(
        read(DocumentKind::Text, "Prix : 12 €\nMerci.".as_bytes()).unwrap(),
        "Prix : 12 €\nMerci."
    );
    assert_eq!(
        read(DocumentKind::Text, b"\x00\x01\x02binary"),
        Err(ReadError::NotText)
    );
    assert_eq!(
        read(DocumentKind::Markdown, b"caf\xE9"),
        Err(ReadError::NotText)
    );
    assert_eq!(
        read(DocumentKind::Html, b"<p>\x00</p>"),
        Err(ReadError::NotText)
    );
    assert_eq!(read(DocumentKind::Text, b"  \n\t "), Err(ReadError::Empty));
    assert_eq!(read(DocumentKind::Text, b""), Err(ReadError::Empty));
}

#[test]
fn markdown_and_html_lose_their_syntax() {
    let md = "# Warranty\n\nEvery kettle has a **two-year** warranty; see [the terms](https://example.com/terms).";
    assert_eq!(
        words(&read(DocumentKind::Markdown, md.as_bytes()).unwrap()),
        "Warranty Every kettle has a two-year warranty; see the terms."
    );
    let html = "<html><head><script>track()</script></head><body><h2>Warranty</h2>\
                <p>Every kettle has a <em>two-year</em> warranty &amp; free repairs.</p></body></html>";
    assert_eq!(
        words(&read(DocumentKind::Html, html.as_bytes()).unwrap()),
        "Warranty Every kettle has a two-year warranty & free repairs."
    );
    assert_eq!(
        read(DocumentKind::Html, b"<script>only()</script><div> </div>"),
        Err(ReadError::Empty)
    );
    assert_eq!(
        read(DocumentKind::Markdown, b"---\n\n***\n"),
        Err(ReadError::Empty)
    );
}
