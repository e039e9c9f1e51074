//! Client connections (Engine.IO sessions) as the edge keeps them: what their namespace
//! sockets share, and a way to close one of them.
//!
//! socketioxide closes transports only all at once, or when a heartbeat fails; a Socket.IO
//! DISCONNECT is no substitute, because the official client takes it as `io server
//! disconnect` and stays away. The edge must close one client's transport when its token
//! expires and when it missed events (docs/API.md "Token lifetime", "Catching up"), so that
//! the client reconnects by itself. So every accepted TCP connection is wrapped in a
//! [`ClosableStream`] that can be ended from outside, and each Engine.IO session remembers
//! the TCP connection that carries it now: its WebSocket, or its latest long-poll. Its
//! namespace sockets reach the session through the handshake request socketioxide keeps for
//! them, where [`track`] put it.

use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    num::NonZeroU32,
    pin::Pin,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State, connect_info::Connected},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    serve::{IncomingStream, Listener},
};
use futures_util::task::AtomicWaker;
use governor::{DefaultDirectRateLimiter, Quota};
use parley_common::lock::lock;
use socketioxide::extract::SocketRef;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use uuid::Uuid;

/// How often sessions that ended are dropped from the registry.
const PRUNE_EVERY: Duration = Duration::from_secs(30);
/// The largest Engine.IO handshake answer the registry reads its `sid` from.
const HANDSHAKE_ANSWER_LIMIT: usize = 4096;

/// Ends one TCP connection from outside: its reads see the end of the stream and its
/// writes fail, so hyper (or the WebSocket above it) closes it.
#[derive(Clone, Default)]
pub struct Closer(Arc<CloseSignal>);

#[derive(Default)]
struct CloseSignal {
    closed: AtomicBool,
    reader: AtomicWaker,
}

impl Closer {
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.reader.wake();
    }

    fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::SeqCst)
    }

    fn same_as(&self, other: &Closer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A TCP connection that a [`Closer`] can end.
pub struct ClosableStream {
    inner: TcpStream,
    closer: Closer,
}

impl AsyncRead for ClosableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.closer.0.reader.register(cx.waker());
        if self.closer.is_closed() {
            // The end of the stream: nothing more is read.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClosableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closer.is_closed() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.closer.is_closed() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    /// As the TCP stream: without it hyper flattens what it writes into a buffer of its own
    /// per connection.
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The edge's listener: TCP connections with TCP_NODELAY, each with its [`Closer`].
pub struct ClosableListener(pub TcpListener);

/// Who is on the other end of a connection, and how to end it; every request carries it as
/// `ConnectInfo<Peer>`.
#[derive(Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    closer: Closer,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr.fmt(f)
    }
}

impl Listener for ClosableListener {
    type Io = ClosableStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        // Without TCP_NODELAY a second small frame to a client (an event right after an
        // ack) waits for the client's delayed ACK: up to 40 ms at p99 in the benchmarks.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let closer = Closer::default();
        let peer = Peer {
            addr,
            closer: closer.clone(),
        };
        let stream = ClosableStream {
            inner: stream,
            closer,
        };
        (stream, peer)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Peer {
            addr: self.0.local_addr()?,
            closer: Closer::default(),
        })
    }
}

impl Connected<IncomingStream<'_, ClosableListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, ClosableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// One client connection (an Engine.IO session), shared by its namespace sockets.
pub struct Connection {
    /// The TCP connection that carries the session now.
    transport: Mutex<Transport>,
    closed: AtomicBool,
    /// Namespace connects the client may still make on this connection.
    namespace_connects: Option<DefaultDirectRateLimiter>,
    /// When the token of each user on this connection expires (Unix seconds); an
    /// `auth-refresh` on any of its namespaces moves it on for all of them.
    token_expiries: Mutex<HashMap<Uuid, Arc<AtomicU64>>>,
}

/// What carries a session: its WebSocket once it has one (a long-poll that arrives after
/// the upgrade request, as the first poll may, does not replace it), else its latest poll.
struct Transport {
    closer: Closer,
    is_websocket: bool,
}

impl Connection {
    fn new(transport: Closer, namespace_connects: Option<Quota>, is_websocket: bool) -> Self {
        Self {
            transport: Mutex::new(Transport {
                closer: transport,
                is_websocket,
            }),
            closed: AtomicBool::new(false),
            namespace_connects: namespace_connects.map(DefaultDirectRateLimiter::direct),
            token_expiries: Mutex::new(HashMap::new()),
        }
    }

    /// The connection of `socket`; `None` only for a socket that did not come through
    /// [`track`] (it always does on the edge).
    pub fn of(socket: &SocketRef) -> Option<Arc<Connection>> {
        socket
            .req_parts()
            .extensions
            .get::<Arc<Connection>>()
            .cloned()
    }

    /// Closes the client's transport: it sees `transport close` (or a failed poll) and
    /// reconnects by itself; the session's later requests are refused.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        lock(&self.transport).closer.close();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn carried_by(&self, closer: &Closer, is_websocket: bool) {
        let mut current = lock(&self.transport);
        if current.closer.same_as(closer) || (current.is_websocket && !is_websocket) {
            return;
        }
        *current = Transport {
            closer: closer.clone(),
            is_websocket,
        };
    }

    /// Takes one namespace connect from the connection's allowance; `Err` while it has none.
    pub fn admit_namespace_connect(&self) -> Result<(), ()> {
        match &self.namespace_connects {
            Some(limiter) => limiter.check().map_err(|_| ()),
            None => Ok(()),
        }
    }

    /// The expiry shared by `user`'s sockets on this connection, moved to `expires_at` if
    /// that is later (a socket that connects with a newer token extends the others).
    pub fn token_expiry(&self, user: Uuid, expires_at: u64) -> Arc<AtomicU64> {
        let mut expiries = lock(&self.token_expiries);
        let expiry = expiries
            .entry(user)
            .or_insert_with(|| Arc::new(AtomicU64::new(expires_at)));
        expiry.fetch_max(expires_at, Ordering::SeqCst);
        expiry.clone()
    }
}

/// Closes the transport of `socket`'s client, so that it reconnects.
pub fn close_transport(socket: &SocketRef) {
    match Connection::of(socket) {
        Some(connection) => connection.close(),
        // Not reached on the edge; a DISCONNECT at least ends the socket.
        None => {
            if let Err(error) = socket.clone().disconnect() {
                tracing::debug!(%error, "cannot disconnect a socket");
            }
        }
    }
}

/// The Engine.IO sessions of this edge by `sid`, so that the requests of a session (its
/// upgrade to WebSocket, its polls) find it.
#[derive(Clone)]
pub struct Connections {
    by_sid: Arc<Mutex<HashMap<String, Weak<Connection>>>>,
    namespace_connects: Option<Quota>,
}

impl Connections {
    /// Sessions that allow `namespace_connects_per_minute` namespace connects each, in
    /// bursts of as many (0: no limit). Prunes ended sessions until it is dropped.
    pub fn new(namespace_connects_per_minute: u32) -> Self {
        let connections = Self {
            by_sid: Arc::default(),
            namespace_connects: NonZeroU32::new(namespace_connects_per_minute)
                .map(Quota::per_minute),
        };
        tokio::spawn(prune(Arc::downgrade(&connections.by_sid)));
        connections
    }

    fn find(&self, sid: &str) -> Option<Arc<Connection>> {
        lock(&self.by_sid).get(sid).and_then(Weak::upgrade)
    }
}

/// Drops the sessions that ended (socketioxide dropped their handshake request, and with it
/// the last strong reference); ends with the registry.
async fn prune(by_sid: Weak<Mutex<HashMap<String, Weak<Connection>>>>) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let Some(by_sid) = by_sid.upgrade() else {
            return;
        };
        lock(&by_sid).retain(|_, connection| connection.strong_count() > 0);
    }
}

/// The Engine.IO session id a request names, if any.
pub fn sid_of(request: &Request) -> Option<&str> {
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("sid="))
}

/// Whether a request asks for (or upgrades to) the WebSocket transport.
fn is_websocket(request: &Request) -> bool {
    request
        .uri()
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair == "transport=websocket"))
}

/// The middleware: gives each new Engine.IO session its [`Connection`] (in the handshake
/// request, which socketioxide keeps) and keeps track of the TCP connection that carries
/// it; a request of a session that was closed is refused (400), as Engine.IO refuses an
/// unknown session.
pub async fn track(
    State(connections): State<Connections>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    mut request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with("/socket.io") {
        return next.run(request).await;
    }
    if let Some(sid) = sid_of(&request) {
        if let Some(connection) = connections.find(sid) {
            if connection.is_closed() {
                return (StatusCode::BAD_REQUEST, "session closed").into_response();
            }
            // A long-poll GET or the WebSocket upgrade (also a GET) carries what the server
            // sends; a POST only brings the client's packets.
            if request.method() == Method::GET {
                connection.carried_by(&peer.closer, is_websocket(&request));
            }
        }
        return next.run(request).await;
    }
    let connection = Arc::new(Connection::new(
        peer.closer.clone(),
        connections.namespace_connects,
        is_websocket(&request),
    ));
    request.extensions_mut().insert(connection.clone());
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        // A WebSocket handshake (101) is carried by its own connection, which needs no
        // lookup; a refused one has no session.
        return response;
    }
    remember_polling_session(&connections, connection, response).await
}

/// Reads the `sid` of a long-polling handshake's answer (`0{"sid":…}`) and files the session
/// under it.
async fn remember_polling_session(
    connections: &Connections,
    connection: Arc<Connection>,
    response: Response,
) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, HANDSHAKE_ANSWER_LIMIT).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "handshake answer too large",
        )
            .into_response();
    };
    #[derive(serde::Deserialize)]
    struct Open {
        sid: String,
    }
    if let Some(open) = bytes
        .strip_prefix(b"0")
        .and_then(|json| serde_json::from_slice::<Open>(json).ok())
    {
        lock(&connections.by_sid).insert(open.sid, Arc::downgrade(&connection));
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_token_extends_the_expiry_and_an_earlier_one_does_not_shorten_it() {
        let connection = Connection::new(Closer::default(), None, true);
        let user = Uuid::from_u128(1);
        let expiry = connection.token_expiry(user, 100);
        connection.token_expiry(user, 200);
        connection.token_expiry(user, 150);
        assert_eq!(expiry.load(Ordering::SeqCst), 200);
    }
}
