//! `poex grant`, `poex reencrypt` and `poex validate-log` end to end: a real job's execution
//! log (bubblewrap sandbox), sealed by the processor to the requester and to its own umbral
//! key, read by a validator through m-of-n proxies, checked against the real bundle; and every
//! way it must fail (docs/grants.md).
#![cfg(feature = "grants")]
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

mod common;
use common::Env;

/// A processor's home that ran a job and sealed its log; a validator's home; a 2-of-3 grant.
struct Setup {
    env: Env,
    validator_home: PathBuf,
    validator_key: String,
    requester: poex_seal::Identity,
}

impl Setup {
    fn new() -> Setup {
        let env = Env::new();
        env.publish_sample();
        env.run_count(0, "job");
        // The processor seals the job's log to the requester and (always) to its umbral key.
        let requester = poex_seal::Identity::generate().unwrap();
        let to = requester.recipient().to_string();
        let (out, _) = env.ok(&["grant", "--seal", "job/execution.log", "--to", &to]);
        assert!(
            out.contains("umbral") && out.contains("hpke-x25519"),
            "{out}"
        );
        let (pem, _) = env.ok(&["key", "show", "processor", "--pem"]);
        fs::write(env.path("processor.pub"), pem).unwrap();

        let validator_home = env.path("validator-home");
        let s = Setup {
            env,
            validator_home,
            validator_key: String::new(),
            requester,
        };
        s.as_validator(0, &["init", "-q"]);
        let (key, _) = s.as_validator(0, &["grant", "--show-key"]);
        Setup {
            validator_key: key.trim().to_owned(),
            ..s
        }
    }

    fn as_validator(&self, code: i32, args: &[&str]) -> (String, String) {
        self.run_in(&self.validator_home, code, args)
    }

    /// Runs poex with another home (a proxy's, a validator's), asserting the exit code.
    fn run_in(&self, home: &std::path::Path, code: i32, args: &[&str]) -> (String, String) {
        let out = self.env.poex_with_home(home, args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "poex {args:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        (stdout, stderr)
    }

    /// The owner grants `validator` m of n into `dir`; returns the grant id.
    fn grant(&self, validator: &str, m: &str, n: &str, dir: &str) -> String {
        let (out, _) = self.env.ok(&[
            "grant",
            "--validator",
            validator,
            "--threshold",
            m,
            "--shares",
            n,
            "--out",
            dir,
        ]);
        out.lines()
            .next()
            .unwrap()
            .strip_prefix("grant ")
            .unwrap()
            .to_owned()
    }

    /// Proxy `i` (its own home, not the owner's) re-encrypts `log`'s capsule into `out`.
    fn proxy(&self, kfrag: &str, log: &str, out: &str) -> (String, String) {
        let home = self.env.path(&format!("proxy-home-{out}"));
        self.run_in(
            &home,
            0,
            &["reencrypt", "--kfrag", kfrag, "--capsule", log, "-o", out],
        )
    }

    fn validate(&self, code: i32, cfrags: &[&str], log: &str, extra: &[&str]) -> String {
        let mut args = vec!["validate-log", "--cfrags"];
        args.extend_from_slice(cfrags);
        args.extend_from_slice(&[
            "--log",
            log,
            "--receipt",
            "job/bundle.json",
            "--key",
            "processor.pub",
        ]);
        args.extend_from_slice(extra);
        self.as_validator(code, &args).0
    }
}

#[test]
fn a_granted_validator_reads_a_real_jobs_log_through_two_of_three_proxies() {
    let s = Setup::new();
    let env = &s.env;
    let id = s.grant(&s.validator_key, "2", "3", "grant");
    assert_eq!(id.len(), 32);
    for i in 1..=3 {
        let mode = fs::metadata(env.path(&format!("grant/kfrag-{i}")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "kfrag-{i}");
    }
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(env.path("grant/grant.json")).unwrap()).unwrap();
    assert_eq!(record["validator"], s.validator_key.as_str());
    assert_eq!(record["threshold"], 2);
    assert!(env.home().join(format!("grants/{id}.json")).exists());

    // Two proxies, each with only its kfrag and the sealed log's header.
    let (out, _) = s.proxy("grant/kfrag-3", "job/execution.log.sealed", "c3");
    assert!(out.contains("key fragment 3"), "{out}");
    s.proxy("grant/kfrag-1", "job/execution.log.sealed", "c1");

    let (log_info, _) = env.ok(&["log", "info", "--json"]);
    let vkey = serde_json::from_str::<serde_json::Value>(&log_info).unwrap()["verifierKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = s.validate(
        0,
        &["c3", "c1"],
        "job/execution.log.sealed",
        &["--log-key", &vkey, "-o", "plain.log"],
    );
    for check in [
        "ok   signature",
        "ok   inclusion",
        "ok   request",
        "ok   capsule",
        "ok   cfrag      c3: proxy 3",
        "ok   cfrag      c1: proxy 1",
        "ok   file key   opened with 2",
        "ok   log",
        "validated",
    ] {
        assert!(out.contains(check), "{check}\n{out}");
    }
    assert_eq!(
        fs::read(env.path("plain.log")).unwrap(),
        fs::read(env.path("job/execution.log")).unwrap()
    );

    // The requester still opens it with their own key; all three fragments work too.
    let mut plain = Vec::new();
    let sealed = fs::File::open(env.path("job/execution.log.sealed")).unwrap();
    poex_seal::decrypt(&s.requester, sealed, &mut plain).unwrap();
    assert_eq!(plain, fs::read(env.path("job/execution.log")).unwrap());
    s.proxy("grant/kfrag-2", "job/execution.log.sealed", "c2");
    let out = s.validate(
        0,
        &["c1", "c2", "c3"],
        "job/execution.log.sealed",
        &["--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["validated"], true, "{out}");

    // A proxy can work from the capsule line alone (the stanza's first line).
    let header = fs::read(env.path("job/execution.log.sealed")).unwrap();
    let text = String::from_utf8_lossy(&header);
    let line = text.lines().find(|l| l.starts_with("-> umbral ")).unwrap();
    env.write("capsule", &format!("{line}\n"));
    s.proxy("grant/kfrag-2", "capsule", "c2-from-capsule");
    s.validate(
        0,
        &["c1", "c2-from-capsule"],
        "job/execution.log.sealed",
        &[],
    );
}

#[test]
fn fewer_than_m_never_granted_and_other_validators_fragments_fail() {
    let s = Setup::new();
    let env = &s.env;
    s.grant(&s.validator_key, "2", "3", "grant");
    s.proxy("grant/kfrag-1", "job/execution.log.sealed", "c1");

    // One fragment of two needed.
    let out = s.validate(4, &["c1"], "job/execution.log.sealed", &[]);
    assert!(
        out.contains("FAIL file key") && out.contains("it needs 2"),
        "{out}"
    );
    assert!(out.contains("NOT VALIDATED"), "{out}");

    // Mallory was never granted: the fragments are not for her, and she has no others.
    let mallory = env.path("mallory-home");
    s.run_in(&mallory, 0, &["init", "-q"]);
    let (mallory_key, _) = s.run_in(&mallory, 0, &["grant", "--show-key"]);
    s.proxy("grant/kfrag-2", "job/execution.log.sealed", "c2");
    let (out, _) = s.run_in(
        &mallory,
        4,
        &[
            "validate-log",
            "--cfrags",
            "c1",
            "c2",
            "--log",
            "job/execution.log.sealed",
            "--receipt",
            "job/bundle.json",
            "--key",
            "processor.pub",
            "-o",
            "stolen.log",
        ],
    );
    assert!(
        out.contains("FAIL cfrag") && out.contains("not for"),
        "{out}"
    );
    assert!(!env.path("stolen.log").exists());

    // A fragment from a grant to Mallory does not count for the validator.
    s.grant(mallory_key.trim(), "1", "1", "grant-mallory");
    s.proxy("grant-mallory/kfrag-1", "job/execution.log.sealed", "cm");
    let out = s.validate(4, &["c1", "cm"], "job/execution.log.sealed", &[]);
    assert!(
        out.contains("FAIL cfrag      cm") && out.contains("is for validator"),
        "{out}"
    );
    // ...and Mallory's own grant is one she reads with: the owner chose to grant her.
    let (out, _) = s.run_in(
        &mallory,
        0,
        &[
            "validate-log",
            "--cfrags",
            "cm",
            "--log",
            "job/execution.log.sealed",
            "--receipt",
            "job/bundle.json",
            "--key",
            "processor.pub",
        ],
    );
    assert!(out.contains("validated"), "{out}");
}

#[test]
fn tampered_fragments_capsules_logs_and_receipts_fail() {
    let s = Setup::new();
    let env = &s.env;
    s.grant(&s.validator_key, "2", "3", "grant");
    s.proxy("grant/kfrag-1", "job/execution.log.sealed", "c1");
    s.proxy("grant/kfrag-2", "job/execution.log.sealed", "c2");

    // A cfrag with one character of its proof changed.
    let text = fs::read_to_string(env.path("c2")).unwrap();
    let cfrag_line = text.lines().last().unwrap();
    let mut b = cfrag_line.as_bytes().to_vec();
    let at = b.len() - 20;
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    env.write(
        "c2-bad",
        &text.replace(cfrag_line, std::str::from_utf8(&b).unwrap()),
    );
    let out = s.validate(4, &["c1", "c2-bad"], "job/execution.log.sealed", &[]);
    assert!(out.contains("FAIL cfrag      c2-bad"), "{out}");

    // The grant's threshold lowered in a cfrag: the owner's signature breaks.
    env.write(
        "c1-low",
        &fs::read_to_string(env.path("c1"))
            .unwrap()
            .replace("threshold 2", "threshold 1"),
    );
    let out = s.validate(4, &["c1-low"], "job/execution.log.sealed", &[]);
    assert!(out.contains("not signed by the owner"), "{out}");

    // The capsule in the sealed header: proxies cannot parse it, the validator fails it.
    let sealed = fs::read(env.path("job/execution.log.sealed")).unwrap();
    let pos = sealed.windows(10).position(|w| w == b"-> umbral ").unwrap() + 20;
    let mut bad = sealed.clone();
    bad[pos] = if bad[pos] == b'A' { b'B' } else { b'A' };
    fs::write(env.path("bad-capsule.sealed"), &bad).unwrap();
    let (_, err) = s.run_in(
        &env.path("proxy-x"),
        1,
        &[
            "reencrypt",
            "--kfrag",
            "grant/kfrag-3",
            "--capsule",
            "bad-capsule.sealed",
            "-o",
            "c3",
        ],
    );
    assert!(err.contains("malformed"), "{err}");
    let out = s.validate(4, &["c1", "c2"], "bad-capsule.sealed", &[]);
    assert!(out.contains("FAIL capsule"), "{out}");

    // The payload: a flipped byte fails its chunk; the decrypted log is not kept.
    let mut bad = sealed.clone();
    let last = bad.len() - 5;
    bad[last] ^= 1;
    fs::write(env.path("bad-payload.sealed"), &bad).unwrap();
    let out = s.validate(
        4,
        &["c1", "c2"],
        "bad-payload.sealed",
        &["-o", "partial.log"],
    );
    assert!(
        out.contains("FAIL log") && out.contains("authentication"),
        "{out}"
    );
    assert!(!env.path("partial.log").exists());

    // Another log, sealed to the same owner, is not the one this receipt attests.
    env.write("other.log", "counted 4\n");
    env.ok(&["grant", "--seal", "other.log"]);
    s.proxy("grant/kfrag-1", "other.log.sealed", "o1");
    s.proxy("grant/kfrag-2", "other.log.sealed", "o2");
    let out = s.validate(4, &["o1", "o2"], "other.log.sealed", &[]);
    assert!(
        out.contains("ok   file key")
            && out.contains("FAIL log")
            && out.contains("not the attested one"),
        "{out}"
    );
    // Fragments of one log do not open another.
    let out = s.validate(4, &["o1", "c2"], "job/execution.log.sealed", &[]);
    assert!(out.contains("re-encrypts capsule"), "{out}");

    // A receipt signed by someone else.
    let stranger = env.path("stranger-home");
    s.run_in(&stranger, 0, &["init", "-q"]);
    let (pem, _) = s.run_in(&stranger, 0, &["key", "show", "processor", "--pem"]);
    env.write("stranger.pub", &pem);
    let (out, _) = s.as_validator(
        4,
        &[
            "validate-log",
            "--cfrags",
            "c1",
            "c2",
            "--log",
            "job/execution.log.sealed",
            "--receipt",
            "job/receipt.json",
            "--key",
            "stranger.pub",
        ],
    );
    assert!(out.contains("FAIL signature"), "{out}");

    // A bad kfrag: the proxy refuses to use it (exit 4), and writes nothing.
    let text = fs::read_to_string(env.path("grant/kfrag-3")).unwrap();
    env.write(
        "kfrag-forged",
        &text.replace(&s.validator_key, &pem_free_key(&s)),
    );
    let (_, err) = s.run_in(
        &env.path("proxy-y"),
        4,
        &[
            "reencrypt",
            "--kfrag",
            "kfrag-forged",
            "--capsule",
            "job/execution.log.sealed",
            "-o",
            "cf",
        ],
    );
    assert!(err.contains("not re-encrypting"), "{err}");
    assert!(!env.path("cf").exists());
}

/// Another valid umbral public key (a fresh identity's), to forge a kfrag's validator with.
fn pem_free_key(s: &Setup) -> String {
    let other = s.env.path("other-validator");
    s.run_in(&other, 0, &["init", "-q"]);
    s.run_in(&other, 0, &["grant", "--show-key"])
        .0
        .trim()
        .to_owned()
}

#[test]
fn revocation_stops_the_owners_proxies_and_rotation_keeps_new_logs_out_of_reach() {
    let s = Setup::new();
    let env = &s.env;
    let id = s.grant(&s.validator_key, "1", "2", "grant");

    // Revoke by a prefix of the id; the list shows it.
    let (out, _) = env.ok(&["grant", "--revoke", &id[..8]]);
    assert!(
        out.contains("revoked") && out.contains("cannot recall"),
        "{out}"
    );
    let (list, _) = env.ok(&["grant", "--list"]);
    assert!(list.contains(&id) && list.contains("REVOKED"), "{list}");

    // A proxy run from the owner's home refuses (exit 2) and writes nothing.
    let (_, err) = env.expect(
        2,
        &[
            "reencrypt",
            "--kfrag",
            "grant/kfrag-1",
            "--capsule",
            "job/execution.log.sealed",
            "-o",
            "c1",
        ],
    );
    assert!(err.contains("revoked"), "{err}");
    assert!(!env.path("c1").exists());

    // Honestly: a proxy elsewhere that kept its kfrag still re-encrypts for the old log.
    s.proxy("grant/kfrag-2", "job/execution.log.sealed", "c2");
    s.validate(0, &["c2"], "job/execution.log.sealed", &[]);

    // After rotating the key, a newly sealed log is out of reach of the old grant.
    let (out, _) = env.ok(&["grant", "--rotate-key"]);
    assert!(out.contains("retired") && out.contains("new key"), "{out}");
    env.ok(&[
        "grant",
        "--seal",
        "job/execution.log",
        "-o",
        "new.log.sealed",
    ]);
    s.proxy("grant/kfrag-2", "new.log.sealed", "n2");
    let out = s.validate(4, &["n2"], "new.log.sealed", &[]);
    assert!(out.contains("FAIL"), "{out}");
    // The old key still opens the old log for the owner (kept, mode 0600).
    let retired: Vec<_> = fs::read_dir(env.home().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".retired.key"))
        .collect();
    assert_eq!(retired.len(), 1);
    let old = poex_grant::Identity::read_file(&retired[0]).unwrap();
    let sealed = fs::File::open(env.path("job/execution.log.sealed")).unwrap();
    let mut plain = Vec::new();
    poex_seal::decrypt_with(&[&old], sealed, &mut plain).unwrap();
    assert_eq!(plain, fs::read(env.path("job/execution.log")).unwrap());
}

#[test]
fn the_umbral_key_is_private_and_never_printed() {
    let env = Env::new();
    let (public, _) = env.ok(&["grant", "--show-key"]);
    let key_file = env.home().join("keys/umbral.key");
    let text = fs::read_to_string(&key_file).unwrap();
    let secret = text
        .lines()
        .find(|l| l.starts_with("POEX-UMBRAL-SECRET-1 "))
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(!public.contains(&secret));
    assert!(
        text.contains(public.trim()),
        "the file names its public key"
    );
    assert_eq!(
        fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Same key the second time.
    assert_eq!(env.ok(&["grant", "--show-key"]).0, public);
    // A key others can read is refused.
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644)).unwrap();
    let (_, err) = env.expect(1, &["grant", "--show-key"]);
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains(&secret));
    // Granting yourself, or an m above n, is refused.
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600)).unwrap();
    let (_, err) = env.expect(
        1,
        &["grant", "--validator", public.trim(), "-m", "1", "-n", "1"],
    );
    assert!(err.contains("own umbral key"), "{err}");
    let other = poex_grant::Identity::generate()
        .unwrap()
        .public()
        .to_string();
    let (_, err) = env.expect(1, &["grant", "--validator", &other, "-m", "3", "-n", "2"]);
    assert!(err.contains("threshold <= shares"), "{err}");
}

/// The pipeline itself wraps a sealed execution log to the owner's Umbral key when the home
/// has one, so a job sealed to its requester can be granted to a validator with no resealing.
#[test]
fn a_job_sealed_to_its_requester_is_grantable_as_it_ran() {
    let env = Env::new();
    env.publish_sample();
    env.ok(&["grant", "--show-key"]);
    env.ok(&["identity", "new", "req"]);
    env.ok(&[
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "cohort",
        "--out",
        "job",
        "--recipient",
        "req",
    ]);
    let header = fs::read(env.path("job/execution.log.sealed")).unwrap();
    let text = String::from_utf8_lossy(&header);
    assert!(text.contains("-> hpke-x25519 "), "sealed to the requester");
    assert!(
        text.contains("-> umbral "),
        "and wrapped to the owner's umbral key"
    );
    assert!(
        !env.path("job/execution.log").exists(),
        "no plaintext log stays"
    );
    let (pem, _) = env.ok(&["key", "show", "processor", "--pem"]);
    fs::write(env.path("processor.pub"), pem).unwrap();

    let s = Setup {
        validator_home: env.path("validator-home"),
        validator_key: String::new(),
        requester: poex_seal::Identity::generate().unwrap(),
        env,
    };
    s.as_validator(0, &["init", "-q"]);
    let (key, _) = s.as_validator(0, &["grant", "--show-key"]);
    s.grant(key.trim(), "2", "3", "grant");
    s.proxy("grant/kfrag-1", "job/execution.log.sealed", "c1");
    s.proxy("grant/kfrag-2", "job/execution.log.sealed", "c2");
    let out = s.validate(
        0,
        &["c1", "c2"],
        "job/execution.log.sealed",
        &["-o", "plain.log"],
    );
    assert!(
        out.contains("ok   log") && out.contains("validated"),
        "{out}"
    );
    assert!(
        String::from_utf8_lossy(&fs::read(s.env.path("plain.log")).unwrap()).contains("counted 3")
    );
}
