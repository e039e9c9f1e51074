//! The object store: the bytes of uploads and attachment files, in a local folder or an S3
//! bucket behind one API (object_store's `LocalFileSystem` and `AmazonS3`). Postgres says
//! which objects exist and what they are; the store only holds their bytes, under keys built
//! from ids (`Key`).
//!
//! What it guarantees, on both backends:
//! - an object appears whole or not at all: a put writes to a staged file renamed into place
//!   (folder) or completes one multipart upload (S3), so a reader never sees part of a file;
//! - a streamed put stores exactly the declared number of bytes or nothing. It stops reading
//!   at the first byte too many (`PutError::TooLong`), and a body that ends early
//!   (`TooShort`), fails (`Body`) or whose put future is dropped leaves nothing behind: the
//!   staged file or the multipart upload is removed;
//! - a put holds at most three parts of the body in memory ([`PART_SIZE`] each), whatever
//!   its size or the size of its chunks;
//! - a missing object is `StoreError::NotFound`, never `Unavailable`; deleting one is not an
//!   error, so every delete can be repeated.
//!
//! What it does not do: list (Postgres rows say what to sweep), or retry a failed put (the
//! client's upload fails and the client retries it). A multipart upload whose abort fails
//! (the store went away meanwhile) or never runs (the process stopped) stays in S3 until the
//! bucket's lifecycle rule for incomplete multipart uploads removes it (docs/API.md
//! "Attachments").

mod args;
mod key;
mod put;
mod read;
mod received;

use std::{ops::Range, path::Path, sync::Arc};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt as _, PutPayload};

pub use args::StoreArgs;
pub use key::Key;
pub use put::{PART_SIZE, PutError};

/// Installs ring as the process's TLS crypto provider, which the S3 client's HTTPS needs
/// (media-svc builds rustls without a default provider, to keep aws-lc out). Any later call
/// does nothing, whoever installed a provider first.
pub fn install_crypto_provider() {
    // `Err` means a provider is installed already: that one serves.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A handle on the store; clones share one client.
#[derive(Clone)]
pub struct Store {
    objects: Arc<dyn ObjectStore>,
    description: Arc<str>,
}

/// What a streamed put stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub sha256: [u8; 32],
    pub size: u64,
}

/// An object, or a range of it, being read.
pub struct Fetched {
    /// The whole object's size.
    pub size: u64,
    /// Which bytes of the object `stream` carries: the range asked for, its end cut to the
    /// object's size; empty (`size..size`) when the range starts at or past the end.
    pub range: Range<u64>,
    pub stream: BoxStream<'static, Result<Bytes, StoreError>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no such object")]
    NotFound,
    #[error("the object is larger than allowed")]
    TooLarge,
    /// The store failed or could not be reached; the text is for logs (it names no secret).
    #[error("the object store is unavailable: {0}")]
    Unavailable(String),
}

impl From<object_store::Error> for StoreError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => StoreError::NotFound,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

impl Store {
    /// The folder or the bucket `args` name; the folder is created when missing. Nothing is
    /// sent to S3 yet: see [`Store::check`].
    pub fn open(args: &StoreArgs) -> anyhow::Result<Store> {
        Ok(Store::from(args.open()?))
    }

    /// A store in the folder `dir`, created when missing.
    pub fn local(dir: &Path) -> anyhow::Result<Store> {
        Ok(Store::from(args::open_folder(dir)?))
    }

    /// Where the objects are, for logs: `folder /x` or `s3 bucket b at http://…`.
    pub fn describe(&self) -> String {
        self.description.to_string()
    }

    /// Asks the store about an object that does not exist: `Ok` when it answers, so that it
    /// is reachable and, for S3, takes the credentials and has the bucket.
    pub async fn check(&self) -> Result<(), StoreError> {
        let probe = object_store::path::Path::from("parley-store-check");
        match self.objects.head(&probe).await {
            Ok(_) => Ok(()),
            Err(error) => match StoreError::from(error) {
                StoreError::NotFound => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Stores `bytes` at `key` in one request, replacing what was there.
    pub async fn put_bytes(&self, key: &Key, bytes: Bytes) -> Result<(), StoreError> {
        self.objects
            .put(key.path(), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The first `n` bytes of the object, or all of it when it is shorter.
    pub async fn read_head(&self, key: &Key, n: usize) -> Result<Bytes, StoreError> {
        let end = u64::try_from(n).unwrap_or(u64::MAX);
        let fetched = self.get(key, Some(0..end)).await?;
        read::collect(fetched, u64::MAX).await
    }

    /// The whole object, unless it is larger than `max` bytes (`TooLarge`).
    pub async fn read_all(&self, key: &Key, max: u64) -> Result<Bytes, StoreError> {
        let fetched = self.get(key, None).await?;
        if fetched.size > max {
            return Err(StoreError::TooLarge);
        }
        read::collect(fetched, max).await
    }

    /// The object's size in bytes.
    pub async fn size(&self, key: &Key) -> Result<u64, StoreError> {
        Ok(self.objects.head(key.path()).await?.size)
    }

    /// A single byte range or the whole object, as a stream of chunks, with the object's size.
    /// The range's end is cut to the object's size; a range that starts at or past the end
    /// gives no bytes (the caller answers 416 with `Fetched::size`).
    pub async fn get(&self, key: &Key, range: Option<Range<u64>>) -> Result<Fetched, StoreError> {
        if let Some(range) = &range
            && range.start >= range.end
        {
            return Ok(read::nothing(self.size(key).await?));
        }
        let options = GetOptions::new().with_range(range.clone());
        match self.objects.get_opts(key.path(), options).await {
            Ok(result) => Ok(read::fetched(result)),
            Err(error) => {
                let error = StoreError::from(error);
                // Neither backend serves a range that starts past the end (the folder fails,
                // S3 answers 416): tell that from a failure by the size.
                if let (Some(range), StoreError::Unavailable(_)) = (&range, &error) {
                    let size = self.size(key).await?;
                    if range.start >= size {
                        return Ok(read::nothing(size));
                    }
                }
                Err(error)
            }
        }
    }

    /// Copies the object at `from` to `to`, replacing what was there (`NotFound` when `from`
    /// is missing). In the folder, the copy is a hard link: objects are never changed in
    /// place, so the two stay independent.
    pub async fn copy(&self, from: &Key, to: &Key) -> Result<(), StoreError> {
        self.objects.copy(from.path(), to.path()).await?;
        Ok(())
    }

    /// Deletes the object; `Ok` when it is already gone.
    pub async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        match self.objects.delete(key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

impl From<args::Backend> for Store {
    fn from(backend: args::Backend) -> Self {
        Store {
            objects: backend.objects,
            description: backend.description.into(),
        }
    }
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetched")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}
