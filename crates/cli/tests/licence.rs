//! The default `poex` links nothing GPL and no chain client: validator grants (Umbral,
//! GPL-3.0-only) come only with the `grants` feature, which is what README.md's "Licence"
//! section promises, and alloy only with the `chain` feature.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::process::Command;

/// The crate names in `poex-cli`'s normal dependency tree, with `features` on.
fn tree(features: &[&str]) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["tree", "--offline", "-p", "poex-cli", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for f in features {
        cmd.args(["--features", f]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn umbral_is_linked_only_with_the_grants_feature() {
    let default = tree(&[]);
    assert!(default.iter().any(|c| c == "poex-seal"), "{default:?}");
    for gpl in ["umbral-pre", "poex-grant"] {
        assert!(
            !default.iter().any(|c| c == gpl),
            "the default poex depends on {gpl}"
        );
    }
    let with = tree(&["grants"]);
    for gpl in ["umbral-pre", "poex-grant"] {
        assert!(
            with.iter().any(|c| c == gpl),
            "--features grants should bring {gpl}"
        );
    }
}

#[test]
fn the_chain_client_is_linked_only_with_the_chain_feature() {
    let default = tree(&[]);
    for heavy in ["alloy", "poex-chain"] {
        assert!(
            !default.iter().any(|c| c == heavy),
            "the default poex depends on {heavy}"
        );
    }
    let with = tree(&["chain"]);
    for heavy in ["alloy", "poex-chain"] {
        assert!(
            with.iter().any(|c| c == heavy),
            "--features chain should bring {heavy}"
        );
    }
}
