//! Reading `multipart/form-data` uploads: the files of a field (`files`, or `file`), and plain
//! text fields beside them, each file bounded by a size limit.

use actix_multipart::Multipart;
use actix_web::HttpRequest;
use actix_web::http::header;
use futures_util::StreamExt as _;
use switchboard_domain::knowledge::UploadedFile;

use crate::error::ApiError;

/// The most files one request may carry.
pub const MAX_FILES: usize = 20;
/// Text fields beside the files are short (an agent id, a label).
const MAX_TEXT_FIELD_BYTES: usize = 4096;

/// What a multipart request carried.
#[derive(Debug, Default)]
pub struct Upload {
    pub files: Vec<UploadedFile>,
    pub fields: Vec<(String, String)>,
}

impl Upload {
    /// The first text field called `name`.
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Refuses anything but `multipart/form-data` with a 415 before reading it; `expected` says what
/// the body should carry, e.g. "the documents in the `files` field".
///
/// # Errors
/// `UnsupportedMediaType`.
pub fn require_multipart(req: &HttpRequest, expected: &str) -> Result<(), ApiError> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if is_multipart {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "expected multipart/form-data with {expected}"
        )))
    }
}

/// Reads every part: parts named `file_fields` (with or without a file name) are files, other
/// parts are text fields.
///
/// # Errors
/// `PayloadTooLarge` naming the file over `max_file_bytes`; `BadRequest` for a malformed body;
/// `Invalid` for more than [`MAX_FILES`] files.
pub async fn read_upload(
    mut multipart: Multipart,
    file_fields: &[&str],
    max_file_bytes: usize,
) -> Result<Upload, ApiError> {
    let mut upload = Upload::default();
    while let Some(part) = multipart.next().await {
        let mut part =
            part.map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
        let name = part.name().unwrap_or_default().to_owned();
        let file_name = part
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(ToOwned::to_owned);
        let is_file = file_fields.contains(&name.as_str());
        if is_file && upload.files.len() >= MAX_FILES {
            return Err(ApiError::field(
                "files",
                format!("at most {MAX_FILES} files per upload"),
            ));
        }
        let content_type = part.content_type().map(ToString::to_string);
        let limit = if is_file {
            max_file_bytes
        } else {
            MAX_TEXT_FIELD_BYTES
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?;
            if bytes.len() + chunk.len() > limit {
                let what = file_name.clone().unwrap_or_else(|| name.clone());
                return Err(ApiError::PayloadTooLarge(format!(
                    "{what}: larger than the limit of {limit} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if is_file {
            upload.files.push(UploadedFile {
                file_name,
                content_type,
                bytes,
            });
        } else {
            let value = String::from_utf8(bytes)
                .map_err(|_| ApiError::field(&name, "must be UTF-8 text"))?;
            upload.fields.push((name, value));
        }
    }
    Ok(upload)
}
