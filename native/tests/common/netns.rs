//! A private network of Linux network namespaces for real-process fault tests (the nemesis).
//!
//! Each node gets its own namespace with one veth interface on a bridge in the test's own
//! namespace, so node `i` is `10.77.T.(i+1)` and the test (the clients) is `10.77.T.254`. Faults
//! are packet filters inside the nodes' namespaces (`iptables`: drops, one-way drops, random
//! loss) and signals to the processes; the clients' address is never filtered, so a client can
//! always reach the node it talks to while the nodes cannot reach each other. Everything is
//! created by [`Net::create`] and removed when the `Net` is dropped (also after a panic).
//!
//! Needs root, `ip` (iproute2) and `iptables`; [`Net::unavailable`] says why not, so tests can
//! skip on machines without them. The kernel here has no `sch_netem`, so link delay comes from a
//! relay every P2P connection passes through (`delay_proxy`), set with [`Net::delay`].

use super::delay_proxy::{self, Delay};
use std::process::Command;

/// Runs `program args`, panicking with its stderr when it fails.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// As [`run`], but failures are ignored (teardown of what may already be gone).
fn run_quietly(program: &str, args: &[&str]) {
    let _ = Command::new(program).args(args).output();
}

/// One host on the private network: a namespace and the address bound inside it.
#[derive(Debug, Clone)]
pub struct Host {
    pub ns: String,
    pub ip: String,
}

impl Host {
    /// Runs `iptables args` inside this host's namespace.
    fn iptables(&self, args: &[&str]) {
        let mut full = vec!["netns", "exec", &self.ns, "iptables", "-w"];
        full.extend_from_slice(args);
        run("ip", &full);
    }
}

/// The namespaces, veth pairs and bridge of one test.
pub struct Net {
    tag: String,
    bridge: String,
    pub hosts: Vec<Host>,
    /// The delay on every link between nodes (none until set).
    pub delay: Delay,
}

impl Net {
    /// Why this machine cannot run namespace tests, if it cannot.
    pub fn unavailable() -> Option<String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("needs root (network namespaces)".into());
        }
        for (tool, arg) in [("ip", "-V"), ("iptables", "-V")] {
            let ok = Command::new(tool)
                .arg(arg)
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                return Some(format!(
                    "needs `{tool}` (apt-get install iproute2 iptables)"
                ));
            }
        }
        None
    }

    /// `n` hosts on a fresh bridge, their connections to `p2p_port` relayed (for delay). The
    /// subnet's third octet comes from the process id (and a count of nets in this process), so
    /// parallel tests do not collide.
    pub fn create(n: usize, p2p_port: u16) -> Net {
        // Two nets in one test process (tests run in parallel) get different subnets too.
        static NETS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nth = NETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = (std::process::id() + nth * 101) % 200 + 20;
        let tag = format!("mln{id}");
        let bridge = format!("{tag}br");
        let net = Net {
            tag: tag.clone(),
            bridge: bridge.clone(),
            hosts: (0..n)
                .map(|i| Host {
                    ns: format!("{tag}n{i}"),
                    ip: format!("10.77.{id}.{}", i + 1),
                })
                .collect(),
            delay: Delay::default(),
        };
        net.teardown(); // leftovers of a killed run with the same pid
        remove_abandoned();
        run("ip", &["link", "add", &bridge, "type", "bridge"]);
        run(
            "ip",
            &["addr", "add", &format!("10.77.{id}.254/24"), "dev", &bridge],
        );
        run("ip", &["link", "set", &bridge, "up"]);
        for (i, host) in net.hosts.iter().enumerate() {
            let outside = format!("{tag}v{i}");
            run("ip", &["netns", "add", &host.ns]);
            run(
                "ip",
                &[
                    "link", "add", &outside, "type", "veth", "peer", "name", "eth0", "netns",
                    &host.ns,
                ],
            );
            run("ip", &["link", "set", &outside, "master", &bridge]);
            run("ip", &["link", "set", &outside, "up"]);
            let inside = |args: &[&str]| {
                let mut full = vec!["-n", host.ns.as_str()];
                full.extend_from_slice(args);
                run("ip", &full);
            };
            inside(&["addr", "add", &format!("{}/24", host.ip), "dev", "eth0"]);
            inside(&["link", "set", "eth0", "up"]);
            inside(&["link", "set", "lo", "up"]);
            for rule in delay_proxy::redirect_rules(p2p_port) {
                let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
                host.iptables(&rule);
            }
            delay_proxy::start(&host.ns, net.delay.clone());
        }
        net
    }

    /// Drops everything between `a` and `b`, both ways.
    pub fn cut(&self, a: usize, b: usize) {
        self.drop_from(a, b, None);
        self.drop_from(b, a, None);
    }

    /// Drops packets from `from` arriving at `to` (all of them, or this fraction at random):
    /// a one-way fault. TCP needs both directions, so a full one-way drop stalls the connection
    /// both ways; a partial one slows it with retransmissions.
    pub fn drop_from(&self, from: usize, to: usize, fraction: Option<f64>) {
        let src = self.hosts[from].ip.clone();
        let mut rule = vec!["-A", "INPUT", "-s", src.as_str()];
        let p;
        if let Some(fraction) = fraction {
            p = format!("{fraction}");
            rule.extend(["-m", "statistic", "--mode", "random", "--probability", &p]);
        }
        rule.extend(["-j", "DROP"]);
        self.hosts[to].iptables(&rule);
    }

    /// Splits the hosts into these groups: nothing passes between groups.
    pub fn partition(&self, groups: &[Vec<usize>]) {
        for (g, group) in groups.iter().enumerate() {
            for other in &groups[g + 1..] {
                for &a in group {
                    for &b in other {
                        self.cut(a, b);
                    }
                }
            }
        }
    }

    /// Removes every filter: the network is whole again.
    pub fn heal(&self) {
        for host in &self.hosts {
            host.iptables(&["-F", "INPUT"]);
        }
    }

    fn teardown(&self) {
        for (i, host) in self.hosts.iter().enumerate() {
            run_quietly("ip", &["link", "del", &format!("{}v{i}", self.tag)]);
            run_quietly("ip", &["netns", "del", &host.ns]);
        }
        run_quietly("ip", &["link", "del", &self.bridge]);
    }
}

/// Deletes the namespaces of earlier runs that were killed before their `Drop` (no process
/// left inside; a running test's namespaces hold its nodes).
fn remove_abandoned() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        if !ns.starts_with("mln") {
            continue;
        }
        let pids = Command::new("ip").args(["netns", "pids", ns]).output();
        if pids.is_ok_and(|p| p.stdout.is_empty()) {
            run_quietly("ip", &["netns", "del", ns]);
            let (tag, host) = ns.rsplit_once('n').unwrap_or((ns, ""));
            run_quietly("ip", &["link", "del", &format!("{tag}v{host}")]);
            run_quietly("ip", &["link", "del", &format!("{tag}br")]);
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.teardown();
    }
}
