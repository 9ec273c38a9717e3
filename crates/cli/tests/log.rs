//! End-to-end tests of `poex log`: the real binary on a real home, its output checked with
//! poex-log's own verifiers (signed notes, checkpoints, tlog-proofs, RFC 9162 proofs), so a
//! proof that only looks right fails here.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::fs;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use poex_core::dsse::Envelope;
use poex_core::statement::PAYLOAD_TYPE;
use poex_log::checkpoint::Checkpoint;
use poex_log::note::Ed25519Verifier;
use poex_log::proof::verify_consistency;
use poex_log::tlog_proof::TlogProof;
use poex_log::{Hash, leaf_hash};
use serde_json::Value;

mod common;
use common::Env;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn info(env: &Env) -> Value {
    json(&env.ok(&["log", "info", "--json"]).0)
}

fn size(env: &Env) -> u64 {
    info(env)["size"].as_u64().unwrap()
}

/// The log's verifier key, as `poex log info` gives it.
fn vkey(env: &Env) -> Ed25519Verifier {
    Ed25519Verifier::parse(info(env)["verifierKey"].as_str().unwrap()).unwrap()
}

/// `poex run --json` of the sample job into `out`.
fn run_json(env: &Env, out: &str) -> Value {
    json(
        &env.ok(&[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "cohort",
            "--out",
            out,
            "--json",
        ])
        .0,
    )
}

fn hex_hashes(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_hex(h.as_str().unwrap()).unwrap())
        .collect()
}

/// The leaf hash of entry `index`, re-derived from the exact bytes `poex log entry --json` gives
/// (and checked against the leaf hash it states).
fn leaf_of(env: &Env, index: u64) -> Hash {
    let e = json(&env.ok(&["log", "entry", &index.to_string(), "--json"]).0);
    let bytes = BASE64.decode(e["bytes"].as_str().unwrap()).unwrap();
    let leaf = leaf_hash(&bytes);
    assert_eq!(e["leafHash"], leaf.to_hex());
    leaf
}

#[test]
fn info_and_checkpoint_name_the_log_and_its_key() {
    let env = Env::new();
    let (init_again, _) = env.ok(&["init"]);
    env.publish_sample();
    let v = info(&env);
    let origin = v["origin"].as_str().unwrap().to_owned();
    let key = v["verifierKey"].as_str().unwrap().to_owned();
    assert!(origin.starts_with("poex.local/log/"), "{v}");
    assert!(key.starts_with(&format!("{origin}+")), "{v}");
    assert!(init_again.contains(&key), "init and info agree on the key");
    // Two publishes: a record and an event each.
    assert_eq!(v["size"], 4, "{v}");
    let tiles = PathBuf::from(v["tiles"].as_str().unwrap());
    assert!(
        tiles.is_absolute() && tiles.join("checkpoint").is_file(),
        "{v}"
    );
    assert_eq!(tiles, env.home().join("ledger/log"));
    let (log_key, _) = env.ok(&["key", "show", "log"]);
    assert!(
        log_key.contains(v["logKeyId"].as_str().unwrap()),
        "{log_key}"
    );
    let root = Hash::from_hex(v["root"].as_str().unwrap()).unwrap();
    assert_eq!(
        BASE64.decode(v["rootBase64"].as_str().unwrap()).unwrap(),
        root.as_bytes()
    );

    let (text, _) = env.ok(&["log", "info"]);
    for want in [
        origin.as_str(),
        "4 entries",
        key.as_str(),
        tiles.to_str().unwrap(),
        "static files",
        "log-index.redb",
    ] {
        assert!(text.contains(want), "{want:?} missing in:\n{text}");
    }

    // The checkpoint is the signed note verbatim: it opens with the log's verifier key, and
    // says what info says.
    let (note, _) = env.ok(&["log", "checkpoint"]);
    let verifier = Ed25519Verifier::parse(&key).unwrap();
    let (cp, _) = Checkpoint::open(note.as_bytes(), &[&verifier]).unwrap();
    assert_eq!(cp.origin.as_str(), origin);
    assert_eq!(cp.size.get(), 4);
    assert_eq!(cp.root, root);
    assert_eq!(
        note.as_bytes(),
        fs::read(tiles.join("checkpoint")).unwrap(),
        "exactly as stored"
    );
    // ... and with no other key.
    let stranger = poex_core::SecretKey::from_seed(&[7; 32]).public();
    let other = Ed25519Verifier::new(&origin, stranger.as_bytes()).unwrap();
    assert!(Checkpoint::open(note.as_bytes(), &[&other]).is_err());

    let c = json(&env.ok(&["log", "checkpoint", "--json"]).0);
    assert_eq!(c["note"], note.as_str());
    assert_eq!(c["origin"], origin.as_str());
    assert_eq!(c["size"], 4);
    assert_eq!(c["root"], root.to_hex());
}

#[test]
fn entry_renders_receipts_records_and_events() {
    let env = Env::new();
    env.publish_sample();
    let run = run_json(&env, "job");
    let job = run["jobId"].as_str().unwrap();
    let index = run["logIndex"].as_u64().unwrap().to_string();

    let (text, _) = env.ok(&["log", "entry", &index]);
    assert!(text.contains(&format!("entry {index}: receipt")), "{text}");
    assert!(text.contains(&format!("job         {job}")), "{text}");
    assert!(text.contains("urn:poex:processor:"), "{text}");
    assert!(
        text.contains("verifies with this home's processor key"),
        "{text}"
    );
    assert!(text.contains("rows.txt  sha256:"), "{text}");
    assert!(text.contains("succeeded, exit code 0"), "{text}");

    let e = json(&env.ok(&["log", "entry", &index, "--json"]).0);
    assert_eq!(e["kind"], "receipt");
    assert_eq!(e["receipt"]["job"], job);
    assert_eq!(e["receipt"]["signatureVerified"], true);
    assert_eq!(e["receipt"]["subjects"][0]["name"], "rows.txt");
    let receipt: Value = json(&fs::read_to_string(env.path("job/receipt.json")).unwrap());
    assert_eq!(e["receipt"]["envelope"], receipt, "the raw envelope");
    let bytes = BASE64.decode(e["bytes"].as_str().unwrap()).unwrap();
    assert!(bytes.starts_with(b"poex-entry/v1 receipt\n"));

    // Entry 0 is the algorithm's record, entry 1 its publish event.
    let algorithm = json(&env.ok(&["show", "count", "--json"]).0);
    let sha = algorithm["digests"]["sha256"].as_str().unwrap();
    let (text, _) = env.ok(&["log", "entry", "0"]);
    assert!(text.contains("entry 0: record"), "{text}");
    assert!(text.contains("algorithm   count"), "{text}");
    assert!(text.contains(&format!("sha256:{sha}")), "{text}");
    assert!(text.contains("entrypoint  python3 main.py"), "{text}");
    let e = json(&env.ok(&["log", "entry", "0", "--json"]).0);
    assert_eq!(e["record"]["name"], "count");

    let (text, _) = env.ok(&["log", "entry", "1"]);
    assert!(text.contains("entry 1: event"), "{text}");
    assert!(text.contains("operation   publish"), "{text}");
    assert!(text.contains("object      count"), "{text}");
    let e = json(&env.ok(&["log", "entry", "1", "--json"]).0);
    assert_eq!(e["event"]["operation"], "publish");
}

#[test]
fn prove_gives_a_tlog_proof_that_verifies_against_the_checkpoint() {
    let env = Env::new();
    env.publish_sample();
    let run = run_json(&env, "job");
    let index = run["logIndex"].as_u64().unwrap();
    let verifier = vkey(&env);
    let origin = info(&env)["origin"].as_str().unwrap().to_owned();

    let (text, _) = env.ok(&["log", "prove", &index.to_string()]);
    let proof = TlogProof::parse(&text).unwrap();
    assert_eq!(proof.index, index);
    assert_eq!(proof.encode(), text, "nothing but the proof on stdout");
    let leaf = leaf_of(&env, index);
    let cp = proof.verify(&leaf, Some(&origin), &[&verifier]).unwrap();
    assert_eq!(cp.size.get(), size(&env));
    assert_eq!(proof.checkpoint, env.ok(&["log", "checkpoint"]).0);
    // The proof is about this entry and no other.
    let other = leaf_of(&env, index - 1);
    assert!(proof.verify(&other, Some(&origin), &[&verifier]).is_err());
    // The receipt in the job folder is that entry.
    let bundle = json(&fs::read_to_string(env.path("job/bundle.json")).unwrap());
    let logged = BASE64.decode(bundle["logEntry"].as_str().unwrap()).unwrap();
    assert_eq!(leaf_hash(&logged), leaf);

    let j = json(&env.ok(&["log", "prove", &index.to_string(), "--json"]).0);
    assert_eq!(j["index"], index);
    assert_eq!(j["size"], cp.size.get());
    assert_eq!(j["leafHash"], leaf.to_hex());
    assert_eq!(hex_hashes(&j["proof"]), proof.hashes);
    assert_eq!(j["checkpoint"], proof.checkpoint.as_str());
}

#[test]
fn older_sizes_prove_and_consistency_links_two_checkpoints() {
    let env = Env::new();
    env.publish_sample();
    let verifier = vkey(&env);
    let (note_a, _) = env.ok(&["log", "checkpoint"]);
    let (cp_a, _) = Checkpoint::open(note_a.as_bytes(), &[&verifier]).unwrap();
    let a = cp_a.size.get();
    run_json(&env, "job");
    let (note_b, _) = env.ok(&["log", "checkpoint"]);
    let (cp_b, _) = Checkpoint::open(note_b.as_bytes(), &[&verifier]).unwrap();
    let b = cp_b.size.get();
    assert!(a < b, "the run logged entries: {a} then {b}");

    // Entry 1 proven in the older tree: against the older root, and its checkpoint is the one
    // published at that size, byte for byte.
    let (text, _) = env.ok(&["log", "prove", "1", "--size", &a.to_string()]);
    let proof = TlogProof::parse(&text).unwrap();
    assert_eq!(proof.checkpoint, note_a);
    let cp = proof.verify(&leaf_of(&env, 1), None, &[&verifier]).unwrap();
    assert_eq!((cp.size, cp.root), (cp_a.size, cp_a.root));
    // The same entry at the latest size has another proof, which does not fit the old root.
    let (latest, _) = env.ok(&["log", "prove", "1"]);
    let latest = TlogProof::parse(&latest).unwrap();
    assert_ne!(latest.hashes, proof.hashes);
    assert!(
        poex_log::proof::verify_inclusion(&leaf_of(&env, 1), 1, a, &latest.hashes, &cp_a.root)
            .is_err()
    );

    // Consistency from the saved checkpoint A to the saved checkpoint B.
    let c = json(
        &env.ok(&[
            "log",
            "consistency",
            &a.to_string(),
            &b.to_string(),
            "--json",
        ])
        .0,
    );
    assert_eq!(
        (c["size1"].as_u64(), c["size2"].as_u64()),
        (Some(a), Some(b))
    );
    assert_eq!(c["root1"], cp_a.root.to_hex());
    assert_eq!(c["root2"], cp_b.root.to_hex());
    let hashes = hex_hashes(&c["proof"]);
    verify_consistency(a, b, &hashes, &cp_a.root, &cp_b.root).unwrap();
    // It proves nothing about another tree.
    let mut forged = hashes.clone();
    forged[0] = Hash::from_bytes([0; 32]);
    assert!(verify_consistency(a, b, &forged, &cp_a.root, &cp_b.root).is_err());

    // The text form: the same hashes, one base64 line each.
    let (text, _) = env.ok(&["log", "consistency", &a.to_string(), &b.to_string()]);
    let lines: Vec<Hash> = text
        .lines()
        .map(|l| Hash::try_from(BASE64.decode(l).unwrap().as_slice()).unwrap())
        .collect();
    assert_eq!(lines, hashes);
    // Equal sizes: the empty proof.
    let (text, _) = env.ok(&["log", "consistency", &b.to_string(), &b.to_string()]);
    assert_eq!(text, "");
}

#[test]
fn out_of_range_requests_say_what_the_log_holds() {
    let env = Env::new();
    env.publish_sample();
    let n = size(&env);
    let ns = n.to_string();
    let after = (n + 1).to_string();

    let (_, err) = env.expect(1, &["log", "entry", &ns]);
    assert!(err.contains(&format!("it has {n} entries")), "{err}");
    let (_, err) = env.expect(1, &["log", "prove", &ns]);
    assert!(err.contains(&format!("it has {n} entries")), "{err}");
    let (_, err) = env.expect(1, &["log", "prove", "0", "--size", &after]);
    assert!(err.contains(&format!("beyond the log's size {n}")), "{err}");
    let (_, err) = env.expect(1, &["log", "prove", "2", "--size", "2"]);
    assert!(err.contains("not in the tree of size 2"), "{err}");
    let (_, err) = env.expect(1, &["log", "consistency", "1", &after]);
    assert!(err.contains(&format!("beyond the log's size {n}")), "{err}");
    let (_, err) = env.expect(1, &["log", "consistency", "3", "2"]);
    assert!(err.contains("larger than the newer size"), "{err}");
    let (_, err) = env.expect(1, &["log", "consistency", "0", "2"]);
    assert!(err.contains("size 0 proves nothing"), "{err}");
    let (out, _) = env.expect(1, &["log", "entry", "99", "--json"]);
    assert_eq!(out, "", "no JSON on an error");
}

#[test]
fn verify_passes_then_catches_a_flipped_byte_in_a_level0_tile() {
    let env = Env::new();
    env.publish_sample();
    let (text, _) = env.ok(&["log", "verify"]);
    assert!(text.contains("ok   checkpoint"), "{text}");
    assert!(text.contains("ok   leaves"), "{text}");
    assert!(text.contains("poex audit validate"), "{text}");
    let v = json(&env.ok(&["log", "verify", "--json"]).0);
    assert_eq!(v["verified"], true);

    // The level-0 tile of the current size: tile/0/000.p/<size>, a leaf hash per entry.
    let n = size(&env);
    let tile = env.home().join(format!("ledger/log/tile/0/000.p/{n}"));
    let mut bytes = fs::read(&tile).unwrap();
    assert_eq!(bytes.len() as u64, 32 * n);
    bytes[32 + 5] ^= 0x01; // leaf 1
    fs::write(&tile, &bytes).unwrap();

    let (text, _) = env.expect(4, &["log", "verify"]);
    assert!(text.contains("ok   checkpoint"), "{text}");
    assert!(text.contains("FAIL leaves"), "{text}");
    assert!(text.contains("a level-0 tile was changed"), "{text}");
    assert!(text.contains("poex audit validate"), "{text}");
    let (out, _) = env.expect(4, &["log", "verify", "--json"]);
    let v = json(&out);
    assert_eq!(v["verified"], false);
    let failed: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"leaves"), "{v}");

    // A proof that passes through the damaged hash is refused rather than handed out.
    let (_, err) = env.expect(1, &["log", "consistency", "1", &n.to_string()]);
    assert!(err.contains("damaged"), "{err}");
}

/// An older size's checkpoint is signed again for `prove --size`: over a root read from the
/// tiles, which must be the root the published checkpoint commits to. A damaged old partial
/// tile (kept for proofs at that size) gets an error, never a signed checkpoint of a tree that
/// was not published.
#[test]
fn a_damaged_old_tile_signs_nothing() {
    let env = Env::new();
    env.publish_sample();
    let a = size(&env);
    run_json(&env, "job");
    let n = size(&env);
    let tile = env.home().join(format!("ledger/log/tile/0/000.p/{a}"));
    let mut bytes = fs::read(&tile).unwrap();
    bytes[32 + 5] ^= 0x01; // leaf 1 as the tree of size a saw it
    fs::write(&tile, &bytes).unwrap();

    let (out, err) = env.expect(1, &["log", "prove", "2", "--size", &a.to_string()]);
    assert_eq!(out, "", "no proof, no checkpoint");
    assert!(err.contains("damaged"), "{err}");
    let (out, err) = env.expect(1, &["log", "consistency", &a.to_string(), &n.to_string()]);
    assert_eq!(out, "");
    assert!(err.contains("damaged"), "{err}");
    // The latest tree is intact: proofs at the latest size are still given.
    let (text, _) = env.ok(&["log", "prove", "2"]);
    TlogProof::parse(&text)
        .unwrap()
        .verify(&leaf_of(&env, 2), None, &[&vkey(&env)])
        .unwrap();
}

#[test]
fn verify_fails_on_a_checkpoint_not_signed_by_the_log_key() {
    let env = Env::new();
    env.publish_sample();
    let cp = env.home().join("ledger/log/checkpoint");
    let note = fs::read_to_string(&cp).unwrap();
    // Same body, another size: the signature no longer covers it.
    let mut lines: Vec<&str> = note.split('\n').collect();
    lines[1] = "3";
    fs::write(&cp, lines.join("\n")).unwrap();
    let (text, _) = env.expect(4, &["log", "verify"]);
    assert!(text.contains("FAIL checkpoint"), "{text}");
    assert!(text.contains("does not verify"), "{text}");
}

#[test]
fn add_of_a_logged_receipt_keeps_its_index_and_writes_a_bundle() {
    let env = Env::new();
    env.publish_sample();
    let run = run_json(&env, "job");
    let index = run["logIndex"].as_u64().unwrap();
    let n = size(&env);

    // A copy of the job's receipt in a job-like folder: bundle.json beside it.
    fs::create_dir(env.path("copy")).unwrap();
    fs::copy(env.path("job/receipt.json"), env.path("copy/receipt.json")).unwrap();
    let a = json(&env.ok(&["log", "add", "copy/receipt.json", "--json"]).0);
    assert_eq!(a["index"], index);
    assert_eq!(a["alreadyLogged"], true);
    assert_eq!(a["job"], run["jobId"]);
    assert_eq!(a["bundleFile"], "written");
    assert_eq!(a["bundle"], "copy/bundle.json");
    assert_eq!(size(&env), n, "nothing new in the log");
    let v = json(&env.ok(&["verify", "copy/bundle.json", "--json"]).0);
    assert_eq!(v["verified"], true);

    // Again: the same bundle.
    let (text, _) = env.ok(&["log", "add", "copy/receipt.json"]);
    assert!(
        text.contains(&format!("already in the log as entry {index}")),
        "{text}"
    );
    assert!(text.contains("(unchanged)"), "{text}");

    // An exec-style name: OUT.receipt.json gets OUT.bundle.json.
    fs::copy(env.path("job/receipt.json"), env.path("out.receipt.json")).unwrap();
    let a = json(&env.ok(&["log", "add", "out.receipt.json", "--json"]).0);
    assert_eq!(a["bundle"], "out.bundle.json");
    env.ok(&["verify", "out.bundle.json"]);

    // The log grows; the job's own bundle (an older checkpoint) still verifies: kept as it is.
    run_json(&env, "job2");
    let before = fs::read(env.path("job/bundle.json")).unwrap();
    let a = json(&env.ok(&["log", "add", "job/receipt.json", "--json"]).0);
    assert_eq!(a["bundleFile"], "kept");
    assert_eq!(a["index"], index);
    assert_eq!(fs::read(env.path("job/bundle.json")).unwrap(), before);

    // A file there that does not verify is replaced, by a bundle that does.
    fs::write(env.path("copy/bundle.json"), "{\"not\": \"a bundle\"}\n").unwrap();
    let (text, _) = env.ok(&["log", "add", "copy/receipt.json"]);
    assert!(text.contains("replaced"), "{text}");
    env.ok(&["verify", "copy/bundle.json"]);

    // A valid bundle of another receipt is never overwritten.
    fs::create_dir(env.path("mixed")).unwrap();
    fs::copy(env.path("job/receipt.json"), env.path("mixed/receipt.json")).unwrap();
    fs::copy(env.path("job2/bundle.json"), env.path("mixed/bundle.json")).unwrap();
    let (_, err) = env.expect(1, &["log", "add", "mixed/receipt.json"]);
    assert!(err.contains("another receipt"), "{err}");
    assert_eq!(
        fs::read(env.path("mixed/bundle.json")).unwrap(),
        fs::read(env.path("job2/bundle.json")).unwrap()
    );
}

#[test]
fn add_logs_a_receipt_that_missed_the_log() {
    let env = Env::new();
    env.publish_sample();
    let n = size(&env);
    // A receipt signed by this processor that never reached the log (as after a failed log
    // write): the processor key re-signs a statement of its own, with another job id.
    let processor =
        poex_store::keystore::load_secret_file(&env.home().join("keys/processor.key")).unwrap();
    let facts = sample_facts("job-missed");
    let envelope = facts.sign(&processor).unwrap();
    fs::write(
        env.path("missed.receipt.json"),
        serde_json::to_vec_pretty(&envelope).unwrap(),
    )
    .unwrap();

    let (text, _) = env.ok(&["log", "add", "missed.receipt.json"]);
    assert!(
        text.contains(&format!(
            "logged the receipt of job job-missed as entry {n}"
        )),
        "{text}"
    );
    assert_eq!(size(&env), n + 1);
    let v = json(&env.ok(&["verify", "missed.bundle.json", "--json"]).0);
    assert_eq!(v["verified"], true, "{v}");
    let e = json(&env.ok(&["log", "entry", &n.to_string(), "--json"]).0);
    assert_eq!(e["receipt"]["job"], "job-missed");
}

/// A receipt too large for a log entry (thousands of results) is logged by digest; `entry`
/// shows the digest and the bundle still verifies.
#[test]
fn add_logs_a_large_receipt_by_digest() {
    let env = Env::new();
    let processor =
        poex_store::keystore::load_secret_file(&env.home().join("keys/processor.key")).unwrap();
    let mut facts = sample_facts("job-large");
    let d = poex_core::DigestSet::of([poex_core::Algorithm::Sha256.hash(b"r")]);
    facts.results = (0..2000)
        .map(|i| poex_core::statement::ResourceDescriptor::new(format!("part-{i:05}.csv"), &d))
        .collect();
    let envelope = facts.sign(&processor).unwrap();
    let receipt = serde_json::to_vec(&envelope).unwrap();
    assert!(receipt.len() > 65_535, "{}", receipt.len());
    fs::write(env.path("large.receipt.json"), &receipt).unwrap();

    let a = json(&env.ok(&["log", "add", "large.receipt.json", "--json"]).0);
    assert_eq!(a["entryKind"], "receipt-digest");
    let index = a["index"].as_u64().unwrap().to_string();
    let (text, _) = env.ok(&["log", "entry", &index]);
    assert!(text.contains("receipt-digest"), "{text}");
    assert!(text.contains("job         job-large"), "{text}");
    let sha = poex_core::Algorithm::Sha256.hash(&receipt);
    assert!(text.contains(&sha.to_string()), "{sha} missing in:\n{text}");
    let v = json(&env.ok(&["verify", "large.bundle.json", "--json"]).0);
    assert_eq!(v["verified"], true, "{v}");
}

#[test]
fn add_refuses_receipts_of_other_keys_and_altered_ones() {
    let env = Env::new();
    env.publish_sample();
    run_json(&env, "job");
    let n = size(&env);
    let receipt: Envelope =
        serde_json::from_slice(&fs::read(env.path("job/receipt.json")).unwrap()).unwrap();

    // Altered: one byte of the payload changed after signing.
    let mut altered = receipt.clone();
    let at = altered
        .payload
        .windows(8)
        .position(|w| w == b"rows.txt")
        .unwrap();
    altered.payload[at] = b'R';
    fs::create_dir(env.path("altered")).unwrap();
    fs::write(
        env.path("altered/receipt.json"),
        serde_json::to_vec(&altered).unwrap(),
    )
    .unwrap();
    let (out, err) = env.expect(1, &["log", "add", "altered/receipt.json"]);
    assert_eq!(out, "");
    assert!(err.contains("refused, nothing was logged"), "{err}");
    assert!(!env.path("altered/bundle.json").exists());

    // Signed by another key: the same statement, another processor.
    let other = poex_core::SecretKey::from_seed(&[9; 32]);
    let foreign = Envelope::sign(PAYLOAD_TYPE, receipt.payload.clone(), &other);
    fs::write(
        env.path("foreign.json"),
        serde_json::to_vec(&foreign).unwrap(),
    )
    .unwrap();
    let (_, err) = env.expect(1, &["log", "add", "foreign.json"]);
    assert!(err.contains("signed by another key"), "{err}");
    assert!(err.contains(&other.public().key_id().to_string()), "{err}");
    assert!(!env.path("foreign.bundle.json").exists());

    // A bundle given for a receipt, and something that is not a receipt at all.
    let (_, err) = env.expect(1, &["log", "add", "job/bundle.json"]);
    assert!(err.contains("is a proof bundle, not a receipt"), "{err}");
    env.write("note.json", "{\"hello\": 1}\n");
    let (_, err) = env.expect(1, &["log", "add", "note.json"]);
    assert!(err.contains("is not a receipt"), "{err}");

    assert_eq!(size(&env), n, "nothing was logged");
}

fn sample_facts(job: &str) -> poex_core::receipt::ReceiptFacts {
    use poex_core::receipt::{BUILD_TYPE_EXEC, ReceiptFacts};
    use poex_core::statement::ResourceDescriptor;
    use poex_core::{Algorithm, DigestSet};
    let d = DigestSet::of([Algorithm::Sha256.hash(b"result")]);
    let mut ext = serde_json::Map::new();
    ext.insert("command".into(), Value::from(vec!["true"]));
    ReceiptFacts {
        build_type: BUILD_TYPE_EXEC,
        invocation_id: job.into(),
        external_parameters: ext,
        internal_parameters: serde_json::Map::new(),
        resolved_dependencies: vec![],
        started_on: None,
        finished_on: "2026-01-01T00:00:00.000000Z".into(),
        results: vec![ResourceDescriptor::new("out.txt", &d)],
        byproducts: vec![],
        fallback_subject: ResourceDescriptor::new("request", &d),
    }
}

/// docs/cli-log.md has a section for every `poex log` subcommand the binary knows.
#[test]
fn every_subcommand_is_documented() {
    let env = Env::new();
    let (help, _) = env.ok(&["log", "--help"]);
    let docs = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/cli-log.md"
    ))
    .unwrap();
    let commands: Vec<&str> = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(commands.len(), 7, "{help}");
    for c in commands {
        assert!(
            docs.contains(&format!("## `poex log {c}")),
            "no section for poex log {c} in docs/cli-log.md"
        );
    }
}
