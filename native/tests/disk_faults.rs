//! Disk faults, on real small filesystems (tmpfs mounted for the test; needs root, as the
//! project's CI runs): an unwritable data directory is refused at start with a clear error and
//! a non-zero exit, leaving an existing ledger intact; a disk that fills up while the node runs
//! makes it refuse new transactions (507, the reason in the body, `/status` and the log) without
//! losing or corrupting anything, and it goes on by itself once space returns.

mod common;

use common::raft;
use common::{check_store_consistent, stderr, wait_until, NodeProcess};
use serde_json::json;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmpfs of `size` mounted on a fresh temp dir; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// None (the test is skipped, said on stderr) unless running as root.
    fn mount(size: &str) -> Option<Tmpfs> {
        if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
            eprintln!("skipped: mounting a small filesystem needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let fs = Tmpfs { dir };
        fs.mount_cmd(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]);
        Some(fs)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn mount_cmd(&self, args: &[&str]) {
        let out = Command::new("mount")
            .args(args)
            .arg(self.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "mount {args:?}: {}", stderr(&out));
    }

    fn remount(&self, mode: &str) {
        self.mount_cmd(&["-o", &format!("remount,{mode}")]);
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).output();
    }
}

#[test]
fn an_unwritable_data_dir_is_refused_at_start_and_an_existing_ledger_kept() {
    let Some(fs) = Tmpfs::mount("16m") else {
        return;
    };
    let existing = fs.path().join("ledger");
    let node = NodeProcess::start_in("solo", &existing, None, &[]);
    let (code, answer) = node.post("/tx?wait=commit", &json!({"key": "k", "value": 1}));
    assert_eq!(code, 200, "{answer}");
    let tip = node.tip();
    drop(node);
    fs.remount("ro");

    // A data dir that cannot be created…
    let out = common::start_until_exit(&fs.path().join("new"), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cannot create data directory") && err.contains("Read-only file system"),
        "{err}"
    );
    // …and an existing ledger on a read-only disk: the reason, not SQLite's "unable to open".
    let out = common::start_until_exit(&existing, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "data directory {} is not writable",
            existing.display()
        )) && err.contains("Read-only file system"),
        "{err}"
    );

    fs.remount("rw");
    assert_eq!(check_store_consistent(&existing), tip.0);
    let node = NodeProcess::start_in("solo", &existing, None, &[]);
    // The chain is as it was (the restarted node may add its nonce fillers on top).
    let kept = node.get_ok(&format!("/blocks/{}", tip.0));
    assert_eq!(kept["hash"], tip.1, "the ledger is as it was");
}

/// Fills the filesystem holding `dir` with a ballast file until the disk says it is full.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("ballast");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in [64 * 1024, 1024, 16] {
        while file.write_all(&vec![0u8; chunk]).is_ok() {}
    }
    let _ = file.sync_all();
    path
}

#[test]
fn a_full_disk_refuses_new_transactions_loses_nothing_and_recovers_when_space_returns() {
    let Some(fs) = Tmpfs::mount("32m") else {
        return;
    };
    let data = fs.path().join("ledger");
    let node = NodeProcess::start_in("solo", &data, None, &[]);
    for i in 0..20 {
        let (code, answer) = node.post(
            "/tx?wait=commit",
            &json!({"key": format!("k{i}"), "value": i}),
        );
        assert_eq!(code, 200, "{answer}");
    }
    let ballast = fill(fs.path());

    // Transactions keep coming; each is accepted (202) until blocks cannot be written, then
    // refused with 507 and the reason.
    let value = "x".repeat(2_000);
    let mut accepted = Vec::new();
    let mut refusal = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0.. {
        assert!(Instant::now() < deadline, "no 507 after {i} transactions");
        let (code, answer) = node.post("/tx", &json!({"key": format!("f{i}"), "value": value}));
        match code {
            202 => accepted.push(answer["hash"].as_str().unwrap().to_string()),
            507 => {
                refusal = Some(answer);
                break;
            }
            _ => panic!("{code}: {answer}"),
        }
    }
    let refusal = refusal.unwrap();
    let message = refusal["error"].as_str().unwrap();
    assert!(
        message.contains("cannot store blocks") && message.contains("disk is full"),
        "{message}"
    );
    let status = node.status();
    assert!(
        status["diskFault"]
            .as_str()
            .unwrap()
            .contains("disk is full"),
        "{status}"
    );
    let faulted_at = status["height"].as_u64().unwrap();
    // Reads still work; the log says it once, with what to do.
    assert_eq!(node.get_ok("/blocks/latest")["height"], faulted_at);
    let log = node.log();
    assert_eq!(log.matches("disk fault: ").count(), 1, "{log}");
    assert!(log.contains("free space"));

    // Space returns: the node writes again by itself; everything it accepted commits.
    std::fs::remove_file(&ballast).unwrap();
    for hash in &accepted {
        node.wait_committed(hash);
    }
    wait_until("the fault cleared", || node.status()["diskFault"].is_null());
    assert!(node.log().contains("disk fault over"));
    let (code, answer) = node.post("/tx?wait=commit", &json!({"key": "after", "value": 1}));
    assert_eq!(code, 200, "{answer}");
    let tip = node.tip();
    eprintln!(
        "{} accepted before the 507 at height {faulted_at}; all committed, tip {}",
        accepted.len(),
        tip.0
    );
    drop(node); // kill -9
    assert_eq!(check_store_consistent(&data), tip.0);
}

#[test]
fn a_raft_validator_whose_disk_fills_stops_cleanly_and_catches_up_after() {
    let Some(fs) = Tmpfs::mount("32m") else {
        return;
    };
    let (dirs, mut keys) = common::raft::identities(2);
    let c_dir = fs.path().join("c");
    keys.push(common::init_node(&c_dir));
    let a = raft::start("A", dirs[0].path(), &keys, &[]);
    let b = raft::start("B", dirs[1].path(), &keys, &[&a]);
    let mut c = raft::start("C", &c_dir, &keys, &[&a, &b]);
    raft::await_leader(&[&a, &b, &c]);
    let mut acked = Vec::new();
    for i in 0..10 {
        let (code, answer) = a.post(
            "/tx?wait=commit",
            &json!({"key": format!("k{i}"), "value": i}),
        );
        assert_eq!(code, 200, "{answer}");
        acked.push(answer["hash"].as_str().unwrap().to_string());
    }
    wait_until("C has the first blocks", || c.tip() == a.tip());
    let ballast = fill(fs.path());

    // Durable transactions through A and B until C cannot persist and stops.
    let value = "x".repeat(2_000);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    let status = loop {
        if let Some(status) = c.exited() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "C still running after {i} transactions"
        );
        let node = [&a, &b][i % 2];
        let body = json!({"key": format!("r{i}"), "value": value});
        if let Ok((200, answer)) = node.try_post("/tx?wait=commit", &body) {
            acked.push(answer["hash"].as_str().unwrap().to_string());
        }
        i += 1;
    };
    assert_eq!(status.code(), Some(1));
    let log = c.log();
    assert!(
        log.contains("database or disk is full") && log.contains("stopping"),
        "{log}"
    );
    // The other two go on committing.
    raft::await_leader(&[&a, &b]);
    let (code, answer) = a.post("/tx?wait=commit", &json!({"key": "two", "value": 1}));
    assert_eq!(code, 200, "{answer}");
    acked.push(answer["hash"].as_str().unwrap().to_string());

    // Space returns: C's store is intact and it catches up on restart.
    std::fs::remove_file(&ballast).unwrap();
    let stopped_at = check_store_consistent(&c_dir);
    assert!(stopped_at >= 10);
    let reason = log.lines().find(|l| l.contains("stopping")).unwrap();
    eprintln!("C: {reason}");
    drop(c);
    let c = raft::start("C", &c_dir, &keys, &[&a, &b]);
    let tip = a.tip();
    wait_until("C at the tip", || c.tip().0 >= tip.0);
    wait_until("identical tips", || {
        a.tip() == b.tip() && b.tip() == c.tip()
    });
    let report = common::checker::check(&[&a, &b, &c], &acked);
    eprintln!("C stopped at height {stopped_at}; {}", report.summary());
    report.assert_clean();
}
