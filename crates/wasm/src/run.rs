//! Running one module: [`Job`] in, [`Run`] out.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::{
    Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::determinism::{FixedClock, SeededRandom};

/// Everything a module gets: its bytes, arguments, environment, folders, limits, and the
/// values that stand in for the clock and for chance.
#[derive(Clone, Debug)]
pub struct Job {
    /// The module: binary WebAssembly or its text format (WAT).
    pub module: Vec<u8>,
    /// `argv`, the program name first.
    pub args: Vec<String>,
    /// The environment, exactly.
    pub env: Vec<(String, String)>,
    /// Host folders the module reads, and where it sees them (`/data/census`).
    pub inputs: Vec<(PathBuf, String)>,
    /// The host folder the module writes, and where it sees it (`/out`).
    pub output: (PathBuf, String),
    /// Fuel the module may burn (about one unit per instruction).
    pub fuel: u64,
    /// Bytes of linear memory (all memories together) the module may have.
    pub memory_bytes: u64,
    /// The most bytes of stdout and stderr kept; writing more ends the module.
    pub log_bytes: usize,
    /// What both clocks read, in nanoseconds.
    pub time_ns: u64,
    /// The seed of `random_get`'s bytes.
    pub seed: [u8; 32],
    /// Set to stop the module (wall time, cancellation): it ends [`End::Interrupted`] at the
    /// engine's next epoch tick, which whoever sets it must then cause
    /// ([`Engine::increment_epoch`]). Never part of what the module computes.
    pub stop: Option<Arc<AtomicBool>>,
}

/// How a module ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// `proc_exit(code)`, or 0 when `_start` returned.
    Exited(i32),
    /// The fuel ran out: the job's CPU limit.
    OutOfFuel,
    /// The engine's epoch moved past the job's deadline: someone called
    /// [`Engine::increment_epoch`] (the runner does for the wall-time limit and cancellation).
    Interrupted,
    /// The module trapped (unreachable, out-of-bounds access, stack overflow, a log past its
    /// limit, ...): the engine's description.
    Trapped(String),
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Run {
    /// How it ended.
    pub end: End,
    /// Fuel burnt: the same for the same module, inputs and job on every machine running this
    /// engine version and configuration.
    pub fuel_used: u64,
    /// stdout and stderr, interleaved as written.
    pub log: Vec<u8>,
}

/// The module could not be run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WasmError {
    /// The bytes are not a valid module (or WAT that does not parse).
    #[error("not a WebAssembly module: {0}")]
    Module(String),
    /// A folder could not be given to the module.
    #[error("{path}: {reason}")]
    Folder {
        /// The host folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The module asks for imports WASI preview 1 does not have, or has no `_start`.
    #[error("the module cannot be started: {0}")]
    Link(String),
    /// The engine failed.
    #[error("wasmtime: {0}")]
    Engine(String),
}

struct State {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// Runs `job` in `engine` (made by [`crate::engine`]) until it ends.
pub fn run(engine: &Engine, job: &Job) -> Result<Run, WasmError> {
    let module =
        Module::new(engine, &job.module).map_err(|e| WasmError::Module(format!("{e:#}")))?;
    let log = MemoryOutputPipe::new(job.log_bytes);
    let mut wasi = WasiCtxBuilder::new();
    wasi.args(&job.args)
        .envs(&job.env)
        .stdout(log.clone())
        .stderr(log.clone())
        .wall_clock(FixedClock {
            time_ns: job.time_ns,
        })
        .monotonic_clock(FixedClock {
            time_ns: job.time_ns,
        })
        .secure_random(SeededRandom::new(job.seed))
        .insecure_random(SeededRandom::new(job.seed))
        .insecure_random_seed(u128::from_le_bytes(
            job.seed[..16].try_into().unwrap_or([0; 16]),
        ))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    for (host, guest) in &job.inputs {
        wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
            .map_err(|e| WasmError::Folder {
                path: host.clone(),
                reason: format!("{e:#}"),
            })?;
    }
    let (out_host, out_guest) = &job.output;
    wasi.preopened_dir(out_host, out_guest, FsPerms::ReadWrite)
        .map_err(|e| WasmError::Folder {
            path: out_host.clone(),
            reason: format!("{e:#}"),
        })?;
    let limits = StoreLimitsBuilder::new()
        .memory_size(usize::try_from(job.memory_bytes).unwrap_or(usize::MAX))
        .instances(1)
        .build();
    let mut store = Store::new(
        engine,
        State {
            wasi: wasi.build_p1(),
            limits,
        },
    );
    store.limiter(|s| &mut s.limits);
    // Every tick of the engine's epoch (any job's runner may cause one) asks whether this job
    // must stop; otherwise it goes on, unchanged.
    store.set_epoch_deadline(1);
    let stop = job.stop.clone();
    store.epoch_deadline_callback(move |_| {
        if stop.as_ref().is_some_and(|s| s.load(Ordering::Acquire)) {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Continue(1))
        }
    });
    store
        .set_fuel(job.fuel)
        .map_err(|e| WasmError::Engine(format!("{e:#}")))?;
    let mut linker: Linker<State> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s| &mut s.wasi)
        .map_err(|e| WasmError::Engine(format!("{e:#}")))?;
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| WasmError::Link(format!("{e:#}")))?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| WasmError::Link(format!("{e:#}")))?;
    let end = match start.call(&mut store, ()) {
        Ok(()) => End::Exited(0),
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                End::Exited(exit.0)
            } else if e.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
                End::OutOfFuel
            } else if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                End::Interrupted
            } else {
                End::Trapped(format!("{e:#}"))
            }
        }
    };
    let left = store.get_fuel().unwrap_or(0);
    drop(store);
    Ok(Run {
        end,
        fuel_used: job.fuel.saturating_sub(left),
        log: log.contents().to_vec(),
    })
}
