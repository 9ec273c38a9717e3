//! `poex por challenge | respond | check`, on a file, on a registered asset, and over a node.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use common::{Env, Node};
use serde_json::Value;

fn data(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 11) as u8)
        .collect()
}

/// The blake3 digest and size a home's registry records for `name`.
fn root_and_size(env: &Env, name: &str) -> (String, String) {
    let (out, _) = env.ok(&["show", name, "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    (
        format!("blake3:{}", v["digests"]["blake3"].as_str().unwrap()),
        v["size"].to_string(),
    )
}

#[test]
fn challenge_respond_check_on_a_registered_asset_and_on_a_file() {
    let env = Env::new();
    // A whole number of 1 KiB chunks, so every challenged chunk is full and the response
    // size below does not depend on whether the random draw includes a short last chunk.
    std::fs::write(env.path("cohort.bin"), data(400 * 1024)).unwrap();
    env.ok(&["publish", "dataset", "cohort.bin", "--name", "cohort"]);
    let (root, size) = root_and_size(&env, "cohort");

    // The asset in this home: the outboard is kept beside the store.
    let (_, err) = env.ok(&[
        "por",
        "challenge",
        "--asset",
        "cohort",
        "-k",
        "64",
        "-o",
        "c.json",
    ]);
    assert!(
        err.contains("challenge: 64 of 400 chunks of dataset cohort"),
        "{err}"
    );
    let c: Value = serde_json::from_slice(&std::fs::read(env.path("c.json")).unwrap()).unwrap();
    assert_eq!(c["type"], "poex.por.challenge/v1");
    assert_eq!(c["root"].as_str().unwrap(), root);
    let (_, err) = env.ok(&[
        "por",
        "respond",
        "--asset",
        "cohort",
        "--challenge",
        "c.json",
        "-o",
        "r.por",
    ]);
    assert!(err.contains("outboard built:"), "{err}");
    assert!(err.contains("response: 64 chunks (65536 bytes)"), "{err}");
    let hex = root.trim_start_matches("blake3:");
    assert!(
        env.home()
            .join("por")
            .join(format!("{hex}.outboard"))
            .is_file()
    );
    let (out, _) = env.ok(&[
        "por",
        "check",
        "--asset",
        "cohort",
        "--challenge",
        "c.json",
        "--response",
        "r.por",
    ]);
    assert!(out.starts_with("ok   all 64 challenged chunks"), "{out}");

    // The same file held elsewhere, checked against the root and size alone.
    let (out, _) = env.ok(&["por", "challenge", "--root", &root, "--size", &size]);
    std::fs::write(env.path("c2.json"), out).unwrap();
    let (_, err) = env.ok(&[
        "por",
        "respond",
        "cohort.bin",
        "--challenge",
        "c2.json",
        "--outboard",
        "cohort.ob",
        "-o",
        "r2.por",
    ]);
    assert!(err.contains("outboard built: cohort.ob"), "{err}");
    env.ok(&[
        "por",
        "check",
        "--root",
        &root,
        "--size",
        &size,
        "--challenge",
        "c2.json",
        "--response",
        "r2.por",
    ]);

    // Replayed: the old response does not answer the new challenge.
    let (out, _) = env.expect(
        4,
        &[
            "por",
            "check",
            "--root",
            &root,
            "--size",
            &size,
            "--challenge",
            "c2.json",
            "--response",
            "r.por",
        ],
    );
    assert!(
        out.contains("FAIL") && out.contains("another challenge"),
        "{out}"
    );

    // Tampered: one flipped bit in the 3rd chunk's data names that chunk.
    let mut r = std::fs::read(env.path("r2.por")).unwrap();
    r[88 + 2 * 1024 + 10] ^= 4;
    std::fs::write(env.path("bad.por"), &r).unwrap();
    let c2: Value = serde_json::from_slice(&std::fs::read(env.path("c2.json")).unwrap()).unwrap();
    assert_eq!(c2["k"], 100);
    let (out, _) = env.expect(
        4,
        &[
            "por",
            "check",
            "--root",
            &root,
            "--size",
            &size,
            "--challenge",
            "c2.json",
            "--response",
            "bad.por",
        ],
    );
    assert!(
        out.contains("FAIL chunk ") && out.contains("1 of 100 challenged chunks"),
        "{out}"
    );

    // The wrong root: the challenge is not about it.
    let other = format!("blake3:{}", "ab".repeat(32));
    env.expect(
        4,
        &[
            "por",
            "check",
            "--root",
            &other,
            "--size",
            &size,
            "--challenge",
            "c2.json",
            "--response",
            "r2.por",
        ],
    );

    // A holder whose copy changed after its outboard was built: exit 4, the chunks named.
    let mut damaged = data(400 * 1024);
    for i in (0..400).step_by(2) {
        damaged[i * 1024] ^= 1;
    }
    std::fs::write(env.path("cohort.bin"), &damaged).unwrap();
    let (_, err) = env.expect(
        4,
        &[
            "por",
            "respond",
            "cohort.bin",
            "--challenge",
            "c2.json",
            "--outboard",
            "cohort.ob",
            "-o",
            "r3.por",
        ],
    );
    assert!(
        err.contains("your copy fails its own check: chunk "),
        "{err}"
    );
    env.expect(
        4,
        &[
            "por",
            "check",
            "--root",
            &root,
            "--size",
            &size,
            "--challenge",
            "c2.json",
            "--response",
            "r3.por",
        ],
    );

    // A folder has no single BLAKE3 tree: refused with the reason.
    std::fs::create_dir(env.path("dir")).unwrap();
    std::fs::write(env.path("dir/a.txt"), "a").unwrap();
    env.ok(&["publish", "dataset", "dir", "--name", "folder"]);
    let (_, err) = env.expect(1, &["por", "challenge", "--asset", "folder"]);
    assert!(err.contains("is a folder"), "{err}");
}

#[test]
fn a_node_answers_for_its_dataset_to_its_owner_and_refuses_strangers() {
    let node_env = Env::new();
    std::fs::write(node_env.path("cohort.bin"), data(250_000)).unwrap();
    node_env.ok(&["publish", "dataset", "cohort.bin", "--name", "cohort"]);
    let node = Node::start(&node_env.home());
    let owner = node_env
        .home()
        .join("keys/default.key")
        .display()
        .to_string();

    // Someone else, with their own home: challenges from the node's record.
    let me = Env::new();
    let url = node.url.as_str();
    me.ok(&[
        "--node",
        url,
        "por",
        "challenge",
        "--asset",
        "cohort",
        "-k",
        "30",
        "-o",
        "c.json",
    ]);
    let (_, err) = me.ok(&[
        "--node",
        url,
        "por",
        "respond",
        "--asset",
        "cohort",
        "--challenge",
        "c.json",
        "--as",
        &owner,
        "-o",
        "r.por",
    ]);
    assert!(err.contains("response: 30 chunks"), "{err}");
    let (out, _) = me.ok(&[
        "--node",
        url,
        "por",
        "check",
        "--asset",
        "cohort",
        "--challenge",
        "c.json",
        "--response",
        "r.por",
    ]);
    assert!(out.starts_with("ok   all 30 challenged chunks"), "{out}");
    // With their own key (not an owner, not allowed by the dataset): refused, exit 2.
    let (_, err) = me.expect(
        2,
        &[
            "--node",
            url,
            "por",
            "respond",
            "--asset",
            "cohort",
            "--challenge",
            "c.json",
            "-o",
            "r2.por",
        ],
    );
    assert!(err.contains("403"), "{err}");
}

#[test]
fn a_folder_sealed_at_rest_is_challenged_as_its_one_sealed_file() {
    let env = Env::new();
    std::fs::create_dir(env.path("cohort")).unwrap();
    std::fs::write(env.path("cohort/a.bin"), data(70_000)).unwrap();
    std::fs::write(env.path("cohort/b.bin"), data(30_000)).unwrap();
    env.ok(&[
        "publish",
        "dataset",
        "cohort",
        "--name",
        "cohort",
        "--seal-at-rest",
    ]);
    let (_, err) = env.ok(&[
        "por",
        "challenge",
        "--asset",
        "cohort",
        "-k",
        "20",
        "-o",
        "c.json",
    ]);
    assert!(err.contains("the copy sealed at rest"), "{err}");
    env.ok(&[
        "por",
        "respond",
        "--asset",
        "cohort",
        "--challenge",
        "c.json",
        "-o",
        "r.por",
    ]);
    let (out, _) = env.ok(&[
        "por",
        "check",
        "--asset",
        "cohort",
        "--challenge",
        "c.json",
        "--response",
        "r.por",
    ]);
    assert!(out.starts_with("ok   all 20 challenged chunks"), "{out}");
    // The same folder published in plaintext is many files: no proof of retrievability.
    env.ok(&["publish", "dataset", "cohort", "--name", "plain"]);
    let (_, err) = env.expect(1, &["por", "challenge", "--asset", "plain"]);
    assert!(err.contains("is a folder kept as many files"), "{err}");
}
