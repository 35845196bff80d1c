//! BlockSync scenarios: scripted request/response sequences over a real signed chain, plus a
//! seeded randomized network (own xorshift) checking every height is applied once, in order.

use miniledger_core::hash::ZERO_HASH;
use miniledger_core::protocol::HeightRange;
use miniledger_core::sync::{BlockSync, PeerId, SyncConfig, SyncError, SyncEvent};
use miniledger_core::{Block, Keypair};
use std::sync::OnceLock;

const CHAIN_LEN: u64 = 10_000;

/// `chain()[h]` is the block at height `h`, from genesis to `CHAIN_LEN`.
fn chain() -> &'static [Block] {
    static CHAIN: OnceLock<Vec<Block>> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let proposer = Keypair::from_seed([1; 32]);
        let mut blocks = vec![Block::genesis()];
        for height in 1..=CHAIN_LEN {
            let parent = blocks[height as usize - 1].header();
            let block = Block::build(&parent, height * 1000, vec![], ZERO_HASH.into(), &proposer);
            blocks.push(block);
        }
        blocks
    })
}

fn blocks(from: u64, to: u64) -> Vec<Block> {
    chain()[from as usize..=to as usize].to_vec()
}

fn r(from_height: u64, to_height: u64) -> HeightRange {
    HeightRange {
        from_height,
        to_height,
    }
}

fn req(peer: &str, from: u64, to: u64) -> (PeerId, HeightRange) {
    (peer.to_string(), r(from, to))
}

/// Answers a request in full.
fn serve(sync: &mut BlockSync, peer: &str, range: HeightRange, now: u64) {
    let response = blocks(range.from_height, range.to_height);
    sync.on_response(peer, response, false, now).unwrap();
}

/// Applies every ready run; returns (peer, from, to) per run.
fn drain(sync: &mut BlockSync) -> Vec<(PeerId, u64, u64)> {
    let mut runs = Vec::new();
    while let Some((peer, run)) = sync.next_ready() {
        let (first, last) = (run[0].height, run.last().unwrap().height);
        assert_eq!(first, sync.applied_height() + 1);
        for (block, height) in run.iter().zip(first..) {
            assert_eq!(block, &chain()[height as usize]);
        }
        sync.on_applied(last);
        runs.push((peer, first, last));
    }
    runs
}

fn run(peer: &str, from: u64, to: u64) -> (PeerId, u64, u64) {
    (peer.to_string(), from, to)
}

fn new_sync(local_height: u64) -> BlockSync {
    BlockSync::new(SyncConfig::default(), local_height)
}

#[test]
fn single_peer_syncs_in_batches() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 120);
    assert!(sync.is_syncing());
    assert_eq!(sync.target_height(), 120);
    let sent = sync.poll_requests(0);
    assert_eq!(sent, vec![req("a", 1, 50), req("a", 51, 100)]);
    assert_eq!(sync.poll_requests(0), vec![], "per-peer limit is 2");
    assert_eq!(sync.next_deadline(), Some(10_000));

    serve(&mut sync, "a", r(1, 50), 100);
    assert_eq!(drain(&mut sync), vec![run("a", 1, 50)]);
    assert_eq!(sync.poll_requests(100), vec![req("a", 101, 120)]);
    serve(&mut sync, "a", r(51, 100), 200);
    serve(&mut sync, "a", r(101, 120), 300);
    // Contiguous blocks from one peer come out as one run.
    assert_eq!(drain(&mut sync), vec![run("a", 51, 120)]);
    assert_eq!(sync.applied_height(), 120);
    assert!(!sync.is_syncing());
    assert_eq!(sync.poll_requests(400), vec![]);
    assert_eq!(sync.next_deadline(), None);
    assert_eq!(sync.tick(400), vec![]);
}

#[test]
fn two_peers_interleave_and_out_of_order_responses_come_out_in_order() {
    let mut sync = new_sync(0);
    sync.set_peer_height("b", 200);
    sync.set_peer_height("a", 200);
    let sent = sync.poll_requests(0);
    let expected = [
        ("a", 1, 50),
        ("b", 51, 100),
        ("a", 101, 150),
        ("b", 151, 200),
    ];
    let expected: Vec<_> = expected.iter().map(|&(p, f, t)| req(p, f, t)).collect();
    assert_eq!(sent, expected);

    serve(&mut sync, "b", r(151, 200), 10);
    serve(&mut sync, "a", r(101, 150), 20);
    serve(&mut sync, "b", r(51, 100), 30);
    assert_eq!(sync.next_ready(), None, "height 1 has not arrived");
    assert_eq!(sync.buffered_len(), 150);
    serve(&mut sync, "a", r(1, 50), 40);
    let runs = drain(&mut sync);
    let expected = [
        ("a", 1, 50),
        ("b", 51, 100),
        ("a", 101, 150),
        ("b", 151, 200),
    ];
    let expected: Vec<_> = expected.iter().map(|&(p, f, t)| run(p, f, t)).collect();
    assert_eq!(runs, expected);
    assert_eq!(sync.buffered_len(), 0);
}

#[test]
fn one_run_at_a_time_until_acknowledged() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 100);
    sync.set_peer_height("b", 100);
    for (peer, range) in sync.poll_requests(0) {
        serve(&mut sync, &peer, range, 1);
    }
    // Runs end where the serving peer changes.
    let (peer, first) = sync.next_ready().unwrap();
    assert_eq!((peer.as_str(), first.len()), ("a", 50));
    assert_eq!(sync.next_ready(), None);
    sync.on_applied(30);
    assert_eq!(sync.next_ready(), None, "run partly applied");
    sync.on_applied(50);
    let (peer, second) = sync.next_ready().unwrap();
    assert_eq!(
        (peer.as_str(), second[0].height, second.len()),
        ("b", 51, 50)
    );
}

#[test]
fn timeout_abandons_peer_and_range_goes_to_another() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 100);
    sync.set_peer_height("b", 100);
    assert_eq!(
        sync.poll_requests(0),
        vec![req("a", 1, 50), req("b", 51, 100)]
    );
    serve(&mut sync, "b", r(51, 100), 500);
    assert_eq!(sync.next_deadline(), Some(10_000));
    assert_eq!(sync.tick(9_999), vec![]);

    let events = sync.tick(10_000);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0],
        SyncEvent::PeerTimedOut {
            peer: "a".into(),
            range: r(1, 50)
        }
    );
    assert!(
        matches!(&events[1], SyncEvent::PeerAbandoned { peer, until_ms: 70_000, .. } if peer == "a")
    );
    assert!(sync.is_abandoned("a", 10_000));
    assert_eq!(sync.next_deadline(), Some(70_000));

    assert_eq!(sync.poll_requests(10_000), vec![req("b", 1, 50)]);
    // a's late answer no longer matches anything.
    let late = sync.on_response("a", blocks(1, 50), false, 10_500);
    assert_eq!(late, Err(SyncError::Unsolicited { peer: "a".into() }));
    serve(&mut sync, "b", r(1, 50), 11_000);
    assert_eq!(drain(&mut sync), vec![run("b", 1, 100)]);

    let events = sync.tick(70_000);
    assert_eq!(events, vec![SyncEvent::PeerReinstated { peer: "a".into() }]);
    assert_eq!(sync.next_deadline(), None);
}

#[test]
fn invalid_block_rolls_back_and_refetches_from_other_peer() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 400);
    sync.set_peer_height("b", 400);
    let sent = sync.poll_requests(0);
    let expected = [
        ("a", 1, 50),
        ("b", 51, 100),
        ("a", 101, 150),
        ("b", 151, 200),
    ];
    let expected: Vec<_> = expected.iter().map(|&(p, f, t)| req(p, f, t)).collect();
    assert_eq!(sent, expected);
    for (peer, range) in sent {
        serve(&mut sync, &peer, range, 100);
    }

    // The driver applies 1..=9 from a, then block 10 fails.
    let (peer, run_a) = sync.next_ready().unwrap();
    assert_eq!((peer.as_str(), run_a.len()), ("a", 50));
    sync.on_applied(9);
    sync.on_invalid("a", "bad signature", 1_000);
    assert_eq!(sync.applied_height(), 9);
    assert_eq!(
        sync.buffered_len(),
        100,
        "b's blocks stay, a's 101..=150 dropped"
    );
    assert_eq!(sync.next_ready(), None, "the rest of a's run is gone");
    let events = sync.tick(1_000);
    assert!(
        matches!(&events[..], [SyncEvent::PeerAbandoned { peer, reason, until_ms: 61_000 }]
        if peer == "a" && reason.contains("bad signature"))
    );

    assert_eq!(
        sync.poll_requests(1_000),
        vec![req("b", 10, 50), req("b", 101, 150)]
    );
    serve(&mut sync, "b", r(10, 50), 1_100);
    serve(&mut sync, "b", r(101, 150), 1_200);
    assert_eq!(drain(&mut sync), vec![run("b", 10, 200)]);
    // Window is 1..=200 above height 200: only b, 2 at a time.
    assert_eq!(
        sync.poll_requests(2_000),
        vec![req("b", 201, 250), req("b", 251, 300)]
    );
    assert_eq!(sync.poll_requests(30_000), vec![], "a still abandoned");
    assert_eq!(
        sync.poll_requests(61_000),
        vec![req("a", 301, 350), req("a", 351, 400)]
    );
}

#[test]
fn invalid_report_for_another_peer_keeps_the_pending_run() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 100);
    sync.set_peer_height("b", 100);
    for (peer, range) in sync.poll_requests(0) {
        serve(&mut sync, &peer, range, 1);
    }
    let (peer, _) = sync.next_ready().unwrap();
    assert_eq!(peer, "a");
    sync.on_invalid("b", "bad merkle root", 2);
    assert_eq!(sync.buffered_len(), 0);
    sync.on_applied(50);
    assert_eq!(sync.applied_height(), 50);
    assert_eq!(sync.poll_requests(3), vec![req("a", 51, 100)]);
}

#[test]
fn trimmed_response_tail_is_rerequested() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 100);
    assert_eq!(
        sync.poll_requests(0),
        vec![req("a", 1, 50), req("a", 51, 100)]
    );
    sync.on_response("a", blocks(1, 20), true, 10).unwrap();
    assert_eq!(sync.poll_requests(10), vec![req("a", 21, 50)]);
    // A short answer with hasMore=false still only frees the tail; the height is kept.
    sync.on_response("a", blocks(21, 30), false, 20).unwrap();
    assert_eq!(sync.peer_height("a"), Some(100));
    assert_eq!(sync.poll_requests(20), vec![req("a", 31, 50)]);
    serve(&mut sync, "a", r(31, 50), 30);
    serve(&mut sync, "a", r(51, 100), 40);
    assert_eq!(drain(&mut sync), vec![run("a", 1, 100)]);
}

#[test]
fn empty_response_lowers_peer_height() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 150);
    sync.set_peer_height("b", 40);
    assert_eq!(
        sync.poll_requests(0),
        vec![req("a", 1, 50), req("a", 51, 100)]
    );
    // a answers empty: matched to its highest request, so a lacks 51 and above.
    sync.on_response("a", vec![], false, 10).unwrap();
    assert_eq!(sync.peer_height("a"), Some(50));
    let events = sync.tick(10);
    let lowered = SyncEvent::PeerHeightLowered {
        peer: "a".into(),
        height: 50,
    };
    assert_eq!(events, vec![lowered]);
    assert_eq!(
        sync.poll_requests(10),
        vec![],
        "nobody advertises 51 any more"
    );
    assert_eq!(sync.target_height(), 50);
    serve(&mut sync, "a", r(1, 50), 20);
    assert_eq!(drain(&mut sync), vec![run("a", 1, 50)]);
    assert!(!sync.is_syncing());
    sync.set_peer_height("a", 150); // next PONG
    assert_eq!(
        sync.poll_requests(40),
        vec![req("a", 51, 100), req("a", 101, 150)]
    );
}

#[test]
fn unsolicited_response_is_an_error_without_abandoning() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 100);
    let err = sync.on_response("a", blocks(1, 10), false, 0);
    assert_eq!(err, Err(SyncError::Unsolicited { peer: "a".into() }));
    let err = sync.on_response("z", vec![], false, 0);
    assert_eq!(err, Err(SyncError::Unsolicited { peer: "z".into() }));
    assert!(!sync.is_abandoned("a", 0));
    assert_eq!(sync.buffered_len(), 0);
    // Answered once; a second answer is unsolicited.
    assert_eq!(
        sync.poll_requests(0),
        vec![req("a", 1, 50), req("a", 51, 100)]
    );
    serve(&mut sync, "a", r(1, 50), 1);
    serve(&mut sync, "a", r(51, 100), 1);
    let again = sync.on_response("a", blocks(1, 50), false, 2);
    assert_eq!(again, Err(SyncError::Unsolicited { peer: "a".into() }));
}

#[test]
fn wrong_heights_abandon_the_peer() {
    let cases: [(Vec<Block>, SyncError); 3] = [
        (
            blocks(2, 10),
            SyncError::UnexpectedStart {
                peer: "a".into(),
                height: 2,
            },
        ),
        (
            [blocks(1, 5), blocks(7, 9)].concat(),
            SyncError::NotConsecutive {
                peer: "a".into(),
                expected: 6,
                got: 7,
            },
        ),
        (
            blocks(1, 51),
            SyncError::BeyondRange {
                peer: "a".into(),
                range: r(1, 50),
                height: 51,
            },
        ),
    ];
    for (response, expected) in cases {
        let mut sync = new_sync(0);
        sync.set_peer_height("a", 100);
        sync.set_peer_height("b", 100);
        assert_eq!(
            sync.poll_requests(0),
            vec![req("a", 1, 50), req("b", 51, 100)]
        );
        assert_eq!(sync.on_response("a", response, false, 5), Err(expected));
        assert!(sync.is_abandoned("a", 5));
        assert_eq!(sync.buffered_len(), 0);
        assert_eq!(sync.in_flight(), vec![req("b", 51, 100)]);
        assert_eq!(sync.poll_requests(5), vec![req("b", 1, 50)]);
    }
}

#[test]
fn disconnected_peer_ranges_are_reassigned() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 200);
    sync.set_peer_height("b", 200);
    let sent = sync.poll_requests(0);
    assert_eq!(sent.len(), 4);
    serve(&mut sync, "a", r(1, 50), 10);
    sync.remove_peer("a");
    assert_eq!(
        sync.in_flight(),
        vec![req("b", 51, 100), req("b", 151, 200)]
    );
    assert_eq!(sync.target_height(), 200);
    assert_eq!(sync.poll_requests(20), vec![], "b is at its per-peer limit");
    serve(&mut sync, "b", r(51, 100), 30);
    assert_eq!(sync.poll_requests(30), vec![req("b", 101, 150)]);
    let late = sync.on_response("a", blocks(101, 150), false, 40);
    assert_eq!(late, Err(SyncError::Unsolicited { peer: "a".into() }));
    serve(&mut sync, "b", r(101, 150), 50);
    serve(&mut sync, "b", r(151, 200), 60);
    assert_eq!(drain(&mut sync), vec![run("a", 1, 50), run("b", 51, 200)]);
}

#[test]
fn never_requests_beyond_advertised_heights() {
    let mut sync = new_sync(0);
    sync.set_peer_height("low", 30);
    sync.set_peer_height("high", 70);
    // Highest peer first; "low" has nothing above 30 to offer once 1..=70 are taken.
    assert_eq!(
        sync.poll_requests(0),
        vec![req("high", 1, 50), req("high", 51, 70)]
    );
    assert_eq!(sync.poll_requests(0), vec![]);

    let mut sync = new_sync(0);
    sync.set_peer_height("low", 30);
    assert_eq!(sync.poll_requests(0), vec![req("low", 1, 30)]);
    serve(&mut sync, "low", r(1, 30), 1);
    drain(&mut sync);
    assert_eq!(sync.poll_requests(1), vec![]);
    assert!(!sync.is_syncing());
}

#[test]
fn nothing_requested_when_up_to_date() {
    let mut sync = new_sync(100);
    assert!(!sync.is_syncing());
    assert_eq!(sync.poll_requests(0), vec![]);
    sync.set_peer_height("a", 100);
    sync.set_peer_height("b", 40);
    assert_eq!(sync.target_height(), 100);
    assert!(!sync.is_syncing());
    assert_eq!(sync.poll_requests(0), vec![]);
    assert_eq!(sync.next_deadline(), None);
    assert_eq!(sync.next_ready(), None);
}

#[test]
fn blocks_applied_elsewhere_are_skipped() {
    let mut sync = new_sync(0);
    sync.set_peer_height("a", 150);
    assert_eq!(
        sync.poll_requests(0),
        vec![req("a", 1, 50), req("a", 51, 100)]
    );
    // Meanwhile the node got 1..=70 by announcements.
    sync.on_applied(70);
    serve(&mut sync, "a", r(51, 100), 10);
    assert_eq!(sync.buffered_len(), 30);
    assert_eq!(sync.poll_requests(10), vec![req("a", 101, 150)]);
    serve(&mut sync, "a", r(1, 50), 20);
    assert_eq!(sync.buffered_len(), 30);
    assert_eq!(drain(&mut sync), vec![run("a", 71, 100)]);
}

#[test]
fn window_bounds_requests_and_buffer_for_a_long_chain() {
    let mut sync = new_sync(0);
    for peer in ["a", "b", "c"] {
        sync.set_peer_height(peer, CHAIN_LEN);
    }
    let window = 4 * 50;
    let mut now = 0;
    let mut held: Option<(PeerId, HeightRange)> = None;
    let mut rounds = 0;
    let mut max_buffered = 0;
    while sync.applied_height() < CHAIN_LEN {
        rounds += 1;
        assert!(rounds < 10_000, "no progress");
        now += 100;
        for (_, range) in sync.poll_requests(now) {
            assert!(range.from_height > sync.applied_height());
            assert!(range.to_height <= sync.applied_height() + window);
            assert!(range.to_height - range.from_height < 50);
        }
        // Answer everything except the lowest request, which is held back one round, so
        // the buffer fills up behind it.
        let mut outstanding = sync.in_flight();
        let lowest = outstanding.remove(0);
        for (peer, range) in outstanding.into_iter().rev() {
            serve(&mut sync, &peer, range, now);
        }
        if let Some((peer, range)) = held.take() {
            serve(&mut sync, &peer, range, now);
        } else {
            held = Some(lowest);
        }
        max_buffered = max_buffered.max(sync.buffered_len());
        assert!(sync.buffered_len() <= window as usize);
        drain(&mut sync);
    }
    assert_eq!(
        max_buffered, window as usize,
        "the buffer did fill up to the window"
    );
    assert!(!sync.is_syncing());
}

/// xorshift64*, so the test needs no rand crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Default)]
struct Seen {
    timeouts: u32,
    invalid: u32,
    lowered: u32,
    unsolicited: u32,
}

struct InTransit {
    peer: PeerId,
    blocks: Vec<Block>,
    has_more: bool,
    arrives: u64,
}

/// Three peers advertising height 500 over a lossy, reordering network: latency 0..15 s (so
/// some requests time out and answer late), 10% of requests lost, 20% of responses trimmed;
/// peer "b" really has only 300 blocks (short or empty answers above), and peer "c" sometimes
/// serves a corrupted block. The driver validates by hash and
/// linkage; every height must be applied exactly once, in order.
fn randomized_run(seed: u64, seen: &mut Seen) {
    const TARGET: u64 = 500;
    const B_HAS: u64 = 300;
    let peers = ["a", "b", "c"];
    let mut rng = Rng(seed);
    let mut sync = new_sync(0);
    for peer in peers {
        sync.set_peer_height(peer, TARGET);
    }
    let mut net: Vec<InTransit> = Vec::new();
    let mut applied = vec![chain()[0].clone()];
    let mut now = 0;
    for step in 0.. {
        assert!(
            step < 100_000,
            "seed {seed}: stuck at {}",
            sync.applied_height()
        );
        if sync.applied_height() == TARGET {
            break;
        }
        now += rng.below(3_000);
        if rng.chance(5) {
            // Periodic PONGs restore heights lowered by empty answers.
            for peer in peers {
                sync.set_peer_height(peer, TARGET);
            }
        }
        for event in sync.tick(now) {
            match event {
                SyncEvent::PeerTimedOut { .. } => seen.timeouts += 1,
                SyncEvent::PeerAbandoned { reason, .. } if reason.starts_with("invalid") => {
                    seen.invalid += 1
                }
                SyncEvent::PeerHeightLowered { .. } => seen.lowered += 1,
                _ => {}
            }
        }
        for (peer, range) in sync.poll_requests(now) {
            assert!(range.from_height > sync.applied_height());
            assert!(range.to_height <= sync.window_end());
            if rng.chance(10) {
                continue; // lost
            }
            let mut to = range.to_height;
            if rng.chance(20) {
                to = range.from_height + rng.below(to - range.from_height + 1);
            }
            let mut response = blocks(range.from_height, to);
            // "b" claims 500 but has only 300.
            if peer == "b" {
                response.retain(|block| block.height <= B_HAS);
            }
            if peer == "c" && !response.is_empty() && rng.chance(15) {
                let i = rng.below(response.len() as u64) as usize;
                response[i].timestamp += 1; // hash no longer matches
            }
            let arrives = now + rng.below(15_000);
            let has_more = to < TARGET;
            net.push(InTransit {
                peer,
                blocks: response,
                has_more,
                arrives,
            });
        }
        // Deliver what has arrived, in random order.
        while let Some(i) = (0..net.len()).find(|&i| net[i].arrives <= now) {
            let j = i + rng.below((net.len() - i) as u64) as usize;
            let msg = if net[j].arrives <= now {
                net.swap_remove(j)
            } else {
                net.swap_remove(i)
            };
            match sync.on_response(&msg.peer, msg.blocks, msg.has_more, now) {
                Ok(()) => {}
                Err(SyncError::Unsolicited { .. }) => seen.unsolicited += 1,
                Err(e) => panic!("seed {seed}: honest-shaped response rejected: {e}"),
            }
        }
        while let Some((peer, run)) = sync.next_ready() {
            for block in run {
                let parent = applied.last().unwrap();
                assert_eq!(block.height, parent.height + 1, "seed {seed}: out of order");
                let valid =
                    block.previous_hash == parent.hash && block.compute_hash() == block.hash;
                if !valid {
                    sync.on_applied(parent.height);
                    sync.on_invalid(&peer, "hash mismatch", now);
                    break;
                }
                applied.push(block);
            }
            sync.on_applied(applied.len() as u64 - 1);
        }
    }
    assert_eq!(applied.len() as u64, TARGET + 1);
    for (height, block) in applied.iter().enumerate() {
        assert_eq!(block, &chain()[height], "seed {seed}");
    }
}

#[test]
fn randomized_lossy_network_applies_every_height_once_in_order() {
    let mut seen = Seen::default();
    for seed in 1..=20 {
        randomized_run(0x9e37_79b9_7f4a_7c15 ^ seed, &mut seen);
    }
    // The runs did exercise every recovery path.
    assert!(seen.timeouts > 0, "{seen:?}");
    assert!(seen.invalid > 0, "{seen:?}");
    assert!(seen.lowered > 0, "{seen:?}");
    assert!(seen.unsolicited > 0, "{seen:?}");
}

#[test]
fn several_runs_can_be_outstanding_and_a_bad_one_voids_the_later_ones() {
    let config = SyncConfig {
        max_outstanding_runs: 2,
        ..SyncConfig::default()
    };
    let mut sync = BlockSync::new(config, 0);
    sync.set_peer_height("a", 100);
    sync.set_peer_height("b", 100);
    for (peer, range) in sync.poll_requests(0) {
        serve(&mut sync, &peer, range, 1);
    }
    // Two runs go out before either is applied; a third waits.
    let (p1, first) = sync.next_ready().expect("first run");
    let (p2, second) = sync.next_ready().expect("second run");
    assert_eq!(
        (first[0].height, second[0].height),
        (1, first.len() as u64 + 1)
    );
    assert!(sync.next_ready().is_none(), "at most two outstanding");
    assert_eq!(sync.delivered_height(), second.last().unwrap().height);

    // The first run applies; a block of the second is bad: it and everything after is void.
    sync.on_applied(first.last().unwrap().height);
    sync.on_invalid(&p2, "bad block", 2);
    assert_eq!(sync.delivered_height(), sync.applied_height());
    // The voided heights are requested again from the peer that was not abandoned.
    let again = sync.poll_requests(3);
    let other = if p2 == "a" { "b" } else { "a" };
    assert!(
        again
            .iter()
            .any(|(p, r)| p == other && r.from_height == second[0].height),
        "{again:?}"
    );
    let _ = p1;
}

#[test]
fn runs_are_capped_at_max_run_blocks() {
    let config = SyncConfig {
        batch_size: 10,
        max_in_flight_per_peer: 4,
        max_run_blocks: 10,
        ..SyncConfig::default()
    };
    let mut sync = BlockSync::new(config, 0);
    sync.set_peer_height("a", 100);
    let requests = sync.poll_requests(0);
    assert!(requests.len() >= 2, "{requests:?}");
    for (peer, range) in requests {
        serve(&mut sync, &peer, range, 1);
    }
    // Contiguous blocks from one peer still come out one capped run at a time.
    let runs = drain(&mut sync);
    assert!(runs.len() >= 2, "{runs:?}");
    assert!(runs.iter().all(|(_, from, to)| to - from < 10), "{runs:?}");
    assert_eq!(runs[0].1, 1);
}

/// A light node's first request is one block (`first_batch`), so the first verified block does
/// not wait for a whole batch; every later range is a full batch, and a node that starts
/// partway up the chain asks for one block first too.
#[test]
fn the_first_request_can_be_a_single_block() {
    let config = SyncConfig {
        batch_size: 5,
        first_batch: 1,
        max_in_flight: 4,
        max_in_flight_per_peer: 4,
        ..SyncConfig::default()
    };
    let mut sync = BlockSync::new(config, 0);
    sync.set_peer_height("a", 30);
    // The first range goes alone, the rest once it is applied: responses to later ones,
    // arriving meanwhile, would be parsed before it is verified.
    assert_eq!(sync.poll_requests(0), vec![req("a", 1, 1)]);
    assert_eq!(
        sync.poll_requests(5),
        vec![],
        "nothing more until it is answered"
    );
    serve(&mut sync, "a", r(1, 1), 10);
    assert_eq!(sync.poll_requests(10), vec![], "nor until it is applied");
    let (_, handed) = sync.next_ready().expect("block 1");
    assert_eq!(handed.len(), 1);
    assert_eq!(
        sync.poll_requests(11),
        vec![],
        "with the driver, not yet applied"
    );
    sync.on_applied(1);
    assert_eq!(
        sync.poll_requests(12),
        vec![
            req("a", 2, 6),
            req("a", 7, 11),
            req("a", 12, 16),
            req("a", 17, 21)
        ],
        "full batches after, within the window"
    );

    let mut later = BlockSync::new(config, 20);
    later.set_peer_height("a", 30);
    assert_eq!(later.poll_requests(0), [req("a", 21, 21)]);
    // The default keeps 0.2's batches: no single-block request.
    let mut full = new_sync(0);
    full.set_peer_height("a", 120);
    assert_eq!(full.poll_requests(0)[0], req("a", 1, 50));
}
