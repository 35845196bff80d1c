//! Any bytes as a WebSocket text frame: decoding never panics, and a decoded envelope
//! re-encodes to a frame that decodes to the same envelope and re-encodes identically.

use miniledger_core::protocol::Envelope;

pub fn envelope_decode(data: &[u8]) {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(envelope) = Envelope::decode(frame) else {
        return;
    };
    let encoded = envelope.encode();
    let again = Envelope::decode(&encoded)
        .unwrap_or_else(|e| panic!("re-encoded frame does not decode: {e}\n{encoded}"));
    assert_eq!(again, envelope, "round trip changed the envelope");
    assert_eq!(again.encode(), encoded, "encoding is not stable");
}
