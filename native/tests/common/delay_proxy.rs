//! Link delay between node namespaces, without `sch_netem` (this kernel has none): every
//! connection a node dials to a peer's P2P port is redirected (`iptables -t nat … REDIRECT`) to
//! a relay inside the dialer's namespace, which connects on to the original destination and
//! passes the bytes on, both ways, each chunk held for the current delay plus jitter. Order
//! within a connection is kept, as TCP does. With no delay set the relay passes bytes at once.
//!
//! The relay's own connections carry a packet mark that the redirect rule skips, so they are
//! not redirected again. Packet filters (`Net::cut` and friends) still apply: they match the
//! peers' addresses, which the relayed connections keep.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The port the relay listens on inside each namespace (loopback).
pub const RELAY_PORT: u16 = 19_000;
/// The packet mark of the relay's own outgoing connections.
const MARK: u32 = 0x4d4c;

/// The delay currently applied to every relayed link: `(base, jitter)` in ms.
#[derive(Clone, Default)]
pub struct Delay(Arc<Mutex<Option<(u64, u64)>>>);

impl Delay {
    pub fn set(&self, base_ms: u64, jitter_ms: u64) {
        *self.0.lock().unwrap() = Some((base_ms, jitter_ms));
    }

    pub fn clear(&self) {
        *self.0.lock().unwrap() = None;
    }

    /// The hold for one chunk: base plus a pseudo-random part of the jitter.
    fn hold(&self, seq: u64) -> Duration {
        match *self.0.lock().unwrap() {
            None => Duration::ZERO,
            Some((base, jitter)) => {
                let spread = (seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33) % (jitter + 1);
                Duration::from_millis(base + spread)
            }
        }
    }
}

/// The iptables rules, in a node's namespace, that send its P2P connections to the relay.
pub fn redirect_rules(p2p_port: u16) -> Vec<Vec<String>> {
    let port = p2p_port.to_string();
    let relay = RELAY_PORT.to_string();
    let mark = format!("{MARK:#x}");
    [
        vec![
            "-t", "nat", "-A", "OUTPUT", "-m", "mark", "--mark", &mark, "-j", "RETURN",
        ],
        vec![
            "-t",
            "nat",
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "!",
            "-d",
            "127.0.0.1",
            "--dport",
            &port,
            "-j",
            "REDIRECT",
            "--to-ports",
            &relay,
        ],
    ]
    .iter()
    .map(|r| r.iter().map(|s| s.to_string()).collect())
    .collect()
}

/// Moves the calling thread into network namespace `ns` (threads it spawns inherit it).
pub fn enter(ns: &str) {
    let path = format!("/var/run/netns/{ns}");
    let file = std::fs::File::open(&path).expect("namespace file");
    // SAFETY: setns on this thread only, with a namespace fd we hold open.
    let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(entered, 0, "setns {path}");
}

/// Starts the relay inside network namespace `ns`. Runs until the process ends.
pub fn start(ns: &str, delay: Delay) {
    let ns = ns.to_string();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        enter(&ns);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, RELAY_PORT)).expect("relay bind");
        ready_tx.send(()).unwrap();
        for (seq, inbound) in (1u64..).zip(listener.incoming().flatten()) {
            let delay = delay.clone();
            std::thread::spawn(move || relay(inbound, delay, seq));
        }
    });
    ready_rx.recv().expect("relay started");
}

fn relay(inbound: TcpStream, delay: Delay, seq: u64) {
    let Some(target) = original_destination(&inbound) else {
        return;
    };
    let Some(outbound) = connect_marked(target) else {
        return;
    };
    let (in2, out2) = match (inbound.try_clone(), outbound.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return,
    };
    let d2 = delay.clone();
    std::thread::spawn(move || pump(in2, out2, d2, seq << 20));
    pump(outbound, inbound, delay, (seq << 20) | 1 << 19);
}

/// Copies `from` → `to`, holding each chunk for the delay (in order).
fn pump(mut from: TcpStream, to: TcpStream, delay: Delay, seed: u64) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        let mut to = to;
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_due = Instant::now();
    let mut n = 0u64;
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(len) => {
                n += 1;
                // Never before the previous chunk: order is kept.
                let due = (Instant::now() + delay.hold(seed + n)).max(last_due);
                last_due = due;
                if tx.send((due, buf[..len].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}

/// Where the redirected connection was going (`SO_ORIGINAL_DST`).
fn original_destination(stream: &TcpStream) -> Option<SocketAddrV4> {
    // SAFETY: getsockopt into a sockaddr_in of the right size.
    unsafe {
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        const SO_ORIGINAL_DST: libc::c_int = 80;
        let r = libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_IP,
            SO_ORIGINAL_DST,
            &mut addr as *mut _ as *mut libc::c_void,
            &mut len,
        );
        (r == 0).then(|| {
            SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
                u16::from_be(addr.sin_port),
            )
        })
    }
}

/// A connection to `target` whose packets carry [`MARK`] (so the redirect skips it).
fn connect_marked(target: SocketAddrV4) -> Option<TcpStream> {
    // SAFETY: a fresh socket, configured and connected with plain libc calls; ownership passes
    // to the TcpStream only on success.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return None;
        }
        let mark = MARK;
        let set = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MARK,
            &mark as *const _ as *const libc::c_void,
            std::mem::size_of::<u32>() as libc::socklen_t,
        );
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: target.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*target.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let connected = libc::connect(
            fd,
            &addr as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        if set != 0 || connected != 0 {
            libc::close(fd);
            return None;
        }
        Some(TcpStream::from_raw_fd(fd))
    }
}
