//! [`CancelToken`]: stop a job from another thread.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A flag shared between whoever may cancel a job (a node's cancel request, its shutdown) and
/// the thread running it. Clones share the flag; cancelling is one-way and idempotent.
///
/// The sandbox runner checks the flag every 50 ms while the job runs and, once it is set, kills
/// the whole sandbox as it does at the wall-time limit; the job ends
/// [`Termination::Cancelled`](super::Termination::Cancelled). The pipeline also checks it
/// between verifying a job and starting it.
///
/// ```
/// use poex_exec::CancelToken;
///
/// let token = CancelToken::new();
/// let handle = token.clone(); // give this one to the canceller
/// assert!(!token.is_cancelled());
/// handle.cancel();
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder of this token (or a clone) to stop.
    pub fn cancel(&self) {
        // Release/Acquire: whatever the canceller wrote before cancelling (e.g. why) is
        // visible to the thread that sees the flag.
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called on this token or a clone.
    pub fn is_cancelled(&self) -> bool {
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
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
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
        b.cancel();
        b.cancel();
        assert!(a.is_cancelled());
        assert!(!other.is_cancelled());
        assert_eq!(format!("{a:?}"), "CancelToken { cancelled: true }");
    }
}
