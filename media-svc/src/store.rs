//! STUB (replaced by the media-store branch)
use bytes::Bytes;
use futures_util::{Stream, stream::BoxStream};
use parley_common::media_url::Variant;
use std::path::Path;
use uuid::Uuid;
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    #[arg(
        long = "media-dir",
        env = "PARLEY_MEDIA_DIR",
        default_value = "./.parley-media"
    )]
    pub dir: std::path::PathBuf,
}
#[derive(Clone)]
pub struct Store;
pub struct Stored {
    pub sha256: [u8; 32],
    pub size: u64,
}
pub struct Fetched {
    pub size: u64,
    pub stream: BoxStream<'static, Result<Bytes, StoreError>>,
}
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("nf")]
    NotFound,
    #[error("tl")]
    TooLarge,
    #[error("u {0}")]
    Unavailable(String),
}
#[derive(Debug)]
pub enum PutError<E> {
    TooLong,
    TooShort { received: u64 },
    Body(E),
    Store(StoreError),
}
#[derive(Debug, Clone)]
pub struct Key(String);
impl Key {
    pub fn staging(id: Uuid) -> Key {
        Key(format!("s/{id}"))
    }
    pub fn attachment(id: Uuid, v: Variant) -> Key {
        Key(format!("a/{id}/{}", v.as_str()))
    }
}
pub fn install_crypto_provider() {}
impl Store {
    pub fn open(_args: &StoreArgs) -> anyhow::Result<Store> {
        Ok(Store)
    }
    pub fn local(_dir: &Path) -> anyhow::Result<Store> {
        Ok(Store)
    }
    pub fn describe(&self) -> String {
        String::new()
    }
    pub async fn put_stream<S, E>(
        &self,
        _key: &Key,
        _body: S,
        _declared: u64,
    ) -> Result<Stored, PutError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    {
        Err(PutError::TooLong)
    }
    pub async fn put_bytes(&self, _key: &Key, _bytes: Bytes) -> Result<(), StoreError> {
        Ok(())
    }
    pub async fn read_head(&self, _key: &Key, _n: usize) -> Result<Bytes, StoreError> {
        Err(StoreError::NotFound)
    }
    pub async fn read_all(&self, _key: &Key, _max: u64) -> Result<Bytes, StoreError> {
        Err(StoreError::NotFound)
    }
    pub async fn size(&self, _key: &Key) -> Result<u64, StoreError> {
        Err(StoreError::NotFound)
    }
    pub async fn get(
        &self,
        _key: &Key,
        _range: Option<std::ops::Range<u64>>,
    ) -> Result<Fetched, StoreError> {
        Err(StoreError::NotFound)
    }
    pub async fn copy(&self, _from: &Key, _to: &Key) -> Result<(), StoreError> {
        Ok(())
    }
    pub async fn delete(&self, _key: &Key) -> Result<(), StoreError> {
        Ok(())
    }
}
