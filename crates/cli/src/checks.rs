//! Printing a [`Checks`] list: what `poex verify` and `poex log verify` print (one line each)
//! before exiting 0 or 4. The list itself, and the checks of a proof, are poex-ledger's
//! ([`poex_ledger::checks`]), shared with the node's verify API and page.

pub use poex_ledger::checks::Checks;

/// Prints checks for a person.
pub trait PrintChecks {
    /// One line per check: `ok   name       detail` or `FAIL name       detail`.
    fn print(&self) -> std::io::Result<()>;
}

impl PrintChecks for Checks {
    fn print(&self) -> std::io::Result<()> {
        for c in self {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            outln!("{mark} {:<10} {}", c.name, c.detail);
        }
        Ok(())
    }
}
