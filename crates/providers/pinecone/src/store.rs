//! [`PineconeVectorStore`]: the [`VectorStore`] port over a Pinecone index's data plane, one
//! namespace per organisation.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_domain::ids::OrganizationId;
use switchboard_domain::knowledge::{
    ChunkId, DocumentId, VectorFilter, VectorMatch, VectorRecord, VectorStore, VectorStoreError,
};
use switchboard_provider_http::endpoint;
use tracing::{debug, instrument};
use url::Url;

use crate::config::{PineconeConfig, PineconeConfigError};
use crate::http::Transport;

/// The most vectors sent in one upsert, as Pinecone recommends.
pub const MAX_BATCH_VECTORS: usize = 100;
/// The largest upsert body sent, below Pinecone's 2 MB request limit.
pub const MAX_REQUEST_BYTES: usize = 2_000_000;
/// The most bytes a chunk's text takes in a record's metadata, as JSON. Pinecone allows 40 KB of
/// metadata per record; this leaves room for the document id and chunk index beside the text.
pub const MAX_METADATA_TEXT_BYTES: usize = 32 * 1024;
/// The most matches one query asks for: Pinecone's limit on `topK` when metadata is included.
pub const MAX_TOP_K: usize = 1000;

/// Room in an answer beyond its matches' metadata: the envelope, ids, scores and usage.
const RESPONSE_OVERHEAD: usize = 64 * 1024;
/// The most one match may take in a query's answer: its metadata and its envelope.
const BYTES_PER_MATCH: usize = 40 * 1024 + 1024;
/// Upsert and delete answers are a count or nothing.
const SMALL_RESPONSE: usize = 64 * 1024;
/// `{"vectors":[` ... `],"namespace":"<uuid>"}` around a batch, with room to spare.
const ENVELOPE_BYTES: usize = 128;
/// The most ids one delete names, as Pinecone allows.
const DELETE_IDS: usize = 1000;

/// Chunk vectors in a Pinecone index.
///
/// - Each organisation has its own namespace, named by its id; namespaces are what seal tenants
///   from each other, and no request names another.
/// - A record's id is its chunk id, so an upsert of the same chunk replaces it; its metadata is
///   `{"document_id", "chunk_index", "text"}`, the text cut to [`MAX_METADATA_TEXT_BYTES`].
/// - Upserts go in batches of at most [`MAX_BATCH_VECTORS`] vectors and [`MAX_REQUEST_BYTES`].
/// - The index must use the cosine metric, since Pinecone's scores are its metric's and the port
///   promises cosines; the data plane cannot change an index's metric.
/// - Queries ask for at most [`MAX_TOP_K`] matches; a document filter becomes
///   `{"document_id": {"$in": [...]}}`, which Pinecone limits to 10,000 ids. Equal scores come
///   in chunk-id (creation) order; which of several equal scores make the cut at `top_k` is
///   Pinecone's choice.
/// - Pinecone refuses all-zero vectors. Such a vector has a cosine of 0 with everything, so an
///   all-zero record is removed rather than stored, and an all-zero query finds nothing.
#[derive(Debug)]
pub struct PineconeVectorStore {
    transport: Transport,
    upsert_url: Url,
    query_url: Url,
    delete_url: Url,
}

impl PineconeVectorStore {
    /// An adapter for the index `config` names; nothing is sent until the first request.
    ///
    /// # Errors
    /// When the index host is not an http(s) URL, the key is empty or cannot be an HTTP header,
    /// or the HTTP client cannot be built.
    pub fn new(config: &PineconeConfig) -> Result<Self, PineconeConfigError> {
        // The endpoints come first: they check the host, the first thing to be wrong with.
        let url = |path: &str| {
            endpoint(&config.index_host, path)
                .map_err(|_| PineconeConfigError::IndexHost(config.index_host.to_string()))
        };
        Ok(Self {
            upsert_url: url("/vectors/upsert")?,
            query_url: url("/query")?,
            delete_url: url("/vectors/delete")?,
            transport: Transport::new(config)?,
        })
    }

    async fn upsert_batch(
        &self,
        namespace: &str,
        vectors: &[Vec<u8>],
        bytes: usize,
    ) -> Result<(), VectorStoreError> {
        let namespace = serde_json::to_vec(namespace).map_err(unexpected)?;
        let mut body = Vec::with_capacity(bytes + vectors.len() + namespace.len() + 32);
        body.extend_from_slice(b"{\"vectors\":[");
        for (i, vector) in vectors.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(vector);
        }
        body.extend_from_slice(b"],\"namespace\":");
        body.extend_from_slice(&namespace);
        body.push(b'}');
        let answer: UpsertResponse = self
            .transport
            .post("upsert", &self.upsert_url, body, SMALL_RESPONSE)
            .await?;
        debug!(
            pinecone.vectors = vectors.len(),
            pinecone.upserted = answer.upserted_count,
            request_bytes = bytes,
            "upserted a batch"
        );
        Ok(())
    }

    async fn delete(&self, body: &DeleteBody<'_>) -> Result<(), VectorStoreError> {
        let body = serde_json::to_vec(body).map_err(unexpected)?;
        let _: serde_json::Value = self
            .transport
            .post("delete", &self.delete_url, body, SMALL_RESPONSE)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl VectorStore for PineconeVectorStore {
    #[instrument(skip_all, fields(organization.id = %namespace, records = records.len()))]
    async fn upsert(
        &self,
        namespace: OrganizationId,
        records: Vec<VectorRecord>,
    ) -> Result<(), VectorStoreError> {
        // Checked before anything is sent, so a bad record does not leave a batch half stored.
        for record in &records {
            check_finite(&record.vector)?;
        }
        let namespace = namespace.to_string();
        let mut zero = Vec::new();
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let mut batch_bytes = 0;
        for record in &records {
            if is_zero(&record.vector) {
                zero.push(record.chunk_id.to_string());
                continue;
            }
            let vector = serde_json::to_vec(&UpsertVector::from(record)).map_err(unexpected)?;
            // A lone record always goes, even if it alone were too big: Pinecone then says why.
            let full = batch.len() == MAX_BATCH_VECTORS
                || batch_bytes + vector.len() + batch.len() + ENVELOPE_BYTES > MAX_REQUEST_BYTES;
            if full && !batch.is_empty() {
                self.upsert_batch(&namespace, &batch, batch_bytes).await?;
                batch.clear();
                batch_bytes = 0;
            }
            batch_bytes += vector.len();
            batch.push(vector);
        }
        if !batch.is_empty() {
            self.upsert_batch(&namespace, &batch, batch_bytes).await?;
        }
        if !zero.is_empty() {
            // Replacing a record by an all-zero one must not leave the old vector findable.
            for ids in zero.chunks(DELETE_IDS) {
                self.delete(&DeleteBody {
                    namespace: &namespace,
                    ids: Some(ids),
                    filter: None,
                })
                .await?;
            }
        }
        Ok(())
    }

    #[instrument(skip_all, fields(organization.id = %namespace, top_k = top_k))]
    async fn query(
        &self,
        namespace: OrganizationId,
        vector: &[f32],
        top_k: usize,
        filter: &VectorFilter,
    ) -> Result<Vec<VectorMatch>, VectorStoreError> {
        if top_k == 0 || filter.matches_nothing() || is_zero(vector) {
            return Ok(Vec::new());
        }
        check_finite(vector)?;
        let top_k = top_k.min(MAX_TOP_K);
        let namespace = namespace.to_string();
        let body = QueryBody {
            namespace: &namespace,
            vector,
            top_k,
            include_metadata: true,
            include_values: false,
            filter: filter.document_ids.as_ref().map(|ids| {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                json!({"document_id": {"$in": ids}})
            }),
        };
        let body = serde_json::to_vec(&body).map_err(unexpected)?;
        let limit = top_k
            .saturating_mul(BYTES_PER_MATCH)
            .saturating_add(RESPONSE_OVERHEAD);
        let answer: QueryResponse = self
            .transport
            .post("query", &self.query_url, body, limit)
            .await?;
        let mut matches = answer
            .matches
            .into_iter()
            .map(WireMatch::into_match)
            .collect::<Result<Vec<_>, _>>()?;
        // Pinecone ranks by score but promises no order among equal scores; chunk ids are
        // time-ordered, so ties come in insertion order, as in the other stores.
        matches.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.chunk_id.cmp(&b.chunk_id))
        });
        matches.truncate(top_k);
        debug!(matches = matches.len(), "queried the index");
        Ok(matches)
    }

    #[instrument(skip_all, fields(organization.id = %namespace, document.id = %document))]
    async fn delete_document(
        &self,
        namespace: OrganizationId,
        document: DocumentId,
    ) -> Result<(), VectorStoreError> {
        let namespace = namespace.to_string();
        self.delete(&DeleteBody {
            namespace: &namespace,
            ids: None,
            filter: Some(json!({"document_id": {"$eq": document.to_string()}})),
        })
        .await
    }
}

fn unexpected(error: impl Into<anyhow::Error>) -> VectorStoreError {
    VectorStoreError::Unexpected(error.into())
}

fn is_zero(vector: &[f32]) -> bool {
    vector.iter().all(|&x| x == 0.0)
}

/// JSON has no NaN or infinity (serde would send `null`), so such a vector cannot be sent.
fn check_finite(vector: &[f32]) -> Result<(), VectorStoreError> {
    if vector.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(VectorStoreError::Unexpected(anyhow::anyhow!(
            "a vector with a component that is not a finite number cannot be sent to Pinecone"
        )))
    }
}

/// The longest prefix of `text` whose JSON string form (quotes aside) fits in `limit` bytes, cut
/// at a character boundary. Escapes count as serde_json writes them.
fn truncate_for_metadata(text: &str, limit: usize) -> &str {
    let mut used = 0;
    for (at, c) in text.char_indices() {
        let size = match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if u32::from(c) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used + size > limit {
            return &text[..at];
        }
        used += size;
    }
    text
}

/// One record of an upsert.
#[derive(Serialize)]
struct UpsertVector<'a> {
    id: String,
    values: &'a [f32],
    metadata: Metadata<'a>,
}

impl<'a> From<&'a VectorRecord> for UpsertVector<'a> {
    fn from(record: &'a VectorRecord) -> Self {
        Self {
            id: record.chunk_id.to_string(),
            values: &record.vector,
            metadata: Metadata {
                document_id: record.document_id.to_string(),
                chunk_index: record.chunk_index,
                text: truncate_for_metadata(&record.text, MAX_METADATA_TEXT_BYTES),
            },
        }
    }
}

/// A record's metadata; its keys are ours (Pinecone's own fields are camelCase, these are not).
#[derive(Serialize)]
struct Metadata<'a> {
    document_id: String,
    chunk_index: u32,
    text: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpsertResponse {
    #[serde(default)]
    upserted_count: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueryBody<'a> {
    namespace: &'a str,
    vector: &'a [f32],
    top_k: usize,
    include_metadata: bool,
    include_values: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct QueryResponse {
    #[serde(default)]
    matches: Vec<WireMatch>,
}

#[derive(Deserialize)]
struct WireMatch {
    id: String,
    score: f32,
    #[serde(default)]
    metadata: Option<MatchMetadata>,
}

/// Pinecone keeps metadata numbers as floats, and may answer `3.0` for the `3` it was sent.
#[derive(Deserialize)]
struct MatchMetadata {
    document_id: String,
    chunk_index: f64,
    text: String,
}

impl WireMatch {
    fn into_match(self) -> Result<VectorMatch, VectorStoreError> {
        let Self {
            id,
            score,
            metadata,
        } = self;
        let foreign = |what: &str| {
            VectorStoreError::Unexpected(anyhow::anyhow!(
                "record {id:?} in the index has {what}; was it written by Switchboard?"
            ))
        };
        let chunk_id: ChunkId = id
            .parse()
            .map_err(|_| foreign("an id that is not a chunk id"))?;
        let metadata = metadata.ok_or_else(|| foreign("no metadata"))?;
        let document_id: DocumentId = metadata
            .document_id
            .parse()
            .map_err(|_| foreign("a document_id that is not a document id"))?;
        let chunk_index = whole_u32(metadata.chunk_index)
            .ok_or_else(|| foreign("a chunk_index that is not a position"))?;
        Ok(VectorMatch {
            chunk_id,
            document_id,
            chunk_index,
            text: metadata.text,
            score,
        })
    }
}

/// `value` as a `u32` when it is a whole number in range.
fn whole_u32(value: f64) -> Option<u32> {
    if value.is_finite() && value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        // Whole and in range, so the cast is exact.
        Some(value as u32)
    } else {
        None
    }
}

/// A delete: by ids or by filter, never both, always in one namespace.
#[derive(Serialize)]
struct DeleteBody<'a> {
    namespace: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn metadata_text_is_cut_at_a_character_boundary_within_its_json_size() {
        assert_eq!(truncate_for_metadata("short", 100), "short");
        assert_eq!(truncate_for_metadata("héllo", 2), "h");
        assert_eq!(truncate_for_metadata("héllo", 3), "hé");
        assert_eq!(truncate_for_metadata("a\"b", 2), "a");
        assert_eq!(truncate_for_metadata("a\u{1}b", 6), "a");
        let long = "ü\"\n\u{2}x".repeat(20_000);
        let cut = truncate_for_metadata(&long, MAX_METADATA_TEXT_BYTES);
        let json = serde_json::to_string(cut).unwrap();
        assert!(json.len() - 2 <= MAX_METADATA_TEXT_BYTES);
        assert!(json.len() - 2 > MAX_METADATA_TEXT_BYTES - 8);
    }

    #[test]
    fn matches_read_float_chunk_indexes_and_refuse_foreign_records() {
        let (chunk, document) = (ChunkId::new(), DocumentId::new());
        let wire: WireMatch = serde_json::from_value(json!({
            "id": chunk.to_string(), "score": 0.5, "values": [],
            "metadata": {"document_id": document.to_string(), "chunk_index": 3.0, "text": "t"}
        }))
        .unwrap();
        let found = wire.into_match().unwrap();
        assert_eq!(
            (found.chunk_id, found.document_id, found.chunk_index),
            (chunk, document, 3)
        );
        for metadata in [
            json!(null),
            json!({"document_id": "x", "chunk_index": 1, "text": "t"}),
            json!({"document_id": document.to_string(), "chunk_index": 1.5, "text": "t"}),
            json!({"document_id": document.to_string(), "chunk_index": -1, "text": "t"}),
        ] {
            let wire: WireMatch = serde_json::from_value(
                json!({"id": chunk.to_string(), "score": 0.5, "metadata": metadata}),
            )
            .unwrap();
            assert!(wire.into_match().is_err());
        }
    }
}
