//! `miniledger`: the native full node and its command-line tools.

use miniledger_core::validation::{Limits, ValidatorSet};
use miniledger_native::cli::{self, Command, KeysCommand, StartArgs};
use miniledger_native::config::{self, ConsensusAlgorithm, LogFormat, NodeConfig};
use miniledger_native::node::{Node, Rules, Settings};
use miniledger_native::storage::Store;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    let result = match cli.command {
        Command::Init(args) => init(&args.data_dir, &args.org),
        Command::Start(args) => start(&args),
        Command::Join(args) => start(&args.start_args()),
        Command::Keys(KeysCommand::Show { data_dir }) => keys_show(&data_dir),
        other => Err(format!(
            "`{}` needs the REST API, which this build does not serve yet",
            command_name(&other)
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Status(_) => "status",
        Command::Tx(_) => "tx submit",
        Command::Query(_) => "query",
        Command::Peers(_) => "peers list",
        Command::Demo => "demo",
        _ => "this command",
    }
}

fn init(data_dir: &std::path::Path, org: &str) -> Result<(), String> {
    let path = config::default_config_path(data_dir);
    config::write_default(&path, org).map_err(|e| e.to_string())?;
    let store = Store::open(data_dir).map_err(|e| e.to_string())?;
    let (key, _) = store
        .load_or_create_identity(org)
        .map_err(|e| e.to_string())?;
    println!(
        "initialised {} (config {}), node {}",
        data_dir.display(),
        path.display(),
        key.public_hex()
    );
    Ok(())
}

fn keys_show(data_dir: &std::path::Path) -> Result<(), String> {
    let store = Store::open(data_dir).map_err(|e| e.to_string())?;
    let (key, org) = store
        .load_or_create_identity("org1")
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({"publicKey": key.public_hex(), "nodeId": key.node_id(), "orgId": org})
    );
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(run_node(config))
}

async fn run_node(config: NodeConfig) -> Result<(), String> {
    let store = Store::open(&config.data_dir).map_err(|e| e.to_string())?;
    let (key, org_id) = store
        .load_or_create_identity(&config.org_id)
        .map_err(|e| e.to_string())?;
    let solo = config.consensus == ConsensusAlgorithm::Solo;
    // Solo with no validators configured: this node is the network's only validator.
    let validators = if config.validators.is_empty() {
        vec![key.public_hex().to_string()]
    } else {
        config.validators.clone()
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
            limits: Limits::default(),
        },
        max_frame_bytes: config.max_frame_bytes,
        max_peers: config.max_peers,
        mempool_capacity: 100_000,
    };
    let (node, p2p) = Node::start(key.clone(), store, settings)
        .await
        .map_err(|e| format!("cannot listen for peers: {e}"))?;
    tracing::info!(node_id = key.node_id(), public_key = key.public_hex(), %p2p, "node started");
    let (_commands, commands_rx) = tokio::sync::mpsc::channel(1024);
    tokio::select! {
        _ = node.run(commands_rx) => Ok(()),
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
}
