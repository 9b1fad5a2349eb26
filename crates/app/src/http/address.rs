//! The server's own address as callers reach it: `PUBLIC_URL` when set (behind a proxy or a
//! tunnel, what providers must call back), else what the request was addressed to.

use actix_web::HttpRequest;

use crate::settings::Settings;

/// `https://host[:port]`, without a trailing slash.
#[must_use]
pub fn public_base(req: &HttpRequest, settings: &Settings) -> String {
    match &settings.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// The same address for WebSockets: `wss://` for `https://`, `ws://` for `http://`.
#[must_use]
pub fn websocket_base(req: &HttpRequest, settings: &Settings) -> String {
    websocket_of(&public_base(req, settings))
}

/// `base` (an `http(s)://` address) as the WebSocket address of the same server.
#[must_use]
pub fn websocket_of(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    }
}
