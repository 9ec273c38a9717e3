//! The ledger's indexes: derived data, rebuilt from the log whenever in doubt.
//!
//! One redb file maps
//!
//! | table | key | value |
//! |---|---|---|
//! | `jobs` | job id | log indexes (multimap) |
//! | `assets` | `dataset/<name>`, `algorithm/<name>`, `sha256:<hex>` | log indexes (multimap) |
//! | `kinds` | `receipt`, `receipt-digest`, `record`, `event`, or an unknown entry's header | log indexes (multimap) |
//! | `times` | (Unix nanoseconds, log index) | `()`: ordered for range queries |
//! | `meta` | `size`, `root` | the log size indexed so far and the log's root at that size |
//!
//! The index is never the truth: the log is. [`Index::apply`] adds a contiguous run of entries
//! and moves `size` in the same transaction, so after a crash the index is either before or
//! after that run, and the ledger catches up from `size` to the log's size on the next open.
//! `root` binds the index to *this* log: an index whose root differs from the log's root at the
//! indexed size belongs to another log (or a damaged one) and is rebuilt.
//!
//! [`MemIndex`] answers the same queries from memory: the ledger uses it for entries the redb
//! file does not hold (yet), e.g. in a read-only open while the writer has not caught up, or
//! when the file cannot be opened at all.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use poex_log::Hash;
use redb::{
    ConcurrencyMode, Database, MultimapTableDefinition, ReadOnlyDatabase, ReadableDatabase,
    ReadableTable, TableDefinition,
};

use crate::entry::Keys;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const JOBS: MultimapTableDefinition<&str, u64> = MultimapTableDefinition::new("jobs");
const ASSETS: MultimapTableDefinition<&str, u64> = MultimapTableDefinition::new("assets");
const KINDS: MultimapTableDefinition<&str, u64> = MultimapTableDefinition::new("kinds");
const TIMES: TableDefinition<(i128, u64), ()> = TableDefinition::new("times");

/// Version of the table layout; another value is rebuilt.
const LAYOUT: &[u8] = b"poex-ledger-index/1";

/// A range of Unix nanoseconds.
pub type TimeRange = (Bound<i128>, Bound<i128>);

/// A key of the time table: (Unix nanoseconds, log index).
type TimeKey = (i128, u64);

/// Which multimap a lookup reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// Job id.
    Job,
    /// Asset key.
    Asset,
    /// Kind key.
    Kind,
}

impl Field {
    fn table(self) -> MultimapTableDefinition<'static, &'static str, u64> {
        match self {
            Field::Job => JOBS,
            Field::Asset => ASSETS,
            Field::Kind => KINDS,
        }
    }
}

/// The indexed size and the log root at that size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexState {
    /// Entries `0..size` are indexed.
    pub size: u64,
    /// The log's root at `size`.
    pub root: Hash,
}

/// An index operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// redb failed (I/O, corruption, locking).
    #[error("index {path}: {source}")]
    Db {
        /// The index file.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: Box<redb::Error>,
    },
    /// The file is a redb database but not a poex ledger index of this layout.
    #[error("index {path}: {reason}")]
    Layout {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// [`Index::apply`] was given entries that do not continue the indexed size.
    #[error("index holds {size} entries; refusing entries from {first}")]
    Gap {
        /// The indexed size.
        size: u64,
        /// The first index offered.
        first: u64,
    },
    /// A write was attempted on a read-only handle.
    #[error("index {path} is open read-only")]
    ReadOnly {
        /// The index file.
        path: PathBuf,
    },
}

enum Db {
    Write(Database),
    Read(ReadOnlyDatabase),
}

/// The redb index file.
pub struct Index {
    path: PathBuf,
    db: Db,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("path", &self.path)
            .field("writable", &matches!(self.db, Db::Write(_)))
            .finish()
    }
}

impl Index {
    /// Opens the index for writing, creating an empty one if the file is missing or empty.
    /// Checks the integrity of every page on open, so a damaged file is an error here rather
    /// than a wrong answer later.
    pub fn open_writable(path: impl AsRef<Path>) -> Result<Self, IndexError> {
        let path = path.as_ref().to_path_buf();
        let db = redb::Builder::new()
            // One writer process (the ledger holds the log lock), readers in other processes
            // follow its commits.
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| db_err(&path, e))?;
        let index = Index {
            path,
            db: Db::Write(db),
        };
        index.init()?;
        Ok(index)
    }

    /// Opens an existing index for reading, beside a writer in another process.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, IndexError> {
        let path = path.as_ref().to_path_buf();
        let db = redb::Builder::new()
            .set_concurrency_mode(ConcurrencyMode::SingleWriter)
            .open_read_only(&path)
            .map_err(|e| db_err(&path, e))?;
        let index = Index {
            path,
            db: Db::Read(db),
        };
        index.check_layout()?;
        Ok(index)
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the tables of an empty database; checks the layout of an existing one.
    fn init(&self) -> Result<(), IndexError> {
        let Db::Write(db) = &self.db else {
            return self.check_layout();
        };
        // An index with our layout has its tables: nothing to write (a write transaction
        // would cost a synced commit on every open).
        if self.check_layout().is_ok() {
            return Ok(());
        }
        let txn = db.begin_write().map_err(|e| db_err(&self.path, e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| db_err(&self.path, e))?;
            let layout = meta
                .get("layout")
                .map_err(|e| db_err(&self.path, e))?
                .map(|v| v.value().to_vec());
            match layout {
                None => {
                    meta.insert("layout", LAYOUT)
                        .map_err(|e| db_err(&self.path, e))?;
                }
                Some(l) if l == LAYOUT => {}
                Some(l) => {
                    return Err(IndexError::Layout {
                        path: self.path.clone(),
                        reason: format!(
                            "layout {:?}, expected {:?}",
                            String::from_utf8_lossy(&l),
                            String::from_utf8_lossy(LAYOUT)
                        ),
                    });
                }
            }
            for t in [JOBS, ASSETS, KINDS] {
                txn.open_multimap_table(t)
                    .map_err(|e| db_err(&self.path, e))?;
            }
            txn.open_table(TIMES).map_err(|e| db_err(&self.path, e))?;
        }
        txn.commit().map_err(|e| db_err(&self.path, e))
    }

    fn check_layout(&self) -> Result<(), IndexError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META).map_err(|e| db_err(&self.path, e))?;
        let layout = meta
            .get("layout")
            .map_err(|e| db_err(&self.path, e))?
            .map(|v| v.value().to_vec());
        if layout.as_deref() != Some(LAYOUT) {
            return Err(IndexError::Layout {
                path: self.path.clone(),
                reason: "not a poex ledger index".into(),
            });
        }
        Ok(())
    }

    fn begin_read(&self) -> Result<redb::ReadTransaction, IndexError> {
        match &self.db {
            Db::Write(db) => db.begin_read(),
            Db::Read(db) => db.begin_read(),
        }
        .map_err(|e| db_err(&self.path, e))
    }

    /// The indexed size and the root at it; size 0 (and the empty root) for a new index.
    pub fn state(&self) -> Result<IndexState, IndexError> {
        let txn = self.begin_read()?;
        let meta = txn.open_table(META).map_err(|e| db_err(&self.path, e))?;
        let get = |k: &str| -> Result<Option<Vec<u8>>, IndexError> {
            Ok(meta
                .get(k)
                .map_err(|e| db_err(&self.path, e))?
                .map(|v| v.value().to_vec()))
        };
        let bad = |what: &str| IndexError::Layout {
            path: self.path.clone(),
            reason: format!("meta {what} is malformed"),
        };
        let size = match get("size")? {
            None => 0,
            Some(b) => u64::from_be_bytes(b.as_slice().try_into().map_err(|_| bad("size"))?),
        };
        let root = match get("root")? {
            None => poex_log::empty_root(),
            Some(b) => Hash::try_from(b.as_slice()).map_err(|_| bad("root"))?,
        };
        Ok(IndexState { size, root })
    }

    /// Indexes `entries` (log index and keys, contiguous from the indexed size) and records the
    /// new size and root, in one transaction: all or nothing.
    pub fn apply(&self, entries: &[(u64, Keys)], state: IndexState) -> Result<(), IndexError> {
        let Db::Write(db) = &self.db else {
            return Err(IndexError::ReadOnly {
                path: self.path.clone(),
            });
        };
        let current = self.state()?;
        let first = entries.first().map_or(state.size, |(i, _)| *i);
        if first != current.size {
            return Err(IndexError::Gap {
                size: current.size,
                first,
            });
        }
        let txn = db.begin_write().map_err(|e| db_err(&self.path, e))?;
        {
            let mut jobs = txn
                .open_multimap_table(JOBS)
                .map_err(|e| db_err(&self.path, e))?;
            let mut assets = txn
                .open_multimap_table(ASSETS)
                .map_err(|e| db_err(&self.path, e))?;
            let mut kinds = txn
                .open_multimap_table(KINDS)
                .map_err(|e| db_err(&self.path, e))?;
            let mut times = txn.open_table(TIMES).map_err(|e| db_err(&self.path, e))?;
            for (i, keys) in entries {
                kinds
                    .insert(keys.kind.as_str(), i)
                    .map_err(|e| db_err(&self.path, e))?;
                if let Some(job) = &keys.job {
                    jobs.insert(job.as_str(), i)
                        .map_err(|e| db_err(&self.path, e))?;
                }
                for a in &keys.assets {
                    assets
                        .insert(a.as_str(), i)
                        .map_err(|e| db_err(&self.path, e))?;
                }
                if let Some(t) = keys.time {
                    times
                        .insert((t, *i), ())
                        .map_err(|e| db_err(&self.path, e))?;
                }
            }
            let mut meta = txn.open_table(META).map_err(|e| db_err(&self.path, e))?;
            meta.insert("size", state.size.to_be_bytes().as_slice())
                .map_err(|e| db_err(&self.path, e))?;
            meta.insert("root", state.root.as_bytes().as_slice())
                .map_err(|e| db_err(&self.path, e))?;
        }
        // If we crash before the commit is durable, the index stays at its old size and the
        // next open indexes these entries again from the log.
        txn.commit().map_err(|e| db_err(&self.path, e))
    }

    /// Log indexes below `below` filed under `key` in `field`, ascending.
    pub fn lookup(&self, field: Field, key: &str, below: u64) -> Result<Vec<u64>, IndexError> {
        let txn = self.begin_read()?;
        let table = txn
            .open_multimap_table(field.table())
            .map_err(|e| db_err(&self.path, e))?;
        let mut out = Vec::new();
        for v in table.get(key).map_err(|e| db_err(&self.path, e))? {
            let i = v.map_err(|e| db_err(&self.path, e))?.value();
            if i < below {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// (time, log index) pairs with the time in `range` and the index below `below`, in time
    /// order (ties by index).
    pub fn times(&self, range: TimeRange, below: u64) -> Result<Vec<(i128, u64)>, IndexError> {
        if is_empty(range) {
            return Ok(Vec::new());
        }
        let txn = self.begin_read()?;
        let table = txn.open_table(TIMES).map_err(|e| db_err(&self.path, e))?;
        let mut out = Vec::new();
        for kv in table
            .range::<(i128, u64)>(tuple_bounds(range))
            .map_err(|e| db_err(&self.path, e))?
        {
            let (k, _) = kv.map_err(|e| db_err(&self.path, e))?;
            let (t, i) = k.value();
            if i < below {
                out.push((t, i));
            }
        }
        Ok(out)
    }
}

/// Whether no time can be in `range` (start after end, or one point excluded): B-tree range
/// scans refuse (panic on) such ranges.
fn is_empty(range: TimeRange) -> bool {
    let value = |b: Bound<i128>| match b {
        Bound::Included(t) | Bound::Excluded(t) => Some(t),
        Bound::Unbounded => None,
    };
    match (value(range.0), value(range.1)) {
        (Some(a), Some(b)) => {
            a > b
                || (a == b
                    && !(matches!(range.0, Bound::Included(_))
                        && matches!(range.1, Bound::Included(_))))
        }
        _ => false,
    }
}

/// Time bounds as bounds on the (time, index) key.
fn tuple_bounds(range: TimeRange) -> (Bound<TimeKey>, Bound<TimeKey>) {
    let lower = match range.0 {
        Bound::Included(t) => Bound::Included((t, 0)),
        Bound::Excluded(t) => Bound::Excluded((t, u64::MAX)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let upper = match range.1 {
        Bound::Included(t) => Bound::Included((t, u64::MAX)),
        Bound::Excluded(t) => Bound::Excluded((t, 0)),
        Bound::Unbounded => Bound::Unbounded,
    };
    (lower, upper)
}

fn db_err(path: &Path, e: impl Into<redb::Error>) -> IndexError {
    IndexError::Db {
        path: path.to_path_buf(),
        source: Box::new(e.into()),
    }
}

/// The same index, in memory.
#[derive(Clone, Debug, Default)]
pub struct MemIndex {
    jobs: BTreeMap<String, BTreeSet<u64>>,
    assets: BTreeMap<String, BTreeSet<u64>>,
    kinds: BTreeMap<String, BTreeSet<u64>>,
    times: BTreeSet<(i128, u64)>,
}

impl MemIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one entry.
    pub fn insert(&mut self, index: u64, keys: &Keys) {
        self.kinds
            .entry(keys.kind.clone())
            .or_default()
            .insert(index);
        if let Some(job) = &keys.job {
            self.jobs.entry(job.clone()).or_default().insert(index);
        }
        for a in &keys.assets {
            self.assets.entry(a.clone()).or_default().insert(index);
        }
        if let Some(t) = keys.time {
            self.times.insert((t, index));
        }
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Log indexes below `below` filed under `key` in `field`, ascending.
    pub fn lookup(&self, field: Field, key: &str, below: u64) -> Vec<u64> {
        let map = match field {
            Field::Job => &self.jobs,
            Field::Asset => &self.assets,
            Field::Kind => &self.kinds,
        };
        map.get(key)
            .map(|s| s.range(..below).copied().collect())
            .unwrap_or_default()
    }

    /// (time, log index) pairs with the time in `range` and the index below `below`, in time order.
    pub fn times(&self, range: TimeRange, below: u64) -> Vec<(i128, u64)> {
        if is_empty(range) {
            return Vec::new();
        }
        self.times
            .range(tuple_bounds(range))
            .copied()
            .filter(|(_, i)| *i < below)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(kind: &str, job: Option<&str>, assets: &[&str], time: Option<i128>) -> Keys {
        let mut k = Keys::kind_only(kind);
        k.job = job.map(Into::into);
        k.assets = assets.iter().map(|a| (*a).to_owned()).collect();
        k.time = time;
        k
    }

    fn sample() -> Vec<(u64, Keys)> {
        vec![
            (
                0,
                keys("record", None, &["dataset/d", "sha256:aa"], Some(30)),
            ),
            (1, keys("event", Some("j1"), &["sha256:aa"], Some(10))),
            (2, keys("receipt", Some("j1"), &["dataset/d"], Some(20))),
            (3, keys("event", Some("j2"), &[], Some(20))),
            (4, keys("poex-entry/v9 x", None, &[], None)),
        ]
    }

    fn root(n: u8) -> Hash {
        Hash::from_bytes([n; 32])
    }

    #[test]
    fn redb_and_memory_answer_alike() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.redb");
        let db = Index::open_writable(&path).unwrap();
        assert_eq!(db.state().unwrap().size, 0);
        let mut mem = MemIndex::new();
        let entries = sample();
        db.apply(
            &entries[..2],
            IndexState {
                size: 2,
                root: root(2),
            },
        )
        .unwrap();
        db.apply(
            &entries[2..],
            IndexState {
                size: 5,
                root: root(5),
            },
        )
        .unwrap();
        for (i, k) in &entries {
            mem.insert(*i, k);
        }
        assert_eq!(
            db.state().unwrap(),
            IndexState {
                size: 5,
                root: root(5)
            }
        );
        let check = |field, key: &str, below, want: &[u64]| {
            assert_eq!(db.lookup(field, key, below).unwrap(), want, "{key}");
            assert_eq!(mem.lookup(field, key, below), want, "{key}");
        };
        check(Field::Job, "j1", 5, &[1, 2]);
        check(Field::Job, "j1", 2, &[1]);
        check(Field::Job, "nope", 5, &[]);
        check(Field::Asset, "sha256:aa", 5, &[0, 1]);
        check(Field::Asset, "dataset/d", 5, &[0, 2]);
        check(Field::Kind, "event", 5, &[1, 3]);
        check(Field::Kind, "poex-entry/v9 x", 5, &[4]);
        let all = (Bound::Unbounded, Bound::Unbounded);
        let want = vec![(10, 1), (20, 2), (20, 3), (30, 0)];
        assert_eq!(db.times(all, 5).unwrap(), want);
        assert_eq!(mem.times(all, 5), want);
        for (range, want) in [
            (
                (Bound::Included(20), Bound::Excluded(30)),
                vec![(20, 2), (20, 3)],
            ),
            ((Bound::Excluded(20), Bound::Unbounded), vec![(30, 0)]),
            (
                (Bound::Unbounded, Bound::Included(20)),
                vec![(10, 1), (20, 2), (20, 3)],
            ),
            ((Bound::Unbounded, Bound::Excluded(20)), vec![(10, 1)]),
        ] {
            assert_eq!(db.times(range, 5).unwrap(), want, "{range:?}");
            assert_eq!(mem.times(range, 5), want, "{range:?}");
        }
        assert_eq!(db.times(all, 3).unwrap(), vec![(10, 1), (20, 2), (30, 0)]);
        // Empty and inverted ranges are empty, not a panic.
        for range in [
            (Bound::Included(30), Bound::Included(10)),
            (Bound::Excluded(20), Bound::Excluded(20)),
            (Bound::Included(20), Bound::Excluded(20)),
            (Bound::Excluded(20), Bound::Included(20)),
        ] {
            assert_eq!(db.times(range, 5).unwrap(), vec![], "{range:?}");
            assert_eq!(mem.times(range, 5), vec![], "{range:?}");
        }
        let point = (Bound::Included(20), Bound::Included(20));
        assert_eq!(db.times(point, 5).unwrap(), vec![(20, 2), (20, 3)]);
        assert_eq!(mem.times(point, 5), vec![(20, 2), (20, 3)]);

        // Gaps and overlaps are refused.
        assert!(matches!(
            db.apply(
                &entries[..1],
                IndexState {
                    size: 6,
                    root: root(6)
                }
            ),
            Err(IndexError::Gap { size: 5, first: 0 })
        ));

        // Reopened, read-only beside the writer, the data is there.
        let reader = Index::open_read_only(&path).unwrap();
        assert_eq!(reader.lookup(Field::Job, "j1", 5).unwrap(), vec![1, 2]);
        assert!(matches!(
            reader.apply(
                &[],
                IndexState {
                    size: 5,
                    root: root(5)
                }
            ),
            Err(IndexError::ReadOnly { .. })
        ));
        drop(db);
        let db = Index::open_writable(&path).unwrap();
        assert_eq!(db.state().unwrap().size, 5);
        assert_eq!(db.lookup(Field::Kind, "event", 5).unwrap(), vec![1, 3]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.redb");
        std::fs::write(&path, vec![0x5a; 10_000]).unwrap();
        assert!(Index::open_writable(&path).is_err());
        assert!(Index::open_read_only(&path).is_err());
        assert!(Index::open_read_only(dir.path().join("missing.redb")).is_err());
    }
}
