//! A scripted peer on a real loopback WebSocket, for tests of how a node treats other peers:
//! it accepts connections, answers the node's HANDSHAKE with an accepting HANDSHAKE_ACK (proving
//! its key when challenged, so the node counts it authenticated), and
//! then answers each decoded message with whatever frames the script returns (raw text, so a
//! script can send anything, malformed or forged). A ticker can also send frames of its own at
//! a fixed interval (a fake leader's heartbeats). Runs on its own thread; stops on drop.

use futures_util::{SinkExt, StreamExt};
use miniledger_core::net::auth::{self, Role};
use miniledger_core::protocol::{HandshakeAck, Message};
use miniledger_core::{Envelope, Keypair};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as Frame;

/// What the script sees: the decoded message (None: the frame did not decode) and its text.
pub type Script = dyn Fn(Option<&Message>, &str) -> Vec<String> + Send + Sync;
/// Frames to send unprompted on every handshaken connection, each interval.
pub type Ticker = dyn Fn() -> Vec<String> + Send + Sync;

pub struct FakePeer {
    /// `ws://127.0.0.1:PORT`
    pub address: String,
    pub key: Keypair,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakePeer {
    /// Listens on a free loopback port as `key`, claiming `height`.
    pub fn start(key: Keypair, height: u64, script: Arc<Script>) -> FakePeer {
        Self::start_ticking(key, height, script, None)
    }

    /// As [`FakePeer::start`], also sending the ticker's frames every interval.
    pub fn start_ticking(
        key: Keypair,
        height: u64,
        script: Arc<Script>,
        ticker: Option<(std::time::Duration, Arc<Ticker>)>,
    ) -> FakePeer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let address = format!("ws://{}", std_listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel();
        let me = key.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let (me, script) = (me.clone(), script.clone());
                        let ticker = ticker.clone();
                        tokio::spawn(async move {
                            if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                                serve(ws, &me, height, &*script, ticker).await;
                            }
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        FakePeer {
            address,
            key,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn node_id(&self) -> &str {
        self.key.node_id()
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One connection: handshake, then the script.
async fn serve<S>(
    mut ws: tokio_tungstenite::WebSocketStream<S>,
    me: &Keypair,
    height: u64,
    script: &Script,
    ticker: Option<(std::time::Duration, Arc<Ticker>)>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (every, ticker) = match ticker {
        Some((every, ticker)) => (every, Some(ticker)),
        None => (std::time::Duration::from_secs(3600), None),
    };
    let mut interval = tokio::time::interval(every);
    let mut handshaken = false;
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            _ = interval.tick() => {
                let frames = match &ticker {
                    Some(ticker) if handshaken => ticker(),
                    _ => Vec::new(),
                };
                for frame in frames {
                    if ws.send(Frame::text(frame)).await.is_err() {
                        return;
                    }
                }
                continue;
            }
        };
        let Some(Ok(frame)) = frame else {
            return;
        };
        let Frame::Text(text) = frame else {
            continue;
        };
        handshaken = true;
        let decoded = Envelope::decode(text.as_str()).ok().map(|e| e.message);
        let replies = match &decoded {
            // It holds its key, so it answers a challenge (and takes the proof unchecked).
            Some(Message::Handshake(hello)) => vec![envelope(
                me,
                Message::HandshakeAck(HandshakeAck {
                    node_id: me.node_id().into(),
                    public_key: me.public_hex().into(),
                    org_id: "fake".into(),
                    chain_height: height,
                    accepted: true,
                    reason: None,
                    challenge: hello.challenge.as_ref().map(|_| "77".repeat(32)),
                    challenge_signature: hello
                        .challenge
                        .as_deref()
                        .map(|c| auth::sign(me, Role::Responder, c, &hello.public_key)),
                    genesis_hash: None,
                }),
            )],
            Some(Message::HandshakeProof(_)) => Vec::new(),
            other => script(other.as_ref(), text.as_str()),
        };
        for reply in replies {
            if ws.send(Frame::text(reply)).await.is_err() {
                return;
            }
        }
    }
}

/// `message` in an envelope from `me`, as text.
pub fn envelope(me: &Keypair, message: Message) -> String {
    Envelope::new(me.node_id(), super::now_ms(), message).encode()
}
