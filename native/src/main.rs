//! `miniledger`: the native full node and its command-line tools.

use miniledger_core::genesis::{Genesis, Network, DEFAULT_CHAIN_NAME};
use miniledger_core::net::Admission;
use miniledger_core::raft::RaftConfig;
use miniledger_core::validation::{Limits, ReplayRule, ValidatorSet};
use miniledger_core::{Governance, StateRootRule};
use miniledger_native::api::{self, ApiContext, NodeInfo};
use miniledger_native::cli::{
    self, Command, ContractCommand, GovernanceCommand, KeysCommand, PeersCommand, StartArgs,
    TxCommand, VoteChoice,
};
use miniledger_native::client;
use miniledger_native::config::{self, Compat, ConsensusAlgorithm, LogFormat, NodeConfig};
use miniledger_native::genesis::{self, Given};
use miniledger_native::identity::{Identity, Missing, OperatorToken, Passphrase};
use miniledger_native::keys;
use miniledger_native::node::{Clock, Node, Rules, Settings};
use miniledger_native::storage::Store;
use miniledger_native::tls::{PeerTls, TlsListener};
use std::future::{Future, IntoFuture};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::process::ExitCode;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = cli::parse();
    let result = match cli.command {
        Command::Init(args) => init(&args),
        Command::Start(args) => start(&args),
        Command::Join(args) => start(&args.start_args()),
        Command::Keys(KeysCommand::Show { data_dir }) => keys::show(&data_dir),
        Command::Keys(KeysCommand::Export {
            data_dir,
            out,
            passphrase,
        }) => keys::export(&data_dir, out.as_deref(), &passphrase),
        Command::Keys(KeysCommand::Import {
            file,
            data_dir,
            force,
            passphrase,
        }) => keys::import(&data_dir, &file, force, &passphrase),
        Command::Status(args) => client::status(&args),
        Command::Tx(TxCommand::Submit { json, api }) => client::submit(&api, &json),
        Command::Query(args) => client::query(&args.api, &args.sql, args.json),
        Command::Contract(command) => match command {
            ContractCommand::Deploy {
                file,
                name,
                version,
                api,
            } => client::contract_deploy(&api, &file, &name, &version),
            ContractCommand::Invoke {
                name,
                method,
                args,
                api,
            } => client::contract_invoke(&api, &name, &method, &args),
            ContractCommand::List(api) => client::contract_list(&api),
            ContractCommand::Show { name, api } => client::contract_show(&api, &name),
        },
        Command::Governance(command) => match command {
            GovernanceCommand::Propose(args) => client::governance_propose(&args),
            GovernanceCommand::Vote { id, vote, api } => {
                client::governance_vote(&api, &id, vote == VoteChoice::Yes)
            }
            GovernanceCommand::List(api) => client::governance_list(&api),
            GovernanceCommand::Show { id, api } => client::governance_show(&api, &id),
        },
        Command::Peers(PeersCommand::List(args)) => client::peers(&args),
        Command::Demo(args) => miniledger_native::demo::run(&args),
        Command::Genesis(args) => print_genesis(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `miniledger init [--genesis FILE]`: the data directory, and the network's genesis if given
/// (without one, the first start makes a new network with this node as its validator).
fn init(args: &cli::InitArgs) -> Result<(), String> {
    // A bad genesis file stops `init` before it creates anything.
    let genesis = args
        .genesis
        .as_deref()
        .map(genesis::read_file)
        .transpose()?;
    keys::init(&args.data_dir, &args.org, &args.passphrase)?;
    if let Some(genesis) = genesis {
        genesis::store(&args.data_dir, &genesis)?;
        println!(
            "network {:?}, genesis hash {}",
            genesis.chain_name,
            genesis.hash()
        );
    }
    Ok(())
}

/// `miniledger genesis --validators …`: the document on stdout, its hash on stderr.
fn print_genesis(args: &cli::GenesisArgs) -> Result<(), String> {
    let consensus = args.consensus.unwrap_or(if args.validators.len() > 1 {
        ConsensusAlgorithm::Raft
    } else {
        ConsensusAlgorithm::Solo
    });
    let genesis = Genesis::new(
        args.name.as_deref().unwrap_or(DEFAULT_CHAIN_NAME),
        genesis::consensus(consensus),
        &args.validators,
        &args.allowed_keys,
        &args.allowed_orgs,
    )
    .map_err(|e| e.to_string())?;
    println!("{}", genesis.to_json_pretty());
    eprintln!("genesis hash {}", genesis.hash());
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn start(args: &StartArgs) -> Result<(), String> {
    let config = config::resolve(args, None).map_err(|e| e.to_string())?;
    init_logging(config.log_format);
    let passphrase = Passphrase::from_file_or_env(args.passphrase.key_passphrase_file.as_deref())
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run_node(config, args, passphrase))
}

/// What was given for the network at this start (see `genesis::Given`).
fn given(config: &NodeConfig, args: &StartArgs) -> Result<Given, String> {
    if let Some(file) = &args.genesis {
        if !config.validators.is_empty() {
            return Err(
                "--genesis and validators (--validators or consensus.validators) both \
                 given: the genesis names the validators"
                    .into(),
            );
        }
        return Ok(Given::File(file.clone()));
    }
    if !config.validators.is_empty() {
        return Ok(Given::Validators {
            consensus: config.consensus,
            validators: config.validators.clone(),
        });
    }
    Ok(match args.join_peers.first() {
        Some(address) => Given::Peer {
            address: address.clone(),
        },
        None => Given::Nothing,
    })
}

/// The network's settings that the genesis fixes: consensus, validators, admission lists and
/// limits. `config` may repeat them but not contradict them.
fn apply_genesis(
    config: &mut NodeConfig,
    args: &StartArgs,
    network: &Network,
) -> Result<(), String> {
    let g = &network.genesis;
    let algorithm = genesis::algorithm(g.consensus);
    if args.consensus.is_some_and(|c| c != algorithm) {
        return Err(format!(
            "--consensus {}: the network's genesis (hash {}) says {algorithm}",
            args.consensus.expect("checked"),
            network.hash
        ));
    }
    for (setting, genesis_list, configured) in [
        (
            "network.allowedKeys",
            &g.allowed_keys,
            &mut config.allowed_keys,
        ),
        (
            "network.allowedOrgs",
            &g.allowed_orgs,
            &mut config.allowed_orgs,
        ),
    ] {
        if genesis_list.is_empty() {
            continue; // the node's own list, if any, applies
        }
        let mut sorted = configured.clone();
        sorted.sort();
        if !configured.is_empty() && sorted != *genesis_list {
            return Err(format!(
                "{setting} (or its flag) differs from the network's genesis (hash {}), which \
                 sets it: remove it from the node's configuration",
                network.hash
            ));
        }
        *configured = genesis_list.clone();
    }
    config.consensus = algorithm;
    config.validators = g.validators.clone();
    Ok(())
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn run_node(
    mut config: NodeConfig,
    args: &StartArgs,
    passphrase: Passphrase,
) -> Result<(), String> {
    // Certificate problems stop the node before it opens anything.
    let tls = &config.tls;
    let peer_tls = PeerTls::new(
        tls.cert_file.as_deref(),
        tls.key_file.as_deref(),
        tls.ca_file.as_deref(),
    )
    .map_err(|e| format!("cannot set up TLS: {e}"))?;
    let store = Store::open(&config.data_dir).map_err(|e| e.to_string())?;
    let Identity { key, org_id } = Identity::load(
        &config.data_dir,
        &store,
        &config.org_id,
        &passphrase,
        Missing::Create,
    )
    .map_err(|e| e.to_string())?;
    drop(passphrase);
    let operator = OperatorToken::load_or_create(&config.data_dir).map_err(|e| e.to_string())?;
    // Our own networks are defined by their genesis; a MiniLedger 0.2 network has none (its
    // genesis block is fixed and its validators configured on each node).
    let network = match config.compat {
        Some(Compat::MiniLedger02) => {
            if args.genesis.is_some() || args.expected_genesis_hash.is_some() {
                return Err("a MiniLedger 0.2 network (--compat) has no genesis document".into());
            }
            None
        }
        None => {
            let tls = peer_tls.connector.clone();
            let node_id = key.node_id().to_string();
            let fetch = |address: String| async move {
                genesis::fetch::fetch(&address, &tls, &node_id, wall_ms()).await
            };
            let given = given(&config, args)?;
            let expected = args.expected_genesis_hash.as_deref();
            let network =
                genesis::settle(&config.data_dir, given, key.public_hex(), expected, fetch).await?;
            apply_genesis(&mut config, args, &network)?;
            tracing::info!(
                genesis_hash = %network.hash,
                chain = %network.genesis.chain_name,
                validators = network.genesis.validators.len(),
                "network"
            );
            Some(network)
        }
    };
    let solo = config.consensus == ConsensusAlgorithm::Solo;
    // Solo with no validators configured: this node is the network's only validator.
    let validators = if config.validators.is_empty() {
        vec![key.public_hex().to_string()]
    } else {
        config.validators.clone()
    };
    let mut info = NodeInfo {
        node_id: key.node_id().to_string(),
        public_key: key.public_hex().to_string(),
        org_id: org_id.clone(),
        consensus: config.consensus,
        validators: validators.clone(),
        produces: solo && validators.iter().any(|v| v == key.public_hex()),
        p2p_port: 0,
        network: network.clone(),
        // Ours: proposals act and the validator set is state; 0.2's only records them.
        governance: match config.compat {
            Some(Compat::MiniLedger02) => Governance::Recorded,
            None => Governance::OnChain,
        },
    };
    let validators = ValidatorSet::new(validators);
    let settings = Settings {
        org_id,
        p2p_bind: format!("{}:{}", config.listen_address, config.p2p_port),
        listen_address: (config.listen_address != "0.0.0.0").then(|| config.listen_address.clone()),
        peers: config.peers.clone(),
        produce: solo && validators.contains(key.public_hex()),
        rules: Rules {
            validators,
            // A MiniLedger 0.2 network repeats nonces: replays are refused by hash there; and
            // its `state:set` may write any key, contract keys included.
            limits: Limits {
                replay: match config.compat {
                    Some(Compat::MiniLedger02) => ReplayRule::TxHash,
                    None => ReplayRule::Nonces,
                },
                reserved_keys: config.compat.is_none(),
                ..network
                    .as_ref()
                    .map_or_else(Limits::default, |n| n.genesis.limits(Limits::default()))
            },
            // A MiniLedger 0.2 network uses its own stateRoot rule (see `Pending`).
            state_root: match config.compat {
                Some(Compat::MiniLedger02) => StateRootRule::MiniLedgerBefore,
                None => StateRootRule::Tree,
            },
            governance: info.governance,
        },
        tls: peer_tls.clone(),
        network,
        max_frame_bytes: config.max_frame_bytes,
        max_peers: config.max_peers,
        max_light_peers: config.max_light_peers,
        max_inbound_per_ip: config.max_inbound_per_ip,
        max_messages_per_second: config.max_messages_per_second,
        admission: Admission {
            allowed_keys: non_empty(&config.allowed_keys),
            allowed_orgs: non_empty(&config.allowed_orgs),
            allow_light: config.allow_light_nodes,
        },
        // MiniLedger 0.2 validators cannot authenticate: a 0.2 network is followed without.
        authenticated_consensus: config.compat.is_none(),
        mempool_capacity: 100_000,
        // The validator set is configuration; a node not in it follows as a learner.
        raft: (!solo).then(|| {
            let mut raft = RaftConfig::new(key.public_hex(), config.validators.clone());
            raft.max_message_bytes = config.max_frame_bytes;
            // A 0.2 validator counts our observer as a voter: it needs our vote to lead.
            raft.learners_vote = config.compat.is_some();
            raft
        }),
    };
    let db_path = store.path().to_path_buf();
    let (node, p2p) = Node::start(key.clone(), store, settings, Clock::new())
        .await
        .map_err(|e| format!("cannot listen for peers: {e}"))?;
    tracing::info!(node_id = key.node_id(), public_key = key.public_hex(), %p2p, "node started");
    info.p2p_port = p2p.port();

    let ctx = ApiContext::new(info, node.commands(), &db_path, operator)
        .map_err(|e| format!("cannot open the database for the API: {e}"))?;
    let api_addr = socket_address(&config.listen_address, config.api_port);
    let listener = tokio::net::TcpListener::bind(&api_addr)
        .await
        .map_err(|e| format!("cannot listen for the API on {api_addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let www = api::www_dir();
    let router = api::router(ctx, &www);
    let server: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match peer_tls.acceptor
    {
        Some(acceptor) => {
            tracing::info!(www = %www.display(), "api listening on https://{bound}");
            let listener = TlsListener::new(listener, acceptor).map_err(|e| e.to_string())?;
            Box::pin(axum::serve(listener, router).into_future())
        }
        None => {
            tracing::info!(www = %www.display(), "api listening on http://{bound}");
            Box::pin(api::serve(listener, router))
        }
    };

    // The node loop gets its own OS thread: it blocks on SQLite and CPU work, which on the
    // runtime's workers would hold up the sockets and the API. Its result comes back here once
    // it has returned and dropped the node (the store closed).
    let (done, stopped) = tokio::sync::oneshot::channel();
    // Contracts are parsed and compiled on it: its stack is what they need (reserved, touched
    // only as deep as a parse goes; a 100-term `+` chain overflowed the default 2 MiB).
    std::thread::Builder::new()
        .name("node-loop".into())
        .stack_size(miniledger_core::contract::STACK_BYTES)
        .spawn(move || {
            let _ = done.send(node.run());
        })
        .map_err(|e| format!("cannot start the node loop: {e}"))?;
    tokio::select! {
        result = stopped => match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(fatal)) => {
                tracing::error!("{fatal}");
                Err(fatal.to_string())
            }
            Err(_) => Err("the node loop failed (panicked)".into()),
        },
        result = server => result.map_err(|e| format!("the API server stopped: {e}")),
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
}

/// An admission list: unset when empty.
fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

/// `host:port`, with IPv6 addresses bracketed.
fn socket_address(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{host}:{port}"),
    }
}

/// Caps glibc's malloc arenas at two. The node hands large allocations between threads (a
/// synced run is decoded on the loop, verified on workers, its state tree built on another);
/// with an arena per thread each kept its own peak, ~40 % more resident memory during a sync.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
