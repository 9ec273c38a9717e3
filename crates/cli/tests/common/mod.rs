//! What every CLI test file shares: a fresh home and working folder, and helpers to run the
//! `poex` binary in it and read what it leaves.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        let env = Env {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        env.ok(&["init"]);
        env
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        p
    }

    pub fn poex(&self, args: &[&str]) -> Output {
        self.poex_with_home(&self.home(), args)
    }

    /// Runs poex in this working folder with another home.
    pub fn poex_with_home(&self, home: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_poex"))
            .arg("--home")
            .arg(home)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("POEX_HOME")
            .output()
            .expect("poex runs")
    }

    /// Runs poex with `input` on its stdin.
    pub fn poex_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_poex"))
            .arg("--home")
            .arg(self.home())
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("POEX_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("poex runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().expect("poex runs")
    }

    /// Runs poex, asserting the exit code; returns (stdout, stderr).
    pub fn expect(&self, code: i32, args: &[&str]) -> (String, String) {
        let out = self.poex(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "poex {args:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
        (stdout, stderr)
    }

    pub fn ok(&self, args: &[&str]) -> (String, String) {
        self.expect(0, args)
    }

    /// Publishes the standard test algorithm and dataset.
    pub fn publish_sample(&self) {
        self.write(
            "alg/main.py",
            "import os\n\
             rows = 0\n\
             for d in os.environ['POEX_DATASETS'].split(':'):\n\
             \x20   rows += len(open(d).read().splitlines())\n\
             open('/out/rows.txt', 'w').write(str(rows))\n\
             print('counted', rows)\n",
        );
        self.write("data.csv", "a,b\n1,2\n3,4\n");
        self.ok(&[
            "publish",
            "algorithm",
            "alg",
            "--name",
            "count",
            "--entrypoint",
            "python3 main.py",
        ]);
        self.ok(&[
            "publish", "dataset", "data.csv", "--name", "cohort", "--allow", "count",
        ]);
    }

    /// `poex run` of the sample algorithm on the sample dataset into `out`, expecting `code`.
    pub fn run_count(&self, code: i32, out: &str) -> (String, String) {
        self.expect(
            code,
            &[
                "run",
                "--algorithm",
                "count",
                "--dataset",
                "cohort",
                "--out",
                out,
            ],
        )
    }

    pub fn object_of(&self, name: &str) -> PathBuf {
        let (json, _) = self.ok(&["show", name, "--json"]);
        let v: Value = serde_json::from_str(&json).unwrap();
        let b3 = v["digests"]["blake3"].as_str().unwrap().to_owned();
        self.home().join("store/objects").join(b3)
    }
}

/// The names in folder `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn receipt_statement(path: &Path) -> Value {
    let env: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

pub fn outcome(statement: &Value) -> Value {
    statement["predicate"]["runDetails"]["byproducts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "outcome")
        .cloned()
        .unwrap()["annotations"]
        .clone()
}

/// A `poex node` process on `home` (initialized if new), listening on a free loopback port;
/// killed when dropped.
pub struct Node {
    child: Child,
    pub url: String,
}

impl Node {
    pub fn start(home: &Path) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_poex"))
            .arg("--home")
            .arg(home)
            .args(["node", "--listen", "127.0.0.1:0"])
            .env_remove("POEX_NODE")
            .env_remove("POEX_HOME")
            .env("POEX_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("poex node starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("poex node listening on ").nth(1) {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("poex node says where it listens");
        Node { child, url }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
