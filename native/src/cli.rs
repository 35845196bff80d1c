//! Command-line interface of the `miniledger` binary (clap derive).
//!
//! Only parsing lives here so the binary, tests and the demo can share the argument types; the
//! binary dispatches on [`Command`]. Node settings given as flags are merged with the config file
//! by [`crate::config::resolve`], which is why the `start` flags are all optional: an absent flag
//! must not hide a value from the file. MiniLedger 0.2's short flags work too (`-d` data dir,
//! `-p` API port, `-o` org; `--version`/`-V`).

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::config::{Compat, ConsensusAlgorithm, LogFormat, DEFAULT_DATA_DIR};

/// REST API address the client subcommands talk to by default.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:3000";

/// MiniLedger: a permissioned ledger node.
#[derive(Debug, Parser)]
#[command(name = "miniledger", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Parses the process arguments, exiting with a usage message on error.
pub fn parse() -> Cli {
    Cli::parse()
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// create a data directory with a default config file (miniledger.json)
    Init(InitArgs),
    /// start a node
    Start(StartArgs),
    /// start a node that joins an existing network through the given peer
    Join(JoinArgs),
    /// show the status of a running node
    Status(ApiArgs),
    /// transactions
    #[command(subcommand)]
    Tx(TxCommand),
    /// run a read-only SQL query against a running node's world state
    Query(QueryArgs),
    /// deploy and invoke smart contracts on a running node (signed by the node: operator token)
    #[command(subcommand)]
    Contract(ContractCommand),
    /// propose and vote on changes to the network: validators, admission lists (signed by the
    /// node: operator token)
    #[command(subcommand)]
    Governance(GovernanceCommand),
    /// node identity keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// peers of a running node
    #[command(subcommand)]
    Peers(PeersCommand),
    /// start a three-validator demo cluster on loopback (with the example contracts deployed and
    /// used) and print the page address
    Demo(DemoArgs),
    /// print a new network's genesis document (JSON) for `start --genesis FILE`
    Genesis(GenesisArgs),
}

#[derive(Debug, Args)]
pub struct GenesisArgs {
    /// The initial validators' public keys, comma-separated (`miniledger keys show` prints one)
    #[arg(long, value_delimiter = ',', value_name = "KEYS", required = true)]
    pub validators: Vec<String>,
    /// The chain's name (default miniledger)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Consensus (default: solo for one validator, raft for more)
    #[arg(long, value_enum)]
    pub consensus: Option<ConsensusAlgorithm>,
    /// Only these public keys may connect as full peers, authenticated (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "KEYS")]
    pub allowed_keys: Vec<String>,
    /// Only peers of these orgs may connect as full peers, authenticated (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "ORGS")]
    pub allowed_orgs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the three nodes keep their data (default: a new directory under the system's temp
    /// directory)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// API port of the first node; the others take the next two
    #[arg(long, default_value_t = 3000)]
    pub api_port: u16,
    /// P2P port of the first node; the others take the next two
    #[arg(long, default_value_t = 9000)]
    pub p2p_port: u16,
    /// Milliseconds between sample transactions (0: none)
    #[arg(long, default_value_t = 250)]
    pub tx_interval_ms: u64,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Data directory to create
    #[arg(short = 'd', long, env = "MINILEDGER_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Organization this node belongs to
    #[arg(short = 'o', long, default_value = "org1")]
    pub org: String,
    /// The network's genesis document (from `miniledger genesis`), stored in the data
    /// directory; without it the first start makes a new network with this node its validator
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
}

/// Where the node key's passphrase comes from. Without one the key file is plain (mode 0600).
#[derive(Debug, Clone, Default, Args)]
pub struct PassphraseArgs {
    /// File whose first line is the passphrase that encrypts node.key (else
    /// $MINILEDGER_KEY_PASSPHRASE; with neither, the key is stored unencrypted, mode 0600)
    #[arg(long, value_name = "FILE")]
    pub key_passphrase_file: Option<PathBuf>,
}

/// Node settings for `start` and `join`. Every flag is optional and overrides the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct StartArgs {
    /// Data directory (default ./data); its miniledger.json is read if --config is not given
    #[arg(short = 'd', long, env = "MINILEDGER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Config file to read instead of <data-dir>/miniledger.json (must exist)
    #[arg(long, env = "MINILEDGER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Port for WebSocket P2P connections (default 9000)
    #[arg(long, value_name = "PORT")]
    pub p2p_port: Option<u16>,
    /// Port for the REST API (default 3000)
    #[arg(short = 'p', long, visible_alias = "http-port", value_name = "PORT")]
    pub api_port: Option<u16>,
    /// Initial peers, comma-separated ws:// or wss:// URLs (replaces the file's list)
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    pub peers: Vec<String>,
    /// Address to bind the servers to (default 0.0.0.0)
    #[arg(long, value_name = "ADDR")]
    pub listen_address: Option<String>,
    /// Consensus algorithm (default solo)
    #[arg(long, value_enum)]
    pub consensus: Option<ConsensusAlgorithm>,
    /// Validator public keys, comma-separated 64-char lowercase hex (required for raft)
    #[arg(long, value_delimiter = ',', value_name = "KEYS")]
    pub validators: Vec<String>,
    /// Organization this node belongs to (default org1)
    #[arg(short = 'o', long)]
    pub org: Option<String>,
    /// Only these public keys may connect as full peers, and only authenticated (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "KEYS")]
    pub allowed_keys: Vec<String>,
    /// Only peers of these orgs may connect as full peers, and only authenticated (comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "ORGS")]
    pub allowed_orgs: Vec<String>,
    /// Wire-compatibility mode for talking to MiniLedger 0.2 peers
    #[arg(long, value_enum)]
    pub compat: Option<Compat>,
    /// Log output format (default text)
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// TLS certificate chain (PEM) for the P2P (wss://) and API (https://) ports; needs --tls-key
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) matching --tls-cert
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that wss:// peers must chain to (the node's own certificate is
    /// trusted too; with neither, the public web PKI roots)
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    #[command(flatten)]
    pub passphrase: PassphraseArgs,
    /// The network's genesis document (from `miniledger genesis`); a data directory that
    /// already holds another network's refuses to start
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// Peers added by `join`; appended to the resolved peer list rather than replacing it.
    #[arg(skip)]
    pub join_peers: Vec<String>,
    /// `join --genesis-hash`: the only network this node may belong to.
    #[arg(skip)]
    pub expected_genesis_hash: Option<String>,
}

#[derive(Debug, Args)]
pub struct JoinArgs {
    /// Address of a node already in the network, e.g. ws://10.0.0.5:9000
    #[arg(value_name = "WS_ADDR")]
    pub addr: String,
    /// Join only the network whose genesis has this hash (else the peer's genesis is trusted
    /// on first use, its hash printed)
    #[arg(long, value_name = "HASH")]
    pub genesis_hash: Option<String>,
    #[command(flatten)]
    pub start: StartArgs,
}

impl JoinArgs {
    /// The `start` settings with the join address added to the peers.
    pub fn start_args(&self) -> StartArgs {
        let mut args = self.start.clone();
        args.join_peers.push(self.addr.clone());
        args.expected_genesis_hash = self.genesis_hash.clone();
        args
    }
}

/// Where a client subcommand finds the node's REST API.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Base URL of the node's REST API (http:// or https://)
    #[arg(long, env = "MINILEDGER_API", default_value = DEFAULT_API_URL)]
    pub api: String,
    /// CA or self-signed certificate (PEM) to trust for an https:// API, instead of the public
    /// web PKI roots
    #[arg(long, env = "MINILEDGER_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Where a client finds the operator token, for requests that make the node sign. Looked up in
/// this order: --token-file, $MINILEDGER_OPERATOR_TOKEN, <data-dir>/operator.token.
#[derive(Debug, Clone, Default, Args)]
pub struct OperatorArgs {
    /// File holding the node's operator token
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Data directory of the node (its operator.token is read if no other token is given)
    #[arg(short = 'd', long, env = "MINILEDGER_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum TxCommand {
    /// submit a transaction given as JSON
    Submit {
        /// The transaction as a JSON object
        json: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// deploy a contract's source (0.2's form: `return { method(ctx, ...args) { … } }`) and
    /// wait for its receipt; a new version may be deployed only by the first deployer
    #[command(disable_version_flag = true)]
    Deploy {
        /// File holding the contract's JavaScript source
        file: PathBuf,
        /// The contract's name ([A-Za-z0-9_.-], at most 128 characters)
        #[arg(long)]
        name: String,
        /// Version label stored with it
        #[arg(long = "version", id = "contract_version", default_value = "1.0.0")]
        version: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// call a contract's method and wait for its receipt (exit status 1 if the call failed)
    Invoke {
        /// The contract's name
        name: String,
        /// The method
        method: String,
        /// Arguments, each JSON (`100`, `true`, `{"a":1}`) or else taken as a string (`bob`)
        args: Vec<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// list the deployed contracts
    List(ApiArgs),
    /// show a deployed contract: version, deployer, source
    Show {
        /// The contract's name
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum GovernanceCommand {
    /// propose a change (only validators may) and wait for its receipt; prints the proposal
    /// id (the transaction's hash) and its status (exit status 1 if refused)
    Propose(ProposeArgs),
    /// vote on an active proposal and wait for its receipt (exit status 1 if refused)
    Vote {
        /// The proposal's id
        id: String,
        #[arg(value_enum)]
        vote: VoteChoice,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// list the proposals: id prefix, type, status, yes/no votes, title
    List(ApiArgs),
    /// show a proposal: action, status, heights, every vote
    Show {
        /// The proposal's id
        id: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// `governance propose`: exactly one action.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("action")
        .required(true)
        .args(["add_peer", "remove_peer", "config"])
))]
pub struct ProposeArgs {
    /// Make this public key (64 lowercase hex characters) a validator
    #[arg(long, value_name = "KEY")]
    pub add_peer: Option<String>,
    /// Remove this public key from the validators
    #[arg(long, value_name = "KEY")]
    pub remove_peer: Option<String>,
    /// Set a configuration key (allowedKeys or allowedOrgs) to a value, JSON if it parses as
    /// JSON (`allowedOrgs=["org1","org2"]`), else the string itself
    #[arg(long, value_name = "KEY=JSON")]
    pub config: Option<String>,
    /// The proposal's title
    #[arg(long)]
    pub title: String,
    /// What it is for
    #[arg(long, default_value = "")]
    pub description: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VoteChoice {
    Yes,
    No,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL statement
    pub sql: String,
    /// Print the rows as a JSON array of objects instead of a table
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// print this node's public facts: public key, node id, org, key file, whether encrypted
    Show {
        /// Data directory holding the node identity
        #[arg(short = 'd', long, env = "MINILEDGER_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// print the node's PRIVATE key (the 64-hex-character seed), or write it to --out (0600)
    Export {
        /// Data directory holding the node identity
        #[arg(short = 'd', long, env = "MINILEDGER_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Write the seed to this new file (mode 0600) instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
    /// make a private key (64 hex characters, as `keys export` prints it) this node's key
    Import {
        /// File holding the seed, or - for standard input
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Data directory holding the node identity
        #[arg(short = 'd', long, env = "MINILEDGER_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Replace a different key already in the data directory
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        passphrase: PassphraseArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// list the peers a running node knows
    List(ApiArgs),
}
