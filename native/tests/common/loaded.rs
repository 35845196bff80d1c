//! Three Raft validators under steady client load whose nodes can be killed -9 and restarted
//! on their data dirs: what the fault and soak tests drive. Every acknowledgement is recorded
//! with what it promises (see [`Ack`]), for the checker.

use super::checker::{self, Report};
use super::raft::{agreed_leader, identities, start, start_three};
use super::{post_to, wait_until_within, NodeProcess, Operator};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// An acknowledged transaction.
#[derive(Debug, Clone)]
pub struct Ack {
    pub hash: String,
    /// Which node answered.
    pub node: usize,
    /// 200 to `?wait=commit` (durable); else 202 (held in that node's memory).
    pub durable: bool,
    /// That node's kill count when it answered: a 202 is kept only if the node was not killed
    /// afterwards (its mempool is memory).
    pub generation: u64,
}

struct Shared {
    /// API address of each node while it runs.
    apis: RwLock<Vec<Option<Operator>>>,
    generations: Vec<AtomicU64>,
    acks: Mutex<Vec<Ack>>,
    sent: AtomicUsize,
    stop: AtomicBool,
}

pub struct LoadedCluster {
    pub dirs: Vec<TempDir>,
    pub keys: Vec<String>,
    nodes: Vec<Option<NodeProcess>>,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    restarts: usize,
    /// `stop_load_and_settle` gave up waiting (reported by `check`).
    unsettled: bool,
}

const NAMES: [&str; 3] = ["A", "B", "C"];

impl LoadedCluster {
    /// Starts the three validators and waits for a leader.
    pub fn start() -> LoadedCluster {
        let (dirs, keys) = identities(3);
        let nodes = start_three(&dirs, &keys);
        let apis = nodes.iter().map(|n| Some(n.operator())).collect();
        let cluster = LoadedCluster {
            dirs,
            keys,
            nodes: nodes.into_iter().map(Some).collect(),
            shared: Arc::new(Shared {
                apis: RwLock::new(apis),
                generations: (0..3).map(|_| AtomicU64::new(0)).collect(),
                acks: Mutex::new(Vec::new()),
                sent: AtomicUsize::new(0),
                stop: AtomicBool::new(false),
            }),
            workers: Vec::new(),
            unsettled: false,
            restarts: 0,
        };
        cluster.await_leader(super::raft::ELECTION);
        cluster
    }

    /// `threads` clients, each sending to the nodes in turn with `pause` between requests:
    /// even-numbered ones wait for the commit (`?wait=commit`), odd ones take the 202.
    pub fn load(&mut self, threads: usize, pause: Duration) {
        for t in 0..threads {
            let shared = self.shared.clone();
            self.workers.push(std::thread::spawn(move || {
                let path = if t % 2 == 0 { "/tx?wait=commit" } else { "/tx" };
                let mut i: u64 = 0;
                while !shared.stop.load(Ordering::Relaxed) {
                    let n = (t + i as usize) % 3;
                    let api = shared.apis.read().unwrap()[n].clone();
                    // Read before the request: a kill after it makes a 202 forgivable.
                    let generation = shared.generations[n].load(Ordering::SeqCst);
                    if let Some(api) = api {
                        let body = json!({"key": format!("t{t}:{i}"), "value": i});
                        let answer = post_to(&api, path, &body);
                        shared.sent.fetch_add(1, Ordering::Relaxed);
                        if let Ok((code @ (200 | 202), body)) = answer {
                            shared.acks.lock().unwrap().push(Ack {
                                hash: body["hash"].as_str().unwrap().to_string(),
                                node: n,
                                durable: code == 200,
                                generation,
                            });
                        }
                    }
                    i += 1;
                    std::thread::sleep(pause);
                }
            }));
        }
    }

    /// Requests sent so far (answered or not).
    pub fn sent(&self) -> usize {
        self.shared.sent.load(Ordering::Relaxed)
    }

    pub fn acks(&self) -> Vec<Ack> {
        self.shared.acks.lock().unwrap().clone()
    }

    pub fn node(&self, i: usize) -> Option<&NodeProcess> {
        self.nodes[i].as_ref()
    }

    pub fn live(&self) -> Vec<&NodeProcess> {
        self.nodes.iter().flatten().collect()
    }

    /// The child process id of node `i` (for /proc sampling).
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].as_ref().map(NodeProcess::pid)
    }

    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// The index of the node all live nodes agree leads, within `limit`.
    pub fn await_leader(&self, limit: Duration) -> usize {
        self.try_await_leader(limit)
            .unwrap_or_else(|| panic!("no leader the live nodes agree on within {limit:?}"))
    }

    /// As [`LoadedCluster::await_leader`], None after `limit`.
    pub fn try_await_leader(&self, limit: Duration) -> Option<usize> {
        let live: Vec<(usize, &NodeProcess)> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
            .collect();
        let views: Vec<&NodeProcess> = live.iter().map(|(_, n)| *n).collect();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(found) = agreed_leader(&views) {
                return Some(live[found].0);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// kill -9 of node `i` (its data dir stays).
    pub fn kill(&mut self, i: usize) {
        self.shared.apis.write().unwrap()[i] = None;
        self.shared.generations[i].fetch_add(1, Ordering::SeqCst);
        self.nodes[i] = None; // NodeProcess's drop sends SIGKILL and reaps the child
    }

    /// Restarts node `i` on its data dir, dialing the live nodes.
    pub fn restart(&mut self, i: usize) {
        let peers: Vec<&NodeProcess> = self.live();
        let node = start(NAMES[i], self.dirs[i].path(), &self.keys, &peers);
        self.shared.apis.write().unwrap()[i] = Some(node.operator());
        self.nodes[i] = Some(node);
        self.restarts += 1;
    }

    /// Waits until node `i` has caught up with the others' commit index as it was on entry.
    pub fn await_caught_up(&self, i: usize, limit: Duration) {
        let target = self
            .live()
            .iter()
            .map(|n| n.tip().0)
            .max()
            .unwrap_or_default();
        let node = self.nodes[i].as_ref().unwrap();
        wait_until_within(
            &format!("{} caught up to {target}", node.name),
            limit,
            || node.tip().0 >= target,
        );
    }

    /// Stops the clients and waits until every node is up, holds the same tip and has an
    /// empty mempool (within `limit`; the checker reports what never arrived, and `check`
    /// reports the cluster unsettled if this gave up).
    pub fn stop_load_and_settle(&mut self, limit: Duration) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for worker in self.workers.drain(..) {
            worker.join().unwrap();
        }
        let deadline = Instant::now() + limit;
        loop {
            let tips: Vec<(u64, String)> = self.live().iter().map(|n| n.tip()).collect();
            let idle = self
                .live()
                .iter()
                .all(|n| n.status()["mempool"].as_u64() == Some(0));
            if idle && tips.windows(2).all(|w| w[0] == w[1]) {
                return;
            }
            if Instant::now() > deadline {
                eprintln!("not settled after {limit:?}: tips {tips:?}, idle {idle}");
                self.unsettled = true;
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs the checker on every node. Must be in the chain: every durable ack, and every 202
    /// from a node not killed since it gave it (a killed node's mempool is memory).
    pub fn check(&self) -> Report {
        let acks = self.acks();
        let kept = |a: &Ack| {
            a.durable || a.generation == self.shared.generations[a.node].load(Ordering::SeqCst)
        };
        let must: Vec<String> = acks
            .iter()
            .filter(|a| kept(a))
            .map(|a| a.hash.clone())
            .collect();
        let nodes = self.live();
        assert_eq!(nodes.len(), 3, "check with every node up");
        let mut report = checker::check(&nodes, &must);
        report.unsettled = self.unsettled;
        for hash in report.lost.iter().take(10) {
            let ack = acks.iter().find(|a| &a.hash == hash).unwrap();
            let views: Vec<String> = nodes
                .iter()
                .map(|n| format!("{}: {}", n.name, n.get(&format!("/tx/{hash}")).1))
                .collect();
            eprintln!("lost {ack:?}; now {views:?}");
        }
        eprintln!(
            "acknowledged: {} ({} durable, {} 202s from nodes not killed since, {} 202s \
             forgiven: the node was killed later)",
            acks.len(),
            acks.iter().filter(|a| a.durable).count(),
            acks.iter().filter(|a| !a.durable && kept(a)).count(),
            acks.len() - must.len()
        );
        report
    }
}

impl Drop for LoadedCluster {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}
