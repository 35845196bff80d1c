//! WebSocket transport: accepts and dials sockets, and turns each into events for the node loop.
//! Protocol decisions live in core's `PeerManager`; this module only moves frames.
//!
//! With a certificate the server speaks only TLS (`wss://`); dials follow the address's scheme.
//! Everything past the handshakes is the same code for plain and TLS streams (generic `run`).
//!
//! Every socket gets a reader task and a writer task. The node sends through a bounded queue per
//! socket and never waits on it: when a slow peer's queue is full the node drops that peer
//! instead of stalling (see `ConnHandle::send`). Ingress is bounded per socket too, with
//! backpressure: each frame handed to the node holds a share of its socket's budget
//! ([`INGRESS_BYTES`]) until the node has handled it, and a reader whose budget is spent stops
//! reading its socket (TCP then slows the sender) instead of queueing without limit.

use crate::tls::PeerTls;
use futures_util::{SinkExt, StreamExt};
use miniledger_core::net::peers::MAX_HANDSHAKE_FRAME_BYTES;
use miniledger_core::net::{ConnId, Direction};
use miniledger_core::protocol::{Envelope, MessageError};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// A plain or TLS byte stream under a WebSocket.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A WebSocket client connection, over TLS or not.
pub type ClientSocket = WebSocketStream<Box<dyn Stream>>;

/// Opens a WebSocket to `address`: `ws://host:port` plain, `wss://host:port` over TLS verified
/// by `tls` (the host is the server name checked against the certificate).
pub async fn open(
    address: &str,
    tls: &tokio_rustls::TlsConnector,
    config: Option<WebSocketConfig>,
) -> Result<ClientSocket, String> {
    let request = address.into_client_request().map_err(|e| e.to_string())?;
    let uri = request.uri();
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err("the address must start with ws:// or wss://".into()),
    };
    // IPv6 hosts come bracketed in URLs, but not in socket addresses or server names.
    let host = uri.host().unwrap_or_default();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if secure {
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| format!("invalid TLS server name: {e}"))?;
        let tls = tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, config)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Frames a socket may have queued before its peer counts as too slow.
pub const SEND_QUEUE_FRAMES: usize = 1024;

/// tungstenite's read buffer, per socket. It zero-fills the whole buffer before each read and
/// keeps it for the socket's life: at its default (128 KiB) that was most of a light peer's
/// cost to the node (BENCHMARKS.md, "Fan-out"). A larger frame still gets a buffer of its own
/// size; it is just read in more calls.
const READ_BUFFER_BYTES: usize = 8 << 10;

/// Frames a writer buffers before writing them out, when several are queued (see `run`).
/// tungstenite keeps its write buffer at the largest size it reached, per socket: this bounds
/// it (to this plus one frame).
const WRITE_BATCH_BYTES: usize = 16 << 10;

/// A frame shared by every socket it is broadcast to, as the bytes tungstenite sends.
struct SharedFrame(Arc<str>);

impl AsRef<[u8]> for SharedFrame {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The frame as a text message without copying it (one broadcast block, a thousand sockets).
fn text_message(frame: Arc<str>) -> WsMessage {
    let bytes = tokio_tungstenite::tungstenite::Bytes::from_owner(SharedFrame(frame));
    WsMessage::Text(Utf8Bytes::try_from(bytes).expect("a str is UTF-8"))
}

/// Frames above this size are decoded on their socket's task (see [`TransportEvent::Decoded`]).
const DECODE_HERE_BYTES: usize = MAX_HANDSHAKE_FRAME_BYTES;

/// Bytes of frames one socket may have waiting for the node loop; a frame larger than this
/// (a big sync response) waits alone. Past it the socket is not read until the loop catches up.
pub const INGRESS_BYTES: usize = 4 << 20;

/// What a frame counts against [`INGRESS_BYTES`] beyond its text (the event around it), so a
/// flood of tiny frames is bounded in count too (at most 4,096 waiting per socket).
const INGRESS_FRAME_OVERHEAD: usize = 1 << 10;

/// A frame's share of its socket's ingress budget, given back when the node drops the event.
#[derive(Debug)]
pub struct Ingress(#[allow(dead_code)] OwnedSemaphorePermit);

/// Where sockets deliver their events (the node loop's inbox); false once it is gone.
pub type EventSink = Arc<dyn Fn(TransportEvent) -> bool + Send + Sync>;

/// What sockets tell the node loop.
#[derive(Debug)]
pub enum TransportEvent {
    Opened {
        conn: ConnId,
        direction: Direction,
        handle: ConnHandle,
    },
    Frame {
        conn: ConnId,
        text: String,
        ingress: Ingress,
    },
    /// A large frame (a sync response), decoded on the socket's task so the node loop does
    /// not spend its time parsing megabytes while it could be committing.
    Decoded {
        conn: ConnId,
        len: usize,
        envelope: Box<Result<Envelope, MessageError>>,
        ingress: Ingress,
    },
    /// A frame refused before it reached the protocol (binary, oversized…).
    Refused {
        conn: ConnId,
        reason: String,
        ingress: Ingress,
    },
    Closed {
        conn: ConnId,
        reason: String,
    },
    DialFailed {
        address: String,
        error: String,
    },
}

impl TransportEvent {
    /// Size of the frame this event carries (0 for the others).
    pub fn frame_bytes(&self) -> usize {
        match self {
            TransportEvent::Frame { text, .. } => text.len(),
            TransportEvent::Decoded { len, .. } => *len,
            _ => 0,
        }
    }
}

enum Outgoing {
    Frame(Arc<str>),
    Close(String),
}

/// The node's side of one socket.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    queue: mpsc::Sender<Outgoing>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outgoing::Frame(text) => write!(f, "Frame({} bytes)", text.len()),
            Outgoing::Close(reason) => write!(f, "Close({reason})"),
        }
    }
}

impl ConnHandle {
    /// Queues a frame without waiting. False when the queue is full or the socket is gone.
    pub fn send(&self, frame: Arc<str>) -> bool {
        self.queue.try_send(Outgoing::Frame(frame)).is_ok()
    }

    /// Asks the writer to close the socket after what is already queued.
    pub fn close(&self, reason: String) {
        let _ = self.queue.try_send(Outgoing::Close(reason));
    }
}

/// Shared by the listener and dialer: connection ids, the event sink, socket limits.
#[derive(Clone)]
pub struct Transport {
    events: EventSink,
    /// The runtime the sockets run on (dials are started from the node loop's own thread).
    runtime: Handle,
    next_conn: Arc<AtomicU64>,
    config: WebSocketConfig,
    tls: PeerTls,
}

impl Transport {
    /// `max_frame_bytes` caps every incoming message (tungstenite's default is 64 MiB). Call
    /// from within the runtime the sockets are to run on.
    pub fn new(events: EventSink, max_frame_bytes: usize, tls: PeerTls) -> Self {
        let config = WebSocketConfig::default()
            .max_message_size(Some(max_frame_bytes))
            .max_frame_size(Some(max_frame_bytes))
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(WRITE_BATCH_BYTES);
        Transport {
            events,
            runtime: Handle::current(),
            next_conn: Arc::new(AtomicU64::new(1)),
            config,
            tls,
        }
    }

    /// Binds the P2P port and accepts sockets in the background; returns the bound address.
    pub async fn listen(&self, addr: &str) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, remote)) => {
                        let this = this.clone();
                        tokio::spawn(async move { this.accept(stream, remote).await });
                    }
                    Err(e) => tracing::warn!("accept failed: {e}"),
                }
            }
        });
        Ok(local)
    }

    async fn accept(self, stream: TcpStream, remote: SocketAddr) {
        let _ = stream.set_nodelay(true);
        match self.tls.acceptor.clone() {
            // A plain-text client on the TLS port fails here, before any frame reaches the node.
            Some(acceptor) => match crate::tls::handshake(&acceptor, stream).await {
                Ok(stream) => self.upgrade(stream, remote).await,
                Err(e) => tracing::debug!("TLS handshake from {remote} failed: {e}"),
            },
            None => self.upgrade(stream, remote).await,
        }
    }

    async fn upgrade<S>(self, stream: S, remote: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        match tokio_tungstenite::accept_async_with_config(stream, Some(self.config)).await {
            Ok(ws) => {
                let direction = Direction::Inbound {
                    remote_ip: remote.ip().to_string(),
                };
                self.run(ws, direction).await;
            }
            Err(e) => tracing::debug!("websocket upgrade from {remote} failed: {e}"),
        }
    }

    /// Dials `address` (`ws://` or `wss://`) in the background; the outcome arrives as an event.
    pub fn dial(&self, address: String) {
        let this = self.clone();
        self.runtime.spawn(async move {
            if let Err(error) = this.connect(&address).await {
                (this.events)(TransportEvent::DialFailed { address, error });
            }
        });
    }

    /// Connects, and on success pumps the socket until it closes.
    async fn connect(&self, address: &str) -> Result<(), String> {
        let ws = open(address, &self.tls.connector, Some(self.config)).await?;
        let address = address.to_string();
        self.run(ws, Direction::Outbound { address }).await;
        Ok(())
    }

    /// Pumps one socket until it closes.
    async fn run<S>(&self, ws: WebSocketStream<S>, direction: Direction)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (mut sink, mut stream) = ws.split();
        let (queue, mut outgoing) = mpsc::channel(SEND_QUEUE_FRAMES);
        let opened = TransportEvent::Opened {
            conn,
            direction,
            handle: ConnHandle { queue },
        };
        if !(self.events)(opened) {
            return; // the node is shutting down
        }
        let budget = Arc::new(Semaphore::new(INGRESS_BYTES));
        let mut writer = tokio::spawn(async move {
            // Whatever is queued goes out in as few writes as it fits (`WRITE_BATCH_BYTES`
            // each), then one flush: a peer that fell behind (a thousand light peers, blocks
            // every few ms) costs a write per batch, not per frame.
            'socket: while let Some(mut item) = outgoing.recv().await {
                loop {
                    let Outgoing::Frame(text) = item else {
                        break 'socket;
                    };
                    if sink.feed(text_message(text)).await.is_err() {
                        break 'socket;
                    }
                    match outgoing.try_recv() {
                        Ok(next) => item = next,
                        Err(_) => break,
                    }
                }
                if sink.flush().await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        // The first frame is the handshake: always left to the node loop, which refuses a
        // large one undecoded.
        let mut first = true;
        let reason = loop {
            // A socket we closed ends here even if the peer never answers the close (a hostile
            // peer could otherwise hold it, and its reader task, open forever).
            let next = tokio::select! {
                next = stream.next() => next,
                _ = &mut writer => break "closed locally".into(),
            };
            let len = match &next {
                Some(Ok(WsMessage::Text(text))) => text.len(),
                Some(Ok(WsMessage::Binary(bytes))) => bytes.len(),
                Some(Ok(WsMessage::Close(_))) | None => break "closed by peer".to_string(),
                Some(Ok(_)) => continue, // ping/pong frames are answered by tungstenite
                Some(Err(e)) => break format!("socket error: {e}"),
            };
            // Backpressure: nothing more is read from this socket until the node has handled
            // enough of what it already took from it.
            let share = (len + INGRESS_FRAME_OVERHEAD).min(INGRESS_BYTES) as u32;
            let ingress = tokio::select! {
                permit = budget.clone().acquire_many_owned(share) => {
                    Ingress(permit.expect("the budget is never closed"))
                }
                _ = &mut writer => break "closed locally".into(),
            };
            let event = match next {
                Some(Ok(WsMessage::Text(text))) if !first && len > DECODE_HERE_BYTES => {
                    TransportEvent::Decoded {
                        conn,
                        len,
                        envelope: Box::new(Envelope::decode(text.as_str())),
                        ingress,
                    }
                }
                Some(Ok(WsMessage::Text(text))) => TransportEvent::Frame {
                    conn,
                    text: text.as_str().to_string(),
                    ingress,
                },
                _ => TransportEvent::Refused {
                    conn,
                    reason: format!("binary frame of {len} bytes (the protocol is text)"),
                    ingress,
                },
            };
            first = false;
            if !(self.events)(event) {
                break "node shutting down".into();
            }
        };
        writer.abort();
        (self.events)(TransportEvent::Closed { conn, reason });
    }
}
