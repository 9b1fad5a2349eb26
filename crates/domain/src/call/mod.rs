//! Calls: their record, transcript and latencies, and the service that starts text calls,
//! answers their turns through the conversation engine, and ends them; then their analysis.

mod analysis;
mod events;
mod live;
mod model;
mod phone;
mod service;

pub use analysis::{
    AnalysisPolicy, AnalysisPorts, AnalysisRequest, AnalysisService, AnalysisStatus, AnalyzerKind,
    CallAnalysis, CallAnalysisState, Category, JobOutcome, LlmCallAnalyzer, MAX_SCHEMA_PROPERTIES,
    Resolution, Sentiment, check_extracted, empty_fields,
};
pub use events::{AnalyzedView, CallView, TurnView, analyzed_event, call_event, turn_event};
pub use live::LiveCall;
pub use model::{
    Call, CallChannel, CallDirection, CallFilter, CallSort, CallStatus, CallTurn, NewCallTurn,
    Speaker, TurnLatency,
};
pub use phone::CallLimits;
pub use service::{
    CallError, CallPorts, CallService, CallStart, CallTarget, ExternalCall, Opened, TurnAnswer,
};
