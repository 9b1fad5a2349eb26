//! Retrieval quality of the local lexical embedder on a small help-centre corpus
//! (`fixtures/retrieval_corpus.json`): every document is chunked with the default options,
//! embedded and stored through the ports, and each question must find the one document that
//! answers it. Reports document-level top-1 and top-3 hit rates, and holds top-3 to at least 0.8.
//!
//! See the figures with `cargo test -p switchboard-local --test retrieval -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use serde::Deserialize;
use switchboard_domain::ids::OrganizationId;
use switchboard_domain::knowledge::{
    ChunkId, ChunkingOptions, DocumentId, Embedder, VectorFilter, VectorRecord, VectorStore,
    chunk_text,
};
use switchboard_local::{LexicalEmbedder, MemoryVectorStore};

#[derive(Deserialize)]
struct Corpus {
    documents: Vec<FixtureDocument>,
    questions: Vec<Question>,
}

#[derive(Deserialize)]
struct FixtureDocument {
    id: String,
    text: String,
}

#[derive(Deserialize)]
struct Question {
    question: String,
    document: String,
}

/// Chunks retrieved per question before they are folded into a ranking of documents; enough
/// that three distinct documents are almost always among them.
const CHUNKS_PER_QUERY: usize = 10;

struct Evaluation {
    top1: f64,
    top3: f64,
    misses: Vec<String>,
}

async fn evaluate(embedder: &dyn Embedder) -> Evaluation {
    let corpus: Corpus =
        serde_json::from_str(include_str!("fixtures/retrieval_corpus.json")).unwrap();
    let store = MemoryVectorStore::new();
    let org = OrganizationId::new();
    let options = ChunkingOptions::default();
    let mut names: HashMap<DocumentId, String> = HashMap::new();

    for document in &corpus.documents {
        let document_id = DocumentId::new();
        names.insert(document_id, document.id.clone());
        let chunks = chunk_text(&document.text, &options);
        assert!(!chunks.is_empty(), "{} has no chunks", document.id);
        let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
        let vectors = embedder.embed(&texts).await.unwrap();
        let records = chunks
            .into_iter()
            .zip(vectors)
            .map(|(chunk, vector)| VectorRecord {
                chunk_id: ChunkId::new(),
                document_id,
                chunk_index: chunk.index,
                text: chunk.text,
                vector,
            })
            .collect();
        store.upsert(org, records).await.unwrap();
    }

    let (mut top1, mut top3) = (0_u32, 0_u32);
    let mut misses = Vec::new();
    for question in &corpus.questions {
        let vector = embedder
            .embed(std::slice::from_ref(&question.question))
            .await
            .unwrap()
            .remove(0);
        let matches = store
            .query(org, &vector, CHUNKS_PER_QUERY, &VectorFilter::all())
            .await
            .unwrap();
        // Documents in the order of their best chunk.
        let mut ranking: Vec<&str> = Vec::new();
        for found in &matches {
            let name = names[&found.document_id].as_str();
            if !ranking.contains(&name) {
                ranking.push(name);
            }
        }
        let rank = ranking.iter().position(|name| *name == question.document);
        match rank {
            Some(0) => {
                top1 += 1;
                top3 += 1;
            }
            Some(1 | 2) => top3 += 1,
            _ => misses.push(format!(
                "{:?} wanted {}, got {:?}",
                question.question,
                question.document,
                &ranking[..ranking.len().min(3)]
            )),
        }
    }
    let total = f64::from(u32::try_from(corpus.questions.len()).unwrap());
    Evaluation {
        top1: f64::from(top1) / total,
        top3: f64::from(top3) / total,
        misses,
    }
}

#[tokio::test]
#[expect(
    clippy::print_stdout,
    reason = "the evaluation reports its figures on the console"
)]
async fn lexical_embedder_finds_the_answering_document() {
    let evaluation = evaluate(&LexicalEmbedder::new()).await;
    println!(
        "local-lexical retrieval on 30 questions ({} dimensions): top-1 {:.3}, top-3 {:.3}",
        LexicalEmbedder::DEFAULT_DIMENSIONS,
        evaluation.top1,
        evaluation.top3
    );
    for miss in &evaluation.misses {
        println!("  missed in top 3: {miss}");
    }
    // For comparison: what hash collisions cost at other vector lengths.
    for dimensions in [1024, 4096, 16_384] {
        let other = evaluate(&LexicalEmbedder::with_dimensions(dimensions).unwrap()).await;
        println!(
            "  with {dimensions} dimensions: top-1 {:.3}, top-3 {:.3}",
            other.top1, other.top3
        );
    }
    assert!(
        evaluation.top3 >= 0.8,
        "top-3 hit rate {:.3} is below 0.8",
        evaluation.top3
    );
}
