//! Datasets kept encrypted at rest on a node (docs/seal.md "Datasets at
//! rest"): `"sealAtRest": true` in `POST /api/assets`, by owners only, for datasets only; the
//! store keeps only the sealed object (an uploaded plaintext object is removed once no record
//! names it); jobs on it run, verify, and leave no plaintext; a restarted node opens it with
//! the identity it reads at start, and removes the plaintext a killed node left.

#![expect(clippy::unwrap_used, reason = "tests")]

mod common;

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use common::{TestNode, key, sha256_of};
use poex_core::Signer as _;
use serde_json::{Value, json};

/// The tests look for this process's plaintext folders, which must be their own: one at a
/// time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MARKER: &str = "MARKER-node-at-rest-61aa";
const COUNT: &str =
    "grep -c MARKER $POEX_DATASETS > /out/marked\nwc -l < $POEX_DATASETS > /out/lines\n";

fn holding(root: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        } else if meta.is_file()
            && std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        {
            found.push(path);
        }
    }
    found
}

/// This process's plaintext folders: in /dev/shm, and the disk fallback under `home`.
fn plain_dirs(home: &Path) -> Vec<PathBuf> {
    let mine = format!("poex-plain-{}-", std::process::id());
    let mut found: Vec<PathBuf> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&mine))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    if let Ok(d) = std::fs::read_dir(home.join("jobs/.plain")) {
        found.extend(d.flatten().map(|e| e.path()));
    }
    found
}

/// Publishes `object` as dataset `name` with `sealAtRest`, by `signer`.
async fn publish_sealed(
    t: &TestNode,
    signer: &poex_core::keys::SecretKey,
    name: &str,
    source: Value,
    algorithms: &[&Value],
    requesters: &[&poex_core::keys::SecretKey],
) -> (StatusCode, Value) {
    let mut body = json!({
        "kind": "dataset",
        "name": name,
        "sealAtRest": true,
        "policy": {
            "allowedAlgorithms": algorithms.iter().map(|a| sha256_of(a)).collect::<Vec<_>>(),
            "allowedRequesters": requesters
                .iter()
                .map(|k| k.public_key().key_id().to_string())
                .collect::<Vec<_>>(),
        },
    });
    for (k, v) in source.as_object().unwrap() {
        body[k] = v.clone();
    }
    t.json("POST", "/api/assets", Some(signer), Some(body))
        .await
}

async fn run_job(t: &TestNode, who: &poex_core::keys::SecretKey, alg: &Value, ds: &Value) -> Value {
    let (status, v) = t.submit(who, alg, &[ds], None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    t.wait(&id, |s| s != "queued" && s != "running").await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_dataset_is_sealed_at_rest_and_runs() {
    let _serial = SERIAL.lock().await;
    let t = TestNode::new();
    let alice = key();
    let alg = t.algorithm(&alice, "count.sh", COUNT).await;
    let content = format!("id\n{MARKER}\nbob\n");
    let object = t.upload(&t.owner, content.as_bytes()).await;
    let plain = t
        .node
        .home
        .store
        .objects()
        .path_of(&object.parse().unwrap())
        .unwrap();
    assert!(
        plain.exists(),
        "the upload is in the store until it is published"
    );

    let (status, record) = publish_sealed(
        &t,
        &t.owner,
        "cohort",
        json!({ "object": object }),
        &[&alg],
        &[&alice],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    // The record: the plaintext's digests (what requests pin), and the sealed object.
    assert_eq!(
        record["digests"]["blake3"],
        object.trim_start_matches("blake3:")
    );
    assert_eq!(record["sealed"]["format"], "poex-seal/v1");
    let sealed_b3 = record["sealed"]["digests"]["blake3"].as_str().unwrap();
    let objects = t.home().join("store/objects");
    assert!(objects.join(sealed_b3).exists());
    // The uploaded plaintext is gone from the store; nothing under the home holds it.
    assert!(!plain.exists());
    assert_eq!(holding(&t.home(), MARKER), Vec::<PathBuf>::new());
    let identity = t.home().join("keys/data.x25519");
    assert_eq!(std::fs::metadata(&identity).unwrap().mode() & 0o777, 0o600);
    // The publish event says so.
    let events = t.audit("operation=publish").await;
    assert!(
        events.iter().any(|e| e["event"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("sealed at rest") && d.contains("plaintext was removed"))),
        "{events:?}"
    );

    let done = run_job(&t, &alice, &alg, &record).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let id = done["id"].as_str().unwrap();
    let results = t.home().join("jobs").join(id).join("results");
    assert_eq!(
        std::fs::read_to_string(results.join("marked")).unwrap(),
        "1\n"
    );
    assert_eq!(
        std::fs::read_to_string(results.join("lines")).unwrap(),
        "3\n"
    );
    let (status, verdict) = t
        .json(
            "POST",
            "/api/verify",
            None,
            Some(json!({ "bundle": serde_json::from_slice::<Value>(
                &std::fs::read(t.home().join("jobs").join(id).join("bundle.json")).unwrap()
            ).unwrap() })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["ok"], true, "{verdict}");
    assert_eq!(holding(&t.home(), MARKER), Vec::<PathBuf>::new());
    assert_eq!(plain_dirs(&t.home()), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn only_owners_seal_and_only_datasets() {
    let _serial = SERIAL.lock().await;
    let t = TestNode::new();
    let alice = key();
    let alg = t.algorithm(&alice, "count.sh", COUNT).await;
    let object = t.upload(&alice, format!("{MARKER}\n").as_bytes()).await;
    // Datasets are owners-only, sealed or not.
    let (status, v) =
        publish_sealed(&t, &alice, "mine", json!({ "object": object }), &[], &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    // An algorithm cannot be sealed at rest, not even by an owner.
    for who in [&alice, &t.owner] {
        let (status, v) = t
            .json(
                "POST",
                "/api/assets",
                Some(who),
                Some(
                    json!({"kind": "algorithm", "name": "alg2", "object": object,
                            "entrypoint": ["sh", "x"], "sealAtRest": true}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(
            v["message"].as_str().unwrap().contains("only datasets"),
            "{v}"
        );
    }
    // Nothing was sealed: no data identity was made, the upload is still there.
    assert!(!t.home().join("keys/data.x25519").exists());
    let plain = t
        .node
        .home
        .store
        .objects()
        .path_of(&object.parse().unwrap())
        .unwrap();
    assert!(plain.exists());
    let _ = alg;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plaintext_object_another_record_names_is_kept() {
    let _serial = SERIAL.lock().await;
    let t = TestNode::new();
    let alice = key();
    let alg = t.algorithm(&alice, "count.sh", COUNT).await;
    let content = format!("{MARKER}\n");
    // Published in plaintext first (the harness uploads and registers it).
    let open = t
        .dataset("open", content.as_bytes(), &[&alg], &[&alice])
        .await;
    let object = format!("blake3:{}", open["digests"]["blake3"].as_str().unwrap());
    let (status, sealed) = publish_sealed(
        &t,
        &t.owner,
        "closed",
        json!({ "object": object }),
        &[&alg],
        &[&alice],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sealed}");
    assert!(sealed["sealed"].is_object());
    // "open" still runs from its object, which the sealed publish did not remove.
    let done = run_job(&t, &alice, &alg, &open).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let done = run_job(&t, &alice, &alg, &sealed).await;
    assert_eq!(done["state"], "succeeded", "{done}");

    // The same name sealed again with the same content: nothing new is kept.
    let count = || {
        std::fs::read_dir(t.home().join("store/objects"))
            .unwrap()
            .count()
    };
    let before = count();
    let (status, again) = publish_sealed(
        &t,
        &t.owner,
        "closed",
        json!({ "object": object }),
        &[&alg],
        &[&alice],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["sealed"], sealed["sealed"]);
    assert_eq!(count(), before);
    // A name already published in plaintext is not quietly left so: 409.
    let (status, v) = publish_sealed(
        &t,
        &t.owner,
        "open",
        json!({ "object": object }),
        &[&alg],
        &[&alice],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("kept in plaintext"),
        "{v}"
    );
    assert_eq!(count(), before);
}

/// A node home with algorithm `count.sh` (by `alice`) and dataset `cohort` registered by path
/// sealed at rest; the node that published them is shut down (it ran no workers).
async fn home_with_sealed_dataset() -> (tempfile::TempDir, Value, Value, poex_core::keys::SecretKey)
{
    let roots = tempfile::tempdir().unwrap();
    let data = roots.path().join("cohort.csv");
    std::fs::write(&data, format!("{MARKER}\nx\n")).unwrap();
    let mut config = common::config();
    config.import_roots = vec![roots.path().to_owned()];
    let dir = tempfile::tempdir().unwrap();
    poex_home::Home::init(dir.path()).unwrap();
    let t = TestNode::open_idle(dir, config);
    let alice = key();
    let alg = t.algorithm(&alice, "count.sh", COUNT).await;
    let (status, record) = publish_sealed(
        &t,
        &t.owner,
        "cohort",
        json!({ "path": data }),
        &[&alg],
        &[&alice],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{record}");
    // Registered by path: the plaintext never entered the home (the owner's file is theirs).
    assert_eq!(holding(&t.home(), MARKER), Vec::<PathBuf>::new());
    assert!(data.exists());
    let TestNode { dir, node, app, .. } = t;
    drop(app);
    drop(node);
    (dir, alg, record, alice)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_node_opens_sealed_datasets_and_removes_what_a_killed_one_left() {
    let _serial = SERIAL.lock().await;
    let (dir, alg, record, alice) = home_with_sealed_dataset().await;
    let root = dir.path().to_owned();
    // The node was killed while a job on it ran: its plaintext folder is left behind.
    let leftover = root.join("jobs/.plain/999999999-dead");
    std::fs::create_dir_all(leftover.join("sub")).unwrap();
    std::fs::write(leftover.join("cohort"), MARKER).unwrap();

    // Restarted: the leftover is gone, and the data identity read at start opens the dataset.
    let t = TestNode::open(dir, common::config());
    assert!(!leftover.exists());
    let done = run_job(&t, &alice, &alg, &record).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let id = done["id"].as_str().unwrap();
    let results = root.join("jobs").join(id).join("results");
    assert_eq!(
        std::fs::read_to_string(results.join("lines")).unwrap(),
        "2\n"
    );
    assert_eq!(holding(&root, MARKER), Vec::<PathBuf>::new());
    assert_eq!(plain_dirs(&root), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_without_the_data_identity_refuses_jobs_on_sealed_datasets() {
    let _serial = SERIAL.lock().await;
    let (dir, alg, record, alice) = home_with_sealed_dataset().await;
    std::fs::remove_file(dir.path().join("keys/data.x25519")).unwrap();
    let t = TestNode::open(dir, common::config());
    let done = run_job(&t, &alice, &alg, &record).await;
    assert_eq!(done["state"], "refused", "{done}");
    let refusals = t.audit("operation=refuse").await;
    assert!(
        refusals.iter().any(|e| e["event"]["object"] == "cohort"
            && e["event"]["detail"]
                .as_str()
                .unwrap()
                .contains("no data identity")),
        "{refusals:?}"
    );
}
