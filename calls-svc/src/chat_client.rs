//! calls-svc's client of chat-svc: who may call whom, and the CALL messages of
//! ended calls.

use parley_common::{
    propagation::InjectTraceContext,
    replicas::{Choice, Replicas},
    service_token::ServiceToken,
};
use parley_proto::chat::v1::chat_service_client::ChatServiceClient;
use tonic::service::interceptor::InterceptedService;

pub type ChatClient = ChatServiceClient<InterceptedService<Replicas, InjectTraceContext>>;

/// A client of chat-svc at `urls` (one or several replicas, comma-separated) that carries the
/// caller's trace and the service token; it connects on first use.
pub fn client(urls: &str, token: Option<ServiceToken>) -> anyhow::Result<ChatClient> {
    Ok(ChatServiceClient::with_interceptor(
        Replicas::new(urls, Choice::Spread, token)?,
        InjectTraceContext,
    ))
}
