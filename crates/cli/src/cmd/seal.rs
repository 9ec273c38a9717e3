//! `poex identity new|list|show`, `poex encrypt` and `poex decrypt`: the X25519 identities
//! results are sealed to, and the sealed files themselves (docs/seal.md).
//!
//! Identities live beside the Ed25519 keys, as `HOME/keys/NAME.identity` (mode 0600, written
//! once, refused when others can read them). `poex run --recipient R` takes a recipient
//! (`poex-x25519:...`), the name of a local identity, or a file holding a recipient line.
//!
//! These commands' arguments are declared here rather than in args.rs, flattened into the
//! command list by one variant there, so this group can grow without touching that file.

use std::fs;
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use poex_core::display::escape;
use poex_exec::pipeline::Reporter as _;
use poex_seal::keyfile;
use poex_seal::{Identity, OpenError, Recipient, SEALED_SUFFIX};
use serde_json::json;

use crate::Done;
use crate::home::Home;
use crate::progress::Bars;

/// The identity `poex decrypt` uses when none is named.
const DEFAULT_IDENTITY: &str = "default";

#[derive(Debug, Subcommand)]
pub enum SealCommand {
    /// Create, list and show X25519 identities: the keys job results are sealed to.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Seal a file to recipients, as a processor seals results (FILE -> FILE.sealed).
    Encrypt(EncryptArgs),
    /// Open a sealed result or log (FILE.sealed -> FILE): only authenticated bytes are
    /// written, and the output appears only once the whole file authenticated.
    Decrypt(DecryptArgs),
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Generate a new X25519 identity (file mode 0600 in the home's keys folder) and print
    /// its recipient, which `poex run --recipient` and `poex encrypt -r` take.
    New {
        /// Name of the identity (A-Z a-z 0-9 . _ -).
        name: String,
    },
    /// List identities with their recipients.
    List {
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Print an identity's recipient (safe to share: it is a public key).
    Show {
        /// Name of the identity.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The file to seal.
    pub file: PathBuf,
    /// A recipient: poex-x25519:<base64>, a local identity name, or a file holding a
    /// recipient line. Repeat for several.
    #[arg(short, long = "recipient", value_name = "RECIPIENT", required = true)]
    pub recipients: Vec<String>,
    /// Where to write the sealed file (must not exist). Default: FILE.sealed.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The sealed file.
    pub file: PathBuf,
    /// The identity to open it with: a local identity name or an identity file.
    #[arg(short, long, value_name = "NAME|PATH", default_value = DEFAULT_IDENTITY)]
    pub identity: String,
    /// Where to write the plaintext (must not exist; mode 0600), or "-" for standard output
    /// (which then may have received part of a file that turns out truncated: check the exit
    /// status). Default: FILE without ".sealed".
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Print what was opened as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn dispatch(root: &Path, command: SealCommand, quiet: bool) -> Result<Done> {
    match command {
        SealCommand::Identity(c) => identity(root, c),
        SealCommand::Encrypt(a) => encrypt(root, a, quiet),
        SealCommand::Decrypt(a) => decrypt(root, a, quiet),
    }
}

/// `HOME/keys/NAME.identity`, the name checked as key names are.
fn identity_path(home: &Home, name: &str) -> Result<PathBuf> {
    Ok(home.keys.secret_path(name)?.with_extension("identity"))
}

fn identity(root: &Path, command: IdentityCommand) -> Result<Done> {
    let home = Home::open(root)?;
    match command {
        IdentityCommand::New { name } => {
            let path = identity_path(&home, &name)?;
            let id = Identity::generate()?;
            keyfile::write_new(&path, &id)?;
            outln!("created identity {name}");
            outln!("  recipient  {}", id.recipient());
            outln!("  identity   {} (mode 0600)", path.display());
        }
        IdentityCommand::List { json } => {
            let mut found = Vec::new();
            for entry in fs::read_dir(home.keys.dir())
                .with_context(|| format!("reading {}", home.keys.dir().display()))?
            {
                let path = entry?.path();
                let Some(name) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".identity"))
                    .filter(|n| !n.starts_with('.'))
                else {
                    continue;
                };
                found.push((name.to_owned(), keyfile::read(&path)?.recipient()));
            }
            found.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, recipient) in found {
                if json {
                    outln!(
                        "{}",
                        json!({"name": name, "recipient": recipient.to_string()})
                    );
                } else {
                    outln!("{name:<16} {recipient}");
                }
            }
        }
        IdentityCommand::Show { name } => {
            let path = identity_path(&home, &name)?;
            if !path.exists() {
                bail!(
                    "no identity named {name:?} in {} (create it with 'poex identity new {name}')",
                    home.keys.dir().display()
                );
            }
            outln!("{}", keyfile::read(&path)?.recipient());
        }
    }
    Ok(Done(0))
}

/// A recipient given on the command line: `poex-x25519:<base64>`, the name of an identity in
/// the home at `root`, or a file holding a recipient line (e.g. `poex identity show` output,
/// or an identity file's `# recipient:` comment). Returns it in its canonical text form.
pub fn recipient_text(root: &Path, spec: &str) -> Result<String> {
    Ok(resolve_recipient(root, spec)?.to_string())
}

fn resolve_recipient(root: &Path, spec: &str) -> Result<Recipient> {
    if spec.starts_with(poex_seal::x25519::RECIPIENT_PREFIX) {
        return Ok(spec.parse()?);
    }
    // A name in this home first, so a file that happens to be called "alice" in the current
    // folder does not shadow the identity alice; a path (with a '/') is always a file.
    if !spec.contains('/')
        && let Some(path) = home_identity(root, spec)
    {
        return Ok(keyfile::read(&path)?.recipient());
    }
    let as_file = Path::new(spec);
    if as_file.is_file() {
        let text = fs::read_to_string(as_file).with_context(|| format!("reading {spec}"))?;
        let found = text.lines().find_map(|l| {
            let l = l.trim().trim_start_matches("# recipient:").trim();
            l.starts_with(poex_seal::x25519::RECIPIENT_PREFIX)
                .then(|| l.parse::<Recipient>())
        });
        return match found {
            Some(r) => Ok(r?),
            None => bail!("{spec} holds no poex-x25519: recipient line"),
        };
    }
    bail!(
        "{spec:?} is not a recipient (poex-x25519:<base64>), an identity of this home (see \
         'poex identity list'; create one with 'poex identity new NAME'), or a file holding one"
    )
}

/// `HOME/keys/NAME.identity`, if the home opens, `name` is a key name and the file exists.
fn home_identity(root: &Path, name: &str) -> Option<PathBuf> {
    let home = Home::open(root).ok()?;
    identity_path(&home, name).ok().filter(|p| p.exists())
}

fn load_identity(root: &Path, spec: &str) -> Result<Identity> {
    if !spec.contains('/')
        && let Some(path) = home_identity(root, spec)
    {
        return Ok(keyfile::read(&path)?);
    }
    let as_file = Path::new(spec);
    if as_file.is_file() {
        return Ok(keyfile::read(as_file)?);
    }
    bail!(
        "no identity {spec:?}: neither an identity of this home (see 'poex identity list'; \
         create one with 'poex identity new {spec}') nor an identity file; pass --identity NAME|PATH"
    )
}

/// A new file written beside its final name and linked there only when complete
/// ([`poex_durable::Place::CreateNew`]): a reader never sees half a file, an existing file is
/// never replaced, and an abandoned one leaves nothing.
struct Pending {
    dest: PathBuf,
    file: poex_durable::AtomicFile,
}

impl Pending {
    fn create(dest: &Path, mode: u32) -> Result<Pending> {
        if fs::symlink_metadata(dest).is_ok() {
            bail!(
                "{} exists; poex never overwrites (choose another -o)",
                dest.display()
            );
        }
        let file = poex_durable::AtomicFile::new(dest, poex_durable::Place::CreateNew, mode)
            .with_context(|| format!("creating {}", dest.display()))?;
        Ok(Pending {
            dest: dest.to_owned(),
            file,
        })
    }

    fn commit(self) -> Result<()> {
        match self.file.commit() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                bail!(
                    "{} appeared meanwhile; not overwritten",
                    self.dest.display()
                )
            }
            Err(e) => Err(e).with_context(|| format!("creating {}", self.dest.display())),
        }
    }
}

/// A reader that reports its bytes to a progress bar.
struct Progress<'a, R> {
    inner: R,
    bars: &'a Bars,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bars.advance(n as u64);
        Ok(n)
    }
}

fn encrypt(root: &Path, args: EncryptArgs, quiet: bool) -> Result<Done> {
    let recipients = args
        .recipients
        .iter()
        .map(|r| resolve_recipient(root, r))
        .collect::<Result<Vec<_>>>()?;
    let input =
        fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    let dest = args.output.clone().unwrap_or_else(|| {
        let mut name = args.file.as_os_str().to_owned();
        name.push(SEALED_SUFFIX);
        PathBuf::from(name)
    });
    let mut out = Pending::create(&dest, 0o644)?;
    let bars = Bars::new(quiet);
    bars.begin_bytes(&format!("sealing {}", args.file.display()), total);
    let reader = Progress {
        inner: input,
        bars: &bars,
    };
    let sealed = poex_seal::encrypt(&recipients, reader, &mut out.file);
    bars.end_bytes();
    let sealed = sealed?;
    out.commit()?;
    if !quiet {
        outln!(
            "sealed {} -> {} to {} recipient(s)",
            escape(&args.file.display().to_string()),
            escape(&dest.display().to_string()),
            recipients.len()
        );
        outln!(
            "  plaintext  {} ({} bytes)",
            sealed.plaintext_sha256,
            sealed.plaintext_len
        );
        outln!(
            "  sealed     {} ({} bytes)",
            sealed.ciphertext_sha256,
            sealed.ciphertext_len
        );
    }
    Ok(Done(0))
}

fn decrypt(root: &Path, args: DecryptArgs, quiet: bool) -> Result<Done> {
    let identity = load_identity(root, &args.identity)?;
    let input =
        fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let total = input.metadata().map(|m| m.len()).unwrap_or(0);
    let to_stdout = args.output.as_deref() == Some(Path::new("-"));
    let dest = match &args.output {
        Some(o) => o.clone(),
        None => {
            let text = args.file.to_string_lossy();
            match text.strip_suffix(SEALED_SUFFIX).filter(|s| !s.is_empty()) {
                Some(stem) => PathBuf::from(stem),
                None => bail!(
                    "{} does not end in {SEALED_SUFFIX}: say where the plaintext goes with -o OUT (or -o - for standard output)",
                    args.file.display()
                ),
            }
        }
    };
    // Plaintext results: readable by their owner only until they choose otherwise.
    let mut pending = if to_stdout {
        None
    } else {
        Some(Pending::create(&dest, 0o600)?)
    };
    let bars = Bars::new(quiet || to_stdout);
    bars.begin_bytes(&format!("opening {}", args.file.display()), total);
    let reader = Progress {
        inner: input,
        bars: &bars,
    };
    let opened = match pending.as_mut() {
        Some(p) => poex_seal::decrypt(&identity, reader, &mut p.file),
        None => poex_seal::decrypt(&identity, reader, io::stdout().lock()),
    };
    bars.end_bytes();
    let opened = match opened {
        Ok(o) => o,
        Err(e) => return failed(&args.file, e, to_stdout),
    };
    if let Some(p) = pending {
        p.commit()?;
    }
    if args.json {
        let doc = json!({
            "file": args.file,
            "output": if to_stdout { None } else { Some(&dest) },
            "plaintext": {"sha256": opened.plaintext_sha256.hex(), "bytes": opened.plaintext_len},
            "sealed": {"sha256": opened.ciphertext_sha256.hex(), "bytes": opened.ciphertext_len},
        });
        if to_stdout {
            eprintln!("{}", crate::json::line(&doc)?);
        } else {
            outln!("{}", crate::json::pretty(&doc)?);
        }
    } else if !quiet {
        // A sealed result's file name is the one the job chose: shown escaped.
        let shown = |p: &Path| escape(&p.display().to_string()).into_owned();
        let line = format!(
            "opened {} -> {}\n  plaintext  {} ({} bytes)\n  sealed     {} ({} bytes)\n  check it   poex verify JOB --file {}",
            shown(&args.file),
            if to_stdout {
                "standard output".to_owned()
            } else {
                shown(&dest)
            },
            opened.plaintext_sha256,
            opened.plaintext_len,
            opened.ciphertext_sha256,
            opened.ciphertext_len,
            if to_stdout {
                "OUT".to_owned()
            } else {
                shown(&dest)
            },
        );
        // With -o - the plaintext owns standard output.
        if to_stdout {
            eprintln!("{line}");
        } else {
            outln!("{line}");
        }
    }
    Ok(Done(0))
}

/// A file that does not open: altered, cut or extended files fail verification (exit 4); the
/// wrong identity or a file that is not sealed is an ordinary error (exit 1).
fn failed(file: &Path, e: OpenError, to_stdout: bool) -> Result<Done> {
    let integrity = matches!(
        e,
        OpenError::HeaderMac
            | OpenError::Chunk { .. }
            | OpenError::Truncated { .. }
            | OpenError::TrailingData { .. }
            | OpenError::NonCanonical { .. }
    );
    if !integrity {
        return Err(anyhow::Error::new(e).context(format!("opening {}", file.display())));
    }
    let _ = io::stdout().flush();
    let written = if to_stdout {
        "standard output got the chunks that authenticated before this: discard it"
    } else {
        "nothing was written (the output appears only once the whole file authenticated)"
    };
    eprintln!(
        "poex: {}: {e}\n  {written}",
        escape(&file.display().to_string())
    );
    Ok(Done(4))
}
