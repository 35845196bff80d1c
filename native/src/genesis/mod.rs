//! Which network a node belongs to: its genesis document, kept in `<data-dir>/genesis.json`.
//!
//! A data directory belongs to one network. The first start settles it from what was given
//! ([`Given`]) and stores it; every later start must name the same network (or nothing) and is
//! refused, with both hashes, if it names another. Compat mode (MiniLedger 0.2) has no genesis
//! document and never comes here.

pub mod fetch;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use miniledger_core::genesis::{Consensus, Genesis, Network, DEFAULT_CHAIN_NAME};

use crate::config::ConsensusAlgorithm;

/// The file in the data directory holding the node's genesis.
pub const GENESIS_FILE: &str = "genesis.json";

/// What the operator gave for the network at this start.
#[derive(Debug, Clone)]
pub enum Given {
    /// `--genesis FILE`.
    File(PathBuf),
    /// `--validators` (flag or config file): shorthand for the genesis
    /// `Genesis::new("miniledger", consensus, validators, [], [])`.
    Validators {
        consensus: ConsensusAlgorithm,
        validators: Vec<String>,
    },
    /// `join ADDRESS` with neither: the peer's genesis, trusted on first use unless
    /// `--genesis-hash` names one.
    Peer { address: String },
    /// Nothing: the stored genesis, else a new network with this node its only validator
    /// (the same document as `--validators <own key>`).
    Nothing,
}

/// Reads `<data_dir>/genesis.json`, if there is one.
pub fn stored(data_dir: &Path) -> Result<Option<Genesis>, String> {
    let path = data_dir.join(GENESIS_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => read(&path, &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Reads a genesis file given by the operator.
pub fn read_file(path: &Path) -> Result<Genesis, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read(path, &text)
}

fn read(path: &Path, text: &str) -> Result<Genesis, String> {
    Genesis::parse(text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The shorthand's consensus in the genesis's terms.
pub fn consensus(algorithm: ConsensusAlgorithm) -> Consensus {
    match algorithm {
        ConsensusAlgorithm::Solo => Consensus::Solo,
        ConsensusAlgorithm::Raft => Consensus::Raft,
    }
}

/// The configuration's terms for a genesis's consensus.
pub fn algorithm(consensus: Consensus) -> ConsensusAlgorithm {
    match consensus {
        Consensus::Solo => ConsensusAlgorithm::Solo,
        Consensus::Raft => ConsensusAlgorithm::Raft,
    }
}

/// A new network whose only validator is `own_key` (what `init` and a first bare start make).
pub fn alone(own_key: &str) -> Genesis {
    Genesis::new(
        DEFAULT_CHAIN_NAME,
        Consensus::Solo,
        &[own_key.to_string()],
        &[],
        &[],
    )
    .expect("a node's own key is a valid validator")
}

/// Settles the network of `data_dir` from what was `given`, storing it on the first start.
/// `fetch` is called only for [`Given::Peer`] on a data directory without a genesis. With
/// `expected` (`--genesis-hash`), any other network is refused before anything is stored.
pub async fn settle<F, Fut>(
    data_dir: &Path,
    given: Given,
    own_key: &str,
    expected: Option<&str>,
    fetch: F,
) -> Result<Network, String>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<Genesis, String>>,
{
    let stored = stored(data_dir)?;
    let candidate = match given {
        Given::File(path) => read_file(&path)?,
        Given::Validators {
            consensus: algorithm,
            validators,
        } => Genesis::new(
            DEFAULT_CHAIN_NAME,
            consensus(algorithm),
            &validators,
            &[],
            &[],
        )
        .map_err(|e| format!("--validators: {e}"))?,
        Given::Peer { address } => {
            let genesis = match stored.clone() {
                Some(genesis) => genesis,
                None => fetch(address.clone()).await?,
            };
            let hash = genesis.hash();
            if expected.is_some_and(|e| e != hash) {
                return Err(format!(
                    "{address} serves the genesis with hash {hash}, not the {} given with \
                     --genesis-hash: refusing to join",
                    expected.unwrap_or_default()
                ));
            }
            if stored.is_none() {
                println!(
                    "joining network {:?} (genesis hash {hash}, {} validator(s)) as served by \
                     {address}: trusted on first use (insist on it with --genesis-hash {hash})",
                    genesis.chain_name,
                    genesis.validators.len()
                );
                tracing::warn!(%address, genesis_hash = %hash, "genesis trusted on first use");
            }
            genesis
        }
        Given::Nothing => stored.clone().unwrap_or_else(|| alone(own_key)),
    };
    let network = Network::from(candidate);
    if let Some(expected) = expected.filter(|e| *e != network.hash) {
        return Err(format!(
            "the network's genesis has hash {}, not the {expected} given with --genesis-hash",
            network.hash
        ));
    }
    match stored {
        Some(stored) if stored != network.genesis => Err(format!(
            "{} belongs to network {:?} (genesis hash {}), not to the one given ({:?}, genesis \
             hash {}): a data directory holds one network's chain; use another --data-dir",
            data_dir.display(),
            stored.chain_name,
            stored.hash(),
            network.genesis.chain_name,
            network.hash
        )),
        Some(_) => Ok(network),
        None => {
            store(data_dir, &network.genesis)?;
            tracing::info!(genesis_hash = %network.hash, "stored the network's genesis");
            Ok(network)
        }
    }
}

/// Writes `<data_dir>/genesis.json` whole or not at all (a new file renamed into place).
pub fn store(data_dir: &Path, genesis: &Genesis) -> Result<(), String> {
    let path = data_dir.join(GENESIS_FILE);
    let partial = data_dir.join(format!("{GENESIS_FILE}.partial"));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&partial)?;
        file.write_all(genesis.to_json_pretty().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&partial, &path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}
