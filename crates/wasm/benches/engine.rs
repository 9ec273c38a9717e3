//! What the deterministic configuration costs, measured in one run:
//!
//! ```text
//! cargo bench -p poex-wasm --bench engine
//! ```
//!
//! 1. compute: the same loop (an xorshift over `n` rounds, summed) natively in Rust, in
//!    WebAssembly without fuel, and in WebAssembly with fuel (poex's engine); ratios to native
//!    and fuel on / off;
//! 2. compile: turning the module's text into machine code (WAT parse + Cranelift), cold,
//!    the fixed cost every run pays until compiled modules are cached.
//!
//! Medians of `POEX_WASM_ROUNDS` (default 7) rounds; `POEX_WASM_N` (default 100,000,000) loop
//! rounds. The figures go to docs/performance.md.
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark binary: any failure should stop it"
)]

use std::hint::black_box;
use std::time::Instant;

use wasmtime::{Instance, Module, Store};

const LOOP: &str = r#"(module
  (func (export "run") (param $n i64) (result i64)
    (local $x i64) (local $sum i64) (local $i i64)
    (local.set $x (i64.const 88172645463325252))
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (local.set $sum (i64.add (local.get $sum) (local.get $x)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $sum)))"#;

fn native(n: u64) -> u64 {
    let mut x: u64 = 88_172_645_463_325_252;
    let mut sum: u64 = 0;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum = sum.wrapping_add(x);
    }
    sum
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds for one call of `run(n)` in `engine` (compiled beforehand), and the result.
fn wasm(engine: &wasmtime::Engine, module: &Module, n: u64, fuel: bool) -> (f64, u64) {
    let mut store = Store::new(engine, ());
    // Nobody ticks the epoch here; the checks the configuration compiles in stay, as in a job.
    store.set_epoch_deadline(1 << 40);
    if fuel {
        store.set_fuel(u64::MAX).unwrap();
    }
    let instance = Instance::new(&mut store, module, &[]).unwrap();
    let run = instance
        .get_typed_func::<i64, i64>(&mut store, "run")
        .unwrap();
    let t = Instant::now();
    let sum = run.call(&mut store, n as i64).unwrap();
    (t.elapsed().as_secs_f64(), sum as u64)
}

fn main() {
    let rounds = env("POEX_WASM_ROUNDS", 7) as usize;
    let n = env("POEX_WASM_N", 100_000_000);
    let metered = poex_wasm::engine().unwrap();
    let unmetered = poex_wasm::engine::unmetered().unwrap();
    let mut compile = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(Module::new(&metered, LOOP).unwrap());
        compile.push(t.elapsed().as_secs_f64());
    }
    let m_metered = Module::new(&metered, LOOP).unwrap();
    let m_unmetered = Module::new(&unmetered, LOOP).unwrap();
    let want = native(n);
    let (mut nat, mut off, mut on) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        assert_eq!(black_box(native(black_box(n))), want);
        nat.push(t.elapsed().as_secs_f64());
        let (s, sum) = wasm(&unmetered, &m_unmetered, n, false);
        assert_eq!(sum, want);
        off.push(s);
        let (s, sum) = wasm(&metered, &m_metered, n, true);
        assert_eq!(sum, want);
        on.push(s);
    }
    let (nat, off, on) = (median(nat), median(off), median(on));
    println!(
        "poex-wasm engine bench: wasmtime {}, {rounds} rounds, n = {n}",
        poex_wasm::ENGINE_VERSION
    );
    println!();
    println!("1. compute (xorshift loop, median seconds)");
    println!("   native Rust                 {nat:8.3} s");
    println!(
        "   wasm, no fuel               {off:8.3} s   {:.2}x native",
        off / nat
    );
    println!(
        "   wasm, fuel (poex's engine)  {on:8.3} s   {:.2}x native, fuel costs {:.2}x (goal: within 1.5x of native: {})",
        on / nat,
        on / off,
        if on / nat <= 1.5 { "met" } else { "MISSED" }
    );
    println!();
    println!(
        "2. compile the module (WAT parse + Cranelift), cold: median {:.1} ms",
        median(compile) * 1e3
    );
}
