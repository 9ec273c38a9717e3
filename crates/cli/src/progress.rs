//! Progress on stderr for long work (hashing, running). Hidden when stderr is not a
//! terminal, so logs and CI output stay clean.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use poex_core::display::escape;
use poex_exec::pipeline::Reporter;

/// Below this many bytes a hashing step is too short to deserve a bar.
const MIN_BAR_BYTES: u64 = 64 << 20;

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
