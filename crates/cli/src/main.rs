//! The `poex` command: a thin layer that parses arguments, calls the crates, and prints.
//!
//! Exit codes: 0 success; 1 error (bad input, missing file, I/O); 2 the job was refused
//! before running (or a node refused the request: HTTP 401/403); 3 the job ran and failed
//! (non-zero exit, a limit, cancelled, interrupted); 4 verification failed.
#![forbid(unsafe_code)]

/// `println!` that returns a broken pipe as an error (a clean exit) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

/// `print!` with the same broken-pipe handling as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?
    }};
}

mod args;
mod checks;
mod cmd;
mod home;
mod json;
mod progress;

use std::process::ExitCode;

use clap::Parser as _;
use poex_core::display::escape;

/// A command finished; this is the exit code it asks for.
pub struct Done(pub u8);

fn main() -> ExitCode {
    progress::start_clock();
    let cli = args::Cli::parse();
    let done = cmd::dispatch(cli);
    progress::timing("done");
    match done {
        Ok(Done(code)) => ExitCode::from(code),
        Err(err) => {
            // A closed pipe (poex audit | head) is not an error worth a message.
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            // Errors quote names and reasons that algorithms, requesters and nodes wrote.
            let mut shown = err.to_string();
            eprintln!("poex: error: {}", escape(&shown));
            for cause in err.chain().skip(1) {
                // An error that quotes its source (`store: {0}`) already said this.
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {}", escape(&text));
                }
                shown = text;
            }
            // A node's refusal (401, 403) exits like a refused job.
            let code = err
                .chain()
                .find_map(|e| e.downcast_ref::<poex_client::Error>())
                .map_or(1, poex_client::Error::exit_code);
            ExitCode::from(code)
        }
    }
}
