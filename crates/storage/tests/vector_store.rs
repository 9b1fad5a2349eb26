//! The `VectorStore` contract, held against every implementation: the in-memory store, and the
//! database store on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchboard_domain::account::{DisplayName, EmailAddress, NewAccount, PasswordHash};
use switchboard_domain::ids::{OrganizationId, UserId};
use switchboard_domain::knowledge::{
    ChunkId, DocumentId, VectorFilter, VectorRecord, VectorStore, l2_normalize,
};
use switchboard_domain::ports::AccountRepository;
use switchboard_local::MemoryVectorStore;
use switchboard_storage::testing::TestDatabase;
use switchboard_storage::{Database, SeaOrmAccounts, SeaOrmVectorStore};

async fn organisation(db: Option<&Database>) -> OrganizationId {
    let id = OrganizationId::new();
    if let Some(db) = db {
        let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());
        SeaOrmAccounts::new(db.clone())
            .create_account(NewAccount {
                user_id: UserId::new(),
                organization_id: id,
                email: EmailAddress::parse(&email).unwrap(),
                full_name: None,
                organization_name: DisplayName::parse("Org").unwrap(),
                password_hash: PasswordHash::new("$argon2id$stub".into()),
                created_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
    }
    id
}

fn unit(values: &[f32]) -> Vec<f32> {
    let mut v = values.to_vec();
    l2_normalize(&mut v);
    v
}

fn record(document: DocumentId, index: u32, text: &str, vector: &[f32]) -> VectorRecord {
    VectorRecord {
        chunk_id: ChunkId::new(),
        document_id: document,
        chunk_index: index,
        text: text.to_owned(),
        vector: unit(vector),
    }
}

async fn contract(store: &dyn VectorStore, db: Option<&Database>) {
    let (mine, theirs) = (organisation(db).await, organisation(db).await);
    let (doc_a, doc_b) = (DocumentId::new(), DocumentId::new());
    let north = record(doc_a, 0, "north", &[1.0, 0.0, 0.0]);
    let north_east = record(doc_a, 1, "north-east", &[1.0, 1.0, 0.0]);
    let east = record(doc_b, 0, "east", &[0.0, 1.0, 0.0]);
    store
        .upsert(mine, vec![north.clone(), north_east.clone(), east.clone()])
        .await
        .unwrap();
    store
        .upsert(
            theirs,
            vec![record(
                DocumentId::new(),
                0,
                "foreign north",
                &[1.0, 0.0, 0.0],
            )],
        )
        .await
        .unwrap();

    // Nearest first, scores are cosines, top_k bounds the answer.
    let found = store
        .query(mine, &unit(&[1.0, 0.0, 0.0]), 2, &VectorFilter::all())
        .await
        .unwrap();
    let texts: Vec<&str> = found.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["north", "north-east"]);
    assert!((found[0].score - 1.0).abs() < 1e-5);
    assert!((found[1].score - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5);
    assert_eq!(found[1].chunk_index, 1);
    assert_eq!(found[1].document_id, doc_a);

    // Namespaces are sealed.
    let all = store
        .query(mine, &unit(&[1.0, 0.0, 0.0]), 10, &VectorFilter::all())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|m| m.text != "foreign north"));

    // Filters.
    let only_b = store
        .query(
            mine,
            &unit(&[1.0, 0.0, 0.0]),
            10,
            &VectorFilter::documents([doc_b]),
        )
        .await
        .unwrap();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].text, "east");
    assert!(
        store
            .query(
                mine,
                &unit(&[1.0, 0.0, 0.0]),
                10,
                &VectorFilter::documents([])
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .query(mine, &unit(&[1.0, 0.0, 0.0]), 0, &VectorFilter::all())
            .await
            .unwrap()
            .is_empty()
    );

    // Upsert of an existing chunk id replaces it.
    let mut moved = east.clone();
    moved.text = "east, moved north".into();
    moved.vector = unit(&[1.0, 0.1, 0.0]);
    store.upsert(mine, vec![moved]).await.unwrap();
    let again = store
        .query(mine, &unit(&[1.0, 0.0, 0.0]), 10, &VectorFilter::all())
        .await
        .unwrap();
    assert_eq!(again.len(), 3);
    assert_eq!(again[1].text, "east, moved north");

    // Deleting a document removes its records only, in its namespace only; twice is fine.
    store.delete_document(mine, doc_a).await.unwrap();
    store.delete_document(mine, doc_a).await.unwrap();
    let left = store
        .query(mine, &unit(&[1.0, 0.0, 0.0]), 10, &VectorFilter::all())
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    let foreign = store
        .query(theirs, &unit(&[1.0, 0.0, 0.0]), 10, &VectorFilter::all())
        .await
        .unwrap();
    assert_eq!(foreign.len(), 1);

    // Many records: the scan pages through them and keeps the best.
    let many: Vec<VectorRecord> = (0..1300)
        .map(|i| {
            record(
                doc_b,
                i,
                &format!("chunk {i}"),
                &[1.0, i as f32 / 100.0, 0.5],
            )
        })
        .collect();
    store.upsert(mine, many).await.unwrap();
    let best = store
        .query(mine, &unit(&[1.0, 0.0, 0.5]), 3, &VectorFilter::all())
        .await
        .unwrap();
    let texts: Vec<&str> = best.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["chunk 0", "chunk 1", "chunk 2"]);
    assert!(best.windows(2).all(|w| w[0].score >= w[1].score));
}

#[tokio::test]
async fn memory_store_keeps_the_contract() {
    contract(&MemoryVectorStore::new(), None).await;
}

#[tokio::test]
async fn database_store_keeps_the_contract_on_sqlite() -> anyhow::Result<()> {
    let db = TestDatabase::sqlite().await?;
    contract(
        &SeaOrmVectorStore::new(db.database().clone()),
        Some(db.database()),
    )
    .await;
    Ok(())
}

#[tokio::test]
async fn database_store_keeps_the_contract_on_postgres() -> anyhow::Result<()> {
    let Some(db) = TestDatabase::postgres().await? else {
        return Ok(());
    };
    contract(
        &SeaOrmVectorStore::new(db.database().clone()),
        Some(db.database()),
    )
    .await;
    Ok(())
}
