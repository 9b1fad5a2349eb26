//! `FakePinecone`: a loopback HTTP/1.1 server that speaks a Pinecone index's data plane
//! (PROVIDERS.md 6: `/vectors/upsert`, `/query`, `/vectors/delete`, `/describe_index_stats`),
//! over an in-memory index of fixed dimension and cosine metric.
//!
//! It holds records per namespace (an upsert replaces by id), ranks queries by cosine with
//! metadata filters (`$eq`, `$ne`, `$in`, `$nin`, `$exists`, `$gt`, `$gte`, `$lt`, `$lte`,
//! `$and`, `$or`), and refuses what Pinecone refuses: a wrong `Api-Key` (401), unknown or
//! snake_case fields, vectors of another dimension or all zeros, metadata over 40 KB, more than
//! 1000 vectors or 2 MB in one upsert. Every request is recorded, and the next N requests can be
//! told to fail with a status, for retry tests.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use switchboard_domain::knowledge::{cosine, top_k};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::http1::{Request, read_request, write_response};

/// The key the fake accepts unless told otherwise.
pub const FAKE_PINECONE_KEY: &str = "pcsk_test_switchboard_fake_key";

/// Pinecone refuses requests larger than 2 MB.
const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;
/// Bodies beyond this are not even read: the connection is closed.
const MAX_READ_BYTES: usize = 8 * 1024 * 1024;
/// Pinecone's limit on one record's metadata, as JSON.
const MAX_METADATA_BYTES: usize = 40 * 1024;
const MAX_UPSERT_VECTORS: usize = 1000;
const MAX_DELETE_IDS: usize = 1000;
const MAX_TOP_K: u64 = 10_000;
const MAX_TOP_K_WITH_DATA: u64 = 1000;

/// One record as the fake holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredVector {
    pub id: String,
    pub values: Vec<f32>,
    /// As Pinecone keeps it: numbers become floats (`3` is answered as `3.0`).
    pub metadata: Option<Map<String, Value>>,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct PineconeRequest {
    pub method: String,
    /// For example `/vectors/upsert`.
    pub path: String,
    /// The `Api-Key` header.
    pub api_key: Option<String>,
    /// The `X-Pinecone-API-Version` header.
    pub api_version: Option<String>,
    pub content_type: Option<String>,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
    /// The body's length in bytes.
    pub body_bytes: usize,
    pub received_at: Instant,
}

/// The index and what the fake does next; a std mutex, held only for short synchronous work,
/// never across an await.
#[derive(Debug)]
struct Index {
    dimension: usize,
    api_key: String,
    namespaces: BTreeMap<String, BTreeMap<String, StoredVector>>,
    /// Statuses to answer the coming requests with, in order.
    failures: VecDeque<u16>,
}

#[derive(Debug)]
struct State {
    index: Mutex<Index>,
    requests: Mutex<Vec<PineconeRequest>>,
    ids: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; its data is still usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fake Pinecone index on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct FakePinecone {
    address: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
}

impl Drop for FakePinecone {
    fn drop(&mut self) {
        // The accept task owns every connection task (a JoinSet), so this ends them all.
        self.server.abort();
    }
}

impl FakePinecone {
    /// Starts an empty index of `dimension` components on a free port, accepting
    /// [`FAKE_PINECONE_KEY`].
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(dimension: usize) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(State {
            index: Mutex::new(Index {
                dimension,
                api_key: FAKE_PINECONE_KEY.to_owned(),
                namespaces: BTreeMap::new(),
                failures: VecDeque::new(),
            }),
            requests: Mutex::new(Vec::new()),
            ids: AtomicU64::new(1),
        });
        let server = tokio::spawn(accept(listener, Arc::clone(&state)));
        Ok(Self {
            address,
            state,
            server,
        })
    }

    /// `http://127.0.0.1:{port}`, the value for `PINECONE_INDEX_HOST`.
    #[must_use]
    pub fn index_host(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The key the fake accepts.
    #[must_use]
    pub fn api_key(&self) -> String {
        lock(&self.state.index).api_key.clone()
    }

    /// Accepts another key from now on.
    pub fn set_api_key(&self, key: &str) {
        key.clone_into(&mut lock(&self.state.index).api_key);
    }

    /// The index's dimension.
    #[must_use]
    pub fn dimension(&self) -> usize {
        lock(&self.state.index).dimension
    }

    /// Answers the next `count` requests with `status` (and a Pinecone error body) instead of
    /// serving them; they are still recorded.
    pub fn fail_next(&self, count: usize, status: u16) {
        lock(&self.state.index)
            .failures
            .extend(std::iter::repeat_n(status, count));
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<PineconeRequest> {
        lock(&self.state.requests).clone()
    }

    /// The requests to `path` (for example `/vectors/upsert`).
    #[must_use]
    pub fn requests_to(&self, path: &str) -> Vec<PineconeRequest> {
        lock(&self.state.requests)
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The records of `namespace`, by id.
    #[must_use]
    pub fn vectors(&self, namespace: &str) -> Vec<StoredVector> {
        lock(&self.state.index)
            .namespaces
            .get(namespace)
            .map(|records| records.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many records `namespace` holds.
    #[must_use]
    pub fn vector_count(&self, namespace: &str) -> usize {
        lock(&self.state.index)
            .namespaces
            .get(namespace)
            .map_or(0, BTreeMap::len)
    }

    /// The namespaces holding at least one record.
    #[must_use]
    pub fn namespaces(&self) -> Vec<String> {
        lock(&self.state.index)
            .namespaces
            .iter()
            .filter(|(_, records)| !records.is_empty())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Waits until `namespace` holds `count` records; `false` if `within` passed first.
    pub async fn wait_for_vector_count(
        &self,
        namespace: &str,
        count: usize,
        within: Duration,
    ) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.vector_count(namespace) == count {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve(stream, Arc::clone(&state)));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "fake Pinecone could not accept");
                    // Out of descriptors, most likely; spinning would not free any.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            // Reaps finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// An answer: a status and a JSON body.
struct Answer(u16, Value);

/// Pinecone's data-plane error body, gRPC-style.
fn refusal(status: u16, message: &str) -> Answer {
    let code = match status {
        400 => 3,
        404 => 5,
        429 => 8,
        500 => 13,
        503 => 14,
        _ => 2,
    };
    Answer(
        status,
        json!({"code": code, "message": message, "details": []}),
    )
}

fn bad_request(message: impl Into<String>) -> Answer {
    refusal(400, &message.into())
}

/// Serves one request per connection, then closes it (`Connection: close`).
async fn serve(stream: TcpStream, state: Arc<State>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let Ok(Some(request)) = read_request(&mut reader, MAX_READ_BYTES).await else {
        return;
    };
    let Answer(status, body) = answer(&request, &state);
    let id = format!("fake-{}", state.ids.fetch_add(1, Ordering::Relaxed));
    let payload = body.to_string();
    let _ = write_response(
        &mut writer,
        status,
        &[
            ("content-type", "application/json"),
            ("x-pinecone-request-id", &id),
        ],
        payload.as_bytes(),
    )
    .await;
}

fn answer(request: &Request, state: &State) -> Answer {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    lock(&state.requests).push(PineconeRequest {
        method: request.method.clone(),
        path: request.path().to_owned(),
        api_key: request.header("api-key").map(ToOwned::to_owned),
        api_version: request
            .header("x-pinecone-api-version")
            .map(ToOwned::to_owned),
        content_type: request.header("content-type").map(ToOwned::to_owned),
        body: body.clone(),
        body_bytes: request.body.len(),
        received_at: Instant::now(),
    });
    let mut index = lock(&state.index);
    if let Some(status) = index.failures.pop_front() {
        return refusal(status, "the fake was told to fail this request");
    }
    if request.header("api-key") != Some(index.api_key.as_str()) {
        return Answer(
            401,
            json!({"error": {"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, "status": 401}),
        );
    }
    if request.body.len() > MAX_REQUEST_BYTES {
        return bad_request(format!(
            "Request size {} bytes exceeds the maximum supported size of {MAX_REQUEST_BYTES} bytes",
            request.body.len()
        ));
    }
    let json_body = || {
        if body.is_object() {
            Ok(&body)
        } else {
            Err(bad_request("The request body must be a JSON object"))
        }
    };
    let result = match (request.method.as_str(), request.path()) {
        ("POST", "/vectors/upsert") => json_body().and_then(|b| index.upsert(b)),
        ("POST", "/query") => json_body().and_then(|b| index.query(b)),
        ("POST", "/vectors/delete") => json_body().and_then(|b| index.delete(b)),
        ("POST" | "GET", "/describe_index_stats") => Ok(index.stats()),
        (method, path) => Err(refusal(404, &format!("Not found: {method} {path}"))),
    };
    result.unwrap_or_else(|refused| refused)
}

/// Refuses fields Pinecone does not know, such as `top_k` for `topK`.
fn only_fields(body: &Value, allowed: &[&str]) -> Result<(), Answer> {
    let object = body
        .as_object()
        .ok_or_else(|| bad_request("Expected a JSON object"))?;
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(bad_request(format!(
            "Unknown field {unknown:?}; expected one of {allowed:?}"
        ))),
        None => Ok(()),
    }
}

fn namespace_of(body: &Value) -> Result<String, Answer> {
    match &body["namespace"] {
        Value::Null => Ok(String::new()),
        Value::String(name) => Ok(name.clone()),
        _ => Err(bad_request("namespace must be a string")),
    }
}

impl Index {
    fn dense_values(&self, values: &Value, what: &str) -> Result<Vec<f32>, Answer> {
        let values = values
            .as_array()
            .ok_or_else(|| bad_request(format!("{what} values must be an array of numbers")))?;
        let values = values
            .iter()
            .map(|v| v.as_f64().map(|x| x as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| bad_request(format!("{what} values must be numbers")))?;
        if values.len() != self.dimension {
            return Err(bad_request(format!(
                "{what} dimension {} does not match the dimension of the index {}",
                values.len(),
                self.dimension
            )));
        }
        Ok(values)
    }

    fn upsert(&mut self, body: &Value) -> Result<Answer, Answer> {
        only_fields(body, &["vectors", "namespace"])?;
        let namespace = namespace_of(body)?;
        let vectors = body["vectors"]
            .as_array()
            .ok_or_else(|| bad_request("vectors must be an array"))?;
        if vectors.is_empty() || vectors.len() > MAX_UPSERT_VECTORS {
            return Err(bad_request(format!(
                "An upsert takes 1 to {MAX_UPSERT_VECTORS} vectors, not {}",
                vectors.len()
            )));
        }
        let mut records = Vec::with_capacity(vectors.len());
        for vector in vectors {
            only_fields(vector, &["id", "values", "sparseValues", "metadata"])?;
            let id = vector["id"]
                .as_str()
                .filter(|id| !id.is_empty() && id.len() <= 512)
                .ok_or_else(|| bad_request("Each vector needs an id of 1 to 512 characters"))?;
            let values = self.dense_values(&vector["values"], "Vector")?;
            if values.iter().all(|&x| x == 0.0) {
                return Err(bad_request(
                    "Dense vectors must contain at least one non-zero value",
                ));
            }
            let metadata = match &vector["metadata"] {
                Value::Null => None,
                Value::Object(metadata) => {
                    let size = Value::Object(metadata.clone()).to_string().len();
                    if size > MAX_METADATA_BYTES {
                        return Err(bad_request(format!(
                            "Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector"
                        )));
                    }
                    Some(
                        metadata
                            .iter()
                            .map(|(k, v)| (k.clone(), as_stored(v)))
                            .collect(),
                    )
                }
                _ => return Err(bad_request("metadata must be an object")),
            };
            records.push(StoredVector {
                id: id.to_owned(),
                values,
                metadata,
            });
        }
        let count = records.len();
        let space = self.namespaces.entry(namespace).or_default();
        for record in records {
            space.insert(record.id.clone(), record);
        }
        Ok(Answer(200, json!({"upsertedCount": count})))
    }

    fn query(&self, body: &Value) -> Result<Answer, Answer> {
        only_fields(
            body,
            &[
                "namespace",
                "topK",
                "filter",
                "includeValues",
                "includeMetadata",
                "vector",
                "sparseVector",
                "id",
            ],
        )?;
        let namespace = namespace_of(body)?;
        let include_values = body["includeValues"].as_bool().unwrap_or(false);
        let include_metadata = body["includeMetadata"].as_bool().unwrap_or(false);
        let limit = if include_values || include_metadata {
            MAX_TOP_K_WITH_DATA
        } else {
            MAX_TOP_K
        };
        let k = body["topK"]
            .as_u64()
            .filter(|k| (1..=limit).contains(k))
            .ok_or_else(|| bad_request(format!("topK must be between 1 and {limit}")))?;
        let records = self.namespaces.get(&namespace);
        let vector = match (&body["vector"], &body["id"]) {
            // Querying by the id of a record that is not there finds nothing.
            (Value::Null, Value::String(id)) => {
                records.and_then(|r| r.get(id)).map(|r| r.values.clone())
            }
            (vector, Value::Null) if !vector.is_null() => {
                Some(self.dense_values(vector, "Query vector")?)
            }
            _ => return Err(bad_request("Give exactly one of vector and id")),
        };
        let records = records.filter(|_| vector.is_some());
        let vector = vector.unwrap_or_default();
        let filter = match &body["filter"] {
            Value::Null => None,
            filter => Some(filter),
        };
        let mut candidates = Vec::new();
        for record in records.into_iter().flat_map(BTreeMap::values) {
            let empty = Map::new();
            let metadata = record.metadata.as_ref().unwrap_or(&empty);
            if let Some(filter) = filter
                && !passes(filter, metadata).map_err(bad_request)?
            {
                continue;
            }
            candidates.push((record, cosine(&record.values, &vector)));
        }
        let k = usize::try_from(k).unwrap_or(usize::MAX);
        let matches: Vec<Value> = top_k(candidates, k, |(_, score)| *score)
            .into_iter()
            .map(|(record, score)| {
                let mut found = json!({"id": record.id, "score": score, "values": []});
                if include_values {
                    found["values"] = json!(record.values);
                }
                if include_metadata && let Some(metadata) = &record.metadata {
                    found["metadata"] = Value::Object(metadata.clone());
                }
                found
            })
            .collect();
        Ok(Answer(
            200,
            json!({"results": [], "matches": matches, "namespace": namespace, "usage": {"readUnits": 5}}),
        ))
    }

    fn delete(&mut self, body: &Value) -> Result<Answer, Answer> {
        only_fields(body, &["ids", "deleteAll", "namespace", "filter"])?;
        let namespace = namespace_of(body)?;
        let by_ids = !body["ids"].is_null();
        let all = body["deleteAll"].as_bool() == Some(true);
        let by_filter = !body["filter"].is_null();
        if usize::from(by_ids) + usize::from(all) + usize::from(by_filter) != 1 {
            return Err(bad_request("Give exactly one of ids, deleteAll and filter"));
        }
        let Some(records) = self.namespaces.get_mut(&namespace) else {
            return Ok(Answer(200, json!({})));
        };
        if all {
            records.clear();
        } else if by_ids {
            let ids = body["ids"]
                .as_array()
                .filter(|ids| ids.len() <= MAX_DELETE_IDS)
                .ok_or_else(|| {
                    bad_request(format!("ids must be an array of at most {MAX_DELETE_IDS}"))
                })?;
            for id in ids {
                let id = id
                    .as_str()
                    .ok_or_else(|| bad_request("ids must be strings"))?;
                records.remove(id);
            }
        } else {
            let empty = Map::new();
            let mut doomed = Vec::new();
            for record in records.values() {
                if passes(&body["filter"], record.metadata.as_ref().unwrap_or(&empty))
                    .map_err(bad_request)?
                {
                    doomed.push(record.id.clone());
                }
            }
            for id in doomed {
                records.remove(&id);
            }
        }
        Ok(Answer(200, json!({})))
    }

    fn stats(&self) -> Answer {
        let namespaces: Map<String, Value> = self
            .namespaces
            .iter()
            .filter(|(_, records)| !records.is_empty())
            .map(|(name, records)| (name.clone(), json!({"vectorCount": records.len()})))
            .collect();
        let total: usize = self.namespaces.values().map(BTreeMap::len).sum();
        Answer(
            200,
            json!({
                "namespaces": namespaces, "dimension": self.dimension, "indexFullness": 0.0,
                "totalVectorCount": total, "metric": "cosine", "vectorType": "dense",
            }),
        )
    }
}

/// A metadata value as Pinecone stores it: every number a float.
fn as_stored(value: &Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().map_or(Value::Null, |x| json!(x)),
        Value::Array(items) => Value::Array(items.iter().map(as_stored).collect()),
        other => other.clone(),
    }
}

/// Whether `metadata` passes a Pinecone metadata filter.
fn passes(filter: &Value, metadata: &Map<String, Value>) -> Result<bool, String> {
    let clauses = filter
        .as_object()
        .ok_or_else(|| format!("A filter must be an object, not {filter}"))?;
    for (key, condition) in clauses {
        let pass = match key.as_str() {
            "$and" | "$or" => {
                let parts = condition
                    .as_array()
                    .ok_or_else(|| format!("{key} takes an array of filters"))?;
                let results = parts
                    .iter()
                    .map(|part| passes(part, metadata))
                    .collect::<Result<Vec<bool>, String>>()?;
                if key == "$and" {
                    results.iter().all(|&r| r)
                } else {
                    results.iter().any(|&r| r)
                }
            }
            field => field_passes(metadata.get(field), condition)?,
        };
        if !pass {
            return Ok(false);
        }
    }
    Ok(true)
}

fn field_passes(value: Option<&Value>, condition: &Value) -> Result<bool, String> {
    let Some(operators) = condition.as_object() else {
        // `{"field": value}` means `{"field": {"$eq": value}}`.
        return Ok(value.is_some_and(|v| same(v, condition)));
    };
    for (operator, operand) in operators {
        let pass = match operator.as_str() {
            "$eq" => value.is_some_and(|v| same(v, operand)),
            "$ne" => !value.is_some_and(|v| same(v, operand)),
            "$in" | "$nin" => {
                let options = operand
                    .as_array()
                    .ok_or_else(|| format!("{operator} takes an array"))?;
                let found = value.is_some_and(|v| options.iter().any(|o| same(v, o)));
                found == (operator == "$in")
            }
            "$exists" => value.is_some() == operand.as_bool().unwrap_or(false),
            "$gt" | "$gte" | "$lt" | "$lte" => {
                let bound = operand
                    .as_f64()
                    .ok_or_else(|| format!("{operator} takes a number"))?;
                value
                    .and_then(Value::as_f64)
                    .is_some_and(|x| match operator.as_str() {
                        "$gt" => x > bound,
                        "$gte" => x >= bound,
                        "$lt" => x < bound,
                        _ => x <= bound,
                    })
            }
            other => return Err(format!("Unknown filter operator {other}")),
        };
        if !pass {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Equality as Pinecone sees it: numbers by value, whatever their JSON form.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn metadata(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn filters_follow_pinecones_operators() {
        let m = metadata(json!({"document_id": "a", "chunk_index": 2.0, "tag": "x"}));
        assert!(passes(&json!({"document_id": "a"}), &m).unwrap());
        assert!(passes(&json!({"document_id": {"$eq": "a"}}), &m).unwrap());
        assert!(!passes(&json!({"document_id": {"$ne": "a"}}), &m).unwrap());
        assert!(passes(&json!({"document_id": {"$in": ["b", "a"]}}), &m).unwrap());
        assert!(!passes(&json!({"document_id": {"$in": []}}), &m).unwrap());
        assert!(passes(&json!({"document_id": {"$nin": ["b"]}}), &m).unwrap());
        assert!(passes(&json!({"chunk_index": {"$eq": 2}}), &m).unwrap());
        assert!(passes(&json!({"chunk_index": {"$gte": 2, "$lt": 3}}), &m).unwrap());
        assert!(passes(&json!({"missing": {"$exists": false}}), &m).unwrap());
        assert!(
            passes(
                &json!({"$or": [{"tag": "y"}, {"$and": [{"tag": "x"}, {"chunk_index": 2}]}]}),
                &m
            )
            .unwrap()
        );
        assert!(passes(&json!({"tag": {"$regex": "x"}}), &m).is_err());
    }

    #[test]
    fn stored_metadata_numbers_are_floats() {
        assert_eq!(
            as_stored(&json!([1, "b", true])).to_string(),
            r#"[1.0,"b",true]"#
        );
        assert_eq!(as_stored(&json!(3)).to_string(), "3.0");
    }
}
