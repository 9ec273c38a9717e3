//! What a job request must be for the pipeline to run it, checked before the node accepts it.
//!
//! The sandbox refuses a spec it cannot run (`poex_exec::sandbox`'s own checks: no NUL byte
//! in an argument, every mount point once, CPU time, wall time and processes above zero,
//! at least 16 MiB of memory), and the kernel refuses an argument longer than
//! `MAX_ARG_STRLEN`. A request that would hit one of these used to be accepted (202) and end
//! `failed` later; now it is a 400 naming the field, and nothing is queued. The rules follow
//! the sandbox's; `tests/faults.rs` runs each refused request through the pipeline itself to
//! show it would fail there, so the two cannot drift apart unnoticed.

use poex_core::request::JobRequest;
use poex_exec::sandbox::Limits;

use crate::error::ApiError;

/// The most datasets one job may name (each is a mount in the sandbox).
pub const MAX_DATASETS: usize = 64;
/// The longest single argument: Linux's `MAX_ARG_STRLEN` (32 pages) less its NUL.
pub const MAX_ARGUMENT_BYTES: usize = 32 * 4096 - 1;
/// The most bytes all arguments together may have (a quarter of the usual 2 MiB `ARG_MAX`,
/// leaving room for the entrypoint, the sandbox's own arguments and the environment).
pub const MAX_ARGUMENTS_BYTES: usize = 512 << 10;
/// The least memory the sandbox starts a job with (bubblewrap itself needs it).
pub const MIN_MEMORY_BYTES: u64 = 16 << 20;

/// Refuses, naming the field, a request the pipeline could not run under `ceiling` (the
/// most the node grants).
pub fn check(request: &JobRequest, ceiling: &Limits) -> Result<(), ApiError> {
    let bad = |m: String| {
        Err(ApiError::bad_request(format!(
            "job request: {m}; nothing was queued"
        )))
    };
    let l = &request.limits;
    for (field, value) in [
        ("limits.cpuSeconds", l.cpu_seconds),
        ("limits.wallSeconds", l.wall_seconds),
        ("limits.processes", l.processes.map(u64::from)),
    ] {
        if value == Some(0) {
            return bad(format!(
                "{field} is 0: a job needs at least 1; leave it out for the node's default"
            ));
        }
    }
    if let Some(m) = l.memory_bytes {
        let granted = m.min(ceiling.memory_bytes);
        if granted < MIN_MEMORY_BYTES {
            return bad(format!(
                "limits.memoryBytes is {m}: the sandbox needs at least {MIN_MEMORY_BYTES} (16 MiB) to start"
            ));
        }
    }
    let mut total = 0usize;
    for (i, arg) in request.arguments.iter().enumerate() {
        if arg.contains('\0') {
            return bad(format!(
                "arguments[{i}] contains a NUL byte, which no program can receive"
            ));
        }
        if arg.len() > MAX_ARGUMENT_BYTES {
            return bad(format!(
                "arguments[{i}] is {} bytes; one argument may have at most {MAX_ARGUMENT_BYTES}",
                arg.len()
            ));
        }
        total += arg.len();
    }
    if total > MAX_ARGUMENTS_BYTES {
        return bad(format!(
            "the arguments have {total} bytes in all; at most {MAX_ARGUMENTS_BYTES}"
        ));
    }
    for (i, d) in request.datasets.iter().enumerate() {
        if let Some(first) = request.datasets[..i].iter().position(|e| e.name == d.name) {
            return bad(format!(
                "datasets[{i}] names dataset {:?} again (first at datasets[{first}]); each dataset is mounted once, at /data/NAME",
                d.name
            ));
        }
    }
    if request.datasets.len() > MAX_DATASETS {
        return bad(format!(
            "datasets names {} datasets; a job may have at most {MAX_DATASETS}",
            request.datasets.len()
        ));
    }
    if let Some(r) = &request.result_recipient
        && let Err(e) = r.parse::<poex_seal::Recipient>()
    {
        return bad(format!("resultRecipient: {e}"));
    }
    Ok(())
}
