//! Stand-ins for the conversation engine's outside world, shared by the storage tests that run
//! whole use cases over a real database.

use async_trait::async_trait;
use switchboard_domain::conversation::{ToolError, ToolInvoker};
use switchboard_domain::ids::{AgentId, OrganizationId};
use switchboard_domain::knowledge::{KnowledgeError, KnowledgeSearch, SearchHit};

/// A knowledge base with nothing in it.
pub struct NoKnowledge;

#[async_trait]
impl KnowledgeSearch for NoKnowledge {
    async fn search(
        &self,
        _: OrganizationId,
        _: &str,
        _: Option<AgentId>,
        _: usize,
    ) -> Result<Vec<SearchHit>, KnowledgeError> {
        Ok(Vec::new())
    }
}

/// Refuses every HTTP tool: these tests configure none.
pub struct NoTools;

#[async_trait]
impl ToolInvoker for NoTools {
    async fn invoke(
        &self,
        _: &switchboard_domain::agent::HttpTool,
        _: &serde_json::Value,
    ) -> Result<String, ToolError> {
        Err(ToolError::Failed("no tools in these tests".into()))
    }
}
