//! Prometheus metrics: the process-wide recorder, a `/metrics` endpoint for the services,
//! and the gRPC server's request metrics.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Instant,
};

use axum::{Router, routing::get};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;

/// The process-wide recorder's handle. Installed on first use: one process may run several
/// servers (tests do), and they share the one global recorder.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            handle
        })
        .clone()
}

/// Serves `GET /metrics` (Prometheus text) on `addr`, which the environment variable `setting`
/// chose, until the task is aborted; returns the address bound (port 0 picks one) and the task.
pub async fn serve(
    addr: SocketAddr,
    setting: &'static str,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = crate::listen::bind(addr, setting).await?;
    let bound = listener.local_addr()?;
    let handle = recorder();
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    );
    tracing::info!(address = ?listener.local_addr().ok(), "serving metrics");
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the metrics endpoint stopped");
        }
    });
    Ok((bound, task))
}

/// The `method` label of a call to a path no served method has: a scanner's random paths
/// all count here, so that they cannot make one series each.
pub const UNKNOWN_METHOD: &str = "unknown";

/// The methods a gRPC server serves, by path (`/package.Service/Method`), read from the
/// descriptor sets of its services: the only `method` labels its metrics use, so the
/// number of series is bounded by the services' own methods, whatever callers send.
#[derive(Debug, Clone, Default)]
pub struct KnownMethods(Arc<HashSet<String>>);

impl KnownMethods {
    /// Every method of every service in the encoded `FileDescriptorSet`s `sets`.
    pub fn from_descriptor_sets(sets: &[&[u8]]) -> Result<Self, prost::DecodeError> {
        let mut paths = HashSet::new();
        for set in sets {
            let set = <prost_types::FileDescriptorSet as prost::Message>::decode(*set)?;
            for file in &set.file {
                let package = file.package();
                for service in &file.service {
                    let service_name = match package {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    for method in &service.method {
                        paths.insert(format!("/{service_name}/{}", method.name()));
                    }
                }
            }
        }
        Ok(Self(Arc::new(paths)))
    }

    /// The label of a call to `path`: the path when a method has it, else [`UNKNOWN_METHOD`].
    pub fn label(&self, path: &str) -> String {
        if self.0.contains(path) {
            path.to_owned()
        } else {
            UNKNOWN_METHOD.to_owned()
        }
    }
}

/// A tower layer that counts gRPC requests and times them, by method (known methods only).
#[derive(Debug, Clone, Default)]
pub struct GrpcMetricsLayer(pub KnownMethods);

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            known: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    known: KnownMethods,
}

impl<S, B> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = self.known.label(request.uri().path());
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let outcome = response.await;
            // Streams are timed until their headers: their lifetime is not a latency.
            metrics::histogram!("parley_grpc_server_duration_seconds", "method" => method.clone())
                .record(started.elapsed().as_secs_f64());
            metrics::counter!("parley_grpc_server_requests_total", "method" => method).increment(1);
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_methods_of_the_descriptor_sets_are_labels() {
        let known = KnownMethods::from_descriptor_sets(&[tonic_health::pb::FILE_DESCRIPTOR_SET])
            .expect("a valid descriptor set");
        assert_eq!(
            known.label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(known.label("/grpc.health.v1.Health/Nope"), UNKNOWN_METHOD);
        assert_eq!(known.label("/scan/me"), UNKNOWN_METHOD);
        assert_eq!(known.label(""), UNKNOWN_METHOD);
    }
}
