//! The object store's conformance suite: every case runs against a local folder (`local::`)
//! and against a real, signature-checking S3 server (`s3::`), SeaweedFS, which
//! scripts/test.sh starts and names in `PARLEY_TEST_S3_ENDPOINT`, `PARLEY_TEST_S3_BUCKET`,
//! `PARLEY_TEST_S3_ACCESS_KEY_ID` and `PARLEY_TEST_S3_SECRET_ACCESS_KEY`. Without them the S3
//! cases are skipped with a note, except when `CI` is set: there they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::{
        Arc, Once,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _, TryStreamExt as _, stream};
use object_store::{
    aws::{AwsAuthorizer, AwsCredential},
    client::HttpRequestBody,
};
use parley_common::media_url::Variant;
use parley_media_svc::store::{
    self, Fetched, Key, PART_SIZE, PutError, Store, StoreArgs, StoreError, Stored,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const MIB: usize = 1024 * 1024;
/// Above one part: bodies of this size take the multipart path.
const MULTIPART: usize = PART_SIZE + MIB;

/// One test function per case, run once against each backend.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::Backend::folder();
                    super::$case(&backend).await;
                    // The folder is this test's alone: nothing at all may be left unfinished.
                    super::eventually(|| async { backend.unfinished().await.is_empty() }).await;
                }
            )+
        }

        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(backend) = super::Backend::s3() {
                        super::$case(&backend).await;
                    }
                }
            )+
        }
    };
}

conformance!(
    an_exact_put_reads_back_with_its_sha256,
    a_put_of_several_parts_reads_back_whole,
    a_trickle_of_one_byte_chunks_stores_whole,
    a_streamed_64_mib_put_completes,
    an_empty_body_stores_an_empty_object,
    a_body_longer_than_declared_is_cut_off_at_once,
    a_long_multipart_body_is_cut_off_at_once,
    a_byte_after_the_declared_length_is_too_long,
    a_body_shorter_than_declared_stores_nothing,
    a_body_that_fails_midway_stores_nothing,
    a_put_dropped_midway_leaves_nothing,
    a_ranged_get_returns_those_bytes,
    a_missing_key_is_not_found,
    read_all_refuses_an_object_above_its_limit,
    delete_is_idempotent,
    a_copy_outlives_its_source,
    put_bytes_replaces_the_object,
    the_store_answers_its_check,
);

// --- the cases --------------------------------------------------------------------------------

async fn an_exact_put_reads_back_with_its_sha256(backend: &Backend) {
    let store = &backend.store;
    let key = Key::staging(Uuid::new_v4());
    let data = pattern(300_000, 1);

    let stored = store
        .put_stream(&key, chunks(&data, 7_000), len(&data))
        .await
        .unwrap();

    assert_eq!(stored, stored_of(&data));
    assert_eq!(store.size(&key).await, Ok(len(&data)));
    assert_eq!(store.read_all(&key, len(&data)).await.unwrap(), data);
    let fetched = store.get(&key, None).await.unwrap();
    assert_eq!(
        (fetched.size, fetched.range.clone()),
        (len(&data), 0..len(&data))
    );
    assert_eq!(collect(fetched).await, data);
}

async fn a_put_of_several_parts_reads_back_whole(backend: &Backend) {
    let store = &backend.store;
    let key = Key::attachment(Uuid::new_v4(), Variant::Original);
    // Chunks that straddle the part boundaries.
    let data = pattern(12 * MIB + 12_345, 2);

    let stored = store
        .put_stream(&key, chunks(&data, MIB + 3), len(&data))
        .await
        .unwrap();

    assert_eq!(stored, stored_of(&data));
    assert_eq!(collect(store.get(&key, None).await.unwrap()).await, data);
}

async fn a_trickle_of_one_byte_chunks_stores_whole(backend: &Backend) {
    let store = &backend.store;
    let key = Key::staging(Uuid::new_v4());
    let data = pattern(20_000, 11);

    let stored = store
        .put_stream(&key, chunks(&data, 1), len(&data))
        .await
        .unwrap();

    assert_eq!(stored, stored_of(&data));
    assert_eq!(store.read_all(&key, len(&data)).await, Ok(data));
}

async fn a_streamed_64_mib_put_completes(backend: &Backend) {
    let store = &backend.store;
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 1024;
    let key = Key::staging(Uuid::new_v4());
    // Generated as it is read, and hashed on the way: the test holds no copy of the body.
    let sent = Arc::new(std::sync::Mutex::new(Sha256::new()));
    let body = stream::iter(0..CHUNKS).map({
        let sent = Arc::clone(&sent);
        move |index| {
            let chunk = pattern(CHUNK, index as u8);
            sent.lock().unwrap().update(&chunk);
            Ok::<_, ClientWentAway>(chunk)
        }
    });

    let stored = store
        .put_stream(&key, body, (CHUNK * CHUNKS) as u64)
        .await
        .unwrap();

    let expected: [u8; 32] = sent.lock().unwrap().clone().finalize().into();
    assert_eq!(
        stored,
        Stored {
            sha256: expected,
            size: (CHUNK * CHUNKS) as u64
        }
    );
    let fetched = store.get(&key, None).await.unwrap();
    assert_eq!(fetched.size, (CHUNK * CHUNKS) as u64);
    let mut read = Sha256::new();
    let mut chunks = fetched.stream;
    while let Some(chunk) = chunks.try_next().await.unwrap() {
        read.update(&chunk);
    }
    let read: [u8; 32] = read.finalize().into();
    assert_eq!(read, expected);
}

async fn an_empty_body_stores_an_empty_object(backend: &Backend) {
    let store = &backend.store;
    let key = Key::staging(Uuid::new_v4());

    let stored = store
        .put_stream(&key, stream::empty::<Result<Bytes, ClientWentAway>>(), 0)
        .await
        .unwrap();

    assert_eq!(stored, stored_of(b""));
    assert_eq!(store.size(&key).await, Ok(0));
    assert_eq!(store.read_head(&key, 16).await.unwrap(), Bytes::new());
    assert_eq!(store.read_all(&key, 0).await.unwrap(), Bytes::new());
    assert_eq!(
        collect(store.get(&key, None).await.unwrap()).await,
        Bytes::new()
    );
}

async fn a_body_longer_than_declared_is_cut_off_at_once(backend: &Backend) {
    let store = &backend.store;
    let key = Key::staging(Uuid::new_v4());
    let pulled = Arc::new(AtomicUsize::new(0));

    let outcome = store
        .put_stream(&key, endless(4096, Arc::clone(&pulled)), 10_000)
        .await;

    assert!(matches!(outcome, Err(PutError::TooLong)), "{outcome:?}");
    // 4096 + 4096 fit, the third chunk is one too many: nothing after it was read.
    assert_eq!(pulled.load(Ordering::SeqCst), 3);
    assert_eq!(store.size(&key).await, Err(StoreError::NotFound));
    backend.assert_unfinished(&key, false).await;
}

async fn a_long_multipart_body_is_cut_off_at_once(backend: &Backend) {
    let store = &backend.store;
    const CHUNK: usize = 64 * 1024;
    let key = Key::staging(Uuid::new_v4());
    let pulled = Arc::new(AtomicUsize::new(0));
    // Two full parts and a bit: parts were uploaded before the body overflowed.
    let declared = 2 * PART_SIZE + 100;

    let outcome = store
        .put_stream(&key, endless(CHUNK, Arc::clone(&pulled)), declared as u64)
        .await;

    assert!(matches!(outcome, Err(PutError::TooLong)), "{outcome:?}");
    assert_eq!(pulled.load(Ordering::SeqCst), declared / CHUNK + 1);
    assert_eq!(store.size(&key).await, Err(StoreError::NotFound));
    // Its upload was aborted before `put_stream` returned.
    backend.assert_unfinished(&key, false).await;
}

async fn a_byte_after_the_declared_length_is_too_long(backend: &Backend) {
    let store = &backend.store;
    let key = Key::staging(Uuid::new_v4());
    let data = pattern(5_000, 3);
    let body = chunks(&data, 1_000).chain(stream::iter([Ok(Bytes::from_static(b"!"))]));

    let outcome = store.put_stream(&key, body, len(&data)).await;

    assert!(matches!(outcome, Err(PutError::TooLong)), "{outcome:?}");
    assert_eq!(store.size(&key).await, Err(StoreError::NotFound));
}

async fn a_body_shorter_than_declared_stores_nothing(backend: &Backend) {
    let store = &backend.store;
    for (sent, declared) in [(999, 1_000), (MULTIPART, MULTIPART + MIB)] {
        let key = Key::staging(Uuid::new_v4());
        let data = pattern(sent, 4);

        let outcome = store
            .put_stream(&key, chunks(&data, 64 * 1024), declared as u64)
            .await;

        assert!(
            matches!(outcome, Err(PutError::TooShort { received }) if received == sent as u64),
            "{sent} of {declared}: {outcome:?}"
        );
        assert_eq!(store.size(&key).await, Err(StoreError::NotFound));
        backend.assert_unfinished(&key, false).await;
    }
}

async fn a_body_that_fails_midway_stores_nothing(backend: &Backend) {
    let store = &backend.store;
    for (sent, declared) in [(2_000, 10_000), (MULTIPART, 2 * MULTIPART)] {
        let key = Key::staging(Uuid::new_v4());
        let data = pattern(sent, 5);
        let body = chunks(&data, 64 * 1024).chain(stream::iter([Err(ClientWentAway)]));

        let outcome = store.put_stream(&key, body, declared as u64).await;

        assert!(
            matches!(outcome, Err(PutError::Body(ClientWentAway))),
            "{sent} of {declared}: {outcome:?}"
        );
        assert_eq!(store.size(&key).await, Err(StoreError::NotFound));
        backend.assert_unfinished(&key, false).await;
    }
}

async fn a_put_dropped_midway_leaves_nothing(backend: &Backend) {
    let store = &backend.store;
    const CHUNK: usize = 64 * 1024;
    let key = Key::staging(Uuid::new_v4());
    let pulled = Arc::new(AtomicUsize::new(0));
    // A part's worth and more, then a client that sends nothing more.
    let sent = MULTIPART / CHUNK;
    let body = endless(CHUNK, Arc::clone(&pulled))
        .take(sent)
        .chain(stream::pending());
    let put = tokio::spawn({
        let store = store.clone();
        let key = key.clone();
        async move { store.put_stream(&key, body, 2 * MULTIPART as u64).await }
    });
    wait_until(|| pulled.load(Ordering::SeqCst) >= sent).await;
    // While it waits for more, its upload is open (which shows the check below can fail).
    backend.eventually_unfinished(&key, true).await;

    put.abort();
    assert!(put.await.unwrap_err().is_cancelled());

    assert_eq!(store.size(&key).await, Err(StoreError::NotFound));
    // The dropped put aborts its upload from a task of its own.
    backend.eventually_unfinished(&key, false).await;
}

async fn a_ranged_get_returns_those_bytes(backend: &Backend) {
    let store = &backend.store;
    let key = Key::attachment(Uuid::new_v4(), Variant::Preview);
    let data = pattern(100_000, 6);
    store.put_bytes(&key, data.clone()).await.unwrap();
    let size = len(&data);

    let middle = store.get(&key, Some(1_000..2_000)).await.unwrap();
    assert_eq!((middle.size, middle.range.clone()), (size, 1_000..2_000));
    assert_eq!(collect(middle).await, data.slice(1_000..2_000));

    let past_the_end = store.get(&key, Some(99_990..200_000)).await.unwrap();
    assert_eq!(past_the_end.range, 99_990..size);
    assert_eq!(collect(past_the_end).await, data.slice(99_990..));

    for unsatisfiable in [size..size + 10, 500..500] {
        let fetched = store.get(&key, Some(unsatisfiable.clone())).await.unwrap();
        assert_eq!(fetched.size, size, "{unsatisfiable:?}");
        assert!(fetched.range.is_empty(), "{unsatisfiable:?}: {fetched:?}");
        assert_eq!(collect(fetched).await, Bytes::new(), "{unsatisfiable:?}");
    }

    assert_eq!(store.read_head(&key, 16).await.unwrap(), data.slice(..16));
    assert_eq!(store.read_head(&key, 1_000_000).await.unwrap(), data);
}

async fn a_missing_key_is_not_found(backend: &Backend) {
    let store = &backend.store;
    let missing = Key::attachment(Uuid::new_v4(), Variant::Thumbnail);
    let elsewhere = Key::staging(Uuid::new_v4());

    assert_eq!(store.size(&missing).await, Err(StoreError::NotFound));
    assert_eq!(
        not_found(store.get(&missing, None).await),
        Some(StoreError::NotFound)
    );
    assert_eq!(
        not_found(store.get(&missing, Some(0..10)).await),
        Some(StoreError::NotFound)
    );
    assert_eq!(
        store.read_head(&missing, 16).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.read_all(&missing, 16).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        store.copy(&missing, &elsewhere).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(store.size(&elsewhere).await, Err(StoreError::NotFound));
}

async fn read_all_refuses_an_object_above_its_limit(backend: &Backend) {
    let store = &backend.store;
    let key = Key::staging(Uuid::new_v4());
    let data = pattern(1_000, 7);
    store.put_bytes(&key, data.clone()).await.unwrap();

    assert_eq!(store.read_all(&key, 999).await, Err(StoreError::TooLarge));
    assert_eq!(store.read_all(&key, 1_000).await, Ok(data));
}

async fn delete_is_idempotent(backend: &Backend) {
    let store = &backend.store;
    let key = Key::attachment(Uuid::new_v4(), Variant::Original);
    store.put_bytes(&key, pattern(100, 8)).await.unwrap();

    assert_eq!(store.delete(&key).await, Ok(()));
    assert_eq!(store.size(&key).await, Err(StoreError::NotFound));
    assert_eq!(store.delete(&key).await, Ok(()));
    let never_stored = Key::staging(Uuid::new_v4());
    assert_eq!(store.delete(&never_stored).await, Ok(()));
}

async fn a_copy_outlives_its_source(backend: &Backend) {
    let store = &backend.store;
    let staging = Key::staging(Uuid::new_v4());
    let original = Key::attachment(Uuid::new_v4(), Variant::Original);
    let data = pattern(50_000, 9);
    store.put_bytes(&staging, data.clone()).await.unwrap();
    // The copy replaces what is there.
    store.put_bytes(&original, pattern(10, 10)).await.unwrap();

    assert_eq!(store.copy(&staging, &original).await, Ok(()));
    assert_eq!(store.delete(&staging).await, Ok(()));

    assert_eq!(store.size(&staging).await, Err(StoreError::NotFound));
    assert_eq!(store.read_all(&original, u64::MAX).await, Ok(data));
}

async fn put_bytes_replaces_the_object(backend: &Backend) {
    let store = &backend.store;
    let key = Key::attachment(Uuid::new_v4(), Variant::Thumbnail);

    store
        .put_bytes(&key, Bytes::from_static(b"first"))
        .await
        .unwrap();
    store
        .put_bytes(&key, Bytes::from_static(b"second"))
        .await
        .unwrap();

    assert_eq!(
        store.read_all(&key, 100).await,
        Ok(Bytes::from_static(b"second"))
    );
    assert_eq!(store.size(&key).await, Ok(6));
}

async fn the_store_answers_its_check(backend: &Backend) {
    let store = &backend.store;
    assert_eq!(store.check().await, Ok(()));
}

// --- what only one backend has ----------------------------------------------------------------

#[tokio::test]
async fn a_folder_store_says_where_its_folder_is() {
    let folder = Folder::new();
    let expected = format!("folder {}", folder.path.canonicalize().unwrap().display());
    assert_eq!(folder.store().describe(), expected);
}

#[tokio::test]
async fn a_folder_store_creates_its_folder() {
    let folder = Folder::new();
    let nested = folder.path.join("a").join("b");
    let store = Store::local(&nested).unwrap();
    assert!(nested.is_dir());
    let key = Key::staging(Uuid::new_v4());
    store
        .put_bytes(&key, Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert!(
        nested
            .join("s")
            .join(key.to_string().trim_start_matches("s/"))
            .is_file()
    );
}

#[tokio::test]
async fn an_s3_store_names_its_bucket_and_endpoint_but_no_secret() {
    let Some(args) = s3_args() else { return };
    let store = Store::open(&args).unwrap();
    let description = store.describe();
    let bucket = args.s3_bucket.clone().unwrap();
    let endpoint = args.s3_endpoint.clone().unwrap();
    assert_eq!(description, format!("s3 bucket {bucket} at {endpoint}"));
    assert!(!description.contains(&args.s3_secret_access_key.clone().unwrap()));
}

#[tokio::test]
async fn s3_refuses_a_wrong_secret() {
    let Some(args) = s3_args() else { return };
    let store = Store::open(&StoreArgs {
        s3_secret_access_key: Some("not-the-secret".to_owned()),
        ..args
    })
    .unwrap();
    let key = Key::staging(Uuid::new_v4());

    assert!(matches!(
        store.check().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.put_bytes(&key, Bytes::from_static(b"x")).await,
        Err(StoreError::Unavailable(_))
    ));
    let outcome = store.put_stream(&key, chunks(&pattern(10, 0), 5), 10).await;
    assert!(
        matches!(outcome, Err(PutError::Store(StoreError::Unavailable(_)))),
        "{outcome:?}"
    );
}

/// The keys of the bucket's multipart uploads that were begun and neither completed nor
/// aborted (S3's ListMultipartUploads, signed by object_store's own SigV4 signer).
async fn open_multipart_uploads(args: &StoreArgs) -> Vec<String> {
    let credential = AwsCredential {
        key_id: args.s3_access_key_id.clone().unwrap(),
        secret_key: args.s3_secret_access_key.clone().unwrap(),
        token: None,
    };
    let url = format!(
        "{}/{}?uploads",
        args.s3_endpoint.as_deref().unwrap().trim_end_matches('/'),
        args.s3_bucket.as_deref().unwrap()
    );
    let mut request = http::Request::get(&url)
        .body(HttpRequestBody::empty())
        .unwrap();
    AwsAuthorizer::new(&credential, "s3", &args.s3_region)
        .try_authorize(&mut request, None)
        .unwrap();
    let mut get = reqwest::Client::new().get(&url);
    for (name, value) in request.headers() {
        get = get.header(name.clone(), value.clone());
    }
    let listing = get
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Key>"))
        .map(|(key, _)| key.to_owned())
        .collect()
}

// --- the backends -----------------------------------------------------------------------------

/// A folder of its own for one test, removed afterwards.
struct Folder {
    path: PathBuf,
}

impl Folder {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("parley-store-test-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    fn store(&self) -> Store {
        Store::local(&self.path).unwrap()
    }

    /// The keys of the puts begun and neither completed nor aborted: their staged files
    /// (`{key}#{n}`, beside where the object goes).
    fn unfinished(&self) -> Vec<String> {
        files_under(&self.path)
            .into_iter()
            .filter_map(|file| {
                let relative = file.strip_prefix(&self.path).ok()?.to_str()?.to_owned();
                relative.split_once('#').map(|(key, _)| key.to_owned())
            })
            .collect()
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// A store under test, and what it keeps of puts that never finished.
struct Backend {
    store: Store,
    place: Place,
}

enum Place {
    Folder(Folder),
    S3(StoreArgs),
}

impl Backend {
    fn folder() -> Self {
        let folder = Folder::new();
        Backend {
            store: folder.store(),
            place: Place::Folder(folder),
        }
    }

    fn s3() -> Option<Self> {
        let args = s3_args()?;
        Some(Backend {
            store: Store::open(&args).unwrap(),
            place: Place::S3(args),
        })
    }

    /// The keys of the puts begun and neither completed nor aborted.
    async fn unfinished(&self) -> Vec<String> {
        match &self.place {
            Place::Folder(folder) => folder.unfinished(),
            Place::S3(args) => open_multipart_uploads(args).await,
        }
    }

    async fn assert_unfinished(&self, key: &Key, expected: bool) {
        let unfinished = self.unfinished().await;
        assert_eq!(
            unfinished.contains(&key.to_string()),
            expected,
            "{key} in {unfinished:?}"
        );
    }

    async fn eventually_unfinished(&self, key: &Key, expected: bool) {
        let key = key.to_string();
        eventually(|| async { self.unfinished().await.contains(&key) == expected }).await;
    }
}

/// The S3 server scripts/test.sh started, if any.
fn s3_args() -> Option<StoreArgs> {
    let Some(endpoint) = env("PARLEY_TEST_S3_ENDPOINT") else {
        assert!(
            env("CI").is_none(),
            "CI is set but PARLEY_TEST_S3_ENDPOINT is not: the S3 cases need an S3 server \
             (scripts/test.sh starts SeaweedFS and sets it)"
        );
        static NOTE: Once = Once::new();
        // Written past the test harness's capture, so that the skip shows in the run's output.
        NOTE.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "note: PARLEY_TEST_S3_ENDPOINT is unset: the S3 cases of the store are skipped \
                 (scripts/test.sh starts SeaweedFS and sets it)"
            );
        });
        return None;
    };
    let required = |name: &str| {
        env(name).unwrap_or_else(|| panic!("PARLEY_TEST_S3_ENDPOINT is set, {name} is not"))
    };
    Some(StoreArgs {
        s3_bucket: Some(required("PARLEY_TEST_S3_BUCKET")),
        s3_region: env("PARLEY_TEST_S3_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
        s3_access_key_id: Some(required("PARLEY_TEST_S3_ACCESS_KEY_ID")),
        s3_secret_access_key: Some(required("PARLEY_TEST_S3_SECRET_ACCESS_KEY")),
        s3_allow_http: endpoint.starts_with("http://"),
        s3_endpoint: Some(endpoint),
        ..StoreArgs::default()
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

// --- bodies -----------------------------------------------------------------------------------

/// The error of a body whose client went away.
#[derive(Debug, PartialEq)]
struct ClientWentAway;

/// `len` bytes that differ from offset to offset and from seed to seed.
fn pattern(len: usize, seed: u8) -> Bytes {
    let mut state = 0x9e37_79b9_u32 ^ u32::from(seed).wrapping_mul(0x0101_0101);
    (0..len)
        .map(|_| {
            // xorshift32: cheap, and no two neighbouring ranges alike.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect::<Vec<u8>>()
        .into()
}

/// `data` as a body of chunks of `size` bytes.
fn chunks(
    data: &Bytes,
    size: usize,
) -> impl Stream<Item = Result<Bytes, ClientWentAway>> + Send + Unpin + 'static {
    let data = data.clone();
    let starts: Vec<usize> = (0..data.len()).step_by(size).collect();
    stream::iter(starts).map(move |start| Ok(data.slice(start..(start + size).min(data.len()))))
}

/// Chunks of `size` bytes without end, counting those read.
fn endless(
    size: usize,
    pulled: Arc<AtomicUsize>,
) -> impl Stream<Item = Result<Bytes, ClientWentAway>> + Send + Unpin + 'static {
    let chunk = Bytes::from(vec![b'x'; size]);
    stream::repeat_with(move || {
        pulled.fetch_add(1, Ordering::SeqCst);
        Ok(chunk.clone())
    })
}

// --- helpers ----------------------------------------------------------------------------------

fn len(data: &[u8]) -> u64 {
    data.len() as u64
}

fn stored_of(data: &[u8]) -> Stored {
    Stored {
        sha256: Sha256::digest(data).into(),
        size: len(data),
    }
}

async fn collect(fetched: Fetched) -> Bytes {
    let chunks: Vec<Bytes> = fetched.stream.try_collect().await.unwrap();
    chunks.concat().into()
}

fn not_found(outcome: Result<Fetched, StoreError>) -> Option<StoreError> {
    outcome.err()
}

async fn eventually<F, Fut>(mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting");
}

async fn wait_until(condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting");
}

#[test]
fn the_crypto_provider_may_be_installed_twice() {
    store::install_crypto_provider();
    store::install_crypto_provider();
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
}
