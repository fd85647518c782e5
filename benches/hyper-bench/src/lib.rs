//! The service both servers of `benches/hyper-compare` run: TechEmpower's
//! plaintext (and 404 elsewhere), as `benches/peers`' `hyper-http` serves
//! it; only the runtime under hyper differs.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, SERVER};
use hyper::{Request, Response, StatusCode};

/// `/plaintext`: "Hello, World!"; anything else: 404.
pub async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/plaintext" => (StatusCode::OK, Bytes::from_static(b"Hello, World!")),
        _ => (StatusCode::NOT_FOUND, Bytes::from_static(b"not found")),
    };
    let len = body.len();
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(SERVER, HeaderValue::from_static("hyper"));
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    Ok(res)
}

/// The address from the first argument, else `default`.
pub fn addr(default: &str) -> String {
    std::env::args().nth(1).unwrap_or_else(|| default.into())
}
