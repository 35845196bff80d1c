//! Config resolution: defaults, file-then-flags precedence, CLI parsing, and that every bad
//! setting is reported with its name and where it came from.

use std::fs;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use miniledger_native::cli::{Cli, Command, KeysCommand, PeersCommand, StartArgs, TxCommand};
use miniledger_native::config::{
    self, resolve, write_default, Compat, ConfigError, ConsensusAlgorithm, LogFormat, NodeConfig,
};
use tempfile::TempDir;

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn parse(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("miniledger").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("parse {args:?}: {e}"))
}

/// Parses `start <args>` with `--data-dir` pointing at `dir` so no stray ./data is read.
fn start_args(dir: &Path, args: &[&str]) -> StartArgs {
    let dir = dir.to_str().unwrap();
    let mut all = vec!["start", "--data-dir", dir];
    all.extend_from_slice(args);
    match parse(&all).command {
        Command::Start(args) => args,
        other => panic!("expected start, got {other:?}"),
    }
}

fn write_config(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, text).unwrap();
    path
}

/// Resolves with `text` as the `--config` file and returns the error message.
fn file_error(text: &str) -> (String, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = write_config(&dir, "node.json", text);
    let err = resolve(&start_args(dir.path(), &[]), Some(&path)).unwrap_err();
    (err.to_string(), path)
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
}

#[test]
fn cli_definition_is_consistent_and_every_subcommand_has_help() {
    Cli::command().debug_assert();
    fn check(cmd: &clap::Command) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
            check(sub);
        }
    }
    check(&Cli::command());
    let demo = Cli::command().find_subcommand("demo").unwrap().clone();
    assert_eq!(
        demo.get_about().unwrap().to_string(),
        "start a three-validator demo cluster on loopback (with the example contracts \
         deployed and used) and print the page address"
    );
}

#[test]
fn defaults_without_file_or_flags() {
    let dir = TempDir::new().unwrap();
    let config = resolve(&start_args(dir.path(), &[]), None).unwrap();
    assert_eq!(
        config,
        NodeConfig {
            data_dir: dir.path().to_path_buf(),
            ..NodeConfig::default()
        }
    );
    let d = NodeConfig::default();
    assert_eq!(d.data_dir, PathBuf::from("./data"));
    assert_eq!((d.p2p_port, d.api_port), (9000, 3000));
    assert_eq!(d.listen_address, "0.0.0.0");
    assert!(d.peers.is_empty() && d.validators.is_empty());
    assert_eq!(d.org_id, "org1");
    assert_eq!(d.name, "node1");
    assert_eq!(d.compat, None);
    assert_eq!(d.consensus, ConsensusAlgorithm::Solo);
    assert_eq!((d.max_peers, d.max_frame_bytes), (50, 16_777_216));
    assert_eq!(d.max_light_peers, 1_000);
    assert_eq!(
        (d.max_inbound_per_ip, d.max_messages_per_second),
        (8, 10_000)
    );
    assert_eq!(d.log_format, LogFormat::Text);
}

#[test]
fn file_then_flags_precedence() {
    let dir = TempDir::new().unwrap();
    let path = write_config(
        &dir,
        "node.json",
        &format!(
            r#"{{
  "node": {{"orgId": "org7", "name": "n7"}},
  "network": {{"p2pPort": 9100, "apiPort": 3100, "listenAddress": "127.0.0.1",
               "peers": ["ws://file:1"], "maxPeers": 5, "maxLightPeers": 200,
               "compat": "miniledger-0.2"}},
  "consensus": {{"algorithm": "raft", "validators": ["{KEY_A}"]}},
  "logging": {{"format": "json"}}
}}"#
        ),
    );
    // File only.
    let from_file = resolve(&start_args(dir.path(), &[]), Some(&path)).unwrap();
    assert_eq!(from_file.org_id, "org7");
    assert_eq!(from_file.name, "n7");
    assert_eq!((from_file.p2p_port, from_file.api_port), (9100, 3100));
    assert_eq!(from_file.listen_address, "127.0.0.1");
    assert_eq!(from_file.peers, ["ws://file:1"]);
    assert_eq!(from_file.max_peers, 5);
    assert_eq!(from_file.max_light_peers, 200);
    assert_eq!(from_file.max_frame_bytes, 16_777_216);
    assert_eq!(from_file.compat, Some(Compat::MiniLedger02));
    assert_eq!(from_file.consensus, ConsensusAlgorithm::Raft);
    assert_eq!(from_file.validators, [KEY_A]);
    assert_eq!(from_file.log_format, LogFormat::Json);

    // Flags win, given via --config on the command line this time.
    let args = start_args(
        dir.path(),
        &[
            "--config",
            path.to_str().unwrap(),
            "--p2p-port",
            "9200",
            "--peers",
            "ws://a:1,wss://b:2",
            "--validators",
            &format!("{KEY_A},{KEY_B}"),
            "--org",
            "org9",
            "--log-format",
            "text",
        ],
    );
    let merged = resolve(&args, None).unwrap();
    assert_eq!(merged.p2p_port, 9200);
    assert_eq!(merged.api_port, 3100, "unset flag keeps the file's value");
    assert_eq!(merged.peers, ["ws://a:1", "wss://b:2"]);
    assert_eq!(merged.validators, [KEY_A, KEY_B]);
    assert_eq!(merged.org_id, "org9");
    assert_eq!(merged.log_format, LogFormat::Text);
    assert_eq!(merged.consensus, ConsensusAlgorithm::Raft);
}

#[test]
fn file_in_data_dir_is_read_when_no_config_flag() {
    let dir = TempDir::new().unwrap();
    write_config(&dir, "miniledger.json", r#"{"network": {"apiPort": 3333}}"#);
    let config = resolve(&start_args(dir.path(), &[]), None).unwrap();
    assert_eq!(config.api_port, 3333);
}

#[test]
fn http_port_is_an_alias_for_api_port() {
    let dir = TempDir::new().unwrap();
    let config = resolve(&start_args(dir.path(), &["--http-port", "3005"]), None).unwrap();
    assert_eq!(config.api_port, 3005);
    let config = resolve(&start_args(dir.path(), &["--api-port", "3006"]), None).unwrap();
    assert_eq!(config.api_port, 3006);
}

#[test]
fn join_adds_its_peer_to_file_and_flag_peers() {
    let dir = TempDir::new().unwrap();
    write_config(
        &dir,
        "miniledger.json",
        r#"{"network": {"peers": ["ws://file:1"]}}"#,
    );
    let data_dir = dir.path().to_str().unwrap();
    let Command::Join(join) = parse(&["join", "ws://seed:9000", "--data-dir", data_dir]).command
    else {
        panic!("expected join");
    };
    assert_eq!(join.addr, "ws://seed:9000");
    let config = resolve(&join.start_args(), None).unwrap();
    assert_eq!(config.peers, ["ws://file:1", "ws://seed:9000"]);

    let Command::Join(join) = parse(&[
        "join",
        "ws://seed:9000",
        "--data-dir",
        data_dir,
        "--peers",
        "ws://seed:9000,ws://x:2",
        "--p2p-port",
        "9001",
    ])
    .command
    else {
        panic!("expected join");
    };
    let config = resolve(&join.start_args(), None).unwrap();
    assert_eq!(config.peers, ["ws://seed:9000", "ws://x:2"], "no duplicate");
    assert_eq!(config.p2p_port, 9001);

    let Command::Join(join) = parse(&["join", "http://seed", "--data-dir", data_dir]).command
    else {
        panic!("expected join");
    };
    let err = resolve(&join.start_args(), None).unwrap_err().to_string();
    assert_mentions(&err, &["command line", "join", "http://seed", "ws://"]);
}

#[test]
fn other_subcommands_parse() {
    match parse(&["init", "--data-dir", "/tmp/x", "--org", "acme"]).command {
        Command::Init(a) => assert_eq!((a.data_dir, a.org.as_str()), ("/tmp/x".into(), "acme")),
        other => panic!("{other:?}"),
    }
    match parse(&["status"]).command {
        Command::Status(a) => assert_eq!(a.api, "http://127.0.0.1:3000"),
        other => panic!("{other:?}"),
    }
    match parse(&["tx", "submit", "{}", "--api", "http://h:1"]).command {
        Command::Tx(TxCommand::Submit { json, api }) => {
            assert_eq!((json.as_str(), api.api.as_str()), ("{}", "http://h:1"))
        }
        other => panic!("{other:?}"),
    }
    match parse(&["query", "SELECT 1"]).command {
        Command::Query(q) => assert_eq!(q.sql, "SELECT 1"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        parse(&["keys", "show", "--data-dir", "d"]).command,
        Command::Keys(KeysCommand::Show { .. })
    ));
    assert!(matches!(
        parse(&["peers", "list"]).command,
        Command::Peers(PeersCommand::List(_))
    ));
    assert!(matches!(parse(&["demo"]).command, Command::Demo(_)));
    let args = match parse(&["start", "--consensus", "raft", "--compat", "miniledger-0.2"]).command
    {
        Command::Start(a) => a,
        other => panic!("{other:?}"),
    };
    assert_eq!(args.consensus, Some(ConsensusAlgorithm::Raft));
    assert_eq!(args.compat, Some(Compat::MiniLedger02));
}

#[test]
fn bad_flag_values_are_rejected_by_the_parser() {
    for args in [
        &["start", "--p2p-port", "70000"][..],
        &["start", "--consensus", "paxos"],
        &["start", "--compat", "miniledger-0.3"],
        &["start", "--log-format", "xml"],
        &["start", "--no-such-flag"],
    ] {
        let all = std::iter::once("miniledger").chain(args.iter().copied());
        let err = Cli::try_parse_from(all).unwrap_err().to_string();
        assert!(err.contains(args[1]), "{err:?} should name {}", args[1]);
    }
}

#[test]
fn missing_config_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nope.json");
    let err = resolve(&start_args(dir.path(), &[]), Some(&path)).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }));
    assert_mentions(&err.to_string(), &[path.to_str().unwrap(), "not found"]);
}

#[test]
fn unreadable_config_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("a-directory.json");
    fs::create_dir(&path).unwrap();
    let err = resolve(&start_args(dir.path(), &[]), Some(&path)).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert_mentions(&err.to_string(), &[path.to_str().unwrap(), "cannot read"]);
}

#[test]
fn invalid_json_reports_line_and_column() {
    let (err, path) = file_error("{\n  \"network\": {\"p2pPort\": 9000,}\n}");
    assert_mentions(
        &err,
        &[path.to_str().unwrap(), "invalid JSON", "line 2 column"],
    );
    let (err, path) = file_error("{} trailing");
    assert_mentions(&err, &[path.to_str().unwrap(), "invalid JSON", "line 1"]);
}

#[test]
fn wrong_type_names_the_setting_path() {
    let (err, path) = file_error("{\n  \"network\": {\n    \"p2pPort\": \"x\"\n  }\n}");
    assert_eq!(
        err,
        format!(
            "config error in {}: network.p2pPort: invalid type: string \"x\", expected u16 at line 3 column 18",
            path.display()
        )
    );
    let (err, _) = file_error(r#"{"network": {"apiPort": 70000}}"#);
    assert_mentions(&err, &["network.apiPort", "70000"]);
    let (err, _) = file_error(r#"{"consensus": {"validators": "abc"}}"#);
    assert_mentions(&err, &["consensus.validators", "invalid type"]);
    let (err, _) = file_error("[]");
    assert_mentions(&err, &["top level", "expected a JSON object"]);
    let (err, _) = file_error(r#"{"network": []}"#);
    assert_mentions(
        &err,
        &["network: invalid type: sequence, expected a JSON object"],
    );
}

#[test]
fn unknown_fields_are_rejected() {
    let (err, path) = file_error(r#"{"network": {"p2pPrt": 9000}}"#);
    assert_mentions(
        &err,
        &[path.to_str().unwrap(), "network", "p2pPrt", "unknown field"],
    );
    let (err, _) = file_error(r#"{"netwrk": {}}"#);
    assert_mentions(&err, &["netwrk", "unknown field"]);
}

#[test]
fn bad_peers_are_rejected() {
    for peer in [
        "http://a:1",
        "ws://a",
        "ws://:9000",
        "ws://a:0",
        "ws://a:x",
        "ws://a:70000",
        "a:9000",
    ] {
        let (err, path) = file_error(&format!(r#"{{"network": {{"peers": ["{peer}"]}}}}"#));
        assert_mentions(&err, &[path.to_str().unwrap(), "network.peers", peer]);

        let dir = TempDir::new().unwrap();
        let err = resolve(&start_args(dir.path(), &["--peers", peer]), None).unwrap_err();
        assert_mentions(&err.to_string(), &["command line", "--peers", peer]);
    }
    let dir = TempDir::new().unwrap();
    let ok = ["ws://a:1", "wss://host.example:443/p2p", "ws://[::1]:9000"];
    let config = resolve(&start_args(dir.path(), &["--peers", &ok.join(",")]), None).unwrap();
    assert_eq!(config.peers, ok);
}

#[test]
fn network_limits_are_read_and_checked() {
    let dir = TempDir::new().unwrap();
    let path = write_config(
        &dir,
        "node.json",
        r#"{"network": {"maxInboundPerIp": 3, "maxMessagesPerSecond": 50, "maxFrameBytes": 11534336}}"#,
    );
    let config = resolve(&start_args(dir.path(), &[]), Some(&path)).unwrap();
    assert_eq!(config.max_inbound_per_ip, 3);
    assert_eq!(config.max_messages_per_second, 50);
    assert_eq!(config.max_frame_bytes, 11_534_336);

    for setting in [
        "maxInboundPerIp",
        "maxMessagesPerSecond",
        "maxPeers",
        "maxLightPeers",
    ] {
        let (err, path) = file_error(&format!(r#"{{"network": {{"{setting}": 0}}}}"#));
        let key = format!("network.{setting}");
        assert_mentions(&err, &[path.to_str().unwrap(), &key, "at least 1"]);
    }
    // A frame must carry a block of the maximum size.
    let (err, _) = file_error(r#"{"network": {"maxFrameBytes": 11534335}}"#);
    assert_mentions(
        &err,
        &["network.maxFrameBytes", "at least 11534336", "11534335"],
    );
}

#[test]
fn bad_ports_are_rejected() {
    let (err, path) = file_error(r#"{"network": {"p2pPort": 0}}"#);
    assert_mentions(&err, &[path.to_str().unwrap(), "network.p2pPort", "0"]);

    let (err, path) = file_error(r#"{"network": {"p2pPort": 4000, "apiPort": 4000}}"#);
    assert_mentions(
        &err,
        &[
            path.to_str().unwrap(),
            "network.apiPort",
            "network.p2pPort",
            "4000",
        ],
    );

    // A clash between the file and a flag names both.
    let dir = TempDir::new().unwrap();
    let path = write_config(&dir, "node.json", r#"{"network": {"p2pPort": 3000}}"#);
    let err = resolve(&start_args(dir.path(), &[]), Some(&path))
        .unwrap_err()
        .to_string();
    assert_mentions(&err, &[path.to_str().unwrap(), "network.p2pPort", "3000"]);
    let err = resolve(
        &start_args(dir.path(), &["--api-port", "3000"]),
        Some(&path),
    )
    .unwrap_err()
    .to_string();
    assert_mentions(
        &err,
        &[
            path.to_str().unwrap(),
            "command line",
            "--api-port",
            "network.p2pPort",
        ],
    );
}

#[test]
fn bad_validators_are_rejected() {
    let upper = KEY_B.to_uppercase();
    let short = &KEY_A[..63];
    let non_hex = format!("{}g", &KEY_A[..63]);
    for key in [upper.as_str(), short, non_hex.as_str()] {
        let (err, path) = file_error(&format!(r#"{{"consensus": {{"validators": ["{key}"]}}}}"#));
        assert_mentions(
            &err,
            &[
                path.to_str().unwrap(),
                "consensus.validators",
                key,
                "64 lowercase hex",
            ],
        );
        let dir = TempDir::new().unwrap();
        let err = resolve(&start_args(dir.path(), &["--validators", key]), None).unwrap_err();
        assert_mentions(&err.to_string(), &["command line", "--validators", key]);
    }
}

#[test]
fn bad_compat_is_rejected() {
    let (err, path) = file_error(r#"{"network": {"compat": "miniledger-0.3"}}"#);
    assert_mentions(
        &err,
        &[
            path.to_str().unwrap(),
            "network.compat",
            "miniledger-0.3",
            "miniledger-0.2",
        ],
    );
    let dir = TempDir::new().unwrap();
    let path = write_config(&dir, "node.json", r#"{"network": {"compat": null}}"#);
    let config = resolve(&start_args(dir.path(), &[]), Some(&path)).unwrap();
    assert_eq!(config.compat, None);
}

#[test]
fn raft_requires_a_validator() {
    let (err, path) = file_error(r#"{"consensus": {"algorithm": "raft"}}"#);
    assert_mentions(
        &err,
        &[
            path.to_str().unwrap(),
            "consensus.algorithm",
            "raft",
            "validator",
        ],
    );
    let dir = TempDir::new().unwrap();
    let err = resolve(&start_args(dir.path(), &["--consensus", "raft"]), None).unwrap_err();
    assert_mentions(&err.to_string(), &["command line", "--consensus", "raft"]);
    let config = resolve(
        &start_args(dir.path(), &["--consensus", "raft", "--validators", KEY_A]),
        None,
    )
    .unwrap();
    assert_eq!(config.consensus, ConsensusAlgorithm::Raft);
}

#[test]
fn write_default_round_trips_and_refuses_to_overwrite() {
    let dir = TempDir::new().unwrap();
    let data_dir = dir.path().join("nested").join("data");
    let path = config::default_config_path(&data_dir);
    write_default(&path, "acme").unwrap();

    let text = fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["network"]["p2pPort"], 9000);
    assert_eq!(json["network"]["compat"], serde_json::Value::Null);
    assert_eq!(json["consensus"]["algorithm"], "solo");

    let args = start_args(&data_dir, &[]);
    let config = resolve(&args, None).unwrap();
    assert_eq!(
        config,
        NodeConfig {
            data_dir: data_dir.clone(),
            org_id: "acme".into(),
            ..NodeConfig::default()
        }
    );

    let err = write_default(&path, "other").unwrap_err();
    assert!(matches!(err, ConfigError::AlreadyExists { .. }));
    assert_mentions(
        &err.to_string(),
        &[path.to_str().unwrap(), "already exists"],
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), text, "file untouched");
}

#[test]
fn tls_files_from_file_and_flags() {
    let dir = TempDir::new().unwrap();
    let path = write_config(
        &dir,
        "node.json",
        r#"{"tls": {"certFile": "/f/cert.pem", "keyFile": "/f/key.pem", "caFile": "/f/ca.pem"}}"#,
    );
    let from_file = resolve(&start_args(dir.path(), &[]), Some(&path)).unwrap();
    assert_eq!(from_file.tls.cert_file, Some(PathBuf::from("/f/cert.pem")));
    assert_eq!(from_file.tls.key_file, Some(PathBuf::from("/f/key.pem")));
    assert_eq!(from_file.tls.ca_file, Some(PathBuf::from("/f/ca.pem")));
    // Each flag replaces its own setting only.
    let args = start_args(
        dir.path(),
        &["--tls-cert", "/c/cert.pem", "--tls-ca", "/c/ca.pem"],
    );
    let merged = resolve(&args, Some(&path)).unwrap();
    assert_eq!(merged.tls.cert_file, Some(PathBuf::from("/c/cert.pem")));
    assert_eq!(merged.tls.key_file, Some(PathBuf::from("/f/key.pem")));
    assert_eq!(merged.tls.ca_file, Some(PathBuf::from("/c/ca.pem")));
    assert_eq!(NodeConfig::default().tls, config::TlsFiles::default());

    // A certificate without its key (or the reverse) names both settings.
    let (err, path) = file_error(r#"{"tls": {"keyFile": "/f/key.pem"}}"#);
    assert_mentions(
        &err,
        &[path.to_str().unwrap(), "tls.keyFile", "tls.certFile"],
    );
    let err = resolve(&start_args(dir.path(), &["--tls-cert", "c.pem"]), None).unwrap_err();
    assert_mentions(
        &err.to_string(),
        &["command line", "--tls-cert", "--tls-key"],
    );
    let (err, _) = file_error(r#"{"tls": {"cert": "c.pem"}}"#);
    assert_mentions(&err, &["tls", "unknown field `cert`"]);
}

#[test]
fn membership_lists_are_read_checked_and_overridden_by_flags() {
    let k1 = "a".repeat(64);
    let k2 = "b".repeat(64);
    let dir = TempDir::new().unwrap();
    let text = format!(
        r#"{{"network": {{"allowedKeys": ["{k1}"], "allowedOrgs": ["acme"], "allowLightNodes": false}}}}"#
    );
    let path = write_config(&dir, "node.json", &text);
    let config = resolve(&start_args(dir.path(), &[]), Some(&path)).unwrap();
    assert_eq!(config.allowed_keys, vec![k1.clone()]);
    assert_eq!(config.allowed_orgs, vec!["acme".to_string()]);
    assert!(!config.allow_light_nodes);
    // Flags replace the file's lists.
    let flags = [
        "--allowed-keys",
        &format!("{k1},{k2}"),
        "--allowed-orgs",
        "x,y",
    ];
    let config = resolve(&start_args(dir.path(), &flags), Some(&path)).unwrap();
    assert_eq!(config.allowed_keys, vec![k1.clone(), k2]);
    assert_eq!(config.allowed_orgs, vec!["x".to_string(), "y".to_string()]);
    // Defaults: anyone, light nodes too.
    let config = resolve(&start_args(dir.path(), &[]), None).unwrap();
    assert!(config.allowed_keys.is_empty() && config.allowed_orgs.is_empty());
    assert!(config.allow_light_nodes);

    let (err, path) = file_error(r#"{"network": {"allowedKeys": ["ABC"]}}"#);
    assert_mentions(
        &err,
        &[
            path.to_str().unwrap(),
            "network.allowedKeys",
            "ABC",
            "64 lowercase hex",
        ],
    );
    let (err, path) = file_error(r#"{"network": {"allowedOrgs": [" "]}}"#);
    assert_mentions(
        &err,
        &[
            path.to_str().unwrap(),
            "network.allowedOrgs",
            "must not be empty",
        ],
    );
    let (err, path) = file_error(r#"{"network": {"allowLightNodes": "no"}}"#);
    assert_mentions(&err, &[path.to_str().unwrap(), "network.allowLightNodes"]);
    let err = resolve(&start_args(dir.path(), &["--allowed-keys", "xyz"]), None)
        .unwrap_err()
        .to_string();
    assert_mentions(&err, &["command line", "--allowed-keys", "xyz"]);
}
