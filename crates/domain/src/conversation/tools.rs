//! The tools an agent offers the model: built-in ones with fixed schemas, and HTTP tools the
//! [`ToolInvoker`] port calls.

use async_trait::async_trait;
use serde_json::json;

use crate::agent::{AgentTool, BuiltinTool, HttpTool};
use crate::ports::ToolSpec;

/// Why an HTTP tool call failed; the model is told, the turn goes on.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("the tool did not answer within {0} ms")]
    Timeout(u32),
    #[error("the tool failed: {0}")]
    Failed(String),
}

/// Calls an agent's HTTP tools.
///
/// Contract: POSTs `arguments` as a JSON body to the tool's URL and returns the response body as
/// text (truncated to a size the model can read); gives up after the tool's `timeout_ms`; a
/// non-2xx answer is `Failed` with its status.
#[async_trait]
pub trait ToolInvoker: Send + Sync {
    /// Calls the tool.
    ///
    /// # Errors
    /// `Timeout` or `Failed`.
    async fn invoke(
        &self,
        tool: &HttpTool,
        arguments: &serde_json::Value,
    ) -> Result<String, ToolError>;
}

/// The specification the model sees for each of the agent's tools.
#[must_use]
pub fn tool_specs(tools: &[AgentTool]) -> Vec<ToolSpec> {
    tools
        .iter()
        .map(|tool| match tool {
            AgentTool::Builtin { name } => builtin_spec(*name),
            AgentTool::Http(http) => ToolSpec {
                name: http.name.clone(),
                description: http.description.clone(),
                parameters: http.parameters.clone(),
            },
        })
        .collect()
}

fn builtin_spec(tool: BuiltinTool) -> ToolSpec {
    let (description, parameters) = match tool {
        BuiltinTool::CheckAvailability | BuiltinTool::BookAppointment => {
            super::calendar::spec(tool).unwrap_or_default()
        }
        BuiltinTool::SearchKnowledgeBase => (
            "Search the company's knowledge base for facts to answer the caller. Use it before \
             answering questions about products, prices, policies or hours.",
            json!({
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to look up"}},
                "required": ["query"]
            }),
        ),
        BuiltinTool::EndCall => (
            "End the call once the conversation is complete and you have said goodbye.",
            json!({
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "Why the call ends"}}
            }),
        ),
        BuiltinTool::TransferCall => (
            "Transfer the caller to a person at the given phone number.",
            json!({
                "type": "object",
                "properties": {
                    "phone_number": {"type": "string", "description": "E.164 number to transfer to"},
                    "reason": {"type": "string"}
                },
                "required": ["phone_number"]
            }),
        ),
    };
    ToolSpec {
        name: tool.as_str().to_owned(),
        description: description.to_owned(),
        parameters,
    }
}
