//! `poex identity`, `poex run --recipient`, `poex decrypt`, `poex encrypt`: a real sandboxed
//! job sealed to its requester leaves only sealed files, the receipt names both digests, and
//! what `poex decrypt` writes is what the receipt attests (`poex verify` agrees).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::{Env, Node, names_in, receipt_statement};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn sha256_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).unwrap()))
}

/// `poex identity new NAME`; returns its recipient.
fn new_identity(env: &Env, name: &str) -> String {
    let (out, _) = env.ok(&["identity", "new", name]);
    let recipient = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("recipient"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(recipient.starts_with("poex-x25519:"), "{out}");
    recipient
}

#[test]
fn identities_are_created_once_listed_and_shown() {
    let env = Env::new();
    let alice = new_identity(&env, "alice");
    let path = env.home().join("keys/alice.identity");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let secret = fs::read_to_string(&path).unwrap();
    assert!(secret.contains("poex-x25519-secret:"));
    let (_, err) = env.expect(1, &["identity", "new", "alice"]);
    assert!(err.contains("never overwritten"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), secret);

    let bob = new_identity(&env, "bob");
    let (out, _) = env.ok(&["identity", "list"]);
    assert_eq!(
        out,
        format!("alice            {alice}\nbob              {bob}\n")
    );
    let (out, _) = env.ok(&["identity", "show", "alice"]);
    assert_eq!(out.trim(), alice);
    // The Ed25519 keys are not disturbed by identities beside them.
    let (out, _) = env.ok(&["key", "list"]);
    assert!(!out.contains("alice"), "{out}");

    let (_, err) = env.expect(1, &["identity", "show", "carol"]);
    assert!(err.contains("poex identity new carol"), "{err}");
    let (_, err) = env.expect(1, &["identity", "new", "../escape"]);
    assert!(err.contains("not allowed"), "{err}");

    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let (_, err) = env.expect(1, &["identity", "show", "alice"]);
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn a_job_run_with_a_recipient_is_sealed_decrypts_to_the_receipt_and_verifies() {
    let env = Env::new();
    env.publish_sample();
    new_identity(&env, "alice");
    env.ok(&[
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "cohort",
        "--out",
        "job1",
        "--recipient",
        "alice",
    ]);

    // Only sealed files on disk.
    assert_eq!(names_in(&env.path("job1/results")), ["rows.txt.sealed"]);
    assert!(!env.path("job1/execution.log").exists());
    assert!(env.path("job1/execution.log.sealed").is_file());

    // The request carries the recipient; the receipt names both digests.
    let st = receipt_statement(&env.path("job1/receipt.json"));
    let subject = &st["subject"][0];
    assert_eq!(subject["name"], "rows.txt");
    let sealed = &subject["annotations"]["sealed"];
    assert_eq!(sealed["name"], "rows.txt.sealed");
    assert_eq!(sealed["format"], "poex-seal/v1");
    assert_eq!(
        sealed["sha256"],
        sha256_hex(&env.path("job1/results/rows.txt.sealed"))
    );
    let log = st["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "execution.log")
        .unwrap()
        .clone();
    assert_eq!(
        log["annotations"]["sealed"]["sha256"],
        sha256_hex(&env.path("job1/execution.log.sealed"))
    );

    // The sealed job folder verifies as it is (the sealed files against the annotations).
    let (out, _) = env.ok(&["verify", "job1"]);
    assert!(out.contains("results"), "{out}");

    // Decrypt the result: written beside it (mode 0600), bytes of the subject's digest.
    let (out, _) = env.ok(&[
        "decrypt",
        "job1/results/rows.txt.sealed",
        "--identity",
        "alice",
    ]);
    assert!(out.contains("opened job1/results/rows.txt.sealed"), "{out}");
    let plain = env.path("job1/results/rows.txt");
    assert_eq!(fs::read_to_string(&plain).unwrap(), "3");
    assert_eq!(sha256_hex(&plain), subject["digest"]["sha256"]);
    assert_eq!(
        fs::metadata(&plain).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // verify accepts the decrypted result by its plaintext digest, alone or in the folder.
    let (out, _) = env.ok(&["verify", "job1", "--file", "job1/results/rows.txt"]);
    assert!(out.contains("matches"), "{out}");
    env.ok(&["verify", "job1"]);

    // The log, to another file, with --json.
    let (out, _) = env.ok(&[
        "decrypt",
        "job1/execution.log.sealed",
        "--identity",
        "alice",
        "-o",
        "log.txt",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plaintext"]["sha256"], log["digest"]["sha256"]);
    assert!(
        fs::read_to_string(env.path("log.txt"))
            .unwrap()
            .contains("counted 3")
    );
    env.ok(&["verify", "job1", "--file", "log.txt"]);
    env.ok(&["verify", "job1", "--file", "job1/execution.log.sealed"]);

    // Never overwrites.
    let (_, err) = env.expect(
        1,
        &[
            "decrypt",
            "job1/results/rows.txt.sealed",
            "--identity",
            "alice",
        ],
    );
    assert!(err.contains("never overwrites"), "{err}");

    // A modified decrypted result fails verify.
    fs::write(&plain, "4").unwrap();
    let (out, _) = env.expect(4, &["verify", "job1"]);
    assert!(out.contains("rows.txt: modified"), "{out}");
}

#[test]
fn decrypt_refuses_the_wrong_identity_and_altered_files() {
    let env = Env::new();
    let alice = new_identity(&env, "alice");
    new_identity(&env, "bob");
    let content = "a line of results\n".repeat(5000);
    env.write("result.csv", &content);
    // Sealed to alice's recipient text, as given on another machine.
    let (out, _) = env.ok(&["encrypt", "result.csv", "-r", &alice]);
    assert!(
        out.contains("sealed result.csv -> result.csv.sealed"),
        "{out}"
    );
    let sealed = fs::read(env.path("result.csv.sealed")).unwrap();

    // The wrong identity: an ordinary error, no output.
    let (_, err) = env.expect(
        1,
        &[
            "decrypt",
            "result.csv.sealed",
            "--identity",
            "bob",
            "-o",
            "out.csv",
        ],
    );
    assert!(err.contains("no stanza opens with this identity"), "{err}");
    assert!(!env.path("out.csv").exists());

    // Altered or cut: verification failure (exit 4), no output, no temporary left.
    let payload = sealed.len() - content.len() - 16 * 2;
    let mut flipped = sealed.clone();
    flipped[payload + 100] ^= 1;
    fs::write(env.path("flipped.sealed"), &flipped).unwrap();
    let (_, err) = env.expect(4, &["decrypt", "flipped.sealed", "--identity", "alice"]);
    assert!(err.contains("chunk 0 failed authentication"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    fs::write(env.path("cut.sealed"), &sealed[..payload + 65536 + 16]).unwrap();
    let (_, err) = env.expect(4, &["decrypt", "cut.sealed", "--identity", "alice"]);
    assert!(
        err.contains("the stream ends before its last chunk"),
        "{err}"
    );
    let left: Vec<String> = names_in(env.dir.path())
        .into_iter()
        .filter(|n| n.starts_with('.') || n == "flipped" || n == "cut")
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Not sealed at all.
    let (_, err) = env.expect(
        1,
        &["decrypt", "result.csv", "--identity", "alice", "-o", "x"],
    );
    assert!(err.contains("not a sealed file"), "{err}");

    // The right identity, as a file, with no home at all, to standard output.
    let out = env.poex_with_home(
        &env.path("no-home"),
        &[
            "decrypt",
            "result.csv.sealed",
            "--identity",
            env.home().join("keys/alice.identity").to_str().unwrap(),
            "-o",
            "-",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), content);
}

#[test]
fn a_recipient_that_does_not_parse_stops_the_run_before_a_request() {
    let env = Env::new();
    env.publish_sample();
    for bad in ["poex-x25519:AAAA", "nobody"] {
        let (_, err) = env.expect(
            1,
            &[
                "run",
                "--algorithm",
                "count",
                "--dataset",
                "cohort",
                "--out",
                "job",
                "--recipient",
                bad,
            ],
        );
        assert!(err.contains("not a recipient"), "{bad}: {err}");
        assert!(!env.path("job").exists());
    }
}

#[test]
fn a_job_sealed_through_a_node_downloads_sealed_results_and_log() {
    let requester = Env::new();
    let node_home = requester.path("node-home");
    let node = Node::start(&node_home);
    let url = node.url.as_str();
    requester.write(
        "alg/main.py",
        "open('/out/rows.txt', 'w').write('3')\nprint('counted 3')\n",
    );
    requester.write("data.csv", "a,b\n1,2\n3,4\n");
    let (key, _) = requester.ok(&["key", "show", "default"]);
    let me = key
        .lines()
        .find_map(|l| l.strip_prefix("key id"))
        .unwrap()
        .trim()
        .to_owned();
    requester.ok(&[
        "--node",
        url,
        "publish",
        "algorithm",
        "alg",
        "--name",
        "count",
        "--entrypoint",
        "python3 main.py",
    ]);
    let owner = node_home.join("keys/default.key");
    requester.ok(&[
        "--node",
        url,
        "publish",
        "dataset",
        "data.csv",
        "--name",
        "cohort",
        "--allow",
        "count",
        "--allow-requester",
        &me,
        "--as",
        owner.to_str().unwrap(),
    ]);
    new_identity(&requester, "me");
    let (out, _) = requester.ok(&[
        "--node",
        url,
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "cohort",
        "--out",
        "job",
        "--recipient",
        "me",
    ]);
    assert!(out.contains("succeeded"), "{out}");
    // Downloaded as sealed, checked against the sealed digests the receipt names.
    assert_eq!(
        names_in(&requester.path("job/results")),
        ["rows.txt.sealed"]
    );
    assert!(requester.path("job/execution.log.sealed").is_file());
    assert!(!requester.path("job/execution.log").exists());
    // On the node, no plaintext either.
    let jobs = node_home.join("jobs");
    for entry in fs::read_dir(&jobs).unwrap() {
        let job = entry.unwrap().path();
        assert_eq!(names_in(&job.join("results")), ["rows.txt.sealed"]);
        assert!(!job.join("execution.log").exists());
    }
    let (out, _) = requester.ok(&[
        "decrypt",
        "job/execution.log.sealed",
        "--identity",
        "me",
        "-o",
        "-",
    ]);
    assert_eq!(out, "counted 3\n");
    requester.ok(&["decrypt", "job/results/rows.txt.sealed", "--identity", "me"]);
    assert_eq!(
        fs::read_to_string(requester.path("job/results/rows.txt")).unwrap(),
        "3"
    );
}

/// Results named `a` and `a.sealed`: sealed, the folder holds `a.sealed` (the sealed `a`) and
/// `a.sealed.sealed` (the sealed `a.sealed`). The receipt's `sealed` annotations say which file
/// is which, so the folder verifies as the job left it, and altering either file fails.
#[test]
fn results_named_a_and_a_sealed_verify_sealed_and_either_altered_fails() {
    let env = Env::new();
    env.write(
        "alg/main.py",
        "open('/out/a', 'w').write('plain a')\nopen('/out/a.sealed', 'w').write('plain a.sealed')\n",
    );
    env.write("data.csv", "x\n");
    env.ok(&[
        "publish",
        "algorithm",
        "alg",
        "--name",
        "two",
        "--entrypoint",
        "python3 main.py",
    ]);
    env.ok(&[
        "publish", "dataset", "data.csv", "--name", "d", "--allow", "two",
    ]);
    new_identity(&env, "alice");
    env.ok(&[
        "run",
        "--algorithm",
        "two",
        "--dataset",
        "d",
        "--out",
        "job",
        "--recipient",
        "alice",
    ]);
    let results = env.path("job/results");
    assert_eq!(names_in(&results), ["a.sealed", "a.sealed.sealed"]);
    let st = receipt_statement(&env.path("job/receipt.json"));
    let sealed_name = |subject: &str| {
        st["subject"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == subject)
            .unwrap()["annotations"]["sealed"]["name"]
            .clone()
    };
    assert_eq!(sealed_name("a"), "a.sealed");
    assert_eq!(sealed_name("a.sealed"), "a.sealed.sealed");

    let (out, _) = env.ok(&["verify", "job"]);
    assert!(out.contains("all 2 file(s)"), "{out}");
    // Each sealed file given on its own matches its own subject's sealed form.
    let (out, _) = env.ok(&["verify", "job", "--file", "job/results/a.sealed"]);
    assert!(out.contains("matches the sealed form of a\n"), "{out}");
    let (out, _) = env.ok(&["verify", "job", "--file", "job/results/a.sealed.sealed"]);
    assert!(out.contains("matches the sealed form of a.sealed"), "{out}");

    // Either sealed file altered (a byte flipped): verify fails and names it.
    for name in ["a.sealed", "a.sealed.sealed"] {
        let path = results.join(name);
        let original = fs::read(&path).unwrap();
        let mut altered = original.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        fs::write(&path, &altered).unwrap();
        let (out, _) = env.expect(4, &["verify", "job"]);
        assert!(
            out.contains(&format!("FAIL results    {name}: modified")),
            "{name}: {out}"
        );
        fs::write(&path, &original).unwrap();
    }
    // One missing: the other does not stand in for it.
    let path = results.join("a.sealed.sealed");
    let kept = fs::read(&path).unwrap();
    fs::remove_file(&path).unwrap();
    let (out, _) = env.expect(4, &["verify", "job"]);
    assert!(
        out.contains("a.sealed: in the receipt but missing"),
        "{out}"
    );
    fs::write(&path, &kept).unwrap();

    // Decrypted beside the sealed files: `a` is the plaintext of `a`; the plaintext of
    // `a.sealed` cannot sit beside its sealed namesake, so it goes elsewhere and is checked
    // as a file.
    env.ok(&["decrypt", "job/results/a.sealed", "--identity", "alice"]);
    assert_eq!(fs::read_to_string(results.join("a")).unwrap(), "plain a");
    env.ok(&[
        "decrypt",
        "job/results/a.sealed.sealed",
        "--identity",
        "alice",
        "-o",
        "plain-a.sealed",
    ]);
    let (out, _) = env.ok(&["verify", "job", "--file", "plain-a.sealed"]);
    assert!(out.contains("plain-a.sealed matches a.sealed"), "{out}");
}
