//! Progress on stderr for long work (hashing, running). Hidden when stderr is not a
//! terminal, so logs and CI output stay clean.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use poex_core::display::escape;
use poex_exec::pipeline::Reporter;

/// Below this many bytes a hashing step is too short to deserve a bar.
const MIN_BAR_BYTES: u64 = 64 << 20;

/// When the process started, for `POEX_TIMINGS=1` (set by [`start_clock`]).
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Starts the clock of `POEX_TIMINGS=1`: called first thing in `main`.
pub fn start_clock() {
    STARTED.get_or_init(Instant::now);
}

/// With `POEX_TIMINGS=1`, prints on stderr how long the process has run when `what` begins
/// (milliseconds since [`start_clock`]): how docs/performance.md splits a job's fixed cost
/// into its steps. Printed whether or not stderr is a terminal, and never anything secret.
pub fn timing(what: &str) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("POEX_TIMINGS").is_some_and(|v| v == "1")) {
        let ms = STARTED
            .get()
            .map_or(0.0, |t| t.elapsed().as_secs_f64() * 1e3);
        eprintln!("poex: timing {ms:7.2} ms  {}", escape(what));
    }
}

pub struct Bars {
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new(quiet: bool) -> Self {
        Bars {
            quiet,
            bar: Mutex::new(None),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        // A panic while drawing a bar must not stop the job; take the slot anyway.
        self.bar.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Reporter for Bars {
    fn wants_bytes(&self) -> bool {
        !self.quiet && !ProgressDrawTarget::stderr().is_hidden()
    }

    fn stage(&self, what: &str) {
        timing(what);
        if !self.quiet && console_is_tty() {
            eprintln!("  {}", escape(what));
        }
    }

    fn begin_bytes(&self, what: &str, total: u64) {
        if self.quiet || total < MIN_BAR_BYTES {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(escape(what).into_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        *self.slot() = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.slot().as_ref() {
            bar.inc(n);
        }
    }

    fn end_bytes(&self) {
        if let Some(bar) = self.slot().take() {
            bar.finish_and_clear();
        }
    }
}

fn console_is_tty() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal()
}
