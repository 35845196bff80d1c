//! Scripted Raft scenarios: the textbook cases, each driven step by step on the deterministic
//! cluster of `raft_support` (whose safety checks also run after every step).

mod raft_support;

use miniledger_core::protocol::{AppendEntries, Envelope, Message, RequestVote};
use miniledger_core::raft::{Event, ProposeError, Raft, RaftConfig, Restored, Role};
use miniledger_core::{Block, Keypair, PayloadBody, Transaction};
use raft_support::{Cluster, NetConfig, Opts};

fn cluster(validators: usize, learners: usize) -> Cluster {
    let opts = Opts {
        validators,
        learners,
        ..Opts::default()
    };
    Cluster::new(opts, NetConfig::perfect(), 7)
}

/// Node `i` times out and campaigns (retrying if it first only learns a higher term), with
/// messages delivered but no other timer firing. Panics unless it wins.
fn elect(c: &mut Cluster, i: usize) {
    for _ in 0..4 {
        c.elapse(c.opts.election_ms.1 + 1); // every lease has expired
        c.fire_timer(i);
        c.deliver_all();
        if c.nodes[i].role() == Some(Role::Leader) {
            return;
        }
    }
    panic!("node {i} was not elected:\n{}", c.dump());
}

fn sent_by(c: &Cluster, i: usize) -> impl Iterator<Item = &Message> {
    c.sent
        .iter()
        .filter(move |(f, _, _)| *f == i)
        .map(|(_, _, m)| m)
}

#[test]
fn a_partitioned_stale_leader_cannot_commit_and_follows_after_rejoining() {
    let mut c = cluster(3, 0);
    let old = c.await_leader(2_000).expect("leader");
    let h = c.commit_one(2_000).expect("commit");
    let old_term = c.nodes[old].raft().term();

    // Cut the old leader off; the other two elect a new one and keep committing.
    let mut groups = vec![0u8; 3];
    groups[old] = 1;
    c.groups = Some(groups);
    c.propose(old, false).expect("still believes it leads");
    c.run_for(2_000);
    let new = c.leader().expect("the majority elected a leader");
    assert_ne!(new, old);
    assert!(c.nodes[new].raft().term() > old_term);
    assert_eq!(
        c.nodes[old].raft().commit_index(),
        h,
        "no quorum, no commit"
    );
    assert_ne!(c.nodes[old].role(), Some(Role::Leader));
    assert!(
        c.nodes[old]
            .events
            .iter()
            .any(|e| matches!(e, Event::LostQuorum { .. })),
        "check-quorum made it step down"
    );
    let stale_block = c.nodes[old]
        .raft()
        .entry(h + 1)
        .expect("kept")
        .block
        .hash
        .clone();
    let majority_commit = c.commit_one(2_000).expect("majority commits");

    // Rejoin: it follows the new leader, and its uncommitted block is replaced.
    c.groups = None;
    let top = c.commit_one(2_000).expect("commit after heal");
    assert!(top > majority_commit);
    assert_eq!(c.nodes[old].raft().leader(), Some(c.id(new).as_str()));
    assert_eq!(c.nodes[old].raft().term(), c.nodes[new].raft().term());
    assert_ne!(c.nodes[old].disk.chain[h as usize + 1].0.hash, stale_block);
}

#[test]
fn a_stale_leader_steps_down_when_it_hears_the_new_term() {
    let mut c = cluster(3, 0);
    c.record = true;
    elect(&mut c, 0);
    // Node 0 is cut off while 1 and 2 elect 1; no timer of 0 fires, so it still thinks it leads.
    c.groups = Some(vec![0, 1, 1]);
    elect(&mut c, 1);
    assert_eq!(c.nodes[0].role(), Some(Role::Leader));
    let new_term = c.nodes[1].raft().term();
    // It rejoins before its check-quorum could notice: its next heartbeat is answered with the
    // new term, and it steps down at once.
    c.groups = None;
    c.fire_timer(0);
    c.deliver_all();
    assert_eq!(c.nodes[0].role(), Some(Role::Follower));
    assert_eq!(c.nodes[0].raft().term(), new_term);
    assert!(c.nodes[0]
        .events
        .iter()
        .all(|e| !matches!(e, Event::LostQuorum { .. })));
}

#[test]
fn a_split_vote_resolves_in_a_later_term() {
    let mut c = cluster(3, 0);
    c.crash(2);
    // Both remaining nodes time out together: each pre-vote passes, each votes for itself.
    c.elapse(400);
    c.fire_timer(0);
    c.fire_timer(1);
    c.deliver_all();
    for i in [0, 1] {
        assert_eq!(c.nodes[i].role(), Some(Role::Candidate), "{}", c.dump());
        assert_eq!(c.nodes[i].raft().term(), 1);
    }
    assert!(c.leaders().is_empty(), "nobody has two votes in term 1");
    // Randomized timeouts break the tie.
    let leader = c.await_leader(3_000).expect("leader");
    assert!(c.nodes[leader].raft().term() >= 2);
    c.commit_one(2_000).expect("commit with two of three");
}

#[test]
fn log_conflicts_after_a_partition_are_overwritten_by_the_new_leader() {
    let mut c = cluster(5, 0);
    elect(&mut c, 0);
    let h = c.commit_one(2_000).expect("commit");
    // Old leader 0 with 1 on one side, 2, 3, 4 on the other.
    c.groups = Some(vec![0, 0, 1, 1, 1]);
    for _ in 0..3 {
        c.propose(0, false).expect("proposes");
    }
    c.deliver_all();
    assert_eq!(c.nodes[1].raft().entries().last().unwrap().index, h + 3);
    let uncommitted = c.nodes[1].raft().entry(h + 1).unwrap().block.hash.clone();
    elect(&mut c, 2);
    for _ in 0..2 {
        c.propose(2, false).expect("new leader proposes");
    }
    c.deliver_all();
    assert_eq!(c.nodes[2].raft().commit_index(), h + 2);

    c.groups = None;
    let truncations = c.checker.truncations;
    let top = c.commit_one(3_000).expect("commit after heal");
    assert!(
        c.checker.truncations > truncations,
        "0 and 1 dropped their tails"
    );
    for node in &c.nodes {
        assert_eq!(node.height(), top);
        assert_ne!(node.disk.chain[h as usize + 1].0.hash, uncommitted);
        assert_eq!(
            node.disk.chain[top as usize].0.hash,
            c.nodes[2].disk.chain[top as usize].0.hash
        );
    }
}

#[test]
fn a_vote_survives_a_crash_mid_election() {
    let mut c = cluster(3, 0);
    c.record = true;
    c.crash(2);
    // Node 1 will crash after persisting its vote, before the reply goes out.
    c.nodes[1].crash_with_hard_state = Some(2);
    c.elapse(400);
    c.fire_timer(0);
    c.deliver_all();
    assert!(!c.nodes[1].is_up(), "crashed while granting: {}", c.dump());
    assert_eq!(
        c.nodes[0].role(),
        Some(Role::Candidate),
        "the grant never arrived"
    );
    assert!(!sent_by(&c, 1).any(|m| matches!(m, Message::RequestVoteReply(r) if !r.pre_vote)));
    c.start(1);
    let status = c.nodes[1].raft().status();
    assert_eq!(status.term, 1);
    assert_eq!(status.voted_for.as_deref(), Some(c.id(0).as_str()));

    // Another candidate of term 1 asks it: refused.
    let id2 = c.id(2);
    let before = c.sent.len();
    let request = Message::RequestVote(RequestVote {
        term: 1,
        candidate_id: id2.clone(),
        last_log_index: 0,
        last_log_term: 0,
        pre_vote: false,
    });
    c.start(2);
    c.deliver(2, 1, &request);
    let reply = c.sent[before..]
        .iter()
        .find_map(|(f, _, m)| match m {
            Message::RequestVoteReply(r) if *f == 1 => Some(r.clone()),
            _ => None,
        })
        .expect("a reply");
    assert!(!reply.vote_granted);
    // 0 still wins term 1 or a later one with 1's vote (1 votes for 0 again in term 1).
    let leader = c.await_leader(3_000).expect("leader");
    assert!(c.nodes[leader].raft().term() >= 1);
}

#[test]
fn pre_vote_keeps_a_rejoining_node_from_disrupting_the_cluster() {
    let mut c = cluster(3, 0);
    let leader = c.await_leader(2_000).expect("leader");
    c.commit_one(2_000).expect("commit");
    let term = c.nodes[leader].raft().term();
    let loner = (leader + 1) % 3;
    let mut groups = vec![0u8; 3];
    groups[loner] = 1;
    c.groups = Some(groups);
    c.run_for(5_000); // many election timeouts alone
    assert_eq!(
        c.nodes[loner].raft().term(),
        term,
        "pre-votes never bump the term"
    );
    c.groups = None;
    c.run_for(2_000);
    assert_eq!(c.leader(), Some(leader), "the same leader");
    assert_eq!(c.nodes[leader].raft().term(), term, "in the same term");
    c.commit_one(2_000).expect("commit");
    assert_eq!(c.nodes[loner].raft().term(), term);
}

#[test]
fn a_node_that_cannot_hear_the_leader_cannot_depose_it() {
    let mut c = cluster(3, 0);
    let leader = c.await_leader(2_000).expect("leader");
    c.commit_one(2_000).expect("commit");
    let term = c.nodes[leader].raft().term();
    // One-way fault: the leader's messages to node `deaf` are lost; everything else works.
    let deaf = (leader + 1) % 3;
    c.cut.insert((leader, deaf));
    c.run_for(3_000);
    assert!(
        c.nodes[deaf].events.iter().any(|e| matches!(
            e,
            Event::RoleChanged {
                role: Role::PreCandidate,
                ..
            }
        )),
        "it kept asking"
    );
    // The other two heard the leader recently (the lease), so they refused.
    assert_eq!(c.leader(), Some(leader));
    assert_eq!(c.nodes[leader].raft().term(), term);
}

#[test]
fn messages_from_non_validators_are_ignored() {
    let mut c = cluster(3, 0);
    c.record = true;
    let leader = c.await_leader(2_000).expect("leader");
    c.commit_one(2_000).expect("commit");
    let term = c.nodes[leader].raft().term();
    let stray = Keypair::from_seed([9; 32]);
    let stray_id = stray.node_id().to_string();
    let sent_before = c.sent.len();
    let vote = Message::RequestVote(RequestVote {
        term: 100,
        candidate_id: stray_id.clone(),
        last_log_index: 1_000,
        last_log_term: 99,
        pre_vote: false,
    });
    let append = Message::AppendEntries(AppendEntries {
        term: 100,
        leader_id: stray_id.clone(),
        prev_log_index: 0,
        prev_log_term: 0,
        entries: Vec::new(),
        leader_commit: 0,
        first_index: None,
        ..AppendEntries::default()
    });
    for i in 0..3 {
        c.deliver_from_outsider(&stray_id, i, &vote);
        c.deliver_from_outsider(&stray_id, i, &append);
        assert_eq!(c.nodes[i].raft().term(), term);
    }
    assert!(
        c.sent[sent_before..]
            .iter()
            .all(|(_, to, _)| c.nodes.get(*to).is_some()),
        "nothing is sent to the stray node"
    );
    assert_eq!(c.leader(), Some(leader));
    c.commit_one(2_000).expect("the cluster carries on");
}

#[test]
fn a_learner_receives_committed_blocks_acknowledges_and_never_votes() {
    let mut c = cluster(3, 1);
    c.record = true;
    let leader = c.await_leader(2_000).expect("leader");
    let mut top = 0;
    for _ in 0..5 {
        top = c.commit_one(2_000).expect("commit");
    }
    let learner = 3;
    assert_eq!(c.nodes[learner].role(), Some(Role::Learner));
    assert_eq!(c.nodes[learner].height(), top);
    let progress = c.nodes[leader].raft().status().progress;
    let tracked = progress
        .iter()
        .find(|p| p.node_id == c.id(learner))
        .expect("the leader tracks its learner");
    assert!(!tracked.voter);
    assert_eq!(tracked.match_index, top);
    assert!(sent_by(&c, learner).any(|m| matches!(m, Message::AppendEntriesReply(r) if r.success)));

    // With every validator gone, the learner waits: no campaign, no term change.
    let term = c.nodes[learner].raft().term();
    for i in 0..3 {
        c.crash(i);
    }
    c.run_for(3_000);
    assert_eq!(c.nodes[learner].role(), Some(Role::Learner));
    assert_eq!(c.nodes[learner].raft().term(), term);
    assert!(!sent_by(&c, learner)
        .any(|m| matches!(m, Message::RequestVote(_) | Message::RequestVoteReply(_))));
}

#[test]
fn an_invalid_block_from_the_leader_is_not_followed() {
    let mut c = cluster(3, 0);
    let faulty = c.await_leader(2_000).expect("leader");
    let h = c.commit_one(2_000).expect("commit");
    let term = c.nodes[faulty].raft().term();
    let bad = c
        .propose(faulty, false)
        .and_then(|_| c.propose(faulty, true))
        .expect("proposed");
    c.run_for(3_000);
    for i in 0..3 {
        assert!(
            c.nodes[i].height() < bad,
            "node {i} applied the invalid block"
        );
    }
    assert!(c.checker.rejected_entries >= 2, "both followers refused it");
    let rejected = c.nodes[(faulty + 1) % 3].events.iter().any(|e| {
        matches!(e, Event::EntryRejected { index, reason, .. } if *index == bad && reason.contains("state-root"))
    });
    assert!(rejected);
    // The followers stopped treating it as a live leader and elected another one.
    let later = c
        .checker
        .leaders
        .range(term + 1..)
        .any(|(_, &l)| l != faulty);
    assert!(later, "a new leader was elected: {:?}", c.checker.leaders);
    let top = c.commit_one(3_000).expect("the cluster carries on");
    assert!(top > h);
    for i in 0..3 {
        assert!(c.holds(i, top, &c.nodes[0].disk.chain[top as usize].0.hash.clone()));
    }
}

#[test]
fn append_entries_batches_respect_the_frame_cap() {
    // Room for about three empty blocks per message.
    let opts = Opts {
        max_message_bytes: 2_400,
        ..Opts::default()
    };
    let mut c = Cluster::new(opts, NetConfig::perfect(), 3);
    c.record = true;
    let leader = c.await_leader(2_000).expect("leader");
    let lagging = (leader + 1) % 3;
    c.crash(lagging);
    for _ in 0..12 {
        c.propose(leader, false).expect("proposed");
        c.run_for(20);
    }
    c.start(lagging);
    let top = c.commit_one(3_000).expect("commit");
    assert_eq!(c.nodes[lagging].height(), top);
    let mut batch_sizes = Vec::new();
    for (from, _, m) in &c.sent {
        if let Message::AppendEntries(ae) = m {
            let frame = Envelope::new(c.id(*from), u64::MAX, m.clone()).encode();
            assert!(frame.len() <= 2_400, "frame of {} bytes", frame.len());
            batch_sizes.push(ae.entries.len());
        }
    }
    assert!(
        batch_sizes.iter().any(|&n| n > 1),
        "batches carry several entries"
    );
    assert!(batch_sizes.iter().all(|&n| n <= 3), "and are cut to fit");

    // A block that cannot fit even alone is refused up front.
    let key = Keypair::from_seed([1; 32]);
    let mut config = RaftConfig::new(key.public_hex(), vec![key.public_hex().to_string()]);
    config.election_timeout_min_ms = 150;
    config.election_timeout_max_ms = 300;
    config.heartbeat_ms = 50;
    config.max_message_bytes = 2_400;
    let mut raft = Raft::new(config, Restored::fresh(), 1).unwrap();
    raft.tick(0);
    raft.tick(1_000);
    assert_eq!(
        raft.role(),
        Role::Leader,
        "a single validator elects itself"
    );
    let body = PayloadBody::state_set("k", &format!("\"{}\"", "x".repeat(3_000))).unwrap();
    let tx = Transaction::new_signed(&key, 0, 1_000, body);
    let parent = raft.last_entry().header;
    let block = Block::build(&parent, 1_000, vec![tx], "0".repeat(64), &key);
    assert!(matches!(
        raft.propose(block, 1_000),
        Err(ProposeError::TooLarge { .. })
    ));
}

#[test]
fn a_far_behind_follower_is_told_to_sync_then_rejoins_replication() {
    let opts = Opts {
        retained: 2,
        ..Opts::default()
    };
    let mut c = Cluster::new(opts, NetConfig::perfect(), 5);
    c.record = true;
    let leader = c.await_leader(2_000).expect("leader");
    let lagging = (leader + 1) % 3;
    c.crash(lagging);
    for _ in 0..20 {
        c.commit_one(2_000).expect("commit");
    }
    let held = c.nodes[leader].raft().entries();
    assert!(
        held[0].index > 2,
        "the leader no longer holds the early blocks"
    );
    assert!(
        held.len() <= 3,
        "memory is bounded by the retained window (2, drained at 3)"
    );
    c.start(lagging);
    let top = c.commit_one(3_000).expect("commit");
    assert!(c.checker.syncs >= 1, "caught up through BlockSync");
    assert!(c.sent.iter().any(|(f, t, m)| *f == leader
        && *t == lagging
        && matches!(m, Message::AppendEntries(ae) if ae.first_index.is_some() && ae.entries.is_empty())));
    assert_eq!(c.nodes[lagging].height(), top);
    c.run_for(200); // a heartbeat at the synced tip tells the follower that block's term
    assert!(
        c.nodes[lagging].raft().status().last_term.is_some(),
        "term learned again"
    );
    let progress = c.nodes[leader].raft().status().progress;
    let p = progress
        .iter()
        .find(|p| p.node_id == c.id(lagging))
        .unwrap();
    assert_eq!((p.state, p.match_index), ("replicate", top));
}

/// A follower that caught up through BlockSync, whose leader dies before telling it the synced
/// tip's term: with the term served alongside the blocks (SYNC_RESPONSE `terms` from an
/// authenticated validator) it votes and campaigns, and the two survivors elect a leader;
/// without it (a 0.2 responder) it still refuses both, and no one is elected.
fn leader_dies_right_after_a_sync(sync_terms: bool) -> (Cluster, usize, usize) {
    let opts = Opts {
        retained: 2,
        ..Opts::default()
    };
    let mut c = Cluster::new(opts, NetConfig::perfect(), 11);
    c.sync_terms = sync_terms;
    let leader = c.await_leader(2_000).expect("leader");
    let lagging = (leader + 1) % 3;
    c.crash(lagging);
    for _ in 0..20 {
        c.commit_one(2_000).expect("commit");
    }
    c.start(lagging);
    let deadline = c.now + 3_000;
    while c.checker.syncs == 0 && c.now < deadline {
        c.run_for(1);
    }
    assert!(c.checker.syncs >= 1, "caught up through BlockSync");
    // Before any AppendEntries could tell it the term (network delay ≥ 1 ms), the leader dies.
    c.crash(leader);
    c.drop_in_flight();
    assert_eq!(
        c.nodes[lagging].height(),
        c.nodes[leader].height(),
        "synced to the leader's tip"
    );
    (c, leader, lagging)
}

#[test]
fn a_node_synced_with_its_tips_term_votes_and_campaigns_after_the_leader_dies() {
    let (mut c, old, lagging) = leader_dies_right_after_a_sync(true);
    let tip_term = c.nodes[old].disk.chain.last().unwrap().1;
    assert!(tip_term.is_some());
    assert_eq!(
        c.nodes[lagging].raft().status().last_term,
        tip_term,
        "the synced tip's term came with the blocks"
    );
    let new = c
        .await_leader(3_000)
        .expect("the two survivors elect a leader");
    assert_ne!(new, old);
    c.commit_one(3_000).expect("the new leader commits");
}

#[test]
fn a_node_synced_without_terms_still_neither_votes_nor_campaigns() {
    let (mut c, _, lagging) = leader_dies_right_after_a_sync(false);
    assert_eq!(c.nodes[lagging].raft().status().last_term, None);
    assert_eq!(c.await_leader(3_000), None, "one vote short: no leader");
    assert!(c.nodes[lagging]
        .events
        .iter()
        .any(|e| matches!(e, Event::LastTermUnknown { .. })));
}

/// Raft paper, Figure 8: a leader must not count replicas of an entry from an earlier term
/// toward commitment, or a later leader may overwrite it.
#[test]
fn entries_of_earlier_terms_commit_only_through_a_current_term_entry() {
    let mut c = cluster(5, 0);
    c.eager_blocks = false;
    elect(&mut c, 0);
    let base = c.commit_one(2_000).expect("commit");
    // (a) Leader 0 (term t) replicates block e at base+1 to node 1 only, then crashes.
    for to in [2, 3, 4] {
        c.cut.insert((0, to));
    }
    c.propose(0, false).unwrap();
    c.deliver_all();
    let i = base + 1;
    let e = c.nodes[0].raft().entry(i).unwrap().clone();
    assert_eq!(c.nodes[1].raft().entry(i), Some(&e));
    c.crash(0);
    c.cut.clear();
    // (b) Node 4 wins term t+1 with 2 and 3, appends its own block at i, and crashes unheard.
    elect(&mut c, 4);
    for to in 0..4 {
        c.cut.insert((4, to));
    }
    c.propose(4, false).unwrap();
    let e4 = c.nodes[4].raft().entry(i).unwrap().clone();
    assert!(e4.term > e.term);
    c.crash(4);
    c.cut.clear();
    // (c) Node 0 returns and wins a later term; it replicates e to a majority...
    c.start(0);
    elect(&mut c, 0);
    let holders = (0..4)
        .filter(|&n| c.nodes[n].raft().entry(i) == Some(&e))
        .count();
    assert!(holders >= 3, "e is on a majority: {}", c.dump());
    // ...but must not commit it: e is not of its term.
    assert_eq!(c.nodes[0].raft().commit_index(), base);
    // (d) Node 0 crashes; node 4 (whose last term is higher) can win and overwrite e.
    c.crash(0);
    c.start(4);
    elect(&mut c, 4);
    c.start(0);
    let top = c.commit_one(3_000).expect("commit");
    for n in 0..5 {
        assert_eq!(c.nodes[n].disk.chain[i as usize].0.hash, e4.block.hash);
        assert_eq!(c.nodes[n].height(), top);
    }
}

#[test]
fn optional_wire_fields_are_omitted_unless_set() {
    let mut vote = RequestVote {
        term: 2,
        candidate_id: "37fd8866759e69c3".into(),
        last_log_index: 5,
        last_log_term: 1,
        pre_vote: false,
    };
    let plain = Envelope::new("37fd8866759e69c3", 1, Message::RequestVote(vote.clone())).encode();
    assert!(!plain.contains("preVote"));
    vote.pre_vote = true;
    let pre = Envelope::new("37fd8866759e69c3", 1, Message::RequestVote(vote.clone())).encode();
    assert!(pre.contains("\"preVote\":true"));
    assert_eq!(
        Envelope::decode(&pre).unwrap().message,
        Message::RequestVote(vote)
    );
}

#[test]
fn bogus_consensus_messages_are_screened_and_honest_ones_pass() {
    let mut c = cluster(3, 1);
    c.record = true;
    let leader = c.await_leader(2_000).expect("leader");
    c.commit_one(2_000).expect("commit");
    let leader_id = c.id(leader);
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let learner_id = c.id(3);
    // A real AppendEntries with an entry, as the leader sent it.
    let real = c
        .sent
        .iter()
        .find_map(|(from, _, m)| match m {
            Message::AppendEntries(ae) if *from == leader && !ae.entries.is_empty() => {
                Some(ae.clone())
            }
            _ => None,
        })
        .expect("an AppendEntries with entries");
    let raft = c.nodes[follower].raft();
    let ok = |from: &str, authenticated, m: &AppendEntries| {
        raft.screen(from, authenticated, &Message::AppendEntries(m.clone()))
    };
    assert_eq!(ok(&leader_id, true, &real), Ok(()));
    let err = |r: Result<(), String>, what: &str| {
        let why = r.expect_err(what);
        assert!(why.contains(what), "{why}");
    };
    err(ok(&leader_id, false, &real), "unauthenticated");
    err(ok(&learner_id, true, &real), "non-validator");
    let other = c.id(3 - leader - follower);
    err(ok(&other, true, &real), "is not the sender");
    let mut m = real.clone();
    m.entries[0].index += 1;
    err(ok(&leader_id, true, &m), "expected");
    let mut m = real.clone();
    m.entries[0].term = m.term + 1;
    err(ok(&leader_id, true, &m), "leader's term");
    let mut m = real.clone();
    m.prev_log_term = m.term + 5;
    err(ok(&leader_id, true, &m), "prevLogTerm");
    let vote = |candidate: &str, term, last_log_term| {
        Message::RequestVote(RequestVote {
            term,
            candidate_id: candidate.into(),
            last_log_index: 1,
            last_log_term,
            pre_vote: false,
        })
    };
    assert_eq!(
        raft.screen(&leader_id, true, &vote(&leader_id, 9, 1)),
        Ok(())
    );
    err(
        raft.screen(&leader_id, true, &vote(&other, 9, 1)),
        "is not the sender",
    );
    err(
        raft.screen(&leader_id, true, &vote(&leader_id, 9, 10)),
        "above its term",
    );
    // A learner's acknowledgement counts for nothing: it may come unauthenticated (a 0.2 observer).
    let reply = Message::AppendEntriesReply(miniledger_core::protocol::AppendEntriesReply {
        term: 1,
        success: true,
        match_index: 1,
        ..Default::default()
    });
    let leader_raft = c.nodes[leader].raft();
    assert_eq!(leader_raft.screen(&learner_id, false, &reply), Ok(()));
    err(
        leader_raft.screen(&leader_id, false, &reply),
        "unauthenticated",
    );
    err(
        leader_raft.screen("0123456789abcdef", true, &reply),
        "neither a validator nor a learner",
    );
}

#[test]
fn only_nodes_the_leader_does_not_reach_chase_their_peers_chains() {
    let mut c = cluster(3, 1);
    let leader = c.await_leader(2_000).expect("leader");
    c.commit_one(2_000).expect("commit");
    let now = c.now;
    for i in 0..4 {
        assert!(
            !c.nodes[i].raft().chases_peers(now),
            "node {i}: the leader, or reached by it"
        );
    }
    // The leader's messages to a validator and to the learner are lost from now on.
    let deaf = (leader + 1) % 3;
    let learner = 3;
    c.cut.insert((leader, deaf));
    c.cut.insert((leader, learner));
    c.run_for(c.opts.election_ms.1 + 500);
    let now = c.now;
    assert!(c.nodes[deaf].raft().chases_peers(now), "cut-off validator");
    assert!(c.nodes[learner].raft().chases_peers(now), "cut-off learner");
    assert!(!c.nodes[leader].raft().chases_peers(now));
    let heard = 3 - leader - deaf;
    assert!(!c.nodes[heard].raft().chases_peers(now));
    // Heard again: back to following the log.
    c.cut.clear();
    c.run_for(1_000);
    let now = c.now;
    assert!((0..4).all(|i| !c.nodes[i].raft().chases_peers(now)));
}

/// A MiniLedger 0.2 validator counts every connected node as a voter; with `learners_vote`
/// (compat mode) our learner answers its vote request by the usual rules, persisting the vote.
/// Without it, the learner stays silent.
#[test]
fn a_learner_votes_for_a_validator_only_when_learners_vote() {
    let validator = Keypair::from_seed([2; 32]);
    let learner = Keypair::from_seed([3; 32]);
    let request = Message::RequestVote(RequestVote {
        term: 1,
        candidate_id: validator.node_id().to_string(),
        last_log_index: 0,
        last_log_term: 0,
        pre_vote: false,
    });
    for learners_vote in [false, true] {
        let mut config = RaftConfig::new(
            learner.public_hex(),
            vec![validator.public_hex().to_string()],
        );
        config.learners_vote = learners_vote;
        let mut raft = Raft::new(config, Restored::fresh(), 1).unwrap();
        let mut no_entries = |_: &[_], _: &_| Ok(());
        raft.step(validator.node_id(), &request, 10, &mut no_entries);
        let replies: Vec<(String, Message)> = match raft.has_ready() {
            true => raft.ready().messages,
            false => Vec::new(),
        };
        let granted = replies.iter().any(|(to, m)| {
            to == validator.node_id()
                && matches!(m, Message::RequestVoteReply(r) if r.vote_granted && r.term == 1)
        });
        assert_eq!(
            granted, learners_vote,
            "learners_vote {learners_vote}: {replies:?}"
        );
        assert_eq!(raft.role(), Role::Learner);
    }
}

#[test]
fn a_deposed_leader_that_does_not_know_it_serves_no_linearizable_read() {
    let mut c = cluster(3, 0);
    let old = c.await_leader(2_000).expect("leader");
    let h = c.commit_one(2_000).expect("commit");

    // Cut the old leader off before any of its timers fires: it still believes it leads.
    let mut groups = vec![0u8; 3];
    groups[old] = 1;
    c.groups = Some(groups);
    let new = (old + 1) % 3;
    elect(&mut c, new);
    c.propose(new, false).expect("the new leader proposes");
    c.deliver_all();
    assert!(c.max_committed() > h, "the majority committed a block");
    assert_eq!(c.nodes[old].role(), Some(Role::Leader), "not yet told");

    // Its commit index is stale: answering from it would miss a committed write. The checker
    // (raft_support::check_read) fails the test if it does.
    let refused = c.checker.reads_refused;
    let read = c.read(old).expect("up");
    c.deliver_all();
    assert!(
        !c.checker.served.contains(&(old, read)),
        "no quorum confirmed it"
    );

    // Healed: it hears the new term, steps down and refuses the read; a read through any node
    // now covers the new block.
    c.groups = None;
    c.run_for(1_000);
    assert_eq!(c.checker.reads_refused, refused + 1, "refused, not served");
    let follower = c.read(old).expect("up");
    let leader = c.read(new).expect("up");
    c.run_for(1_000);
    assert!(c.checker.served.contains(&(old, follower)));
    assert!(c.checker.served.contains(&(new, leader)));
}

#[test]
fn a_fresh_leader_commits_an_entry_of_its_term_before_serving_reads() {
    let mut c = cluster(3, 0);
    c.eager_blocks = false; // the leader proposes only when the test says so
    let leader = c.await_leader(2_000).expect("leader");
    c.commit_one(2_000).expect("commit");
    let next = (leader + 1) % 3;
    c.crash(leader);
    elect(&mut c, next);
    let read = c.read(next).expect("up");
    c.run_for(500);
    assert!(
        !c.checker.served.contains(&(next, read)),
        "no entry of its term yet"
    );
    assert!(
        c.nodes[next].raft().status().role == Role::Leader,
        "still leads"
    );
    c.propose(next, false).expect("proposes");
    c.run_for(500);
    assert!(
        c.checker.served.contains(&(next, read)),
        "served once it committed"
    );
}

// Membership change, one server at a time (dissertation §4.1–4.2). Change entries are blocks
// whose state root marks them (`raft_support::change_root`).

fn committed_config(c: &Cluster, i: usize) -> Vec<usize> {
    let mut nodes: Vec<usize> = c.nodes[i]
        .raft()
        .committed_validators()
        .iter()
        .map(|k| c.keys.iter().position(|x| x == k).expect("known key"))
        .collect();
    nodes.sort();
    nodes
}

fn config_events(c: &Cluster, i: usize) -> Vec<(usize, bool)> {
    c.nodes[i]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ConfigChanged {
                validators,
                committed,
                ..
            } => Some((validators.len(), *committed)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_added_validator_is_in_force_once_appended_and_counts_toward_quorum() {
    let mut c = cluster(3, 1);
    elect(&mut c, 0);
    c.commit_one(2_000).expect("commit");
    let h = c
        .propose_change(0, true, 3)
        .expect("learner 3 is caught up");
    assert_eq!(
        c.config_of(0),
        vec![0, 1, 2, 3],
        "in force on the leader at once"
    );
    assert_eq!(committed_config(&c, 0), vec![0, 1, 2], "not committed yet");
    assert_eq!(c.nodes[3].role(), Some(Role::Learner));
    c.run_for(200); // the commit index reaches everyone with the next heartbeat
    for i in 0..4 {
        assert_eq!(c.nodes[i].height(), h, "node {i} applied the change");
        assert_eq!(committed_config(&c, i), vec![0, 1, 2, 3]);
    }
    assert_eq!(c.nodes[3].role(), Some(Role::Follower));
    assert!(config_events(&c, 3).contains(&(4, false)));
    assert!(config_events(&c, 3).contains(&(4, true)));
    let voter = |c: &Cluster, i: usize| {
        let progress = c.nodes[0].raft().status().progress;
        progress
            .iter()
            .find(|p| p.node_id == c.id(i))
            .unwrap()
            .voter
    };
    assert!(voter(&c, 3));

    // Four validators: a quorum is three. With 2 down, the leader commits with 1 and 3 only,
    // so 3 counts; with 3 down as well, nothing commits.
    c.crash(2);
    c.commit_one(2_000).expect("leader, 1 and the new 3");
    c.crash(3);
    c.propose(0, false).expect("still leads");
    let commit = c.nodes[0].raft().commit_index();
    c.deliver_all();
    assert_eq!(
        c.nodes[0].raft().commit_index(),
        commit,
        "2 of 4 is no quorum"
    );
}

#[test]
fn a_new_validator_first_catches_up_as_a_learner() {
    let mut c = cluster(3, 1);
    c.crash(3);
    elect(&mut c, 0);
    for _ in 0..5 {
        c.commit_one(2_000).expect("commit");
    }
    let commit = c.nodes[0].raft().commit_index();
    assert_eq!(
        c.propose_change(0, true, 3),
        Err(ProposeError::NotCaughtUp {
            node_id: c.id(3),
            match_index: 0,
            commit
        }),
        "not added while it lags"
    );
    assert_eq!(c.config_of(0), vec![0, 1, 2]);
    c.start(3);
    c.run_for(300);
    let progress = c.nodes[0].raft().status().progress;
    let learner = progress.iter().find(|p| p.node_id == c.id(3)).unwrap();
    assert!(!learner.voter, "followed as a learner");
    assert_eq!(
        learner.match_index, commit,
        "the leader tracked its catch-up"
    );
    assert_eq!(c.nodes[3].height(), commit);
    let h = c.propose_change(0, true, 3).expect("caught up now");
    c.run_for(300);
    assert_eq!(c.nodes[3].height(), h);
    assert_eq!(c.nodes[3].role(), Some(Role::Follower));
    // It votes and campaigns now: with the old leader gone it can be elected.
    c.crash(0);
    elect(&mut c, 3);
    c.commit_one(2_000).expect("new leader 3 commits");
}

#[test]
fn a_removed_follower_becomes_a_learner_and_no_longer_counts() {
    let mut c = cluster(3, 0);
    elect(&mut c, 0);
    c.commit_one(2_000).expect("commit");
    let h = c.propose_change(0, false, 2).expect("remove 2");
    c.deliver_all();
    for i in 0..3 {
        assert_eq!(committed_config(&c, i), vec![0, 1]);
    }
    assert_eq!(c.nodes[2].role(), Some(Role::Learner));
    // Still followed as a learner: it applies the next block.
    let top = c.commit_one(2_000).expect("commit");
    assert!(top > h);
    assert_eq!(c.nodes[2].height(), top);
    // Its acknowledgements do not count: without 1, nothing commits.
    c.crash(1);
    c.propose(0, false).expect("leads");
    c.deliver_all();
    assert_eq!(c.nodes[0].raft().commit_index(), top);
    assert!(c.nodes[2].raft().entry(top + 1).is_some(), "2 got it");
}

#[test]
fn a_leader_that_removes_itself_leads_until_the_change_commits_then_steps_down() {
    let mut c = cluster(3, 0);
    elect(&mut c, 0);
    c.commit_one(2_000).expect("commit");
    let h = c.propose_change(0, false, 0).expect("remove the leader");
    assert_eq!(c.config_of(0), vec![1, 2]);
    assert_eq!(c.nodes[0].role(), Some(Role::Leader), "still leads");
    // More blocks may follow in the same term before the change commits.
    c.propose(0, false)
        .expect("a leader not in its configuration still proposes");
    // Nodes 1 and 2 take the entries (the leader is still in their committed configuration),
    // and the change commits on their acknowledgements alone.
    c.deliver_all();
    assert!(c.nodes[0].raft().commit_index() >= h);
    assert_eq!(committed_config(&c, 0), vec![1, 2]);
    assert_eq!(
        c.nodes[0].role(),
        Some(Role::Learner),
        "stepped down once committed"
    );
    assert!(c.leaders().is_empty());
    let new = c.await_leader(2_000).expect("1 or 2 is elected");
    assert_ne!(new, 0);
    let top = c.commit_one(2_000).expect("commit");
    assert_eq!(
        c.nodes[0].height(),
        top,
        "the old leader follows as a learner"
    );
    assert_eq!(c.nodes[0].role(), Some(Role::Learner));
}

#[test]
fn a_removed_server_that_misses_its_removal_cannot_disrupt_the_cluster() {
    let mut c = cluster(3, 0);
    c.record = true;
    elect(&mut c, 0);
    c.commit_one(2_000).expect("commit");
    // 2 hears nothing from now on (§4.2.3: it misses its removal, then the heartbeats)...
    for from in [0, 1] {
        c.cut.insert((from, 2));
    }
    let h = c.propose_change(0, false, 2).expect("remove 2");
    c.run_for(200);
    assert_eq!(c.nodes[0].raft().commit_index(), h);
    assert_eq!(c.config_of(2), vec![0, 1, 2], "2 does not know");
    let term = c.nodes[0].raft().term();
    // ...times out again and again, and asks the others for votes, which they ignore.
    c.run_for(3_000);
    let asked = c.sent.iter().any(|(f, to, m)| {
        *f == 2 && *to != 2 && matches!(m, Message::RequestVote(r) if r.pre_vote)
    });
    assert!(asked, "2 campaigned");
    assert_eq!(c.leader(), Some(0));
    assert_eq!(c.nodes[0].raft().term(), term);
    assert_eq!(c.nodes[1].raft().term(), term);
    assert_eq!(c.nodes[2].raft().term(), term, "pre-vote: its term stays");
    // Even a real vote request of a higher term moves nothing, and is not scored as bogus
    // (2 is honest, only behind).
    let request = Message::RequestVote(RequestVote {
        term: term + 5,
        candidate_id: c.id(2),
        last_log_index: h + 10,
        last_log_term: term,
        pre_vote: false,
    });
    assert_eq!(c.nodes[1].raft().screen(&c.id(2), true, &request), Ok(()));
    let vote = c.nodes[1].raft().status().voted_for;
    c.cut.clear();
    c.deliver(2, 1, &request);
    assert_eq!(c.nodes[1].raft().term(), term);
    assert_eq!(c.nodes[1].raft().status().voted_for, vote);
    c.commit_one(2_000).expect("the cluster carries on");
    assert_eq!(c.leader(), Some(0));
}

#[test]
fn one_validator_elects_itself_and_adding_a_second_needs_both_to_commit() {
    let mut c = cluster(1, 1);
    let leader = c
        .await_leader(2_000)
        .expect("a single validator elects itself");
    assert_eq!(leader, 0);
    c.commit_one(2_000).expect("commits alone");
    c.propose_change(0, true, 1).expect("add 1");
    c.deliver_all();
    assert_eq!(committed_config(&c, 0), vec![0, 1]);
    assert_eq!(c.nodes[1].role(), Some(Role::Follower));
    let top = c.commit_one(2_000).expect("commits with both");
    c.crash(1);
    c.propose(0, false).expect("leads");
    c.deliver_all();
    assert_eq!(c.nodes[0].raft().commit_index(), top, "1 of 2 is no quorum");
    c.start(1);
    c.commit_one(3_000).expect("both again");
}

#[test]
fn changes_are_refused_while_one_is_uncommitted_and_for_the_last_validator() {
    let mut c = cluster(3, 2);
    elect(&mut c, 0);
    assert_eq!(
        c.propose_change(0, true, 3),
        Err(ProposeError::NoCommitInTerm),
        "no change before an entry of this term commits"
    );
    c.commit_one(2_000).expect("commit");
    c.propose_change(0, true, 3).expect("add 3");
    assert_eq!(
        c.propose_change(0, true, 4),
        Err(ProposeError::ChangeInProgress)
    );
    assert_eq!(
        c.propose_change(0, false, 1),
        Err(ProposeError::ChangeInProgress)
    );
    c.deliver_all();
    assert!(!c.nodes[0].raft().change_in_progress());
    assert!(matches!(
        c.propose_change(0, true, 3),
        Err(ProposeError::InvalidChange(_))
    ));
    c.propose_change(0, true, 4)
        .expect("the next one, once committed");
    c.deliver_all();
    assert_eq!(committed_config(&c, 0), vec![0, 1, 2, 3, 4]);

    let mut solo = cluster(1, 0);
    solo.await_leader(2_000).expect("leader");
    solo.commit_one(2_000).expect("commit");
    assert_eq!(
        solo.propose_change(0, false, 0),
        Err(ProposeError::LastValidator)
    );
}

#[test]
fn a_truncated_change_is_reverted_and_survives_a_restart_until_then() {
    let mut c = cluster(5, 1);
    elect(&mut c, 0);
    c.commit_one(2_000).expect("commit");
    // 0 with 1 and learner 5 on one side; the change reaches them but no quorum of 6.
    c.groups = Some(vec![0, 0, 1, 1, 1, 0]);
    c.propose_change(0, true, 5).expect("add 5");
    c.deliver_all();
    assert_eq!(c.config_of(1), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(c.nodes[5].role(), Some(Role::Follower));
    // The uncommitted change is restored with the log.
    c.crash(1);
    c.start(1);
    assert_eq!(c.config_of(1), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(committed_config(&c, 1), vec![0, 1, 2, 3, 4]);

    elect(&mut c, 2);
    c.propose(2, false).expect("the majority's leader proposes");
    c.deliver_all();
    c.groups = None;
    let top = c.commit_one(3_000).expect("commit after heal");
    for i in [0, 1, 5] {
        assert_eq!(c.config_of(i), vec![0, 1, 2, 3, 4], "node {i} reverted");
        assert_eq!(c.nodes[i].height(), top);
    }
    assert_eq!(c.nodes[5].role(), Some(Role::Learner));
    let events = config_events(&c, 1);
    assert_eq!(events.last(), Some(&(5, false)), "{events:?}");
}

#[test]
fn read_index_confirms_with_a_quorum_of_the_latest_configuration() {
    let mut c = cluster(3, 0);
    elect(&mut c, 0);
    c.commit_one(2_000).expect("commit");
    c.propose_change(0, false, 2).expect("remove 2");
    c.run_for(200);
    assert_eq!(committed_config(&c, 0), vec![0, 1]);
    // 2 still follows as a learner and echoes read rounds, but no longer counts: with 1 down
    // the leader alone is not a quorum of {0, 1}.
    c.crash(1);
    let read = c.read(0).expect("up");
    c.deliver_all();
    assert!(
        !c.checker.served.contains(&(0, read)),
        "a removed node confirmed it"
    );
    c.start(1);
    c.fire_timer(0);
    c.deliver_all();
    assert!(c.checker.served.contains(&(0, read)), "{}", c.dump());
}
