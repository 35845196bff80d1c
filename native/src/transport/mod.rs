//! WebSocket transport: accepts and dials sockets, and turns each into events for the node loop.
//! Protocol decisions live in core's `PeerManager`; this module only moves frames.
//!
//! Every socket gets a reader task and a writer task. The node sends through a bounded queue per
//! socket and never waits on it: when a slow peer's queue is full the node drops that peer
//! instead of stalling (see `ConnHandle::send`).

use futures_util::{SinkExt, StreamExt};
use miniledger_core::net::{ConnId, Direction};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// Frames a socket may have queued before its peer counts as too slow.
pub const SEND_QUEUE_FRAMES: usize = 1024;

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
    },
    /// A frame refused before it reached the protocol (binary, oversized…).
    Refused {
        conn: ConnId,
        reason: String,
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
    events: mpsc::UnboundedSender<TransportEvent>,
    next_conn: Arc<AtomicU64>,
    config: WebSocketConfig,
}

impl Transport {
    /// `max_frame_bytes` caps every incoming message (tungstenite's default is 64 MiB).
    pub fn new(events: mpsc::UnboundedSender<TransportEvent>, max_frame_bytes: usize) -> Self {
        let config = WebSocketConfig::default()
            .max_message_size(Some(max_frame_bytes))
            .max_frame_size(Some(max_frame_bytes));
        Transport {
            events,
            next_conn: Arc::new(AtomicU64::new(1)),
            config,
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

    /// Dials `address` in the background; the outcome arrives as an event.
    pub fn dial(&self, address: String) {
        let this = self.clone();
        tokio::spawn(async move {
            match tokio_tungstenite::connect_async_with_config(
                address.as_str(),
                Some(this.config),
                true,
            )
            .await
            {
                Ok((ws, _)) => this.run(ws, Direction::Outbound { address }).await,
                Err(e) => {
                    let _ = this.events.send(TransportEvent::DialFailed {
                        address,
                        error: e.to_string(),
                    });
                }
            }
        });
    }

    /// Pumps one socket until it closes.
    async fn run<S>(&self, ws: WebSocketStream<S>, direction: Direction)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (mut sink, mut stream) = ws.split();
        let (queue, mut outgoing) = mpsc::channel(SEND_QUEUE_FRAMES);
        if self
            .events
            .send(TransportEvent::Opened {
                conn,
                direction,
                handle: ConnHandle { queue },
            })
            .is_err()
        {
            return; // the node is shutting down
        }
        let mut writer = tokio::spawn(async move {
            while let Some(item) = outgoing.recv().await {
                match item {
                    Outgoing::Frame(text) => {
                        if sink.send(WsMessage::text(text.as_ref())).await.is_err() {
                            break;
                        }
                    }
                    Outgoing::Close(_) => break,
                }
            }
            let _ = sink.close().await;
        });
        let reason = loop {
            // A socket we closed ends here even if the peer never answers the close (a hostile
            // peer could otherwise hold it, and its reader task, open forever).
            let next = tokio::select! {
                next = stream.next() => next,
                _ = &mut writer => break "closed locally".into(),
            };
            let event = match next {
                Some(Ok(WsMessage::Text(text))) => TransportEvent::Frame {
                    conn,
                    text: text.as_str().to_string(),
                },
                Some(Ok(WsMessage::Binary(bytes))) => TransportEvent::Refused {
                    conn,
                    reason: format!(
                        "binary frame of {} bytes (the protocol is text)",
                        bytes.len()
                    ),
                },
                Some(Ok(WsMessage::Close(_))) | None => break "closed by peer".to_string(),
                Some(Ok(_)) => continue, // ping/pong frames are answered by tungstenite
                Some(Err(e)) => break format!("socket error: {e}"),
            };
            if self.events.send(event).is_err() {
                break "node shutting down".into();
            }
        };
        writer.abort();
        let _ = self.events.send(TransportEvent::Closed { conn, reason });
    }
}
