//! The handshake: the connect middleware's reading of the `auth` payload and the JWT
//! verification (`Authenticator::identify`, then `verify`).
//!
//! First input byte: `% 3` picks what the rest is, and bit 0x40 adds a `Bearer ` prefix to a
//! token the target builds.
//! - 0: the `auth` payload itself, as JSON (a client's own token, if any).
//! - 1: a token's claims segment (raw bytes), under an HS256 header, signed with the secret, so
//!   that the claims checks run, not only the signature check.
//! - 2: a token's header and claims segments, split at the first newline, signed as in 1: the
//!   algorithm and key choice get the fuzzer's headers.
//!
//! Two edges verify each handshake: one with the HS256 secret and an RSA public key (so RS
//! headers find a key of their own), one with the secret, an issuer, an audience and leeway.
//! Whatever either accepts must be a token it should accept.

#![no_main]

use std::{sync::LazyLock, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, crypto::sign, decode_header, get_current_timestamp};
use libfuzzer_sys::fuzz_target;
use parley_edge::{
    auth::{Authenticator, Identity, MAX_USERNAME_CHARS},
    config::AuthArgs,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

const SECRET: &str = "fuzz-secret-of-at-least-thirty-two-bytes";
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "parley";

/// One edge's key and claim configuration, and what it promises about accepted tokens.
struct Edge {
    authenticator: Authenticator,
    issuer: Option<&'static str>,
    audience: Option<&'static str>,
    leeway: u64,
}

impl Edge {
    fn new(args: AuthArgs) -> Self {
        let authenticator = Authenticator::from_args(&args).expect("a valid configuration");
        Self {
            authenticator,
            issuer: args.jwt_issuer.map(|_| ISSUER),
            audience: args.jwt_audience.map(|_| AUDIENCE),
            leeway: args.jwt_leeway.as_secs(),
        }
    }
}

static EDGES: LazyLock<[Edge; 2]> = LazyLock::new(|| {
    let public_key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/rsa_public.pem"
    );
    [
        Edge::new(AuthArgs {
            jwt_secret: Some(SECRET.into()),
            jwt_public_key_file: Some(public_key.into()),
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway: Duration::ZERO,
        }),
        Edge::new(AuthArgs {
            jwt_secret: Some(SECRET.into()),
            jwt_public_key_file: None,
            jwt_issuer: Some(ISSUER.into()),
            jwt_audience: Some(AUDIENCE.into()),
            jwt_leeway: Duration::from_secs(30),
        }),
    ]
});

const HS256_HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let auth = match mode % 3 {
        // Not JSON: socketioxide hands the middleware an error, refused before any of this.
        0 => match serde_json::from_slice::<Value>(rest) {
            Ok(auth) => auth,
            Err(_) => return,
        },
        1 => signed(HS256_HEADER, rest, mode & 0x40 != 0),
        _ => {
            let (header, claims) = match rest.iter().position(|&byte| byte == b'\n') {
                Some(newline) => (&rest[..newline], &rest[newline + 1..]),
                None => (rest, &[][..]),
            };
            signed(header, claims, mode & 0x40 != 0)
        }
    };
    let before = get_current_timestamp();
    for edge in EDGES.iter() {
        if let Ok(identity) = edge.authenticator.identify(&auth) {
            check_accepted(edge, &auth, &identity, before);
        }
    }
});

/// An `auth` payload with a token of these segments, signed with the secret by HS256.
fn signed(header: &[u8], claims: &[u8], bearer: bool) -> Value {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let signature = sign(message.as_bytes(), &key, Algorithm::HS256).expect("HMAC signs anything");
    let token = format!("{message}.{signature}");
    json!({ "token": if bearer { format!("Bearer {token}") } else { token } })
}

/// What an accepted handshake must have had: an HS256 token (nothing else is signed with a key
/// the fuzzer has), in its time window, with the configured issuer and audience, naming the
/// user the identity names.
fn check_accepted(edge: &Edge, auth: &Value, identity: &Identity, before: u64) {
    let after = get_current_timestamp();
    let token = auth["token"].as_str().expect("accepted: a token string");
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    let header = decode_header(token).expect("accepted: a header");
    assert_eq!(header.alg, Algorithm::HS256, "accepted {token}");

    // Lossily: a claim nobody reads is skipped unchecked, invalid UTF-8 included (harmless:
    // nothing of it reaches the edge).
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|segment| URL_SAFE_NO_PAD.decode(segment).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .expect("accepted: a claims segment");
    let read: Claims = serde_json::from_str(&claims).expect("accepted: JSON claims");
    let exp = read
        .exp
        .as_ref()
        .and_then(Value::as_u64)
        .expect("accepted: a numeric exp");
    assert!(
        exp.saturating_add(edge.leeway) >= before,
        "accepted expired {claims}"
    );
    // jsonwebtoken reads a fractional `nbf` rounded.
    if let Some(nbf) = read.nbf.as_ref().and_then(Value::as_f64) {
        let latest = (after + edge.leeway) as f64;
        assert!(nbf.round() <= latest, "accepted not yet valid {claims}");
    }
    let sub = read
        .sub
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|sub| Uuid::parse_str(sub).ok());
    assert_eq!(sub, Some(identity.user_id), "accepted {claims}");
    if let Some(issuer) = edge.issuer {
        assert_eq!(
            read.iss.as_ref().and_then(Value::as_str),
            Some(issuer),
            "accepted {claims}"
        );
    }
    if let Some(audience) = edge.audience {
        let listed = match &read.aud {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(audience)),
            _ => false,
        };
        assert!(listed, "accepted without the audience: {claims}");
    }

    assert!(!identity.username.is_empty(), "{identity:?}");
    assert!(
        identity.username.chars().count() <= MAX_USERNAME_CHARS,
        "{identity:?}"
    );
    let name = read.name.as_ref().and_then(Value::as_str).map(str::trim);
    if let Some(name) = name.filter(|name| !name.is_empty()) {
        assert!(
            name.starts_with(&identity.username),
            "{identity:?} from {claims}"
        );
    }
    assert_eq!(
        identity.issued_at,
        read.iat.as_ref().and_then(Value::as_i64),
        "{claims}"
    );
}

/// The claims the checks read; the others are skipped unread, as the edge and jsonwebtoken
/// skip them.
#[derive(Deserialize)]
struct Claims {
    sub: Option<Value>,
    name: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    iat: Option<Value>,
    iss: Option<Value>,
    aud: Option<Value>,
}
