//! The pipeline's runner for WebAssembly: a [`Spec`] as the pipeline builds it, run by
//! [`poex_wasm::Wasm`], ends as the limits and the module say.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::time::{Duration, Instant};

use poex_exec::runner::Runner as _;
use poex_exec::sandbox::{Accounting, CancelToken, Limits, Mount, Spec, Termination};

/// Reads `/data/in.txt` (a single-file input) and writes its bytes to `/out/copy.txt`.
const COPY: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "in.txt") (data (i32.const 50) "copy.txt")
  (func (export "_start") (local $e i32) (local $n i32)
    ;; fd 3 is /algo (the module's folder), 4 is /data, 5 is /out
    (local.set $e (call $open (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 6)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 96)))
    (if (local.get $e) (then (call $exit (i32.add (i32.const 100) (local.get $e)))))
    (i32.store (i32.const 100) (i32.const 200)) (i32.store (i32.const 104) (i32.const 100))
    (drop (call $read (i32.load (i32.const 96)) (i32.const 100) (i32.const 1) (i32.const 108)))
    (local.set $n (i32.load (i32.const 108)))
    (local.set $e (call $open (i32.const 5) (i32.const 0) (i32.const 50) (i32.const 8)
      (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 96)))
    (if (local.get $e) (then (call $exit (i32.add (i32.const 200) (local.get $e)))))
    (i32.store (i32.const 104) (local.get $n))
    (drop (call $write (i32.load (i32.const 96)) (i32.const 100) (i32.const 1) (i32.const 108)))))"#;

const FOREVER: &str =
    r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#;

struct Setup {
    _t: tempfile::TempDir,
    spec: Spec,
}

fn setup(module: &str, limits: Limits) -> Setup {
    let t = tempfile::tempdir().unwrap();
    let algo = t.path().join("job.wat");
    std::fs::write(&algo, module).unwrap();
    let data = t.path().join("in.txt");
    std::fs::write(&data, b"a single-file dataset\n").unwrap();
    let job = t.path().join("job");
    let out = job.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let spec = Spec {
        argv: vec!["/algo/job.wat".into()],
        read_only: vec![
            Mount {
                host: algo,
                sandbox: "/algo/job.wat".into(),
            },
            Mount {
                host: data,
                sandbox: "/data/in.txt".into(),
            },
        ],
        output: out,
        output_at: "/out".into(),
        workdir: "/algo".into(),
        env: vec![],
        limits,
        cancel: None,
    };
    Setup { _t: t, spec }
}

#[test]
fn a_module_runs_as_a_job_with_its_inputs_and_output() {
    let s = setup(COPY, Limits::default());
    let wasm = poex_wasm::Wasm::new().unwrap();
    let outcome = wasm.run(&s.spec).unwrap();
    assert_eq!(
        outcome.termination,
        Termination::Exited(0),
        "{}",
        String::from_utf8_lossy(&outcome.log)
    );
    assert_eq!(
        std::fs::read(s.spec.output.join("copy.txt")).unwrap(),
        b"a single-file dataset\n"
    );
    let fuel = outcome.usage.fuel.unwrap();
    assert!(fuel > 0);
    assert_eq!(outcome.usage.accounting, Accounting::Engine);
    assert!(outcome.usage.user_cpu <= outcome.usage.wall);
    assert!(
        outcome.profile.engine.starts_with("wasmtime 48.0.8"),
        "{}",
        outcome.profile.engine
    );
    assert!(outcome.profile.engine.contains(&poex_wasm::config_digest()));
    // The staging folder of single-file inputs is gone, and the same job burns the same fuel.
    let job_dir = s.spec.output.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(job_dir).unwrap().collect();
    assert_eq!(left.len(), 1, "{left:?}");
    std::fs::remove_file(s.spec.output.join("copy.txt")).unwrap();
    assert_eq!(wasm.run(&s.spec).unwrap().usage.fuel, Some(fuel));
}

#[test]
fn the_cpu_limit_is_fuel_and_wall_time_and_cancel_stop_the_module() {
    let wasm = poex_wasm::Wasm::new().unwrap();
    // CPU: 1 ms is 10^6 fuel.
    let limits = Limits {
        cpu_time: Duration::from_millis(1),
        ..Limits::default()
    };
    let s = setup(FOREVER, limits);
    let o = wasm.run(&s.spec).unwrap();
    assert_eq!(o.termination, Termination::CpuTimeExceeded);
    assert_eq!(
        o.usage.fuel,
        Some(poex_wasm::runner::FUEL_PER_CPU_SECOND / 1000)
    );
    // Wall time: plenty of fuel, 300 ms of wall time.
    let mut limits = Limits {
        cpu_time: Duration::from_secs(3600),
        wall_time: Duration::from_millis(300),
        ..Limits::default()
    };
    let s = setup(FOREVER, limits.clone());
    let t = Instant::now();
    let o = wasm.run(&s.spec).unwrap();
    assert_eq!(o.termination, Termination::WallTimeExceeded);
    assert!(t.elapsed() < Duration::from_secs(10));
    // Cancel.
    limits.wall_time = Duration::from_secs(3600);
    let mut s = setup(FOREVER, limits);
    let token = CancelToken::new();
    s.spec.cancel = Some(token.clone());
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        token.cancel();
    });
    let o = wasm.run(&s.spec).unwrap();
    canceller.join().unwrap();
    assert_eq!(o.termination, Termination::Cancelled);
}

#[test]
fn a_trap_ends_the_job_with_the_engine_s_message_and_a_missing_module_is_an_error() {
    let wasm = poex_wasm::Wasm::new().unwrap();
    let s = setup(
        r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#,
        Limits::default(),
    );
    let o = wasm.run(&s.spec).unwrap();
    assert_eq!(o.termination, Termination::Trapped);
    let log = String::from_utf8_lossy(&o.log);
    assert!(log.contains("the module trapped"), "{log}");
    let mut s = setup(COPY, Limits::default());
    s.spec.argv = vec!["/algo/other.wasm".into()];
    let e = wasm.run(&s.spec).unwrap_err().to_string();
    assert!(e.contains("not among the job's read-only inputs"), "{e}");
}
