//! Who is connecting: JWT verification for the Socket.IO handshake, and development tokens.
//!
//! A token is verified with the key of its own algorithm family only: an HS256 token is checked
//! against the shared secret, an RS256/EdDSA one against the public key. Signing an HS256
//! token with the (public) RSA key therefore gets nowhere (HS/RS confusion).

use std::{path::Path, time::Duration};

use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation, decode,
    decode_header, encode,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::AuthArgs;

/// The longest username kept from a token; longer ones are cut, so a hostile issuer cannot make
/// every event that names the user heavy.
pub const MAX_USERNAME_CHARS: usize = 64;

/// The shortest HS256 secret accepted: RFC 7518 asks for a key at least as long as the hash
/// (256 bits); a shorter one can be guessed offline from any token.
pub const MIN_SECRET_BYTES: usize = 32;

/// The user behind a connection, as the token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`.
    pub user_id: Uuid,
    /// The token's `name`, or `user-<first 8 hex digits of the id>` when it has none.
    pub username: String,
    /// The token's `picture`, an avatar URL.
    pub avatar: Option<String>,
    /// The token's `iat`: friends-svc keeps the name and avatar of the newest token.
    pub issued_at: Option<i64>,
    /// The token's `exp` (Unix seconds): past it and the leeway, the socket is closed
    /// unless an `auth-refresh` brought a newer token.
    pub expires_at: u64,
}

/// Why the edge cannot start with the given key configuration.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no JWT key configured: set PARLEY_JWT_SECRET (HS256) or PARLEY_JWT_PUBLIC_KEY_FILE (RS256/EdDSA)"
    )]
    NoKey,
    #[error("PARLEY_JWT_SECRET is empty")]
    EmptySecret,
    #[error(
        "PARLEY_JWT_SECRET is {0} bytes; HS256 needs at least {MIN_SECRET_BYTES} (e.g. `openssl rand -base64 48`)"
    )]
    ShortSecret(usize),
    #[error("cannot read the JWT public key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no RSA, Ed25519 or EC public key in PEM form")]
    NotAPublicKey { path: String },
}

/// A refused token. Its text is the only thing a refused client learns.
#[derive(Debug, thiserror::Error)]
#[error("UNAUTHENTICATED")]
pub struct Unauthenticated;

/// Verifies tokens against the configured keys and claims.
pub struct Authenticator {
    secret: Option<DecodingKey>,
    public_key: Option<DecodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_secs: u64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Authenticator")
            .field("hs256", &self.secret.is_some())
            .field("public_key", &self.public_key.is_some())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Loads the keys; refuses a configuration that would accept no token at all.
    pub fn from_args(args: &AuthArgs) -> Result<Self, KeyError> {
        let secret = match &args.jwt_secret {
            Some(secret) => {
                check_secret(secret)?;
                Some(DecodingKey::from_secret(secret.as_bytes()))
            }
            None => None,
        };
        let public_key = args
            .jwt_public_key_file
            .as_deref()
            .map(read_public_key)
            .transpose()?;
        if secret.is_none() && public_key.is_none() {
            return Err(KeyError::NoKey);
        }
        Ok(Self {
            secret,
            public_key,
            issuer: args.jwt_issuer.clone(),
            audience: args.jwt_audience.clone(),
            leeway_secs: args.jwt_leeway.as_secs(),
        })
    }

    /// The clock skew tolerated on `exp`: a socket is closed this long after its token
    /// expired.
    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.leeway_secs)
    }

    /// Who a handshake's `auth` payload proves to be: its `token`, with or without a
    /// `Bearer ` prefix, verified.
    pub fn identify(&self, auth: &serde_json::Value) -> Result<Identity, Unauthenticated> {
        let token = auth
            .get("token")
            .and_then(serde_json::Value::as_str)
            .ok_or(Unauthenticated)?;
        self.verify(token.strip_prefix("Bearer ").unwrap_or(token))
    }

    /// Checks a token's signature, algorithm, time window, issuer and audience, and reads
    /// who it names.
    pub fn verify(&self, token: &str) -> Result<Identity, Unauthenticated> {
        let header = decode_header(token).map_err(|_| Unauthenticated)?;
        let key = self.key_for(header.alg).ok_or(Unauthenticated)?;

        let mut validation = Validation::new(header.alg);
        validation.validate_nbf = true;
        validation.leeway = self.leeway_secs;
        // jsonwebtoken checks `iss` and `aud` only when a token has them: a configured issuer
        // or audience must also make them required, or a token without them passes.
        let mut required = vec!["exp", "sub"];
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);

        let claims = decode::<Claims>(token, key, &validation)
            .map_err(|_| Unauthenticated)?
            .claims;
        // jsonwebtoken also takes a list of issuers that includes ours; only ours will do.
        if let Some(issuer) = &self.issuer
            && claims.iss.as_ref().and_then(serde_json::Value::as_str) != Some(issuer.as_str())
        {
            return Err(Unauthenticated);
        }
        claims.into_identity().ok_or(Unauthenticated)
    }

    fn key_for(&self, algorithm: Algorithm) -> Option<&DecodingKey> {
        let key = match algorithm.family() {
            AlgorithmFamily::Hmac => self.secret.as_ref(),
            _ => self.public_key.as_ref(),
        }?;
        (key.family() == algorithm.family()).then_some(key)
    }
}

/// Refuses a secret that is empty or too short to resist guessing.
fn check_secret(secret: &str) -> Result<(), KeyError> {
    match secret.len() {
        0 => Err(KeyError::EmptySecret),
        len if len < MIN_SECRET_BYTES => Err(KeyError::ShortSecret(len)),
        _ => Ok(()),
    }
}

fn read_public_key(path: &Path) -> Result<DecodingKey, KeyError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| KeyError::Read {
        path: shown.clone(),
        source,
    })?;
    DecodingKey::from_rsa_pem(&pem)
        .or_else(|_| DecodingKey::from_ed_pem(&pem))
        .or_else(|_| DecodingKey::from_ec_pem(&pem))
        .map_err(|_| KeyError::NotAPublicKey { path: shown })
}

/// The claims Parley reads; `exp` is checked by the validation itself.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    picture: Option<String>,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    /// Read only to hold a token to the configured issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<serde_json::Value>,
}

impl Claims {
    fn into_identity(self) -> Option<Identity> {
        let user_id = Uuid::parse_str(&self.sub).ok()?;
        let username = match self.name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => name.chars().take(MAX_USERNAME_CHARS).collect(),
            _ => format!(
                "user-{}",
                user_id.simple().to_string().get(..8).unwrap_or_default()
            ),
        };
        let avatar = self.picture.filter(|picture| !picture.trim().is_empty());
        Some(Identity {
            user_id,
            username,
            avatar,
            issued_at: self.iat,
            expires_at: self.exp,
        })
    }
}

/// Development users get ids derived from their lowercased name in this namespace, so
/// `edge token --user alice` names the same user every time, on every machine.
const DEV_USER_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_5a43_2f0e_4d0a_9b1e_7a8c_3d2b_0e51);

/// The stable id of a development user.
pub fn dev_user_id(username: &str) -> Uuid {
    Uuid::new_v5(&DEV_USER_NAMESPACE, username.to_lowercase().as_bytes())
}

/// An HS256 token for a development user, valid for `ttl`.
pub fn dev_token(secret: &str, username: &str, ttl: Duration) -> Result<String, KeyError> {
    check_secret(secret)?;
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        sub: dev_user_id(username).to_string(),
        name: Some(username.to_owned()),
        picture: None,
        exp: now.saturating_add(ttl.as_secs()),
        iat: i64::try_from(now).ok(),
        iss: None,
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|_| KeyError::EmptySecret)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a test secret of at least thirty-two bytes";

    fn hs256_only(secret: &str) -> Authenticator {
        Authenticator::from_args(&AuthArgs {
            jwt_secret: Some(secret.into()),
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway: Duration::from_secs(0),
        })
        .expect("a secret is a key")
    }

    #[test]
    fn a_dev_token_verifies_and_names_a_stable_user() {
        let auth = hs256_only(SECRET);
        let token = dev_token(SECRET, "Alice", Duration::from_secs(60)).expect("signed");
        let identity = auth.verify(&token).expect("accepted");
        assert_eq!(identity.username, "Alice");
        assert_eq!(identity.user_id, dev_user_id("alice"));
        assert_ne!(dev_user_id("alice"), dev_user_id("bob"));
    }

    #[test]
    fn a_handshake_token_may_carry_a_bearer_prefix() {
        let auth = hs256_only(SECRET);
        let token = dev_token(SECRET, "Alice", Duration::from_secs(60)).expect("signed");
        let bare = auth.identify(&serde_json::json!({ "token": token }));
        let bearer = auth.identify(&serde_json::json!({ "token": format!("Bearer {token}") }));
        assert_eq!(bare.expect("accepted").user_id, dev_user_id("alice"));
        assert_eq!(bearer.expect("accepted").user_id, dev_user_id("alice"));
    }

    #[test]
    fn a_handshake_without_a_token_string_is_refused() {
        let auth = hs256_only(SECRET);
        for payload in [
            serde_json::json!({}),
            serde_json::json!({ "token": 42 }),
            serde_json::json!("a token"),
        ] {
            assert!(auth.identify(&payload).is_err(), "{payload}");
        }
    }

    /// Signs `claims` with `secret` by HS256.
    fn hs256_token(secret: &str, claims: &serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("signed")
    }

    #[test]
    fn a_configured_issuer_and_audience_must_be_in_the_token() {
        let auth = Authenticator::from_args(&AuthArgs {
            jwt_secret: Some(SECRET.into()),
            jwt_public_key_file: None,
            jwt_issuer: Some("https://issuer.example".into()),
            jwt_audience: Some("parley".into()),
            jwt_leeway: Duration::from_secs(0),
        })
        .expect("a secret is a key");
        let claims = |extra: serde_json::Value| {
            let mut claims = serde_json::json!({
                "sub": "0b0e5f5c-0000-4000-8000-000000000001",
                "exp": jsonwebtoken::get_current_timestamp() + 60,
            });
            if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
                claims.extend(extra.clone());
            }
            hs256_token(SECRET, &claims)
        };
        let both = serde_json::json!({ "iss": "https://issuer.example", "aud": "parley" });
        assert!(auth.verify(&claims(both)).is_ok());
        let no_issuer = serde_json::json!({ "aud": "parley" });
        assert!(auth.verify(&claims(no_issuer)).is_err());
        let issuers = serde_json::json!({
            "iss": ["https://other.example", "https://issuer.example"],
            "aud": "parley",
        });
        assert!(auth.verify(&claims(issuers)).is_err());
        let no_audience = serde_json::json!({ "iss": "https://issuer.example" });
        assert!(auth.verify(&claims(no_audience)).is_err());
        assert!(auth.verify(&claims(serde_json::json!({}))).is_err());
    }

    #[test]
    fn a_short_secret_means_no_start() {
        let args = AuthArgs {
            jwt_secret: Some("changeme".into()),
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway: Duration::from_secs(0),
        };
        assert!(matches!(
            Authenticator::from_args(&args),
            Err(KeyError::ShortSecret(8))
        ));
        assert!(dev_token("changeme", "alice", Duration::from_secs(60)).is_err());
    }

    #[test]
    fn no_key_means_no_start() {
        let args = AuthArgs {
            jwt_secret: None,
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway: Duration::from_secs(0),
        };
        assert!(matches!(
            Authenticator::from_args(&args),
            Err(KeyError::NoKey)
        ));
    }

    #[test]
    fn a_missing_name_gets_a_readable_fallback() {
        let claims = Claims {
            sub: "0b0e5f5c-0000-4000-8000-000000000001".into(),
            name: None,
            picture: Some(" ".into()),
            exp: 0,
            iat: None,
            iss: None,
        };
        let identity = claims.into_identity().expect("accepted");
        assert_eq!(identity.username, "user-0b0e5f5c");
        assert_eq!(identity.avatar, None);
    }

    #[test]
    fn a_sub_that_is_not_a_uuid_is_refused() {
        let claims = Claims {
            sub: "alice".into(),
            name: None,
            picture: None,
            exp: 0,
            iat: None,
            iss: None,
        };
        assert!(claims.into_identity().is_none());
    }
}
