//! Streaming a body of a declared length into the store, hashing it on the way.
//!
//! A body that fits in one part is gathered and stored with a single put: it takes one
//! request to S3 instead of three, and holds no more memory than a part would. A larger one
//! goes through a multipart upload, one part uploading while the next fills, so that memory
//! stays within a few parts whatever the size. Any failure, and a put future dropped midway,
//! aborts the upload: nothing is left behind.
//!
//! Each chunk is copied into the part being filled rather than kept: a body that trickles
//! in as tiny chunks would otherwise be held as millions of small slices, each with its
//! overhead and each keeping alive the connection buffer it points into.

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use object_store::{ObjectStoreExt as _, PutPayloadMut, WriteMultipart};

use super::{
    Key, Store, StoreError, Stored,
    received::{Overflow, Received},
};

/// The size of a multipart upload's parts: S3's smallest (every part but the last). A body
/// of at most this size is stored with a single put.
pub const PART_SIZE: usize = 5 * 1024 * 1024;

/// Parts uploading at once. Two let the body keep arriving while a part uploads; more would
/// hold more memory per upload for a client that is, over the internet, the slower side.
const PARTS_IN_FLIGHT: usize = 2;

/// Why a streamed put stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum PutError<E> {
    /// The body brought more bytes than declared; reading stopped at the first chunk too many.
    #[error("the body is longer than declared")]
    TooLong,
    /// The body ended after `received` bytes, fewer than declared.
    #[error("the body ended after {received} bytes, fewer than declared")]
    TooShort { received: u64 },
    /// The body failed (its client went away).
    #[error("the body failed: {0}")]
    Body(E),
    #[error(transparent)]
    Store(StoreError),
}

impl<E> From<StoreError> for PutError<E> {
    fn from(error: StoreError) -> Self {
        PutError::Store(error)
    }
}

impl<E> From<object_store::Error> for PutError<E> {
    fn from(error: object_store::Error) -> Self {
        PutError::Store(error.into())
    }
}

impl Store {
    /// Streams `body` to `key`, never holding the whole body in memory. Exactly `declared`
    /// bytes must arrive: at the first chunk beyond them reading stops (`TooLong`); a body that
    /// ends before them is `TooShort`. Either way, and when the body or the store fails,
    /// nothing is left in the store. Returns the SHA-256 of the bytes and their count.
    pub async fn put_stream<S, E>(
        &self,
        key: &Key,
        mut body: S,
        declared: u64,
    ) -> Result<Stored, PutError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    {
        let received = Received::new(declared);
        if declared <= PART_SIZE as u64 {
            self.put_in_one(key, &mut body, received).await
        } else {
            self.put_in_parts(key, &mut body, received).await
        }
    }

    async fn put_in_one<S, E>(
        &self,
        key: &Key,
        body: &mut S,
        mut received: Received,
    ) -> Result<Stored, PutError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    {
        let mut payload = PutPayloadMut::new();
        while let Some(chunk) = next_chunk(body, &mut received).await? {
            payload.extend_from_slice(&chunk);
        }
        let stored = finish(received)?;
        self.objects.put(key.path(), payload.freeze()).await?;
        Ok(stored)
    }

    async fn put_in_parts<S, E>(
        &self,
        key: &Key,
        body: &mut S,
        received: Received,
    ) -> Result<Stored, PutError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    {
        let upload = self.objects.put_multipart(key.path()).await?;
        let mut upload = AbortOnDrop(Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE)));
        match send_parts(&mut upload, body, received).await {
            Ok(stored) => {
                upload.finish().await?;
                Ok(stored)
            }
            Err(error) => {
                upload.abort().await;
                Err(error)
            }
        }
    }
}

/// The whole body into the upload's parts; what it was, once it was all there.
async fn send_parts<S, E>(
    upload: &mut AbortOnDrop,
    body: &mut S,
    mut received: Received,
) -> Result<Stored, PutError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
{
    while let Some(chunk) = next_chunk(body, &mut received).await? {
        let writer = upload.writer()?;
        // Waiting before each chunk (not once the body ended) also surfaces a failed part at
        // once, and keeps at most PARTS_IN_FLIGHT parts uploading.
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        writer.write(&chunk);
    }
    finish(received)
}

/// The body's next chunk that is not empty, counted and hashed; `None` at its end.
async fn next_chunk<S, E>(
    body: &mut S,
    received: &mut Received,
) -> Result<Option<Bytes>, PutError<E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    loop {
        match body.next().await {
            None => return Ok(None),
            Some(Err(error)) => return Err(PutError::Body(error)),
            Some(Ok(chunk)) if chunk.is_empty() => continue,
            Some(Ok(chunk)) => {
                return match received.take(&chunk) {
                    Ok(()) => Ok(Some(chunk)),
                    Err(Overflow) => Err(PutError::TooLong),
                };
            }
        }
    }
}

fn finish<E>(received: Received) -> Result<Stored, PutError<E>> {
    received.finish().map_err(|short| PutError::TooShort {
        received: short.received,
    })
}

/// A multipart upload that is aborted unless it was finished: on an error, and when the put
/// future is dropped midway (its client went away and the request was cancelled). A folder's
/// upload removes its staged file when dropped anyway; an S3 upload would otherwise keep its
/// parts, invisible but stored, until the bucket's lifecycle rule removed them.
struct AbortOnDrop(Option<WriteMultipart>);

impl AbortOnDrop {
    fn writer(&mut self) -> Result<&mut WriteMultipart, StoreError> {
        self.0
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("the upload was already ended".to_owned()))
    }

    async fn finish(&mut self) -> Result<(), StoreError> {
        let writer = self
            .0
            .take()
            .ok_or_else(|| StoreError::Unavailable("the upload was already ended".to_owned()))?;
        // `finish` aborts the upload itself when completing it fails.
        writer.finish().await?;
        Ok(())
    }

    async fn abort(&mut self) {
        if let Some(writer) = self.0.take() {
            abort(writer).await;
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(abort(writer));
        }
    }
}

async fn abort(writer: WriteMultipart) {
    if let Err(error) = writer.abort().await {
        tracing::warn!(%error, "aborting a multipart upload failed: its parts stay until the bucket's lifecycle rule removes them");
    }
}
