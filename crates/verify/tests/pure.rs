//! poex-verify stays pure: its code names no file system, network, thread or clock API, and
//! its dependency tree holds no storage, async, network or thread-pool crate. (What the crate
//! promises in its docs, kept true by a test rather than by review.)

use std::path::Path;
use std::process::Command;

/// APIs that read or change the world outside the inputs.
const IMPURE: [&str; 8] = [
    "std::fs",
    "std::net",
    "std::thread",
    "std::process",
    "std::env",
    "SystemTime",
    "Instant::now",
    "now_utc",
];

/// Crates that would bring storage, networking, async or threads.
const FORBIDDEN: [&str; 12] = [
    "poex-store",
    "poex-log-store",
    "poex-ledger",
    "redb",
    "rayon",
    "tokio",
    "hyper",
    "reqwest",
    "axum",
    "alloy",
    "mio",
    "tempfile",
];

#[test]
fn the_source_names_no_io_or_clock_api() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for api in IMPURE {
                if code.contains(api) {
                    found.push(format!("{}:{}: {api}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "poex-verify must stay pure: {found:#?}");
}

#[test]
fn the_dependency_tree_holds_no_storage_network_or_thread_crate() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-p", "poex-verify", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.contains(&"poex-core"), "{tree}");
    let bad: Vec<&&str> = FORBIDDEN.iter().filter(|c| names.contains(c)).collect();
    assert!(bad.is_empty(), "poex-verify depends on {bad:?}:\n{tree}");
}
