//! Streaming file and directory digests: known answers, streaming = in-memory at every
//! buffer boundary, many small files, refusals.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected errors, like the tests"
)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use poex_core::{Algorithm, DigestSet};
use poex_store::hash::{
    self, BUFFER_SIZE, HashError, Layout, hash_file, hash_tree, no_progress, total_size,
};

const BOTH: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Blake3];

/// The small tree whose digest docs/digests.md works through.
fn known_tree(dir: &Path) {
    fs::write(dir.join("a.txt"), "hello\n").unwrap();
    fs::create_dir_all(dir.join("dir/sub")).unwrap();
    fs::create_dir_all(dir.join("a.b")).unwrap();
    fs::create_dir_all(dir.join("empty")).unwrap();
    fs::write(dir.join("dir/b.txt"), "").unwrap();
    fs::write(dir.join("a.b/c"), "x,y\n1,2\n").unwrap();
    fs::write(dir.join("sp ace é.txt"), "café").unwrap();
    fs::write(dir.join("dir/sub/z"), "z").unwrap();
    fs::write(dir.join("B"), "B").unwrap();
}

// Computed with GNU coreutils 9.1 on this tree:
//   cd DIR && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum
const KNOWN_TREE_SHA256: &str = "2015e006ace4c85d452aa62dd3aa71f24d95ef7ee27990dbc25b3b954e0f8fb1";

#[test]
fn directory_digest_is_the_coreutils_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    known_tree(tmp.path());
    let tree = hash_tree(tmp.path(), &BOTH, &no_progress).unwrap();
    assert_eq!(tree.kind, Layout::Directory);
    assert_eq!(tree.digests.sha256().unwrap().hex(), KNOWN_TREE_SHA256);
    let paths: Vec<&str> = tree.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "B",
            "a.b/c",
            "a.txt",
            "dir/b.txt",
            "dir/sub/z",
            "sp ace é.txt"
        ]
    );
    assert_eq!(tree.total_bytes, 6 + 8 + 5 + 1 + 1);

    // And live, when coreutils is installed (it is on Debian), so the hard-coded value
    // cannot drift from what the documented command prints.
    let live = Command::new("sh")
        .arg("-c")
        .arg("find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum")
        .current_dir(tmp.path())
        .output();
    match live {
        Ok(out) if out.status.success() => {
            let printed = String::from_utf8(out.stdout).unwrap();
            assert_eq!(printed, format!("{KNOWN_TREE_SHA256}  -\n"));
        }
        _ => eprintln!("coreutils not available; checked the hard-coded value only"),
    }

    // BLAKE3 follows the same definition (b3sum prints the same line format).
    let mut manifest = String::new();
    for f in &tree.files {
        let bytes = fs::read(tmp.path().join(&f.path)).unwrap();
        manifest.push_str(&format!("{}  {}\n", blake3::hash(&bytes).to_hex(), f.path));
    }
    assert_eq!(
        tree.digests.blake3().unwrap().hex(),
        blake3::hash(manifest.as_bytes()).to_hex().as_str()
    );
    assert_eq!(
        hash::manifest(Algorithm::Blake3, &tree.files).unwrap(),
        manifest
    );
}

#[test]
fn file_digest_is_the_content_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("a.txt");
    fs::write(&f, "hello\n").unwrap();
    let tree = hash_tree(&f, &BOTH, &no_progress).unwrap();
    assert_eq!(tree.kind, Layout::File);
    // sha256sum a.txt
    assert_eq!(
        tree.digests.sha256().unwrap().hex(),
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
    assert_eq!(tree.files.len(), 1);
    assert_eq!(tree.files[0].path, "a.txt");
    assert_eq!(tree.files[0].size, 6);
    assert_eq!(hash_file(&f, &BOTH, &no_progress).unwrap(), tree.digests);
}

#[test]
fn empty_directory_has_the_empty_string_digest() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("only-empty-dirs")).unwrap();
    let tree = hash_tree(tmp.path(), &BOTH, &no_progress).unwrap();
    assert!(tree.files.is_empty());
    assert_eq!(
        tree.digests,
        DigestSet::of([Algorithm::Sha256.hash(b""), Algorithm::Blake3.hash(b"")])
    );
}

#[test]
fn streaming_equals_in_memory_at_buffer_boundaries() {
    let tmp = tempfile::tempdir().unwrap();
    let sizes = [
        0,
        1,
        4095,
        128 << 10, // where BLAKE3 switches to update_rayon
        BUFFER_SIZE - 1,
        BUFFER_SIZE,
        BUFFER_SIZE + 1,
        2 * BUFFER_SIZE, // where reading moves to a helper thread
        3 * BUFFER_SIZE + 7,
    ];
    for size in sizes {
        // A pattern that does not repeat at the buffer size, so a misplaced chunk shows.
        let data: Vec<u8> = (0..size as u64)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let path = tmp.path().join(format!("f{size}"));
        fs::write(&path, &data).unwrap();
        let expected =
            DigestSet::of([Algorithm::Sha256.hash(&data), Algorithm::Blake3.hash(&data)]);
        let seen = AtomicU64::new(0);
        let progress = |n: u64| {
            seen.fetch_add(n, Ordering::Relaxed);
        };
        assert_eq!(
            hash_file(&path, &BOTH, &progress).unwrap(),
            expected,
            "size {size}"
        );
        assert_eq!(
            seen.load(Ordering::Relaxed),
            size as u64,
            "progress, size {size}"
        );
        for alg in BOTH {
            let one = hash_file(&path, &[alg], &no_progress).unwrap();
            assert_eq!(
                one,
                DigestSet::of([*expected.get(alg).unwrap()]),
                "{alg}, size {size}"
            );
        }
    }
}

#[test]
fn ten_thousand_small_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    for d in 0..100 {
        let dir = tmp.path().join(format!("d{d:03}"));
        fs::create_dir(&dir).unwrap();
        for f in 0..100 {
            let content = format!("{d}/{f}\n").repeat(4096);
            let content = &content.as_bytes()[..4096];
            fs::write(dir.join(format!("{f:03}")), content).unwrap();
            expected.push((format!("d{d:03}/{f:03}"), Algorithm::Sha256.hash(content)));
        }
    }
    let seen = AtomicU64::new(0);
    let progress = |n: u64| {
        seen.fetch_add(n, Ordering::Relaxed);
    };
    let tree = hash_tree(tmp.path(), &BOTH, &progress).unwrap();
    assert_eq!(tree.files.len(), 10_000);
    assert_eq!(tree.total_bytes, 10_000 * 4096);
    assert_eq!(seen.load(Ordering::Relaxed), 10_000 * 4096);
    assert_eq!(total_size(tmp.path()).unwrap(), 10_000 * 4096);
    let mut manifest = String::new();
    for ((path, digest), entry) in expected.iter().zip(&tree.files) {
        assert_eq!(&entry.path, path);
        assert_eq!(entry.digests.sha256(), Some(digest));
        manifest.push_str(&format!("{}  {path}\n", digest.hex()));
    }
    assert_eq!(
        tree.digests.sha256(),
        Some(&Algorithm::Sha256.hash(manifest.as_bytes()))
    );
}

fn refused(root: &Path) -> HashError {
    let err = hash_tree(root, &BOTH, &no_progress).unwrap_err();
    // total_size refuses the same things, so a progress bar never lies about a tree.
    assert!(total_size(root).is_err());
    err
}

#[test]
fn symlinks_are_refused_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("real"), "x").unwrap();
    std::os::unix::fs::symlink("../real", root.join("sub/link")).unwrap();
    let err = refused(&root);
    assert!(
        matches!(&err, HashError::Symlink { path } if path.ends_with("sub/link")),
        "{err}"
    );
    assert!(err.to_string().contains("sub/link"), "{err}");

    // The top level too, and hash_file on a link (O_NOFOLLOW).
    let top = tmp.path().join("top");
    std::os::unix::fs::symlink(&root, &top).unwrap();
    assert!(matches!(refused(&top), HashError::Symlink { .. }));
    let flink = tmp.path().join("flink");
    std::os::unix::fs::symlink(root.join("real"), &flink).unwrap();
    assert!(matches!(
        hash_file(&flink, &BOTH, &no_progress),
        Err(HashError::Symlink { .. })
    ));
}

#[test]
fn special_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(tmp.path().join("sock")).unwrap();
    let err = refused(tmp.path());
    assert!(
        matches!(&err, HashError::NotRegular { kind: "socket", path } if path.ends_with("sock")),
        "{err}"
    );
    assert!(matches!(
        hash_file(Path::new("/dev/null"), &BOTH, &no_progress),
        Err(HashError::NotRegular {
            kind: "character device",
            ..
        })
    ));
}

#[test]
fn unsafe_names_are_refused() {
    for (name, what) in [
        (&b"line\nbreak"[..], Some("a newline")),
        (b"carriage\rreturn", Some("a carriage return")),
        (b"back\\slash", Some("a backslash")),
        (b"not-utf8-\xff", None),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(OsStr::from_bytes(name)), "x").unwrap();
        let err = refused(tmp.path());
        match (what, &err) {
            (Some(w), HashError::UnsafeName { what, .. }) => assert_eq!(w, *what),
            (None, HashError::NonUtf8Name { .. }) => {}
            _ => panic!("{name:?}: unexpected {err}"),
        }
    }
}

#[test]
fn missing_path_is_an_io_error_naming_it() {
    let err = hash_tree(Path::new("/nonexistent/poex"), &BOTH, &no_progress).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/poex"), "{err}");
    assert!(matches!(
        hash_tree(Path::new("/"), &[], &no_progress),
        Err(HashError::NoAlgorithm)
    ));
}

/// The worked example of docs/digests.md, so the document cannot drift from the code.
/// SHA-256 values from coreutils 9.1; BLAKE3 values are what b3sum prints for the same files.
#[test]
fn docs_worked_example() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path();
    fs::write(demo.join("a.txt"), "hello\n").unwrap();
    fs::create_dir(demo.join("sub")).unwrap();
    fs::write(demo.join("sub/data.csv"), "x,y\n1,2\n").unwrap();
    let file = hash_tree(&demo.join("a.txt"), &BOTH, &no_progress).unwrap();
    assert_eq!(
        file.digests.to_string(),
        "blake3:8e4c7c1b99dbfd50e7a95185fead5ee1448fa904a2fdd778eaf5f2dbfd629a99 \
         sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
    let tree = hash_tree(demo, &BOTH, &no_progress).unwrap();
    assert_eq!(
        hash::manifest(Algorithm::Sha256, &tree.files).unwrap(),
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  a.txt\n\
         81bf9fa83c6f7f151bd491a98cd7d933de3965289e3ebd77c6c425f7eaa16392  sub/data.csv\n"
    );
    assert_eq!(
        tree.digests.to_string(),
        "blake3:2cf0d2c4c0ee163815420fc9a84fe5e59cc0e6447eb6f291fd5be993d196907e \
         sha256:7ddd736f3060856b72968feb34f8bb7c091ea228bf3df1f92157acc3d123436e"
    );
}
