//! `miniledger join`'s first step: ask a peer for its network's genesis (GENESIS_REQUEST on a
//! socket of its own, before any handshake) and check what comes back.
//!
//! The peer is not trusted for anything but the document itself: the document is parsed and
//! checked like a file, hashed here (the answer carries no hash to believe), and, with
//! `--genesis-hash`, refused unless the hash is the one the operator insisted on. A peer that
//! stalls, floods or sends something else gets a bounded wait, frame size and frame count.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use miniledger_core::genesis::{Genesis, MAX_DOCUMENT_BYTES};
use miniledger_core::protocol::{Envelope, GenesisRequest, Message};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// How long the peer has to answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames of other types tolerated before the answer.
const MAX_OTHER_FRAMES: usize = 16;

const NO_ANSWER: &str = "a MiniLedger 0.2 node ignores GENESIS_REQUEST; to follow a 0.2 \
     network use --compat miniledger-0.2 --consensus raft --validators …";

/// The genesis document `address` serves. `node_id` goes in the envelope's `from`.
pub async fn fetch(
    address: &str,
    tls: &tokio_rustls::TlsConnector,
    node_id: &str,
    now_ms: u64,
) -> Result<Genesis, String> {
    let asked = async {
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(MAX_DOCUMENT_BYTES + 64 * 1024);
        config.max_frame_size = config.max_message_size;
        let mut ws = crate::transport::open(address, tls, Some(config)).await?;
        let request = Envelope::new(node_id, now_ms, Message::GenesisRequest(GenesisRequest {}));
        ws.send(WsMessage::Text(request.encode().into()))
            .await
            .map_err(|e| e.to_string())?;
        for _ in 0..=MAX_OTHER_FRAMES {
            let text = match ws.next().await {
                Some(Ok(WsMessage::Text(text))) => text,
                Some(Ok(WsMessage::Close(_))) | None => {
                    return Err(format!(
                        "it closed the connection without an answer ({NO_ANSWER})"
                    ))
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.to_string()),
            };
            let Ok(Envelope {
                message: Message::GenesisResponse(response),
                ..
            }) = Envelope::decode(text.as_str())
            else {
                continue;
            };
            let _ = ws.close(None).await;
            let Some(document) = response.genesis else {
                return Err(format!(
                    "it has no genesis document (a node in compat mode): {NO_ANSWER}"
                ));
            };
            return Genesis::parse(&document.to_string()).map_err(|e| e.to_string());
        }
        Err(format!(
            "no GENESIS_RESPONSE among its first {MAX_OTHER_FRAMES} frames"
        ))
    };
    match tokio::time::timeout(FETCH_TIMEOUT, asked).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer within {} s ({NO_ANSWER})",
            FETCH_TIMEOUT.as_secs()
        )),
    }
    .map_err(|e| format!("cannot fetch the genesis from {address}: {e}"))
}
