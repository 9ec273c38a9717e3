//! poex-wasm: WebAssembly jobs that give the same bytes anywhere.
//!
//! A module runs in wasmtime with WASI preview 1 and nothing else of the host: its inputs are
//! folders preopened read-only, one output folder is writable, there is no network and there
//! are no threads. What could differ between two machines or two runs is fixed:
//!
//! | source of difference | what this crate does |
//! |---|---|
//! | floating-point NaN bits | Cranelift canonicalizes every NaN ([`engine`]) |
//! | relaxed SIMD | the deterministic lowering of every relaxed instruction |
//! | threads, shared memory | not compiled in (wasmtime without `threads`) |
//! | clocks | the wall clock and the monotonic clock return [`Job::time_ns`], always |
//! | randomness | `random_get` draws from a SHA-256 counter stream of [`Job::seed`] ([`determinism::SeededRandom`]) |
//! | environment, arguments, working directory | only what [`Job`] gives, never the host's |
//! | CPU time | counted in fuel (one unit per instruction, wasmtime's metering), not in seconds: a fuel limit ends a job at the same instruction everywhere |
//! | memory | a fixed limit in bytes; `memory.grow` past it returns -1, as the spec allows |
//! | stack | a fixed wasm stack budget ([`STACK_BYTES`]) |
//!
//! The engine's name, version and a digest of this configuration ([`config_digest`]) belong in
//! a receipt: fuel counts and stack depth are the same for the same engine version and
//! configuration, not across versions.
//!
//! [`Wasm`] is the job pipeline's runner for WebAssembly algorithms (`poex_exec::runner::Runner`).
//!
//! What it does **not** do (yet): choose itself from a published algorithm's runtime (the CLI
//! and node still run every job with bubblewrap), re-execute a bundle, or cache compiled
//! modules; see docs/wasm.md.
#![forbid(unsafe_code)]

pub mod determinism;
pub mod engine;
pub mod run;
pub mod runner;

pub use engine::{ENGINE, ENGINE_VERSION, STACK_BYTES, config_digest, engine};
pub use run::{End, Job, Run, WasmError, run};
pub use runner::Wasm;
