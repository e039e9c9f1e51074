//! A shared secret between Parley's own processes, for internal gRPC that leaves loopback.
//!
//! Services listen on loopback by default. Deployments that spread them over hosts set the
//! same `PARLEY_SERVICE_TOKEN` on every process: clients send it as
//! `authorization: Bearer <token>` on every call, and services refuse a call without it
//! with `UNAUTHENTICATED`. Health checks stay open, so that probes need no secret. The token
//! authenticates the caller as "one of ours"; TLS on the network (a mesh, or a tunnel) keeps
//! it, and the traffic, private.

use std::{
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
};

use http::HeaderValue;
use tonic::body::Body;

/// The header value a caller sends: `Bearer <token>`.
#[derive(Clone, Debug)]
pub struct ServiceToken(Arc<HeaderValue>);

/// The shortest service token accepted: it must resist guessing as a JWT secret does.
pub const MIN_TOKEN_BYTES: usize = 32;

/// A token that cannot travel in a header, or is short enough to guess.
#[derive(Debug, thiserror::Error)]
#[error(
    "PARLEY_SERVICE_TOKEN must be printable ASCII and at least {MIN_TOKEN_BYTES} bytes (e.g. `openssl rand -hex 32`)"
)]
pub struct InvalidToken;

/// Why a service will not serve with the token it was given.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Invalid(#[from] InvalidToken),
    #[error(
        "refusing to serve gRPC on {address} (set by {setting}) without PARLEY_SERVICE_TOKEN: \
         anyone who reaches it could call every RPC; set the same PARLEY_SERVICE_TOKEN on every \
         process, listen on loopback, or set PARLEY_ALLOW_UNAUTHENTICATED_GRPC=true"
    )]
    Exposed {
        address: SocketAddr,
        setting: &'static str,
    },
}

impl ServiceToken {
    /// The token a service listening on `address` (chosen by the setting `setting`) checks
    /// callers against. Without one, only a loopback address is served, unless
    /// `PARLEY_ALLOW_UNAUTHENTICATED_GRPC` says the network is private by other means: a
    /// service on `0.0.0.0` without a token would serve anyone who reaches it, silently.
    pub fn for_listener(
        internal: &crate::config::InternalArgs,
        address: SocketAddr,
        setting: &'static str,
    ) -> Result<Option<Self>, TokenError> {
        let token = Self::from_config(internal.service_token.as_deref())?;
        if token.is_none() && !address.ip().is_loopback() && !internal.allow_unauthenticated_grpc {
            return Err(TokenError::Exposed { address, setting });
        }
        if token.is_none() && !address.ip().is_loopback() {
            tracing::warn!(%address, "serving gRPC beyond loopback without a service token, as allowed");
        }
        Ok(token)
    }

    /// The token of the configuration, if one is set (an empty one counts as unset).
    pub fn from_config(token: Option<&str>) -> Result<Option<Self>, InvalidToken> {
        match token.map(str::trim).filter(|token| !token.is_empty()) {
            None => Ok(None),
            Some(token) if token.len() < MIN_TOKEN_BYTES => Err(InvalidToken),
            Some(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| InvalidToken)?;
                value.set_sensitive(true);
                Ok(Some(Self(Arc::new(value))))
            }
        }
    }

    /// Adds the token to an outgoing request.
    pub fn attach<B>(&self, request: &mut http::Request<B>) {
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, HeaderValue::clone(&self.0));
    }

    /// Whether `presented` is this token, compared in constant time.
    fn matches(&self, presented: Option<&HeaderValue>) -> bool {
        let expected = self.0.as_bytes();
        presented.is_some_and(|presented| {
            let presented = presented.as_bytes();
            presented.len() == expected.len()
                && presented
                    .iter()
                    .zip(expected)
                    .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                    == 0
        })
    }
}

/// The server's check: a tower layer that refuses calls without the token (none when no
/// token is configured).
#[derive(Clone, Debug, Default)]
pub struct RequireServiceToken(pub Option<ServiceToken>);

impl<S> tower::Layer<S> for RequireServiceToken {
    type Service = TokenChecked<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenChecked {
            inner,
            token: self.0.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TokenChecked<S> {
    inner: S,
    token: Option<ServiceToken>,
}

/// Calls that need no token: probes.
const OPEN_PREFIX: &str = "/grpc.health.v1.Health/";

impl<S, B> tower::Service<http::Request<B>> for TokenChecked<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Error: Send + 'static,
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
        let refused = self.token.as_ref().is_some_and(|token| {
            !request.uri().path().starts_with(OPEN_PREFIX)
                && !token.matches(request.headers().get(http::header::AUTHORIZATION))
        });
        if refused {
            metrics::counter!("parley_grpc_server_unauthenticated_total").increment(1);
            let status = tonic::Status::unauthenticated("a valid service token is required");
            return Box::pin(std::future::ready(Ok(status.into_http())));
        }
        Box::pin(self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_token_matches() {
        let token = ServiceToken::from_config(Some("s3cret-service-token-of-32-bytes-or-more"))
            .expect("valid")
            .expect("set");
        assert!(token.matches(Some(&HeaderValue::from_static(
            "Bearer s3cret-service-token-of-32-bytes-or-more"
        ))));
        assert!(!token.matches(Some(&HeaderValue::from_static(
            "Bearer s3cret-service-token-of-32-bytes-or-mor"
        ))));
        assert!(!token.matches(Some(&HeaderValue::from_static(
            "Bearer s3cret-service-token-of-32-bytes-or-morE"
        ))));
        assert!(!token.matches(None));
    }

    fn internal(token: Option<&str>, allow: bool) -> crate::config::InternalArgs {
        crate::config::InternalArgs {
            service_token: token.map(str::to_owned),
            allow_unauthenticated_grpc: allow,
        }
    }

    #[test]
    fn a_listener_beyond_loopback_needs_a_token_or_an_explicit_allowance() {
        let everywhere: SocketAddr = "0.0.0.0:50051".parse().expect("an address");
        let loopback: SocketAddr = "[::1]:50051".parse().expect("an address");
        let refused = ServiceToken::for_listener(&internal(None, false), everywhere, "PARLEY_X")
            .expect_err("refused");
        let message = refused.to_string();
        assert!(
            message.contains("0.0.0.0:50051 (set by PARLEY_X)"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
        assert!(ServiceToken::for_listener(&internal(None, false), loopback, "PARLEY_X").is_ok());
        assert!(ServiceToken::for_listener(&internal(None, true), everywhere, "PARLEY_X").is_ok());
        assert!(
            ServiceToken::for_listener(
                &internal(Some("s3cret-service-token-of-32-bytes-or-more"), false),
                everywhere,
                "PARLEY_X"
            )
            .expect("served")
            .is_some()
        );
    }

    #[test]
    fn an_empty_token_is_no_token() {
        assert!(
            ServiceToken::from_config(Some("  "))
                .expect("valid")
                .is_none()
        );
        assert!(ServiceToken::from_config(None).expect("valid").is_none());
        assert!(ServiceToken::from_config(Some("line\nbreak")).is_err());
    }

    #[test]
    fn a_guessable_token_is_refused() {
        assert!(ServiceToken::from_config(Some("parley-dev-service-token")).is_err());
    }
}
