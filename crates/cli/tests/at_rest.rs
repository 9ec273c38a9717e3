//! `poex publish dataset --seal-at-rest` and jobs on it, through the real binary
//! (docs/seal.md "Datasets at rest"): the home never holds the plaintext, the job runs
//! and verifies, no plaintext outlives it, and without the data identity the job is refused.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{Env, receipt_statement};

const MARKER: &str = "MARKER-cli-at-rest-93d2";

/// Every file under `root` holding `needle`.
fn holding(root: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else if meta.is_file()
            && fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}

/// Plaintext folders in /dev/shm of processes that have ended (a poex that left its own).
fn dead_plain_dirs() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir("/dev/shm") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("poex-plain-")?
                .split('-')
                .next()?
                .to_owned();
            (!Path::new("/proc").join(pid).exists()).then(|| e.path())
        })
        .collect()
}

fn publish_algorithm(env: &Env) {
    env.write(
        "alg/main.py",
        "import os\n\
         text = open('/data/cohort').read()\n\
         open('/out/rows.txt', 'w').write(str(len(text.splitlines())))\n\
         print('marked', text.count('MARKER'))\n",
    );
    env.ok(&[
        "publish",
        "algorithm",
        "alg",
        "--name",
        "count",
        "--entrypoint",
        "python3 main.py",
    ]);
}

fn show(env: &Env, name: &str) -> Value {
    let (json, _) = env.ok(&["show", name, "--json"]);
    serde_json::from_str(&json).unwrap()
}

#[test]
fn a_dataset_published_sealed_at_rest_runs_verifies_and_leaves_no_plaintext() {
    let env = Env::new();
    publish_algorithm(&env);
    let data = env.write("data.csv", &format!("name\n{MARKER}\nbob\n"));
    let (stdout, stderr) = env.ok(&[
        "publish",
        "dataset",
        "data.csv",
        "--name",
        "cohort",
        "--allow",
        "count",
        "--seal-at-rest",
    ]);
    assert!(stdout.contains("published dataset cohort"), "{stdout}");
    assert!(
        stdout.contains("sealed at rest to poex-x25519:"),
        "{stdout}"
    );
    // The identity is made on first use, said so with its recipient, and never printed.
    let identity = env.home().join("keys/data.x25519");
    assert!(stderr.contains("created the data identity"), "{stderr}");
    assert_eq!(fs::metadata(&identity).unwrap().mode() & 0o777, 0o600);
    let secret = fs::read_to_string(&identity).unwrap();
    let secret_line = secret.lines().find(|l| !l.starts_with('#')).unwrap();
    assert!(!stdout.contains(secret_line) && !stderr.contains(secret_line));
    fs::remove_file(&data).unwrap();

    // The record: plaintext digests, and the sealed object the store holds instead.
    let record = show(&env, "cohort");
    let content = format!("name\n{MARKER}\nbob\n");
    assert_eq!(
        record["digests"]["sha256"],
        poex_core::Algorithm::Sha256.hash(content.as_bytes()).hex()
    );
    let sealed_b3 = record["sealed"]["digests"]["blake3"].as_str().unwrap();
    let plain_b3 = record["digests"]["blake3"].as_str().unwrap();
    let objects = env.home().join("store/objects");
    assert!(objects.join(sealed_b3).exists());
    assert!(!objects.join(plain_b3).exists());
    let (text, _) = env.ok(&["show", "cohort"]);
    assert!(
        text.contains("sealed      at rest (poex-seal/v1)"),
        "{text}"
    );
    assert_eq!(holding(&env.home(), MARKER), Vec::<PathBuf>::new());

    let (stdout, _) = env.ok(&[
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "cohort",
        "--out",
        "job",
    ]);
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert_eq!(
        fs::read_to_string(env.path("job/results/rows.txt")).unwrap(),
        "3"
    );
    assert!(
        fs::read_to_string(env.path("job/execution.log"))
            .unwrap()
            .contains("marked 1")
    );
    let (stdout, _) = env.ok(&["verify", "job"]);
    assert!(stdout.contains("inputs"), "{stdout}");
    let statement = receipt_statement(&env.path("job/receipt.json"));
    let dep = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "cohort")
        .unwrap()
        .clone();
    assert_eq!(dep["digest"]["sha256"], record["digests"]["sha256"]);
    assert_eq!(
        dep["annotations"]["sealedAtRest"]["digest"]["blake3"],
        sealed_b3
    );

    // Nothing of the plaintext is left: not in the home, not in the job, not in memory.
    assert_eq!(holding(&env.home(), MARKER), Vec::<PathBuf>::new());
    assert_eq!(holding(&env.path("job"), MARKER), Vec::<PathBuf>::new());
    assert!(
        fs::read_dir(env.home().join("jobs/.plain"))
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    );
    assert_eq!(dead_plain_dirs(), Vec::<PathBuf>::new());

    // Publishing the same content sealed again changes nothing and leaves no second copy.
    let before = fs::read_dir(&objects).unwrap().count();
    env.write("data.csv", &content);
    let (stdout, _) = env.ok(&[
        "publish",
        "dataset",
        "data.csv",
        "--name",
        "cohort",
        "--allow",
        "count",
        "--seal-at-rest",
    ]);
    assert!(stdout.contains("already published"), "{stdout}");
    assert_eq!(fs::read_dir(&objects).unwrap().count(), before);
    fs::remove_file(env.path("data.csv")).unwrap();

    // Without the data identity the job is refused (exit 2), naming the dataset.
    let moved = env.path("data.x25519.away");
    fs::rename(&identity, &moved).unwrap();
    let (stdout, stderr) = env.expect(
        2,
        &[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "cohort",
            "--out",
            "job2",
        ],
    );
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("refused"), "{said}");
    assert!(
        said.contains("dataset \"cohort\"") && said.contains("no data identity"),
        "{said}"
    );
    assert!(!env.path("job2/results/rows.txt").exists());
    fs::rename(&moved, &identity).unwrap();

    // A data identity others can read is refused, not used.
    fs::set_permissions(&identity, fs::Permissions::from_mode(0o644)).unwrap();
    let (_, stderr) = env.expect(
        1,
        &[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "cohort",
            "--out",
            "job3",
        ],
    );
    assert!(stderr.contains("chmod 600"), "{stderr}");
}

#[test]
fn a_name_published_in_plaintext_is_not_resealed_and_nodes_are_not_asked_to_seal() {
    let env = Env::new();
    publish_algorithm(&env);
    env.write("data.csv", &format!("{MARKER}\n"));
    env.ok(&[
        "publish", "dataset", "data.csv", "--name", "open", "--allow", "count",
    ]);
    let objects = env.home().join("store/objects");
    let before = fs::read_dir(&objects).unwrap().count();
    let (_, stderr) = env.expect(
        1,
        &[
            "publish",
            "dataset",
            "data.csv",
            "--name",
            "open",
            "--allow",
            "count",
            "--seal-at-rest",
        ],
    );
    assert!(stderr.contains("kept in plaintext"), "{stderr}");
    assert_eq!(fs::read_dir(&objects).unwrap().count(), before);
    assert!(show(&env, "open").get("sealed").is_none());

    // With a node, the flag goes to the node ("sealAtRest" in POST /api/assets: the node
    // seals to its owner's identity; crates/node/tests/at_rest.rs): it is not refused here,
    // the unreachable node is what fails.
    let (_, stderr) = env.expect(
        1,
        &[
            "publish",
            "dataset",
            "data.csv",
            "--name",
            "x",
            "--seal-at-rest",
            "--node",
            "http://127.0.0.1:9",
        ],
    );
    assert!(stderr.contains("cannot reach the node"), "{stderr}");
    // Algorithms' publish takes no such flag.
    env.expect(
        2,
        &[
            "publish",
            "algorithm",
            "alg",
            "--name",
            "y",
            "--entrypoint",
            "python3 main.py",
            "--seal-at-rest",
        ],
    );
}
