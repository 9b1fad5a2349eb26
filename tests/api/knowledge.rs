//! The knowledge base over HTTP: uploads of each kind (and bad ones), listing, deletion, search,
//! attachment to agents, and isolation between organisations.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use switchboard_testkit::TestApp;

use crate::support::{expect_error, expect_json};

/// A one-page PDF showing `text`, written by hand with a correct cross-reference table.
fn pdf(text: &str, encrypt: bool) -> Vec<u8> {
    let stream = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    if encrypt {
        objects.push(
            "<< /Filter /Standard /V 1 /R 2 /O <28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a> /U <0000000000000000000000000000000000000000000000000000000000000000> /P -4 >>".to_owned(),
        );
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (index, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", index + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let encrypt_entry = if encrypt {
        format!(
            " /Encrypt {} 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]",
            objects.len()
        )
    } else {
        String::new()
    };
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R{encrypt_entry} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

pub(crate) fn part(bytes: Vec<u8>, file_name: &str, content_type: &str) -> anyhow::Result<Part> {
    Ok(Part::bytes(bytes)
        .file_name(file_name.to_owned())
        .mime_str(content_type)?)
}

pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    form: Form,
) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .request(Method::POST, "/api/v1/knowledge/documents")
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?)
}

pub(crate) async fn search(
    app: &TestApp,
    token: &str,
    body: &Value,
) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .post_json("/api/v1/knowledge/search", body, Some(token))
        .await?)
}

pub(crate) fn names(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["document_name"].as_str().map(ToOwned::to_owned))
        .collect()
}

#[tokio::test]
async fn every_kind_uploads_and_is_searchable() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let form = Form::new()
        .part("files", part(pdf("Our warehouse ships every order within two business days.", false), "shipping.pdf", "application/pdf")?)
        .part("files", part(b"Refunds are issued to the original card within five days of receiving the return.".to_vec(), "refunds.txt", "text/plain")?)
        .part("files", part(b"# Opening hours\n\nThe support line is open **Monday to Friday**, 9am to 6pm.".to_vec(), "hours.md", "text/markdown")?)
        .part("files", part(b"<html><head><style>p{}</style></head><body><p>The premium plan costs &euro;49 per month.</p><script>x()</script></body></html>".to_vec(), "pricing.html", "text/html")?);
    let stored = expect_json(upload(&app, &token, form).await?, 201).await?;
    let documents = stored["documents"].as_array().cloned().unwrap_or_default();
    assert_eq!(documents.len(), 4);
    let kinds: Vec<&str> = documents
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["pdf", "text", "markdown", "html"]);
    assert!(
        documents
            .iter()
            .all(|d| d["chunk_count"].as_u64().is_some_and(|c| c >= 1))
    );
    assert!(documents.iter().all(|d| d["embedder"] == "local-lexical"));

    for (question, expected) in [
        ("When will my order ship?", "shipping.pdf"),
        ("How do refunds work?", "refunds.txt"),
        ("What hours is support open?", "hours.md"),
        ("How much is the premium plan?", "pricing.html"),
    ] {
        let found = expect_json(
            search(&app, &token, &json!({"query": question, "top_k": 2})).await?,
            200,
        )
        .await?;
        assert_eq!(
            names(&found).first().map(String::as_str),
            Some(expected),
            "{question}: {found}"
        );
        let first = &found["results"][0];
        assert!(first["score"].as_f64().is_some_and(|s| s > 0.0));
        assert!(
            first["text"]
                .as_str()
                .is_some_and(|t| !t.contains('<') && !t.contains("**")),
            "{first}"
        );
    }

    let listed = expect_json(
        app.get("/api/v1/knowledge/documents?page_size=3", Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(listed["total"], 4);
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(3));

    let shipping = documents[0]["id"].as_str().unwrap_or_default();
    let path = format!("/api/v1/knowledge/documents/{shipping}");
    let fetched = expect_json(app.get(&path, Some(&token)).await?, 200).await?;
    assert_eq!(fetched["file_name"], "shipping.pdf");
    let deleted = app
        .request(Method::DELETE, &path)
        .bearer_auth(&token)
        .send()
        .await?;
    expect_json(deleted, 200).await?;
    expect_error(app.get(&path, Some(&token)).await?, 404).await?;
    let after = expect_json(
        search(
            &app,
            &token,
            &json!({"query": "When will my order ship?", "top_k": 5}),
        )
        .await?,
        200,
    )
    .await?;
    assert!(
        !names(&after).contains(&"shipping.pdf".to_owned()),
        "deleted documents are not found: {after}"
    );
    Ok(())
}

#[tokio::test]
async fn bad_uploads_are_refused_and_nothing_is_half_stored() -> anyhow::Result<()> {
    let app = TestApp::builder()
        .env("KNOWLEDGE_MAX_UPLOAD_BYTES", "2048")
        .spawn()
        .await?;
    let token = app.signed_in_user().await?;
    let cases: Vec<(Form, u16, &str)> = vec![
        (
            Form::new().part(
                "files",
                part(b"\x89PNG\r\n\x1a\nbinary".to_vec(), "logo.png", "image/png")?,
            ),
            415,
            "unsupported",
        ),
        (
            Form::new().part(
                "files",
                part(b"a,b,c".to_vec(), "sheet.xlsx", "application/vnd.ms-excel")?,
            ),
            415,
            "unsupported",
        ),
        (
            Form::new().part(
                "files",
                part(
                    b"%PDF-1.4\nthis is not really a pdf".to_vec(),
                    "broken.pdf",
                    "application/pdf",
                )?,
            ),
            422,
            "corrupt",
        ),
        (
            Form::new().part(
                "files",
                part(pdf("Secret", true), "locked.pdf", "application/pdf")?,
            ),
            422,
            "encrypted",
        ),
        (
            Form::new().part(
                "files",
                part(b"text\0with\0nul".to_vec(), "notes.txt", "text/plain")?,
            ),
            422,
            "not text",
        ),
        (
            Form::new().part(
                "files",
                part(b"   \n\n ".to_vec(), "blank.txt", "text/plain")?,
            ),
            422,
            "no text",
        ),
        (
            Form::new().part("files", part(vec![b'a'; 4096], "big.txt", "text/plain")?),
            413,
            "big.txt",
        ),
        (Form::new().text("agent_id", ""), 422, "files"),
        // One good file and one bad: neither is stored.
        (
            Form::new()
                .part(
                    "files",
                    part(
                        b"A perfectly good document about shipping.".to_vec(),
                        "good.txt",
                        "text/plain",
                    )?,
                )
                .part(
                    "files",
                    part(b"%PDF-1.4 garbage".to_vec(), "bad.pdf", "application/pdf")?,
                ),
            422,
            "bad.pdf",
        ),
    ];
    for (form, status, detail) in cases {
        let body = expect_error(upload(&app, &token, form).await?, status).await?;
        let text = body["detail"].as_str().unwrap_or_default().to_lowercase();
        assert!(text.contains(detail), "expected {detail:?} in {body}");
    }
    let json_body = app
        .post_json(
            "/api/v1/knowledge/documents",
            &json!({"files": []}),
            Some(&token),
        )
        .await?;
    expect_error(json_body, 415).await?;
    let listed = expect_json(
        app.get("/api/v1/knowledge/documents", Some(&token)).await?,
        200,
    )
    .await?;
    assert_eq!(
        listed["total"], 0,
        "no refused upload left anything behind: {listed}"
    );
    let found = expect_json(
        search(&app, &token, &json!({"query": "shipping"})).await?,
        200,
    )
    .await?;
    assert_eq!(found["results"], json!([]));
    Ok(())
}

#[tokio::test]
async fn agents_search_only_their_documents() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let token = app.signed_in_user().await?;
    let agent = expect_json(
        app.post_json("/api/v1/agents", &json!({"name": "Support"}), Some(&token))
            .await?,
        201,
    )
    .await?;
    let agent_id = agent["id"].as_str().unwrap_or_default().to_owned();
    let attached = Form::new().text("agent_id", agent_id.clone()).part(
        "files",
        part(
            b"Returns are accepted within thirty days of delivery.".to_vec(),
            "returns.txt",
            "text/plain",
        )?,
    );
    let attached = expect_json(upload(&app, &token, attached).await?, 201).await?;
    let returns_id = attached["documents"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let other = Form::new().part(
        "files",
        part(
            b"Returns of gift cards are never accepted, sorry.".to_vec(),
            "giftcards.txt",
            "text/plain",
        )?,
    );
    let other = expect_json(upload(&app, &token, other).await?, 201).await?;
    let other_id = other["documents"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let view = expect_json(
        app.get(&format!("/api/v1/agents/{agent_id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(view["knowledge_document_ids"], json!([returns_id]));
    let scoped = expect_json(
        search(
            &app,
            &token,
            &json!({"query": "are returns accepted", "agent_id": agent_id, "top_k": 5}),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(names(&scoped), ["returns.txt"]);
    let everything = expect_json(
        search(
            &app,
            &token,
            &json!({"query": "are returns accepted", "top_k": 5}),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(names(&everything).len(), 2);

    // Attaching through the agent: known documents only.
    let attach = app
        .request(Method::PATCH, &format!("/api/v1/agents/{agent_id}"))
        .bearer_auth(&token)
        .json(&json!({"knowledge_document_ids": [returns_id, other_id, uuid::Uuid::new_v4().to_string()]}))
        .send()
        .await?;
    let body = expect_error(attach, 422).await?;
    assert_eq!(body["errors"][0]["field"], "knowledge_document_ids[2]");
    // Deleting a document detaches it.
    let delete = app
        .request(
            Method::DELETE,
            &format!("/api/v1/knowledge/documents/{returns_id}"),
        )
        .bearer_auth(&token)
        .send()
        .await?;
    expect_json(delete, 200).await?;
    let view = expect_json(
        app.get(&format!("/api/v1/agents/{agent_id}"), Some(&token))
            .await?,
        200,
    )
    .await?;
    assert_eq!(view["knowledge_document_ids"], json!([]));
    let none = expect_json(
        search(
            &app,
            &token,
            &json!({"query": "returns", "agent_id": agent_id}),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(none["results"], json!([]));

    for bad in [
        json!({"query": ""}),
        json!({"query": "x", "top_k": 0}),
        json!({"query": "x", "top_k": 51}),
        json!({"top_k": 3}),
    ] {
        expect_error(search(&app, &token, &bad).await?, 422).await?;
    }
    let unknown_agent = json!({"query": "returns", "agent_id": uuid::Uuid::new_v4().to_string()});
    expect_error(search(&app, &token, &unknown_agent).await?, 404).await?;
    Ok(())
}

#[tokio::test]
async fn another_organisation_sees_no_documents() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let owner = app.signed_in_user().await?;
    let stranger = app.signed_in_user().await?;
    let form = Form::new().part(
        "files",
        part(
            b"The vault code is kept by the night manager.".to_vec(),
            "vault.txt",
            "text/plain",
        )?,
    );
    let stored = expect_json(upload(&app, &owner, form).await?, 201).await?;
    let id = stored["documents"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = format!("/api/v1/knowledge/documents/{id}");
    expect_error(app.get(&path, Some(&stranger)).await?, 404).await?;
    expect_error(
        app.request(Method::DELETE, &path)
            .bearer_auth(&stranger)
            .send()
            .await?,
        404,
    )
    .await?;
    let listed = expect_json(
        app.get("/api/v1/knowledge/documents", Some(&stranger))
            .await?,
        200,
    )
    .await?;
    assert_eq!(listed["total"], 0);
    let found = expect_json(
        search(
            &app,
            &stranger,
            &json!({"query": "vault code night manager"}),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(found["results"], json!([]));
    let attach = app
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Thief", "knowledge_document_ids": [id]}),
            Some(&stranger),
        )
        .await?;
    expect_error(attach, 422).await?;
    let foreign_agent = expect_json(
        app.post_json("/api/v1/agents", &json!({"name": "Mine"}), Some(&owner))
            .await?,
        201,
    )
    .await?;
    let form = Form::new()
        .text(
            "agent_id",
            foreign_agent["id"].as_str().unwrap_or_default().to_owned(),
        )
        .part(
            "files",
            part(
                b"Some text to attach elsewhere.".to_vec(),
                "x.txt",
                "text/plain",
            )?,
        );
    expect_error(upload(&app, &stranger, form).await?, 404).await?;
    expect_error(app.get("/api/v1/knowledge/documents", None).await?, 401).await?;
    Ok(())
}
