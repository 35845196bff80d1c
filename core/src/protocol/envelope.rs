//! `{"version":1,"type":"<TYPE>","from":"<nodeId>","timestamp":<ms>,"payload":{…}}`.
//!
//! Decoding reads the envelope first and then the payload the `type` calls for, so an error
//! names the field (`payload.blocks[3].transactions[0].nonce: missing field`), and an unknown
//! type is told apart from a malformed known one (the router ignores the former).

use super::payloads::*;
use crate::decode::{from_json, DecodeError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use thiserror::Error;

pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum MessageError {
    #[error("malformed envelope: {0}")]
    Envelope(DecodeError),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("malformed {kind} payload: {error}")]
    Payload {
        kind: &'static str,
        error: DecodeError,
    },
}

/// One message with its envelope fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub version: u32,
    pub from: String,
    pub timestamp: u64,
    pub message: Message,
}

/// Defines [`Message`] from one table: variant, wire name, payload type.
macro_rules! messages {
    ($($variant:ident = $name:literal ($payload:ty)),* $(,)?) => {
        /// Every message type of the protocol.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Message { $($variant($payload)),* }

        impl Message {
            /// The wire names, in table order: MiniLedger 0.2's 16, then [`Message::EXTENSIONS`].
            pub const TYPES: &'static [&'static str] = &[$($name),*];

            /// The wire name (`"SYNC_RESPONSE"`).
            pub fn type_name(&self) -> &'static str {
                match self { $(Message::$variant(_) => $name),* }
            }

            fn decode_payload(kind: &str, payload: &str) -> Result<Message, MessageError> {
                match kind {
                    $($name => from_json::<$payload>(payload)
                        .map(Message::$variant)
                        .map_err(|e| MessageError::Payload { kind: $name, error: prefixed(e) }),)*
                    other => Err(MessageError::UnknownType(other.to_string())),
                }
            }

        }

        /// Serializes the payload alone (the envelope adds the rest).
        impl Serialize for Message {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $(Message::$variant(p) => p.serialize(s)),* }
            }
        }
    };
}

messages! {
    Handshake = "HANDSHAKE" (Handshake),
    HandshakeAck = "HANDSHAKE_ACK" (HandshakeAck),
    BlockAnnounce = "BLOCK_ANNOUNCE" (BlockAnnounce),
    BlockRequest = "BLOCK_REQUEST" (HeightRange),
    BlockResponse = "BLOCK_RESPONSE" (BlockResponse),
    TxBroadcast = "TX_BROADCAST" (TxMessage),
    TxForward = "TX_FORWARD" (TxMessage),
    RequestVote = "CONSENSUS_REQUEST_VOTE" (RequestVote),
    RequestVoteReply = "CONSENSUS_REQUEST_VOTE_REPLY" (RequestVoteReply),
    AppendEntries = "CONSENSUS_APPEND_ENTRIES" (AppendEntries),
    AppendEntriesReply = "CONSENSUS_APPEND_ENTRIES_REPLY" (AppendEntriesReply),
    SyncRequest = "SYNC_REQUEST" (HeightRange),
    SyncResponse = "SYNC_RESPONSE" (SyncResponse),
    PeerList = "PEER_LIST" (PeerList),
    Ping = "PING" (ChainHeight),
    Pong = "PONG" (ChainHeight),
    HandshakeProof = "HANDSHAKE_PROOF" (HandshakeProof),
    GenesisRequest = "GENESIS_REQUEST" (GenesisRequest),
    GenesisResponse = "GENESIS_RESPONSE" (GenesisResponse),
}

impl Message {
    /// Our message types, unknown to MiniLedger 0.2 (sent only to peers that showed they are ours).
    pub const EXTENSIONS: &'static [&'static str] =
        &["HANDSHAKE_PROOF", "GENESIS_REQUEST", "GENESIS_RESPONSE"];
}

fn prefixed(e: DecodeError) -> DecodeError {
    let path = if e.path.is_empty() || e.path == "." {
        "payload".to_string()
    } else {
        format!("payload.{}", e.path)
    };
    DecodeError {
        path,
        message: e.message,
    }
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    version: u32,
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    from: String,
    timestamp: u64,
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Serialize)]
struct OutEnvelope<'a> {
    version: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    from: &'a str,
    timestamp: u64,
    payload: &'a Message,
}

impl Envelope {
    pub fn new(from: impl Into<String>, timestamp: u64, message: Message) -> Self {
        Envelope {
            version: PROTOCOL_VERSION,
            from: from.into(),
            timestamp,
            message,
        }
    }

    /// Parses one frame.
    pub fn decode(frame: &str) -> Result<Envelope, MessageError> {
        let raw: RawEnvelope = from_json(frame).map_err(MessageError::Envelope)?;
        let message = Message::decode_payload(&raw.kind, raw.payload.get())?;
        Ok(Envelope {
            version: raw.version,
            from: raw.from,
            timestamp: raw.timestamp,
            message,
        })
    }

    /// The frame text, keys in MiniLedger's order.
    pub fn encode(&self) -> String {
        serde_json::to_string(&OutEnvelope {
            version: self.version,
            kind: self.message.type_name(),
            from: &self.from,
            timestamp: self.timestamp,
            payload: &self.message,
        })
        .expect("messages always serialize")
    }
}
