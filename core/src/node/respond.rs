//! Answering SYNC_REQUEST / BLOCK_REQUEST from stored block JSON, without re-serialising
//! blocks, trimmed so the frame stays under the peers' frame-size cap (`hasMore` tells the
//! requester to continue). A SYNC_RESPONSE carries the optional `terms` (each block's Raft
//! term) when all are known: a validator that syncs from us can then vote and campaign at once.

use super::events::{Level, Target};
use super::{FullNode, NodeStorage, StorageError};
use crate::net::{ConnId, Transmit};
use crate::protocol::{HeightRange, PROTOCOL_VERSION};
use crate::sync::MAX_BATCH;

/// Room left in a frame for the envelope around the blocks, and the optional `terms` (at most
/// MAX_BATCH numbers of up to 20 digits, each with a comma).
const ENVELOPE_ROOM: usize = 512 + MAX_BATCH as usize * 21;

impl<S: NodeStorage> FullNode<S> {
    /// Answers a SYNC_REQUEST (or BLOCK_REQUEST) on the connection it came on.
    pub(super) fn answer_range(&mut self, conn: ConnId, range: HeightRange, block_response: bool) {
        match self.sync_response_frame(range, block_response) {
            Ok(frame) => {
                // After whatever the peer manager queued before it (a HANDSHAKE_ACK).
                self.out.take_transmits(&mut self.peers);
                let frame = frame.into();
                self.out.io.push_back(Transmit::Send { conn, frame });
            }
            Err(e) => self.log(
                Level::Error,
                Target::Sync,
                format!("cannot answer {range:?}: {e}"),
            ),
        }
    }

    /// The SYNC_RESPONSE (or BLOCK_RESPONSE) frame for `range`.
    fn sync_response_frame(
        &mut self,
        range: HeightRange,
        block_response: bool,
    ) -> Result<String, StorageError> {
        let store = &self.store;
        let height = store.tip().height;
        let to = range
            .to_height
            .min(range.from_height.saturating_add(MAX_BATCH - 1))
            .min(height);
        let blocks = if range.from_height == 0 || range.from_height > to {
            Vec::new()
        } else {
            let max = self.config.max_frame_bytes.saturating_sub(ENVELOPE_ROOM);
            store.block_json_range(range.from_height, to, max)?
        };
        let last = range.from_height + blocks.len() as u64;
        let kind = if block_response {
            "BLOCK_RESPONSE"
        } else {
            "SYNC_RESPONSE"
        };
        let mut frame =
            String::with_capacity(blocks.iter().map(|b| b.len() + 1).sum::<usize>() + 160);
        frame.push_str(&format!(
            r#"{{"version":{PROTOCOL_VERSION},"type":"{kind}","from":{},"timestamp":{},"payload":{{"blocks":["#,
            serde_json::to_string(self.key.node_id()).expect("strings serialize"),
            self.now.wall,
        ));
        frame.push_str(&blocks.join(","));
        frame.push(']');
        if !block_response {
            let has_more = !blocks.is_empty() && last.saturating_sub(1) < height;
            frame.push_str(&format!(r#","hasMore":{has_more}"#));
            // Optional `terms` (ignored by 0.2): only when every served block's term is known.
            // A failed read only costs the requester the terms, not the blocks.
            let terms = match blocks.is_empty() {
                true => Ok(None),
                false => store.block_terms(range.from_height, last - 1),
            };
            match terms {
                Ok(Some(terms)) => {
                    let terms = serde_json::to_string(&terms).expect("numbers serialize");
                    frame.push_str(&format!(r#","terms":{terms}"#));
                }
                Ok(_) => {}
                Err(e) => self.out.log(
                    Level::Warn,
                    Target::Sync,
                    format!("answering without block terms: {e}"),
                ),
            }
        }
        frame.push_str("}}");
        Ok(frame)
    }
}
