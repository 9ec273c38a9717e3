//! [`Wasm`]: the job pipeline's [`Runner`] for WebAssembly algorithms.
//!
//! A [`Spec`] is turned into a [`Job`]: `argv[0]` names the module (a read-only mount, e.g.
//! `/algo/main.wasm`); folder mounts are preopened read-only where the spec puts them; a file
//! mount (a single-file dataset `/data/census.csv`) is hard-linked (copied when the store is on
//! another file system) into a private folder preopened as its parent (`/data`), because WASI
//! preopens only folders. The output folder is preopened writable at `output_at`.
//!
//! Limits: the CPU-time limit becomes fuel ([`FUEL_PER_CPU_SECOND`] per second), so a job
//! stops at the same instruction everywhere (`cpu-time-exceeded`); memory is the module's
//! linear memory; the wall-time limit and cancellation stop the module at the engine's next
//! epoch tick (every [`TICK`]). The seed of its randomness is derived from what the request
//! decides ([`seed_of`]); both clocks read the Unix epoch.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use poex_exec::runner::Runner;
use poex_exec::sandbox::{
    Access, Accounting, Outcome, Profile, ProfileMount, SandboxError, Spec, Termination, Usage,
};
use sha2::{Digest as _, Sha256};

use crate::run::{End, Job, run};

/// Fuel per second of a CPU-time limit: about a second of a modern core's instructions.
pub const FUEL_PER_CPU_SECOND: u64 = 1_000_000_000;
/// How often the engine's epoch ticks while a job runs (the wall-time and cancel latency).
pub const TICK: Duration = Duration::from_millis(20);

/// Runs WebAssembly modules in poex's deterministic engine.
pub struct Wasm {
    engine: wasmtime::Engine,
}

impl Wasm {
    /// The runner, with its engine ([`crate::engine`]).
    pub fn new() -> Result<Wasm, SandboxError> {
        let engine = crate::engine().map_err(|e| setup(format!("{e:#}")))?;
        Ok(Wasm { engine })
    }
}

/// The seed of a job's randomness: SHA-256 of `poex-wasm seed v1`, then the arguments, the
/// environment, the working directory and each mount's path inside the job, each followed by
/// a zero byte. Two runs of the same request on any two machines get the same seed.
pub fn seed_of(spec: &Spec) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"poex-wasm seed v1\0");
    let mut part = |s: &str| {
        h.update(s.as_bytes());
        h.update([0]);
    };
    for a in &spec.argv {
        part(a);
    }
    for (k, v) in &spec.env {
        part(k);
        part(v);
    }
    part(&spec.workdir.to_string_lossy());
    for m in &spec.read_only {
        part(&m.sandbox.to_string_lossy());
    }
    part(&spec.output_at.to_string_lossy());
    h.finalize().into()
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn setup(what: impl std::fmt::Display) -> SandboxError {
    SandboxError::Runner {
        runner: "wasm",
        message: what.to_string(),
    }
}

/// Where each mount goes: folders as they are, files in private folders by parent.
fn preopens(spec: &Spec, staging: &Path) -> Result<Vec<(PathBuf, String)>, SandboxError> {
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    let mut parents: Vec<(PathBuf, PathBuf)> = Vec::new();
    for m in &spec.read_only {
        if m.host.is_dir() {
            out.push((m.host.clone(), m.sandbox.to_string_lossy().into_owned()));
            continue;
        }
        let (Some(parent), Some(name)) = (m.sandbox.parent(), m.sandbox.file_name()) else {
            return Err(setup(format!(
                "{} cannot be given to a WebAssembly module",
                m.sandbox.display()
            )));
        };
        let dir = match parents.iter().find(|(p, _)| p == parent) {
            Some((_, d)) => d.clone(),
            None => {
                let d = staging.join(parents.len().to_string());
                std::fs::create_dir(&d).map_err(|e| setup(format!("{}: {e}", d.display())))?;
                parents.push((parent.to_owned(), d.clone()));
                out.push((d.clone(), parent.to_string_lossy().into_owned()));
                d
            }
        };
        let link = dir.join(name);
        if std::fs::hard_link(&m.host, &link).is_err() {
            std::fs::copy(&m.host, &link)
                .map_err(|e| setup(format!("{}: {e}", m.host.display())))?;
        }
    }
    Ok(out)
}

impl Runner for Wasm {
    fn run(&self, spec: &Spec) -> Result<Outcome, SandboxError> {
        let program = spec
            .argv
            .first()
            .ok_or_else(|| setup("no module to run (empty argv)"))?;
        let program = Path::new(program);
        let program = if program.is_absolute() {
            program.to_owned()
        } else {
            spec.workdir.join(program)
        };
        let module_host = spec
            .read_only
            .iter()
            .find(|m| m.sandbox == program)
            .map(|m| m.host.clone())
            .ok_or_else(|| {
                setup(format!(
                    "the module {} is not among the job's read-only inputs",
                    program.display()
                ))
            })?;
        let module = std::fs::read(&module_host)
            .map_err(|e| setup(format!("{}: {e}", module_host.display())))?;
        let staging_parent = spec.output.parent().unwrap_or(Path::new("/tmp"));
        let staging = tempfile::Builder::new()
            .prefix(".poex-wasm-inputs-")
            .tempdir_in(staging_parent)
            .or_else(|_| tempfile::tempdir())
            .map_err(|e| setup(format!("a folder for the module's inputs: {e}")))?;
        let inputs = preopens(spec, staging.path())?;
        let limits = &spec.limits;
        let stop = Arc::new(AtomicBool::new(false));
        let job = Job {
            module,
            args: spec.argv.clone(),
            env: spec.env.clone(),
            inputs,
            output: (
                spec.output.clone(),
                spec.output_at.to_string_lossy().into_owned(),
            ),
            fuel: u64::try_from(limits.cpu_time.as_millis())
                .unwrap_or(u64::MAX / FUEL_PER_CPU_SECOND)
                .saturating_mul(FUEL_PER_CPU_SECOND / 1000),
            memory_bytes: limits.memory_bytes,
            log_bytes: usize::try_from(limits.log_bytes).unwrap_or(usize::MAX),
            time_ns: 0,
            seed: seed_of(spec),
            stop: Some(stop.clone()),
        };
        let start = Instant::now();
        let done = Arc::new(AtomicBool::new(false));
        let wall_exceeded = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = self.engine.clone();
            let (done, stop, wall_exceeded) = (done.clone(), stop.clone(), wall_exceeded.clone());
            let cancel = spec.cancel.clone();
            let wall = limits.wall_time;
            std::thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    std::thread::sleep(TICK);
                    if start.elapsed() >= wall {
                        wall_exceeded.store(true, Ordering::Release);
                        stop.store(true, Ordering::Release);
                    }
                    if cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                        stop.store(true, Ordering::Release);
                    }
                    engine.increment_epoch();
                }
            })
        };
        // The module runs on this thread alone: its CPU clock is the job's CPU time.
        let cpu_before = thread_cpu();
        let result = run(&self.engine, &job);
        let cpu = thread_cpu().saturating_sub(cpu_before);
        done.store(true, Ordering::Release);
        let _ = ticker.join();
        let wall = start.elapsed();
        drop(staging);
        let result = result.map_err(|e| setup(e.to_string()))?;
        let mut log = result.log;
        let termination = match result.end {
            End::Exited(code) => Termination::Exited(code),
            End::OutOfFuel => Termination::CpuTimeExceeded,
            End::Interrupted if wall_exceeded.load(Ordering::Acquire) => {
                Termination::WallTimeExceeded
            }
            End::Interrupted => Termination::Cancelled,
            End::Trapped(message) => {
                log.extend_from_slice(
                    format!("\npoex: the module trapped: {message}\n").as_bytes(),
                );
                Termination::Trapped
            }
        };
        let out = poex_exec::outdir::measure(&spec.output);
        let termination = if termination.success()
            && (out.bytes > limits.output_bytes
                || out.entries > limits.output_files
                || out.too_deep)
        {
            Termination::OutputLimitExceeded
        } else {
            termination
        };
        let log_cap = usize::try_from(limits.log_bytes).unwrap_or(usize::MAX);
        let total = log.len() as u64;
        log.truncate(log_cap);
        let mut mounts: Vec<ProfileMount> = spec
            .read_only
            .iter()
            .map(|m| ProfileMount::new(m.sandbox.to_string_lossy(), "input", Access::Ro))
            .collect();
        mounts.push(ProfileMount::new(
            spec.output_at.to_string_lossy(),
            "output",
            Access::Rw,
        ));
        let profile = Profile::in_process(
            format!(
                "{} {} (WASI preview 1; deterministic configuration {})",
                crate::ENGINE,
                crate::ENGINE_VERSION,
                crate::config_digest()
            ),
            "none (no sockets)".into(),
            "none needed: the module reaches the host only through WASI preview 1".into(),
            mounts,
            limits.clone(),
            spec.env.iter().map(|(k, _)| k.clone()).collect(),
            Accounting::Engine,
        );
        let usage = Usage {
            accounting: Accounting::Engine,
            // The thread's clock does not split user and system time: all of it is shown as
            // user time (WASI calls are the only system time a module causes).
            user_cpu: cpu,
            wall,
            output_bytes: out.bytes,
            output_files: out.files,
            output_entries: out.entries,
            output_too_deep: out.too_deep,
            log_bytes: total,
            fuel: Some(result.fuel_used),
            ..Usage::default()
        };
        let truncated = total > log.len() as u64;
        Ok(Outcome::new(termination, usage, log, truncated, profile))
    }
}
