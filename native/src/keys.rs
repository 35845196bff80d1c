//! The subcommands that handle the node's identity on disk: `init`, `keys show`, `keys export`,
//! `keys import`. Only `export` ever prints a secret, and only because it is asked to.

use crate::cli::PassphraseArgs;
use crate::config;
use crate::identity::{
    secure_dir, Identity, KeyFile, Missing, OperatorToken, Passphrase, KEY_FILE,
};
use crate::storage::Store;
use miniledger_core::Keypair;
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

fn passphrase(args: &PassphraseArgs) -> Result<Passphrase, String> {
    Passphrase::from_file_or_env(args.key_passphrase_file.as_deref()).map_err(|e| e.to_string())
}

/// `miniledger init`: the data directory (0700), its config file, the node key (encrypted if a
/// passphrase is given) and the operator token.
pub fn init(data_dir: &Path, org: &str, pass: &PassphraseArgs) -> Result<(), String> {
    let passphrase = passphrase(pass)?;
    secure_dir(data_dir).map_err(|e| format!("data directory {}: {e}", data_dir.display()))?;
    let path = config::default_config_path(data_dir);
    config::write_default(&path, org).map_err(|e| e.to_string())?;
    let store = Store::open(data_dir).map_err(|e| e.to_string())?;
    let identity = Identity::load(data_dir, &store, org, &passphrase, Missing::Create)
        .map_err(|e| e.to_string())?;
    OperatorToken::load_or_create(data_dir).map_err(|e| e.to_string())?;
    println!(
        "initialised {} (config {}), node {}{}",
        data_dir.display(),
        path.display(),
        identity.key.public_hex(),
        if passphrase.get().is_some() {
            " (key encrypted)"
        } else {
            ""
        }
    );
    Ok(())
}

/// `miniledger keys show`: public facts only, readable without the passphrase.
pub fn show(data_dir: &Path) -> Result<(), String> {
    let path = data_dir.join(KEY_FILE);
    let file = match KeyFile::read(&path).map_err(|e| e.to_string())? {
        Some(file) => file,
        None => {
            // An older data directory: move its key out of the database first.
            let store = open_existing(data_dir)?;
            Identity::load(
                data_dir,
                &store,
                "org1",
                &Passphrase::default(),
                Missing::Refuse,
            )
            .map_err(|e| e.to_string())?;
            KeyFile::read(&path)
                .map_err(|e| e.to_string())?
                .ok_or("the key file was not written")?
        }
    };
    let org_id = open_existing(data_dir)?
        .org_id("org1")
        .map_err(|e| e.to_string())?;
    let public_key = file.public_key();
    println!(
        "{}",
        serde_json::json!({
            "publicKey": public_key,
            "nodeId": miniledger_core::crypto::node_id(public_key),
            "orgId": org_id,
            "keyFile": path.display().to_string(),
            "encrypted": file.is_encrypted(),
        })
    );
    Ok(())
}

/// `miniledger keys export`: the seed, to stdout or a new 0600 file.
pub fn export(data_dir: &Path, out: Option<&Path>, pass: &PassphraseArgs) -> Result<(), String> {
    let passphrase = passphrase(pass)?;
    let store = open_existing(data_dir)?;
    let identity = Identity::load(data_dir, &store, "org1", &passphrase, Missing::Refuse)
        .map_err(|e| e.to_string())?;
    let seed = Zeroizing::new(format!("{}\n", identity.key.private_hex()));
    match out {
        Some(out) => {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(out)
                .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
            file.write_all(seed.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            eprintln!(
                "wrote the private key of node {} to {}",
                identity.key.public_hex(),
                out.display()
            );
        }
        None => {
            eprintln!(
                "the PRIVATE key of node {}: whoever holds it can act as this node",
                identity.key.public_hex()
            );
            print!("{}", seed.as_str());
        }
    }
    Ok(())
}

/// `miniledger keys import FILE|-`
pub fn import(
    data_dir: &Path,
    file: &Path,
    force: bool,
    pass: &PassphraseArgs,
) -> Result<(), String> {
    let passphrase = passphrase(pass)?;
    let mut text = Zeroizing::new(String::new());
    let read = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(drop)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text).map(drop))
    };
    read.map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let key = Keypair::from_private_hex(text.trim()).map_err(|e| {
        format!(
            "{}: expected a private key of 64 hex characters ({e})",
            file.display()
        )
    })?;
    let store = Store::open(data_dir).map_err(|e| e.to_string())?;
    Identity::import(data_dir, &store, &key, &passphrase, force).map_err(|e| e.to_string())?;
    OperatorToken::load_or_create(data_dir).map_err(|e| e.to_string())?;
    println!(
        "imported node {} into {}",
        key.public_hex(),
        data_dir.display()
    );
    Ok(())
}

/// The store of a data directory that must already exist (`keys` never makes one).
fn open_existing(data_dir: &Path) -> Result<Store, String> {
    if !data_dir.join(crate::storage::DB_FILE).exists() {
        return Err(format!(
            "no node in {}: run `miniledger init` first",
            data_dir.display()
        ));
    }
    Store::open(data_dir).map_err(|e| e.to_string())
}
