//! Post-call analysis: what an analysis says about a finished call, the agent's schema of fields
//! to extract, the language-model analyser, and the service that works through the durable queue
//! of analysis jobs (see `ports::CallAnalysisRepository`).

mod llm;
mod model;
mod schema;
mod service;

pub use llm::LlmCallAnalyzer;
pub use model::{
    AnalysisRequest, AnalysisStatus, AnalyzerKind, CallAnalysis, CallAnalysisState, Category,
    Resolution, Sentiment,
};
pub use schema::{MAX_SCHEMA_PROPERTIES, check_extracted, empty_fields};
pub use service::{AnalysisPolicy, AnalysisPorts, AnalysisService, JobOutcome};
