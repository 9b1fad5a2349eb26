//! Adapters that live in the app because they are plain HTTP plumbing rather than a provider.

mod http_tools;

pub use http_tools::HttpToolInvoker;
