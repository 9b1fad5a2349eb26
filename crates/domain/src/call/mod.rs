//! Calls: their record, transcript and latencies, and the service that starts text calls,
//! answers their turns through the conversation engine, and ends them; then their analysis.

mod analysis;
mod counts;
mod events;
mod live;
mod model;
mod phone;
mod reconcile;
mod service;

pub use analysis::{
    AnalysisPolicy, AnalysisPorts, AnalysisRequest, AnalysisService, AnalysisStatus, AnalyzerKind,
    CallAnalysis, CallAnalysisState, Category, JobOutcome, LlmCallAnalyzer, MAX_SCHEMA_PROPERTIES,
    Resolution, Sentiment, check_extracted, empty_fields,
};
pub use counts::LiveCounts;
pub use events::{AnalyzedView, CallView, TurnView, analyzed_event, call_event, turn_event};
pub use live::LiveCall;
pub use model::{
    Call, CallChannel, CallDirection, CallFilter, CallSort, CallStatus, CallTurn, NewCallTurn,
    Speaker, TurnLatency,
};
pub use phone::{CallLimits, UNCONFIRMED_END_REASON};
pub use reconcile::{LOST_END_REASON, Reconciled};
pub use service::{
    CallError, CallPorts, CallService, CallStart, CallTarget, ExternalCall, Opened, TurnAnswer,
};
