//! The node key lives in `<data-dir>/node.key` (0600, data dir 0700), optionally encrypted; an
//! older data directory's key moves there and leaves no trace in the database's bytes.

use miniledger_core::Keypair;
use miniledger_native::identity::{Identity, IdentityError, Missing, Passphrase, KEY_FILE};
use miniledger_native::storage::{Store, DB_FILE};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tempfile::TempDir;

const SEED_HEX: &str = "4083a1b2c3d4e5f60718293a4b5c6d7e8f901122334455667788990abcdd7451";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every byte the database keeps on disk: the file, its WAL and shared-memory index.
fn database_bytes(dir: &Path) -> Vec<u8> {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::read(dir.join(format!("{DB_FILE}{suffix}"))).ok())
        .flatten()
        .collect()
}

fn load(dir: &Path, store: &Store, passphrase: &Passphrase) -> Result<Identity, IdentityError> {
    Identity::load(dir, store, "org-a", passphrase, Missing::Create)
}

#[test]
fn the_key_is_created_once_in_its_own_private_file() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let first = load(&data, &store, &Passphrase::default()).unwrap();
    assert_eq!(first.org_id, "org-a");
    assert_eq!(mode(&data), 0o700, "data dir tightened");
    assert_eq!(mode(&data.join(KEY_FILE)), 0o600);
    drop(store);

    // Kept across restarts; org kept too.
    let store = Store::open(&data).unwrap();
    let again = Identity::load(
        &data,
        &store,
        "org-b",
        &Passphrase::default(),
        Missing::Refuse,
    )
    .unwrap();
    assert_eq!(again.key.public_hex(), first.key.public_hex());
    assert_eq!(again.org_id, "org-a");
    // Nothing of it in the database.
    let seed = first.key.private_hex();
    drop(store);
    assert!(!contains(&database_bytes(&data), seed.as_bytes()));

    // A key file made readable by others is tightened on read.
    std::fs::set_permissions(data.join(KEY_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&data).unwrap();
    load(&data, &store, &Passphrase::default()).unwrap();
    assert_eq!(mode(&data.join(KEY_FILE)), 0o600);

    // Another data dir, another key; `Refuse` never makes one.
    let other = dir.path().join("other");
    let store = Store::open(&other).unwrap();
    let err = Identity::load(&other, &store, "o", &Passphrase::default(), Missing::Refuse)
        .err()
        .expect("no key");
    assert!(matches!(err, IdentityError::NoKey(_)), "{err}");
    let fresh = load(&other, &store, &Passphrase::default()).unwrap();
    assert_ne!(fresh.key.public_hex(), first.key.public_hex());
}

/// A database of the previous layout: the seed in `meta`, written and rewritten so copies of
/// its page sit in the WAL as well as the file.
fn old_layout(dir: &Path) {
    let store = Store::open(dir).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('node_private_key', ?1)",
        [SEED_HEX],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('org_id', 'org-old')",
        [],
    )
    .unwrap();
    // Keep the WAL from being checkpointed away when this connection closes, as a node killed
    // mid-run leaves it.
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    for i in 0..50 {
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('filler', ?1)",
            [i.to_string()],
        )
        .unwrap();
    }
    std::mem::forget(conn); // no checkpoint on close: the WAL stays as a crash left it
}

#[test]
fn an_old_database_gives_up_its_key_to_the_key_file_and_keeps_no_copy() {
    let dir = TempDir::new().unwrap();
    old_layout(dir.path());
    // The test can fail: the seed is really in the old database's bytes.
    assert!(contains(&database_bytes(dir.path()), SEED_HEX.as_bytes()));

    let store = Store::open(dir.path()).unwrap();
    let identity = load(dir.path(), &store, &Passphrase::default()).unwrap();
    let expected = Keypair::from_private_hex(SEED_HEX).unwrap();
    assert_eq!(
        identity.key.public_hex(),
        expected.public_hex(),
        "same node"
    );
    assert_eq!(identity.org_id, "org-old");
    assert_eq!(mode(&dir.path().join(KEY_FILE)), 0o600);
    assert!(store.legacy_node_key().unwrap().is_none());
    let bytes = database_bytes(dir.path());
    assert!(
        !contains(&bytes, SEED_HEX.as_bytes()),
        "seed left in the database files"
    );
    let raw = miniledger_core::hex::decode::<32>(SEED_HEX).unwrap();
    assert!(
        !contains(&bytes, &raw),
        "raw seed left in the database files"
    );
    drop(store);

    // The next start finds the key in its file and the chain as it was.
    let store = Store::open(dir.path()).unwrap();
    let again = Identity::load(
        dir.path(),
        &store,
        "x",
        &Passphrase::default(),
        Missing::Refuse,
    )
    .unwrap();
    assert_eq!(again.key.public_hex(), expected.public_hex());
}

#[test]
fn a_database_key_that_differs_from_the_key_file_stops_the_node() {
    let dir = TempDir::new().unwrap();
    old_layout(dir.path());
    let store = Store::open(dir.path()).unwrap();
    let other = Keypair::from_seed([9; 32]);
    Identity::import(dir.path(), &store, &other, &Passphrase::default(), true).unwrap();
    // import erased the database's key: put a different one back, as a confused restore would.
    drop(store);
    old_layout_key_only(dir.path());
    let store = Store::open(dir.path()).unwrap();
    let err = load(dir.path(), &store, &Passphrase::default())
        .err()
        .expect("conflict");
    assert!(matches!(err, IdentityError::Conflict { .. }), "{err}");
}

fn old_layout_key_only(dir: &Path) {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('node_private_key', ?1)",
        [SEED_HEX],
    )
    .unwrap();
}

fn passphrase(dir: &Path, text: &str) -> Passphrase {
    let file = dir.join(format!("pass-{}", text.len()));
    std::fs::write(&file, format!("{text}\n")).unwrap();
    Passphrase::from_file_or_env(Some(&file)).unwrap()
}

#[test]
fn an_encrypted_key_needs_its_passphrase() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap();
    let secret = passphrase(dir.path(), "correct horse battery staple");
    let made = load(&data, &store, &secret).unwrap();
    let text = std::fs::read_to_string(data.join(KEY_FILE)).unwrap();
    assert!(text.contains("argon2id") && text.contains(made.key.public_hex()));
    assert!(!text.contains(&made.key.private_hex()), "seed in clear");

    let err = Identity::load(&data, &store, "o", &Passphrase::default(), Missing::Refuse)
        .err()
        .expect("no passphrase");
    assert!(
        matches!(err, IdentityError::PassphraseNeeded { .. }),
        "{err}"
    );
    let wrong = passphrase(dir.path(), "wrong");
    let err = Identity::load(&data, &store, "o", &wrong, Missing::Refuse)
        .err()
        .expect("wrong passphrase");
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    let opened = Identity::load(&data, &store, "o", &secret, Missing::Refuse).unwrap();
    assert_eq!(opened.key.private_hex(), made.key.private_hex());

    // An edited public key no longer decrypts (it is the associated data).
    let forged = text.replace(
        made.key.public_hex(),
        Keypair::from_seed([7; 32]).public_hex(),
    );
    std::fs::write(data.join(KEY_FILE), forged).unwrap();
    assert!(Identity::load(&data, &store, "o", &secret, Missing::Refuse).is_err());
}
