//! Shared helpers for the file-store tests: a test log config, a fault-injecting store and the
//! whole-log check run after every step.
#![allow(dead_code)]
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use poex_log::note::Ed25519Signer;
use poex_log::proof::{verify_consistency, verify_inclusion};
use poex_log::tile::{BundleId, EntryBundle};
use poex_log::{Hash, leaf_hash};
use poex_log_store::{Log, LogConfig, TileStore, WriteMode, validate};

pub const ORIGIN: &str = "example.com/poex-test-log";

pub fn config() -> LogConfig {
    let signer = Ed25519Signer::from_seed(ORIGIN, &[7; 32]).unwrap();
    let verifier = signer.verifier();
    LogConfig {
        origin: ORIGIN.parse().unwrap(),
        signer: Arc::new(signer),
        verifier: Arc::new(verifier),
    }
}

/// When the injected fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The write does not land and an error is returned.
    Before,
    /// The write lands, then an error is returned.
    After,
}

/// A [`TileStore`] that fails write number `fail_at` (0-based) as `fault` says, and every write
/// after it before it lands (the process is as good as dead). Counts writes either way.
pub struct FaultyStore<S> {
    pub inner: S,
    pub fail_at: Option<usize>,
    pub fault: Fault,
    pub writes: AtomicUsize,
    pub checkpoint_writes: AtomicUsize,
}

impl<S> FaultyStore<S> {
    pub fn new(inner: S, fail_at: Option<usize>, fault: Fault) -> Self {
        Self {
            inner,
            fail_at,
            fault,
            writes: AtomicUsize::new(0),
            checkpoint_writes: AtomicUsize::new(0),
        }
    }
}

impl<S: TileStore> TileStore for FaultyStore<S> {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        self.inner.read(path)
    }

    fn write(&self, path: &str, data: &[u8], mode: WriteMode) -> io::Result<()> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        if path == "checkpoint" {
            self.checkpoint_writes.fetch_add(1, Ordering::SeqCst);
        }
        match self.fail_at {
            Some(k) if n == k && self.fault == Fault::After => {
                self.inner.write(path, data, mode)?;
                Err(io::Error::other(format!(
                    "injected fault after write {n} ({path})"
                )))
            }
            Some(k) if n >= k => Err(io::Error::other(format!(
                "injected fault before write {n} ({path})"
            ))),
            _ => self.inner.write(path, data, mode),
        }
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
}

/// What the tests know about a log across reopenings.
#[derive(Default, Debug)]
pub struct Expect {
    /// Acknowledged entries by index.
    pub acked: BTreeMap<u64, Vec<u8>>,
    /// Checkpoints seen, in order: (size, root).
    pub seen: Vec<(u64, Hash)>,
}

impl Expect {
    /// Records an acknowledged append; the same entry must always get the same index.
    pub fn ack(&mut self, entries: &[Vec<u8>], indexes: &[poex_log_store::LogIndex]) {
        assert_eq!(entries.len(), indexes.len());
        for (e, i) in entries.iter().zip(indexes) {
            if let Some(old) = self.acked.insert(i.get(), e.clone()) {
                assert_eq!(&old, e, "index {i} acknowledged for two different entries");
            }
        }
    }
}

/// The whole-log check: the store validates, every acknowledged entry is present at its index
/// (and proven included for every `proof_stride`-th), the stored root matches the checkpoint,
/// and the log is consistent with every checkpoint seen before.
pub fn check_log<S: TileStore>(log: &Log<S>, expect: &mut Expect, proof_stride: usize) {
    let cfg = config();
    let report = validate(log.store(), &*cfg.verifier);
    assert!(report.is_ok(), "validate: {report:#?}");
    let (cp, _) = log.checkpoint().expect("checkpoint verifies");
    let size = cp.size.get();
    assert_eq!(log.root(size).unwrap(), cp.root, "root from tiles");
    // Every acknowledged entry, read bundle by bundle (each bundle decoded once).
    let mut bundles: BTreeMap<u64, EntryBundle> = BTreeMap::new();
    for (n, (&i, e)) in expect.acked.iter().enumerate() {
        assert!(i < size, "acknowledged index {i} beyond size {size}");
        let id = BundleId::for_entry(i, size).unwrap();
        let bundle = bundles.entry(id.index).or_insert_with(|| {
            let bytes = log
                .store()
                .read(&id.path())
                .unwrap()
                .expect("bundle present");
            EntryBundle::decode(&bytes).unwrap()
        });
        assert_eq!(&bundle.entries()[(i % 256) as usize], e, "entry {i}");
        if n % proof_stride == 0 {
            assert_eq!(&log.entry(i).unwrap(), e, "entry {i} through Log::entry");
        }
        if n % proof_stride == 0 || n + 1 == expect.acked.len() {
            let proof = log.inclusion_proof(i, size).unwrap();
            verify_inclusion(&leaf_hash(e), i, size, &proof, &cp.root)
                .unwrap_or_else(|err| panic!("inclusion of {i} in {size}: {err}"));
        }
    }
    for &(old, old_root) in &expect.seen {
        assert!(old <= size, "log shrank from {old} to {size}");
        if old > 0 {
            let proof = log.consistency_proof(old, size).unwrap();
            verify_consistency(old, size, &proof, &old_root, &cp.root)
                .unwrap_or_else(|err| panic!("consistency {old} -> {size}: {err}"));
        }
    }
    if expect.seen.last() != Some(&(size, cp.root)) {
        expect.seen.push((size, cp.root));
    }
}
