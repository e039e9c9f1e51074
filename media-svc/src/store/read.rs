//! Reading objects: the chunks of a get, and collecting them within a bound.

use std::{io::SeekFrom, ops::Range};

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt as _, TryStreamExt as _, stream, stream::BoxStream};
use object_store::{GetResult, GetResultPayload};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::io::ReaderStream;

use super::{Fetched, StoreError};

/// Chunks read from the folder: object_store's own file stream reads 8 KiB at a time, each
/// read a blocking task of its own; 64 KiB cuts those tasks eightfold for a download.
const FILE_CHUNK: usize = 64 * 1024;

/// Collecting reserves at most this much up front; more grows as it arrives.
const RESERVE_AT_MOST: u64 = 8 * 1024 * 1024;

pub(super) fn fetched(result: GetResult) -> Fetched {
    let size = result.meta.size;
    let range = result.range.clone();
    let stream = match result.payload {
        GetResultPayload::File(file, _path) => file_stream(file, range.clone()),
        GetResultPayload::Stream(stream) => stream.map_err(StoreError::from).boxed(),
    };
    Fetched {
        size,
        range,
        stream,
    }
}

/// No bytes of an object of `size` bytes.
pub(super) fn nothing(size: u64) -> Fetched {
    Fetched {
        size,
        range: size..size,
        stream: stream::empty().boxed(),
    }
}

/// The fetched bytes in one buffer; `TooLarge` as soon as they pass `max`.
pub(super) async fn collect(fetched: Fetched, max: u64) -> Result<Bytes, StoreError> {
    let expected = fetched.range.end.saturating_sub(fetched.range.start);
    let reserve = usize::try_from(expected.min(max).min(RESERVE_AT_MOST)).unwrap_or(0);
    let mut bytes = BytesMut::with_capacity(reserve);
    let mut chunks = fetched.stream;
    while let Some(chunk) = chunks.try_next().await? {
        let total = u64::try_from(bytes.len() + chunk.len()).unwrap_or(u64::MAX);
        if total > max {
            return Err(StoreError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// The `range` of a file of the folder, exactly: a file that ends early (it changed while
/// read, which the store never does) fails the stream rather than end it short.
fn file_stream(
    file: std::fs::File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, StoreError>> {
    let length = range.end.saturating_sub(range.start);
    let opened = async move {
        let mut file = tokio::fs::File::from_std(file);
        file.seek(SeekFrom::Start(range.start))
            .await
            .map_err(folder_error)?;
        let chunks = ReaderStream::with_capacity(file.take(length), FILE_CHUNK);
        Ok::<_, StoreError>(stream::try_unfold(
            (chunks, length),
            |(mut chunks, remaining)| async move {
                if remaining == 0 {
                    return Ok(None);
                }
                match chunks.next().await {
                    Some(Ok(chunk)) => {
                        let read = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
                        Ok(Some((chunk, (chunks, remaining.saturating_sub(read)))))
                    }
                    Some(Err(error)) => Err(folder_error(error)),
                    None => Err(StoreError::Unavailable(format!(
                        "a file of the media folder ended {remaining} bytes early"
                    ))),
                }
            },
        ))
    };
    stream::once(opened).try_flatten().boxed()
}

fn folder_error(error: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("reading the media folder: {error}"))
}
