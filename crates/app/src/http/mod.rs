//! HTTP plumbing shared by every route: the request middleware and the extractors.

pub mod address;
pub mod extract;
pub mod json;
pub mod middleware;
pub mod route_table;
pub mod upload;
