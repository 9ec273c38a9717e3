//! `poex chain init|key|deploy|status` and `poex anchor`, and the chain steps of `publish
//! --chain`, `run` (the inputs looked up in the registry) and `verify --rpc` (the bundle's
//! checkpoint anchored). docs/cli-chain.md shows each with real output.
//!
//! The settings are `HOME/chain.toml`, the signer key `HOME/keys/chain.key` (0600; only its
//! address is ever printed), and transactions are journalled in `HOME/chain/pending` so a
//! command run again after a lost receipt waits for its transaction instead of sending a
//! second one (poex-chain).

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};

use alloy::providers::Provider as _;
use anyhow::{Context as _, Result, bail};
use poex_chain::{
    Address, AnchorRecord, Anchored, B256, Chain, ChainConfig, ChainKey, Entry, Registered, U256,
    log_key, registry_name,
};
use poex_core::Digest;
use poex_core::display::escape;
use poex_log::checkpoint::Checkpoint;
use poex_log::note::Ed25519Verifier;
use poex_store::registry::AssetKind;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::Done;
use crate::args::{AnchorArgs, ChainArgs, ChainCommand, ChainKeyCommand};
use crate::home::Home;

/// The chain settings file in a home.
pub const CONFIG_FILE: &str = "chain.toml";

pub use super::chain_common::*;
pub use poex_home::chain_config_path as config_path;
use poex_home::{chain_journal_dir as journal_dir, chain_key_path as default_key_file};

/// A runtime for the chain client (one per command; the CLI is otherwise synchronous).
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime for the chain client")
}

/// An RPC URL as shown: scheme, host and port only (URLs often carry an API key).
pub use poex_chain::redact_url as redact;

fn check_url(url: &str, flag: &str) -> Result<()> {
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || alloy::transports::http::reqwest::Url::parse(url).is_err()
    {
        bail!("{flag} {:?} is not an http:// or https:// URL", redact(url));
    }
    Ok(())
}

/// HOME/chain.toml, with `--rpc` (or POEX_CHAIN_RPC) in place of its rpc_url.
pub fn load_config(root: &Path, rpc: Option<&str>) -> Result<ChainConfig> {
    let path = config_path(root);
    if !path.exists() {
        bail!(
            "no chain settings: {} does not exist; create it with 'poex chain init --rpc URL --chain-id N'",
            path.display()
        );
    }
    let mut config = ChainConfig::load(&path)?;
    if let Some(url) = rpc {
        check_url(url, "--rpc")?;
        config.rpc_url = url.to_owned();
    }
    Ok(config)
}

/// Connects, read-only or signing with the configured key (and journalling what it sends).
pub async fn connect(root: &Path, config: &ChainConfig, signer: bool) -> Result<Chain> {
    let key = if signer {
        Some(ChainKey::load(&config.key_file)?)
    } else {
        None
    };
    let chain = Chain::connect(config.clone(), key).await?;
    Ok(if signer {
        chain.with_journal(journal_dir(root))
    } else {
        chain
    })
}

/// A wei amount in ether units (18 decimals), trailing zeros dropped.
pub fn ether(wei: U256) -> String {
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let whole = wei / unit;
    let frac = wei % unit;
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{:0>18}", frac.to_string());
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

async fn balance(chain: &Chain, address: Address) -> Result<U256> {
    chain
        .provider()
        .get_balance(address)
        .await
        .with_context(|| {
            format!(
                "reading the balance of {address} at {}: the endpoint failed",
                chain.endpoint()
            )
        })
}

async fn has_code(chain: &Chain, address: Address) -> Result<bool> {
    let code = chain
        .provider()
        .get_code_at(address)
        .await
        .with_context(|| {
            format!(
                "reading the code at {address} at {}: the endpoint failed",
                chain.endpoint()
            )
        })?;
    Ok(!code.is_empty())
}

/// `0x…` hex of a 32-byte value.
fn hex32(b: &B256) -> String {
    format!("{b}")
}

/// The digest's 32 bytes, as the chain holds them.
pub fn b256(d: &Digest) -> B256 {
    B256::from(*d.as_bytes())
}

/// A chain digest as a poex sha256 digest text.
fn sha256_text(b: &B256) -> String {
    format!("sha256:{}", hex::encode(b.as_slice()))
}

pub fn chain(root: &Path, args: ChainArgs, quiet: bool) -> Result<Done> {
    let rpc = args.rpc.as_deref();
    match args.command {
        ChainCommand::Init { chain_id, force } => init(root, rpc, chain_id, force, quiet),
        ChainCommand::Key(k) => key(root, rpc, k, quiet),
        ChainCommand::Deploy { redeploy, json } => deploy(root, rpc, redeploy, json, quiet),
        ChainCommand::Status { json } => status(root, rpc, json),
    }
}

/// `poex chain init`.
fn init(root: &Path, rpc: Option<&str>, chain_id: u64, force: bool, quiet: bool) -> Result<Done> {
    let home = Home::open(root)?;
    let Some(url) = rpc else {
        bail!(
            "poex chain init needs the endpoint: --rpc URL (or POEX_CHAIN_RPC), e.g. --rpc http://127.0.0.1:8545 --chain-id 31337"
        );
    };
    check_url(url, "--rpc")?;
    let path = config_path(&home.root);
    if path.exists() && !force {
        let what = match ChainConfig::load(&path) {
            Ok(c) => format!(
                " (endpoint {}, chain id {})",
                redact(&c.rpc_url),
                c.chain_id
            ),
            Err(_) => String::new(),
        };
        bail!(
            "{} exists{what}; pass --force to replace it (the contract addresses it names are dropped too)",
            path.display()
        );
    }
    let mut config = ChainConfig::new(url, chain_id);
    config.key_file = default_key_file(&home.root);
    // Check the endpoint when it answers: a wrong chain id is refused, an unreachable
    // endpoint only noted (the node may be started later).
    let reached = runtime()?.block_on(async { Chain::connect(config.clone(), None).await });
    let note = match reached {
        Ok(_) => format!("{} answers with chain id {chain_id}", redact(url)),
        Err(poex_chain::ChainError::WrongChain { url, got, .. }) => {
            bail!(
                "{url} serves chain id {got}, not {chain_id} (--chain-id); nothing written. Fix --rpc or --chain-id"
            )
        }
        Err(e) => format!("not checked: {e}"),
    };
    config.save(&path)?;
    if !quiet {
        outln!("wrote {}", path.display());
        outln!("  endpoint  {}", redact(url));
        outln!("  chain id  {chain_id}");
        outln!("  checked   {note}");
        outln!("  key file  {}", config.key_file.display());
        if config.key_file.exists() {
            outln!("next: poex chain deploy (or set the contract addresses in chain.toml)");
        } else {
            outln!(
                "next: poex chain key new (or poex chain key import < FILE), fund its address, then poex chain deploy"
            );
        }
    }
    Ok(Done(0))
}

/// The key file: chain.toml's key_file, else HOME/keys/chain.key.
fn key_file(root: &Path) -> Result<(PathBuf, Option<ChainConfig>)> {
    let path = config_path(root);
    if path.exists() {
        let config = ChainConfig::load(&path)?;
        return Ok((config.key_file.clone(), Some(config)));
    }
    Ok((default_key_file(root), None))
}

/// `poex chain key`.
fn key(root: &Path, rpc: Option<&str>, command: ChainKeyCommand, quiet: bool) -> Result<Done> {
    let home = Home::open(root)?;
    let (file, config) = key_file(&home.root)?;
    match command {
        ChainKeyCommand::New => {
            let key = ChainKey::create(&file)?;
            if !quiet {
                outln!("created chain key {} (mode 0600)", file.display());
                outln!("  address  {}", key.address());
                outln!(
                    "fund this address on the chain before sending transactions (poex chain key show prints its balance)"
                );
            }
        }
        ChainKeyCommand::Import { from_file } => {
            let text = read_secret(from_file.as_deref())?;
            let key = ChainKey::import(&file, &text)?;
            if !quiet {
                outln!("imported chain key into {} (mode 0600)", file.display());
                outln!("  address  {}", key.address());
            }
        }
        ChainKeyCommand::Show { json } => return show_key(root, &file, config, rpc, json),
    }
    Ok(Done(0))
}

/// The key text from `file` or stdin (typed without echo on a terminal). Never printed.
fn read_secret(file: Option<&Path>) -> Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    match file {
        Some(f) => {
            let mut handle =
                std::fs::File::open(f).with_context(|| format!("--from-file {}", f.display()))?;
            handle
                .read_to_string(&mut text)
                .with_context(|| format!("--from-file {}", f.display()))?;
        }
        None if std::io::stdin().is_terminal() => {
            eprint!("chain key (64 hex digits; not shown): ");
            let echo_off = std::process::Command::new("stty")
                .arg("-echo")
                .stdin(std::process::Stdio::inherit())
                .status()
                .is_ok_and(|s| s.success());
            let read = std::io::stdin().read_line(&mut text);
            if echo_off {
                let _ = std::process::Command::new("stty")
                    .arg("echo")
                    .stdin(std::process::Stdio::inherit())
                    .status();
            }
            eprintln!();
            read.context("reading the key from the terminal")?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the key from stdin")?;
        }
    }
    // Only the key line counts; comment lines (a poex key file) are skipped.
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    if line.is_empty() {
        bail!(
            "no key given: pipe 64 hex digits on stdin (poex chain key import < FILE) or pass --from-file FILE"
        );
    }
    Ok(Zeroizing::new(line.to_owned()))
}

fn show_key(
    root: &Path,
    file: &Path,
    config: Option<ChainConfig>,
    rpc: Option<&str>,
    json: bool,
) -> Result<Done> {
    let key = ChainKey::load(file)?;
    let address = key.address();
    let mut config = config;
    if let (Some(c), Some(url)) = (config.as_mut(), rpc) {
        check_url(url, "--rpc")?;
        c.rpc_url = url.to_owned();
    }
    let balance = match &config {
        Some(c) => Some(runtime()?.block_on(async {
            let chain = connect(root, c, false).await?;
            balance(&chain, address).await
        })),
        None => None,
    };
    if json {
        let (wei, err) = match &balance {
            Some(Ok(b)) => (Some(b.to_string()), None),
            Some(Err(e)) => (None, Some(format!("{e:#}"))),
            None => (None, None),
        };
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "address": address.to_string(),
                "keyFile": file,
                "chainId": config.as_ref().map(|c| c.chain_id),
                "balanceWei": wei,
                "error": err,
            }))?
        );
    } else {
        outln!("address   {address}");
        outln!("key file  {}", file.display());
        match (&config, &balance) {
            (Some(c), Some(Ok(b))) => outln!(
                "balance   {} ether ({b} wei) on chain {} at {}",
                ether(*b),
                c.chain_id,
                redact(&c.rpc_url)
            ),
            (None, _) => outln!(
                "balance   unknown: no {} (poex chain init --rpc URL --chain-id N)",
                CONFIG_FILE
            ),
            _ => {}
        }
    }
    match balance {
        Some(Err(e)) => Err(e),
        _ => Ok(Done(0)),
    }
}

/// `poex chain deploy`.
fn deploy(root: &Path, rpc: Option<&str>, redeploy: bool, json: bool, quiet: bool) -> Result<Done> {
    let home = Home::open(root)?;
    let path = config_path(&home.root);
    let mut config = load_config(&home.root, rpc)?;
    let rt = runtime()?;
    let (chain, deployed) = rt.block_on(async {
        let chain = connect(&home.root, &config, true).await?;
        let c = &config.contracts;
        if !redeploy {
            let mut there = Vec::new();
            for (role, a) in [
                ("registry", c.registry),
                ("anchor", c.anchor),
                ("tasks", c.tasks),
            ] {
                if let Some(a) = a
                    && has_code(&chain, a).await?
                {
                    there.push(format!("{role} {a}"));
                }
            }
            if there.len() == 3 {
                bail!(
                    "{} names contracts that are deployed on chain {} ({}); pass --redeploy to deploy new ones (this home then stops using these)",
                    path.display(),
                    config.chain_id,
                    there.join(", ")
                );
            }
        }
        if !quiet && !json {
            eprintln!(
                "poex: deploying HashSig, CheckpointAnchor and PoxTasks to chain {} at {} from {}",
                config.chain_id,
                chain.endpoint(),
                chain.address().unwrap_or_default()
            );
        }
        let deployed = chain.deploy().await?;
        anyhow::Ok((chain, deployed))
    })?;
    // Written before anything is printed: the addresses must not be lost.
    config.contracts.registry = Some(deployed.registry);
    config.contracts.anchor = Some(deployed.anchor);
    config.contracts.tasks = Some(deployed.tasks);
    let mut stored = ChainConfig::load(&path)?;
    stored.contracts = config.contracts.clone();
    stored.save(&path)?;
    let roles = ["registry", "anchor", "tasks"];
    let addresses = [deployed.registry, deployed.anchor, deployed.tasks];
    if json {
        let contracts: Vec<Value> = deployed
            .transactions
            .iter()
            .zip(roles.iter().zip(addresses))
            .map(|((name, sent), (role, address))| {
                json!({
                    "role": role,
                    "contract": name,
                    "address": address.to_string(),
                    "tx": hex32(&sent.tx),
                    "block": sent.block,
                    "gasUsed": sent.gas_used,
                })
            })
            .collect();
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "chainId": config.chain_id,
                "endpoint": chain.endpoint(),
                "deployer": chain.address().map(|a| a.to_string()),
                "contracts": contracts,
                "config": path,
            }))?
        );
        return Ok(Done(0));
    }
    if !quiet {
        outln!(
            "deployed on chain {} ({}) from {}",
            config.chain_id,
            chain.endpoint(),
            chain.address().unwrap_or_default()
        );
        for ((name, sent), (role, address)) in deployed
            .transactions
            .iter()
            .zip(roles.iter().zip(addresses))
        {
            outln!("  {role:<9} {name:<17} {address}");
            outln!(
                "            transaction {}, block {}, gas {}",
                hex32(&sent.tx),
                sent.block,
                sent.gas_used
            );
        }
        outln!("wrote the addresses to {}", path.display());
    }
    Ok(Done(0))
}

/// The home's latest local checkpoint and the log's verifier, if it has a log.
fn local_checkpoint(home: &Home) -> Result<Option<(Checkpoint, String, Ed25519Verifier)>> {
    if !home.ledger_dir().join("log").join("checkpoint").is_file() {
        return Ok(None);
    }
    let ledger = home.ledger_read()?;
    let (cp, note) = ledger.checkpoint()?;
    Ok(Some((cp, note, ledger.verifier().clone())))
}

/// `poex chain status`.
fn status(root: &Path, rpc: Option<&str>, json: bool) -> Result<Done> {
    let home = Home::open(root)?;
    let config = load_config(&home.root, rpc)?;
    let local = local_checkpoint(&home)?;
    let rt = runtime()?;
    let report = rt.block_on(async {
        let chain = connect(&home.root, &config, false).await?;
        let signer = match ChainKey::load(&config.key_file) {
            Ok(k) => {
                let b = balance(&chain, k.address()).await?;
                json!({"address": k.address().to_string(), "balanceWei": b.to_string(), "balance": ether(b)})
            }
            Err(e) => json!({"error": e.to_string()}),
        };
        let c = &config.contracts;
        let mut contracts = Vec::new();
        for (role, name, a) in [
            ("registry", "HashSig", c.registry),
            ("anchor", "CheckpointAnchor", c.anchor),
            ("tasks", "PoxTasks", c.tasks),
        ] {
            let code = match a {
                Some(a) => Some(has_code(&chain, a).await?),
                None => None,
            };
            contracts.push(json!({
                "role": role, "contract": name,
                "address": a.map(|a| a.to_string()),
                "code": code,
            }));
        }
        let log = match &local {
            None => Value::Null,
            Some((cp, _, verifier)) => {
                let key = log_key(verifier);
                let mut v = json!({
                    "origin": cp.origin.as_str(),
                    "logKey": hex32(&key),
                    "localSize": cp.size.get(),
                    "localRoot": cp.root.to_hex(),
                });
                let anchor_ok = matches!(contracts[1]["code"], Value::Bool(true));
                if anchor_ok {
                    match chain.latest_anchor(key).await {
                        Ok(Some(rec)) => v["anchored"] = anchor_json(&rec),
                        Ok(None) => v["anchored"] = Value::Null,
                        Err(e) => v["anchorError"] = json!(e.to_string()),
                    }
                }
                v
            }
        };
        anyhow::Ok(json!({
            "endpoint": chain.endpoint(),
            "chainId": config.chain_id,
            "signer": signer,
            "contracts": contracts,
            "log": log,
        }))
    })?;
    if json {
        outln!("{}", crate::json::pretty(&report)?);
        return Ok(Done(0));
    }
    outln!("endpoint   {}", report["endpoint"].as_str().unwrap_or("?"));
    outln!("chain id   {}", config.chain_id);
    let s = &report["signer"];
    match s["address"].as_str() {
        Some(a) => outln!(
            "signer     {a}, balance {} ether",
            s["balance"].as_str().unwrap_or("?")
        ),
        None => outln!(
            "signer     none: {}",
            escape(s["error"].as_str().unwrap_or("?"))
        ),
    }
    for c in report["contracts"].as_array().into_iter().flatten() {
        let role = c["role"].as_str().unwrap_or("?");
        let name = c["contract"].as_str().unwrap_or("?");
        match (c["address"].as_str(), c["code"].as_bool()) {
            (Some(a), Some(true)) => outln!("{role:<10} {name:<17} {a} (code there)"),
            (Some(a), _) => outln!(
                "{role:<10} {name:<17} {a} NO CODE on this chain: poex chain deploy, or fix chain.toml"
            ),
            (None, _) => outln!("{role:<10} {name:<17} not deployed: poex chain deploy"),
        }
    }
    let log = &report["log"];
    if log.is_null() {
        outln!("log        none yet in this home");
        return Ok(Done(0));
    }
    outln!(
        "log        {} (log key {})",
        log["origin"].as_str().unwrap_or("?"),
        log["logKey"].as_str().unwrap_or("?")
    );
    outln!(
        "  local    size {}, root {}",
        log["localSize"],
        log["localRoot"].as_str().unwrap_or("?")
    );
    let a = &log["anchored"];
    if let Some(e) = log["anchorError"].as_str() {
        outln!("  anchored unknown: {}", escape(e));
    } else if log.get("anchored").is_none() {
        outln!("  anchored unknown: no anchor contract on this chain");
    } else if a.is_null() {
        outln!("  anchored never: poex anchor anchors the local checkpoint");
    } else {
        let behind = log["localSize"].as_u64().unwrap_or(0) > a["size"].as_u64().unwrap_or(0);
        outln!(
            "  anchored size {}, root {}, block {}, transaction {}{}",
            a["size"],
            a["root"].as_str().unwrap_or("?"),
            a["block"],
            a["tx"].as_str().unwrap_or("?"),
            if behind {
                " (behind the local log: poex anchor)"
            } else {
                ""
            }
        );
    }
    Ok(Done(0))
}

fn anchor_json(rec: &AnchorRecord) -> Value {
    json!({
        "size": rec.size,
        "root": hex::encode(rec.root.as_slice()),
        "block": rec.block,
        "tx": hex32(&rec.tx),
        "submitter": rec.submitter.to_string(),
    })
}

/// `poex anchor`.
pub fn anchor(root: &Path, args: AnchorArgs, quiet: bool) -> Result<Done> {
    let home = Home::open(root)?;
    let config = load_config(&home.root, args.rpc.as_deref())?;
    let Some((cp, note, verifier)) = local_checkpoint(&home)? else {
        bail!(
            "{} has no log yet: nothing to anchor (the first publish or run creates it)",
            home.root.display()
        );
    };
    if cp.size.get() == 0 {
        bail!("the log is empty (size 0): nothing to anchor yet");
    }
    let key = log_key(&verifier);
    let (chain_id, endpoint, anchored) = runtime()?.block_on(async {
        let chain = connect(&home.root, &config, true).await?;
        let anchored = chain.anchor(&note, &verifier).await?;
        anyhow::Ok((config.chain_id, chain.endpoint().to_owned(), anchored))
    })?;
    let (status, rec, gas) = match &anchored {
        Anchored::Now(rec, sent) => ("anchored", rec, Some(sent.gas_used)),
        Anchored::Already(rec) => ("already-anchored", rec, None),
        Anchored::Covered(rec) => ("covered", rec, None),
    };
    if args.json {
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "status": status,
                "chainId": chain_id,
                "endpoint": endpoint,
                "origin": cp.origin.as_str(),
                "logKey": hex32(&key),
                "size": cp.size.get(),
                "root": cp.root.to_hex(),
                "anchored": anchor_json(rec),
                "gasUsed": gas,
                "sent": gas.is_some(),
            }))?
        );
        return Ok(Done(0));
    }
    if quiet {
        return Ok(Done(0));
    }
    match &anchored {
        Anchored::Now(rec, sent) => {
            outln!(
                "anchored log {} at size {} on chain {chain_id}",
                cp.origin,
                rec.size
            );
            outln!("  root         {}", hex::encode(rec.root.as_slice()));
            outln!("  block        {}", sent.block);
            outln!("  transaction  {}", hex32(&sent.tx));
            outln!("  gas          {}", sent.gas_used);
        }
        Anchored::Already(rec) => {
            outln!(
                "log {} at size {} is already anchored on chain {chain_id}: nothing sent",
                cp.origin,
                rec.size
            );
            outln!("  root         {}", hex::encode(rec.root.as_slice()));
            outln!("  block        {}", rec.block);
            outln!("  transaction  {}", hex32(&rec.tx));
        }
        Anchored::Covered(rec) => {
            outln!(
                "log {} has a larger checkpoint anchored on chain {chain_id} (size {} > {}): it covers this one, nothing sent",
                cp.origin,
                rec.size,
                cp.size
            );
            outln!("  block        {}", rec.block);
            outln!("  transaction  {}", hex32(&rec.tx));
            // With one writer, the chain cannot be ahead of the log: another copy of this log
            // (a restored backup, a fork) anchored it.
            eprintln!(
                "poex: warning: the chain is ahead of this home's log: another copy of log {} anchored size {} (by {}). If this home is the log's only writer, its log was rolled back or forked; 'poex verify BUNDLE --rpc URL --log DIR' proves whether a bundle is covered",
                cp.origin, rec.size, rec.submitter
            );
        }
    }
    outln!("  log key      {}", hex32(&key));
    Ok(Done(0))
}

/// `publish --chain`: the settings and key, read (and the endpoint reached) before anything
/// is published, so that a misconfigured chain stops the publish.
pub fn publish_config(root: &Path, rpc: Option<&str>) -> Result<ChainConfig> {
    let config = load_config(root, rpc)?;
    if config.contracts.registry.is_none() {
        bail!(
            "--chain: {} names no registry contract (contracts.registry); deploy with 'poex chain deploy'",
            config_path(root).display()
        );
    }
    runtime()?
        .block_on(connect(root, &config, true))
        .context("--chain: nothing was published")?;
    Ok(config)
}

/// `publish --chain`, after the local publish: registers `sha256` under KIND/NAME.
pub fn register_published(
    root: &Path,
    config: &ChainConfig,
    kind: AssetKind,
    name: &str,
    sha256: &Digest,
    quiet: bool,
) -> Result<()> {
    let entry_name = registry_name(kind.name(), name);
    let hash = b256(sha256);
    let result = runtime()?.block_on(async {
        let chain = connect(root, config, true).await?;
        if let Some(e) = chain.lookup(entry_name).await?
            && e.hash != hash
        {
            return anyhow::Ok(Err(e));
        }
        anyhow::Ok(Ok(chain.register(entry_name, hash).await?))
    });
    let local_done = format!(
        "the local publish of {kind} {name} is done (it stays published here), but registering it on chain {} failed",
        config.chain_id
    );
    let registered = match result.with_context(|| local_done.clone())? {
        Ok(r) => r,
        Err(e) => bail!(
            "{local_done}: chain {} already holds {kind}/{name} with another digest, {} registered by {} in block {} (this publish has {sha256}); entries are write-once: publish it under another name to register it",
            config.chain_id,
            sha256_text(&e.hash),
            e.owner,
            e.block
        ),
    };
    if quiet {
        return Ok(());
    }
    match registered {
        Registered::Now(_, sent) => {
            outln!(
                "registered {kind}/{name} on chain {} ({sha256})",
                config.chain_id
            );
            outln!("  block        {}", sent.block);
            outln!("  transaction  {}", hex32(&sent.tx));
            outln!("  gas          {}", sent.gas_used);
        }
        Registered::Already(e) => {
            outln!(
                "{kind}/{name} is already registered on chain {} with this digest (by {} in block {}): nothing sent",
                config.chain_id,
                e.owner,
                e.block
            );
        }
    }
    Ok(())
}

/// Before `poex run`: each input (kind, name, local sha256) looked up in the chain's registry.
/// `Ok(Some(reason))` refuses the job (nothing is run); `Err` is a chain that cannot be asked.
pub fn check_run_inputs(
    root: &Path,
    check: &RunCheck<'_>,
    inputs: &[(AssetKind, &str, &Digest)],
) -> Result<Option<String>> {
    let say = |line: String| -> Result<()> {
        if check.quiet {
            return Ok(());
        }
        // Lines quote what the chain holds (anyone can register a name there).
        let line = escape(&line);
        if check.to_stderr {
            eprintln!("{line}");
        } else {
            outln!("{line}");
        }
        Ok(())
    };
    if check.skip {
        if config_path(root).exists() {
            say("chain    inputs not checked on chain (--no-chain-check)".to_owned())?;
        }
        return Ok(None);
    }
    if !config_path(root).exists() {
        if check.require {
            bail!(
                "--require-chain: {} does not exist, so there is no registry to check the inputs in; create it with 'poex chain init' and 'poex chain deploy'",
                config_path(root).display()
            );
        }
        return Ok(None);
    }
    let config = load_config(root, check.rpc).context(
        "cannot check the inputs on chain; fix chain.toml, or pass --no-chain-check to run without the check",
    )?;
    if config.contracts.registry.is_none() {
        if check.require {
            bail!(
                "--require-chain: {} names no registry contract (contracts.registry); deploy with 'poex chain deploy'",
                config_path(root).display()
            );
        }
        return Ok(None);
    }
    let found = runtime()?
        .block_on(async {
            let chain = connect(root, &config, false).await?;
            let mut found: Vec<Option<Entry>> = Vec::new();
            for (kind, name, _) in inputs {
                found.push(chain.lookup(registry_name(kind.name(), name)).await?);
            }
            anyhow::Ok(found)
        })
        .context(
            "cannot check the inputs on chain, so the job was not run; try again when the endpoint answers, or pass --no-chain-check to run without the check",
        )?;
    let mut missing = Vec::new();
    for ((kind, name, local), entry) in inputs.iter().zip(&found) {
        match entry {
            Some(e) if e.hash != b256(local) => {
                return Ok(Some(format!(
                    "{kind} {name} is registered on chain {} with another digest: the chain has {} (registered by {} in block {}), this home has {local}; the local {kind} is not the one registered, so nothing was run",
                    config.chain_id,
                    sha256_text(&e.hash),
                    e.owner,
                    e.block
                )));
            }
            Some(e) => say(format!(
                "chain    {kind} {name}: registered on chain (block {})",
                e.block
            ))?,
            None => {
                missing.push(format!("{kind} {name}"));
                say(format!(
                    "chain    {kind} {name}: not registered on chain {} (poex publish {kind} ... --name {name} --chain registers it)",
                    config.chain_id
                ))?;
            }
        }
    }
    if check.require && !missing.is_empty() {
        return Ok(Some(format!(
            "--require-chain: not registered on chain {}: {}; nothing was run",
            config.chain_id,
            missing.join(", ")
        )));
    }
    Ok(None)
}

/// What `verify --rpc` needs: the chain's settings.
pub fn verify_config(
    root: &Path,
    rpc: &str,
    chain_id: Option<u64>,
    anchor_contract: Option<&str>,
) -> Result<ChainConfig> {
    check_url(rpc, "--rpc")?;
    let path = config_path(root);
    let mut config = if path.exists() {
        let mut c = ChainConfig::load(&path)?;
        c.rpc_url = rpc.to_owned();
        c
    } else {
        let (Some(id), Some(_)) = (chain_id, anchor_contract) else {
            bail!(
                "verify --rpc needs the chain id and the anchor contract: pass --chain-id N --anchor-contract ADDR (there is no {} to take them from)",
                path.display()
            );
        };
        ChainConfig::new(rpc, id)
    };
    if let Some(id) = chain_id {
        config.chain_id = id;
    }
    if let Some(a) = anchor_contract {
        config.contracts.anchor = Some(a.parse::<Address>().map_err(|e| {
            anyhow::anyhow!("--anchor-contract {a:?} is not an address (0x and 40 hex digits): {e}")
        })?);
    }
    if config.contracts.anchor.is_none() {
        bail!(
            "{} names no anchor contract (contracts.anchor): pass --anchor-contract ADDR",
            path.display()
        );
    }
    Ok(config)
}

/// What the chain says about a bundle's checkpoint.
pub enum AnchorFinding {
    /// Anchored at exactly this size (its note opened with the log key, same root).
    Exact(AnchorRecord),
    /// Not itself, but a later checkpoint of the log is anchored: the caller proves
    /// consistency from the bundle's checkpoint to this one.
    Later(AnchorRecord),
    /// Something wrong: the check fails with this.
    Fail(String),
}

/// Looks the bundle's checkpoint `cp` of the log `verifier` up on chain.
pub fn find_anchor(
    config: &ChainConfig,
    cp: &Checkpoint,
    verifier: &Ed25519Verifier,
) -> Result<AnchorFinding> {
    let key = log_key(verifier);
    let size = cp.size.get();
    let root = B256::from(cp.root.to_bytes());
    let id = config.chain_id;
    let rt = runtime()?;
    let got = rt.block_on(async {
        let chain = Chain::connect(config.clone(), None).await?;
        let exact = chain.anchor_at(key, size).await?;
        let latest = match exact {
            Some(_) => None,
            None => chain.latest_anchor(key).await?,
        };
        Ok::<_, poex_chain::ChainError>((exact, latest))
    });
    let (exact, latest) = match got {
        Ok(v) => v,
        Err(e) => return Ok(AnchorFinding::Fail(format!("cannot read the anchors: {e}"))),
    };
    if let Some(rec) = exact {
        if let Err(e) = rec.open(verifier) {
            return Ok(AnchorFinding::Fail(format!(
                "chain {id} anchors size {size} of this log in block {}, transaction {}, but its note does not open with the trusted log key: {e}",
                rec.block,
                hex32(&rec.tx)
            )));
        }
        if rec.root != root {
            return Ok(AnchorFinding::Fail(format!(
                "chain {id} anchors size {size} of log {} with root {} (block {}, transaction {}), but the bundle's checkpoint has root {}: the log forked",
                cp.origin,
                hex::encode(rec.root.as_slice()),
                rec.block,
                hex32(&rec.tx),
                cp.root.to_hex()
            )));
        }
        return Ok(AnchorFinding::Exact(rec));
    }
    match latest {
        None => Ok(AnchorFinding::Fail(format!(
            "log {} (log key {}) was never anchored on chain {id} (contract {}): nothing on chain vouches for this checkpoint; its processor anchors it with 'poex anchor'",
            cp.origin,
            hex32(&key),
            config.contracts.anchor.unwrap_or_default()
        ))),
        Some(rec) if rec.size < size => Ok(AnchorFinding::Fail(format!(
            "the bundle's checkpoint (size {size}) is not anchored on chain {id}: the log's latest anchor is older (size {}, block {}, transaction {}); its processor anchors the newer one with 'poex anchor'",
            rec.size,
            rec.block,
            hex32(&rec.tx)
        ))),
        Some(rec) => Ok(match rec.open(verifier) {
            Ok(_) => AnchorFinding::Later(rec),
            Err(e) => AnchorFinding::Fail(format!(
                "chain {id} anchors size {} of this log in block {}, transaction {}, but its note does not open with the trusted log key: {e}",
                rec.size,
                rec.block,
                hex32(&rec.tx)
            )),
        }),
    }
}

/// A chain timestamp (unix seconds) in RFC 3339.
fn when(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// A `poex run --chain` task: submitted, matched and approved by [`TaskRun::begin`], its
/// result submitted by [`TaskRun::finish`].
pub struct TaskRun {
    rt: tokio::runtime::Runtime,
    requester: Chain,
    processor: Chain,
    chain_id: u64,
    /// The task's id.
    pub task: u64,
    /// SHA-256 of the signed job request's DSSE payload (see [`signed_payload_sha256`]).
    pub request: B256,
    /// Its result deadline (chain time).
    pub result_by: u64,
    steps: Vec<Value>,
    to_stderr: bool,
    quiet: bool,
}

impl TaskRun {
    fn say(&mut self, step: &str, line: String, sent: Option<&poex_chain::Sent>) -> Result<()> {
        let mut v = json!({ "step": step, "detail": line });
        // What the chain or its RPC endpoint said, escaped for the terminal.
        let mut text = format!("chain    {}", escape(&line));
        if let Some(s) = sent {
            v["tx"] = json!(hex32(&s.tx));
            v["block"] = json!(s.block);
            v["gasUsed"] = json!(s.gas_used);
            text.push_str(&format!(
                "\n           transaction {}, block {}, gas {}",
                hex32(&s.tx),
                s.block,
                s.gas_used
            ));
        }
        self.steps.push(v);
        if !self.quiet {
            if self.to_stderr {
                eprintln!("{text}");
            } else {
                outln!("{text}");
            }
        }
        Ok(())
    }

    /// Submits the task (requester), advertises and matches (processor), approves
    /// (requester). `request_json` is the signed request exactly as the job writes it.
    pub fn begin(
        root: &Path,
        opts: &TaskOptions<'_>,
        request_json: &[u8],
        algorithm: &Digest,
        datasets: &[&Digest],
    ) -> Result<Self> {
        if opts.result_within <= opts.match_within {
            bail!(
                "--result-within ({} s) must be longer than --match-within ({} s): the result is due after the match",
                opts.result_within,
                opts.match_within
            );
        }
        let config = load_config(root, opts.rpc)?;
        if config.contracts.tasks.is_none() {
            bail!(
                "run --chain: {} names no tasks contract (contracts.tasks); deploy with 'poex chain deploy'",
                config_path(root).display()
            );
        }
        let processor_key = ChainKey::load(&config.key_file)?;
        let requester_key = match opts.requester_key {
            Some(f) => ChainKey::load(f)
                .with_context(|| format!("--requester-chain-key {}", f.display()))?,
            None => processor_key.clone(),
        };
        let rt = runtime()?;
        let (requester, processor) = rt.block_on(async {
            let r = Chain::connect(config.clone(), Some(requester_key)).await?;
            let p = Chain::connect(config.clone(), Some(processor_key)).await?;
            anyhow::Ok((
                r.with_journal(journal_dir(root)),
                p.with_journal(journal_dir(root)),
            ))
        })?;
        let request = signed_payload_sha256(request_json).context("the signed job request")?;
        let mut run = TaskRun {
            rt,
            requester,
            processor,
            chain_id: config.chain_id,
            task: 0,
            request,
            result_by: 0,
            steps: Vec::new(),
            to_stderr: opts.to_stderr,
            quiet: opts.quiet,
        };
        let now = run.rt.block_on(run.requester.chain_time())?;
        let spec = poex_chain::TaskSpec {
            algorithm: b256(algorithm),
            datasets: datasets.iter().map(|d| b256(d)).collect(),
            request,
            metadata: opts.metadata.clone(),
            match_by: now + opts.match_within,
            result_by: now + opts.result_within,
        };
        run.result_by = spec.result_by;
        let (task, sent) = run
            .rt
            .block_on(run.requester.submit_task(&spec))
            .context("submitting the task on chain; nothing was run")?;
        run.task = task;
        let requester_addr = run.requester.address().unwrap_or_default();
        run.say(
            "submit",
            format!(
                "task {task} submitted by the requester {requester_addr} (request {}; match by {}, result by {}, chain time)",
                sha256_text(&request),
                when(spec.match_by),
                when(spec.result_by)
            ),
            Some(&sent),
        )?;
        let stuck = |what: &str| {
            format!(
                "{what}; task {task} stays open on chain until it expires (match by {}) or its requester cancels it; nothing was run",
                when(spec.match_by)
            )
        };
        let (offer, sent) = run
            .rt
            .block_on(run.processor.advertise(&opts.resources, spec.match_by))
            .with_context(|| stuck("advertising the processor's offer"))?;
        let processor_addr = run.processor.address().unwrap_or_default();
        run.say(
            "advertise",
            format!(
                "offer {offer} advertised by the processor {processor_addr} ({:?}, valid until {})",
                opts.resources,
                when(spec.match_by)
            ),
            Some(&sent),
        )?;
        let sent = run
            .rt
            .block_on(run.processor.match_task(task, offer))
            .with_context(|| stuck("matching the task"))?;
        run.say(
            "match",
            format!("task {task} matched with offer {offer} by the processor"),
            Some(&sent),
        )?;
        let sent = run
            .rt
            .block_on(run.requester.approve_task(task))
            .with_context(|| stuck("approving the task"))?;
        run.say(
            "approve",
            format!("task {task} approved by the requester"),
            Some(&sent),
        )?;
        Ok(run)
    }

    /// What the task was left as when the job did not end with a bundle.
    pub fn unfinished(&self) -> String {
        format!(
            "task {} is approved on chain {} but has no result; it expires after {} (chain time)",
            self.task,
            self.chain_id,
            when(self.result_by)
        )
    }

    /// Submits the result of the job: its results' and its receipt's SHA-256, and the bundle's
    /// checkpoint. Returns the steps, for `--json`.
    pub fn finish(
        mut self,
        report: &poex_exec::pipeline::JobReport,
        processor_key: &poex_core::PublicKey,
        log_verifier: &Ed25519Verifier,
        request_path: &Path,
    ) -> Result<Value> {
        let unfinished = self.unfinished();
        let read = |p: &Path| {
            std::fs::read(p).with_context(|| format!("reading {}; {unfinished}", p.display()))
        };
        let written = signed_payload_sha256(&read(request_path)?)
            .with_context(|| format!("{}: {unfinished}", request_path.display()))?;
        if written != self.request {
            bail!(
                "{} hashes to {} but the task names the request {}; {unfinished}",
                request_path.display(),
                sha256_text(&written),
                sha256_text(&self.request)
            );
        }
        let receipt = signed_payload_sha256(&read(&report.receipt_path)?)
            .with_context(|| format!("{}: {unfinished}", report.receipt_path.display()))?;
        let bundle = poex_ledger::ProofBundle::from_json(&read(&report.bundle_path)?)
            .with_context(|| format!("{}: {unfinished}", report.bundle_path.display()))?;
        let verified = bundle
            .verify(processor_key, log_verifier)
            .with_context(|| format!("{}: {unfinished}", report.bundle_path.display()))?;
        let mut results = Vec::new();
        for r in poex_verify::checks::results(&verified.statement) {
            let hex = r.digest.get("sha256").with_context(|| {
                format!(
                    "result {} has no sha256 in the receipt; {unfinished}",
                    r.name.as_deref().unwrap_or("?")
                )
            })?;
            let mut raw = [0u8; 32];
            hex::decode_to_slice(hex, &mut raw)
                .with_context(|| format!("result digest {hex:?}; {unfinished}"))?;
            results.push(B256::from(raw));
        }
        let cp = &verified.checkpoint;
        let spec = poex_chain::ResultSpec {
            results,
            receipt,
            log_key: log_key(log_verifier),
            tree_size: cp.size.get(),
            root: B256::from(cp.root.to_bytes()),
        };
        let task = self.task;
        let sent = self
            .rt
            .block_on(self.processor.submit_result(task, &spec))
            .with_context(|| format!("submitting the result; {unfinished}"))?;
        self.say(
            "result",
            format!(
                "result of task {task} submitted by the processor: receipt {}, {} result(s), log checkpoint size {} root {}",
                sha256_text(&receipt),
                spec.results.len(),
                spec.tree_size,
                cp.root.to_hex()
            ),
            Some(&sent),
        )?;
        let view = self.rt.block_on(self.requester.task(task))?;
        if view.receipt != receipt {
            bail!(
                "task {task} on chain names the receipt {}, not this job's {}",
                sha256_text(&view.receipt),
                sha256_text(&receipt)
            );
        }
        self.say(
            "status",
            format!("task {task} is {} on chain {}", view.status, self.chain_id),
            None,
        )?;
        Ok(json!({
            "chainId": self.chain_id,
            "task": task,
            "status": view.status.to_string(),
            "request": sha256_text(&self.request),
            "receipt": sha256_text(&receipt),
            "treeSize": spec.tree_size,
            "root": cp.root.to_hex(),
            "steps": self.steps,
        }))
    }
}

/// The digest the chain holds for a signed poex document (job request, receipt): the SHA-256 of
/// its DSSE payload, the exact bytes the signature covers. Any copy of the envelope gives the
/// same digest however its JSON is laid out (`request.json`, `receipt.json`, a bundle's
/// `receipt`).
pub(crate) fn signed_payload_sha256(envelope_json: &[u8]) -> Result<B256> {
    let envelope: poex_core::dsse::Envelope =
        serde_json::from_slice(envelope_json).context("not a DSSE envelope")?;
    Ok(B256::from(<[u8; 32]>::from(
        <sha2::Sha256 as sha2::Digest>::digest(&envelope.payload),
    )))
}
