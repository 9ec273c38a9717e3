//! `poex grant`, `poex reencrypt`, `poex validate-log`: a validator reads a sealed execution
//! log through m-of-n proxies (Umbral threshold proxy re-encryption, [`poex_grant`]),
//! then checks it against the receipt. docs/grants.md has the design and its limits.
//!
//! | who | command | reads | writes |
//! |---|---|---|---|
//! | owner (processor) | `poex grant --show-key` | `HOME/keys/umbral.key` (created on first use) | |
//! | owner | `poex grant --seal LOG` | the log | `LOG.sealed`, with the `-> umbral` stanza |
//! | owner | `poex grant --validator KEY -m M -n N` | `HOME/keys/umbral.key` | `kfrag-1..N`, `grant.json`, `HOME/grants/ID.json` |
//! | owner | `poex grant --revoke ID`, `--list`, `--rotate-key` | `HOME/grants/` | the record; a new key |
//! | proxy | `poex reencrypt --kfrag F --capsule LOG.sealed` | the kfrag, the log's header only | `cfrag-I` |
//! | validator | `poex validate-log --cfrags ... --log LOG.sealed --receipt R` | its identity, the cfrags, the log, the receipt | with `-o`, the plaintext |
//!
//! Grants are not transparency-log events: poex-store's audit [`Operation`]s name what
//! happened to assets and jobs, and none means "grant" (publish would mislead every audit
//! query). A grant's record is a JSON file in `HOME/grants/`; revoking rewrites it.
//!
//! [`Operation`]: poex_store::audit::Operation

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{ArgGroup, Args, Subcommand};
use poex_core::PublicKey;
use poex_core::digest::Comparison;
use poex_core::receipt::{LOG_NAME, ReceiptStatement};
use poex_grant::{
    self as grant, Capsule, CapsuleFragment, GrantError, IDENTITY_FILE, Identity, KeyFragment,
    Public, WrappedKey,
};
use poex_log::note::Ed25519Verifier;
use poex_store::keystore::load_public_file;
use poex_verify::checks::{
    Checks, Proof, check_log, check_receipt, check_request, execution_log, parse,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Done;
use crate::checks::PrintChecks as _;
use crate::home::{Home, PROCESSOR_KEY};

/// The three commands of validator grants (flattened into `poex`'s own commands).
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Let a validator read this processor's sealed execution logs through m-of-n proxies
    /// (Umbral proxy re-encryption); also show the key, seal a log, list, revoke.
    Grant(GrantArgs),
    /// As a proxy: re-encrypt a sealed log's capsule with your key fragment, for the
    /// validator it was made for. You never see the log or its key.
    Reencrypt(ReencryptArgs),
    /// As a validator: open a sealed execution log with m capsule fragments and check it
    /// against the receipt (signature, request, the log's SHA-256). Exit 4 if any check fails.
    ValidateLog(ValidateLogArgs),
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("action")
        .required(true)
        .args(["validator", "show_key", "seal", "revoke", "list", "rotate_key"])
))]
pub struct GrantArgs {
    /// The validator's umbral public key (umbral:..., as `poex grant --show-key` prints it in
    /// the validator's home). Writes N key fragment files, one for each proxy.
    #[arg(long, value_name = "KEY", requires_all = ["threshold", "shares"])]
    validator: Option<String>,
    /// M: how many proxies must re-encrypt for the validator to read.
    #[arg(long, short = 'm', value_name = "M")]
    threshold: Option<usize>,
    /// N: how many key fragments (proxies).
    #[arg(long, short = 'n', value_name = "N")]
    shares: Option<usize>,
    /// Where to write: with --validator, a folder for kfrag-1..N and grant.json (must not
    /// exist or be empty; default ./grant-<id>); with --seal, the sealed file (default
    /// FILE.sealed).
    #[arg(long, short = 'o', value_name = "PATH")]
    out: Option<PathBuf>,
    /// Print this home's umbral public key (created, mode 0600, on first use). Give it to
    /// owners who grant you, or to proxies and validators who check your grants.
    #[arg(long)]
    show_key: bool,
    /// Seal FILE (an execution log) to this home's umbral key and to each --to recipient, so
    /// that it can be granted later without re-encrypting it.
    #[arg(long, value_name = "FILE")]
    seal: Option<PathBuf>,
    /// With --seal: also seal to this recipient (poex-x25519:..., e.g. the job's requester).
    #[arg(long = "to", value_name = "RECIPIENT", requires = "seal")]
    to: Vec<String>,
    /// Revoke a grant (its id, or a unique prefix): proxies run from this home refuse its key
    /// fragments from now on. Umbral cannot recall fragments already handed out: ask every
    /// proxy to delete theirs, and rotate the key (--rotate-key) to keep new logs out of reach.
    #[arg(long, value_name = "GRANT")]
    revoke: Option<String>,
    /// List this home's grants.
    #[arg(long)]
    list: bool,
    /// Retire this home's umbral key and make a new one: logs sealed from now on are out of
    /// reach of every earlier grant. The old key is kept (keys/umbral-<fingerprint>.retired.key)
    /// to open and grant older logs.
    #[arg(long)]
    rotate_key: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ReencryptArgs {
    /// The key fragment file this proxy was given (kfrag-I).
    #[arg(long, value_name = "FILE")]
    kfrag: PathBuf,
    /// The sealed log (only its header is read) or a capsule file (its `-> umbral` line).
    #[arg(long, value_name = "FILE")]
    capsule: PathBuf,
    /// Where to write the capsule fragment (never overwritten). Default: ./cfrag-I.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
    /// The owner's umbral public key to insist on. Default: this home's umbral key if it made
    /// the grant, else the owner the fragment names (its signature is still checked).
    #[arg(long, value_name = "KEY")]
    owner: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ValidateLogArgs {
    /// Your umbral identity file (the validator's). Default: this home's keys/umbral.key.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// Capsule fragments from the proxies: at least the grant's threshold.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    cfrags: Vec<PathBuf>,
    /// The sealed execution log.
    #[arg(long, value_name = "FILE")]
    log: PathBuf,
    /// The job's receipt.json or bundle.json.
    #[arg(long, value_name = "FILE")]
    receipt: PathBuf,
    /// The processor's public key (PEM) to trust for the receipt. Default: this home's
    /// processor key.
    #[arg(long, value_name = "PEM")]
    key: Option<PathBuf>,
    /// The log verifier key (`poex log info` on the processor): also check a bundle's
    /// inclusion in the transparency log.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// The owner's umbral public key to insist on. Default: the owner the fragments name
    /// (the receipt's digest is what the log is finally checked against).
    #[arg(long, value_name = "KEY")]
    owner: Option<String>,
    /// Keep the decrypted log here (written only if every check passes).
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
}

pub fn dispatch(root: &Path, command: GrantCommand, quiet: bool) -> Result<Done> {
    match command {
        GrantCommand::Grant(a) => grant_command(root, a, quiet),
        GrantCommand::Reencrypt(a) => reencrypt(root, a, quiet),
        GrantCommand::ValidateLog(a) => validate_log(root, a, quiet),
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and records

/// A grant as the owner's home records it (`HOME/grants/<id>.json`, and `grant.json` beside
/// the key fragments).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrantRecord {
    #[serde(rename = "_type")]
    kind: String,
    grant: String,
    owner: String,
    validator: String,
    threshold: usize,
    shares: usize,
    created: String,
    kfrags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked: Option<String>,
}

const RECORD_TYPE: &str = "urn:poex:grant:v1";

fn key_path(home: &Home) -> PathBuf {
    home.keys.dir().join(IDENTITY_FILE)
}

/// This home's umbral identity, created on first use. Says so on stderr when it creates one.
fn owner_identity(home: &Home, quiet: bool) -> Result<Identity> {
    let path = key_path(home);
    if path.exists() {
        return Ok(Identity::read_file(&path)?);
    }
    let id = Identity::generate()?;
    id.write_new_file(&path)?;
    if !quiet {
        eprintln!(
            "poex: created this home's umbral key {} (mode 0600)",
            path.display()
        );
    }
    Ok(id)
}

fn grants_dir(home: &Home) -> Result<PathBuf> {
    let dir = home.root.join("grants");
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn read_record(path: &Path) -> Result<GrantRecord> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a grant record", path.display()))
}

fn write_record(path: &Path, record: &GrantRecord) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(record)?;
    bytes.push(b'\n');
    poex_store::write_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// Writes a new file (never overwrites) with `mode`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    poex_durable::write_new(path, bytes, mode)
        .with_context(|| format!("creating {}", path.display()))
}

fn parse_public(text: &str, flag: &str) -> Result<Public> {
    text.parse::<Public>().with_context(|| {
        format!(
            "{flag} takes an umbral public key (umbral:..., as `poex grant --show-key` prints it)"
        )
    })
}

// ---------------------------------------------------------------------------------------------
// poex grant

fn grant_command(root: &Path, a: GrantArgs, quiet: bool) -> Result<Done> {
    let home = Home::open(root)?;
    if a.show_key {
        let id = owner_identity(&home, quiet)?;
        if a.json {
            outln!(
                "{}",
                json!({"publicKey": id.public().to_string(), "fingerprint": id.public().fingerprint(),
                       "file": key_path(&home)})
            );
        } else {
            outln!("{}", id.public());
        }
        return Ok(Done(0));
    }
    if let Some(file) = &a.seal {
        return seal(&home, file, &a.to, a.out.as_deref(), quiet);
    }
    if a.list {
        return list(&home, a.json);
    }
    if let Some(id) = &a.revoke {
        return revoke(&home, id, a.json, quiet);
    }
    if a.rotate_key {
        return rotate_key(&home, quiet);
    }
    let (Some(validator), Some(m), Some(n)) = (&a.validator, a.threshold, a.shares) else {
        bail!("poex grant --validator KEY needs --threshold M and --shares N");
    };
    make_grant(&home, validator, m, n, a.out.as_deref(), a.json, quiet)
}

fn make_grant(
    home: &Home,
    validator: &str,
    m: usize,
    n: usize,
    out: Option<&Path>,
    as_json: bool,
    quiet: bool,
) -> Result<Done> {
    let validator = parse_public(validator, "--validator")?;
    let owner = owner_identity(home, quiet)?;
    if validator == owner.public() {
        bail!(
            "--validator is this home's own umbral key: the owner opens its logs without a grant"
        );
    }
    let created = poex_store::now_rfc3339();
    let g = grant::grant(&owner, &validator, m, n, &created)?;
    let id = g.info.id.clone();
    let dir = out.map_or_else(
        || PathBuf::from(format!("grant-{}", &id[..12])),
        Path::to_owned,
    );
    if dir.exists() && fs::read_dir(&dir)?.next().is_some() {
        bail!("{} is not empty; give --out a new folder", dir.display());
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::new();
    for k in &g.kfrags {
        let path = dir.join(format!("kfrag-{}", k.index));
        // A key fragment is for one proxy's eyes: with m of them and the validator's key, the
        // logs open.
        write_new(&path, k.to_text().as_bytes(), 0o600)?;
        files.push(path.display().to_string());
    }
    let record = GrantRecord {
        kind: RECORD_TYPE.into(),
        grant: id.clone(),
        owner: owner.public().to_string(),
        validator: validator.to_string(),
        threshold: m,
        shares: n,
        created,
        kfrags: files.clone(),
        revoked: None,
    };
    write_record(&dir.join("grant.json"), &record)?;
    write_record(&grants_dir(home)?.join(format!("{id}.json")), &record)?;
    if as_json {
        outln!("{}", crate::json::pretty(&record)?);
    } else if !quiet {
        outln!("grant {id}");
        outln!("  owner      {}", record.owner);
        outln!("  validator  {}", record.validator);
        outln!("  threshold  {m} of {n} proxies must re-encrypt");
        for f in &files {
            outln!("  kfrag      {f}");
        }
        outln!("  record     {}", dir.join("grant.json").display());
        outln!();
        outln!(
            "hand each kfrag file to a different proxy (`poex reencrypt --kfrag FILE --capsule LOG.sealed`); \
             the validator reads every log sealed to this home's umbral key with {m} of their cfrags"
        );
    }
    Ok(Done(0))
}

fn seal(home: &Home, file: &Path, to: &[String], out: Option<&Path>, quiet: bool) -> Result<Done> {
    let owner = owner_identity(home, quiet)?.public();
    let recipients = to
        .iter()
        .map(|t| t.parse::<poex_seal::Recipient>())
        .collect::<Result<Vec<_>, _>>()?;
    let mut wraps: Vec<&dyn poex_seal::Wrap> = vec![&owner];
    wraps.extend(recipients.iter().map(|r| r as &dyn poex_seal::Wrap));
    let out = out.map_or_else(
        || PathBuf::from(format!("{}{}", file.display(), poex_seal::SEALED_SUFFIX)),
        Path::to_owned,
    );
    let input = fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    // Never replace a sealed file: the name is taken only if free.
    let output = poex_durable::AtomicFile::new(&out, poex_durable::Place::CreateNew, 0o644)
        .with_context(|| format!("creating {}", out.display()))?;
    let mut writer = io::BufWriter::new(output);
    let sealed = poex_seal::encrypt_to(&wraps, io::BufReader::new(input), &mut writer);
    let finished = sealed.map_err(anyhow::Error::from).and_then(|s| {
        let f = writer.into_inner().map_err(|e| e.into_error())?;
        f.commit()
            .with_context(|| format!("creating {}", out.display()))?;
        Ok(s)
    });
    let s = finished?;
    if !quiet {
        outln!("sealed {} -> {}", file.display(), out.display());
        outln!(
            "  plaintext  {} ({} bytes)",
            s.plaintext_sha256,
            s.plaintext_len
        );
        outln!(
            "  sealed     {} ({} bytes)",
            s.ciphertext_sha256,
            s.ciphertext_len
        );
        outln!(
            "  stanzas    umbral (this home's key {}){}",
            owner.fingerprint(),
            recipients
                .iter()
                .map(|r| format!(", hpke-x25519 ({r})"))
                .collect::<String>()
        );
    }
    Ok(Done(0))
}

fn records(home: &Home) -> Result<Vec<(PathBuf, GrantRecord)>> {
    let dir = grants_dir(home)?;
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push((path.clone(), read_record(&path)?));
        }
    }
    out.sort_by(|a, b| a.1.created.cmp(&b.1.created));
    Ok(out)
}

fn list(home: &Home, as_json: bool) -> Result<Done> {
    for (_, r) in records(home)? {
        if as_json {
            outln!("{}", crate::json::line(&r)?);
        } else {
            let validator = r
                .validator
                .parse::<Public>()
                .map(|p| p.fingerprint())
                .unwrap_or_else(|_| "?".into());
            outln!(
                "{}  {} of {}  validator {validator}  {}{}",
                r.grant,
                r.threshold,
                r.shares,
                r.created,
                r.revoked
                    .as_deref()
                    .map(|t| format!("  REVOKED {t}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(Done(0))
}

fn revoke(home: &Home, id: &str, as_json: bool, quiet: bool) -> Result<Done> {
    let matching: Vec<_> = records(home)?
        .into_iter()
        .filter(|(_, r)| !id.is_empty() && r.grant.starts_with(id))
        .collect();
    let (path, mut record) = match <[_; 1]>::try_from(matching) {
        Ok([one]) => one,
        Err(v) if v.is_empty() => bail!(
            "no grant {id:?} in {} (see `poex grant --list`)",
            grants_dir(home)?.display()
        ),
        Err(_) => bail!("{id:?} names several grants; give more of the id"),
    };
    if record.revoked.is_none() {
        record.revoked = Some(poex_store::now_rfc3339());
        write_record(&path, &record)?;
    }
    if as_json {
        outln!("{}", crate::json::pretty(&record)?);
    } else if !quiet {
        outln!(
            "grant {} revoked at {}",
            record.grant,
            record.revoked.as_deref().unwrap_or("?")
        );
        outln!("  proxies run from this home now refuse its key fragments");
        outln!(
            "  Umbral cannot recall the {} key fragments already handed out: ask each proxy to delete \
             its kfrag file; any {} proxies that keep theirs can still re-encrypt for this validator",
            record.shares,
            record.threshold
        );
        outln!(
            "  a grant reaches every log sealed to this key, including future ones: run \
             `poex grant --rotate-key` so that logs sealed from now on are out of its reach"
        );
    }
    Ok(Done(0))
}

fn rotate_key(home: &Home, quiet: bool) -> Result<Done> {
    let path = key_path(home);
    let old = Identity::read_file(&path)
        .with_context(|| "no umbral key to rotate (`poex grant --show-key` creates one)")?;
    let retired = home
        .keys
        .dir()
        .join(format!("umbral-{}.retired.key", old.public().fingerprint()));
    // Link first, then unlink: at every moment the key exists under at least one name.
    fs::hard_link(&path, &retired).with_context(|| format!("creating {}", retired.display()))?;
    fs::remove_file(&path)?;
    let new = Identity::generate()?;
    new.write_new_file(&path)?;
    if !quiet {
        outln!("retired  {}  ({})", old.public(), retired.display());
        outln!("new key  {}", new.public());
        outln!(
            "logs sealed from now on use the new key; earlier grants do not reach them. Open or grant \
             older logs with --identity {}",
            retired.display()
        );
    }
    Ok(Done(0))
}

// ---------------------------------------------------------------------------------------------
// poex reencrypt (a proxy)

/// The capsule of a sealed log (its header only) or of a capsule file.
fn read_capsule(path: &Path) -> Result<Capsule> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    match poex_seal::Decryptor::new(file) {
        Ok(d) => Ok(WrappedKey::find(d.stanzas())
            .with_context(|| format!("{}", path.display()))?
            .capsule()
            .clone()),
        Err(poex_seal::OpenError::NotSealed) => {
            let text = fs::read_to_string(path).with_context(|| {
                format!(
                    "{} is neither a sealed file nor a capsule file",
                    path.display()
                )
            })?;
            Capsule::parse_line(&text).with_context(|| format!("{}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("{}", path.display())),
    }
}

fn reencrypt(root: &Path, a: ReencryptArgs, quiet: bool) -> Result<Done> {
    let text =
        fs::read_to_string(&a.kfrag).with_context(|| format!("reading {}", a.kfrag.display()))?;
    let kfrag = KeyFragment::parse(&text).with_context(|| format!("{}", a.kfrag.display()))?;
    let home = Home::open(root).ok();
    // A proxy run from the owner's own home honours the owner's revocations.
    if let Some(home) = &home {
        let record = home
            .root
            .join("grants")
            .join(format!("{}.json", kfrag.info.id));
        if record.exists()
            && let Some(when) = read_record(&record)?.revoked
        {
            eprintln!(
                "poex: grant {} was revoked at {when} ({}): not re-encrypting; delete {}",
                kfrag.info.id,
                record.display(),
                a.kfrag.display()
            );
            return Ok(Done(2));
        }
    }
    let own_key = home
        .as_ref()
        .map(key_path)
        .filter(|p| p.exists())
        .map(|p| Identity::read_file(&p))
        .transpose()?
        .map(|i| i.public());
    let (trusted, source) = match &a.owner {
        Some(t) => (Some(parse_public(t, "--owner")?), "--owner"),
        None if own_key == Some(kfrag.info.owner) => (own_key, "this home's umbral key"),
        None => (None, "the key the fragment names (pass --owner to pin it)"),
    };
    let index = kfrag.index;
    let info = kfrag.info.clone();
    let verified = match kfrag.verify(trusted.as_ref()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("poex: not re-encrypting: {e}");
            return Ok(Done(4));
        }
    };
    let capsule = read_capsule(&a.capsule)?;
    let cfrag = verified.reencrypt(&capsule);
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("cfrag-{index}")));
    write_new(&out, cfrag.to_text().as_bytes(), 0o644)?;
    if a.json {
        outln!(
            "{}",
            json!({"grant": info.id, "index": index, "capsule": capsule.id(), "validator": info.validator.to_string(),
                   "owner": info.owner.to_string(), "ownerTrustedFrom": source, "cfrag": out})
        );
    } else if !quiet {
        outln!(
            "re-encrypted capsule {} with key fragment {index} of grant {}",
            &capsule.id()[..16],
            info.id
        );
        outln!("  owner      {} (checked against {source})", info.owner);
        outln!("  validator  {}", info.validator);
        outln!(
            "  cfrag      {}  (send it to the validator; {} of {} are needed)",
            out.display(),
            info.threshold,
            info.shares
        );
    }
    Ok(Done(0))
}

// ---------------------------------------------------------------------------------------------
// poex validate-log (the validator)

fn trusted_key(root: &Path, flag: Option<&Path>) -> Result<(PublicKey, String)> {
    if let Some(path) = flag {
        return Ok((load_public_file(path)?, format!("--key {}", path.display())));
    }
    let home = Home::open(root).context(
        "no processor key to trust: pass --key PROCESSOR.pub (the processor's public key, PEM)",
    )?;
    Ok((
        home.keys.public(PROCESSOR_KEY)?,
        format!("this home's processor key ({})", home.root.display()),
    ))
}

fn validator_identity(root: &Path, flag: Option<&Path>) -> Result<Identity> {
    let path = match flag {
        Some(p) => p.to_owned(),
        None => root.join("keys").join(IDENTITY_FILE),
    };
    Identity::read_file(&path).with_context(|| {
        if flag.is_some() {
            String::from("--identity")
        } else {
            "no --identity given, and this home has no umbral key: pass --identity FILE".into()
        }
    })
}

fn validate_log(root: &Path, a: ValidateLogArgs, quiet: bool) -> Result<Done> {
    let identity = validator_identity(root, a.identity.as_deref())?;
    let (key, key_source) = trusted_key(root, a.key.as_deref())?;
    let owner = a
        .owner
        .as_deref()
        .map(|o| parse_public(o, "--owner"))
        .transpose()?;
    let mut checks = Checks::default();

    let bytes = fs::read(&a.receipt).with_context(|| format!("reading {}", a.receipt.display()))?;
    let name = a.receipt.display().to_string();
    let Some(proof) = parse(&bytes, &name, &mut checks) else {
        return finish(checks, a.json, quiet, None);
    };
    let Some(statement) = check_receipt(proof.receipt(), &key, &key_source, &mut checks) else {
        return finish(checks, a.json, quiet, None);
    };
    if let (Proof::Bundle(bundle), Some(text)) = (&proof, &a.log_key) {
        let verifier = Ed25519Verifier::parse(text)
            .map_err(|e| anyhow::anyhow!("--log-key {text:?} is not a log verifier key: {e}"))?;
        check_log(bundle, &key, &verifier, "--log-key", &mut checks);
    }
    check_request(&statement, &mut checks);

    let file = fs::File::open(&a.log).with_context(|| format!("opening {}", a.log.display()))?;
    let log = match poex_seal::Decryptor::new(io::BufReader::new(file)) {
        Ok(d) => d,
        Err(e) => {
            checks.fail("capsule", format!("{}: {e}", a.log.display()));
            return finish(checks, a.json, quiet, None);
        }
    };
    let wrapped = match WrappedKey::find(log.stanzas()) {
        Ok(w) => {
            checks.pass(
                "capsule",
                format!(
                    "{} is sealed to an owner who can grant (capsule {})",
                    a.log.display(),
                    &w.capsule().id()[..16]
                ),
            );
            w
        }
        Err(e) => {
            checks.fail("capsule", format!("{}: {e}", a.log.display()));
            return finish(checks, a.json, quiet, None);
        }
    };

    let me = identity.public();
    let mut verified = Vec::new();
    for path in &a.cfrags {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let result =
            CapsuleFragment::parse(&text).and_then(|c| c.verify(&wrapped, &me, owner.as_ref()));
        match result {
            Ok(c) => {
                checks.pass(
                    "cfrag",
                    format!(
                        "{}: proxy {} of grant {} ({} of {}), re-encrypted for you by owner {}",
                        path.display(),
                        c.index,
                        &c.info.id[..12],
                        c.info.threshold,
                        c.info.shares,
                        c.info.owner.fingerprint()
                    ),
                );
                verified.push(c);
            }
            Err(e) => checks.fail("cfrag", format!("{}: {e}", path.display())),
        }
    }
    let have = verified.len();
    let file_key = match wrapped.open_reencrypted(&identity, verified) {
        Ok(k) => {
            checks.pass(
                "file key",
                format!("opened with {have} capsule fragment(s)"),
            );
            k
        }
        Err(e) => {
            let hint = match e {
                GrantError::NotEnough { .. } if have < a.cfrags.len() => {
                    " (some fragments failed above)"
                }
                _ => "",
            };
            checks.fail("file key", format!("{e}{hint}"));
            return finish(checks, a.json, quiet, None);
        }
    };

    // Stream the plaintext: into a temporary file beside --out (renamed only if every check
    // passes), or nowhere.
    let tmp = a.out.as_ref().map(|o| o.with_extension("validating.tmp"));
    let sink: Box<dyn io::Write> = match &tmp {
        Some(t) => Box::new(io::BufWriter::new(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(t)
                .with_context(|| format!("creating {}", t.display()))?,
        )),
        None => Box::new(io::sink()),
    };
    match log.decrypt(&file_key, sink) {
        Ok(opened) => check_digest(&statement, &opened, &a.log, &mut checks),
        Err(e) => checks.fail("log", format!("{}: {e}", a.log.display())),
    }
    let kept = match (&tmp, &a.out) {
        (Some(t), Some(o)) if checks.all_ok() => {
            fs::hard_link(t, o).with_context(|| format!("creating {}", o.display()))?;
            let _ = fs::remove_file(t);
            Some(o.clone())
        }
        (Some(t), _) => {
            let _ = fs::remove_file(t);
            None
        }
        _ => None,
    };
    finish(checks, a.json, quiet, kept)
}

/// `log`: the decrypted log's SHA-256 is the receipt's execution log; `sealed`: the sealed
/// file is the one the receipt names, when it names one.
fn check_digest(
    st: &ReceiptStatement,
    opened: &poex_seal::Sealed,
    path: &Path,
    checks: &mut Checks,
) {
    let held = poex_core::DigestSet::of([opened.plaintext_sha256]);
    match execution_log(st).map(|rd| rd.digests()) {
        None => checks.fail("log", "the receipt records no execution log to compare with"),
        Some(Err(e)) => checks.fail("log", format!("the receipt's execution log digest: {e}")),
        Some(Ok(recorded)) => match recorded.compare(&held) {
            Comparison::Match => checks.pass(
                "log",
                format!(
                    "{} decrypts to the execution log the receipt attests ({}, {} bytes)",
                    path.display(),
                    opened.plaintext_sha256,
                    opened.plaintext_len
                ),
            ),
            Comparison::Differ { ours, theirs } => checks.fail(
                "log",
                format!("the decrypted log is not the attested one: the receipt says {ours}, the log is {theirs}"),
            ),
            Comparison::NoCommonAlgorithm => {
                checks.fail("log", "the receipt has no sha256 of the execution log")
            }
        },
    }
    let sealed_name = format!("{LOG_NAME}{}", poex_seal::SEALED_SUFFIX);
    if let Some(rd) = st
        .predicate
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name.as_deref() == Some(sealed_name.as_str()))
    {
        let held = poex_core::DigestSet::of([opened.ciphertext_sha256]);
        match rd.digests().map(|d| d.compare(&held)) {
            Ok(Comparison::Match) => checks.pass(
                "sealed",
                format!("{} is the sealed log the receipt names", path.display()),
            ),
            _ => checks.fail(
                "sealed",
                format!(
                    "{} ({}) is not the sealed log the receipt names",
                    path.display(),
                    opened.ciphertext_sha256
                ),
            ),
        }
    }
}

fn finish(checks: Checks, as_json: bool, quiet: bool, kept: Option<PathBuf>) -> Result<Done> {
    let ok = checks.all_ok();
    if as_json {
        outln!(
            "{}",
            crate::json::pretty(
                &json!({"validated": ok, "checks": checks.to_json(), "out": kept})
            )?
        );
    } else {
        if !quiet || !ok {
            checks.print()?;
        }
        if !quiet {
            outln!();
            if ok {
                outln!(
                    "validated: the sealed log opens for you and is the execution log the processor attests"
                );
                if let Some(k) = &kept {
                    outln!("  plaintext  {}", k.display());
                }
            } else {
                outln!("NOT VALIDATED: see the failed checks above");
            }
        } else if !ok {
            outln!("NOT VALIDATED");
        }
    }
    Ok(Done(if ok { 0 } else { 4 }))
}
