//! `poex log`: inspect the transparency log, prove its entries, check it, and log a receipt that
//! missed it.
//!
//! Everything but `add` (and `prove --size` at an older size, which re-signs that size's
//! checkpoint) reads the log without its writer lock, as of the checkpoint it finds, so it never
//! waits for a running job. Every command trusts the log only through this home's log key: the
//! checkpoint is opened with it before anything else is read. `docs/cli-log.md` has the output
//! of each command.

use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use poex_core::display::escape;
use poex_core::dsse::Envelope;
use poex_core::outcome::{Outcome, OutcomeError};
use poex_core::receipt::{self, ReceiptError, ReceiptStatement};
use poex_core::statement::ResourceDescriptor;
use poex_exec::pipeline::BUNDLE_NAME;
use poex_ledger::ledger::{INDEX_FILE, LEAVES_FILE};
use poex_ledger::{Entry, Ledger, LogIndex, ProofBundle};
use poex_log::checkpoint::Checkpoint;
use poex_log::note::{self, Ed25519Verifier};
use poex_log::proof::{self, fold_range};
use poex_log::tile::{TILE_WIDTH, TileHashReader, TileId, TileSource};
use poex_log::{Hash, leaf_hash, node_hash};
use poex_log_store::CHECKPOINT_PATH;
use poex_log_store::dir::DirFiles;
use poex_store::audit::Event;
use poex_store::registry::Record;
use poex_store::write_atomic;
use poex_verify::entry::ReceiptDigest;
use serde_json::{Value, json};

use crate::Done;
use crate::args::LogCommand;
use crate::checks::{Checks, PrintChecks as _};
use crate::home::{Home, PROCESSOR_KEY};

/// Subjects listed in the text rendering of a receipt entry; `--json` lists them all.
const SUBJECTS_SHOWN: usize = 10;

pub fn log(root: &Path, command: LogCommand) -> Result<Done> {
    let home = Home::open(root)?;
    match command {
        LogCommand::Info { json } => info(&home, json),
        LogCommand::Checkpoint { json } => checkpoint(&home, json),
        LogCommand::Entry { index, json } => entry(&home, index, json),
        LogCommand::Prove { index, size, json } => prove(&home, index, size, json),
        LogCommand::Consistency { a, b, json } => consistency(&home, a, b, json),
        LogCommand::Verify { json } => verify(&home, json),
        LogCommand::Add { receipt, json } => add(&home, &receipt, json),
    }
}

fn b64(hash: &Hash) -> String {
    BASE64.encode(hash.as_bytes())
}

/// `path` made absolute against the current directory (paths printed for other tools to use).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// `poex log info`.
fn info(home: &Home, json: bool) -> Result<Done> {
    let ledger = home.ledger_read()?;
    let (cp, _) = ledger.checkpoint()?;
    let tiles = absolute(&ledger.tiles_dir());
    let key_id = home.log_public()?.key_id().to_string();
    let indexes: Vec<PathBuf> = [INDEX_FILE, LEAVES_FILE]
        .iter()
        .map(|f| absolute(&ledger.dir().join(f)))
        .collect();
    if json {
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "origin": cp.origin.as_str(),
                "size": cp.size.get(),
                "root": cp.root.to_hex(),
                "rootBase64": b64(&cp.root),
                "tiles": tiles,
                "checkpoint": tiles.join(CHECKPOINT_PATH),
                "verifierKey": ledger.verifier_key(),
                "logKeyId": key_id,
                "indexFiles": indexes,
            }))?
        );
        return Ok(Done(0));
    }
    outln!("origin      {}", cp.origin);
    outln!("size        {} entries", cp.size);
    outln!("root        {}", cp.root.to_hex());
    outln!(
        "            {} (base64, as in the checkpoint)",
        b64(&cp.root)
    );
    outln!("checkpoint  {}", tiles.join(CHECKPOINT_PATH).display());
    outln!("tiles       {}", tiles.display());
    outln!("            c2sp.org/tlog-tiles: serve this directory as static files and any tlog");
    outln!("            client can read the log and check its proofs");
    outln!("log key     {}", ledger.verifier_key());
    outln!("            the verifier key to pin to trust this log (poex verify --log-key)");
    outln!("key id      {key_id} (the log key: poex key show log)");
    for (i, path) in indexes.iter().enumerate() {
        let label = if i == 0 { "indexes" } else { "" };
        outln!("{label:<11} {}", path.display());
    }
    outln!("            derived from the log: rebuilt when missing or damaged");
    Ok(Done(0))
}

/// `poex log checkpoint`.
fn checkpoint(home: &Home, json: bool) -> Result<Done> {
    let ledger = home.ledger_read()?;
    let (cp, note) = ledger.checkpoint()?;
    if json {
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "origin": cp.origin.as_str(),
                "size": cp.size.get(),
                "root": cp.root.to_hex(),
                "note": note,
            }))?
        );
    } else {
        // Verbatim: `poex log checkpoint > checkpoint` is the signed note other tools verify.
        out!("{note}");
    }
    Ok(Done(0))
}

/// Refuses an entry index the log does not have, naming its size.
fn check_index(index: u64, size: u64) -> Result<()> {
    if size == 0 {
        bail!("entry {index}: the log is empty (0 entries)");
    }
    if index >= size {
        bail!(
            "entry {index} is beyond the log: it has {size} entries (0 to {}); poex log info shows the size",
            size - 1
        );
    }
    Ok(())
}

/// `poex log entry N`.
fn entry(home: &Home, index: u64, json: bool) -> Result<Done> {
    let ledger = home.ledger_read()?;
    check_index(index, ledger.size())?;
    let bytes = ledger.entry_bytes(LogIndex(index))?;
    let leaf = leaf_hash(&bytes);
    let processor = home.keys.public(PROCESSOR_KEY)?;
    let decoded = Entry::decode(&bytes);
    let kind = match &decoded {
        Ok(e) => e.kind_key(),
        Err(_) => poex_ledger::ledger::INVALID_KIND.to_owned(),
    };
    let mut doc = json!({
        "index": index,
        "kind": kind,
        "length": bytes.len(),
        "leafHash": leaf.to_hex(),
        "bytes": BASE64.encode(&bytes),
    });
    let mut text = format!(
        "entry {index}: {kind}, {} bytes, leaf hash {}\n",
        bytes.len(),
        leaf.to_hex()
    );
    match &decoded {
        Ok(Entry::Receipt(envelope)) => {
            let (value, shown) = receipt_entry(envelope, &processor);
            doc["receipt"] = value;
            text.push_str(&shown);
        }
        Ok(Entry::ReceiptDigest(d)) => {
            doc["receiptDigest"] = serde_json::to_value(d)?;
            text.push_str(&receipt_digest_entry(d));
        }
        Ok(Entry::Record(r)) => {
            doc["record"] = serde_json::to_value(r)?;
            text.push_str(&record_entry(r));
        }
        Ok(Entry::Event(e)) => {
            doc["event"] = serde_json::to_value(e)?;
            text.push_str(&event_entry(e));
        }
        Ok(Entry::Unknown { header, body }) => {
            doc["header"] = json!(header);
            doc["bodyLength"] = json!(body.len());
            let _ = writeln!(text, "  header      {}", escape(header));
            let _ = writeln!(
                text,
                "  body        {} bytes (a kind or version this poex does not know)",
                body.len()
            );
        }
        Ok(other) => {
            // A kind added to the ledger after this command was written.
            doc["header"] = json!(other.kind_key());
            let _ = writeln!(text, "  (no rendering for this kind; --json has its bytes)");
        }
        Err(e) => {
            doc["error"] = json!(e.to_string());
            let _ = writeln!(text, "  undecodable  {}", escape(&e.to_string()));
        }
    }
    if json {
        outln!("{}", crate::json::pretty(&doc)?);
    } else {
        out!("{text}");
    }
    Ok(Done(0))
}

/// A receipt entry as JSON and as text. The signature is checked with this home's processor
/// key; a receipt that does not verify is still shown, read without trust, and says so.
fn receipt_entry(envelope: &Envelope, processor: &poex_core::PublicKey) -> (Value, String) {
    let (statement, signature) = match receipt::open(envelope, processor) {
        Ok(st) => (Some(st), Ok(())),
        Err(e) => (
            serde_json::from_slice::<ReceiptStatement>(&envelope.payload).ok(),
            Err(e),
        ),
    };
    let envelope_json = serde_json::to_value(envelope).unwrap_or(Value::Null);
    let mut text = String::new();
    let signature_text = match &signature {
        Ok(()) => "verifies with this home's processor key".to_owned(),
        Err(e) => format!("does NOT verify with this home's processor key ({e})"),
    };
    let Some(st) = statement else {
        let _ = writeln!(text, "  signature   {signature_text}");
        let _ = writeln!(
            text,
            "  statement   unreadable (not an in-toto statement with an SLSA provenance)"
        );
        let value = json!({
            "signatureVerified": signature.is_ok(),
            "envelope": envelope_json,
        });
        return (value, text);
    };
    let p = &st.predicate;
    let meta = &p.run_details.metadata;
    let outcome = Outcome::of(&st);
    let descriptor = |r: &ResourceDescriptor| json!({"role": r.annotations.get("role"), "name": r.name, "uri": r.uri, "digest": r.digest});
    let value = json!({
        "job": meta.invocation_id,
        "buildType": p.build_definition.build_type,
        "builder": p.run_details.builder.id,
        "startedOn": meta.started_on,
        "finishedOn": meta.finished_on,
        "outcome": outcome.as_ref().ok(),
        "inputs": p.build_definition.resolved_dependencies.iter().map(descriptor).collect::<Vec<_>>(),
        "subjects": st.subject.iter().map(|s| json!({"name": s.name, "digest": s.digest})).collect::<Vec<_>>(),
        "signatureVerified": signature.is_ok(),
        "envelope": envelope_json,
    });

    // The text shows names the job and the requester chose: control and bidi characters are
    // escaped, as everywhere poex prints them.
    let or_unknown = |s: &Option<String>| escape(s.as_deref().unwrap_or("(none)")).into_owned();
    let _ = writeln!(text, "  job         {}", or_unknown(&meta.invocation_id));
    let _ = writeln!(
        text,
        "  build type  {}",
        escape(&p.build_definition.build_type)
    );
    let _ = writeln!(text, "  builder     {}", escape(&p.run_details.builder.id));
    let _ = writeln!(text, "  signature   {}", escape(&signature_text));
    if let Some(started) = &meta.started_on {
        let _ = writeln!(text, "  started     {}", escape(started));
    }
    let _ = writeln!(text, "  finished    {}", or_unknown(&meta.finished_on));
    match &outcome {
        Ok(o) => {
            let exit = o
                .exit_code
                .map(|c| format!(", exit code {c}"))
                .unwrap_or_default();
            let _ = writeln!(text, "  outcome     {}{exit}", o.status);
        }
        Err(OutcomeError::Missing) => {}
        Err(e) => {
            let _ = writeln!(text, "  outcome     unreadable: {}", escape(&e.to_string()));
        }
    }
    for dep in &p.build_definition.resolved_dependencies {
        let role = escape(
            dep.annotations
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("input"),
        );
        let _ = writeln!(
            text,
            "  {role:<11} {}  {}",
            escape(dep.name.as_deref().unwrap_or("?")),
            sha256_of(dep)
        );
    }
    let _ = writeln!(text, "  subjects    {}", st.subject.len());
    for s in st.subject.iter().take(SUBJECTS_SHOWN) {
        let _ = writeln!(
            text,
            "              {}  {}",
            escape(s.name.as_deref().unwrap_or("?")),
            sha256_of(s)
        );
    }
    if st.subject.len() > SUBJECTS_SHOWN {
        let _ = writeln!(
            text,
            "              ... and {} more (--json lists them all)",
            st.subject.len() - SUBJECTS_SHOWN
        );
    }
    (value, text)
}

fn sha256_of(r: &ResourceDescriptor) -> String {
    r.digest
        .get("sha256")
        .map(|h| format!("sha256:{}", escape(h)))
        .unwrap_or_else(|| "(no sha256)".to_owned())
}

fn receipt_digest_entry(d: &ReceiptDigest) -> String {
    format!(
        "  job         {}\n  finished    {}\n  receipt     sha256:{} of its {} bytes of compact JSON\n              \
         (a receipt too large to log whole: it stays in the job folder)\n",
        escape(&d.job),
        escape(&d.finished_on),
        d.sha256,
        d.size
    )
}

fn record_entry(r: &Record) -> String {
    let mut text = String::new();
    let layout = serde_json::to_value(r.layout)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(text, "  {:<11} {}", r.kind.name(), r.name);
    let _ = writeln!(text, "  digests     {}", r.digests);
    let _ = writeln!(
        text,
        "  content     {layout}, {} file(s), {} bytes",
        r.file_count, r.size
    );
    let _ = writeln!(
        text,
        "  published   {} by {}",
        escape(&r.published_at),
        escape(&r.publisher)
    );
    if let Some(argv) = &r.entrypoint {
        let _ = writeln!(text, "  entrypoint  {}", escape(&argv.join(" ")));
    }
    if let Some(policy) = &r.policy {
        for a in &policy.allowed_algorithms {
            let _ = writeln!(text, "  allows      algorithm {a}");
        }
        for k in &policy.allowed_requesters {
            let _ = writeln!(text, "  allows      requester {}", escape(k));
        }
    }
    text
}

fn event_entry(e: &Event) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "  time        {}", escape(&e.time));
    let _ = writeln!(text, "  operation   {}", e.operation);
    let _ = writeln!(text, "  actor       {}", escape(&e.actor));
    let _ = writeln!(text, "  object      {}", escape(&e.object));
    if let Some(d) = &e.digest {
        let _ = writeln!(text, "  digest      {d}");
    }
    if let Some(j) = &e.job {
        let _ = writeln!(text, "  job         {}", escape(j));
    }
    if let Some(d) = &e.detail {
        let _ = writeln!(text, "  detail      {}", escape(d));
    }
    text
}

/// `poex log prove N [--size S]`.
fn prove(home: &Home, index: u64, size: Option<u64>, json: bool) -> Result<Done> {
    let reader = home.ledger_read()?;
    let latest = reader.size();
    let size = size.unwrap_or(latest);
    if size > latest {
        bail!(
            "--size {size} is beyond the log's size {latest}: prove at a size up to {latest} \
             (poex log info shows the size)"
        );
    }
    if index >= size {
        if size == latest {
            check_index(index, latest)?;
        }
        bail!(
            "entry {index} is not in the tree of size {size} (it holds entries 0 to {}); \
             give a --size above {index}",
            size.saturating_sub(1)
        );
    }
    let proof = if size == latest {
        reader.prove(LogIndex(index), None)?
    } else {
        // Only the writer can sign the checkpoint of an older size (again: Ed25519 is
        // deterministic, so it is the note published at that size).
        home.ledger()?.prove(LogIndex(index), Some(size))?
    };
    let bytes = reader.entry_bytes(LogIndex(index))?;
    let leaf = leaf_hash(&bytes);
    // Never hand out a proof that does not verify: it would only say the tiles are damaged.
    let damaged = || {
        format!(
            "the inclusion proof of entry {index} computed from the stored tiles does not \
             verify: the log in {} is damaged; run 'poex log verify' and 'poex audit validate'",
            reader.tiles_dir().display()
        )
    };
    let cp = proof
        .verify(&leaf, Some(reader.origin().as_str()), &[reader.verifier()])
        .with_context(damaged)?;
    // An older checkpoint was signed just now over a root read from the tiles: print it only if
    // that root is the one the published latest checkpoint commits to.
    if cp.root != authentic_root(&reader, size)? {
        bail!("{}", damaged());
    }
    if json {
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "index": index,
                "size": size,
                "leafHash": leaf.to_hex(),
                "proof": proof.hashes.iter().map(Hash::to_hex).collect::<Vec<_>>(),
                "checkpoint": proof.checkpoint,
                "tlogProof": proof.encode(),
            }))?
        );
    } else {
        out!("{}", proof.encode());
    }
    Ok(Done(0))
}

/// `poex log consistency A B`.
fn consistency(home: &Home, a: u64, b: u64, json: bool) -> Result<Done> {
    let ledger = home.ledger_read()?;
    let size = ledger.size();
    if a > b {
        bail!("the older size {a} is larger than the newer size {b}: give A <= B");
    }
    if b > size {
        bail!(
            "size {b} is beyond the log's size {size}: give sizes up to {size} (poex log info \
             shows the size)"
        );
    }
    if a == 0 {
        bail!(
            "a consistency proof from size 0 proves nothing (every tree extends the empty one); \
             give A >= 1"
        );
    }
    let hashes = ledger.consistency(a, b)?;
    let root1 = authentic_root(&ledger, a)?;
    let root2 = authentic_root(&ledger, b)?;
    proof::verify_consistency(a, b, &hashes, &root1, &root2).with_context(|| {
        format!(
            "the consistency proof from {a} to {b} computed from the stored tiles does not \
             verify: the log in {} is damaged; run 'poex log verify' and 'poex audit validate'",
            ledger.tiles_dir().display()
        )
    })?;
    if json {
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "size1": a,
                "size2": b,
                "root1": root1.to_hex(),
                "root2": root2.to_hex(),
                "proof": hashes.iter().map(Hash::to_hex).collect::<Vec<_>>(),
            }))?
        );
    } else {
        for h in &hashes {
            outln!("{}", b64(h));
        }
    }
    Ok(Done(0))
}

/// The root of the tree of `size` entries, as the latest signed checkpoint commits to it: read
/// from the tiles, and for an older size checked with a consistency proof against the signed
/// root, so damaged tiles give an error instead of a root nobody published.
fn authentic_root(ledger: &Ledger, size: u64) -> Result<Hash> {
    let (latest, _) = ledger.checkpoint()?;
    let latest_size = latest.size.get();
    if size == latest_size {
        return Ok(latest.root);
    }
    let root = ledger.root(size)?;
    if size == 0 {
        return Ok(root);
    }
    let hashes = ledger.consistency(size, latest_size)?;
    proof::verify_consistency(size, latest_size, &hashes, &root, &latest.root).with_context(
        || {
            format!(
                "the root of size {size} read from the stored tiles is not the one the signed \
                 checkpoint of size {latest_size} commits to: the log in {} is damaged; run \
                 'poex log verify' and 'poex audit validate'",
                ledger.tiles_dir().display()
            )
        },
    )?;
    Ok(root)
}

/// A check that `computed` (from `what`) is the checkpoint's root; `mismatch` ends the failure.
fn root_check<E: std::fmt::Display>(
    checks: &mut Checks,
    name: &str,
    what: &str,
    mismatch: &str,
    computed: Result<Hash, E>,
    cp: &Checkpoint,
) {
    match computed {
        Ok(root) if root == cp.root => {
            checks.pass(name, format!("{what} give the checkpoint's root"))
        }
        Ok(root) => checks.fail(
            name,
            format!(
                "{what} give root {}, the checkpoint says {}{mismatch}",
                root.to_hex(),
                cp.root.to_hex()
            ),
        ),
        Err(e) => checks.fail(name, format!("cannot read {what}: {e}")),
    }
}

/// `poex log verify`: the checkpoint's signature, then the root two ways from the stored tiles.
fn verify(home: &Home, json: bool) -> Result<Done> {
    let tiles_dir = home.ledger_dir().join(poex_ledger::ledger::LOG_DIR);
    let cp_path = tiles_dir.join(CHECKPOINT_PATH);
    let note_bytes = match fs::read(&cp_path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => bail!(
            "no log in {}: it is created by the first publish or run (or poex init)",
            home.ledger_dir().display()
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", cp_path.display())),
    };
    let key = home.log_public()?;
    let mut checks = Checks::default();
    let opened = open_checkpoint(&note_bytes, &key);
    let cp = match opened {
        Ok((cp, vkey)) => {
            checks.pass(
                "checkpoint",
                format!(
                    "signed by this home's log key {}: size {}, root {}",
                    // name+id: the base64 key after them may hold '+' itself.
                    vkey.splitn(3, '+').take(2).collect::<Vec<_>>().join("+"),
                    cp.size,
                    cp.root.to_hex()
                ),
            );
            Some(cp)
        }
        Err(why) => {
            checks.fail("checkpoint", format!("{}: {why}", cp_path.display()));
            None
        }
    };
    if let Some(cp) = &cp {
        let size = cp.size.get();
        let tiles = DirFiles::tiles(&tiles_dir, size);
        // What a tlog client computes: each complete subtree's hash read from the highest tile
        // holding it.
        let from_tiles = proof::root(size, &TileHashReader::new(size, &tiles));
        root_check(&mut checks, "tiles", "the hash tiles", "", from_tiles, cp);
        // Every leaf hash, folded: catches a changed level-0 tile under a full subtree whose
        // hash the check above reads from a higher tile.
        root_check(
            &mut checks,
            "leaves",
            &format!("the {size} leaf hashes of the level-0 tiles"),
            ": a level-0 tile was changed",
            root_from_leaves(&tiles, size),
            cp,
        );
    }
    let ok = checks.all_ok();
    let hint = "a full walk (every entry re-hashed, every tile recomputed, each damaged file \
                named): poex audit validate";
    if json {
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "verified": ok,
                "size": cp.as_ref().map(|c| c.size.get()),
                "root": cp.as_ref().map(|c| c.root.to_hex()),
                "checks": checks.to_json(),
                "hint": hint,
            }))?
        );
    } else {
        checks.print()?;
        if ok {
            outln!("log verified");
        } else {
            outln!("the log does NOT verify");
        }
        outln!("  {hint}");
    }
    Ok(Done(if ok { 0 } else { 4 }))
}

/// Opens the stored checkpoint with the log's public key; the key's name is the checkpoint's
/// origin (a changed origin changes the key id, so the signature then fails). Returns the
/// checkpoint and the verifier key string.
fn open_checkpoint(
    note_bytes: &[u8],
    key: &poex_core::PublicKey,
) -> Result<(Checkpoint, String), String> {
    let text = note::Note::parse(note_bytes)
        .map_err(|e| format!("not a signed note: {e}"))?
        .text;
    let origin = Checkpoint::parse(&text)
        .map_err(|e| format!("not a checkpoint: {e}"))?
        .origin;
    let verifier = Ed25519Verifier::new(origin.as_str(), key.as_bytes())
        .map_err(|e| format!("origin {origin:?} cannot name a key: {e}"))?;
    let (cp, _) = Checkpoint::open(note_bytes, &[&verifier]).map_err(|e| {
        format!("does not verify with this home's log key {verifier} ({e}); was it replaced?")
    })?;
    Ok((cp, verifier.to_string()))
}

/// The root of the tree of `size` leaves from the leaf hashes of the level-0 tiles alone, in
/// one pass that keeps only the right edge (one hash per level).
fn root_from_leaves<S>(tiles: &S, size: u64) -> Result<Hash>
where
    S: TileSource,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let width = u64::from(TILE_WIDTH);
    // Perfect subtrees of strictly decreasing height, left to right: (height, hash).
    let mut edge: Vec<(u32, Hash)> = Vec::new();
    for n in 0..size.div_ceil(width) {
        let id = TileId::at_size(0, n, size).context("a level-0 tile below the size")?;
        let tile = tiles
            .read_tile(id)
            .with_context(|| format!("reading {}", id.path()))?;
        let want = usize::from(id.width);
        let hashes = tile.hashes();
        if hashes.len() < want {
            bail!(
                "{} holds {} hashes, {want} expected",
                id.path(),
                hashes.len()
            );
        }
        for leaf in &hashes[..want] {
            let mut node = (0, *leaf);
            while let Some(&(height, left)) = edge.last() {
                if height != node.0 {
                    break;
                }
                edge.pop();
                node = (height + 1, node_hash(&left, &node.1));
            }
            edge.push(node);
        }
    }
    let hashes: Vec<Hash> = edge.into_iter().map(|(_, h)| h).collect();
    Ok(fold_range(&hashes).unwrap_or_else(poex_log::empty_root))
}

/// Where `poex log add` writes a receipt's bundle, as the pipeline does: a job folder's
/// `receipt.json` gets `bundle.json`, `poex exec`'s `OUT.receipt.json` gets `OUT.bundle.json`,
/// any other `X.json` gets `X.bundle.json`.
fn bundle_path_for(receipt: &Path) -> PathBuf {
    let name = receipt
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bundle = if name == "receipt.json" {
        BUNDLE_NAME.to_owned()
    } else if let Some(stem) = name.strip_suffix(".receipt.json") {
        format!("{stem}.bundle.json")
    } else if let Some(stem) = name.strip_suffix(".json") {
        format!("{stem}.bundle.json")
    } else {
        format!("{name}.bundle.json")
    };
    receipt.with_file_name(bundle)
}

/// What `poex log add` did with the bundle file.
enum BundleFile {
    Written,
    Unchanged,
    /// A bundle that verifies for this receipt was there (an older checkpoint); kept.
    Kept {
        size: u64,
    },
    /// Something that did not verify was there; replaced.
    Replaced {
        why: String,
    },
}

/// `poex log add RECEIPT`.
fn add(home: &Home, receipt_path: &Path, json: bool) -> Result<Done> {
    let bytes =
        fs::read(receipt_path).with_context(|| format!("reading {}", receipt_path.display()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", receipt_path.display()))?;
    if value.get("mediaType").is_some() && value.get("receipt").is_some() {
        bail!(
            "{} is a proof bundle, not a receipt: its receipt is already logged (poex verify \
             checks it); give the receipt file (receipt.json)",
            receipt_path.display()
        );
    }
    let envelope: Envelope = serde_json::from_value(value).with_context(|| {
        format!(
            "{} is not a receipt (a DSSE envelope with payload, payloadType, signatures)",
            receipt_path.display()
        )
    })?;
    let processor = home.keys.public(PROCESSOR_KEY)?;
    let statement = receipt::open(&envelope, &processor)
        .map_err(|e| refused(receipt_path, &envelope, &processor.key_id().to_string(), e))?;
    let job = statement
        .predicate
        .run_details
        .metadata
        .invocation_id
        .clone()
        .unwrap_or_default();

    let ledger = home.ledger()?;
    let before = ledger.find_receipt(&envelope)?;
    let bundle = ledger.log_and_prove(&envelope)?;
    let verified = bundle.verify(&processor, ledger.verifier()).context(
        "the proof bundle just built does not verify: the log is damaged; run 'poex log verify'",
    )?;
    let index = verified.index.get();
    let bundle_path = bundle_path_for(receipt_path);
    let file = write_bundle(&bundle_path, &bundle, &envelope, &processor, &ledger)?;

    if json {
        let (state, detail) = match &file {
            BundleFile::Written => ("written", None),
            BundleFile::Unchanged => ("unchanged", None),
            BundleFile::Kept { size } => {
                ("kept", Some(format!("verifies at checkpoint size {size}")))
            }
            BundleFile::Replaced { why } => ("replaced", Some(why.clone())),
        };
        outln!(
            "{}",
            crate::json::pretty(&json!({
                "job": job,
                "index": index,
                "alreadyLogged": before.is_some(),
                "entryKind": verified.entry_kind.name(),
                "checkpointSize": verified.checkpoint.size.get(),
                "bundle": bundle_path,
                "bundleFile": state,
                "bundleDetail": detail,
            }))?
        );
        return Ok(Done(0));
    }
    match before {
        Some(_) => outln!(
            "receipt of job {} is already in the log as entry {index}",
            escape(&job)
        ),
        None => outln!(
            "logged the receipt of job {} as entry {index}",
            escape(&job)
        ),
    }
    match &file {
        BundleFile::Written => outln!("  bundle   {} (written)", bundle_path.display()),
        BundleFile::Unchanged => outln!("  bundle   {} (unchanged)", bundle_path.display()),
        BundleFile::Kept { size } => outln!(
            "  bundle   {} exists and verifies (checkpoint size {size}); kept",
            bundle_path.display()
        ),
        BundleFile::Replaced { why } => outln!(
            "  bundle   {} replaced: the file there did not verify ({})",
            bundle_path.display(),
            escape(why)
        ),
    }
    outln!("  verify   poex verify {}", bundle_path.display());
    Ok(Done(0))
}

/// Why a receipt is refused: another processor's, or altered.
fn refused(path: &Path, envelope: &Envelope, expected: &str, e: ReceiptError) -> anyhow::Error {
    let ids: Vec<&str> = envelope
        .signatures
        .iter()
        .map(|s| s.keyid.as_str())
        .collect();
    // Key ids are unauthenticated hints: used only to say which way it failed.
    if matches!(e, ReceiptError::Signature(_))
        && ids.iter().all(|k| !k.is_empty() && *k != expected)
    {
        anyhow::anyhow!(
            "{} is signed by another key ({}), not this home's processor key {expected}: poex log \
             add logs only this processor's receipts",
            path.display(),
            ids.join(", ")
        )
    } else {
        anyhow::anyhow!("{} is refused, nothing was logged: {e}", path.display())
    }
}

/// Writes the bundle unless the file there is already a valid bundle of this receipt; a file
/// that is a valid bundle of another receipt is never overwritten.
fn write_bundle(
    path: &Path,
    bundle: &ProofBundle,
    envelope: &Envelope,
    processor: &poex_core::PublicKey,
    ledger: &Ledger,
) -> Result<BundleFile> {
    let new = bundle.to_json();
    let existing = match fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let state = match existing {
        None => BundleFile::Written,
        Some(old) if old == new.as_bytes() => return Ok(BundleFile::Unchanged),
        Some(old) => {
            let checked = ProofBundle::from_json(&old)
                .map_err(|e| format!("not a proof bundle: {e}"))
                .and_then(|b| {
                    b.verify(processor, ledger.verifier())
                        .map(|v| (v, b.receipt == *envelope))
                        .map_err(|e| e.to_string())
                });
            match checked {
                Ok((v, true)) => {
                    return Ok(BundleFile::Kept {
                        size: v.checkpoint.size.get(),
                    });
                }
                Ok((_, false)) => bail!(
                    "{} exists and is a valid proof bundle of another receipt; move it away, or \
                     put the receipt in another folder",
                    path.display()
                ),
                Err(why) => BundleFile::Replaced { why },
            }
        }
    };
    write_atomic(path, new.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use poex_log::proof::MemoryTree;
    use poex_log::tile::{HashTile, MemoryTiles, integrate_hashes};

    use super::*;

    /// A log of `size` leaves in memory tiles (appended in two batches), with its reference tree.
    fn log_of(size: u64) -> (MemoryTiles, MemoryTree) {
        let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut tiles = MemoryTiles::new();
        let mut tree = MemoryTree::new();
        let split = leaves.len() / 3;
        for (start, batch) in [(0, &leaves[..split]), (split, &leaves[split..])] {
            let done = integrate_hashes(start as u64, &tiles, batch).expect("integrates");
            tiles.apply(&done);
        }
        for l in &leaves {
            tree.push(*l);
        }
        (tiles, tree)
    }

    #[test]
    fn both_roots_are_the_tree_root_at_every_shape() {
        for size in [1, 2, 3, 255, 256, 257, 511, 513, 65_536, 70_000] {
            let (tiles, tree) = log_of(size);
            assert_eq!(
                root_from_leaves(&tiles, size).unwrap(),
                tree.root(),
                "{size}"
            );
            let from_tiles = proof::root(size, &TileHashReader::new(size, &tiles)).unwrap();
            assert_eq!(from_tiles, tree.root(), "{size}");
        }
    }

    /// Why `poex log verify` folds every leaf: a changed leaf under a full subtree is invisible
    /// to the root a tlog client reads from the higher tiles.
    #[test]
    fn a_changed_leaf_in_a_full_tile_is_seen_only_by_the_leaves() {
        let size = 600;
        let (mut tiles, tree) = log_of(size);
        let mut hashes = tiles.tile(0, 0).unwrap().hashes().to_vec();
        hashes[17] = Hash::from_bytes([0; 32]);
        tiles.put_tile(
            TileId::at_size(0, 0, size).unwrap(),
            HashTile::new(hashes).unwrap(),
        );
        let from_tiles = proof::root(size, &TileHashReader::new(size, &tiles)).unwrap();
        assert_eq!(from_tiles, tree.root());
        assert_ne!(root_from_leaves(&tiles, size).unwrap(), tree.root());
    }

    #[test]
    fn a_missing_tile_is_an_error_naming_it() {
        let err = root_from_leaves(&MemoryTiles::new(), 3).unwrap_err();
        assert!(format!("{err:#}").contains("tile/0/000.p/3"), "{err:#}");
    }

    #[test]
    fn bundles_go_where_the_pipeline_puts_them() {
        for (receipt, bundle) in [
            ("out/job/receipt.json", "out/job/bundle.json"),
            ("receipt.json", "bundle.json"),
            ("x/run1.receipt.json", "x/run1.bundle.json"),
            ("x/mine.json", "x/mine.bundle.json"),
            ("x/receipt", "x/receipt.bundle.json"),
        ] {
            assert_eq!(bundle_path_for(Path::new(receipt)), Path::new(bundle));
        }
    }
}
