//! [`CancelToken`]: stop a job from another thread.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// A flag shared between whoever may stop a job (a node's cancel request, its shutdown) and
/// the thread running it. Clones share the flag; stopping is one-way, and the first of
/// [`cancel`](Self::cancel) and [`interrupt`](Self::interrupt) decides why.
///
/// The sandbox runner checks the flag every 50 ms while the job runs and, once it is set, kills
/// the whole sandbox as it does at the wall-time limit; the job ends
/// [`Termination::Cancelled`](super::Termination::Cancelled) either way. The pipeline also
/// checks it before it starts a job, and words the receipt by the reason: `cancelled` (someone
/// asked) or `interrupted` (the processor is shutting down).
///
/// ```
/// use poex_exec::CancelToken;
///
/// let token = CancelToken::new();
/// let handle = token.clone(); // give this one to the canceller
/// assert!(!token.is_cancelled());
/// handle.cancel();
/// assert!(token.is_cancelled());
/// assert!(!token.is_interrupted());
/// ```
#[derive(Clone, Default)]
pub struct CancelToken(Arc<AtomicU8>);

const RUNNING: u8 = 0;
const CANCELLED: u8 = 1;
const INTERRUPTED: u8 = 2;

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder of this token (or a clone) to stop because the job is cancelled.
    pub fn cancel(&self) {
        self.stop(CANCELLED);
    }

    /// Asks every holder of this token to stop because the processor is going away (a node
    /// shutting down after its grace period): the job ends `interrupted`, not `cancelled`.
    pub fn interrupt(&self) {
        self.stop(INTERRUPTED);
    }

    /// Whether the job must stop: [`cancel`](Self::cancel) or
    /// [`interrupt`](Self::interrupt) was called on this token or a clone.
    pub fn is_cancelled(&self) -> bool {
        self.state() != RUNNING
    }

    /// Whether the job must stop because of [`interrupt`](Self::interrupt) (called before
    /// any [`cancel`](Self::cancel)).
    pub fn is_interrupted(&self) -> bool {
        self.state() == INTERRUPTED
    }

    fn stop(&self, why: u8) {
        // Release/Acquire: whatever the canceller wrote before stopping the job is visible to
        // the thread that sees the flag. The first reason stays.
        let _ = self
            .0
            .compare_exchange(RUNNING, why, Ordering::AcqRel, Ordering::Acquire);
    }

    fn state(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }
}

/// Two tokens are equal when they are clones of one another (share the flag), so that a
/// [`Spec`](super::Spec) compares equal to its clone.
impl PartialEq for CancelToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CancelToken {}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state() {
            RUNNING => "running",
            CANCELLED => "cancelled",
            _ => "interrupted",
        };
        f.debug_struct("CancelToken")
            .field("state", &state)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag_and_compare_equal() {
        let a = CancelToken::new();
        let b = a.clone();
        let other = CancelToken::new();
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(format!("{a:?}"), r#"CancelToken { state: "running" }"#);
        b.cancel();
        b.cancel();
        assert!(a.is_cancelled());
        assert!(!other.is_cancelled());
        assert_eq!(format!("{a:?}"), r#"CancelToken { state: "cancelled" }"#);
    }

    #[test]
    fn the_first_reason_stays() {
        let a = CancelToken::new();
        a.interrupt();
        a.cancel();
        assert!(a.is_cancelled() && a.is_interrupted());
        assert_eq!(format!("{a:?}"), r#"CancelToken { state: "interrupted" }"#);
        let b = CancelToken::new();
        b.cancel();
        b.interrupt();
        assert!(b.is_cancelled() && !b.is_interrupted());
    }
}
