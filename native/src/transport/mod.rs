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
use futures_util::StreamExt;
use miniledger_core::net::peers::MAX_HANDSHAKE_FRAME_BYTES;
use miniledger_core::net::{ConnId, Direction};
use miniledger_core::protocol::{Envelope, MessageError};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message as WsMessage};
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
    open_on(address, tls, config, |stream| stream).await
}

/// [`open`], with the WebSocket on `wrap(stream)` (the transport's sockets: a [`Duplex`]).
async fn open_on<S: AsyncRead + AsyncWrite + Unpin>(
    address: &str,
    tls: &tokio_rustls::TlsConnector,
    config: Option<WebSocketConfig>,
    wrap: fn(Box<dyn Stream>) -> S,
) -> Result<WebSocketStream<S>, String> {
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
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, wrap(stream), config)
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

/// Most frames one vectored write takes, and so most a socket's writer holds (its only write
/// buffer: the frames themselves, shared, not a copy of them).
const WRITE_SLICES: usize = 64;

/// How long a socket's writer may take to send what was queued (a reply to the peer's close)
/// once its reader has ended, before it is stopped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Frames text messages for the sockets they are sent to. A server's frames are unmasked
/// (RFC 6455), so one framed buffer (header and payload) serves every inbound socket a
/// broadcast reaches: it is made once, when the first socket is sent the frame, and shared by
/// the rest (a thousand light peers, one copy). Frames to sockets we dialed are masked, per
/// frame, by their writer.
#[derive(Default)]
pub struct Framer {
    /// The last frame framed, kept so the same text sent on to socket after socket is framed
    /// once (held, so its address cannot be reused by another frame meanwhile).
    last: Option<(Arc<str>, Bytes)>,
}

impl Framer {
    /// `text` as a server's text frame, on the wire as it goes to every inbound socket.
    pub fn server_frame(&mut self, text: &Arc<str>) -> Bytes {
        match &self.last {
            Some((last, framed)) if Arc::ptr_eq(last, text) => framed.clone(),
            _ => {
                let framed = wire_frame(text, None);
                self.last = Some((text.clone(), framed.clone()));
                framed
            }
        }
    }
}

/// A text frame as tungstenite writes it: masked with `mask` (a client's) or not (a server's).
fn wire_frame(text: &str, mask: Option<[u8; 4]>) -> Bytes {
    let mut frame = Frame::message(Bytes::new(), OpCode::Data(Data::Text), true);
    frame.header_mut().mask = mask;
    let mut wire = Vec::with_capacity(frame.header().len(text.len() as u64) + text.len());
    let header = frame.header().clone();
    header
        .format(text.len() as u64, &mut wire)
        .expect("writing to a Vec cannot fail");
    let start = wire.len();
    wire.extend_from_slice(text.as_bytes());
    if let Some(mask) = mask {
        for (i, byte) in wire[start..].iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
    }
    Bytes::from(wire)
}

/// A close frame without a status (what tungstenite sends on `close(None)`).
fn close_frame(mask: Option<[u8; 4]>) -> Bytes {
    let header = FrameHeader {
        opcode: OpCode::Control(Control::Close),
        mask,
        ..FrameHeader::default()
    };
    let mut wire = Vec::with_capacity(header.len(0));
    header
        .format(0, &mut wire)
        .expect("writing to a Vec cannot fail");
    Bytes::from(wire)
}

/// Masking keys for a client's frames, drawn from the OS in batches.
#[derive(Default)]
struct Masks {
    keys: Vec<[u8; 4]>,
}

impl Masks {
    /// A key for a client's frame, none for a server's.
    fn for_side(&mut self, side: Side) -> Option<[u8; 4]> {
        (side == Side::Client).then(|| self.next())
    }

    fn next(&mut self) -> [u8; 4] {
        if self.keys.is_empty() {
            let mut random = [0u8; 256];
            getrandom::getrandom(&mut random).expect("the OS has randomness");
            let keys = random.chunks_exact(4);
            self.keys = keys.map(|k| k.try_into().expect("4 bytes")).collect();
        }
        self.keys.pop().expect("refilled")
    }
}

/// Why a socket closed that the node closed while its send queue was full.
const STOPPED_READING: &str = "closed locally; the peer was not reading";

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
    /// Bytes ready for the wire: a server's frame, or tungstenite's own (pongs, close replies).
    Wire(Bytes),
    /// A text frame a client sends, masked by the writer.
    Text(Arc<str>),
    Close(String),
}

/// Which end of the WebSocket this node is on a socket: it decides whether frames are masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The peer dialed us: frames go out unmasked, the same bytes for every such socket.
    Server,
    /// We dialed: every frame is masked with a key of its own.
    Client,
}

/// The node's side of one socket.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    queue: mpsc::Sender<Outgoing>,
    side: Side,
    /// Wakes the socket's task when a close cannot be queued (the queue is full: the peer is
    /// not reading), so the socket is dropped at once instead of waiting behind its writer.
    stop: Arc<Notify>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outgoing::Wire(bytes) => write!(f, "Wire({} bytes)", bytes.len()),
            Outgoing::Text(text) => write!(f, "Text({} bytes)", text.len()),
            Outgoing::Close(reason) => write!(f, "Close({reason})"),
        }
    }
}

impl ConnHandle {
    /// Queues a frame without waiting. False when the queue is full or the socket is gone.
    /// `framer` frames it once for every inbound socket it is sent to in a row.
    pub fn send(&self, frame: Arc<str>, framer: &mut Framer) -> bool {
        let item = match self.side {
            Side::Server => Outgoing::Wire(framer.server_frame(&frame)),
            Side::Client => Outgoing::Text(frame),
        };
        self.queue.try_send(item).is_ok()
    }

    /// Asks the writer to close the socket after what is already queued; if nothing more can
    /// be queued (the peer stopped reading), the socket is dropped without its queue.
    pub fn close(&self, reason: String) {
        if self.queue.try_send(Outgoing::Close(reason)).is_err() {
            self.stop.notify_one();
        }
    }
}

/// The byte stream under a socket's WebSocket. tungstenite reads it; it writes straight to the
/// socket during the upgrade, and afterwards (pongs, close replies) through the socket's
/// writer task, which owns the socket's write half and writes every frame (see `run`).
struct Duplex<S> {
    read: ReadHalf<S>,
    write: WriteSide<S>,
}

enum WriteSide<S> {
    Socket(WriteHalf<S>),
    Writer(mpsc::Sender<Outgoing>),
}

impl<S: AsyncRead + AsyncWrite> Duplex<S> {
    fn new(stream: S) -> Self {
        let (read, write) = tokio::io::split(stream);
        Duplex {
            read,
            write: WriteSide::Socket(write),
        }
    }

    /// Hands the socket's write half to the writer; tungstenite's writes go to `queue` now.
    fn detach_writer(&mut self, queue: mpsc::Sender<Outgoing>) -> WriteHalf<S> {
        match std::mem::replace(&mut self.write, WriteSide::Writer(queue)) {
            WriteSide::Socket(write) => write,
            WriteSide::Writer(_) => unreachable!("the writer is detached once"),
        }
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncRead for Duplex<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncWrite for Duplex<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.write {
            WriteSide::Socket(write) => Pin::new(write).poll_write(cx, buf),
            // tungstenite writes whole frames: each is queued whole or not at all. A full
            // queue (the peer is not reading) says "would block": tungstenite keeps the frame
            // and tries again when the reader is next polled. No waker is registered for it,
            // so this socket's reader may wait until the node drops the peer (its sends fail
            // on the full queue, or its pings go unanswered): the node's close, which cannot be
            // queued either, then ends the reader (`ConnHandle::stop`) and aborts the writer.
            WriteSide::Writer(queue) => Poll::Ready(
                (queue.try_send(Outgoing::Wire(Bytes::copy_from_slice(buf))))
                    .map(|()| buf.len())
                    .map_err(|_| std::io::ErrorKind::WouldBlock.into()),
            ),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.write {
            WriteSide::Socket(write) => Pin::new(write).poll_flush(cx),
            WriteSide::Writer(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.write {
            WriteSide::Socket(write) => Pin::new(write).poll_shutdown(cx),
            WriteSide::Writer(_) => Poll::Ready(Ok(())),
        }
    }
}

/// Writes a socket's frames until the node closes it or drops its handle: whatever is queued
/// goes out in one vectored write (up to [`WRITE_SLICES`] frames), straight from the queued
/// buffers. A peer that fell behind (a thousand light peers, blocks every few ms) costs a write
/// per batch, not per frame, and nothing is copied or kept per socket.
async fn write_frames<W: AsyncWrite + Unpin>(
    mut out: W,
    mut queue: mpsc::Receiver<Outgoing>,
    side: Side,
) {
    let mut masks = Masks::default();
    let mut pending: VecDeque<Bytes> = VecDeque::with_capacity(WRITE_SLICES);
    let mut closing = false;
    loop {
        if pending.is_empty() {
            if closing {
                let _ = out.write_all(&close_frame(masks.for_side(side))).await;
                let _ = out.flush().await;
                let _ = out.shutdown().await;
                return;
            }
            // A TLS stream holds written bytes until flushed.
            if out.flush().await.is_err() {
                return;
            }
            // None: the node is done with the socket (it closed, or the node is stopping).
            let Some(item) = queue.recv().await else {
                return;
            };
            closing = take(item, &mut pending, &mut masks);
            continue;
        }
        while !closing && pending.len() < WRITE_SLICES {
            let Ok(item) = queue.try_recv() else { break };
            closing = take(item, &mut pending, &mut masks);
        }
        if write_some(&mut out, &mut pending).await.is_err() {
            return;
        }
    }
}

/// Queues `item`'s bytes for the wire; true for a close.
fn take(item: Outgoing, pending: &mut VecDeque<Bytes>, masks: &mut Masks) -> bool {
    match item {
        Outgoing::Wire(bytes) => pending.push_back(bytes),
        Outgoing::Text(text) => pending.push_back(wire_frame(&text, Some(masks.next()))),
        Outgoing::Close(_) => return true,
    }
    false
}

/// One vectored write of the pending frames; drops what it wrote.
async fn write_some<W: AsyncWrite + Unpin>(
    out: &mut W,
    pending: &mut VecDeque<Bytes>,
) -> std::io::Result<()> {
    let mut written = {
        let mut slices = [IoSlice::new(&[]); WRITE_SLICES];
        for (slice, bytes) in slices.iter_mut().zip(pending.iter()) {
            *slice = IoSlice::new(bytes);
        }
        let count = pending.len().min(WRITE_SLICES);
        out.write_vectored(&slices[..count]).await?
    };
    if written == 0 {
        return Err(std::io::ErrorKind::WriteZero.into());
    }
    while let Some(front) = pending.front_mut() {
        if written < front.len() {
            *front = front.slice(written..);
            break;
        }
        written -= front.len();
        pending.pop_front();
    }
    Ok(())
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
            // tungstenite writes only its own frames (pongs, close replies): at once.
            .write_buffer_size(0);
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
        let stream = Duplex::new(stream);
        match tokio_tungstenite::accept_async_with_config(stream, Some(self.config)).await {
            Ok(ws) => {
                let direction = Direction::Inbound {
                    remote_ip: remote.ip().to_string(),
                };
                self.run(ws, direction, Side::Server).await;
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
        let ws = open_on(address, &self.tls.connector, Some(self.config), Duplex::new).await?;
        let address = address.to_string();
        self.run(ws, Direction::Outbound { address }, Side::Client)
            .await;
        Ok(())
    }

    /// Pumps one socket until it closes.
    async fn run<S>(&self, mut stream: WebSocketStream<Duplex<S>>, direction: Direction, side: Side)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (queue, outgoing) = mpsc::channel(SEND_QUEUE_FRAMES);
        let write = stream.get_mut().detach_writer(queue.clone());
        let stop = Arc::new(Notify::new());
        let opened = TransportEvent::Opened {
            conn,
            direction,
            handle: ConnHandle {
                queue,
                side,
                stop: stop.clone(),
            },
        };
        if !(self.events)(opened) {
            return; // the node is shutting down
        }
        let budget = Arc::new(Semaphore::new(INGRESS_BYTES));
        let mut writer = tokio::spawn(write_frames(write, outgoing, side));
        // The first frame is the handshake: always left to the node loop, which refuses a
        // large one undecoded.
        let mut first = true;
        let reason = loop {
            // A socket we closed ends here even if the peer never answers the close (a hostile
            // peer could otherwise hold it, and its reader task, open forever).
            let next = tokio::select! {
                next = stream.next() => next,
                _ = &mut writer => break "closed locally".into(),
                _ = stop.notified() => break STOPPED_READING.into(),
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
                _ = stop.notified() => break STOPPED_READING.into(),
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
        // What is queued (a reply to the peer's close) may still go out, briefly; the writer
        // ends once the node drops its handle, or is aborted (a writer stuck on a peer that
        // is not reading).
        drop(stream);
        if !writer.is_finished() {
            let stop = writer.abort_handle();
            tokio::spawn(async move {
                if tokio::time::timeout(CLOSE_GRACE, writer).await.is_err() {
                    stop.abort();
                }
            });
        }
        (self.events)(TransportEvent::Closed { conn, reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::SinkExt;
    use std::io::Cursor;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};

    /// What tungstenite itself puts on the wire for a text message, with `mask`.
    fn tungstenite_frame(text: &str, mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut frame = Frame::message(text.to_string(), OpCode::Data(Data::Text), true);
        frame.header_mut().mask = mask;
        let mut wire = Vec::new();
        frame.format(&mut wire).unwrap();
        wire
    }

    /// A peer that completes the upgrade and then never reads fills its socket and its send
    /// queue; the node's close must still end the socket (before, the close could not be
    /// queued and the socket stayed open behind its stuck writer).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_close_ends_a_socket_whose_peer_stopped_reading() {
        let (tx, mut events) = mpsc::unbounded_channel();
        let sink: EventSink = Arc::new(move |event| tx.send(event).is_ok());
        let tls = PeerTls::new(None, None, None).unwrap();
        let transport = Transport::new(sink, 1 << 20, tls);
        let addr = transport.listen("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (_client, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), tcp)
            .await
            .unwrap();
        let handle = loop {
            match events.recv().await.unwrap() {
                TransportEvent::Opened { handle, .. } => break handle,
                _ => continue,
            }
        };
        let frame: Arc<str> = "x".repeat(256 << 10).into();
        let mut framer = Framer::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while handle.send(frame.clone(), &mut framer) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the queue never filled"
            );
            tokio::task::yield_now().await;
        }
        handle.close("test".into());
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let TransportEvent::Closed { reason, .. } = events.recv().await.unwrap() {
                    break reason;
                }
            }
        })
        .await
        .expect("the socket was not closed");
        assert_eq!(closed, STOPPED_READING);
    }

    #[test]
    fn frames_are_byte_for_byte_tungstenites() {
        // Each of the three length encodings (7-bit, 16-bit, 64-bit).
        for len in [0, 125, 126, 65_535, 65_536, 200_000] {
            let text: Arc<str> = "é".repeat(len / 2).into();
            let server = Framer::default().server_frame(&text);
            assert_eq!(&server[..], &tungstenite_frame(&text, None)[..], "{len}");
            let mask = Some([1, 2, 3, 4]);
            assert_eq!(
                &wire_frame(&text, mask)[..],
                &tungstenite_frame(&text, mask)[..]
            );
        }
        let mut close = Vec::new();
        Frame::close(None).format(&mut close).unwrap();
        assert_eq!(&close_frame(None)[..], &close[..]);
    }

    #[test]
    fn a_client_frame_reads_back_as_the_text() {
        let text = r#"{"type":"PING","data":{}}"#;
        let mut wire = Cursor::new(wire_frame(text, Some(Masks::default().next())).to_vec());
        let mut server = WebSocket::from_raw_socket(&mut wire, Role::Server, None);
        assert_eq!(server.read().unwrap(), WsMessage::text(text));
    }

    /// One broadcast, many inbound sockets: the frame is framed once and every socket gets the
    /// same bytes (the per-socket copy, and tungstenite's per-socket write buffer, are gone).
    #[test]
    fn a_broadcast_is_framed_once_for_all_inbound_sockets() {
        let mut framer = Framer::default();
        let block: Arc<str> = "x".repeat(5_000).into();
        let first = framer.server_frame(&block);
        for _ in 0..999 {
            assert_eq!(framer.server_frame(&block).as_ptr(), first.as_ptr());
        }
        let other: Arc<str> = "x".repeat(5_000).into();
        assert_ne!(framer.server_frame(&other).as_ptr(), first.as_ptr());
    }

    /// A real socket: frames from the node, a ping answered by tungstenite through the writer,
    /// and a close from the node.
    #[tokio::test]
    async fn a_socket_carries_frames_pongs_and_close() {
        let (events, mut rx) = mpsc::unbounded_channel();
        let sink: EventSink = Arc::new(move |event| events.send(event).is_ok());
        let tls = crate::tls::PeerTls::new(None, None, None).unwrap();
        let transport = Transport::new(sink, 1 << 20, tls);
        let bound = transport.listen("127.0.0.1:0").await.unwrap();
        let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{bound}"))
            .await
            .unwrap();
        let Some(TransportEvent::Opened { handle, .. }) = rx.recv().await else {
            panic!("expected the socket to open");
        };
        let mut framer = Framer::default();
        let big: Arc<str> = "y".repeat(100_000).into();
        for frame in ["hello".into(), big.clone()] {
            assert!(handle.send(frame, &mut framer));
        }
        let next = |m: Option<Result<WsMessage, _>>| m.unwrap().unwrap();
        assert_eq!(next(client.next().await), WsMessage::text("hello"));
        assert_eq!(next(client.next().await).into_text().unwrap(), &*big);
        client.send(WsMessage::Ping("p".into())).await.unwrap();
        assert_eq!(next(client.next().await), WsMessage::Pong("p".into()));
        client.send(WsMessage::text("from the peer")).await.unwrap();
        let Some(TransportEvent::Frame { text, .. }) = rx.recv().await else {
            panic!("expected the peer's frame");
        };
        assert_eq!(text, "from the peer");
        handle.close("done".into());
        assert!(matches!(next(client.next().await), WsMessage::Close(None)));
    }
}
