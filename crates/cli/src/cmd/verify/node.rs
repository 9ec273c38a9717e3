//! `poex --node URL verify BUNDLE`: check a proof bundle with the keys the node publishes.
//!
//! By default the checks run here, as offline `poex verify` runs them: the node's processor
//! key and log verifier key come from `GET /api/info` (unless `--key`/`--log-key` say
//! otherwise), and the bundle's checkpoint must be extended by the node's log today
//! (`--log URL/log`, a consistency proof from its tiles). `--ask-node` sends the bundle (and
//! the digests of the results you hold, never the files) to `POST /api/verify` and prints the
//! node's checks instead.
//!
//! Either way the node is trusted for its keys. The independent check is offline
//! `poex verify BUNDLE --key PROCESSOR.pem --log-key VKEY` with keys obtained another way.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use poex_client::Client;
use poex_client::wire::{FileDigest, VerifyRequest};
use poex_core::Algorithm;
use poex_core::display::escape;
use poex_core::keys::PublicKey;
use poex_exec::pipeline::BUNDLE_NAME;
use poex_store::hash::{hash_file, hash_tree, no_progress};
use serde_json::{Value, json};

use crate::Done;
use crate::args::VerifyArgs;
use crate::checks::PrintChecks as _;

const INDEPENDENT: &str = "for an independent check, get the node's keys another way (from its operator) and run offline: poex verify BUNDLE --key PROCESSOR.pem --log-key VKEY";

pub fn verify(client: &Client, root: &Path, mut args: VerifyArgs, quiet: bool) -> Result<Done> {
    if args.ask_node {
        if args.rpc.is_some() {
            bail!(
                "--rpc checks the chain anchor here; drop --ask-node to check the bundle here with the node's keys and the chain"
            );
        }
        return ask_node(client, &args, quiet);
    }
    let info = client.info()?;
    let processor = PublicKey::from_base64(&info.processor.public_key)
        .context("the node's processor key in /api/info is not an Ed25519 public key")?;
    let log_key = info.log.verifier_key;

    // The user's own choices win over the node's word.
    let mut trusted = Vec::new();
    let _pem_file;
    match &args.key {
        Some(k) => trusted.push(format!("processor key  {} (--key)", k.display())),
        None => {
            let mut file = tempfile::Builder::new()
                .prefix("poex-node-processor-")
                .suffix(".pem")
                .tempfile()
                .context("writing the node's processor key to a temporary file")?;
            file.write_all(processor.to_spki_pem().as_bytes())?;
            file.flush()?;
            args.key = Some(file.path().to_owned());
            _pem_file = file;
            trusted.push(format!(
                "processor key  {} (from {})",
                processor.key_id(),
                client.url("/api/info")
            ));
        }
    }
    match &args.log_key {
        Some(_) => trusted.push("log key        --log-key".to_owned()),
        None => {
            trusted.push(format!(
                "log key        {log_key} (from {})",
                client.url("/api/info")
            ));
            args.log_key = Some(log_key);
        }
    }
    if args.log.is_none() {
        args.log = Some(client.url("/log"));
        trusted.push(format!(
            "consistency    with the node's log today ({})",
            client.url("/log")
        ));
    }
    let header = |w: &mut dyn std::io::Write| -> std::io::Result<()> {
        writeln!(
            w,
            "checking here, with the keys the node at {} publishes:",
            client.base()
        )?;
        for t in &trusted {
            // The log key is the node's word, shown as it sent it but escaped.
            writeln!(w, "  {}", escape(t))?;
        }
        writeln!(w)
    };
    if args.json || quiet {
        // stdout carries only the JSON report (or nothing): say it on stderr.
        if !quiet {
            header(&mut std::io::stderr())?;
        }
    } else {
        header(&mut std::io::stdout())?;
    }
    let json = args.json;
    let done = super::verify(root, args, quiet)?;
    if !json && !quiet {
        outln!("note: the node's keys came from the node itself; {INDEPENDENT}");
    }
    Ok(done)
}

/// `--ask-node`: `POST /api/verify` with the bundle and the digests of files held here.
fn ask_node(client: &Client, args: &VerifyArgs, quiet: bool) -> Result<Done> {
    let (bundle_path, default_results) = if args.proof.is_dir() {
        let results = Some(args.proof.join("results")).filter(|p| p.is_dir());
        (args.proof.join(BUNDLE_NAME), results)
    } else {
        (args.proof.clone(), None)
    };
    let bytes = std::fs::read(&bundle_path)
        .with_context(|| format!("reading {}", bundle_path.display()))?;
    let bundle: Value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not JSON; --ask-node sends a proof bundle (bundle.json)",
            bundle_path.display()
        )
    })?;
    let mut files = Vec::new();
    if let Some(dir) = args.results.clone().or(default_results) {
        let tree = hash_tree(&dir, &[Algorithm::Sha256], &no_progress)
            .with_context(|| format!("hashing {}", dir.display()))?;
        for f in &tree.files {
            if let Some(d) = f.digests.sha256() {
                files.push(FileDigest {
                    name: f.path.clone(),
                    sha256: d.to_string(),
                });
            }
        }
    }
    for file in &args.files {
        let d = hash_file(file, &[Algorithm::Sha256], &no_progress)
            .with_context(|| format!("hashing {}", file.display()))?;
        if let Some(d) = d.sha256() {
            files.push(FileDigest {
                name: display_name(file),
                sha256: d.to_string(),
            });
        }
    }
    if args.key.is_some() || args.log_key.is_some() || args.log.is_some() {
        bail!(
            "--ask-node checks with the node's own keys and log; --key, --log-key and --log are for checking here (drop --ask-node)"
        );
    }
    let answer = client.verify(&VerifyRequest { bundle, files })?;
    let ok = answer.ok;
    let code = if ok { 0 } else { 4 };
    if args.json {
        let mut json = serde_json::to_value(&answer)?;
        json["askedNode"] = json!(client.base());
        outln!("{}", crate::json::pretty(&json)?);
        return Ok(Done(code));
    }
    let checks = &answer.checks;
    if !quiet || !ok {
        outln!(
            "the node at {} checked {}:",
            client.base(),
            bundle_path.display()
        );
        checks.print()?;
        outln!();
        outln!(
            "{}",
            if ok {
                "verified by the node: every check passed"
            } else {
                "NOT VERIFIED: see the failed checks above"
            }
        );
    }
    if !quiet {
        let t = &answer.trusted;
        outln!(
            "the node used its own keys: processor {}, log {}",
            escape(&t.processor_key_id),
            escape(&t.log_verifier_key)
        );
        outln!("note: this asked the node; {INDEPENDENT}");
    }
    Ok(Done(code))
}

fn display_name(p: &Path) -> String {
    p.file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| p.to_owned())
        .display()
        .to_string()
}
