//! `poex chain`, `poex anchor`, `publish --chain`, the chain check of `poex run` and `verify
//! --rpc`: the real binary against a real EVM node (Hardhat 3, poex-chain's `DevNode`), each
//! test on a fresh chain.
#![cfg(feature = "chain")]
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::fs;
use std::path::Path;

use poex_chain::devnode::{ACCOUNT_KEYS, CHAIN_ID, DevNode};
use poex_chain::{B256, Chain, ChainConfig, Registered, registry_name};
use serde_json::Value;

mod common;
use common::Env;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// stdout and stderr of a finished poex, asserting its exit code.
fn outputs(out: &std::process::Output, code: i32, what: &str) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    (stdout, stderr)
}

/// `poex chain init`, the funded Hardhat account #0 imported as the chain key, `poex chain
/// deploy`. Returns the deploy JSON.
fn chain_home(env: &Env, node: &DevNode) -> Value {
    env.ok(&[
        "chain",
        "init",
        "--rpc",
        &node.url(),
        "--chain-id",
        &CHAIN_ID.to_string(),
    ]);
    let out = env.poex_stdin(&["chain", "key", "import"], ACCOUNT_KEYS[0]);
    outputs(&out, 0, "chain key import");
    json(&env.ok(&["chain", "deploy", "--json"]).0)
}

/// The home's chain settings, as poex wrote them.
fn config(env: &Env) -> ChainConfig {
    ChainConfig::load(&env.home().join("chain.toml")).unwrap()
}

fn publish_chain(env: &Env, code: i32, kind: &str, path: &str, name: &str) -> (String, String) {
    let mut args = vec!["publish", kind, path, "--name", name, "--chain"];
    if kind == "algorithm" {
        args.extend(["--entrypoint", "python3 main.py"]);
    } else {
        args.extend(["--allow", "count"]);
    }
    env.expect(code, &args)
}

fn write_sample(env: &Env) {
    env.write(
        "alg/main.py",
        "import os\n\
         rows = 0\n\
         for d in os.environ['POEX_DATASETS'].split(':'):\n\
         \x20   rows += len(open(d).read().splitlines())\n\
         open('/out/rows.txt', 'w').write(str(rows))\n",
    );
    env.write("data.csv", "a,b\n1,2\n3,4\n");
}

fn block_number(node: &DevNode) -> u64 {
    let hex = node.rpc("eth_blockNumber", serde_json::json!([]));
    u64::from_str_radix(hex.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn log_size(env: &Env, home: &Path) -> u64 {
    let out = env.poex_with_home(home, &["log", "info", "--json"]);
    json(&String::from_utf8_lossy(&out.stdout))["size"]
        .as_u64()
        .unwrap()
}

#[test]
fn init_key_deploy_status_and_the_key_never_shows() {
    let node = DevNode::start();
    let env = Env::new();
    let url = node.url();
    let mut seen = String::new();
    let mut keep = |(o, e): (String, String)| {
        seen.push_str(&o);
        seen.push_str(&e);
        (o, e)
    };

    let (out, _) = keep(env.ok(&["chain", "init", "--rpc", &url, "--chain-id", "31337"]));
    assert!(out.contains("answers with chain id 31337"), "{out}");
    let text = fs::read_to_string(env.home().join("chain.toml")).unwrap();
    assert!(text.contains("chain_id = 31337"), "{text}");
    let (_, err) = keep(env.expect(1, &["chain", "init", "--rpc", &url, "--chain-id", "31337"]));
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    let (_, err) = keep(env.expect(
        1,
        &["chain", "init", "--rpc", &url, "--chain-id", "5", "--force"],
    ));
    assert!(err.contains("serves chain id 31337, not 5"), "{err}");
    keep(env.ok(&[
        "chain",
        "init",
        "--rpc",
        &url,
        "--chain-id",
        "31337",
        "--force",
    ]));

    let (_, err) = keep(env.expect(1, &["chain", "key", "show"]));
    assert!(err.contains("poex chain key new"), "{err}");

    // A key that is no key is refused without being repeated.
    let bogus = "0123456789abcdef0123456789abcdef0123456789abcdeg";
    let out = env.poex_stdin(&["chain", "key", "import"], bogus);
    let (o, e) = keep(outputs(&out, 1, "bogus import"));
    assert!(e.contains("64 hex digits") && !e.contains(bogus), "{o}{e}");

    let secret = ACCOUNT_KEYS[0].trim_start_matches("0x");
    let out = env.poex_stdin(
        &["chain", "key", "import"],
        &format!("{}\n", ACCOUNT_KEYS[0]),
    );
    let (o, _) = keep(outputs(&out, 0, "key import"));
    assert!(
        o.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        "{o}"
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(env.home().join("keys/chain.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = env.poex_stdin(&["chain", "key", "import"], ACCOUNT_KEYS[0]);
    let (_, e) = keep(outputs(&out, 1, "second import"));
    assert!(e.contains("never overwritten"), "{e}");

    let (o, _) = keep(env.ok(&["chain", "key", "show"]));
    assert!(o.contains("balance   10000 ether"), "{o}");

    let (o, _) = keep(env.ok(&["chain", "deploy"]));
    for want in [
        "HashSig",
        "CheckpointAnchor",
        "PoxTasks",
        "transaction 0x",
        "gas ",
    ] {
        assert!(o.contains(want), "{want} missing:\n{o}");
    }
    let c = config(&env);
    let registry = c.contracts.registry.unwrap().to_string();
    assert!(o.contains(&registry), "{o}");
    let (_, e) = keep(env.expect(1, &["chain", "deploy"]));
    assert!(e.contains("--redeploy"), "{e}");

    let (o, _) = keep(env.ok(&["chain", "status"]));
    assert_eq!(o.matches("(code there)").count(), 3, "{o}");
    assert!(o.contains(&url) && o.contains("chain id   31337"), "{o}");
    assert!(
        o.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266, balance 99"),
        "{o}"
    );
    assert!(o.contains("anchored never"), "{o}");
    let (o, _) = keep(env.ok(&["chain", "status", "--json"]));
    let v = json(&o);
    assert_eq!(v["chainId"], 31337);
    assert_eq!(v["contracts"][0]["address"], registry);
    assert_eq!(v["contracts"][2]["code"], true);
    assert!(v["log"]["anchored"].is_null(), "{v}");

    // --rpc overrides chain.toml: an endpoint that does not answer is named, without its path.
    let (_, e) = keep(env.expect(
        1,
        &[
            "chain",
            "status",
            "--rpc",
            "http://127.0.0.1:1/secret-api-key",
        ],
    ));
    assert!(
        e.contains("cannot reach") && e.contains("http://127.0.0.1:1"),
        "{e}"
    );
    assert!(!e.contains("secret-api-key"), "{e}");

    // Imported from a file into another home: same address, still never shown.
    let other = env.path("other");
    let o = env.poex_with_home(&other, &["init"]);
    outputs(&o, 0, "init other");
    let keyfile = env.write("dev.key", &format!("# a test key\n{}\n", ACCOUNT_KEYS[0]));
    let o = env.poex_with_home(
        &other,
        &[
            "chain",
            "key",
            "import",
            "--from-file",
            keyfile.to_str().unwrap(),
        ],
    );
    let (o, e) = keep(outputs(&o, 0, "import --from-file"));
    assert!(
        o.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        "{o}{e}"
    );

    assert!(
        !seen.to_lowercase().contains(secret),
        "the chain key appeared in poex's output"
    );
}

#[test]
fn publish_chain_then_run_passes_the_chain_check() {
    let node = DevNode::start();
    let env = Env::new();
    chain_home(&env, &node);
    write_sample(&env);

    let (o, _) = publish_chain(&env, 0, "algorithm", "alg", "count");
    assert!(
        o.contains("registered algorithm/count on chain 31337"),
        "{o}"
    );
    assert!(o.contains("block") && o.contains("transaction  0x"), "{o}");
    let (o, _) = publish_chain(&env, 0, "dataset", "data.csv", "cohort");
    assert!(
        o.contains("registered dataset/cohort on chain 31337"),
        "{o}"
    );
    let before = block_number(&node);
    let (o, _) = publish_chain(&env, 0, "dataset", "data.csv", "cohort");
    assert!(
        o.contains("already registered on chain 31337 with this digest"),
        "{o}"
    );
    assert_eq!(block_number(&node), before, "nothing sent the second time");

    let (o, _) = env.run_count(0, "job1");
    assert!(
        o.contains("algorithm count: registered on chain (block"),
        "{o}"
    );
    assert!(
        o.contains("dataset cohort: registered on chain (block"),
        "{o}"
    );
    assert!(o.contains("succeeded"), "{o}");
    // --json keeps stdout JSON: the chain lines go to stderr.
    let (o, e) = env.ok(&[
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "cohort",
        "--out",
        "job2",
        "--json",
    ]);
    assert_eq!(json(&o)["status"], "succeeded");
    assert!(e.contains("registered on chain"), "{e}");

    // A dataset the chain does not know: a note, or a refusal with --require-chain.
    env.ok(&[
        "publish", "dataset", "data.csv", "--name", "local", "--allow", "count",
    ]);
    let local = [
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "local",
        "--out",
        "job3",
    ];
    let (o, _) = env.ok(&local);
    assert!(
        o.contains("dataset local: not registered on chain 31337"),
        "{o}"
    );
    let mut strict = local.to_vec();
    strict[6] = "job4";
    strict.push("--require-chain");
    let (_, e) = env.expect(2, &strict);
    assert!(
        e.contains("--require-chain: not registered on chain 31337: dataset local"),
        "{e}"
    );
    assert!(!env.path("job4").exists());

    // An endpoint that does not answer: refused, unless --no-chain-check.
    let size = log_size(&env, &env.home());
    let (_, e) = env.expect(
        1,
        &[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "cohort",
            "--out",
            "job5",
            "--rpc",
            "http://127.0.0.1:1",
        ],
    );
    assert!(
        e.contains("cannot check the inputs on chain, so the job was not run")
            && e.contains("--no-chain-check"),
        "{e}"
    );
    assert!(!env.path("job5").exists());
    assert_eq!(log_size(&env, &env.home()), size, "nothing was logged");
    let (o, _) = env.ok(&[
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "cohort",
        "--out",
        "job5",
        "--rpc",
        "http://127.0.0.1:1",
        "--no-chain-check",
    ]);
    assert!(o.contains("not checked on chain (--no-chain-check)"), "{o}");
}

#[test]
fn another_digest_on_chain_refuses_the_run() {
    let node = DevNode::start();
    let env = Env::new();
    chain_home(&env, &node);
    write_sample(&env);

    // Someone else registers dataset/cohort with other content first.
    let squatter = node.account(1);
    let other = B256::repeat_byte(0x11);
    let block = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let chain = Chain::connect(config(&env), Some(squatter.clone()))
                .await
                .unwrap();
            match chain
                .register(registry_name("dataset", "cohort"), other)
                .await
                .unwrap()
            {
                Registered::Now(_, sent) => sent.block,
                Registered::Already(_) => panic!("registered before"),
            }
        });

    publish_chain(&env, 0, "algorithm", "alg", "count");
    let (o, e) = publish_chain(&env, 1, "dataset", "data.csv", "cohort");
    assert!(o.contains("published dataset cohort"), "{o}");
    for want in [
        "the local publish of dataset cohort is done (it stays published here)",
        "another digest",
        &format!("sha256:{}", "11".repeat(32)),
        &squatter.address().to_string(),
        &format!("in block {block}"),
    ] {
        assert!(e.contains(want), "{want:?} missing:\n{e}");
    }
    env.ok(&["show", "cohort"]);
    let local = json(&env.ok(&["show", "cohort", "--json"]).0)["digests"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();

    let size = log_size(&env, &env.home());
    let (o, e) = env.run_count(2, "job1");
    for want in [
        "job refused, nothing was run",
        "dataset cohort",
        &format!("sha256:{}", "11".repeat(32)),
        &format!("sha256:{local}"),
        &squatter.address().to_string(),
        &format!("block {block}"),
    ] {
        assert!(e.contains(want), "{want:?} missing:\n{e}");
    }
    assert!(!o.contains("succeeded"), "{o}");
    assert!(!env.path("job1").exists(), "nothing was run");
    assert_eq!(
        fs::read_dir(env.home().join("jobs")).unwrap().count(),
        0,
        "no job folder"
    );
    assert_eq!(log_size(&env, &env.home()), size, "nothing was logged");
}

#[test]
fn anchor_twice_then_verify_exactly_and_by_a_later_anchor() {
    let node = DevNode::start();
    let env = Env::new();
    let deployed = chain_home(&env, &node);
    let anchor_contract = deployed["contracts"][1]["address"]
        .as_str()
        .unwrap()
        .to_owned();
    env.publish_sample();
    env.run_count(0, "job1");

    let url = node.url();
    let verify_rpc = |dir: &str, code: i32| env.expect(code, &["verify", dir, "--rpc", &url]);
    let (o, _) = verify_rpc("job1", 4);
    assert!(
        o.contains("FAIL anchor") && o.contains("was never anchored on chain 31337"),
        "{o}"
    );

    let first = json(&env.ok(&["anchor", "--json"]).0);
    assert_eq!(first["status"], "anchored", "{first}");
    assert_eq!(first["sent"], true);
    let size = log_size(&env, &env.home());
    assert_eq!(first["anchored"]["size"], size);
    let tx = first["anchored"]["tx"].as_str().unwrap().to_owned();
    let block = first["anchored"]["block"].as_u64().unwrap();
    let chain_block = block_number(&node);
    let (o, _) = env.ok(&["anchor"]);
    assert!(
        o.contains(&format!(
            "at size {size} is already anchored on chain 31337: nothing sent"
        )),
        "{o}"
    );
    assert!(o.contains(&tx), "{o}");
    assert_eq!(
        block_number(&node),
        chain_block,
        "the second anchor sent nothing"
    );

    // Exactly anchored: the check names the block and transaction.
    let (o, _) = verify_rpc("job1", 0);
    let line = o.lines().find(|l| l.starts_with("ok   anchor")).unwrap();
    assert!(
        line.contains(&format!("in block {block}, transaction {tx}")),
        "{line}"
    );
    let (o, _) = env.ok(&["verify", "job1", "--rpc", &url, "--json"]);
    let v = json(&o);
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "anchor")
        .unwrap()
        .clone();
    assert_eq!(check["ok"], true, "{v}");
    assert!(check["detail"].as_str().unwrap().contains(&tx), "{check}");

    // More runs, a new anchor: job2's checkpoint is not anchored itself, but the later anchor
    // extends it (proved with this home's log).
    env.run_count(0, "job2");
    let (o, _) = verify_rpc("job2", 4);
    assert!(o.contains("the log's latest anchor is older"), "{o}");
    env.run_count(0, "job3");
    let second = json(&env.ok(&["anchor", "--json"]).0);
    assert_eq!(second["status"], "anchored");
    let tx2 = second["anchored"]["tx"].as_str().unwrap().to_owned();
    let block2 = second["anchored"]["block"].as_u64().unwrap();
    let (o, _) = verify_rpc("job2", 0);
    let line = o.lines().find(|l| l.starts_with("ok   anchor")).unwrap();
    assert!(
        line.contains("is consistent with the log's checkpoint anchored")
            && line.contains(&format!("in block {block2}, transaction {tx2}")),
        "{line}"
    );
    // The old, exactly anchored bundle still verifies against its own anchor.
    let (o, _) = verify_rpc("job1", 0);
    assert!(o.contains(&tx), "{o}");

    // Elsewhere, with no home log of this key: the consistency needs --log.
    let verifier = env.path("verifier");
    let o = env.poex_with_home(&verifier, &["init"]);
    outputs(&o, 0, "init verifier");
    let pem = env.write(
        "processor.pem",
        &env.ok(&["key", "show", "processor", "--pem"]).0,
    );
    let vkey = json(&env.ok(&["log", "info", "--json"]).0)["verifierKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let tiles = env.home().join("ledger/log");
    let base = [
        "verify",
        "job2",
        "--key",
        pem.to_str().unwrap(),
        "--log-key",
        &vkey,
        "--rpc",
        &url,
    ];
    let o = env.poex_with_home(&verifier, &base);
    let (_, e) = outputs(&o, 1, "no chain id");
    assert!(e.contains("--chain-id N --anchor-contract ADDR"), "{e}");
    let mut with_chain = base.to_vec();
    with_chain.extend(["--chain-id", "31337", "--anchor-contract", &anchor_contract]);
    let o = env.poex_with_home(&verifier, &with_chain);
    let (o, _) = outputs(&o, 4, "no log source");
    assert!(
        o.contains("FAIL anchor") && o.contains("pass --log DIR|URL"),
        "{o}"
    );
    let mut with_log = with_chain.clone();
    with_log.extend(["--log", tiles.to_str().unwrap()]);
    let o = env.poex_with_home(&verifier, &with_log);
    let (o, _) = outputs(&o, 0, "with --log");
    assert!(o.contains("ok   anchor") && o.contains(&tx2), "{o}");

    // A home that never anchored: its bundle fails.
    let lone = Env::new();
    lone.publish_sample();
    lone.run_count(0, "job");
    let (o, _) = lone.expect(
        4,
        &[
            "verify",
            "job",
            "--rpc",
            &url,
            "--chain-id",
            "31337",
            "--anchor-contract",
            &anchor_contract,
        ],
    );
    assert!(
        o.contains("FAIL anchor") && o.contains("was never anchored"),
        "{o}"
    );
}

#[test]
fn a_later_anchor_of_a_forked_log_fails_verify() {
    let node = DevNode::start();
    let env = Env::new();
    chain_home(&env, &node);
    env.publish_sample();
    env.run_count(0, "job1");
    // The same log, copied, then growing apart: B runs other jobs and anchors further.
    let fork = env.path("fork");
    let status = std::process::Command::new("cp")
        .args(["-a"])
        .arg(env.home())
        .arg(&fork)
        .status()
        .unwrap();
    assert!(status.success());
    env.run_count(0, "job2");
    for out in ["b1", "b2"] {
        let o = env.poex_with_home(
            &fork,
            &[
                "run",
                "--algorithm",
                "count",
                "--dataset",
                "cohort",
                "--out",
                out,
            ],
        );
        outputs(&o, 0, "fork run");
    }
    let o = env.poex_with_home(&fork, &["anchor"]);
    outputs(&o, 0, "fork anchor");
    let url = node.url();
    // This home's log is shorter than the fork's anchor: it cannot prove anything.
    let (o, _) = env.expect(4, &["verify", "job2", "--rpc", &url]);
    assert!(
        o.contains("FAIL anchor") && o.contains("give a newer copy"),
        "{o}"
    );
    // With the fork's log, the proof shows the anchored tree does not extend job2's.
    let tiles = fork.join("ledger/log");
    let (o, _) = env.expect(
        4,
        &[
            "verify",
            "job2",
            "--rpc",
            &url,
            "--log",
            tiles.to_str().unwrap(),
        ],
    );
    let line = o.lines().find(|l| l.starts_with("FAIL anchor")).unwrap();
    assert!(line.contains("does not extend"), "{line}");
}

#[test]
fn run_chain_drives_the_task_to_done() {
    use sha2::Digest as _;
    let node = DevNode::start();
    let env = Env::new();
    chain_home(&env, &node);
    env.publish_sample();
    // The requester has a chain key of its own (Hardhat account #1); the home's is the
    // processor's.
    let requester_key = env.path("requester.key");
    poex_chain::ChainKey::import(&requester_key, ACCOUNT_KEYS[1]).unwrap();
    let requester = node.account(1).address();
    let processor = node.account(0).address();

    let (_, e) = env.expect(
        1,
        &[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "cohort",
            "--out",
            "early",
            "--chain",
            "--match-within",
            "2h",
            "--result-within",
            "1h",
        ],
    );
    assert!(e.contains("must be longer than --match-within"), "{e}");
    assert!(!env.path("early").exists());

    let (o, _) = env.ok(&[
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "cohort",
        "--out",
        "job",
        "--chain",
        "--requester-chain-key",
        requester_key.to_str().unwrap(),
        "--match-within",
        "5m",
    ]);
    for want in [
        format!("task 1 submitted by the requester {requester}"),
        format!("offer 1 advertised by the processor {processor}"),
        "task 1 matched with offer 1 by the processor".to_owned(),
        "task 1 approved by the requester".to_owned(),
        "result of task 1 submitted by the processor".to_owned(),
        "task 1 is done on chain 31337".to_owned(),
    ] {
        assert!(o.contains(&want), "{want:?} missing:\n{o}");
    }
    assert_eq!(o.matches("transaction 0x").count(), 5, "{o}");

    // On chain: done, with this job's request, receipt, results and checkpoint.
    let sha = |p: &str| {
        B256::from(<[u8; 32]>::from(sha2::Sha256::digest(
            fs::read(env.path(p)).unwrap(),
        )))
    };
    let bundle =
        poex_ledger::ProofBundle::from_json(&fs::read(env.path("job/bundle.json")).unwrap())
            .unwrap();
    let proof = poex_log::tlog_proof::TlogProof::parse(&bundle.tlog_proof).unwrap();
    let (cp, _) = poex_log::checkpoint::Checkpoint::open(
        proof.checkpoint.as_bytes(),
        &[&poex_log::note::Ed25519Verifier::parse(&bundle.log_key).unwrap()],
    )
    .unwrap();
    let task = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let chain = Chain::connect(config(&env), None).await.unwrap();
            chain.task(1).await.unwrap()
        });
    assert_eq!(task.status, poex_chain::TaskStatus::Done);
    assert_eq!(task.owner, requester);
    assert_eq!(task.processor, processor);
    assert_eq!(
        task.receipt.as_slice(),
        <sha2::Sha256 as sha2::Digest>::digest(&bundle.receipt.payload).as_slice(),
        "the SHA-256 of the bundle's signed receipt statement (its DSSE payload)"
    );
    assert_eq!(
        serde_json::to_vec_pretty(&bundle.receipt).unwrap(),
        fs::read(env.path("job/receipt.json"))
            .unwrap()
            .strip_suffix(b"\n")
            .unwrap(),
        "receipt.json is the bundle's receipt"
    );
    let request: poex_core::dsse::Envelope =
        serde_json::from_slice(&fs::read(env.path("job/request.json")).unwrap()).unwrap();
    assert_eq!(
        task.request.as_slice(),
        <sha2::Sha256 as sha2::Digest>::digest(&request.payload).as_slice(),
        "the SHA-256 of the signed request's DSSE payload"
    );
    assert_eq!(task.results, vec![sha("job/results/rows.txt")]);
    assert_eq!(task.tree_size, cp.size.get());
    assert_eq!(task.root, B256::from(cp.root.to_bytes()));
    let v = json(&env.ok(&["show", "count", "--json"]).0);
    let alg = v["digests"]["sha256"].as_str().unwrap();
    assert_eq!(hex::encode(task.algorithm), alg);

    // --json: the steps are in the report.
    let (o, e) = env.ok(&[
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "cohort",
        "--out",
        "job2",
        "--chain",
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(v["chainTask"]["task"], 2, "{v}");
    assert_eq!(v["chainTask"]["status"], "done");
    assert_eq!(v["chainTask"]["steps"].as_array().unwrap().len(), 6);
    assert!(e.contains("task 2 approved"), "{e}");
}
