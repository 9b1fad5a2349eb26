//! `ToolInvoker` over HTTP: an agent's custom tool receives the model's arguments as a JSON POST.

use std::time::Duration;

use async_trait::async_trait;
use switchboard_domain::agent::HttpTool;
use switchboard_domain::conversation::{ToolError, ToolInvoker};

/// Bodies longer than this are cut: the model reads only a few thousand characters anyway.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Calls tools with one shared connection pool.
#[derive(Clone, Debug)]
pub struct HttpToolInvoker {
    client: reqwest::Client,
}

impl HttpToolInvoker {
    /// An invoker with its own client.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
                .build()?,
        })
    }
}

#[async_trait]
impl ToolInvoker for HttpToolInvoker {
    async fn invoke(
        &self,
        tool: &HttpTool,
        arguments: &serde_json::Value,
    ) -> Result<String, ToolError> {
        let timeout = Duration::from_millis(u64::from(tool.timeout_ms));
        let call = async {
            let response = self
                .client
                .post(&tool.url)
                .json(arguments)
                .send()
                .await
                .map_err(|e| ToolError::Failed(e.without_url().to_string()))?;
            let status = response.status();
            let body = response
                .bytes()
                .await
                .map_err(|e| ToolError::Failed(e.without_url().to_string()))?;
            let text =
                String::from_utf8_lossy(&body[..body.len().min(MAX_RESPONSE_BYTES)]).into_owned();
            if status.is_success() {
                Ok(text)
            } else {
                Err(ToolError::Failed(format!("HTTP {status}: {text}")))
            }
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(ToolError::Timeout(tool.timeout_ms)),
        }
    }
}
