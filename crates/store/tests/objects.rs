//! The object store: import copies and hashes in one pass, objects are read-only and
//! world-readable, re-import keeps the existing object, verify catches tampering.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers panic on unexpected errors, like the tests"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use poex_core::Algorithm;
use poex_store::hash::{Layout, hash_tree, no_progress};
use poex_store::objects::{ObjectError, Objects};
use poex_store::{ROOT_MODE, Store};

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn sample_dir(dir: &Path) {
    fs::create_dir_all(dir.join("sub/deeper")).unwrap();
    fs::create_dir_all(dir.join("empty")).unwrap();
    fs::write(dir.join("main.py"), "print('hi')\n").unwrap();
    fs::write(dir.join("sub/data.csv"), "a,b\n1,2\n").unwrap();
    fs::write(dir.join("sub/deeper/big.bin"), vec![7u8; 5 << 20]).unwrap();
}

#[test]
fn import_directory_is_read_only_and_hashes_like_hash_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    sample_dir(&src);
    let store = Store::open(tmp.path().join("store")).unwrap();
    assert_eq!(mode(store.root()), ROOT_MODE);
    assert_eq!(mode(store.objects().dir()), 0o755);

    let stored = store.objects().import(&src, &no_progress).unwrap();
    assert!(!stored.already_present);
    let blake3 = stored.tree.digests.blake3().unwrap();
    assert_eq!(stored.path, store.objects().dir().join(blake3.hex()));
    assert_eq!(stored.tree.kind, Layout::Directory);
    assert_eq!(stored.tree.files.len(), 3);

    // The digests of the copy are the digests of the source, for both algorithms.
    let expected = hash_tree(&src, &[Algorithm::Sha256, Algorithm::Blake3], &no_progress).unwrap();
    assert_eq!(stored.tree, expected);
    let of_copy = hash_tree(
        &stored.path,
        &[Algorithm::Sha256, Algorithm::Blake3],
        &no_progress,
    )
    .unwrap();
    assert_eq!(of_copy.digests, expected.digests);

    // Read-only for everyone, readable by everyone; empty directories are kept.
    assert_eq!(mode(&stored.path), 0o555);
    assert_eq!(mode(&stored.path.join("sub/deeper")), 0o555);
    assert_eq!(mode(&stored.path.join("empty")), 0o555);
    assert_eq!(mode(&stored.path.join("main.py")), 0o444);
    assert_eq!(mode(&stored.path.join("sub/deeper/big.bin")), 0o444);

    // No temporary left behind.
    let entries: Vec<_> = fs::read_dir(store.objects().dir()).unwrap().collect();
    assert_eq!(entries.len(), 1);

    // verify() re-hashes with BLAKE3 only.
    let verified = store.objects().verify(blake3, &no_progress).unwrap();
    assert_eq!(verified.digests.blake3(), Some(blake3));
    assert!(verified.digests.sha256().is_none());
}

#[test]
fn reimport_keeps_the_existing_object() {
    let tmp = tempfile::tempdir().unwrap();
    let objects = Objects::open(tmp.path().join("objects")).unwrap();
    let src = tmp.path().join("f.txt");
    fs::write(&src, "same bytes").unwrap();
    let first = objects.import(&src, &no_progress).unwrap();
    assert_eq!(first.tree.kind, Layout::File);
    assert_eq!(mode(&first.path), 0o444);
    let inode = fs::metadata(&first.path).unwrap();

    let other = tmp.path().join("other-name.txt");
    fs::write(&other, "same bytes").unwrap();
    let second = objects.import(&other, &no_progress).unwrap();
    assert!(second.already_present);
    assert_eq!(second.path, first.path);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(&second.path).unwrap().ino(), inode.ino());
    assert_eq!(fs::read_dir(objects.dir()).unwrap().count(), 1);

    // Same for a directory.
    let d = tmp.path().join("d");
    sample_dir(&d);
    let a = objects.import(&d, &no_progress).unwrap();
    let b = objects.import(&d, &no_progress).unwrap();
    assert!(!a.already_present && b.already_present);
    assert_eq!(fs::read_dir(objects.dir()).unwrap().count(), 2);
}

#[test]
fn verify_detects_a_tampered_object() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    sample_dir(&src);
    let objects = Objects::open(tmp.path().join("objects")).unwrap();
    let stored = objects.import(&src, &no_progress).unwrap();
    let digest = *stored.tree.digests.blake3().unwrap();

    // Tampering needs a deliberate chmod first.
    let victim = stored.path.join("sub/data.csv");
    fs::set_permissions(stored.path.join("sub"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(&victim).unwrap();
    bytes[0] ^= 1;
    fs::write(&victim, &bytes).unwrap();

    match objects.verify(&digest, &no_progress) {
        Err(ObjectError::Tampered {
            path,
            expected,
            actual,
        }) => {
            assert_eq!(path, stored.path);
            assert_eq!(expected, digest);
            assert_ne!(actual, digest);
            let msg = objects
                .verify(&digest, &no_progress)
                .unwrap_err()
                .to_string();
            assert!(msg.contains(&expected.to_string()) && msg.contains(&actual.to_string()));
        }
        other => panic!("tampering not detected: {other:?}"),
    }

    // An added file is tampering too.
    bytes[0] ^= 1;
    fs::write(&victim, &bytes).unwrap();
    objects.verify(&digest, &no_progress).unwrap();
    fs::write(stored.path.join("sub/extra"), "x").unwrap();
    assert!(matches!(
        objects.verify(&digest, &no_progress),
        Err(ObjectError::Tampered { .. })
    ));
}

#[test]
fn verify_names_missing_objects_and_wrong_algorithms() {
    let tmp = tempfile::tempdir().unwrap();
    let objects = Objects::open(tmp.path().join("objects")).unwrap();
    let d = Algorithm::Blake3.hash(b"never imported");
    assert!(matches!(
        objects.verify(&d, &no_progress),
        Err(ObjectError::Missing { .. })
    ));
    let s = Algorithm::Sha256.hash(b"x");
    let err = objects.verify(&s, &no_progress).unwrap_err();
    assert!(matches!(err, ObjectError::NotBlake3 { .. }), "{err}");
}

#[test]
fn import_refuses_links_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    sample_dir(&src);
    std::os::unix::fs::symlink("/etc/passwd", src.join("sub/passwd")).unwrap();
    let objects = Objects::open(tmp.path().join("objects")).unwrap();
    let err = objects.import(&src, &no_progress).unwrap_err();
    assert!(err.to_string().contains("sub/passwd"), "{err}");
    assert_eq!(fs::read_dir(objects.dir()).unwrap().count(), 0);
}
