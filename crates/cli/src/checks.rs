//! Printing a [`Checks`] list: what `poex verify` and `poex log verify` print (one line each)
//! before exiting 0 or 4. The list itself, and the checks of a proof, are poex-ledger's
//! ([`poex_verify::checks`]), shared with the node's verify API and page.

use poex_core::display::escape;
pub use poex_verify::checks::Checks;

/// Prints checks for a person.
pub trait PrintChecks {
    /// One line per check: `ok   name       detail` or `FAIL name       detail`, with control
    /// and bidi characters escaped ([`escape`]).
    fn print(&self) -> std::io::Result<()>;
}

impl PrintChecks for Checks {
    fn print(&self) -> std::io::Result<()> {
        for c in self {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            // Details quote result and asset names; a node's checks may say anything.
            outln!("{mark} {:<10} {}", escape(&c.name), escape(&c.detail));
        }
        Ok(())
    }
}
