//! The client of chat-svc, the authority on rooms, membership and messages, as the services
//! that ask it use it (media-svc: who may post and which message holds an attachment;
//! calls-svc: whom a call may go to, and the CALL messages).

use parley_proto::chat::v1::chat_service_client::ChatServiceClient;
use tonic::service::interceptor::InterceptedService;

use crate::{
    propagation::InjectTraceContext,
    replicas::{Choice, Replicas},
    service_token::ServiceToken,
};

pub type ChatClient = ChatServiceClient<InterceptedService<Replicas, InjectTraceContext>>;

/// A client of chat-svc at `urls` (one or several replicas, comma-separated) that carries the
/// caller's trace and the service token; it connects on first use.
pub fn client(urls: &str, token: Option<ServiceToken>) -> anyhow::Result<ChatClient> {
    Ok(ChatServiceClient::with_interceptor(
        Replicas::new(urls, Choice::Spread, token)?,
        InjectTraceContext,
    ))
}
