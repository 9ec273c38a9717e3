//! Modules written in WAT against the real engine and WASI preview 1: what a module can and
//! cannot reach, and that what it computes does not depend on the run.
//!
//! File descriptors: 0-2 are stdio; the preopens follow in order, so with one input folder it
//! is fd 3 (`/data`) and the output folder fd 4 (`/out`).
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::path::Path;

use poex_wasm::{End, Job, run};
use sha2::{Digest as _, Sha256};

const WASI: &str = r#"
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
"#;

/// A module with the WASI imports, one page of memory, `data` segments and a `_start` body.
fn module(data: &str, body: &str) -> Vec<u8> {
    format!(
        "(module {WASI} (memory (export \"memory\") 1) {data} (func (export \"_start\") {body}))"
    )
    .into_bytes()
}

fn job(module: Vec<u8>, data: &Path, out: &Path) -> Job {
    Job {
        module,
        args: vec!["job.wasm".into()],
        env: vec![],
        inputs: vec![(data.to_owned(), "/data".into())],
        output: (out.to_owned(), "/out".into()),
        fuel: 10_000_000,
        memory_bytes: 16 << 20,
        log_bytes: 1 << 16,
        time_ns: 1_700_000_000_000_000_000,
        seed: [9; 32],
        stop: None,
    }
}

struct Dirs {
    _t: tempfile::TempDir,
    data: std::path::PathBuf,
    out: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    let out = t.path().join("out");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(data.join("in.txt"), b"hello from the dataset\n").unwrap();
    std::fs::write(t.path().join("secret"), b"not yours").unwrap();
    Dirs { _t: t, data, out }
}

/// Opens `path` (at memory 0, `len` bytes) under fd `dir` with `oflags` and `rights`; exits
/// with the errno when it fails, else leaves the new fd at memory 96.
fn open(dir: i32, len: i32, oflags: i32, rights: i64) -> String {
    format!(
        "(local.set $e (call $path_open (i32.const {dir}) (i32.const 0) (i32.const 0) \
         (i32.const {len}) (i32.const {oflags}) (i64.const {rights}) (i64.const 0) (i32.const 0) \
         (i32.const 96)))
         (if (local.get $e) (then (call $exit (local.get $e))))"
    )
}

#[test]
fn a_module_reads_its_input_and_writes_its_output() {
    let d = dirs();
    // Read in.txt (into memory 200, up to 100 bytes), write it to /out/copy.txt.
    let body = format!(
        "(local $e i32) (local $n i32)
         {}
         (i32.store (i32.const 100) (i32.const 200)) (i32.store (i32.const 104) (i32.const 100))
         (drop (call $fd_read (i32.load (i32.const 96)) (i32.const 100) (i32.const 1) (i32.const 108)))
         (local.set $n (i32.load (i32.const 108)))
         (memory.copy (i32.const 0) (i32.const 50) (i32.const 8))
         {}
         (i32.store (i32.const 104) (local.get $n))
         (drop (call $fd_write (i32.load (i32.const 96)) (i32.const 100) (i32.const 1) (i32.const 108)))",
        open(3, 6, 0, 2),
        open(4, 8, 9, 64),
    );
    let data = r#"(data (i32.const 0) "in.txt") (data (i32.const 50) "copy.txt")"#;
    let engine = poex_wasm::engine().unwrap();
    let r = run(&engine, &job(module(data, &body), &d.data, &d.out)).unwrap();
    assert_eq!(r.end, End::Exited(0), "{}", String::from_utf8_lossy(&r.log));
    assert_eq!(
        std::fs::read(d.out.join("copy.txt")).unwrap(),
        b"hello from the dataset\n"
    );
    assert!(r.fuel_used > 0);
}

#[test]
fn inputs_cannot_be_written_and_nothing_outside_the_preopens_can_be_opened() {
    let d = dirs();
    let engine = poex_wasm::engine().unwrap();
    // Create /data/evil.txt: refused (the folder is read-only).
    let create = module(
        r#"(data (i32.const 0) "evil.txt")"#,
        &format!("(local $e i32) {}", open(3, 8, 1, 64)),
    );
    let r = run(&engine, &job(create, &d.data, &d.out)).unwrap();
    assert!(matches!(r.end, End::Exited(e) if e != 0), "{:?}", r.end);
    assert!(!d.data.join("evil.txt").exists());
    // Open ../secret from the input folder: refused (no path leaves a preopen).
    let escape = module(
        r#"(data (i32.const 0) "../secret")"#,
        &format!("(local $e i32) {}", open(3, 9, 0, 2)),
    );
    let r = run(&engine, &job(escape, &d.data, &d.out)).unwrap();
    assert!(matches!(r.end, End::Exited(e) if e != 0), "{:?}", r.end);
    // An absolute host path names nothing: fd 3 is the only way in.
    let absolute = module(
        r#"(data (i32.const 0) "/etc/passwd")"#,
        &format!("(local $e i32) {}", open(3, 11, 0, 2)),
    );
    let r = run(&engine, &job(absolute, &d.data, &d.out)).unwrap();
    assert!(matches!(r.end, End::Exited(e) if e != 0), "{:?}", r.end);
}

/// A module that prints the wall clock, the monotonic clock and 16 random bytes (32 bytes).
fn time_and_chance() -> Vec<u8> {
    module(
        "",
        "(drop (call $clock (i32.const 0) (i64.const 1) (i32.const 0)))
         (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 8)))
         (drop (call $random (i32.const 16) (i32.const 16)))
         (i32.store (i32.const 100) (i32.const 0)) (i32.store (i32.const 104) (i32.const 32))
         (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 108)))",
    )
}

#[test]
fn clocks_and_randomness_come_from_the_job() {
    let d = dirs();
    let engine = poex_wasm::engine().unwrap();
    let j = job(time_and_chance(), &d.data, &d.out);
    let first = run(&engine, &j).unwrap();
    assert_eq!(first.end, End::Exited(0));
    let mut want = Vec::new();
    want.extend_from_slice(&j.time_ns.to_le_bytes());
    want.extend_from_slice(&j.time_ns.to_le_bytes());
    // wasmtime draws each byte of `random_get` as one 32-bit word of the source (its low
    // byte): byte j is byte 4j of the SHA-256 counter stream.
    let mut stream = Vec::new();
    for i in 0u64..2 {
        let mut h = Sha256::new();
        h.update(j.seed);
        h.update(i.to_be_bytes());
        stream.extend_from_slice(&h.finalize());
    }
    want.extend((0..16).map(|k| stream[4 * k]));
    assert_eq!(first.log, want);
    // The same job again, in a fresh engine: the same bytes and the same fuel.
    let again = run(&poex_wasm::engine().unwrap(), &j).unwrap();
    assert_eq!(
        (again.log, again.fuel_used),
        (first.log.clone(), first.fuel_used)
    );
    // Another seed, other bytes; the clocks say what the job says.
    let mut other = j.clone();
    other.seed = [1; 32];
    other.time_ns = 5;
    let r = run(&engine, &other).unwrap();
    assert_ne!(r.log[16..], first.log[16..]);
    assert_eq!(r.log[..8], 5u64.to_le_bytes());
}

#[test]
fn fuel_is_the_cpu_limit_and_is_counted_the_same_every_time() {
    let d = dirs();
    let engine = poex_wasm::engine().unwrap();
    // A loop of 100,000 rounds, then exit 0.
    let counted = module(
        "",
        "(local $i i32)
         (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
           (br_if $l (i32.lt_u (local.get $i) (i32.const 100000))))",
    );
    let j = job(counted, &d.data, &d.out);
    let a = run(&engine, &j).unwrap();
    let b = run(&engine, &j).unwrap();
    assert_eq!(a.end, End::Exited(0));
    assert_eq!(a.fuel_used, b.fuel_used);
    assert!(a.fuel_used > 100_000, "{}", a.fuel_used);
    // A loop that never ends stops when the fuel is gone, having burnt all of it.
    let forever = module("", "(loop $l (br $l))");
    let mut j = job(forever, &d.data, &d.out);
    j.fuel = 50_000;
    let r = run(&engine, &j).unwrap();
    assert_eq!(r.end, End::OutOfFuel);
    assert_eq!(r.fuel_used, 50_000);
}

#[test]
fn memory_past_the_limit_is_refused_the_same_way_everywhere() {
    let d = dirs();
    let engine = poex_wasm::engine().unwrap();
    // Grow by 100 pages (6.25 MiB): exit 1 if memory.grow says -1, else 0.
    let grow = module(
        "",
        "(if (i32.eq (memory.grow (i32.const 100)) (i32.const -1))
           (then (call $exit (i32.const 1))))",
    );
    let mut j = job(grow, &d.data, &d.out);
    j.memory_bytes = 1 << 20;
    assert_eq!(run(&engine, &j).unwrap().end, End::Exited(1));
    j.memory_bytes = 16 << 20;
    assert_eq!(run(&engine, &j).unwrap().end, End::Exited(0));
}

#[test]
fn nan_payloads_are_canonical() {
    let d = dirs();
    let engine = poex_wasm::engine().unwrap();
    // 0/0 computed at run time, its bits printed: the canonical NaN, whatever the CPU makes.
    let nan = module(
        "",
        "(local $z f64)
         (i64.store (i32.const 0)
           (i64.reinterpret_f64 (f64.div (local.get $z) (local.get $z))))
         (i32.store (i32.const 100) (i32.const 0)) (i32.store (i32.const 104) (i32.const 8))
         (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 108)))",
    );
    let r = run(&engine, &job(nan, &d.data, &d.out)).unwrap();
    assert_eq!(r.end, End::Exited(0));
    let bits = u64::from_le_bytes(r.log[..8].try_into().unwrap());
    assert_eq!(bits, 0x7ff8_0000_0000_0000, "{bits:#x}");
}

#[test]
fn a_broken_module_is_an_error_not_a_run() {
    let d = dirs();
    let engine = poex_wasm::engine().unwrap();
    let e = run(&engine, &job(b"(module".to_vec(), &d.data, &d.out)).unwrap_err();
    assert!(e.to_string().starts_with("not a WebAssembly module"), "{e}");
    let no_start = b"(module (memory 1))".to_vec();
    let e = run(&engine, &job(no_start, &d.data, &d.out)).unwrap_err();
    assert!(e.to_string().contains("cannot be started"), "{e}");
}
