//! The single-core plain Ed25519 verification rate on this machine: `--count` (default 20,000)
//! ed25519-dalek `verify_strict` calls over a few distinct keys and messages, on one thread.
//! Prints `verifies_per_sec <rate>`; the sync benchmark compares its throughput to this.

use ed25519_dalek::{Signer, SigningKey};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let mut count: usize = 20_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--count", Some(n)) => count = n.parse().expect("--count takes a number"),
            _ => panic!("usage: verify_rate [--count N]"),
        }
    }
    // 64-byte messages like the transaction hashes (hex) the ledger signs.
    let cases: Vec<_> = (0u8..16)
        .map(|i| {
            let key = SigningKey::from_bytes(&[i.wrapping_add(1); 32]);
            let message = format!("{:064x}", u64::from(i) * 0x9e37_79b9_7f4a_7c15);
            let signature = key.sign(message.as_bytes());
            (key.verifying_key(), message, signature)
        })
        .collect();
    // Warm up, then time.
    for (key, message, signature) in &cases {
        key.verify_strict(message.as_bytes(), signature).unwrap();
    }
    let started = Instant::now();
    for i in 0..count {
        let (key, message, signature) = &cases[i % cases.len()];
        black_box(key)
            .verify_strict(black_box(message.as_bytes()), black_box(signature))
            .unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "verify_rate: {count} verify_strict calls in {secs:.3} s ({:.1} µs each)",
        secs * 1e6 / count as f64
    );
    println!("verifies_per_sec {:.0}", count as f64 / secs);
}
