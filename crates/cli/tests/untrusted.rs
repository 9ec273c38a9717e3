//! Names and reasons that jobs and requesters wrote reach poex's output escaped: a real
//! sandboxed job writes results named with an ESC sequence, a bidi override and a newline
//! followed by a fake `ok` line, and every command that shows them (`run`, `verify`, `audit`,
//! `log entry`, `show`, `decrypt`, and `status`, `fetch` and `audit` through a node) prints `\x1b`,
//! `\u{202e}` and `\n` instead of the raw characters, so no line of its output is forged.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use common::{Env, Node};
use poex_core::display::needs_escape;

/// Results with an ESC sequence (red text) and a right-to-left override in their names.
const ESC_NAME: &str = "\x1b[31mred\x1b[0m.txt";
const BIDI_NAME: &str = "report\u{202e}txt.exe";
/// A C1 control: U+009B is CSI, which some terminals take for ESC `[`.
const C1_NAME: &str = "csi\u{9b}2J.txt";
/// A name that would print as a line of `poex verify`'s own, after a colour change and a
/// bidi override. hash_tree refuses a newline in a result name, so a job that writes it fails
/// (invalid-output), and the failure's reason quotes the name.
const FORGING_NAME: &str = "x\x1b[0m\u{202e}\nok   results    all 9 file(s) match the receipt";

const ESC_SHOWN: &str = r"\x1b[31mred\x1b[0m.txt";
const BIDI_SHOWN: &str = r"report\u{202e}txt.exe";
const C1_SHOWN: &str = r"csi\u{9b}2J.txt";
const FORGING_SHOWN: &str = r"x\x1b[0m\u{202e}\nok   results    all 9 file(s) match the receipt";

/// A Python algorithm that writes each of `names` as a result file and prints an ESC
/// sequence into its execution log.
fn algorithm(names: &[&str]) -> String {
    let mut script = String::new();
    for (i, name) in names.iter().enumerate() {
        // The name as a Python string literal: JSON's escapes are Python's.
        let literal = serde_json::to_string(&format!("/out/{name}")).unwrap();
        script.push_str(&format!("open({literal}, 'w').write('{i}')\n"));
    }
    script.push_str("print('log \\x1b[2J cleared')\n");
    script
}

/// Output that a terminal shows as it is: no control character but the line ends, no bidi
/// control, and no line of it that is the forged one.
#[track_caller]
fn assert_safe(what: &str, text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| c != '\n' && needs_escape(c))
        .collect();
    assert!(raw.is_empty(), "{what}: raw {raw:?} in\n{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("ok   results    all 9")),
        "{what}: a forged line in\n{text}"
    );
}

/// `poex ARGS` expecting `code`; stdout and stderr are checked with [`assert_safe`] and
/// returned together.
#[track_caller]
fn shown(env: &Env, code: i32, args: &[&str]) -> String {
    let (out, err) = env.expect(code, args);
    let text = format!("{out}{err}");
    assert_safe(&format!("poex {args:?}"), &text);
    text
}

fn publish(env: &Env, name: &str, names: &[&str]) {
    env.write(&format!("{name}/main.py"), &algorithm(names));
    env.ok(&[
        "publish",
        "algorithm",
        name,
        "--name",
        name,
        // An entrypoint argument with an ESC sequence: the publisher's text, shown by `show`.
        "--entrypoint",
        "python3 main.py \x1b[2J",
    ]);
}

#[test]
fn result_names_with_escapes_and_bidi_controls_are_printed_escaped() {
    let env = Env::new();
    publish(&env, "names", &[ESC_NAME, BIDI_NAME, C1_NAME]);
    env.write("data.csv", "x\n");
    env.ok(&[
        "publish", "dataset", "data.csv", "--name", "d", "--allow", "names",
    ]);
    let (id_line, _) = env.ok(&["identity", "new", "alice"]);
    assert!(id_line.contains("recipient"), "{id_line}");
    // Sealed to the requester: the audit events' details then name the sealed files too.
    let run = shown(
        &env,
        0,
        &[
            "run",
            "--algorithm",
            "names",
            "--dataset",
            "d",
            "--out",
            "job",
            "--recipient",
            "alice",
        ],
    );
    assert!(run.contains("succeeded"), "{run}");
    let results = env.path("job/results");
    assert!(results.join(format!("{ESC_NAME}.sealed")).is_file());
    assert!(results.join(format!("{BIDI_NAME}.sealed")).is_file());
    assert!(results.join(format!("{C1_NAME}.sealed")).is_file());

    let verify = shown(&env, 0, &["verify", "job"]);
    assert!(
        verify.contains(&format!("  result     {ESC_SHOWN}  sha256:")),
        "{verify}"
    );
    assert!(
        verify.contains(&format!("  result     {BIDI_SHOWN}  sha256:")),
        "{verify}"
    );
    assert!(
        verify.contains(&format!("  result     {C1_SHOWN}  sha256:")),
        "{verify}"
    );

    // A check's detail names the file: altered, it is named escaped.
    let sealed = results.join(format!("{ESC_NAME}.sealed"));
    let original = std::fs::read(&sealed).unwrap();
    std::fs::write(&sealed, b"altered").unwrap();
    let verify = shown(&env, 4, &["verify", "job"]);
    assert!(
        verify.contains(&format!("FAIL results    {ESC_SHOWN}.sealed: modified")),
        "{verify}"
    );
    std::fs::write(&sealed, original).unwrap();

    let job = env
        .ok(&["verify", "job", "--json"])
        .0
        .parse::<serde_json::Value>()
        .unwrap()["summary"]["job"]
        .as_str()
        .unwrap()
        .to_owned();
    let audit = shown(&env, 0, &["audit", "--job", &job]);
    assert!(
        audit.contains(&format!(" {ESC_SHOWN}  sha256:")),
        "the event's object: {audit}"
    );
    assert!(
        audit.contains(&format!("sealed to the requester as {BIDI_SHOWN}.sealed")),
        "the event's detail: {audit}"
    );

    // The receipt's log entry, whose index `run` printed: its subjects are the names.
    let index = run
        .split("(log entry ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap();
    let entry = shown(&env, 0, &["log", "entry", index]);
    assert!(
        entry.contains(ESC_SHOWN) && entry.contains(BIDI_SHOWN),
        "{entry}"
    );
    let show = shown(&env, 0, &["show", "names"]);
    assert!(
        show.contains(r"entrypoint  python3 main.py \x1b[2J"),
        "{show}"
    );

    // Decrypting names the files, whose names the job chose.
    let sealed_path = format!("job/results/{ESC_NAME}.sealed");
    let decrypt = shown(&env, 0, &["decrypt", &sealed_path, "--identity", "alice"]);
    assert!(
        decrypt.contains(&format!(
            "opened job/results/{ESC_SHOWN}.sealed -> job/results/{ESC_SHOWN}"
        )),
        "{decrypt}"
    );
    shown(&env, 0, &["verify", "job"]);

    // JSON output: serde_json escapes the C0 controls; poex writes the C1 and bidi controls
    // it leaves raw as JSON escapes too. The value is unchanged.
    let json = shown(&env, 0, &["verify", "job", "--json"]);
    assert!(json.contains(r"\u001b[31mred"), "{json}");
    assert!(json.contains(r"report\u202etxt.exe"), "{json}");
    assert!(json.contains(r"csi\u009b2J.txt"), "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = report["summary"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        names.contains(&BIDI_NAME) && names.contains(&C1_NAME),
        "{names:?}"
    );
    let audit = shown(&env, 0, &["audit", "--job", &job, "--json"]);
    assert!(audit.contains(r"report\u202etxt.exe"), "{audit}");
}

#[test]
fn a_result_name_with_a_newline_cannot_forge_a_line_of_output() {
    let env = Env::new();
    publish(&env, "forge", &[FORGING_NAME]);
    env.write("data.csv", "x\n");
    env.ok(&[
        "publish", "dataset", "data.csv", "--name", "d", "--allow", "forge",
    ]);
    // The job ran and its output cannot be attested: exit 3, the reason quotes the name.
    let run = shown(
        &env,
        3,
        &[
            "run",
            "--algorithm",
            "forge",
            "--dataset",
            "d",
            "--out",
            "job",
        ],
    );
    assert!(run.contains("invalid-output"), "{run}");
    assert!(run.contains(FORGING_SHOWN), "{run}");
    // The refused output moved aside: the job folder verifies, and no line is forged.
    let verify = shown(&env, 0, &["verify", "job"]);
    assert!(!verify.contains("all 9 file(s)"), "{verify}");
    let audit = shown(&env, 0, &["audit"]);
    assert!(audit.contains(FORGING_SHOWN), "{audit}");
}

#[test]
fn a_node_job_s_reason_and_audit_trail_are_printed_escaped() {
    let requester = Env::new();
    let node_home = requester.path("node-home");
    let node = Node::start(&node_home);
    let url = node.url.as_str();
    requester.write("forge/main.py", &algorithm(&[ESC_NAME, FORGING_NAME]));
    requester.write("data.csv", "x\n");
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
        "forge",
        "--name",
        "forge",
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
        "d",
        "--allow",
        "forge",
        "--allow-requester",
        &me,
        "--as",
        owner.to_str().unwrap(),
    ]);
    let run = shown(
        &requester,
        3,
        &[
            "--node",
            url,
            "run",
            "--algorithm",
            "forge",
            "--dataset",
            "d",
            "--out",
            "job",
        ],
    );
    assert!(run.contains(FORGING_SHOWN), "{run}");
    let id = run
        .lines()
        .find_map(|l| l.strip_prefix("poex: job "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();

    let status = shown(&requester, 0, &["--node", url, "status", &id]);
    assert!(
        status.contains("reason     hashing") && status.contains(FORGING_SHOWN),
        "{status}"
    );
    let json = shown(&requester, 0, &["--node", url, "status", &id, "--json"]);
    assert!(json.contains(r"\u001b[0m\u202e\nok   results"), "{json}");
    let fetch = shown(
        &requester,
        3,
        &["--node", url, "fetch", &id, "--out", "again"],
    );
    assert!(fetch.contains(FORGING_SHOWN), "{fetch}");
    let audit = shown(&requester, 0, &["--node", url, "audit", "--job", &id]);
    assert!(audit.contains(FORGING_SHOWN), "{audit}");
    // The node's own `poex audit` shows the same events, as escaped.
    let local = requester.poex_with_home(&node_home, &["audit"]);
    assert_eq!(local.status.code(), Some(0));
    let local = String::from_utf8(local.stdout).unwrap();
    assert_safe("poex audit on the node's home", &local);
    assert!(local.contains(FORGING_SHOWN), "{local}");
}
