//! `consistency=linearizable` on real processes: a read through any node, started after a
//! write was acknowledged by any other node, sees that write (a plain read from a follower may
//! not); refused with a reason when no leader can confirm it.

mod common;

use common::raft::{await_leader, identities, start_three};
use serde_json::json;

#[test]
fn a_linearizable_read_through_any_node_sees_every_acknowledged_write() {
    let (dirs, keys) = identities(3);
    let nodes = start_three(&dirs, &keys);
    let refs: Vec<_> = nodes.iter().collect();
    await_leader(&refs);
    for i in 0..60 {
        let (writer, reader) = (&nodes[i % 3], &nodes[(i * 7 + 1) % 3]);
        let value = format!("v{i}");
        let (code, body) = writer.post("/tx?wait=commit", &json!({"key": "k", "value": value}));
        assert_eq!(code, 200, "{body}");
        let (code, body) = reader.get("/state/k?consistency=linearizable");
        assert_eq!(code, 200, "{body}");
        assert_eq!(
            body["value"], value,
            "read {i} through {} after the write through {} was acknowledged",
            reader.name, writer.name
        );
    }
    let (code, body) = nodes[0].get("/state/k?consistency=sometimes");
    assert_eq!(code, 400, "an unknown consistency is refused: {body}");
}
