//! The HTTP data plane (docs/API.md "Attachments"): `PUT` of an upload's bytes and `GET`/`HEAD`
//! of an attachment's files, each by a signed, expiring URL. Bytes stream through: nothing
//! holds a whole file in memory.
//!
//! Every download checks the signature, then the attachment's state, so a deleted file is
//! `404` at once whatever URLs are out there. What is served is what processing stored, typed
//! by its own bytes, with headers that keep it from running as part of any page: `nosniff`, a
//! sandboxing CSP, and `inline` only for the four image types.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, put},
};
use futures_util::{StreamExt, TryStreamExt};
use parley_common::media_url::{Signature, Variant};
use tower_governor::key_extractor::PeerIpKeyExtractor;
use uuid::Uuid;

use crate::{
    domain::{State as UploadState, Upload, UploadId},
    processing::{content_disposition, disposition},
    repo,
    service::Media,
    store::{Key, PutError, StoreError},
};

/// What a browser may not do with a served file even when opened as a page: no scripts, no
/// plugins, no requests but for its own media.
const CONTENT_SECURITY_POLICY: &str =
    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'";

pub fn routes(media: Arc<Media>, per_ip_per_minute: u32) -> Router {
    let router = Router::new()
        .route("/media/v1/u/{id}", put(put_upload).options(preflight))
        .route(
            "/media/v1/a/{id}/{variant}/{name}",
            get(get_file).options(preflight),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(media)
        .layer(axum::middleware::from_fn(count_requests));
    // Per peer address (behind a proxy, the proxy's: limit there, docs/API.md).
    match parley_common::rate_limit::per_minute_layer(per_ip_per_minute, PeerIpKeyExtractor) {
        Some(limit) => router.layer(limit),
        None => router,
    }
}

/// Counts answers by route and status (`media_http_requests_total`), and the bytes
/// announced in them (`media_http_response_bytes_total`): the routes are few and fixed, so
/// no path makes a series of its own.
async fn count_requests(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = match request.uri().path() {
        path if path.starts_with("/media/v1/u/") => "upload",
        path if path.starts_with("/media/v1/a/") => "download",
        "/healthz" => "healthz",
        _ => "other",
    };
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("media_http_requests_total", "route" => route, "method" => method.to_string(), "status" => status)
        .increment(1);
    if let Some(length) = declared_length(response.headers()) {
        metrics::counter!("media_http_response_bytes_total", "route" => route).increment(length);
    }
    response
}

/// Serves `router` on `listener` until `shutdown`, with each request's peer address known to
/// the per-IP limit.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// A plain-text answer with the CORS header every answer carries (the URLs are the
/// capability, so any origin may use them).
fn answer(status: StatusCode, text: &'static str) -> Response {
    let mut response = (status, text).into_response();
    allow_any_origin(response.headers_mut());
    response
}

fn allow_any_origin(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Content-Length, Content-Range, ETag"),
    );
}

async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    allow_any_origin(headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, PUT"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Range, If-None-Match"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

/// `e`, `k` and `s` from a query (other parameters are ignored).
fn signature(query: Option<&str>) -> Option<Signature> {
    let (mut e, mut k, mut s) = (None, None, None);
    for pair in query?.split('&') {
        match pair.split_once('=') {
            Some(("e", value)) => e = value.parse().ok(),
            Some(("k", value)) => k = Some(value.to_owned()),
            Some(("s", value)) => s = Some(value.to_owned()),
            _ => {}
        }
    }
    Some(Signature {
        e: e?,
        k: k?,
        s: s?,
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// `PUT /media/v1/u/{id}`: `201` stored; `403` bad or expired signature; `413` more bytes than
/// declared; `400` fewer; `409` already uploaded (or being uploaded).
async fn put_upload(
    State(media): State<Arc<Media>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let forbidden = || answer(StatusCode::FORBIDDEN, "bad or expired signature");
    let (Ok(id), Some(signature)) = (Uuid::parse_str(&id), signature(uri.query())) else {
        return forbidden();
    };
    let upload = match repo::get(&media.pool, UploadId(id)).await {
        Ok(Some(upload)) => upload,
        // Unknown ids look like bad signatures: the data plane is no oracle of ids.
        Ok(None) => return forbidden(),
        Err(error) => return unavailable(&error),
    };
    let declared = u64::try_from(upload.declared_size).unwrap_or_default();
    if media
        .urls
        .keys()
        .verify_upload(id, declared, &signature, now())
        .is_err()
    {
        return forbidden();
    }
    match upload.state {
        UploadState::Pending => {}
        UploadState::Deleted => return answer(StatusCode::NOT_FOUND, "no such upload"),
        _ => return answer(StatusCode::CONFLICT, "already uploaded"),
    }
    match declared_length(&headers) {
        Some(length) if length > declared => {
            return answer(StatusCode::PAYLOAD_TOO_LARGE, "more bytes than declared");
        }
        Some(length) if length < declared => {
            return answer(StatusCode::BAD_REQUEST, "fewer bytes than declared");
        }
        _ => {}
    }
    match repo::start_receiving(&media.pool, upload.id).await {
        Ok(Some(_)) => {}
        Ok(None) => return answer(StatusCode::CONFLICT, "already uploaded, or expired"),
        Err(error) => return unavailable(&error),
    }
    let key = Key::staging(id);
    let stored = media
        .store
        .put_stream(&key, body.into_data_stream(), declared)
        .await;
    let refused = match stored {
        Ok(stored) => {
            match repo::finish_receiving(&media.pool, upload.id, &stored.sha256, stored.size).await
            {
                Ok(()) => {
                    metrics::counter!("media_uploaded_bytes_total").increment(stored.size);
                    let mut response = answer(StatusCode::CREATED, "");
                    response.headers_mut().remove(header::CONTENT_TYPE);
                    return response;
                }
                Err(error) => {
                    media.delete_objects(&[key]).await;
                    return unavailable(&error);
                }
            }
        }
        Err(PutError::TooLong) => answer(StatusCode::PAYLOAD_TOO_LARGE, "more bytes than declared"),
        Err(PutError::TooShort { .. }) => {
            answer(StatusCode::BAD_REQUEST, "fewer bytes than declared")
        }
        Err(PutError::Body(_)) => answer(StatusCode::BAD_REQUEST, "the upload broke off"),
        Err(PutError::Store(error)) => {
            tracing::warn!(%error, "cannot store an upload");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage is unavailable: retry",
            )
        }
    };
    // The upload may be PUT again.
    if let Err(error) = repo::abort_receiving(&media.pool, upload.id).await {
        tracing::warn!(%error, "cannot reopen an upload; it expires by itself");
    }
    refused
}

fn unavailable(error: &sqlx::Error) -> Response {
    tracing::warn!(%error, "media data plane cannot reach Postgres");
    answer(StatusCode::SERVICE_UNAVAILABLE, "unavailable: retry")
}

/// `GET|HEAD /media/v1/a/{id}/{variant}/{name}`: the file, a single `Range` of it, or `304`
/// for its `ETag`.
async fn get_file(
    State(media): State<Arc<Media>>,
    Path((id, variant, _name)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (Ok(id), Some(variant)) = (Uuid::parse_str(&id), Variant::parse(&variant)) else {
        return answer(StatusCode::NOT_FOUND, "no such file");
    };
    let Some(signature) = signature(uri.query()) else {
        return answer(StatusCode::FORBIDDEN, "bad or expired signature");
    };
    let now = now();
    if media
        .urls
        .keys()
        .verify_download(id, variant, &signature, now)
        .is_err()
    {
        return answer(StatusCode::FORBIDDEN, "bad or expired signature");
    }
    let upload = match repo::get(&media.pool, UploadId(id)).await {
        Ok(Some(upload)) if upload.state == UploadState::Ready => upload,
        Ok(_) => return answer(StatusCode::NOT_FOUND, "no such file"),
        Err(error) => return unavailable(&error),
    };
    let Some(mime) = upload.variant_mime(variant).map(str::to_owned) else {
        return answer(StatusCode::NOT_FOUND, "no such file");
    };
    let etag = format!("\"{id}-{}\"", variant.as_str());
    let mut response_headers = file_headers(&upload, &mime, &etag, signature.e - now);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        })
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().extend(response_headers);
        return response;
    }
    let key = Key::attachment(id, variant);
    let size = match (variant, upload.size) {
        (Variant::Original, Some(size)) => u64::try_from(size).unwrap_or_default(),
        _ => match media.store.size(&key).await {
            Ok(size) => size,
            Err(error) => return store_failure(error),
        },
    };
    let range = match headers
        .get(header::RANGE)
        .map(|value| value.to_str().map(|text| byte_range(text, size)))
    {
        None => None,
        Some(Ok(Some(Requested::Range(range)))) => Some(range),
        // Several ranges, or a unit we do not know: the whole file, as RFC 9110 allows.
        Some(Ok(Some(Requested::Whole))) | Some(Err(_)) => None,
        Some(Ok(None)) => {
            let mut response = answer(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
    };
    let (status, length) = match &range {
        Some(range) => {
            if let Ok(value) = HeaderValue::from_str(&format!(
                "bytes {}-{}/{size}",
                range.start,
                range.end.saturating_sub(1)
            )) {
                response_headers.insert(header::CONTENT_RANGE, value);
            }
            (StatusCode::PARTIAL_CONTENT, range.end - range.start)
        }
        None => (StatusCode::OK, size),
    };
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        match media.store.get(&key, range).await {
            Ok(fetched) => Body::from_stream(fetched.stream.map_err(std::io::Error::other).boxed()),
            Err(error) => return store_failure(error),
        }
    };
    let mut response = (status, body).into_response();
    response.headers_mut().extend(response_headers);
    response
}

fn store_failure(error: StoreError) -> Response {
    match error {
        StoreError::NotFound => answer(StatusCode::NOT_FOUND, "no such file"),
        error => {
            tracing::warn!(%error, "cannot read a stored file");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage is unavailable: retry",
            )
        }
    }
}

/// The headers of every answer about a file.
fn file_headers(upload: &Upload, mime: &str, etag: &str, max_age: i64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    allow_any_origin(&mut headers);
    let mut set = |name, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, mime);
    set(
        header::CONTENT_DISPOSITION,
        &content_disposition(disposition(mime), &upload.name),
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::ETAG, etag);
    set(header::ACCEPT_RANGES, "bytes");
    // Embeddable by the app's origin, which is another one.
    set(
        http::HeaderName::from_static("cross-origin-resource-policy"),
        "cross-origin",
    );
    // A file never changes under its URL; the URL itself stops working at `e`.
    set(
        header::CACHE_CONTROL,
        &format!("private, max-age={}, immutable", max_age.max(0)),
    );
    headers
}

/// What a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
enum Requested {
    Range(std::ops::Range<u64>),
    /// Not one byte range we serve: answer with the whole file.
    Whole,
}

/// A single `bytes=` range of a file of `size` bytes; `None` when it is unsatisfiable.
fn byte_range(header: &str, size: u64) -> Option<Requested> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Some(Requested::Whole);
    };
    if spec.contains(',') {
        return Some(Requested::Whole);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Some(Requested::Whole);
    };
    let parse = |text: &str| text.trim().parse::<u64>().ok();
    let range = match (first.trim().is_empty(), parse(first), parse(last)) {
        // `bytes=-N`: the last N bytes.
        (true, _, Some(suffix)) if suffix > 0 => size.saturating_sub(suffix)..size,
        (false, Some(first), None) if last.trim().is_empty() => first..size,
        (false, Some(first), Some(last)) if first <= last => {
            first..last.saturating_add(1).min(size)
        }
        _ => return Some(Requested::Whole),
    };
    (range.start < size && range.start < range.end).then_some(Requested::Range(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        let range = |header| byte_range(header, 100);
        assert_eq!(range("bytes=0-9"), Some(Requested::Range(0..10)));
        assert_eq!(range("bytes=90-"), Some(Requested::Range(90..100)));
        assert_eq!(range("bytes=-10"), Some(Requested::Range(90..100)));
        assert_eq!(range("bytes=-1000"), Some(Requested::Range(0..100)));
        assert_eq!(range("bytes=95-200"), Some(Requested::Range(95..100)));
        assert_eq!(range("bytes=100-"), None);
        assert_eq!(range("bytes=0-1,5-6"), Some(Requested::Whole));
        assert_eq!(range("items=0-1"), Some(Requested::Whole));
        assert_eq!(range("bytes=9-1"), Some(Requested::Whole));
    }

    #[test]
    fn a_signature_needs_all_three_parameters() {
        assert_eq!(
            signature(Some("e=5&k=a&s=xyz&other=1")),
            Some(Signature {
                e: 5,
                k: "a".into(),
                s: "xyz".into()
            })
        );
        assert_eq!(signature(Some("e=5&k=a")), None);
        assert_eq!(signature(Some("e=x&k=a&s=b")), None);
        assert_eq!(signature(None), None);
    }
}
