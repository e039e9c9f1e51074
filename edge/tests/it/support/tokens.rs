//! Tokens for the auth matrix: good ones and every kind of bad one.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::system::{JWT_SECRET, fixture};

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of a valid token for a new user.
pub fn claims(name: &str) -> Value {
    claims_of(Uuid::new_v4(), name, 3600)
}

/// Claims of user `id` named `name`, valid for `ttl` seconds from now (expired when not
/// positive).
pub fn claims_of(id: Uuid, name: &str, ttl: i64) -> Value {
    json!({
        "sub": id.to_string(),
        "name": name,
        "exp": now() + ttl,
    })
}

pub fn hs256(claims: &Value) -> String {
    sign_hs256(claims, JWT_SECRET.as_bytes())
}

pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

pub fn sign_with_pem(claims: &Value, algorithm: Algorithm, private_key: &str) -> String {
    let pem = std::fs::read(fixture(private_key)).unwrap();
    let key = match algorithm {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => EncodingKey::from_rsa_pem(&pem),
    }
    .unwrap();
    encode(&Header::new(algorithm), claims, &key).unwrap()
}

/// A token that claims `alg: none` and carries no signature.
pub fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{body}.")
}

/// Every token the edge must refuse, each with its reason. The edge accepts HS256 with
/// [`JWT_SECRET`] and RS256 with `rsa_public.pem`.
pub fn bad_tokens() -> Vec<(&'static str, Option<String>)> {
    let good = claims("mallory");
    let with = |change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut claims = good.clone();
        change(claims.as_object_mut().unwrap());
        claims
    };
    let public_key_pem = std::fs::read(fixture("rsa_public.pem")).unwrap();
    vec![
        ("missing token", None),
        ("not a JWT", Some("not-a-token".to_owned())),
        (
            "wrong HS256 secret",
            Some(sign_hs256(&good, b"another secret")),
        ),
        (
            "RS256 signed by a stranger's key",
            Some(sign_with_pem(
                &good,
                Algorithm::RS256,
                "other_rsa_private.pem",
            )),
        ),
        (
            "expired",
            Some(hs256(&with(&|c| {
                c.insert("exp".into(), json!(now() - 60));
            }))),
        ),
        (
            "not yet valid",
            Some(hs256(&with(&|c| {
                c.insert("nbf".into(), json!(now() + 600));
            }))),
        ),
        ("alg none", Some(unsigned(&good))),
        (
            "HS256 signed with the RSA public key (HS/RS confusion)",
            Some(sign_hs256(&good, &public_key_pem)),
        ),
        (
            "exp as a string",
            Some(hs256(&with(&|c| {
                c.insert("exp".into(), json!((now() + 3600).to_string()));
            }))),
        ),
        (
            "missing sub",
            Some(hs256(&with(&|c| {
                c.remove("sub");
            }))),
        ),
        (
            "sub is not a UUID",
            Some(hs256(&with(&|c| {
                c.insert("sub".into(), json!("mallory"));
            }))),
        ),
        (
            "missing exp",
            Some(hs256(&with(&|c| {
                c.remove("exp");
            }))),
        ),
    ]
}

/// A user of the tests: their id, name and a valid token.
#[derive(Clone)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub token: String,
}

impl Person {
    pub fn new(name: &str) -> Self {
        let claims = claims(name);
        let id = Uuid::parse_str(claims["sub"].as_str().unwrap()).unwrap();
        Self {
            id,
            name: name.to_owned(),
            token: hs256(&claims),
        }
    }

    /// The development user `name`: the id `edge token --user <name>` (deploy/local.sh
    /// token) signs for, so that tokens minted either way name the same user.
    pub fn dev(name: &str) -> Self {
        let id = parley_edge::auth::dev_user_id(name);
        Self {
            id,
            name: name.to_owned(),
            token: hs256(&claims_of(id, name, 3600)),
        }
    }

    /// A fresh token of this person, valid for `ttl` seconds.
    pub fn token_for(&self, ttl: i64) -> String {
        hs256(&claims_of(self.id, &self.name, ttl))
    }
}
