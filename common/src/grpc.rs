//! gRPC server scaffolding shared by every service: health, reflection, trace context and
//! graceful shutdown around one service implementation.

use std::{convert::Infallible, future::Future, time::Duration};

use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    transport::{Channel, Endpoint, Server, server::TcpIncoming},
};

use crate::{
    propagation::grpc_request_span,
    service_token::{RequireServiceToken, ServiceToken},
};

/// Why a gRPC server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot read the service's descriptor set: {0}")]
    Descriptor(#[from] prost::DecodeError),
}

/// Serves `service` on an already bound `listener` until `shutdown` resolves, then drains the
/// calls in flight.
///
/// Binding first is the caller's job so that tests can listen on port 0 and learn the address
/// before anything is served. Alongside the service this serves `grpc.health.v1` (SERVING
/// until shutdown begins) and server reflection v1 and v1alpha (grpcurl 1.8 speaks v1alpha)
/// built from `descriptor_set`. With a `token`, every call but health checks must carry it.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    descriptor_set: &'static [u8],
    token: Option<ServiceToken>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<S>().await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(descriptor_set)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    // Metrics label calls by these methods only: a random path must not make a series.
    let known = crate::metrics::KnownMethods::from_descriptor_sets(&[
        descriptor_set,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ])?;

    let address = listener.local_addr().ok();
    tracing::info!(service = S::NAME, ?address, "serving gRPC");

    let shutdown = async move {
        shutdown.await;
        // Tell load balancers and probes first, then stop accepting and drain.
        health.set_not_serving::<S>().await;
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    };

    Server::builder()
        .trace_fn(grpc_request_span)
        .layer(crate::metrics::GrpcMetricsLayer(known))
        .layer(RequireServiceToken(token))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .serve_with_incoming_shutdown(accepted_without_delay(listener), shutdown)
        .await?;
    Ok(())
}

/// The connections `listener` accepts, each with `TCP_NODELAY`. `Server::tcp_nodelay` only
/// applies to listeners tonic binds itself; without it, an event written right after another
/// frame on a stream (an ack, then the message's event) waits for the peer's delayed ACK,
/// about 40 ms.
fn accepted_without_delay(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// A client channel to `url` that connects on first use and reconnects after the peer
/// restarts, so that start order does not matter.
pub fn lazy_channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        // Notice a dead peer on an idle connection without waiting for the OS.
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .connect_lazy())
}
