//! `PineconeVectorStore` on the wire, against testkit's `FakePinecone`: headers and camelCase
//! bodies, namespaces and metadata, batching, retries, error mapping, and the requests it does
//! not need to send.

use std::time::Duration;

use switchboard_domain::ids::OrganizationId;
use switchboard_domain::knowledge::{
    ChunkId, DocumentId, VectorFilter, VectorRecord, VectorStore, VectorStoreError, l2_normalize,
};
use switchboard_pinecone::{
    ApiKey, MAX_METADATA_TEXT_BYTES, MAX_REQUEST_BYTES, PineconeConfig, PineconeConfigError,
    PineconeVectorStore,
};
use switchboard_testkit::FakePinecone;
use url::Url;

type TestResult = anyhow::Result<()>;

fn config(fake: &FakePinecone) -> anyhow::Result<PineconeConfig> {
    let mut config =
        PineconeConfig::new(ApiKey::new(fake.api_key()), Url::parse(&fake.index_host())?);
    config.retry_base = Duration::from_millis(5);
    Ok(config)
}

fn store(fake: &FakePinecone) -> anyhow::Result<PineconeVectorStore> {
    Ok(PineconeVectorStore::new(&config(fake)?)?)
}

/// A unit vector of `dimension` components, varied by `seed`.
fn vector(dimension: usize, seed: u32) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dimension)
        .map(|i| ((i as f32 + 1.0) * (seed as f32 + 1.0)).sin())
        .collect();
    l2_normalize(&mut v);
    v
}

fn record(document: DocumentId, index: u32, text: &str, values: Vec<f32>) -> VectorRecord {
    VectorRecord {
        chunk_id: ChunkId::new(),
        document_id: document,
        chunk_index: index,
        text: text.to_owned(),
        vector: values,
    }
}

#[tokio::test]
async fn requests_carry_the_key_the_version_and_camel_case_bodies_in_the_orgs_namespace()
-> TestResult {
    let fake = FakePinecone::start(3).await?;
    let store = store(&fake)?;
    let organization = OrganizationId::new();
    let namespace = organization.to_string();
    let document = DocumentId::new();
    let chunk = record(document, 7, "Refunds take five days.", vector(3, 1));

    store.upsert(organization, vec![chunk.clone()]).await?;
    let found = store
        .query(organization, &chunk.vector, 5, &VectorFilter::all())
        .await?;
    store
        .query(
            organization,
            &chunk.vector,
            5,
            &VectorFilter::documents([document]),
        )
        .await?;
    store.delete_document(organization, document).await?;

    let requests = fake.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/vectors/upsert", "/query", "/query", "/vectors/delete"]
    );
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.api_key.as_deref(), Some(fake.api_key().as_str()));
        assert_eq!(request.api_version.as_deref(), Some("2025-10"));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        assert_eq!(request.body["namespace"], namespace.as_str());
    }

    let upsert = &requests[0].body;
    let sent = &upsert["vectors"][0];
    assert_eq!(sent["id"], chunk.chunk_id.to_string());
    assert_eq!(sent["values"].as_array().map(Vec::len), Some(3));
    assert_eq!(sent["metadata"]["document_id"], document.to_string());
    assert_eq!(sent["metadata"]["chunk_index"], 7);
    assert_eq!(sent["metadata"]["text"], "Refunds take five days.");

    let query = &requests[1].body;
    assert_eq!(query["topK"], 5);
    assert_eq!(query["includeMetadata"], true);
    assert_eq!(query["includeValues"], false);
    assert_eq!(query["vector"].as_array().map(Vec::len), Some(3));
    assert!(query.get("filter").is_none(), "{query}");
    assert_eq!(
        requests[2].body["filter"],
        serde_json::json!({"document_id": {"$in": [document.to_string()]}})
    );
    assert_eq!(
        requests[3].body,
        serde_json::json!({
            "namespace": namespace,
            "filter": {"document_id": {"$eq": document.to_string()}},
        })
    );

    // The fake answers chunk_index as the float Pinecone keeps; it still reads back.
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].chunk_id, chunk.chunk_id);
    assert_eq!(found[0].document_id, document);
    assert_eq!(found[0].chunk_index, 7);
    assert_eq!(found[0].text, "Refunds take five days.");
    assert!((found[0].score - 1.0).abs() < 1e-5);
    assert!(fake.namespaces().is_empty(), "the delete emptied it");
    Ok(())
}

#[tokio::test]
async fn upserts_go_in_batches_of_at_most_a_hundred() -> TestResult {
    let fake = FakePinecone::start(3).await?;
    let store = store(&fake)?;
    let organization = OrganizationId::new();
    let document = DocumentId::new();
    let records: Vec<VectorRecord> = (0..250)
        .map(|i| record(document, i, &format!("chunk {i}"), vector(3, i)))
        .collect();

    store.upsert(organization, records).await?;

    let sizes: Vec<usize> = fake
        .requests_to("/vectors/upsert")
        .iter()
        .filter_map(|r| r.body["vectors"].as_array().map(Vec::len))
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(fake.vector_count(&organization.to_string()), 250);
    Ok(())
}

#[tokio::test]
async fn large_vectors_are_batched_under_two_megabytes() -> TestResult {
    let fake = FakePinecone::start(3072).await?;
    let store = store(&fake)?;
    let organization = OrganizationId::new();
    let document = DocumentId::new();
    let records: Vec<VectorRecord> = (0..100)
        .map(|i| record(document, i, &format!("chunk {i}"), vector(3072, i)))
        .collect();

    store.upsert(organization, records).await?;

    let upserts = fake.requests_to("/vectors/upsert");
    assert!(upserts.len() >= 2, "{} requests", upserts.len());
    assert!(
        upserts.iter().all(|r| r.body_bytes <= MAX_REQUEST_BYTES),
        "{:?}",
        upserts.iter().map(|r| r.body_bytes).collect::<Vec<_>>()
    );
    assert_eq!(fake.vector_count(&organization.to_string()), 100);
    Ok(())
}

#[tokio::test]
async fn long_texts_are_cut_to_fit_pinecones_metadata_limit() -> TestResult {
    let fake = FakePinecone::start(3).await?;
    let store = store(&fake)?;
    let organization = OrganizationId::new();
    let text = "Ünïcödé \"quoted\" text.\n".repeat(4000);

    store
        .upsert(
            organization,
            vec![record(DocumentId::new(), 0, &text, vector(3, 0))],
        )
        .await?;

    let stored = fake.vectors(&organization.to_string());
    let kept = stored[0]
        .metadata
        .as_ref()
        .and_then(|m| m["text"].as_str())
        .unwrap_or_default();
    assert!(text.starts_with(kept));
    assert!(kept.len() > MAX_METADATA_TEXT_BYTES / 2);
    assert!(serde_json::to_string(kept)?.len() <= MAX_METADATA_TEXT_BYTES + 2);
    Ok(())
}

#[tokio::test]
async fn overloads_are_retried_until_the_index_answers() -> TestResult {
    let fake = FakePinecone::start(3).await?;
    let store = store(&fake)?;
    let organization = OrganizationId::new();
    fake.fail_next(2, 503);

    store
        .upsert(
            organization,
            vec![record(DocumentId::new(), 0, "kept", vector(3, 0))],
        )
        .await?;
    assert_eq!(fake.requests_to("/vectors/upsert").len(), 3);

    fake.fail_next(1, 429);
    let found = store
        .query(organization, &vector(3, 0), 1, &VectorFilter::all())
        .await?;
    assert_eq!(found.len(), 1);
    assert_eq!(fake.requests_to("/query").len(), 2);
    Ok(())
}

#[tokio::test]
async fn an_index_that_stays_down_is_unavailable_after_the_retries() -> TestResult {
    let fake = FakePinecone::start(3).await?;
    let mut config = config(&fake)?;
    config.max_retries = 2;
    let store = PineconeVectorStore::new(&config)?;
    fake.fail_next(10, 503);

    let error = store
        .query(
            OrganizationId::new(),
            &vector(3, 0),
            1,
            &VectorFilter::all(),
        )
        .await
        .err();

    assert!(
        matches!(error, Some(VectorStoreError::Unavailable(_))),
        "{error:?}"
    );
    assert_eq!(fake.requests_to("/query").len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_host_that_refuses_connections_is_unavailable() -> TestResult {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    drop(listener);
    let mut config = PineconeConfig::new(
        ApiKey::new("pcsk-unused"),
        Url::parse(&format!("http://{address}"))?,
    );
    config.retry_base = Duration::from_millis(5);
    config.max_retries = 1;
    let store = PineconeVectorStore::new(&config)?;

    let error = store
        .delete_document(OrganizationId::new(), DocumentId::new())
        .await
        .err();

    assert!(
        matches!(error, Some(VectorStoreError::Unavailable(_))),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_key_is_refused_once_without_the_key_in_the_error() -> TestResult {
    let fake = FakePinecone::start(3).await?;
    let secret = "pcsk_wrong_and_very_secret_key";
    let mut config = config(&fake)?;
    config.api_key = ApiKey::new(secret);
    let store = PineconeVectorStore::new(&config)?;

    let error = store
        .upsert(
            OrganizationId::new(),
            vec![record(DocumentId::new(), 0, "t", vector(3, 0))],
        )
        .await
        .err();

    let Some(error @ VectorStoreError::Unexpected(_)) = error else {
        panic!("expected Unexpected, got {error:?}");
    };
    let shown = format!("{error:#} {error:?}");
    assert!(shown.contains("401"), "{shown}");
    assert!(shown.contains("Invalid API Key"), "{shown}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(!format!("{config:?} {store:?}").contains(secret));
    assert_eq!(fake.requests().len(), 1, "a refusal is not retried");
    Ok(())
}

#[tokio::test]
async fn dimension_mismatches_are_reported_as_such() -> TestResult {
    let fake = FakePinecone::start(3).await?;
    let store = store(&fake)?;
    let organization = OrganizationId::new();

    let upsert = store
        .upsert(
            organization,
            vec![record(DocumentId::new(), 0, "t", vector(4, 0))],
        )
        .await
        .err();
    let query = store
        .query(organization, &vector(5, 0), 3, &VectorFilter::all())
        .await
        .err();

    assert!(
        matches!(
            upsert,
            Some(VectorStoreError::DimensionMismatch {
                expected: 3,
                actual: 4
            })
        ),
        "{upsert:?}"
    );
    assert!(
        matches!(
            query,
            Some(VectorStoreError::DimensionMismatch {
                expected: 3,
                actual: 5
            })
        ),
        "{query:?}"
    );
    Ok(())
}

#[tokio::test]
async fn queries_that_can_find_nothing_are_not_sent() -> TestResult {
    let fake = FakePinecone::start(3).await?;
    let store = store(&fake)?;
    let organization = OrganizationId::new();

    let none = store
        .query(organization, &vector(3, 0), 5, &VectorFilter::documents([]))
        .await?;
    let zero_k = store
        .query(organization, &vector(3, 0), 0, &VectorFilter::all())
        .await?;
    let zero_vector = store
        .query(organization, &[0.0; 3], 5, &VectorFilter::all())
        .await?;
    store.upsert(organization, Vec::new()).await?;

    assert!(none.is_empty() && zero_k.is_empty() && zero_vector.is_empty());
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    Ok(())
}

#[tokio::test]
async fn an_all_zero_vector_replaces_a_record_by_removing_it() -> TestResult {
    let fake = FakePinecone::start(3).await?;
    let store = store(&fake)?;
    let organization = OrganizationId::new();
    let document = DocumentId::new();
    let mut chunk = record(document, 0, "was something", vector(3, 0));
    let other = record(document, 1, "stays", vector(3, 1));
    store
        .upsert(organization, vec![chunk.clone(), other.clone()])
        .await?;

    chunk.vector = vec![0.0; 3];
    store.upsert(organization, vec![chunk.clone()]).await?;

    let ids: Vec<String> = fake
        .vectors(&organization.to_string())
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(ids, [other.chunk_id.to_string()]);
    Ok(())
}

#[test]
fn configurations_that_cannot_work_are_refused() -> TestResult {
    let host = Url::parse("https://index-abc.svc.us-east-1-aws.pinecone.io")?;
    assert_eq!(
        PineconeVectorStore::new(&PineconeConfig::new(ApiKey::new(""), host.clone())).err(),
        Some(PineconeConfigError::EmptyKey)
    );
    assert_eq!(
        PineconeVectorStore::new(&PineconeConfig::new(ApiKey::new("a\nb"), host.clone())).err(),
        Some(PineconeConfigError::InvalidKey)
    );
    assert!(matches!(
        PineconeVectorStore::new(&PineconeConfig::new(
            ApiKey::new("k"),
            Url::parse("ftp://example.com")?
        ))
        .err(),
        Some(PineconeConfigError::IndexHost(_))
    ));
    assert!(PineconeVectorStore::new(&PineconeConfig::new(ApiKey::new("k"), host)).is_ok());
    Ok(())
}
