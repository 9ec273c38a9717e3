//! `poex por challenge | respond | check`: proofs of retrievability (docs/por.md).
//!
//! The verifier keeps a file's `blake3:` digest and size (the registry records both), makes a
//! challenge with a fresh nonce, and checks the holder's response; the holder answers from the
//! file it keeps. With `--node URL`, `--asset NAME` takes root and size from the node's
//! registry, and `respond --asset NAME` asks the node to answer (signed with `--as`: a
//! dataset's answer holds its bytes, so only its owners and allowed requesters get one).

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use poex_core::{Algorithm, Digest};
use poex_por::{Challenge, PorError, Response, detect, tree};
use poex_store::registry::{AssetKind, Name, Record};

use crate::Done;
use crate::home::Home;
use poex_client::Client;

/// `poex por ...`.
#[derive(Debug, Subcommand)]
pub enum PorCommand {
    /// Make a challenge: k random chunks of a file, fixed by a fresh nonce (JSON).
    Challenge(ChallengeArgs),
    /// Answer a challenge from a file you hold, or a registered asset (with --node: the
    /// node answers); writes the binary response.
    Respond(RespondArgs),
    /// Check a response against the root and size you keep; exits 4 naming every chunk that
    /// failed.
    Check(CheckArgs),
}

/// Which file: a root and size you keep, or a registered asset's.
#[derive(Debug, Args)]
pub struct Target {
    /// The file's blake3 digest (`blake3:<hex>`), as the registry records it.
    #[arg(
        long,
        value_name = "DIGEST",
        requires = "size",
        conflicts_with = "asset"
    )]
    root: Option<String>,
    /// The file's size in bytes.
    #[arg(long, value_name = "BYTES", requires = "root")]
    size: Option<u64>,
    /// Take root and size from this registered asset (this home's registry, or the node's
    /// with --node).
    #[arg(long, value_name = "NAME")]
    asset: Option<String>,
    /// dataset or algorithm, when both kinds have an asset of that name.
    #[arg(long, value_name = "KIND", requires = "asset")]
    kind: Option<String>,
}

/// `poex por challenge`.
#[derive(Debug, Args)]
pub struct ChallengeArgs {
    #[command(flatten)]
    target: Target,
    /// Chunks (1 KiB each) to challenge: catches a holder missing a fraction f of them with
    /// probability 1 - (1 - f)^k or better (100: 63 % at f = 1 %; 459: 99 %).
    #[arg(short = 'k', long = "chunks", value_name = "K", default_value_t = 100)]
    k: u32,
    /// Write the challenge here instead of standard output.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `poex por respond`.
#[derive(Debug, Args)]
pub struct RespondArgs {
    /// The file you hold.
    #[arg(
        value_name = "FILE",
        required_unless_present = "asset",
        conflicts_with = "asset"
    )]
    file: Option<PathBuf>,
    /// Answer for this registered asset (from this home's store, or by the node with --node).
    #[arg(long, value_name = "NAME")]
    asset: Option<String>,
    /// dataset or algorithm, when both kinds have an asset of that name.
    #[arg(long, value_name = "KIND", requires = "asset")]
    kind: Option<String>,
    /// The challenge (JSON).
    #[arg(long, value_name = "FILE")]
    challenge: PathBuf,
    /// Where to write the response (binary).
    #[arg(
        short = 'o',
        long = "out",
        value_name = "FILE",
        default_value = "response.por"
    )]
    out: PathBuf,
    /// Keep the file's outboard here (built on first use, 0.4 % of the file); without it,
    /// FILE is hashed whole for each answer. --asset uses HOME/por/<blake3>.outboard.
    #[arg(long, value_name = "FILE", conflicts_with = "asset")]
    outboard: Option<PathBuf>,
    /// The key to sign a --node request with (a node answers for a dataset only to its owners
    /// and allowed requesters).
    #[arg(long = "as", value_name = "KEY", default_value = "default")]
    as_key: String,
}

/// `poex por check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    target: Target,
    /// The challenge you sent (JSON).
    #[arg(long, value_name = "FILE")]
    challenge: PathBuf,
    /// The holder's response (binary).
    #[arg(long, value_name = "FILE")]
    response: PathBuf,
}

/// Runs `poex por ...`; `node` is `--node URL` if given.
pub fn por(root: &Path, node: Option<&str>, command: PorCommand, quiet: bool) -> Result<Done> {
    match command {
        PorCommand::Challenge(a) => challenge(root, node, a, quiet),
        PorCommand::Respond(a) => respond(root, node, a, quiet),
        PorCommand::Check(a) => check(root, node, a),
    }
}

fn challenge(root: &Path, node: Option<&str>, a: ChallengeArgs, quiet: bool) -> Result<Done> {
    let (digest, size, what) = target(root, node, &a.target)?;
    let c = Challenge::new(digest, size, a.k)?;
    let json = c.to_json();
    match &a.out {
        Some(path) => std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?,
        None => outln!("{json}"),
    }
    if !quiet {
        let n = tree::chunk_count(size);
        let drawn = u64::from(a.k).min(n);
        let to = a
            .out
            .as_ref()
            .map(|p| format!(" -> {}", p.display()))
            .unwrap_or_default();
        eprintln!(
            "challenge: {drawn} of {n} chunks of {what}{to}\n  catches a holder missing 1 % of \
             the chunks with probability {:.1} % (99 % needs -k {}); keep the root, the size \
             and this file to check the answer",
            100.0 * detect::exact(n, n.div_ceil(100), drawn),
            detect::challenges_for(0.01, 0.99)
        );
    }
    Ok(Done(0))
}

fn respond(root: &Path, node: Option<&str>, a: RespondArgs, quiet: bool) -> Result<Done> {
    let c = read_challenge(&a.challenge)?;
    if a.out.as_os_str() == "-" && std::io::stdout().is_terminal() {
        bail!("the response is binary: write it to a file (-o FILE)");
    }
    let started = Instant::now();
    let (response, built, self_check) = match (&a.asset, node) {
        (Some(name), Some(url)) => {
            let client = Client::new(url)?;
            let (record, kind) = lookup(root, Some(url), name, a.kind.as_deref())?;
            let key = crate::home::identity(root, &a.as_key)?;
            let bytes = ask_node(&client, kind, record.name.as_str(), &c, &key)?;
            (Response::from_bytes(&bytes)?, None, None)
        }
        (Some(name), None) => {
            let home = Home::open(root)?;
            let (record, _) = lookup(root, None, name, a.kind.as_deref())?;
            let (digest, _) = stored_file(&record)?;
            let object = home.store.objects().path_of(&digest)?;
            let dir = home.root.join("por");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let outboard = dir.join(format!("{}.outboard", digest.hex()));
            let answer = poex_por::respond_file(&object, Some(&outboard), &c)?;
            let built = answer.outboard_built.then_some(outboard);
            (answer.response, built, Some(answer.self_check))
        }
        (None, _) => {
            let file = a.file.as_deref().context("give FILE or --asset NAME")?;
            let answer = poex_por::respond_file(file, a.outboard.as_deref(), &c)?;
            let built = answer.outboard_built.then(|| {
                a.outboard.clone().unwrap_or_else(|| {
                    PathBuf::from("(in memory: pass --outboard FILE to keep it)")
                })
            });
            (answer.response, built, Some(answer.self_check))
        }
    };
    let bytes = response.to_bytes();
    if a.out.as_os_str() == "-" {
        use std::io::Write as _;
        std::io::stdout().write_all(&bytes)?;
    } else {
        std::fs::write(&a.out, &bytes).with_context(|| format!("writing {}", a.out.display()))?;
    }
    if !quiet {
        if let Some(p) = &built {
            eprintln!("outboard built: {}", p.display());
        }
        eprintln!(
            "response: {} chunks ({} bytes) + {} tree values = {} bytes -> {} ({:.1} ms)",
            response.chunk_count(),
            response.data_len(),
            response.cv_count(),
            bytes.len(),
            a.out.display(),
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    if let Some(Err(e)) = self_check {
        eprintln!(
            "poex: your copy fails its own check: {e}\n  the response was written anyway (it is \
             the honest answer); restore the file from a good copy"
        );
        return Ok(Done(4));
    }
    Ok(Done(0))
}

fn check(root: &Path, node: Option<&str>, a: CheckArgs) -> Result<Done> {
    let (digest, size, what) = target(root, node, &a.target)?;
    let c = read_challenge(&a.challenge)?;
    let bytes = std::fs::read(&a.response)
        .with_context(|| format!("reading the response {}", a.response.display()))?;
    let verdict = Response::from_bytes(&bytes).and_then(|r| poex_por::check(&digest, size, &c, &r));
    let n = tree::chunk_count(size);
    let drawn = u64::from(c.k()).min(n);
    match verdict {
        Ok(()) => {
            outln!(
                "ok   all {drawn} challenged chunks of {what} hash to the root (nonce {})",
                hex_short(c.nonce())
            );
            outln!(
                "     a holder missing 1 % of the chunks passes such a challenge with probability {:.1} %",
                100.0 * (1.0 - detect::exact(n, n.div_ceil(100), drawn))
            );
            Ok(Done(0))
        }
        Err(PorError::Chunks { failed, challenged }) => {
            for f in &failed {
                outln!("FAIL {f} does not hash to the root");
            }
            outln!(
                "FAIL {} of {challenged} challenged chunks of {what} failed: the holder does not \
                 have these bytes as published",
                failed.len()
            );
            Ok(Done(4))
        }
        Err(e) => {
            outln!("FAIL {e}");
            Ok(Done(4))
        }
    }
}

fn hex_short(bytes: &[u8; 32]) -> String {
    let mut s = String::with_capacity(16);
    for b in &bytes[..8] {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn read_challenge(path: &Path) -> Result<Challenge> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(path)
            .with_context(|| format!("reading the challenge {}", path.display()))?;
    }
    Challenge::from_json(&bytes).with_context(|| format!("{}", path.display()))
}

/// Root, size and a description of the file a [`Target`] names.
fn target(root: &Path, node: Option<&str>, t: &Target) -> Result<(Digest, u64, String)> {
    if let (Some(text), Some(size)) = (&t.root, t.size) {
        let digest: Digest = text
            .parse()
            .with_context(|| format!("--root {text}: expected blake3:<64 hex>"))?;
        if digest.algorithm() != Algorithm::Blake3 {
            bail!(
                "--root {text}: proofs of retrievability use the blake3 digest (`poex show NAME` lists it)"
            );
        }
        return Ok((digest, size, format!("{digest} ({size} bytes)")));
    }
    let Some(name) = &t.asset else {
        bail!("say which file: --root blake3:<hex> --size BYTES, or --asset NAME");
    };
    let (record, kind) = lookup(root, node, name, t.kind.as_deref())?;
    let (digest, size) = stored_file(&record)?;
    let sealed = if record.sealed.is_some() {
        ", the copy sealed at rest"
    } else {
        ""
    };
    Ok((
        digest,
        size,
        format!("{kind} {name} = {digest} ({size} bytes{sealed})"),
    ))
}

/// A registered asset, from this home or (with `node`) the node.
fn lookup(
    root: &Path,
    node: Option<&str>,
    name: &str,
    kind: Option<&str>,
) -> Result<(Record, AssetKind)> {
    let kinds = match kind {
        None => vec![AssetKind::Dataset, AssetKind::Algorithm],
        Some("dataset") => vec![AssetKind::Dataset],
        Some("algorithm") => vec![AssetKind::Algorithm],
        Some(other) => bail!("--kind {other}: expected dataset or algorithm"),
    };
    let parsed = Name::new(name)?;
    let mut found = Vec::new();
    match node {
        Some(url) => {
            let client = Client::new(url)?;
            for k in kinds {
                if let Some(r) = client.asset(k, name)? {
                    found.push((r, k));
                }
            }
        }
        None => {
            let home = Home::open(root)?;
            for k in kinds {
                if let Some(r) = home.store.registry().get(k, &parsed)? {
                    found.push((r, k));
                }
            }
        }
    }
    let where_ = node.map_or_else(
        || "in this home".to_owned(),
        |u| format!("on the node at {u}"),
    );
    match found.len() {
        0 => bail!("nothing named {name:?} is published {where_}"),
        1 => Ok(found.remove(0)),
        _ => bail!(
            "{name:?} is both a dataset and an algorithm {where_}: add --kind dataset or --kind algorithm"
        ),
    }
}

/// The one file the store holds for an asset (`Record::stored_file`): its blake3 and size.
fn stored_file(record: &Record) -> Result<(Digest, u64)> {
    record.stored_file().with_context(|| {
        format!(
            "{} {} is a folder kept as many files: its blake3 digest is its manifest's, not one \
             file's BLAKE3 tree, so it has no proof of retrievability (challenge single-file \
             assets, or folders sealed at rest)",
            record.kind, record.name
        )
    })
}

/// Asks a node to answer `c` for its asset; returns the response bytes.
fn ask_node(
    client: &Client,
    kind: AssetKind,
    name: &str,
    c: &Challenge,
    key: &poex_core::keys::SecretKey,
) -> Result<Vec<u8>> {
    Ok(client.por(kind, name, c, key)?)
}
