//! poex-store: the local store of a poex home — hashing as bytes stream, content-addressed
//! objects, the write-once registry, and the audit event type.
//!
//! # Map
//!
//! - [`hash`]: streaming SHA-256 and BLAKE3 digests of files and directories. A directory's
//!   digest is the digest of its `sha256sum`-format manifest, reproducible with coreutils
//!   (docs/digests.md). [`hash::hash_tree`] returns a [`hash::Tree`]: the whole's digests
//!   and every file's.
//! - [`objects`]: [`objects::Objects`] copies a file or directory into `objects/<blake3 hex>`,
//!   hashing it in the same pass, read-only for everyone; [`objects::Objects::verify`]
//!   re-hashes an object before use.
//! - [`registry`]: [`registry::Registry`], one create-once JSON [`registry::Record`] per
//!   published dataset or algorithm; a name never changes content.
//! - [`audit`]: [`audit::Event`]s (publish, reads, results, refusals, runs) and the
//!   [`audit::Filter`] that queries them; the trail itself is the transparency log
//!   (poex-ledger), where events are entries.
//! - [`keystore`]: Ed25519 key files (PKCS#8 PEM, mode 0600, refused when others can read
//!   them); used by the binaries, which pass keys inward as a `Signer`. Keys live beside the
//!   store root, never under it.
//! - [`Store`] ties objects and registry together under one root:
//!
//! ```text
//! ROOT/            0755
//!   objects/       0755   <blake3 hex> -> files 0444, directories 0555
//!   registry/      0755   datasets/<name>.json, algorithms/<name>.json (0644)
//! ```
//!
//! What this crate deliberately does not do: keys and signatures (they live elsewhere in the
//! home, 0600, and never under this root, which other uids can read), policy decisions (it
//! stores a dataset's [`registry::Policy`]; the job pipeline enforces it), and networking.
//!
//! # Example
//!
//! ```
//! use poex_store::{Store, hash, registry::{AssetKind, Name, Record, Policy, Added}};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let home = tempfile::tempdir()?;
//! let data = home.path().join("data.csv");
//! std::fs::write(&data, "x,y\n1,2\n")?;
//!
//! let store = Store::open(home.path().join("store"))?;
//! let stored = store.objects().import(&data, &hash::no_progress)?;
//! let record = Record {
//!     kind: AssetKind::Dataset,
//!     name: Name::new("survey-2024")?,
//!     digests: stored.tree.digests.clone(),
//!     layout: stored.tree.kind,
//!     size: stored.tree.total_bytes,
//!     file_count: stored.tree.files.len() as u64,
//!     published_at: poex_store::now_rfc3339(),
//!     publisher: "alice".into(),
//!     entrypoint: None,
//!     policy: Some(Policy::default()),
//!     sealed: None,
//! };
//! assert_eq!(store.registry().add(&record)?, Added::Created);
//!
//! // Before a run: re-hash the object and compare with the registry.
//! let got = store.registry().get(AssetKind::Dataset, &record.name)?.expect("published");
//! let blake3 = got.digests.blake3().expect("records hold both digests");
//! store.objects().verify(blake3, &hash::no_progress)?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod audit;
mod fsutil;

pub use fsutil::write_atomic;
pub mod hash;
pub mod keystore;
pub mod objects;
pub mod registry;

use std::io;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::objects::{ObjectError, Objects};
use crate::registry::{Registry, RegistryError};

/// Mode of the store root: other uids (the sandbox) must traverse it to reach objects.
pub const ROOT_MODE: u32 = 0o755;

/// The current time as RFC 3339 UTC with fractional seconds, as records and events use.
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("a current UTC time always has a four-digit year, which RFC 3339 can format")
}

/// The object store and registry under one root directory.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    objects: Objects,
    registry: Registry,
}

/// Why [`Store::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The root could not be created.
    #[error("store root {path}: {source}")]
    Io {
        /// The root.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Opening `objects/` failed.
    #[error(transparent)]
    Objects(#[from] ObjectError),
    /// Opening `registry/` failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl Store {
    /// Opens the store at `root`, creating the root (0755), `objects/` and `registry/` as
    /// needed. An existing root keeps its mode.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref().to_path_buf();
        fsutil::ensure_dir(&root, ROOT_MODE).map_err(|source| StoreError::Io {
            path: root.clone(),
            source,
        })?;
        Ok(Store {
            objects: Objects::open(root.join("objects"))?,
            registry: Registry::open(root.join("registry"))?,
            root,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content-addressed objects.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// The write-once registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
