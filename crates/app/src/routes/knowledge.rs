//! The knowledge base under `/api/v1/knowledge`: upload documents (multipart `files`: PDF, text,
//! Markdown, HTML), list, get, delete, and search.

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_domain::ids::AgentId;
use switchboard_domain::knowledge::{
    Document, DocumentId, KnowledgeService, SearchHit, UploadedFile,
};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::http::extract::CurrentUser;
use crate::http::json::ApiJson;
use crate::http::upload::{read_upload, require_multipart};
use crate::routes::{MessageResponse, page_request, parse_path_id};
use crate::state::AppState;

/// A document of the knowledge base.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: String,
    pub file_name: String,
    /// `pdf`, `text`, `markdown` or `html`.
    pub kind: &'static str,
    pub content_type: &'static str,
    pub size_bytes: u64,
    /// Characters of extracted text.
    pub char_count: u64,
    pub chunk_count: u32,
    pub embedder: String,
    pub created_at: DateTime<Utc>,
}

impl From<Document> for DocumentView {
    fn from(d: Document) -> Self {
        Self {
            id: d.id.to_string(),
            file_name: d.file_name,
            kind: d.kind.as_str(),
            content_type: d.kind.content_type(),
            size_bytes: d.size_bytes,
            char_count: d.char_count,
            chunk_count: d.chunk_count,
            embedder: d.embedder,
            created_at: d.created_at,
        }
    }
}

/// The documents an upload stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    pub documents: Vec<DocumentView>,
}

/// A page of documents.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentList {
    pub items: Vec<DocumentView>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DocumentQuery {
    pub page: Option<u64>,
    #[serde(alias = "limit")]
    pub page_size: Option<u64>,
}

/// A multipart upload (documented shape; the body is read as a stream).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// One or more documents: PDF, plain text, Markdown or HTML.
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<u8>,
    /// Attach the documents to this agent.
    agent_id: Option<String>,
}

/// Reads, chunks, embeds and stores uploaded files. Every file is read before any is stored, so
/// one bad file refuses the whole upload.
///
/// # Errors
/// As [`KnowledgeService::prepare`] and [`KnowledgeService::upload`].
pub async fn store_uploads(
    knowledge: &KnowledgeService,
    organization: switchboard_domain::ids::OrganizationId,
    files: Vec<UploadedFile>,
    attach_to: Option<AgentId>,
) -> Result<Vec<Document>, ApiError> {
    if files.is_empty() {
        return Err(ApiError::field("files", "at least one file is required"));
    }
    let service = knowledge.clone();
    // Reading PDFs is CPU-bound: off the threads that serve requests.
    let prepared = web::block(move || {
        files
            .iter()
            .map(|file| service.prepare(file))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("document reading was cancelled: {e}")))??;
    Ok(knowledge.upload(organization, prepared, attach_to).await?)
}

/// Uploads documents (multipart `files`), optionally attaching them to an agent (`agent_id`).
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = UploadResponse),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 413, description = "A file is over the size limit", body = ErrorBody),
        (status = 415, description = "Not multipart, or a file type other than PDF, text, Markdown, HTML", body = ErrorBody),
        (status = 422, description = "No files, or a corrupt, encrypted or empty document", body = ErrorBody),
        (status = 503, description = "The embedding service is unavailable", body = ErrorBody),
    )
)]
#[post("/documents")]
pub async fn upload_documents(
    user: CurrentUser,
    req: HttpRequest,
    state: web::Data<AppState>,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    require_multipart(&req, "the documents in the `files` field")?;
    let upload = read_upload(
        multipart,
        &["files", "file"],
        state.settings.knowledge.max_upload_bytes,
    )
    .await?;
    let attach_to = upload
        .field("agent_id")
        .filter(|id| !id.trim().is_empty())
        .map(|id| parse_path_id::<AgentId>(id.trim(), "agent"))
        .transpose()?;
    let documents = store_uploads(
        &state.knowledge,
        user.0.organization_id,
        upload.files,
        attach_to,
    )
    .await?;
    Ok(HttpResponse::Created().json(UploadResponse {
        documents: documents.into_iter().map(Into::into).collect(),
    }))
}

/// The organisation's documents, newest first.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(DocumentQuery),
    responses((status = 200, description = "A page of documents", body = DocumentList))
)]
#[get("/documents")]
pub async fn list_documents(
    user: CurrentUser,
    state: web::Data<AppState>,
    query: web::Query<DocumentQuery>,
) -> Result<web::Json<DocumentList>, ApiError> {
    let page = page_request(query.page, query.page_size)?;
    let documents = state.knowledge.list(user.0.organization_id, page).await?;
    Ok(web::Json(DocumentList {
        items: documents.items.into_iter().map(Into::into).collect(),
        total: documents.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

/// One document.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(("document_id" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "The document", body = DocumentView),
        (status = 404, description = "No such document in your organisation", body = ErrorBody),
    )
)]
#[get("/documents/{document_id}")]
pub async fn get_document(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<DocumentView>, ApiError> {
    let id: DocumentId = parse_path_id(&path, "document")?;
    Ok(web::Json(
        state
            .knowledge
            .get(user.0.organization_id, id)
            .await?
            .into(),
    ))
}

/// Deletes a document, its vectors, and its attachment to agents.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(("document_id" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "Deleted", body = MessageResponse),
        (status = 404, description = "No such document in your organisation", body = ErrorBody),
    )
)]
#[delete("/documents/{document_id}")]
pub async fn delete_document(
    user: CurrentUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let id: DocumentId = parse_path_id(&path, "document")?;
    state.knowledge.delete(user.0.organization_id, id).await?;
    Ok(web::Json(MessageResponse::new("Document deleted")))
}

/// A search of the knowledge base.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SearchRequest {
    #[schema(example = "How long does shipping take?")]
    pub query: String,
    /// Search only this agent's documents.
    pub agent_id: Option<String>,
    /// 1 to 50 (default 5).
    pub top_k: Option<usize>,
}

/// One chunk found.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResultView {
    pub document_id: String,
    pub document_name: String,
    pub chunk_id: String,
    pub chunk_index: u32,
    pub text: String,
    /// Cosine similarity to the query; higher is closer.
    pub score: f32,
}

impl From<SearchHit> for SearchResultView {
    fn from(h: SearchHit) -> Self {
        Self {
            document_id: h.document_id.to_string(),
            document_name: h.document_name,
            chunk_id: h.chunk_id.to_string(),
            chunk_index: h.chunk_index,
            text: h.text,
            score: h.score,
        }
    }
}

/// What a search found, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResponse {
    pub query: String,
    pub results: Vec<SearchResultView>,
}

/// The chunks nearest to a query, from one agent's documents or the whole knowledge base.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    request_body = SearchRequest,
    responses(
        (status = 200, description = "Matches, best first", body = SearchResponse),
        (status = 404, description = "No such agent in your organisation", body = ErrorBody),
        (status = 422, description = "Empty query or top_k out of range", body = ErrorBody),
        (status = 503, description = "The embedding service is unavailable", body = ErrorBody),
    )
)]
#[post("/search")]
pub async fn search(
    user: CurrentUser,
    state: web::Data<AppState>,
    body: ApiJson<SearchRequest>,
) -> Result<web::Json<SearchResponse>, ApiError> {
    let body = body.into_inner();
    let agent = body
        .agent_id
        .as_deref()
        .map(|id| parse_path_id::<AgentId>(id, "agent"))
        .transpose()?;
    let hits = state
        .knowledge
        .search(
            user.0.organization_id,
            &body.query,
            agent,
            body.top_k.unwrap_or(5),
        )
        .await?;
    Ok(web::Json(SearchResponse {
        query: body.query,
        results: hits.into_iter().map(Into::into).collect(),
    }))
}
