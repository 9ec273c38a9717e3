//! Command-line arguments, as clap parses them. Turning them into settings happens in the
//! command modules; this file only says what the user can type.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// poex: proof of execution for compute-to-data.
///
/// Data stays with its owner, algorithms travel to it, and every run leaves a signed,
/// verifiable receipt of what ran, on what, for whom, when, and what came out.
#[derive(Debug, Parser)]
#[command(name = "poex", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The poex home: keys, object store, registry, audit trail, jobs.
    /// Default: $POEX_HOME, else $XDG_DATA_HOME/poex, else ~/.local/share/poex.
    #[arg(long, global = true, env = "POEX_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Print only errors (no progress, no summaries).
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Talk to a poex node at this URL (http://host:port) instead of using the home's store
    /// and log: publish, run, status, cancel, fetch, show, audit and verify go over HTTP,
    /// signed with your key (--as, default: the home's `default` key).
    #[arg(long, global = true, env = "POEX_NODE", value_name = "URL")]
    pub node: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the home and the processor's key (and a default user key).
    Init,
    /// Create, list and show keys.
    #[command(subcommand)]
    Key(KeyCommand),
    #[command(flatten)]
    Seal(crate::cmd::seal::SealCommand),
    /// Publish a dataset or an algorithm into the write-once registry.
    #[command(subcommand)]
    Publish(PublishCommand),
    /// Show a registry record (dataset or algorithm) by name.
    Show {
        /// The registered name.
        name: String,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a registered algorithm on registered datasets, in the sandbox, with a receipt.
    Run(RunArgs),
    /// Wrap any command the way in-toto-run does: hash inputs, run sandboxed, sign a receipt.
    Exec(ExecArgs),
    /// Check a receipt: signature, statement, request, and any files you hold (with --rpc:
    /// also that its log checkpoint is anchored on chain).
    Verify(VerifyArgs),
    #[command(flatten)]
    Grants(crate::cmd::grant::GrantCommand),
    /// Query the audit trail (the log's events), or validate the whole log.
    Audit(AuditArgs),
    /// Inspect the transparency log: info, checkpoints, entries, proofs.
    #[command(subcommand)]
    Log(LogCommand),
    /// Proofs of retrievability: challenge a holder, answer, check (docs/por.md).
    #[command(subcommand)]
    Por(crate::cmd::por::PorCommand),
    /// Publish a sample dataset and algorithm, run, verify, and say where everything is.
    Demo,
    /// On an EVM chain: settings (HOME/chain.toml), the signer key, the contracts, status
    /// (docs/cli-chain.md).
    Chain(ChainArgs),
    /// Anchor this home's latest signed log checkpoint on chain (CheckpointAnchor). Sends
    /// nothing when that checkpoint, or a larger one, is anchored already.
    Anchor(AnchorArgs),
    /// Serve this home as a compute-to-data node over HTTP (see docs/node.md).
    Node(NodeArgs),
    /// A node's jobs (needs --node): one job's state, or the list.
    Status(StatusArgs),
    /// Cancel a job on a node (needs --node): a queued job ends at once, a running one is
    /// stopped.
    Cancel {
        /// The job id.
        job: String,
        /// The key you sign as (the job's requester or a node owner).
        #[arg(long = "as", value_name = "KEY", default_value = "default")]
        as_key: String,
    },
    /// Download a finished job from a node (needs --node): bundle.json, receipt.json and,
    /// for its requester, results/ and execution.log.
    Fetch {
        /// The job id.
        job: String,
        /// Where to put them (must not exist or be empty). Default: ./poex-job-<id>/.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The key you sign as (results and the log go to the job's requester only).
        #[arg(long = "as", value_name = "KEY", default_value = "default")]
        as_key: String,
    },
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Address to serve (default 127.0.0.1:8420; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Settings file (TOML). Default: HOME/node.toml if it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Jobs running at once.
    #[arg(long, value_name = "N")]
    pub max_concurrent_jobs: Option<usize>,
    /// Largest upload, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// Anchor the log's checkpoints on chain (HOME/chain.toml) every SECS seconds; 0: off.
    #[arg(long, value_name = "SECS")]
    pub anchor_interval_secs: Option<u64>,
    /// Write the node's log lines as JSON.
    #[arg(long)]
    pub log_json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One job's id. Without it: the node's jobs, newest first.
    pub job: Option<String>,
    /// Only jobs in this state (queued, running, succeeded, failed, refused, cancelled,
    /// expired, interrupted).
    #[arg(long)]
    pub state: Option<String>,
    /// Only jobs requested by this key (a key id or a local key name).
    #[arg(long, value_name = "KEY")]
    pub requester: Option<String>,
    /// At most this many jobs.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print the node's JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new Ed25519 key (private key file mode 0600).
    New {
        /// Name of the key (A-Z a-z 0-9 . _ -).
        name: String,
    },
    /// List keys with their ids.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a public key.
    Show {
        /// Name of the key.
        name: String,
        /// Print it as SubjectPublicKeyInfo PEM (for openssl and other tools).
        #[arg(long)]
        pem: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PublishCommand {
    /// Publish a dataset (file or folder) with its policy.
    Dataset {
        /// The file or folder to publish (copied into the store, read-only).
        path: PathBuf,
        /// Registry name (write-once).
        #[arg(long)]
        name: String,
        /// An algorithm allowed to run on this dataset: a registered name or a sha256 digest.
        #[arg(long = "allow", value_name = "ALGORITHM")]
        allow: Vec<String>,
        /// A key allowed to request jobs besides you: a local key name or a key id.
        #[arg(long = "allow-requester", value_name = "KEY")]
        allow_requester: Vec<String>,
        /// Keep it encrypted at rest: only a copy sealed to this home's data identity
        /// (keys/data.x25519, created on first use) enters the store, and each job decrypts
        /// it into a private folder for its run only (docs/seal.md). With --node, the node
        /// seals it to its owner's data identity and drops the uploaded plaintext.
        #[arg(long)]
        seal_at_rest: bool,
        /// The key you publish as.
        #[arg(long = "as", value_name = "KEY", default_value = "default")]
        as_key: String,
        #[command(flatten)]
        chain: PublishChainArgs,
    },
    /// Publish an algorithm (file or folder) with its entrypoint.
    Algorithm {
        /// The file or folder to publish.
        path: PathBuf,
        /// Registry name (write-once).
        #[arg(long)]
        name: String,
        /// Command line run inside the sandbox, from the algorithm's folder (/algo),
        /// e.g. "python3 stats.py".
        #[arg(long)]
        entrypoint: String,
        /// The key you publish as.
        #[arg(long = "as", value_name = "KEY", default_value = "default")]
        as_key: String,
        #[command(flatten)]
        chain: PublishChainArgs,
    },
}

/// `publish --chain`: register the asset's SHA-256 on chain too.
#[derive(Debug, Args, Clone, Default)]
pub struct PublishChainArgs {
    /// After publishing here, register the asset's SHA-256 on chain (the HashSig registry of
    /// HOME/chain.toml) under "KIND/NAME", signed with the home's chain key. Registering the
    /// same digest again sends nothing; another digest under the name is an error.
    #[arg(long)]
    pub chain: bool,
    /// The chain's JSON-RPC URL, instead of rpc_url in HOME/chain.toml.
    #[arg(long, env = "POEX_CHAIN_RPC", value_name = "URL", requires = "chain")]
    pub rpc: Option<String>,
}

/// Limits a job may ask for (the processor may grant less).
#[derive(Debug, Args, Clone, Default)]
pub struct LimitArgs {
    /// CPU seconds, of the whole job (per process where the host gives jobs no cgroup).
    #[arg(long, value_name = "SECONDS")]
    pub cpu_seconds: Option<u64>,
    /// Memory in MiB, of the whole job: its processes, /tmp, /dev/shm and the kernel memory
    /// they use (address space per process where the host gives jobs no cgroup).
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u64>,
    /// Wall-clock seconds for the whole job.
    #[arg(long, value_name = "SECONDS")]
    pub wall_seconds: Option<u64>,
    /// Processes at once.
    #[arg(long, value_name = "N")]
    pub processes: Option<u32>,
    /// Total output, in MiB.
    #[arg(long, value_name = "MIB")]
    pub output_mib: Option<u64>,
    /// Files and folders the job may leave in its output.
    #[arg(long, value_name = "N")]
    pub output_files: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The registered algorithm to run.
    #[arg(long)]
    pub algorithm: String,
    /// A registered dataset (repeat for several; mounted at /data/NAME).
    #[arg(long = "dataset", required = true)]
    pub datasets: Vec<String>,
    /// The key you request the job as.
    #[arg(long = "as", value_name = "KEY", default_value = "default")]
    pub as_key: String,
    /// Seal the results and the execution log to this recipient (poex-x25519:..., a local
    /// identity name, or a file holding one): the processor keeps no plaintext of them, and
    /// `poex decrypt` opens them (docs/seal.md).
    #[arg(long, value_name = "RECIPIENT")]
    pub recipient: Option<String>,
    /// Where the receipt, log and results go (must not exist or be empty).
    /// Default: <home>/jobs/<job id>; with --node, ./poex-job-<job id>.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// With --node: return once the node has accepted the job, printing its id (follow it
    /// with `poex status ID`, download it with `poex fetch ID`).
    #[arg(long)]
    pub no_wait: bool,
    /// Refuse to run unless every input (algorithm and datasets) is registered on chain with
    /// its local digest. Without it, an input the chain does not know is only a note. (When
    /// HOME/chain.toml names a registry, an input registered with ANOTHER digest always
    /// refuses the job.)
    #[arg(long, conflicts_with = "no_chain_check")]
    pub require_chain: bool,
    /// Do not look the inputs up on chain, even though HOME/chain.toml names a registry (e.g.
    /// while the chain is unreachable). An explicit opt-out: the job runs unchecked.
    #[arg(long)]
    pub no_chain_check: bool,
    /// The chain's JSON-RPC URL, instead of rpc_url in HOME/chain.toml.
    #[arg(long, env = "POEX_CHAIN_RPC", value_name = "URL")]
    pub rpc: Option<String>,
    /// Drive the job as a task of the chain's PoxTasks contract: the requester submits it (the
    /// digests of the algorithm, datasets and signed request, with deadlines), this home's
    /// chain key advertises an offer as the processor and matches it, the requester approves,
    /// the job runs, and the processor submits the result (the results' and the signed
    /// receipt's SHA-256, the log key, tree size and root of the bundle's checkpoint). Each
    /// step prints its transaction.
    #[arg(long, conflicts_with = "no_chain_check")]
    pub chain: bool,
    /// With --chain: the requester's chain key file (default: this home's chain key, which then
    /// plays both parts).
    #[arg(long, value_name = "FILE", requires = "chain")]
    pub requester_chain_key: Option<PathBuf>,
    /// With --chain: the task must be matched and approved within this much chain time
    /// (seconds, or with s, m, h, d). Default 10m.
    #[arg(long, value_name = "DURATION", requires = "chain")]
    pub match_within: Option<String>,
    /// With --chain: the result is due within this much chain time from submission (seconds,
    /// or with s, m, h, d; longer than --match-within). Default 1h.
    #[arg(long, value_name = "DURATION", requires = "chain")]
    pub result_within: Option<String>,
    /// Arguments appended to the algorithm's entrypoint.
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// An input file or folder: hashed (SHA-256), then visible read-only at its own path.
    #[arg(long = "dataset", value_name = "PATH")]
    pub datasets: Vec<PathBuf>,
    /// Code the command runs (a script, a folder): hashed and visible like a dataset.
    #[arg(long = "algorithm", value_name = "PATH")]
    pub algorithms: Vec<PathBuf>,
    /// The output folder (created; must be empty), writable at its own path.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Where to write the receipt. Default: OUT.receipt.json beside the folder.
    #[arg(long, value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// The key you request as (the processor key signs the receipt).
    #[arg(long = "as", value_name = "KEY", default_value = "default")]
    pub as_key: String,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A proof bundle (bundle.json), a receipt (receipt.json), or a job folder holding them
    /// (the bundle is preferred).
    pub proof: PathBuf,
    /// A folder of results to check against the receipt's subjects (every file must match,
    /// and every subject must be there). Default for a job folder: its results/.
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
    /// A single file to check (a result or the execution log), matched by digest.
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// The processor's public key (PEM) to trust. Default: this home's processor key; with
    /// --node, the key the node publishes (GET /api/info).
    #[arg(long, value_name = "PEM")]
    pub key: Option<PathBuf>,
    /// The log key to trust for a bundle's checkpoint: the verifier key `poex log info`
    /// prints (name+hex8+base64) or a public key file. Default: this home's log key; with
    /// --node, the node's.
    #[arg(long, value_name = "VKEY|PEM")]
    pub log_key: Option<String>,
    /// Also check that this log (a tlog-tiles directory or http:// URL) still contains the
    /// bundle's entry: its latest checkpoint must extend the bundle's (consistency proof).
    /// With --node: the node's log (URL/log) unless given.
    #[arg(long, value_name = "DIR|URL")]
    pub log: Option<String>,
    /// Also check on chain that the bundle's log checkpoint is anchored (CheckpointAnchor),
    /// exactly or by a later anchored checkpoint that is consistent with it (proved with --log,
    /// or with this home's log when it is the bundle's), naming the block and transaction.
    /// The chain id and anchor contract come from HOME/chain.toml, else from --chain-id and
    /// --anchor-contract.
    #[arg(long, value_name = "URL")]
    pub rpc: Option<String>,
    /// With --rpc: the chain id the endpoint must serve (default: HOME/chain.toml's).
    #[arg(long, value_name = "N", requires = "rpc")]
    pub chain_id: Option<u64>,
    /// With --rpc: the CheckpointAnchor contract's address (default: HOME/chain.toml's).
    #[arg(long, value_name = "ADDR", requires = "rpc")]
    pub anchor_contract: Option<String>,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
    /// With --node: let the node run the checks (POST /api/verify) instead of checking here
    /// with the keys it publishes. Either way the node is trusted for its keys; get them
    /// another way and pass --key and --log-key for an independent check.
    #[arg(long)]
    pub ask_node: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only events by this actor (key id).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this operation (publish, read-dataset, read-algorithm, write-result, refuse,
    /// run-started, run-finished).
    #[arg(long)]
    pub operation: Option<String>,
    /// Only events about this object (name or path).
    #[arg(long)]
    pub object: Option<String>,
    /// Only events of this job.
    #[arg(long)]
    pub job: Option<String>,
    /// Only events at or after this RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this RFC 3339 time.
    #[arg(long)]
    pub until: Option<String>,
    /// Print JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the whole log like CloudTrail's validate-logs: recompute every tile from the
    /// entries, check every kept checkpoint and the consistency between successive ones, and
    /// name every entry or tile that was modified, deleted or inserted. Exit 4 if any.
    Validate {
        /// Only report findings about entries logged at or after this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Only report findings about entries logged before this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        to: Option<String>,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Origin, size, root, where the tiles are (servable as static files), and the log's
    /// verifier key.
    Info {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The latest signed checkpoint, verbatim: a C2SP signed note other tools can verify
    /// (`poex log checkpoint > checkpoint`).
    Checkpoint {
        /// Print JSON: origin, size, root (hex) and the note.
        #[arg(long)]
        json: bool,
    },
    /// One entry: its kind, leaf hash and content (a receipt's job, builder, inputs, subjects;
    /// a record; an event).
    Entry {
        /// The entry's index (0-based).
        index: u64,
        /// Print JSON, with the entry's exact bytes (base64) and a receipt's envelope.
        #[arg(long)]
        json: bool,
    },
    /// An inclusion proof for entry N: a c2sp.org/tlog-proof (save it as N.tlog-proof).
    Prove {
        /// The entry's index.
        index: u64,
        /// The tree size to prove against (default: the latest checkpoint's). An older size
        /// re-signs that size's checkpoint with the log key, so it waits for the log's writer.
        #[arg(long)]
        size: Option<u64>,
        /// Print JSON: index, size, leaf hash, proof hashes (hex), checkpoint.
        #[arg(long)]
        json: bool,
    },
    /// A consistency proof from the tree of size A to the tree of size B: one base64 hash a
    /// line, as in a tlog-proof.
    Consistency {
        /// The older size (at least 1).
        a: u64,
        /// The newer size (at most the log's size).
        b: u64,
        /// Print JSON: both sizes, both roots and the proof hashes (hex).
        #[arg(long)]
        json: bool,
    },
    /// Check the latest checkpoint's signature (this home's log key) and that the stored tiles
    /// hash to its root. Exit 4 if not; `poex audit validate` walks every entry.
    Verify {
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Log a receipt that is not in the log yet (e.g. after a failed log write) and write its
    /// proof bundle beside it (job folder receipt.json: bundle.json; X.receipt.json:
    /// X.bundle.json). A receipt already logged keeps its index.
    Add {
        /// The receipt file (signed by this home's processor key).
        receipt: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ChainArgs {
    /// The chain's JSON-RPC URL, instead of rpc_url in HOME/chain.toml (for `chain init`: the
    /// URL to write).
    #[arg(long, global = true, env = "POEX_CHAIN_RPC", value_name = "URL")]
    pub rpc: Option<String>,
    #[command(subcommand)]
    pub command: ChainCommand,
}

#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Write HOME/chain.toml: which JSON-RPC endpoint and chain id (checked when reachable).
    /// Refuses to replace an existing one without --force.
    Init {
        /// The chain id the endpoint must serve (transactions are signed for it).
        #[arg(long, value_name = "N")]
        chain_id: u64,
        /// Replace an existing chain.toml (its contract addresses are dropped too).
        #[arg(long)]
        force: bool,
    },
    /// The key that signs this home's transactions (HOME/keys/chain.key, mode 0600).
    #[command(subcommand)]
    Key(ChainKeyCommand),
    /// Deploy the three contracts (HashSig registry, CheckpointAnchor, PoxTasks) with the
    /// chain key and write their addresses into HOME/chain.toml.
    Deploy {
        /// Deploy new contracts even though chain.toml names contracts that are there (the
        /// old ones keep their entries and anchors; this home stops using them).
        #[arg(long)]
        redeploy: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The endpoint, chain id, signer and balance, each contract, and this home's latest
    /// checkpoint against the latest anchored one.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChainKeyCommand {
    /// Create a new random signer key (fund its address before sending transactions).
    New,
    /// Import a key: 64 hex digits (0x optional) read from stdin, or from --from-file. The key
    /// is never printed; only its address is.
    Import {
        /// Read the key from this file instead of stdin.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
    },
    /// The signer's address, and its balance when HOME/chain.toml names a chain.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AnchorArgs {
    /// The chain's JSON-RPC URL, instead of rpc_url in HOME/chain.toml.
    #[arg(long, env = "POEX_CHAIN_RPC", value_name = "URL")]
    pub rpc: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
