//! A Hardhat 3 dev node for tests (feature `devnode`): started from `contracts/node_modules`
//! (installed by `npm install --prefix contracts`, which brings Node 22 as the npm package
//! `node`) on a free 127.0.0.1 port, with chain id 31337 and Hardhat's funded test accounts,
//! and killed when dropped. Every test gets a fresh chain.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{ChainConfig, ChainKey};

/// The chain id Hardhat's default network serves.
pub const CHAIN_ID: u64 = 31337;

/// The chain id of the `bloxberglike` network (Bloxberg's own chain id).
pub const BLOXBERG_CHAIN_ID: u64 = 8995;

/// Private keys of Hardhat's first test accounts (public, funded with 10,000 ETH each on every
/// Hardhat dev chain; never use them anywhere else).
pub const ACCOUNT_KEYS: [&str; 3] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
];

/// A running dev node.
#[derive(Debug)]
pub struct DevNode {
    child: Child,
    port: u16,
    chain_id: u64,
}

/// The repository's `contracts/` folder.
pub fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../contracts")
}

impl DevNode {
    /// Starts a node and waits until it answers JSON-RPC (panics with the fix when Hardhat is
    /// not installed or does not start: tests need a real node, not a skip).
    pub fn start() -> Self {
        Self::start_network(None, CHAIN_ID)
    }

    /// Starts a node with Bloxberg's hardfork (Istanbul: no EIP-1559 fees, legacy transactions
    /// only) and chain id, the `bloxberglike` network of `contracts/hardhat.config.ts`.
    pub fn start_bloxberg_like() -> Self {
        Self::start_network(Some("bloxberglike"), BLOXBERG_CHAIN_ID)
    }

    fn start_network(network: Option<&str>, chain_id: u64) -> Self {
        let dir = contracts_dir();
        let node = dir.join("node_modules/node/bin/node");
        let cli = dir.join("node_modules/hardhat/dist/src/cli.js");
        assert!(
            node.exists() && cli.exists(),
            "the Hardhat dev node is not installed: run 'npm install --prefix contracts' (see .ci/run)"
        );
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("local address").port()
        };
        let mut command = Command::new(&node);
        command.arg(&cli);
        if let Some(network) = network {
            command.args(["--network", network]);
        }
        let mut child = command
            .args([
                "node",
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .current_dir(&dir)
            .env("HARDHAT_DISABLE_TELEMETRY_PROMPT", "true")
            .env("DO_NOT_TRACK", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the Hardhat node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Started HTTP") {
                    let _ = tx.send(());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("the Hardhat node exited ({status}): {err}");
            }
            assert!(
                Instant::now() < deadline,
                "the Hardhat node did not start in 60 s"
            );
        }
        Self {
            child,
            port,
            chain_id,
        }
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A configuration for this node (no contracts yet).
    pub fn config(&self) -> ChainConfig {
        let mut c = ChainConfig::new(self.url(), self.chain_id);
        c.poll_interval_ms = 50;
        c.receipt_timeout_secs = 20;
        c
    }

    /// Funded test account `i` (0..3).
    pub fn account(&self, i: usize) -> ChainKey {
        ChainKey::from_hex(ACCOUNT_KEYS[i]).expect("a valid test key")
    }

    /// A raw JSON-RPC call (for the node's test methods: `evm_setAutomine`, `evm_mine`,
    /// `evm_increaseTime`, `hardhat_setBalance`, ...). Returns the `result`, panicking on an
    /// error answer.
    pub fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let text = body.to_string();
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the node");
        let request = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
        std::io::Write::write_all(&mut stream, request.as_bytes()).expect("send");
        let mut response = String::new();
        std::io::Read::read_to_string(&mut stream, &mut response).expect("read");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(body.trim())
            .unwrap_or_else(|e| panic!("{method}: {e}: {response}"));
        assert!(value.get("error").is_none(), "{method}: {value}");
        value["result"].clone()
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
