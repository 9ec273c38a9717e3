//! The one engine configuration poex runs modules with, and its digest.

use sha2::{Digest as _, Sha256};

/// The engine's name, as receipts record it.
pub const ENGINE: &str = "wasmtime";
/// The engine's version (pinned in Cargo.toml: fuel counts belong to one version).
pub const ENGINE_VERSION: &str = "48.0.8";
/// The wasm stack budget, in bytes: a recursion that needs more traps (stack overflow) at the
/// same depth on every machine running this engine version.
pub const STACK_BYTES: usize = 1 << 20;

/// Every setting that can change what a module computes or where it stops, in the order they
/// are applied. [`config_digest`] is the SHA-256 of these lines; change one, and the digest (and
/// so the receipt) says so.
const SETTINGS: &[&str] = &[
    "consume_fuel=true",
    "cranelift_nan_canonicalization=true",
    "wasm_relaxed_simd=true",
    "relaxed_simd_deterministic=true",
    "threads=not compiled in",
    "max_wasm_stack=1048576",
    "epoch_interruption=true (wall time and cancellation only: they end a job, never change it)",
    "memory.grow past the limit returns -1",
    "clocks=fixed to the job's time",
    "random=SHA-256(seed || counter)",
    "wasi=preview 1; inputs read-only, one output folder, no sockets",
];

/// The deterministic engine.
pub fn engine() -> wasmtime::Result<wasmtime::Engine> {
    configured(true)
}

/// The same engine without fuel metering: only to measure what metering costs
/// (`cargo bench -p poex-wasm`). A job run in it has no CPU limit, so [`crate::run`] must not
/// be given it for a job.
pub fn unmetered() -> wasmtime::Result<wasmtime::Engine> {
    configured(false)
}

fn configured(fuel: bool) -> wasmtime::Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config
        .consume_fuel(fuel)
        .cranelift_nan_canonicalization(true)
        .wasm_relaxed_simd(true)
        .relaxed_simd_deterministic(true)
        .max_wasm_stack(STACK_BYTES)
        .epoch_interruption(true);
    wasmtime::Engine::new(&config)
}

/// `sha256:<hex>` of the engine, its version and [`SETTINGS`]: what a receipt records so that
/// a re-execution can tell it used the same configuration.
pub fn config_digest() -> String {
    let mut h = Sha256::new();
    h.update(format!("{ENGINE} {ENGINE_VERSION}\n"));
    for s in SETTINGS {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_name_the_stack_budget_the_engine_uses() {
        assert!(SETTINGS.contains(&format!("max_wasm_stack={STACK_BYTES}").as_str()));
        assert!(config_digest().starts_with("sha256:"));
        assert!(engine().is_ok());
    }
}
