//! The knowledge base on Pinecone: with `PINECONE_*` pointing at testkit's fake index, uploads
//! land in the organisation's namespace, searches are answered from there, deletions remove
//! them, and an index that stays down makes the knowledge endpoints answer 503.

use reqwest::Method;
use reqwest::multipart::Form;
use serde_json::{Value, json};
use switchboard_testkit::{FakePinecone, TestApp};

use crate::knowledge::{names, part, search, upload};
use crate::support::{expect_error, expect_json};

/// The local lexical embedder's vector size, the default embedder's.
const LEXICAL_DIMENSIONS: usize = 2048;

async fn organization_id(app: &TestApp, token: &str) -> anyhow::Result<String> {
    let me = expect_json(app.get("/users/me", Some(token)).await?, 200).await?;
    me["organization_id"]
        .as_str()
        .map(ToOwned::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no organization_id in {me}"))
}

fn text_files() -> anyhow::Result<Form> {
    Ok(Form::new()
        .part(
            "files",
            part(
                b"Refunds are issued to the original card within five days of receiving the return.".to_vec(),
                "refunds.txt",
                "text/plain",
            )?,
        )
        .part(
            "files",
            part(
                b"# Opening hours\n\nThe support line is open **Monday to Friday**, 9am to 6pm."
                    .to_vec(),
                "hours.md",
                "text/markdown",
            )?,
        ))
}

#[tokio::test]
async fn knowledge_vectors_live_in_the_organisations_pinecone_namespace() -> anyhow::Result<()> {
    let fake = FakePinecone::start(LEXICAL_DIMENSIONS).await?;
    let app = TestApp::builder().with_pinecone(&fake).spawn().await?;
    let health = expect_json(app.get("/health", None).await?, 200).await?;
    assert_eq!(health["providers"]["pinecone"]["status"], "configured");
    let token = app.signed_in_user().await?;
    let organization = organization_id(&app, &token).await?;

    let stored = expect_json(upload(&app, &token, text_files()?).await?, 201).await?;
    let documents = stored["documents"].as_array().cloned().unwrap_or_default();
    assert_eq!(documents.len(), 2);
    let chunks: u64 = documents
        .iter()
        .filter_map(|d| d["chunk_count"].as_u64())
        .sum();
    let ids: Vec<&str> = documents.iter().filter_map(|d| d["id"].as_str()).collect();

    // The vectors are in the organisation's namespace, and nowhere else.
    assert_eq!(fake.namespaces(), std::slice::from_ref(&organization));
    let vectors = fake.vectors(&organization);
    assert_eq!(vectors.len() as u64, chunks);
    for vector in &vectors {
        assert_eq!(vector.values.len(), LEXICAL_DIMENSIONS);
        let metadata = vector.metadata.clone().unwrap_or_default();
        let document = metadata["document_id"].as_str().unwrap_or_default();
        assert!(ids.contains(&document), "{metadata:?}");
        assert!(metadata["text"].as_str().is_some_and(|t| !t.is_empty()));
    }

    // Searches are answered from the index.
    let found = expect_json(
        search(
            &app,
            &token,
            &json!({"query": "How do refunds work?", "top_k": 2}),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(
        names(&found).first().map(String::as_str),
        Some("refunds.txt")
    );
    let queries = fake.requests_to("/query");
    assert_eq!(queries.len(), 1);
    assert_eq!(queries[0].body["namespace"], organization.as_str());
    assert_eq!(queries[0].body["topK"], 2);

    // Another organisation finds nothing, and asks only in its own namespace.
    let stranger = app.signed_in_user().await?;
    let theirs = organization_id(&app, &stranger).await?;
    let nothing = expect_json(
        search(
            &app,
            &stranger,
            &json!({"query": "How do refunds work?", "top_k": 2}),
        )
        .await?,
        200,
    )
    .await?;
    assert_eq!(nothing["results"], json!([]), "{nothing}");
    let last: Value = fake
        .requests_to("/query")
        .last()
        .map(|r| r.body.clone())
        .unwrap_or_default();
    assert_eq!(last["namespace"], theirs.as_str());

    // Deleting a document removes its vectors from the index.
    let refunds = ids[0];
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/api/v1/knowledge/documents/{refunds}"),
        )
        .bearer_auth(&token)
        .send()
        .await?;
    expect_json(deleted, 200).await?;
    let left = fake.vectors(&organization);
    assert!(!left.is_empty());
    assert!(left.iter().all(|v| {
        v.metadata
            .as_ref()
            .is_some_and(|m| m["document_id"] != refunds)
    }));
    Ok(())
}

#[tokio::test]
async fn an_index_that_stays_down_makes_uploads_answer_503() -> anyhow::Result<()> {
    let fake = FakePinecone::start(LEXICAL_DIMENSIONS).await?;
    let app = TestApp::builder().with_pinecone(&fake).spawn().await?;
    let token = app.signed_in_user().await?;
    fake.fail_next(100, 503);

    let body = expect_error(upload(&app, &token, text_files()?).await?, 503).await?;

    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| !d.contains(&fake.api_key())),
        "{body}"
    );
    // Nothing is half stored: the document was not recorded.
    let listed = expect_json(
        app.get("/api/v1/knowledge/documents", Some(&token)).await?,
        200,
    )
    .await?;
    assert_eq!(listed["total"], 0, "{listed}");
    Ok(())
}
