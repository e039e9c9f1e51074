//! W3C trace context across gRPC hops: clients inject the current span's context into request
//! metadata, servers start each request's span as a child of the caller's.

use opentelemetry::{
    global,
    propagation::{Extractor, Injector},
};
use tonic::{Request, Status, metadata::MetadataMap, service::Interceptor};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A tonic client interceptor that sends the current span's trace context with every call.
#[derive(Debug, Clone, Copy, Default)]
pub struct InjectTraceContext;

impl Interceptor for InjectTraceContext {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let context = tracing::Span::current().context();
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut MetadataInjector(request.metadata_mut()));
        });
        Ok(request)
    }
}

/// The span of one incoming gRPC request, parented to the caller's trace when it sent one.
/// Passed to tonic's `Server::trace_fn`, which runs before the span is entered (a parent can
/// no longer be set after that).
pub fn grpc_request_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let span = tracing::info_span!(
        "grpc.request",
        otel.name = path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.method = path,
        trace_id = tracing::field::Empty,
    );
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    if let Err(error) = span.set_parent(parent) {
        tracing::debug!(%error, "cannot parent the request span");
    }
    record_trace_id(&span);
    span
}

/// Writes the span's OpenTelemetry trace id into its `trace_id` field (when the span has one
/// and traces are exported), so that every log line inside it names the trace to look up.
pub fn record_trace_id(span: &tracing::Span) {
    use opentelemetry::trace::{TraceContextExt, TraceId};
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}
