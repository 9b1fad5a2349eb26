//! Adapters that live in the app because they are plain HTTP plumbing rather than a provider.

mod http_tools;
mod webhook_sender;

pub use http_tools::HttpToolInvoker;
pub use webhook_sender::HttpWebhookSender;
