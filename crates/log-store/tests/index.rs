//! The on-disk leaf index: `find`, dedup across restarts, catch-up after a crash between the
//! checkpoint and the index update, rebuild of a missing, damaged, foreign or too-large index,
//! and an open that does not read every level-0 tile.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

mod logcheck;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use logcheck::{Expect, check_log, config};
use poex_log::leaf_hash;
use poex_log_store::{FileStore, Log, LogError, LogIndex, MemoryStore, TileStore, WriteMode};

fn entry(i: u64) -> Vec<u8> {
    format!("indexed entry {i}").into_bytes()
}

fn append_range(log: &Log<impl TileStore>, from: u64, to: u64, expect: &mut Expect) {
    let batch: Vec<Vec<u8>> = (from..to).map(entry).collect();
    let idx = log.append(&batch).unwrap();
    assert_eq!(idx.first().map(|i| i.get()), Some(from));
    expect.ack(&batch, &idx);
}

struct Dirs {
    _tmp: tempfile::TempDir,
    store: PathBuf,
    index: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    Dirs {
        store: tmp.path().join("log"),
        index: tmp.path().join("leaves.redb"),
        _tmp: tmp,
    }
}

fn open(d: &Dirs) -> Log<FileStore> {
    Log::open_indexed(FileStore::open(&d.store).unwrap(), config(), &d.index).unwrap()
}

fn assert_found(log: &Log<impl TileStore>, range: std::ops::Range<u64>) {
    for i in range {
        assert_eq!(
            log.find(&leaf_hash(&entry(i))).unwrap(),
            Some(LogIndex(i)),
            "find entry {i}"
        );
    }
}

#[test]
fn find_and_dedup_survive_a_restart() {
    let d = dirs();
    let mut expect = Expect::default();
    {
        let log =
            Log::create_indexed(FileStore::open(&d.store).unwrap(), config(), &d.index).unwrap();
        assert_eq!(log.index_file().as_deref(), Some(d.index.as_path()));
        append_range(&log, 0, 300, &mut expect);
        append_range(&log, 300, 301, &mut expect);
        assert_found(&log, 0..301);
        assert_eq!(log.find(&leaf_hash(b"never appended")).unwrap(), None);
        log.check_index().unwrap();
    }
    let log = open(&d);
    assert_found(&log, 0..301);
    // A duplicate of an old entry gets its old index, without growing the log.
    assert_eq!(
        log.append(&[entry(7), entry(301)]).unwrap(),
        [LogIndex(7), LogIndex(301)]
    );
    assert_eq!(log.size(), 302);
    log.check_index().unwrap();
    check_log(&log, &mut expect, 17);
}

/// A crash after the checkpoint but before the index update (simulated by putting back an
/// older copy of the index file) costs a catch-up from the level-0 tiles, not a wrong answer.
#[test]
fn an_index_behind_the_checkpoint_is_caught_up() {
    let d = dirs();
    let mut expect = Expect::default();
    let log = Log::create_indexed(FileStore::open(&d.store).unwrap(), config(), &d.index).unwrap();
    append_range(&log, 0, 200, &mut expect);
    drop(log);
    let old = std::fs::read(&d.index).unwrap();
    let log = open(&d);
    append_range(&log, 200, 700, &mut expect);
    drop(log);
    std::fs::write(&d.index, old).unwrap();
    let log = open(&d);
    assert_found(&log, 0..700);
    log.check_index().unwrap();
    // Dedup works for the caught-up range too.
    assert_eq!(log.append(&[entry(650)]).unwrap(), [LogIndex(650)]);
    assert_eq!(log.size(), 700);
}

/// An index larger than the checkpoint (here: copied from a longer log with the same entries),
/// a file that is not an index, an index of another log, and no index at all: each is rebuilt
/// from the tiles.
#[test]
fn a_wrong_index_is_rebuilt_never_believed() {
    let long = dirs();
    {
        let log = Log::create_indexed(FileStore::open(&long.store).unwrap(), config(), &long.index)
            .unwrap();
        append_range(&log, 0, 600, &mut Expect::default());
    }
    let other = dirs();
    {
        let log = Log::create_indexed(
            FileStore::open(&other.store).unwrap(),
            config(),
            &other.index,
        )
        .unwrap();
        let batch: Vec<Vec<u8>> = (0..400)
            .map(|i| format!("other {i}").into_bytes())
            .collect();
        log.append(&batch).unwrap();
    }
    let d = dirs();
    {
        let log =
            Log::create_indexed(FileStore::open(&d.store).unwrap(), config(), &d.index).unwrap();
        append_range(&log, 0, 400, &mut Expect::default());
    }
    let garbage = vec![0x5a; 10_000];
    for (what, bytes) in [
        (
            "ahead of the checkpoint",
            Some(std::fs::read(&long.index).unwrap()),
        ),
        ("another log's", Some(std::fs::read(&other.index).unwrap())),
        ("not an index", Some(garbage)),
        ("missing", None),
    ] {
        match bytes {
            Some(b) => std::fs::write(&d.index, b).unwrap(),
            None => std::fs::remove_file(&d.index).unwrap(),
        }
        let log = open(&d);
        assert_found(&log, 0..400);
        for i in 400..600 {
            assert_eq!(
                log.find(&leaf_hash(&entry(i))).unwrap(),
                None,
                "{what}: {i}"
            );
        }
        assert_eq!(
            log.find(&leaf_hash(b"other 3")).unwrap(),
            None,
            "{what}: other log's entry"
        );
        log.check_index().unwrap();
        // New entries are not mistaken for duplicates.
        assert_eq!(
            log.append(&[entry(450)]).unwrap(),
            [LogIndex(400)],
            "{what}"
        );
        drop(log);
        // Put the log back to 400 entries for the next case: a fresh store copy is simpler.
        let fresh = dirs();
        let log = Log::create_indexed(
            FileStore::open(&fresh.store).unwrap(),
            config(),
            &fresh.index,
        )
        .unwrap();
        append_range(&log, 0, 400, &mut Expect::default());
        drop(log);
        std::fs::remove_dir_all(&d.store).unwrap();
        copy_dir(&fresh.store, &d.store);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Counts reads of level-0 tiles.
struct Counting<S> {
    inner: S,
    level0_reads: AtomicUsize,
}

impl<S: TileStore> TileStore for Counting<S> {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        if path.starts_with("tile/0/") {
            self.level0_reads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.read(path)
    }
    fn write(&self, path: &str, data: &[u8], mode: WriteMode) -> io::Result<()> {
        self.inner.write(path, data, mode)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
}

#[test]
fn open_with_an_up_to_date_index_reads_only_the_edge() {
    let d = dirs();
    let mem = MemoryStore::new();
    {
        let log = Log::create_indexed(&mem, config(), &d.index).unwrap();
        for k in 0..20 {
            append_range(&log, k * 500, (k + 1) * 500, &mut Expect::default());
        }
    }
    let counting = Counting {
        inner: &mem,
        level0_reads: AtomicUsize::new(0),
    };
    let log = Log::open_indexed(&counting, config(), &d.index).unwrap();
    // 10,000 entries are 39 level-0 tiles; open reads the partial one only.
    assert_eq!(counting.level0_reads.load(Ordering::SeqCst), 1);
    assert_found(&log, 9990..10_000);
    drop(log);
    // The in-memory index reads them all.
    let counting = Counting {
        inner: &mem,
        level0_reads: AtomicUsize::new(0),
    };
    drop(Log::open(&counting, config()).unwrap());
    assert_eq!(counting.level0_reads.load(Ordering::SeqCst), 40);
}

/// A log with old partial tiles, for the tamper tests: sizes 100, 256, 300, 600.
fn tamper_fixture() -> Dirs {
    let d = dirs();
    let log = Log::create_indexed(FileStore::open(&d.store).unwrap(), config(), &d.index).unwrap();
    for (from, to) in [(0, 100), (100, 256), (256, 300), (300, 600)] {
        append_range(&log, from, to, &mut Expect::default());
    }
    d
}

fn open_error(d: &Dirs) -> LogError {
    match Log::open_indexed(FileStore::open(&d.store).unwrap(), config(), &d.index) {
        Ok(_) => panic!("a damaged log opened"),
        Err(e) => e,
    }
}

#[test]
fn open_refuses_damage_to_what_sequencing_reads() {
    // A flipped byte in a right-edge tile, each level.
    for (path, first) in [("tile/0/002.p/88", 512), ("tile/1/000.p/2", 0)] {
        let d = tamper_fixture();
        let p = d.store.join(path);
        let mut b = std::fs::read(&p).unwrap();
        b[40] ^= 1;
        std::fs::write(&p, b).unwrap();
        let err = open_error(&d);
        assert!(
            matches!(&err, LogError::Corrupt { path: p, index: Some(i), .. } if p == path && *i == first),
            "{path}: {err}"
        );
        assert!(err.to_string().contains("poex audit validate"), "{err}");
    }
    // A truncated edge tile and a truncated partial bundle.
    for (path, len, first) in [
        ("tile/0/002.p/88", 64, 512),
        ("tile/entries/002.p/88", 50, 512),
    ] {
        let d = tamper_fixture();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(d.store.join(path))
            .unwrap();
        f.set_len(len).unwrap();
        let err = open_error(&d);
        assert!(
            matches!(&err, LogError::Corrupt { path: p, index: Some(i), .. } if p == path && *i == first),
            "{path}: {err}"
        );
    }
    // A deleted partial bundle.
    let d = tamper_fixture();
    std::fs::remove_file(d.store.join("tile/entries/002.p/88")).unwrap();
    let err = open_error(&d);
    assert!(
        matches!(&err, LogError::Corrupt { path, index: Some(512), .. } if path == "tile/entries/002.p/88"),
        "{err}"
    );
    // A truncated full level-0 tile the index has not seen yet (the index is missing, so open
    // reads every level-0 tile to rebuild it).
    let d = tamper_fixture();
    std::fs::remove_file(&d.index).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.store.join("tile/0/001"))
        .unwrap();
    f.set_len(100).unwrap();
    let err = open_error(&d);
    assert!(
        matches!(&err, LogError::Corrupt { path, index: Some(256), .. } if path == "tile/0/001"),
        "{err}"
    );
}

/// What open leaves to `validate`: a full tile below the edge that the index already covers.
#[test]
fn damage_below_the_edge_is_left_to_validate() {
    let d = tamper_fixture();
    let p = d.store.join("tile/0/001");
    let mut b = std::fs::read(&p).unwrap();
    b[40] ^= 1;
    std::fs::write(&p, b).unwrap();
    let log = open(&d);
    let report = poex_log_store::validate(log.store(), &*config().verifier);
    assert_eq!(
        report.findings,
        [poex_log_store::Finding::TileModified {
            level: 0,
            first: 256,
            path: "tile/0/001".into()
        }],
        "{report:#?}"
    );
    // A proof through the damaged hash (leaf 257, the sibling of 256) does not verify against the checkpoint.
    let (size, root, _) = log.latest();
    let proof = log.inclusion_proof(256, size).unwrap();
    assert!(
        poex_log::proof::verify_inclusion(&leaf_hash(&entry(256)), 256, size, &proof, &root)
            .is_err()
    );
}

/// The tile nodes the index keeps for proofs are derived data too: wrong ones are noticed
/// (they do not hash to the level-1 tile) and the tile is expanded instead.
#[test]
fn wrong_tile_nodes_in_the_index_do_not_make_wrong_proofs() {
    use redb::{ReadableDatabase as _, ReadableTableMetadata as _, TableDefinition};
    let d = dirs();
    let mut expect = Expect::default();
    {
        let log =
            Log::create_indexed(FileStore::open(&d.store).unwrap(), config(), &d.index).unwrap();
        append_range(&log, 0, 700, &mut expect);
    }
    let nodes: TableDefinition<u64, &[u8]> = TableDefinition::new("tile_nodes");
    {
        let db = redb::Database::create(&d.index).unwrap();
        {
            let tx = db.begin_read().unwrap();
            let table = tx.open_table(nodes).unwrap();
            assert_eq!(table.len().unwrap(), 2, "tiles 0 and 1 are full");
        }
        let tx = db.begin_write().unwrap();
        {
            let mut table = tx.open_table(nodes).unwrap();
            table.insert(1, [0x5a; 512].as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let log = open(&d);
    // Every proof through tile 1 still verifies, and so does the whole-log check.
    let (size, root, _) = log.latest();
    for i in 256..512 {
        let proof = log.inclusion_proof(i, size).unwrap();
        poex_log::proof::verify_inclusion(&leaf_hash(&entry(i)), i, size, &proof, &root)
            .unwrap_or_else(|e| panic!("leaf {i}: {e}"));
    }
    check_log(&log, &mut expect, 5);
}
