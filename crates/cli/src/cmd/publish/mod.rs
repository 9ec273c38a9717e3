//! `poex publish dataset|algorithm` and `poex show`.

pub mod node;

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use poex_core::display::escape;
use poex_core::{Digest, Signer as _};
use poex_exec::at_rest;
use poex_exec::pipeline::Reporter as _;
use poex_ledger::Entry;
use poex_store::audit::{Event, Operation};
use poex_store::registry::{Added, AssetKind, Name, Policy, Record};

use crate::Done;
use crate::args::PublishCommand;
use crate::home::Home;
use crate::progress::Bars;

pub fn publish(root: &Path, command: PublishCommand, quiet: bool) -> Result<Done> {
    let home = Home::open(root)?;
    let (kind, path, name, as_key, chain) = match &command {
        PublishCommand::Dataset {
            path,
            name,
            as_key,
            chain,
            ..
        } => (AssetKind::Dataset, path, name, as_key, chain),
        PublishCommand::Algorithm {
            path,
            name,
            as_key,
            chain,
            ..
        } => (AssetKind::Algorithm, path, name, as_key, chain),
    };
    let name = Name::new(name.as_str())?;
    let publisher = home.secret(as_key)?.public_key().key_id().to_string();
    let seal_at_rest = matches!(
        command,
        PublishCommand::Dataset {
            seal_at_rest: true,
            ..
        }
    );

    // Settle everything that can fail on the arguments before copying any bytes.
    let (policy, entrypoint) = match &command {
        PublishCommand::Dataset {
            allow,
            allow_requester,
            ..
        } => {
            let mut allowed_algorithms = Vec::new();
            for a in allow {
                allowed_algorithms.push(algorithm_digest(&home, a)?);
            }
            let mut allowed_requesters = Vec::new();
            for r in allow_requester {
                allowed_requesters.push(home.key_id(r)?);
            }
            (
                Some(Policy {
                    allowed_algorithms,
                    allowed_requesters,
                }),
                None,
            )
        }
        PublishCommand::Algorithm { entrypoint, .. } => {
            let argv: Vec<String> = entrypoint.split_whitespace().map(str::to_owned).collect();
            if argv.is_empty() {
                bail!(
                    "--entrypoint is empty; give the command to run, e.g. --entrypoint \"python3 main.py\""
                );
            }
            (None, Some(argv))
        }
    };
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    // --chain: the settings and key are read (and the endpoint reached) before anything is
    // published, so a misconfigured chain stops here.
    let chain_config = if chain.chain {
        Some(super::chain::publish_config(
            &home.root,
            chain.rpc.as_deref(),
        )?)
    } else {
        None
    };

    let bars = Bars::new(quiet);
    let total = poex_store::hash::total_size(path)?;
    let record = if seal_at_rest {
        // Only the sealed copy enters the store; the plaintext is read once (a folder:
        // hashed, then read again into the sealed tar stream) and never copied.
        let identity = home.data_identity()?;
        bars.begin_bytes(&format!("sealing {}", path.display()), total);
        let sealed =
            at_rest::seal_into_store(home.store.objects(), path, &identity.recipient(), &|n| {
                bars.advance(n)
            });
        bars.end_bytes();
        sealed?.record(name.clone(), publisher.clone(), policy.unwrap_or_default())
    } else {
        bars.begin_bytes(&format!("importing {}", path.display()), total);
        let stored = home.store.objects().import(path, &|n| bars.advance(n));
        bars.end_bytes();
        let tree = stored?.tree;
        Record {
            kind,
            name: name.clone(),
            digests: tree.digests.clone(),
            layout: tree.kind,
            size: tree.total_bytes,
            file_count: tree.files.len() as u64,
            published_at: poex_store::now_rfc3339(),
            publisher: publisher.clone(),
            entrypoint,
            policy,
            sealed: None,
        }
    };
    let added = home.store.registry().add(&record);
    let mut logged = record.clone();
    if let Some(new_sealed) = record.sealed.as_ref().and_then(|s| s.digests.blake3())
        && !matches!(added, Ok(Added::Created))
    {
        // The record is not written, so nothing names the sealed copy just made.
        at_rest::remove_object(home.store.objects(), new_sealed)?;
        match &added {
            Ok(Added::AlreadyPresent { existing }) if existing.sealed.is_none() => bail!(
                "{kind} {name} is already published with this content, kept in plaintext in \
                 the store; publish it sealed at rest under a new name"
            ),
            Ok(Added::AlreadyPresent { existing }) => logged = (**existing).clone(),
            _ => {}
        }
    }
    let added = added?;
    let mut event = Event::now(&publisher, Operation::Publish, name.as_str());
    event.digest = record.digests.sha256().copied();
    event.detail = Some(match (&added, &logged.sealed) {
        (Added::Created, None) => format!("{kind} published"),
        (Added::Created, Some(_)) => format!("{kind} published, sealed at rest"),
        _ => format!("{kind} already published with the same content"),
    });
    // The record and the event go into the log together: registry state is provable.
    home.ledger()?
        .append(&[Entry::Record(logged.clone()), Entry::Event(event)])?;
    if !quiet {
        match added {
            Added::Created => outln!("published {kind} {name}"),
            _ => outln!("{kind} {name} was already published with this content; nothing changed"),
        }
        for d in logged.digests.iter() {
            outln!("  {d}");
        }
        outln!("  {} file(s), {} bytes", logged.file_count, logged.size);
        if let Some(s) = &logged.sealed {
            outln!("  sealed at rest to {}", s.recipient);
            for d in s.digests.iter() {
                outln!("  sealed object {d}");
            }
        }
    }
    if let Some(config) = &chain_config {
        let sha256 = logged
            .digests
            .sha256()
            .context("registry record without sha256")?;
        super::chain::register_published(&home.root, config, kind, name.as_str(), sha256, quiet)?;
    }
    Ok(Done(0))
}

/// `--allow` takes a registered algorithm name or a sha256 digest.
fn algorithm_digest(home: &Home, text: &str) -> Result<Digest> {
    if text.contains(':') {
        let d: Digest = text.parse()?;
        if d.algorithm() != poex_core::Algorithm::Sha256 {
            bail!("--allow {text}: give the algorithm's sha256 digest (or its registered name)");
        }
        return Ok(d);
    }
    let name = Name::new(text)?;
    let record = home
        .store
        .registry()
        .get(AssetKind::Algorithm, &name)?
        .with_context(|| format!("--allow {text}: no algorithm of that name is published (publish it first, or give its sha256 digest)"))?;
    record
        .digests
        .sha256()
        .copied()
        .context("registry record without sha256")
}

pub fn show(root: &Path, name: &str, json: bool) -> Result<Done> {
    let home = Home::open(root)?;
    let parsed = Name::new(name)?;
    let mut found = Vec::new();
    for kind in [AssetKind::Dataset, AssetKind::Algorithm] {
        if let Some(r) = home.store.registry().get(kind, &parsed)? {
            found.push(r);
        }
    }
    if found.is_empty() {
        bail!(
            "nothing named {name:?} is published (poex publish dataset|algorithm PATH --name {name})"
        );
    }
    for r in found {
        print_record(&r, json)?;
    }
    Ok(Done(0))
}

/// What `poex show` prints for one record (text, or JSON with `json`). The text escapes
/// control and bidi characters in what the publisher wrote (the entrypoint above all) and in
/// what a node sent.
pub fn print_record(r: &Record, json: bool) -> Result<()> {
    if json {
        outln!("{}", crate::json::pretty(r)?);
        return Ok(());
    }
    outln!("{} {}", r.kind, r.name);
    for d in r.digests.iter() {
        outln!("  digest      {d}");
    }
    outln!(
        "  layout      {:?}, {} file(s), {} bytes",
        r.layout,
        r.file_count,
        r.size
    );
    outln!(
        "  published   {} by {}",
        escape(&r.published_at),
        escape(&r.publisher)
    );
    if let Some(e) = &r.entrypoint {
        outln!("  entrypoint  {}", escape(&e.join(" ")));
    }
    if let Some(s) = &r.sealed {
        outln!(
            "  sealed      at rest ({}), to {}",
            escape(&s.format),
            escape(&s.recipient)
        );
        for d in s.digests.iter() {
            outln!("  sealed as   {d}");
        }
    }
    if let Some(p) = &r.policy {
        if p.allowed_algorithms.is_empty() {
            outln!("  allows      no algorithm (deny by default)");
        }
        for a in &p.allowed_algorithms {
            outln!("  allows      {a}");
        }
        for q in &p.allowed_requesters {
            outln!("  requester   {}", escape(q));
        }
    }
    Ok(())
}
