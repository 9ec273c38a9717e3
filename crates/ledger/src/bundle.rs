//! Proof bundles of this log's receipts. The bundle itself (its format, its offline
//! verification, the consistency checks against a later checkpoint) is poex-verify's and is
//! re-exported here; this module adds what needs the ledger: logging a receipt and proving it
//! at the checkpoint that committed it.

pub use poex_verify::bundle::*;

use poex_core::audit::Event;
use poex_core::dsse::Envelope;

use crate::LogIndex;
use crate::entry::Entry;
use crate::ledger::{Ledger, LedgerError};

impl Ledger {
    /// The bundle for `envelope`: logs the receipt if it is not yet logged (a writable ledger;
    /// logging it again is a no-op that returns its index), then proves its entry at the
    /// current checkpoint. A read-only ledger proves receipts already in the log.
    pub fn log_and_prove(&self, envelope: &Envelope) -> Result<ProofBundle, LedgerError> {
        if !self.is_writable() {
            return self.prove_logged(envelope);
        }
        let index = self.log_receipt(envelope)?;
        self.bundle_at(envelope, index)
    }

    /// Logs a job's last audit `events` and its receipt `envelope` in **one** append (one
    /// commit of the log: after a crash the log holds all of them or none, never a job's end
    /// events without its receipt), then proves the receipt's entry at the checkpoint that
    /// commit wrote. Returns the bundle and the receipt's index (no need to parse the proof
    /// back for it).
    pub fn record_job(
        &self,
        events: &[Event],
        envelope: &Envelope,
    ) -> Result<(ProofBundle, LogIndex), LedgerError> {
        let mut entries: Vec<Entry> = events.iter().cloned().map(Entry::Event).collect();
        entries.push(Entry::receipt(envelope)?);
        let indexes = self.append(&entries)?;
        let index = *indexes
            .last()
            .expect("append returns one index per entry, and there is the receipt");
        Ok((self.bundle_at(envelope, index)?, index))
    }

    /// The bundle for a receipt that is in the log already, never appending anything (where
    /// [`log_and_prove`](Self::log_and_prove) logs a receipt it does not find):
    /// [`LedgerError::NotLogged`] if the log does not hold it. A node finishing, after a
    /// crash, a job whose receipt was logged before its bundle was written uses this, so the
    /// job keeps that one receipt.
    pub fn prove_logged(&self, envelope: &Envelope) -> Result<ProofBundle, LedgerError> {
        let index = self.find_receipt(envelope)?.ok_or(LedgerError::NotLogged)?;
        self.bundle_at(envelope, index)
    }

    /// The bundle for `envelope`, logged at `index`, proved at the current checkpoint.
    fn bundle_at(&self, envelope: &Envelope, index: LogIndex) -> Result<ProofBundle, LedgerError> {
        let log_entry = self.entry_bytes(index)?;
        let proof = self.prove(index, None)?;
        Ok(ProofBundle::new(
            envelope.clone(),
            log_entry,
            &proof,
            self.verifier_key(),
        ))
    }
}
