//! `poex --node URL publish dataset|algorithm PATH`: upload the bytes (a file as is, a folder
//! as a tar stream), then register them under a name.
//!
//! The upload's `Content-Digest` is covered by the signature, so it is known before the first
//! byte is sent: a file is hashed, then sent; a folder's tar stream is built twice, the same
//! way (sorted entries, no owners, times or modes from the disk), once to hash it and once to
//! send it, so nothing is written to a temporary file. A file changed in between makes the
//! node refuse the upload (digest mismatch) and keep nothing.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use poex_client::wire::{PolicyBody, Publish, Stored};
use poex_client::{Client, Upload};
use poex_core::display::escape;
use poex_core::{Algorithm, Digest};
use poex_exec::pipeline::Reporter as _;
use poex_store::registry::{AssetKind, Name};
use sha2::{Digest as _, Sha256};

use crate::Done;
use crate::args::PublishCommand;
use crate::progress::Bars;

pub fn publish(client: &Client, root: &Path, command: PublishCommand, quiet: bool) -> Result<Done> {
    let (kind, path, name, as_key) = match &command {
        PublishCommand::Dataset {
            path, name, as_key, ..
        } => (AssetKind::Dataset, path, name, as_key),
        PublishCommand::Algorithm {
            path, name, as_key, ..
        } => (AssetKind::Algorithm, path, name, as_key),
    };
    let name = Name::new(name.as_str())?;
    let (PublishCommand::Dataset { chain, .. } | PublishCommand::Algorithm { chain, .. }) =
        &command;
    if chain.chain {
        bail!(
            "publish --chain registers an asset of this home; with --node, publish first, then register it from the node's home (poex --home NODE_HOME publish ... --chain)"
        );
    }
    let key = crate::home::identity(root, as_key)?;

    // Settle everything that can fail on the arguments before sending any bytes.
    let mut body = Publish {
        kind: kind.name().into(),
        name: name.as_str().into(),
        ..Publish::default()
    };
    match &command {
        PublishCommand::Dataset {
            allow,
            allow_requester,
            seal_at_rest,
            ..
        } => {
            if *seal_at_rest {
                // The node seals it to its owner's data identity and drops the plaintext
                // upload (docs/seal.md, "Datasets at rest").
                body.seal_at_rest = true;
            }
            let mut algorithms = Vec::new();
            for a in allow {
                algorithms.push(algorithm_digest(client, a)?.to_string());
            }
            let mut requesters = Vec::new();
            for r in allow_requester {
                requesters.push(
                    crate::home::key_id(root, r)
                        .with_context(|| format!("--allow-requester {r}"))?,
                );
            }
            body.policy = Some(PolicyBody {
                allowed_algorithms: algorithms,
                allowed_requesters: requesters,
            });
        }
        PublishCommand::Algorithm { entrypoint, .. } => {
            let argv: Vec<&str> = entrypoint.split_whitespace().collect();
            if argv.is_empty() {
                bail!(
                    "--entrypoint is empty; give the command to run, e.g. --entrypoint \"python3 main.py\""
                );
            }
            body.entrypoint = Some(argv.into_iter().map(str::to_owned).collect());
        }
    }

    let uploaded = upload(client, path, &key, quiet)?;
    body.object = Some(
        uploaded
            .object
            .context("the node's upload answer has no object digest")?,
    );
    let (created, record) = client.publish(&body, &key)?;
    if !quiet {
        if created {
            outln!("published {kind} {name} on {}", client.base());
        } else {
            outln!(
                "{kind} {name} was already published on {} with this content; nothing changed",
                client.base()
            );
        }
        for d in record.digests.iter() {
            outln!("  {d}");
        }
        outln!("  {} file(s), {} bytes", record.file_count, record.size);
        outln!("  publisher {}", escape(&record.publisher));
    }
    Ok(Done(0))
}

/// `--allow` takes a sha256 digest or the name of an algorithm published on the node.
fn algorithm_digest(client: &Client, text: &str) -> Result<Digest> {
    if text.contains(':') {
        let d: Digest = text.parse().with_context(|| format!("--allow {text}"))?;
        if d.algorithm() != Algorithm::Sha256 {
            bail!("--allow {text}: give the algorithm's sha256 digest (or its registered name)");
        }
        return Ok(d);
    }
    Name::new(text).with_context(|| format!("--allow {text}"))?;
    let record = client.asset(AssetKind::Algorithm, text)?.with_context(|| {
        format!(
            "--allow {text}: no algorithm of that name is published on the node at {} (publish \
             it first, or give its sha256 digest)",
            client.base()
        )
    })?;
    record
        .digests
        .sha256()
        .copied()
        .context("the node's record has no sha256 digest")
}

/// Streams `path` to `POST /api/objects`; returns the node's answer (digests, `object`).
fn upload(
    client: &Client,
    path: &Path,
    key: &poex_core::keys::SecretKey,
    quiet: bool,
) -> Result<Stored> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("{} does not exist", path.display()))?;
    let limit = Some(client.info()?.limits.max_upload_bytes);
    let too_large = |len: u64| -> Result<()> {
        match limit {
            Some(max) if len > max => bail!(
                "{} is {len} bytes to upload, and the node at {} takes at most {max} \
                 (its max_upload_bytes); ask its operator, or have an owner register the file \
                 by path on the node",
                path.display(),
                client.base()
            ),
            _ => Ok(()),
        }
    };
    let bars = Bars::new(quiet);
    if meta.is_file() {
        too_large(meta.len())?;
        let total = meta.len();
        bars.begin_bytes(&format!("hashing {}", path.display()), total);
        let hashed = hash_reader(open(path)?, |n| bars.advance(n));
        bars.end_bytes();
        let (sha256, len) = hashed.with_context(|| format!("reading {}", path.display()))?;
        if len != total {
            bail!("{} changed while it was read; try again", path.display());
        }
        bars.begin_bytes(&format!("uploading {}", path.display()), len);
        let answer = client.upload(
            Upload {
                content_type: "application/octet-stream",
                sha256,
                len,
                reader: Box::new(Counted {
                    inner: open(path)?,
                    bars: &bars,
                }),
            },
            key,
        );
        bars.end_bytes();
        return Ok(answer?);
    }
    if !meta.is_dir() {
        bail!(
            "{} is neither a regular file nor a folder (links and special files cannot be published)",
            path.display()
        );
    }
    let tree = walk(path)?;
    let content: u64 = tree.files.iter().map(|(_, len)| len).sum();
    too_large(content)?;
    bars.begin_bytes(&format!("hashing {}", path.display()), content);
    let mut hashing = HashWriter::default();
    let hashed = write_tar(path, &tree, &mut hashing, &|n| bars.advance(n));
    bars.end_bytes();
    hashed?;
    let (sha256, len) = (hashing.sha.finalize().into(), hashing.len);
    too_large(len)?;

    let (reader, mut writer) = io::pipe().context("creating a pipe for the upload")?;
    let answer = std::thread::scope(|s| {
        let root = path.to_owned();
        let tree = &tree;
        let producer = s.spawn(move || {
            let result = write_tar(&root, tree, &mut writer, &|_| {});
            drop(writer);
            result
        });
        bars.begin_bytes(&format!("uploading {} (tar)", path.display()), len);
        let answer = client.upload(
            Upload {
                content_type: "application/x-tar",
                sha256,
                len,
                reader: Box::new(Counted {
                    inner: reader,
                    bars: &bars,
                }),
            },
            key,
        );
        bars.end_bytes();
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the tar writer panicked")));
        match (answer, produced) {
            // The node's refusal says more than the broken pipe it causes.
            (Err(e @ poex_client::Error::Node(_)), _) => Err(e.into()),
            (_, Err(e)) => Err(e.context(format!("sending {}", path.display()))),
            (answer, Ok(())) => Ok(answer?),
        }
    })?;
    Ok(answer)
}

fn open(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("opening {}", path.display()))
}

fn hash_reader(mut r: impl Read, progress: impl Fn(u64)) -> io::Result<([u8; 32], u64)> {
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok((sha.finalize().into(), len));
        }
        sha.update(&buf[..n]);
        len += n as u64;
        progress(n as u64);
    }
}

/// A reader that reports what it reads to the progress bar.
struct Counted<'a, R> {
    inner: R,
    bars: &'a Bars,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bars.advance(n as u64);
        Ok(n)
    }
}

/// Hashes and counts what is written.
#[derive(Default)]
struct HashWriter {
    sha: Sha256,
    len: u64,
}

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sha.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A folder's contents: sub-folders (parents first) and regular files with their sizes, as
/// relative `/`-separated paths sorted by bytes.
#[derive(Debug, Default)]
struct Tree {
    dirs: Vec<String>,
    files: Vec<(String, u64)>,
}

/// Lists a folder, refusing links and special files (the node's store would refuse them too).
fn walk(root: &Path) -> Result<Tree> {
    let mut tree = Tree::default();
    let mut pending = vec![String::new()];
    while let Some(rel) = pending.pop() {
        let dir: PathBuf = if rel.is_empty() {
            root.to_owned()
        } else {
            root.join(&rel)
        };
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                bail!("{}: the name is not UTF-8", entry.path().display());
            };
            let child = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::symlink_metadata(entry.path())
                .with_context(|| format!("{}", entry.path().display()))?;
            if meta.is_file() {
                tree.files.push((child, meta.len()));
            } else if meta.is_dir() {
                tree.dirs.push(child.clone());
                pending.push(child);
            } else {
                bail!(
                    "{} is a link or special file; only regular files and folders can be published",
                    entry.path().display()
                );
            }
        }
    }
    tree.dirs
        .sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    tree.files
        .sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(tree)
}

/// Writes `tree` as a tar stream: the same bytes every time for the same contents.
fn write_tar<W: Write>(root: &Path, tree: &Tree, out: W, progress: &dyn Fn(u64)) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    for dir in &tree.dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(0);
        header.set_size(0);
        tar.append_data(&mut header, format!("{dir}/"), io::empty())
            .with_context(|| format!("archiving {dir}"))?;
    }
    for (rel, len) in &tree.files {
        let full = root.join(rel);
        let file = open(&full)?;
        let now = file
            .metadata()
            .with_context(|| format!("{}", full.display()))?
            .len();
        if now != *len {
            bail!(
                "{} changed while it was being sent; try again",
                full.display()
            );
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_size(*len);
        let reader = Progress {
            inner: file.take(*len),
            progress,
        };
        tar.append_data(&mut header, rel, reader)
            .with_context(|| format!("archiving {}", full.display()))?;
    }
    tar.into_inner().context("finishing the tar stream")?;
    Ok(())
}

struct Progress<'a, R> {
    inner: R,
    progress: &'a dyn Fn(u64),
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// `poex --node URL show NAME`.
pub fn show(client: &Client, name: &str, json: bool) -> Result<Done> {
    Name::new(name)?;
    let mut found = Vec::new();
    for kind in [AssetKind::Dataset, AssetKind::Algorithm] {
        if let Some(r) = client.asset(kind, name)? {
            found.push(r);
        }
    }
    if found.is_empty() {
        bail!(
            "nothing named {name:?} is published on the node at {} (poex --node URL publish \
             dataset|algorithm PATH --name {name})",
            client.base()
        );
    }
    for r in found {
        super::print_record(&r, json)?;
    }
    Ok(Done(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tar_stream_is_the_same_twice_and_extracts_to_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("alg");
        std::fs::create_dir_all(root.join("lib/empty")).unwrap();
        std::fs::write(root.join("main.py"), "print(1)\n").unwrap();
        std::fs::write(root.join("lib/util.py"), "x = 2\n").unwrap();
        let tree = walk(&root).unwrap();
        assert_eq!(tree.dirs, ["lib", "lib/empty"]);
        let mut a = Vec::new();
        write_tar(&root, &tree, &mut a, &|_| {}).unwrap();
        let mut b = HashWriter::default();
        write_tar(&root, &tree, &mut b, &|_| {}).unwrap();
        assert_eq!(b.len, a.len() as u64);
        assert_eq!(
            <[u8; 32]>::from(b.sha.finalize()),
            <[u8; 32]>::from(Sha256::digest(&a))
        );
        let out = dir.path().join("out");
        tar::Archive::new(&a[..]).unpack(&out).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("lib/util.py")).unwrap(),
            "x = 2\n"
        );
        assert!(out.join("lib/empty").is_dir());
    }

    #[cfg(unix)]
    #[test]
    fn links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "x").unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        let e = walk(dir.path()).unwrap_err().to_string();
        assert!(e.contains("link"), "{e}");
    }
}
