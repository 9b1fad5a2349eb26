//! Contract suites: for a port, one function that every implementation must pass, so the
//! in-memory store, the database adapters and the remote adapters are held to the same promises
//! (the port's doc comment states them).

use switchboard_domain::ids::OrganizationId;
use switchboard_domain::knowledge::{
    ChunkId, DocumentId, VectorFilter, VectorRecord, VectorStore, l2_normalize,
};

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

/// Holds a [`VectorStore`] to its contract, with 3-component vectors, in two namespaces the
/// caller provides (organisations that exist, for stores that check), both empty.
///
/// # Errors
/// When the store fails an operation.
///
/// # Panics
/// When the store breaks the contract.
pub async fn vector_store_contract(
    store: &dyn VectorStore,
    mine: OrganizationId,
    theirs: OrganizationId,
) -> anyhow::Result<()> {
    let (doc_a, doc_b) = (DocumentId::new(), DocumentId::new());
    let north = record(doc_a, 0, "north", &[1.0, 0.0, 0.0]);
    let north_east = record(doc_a, 1, "north-east", &[1.0, 1.0, 0.0]);
    let east = record(doc_b, 0, "east", &[0.0, 1.0, 0.0]);
    store
        .upsert(mine, vec![north.clone(), north_east.clone(), east.clone()])
        .await?;
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
        .await?;
    let north_query = unit(&[1.0, 0.0, 0.0]);

    // Nearest first, scores are cosines, top_k bounds the answer.
    let found = store
        .query(mine, &north_query, 2, &VectorFilter::all())
        .await?;
    let texts: Vec<&str> = found.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["north", "north-east"]);
    assert!((found[0].score - 1.0).abs() < 1e-5, "{}", found[0].score);
    assert!(
        (found[1].score - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-5,
        "{}",
        found[1].score
    );
    assert_eq!(found[0].chunk_id, north.chunk_id);
    assert_eq!(found[1].chunk_index, 1);
    assert_eq!(found[1].document_id, doc_a);

    // Namespaces are sealed.
    let all = store
        .query(mine, &north_query, 10, &VectorFilter::all())
        .await?;
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|m| m.text != "foreign north"));

    // Filters.
    let only_b = store
        .query(mine, &north_query, 10, &VectorFilter::documents([doc_b]))
        .await?;
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0].text, "east");
    let both = store
        .query(
            mine,
            &north_query,
            10,
            &VectorFilter::documents([doc_a, doc_b]),
        )
        .await?;
    assert_eq!(both.len(), 3);
    assert!(
        store
            .query(mine, &north_query, 10, &VectorFilter::documents([]))
            .await?
            .is_empty()
    );
    assert!(
        store
            .query(mine, &north_query, 0, &VectorFilter::all())
            .await?
            .is_empty()
    );

    // Upsert of an existing chunk id replaces it.
    let mut moved = east.clone();
    moved.text = "east, moved north".into();
    moved.vector = unit(&[1.0, 0.1, 0.0]);
    store.upsert(mine, vec![moved]).await?;
    let again = store
        .query(mine, &north_query, 10, &VectorFilter::all())
        .await?;
    assert_eq!(again.len(), 3);
    assert_eq!(again[1].text, "east, moved north");

    // Equal scores come in a stable order.
    let twins = DocumentId::new();
    let twin_records: Vec<VectorRecord> = (0..4)
        .map(|i| record(twins, i, &format!("twin {i}"), &[0.0, 0.0, 1.0]))
        .collect();
    store.upsert(mine, twin_records).await?;
    let only_twins = VectorFilter::documents([twins]);
    let up = unit(&[0.0, 0.0, 1.0]);
    let first = store.query(mine, &up, 4, &only_twins).await?;
    let second = store.query(mine, &up, 4, &only_twins).await?;
    assert_eq!(first.len(), 4);
    assert_eq!(first, second);
    store.delete_document(mine, twins).await?;

    // Deleting a document removes its records only, in its namespace only; twice is fine.
    store.delete_document(theirs, doc_b).await?;
    store.delete_document(mine, doc_a).await?;
    store.delete_document(mine, doc_a).await?;
    let left = store
        .query(mine, &north_query, 10, &VectorFilter::all())
        .await?;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].document_id, doc_b);
    let foreign = store
        .query(theirs, &north_query, 10, &VectorFilter::all())
        .await?;
    assert_eq!(foreign.len(), 1);

    // Many records: the store pages through them and keeps the best.
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
    store.upsert(mine, many).await?;
    let best = store
        .query(mine, &unit(&[1.0, 0.0, 0.5]), 3, &VectorFilter::all())
        .await?;
    let texts: Vec<&str> = best.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["chunk 0", "chunk 1", "chunk 2"]);
    assert!(best.windows(2).all(|w| w[0].score >= w[1].score));
    Ok(())
}
