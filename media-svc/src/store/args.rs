//! Where the store keeps its objects: the settings, and opening the backend they name.

use std::{fmt, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use object_store::{
    ClientOptions, ObjectStore, RetryConfig, aws::AmazonS3Builder, local::LocalFileSystem,
};

/// Relative to the working directory.
const DEFAULT_DIR: &str = "./.parley-media";
const DEFAULT_REGION: &str = "us-east-1";

/// The object store's settings, flattened into media-svc's configuration.
#[derive(Clone, clap::Args)]
pub struct StoreArgs {
    /// The folder that holds the files when no S3 bucket is set; created when missing. With
    /// several media-svc replicas it must be one shared volume.
    #[arg(
        long = "media-dir",
        env = "PARLEY_MEDIA_DIR",
        default_value = DEFAULT_DIR
    )]
    pub dir: PathBuf,

    /// An S3 bucket to keep the files in instead of the folder (it must exist). Any
    /// S3-compatible server works, given its endpoint.
    #[arg(long = "media-s3-bucket", env = "PARLEY_MEDIA_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// The S3 server's URL, e.g. `http://127.0.0.1:8333`; unset: AWS's endpoint of the
    /// region. Buckets are addressed by path (`{endpoint}/{bucket}/{key}`).
    #[arg(long = "media-s3-endpoint", env = "PARLEY_MEDIA_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    #[arg(
        long = "media-s3-region",
        env = "PARLEY_MEDIA_S3_REGION",
        default_value = DEFAULT_REGION
    )]
    pub s3_region: String,

    /// With the secret below; both unset: the credentials of the machine's instance role.
    #[arg(long = "media-s3-access-key-id", env = "PARLEY_MEDIA_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    #[arg(
        long = "media-s3-secret-access-key",
        env = "PARLEY_MEDIA_S3_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,

    /// Lets the endpoint be plain `http://`, for a server on the same machine or a private
    /// network. Off: an `http://` endpoint is refused at start.
    #[arg(
        long = "media-s3-allow-http",
        env = "PARLEY_MEDIA_S3_ALLOW_HTTP",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub s3_allow_http: bool,
}

impl Default for StoreArgs {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(DEFAULT_DIR),
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: DEFAULT_REGION.to_owned(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
        }
    }
}

impl fmt::Debug for StoreArgs {
    /// Everything but the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreArgs")
            .field("dir", &self.dir)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field(
                "s3_secret_access_key",
                &self.s3_secret_access_key.as_ref().map(|_| "<hidden>"),
            )
            .field("s3_allow_http", &self.s3_allow_http)
            .finish()
    }
}

/// An opened backend and how to name it in logs.
pub(super) struct Backend {
    pub objects: Arc<dyn ObjectStore>,
    pub description: String,
}

/// A request to S3 is retried for at most this long: a client is waiting on it, and a store
/// that is down should answer `UNAVAILABLE` within seconds (the library's default is 3 minutes).
const S3_RETRY_TIMEOUT: Duration = Duration::from_secs(20);
const S3_MAX_RETRIES: usize = 4;

impl StoreArgs {
    pub(super) fn open(&self) -> anyhow::Result<Backend> {
        match given(&self.s3_bucket) {
            Some(bucket) => self.open_s3(bucket),
            None => open_folder(&self.dir),
        }
    }

    fn open_s3(&self, bucket: &str) -> anyhow::Result<Backend> {
        super::install_crypto_provider();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(self.s3_region.trim())
            .with_client_options(ClientOptions::new().with_allow_http(self.s3_allow_http))
            .with_retry(RetryConfig {
                max_retries: S3_MAX_RETRIES,
                retry_timeout: S3_RETRY_TIMEOUT,
                ..RetryConfig::default()
            });
        let endpoint = given(&self.s3_endpoint);
        if let Some(endpoint) = endpoint {
            if endpoint.starts_with("http://") && !self.s3_allow_http {
                bail!(
                    "PARLEY_MEDIA_S3_ENDPOINT {endpoint} is plain http: set \
                     PARLEY_MEDIA_S3_ALLOW_HTTP=true to allow it"
                );
            }
            builder = builder.with_endpoint(endpoint);
        }
        match (
            given(&self.s3_access_key_id),
            given(&self.s3_secret_access_key),
        ) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret);
            }
            (None, None) => {}
            _ => bail!(
                "set both PARLEY_MEDIA_S3_ACCESS_KEY_ID and PARLEY_MEDIA_S3_SECRET_ACCESS_KEY, \
                 or neither (to use the instance role's credentials)"
            ),
        }
        let objects = builder
            .build()
            .with_context(|| format!("S3 bucket {bucket}"))?;
        let place = match endpoint {
            Some(endpoint) => format!("at {endpoint}"),
            None => format!("in region {}", self.s3_region.trim()),
        };
        Ok(Backend {
            objects: Arc::new(objects),
            description: format!("s3 bucket {bucket} {place}"),
        })
    }
}

pub(super) fn open_folder(dir: &std::path::Path) -> anyhow::Result<Backend> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the media folder {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)
        .with_context(|| format!("the media folder {}", dir.display()))?;
    // fsync: an attachment's row says `ready` once its files are written, so they must
    // survive a crash that comes after. Deleting the last file of an attachment removes its
    // folder too, so that deleted attachments leave no empty folders behind.
    let objects = LocalFileSystem::new_with_prefix(&dir)
        .with_context(|| format!("the media folder {}", dir.display()))?
        .with_fsync(true)
        .with_automatic_cleanup(true);
    Ok(Backend {
        objects: Arc::new(objects),
        description: format!("folder {}", dir.display()),
    })
}

/// A setting that is set and not blank (an empty environment variable means unset).
fn given(setting: &Option<String>) -> Option<&str> {
    setting
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str) -> StoreArgs {
        StoreArgs {
            s3_bucket: Some(bucket.to_owned()),
            s3_endpoint: Some("https://s3.example.test".to_owned()),
            s3_access_key_id: Some("id".to_owned()),
            s3_secret_access_key: Some("secret".to_owned()),
            ..StoreArgs::default()
        }
    }

    #[test]
    fn a_blank_bucket_means_the_folder_which_is_created() {
        let name = format!("parley-store-args-{}", uuid::Uuid::new_v4());
        let dir = std::env::temp_dir().join(&name).join("media");
        let args = StoreArgs {
            dir: dir.clone(),
            s3_bucket: Some("  ".to_owned()),
            ..StoreArgs::default()
        };
        let description = args.open().map(|backend| backend.description);
        let created = dir.is_dir();
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&name));
        assert!(created);
        assert!(
            description
                .as_ref()
                .is_ok_and(|description| description.starts_with("folder /")
                    && description.ends_with(&format!("{name}/media"))),
            "{description:?}"
        );
    }

    #[test]
    fn an_s3_bucket_is_described_without_its_secret() {
        let description = s3("media").open().map(|backend| backend.description);
        assert_eq!(
            description.ok().as_deref(),
            Some("s3 bucket media at https://s3.example.test")
        );
    }

    #[test]
    fn a_plain_http_endpoint_needs_allow_http() {
        let refused = StoreArgs {
            s3_endpoint: Some("http://127.0.0.1:8333".to_owned()),
            ..s3("media")
        };
        let error = refused.open().err().map(|error| error.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|error| error.contains("PARLEY_MEDIA_S3_ALLOW_HTTP")),
            "{error:?}"
        );
        let allowed = StoreArgs {
            s3_allow_http: true,
            ..refused
        };
        assert!(allowed.open().is_ok());
    }

    #[test]
    fn a_key_id_without_its_secret_is_refused() {
        let args = StoreArgs {
            s3_secret_access_key: Some(String::new()),
            ..s3("media")
        };
        assert!(args.open().is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let text = format!("{:?}", s3("media"));
        assert!(!text.contains("\"secret\""), "{text}");
        assert!(text.contains("<hidden>"), "{text}");
    }

    #[test]
    fn the_flags_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Command {
            #[command(flatten)]
            store: StoreArgs,
        }
        let command = Command::try_parse_from([
            "media-svc",
            "--media-s3-bucket",
            "media",
            "--media-s3-allow-http",
            "true",
        ]);
        let store = command.map(|command| command.store);
        assert!(
            store.as_ref().is_ok_and(
                |store| store.s3_allow_http && store.s3_bucket.as_deref() == Some("media")
            ),
            "{store:?}"
        );
    }
}
