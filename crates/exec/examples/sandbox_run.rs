//! Runs one command in the sandbox with default limits and a throw-away output folder, and
//! exits with its status. For measuring launch overhead (docs/sandbox.md):
//!
//! ```text
//! cargo build --release -p poex-exec --example sandbox_run
//! hyperfine -N --warmup 10 'target/release/examples/sandbox_run /usr/bin/true' '/usr/bin/true'
//! ```

use std::process::ExitCode;

use poex_exec::sandbox::{self, Limits, Spec, Termination};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let out = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("cannot create an output folder: {e}");
            return ExitCode::FAILURE;
        }
    };
    let spec = Spec {
        argv,
        read_only: vec![],
        output: out.path().to_path_buf(),
        output_at: "/out".into(),
        workdir: "/out".into(),
        env: vec![],
        limits: Limits::default(),
        cancel: None,
    };
    match sandbox::run(&spec) {
        Ok(outcome) => {
            print!("{}", String::from_utf8_lossy(&outcome.log));
            match outcome.termination {
                Termination::Exited(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
                other => {
                    eprintln!("{other:?}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
