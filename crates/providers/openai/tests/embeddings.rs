//! `OpenAiEmbedder` against testkit's loopback `FakeOpenAi`: batching, ordering by index,
//! normalisation, sizes, retries and error mapping.

use std::time::Duration;

use serde_json::json;
use switchboard_domain::knowledge::{EmbedError, Embedder};
use switchboard_openai::{
    ApiKey, EmbeddingConfig, OpenAiConfig, OpenAiConfigError, OpenAiEmbedder,
};
use switchboard_testkit::{EmbeddingReply, FakeOpenAi};
use url::Url;

type TestResult = anyhow::Result<()>;

fn config(fake: &FakeOpenAi) -> anyhow::Result<OpenAiConfig> {
    let mut config = OpenAiConfig::new(
        ApiKey::new(fake.api_key()),
        Url::parse(&fake.base_url())?,
        "gpt-4o-mini",
    );
    config.retry_base = Duration::from_millis(10);
    Ok(config)
}

/// Small vectors keep 600 of them quick to send.
fn small(batch_size: usize) -> EmbeddingConfig {
    EmbeddingConfig {
        model: "text-embedding-3-small".into(),
        dimensions: Some(8),
        batch_size,
    }
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("chunk number {i}")).collect()
}

fn norm(vector: &[f32]) -> f32 {
    vector.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[tokio::test]
async fn many_texts_go_in_batches_and_come_back_in_order_and_normalised() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let embedder = OpenAiEmbedder::new(&config(&fake)?, small(256))?;
    let texts = texts(600);

    let vectors = embedder.embed(&texts).await?;

    let requests = fake.embedding_requests();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| r.body["input"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [256, 256, 88]);
    assert_eq!(requests[0].body["model"], "text-embedding-3-small");
    assert_eq!(requests[0].body["dimensions"], 8);
    assert_eq!(requests[0].body["encoding_format"], "float");
    assert_eq!(requests[2].body["input"][0], "chunk number 512");

    assert_eq!(vectors.len(), 600);
    for vector in &vectors {
        assert_eq!(vector.len(), 8);
        assert!((norm(vector) - 1.0).abs() < 1e-4, "{}", norm(vector));
    }
    // The fake answers in reverse order; each vector is still its own text's.
    for i in [0, 255, 256, 599] {
        let alone = embedder.embed(&texts[i..=i]).await?;
        assert_eq!(alone[0], vectors[i], "text {i}");
    }
    assert_ne!(vectors[0], vectors[1]);
    Ok(())
}

#[tokio::test]
async fn the_models_own_size_is_used_without_asking_for_it() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let embedder = OpenAiEmbedder::new(&config(&fake)?, EmbeddingConfig::default())?;
    assert_eq!(embedder.name(), "text-embedding-3-small");
    assert_eq!(embedder.dimensions(), 1536);

    let vectors = embedder.embed(&["hello".into(), "world".into()]).await?;

    assert_eq!(vectors.len(), 2);
    assert!(vectors.iter().all(|v| v.len() == 1536));
    assert!(
        fake.embedding_requests()[0]
            .body
            .get("dimensions")
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn a_vector_of_the_wrong_size_is_an_error() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    fake.enqueue_embeddings(EmbeddingReply::with_dimensions(7));
    let embedder = OpenAiEmbedder::new(&config(&fake)?, small(16))?;

    let result = embedder.embed(&texts(3)).await;

    match result {
        Err(EmbedError::Unexpected(error)) => {
            assert!(error.to_string().contains("7 components"), "{error}");
        }
        other => panic!("expected Unexpected, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn blank_texts_get_the_zero_vector_and_nothing_is_sent_for_none() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let embedder = OpenAiEmbedder::new(&config(&fake)?, small(16))?;

    assert!(embedder.embed(&[]).await?.is_empty());
    assert!(fake.requests().is_empty());

    let vectors = embedder
        .embed(&["hello".into(), "   ".into(), "world".into()])
        .await?;

    assert_eq!(vectors[1], vec![0.0; 8]);
    assert!((norm(&vectors[0]) - 1.0).abs() < 1e-4);
    assert!((norm(&vectors[2]) - 1.0).abs() < 1e-4);
    assert_eq!(
        fake.embedding_requests()[0].body["input"],
        json!(["hello", "world"])
    );
    Ok(())
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    fake.enqueue_embeddings(EmbeddingReply::openai_error(503, "overloaded", None));
    let embedder = OpenAiEmbedder::new(&config(&fake)?, small(16))?;

    assert_eq!(embedder.embed(&texts(2)).await?.len(), 2);
    assert_eq!(fake.embedding_requests().len(), 2);

    for _ in 0..4 {
        fake.enqueue_embeddings(EmbeddingReply::openai_error(
            429,
            "Rate limit reached",
            None,
        ));
    }
    let result = embedder.embed(&texts(2)).await;
    assert!(
        matches!(&result, Err(EmbedError::Unavailable(m)) if m.contains("Rate limit reached")),
        "{result:?}"
    );
    // The first attempt and the default three retries.
    assert_eq!(fake.embedding_requests().len(), 6);
    Ok(())
}

#[tokio::test]
async fn refusals_are_rejected_without_retry() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    fake.enqueue_embeddings(EmbeddingReply::openai_error(
        400,
        "This model's maximum context length is 8192 tokens",
        None,
    ));
    let embedder = OpenAiEmbedder::new(&config(&fake)?, small(16))?;

    let result = embedder.embed(&texts(1)).await;

    assert!(
        matches!(&result, Err(EmbedError::Rejected(m)) if m.contains("maximum context length")),
        "{result:?}"
    );
    assert_eq!(fake.embedding_requests().len(), 1);

    let mut wrong = config(&fake)?;
    wrong.api_key = ApiKey::new("sk-not-the-key-0987654321");
    let embedder = OpenAiEmbedder::new(&wrong, small(16))?;
    let result = embedder.embed(&texts(1)).await;
    assert!(
        matches!(&result, Err(EmbedError::Rejected(_))),
        "{result:?}"
    );
    assert!(!format!("{result:?}").contains("sk-not-the-key-0987654321"));
    assert!(!format!("{embedder:?}").contains("sk-not-the-key-0987654321"));
    Ok(())
}

#[tokio::test]
async fn configurations_it_cannot_honour_are_refused() -> TestResult {
    let fake = FakeOpenAi::start().await?;
    let config = config(&fake)?;
    assert_eq!(
        OpenAiEmbedder::new(&config, EmbeddingConfig::new("nomic-embed-text")).err(),
        Some(OpenAiConfigError::UnknownDimensions {
            model: "nomic-embed-text".into()
        })
    );
    assert_eq!(
        OpenAiEmbedder::new(&config, small(0)).err(),
        Some(OpenAiConfigError::BatchSize)
    );
    let mut local = EmbeddingConfig::new("nomic-embed-text");
    local.dimensions = Some(768);
    assert_eq!(OpenAiEmbedder::new(&config, local)?.dimensions(), 768);
    Ok(())
}
