//! Node configuration: the JSON file (`<data-dir>/miniledger.json` or `--config`) merged with
//! command-line flags into one validated [`NodeConfig`].
//!
//! Why this shape: operators edit the file by hand and pass flags in scripts, so every mistake
//! must be reported before the node touches the network or disk, naming where it came from (the
//! file path or "command line") and the setting (the file key such as `network.p2pPort`, or the
//! flag such as `--p2p-port`). Unknown keys are rejected so a typo never silently falls back to
//! a default. Precedence is defaults, then the file, then flags.
//!
//! The `network` section follows the seed's "Configuration" section (p2pPort 9000, apiPort 3000,
//! listenAddress 0.0.0.0, peers []); `node`, `consensus` and `logging` are ours.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::marker::PhantomData;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::cli::StartArgs;

/// Name of the config file `init` writes and `start` looks for inside the data directory.
pub const CONFIG_FILE_NAME: &str = "miniledger.json";
/// Data directory used when neither `--data-dir` nor `node.dataDir` is given.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Largest accepted P2P frame by default (16 MiB); tungstenite's own default is 64 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// The smallest frame cap allowed: a block of the maximum size (10 MiB of transactions) plus
/// its header and envelope must fit in one SYNC_RESPONSE, or the chain could not be synced.
pub const MIN_FRAME_BYTES: usize = 11 * 1024 * 1024;

/// Where `start` looks for a config file when `--config` is not given.
pub fn default_config_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CONFIG_FILE_NAME)
}

/// The fully resolved, validated configuration a node runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub org_id: String,
    pub name: String,
    pub p2p_port: u16,
    pub api_port: u16,
    pub listen_address: String,
    pub peers: Vec<String>,
    pub compat: Option<Compat>,
    /// Full peers connected at once.
    pub max_peers: usize,
    /// Light peers (browser tabs) connected at once, apart from `max_peers`.
    pub max_light_peers: usize,
    pub max_frame_bytes: usize,
    /// Sockets one IP address may hold open to the P2P server.
    pub max_inbound_per_ip: usize,
    /// Sustained frames per second one peer may send (bursts of twice that pass).
    pub max_messages_per_second: u32,
    /// Membership (empty lists: anyone): see `miniledger_core::net::Admission`.
    pub allowed_keys: Vec<String>,
    pub allowed_orgs: Vec<String>,
    pub allow_light_nodes: bool,
    pub consensus: ConsensusAlgorithm,
    pub validators: Vec<String>,
    pub log_format: LogFormat,
    pub tls: TlsFiles,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            org_id: "org1".into(),
            name: "node1".into(),
            p2p_port: 9000,
            api_port: 3000,
            listen_address: "0.0.0.0".into(),
            peers: Vec::new(),
            compat: None,
            max_peers: 50,
            // The fan-out goal's 1,000 (BENCHMARKS.md, "Fan-out": ~30 KiB each at rest, ~65
            // under 1,000 tx/s).
            max_light_peers: 1_000,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_inbound_per_ip: 8,
            max_messages_per_second: 10_000,
            allowed_keys: Vec::new(),
            allowed_orgs: Vec::new(),
            allow_light_nodes: true,
            consensus: ConsensusAlgorithm::Solo,
            validators: Vec::new(),
            log_format: LogFormat::Text,
            tls: TlsFiles::default(),
        }
    }
}

/// Consensus engine: `solo` (single orderer) or `raft` (validator set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ConsensusAlgorithm {
    Solo,
    Raft,
}

/// Wire-compatibility mode; the only one is talking to MiniLedger 0.2 (TypeScript) peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Compat {
    #[serde(rename = "miniledger-0.2")]
    #[value(name = "miniledger-0.2")]
    MiniLedger02,
}

/// The `tls` section, PEM files (see `crate::tls`): a certificate and key make both ports speak
/// TLS; `caFile` is what `wss://` dials trust (besides the node's own certificate).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TlsFiles {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl TlsFiles {
    /// `top` wins wherever it sets a value.
    fn overlay(self, top: &TlsFiles) -> TlsFiles {
        TlsFiles {
            cert_file: top.cert_file.clone().or(self.cert_file),
            key_file: top.key_file.clone().or(self.key_file),
            ca_file: top.ca_file.clone().or(self.ca_file),
        }
    }
}

/// Log output: human-readable text or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl fmt::Display for ConsensusAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsensusAlgorithm::Solo => "solo",
            ConsensusAlgorithm::Raft => "raft",
        })
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("miniledger-0.2")
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// Everything that can be wrong with a configuration. Every message starts with
/// `config error in <origin>:` where origin is the file path or "command line".
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config error in {}: file not found", path.display())]
    NotFound { path: PathBuf },
    #[error("config error in {}: cannot read file: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("config error in {}: invalid JSON: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// A key that is unknown or has the wrong type; `setting` is its dotted path.
    #[error("config error in {}: {setting}: {message}", path.display())]
    Field {
        path: PathBuf,
        setting: String,
        message: String,
    },
    /// A well-typed value that is not acceptable (bad URL, port clash, ...).
    #[error("config error in {origin}: {setting}: {message}")]
    Invalid {
        origin: String,
        setting: String,
        message: String,
    },
    #[error("config error in {}: file already exists, refusing to overwrite it", path.display())]
    AlreadyExists { path: PathBuf },
    #[error("config error in {}: cannot write file: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// Resolves the configuration for `start`/`join`: defaults, then the config file, then flags.
///
/// The file is `file` if given, else `args.config`, else `<data-dir>/miniledger.json` when it
/// exists (data-dir from `--data-dir` or the default). An explicitly named file must exist.
pub fn resolve(args: &StartArgs, file: Option<&Path>) -> Result<NodeConfig, ConfigError> {
    let mut layers = Vec::new();
    match file.or(args.config.as_deref()) {
        Some(path) => layers.push((read_file(path)?, Source::File(path.to_path_buf()))),
        None => {
            let data_dir = args
                .data_dir
                .as_deref()
                .unwrap_or(Path::new(DEFAULT_DATA_DIR));
            let path = default_config_path(data_dir);
            if path.exists() {
                layers.push((read_file(&path)?, Source::File(path)));
            }
        }
    }
    layers.push((flags_layer(args), Source::CommandLine));

    for (layer, source) in &layers {
        check_layer(layer, source)?;
    }
    for peer in &args.join_peers {
        check_peer(peer).map_err(|msg| Source::CommandLine.invalid(&JOIN_ADDRESS, msg))?;
    }

    let merged = layers
        .iter()
        .fold(ConfigFile::default(), |acc, (layer, _)| acc.overlay(layer));
    let mut config = merged.into_config();
    for peer in &args.join_peers {
        if !config.peers.contains(peer) {
            config.peers.push(peer.clone());
        }
    }
    check_combined(&config, &layers)?;
    Ok(config)
}

/// Writes a default config file for `init`, creating its directory. `node.dataDir` is the
/// file's directory. Refuses to overwrite an existing file.
pub fn write_default(path: &Path, org: &str) -> Result<(), ConfigError> {
    let origin = Source::File(path.to_path_buf());
    check_org(org).map_err(|msg| origin.invalid(&ORG_ID, msg))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let defaults = NodeConfig {
        data_dir: dir.clone(),
        org_id: org.to_string(),
        ..NodeConfig::default()
    };
    let mut text = serde_json::to_string_pretty(&ConfigFile::from_config(&defaults))
        .expect("config serializes");
    text.push('\n');

    let write_err = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    fs::create_dir_all(&dir).map_err(write_err)?;
    let mut out = match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ConfigError::AlreadyExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(write_err(e)),
    };
    out.write_all(text.as_bytes()).map_err(write_err)
}

// ---------------------------------------------------------------------------------------------
// File format. Every field is optional so a file may set only what it changes; `None` means
// "not set here" and falls through to the layer below.

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct ConfigFile {
    #[serde(deserialize_with = "object")]
    node: NodeSection,
    #[serde(deserialize_with = "object")]
    network: NetworkSection,
    #[serde(deserialize_with = "object")]
    consensus: ConsensusSection,
    #[serde(deserialize_with = "object")]
    logging: LoggingSection,
    #[serde(deserialize_with = "object")]
    tls: TlsFiles,
}

/// Accepts only a JSON object: serde would otherwise also read a struct from an array.
fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<T, D::Error> {
    struct ObjectVisitor<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }
    de.deserialize_map(ObjectVisitor(PhantomData))
}

/// The whole file, which must be an object too.
struct TopLevel(ConfigFile);

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        object(de).map(TopLevel)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct NodeSection {
    data_dir: Option<PathBuf>,
    org_id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct NetworkSection {
    p2p_port: Option<u16>,
    api_port: Option<u16>,
    listen_address: Option<String>,
    peers: Option<Vec<String>>,
    compat: Option<Compat>,
    max_peers: Option<usize>,
    max_light_peers: Option<usize>,
    max_frame_bytes: Option<usize>,
    max_inbound_per_ip: Option<usize>,
    max_messages_per_second: Option<u32>,
    allowed_keys: Option<Vec<String>>,
    allowed_orgs: Option<Vec<String>>,
    allow_light_nodes: Option<bool>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct ConsensusSection {
    algorithm: Option<ConsensusAlgorithm>,
    validators: Option<Vec<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct LoggingSection {
    format: Option<LogFormat>,
}

impl ConfigFile {
    /// `top` wins wherever it sets a value.
    fn overlay(self, top: &ConfigFile) -> ConfigFile {
        let (n, t) = (self.network, &top.network);
        ConfigFile {
            node: NodeSection {
                data_dir: top.node.data_dir.clone().or(self.node.data_dir),
                org_id: top.node.org_id.clone().or(self.node.org_id),
                name: top.node.name.clone().or(self.node.name),
            },
            network: NetworkSection {
                p2p_port: t.p2p_port.or(n.p2p_port),
                api_port: t.api_port.or(n.api_port),
                listen_address: t.listen_address.clone().or(n.listen_address),
                peers: t.peers.clone().or(n.peers),
                compat: t.compat.or(n.compat),
                max_peers: t.max_peers.or(n.max_peers),
                max_light_peers: t.max_light_peers.or(n.max_light_peers),
                max_frame_bytes: t.max_frame_bytes.or(n.max_frame_bytes),
                max_inbound_per_ip: t.max_inbound_per_ip.or(n.max_inbound_per_ip),
                max_messages_per_second: t.max_messages_per_second.or(n.max_messages_per_second),
                allowed_keys: t.allowed_keys.clone().or(n.allowed_keys),
                allowed_orgs: t.allowed_orgs.clone().or(n.allowed_orgs),
                allow_light_nodes: t.allow_light_nodes.or(n.allow_light_nodes),
            },
            consensus: ConsensusSection {
                algorithm: top.consensus.algorithm.or(self.consensus.algorithm),
                validators: top
                    .consensus
                    .validators
                    .clone()
                    .or(self.consensus.validators),
            },
            logging: LoggingSection {
                format: top.logging.format.or(self.logging.format),
            },
            tls: self.tls.overlay(&top.tls),
        }
    }

    /// Fills whatever is still unset with the defaults.
    fn into_config(self) -> NodeConfig {
        let d = NodeConfig::default();
        let (node, net) = (self.node, self.network);
        NodeConfig {
            data_dir: node.data_dir.unwrap_or(d.data_dir),
            org_id: node.org_id.unwrap_or(d.org_id),
            name: node.name.unwrap_or(d.name),
            p2p_port: net.p2p_port.unwrap_or(d.p2p_port),
            api_port: net.api_port.unwrap_or(d.api_port),
            listen_address: net.listen_address.unwrap_or(d.listen_address),
            peers: net.peers.unwrap_or(d.peers),
            compat: net.compat.or(d.compat),
            max_peers: net.max_peers.unwrap_or(d.max_peers),
            max_light_peers: net.max_light_peers.unwrap_or(d.max_light_peers),
            max_frame_bytes: net.max_frame_bytes.unwrap_or(d.max_frame_bytes),
            max_inbound_per_ip: net.max_inbound_per_ip.unwrap_or(d.max_inbound_per_ip),
            max_messages_per_second: net
                .max_messages_per_second
                .unwrap_or(d.max_messages_per_second),
            allowed_keys: net.allowed_keys.unwrap_or(d.allowed_keys),
            allowed_orgs: net.allowed_orgs.unwrap_or(d.allowed_orgs),
            allow_light_nodes: net.allow_light_nodes.unwrap_or(d.allow_light_nodes),
            consensus: self.consensus.algorithm.unwrap_or(d.consensus),
            validators: self.consensus.validators.unwrap_or(d.validators),
            log_format: self.logging.format.unwrap_or(d.log_format),
            tls: self.tls,
        }
    }

    /// Every value set, so the written file documents all settings.
    fn from_config(c: &NodeConfig) -> ConfigFile {
        ConfigFile {
            node: NodeSection {
                data_dir: Some(c.data_dir.clone()),
                org_id: Some(c.org_id.clone()),
                name: Some(c.name.clone()),
            },
            network: NetworkSection {
                p2p_port: Some(c.p2p_port),
                api_port: Some(c.api_port),
                listen_address: Some(c.listen_address.clone()),
                peers: Some(c.peers.clone()),
                compat: c.compat,
                max_peers: Some(c.max_peers),
                max_light_peers: Some(c.max_light_peers),
                max_frame_bytes: Some(c.max_frame_bytes),
                max_inbound_per_ip: Some(c.max_inbound_per_ip),
                max_messages_per_second: Some(c.max_messages_per_second),
                allowed_keys: Some(c.allowed_keys.clone()),
                allowed_orgs: Some(c.allowed_orgs.clone()),
                allow_light_nodes: Some(c.allow_light_nodes),
            },
            consensus: ConsensusSection {
                algorithm: Some(c.consensus),
                validators: Some(c.validators.clone()),
            },
            logging: LoggingSection {
                format: Some(c.log_format),
            },
            tls: c.tls.clone(),
        }
    }
}

/// The flags of `start`/`join` as a layer; unset flags stay `None`.
fn flags_layer(args: &StartArgs) -> ConfigFile {
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    ConfigFile {
        node: NodeSection {
            data_dir: args.data_dir.clone(),
            org_id: args.org.clone(),
            name: None,
        },
        network: NetworkSection {
            p2p_port: args.p2p_port,
            api_port: args.api_port,
            listen_address: args.listen_address.clone(),
            peers: non_empty(&args.peers),
            compat: args.compat,
            max_peers: None,
            max_light_peers: None,
            max_frame_bytes: None,
            max_inbound_per_ip: None,
            max_messages_per_second: None,
            allowed_keys: non_empty(&args.allowed_keys),
            allowed_orgs: non_empty(&args.allowed_orgs),
            allow_light_nodes: None,
        },
        consensus: ConsensusSection {
            algorithm: args.consensus,
            validators: non_empty(&args.validators),
        },
        logging: LoggingSection {
            format: args.log_format,
        },
        tls: TlsFiles {
            cert_file: args.tls_cert.clone(),
            key_file: args.tls_key.clone(),
            ca_file: args.tls_ca.clone(),
        },
    }
}

fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ConfigError::NotFound {
            path: path.to_path_buf(),
        },
        _ => ConfigError::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let mut de = serde_json::Deserializer::from_str(&text);
    let syntax = |e: serde_json::Error| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let TopLevel(file) = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let setting = match err.path().to_string() {
            root if root == "." => "top level".to_string(),
            setting => setting,
        };
        let inner = err.into_inner();
        if inner.is_data() {
            ConfigError::Field {
                path: path.to_path_buf(),
                setting,
                message: inner.to_string(),
            }
        } else {
            syntax(inner)
        }
    })?;
    de.end().map_err(syntax)?;
    Ok(file)
}

// ---------------------------------------------------------------------------------------------
// Validation.

/// Where a value came from; decides how its setting is named in errors.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Default,
    File(PathBuf),
    CommandLine,
}

/// A setting's name in the file and, if it has one, its flag.
struct Setting {
    key: &'static str,
    flag: Option<&'static str>,
}

const fn setting(key: &'static str, flag: Option<&'static str>) -> Setting {
    Setting { key, flag }
}

const ORG_ID: Setting = setting("node.orgId", Some("--org"));
const NAME: Setting = setting("node.name", None);
const P2P_PORT: Setting = setting("network.p2pPort", Some("--p2p-port"));
const API_PORT: Setting = setting("network.apiPort", Some("--api-port"));
const LISTEN_ADDRESS: Setting = setting("network.listenAddress", Some("--listen-address"));
const PEERS: Setting = setting("network.peers", Some("--peers"));
const MAX_PEERS: Setting = setting("network.maxPeers", None);
const MAX_LIGHT_PEERS: Setting = setting("network.maxLightPeers", None);
const MAX_FRAME_BYTES: Setting = setting("network.maxFrameBytes", None);
const MAX_INBOUND_PER_IP: Setting = setting("network.maxInboundPerIp", None);
const MAX_MESSAGES_PER_SECOND: Setting = setting("network.maxMessagesPerSecond", None);
const ALLOWED_KEYS: Setting = setting("network.allowedKeys", Some("--allowed-keys"));
const ALLOWED_ORGS: Setting = setting("network.allowedOrgs", Some("--allowed-orgs"));
const ALGORITHM: Setting = setting("consensus.algorithm", Some("--consensus"));
const VALIDATORS: Setting = setting("consensus.validators", Some("--validators"));
const TLS_CERT: Setting = setting("tls.certFile", Some("--tls-cert"));
const TLS_KEY: Setting = setting("tls.keyFile", Some("--tls-key"));
const JOIN_ADDRESS: Setting = setting("join <ws-addr>", None);

impl Source {
    fn name(&self, s: &Setting) -> &'static str {
        match (self, s.flag) {
            (Source::CommandLine, Some(flag)) => flag,
            _ => s.key,
        }
    }

    fn invalid(&self, s: &Setting, message: String) -> ConfigError {
        ConfigError::Invalid {
            origin: self.to_string(),
            setting: self.name(s).to_string(),
            message,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("defaults"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::CommandLine => f.write_str("command line"),
        }
    }
}

/// Checks the values one layer sets, each on its own.
fn check_layer(layer: &ConfigFile, src: &Source) -> Result<(), ConfigError> {
    let err = |s: &Setting, msg: String| src.invalid(s, msg);
    if let Some(org) = &layer.node.org_id {
        check_org(org).map_err(|m| err(&ORG_ID, m))?;
    }
    if layer
        .node
        .name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty())
    {
        return Err(err(&NAME, "must not be empty".into()));
    }
    let net = &layer.network;
    for (s, port) in [(&P2P_PORT, net.p2p_port), (&API_PORT, net.api_port)] {
        if port == Some(0) {
            return Err(err(s, "must be a port in 1..=65535, got 0".into()));
        }
    }
    if let Some(addr) = &net.listen_address {
        check_listen_address(addr).map_err(|m| err(&LISTEN_ADDRESS, m))?;
    }
    for peer in net.peers.iter().flatten() {
        check_peer(peer).map_err(|m| err(&PEERS, m))?;
    }
    for (s, value) in [
        (&MAX_PEERS, net.max_peers),
        (&MAX_LIGHT_PEERS, net.max_light_peers),
        (&MAX_INBOUND_PER_IP, net.max_inbound_per_ip),
        (
            &MAX_MESSAGES_PER_SECOND,
            net.max_messages_per_second.map(|v| v as usize),
        ),
    ] {
        if value == Some(0) {
            return Err(err(s, "must be at least 1, got 0".into()));
        }
    }
    if let Some(bytes) = net.max_frame_bytes.filter(|&b| b < MIN_FRAME_BYTES) {
        let message = format!(
            "must be at least {MIN_FRAME_BYTES} so a block of the maximum size fits in one frame, got {bytes}"
        );
        return Err(err(&MAX_FRAME_BYTES, message));
    }
    for key in layer.consensus.validators.iter().flatten() {
        check_validator(key).map_err(|m| err(&VALIDATORS, m))?;
    }
    for key in net.allowed_keys.iter().flatten() {
        check_validator(key).map_err(|m| err(&ALLOWED_KEYS, m.replace("validator key", "key")))?;
    }
    for org in net.allowed_orgs.iter().flatten() {
        check_org(org).map_err(|m| err(&ALLOWED_ORGS, format!("orgId {org:?}: {m}")))?;
    }
    Ok(())
}

/// Checks rules that relate settings which may come from different layers.
fn check_combined(c: &NodeConfig, layers: &[(ConfigFile, Source)]) -> Result<(), ConfigError> {
    // The source of a setting is the last layer that set it.
    let source_of = |is_set: fn(&ConfigFile) -> bool| {
        layers
            .iter()
            .rev()
            .find(|(layer, _)| is_set(layer))
            .map_or(Source::Default, |(_, src)| src.clone())
    };
    let both = |a: &Source, b: &Source| match (a, b) {
        (a, b) if a == b => a.to_string(),
        (Source::Default, other) | (other, Source::Default) => other.to_string(),
        (a, b) => format!("{a} and {b}"),
    };

    if c.p2p_port == c.api_port {
        let p2p = source_of(|l| l.network.p2p_port.is_some());
        let api = source_of(|l| l.network.api_port.is_some());
        return Err(ConfigError::Invalid {
            origin: both(&p2p, &api),
            setting: api.name(&API_PORT).into(),
            message: format!(
                "must differ from {} (both are {}): both servers bind listen address {}",
                p2p.name(&P2P_PORT),
                c.api_port,
                c.listen_address
            ),
        });
    }
    if c.tls.cert_file.is_some() != c.tls.key_file.is_some() {
        let (has, lacks) = if c.tls.cert_file.is_some() {
            (&TLS_CERT, &TLS_KEY)
        } else {
            (&TLS_KEY, &TLS_CERT)
        };
        let src = source_of(if c.tls.cert_file.is_some() {
            |l: &ConfigFile| l.tls.cert_file.is_some()
        } else {
            |l: &ConfigFile| l.tls.key_file.is_some()
        });
        let message = format!("TLS needs {} too", src.name(lacks));
        return Err(src.invalid(has, message));
    }
    if c.consensus == ConsensusAlgorithm::Raft && c.validators.is_empty() {
        let algo = source_of(|l| l.consensus.algorithm.is_some());
        let vals = source_of(|l| l.consensus.validators.is_some());
        return Err(ConfigError::Invalid {
            origin: both(&algo, &vals),
            setting: algo.name(&ALGORITHM).into(),
            message: format!(
                "raft requires at least one validator in {}",
                vals.name(&VALIDATORS)
            ),
        });
    }
    Ok(())
}

fn check_org(org: &str) -> Result<(), String> {
    if org.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(())
}

fn check_listen_address(addr: &str) -> Result<(), String> {
    let hostname = !addr.is_empty()
        && addr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if addr.parse::<IpAddr>().is_ok() || hostname {
        Ok(())
    } else {
        Err(format!("must be an IP address or host name, got {addr:?}"))
    }
}

/// A peer is `ws://host:port` or `wss://host:port`, optionally followed by a path.
fn check_peer(peer: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid peer address {peer:?}: {why}"));
    let Some(rest) = peer
        .strip_prefix("ws://")
        .or_else(|| peer.strip_prefix("wss://"))
    else {
        return bad("must be a ws:// or wss:// URL");
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let Some((host, port)) = authority.rsplit_once(':') else {
        return bad("missing :port");
    };
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.is_empty() || host == "[]" {
        return bad("missing host");
    }
    if host.contains(|c: char| c.is_whitespace() || c == '@') || (host.contains(':') && !bracketed)
    {
        return bad("invalid host");
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => bad("port must be a number in 1..=65535"),
    }
}

/// Validators are identified by their Ed25519 public key in lowercase hex.
fn check_validator(key: &str) -> Result<(), String> {
    let hex = key
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if key.len() == 64 && hex {
        Ok(())
    } else {
        Err(format!(
            "invalid validator key {key:?}: must be 64 lowercase hex characters (an Ed25519 public key)"
        ))
    }
}
