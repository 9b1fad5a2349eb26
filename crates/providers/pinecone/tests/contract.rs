//! `PineconeVectorStore` against testkit's `FakePinecone` holds the same `VectorStore` contract
//! as every other store.

use std::time::Duration;

use switchboard_domain::ids::OrganizationId;
use switchboard_pinecone::{ApiKey, MAX_BATCH_VECTORS, PineconeConfig, PineconeVectorStore};
use switchboard_testkit::{FakePinecone, vector_store_contract};
use url::Url;

#[tokio::test]
async fn pinecone_keeps_the_contract() -> anyhow::Result<()> {
    let fake = FakePinecone::start(3).await?;
    let mut config =
        PineconeConfig::new(ApiKey::new(fake.api_key()), Url::parse(&fake.index_host())?);
    config.retry_base = Duration::from_millis(5);
    let store = PineconeVectorStore::new(&config)?;
    let (mine, theirs) = (OrganizationId::new(), OrganizationId::new());

    vector_store_contract(&store, mine, theirs).await?;

    // The suite's 1300-record upsert went in full batches.
    let batches: Vec<usize> = fake
        .requests_to("/vectors/upsert")
        .iter()
        .filter_map(|r| r.body["vectors"].as_array().map(Vec::len))
        .collect();
    assert!(
        batches.iter().all(|&n| n <= MAX_BATCH_VECTORS),
        "{batches:?}"
    );
    assert!(batches.iter().filter(|&&n| n == MAX_BATCH_VECTORS).count() >= 13);
    assert_eq!(fake.vector_count(&mine.to_string()), 1301);
    assert_eq!(fake.vector_count(&theirs.to_string()), 1);
    Ok(())
}
