//! Fan-out load: `--peers` light peers in this one process (one tokio runtime), each a WebSocket
//! to `--p2p` driven by core's sans-IO peer manager as a light node (the mesh side of
//! `core::light::LightNode`: handshake with `light: true`, challenge-response authentication,
//! PING/PONG, PEER_LIST), recording when each BLOCK_ANNOUNCE arrives. Prints one `key value`
//! line per figure: announce delay percentiles, how many peers got each block, and the node's
//! memory per light peer (VmRSS of `--node-pid` before connecting, once all are connected, and
//! at the end).
//!
//! Delay: local receipt time (wall clock, taken as the frame leaves the socket, before it is
//! decoded) minus the block's `timestamp`, which the node takes when it starts building the
//! block: so it covers execution, the SQLite commit and the fan-out, an upper bound on
//! "committed to received". Both clocks are this machine's. `spread` is the receipt time minus
//! the first peer's receipt of the same block: the fan-out alone.
//!
//! A light node verifies each block too; 1,000 of them here would verify 1,000 × the block
//! rate in signatures on the node's own cores, so the peers do not (the announced block is
//! decoded in full, `--intake full`, or only its header fields, `--intake peek`). Peer `i`
//! dials from 127.x.y.z, `--per-ip` peers per address, so the node's per-IP limit holds.
//!
//! ```sh
//! cargo run --release -p miniledger-native --example fanout -- \
//!     --p2p ws://127.0.0.1:9000 --peers 1000 --node-pid $(pgrep -n miniledger)
//! ```

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use miniledger_core::net::{ConnId, Direction, PeerConfig, PeerEvent, PeerManager, Transmit};
use miniledger_core::protocol::Message;
use miniledger_core::Keypair;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpSocket;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[derive(Parser)]
struct Args {
    /// The node's P2P address, `ws://127.0.0.1:PORT`.
    #[arg(long)]
    p2p: String,
    #[arg(long, default_value_t = 1_000)]
    peers: usize,
    /// The node's process, for VmRSS.
    #[arg(long)]
    node_pid: Option<u32>,
    /// Peers per source address (the node's `maxInboundPerIp`).
    #[arg(long, default_value_t = 8)]
    per_ip: usize,
    /// Seconds after all peers connected before the measured window.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Seconds of measured window (blocks timestamped in it count).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, value_enum, default_value_t = Intake::Peek)]
    intake: Intake,
}

/// How a peer takes in a BLOCK_ANNOUNCE.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Intake {
    /// Through the peer manager: the whole envelope decoded, as a light node does.
    Full,
    /// Height, timestamp and transaction count read off the text, not decoded: decoding
    /// ~1 MB/s of blocks per peer, a thousand times, would take this machine's two cores
    /// from the node being measured.
    Peek,
}

/// One BLOCK_ANNOUNCE received: height, block timestamp (ms), transactions, receipt (µs).
type Arrival = (u64, u64, usize, u64);

struct Report {
    arrivals: Vec<Arrival>,
    connected: bool,
    /// Why the connection ended before the run did.
    lost: Option<String>,
}

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as u64
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's CPU time so far (user, system) in seconds: the light peers' share of the
/// machine the node runs on.
fn own_cpu_secs() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
    let hz = 100.0; // USER_HZ on Linux
    Some((ticks(14)? / hz, ticks(15)? / hz))
}

/// Peer `i`'s source address: 127.1.0.1, 127.1.0.2, … `per_ip` peers each.
fn source(i: usize, per_ip: usize) -> IpAddr {
    let k = i / per_ip.max(1);
    IpAddr::V4(Ipv4Addr::new(127, 1, (k / 250) as u8, (k % 250) as u8 + 1))
}

/// A BLOCK_ANNOUNCE's height, block timestamp and transaction count, read without decoding
/// the frame: envelopes are encoded in field order (`version`, `type`, …) and a block's header
/// fields precede its transactions, each of which has one `"nonce":` key (escaped inside
/// strings). Anything else (or anything unexpected) goes to the peer manager.
fn peek_announce(frame: &str) -> Option<(u64, u64, usize)> {
    let rest = frame.strip_prefix(r#"{"version":1,"type":"BLOCK_ANNOUNCE","#)?;
    let block = &rest[rest.find(r#""payload":{"block":{"#)?..];
    let number = |key: &str| -> Option<u64> {
        let at = block.find(key)? + key.len();
        let digits = block[at..].split(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse().ok()
    };
    let height = number(r#"{"height":"#)?;
    let timestamp = number(r#","timestamp":"#)?;
    Some((height, timestamp, block.matches(r#""nonce":"#).count()))
}

async fn peer(
    i: usize,
    args: Arc<Args>,
    connecting: Arc<Semaphore>,
    connected: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) -> Report {
    let mut report = Report {
        arrivals: Vec::new(),
        connected: false,
        lost: None,
    };
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let key = Keypair::from_seed(seed);
    let mut config = PeerConfig::new(key.public_hex(), "fanout", 0);
    config.light = true;
    config.max_peers = 1;
    let mut pm = PeerManager::new(config, i as u64);
    pm.enable_auth(key, seed);
    let base = Instant::now();
    let now = || base.elapsed().as_millis() as u64;
    pm.set_wall_clock(wall_us() / 1_000, now());

    let permit = connecting.acquire().await.expect("never closed");
    let ws = match dial(&args.p2p, source(i, args.per_ip)).await {
        Ok(ws) => ws,
        Err(e) => {
            report.lost = Some(format!("dial: {e}"));
            return report;
        }
    };
    const CONN: ConnId = 1;
    let (mut sink, mut stream) = ws.split();
    pm.add_address(&args.p2p, now());
    pm.tick(now());
    while pm.poll_transmit().is_some() {} // the Dial: done above
    pm.on_open(
        CONN,
        Direction::Outbound {
            address: args.p2p.clone(),
        },
        now(),
    );
    let mut permit = Some(permit);
    // When the frame being handled left the socket (before it was decoded).
    let mut received = 0;
    loop {
        // Events first, then socket work, as a driver does.
        while let Some(event) = pm.poll_event() {
            match event {
                PeerEvent::Connected(_) => {
                    report.connected = true;
                    permit.take(); // the next peer may dial
                    connected.fetch_add(1, Ordering::Relaxed);
                }
                PeerEvent::Disconnected { reason, .. } => report.lost = Some(reason),
                PeerEvent::Message {
                    message: Message::BlockAnnounce(a),
                    ..
                } => {
                    let b = a.block;
                    let arrival = (b.height, b.timestamp, b.transactions.len(), received);
                    report.arrivals.push(arrival);
                }
                _ => {}
            }
        }
        while let Some(t) = pm.poll_transmit() {
            match t {
                Transmit::Send { frame, .. } => {
                    if sink.send(WsMessage::text(frame.as_ref())).await.is_err() {
                        report.lost.get_or_insert("send failed".into());
                        return report;
                    }
                }
                Transmit::Close { reason, .. } => {
                    report.lost.get_or_insert(reason);
                    return report;
                }
                Transmit::Dial { .. } => {}
            }
        }
        if report.lost.is_some() {
            return report;
        }
        let deadline = base + Duration::from_millis(pm.next_deadline());
        tokio::select! {
            next = stream.next() => {
                received = wall_us();
                let text = match next {
                    Some(Ok(WsMessage::Text(text))) => text,
                    Some(Ok(WsMessage::Close(_))) | None => {
                        report.lost = Some("closed by the node".into());
                        return report;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => {
                        report.lost = Some(format!("socket error: {e}"));
                        return report;
                    }
                };
                if args.intake == Intake::Peek {
                    if let Some((height, timestamp, txs)) = peek_announce(&text) {
                        report.arrivals.push((height, timestamp, txs, received));
                        continue;
                    }
                }
                pm.on_frame(CONN, &text, now());
            }
            _ = tokio::time::sleep_until(deadline.into()) => pm.tick(now()),
            _ = stop.changed() => return report,
        }
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn dial(address: &str, from: IpAddr) -> Result<Socket, String> {
    let authority = address.trim_start_matches("ws://");
    let to: SocketAddr = authority.parse().map_err(|e| format!("{address}: {e}"))?;
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .bind(SocketAddr::new(from, 0))
        .map_err(|e| format!("bind {from}: {e}"))?;
    let tcp = socket.connect(to).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    // tungstenite zero-fills its whole read buffer before every read: 128 KiB by default.
    let config = WebSocketConfig::default().read_buffer_size(16 << 10);
    let (ws, _) = tokio_tungstenite::client_async_with_config(address, tcp, Some(config))
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1_000.0
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let rss_before = rss_kib(args.node_pid);
    let connecting = Arc::new(Semaphore::new(64));
    let connected = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop) = watch::channel(false);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.peers)
        .map(|i| {
            tokio::spawn(peer(
                i,
                args.clone(),
                connecting.clone(),
                connected.clone(),
                stop.clone(),
            ))
        })
        .collect();
    while connected.load(Ordering::Relaxed) < args.peers && started.elapsed().as_secs() < 60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss_kib(args.node_pid);
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let window_start = wall_us() / 1_000;
    let mut rss_max = rss_connected;
    for _ in 0..args.seconds * 4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss_max = rss_max.max(rss_kib(args.node_pid));
    }
    let window_end = wall_us() / 1_000;
    // Blocks timestamped near the end are still on their way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_end = rss_kib(args.node_pid);
    let _ = stop_tx.send(true);
    let mut reports = Vec::new();
    for t in tasks {
        reports.push(t.await.expect("peer task"));
    }

    let in_window = |ts: u64| ts >= window_start && ts < window_end;
    // height → (timestamp, transactions, receipts)
    let mut blocks: BTreeMap<u64, (u64, usize, Vec<u64>)> = BTreeMap::new();
    for r in &reports {
        for &(height, ts, txs, received) in r.arrivals.iter().filter(|a| in_window(a.1)) {
            blocks
                .entry(height)
                .or_insert((ts, txs, Vec::new()))
                .2
                .push(received);
        }
    }
    let mut delays = Vec::new();
    let mut spreads = Vec::new();
    for (ts, _, receipts) in blocks.values() {
        let first = receipts.iter().min().copied().unwrap_or(0);
        for &r in receipts {
            delays.push(r.saturating_sub(ts * 1_000));
            spreads.push(r - first);
        }
    }
    delays.sort_unstable();
    spreads.sort_unstable();
    let admitted = reports.iter().filter(|r| r.connected).count();
    let lost: Vec<&str> = reports.iter().filter_map(|r| r.lost.as_deref()).collect();
    let reached: Vec<usize> = blocks.values().map(|b| b.2.len()).collect();
    let txs: usize = blocks.values().map(|b| b.1).sum();
    let secs = (window_end - window_start) as f64 / 1_000.0;

    if let Some((user, system)) = own_cpu_secs() {
        println!("tool_cpu_user_secs {user:.1}");
        println!("tool_cpu_system_secs {system:.1}");
    }
    println!("peers {}", args.peers);
    println!("connected {admitted}");
    println!("connect_secs {connect_secs:.1}");
    println!("lost {}", lost.len());
    if let Some(reason) = lost.first() {
        println!("lost_first_reason {reason:?}");
    }
    println!("window_secs {secs:.1}");
    println!("blocks {}", blocks.len());
    println!("committed_tx_per_sec {:.0}", txs as f64 / secs);
    println!(
        "peers_per_block_min {}",
        reached.iter().min().copied().unwrap_or(0)
    );
    println!(
        "blocks_reaching_all {}",
        reached.iter().filter(|&&n| n == admitted).count()
    );
    println!("delay_p50_ms {:.1}", percentile(&delays, 0.50));
    println!("delay_p99_ms {:.1}", percentile(&delays, 0.99));
    println!("delay_max_ms {:.1}", percentile(&delays, 1.0));
    println!("spread_p50_ms {:.1}", percentile(&spreads, 0.50));
    println!("spread_p99_ms {:.1}", percentile(&spreads, 0.99));
    println!("spread_max_ms {:.1}", percentile(&spreads, 1.0));
    if let (Some(before), Some(conn), Some(max), Some(end)) =
        (rss_before, rss_connected, rss_max, rss_end)
    {
        let per_peer = |kib: u64| kib.saturating_sub(before) as f64 / admitted as f64;
        println!("node_rss_before_kib {before}");
        println!("node_rss_connected_kib {conn}");
        println!("node_rss_max_kib {max}");
        println!("node_rss_end_kib {end}");
        println!("kib_per_peer_connected {:.1}", per_peer(conn));
        println!("kib_per_peer_max {:.1}", per_peer(max));
    }
}
