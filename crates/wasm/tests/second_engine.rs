//! The same modules in a second engine: wabt's interpreter (`wasm-interp`, Debian's `wabt`,
//! installed by `.ci/run`) must compute exactly what poex's wasmtime configuration computes.
//!
//! Debian builds wasm-interp without WASI, so these modules are pure functions: each export
//! takes nothing and returns an integer (floats as their bits, so nothing is lost to printing),
//! and both engines run every export. They cover what could differ between engines: NaN bits
//! from arithmetic and from `min`/`max` with a NaN operand carrying a payload, rounding,
//! saturating conversion, integer division, `memory.grow`, and a long integer loop.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::process::Command;

use wasmtime::{Instance, Module, Store, Val};

const MODULE: &str = r#"(module
  (memory 1)
  (func (export "nan_div") (result i64) (local $z f64)
    (i64.reinterpret_f64 (f64.div (local.get $z) (local.get $z))))
  (func (export "nan_min_payload") (result i64)
    (i64.reinterpret_f64 (f64.min (f64.const nan:0x4) (f64.const 1))))
  (func (export "nan_add_payload") (result i64)
    (i64.reinterpret_f64 (f64.add (f64.const -nan:0x8000000000001) (f64.const 1))))
  (func (export "nan_f32_mul") (result i32)
    (i32.reinterpret_f32 (f32.mul (f32.const nan:0x200001) (f32.const 2))))
  (func (export "sqrt2") (result i64) (i64.reinterpret_f64 (f64.sqrt (f64.const 2))))
  (func (export "f32_round") (result i32)
    (i32.reinterpret_f32 (f32.demote_f64 (f64.const 0.1))))
  (func (export "nearest") (result i64) (i64.reinterpret_f64 (f64.nearest (f64.const 2.5))))
  (func (export "trunc_sat") (result i32) (i32.trunc_sat_f64_s (f64.const -1e300)))
  (func (export "div_s") (result i64) (i64.div_s (i64.const -7) (i64.const 2)))
  (func (export "rem_s") (result i64) (i64.rem_s (i64.const -7) (i64.const 2)))
  (func (export "grow") (result i32) (memory.grow (i32.const 100)))
  (func (export "xorshift") (result i64)
    (local $x i64) (local $sum i64) (local $i i64)
    (local.set $x (i64.const 88172645463325252))
    (block $done (loop $l
      (br_if $done (i64.ge_u (local.get $i) (i64.const 100000)))
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
      (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
      (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
      (local.set $sum (i64.add (local.get $sum) (local.get $x)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $l)))
    (local.get $sum)))"#;

/// `name() => i64:VALUE` lines, as wasm-interp prints them (unsigned decimal).
fn in_wasmtime() -> Vec<String> {
    let engine = poex_wasm::engine().unwrap();
    let module = Module::new(&engine, MODULE).unwrap();
    let mut store = Store::new(&engine, ());
    store.set_fuel(100_000_000).unwrap();
    store.set_epoch_deadline(1 << 40);
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let names: Vec<String> = module.exports().map(|e| e.name().to_owned()).collect();
    names
        .iter()
        .filter_map(|name| {
            let f = instance.get_func(&mut store, name)?;
            let mut out = [Val::I32(0)];
            f.call(&mut store, &[], &mut out).unwrap();
            Some(match out[0] {
                Val::I32(v) => format!("{name}() => i32:{}", v as u32),
                Val::I64(v) => format!("{name}() => i64:{}", v as u64),
                ref other => panic!("{name} returned {other:?}"),
            })
        })
        .collect()
}

fn in_wabt() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (wat, wasm) = (dir.path().join("m.wat"), dir.path().join("m.wasm"));
    std::fs::write(&wat, MODULE).unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap_or_else(|e| {
            panic!("{cmd:?}: {e}; install Debian's wabt (apt-get install wabt), as .ci/run does")
        });
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(Command::new("wat2wasm").arg(&wat).arg("-o").arg(&wasm));
    run(Command::new("wasm-interp")
        .arg("--run-all-exports")
        .arg(&wasm))
    .lines()
    .map(str::to_owned)
    .collect()
}

#[test]
fn wabt_computes_what_poex_computes() {
    let ours = in_wasmtime();
    assert_eq!(ours.len(), 12, "{ours:#?}");
    assert_eq!(in_wabt(), ours);
    // The canonical NaN, whatever the operands' payloads.
    assert!(ours.contains(&"nan_min_payload() => i64:9221120237041090560".to_owned()));
}
