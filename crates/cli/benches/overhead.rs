//! What `poex run` and `poex exec` add to a command, side by side with `in-toto-run` and the
//! bare command, in one run.
//!
//! ```text
//! cargo bench -p poex-cli --bench overhead                       # 1 MiB, 64 MiB, 1 GiB, 10,000 x 4 KiB
//! POEX_BENCH_QUICK=1 cargo bench -p poex-cli --bench overhead    # smoke run: small sizes, 3 rounds
//! ```
//!
//! Environment: `POEX_BENCH_DIR` (scratch parent, default `/tmp`), `POEX_BENCH_KEEP=1` (keep
//! the scratch folder), `POEX_BENCH_ROUNDS=N` (rounds per dataset; the 1 GiB file gets
//! fewer), `POEX_BENCH_IN_TOTO_RUN=PATH` (the in-toto-run entry point to use),
//! `POEX_BENCH_WRITE_DOCS=1` (a full run only: write this run's figures into README.md's "How
//! fast" table and docs/performance.md's overhead table, between their `bench:overhead`
//! markers, so the figures in the docs are always a run's output, never copied by hand;
//! crates/cli/tests/bench_figures.rs checks that the two agree).
//!
//! Every dataset is read by the same trivial algorithm,
//! `find DS -type f | sort | xargs cat | wc -c > OUT/result.txt`, in four ways, interleaved
//! (A B C D, the starting case rotating each round, after one untimed warm-up of each):
//!
//! - A `bare`: the command itself;
//! - B `in-toto-run`: `in-toto-run --step-name s --signing-key KEY --run-timeout 3600 -d LINKS
//!   --materials DS --products OUT -- <command>` (Ed25519 PKCS#8 key from openssl);
//! - C `poex exec -q --dataset DS --out OUT -- <command>` (same host paths inside the sandbox);
//! - D `poex run -q` of a published `sh` algorithm on the published dataset (publishing is
//!   setup, not timed), reading `/data/NAME` the same way.
//!
//! Plus a fixed-cost case (`/usr/bin/true` bare, under `poex exec`, under `in-toto-run`, and
//! `poex run` of a `true` algorithm on a 1-byte dataset). Wall time is whole-process, from spawn
//! to `wait4(2)`; CPU and peak RSS (`ru_maxrss`: the largest single process of the tree) come
//! from the child's `rusage`. Figures are medians; "added" is the median of the case minus
//! the median of bare; the in-toto/poex ratio is in-toto-run's added time over poex's.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write as _};
use std::os::raw::{c_int, c_long};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const SCRIPT: &str = r#"find "$1" -type f | sort | xargs cat | wc -c > "$2"/result.txt"#;
const ALG_SCRIPT: &str =
    "find \"$POEX_DATASETS\" -type f | sort | xargs cat | wc -c > /out/result.txt\n";

// ---------------------------------------------------------------------------------------
// wait4(2): std reaps children without their rusage.

#[repr(C)]
#[derive(Default)]
struct Timeval {
    sec: c_long,
    usec: c_long,
}

/// `struct rusage` on 64-bit Linux: two timevals, then 14 longs (ru_maxrss first, in KiB).
#[repr(C)]
#[derive(Default)]
struct Rusage {
    utime: Timeval,
    stime: Timeval,
    maxrss: c_long,
    rest: [c_long; 13],
}

#[allow(unsafe_code, reason = "wait4(2) from the C library std already links")]
unsafe extern "C" {
    fn wait4(pid: c_int, status: *mut c_int, options: c_int, rusage: *mut Rusage) -> c_int;
}

/// Waits for `pid` and returns its exit status and rusage.
#[allow(unsafe_code, reason = "wait4(2) with pointers to two locals")]
fn wait_child(pid: u32) -> Result<(ExitStatus, Rusage)> {
    let pid = c_int::try_from(pid)?;
    let mut status: c_int = 0;
    let mut usage = Rusage::default();
    loop {
        // SAFETY: both pointers are to live, writable locals of the right C layout.
        let r = unsafe { wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((ExitStatus::from_raw(status), usage));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("wait4");
        }
    }
}

#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
}

/// Spawns `cmd`, waits with `wait4`, fails (showing its stderr) unless it exits 0.
fn measure(cmd: &mut Command, stderr_file: &Path) -> Result<Sample> {
    let err = fs::File::create(stderr_file)?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(err);
    let t = Instant::now();
    let child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
    let (status, ru) = wait_child(child.id())?;
    let wall = t.elapsed().as_secs_f64();
    drop(child); // already reaped by wait4; dropping a Child does not wait
    if !status.success() {
        let text = fs::read_to_string(stderr_file).unwrap_or_default();
        bail!("{cmd:?} failed ({status}):\n{text}");
    }
    let tv = |t: &Timeval| t.sec as f64 + t.usec as f64 / 1e6;
    Ok(Sample {
        wall,
        cpu: tv(&ru.utime) + tv(&ru.stime),
        rss_kib: u64::try_from(ru.maxrss).unwrap_or(0),
    })
}

// ---------------------------------------------------------------------------------------
// Tools and data.

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn first_line(path: &Path) -> String {
    fs::read(path)
        .map(|b| {
            let end = b
                .iter()
                .position(|&c| c == b'\n')
                .unwrap_or(b.len())
                .min(200);
            String::from_utf8_lossy(&b[..end]).into_owned()
        })
        .unwrap_or_default()
}

/// The real in-toto-run entry point, not pyenv's bash shim (which adds ~50 ms per start).
fn find_in_toto_run() -> Result<PathBuf> {
    const HOW: &str = "install it with `pip install in-toto==3.1.0`, or point \
                       POEX_BENCH_IN_TOTO_RUN at its Python entry point";
    let found = match std::env::var_os("POEX_BENCH_IN_TOTO_RUN") {
        Some(p) => PathBuf::from(p),
        None => {
            on_path("in-toto-run").with_context(|| format!("in-toto-run is not on PATH: {HOW}"))?
        }
    };
    let mut path = found.clone();
    if first_line(&path).contains("bash") {
        // a pyenv shim: ask pyenv for the real script
        let out = Command::new("pyenv")
            .args(["which", "in-toto-run"])
            .stderr(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {
                path = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
            }
            _ => bail!(
                "{} is a shell shim and `pyenv which in-toto-run` failed: {HOW}",
                found.display()
            ),
        }
    }
    if !path.is_file() || !first_line(&path).contains("python") {
        bail!(
            "{} is not a Python entry point of in-toto-run: {HOW}",
            path.display()
        );
    }
    Ok(path)
}

/// Deterministic pseudo-random bytes (SplitMix64), so every run hashes the same data.
struct Bytes(u64);

impl Bytes {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

fn write_file(path: &Path, size: u64, rng: &mut Bytes) -> Result<()> {
    let mut f = BufWriter::new(fs::File::create(path)?);
    let mut buf = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB) as usize;
        rng.fill(&mut buf[..n]);
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.flush()?;
    Ok(())
}

struct Dataset {
    /// registry name and label
    name: String,
    label: String,
    path: PathBuf,
    bytes: u64,
    files: u64,
    rounds: usize,
}

fn make_file(root: &Path, name: &str, size: u64, rounds: usize) -> Result<Dataset> {
    let path = root.join(name);
    write_file(&path, size, &mut Bytes(size))?;
    Ok(Dataset {
        name: name.into(),
        label: format!("{} file", human(size)),
        path,
        bytes: size,
        files: 1,
        rounds,
    })
}

fn make_tree(root: &Path, name: &str, dirs: u64, per_dir: u64, rounds: usize) -> Result<Dataset> {
    let path = root.join(name);
    let mut rng = Bytes(42);
    for d in 0..dirs {
        let dir = path.join(format!("d{d:03}"));
        fs::create_dir_all(&dir)?;
        for f in 0..per_dir {
            write_file(&dir.join(format!("f{f:03}.bin")), 4096, &mut rng)?;
        }
    }
    let files = dirs * per_dir;
    Ok(Dataset {
        name: name.into(),
        label: format!("{} x 4 KiB files", thousands(files)),
        path,
        bytes: files * 4096,
        files,
        rounds,
    })
}

fn human(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Cases.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Bare,
    InToto,
    Exec,
    Run,
    /// `poex run` without a job cgroup (`POEX_CGROUP=none`): what the cgroup costs, in the
    /// same run.
    RunPerProcess,
}

const CASES: [Case; 5] = [
    Case::Bare,
    Case::InToto,
    Case::Exec,
    Case::Run,
    Case::RunPerProcess,
];

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Bare => "bare",
            Case::InToto => "in-toto-run",
            Case::Exec => "poex exec",
            Case::Run => "poex run",
            Case::RunPerProcess => "poex run, no cgroup",
        }
    }
}

struct Env {
    poex: PathBuf,
    in_toto_run: PathBuf,
    home: PathBuf,
    key: PathBuf,
    scratch: PathBuf,
    counter: std::cell::Cell<u64>,
}

impl Env {
    fn poex(&self) -> Command {
        let mut c = Command::new(&self.poex);
        c.arg("--home").arg(&self.home);
        c
    }

    fn setup(&self, args: &[&str]) -> Result<()> {
        let out = self.poex().args(args).output()?;
        if !out.status.success() {
            bail!(
                "poex {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// One timed run of `case`: `argv` is the command (for bare/in-toto/exec), `out` the
    /// output folder, `alg`/`ds` the registry names for `poex run`.
    fn once(&self, case: Case, command: &Command_, ds_path: Option<&Path>) -> Result<Sample> {
        let n = self.counter.get();
        self.counter.set(n + 1);
        let work = self.scratch.join("w").join(n.to_string());
        fs::create_dir_all(&work)?;
        let out = work.join("out");
        let argv: Vec<String> = match command {
            Command_::True => vec!["/usr/bin/true".into()],
            Command_::Read => vec![
                "sh".into(),
                "-c".into(),
                SCRIPT.into(),
                "sh".into(),
                ds_path.map(|p| p.display().to_string()).unwrap_or_default(),
                out.display().to_string(),
            ],
        };
        let mut cmd = match case {
            Case::Bare => {
                fs::create_dir(&out)?;
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
            Case::InToto => {
                fs::create_dir(&out)?;
                let mut c = Command::new(&self.in_toto_run);
                c.args(["--step-name", "s", "--signing-key"])
                    .arg(&self.key)
                    .args(["--run-timeout", "3600", "-d"])
                    .arg(&work);
                if let Some(ds) = ds_path {
                    c.arg("--materials").arg(ds).arg("--products").arg(&out);
                }
                c.arg("--");
                if *command == Command_::True {
                    c.arg("true");
                } else {
                    c.args(&argv);
                }
                c
            }
            Case::Exec => {
                let mut c = self.poex();
                c.args(["exec", "-q"]);
                if let Some(ds) = ds_path {
                    c.arg("--dataset").arg(ds);
                }
                c.arg("--out").arg(&out).arg("--").args(&argv);
                c
            }
            Case::Run | Case::RunPerProcess => {
                let (alg, ds) = match command {
                    Command_::True => ("noop", "tiny".to_string()),
                    Command_::Read => ("read", registry_name(ds_path)),
                };
                let mut c = self.poex();
                c.args(["run", "-q", "--algorithm", alg, "--dataset", &ds, "--out"])
                    .arg(&out);
                if case == Case::RunPerProcess {
                    c.env("POEX_CGROUP", "none");
                }
                c
            }
        };
        cmd.current_dir(&work);
        let s = measure(&mut cmd, &work.join("stderr.txt"))?;
        // sanity: the algorithm really read every byte
        if *command == Command_::Read {
            let result = match case {
                Case::Run | Case::RunPerProcess => out.join("results/result.txt"),
                _ => out.join("result.txt"),
            };
            let text = fs::read_to_string(&result)
                .with_context(|| format!("{}: no {}", case.name(), result.display()))?;
            if text.trim().is_empty() {
                bail!("{}: empty result", case.name());
            }
        }
        fs::remove_dir_all(&work)?;
        Ok(s)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Command_ {
    True,
    Read,
}

fn registry_name(ds: Option<&Path>) -> String {
    ds.and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs every case `rounds` times, interleaved, after one untimed warm-up of each.
fn interleaved(
    env: &Env,
    command: Command_,
    ds: Option<&Path>,
    rounds: usize,
) -> Result<Vec<Vec<Sample>>> {
    for case in CASES {
        env.once(case, &command, ds)?;
    }
    let mut samples = vec![Vec::new(); CASES.len()];
    for r in 0..rounds {
        for k in 0..CASES.len() {
            let i = (r + k) % CASES.len();
            samples[i].push(env.once(CASES[i], &command, ds)?);
        }
        eprint!(".");
    }
    eprintln!();
    Ok(samples)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Summary {
    wall: [f64; CASES.len()],
    cpu: [f64; CASES.len()],
    rss_mib: [f64; CASES.len()],
    /// median over rounds of (in-toto added) / (poex added), for exec and run
    pair_ratio: [f64; 2],
}

impl Summary {
    fn of(samples: &[Vec<Sample>]) -> Self {
        let med = |i: usize, f: fn(&Sample) -> f64| median(samples[i].iter().map(f).collect());
        let mut s = Summary {
            wall: [0.0; CASES.len()],
            cpu: [0.0; CASES.len()],
            rss_mib: [0.0; CASES.len()],
            pair_ratio: [0.0; 2],
        };
        for (i, case) in samples.iter().enumerate() {
            s.wall[i] = med(i, |x| x.wall);
            s.cpu[i] = med(i, |x| x.cpu);
            s.rss_mib[i] = case
                .iter()
                .map(|x| x.rss_kib as f64 / 1024.0)
                .fold(0.0, f64::max);
        }
        for (j, poex) in [2usize, 3].into_iter().enumerate() {
            let ratios = (0..samples[0].len())
                .map(|r| {
                    let bare = samples[0][r].wall;
                    (samples[1][r].wall - bare) / (samples[poex][r].wall - bare).max(1e-4)
                })
                .collect();
            s.pair_ratio[j] = median(ratios);
        }
        s
    }

    fn added(&self, i: usize) -> f64 {
        self.wall[i] - self.wall[0]
    }

    /// in-toto-run's added time over poex's (exec: i = 2, run: i = 3).
    fn ratio(&self, i: usize) -> f64 {
        self.added(1) / self.added(i).max(1e-4)
    }
}

// ---------------------------------------------------------------------------------------

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` and friends
    }
    let quick = std::env::var("POEX_BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty());
    let keep = std::env::var("POEX_BENCH_KEEP").is_ok_and(|v| v != "0" && !v.is_empty());
    let rounds: usize = match std::env::var("POEX_BENCH_ROUNDS") {
        Ok(v) => v.parse().context("POEX_BENCH_ROUNDS")?,
        Err(_) if quick => 3,
        Err(_) => 15,
    };
    let big_rounds = if quick {
        rounds
    } else {
        rounds.div_ceil(2).max(3)
    };
    let fixed_rounds = rounds * 2;

    // Refuse early, with a clear message, if a side of the comparison is missing.
    let in_toto_run = find_in_toto_run()?;
    if on_path("bwrap").is_none() {
        bail!(
            "bwrap (bubblewrap) is not on PATH: poex's sandbox needs it (apt-get install bubblewrap)"
        );
    }
    if on_path("openssl").is_none() {
        bail!("openssl is not on PATH: it makes in-toto-run's Ed25519 key");
    }
    let poex = PathBuf::from(env!("CARGO_BIN_EXE_poex"));

    let parent = std::env::var_os("POEX_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let dir = tempfile::Builder::new()
        .prefix("poex-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("scratch folder in {}", parent.display()))?;
    let scratch = dir.path().to_owned();
    eprintln!("scratch: {}", scratch.display());
    let load_start = fs::read_to_string("/proc/loadavg").unwrap_or_default();

    // Datasets.
    let data = scratch.join("data");
    fs::create_dir_all(&data)?;
    eprintln!("generating datasets");
    let datasets = if quick {
        vec![
            make_file(&data, "d1m", MIB, rounds)?,
            make_file(&data, "d8m", 8 * MIB, rounds)?,
            make_file(&data, "d64m", 64 * MIB, big_rounds)?,
            make_tree(&data, "d1k", 10, 100, rounds)?,
        ]
    } else {
        vec![
            make_file(&data, "d1m", MIB, rounds)?,
            make_file(&data, "d64m", 64 * MIB, rounds)?,
            make_file(&data, "d1g", GIB, big_rounds)?,
            make_tree(&data, "d10k", 100, 100, rounds)?,
        ]
    };
    let big = 2; // index of the largest single file
    let tree = 3;
    fs::write(data.join("tiny"), b"x")?;

    // Keys, home, published assets (setup, not timed).
    let key = scratch.join("key.pem");
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .status()?;
    if !st.success() {
        bail!("openssl genpkey failed");
    }
    let env = Env {
        poex,
        in_toto_run,
        home: scratch.join("home"),
        key,
        scratch: scratch.clone(),
        counter: 0.into(),
    };
    eprintln!("publishing (setup, not timed)");
    env.setup(&["init"])?;
    let alg = scratch.join("alg-read");
    fs::create_dir_all(&alg)?;
    fs::write(alg.join("alg.sh"), ALG_SCRIPT)?;
    let alg_s = alg.display().to_string();
    env.setup(&[
        "publish",
        "algorithm",
        &alg_s,
        "--name",
        "read",
        "--entrypoint",
        "sh alg.sh",
    ])?;
    let noop = scratch.join("alg-noop");
    fs::create_dir_all(&noop)?;
    fs::write(noop.join("README"), "runs /usr/bin/true\n")?;
    let noop_s = noop.display().to_string();
    env.setup(&[
        "publish",
        "algorithm",
        &noop_s,
        "--name",
        "noop",
        "--entrypoint",
        "/usr/bin/true",
    ])?;
    let tiny_s = data.join("tiny").display().to_string();
    env.setup(&[
        "publish", "dataset", &tiny_s, "--name", "tiny", "--allow", "noop",
    ])?;
    for ds in &datasets {
        let p = ds.path.display().to_string();
        env.setup(&[
            "publish", "dataset", &p, "--name", &ds.name, "--allow", "read",
        ])?;
    }

    // Measure.
    eprintln!("fixed cost: /usr/bin/true, {fixed_rounds} rounds");
    let fixed = Summary::of(&interleaved(&env, Command_::True, None, fixed_rounds)?);
    let mut results = Vec::new();
    for ds in &datasets {
        eprintln!("{}: {} rounds", ds.label, ds.rounds);
        let s = interleaved(&env, Command_::Read, Some(&ds.path), ds.rounds)?;
        results.push(Summary::of(&s));
    }
    let load_end = fs::read_to_string("/proc/loadavg").unwrap_or_default();

    // Report.
    let mut t = String::new();
    writeln!(
        t,
        "\n## poex run / poex exec vs in-toto-run ({})\n",
        if quick { "QUICK smoke run" } else { "full run" }
    )?;
    writeln!(
        t,
        "rounds: {rounds} per dataset, {big_rounds} for the largest file, {fixed_rounds} for the fixed cost; \
         load average at start {} / end {}\n",
        load_start
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_end
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )?;
    writeln!(
        t,
        "| dataset | case | wall median (s) | cpu median (s) | added vs bare (s) | peak RSS (MiB) | in-toto added / poex added |"
    )?;
    writeln!(t, "|---|---|---:|---:|---:|---:|---:|")?;
    let row = |t: &mut String, label: &str, s: &Summary| -> Result<()> {
        for (i, case) in CASES.into_iter().enumerate() {
            let added = if i == 0 {
                "—".to_string()
            } else {
                format!("{:+.3}", s.added(i))
            };
            let ratio = match i {
                2 | 3 => format!(
                    "{:.1}x (per-round median {:.1}x)",
                    s.ratio(i),
                    s.pair_ratio[i - 2]
                ),
                _ => String::new(),
            };
            writeln!(
                t,
                "| {label} | {} | {:.3} | {:.3} | {added} | {:.1} | {ratio} |",
                case.name(),
                s.wall[i],
                s.cpu[i],
                s.rss_mib[i],
            )?;
        }
        Ok(())
    };
    row(&mut t, "fixed (`true`)", &fixed)?;
    for (ds, s) in datasets.iter().zip(&results) {
        row(&mut t, &ds.label, s)?;
    }

    // Per-GiB and throughput figures.
    let b = &datasets[big];
    let sb = &results[big];
    let s1 = &results[0];
    let gib = b.bytes as f64 / GIB as f64;
    writeln!(
        t,
        "\nadded seconds per GiB ({} file, added / size):",
        human(b.bytes)
    )?;
    for (i, case) in CASES.iter().enumerate().skip(1) {
        writeln!(t, "- {}: {:.3} s/GiB", case.name(), sb.added(i) / gib)?;
    }
    let delta_bytes = (b.bytes - datasets[0].bytes) as f64;
    let rate = |i: usize| delta_bytes / (sb.added(i) - s1.added(i)).max(1e-6) / 1e9;
    writeln!(
        t,
        "\nmarginal rate of what each wrapper adds ((size {} - 1 MiB) / (added {} - added 1 MiB)):",
        human(b.bytes),
        human(b.bytes)
    )?;
    for (i, case) in CASES.iter().enumerate().skip(1) {
        writeln!(t, "- {}: {:.2} GB/s", case.name(), rate(i))?;
    }

    // Goals.
    let mut goals: Vec<(String, String, bool)> = Vec::new();
    let fx_exec = fixed.added(2);
    let fx_run = fixed.added(3);
    goals.push((
        "fixed overhead <= 20 ms".into(),
        format!("exec {:.1} ms, run {:.1} ms", fx_exec * 1e3, fx_run * 1e3),
        fx_exec <= 0.020 && fx_run <= 0.020,
    ));
    goals.push((
        "the job cgroup keeps poex run within the 20 ms fixed overhead".into(),
        format!(
            "run {:.1} ms with the cgroup, {:.1} ms without: the cgroup costs {:+.1} ms",
            fx_run * 1e3,
            fixed.added(4) * 1e3,
            (fixed.wall[3] - fixed.wall[4]) * 1e3
        ),
        fx_run <= 0.020,
    ));
    let run_per_gib = sb.added(3) / gib;
    goals.push((
        "poex run <= 0.35 s added per GiB".into(),
        format!("{run_per_gib:.3} s/GiB ({} file)", human(b.bytes)),
        run_per_gib <= 0.35,
    ));
    let exec_rate = rate(2);
    goals.push((
        "poex exec SHA-256 >= 1.5 GB/s".into(),
        format!(
            "{exec_rate:.2} GB/s marginal; {:.2} GB/s over all added time",
            b.bytes as f64 / sb.added(2).max(1e-6) / 1e9
        ),
        exec_rate >= 1.5,
    ));
    let st = &results[tree];
    goals.push((
        format!(
            "<= 0.15 s added for {} files",
            thousands(datasets[tree].files)
        ),
        format!("exec {:.3} s, run {:.3} s", st.added(2), st.added(3)),
        st.added(2) <= 0.15 && st.added(3) <= 0.15,
    ));
    let mut worst = f64::INFINITY;
    let mut ratios = Vec::new();
    for (ds, s) in std::iter::once(("fixed", &fixed))
        .chain(datasets.iter().map(|d| d.name.as_str()).zip(results.iter()))
    {
        let (re, rr) = (s.ratio(2), s.ratio(3));
        worst = worst.min(re).min(rr);
        ratios.push(format!("{ds} {re:.1}/{rr:.1}"));
    }
    goals.push((
        ">= 4x less overhead than in-toto-run, every size".into(),
        format!("exec/run: {}; worst {worst:.1}x", ratios.join(", ")),
        worst >= 4.0,
    ));
    // Flat: the peak at the largest file (16x the 64 MiB one, 8x in the quick run) is at
    // most 1.25 x the peak at the next size + 4 MiB. Growth between 1 MiB and 64 MiB is
    // fixed-size read buffers filling up, which the largest file would push further if
    // memory grew with the data.
    let (small, next) = (0, 1);
    let flat = |i: usize| {
        let v: Vec<f64> = results.iter().map(|s| s.rss_mib[i]).collect();
        let ok = v[big] <= v[next] * 1.25 + 4.0;
        (
            format!(
                "{:.1} / {:.1} / {:.1} / {:.1} MiB",
                v[small], v[next], v[big], v[tree]
            ),
            ok,
        )
    };
    let (ef, eok) = flat(2);
    let (rf, rok) = flat(3);
    goals.push((
        format!(
            "peak memory flat in dataset size ({} / {} / {} / {} files; largest <= 1.25 x next + 4 MiB)",
            human(datasets[small].bytes),
            human(datasets[next].bytes),
            human(datasets[big].bytes),
            thousands(datasets[tree].files),
        ),
        format!("exec {ef}; run {rf}"),
        eok && rok,
    ));
    writeln!(t, "\n| goal | measured | met |")?;
    writeln!(t, "|---|---|---|")?;
    for (g, m, ok) in &goals {
        writeln!(t, "| {g} | {m} | {} |", if *ok { "yes" } else { "**no**" })?;
    }
    print!("{t}");

    let readme = readme_table(
        &fixed,
        [
            (&datasets[big].label, &results[big]),
            (&datasets[tree].label, &results[tree]),
        ],
    )?;
    print!("\nREADME.md's table:\n\n{readme}");
    if std::env::var("POEX_BENCH_WRITE_DOCS").is_ok_and(|v| v == "1") {
        if quick {
            bail!(
                "POEX_BENCH_WRITE_DOCS=1 needs a full run: a smoke run's figures do not go in the docs"
            );
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(&root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let date = time::OffsetDateTime::now_utc().date();
        let body = t.trim_start().split_once('\n').map_or("", |(_, rest)| rest);
        let table = format!(
            "Written by `POEX_BENCH_WRITE_DOCS=1 cargo bench -p poex-cli --bench overhead` on {date}, \
             poex at commit `{commit}`.\n{body}"
        );
        write_between(&root.join("docs/performance.md"), &table)?;
        write_between(&root.join("README.md"), &readme)?;
        eprintln!("wrote the figures into README.md and docs/performance.md");
    }

    if keep {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    } else {
        // the sandbox may leave read-only folders; tempfile's drop removes the rest
        drop(dir);
    }
    Ok(())
}

/// README.md's summary: what each wrapper adds at the fixed cost and at two sizes.
fn readme_table(fixed: &Summary, sizes: [(&String, &Summary); 2]) -> Result<String> {
    let mut t = String::new();
    writeln!(
        t,
        "| added over the bare command | in-toto-run | poex exec | poex run |"
    )?;
    writeln!(t, "|---|---:|---:|---:|")?;
    writeln!(
        t,
        "| fixed (`true`) | {:.3} s | {:.3} s | {:.3} s ({:.3} s without the job cgroup) |",
        fixed.added(1),
        fixed.added(2),
        fixed.added(3),
        fixed.added(4)
    )?;
    for (label, s) in sizes {
        writeln!(
            t,
            "| {label} | {:.3} s | {:.3} s | {:.3} s |",
            s.added(1),
            s.added(2),
            s.added(3)
        )?;
    }
    Ok(t)
}

/// Replaces what stands between `<!-- bench:overhead -->` and `<!-- /bench:overhead -->` in
/// `path` (written whole to a temporary file, then renamed over it).
fn write_between(path: &Path, body: &str) -> Result<()> {
    const BEGIN: &str = "<!-- bench:overhead -->\n";
    const END: &str = "<!-- /bench:overhead -->";
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        bail!("{} has no {BEGIN:?} ... {END:?} markers", path.display());
    };
    let mut out = String::with_capacity(text.len() + body.len());
    out.push_str(&text[..b + BEGIN.len()]);
    out.push_str(body);
    out.push_str(&text[e..]);
    let tmp = path.with_extension("md.tmp");
    fs::write(&tmp, out)?;
    fs::rename(&tmp, path)?;
    Ok(())
}
