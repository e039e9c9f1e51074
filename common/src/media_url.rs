//! Signed, expiring capability URLs for media-svc's HTTP data plane (docs/API.md
//! "Attachments"). chat-svc signs download URLs when it renders a message for a member,
//! media-svc signs upload URLs and checks every signature; neither stores a URL.
//!
//! A signature is HMAC-SHA256 over what the URL grants (the upload and its exact size, or the
//! attachment and its variant) and the expiry, under one of several named keys: the first key
//! signs, every key verifies, so keys rotate by adding a new one in front and dropping the old
//! one once the URLs it signed have expired.
//!
//! Download expiry is bucketed: every URL minted within one bucket expires at the same
//! instant, so all members of a room get byte-identical URLs (a fan-out event is serialized
//! once, and caches see one URL per file), each valid for one to two buckets.

use std::{fmt, str::FromStr, time::Duration};

use base64::{
    Engine as _, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// Shortest secret accepted, in bytes, as for every other Parley secret.
pub const MIN_SECRET_BYTES: usize = 32;

/// Which file of an attachment a URL serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The stored file (metadata stripped for images).
    Original,
    /// Fits 400×400.
    Thumbnail,
    /// Fits 1600×1600.
    Preview,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Original, Variant::Thumbnail, Variant::Preview];

    /// Its path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "o",
            Variant::Thumbnail => "t",
            Variant::Preview => "p",
        }
    }

    pub fn parse(segment: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|variant| variant.as_str() == segment)
    }
}

/// One named secret.
#[derive(Clone)]
struct Key {
    id: String,
    secret: Vec<u8>,
}

/// The keys URLs are signed and verified with, from `PARLEY_MEDIA_URL_KEYS`.
#[derive(Clone)]
pub struct UrlKeys {
    /// Never empty; the first one signs.
    keys: Vec<Key>,
}

impl fmt::Debug for UrlKeys {
    /// Names the keys, never their secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|key| key.id.as_str()).collect();
        f.debug_struct("UrlKeys").field("ids", &ids).finish()
    }
}

/// Why a `PARLEY_MEDIA_URL_KEYS` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("no key given: write `id:base64secret`, several separated by commas")]
    Empty,
    #[error("`{0}` is not `id:base64secret`")]
    Malformed(String),
    #[error("key id `{0}` must be 1–16 of [A-Za-z0-9_-]")]
    BadId(String),
    #[error("key `{0}` is not valid base64")]
    BadBase64(String),
    #[error("key `{0}` is shorter than {MIN_SECRET_BYTES} bytes")]
    TooShort(String),
    #[error("key id `{0}` is given twice")]
    Duplicate(String),
}

impl FromStr for UrlKeys {
    type Err = KeysError;

    /// `id:base64secret[,id:base64secret…]`; the first key signs.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut keys: Vec<Key> = Vec::new();
        for part in text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            let (id, secret) = part
                .split_once(':')
                .ok_or_else(|| KeysError::Malformed(part.chars().take(20).collect()))?;
            let id_is_valid = (1..=16).contains(&id.len())
                && id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
            if !id_is_valid {
                return Err(KeysError::BadId(id.chars().take(20).collect()));
            }
            let secret = STANDARD
                .decode(secret)
                .or_else(|_| URL_SAFE_NO_PAD.decode(secret))
                .map_err(|_| KeysError::BadBase64(id.to_owned()))?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeysError::TooShort(id.to_owned()));
            }
            if keys.iter().any(|key| key.id == id) {
                return Err(KeysError::Duplicate(id.to_owned()));
            }
            keys.push(Key {
                id: id.to_owned(),
                secret,
            });
        }
        if keys.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(Self { keys })
    }
}

/// The query of a signed URL: `e` (expiry, Unix seconds), `k` (key id), `s` (signature).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Signature {
    pub e: i64,
    pub k: String,
    pub s: String,
}

impl Signature {
    /// As a URL query, without the `?`.
    pub fn query(&self) -> String {
        // `k` is [A-Za-z0-9_-] and `s` base64url: nothing to escape.
        format!("e={}&k={}&s={}", self.e, self.k, self.s)
    }
}

/// Why a signed URL was refused (the data plane answers `403` to either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the URL has expired")]
    Expired,
    #[error("the URL's signature is not valid")]
    BadSignature,
}

/// What a signature grants; the text signed says which kind, so that no signature of one
/// kind is valid for the other.
enum Grant {
    Download { id: Uuid, variant: Variant },
    Upload { id: Uuid, size: u64 },
}

impl Grant {
    fn message(&self, expires: i64) -> String {
        match self {
            Grant::Download { id, variant } => {
                format!(
                    "parley-media-v1|download|{id}|{}|{expires}",
                    variant.as_str()
                )
            }
            Grant::Upload { id, size } => format!("parley-media-v1|upload|{id}|{size}|{expires}"),
        }
    }
}

impl UrlKeys {
    pub fn sign_download(&self, id: Uuid, variant: Variant, expires: i64) -> Signature {
        self.sign(&Grant::Download { id, variant }, expires)
    }

    pub fn verify_download(
        &self,
        id: Uuid,
        variant: Variant,
        signature: &Signature,
        now: i64,
    ) -> Result<(), Refused> {
        self.verify(&Grant::Download { id, variant }, signature, now)
    }

    pub fn sign_upload(&self, id: Uuid, size: u64, expires: i64) -> Signature {
        self.sign(&Grant::Upload { id, size }, expires)
    }

    pub fn verify_upload(
        &self,
        id: Uuid,
        size: u64,
        signature: &Signature,
        now: i64,
    ) -> Result<(), Refused> {
        self.verify(&Grant::Upload { id, size }, signature, now)
    }

    fn sign(&self, grant: &Grant, expires: i64) -> Signature {
        // `keys` is never empty (FromStr refuses that); an empty signature verifies nowhere.
        let signed = self.keys.first().and_then(|key| {
            let tag = mac(&key.secret, &grant.message(expires))?
                .finalize()
                .into_bytes();
            Some((key.id.clone(), URL_SAFE_NO_PAD.encode(tag)))
        });
        let (k, s) = signed.unwrap_or_default();
        Signature { e: expires, k, s }
    }

    fn verify(&self, grant: &Grant, signature: &Signature, now: i64) -> Result<(), Refused> {
        let key = self
            .keys
            .iter()
            .find(|key| key.id == signature.k)
            .ok_or(Refused::BadSignature)?;
        let tag = URL_SAFE_NO_PAD
            .decode(&signature.s)
            .map_err(|_| Refused::BadSignature)?;
        mac(&key.secret, &grant.message(signature.e))
            .ok_or(Refused::BadSignature)?
            .verify_slice(&tag)
            .map_err(|_| Refused::BadSignature)?;
        // Checked after the signature, so that a forged URL never learns about expiry.
        if signature.e <= now {
            return Err(Refused::Expired);
        }
        Ok(())
    }
}

/// HMAC takes keys of any length, so this is `None` never in practice; callers treat it as a
/// signature that cannot verify.
fn mac(secret: &[u8], message: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(message.as_bytes());
    Some(mac)
}

/// The shared expiry of download URLs minted at `now` (Unix seconds): the end of the next
/// bucket after the current one, so that a URL is valid for at least one bucket.
pub fn bucketed_expiry(now: i64, bucket: Duration) -> i64 {
    let bucket = i64::try_from(bucket.as_secs()).unwrap_or(i64::MAX).max(1);
    let current_end = now
        .div_euclid(bucket)
        .saturating_add(1)
        .saturating_mul(bucket);
    current_end.saturating_add(bucket)
}

/// Where media-svc's data plane is reached, and how its URLs are signed.
#[derive(Debug, Clone)]
pub struct MediaUrls {
    /// The public origin (and path prefix, if any), without a trailing slash.
    base: String,
    keys: UrlKeys,
    bucket: Duration,
}

/// A download URL and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    pub url: String,
    /// Unix seconds.
    pub expires: i64,
}

impl MediaUrls {
    pub fn new(base: &str, keys: UrlKeys, bucket: Duration) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            keys,
            bucket,
        }
    }

    pub fn keys(&self) -> &UrlKeys {
        &self.keys
    }

    /// `GET {base}/media/v1/a/{id}/{variant}/{name}?e&k&s`. The name is there for the browser's
    /// sake (saving, history) and not signed: the data plane names the file from its own
    /// record.
    pub fn download(&self, id: Uuid, variant: Variant, name: &str, now: i64) -> SignedUrl {
        let expires = bucketed_expiry(now, self.bucket);
        let signature = self.keys.sign_download(id, variant, expires);
        SignedUrl {
            url: format!(
                "{}/media/v1/a/{id}/{}/{}?{}",
                self.base,
                variant.as_str(),
                encode_path_segment(name),
                signature.query()
            ),
            expires,
        }
    }

    /// Fills in the download URLs of attachment `id`: the original and the variants it has,
    /// all expiring with the original. The one rule of which URLs an attachment carries, for
    /// its uploader (media-svc) and its readers (chat-svc) alike.
    pub fn sign_attachment(
        &self,
        attachment: &mut parley_proto::media::v1::Attachment,
        id: Uuid,
        now: i64,
    ) {
        let variant = |variant| self.download(id, variant, &attachment.name, now);
        let original = variant(Variant::Original);
        let thumbnail_url = attachment
            .has_thumbnail
            .then(|| variant(Variant::Thumbnail).url);
        let preview_url = attachment
            .has_preview
            .then(|| variant(Variant::Preview).url);
        attachment.url = original.url;
        attachment.thumbnail_url = thumbnail_url;
        attachment.preview_url = preview_url;
        attachment.url_expires_at = Some(prost_types::Timestamp {
            seconds: original.expires,
            nanos: 0,
        });
    }

    /// `PUT {base}/media/v1/u/{id}?e&k&s`, valid for exactly `size` bytes until `expires`.
    pub fn upload(&self, id: Uuid, size: u64, expires: i64) -> String {
        let signature = self.keys.sign_upload(id, size, expires);
        format!("{}/media/v1/u/{id}?{}", self.base, signature.query())
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters; an empty name becomes
/// `file`, so the path keeps its shape.
pub fn encode_path_segment(text: &str) -> String {
    if text.is_empty() {
        return "file".to_owned();
    }
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Flags for the processes that mint or check media URLs (chat-svc, media-svc).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct MediaUrlArgs {
    /// Public origin of media-svc's HTTP data plane, as clients reach it. Serve it on an origin
    /// of its own (another host name), so that nothing uploaded runs on the app's origin.
    #[arg(
        long = "media-public-url",
        env = "PARLEY_MEDIA_PUBLIC_URL",
        default_value = "http://127.0.0.1:3100"
    )]
    pub public_url: String,

    /// URL signing keys, `id:base64secret[,…]`, each secret at least 32 bytes; the first signs,
    /// all verify. Unset: attachments are off (media-svc refuses to start).
    #[arg(
        long = "media-url-keys",
        env = "PARLEY_MEDIA_URL_KEYS",
        hide_env_values = true
    )]
    pub url_keys: Option<UrlKeys>,

    /// Download URLs expire at the end of the bucket after the current one: valid for one to
    /// two of these.
    #[arg(
        long = "media-url-bucket",
        env = "PARLEY_MEDIA_URL_BUCKET",
        default_value = "1h",
        value_parser = crate::config::parse_duration
    )]
    pub url_bucket: Duration,
}

impl MediaUrlArgs {
    /// The URLs these flags describe, when keys are set.
    pub fn urls(&self) -> Option<MediaUrls> {
        self.url_keys
            .clone()
            .map(|keys| MediaUrls::new(&self.public_url, keys, self.url_bucket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(spec: &str) -> UrlKeys {
        spec.parse().unwrap_or_else(|error| panic!("{error}"))
    }

    fn secret(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    #[test]
    fn a_signature_verifies_until_it_expires() {
        let keys = keys(&format!("a:{}", secret(1)));
        let id = Uuid::new_v4();
        let signature = keys.sign_download(id, Variant::Thumbnail, 1_000);
        assert_eq!(
            keys.verify_download(id, Variant::Thumbnail, &signature, 999),
            Ok(())
        );
        assert_eq!(
            keys.verify_download(id, Variant::Thumbnail, &signature, 1_000),
            Err(Refused::Expired)
        );
    }

    #[test]
    fn a_signature_grants_only_what_it_names() {
        let keys = keys(&format!("a:{}", secret(1)));
        let id = Uuid::new_v4();
        let signature = keys.sign_download(id, Variant::Thumbnail, 1_000);
        let refused = Err(Refused::BadSignature);
        assert_eq!(
            keys.verify_download(id, Variant::Original, &signature, 0),
            refused
        );
        assert_eq!(
            keys.verify_download(Uuid::new_v4(), Variant::Thumbnail, &signature, 0),
            refused
        );
        let later = Signature {
            e: 2_000,
            ..signature.clone()
        };
        assert_eq!(
            keys.verify_download(id, Variant::Thumbnail, &later, 0),
            refused
        );
        let upload = keys.sign_upload(id, 10, 1_000);
        assert_eq!(keys.verify_upload(id, 11, &upload, 0), refused);
        assert_eq!(
            keys.verify_download(id, Variant::Original, &upload, 0),
            refused
        );
        let mut tampered = signature.clone();
        tampered.s.replace_range(
            0..1,
            if tampered.s.starts_with('A') {
                "B"
            } else {
                "A"
            },
        );
        assert_eq!(
            keys.verify_download(id, Variant::Thumbnail, &tampered, 0),
            refused
        );
    }

    #[test]
    fn keys_rotate_the_first_signs_and_all_verify() {
        let old = keys(&format!("old:{}", secret(1)));
        let rotated = keys(&format!("new:{},old:{}", secret(2), secret(1)));
        let id = Uuid::new_v4();
        let by_old = old.sign_upload(id, 5, 100);
        assert_eq!(rotated.verify_upload(id, 5, &by_old, 0), Ok(()));
        let by_new = rotated.sign_upload(id, 5, 100);
        assert_eq!(by_new.k, "new");
        assert_eq!(
            old.verify_upload(id, 5, &by_new, 0),
            Err(Refused::BadSignature)
        );
    }

    #[test]
    fn weak_or_malformed_keys_are_refused() {
        assert_eq!("".parse::<UrlKeys>().err(), Some(KeysError::Empty));
        assert!(matches!(
            "nocolon".parse::<UrlKeys>(),
            Err(KeysError::Malformed(_))
        ));
        let short = STANDARD.encode([1; 16]);
        assert!(matches!(
            format!("a:{short}").parse::<UrlKeys>(),
            Err(KeysError::TooShort(_))
        ));
        assert!(matches!(
            format!("a b:{}", secret(1)).parse::<UrlKeys>(),
            Err(KeysError::BadId(_))
        ));
        let twice = format!("a:{},a:{}", secret(1), secret(2));
        assert!(matches!(
            twice.parse::<UrlKeys>(),
            Err(KeysError::Duplicate(_))
        ));
        assert!(!format!("{:?}", keys(&format!("a:{}", secret(1)))).contains(&secret(1)));
    }

    #[test]
    fn expiry_is_shared_within_a_bucket_and_always_at_least_one_bucket_away() {
        let hour = Duration::from_secs(3600);
        assert_eq!(bucketed_expiry(0, hour), 7_200);
        assert_eq!(bucketed_expiry(1, hour), 7_200);
        assert_eq!(bucketed_expiry(3_599, hour), 7_200);
        assert_eq!(bucketed_expiry(3_600, hour), 10_800);
    }

    #[test]
    fn urls_are_identical_for_every_reader_within_a_bucket() {
        let urls = MediaUrls::new(
            "https://media.example/",
            keys(&format!("a:{}", secret(1))),
            Duration::from_secs(3600),
        );
        let id = Uuid::new_v4();
        let first = urls.download(id, Variant::Original, "ünï cödé.png", 10);
        let second = urls.download(id, Variant::Original, "ünï cödé.png", 3_000);
        assert_eq!(first, second);
        assert!(
            first
                .url
                .starts_with(&format!("https://media.example/media/v1/a/{id}/o/"))
        );
        assert!(
            first
                .url
                .contains("%C3%BCn%C3%AF%20c%C3%B6d%C3%A9.png?e=7200&k=a&s=")
        );
    }
}
