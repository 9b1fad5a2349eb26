//! Switchboard's domain: plain types, the rules that govern them, the use-case services, and the
//! port traits that adapters (storage, providers, the HTTP app) implement.
//!
//! Nothing here knows a framework, a database driver, an HTTP client, the environment or the file
//! system; that is what keeps the rules testable and the adapters replaceable.

pub mod account;
pub mod agent;
pub mod auth;
pub mod backoff;
pub mod calendar;
pub mod call;
pub mod conversation;
pub mod events;
pub mod flow;
pub mod ids;
pub mod knowledge;
pub mod onboarding;
pub mod page;
pub mod phone_number;
pub mod ports;
pub mod scenario;
pub mod schedule;
pub mod template;
pub mod transcript;
pub mod validation;
pub mod webhook;

pub use validation::{FieldError, ValidationErrors};
