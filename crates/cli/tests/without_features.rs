//! The default `poex` (no cargo features): the optional parts it lacks say how to get them,
//! and a home that asks for one (a chain to check inputs in, an Umbral key to wrap logs to, a
//! node that anchors) is not silently served without it. `.ci/run` runs this file against a
//! build without features; with `--all-features` it compiles to nothing.
#![cfg(not(any(feature = "chain", feature = "grants")))]
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use std::process::{Command, Stdio};

use common::Env;

#[test]
fn the_chain_commands_say_how_to_build_them() {
    let env = Env::new();
    for args in [&["chain", "status"][..], &["anchor"]] {
        let (_, err) = env.expect(1, args);
        assert!(
            err.contains("built without the `chain` feature") && err.contains("--features chain"),
            "poex {args:?}: {err}"
        );
    }
    env.write("d.txt", "x");
    let (_, err) = env.expect(
        1,
        &["publish", "dataset", "d.txt", "--name", "d", "--chain"],
    );
    assert!(err.contains("nothing was published"), "{err}");
    let out = env.poex(&["show", "d"]);
    assert!(
        !out.status.success(),
        "the refused publish published nothing"
    );
}

#[test]
fn the_grant_commands_say_how_to_build_them() {
    let env = Env::new();
    for cmd in ["grant", "reencrypt", "validate-log"] {
        let (_, err) = env.expect(1, &[cmd, "--show-key"]);
        assert!(
            err.contains(&format!("poex {cmd} is part of validator grants"))
                && err.contains("--features grants")
                && err.contains("GPL-3.0-only"),
            "poex {cmd}: {err}"
        );
    }
    let (help, _) = env.ok(&["--help"]);
    assert!(!help.contains("reencrypt"), "hidden from --help: {help}");
}

#[test]
fn a_home_that_names_a_chain_refuses_run_unless_told_to_skip_the_check() {
    let env = Env::new();
    env.publish_sample();
    std::fs::write(
        env.home().join("chain.toml"),
        "rpc_url = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    let (_, err) = env.run_count(1, "job1");
    assert!(
        err.contains("chain.toml names a chain") && err.contains("--no-chain-check"),
        "{err}"
    );
    assert!(!env.path("job1").exists(), "nothing ran");
    env.ok(&[
        "run",
        "--algorithm",
        "count",
        "--dataset",
        "cohort",
        "--out",
        "job2",
        "--no-chain-check",
    ]);
    let (_, err) = env.expect(
        1,
        &[
            "run",
            "--algorithm",
            "count",
            "--dataset",
            "cohort",
            "--out",
            "job3",
            "--require-chain",
        ],
    );
    assert!(err.contains("--require-chain"), "{err}");
    let bundle = env.path("job2/bundle.json");
    let bundle = bundle.to_str().unwrap();
    let (_, err) = env.expect(1, &["verify", bundle, "--rpc", "http://127.0.0.1:1"]);
    assert!(
        err.contains("built without the `chain` feature") && err.contains("nothing was checked"),
        "{err}"
    );
}

#[test]
fn a_home_with_an_umbral_key_is_told_its_logs_are_not_wrapped_to_it() {
    let env = Env::new();
    env.publish_sample();
    std::fs::write(
        env.home().join("keys/umbral.key"),
        "not read in this build\n",
    )
    .unwrap();
    let (_, err) = env.run_count(0, "job");
    assert!(
        err.contains("umbral.key exists, but this poex was built without the `grants` feature"),
        "{err}"
    );
}

#[test]
fn a_node_asked_to_anchor_refuses_to_start() {
    let env = Env::new();
    let out = Command::new(env!("CARGO_BIN_EXE_poex"))
        .arg("--home")
        .arg(env.home())
        .args([
            "node",
            "--listen",
            "127.0.0.1:0",
            "--anchor-interval-secs",
            "60",
        ])
        .env_remove("POEX_HOME")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("built without the `chain` feature")
            && err.contains("anchor_interval_secs = 0"),
        "{err}"
    );
}
