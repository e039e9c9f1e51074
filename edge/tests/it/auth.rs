//! The handshake's JWT check, on every namespace.

use jsonwebtoken::Algorithm;
use parley_edge::NAMESPACES;

use crate::support::{
    SioClient, TestSystem,
    system::{EdgeAuth, fixture},
    tokens::{bad_tokens, claims, hs256, sign_hs256, sign_with_pem},
};

#[tokio::test]
async fn a_valid_hs256_token_connects_to_every_namespace() {
    let system = TestSystem::spawn().await;
    let token = hs256(&claims("alice"));
    for namespace in NAMESPACES {
        let client = SioClient::connect(&system.edge_url(), namespace, Some(&token))
            .await
            .unwrap_or_else(|refusal| panic!("{namespace} refused a valid token: {refusal}"));
        client.disconnect().await;
    }
}

#[tokio::test]
async fn a_valid_rs256_token_connects() {
    let system = TestSystem::spawn().await;
    let token = sign_with_pem(&claims("alice"), Algorithm::RS256, "rsa_private.pem");
    let client = SioClient::connect(&system.edge_url(), "/chat", Some(&token))
        .await
        .expect("RS256 accepted with the configured public key");
    client.disconnect().await;
}

#[tokio::test]
async fn an_eddsa_token_connects_when_the_edge_has_an_ed25519_key() {
    let system = TestSystem::spawn_with(EdgeAuth {
        secret: None,
        public_key: Some(fixture("ed25519_public.pem")),
    })
    .await;
    let token = sign_with_pem(&claims("alice"), Algorithm::EdDSA, "ed25519_private.pem");
    let client = SioClient::connect(&system.edge_url(), "/status", Some(&token))
        .await
        .expect("EdDSA accepted");
    client.disconnect().await;
}

#[tokio::test]
async fn every_bad_token_is_refused_with_unauthenticated_on_every_namespace() {
    let system = TestSystem::spawn().await;
    for namespace in NAMESPACES {
        for (reason, token) in bad_tokens() {
            let outcome = SioClient::connect(&system.edge_url(), namespace, token.as_deref()).await;
            match outcome {
                Err(message) => assert_eq!(message, "UNAUTHENTICATED", "{reason} on {namespace}"),
                Ok(client) => {
                    client.disconnect().await;
                    panic!("{reason} was accepted on {namespace}");
                }
            }
        }
    }
}

#[tokio::test]
async fn an_rs256_only_edge_refuses_hs256_tokens_signed_with_its_public_key() {
    let system = TestSystem::spawn_with(EdgeAuth {
        secret: None,
        public_key: Some(fixture("rsa_public.pem")),
    })
    .await;
    let public_key_pem = std::fs::read(fixture("rsa_public.pem")).unwrap();
    let forged = sign_hs256(&claims("mallory"), &public_key_pem);
    let refusal = SioClient::connect(&system.edge_url(), "/friends", Some(&forged))
        .await
        .err()
        .expect("HS/RS confusion refused");
    assert_eq!(refusal, "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_edge_without_any_key_refuses_to_start() {
    let mut config = parley_edge::config::Config {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        chat_url: "http://127.0.0.1:1".into(),
        presence_url: "http://127.0.0.1:1".into(),
        friends_url: "http://127.0.0.1:1".into(),
        media_url: "http://127.0.0.1:1".into(),
        calls_url: "http://127.0.0.1:1".into(),
        grpc_timeout: std::time::Duration::from_secs(1),
        max_packet_bytes: 1024,
        handshakes_per_ip_per_minute: 0,
        namespace_connects_per_minute: 0,
        probes_per_ip_per_minute: 0,
        trusted_proxies: Vec::new(),
        lease_interval: std::time::Duration::from_secs(10),
        calls_lease_ttl: std::time::Duration::from_secs(30),
        allowed_origins: Vec::new(),
        event_limits: parley_edge::event_limits::EventLimitArgs::default(),
        internal: Default::default(),
        auth: parley_edge::config::AuthArgs {
            jwt_secret: None,
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway: std::time::Duration::ZERO,
        },
    };
    let error = parley_edge::startup::Application::build(&config)
        .await
        .err()
        .expect("no key, no start");
    assert!(error.to_string().contains("no JWT key"), "{error}");

    config.auth.jwt_public_key_file = Some(fixture("README.md"));
    let error = parley_edge::startup::Application::build(&config)
        .await
        .err()
        .expect("a file without a key is refused");
    assert!(error.to_string().contains("public key"), "{error}");

    // A guessable HS256 secret (the kind a compose file once defaulted to) is no key either.
    config.auth.jwt_public_key_file = None;
    config.auth.jwt_secret = Some("parley-dev-secret-change-me".into());
    let error = parley_edge::startup::Application::build(&config)
        .await
        .err()
        .expect("a short secret is refused");
    assert!(error.to_string().contains("at least 32"), "{error}");
}
