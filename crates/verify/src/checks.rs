//! A proof, checked step by step: each check named, passed or failed, with what it found.
//!
//! This is what `poex verify` prints and what a node's `POST /api/verify` and verify page show:
//! both call these functions, so a person sees the same checks with the same reasons whichever
//! they use. Nothing here reads files or the network: the caller gives the bundle's bytes, the
//! keys it trusts (and where it got them, for the details), and the digests of the files it
//! holds. Checking a later log for consistency needs the log, so it stays with the caller and
//! is appended to the same [`Checks`] (`consistency`).
//!
//! | check | passes when |
//! |---|---|
//! | `envelope` | (fails only) the file is not JSON, or a bare receipt that is not a DSSE envelope |
//! | `bundle` | (fails only) not a proof bundle of this version, or a bare receipt where a bundle is required |
//! | `signature` | the receipt's DSSE signature verifies under the trusted processor key |
//! | `statement` | its payload is an in-toto Statement v1 with a valid SLSA Provenance v1 predicate |
//! | `log entry` | the bundle's `logEntry` is this receipt (or its digest) |
//! | `checkpoint` | (fails only) the proof's checkpoint is not the trusted log's or not signed by its key |
//! | `inclusion` | the entry is in the checkpointed tree (and the checkpoint verified) |
//! | `request` | a job's embedded request verifies under the requester's key; fails per input pinned otherwise than it ran |
//! | `outcome` | (fails only) the receipt's `outcome` byproduct is not of the outcome's shape ([`poex_core::outcome::Outcome`]) |
//! | `inputs` | the algorithm and datasets run are the ones the request pinned |
//! | `refusal` | (passes only) the receipt records a refusal: nothing ran, so there are no inputs to match |
//! | `results` | a results folder holds exactly the receipt's results, each unmodified ([`check_results`]) |
//! | `file` | a file the caller holds is a result or the execution log of the receipt ([`check_subjects`]) |
//!
//! The order is fixed: [`parse`], [`check_receipt`], [`check_log`] (bundles), [`check_request`],
//! then the caller's files. A failed `envelope`, `bundle` or `signature` ends the list: nothing
//! after it can be trusted. [`check_bundle`] runs the whole sequence on a bundle.
//!
//! ```
//! # use poex_verify::checks::Checks;
//! let mut checks = Checks::default();
//! checks.pass("signature", "signed by processor 1a2b");
//! checks.fail("file", "rows.txt (sha256:00…) does not match any result in the receipt");
//! assert!(!checks.all_ok());
//! assert_eq!(checks.to_json()[1]["check"], "file");
//! ```

use std::collections::BTreeMap;

use poex_core::dsse::Envelope;
use poex_core::outcome::{EndStatus, Outcome, OutcomeError};
use poex_core::receipt::{self, BUILD_TYPE_JOB, LOG_NAME, ReceiptStatement};
use poex_core::request::SignedRequest;
use poex_core::statement::ResourceDescriptor;
use poex_core::{Algorithm, Digest, DigestSet, PublicKey, digest::Comparison};
use poex_log::note::Ed25519Verifier;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::bundle::{BundleError, ProofBundle, Verified};

/// One named check: passed or failed, and what it found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The check's name (`signature`, `inclusion`, `file`, …: see the [module docs](self)).
    #[serde(rename = "check")]
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What it found, for a person: why it passed or failed.
    pub detail: String,
}

/// A list of checks in the order they ran; serializes as `[{check, ok, detail}, …]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Checks(Vec<Check>);

impl Checks {
    /// Adds a passed check.
    pub fn pass(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, true, detail);
    }

    /// Adds a failed check.
    pub fn fail(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, false, detail);
    }

    /// Adds a check.
    pub fn push(&mut self, name: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.0.push(Check {
            name: name.into(),
            ok,
            detail: detail.into(),
        });
    }

    /// Whether every check passed (true for an empty list).
    pub fn all_ok(&self) -> bool {
        self.0.iter().all(|c| c.ok)
    }

    /// `[{check, ok, detail}, ...]`.
    pub fn to_json(&self) -> Value {
        // Strings and booleans only: serializing cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The checks, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Check> {
        self.0.iter()
    }

    /// How many checks ran.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no check ran.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first failed check, if any.
    pub fn first_failure(&self) -> Option<&Check> {
        self.0.iter().find(|c| !c.ok)
    }
}

impl<'a> IntoIterator for &'a Checks {
    type Item = &'a Check;
    type IntoIter = std::slice::Iter<'a, Check>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Checks {
    type Item = Check;
    type IntoIter = std::vec::IntoIter<Check>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Extend<Check> for Checks {
    fn extend<I: IntoIterator<Item = Check>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// The keys a verifier trusts, chosen out of band (never taken from the bundle), and where each
/// came from, as the details name it (`--key processor.pub`, `this node's processor key`; an
/// empty source is left out of the details).
#[derive(Clone, Copy, Debug)]
pub struct Trust<'a> {
    /// The processor's public key: it must have signed the receipt.
    pub processor: &'a PublicKey,
    /// Where `processor` came from.
    pub processor_source: &'a str,
    /// The log's verifier key: it must have signed the bundle's checkpoint.
    pub log: &'a Ed25519Verifier,
    /// Where `log` came from.
    pub log_source: &'a str,
}

/// What a proof file holds: a proof bundle, or a bare receipt (a DSSE envelope).
#[derive(Clone, Debug, PartialEq)]
pub enum Proof {
    /// A proof bundle (JSON with a `mediaType`).
    Bundle(Box<ProofBundle>),
    /// A receipt alone: what it proves rests on the processor's signature only.
    Receipt(Envelope),
}

impl Proof {
    /// The receipt, alone or in its bundle.
    pub fn receipt(&self) -> &Envelope {
        match self {
            Proof::Bundle(b) => &b.receipt,
            Proof::Receipt(e) => e,
        }
    }
}

/// Parses a proof file (`name` is how the details refer to it): JSON with a `mediaType` is a
/// proof bundle, other JSON a bare receipt. What does not parse fails `envelope` (not JSON, not
/// a DSSE envelope) or `bundle` (not a proof bundle), and gives `None`.
pub fn parse(bytes: &[u8], name: &str, checks: &mut Checks) -> Option<Proof> {
    let parsed: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            checks.fail("envelope", format!("{name} is not JSON: {e}"));
            return None;
        }
    };
    if parsed.get("mediaType").is_some() {
        return match serde_json::from_value::<ProofBundle>(parsed) {
            Ok(b) => Some(Proof::Bundle(Box::new(b))),
            Err(e) => {
                checks.fail("bundle", format!("{name} is not a proof bundle: {e}"));
                None
            }
        };
    }
    match serde_json::from_value(parsed) {
        Ok(e) => Some(Proof::Receipt(e)),
        Err(e) => {
            checks.fail("envelope", format!("{name} is not a DSSE envelope: {e}"));
            None
        }
    }
}

/// `signature` and `statement`: the receipt verifies under the trusted processor key
/// (`source` says where it came from) and is a valid receipt. Gives its statement, or `None`
/// after a failed `signature`.
pub fn check_receipt(
    envelope: &Envelope,
    processor: &PublicKey,
    source: &str,
    checks: &mut Checks,
) -> Option<ReceiptStatement> {
    match receipt::open(envelope, processor) {
        Ok(s) => {
            checks.pass(
                "signature",
                format!("signed by processor {}{}", processor.key_id(), from(source)),
            );
            checks.pass(
                "statement",
                "in-toto Statement v1 with a valid SLSA Provenance v1 predicate",
            );
            Some(s)
        }
        Err(e) => {
            let from = match source {
                "" => String::new(),
                s => format!(", from {s}"),
            };
            checks.fail(
                "signature",
                format!("{e} (trusted key {}{from})", processor.key_id()),
            );
            None
        }
    }
}

/// `log entry` and `inclusion`: [`ProofBundle::verify`] under the trusted keys (`source` says
/// where the log key came from). On failure, the one check it names fails (`bundle`,
/// `log entry`, `checkpoint` or `inclusion`) and this gives `None`.
pub fn check_log(
    bundle: &ProofBundle,
    processor: &PublicKey,
    log: &Ed25519Verifier,
    source: &str,
    checks: &mut Checks,
) -> Option<Verified> {
    let verified = match bundle.verify(processor, log) {
        Ok(v) => v,
        Err(e) => {
            let name = match &e {
                BundleError::LogEntryMalformed(_)
                | BundleError::LogEntryNotReceipt { .. }
                | BundleError::LogEntryMismatch { .. } => "log entry",
                BundleError::TlogProofMalformed(_)
                | BundleError::CheckpointOrigin { .. }
                | BundleError::CheckpointSignature(_) => "checkpoint",
                BundleError::Inclusion { .. } => "inclusion",
                _ => "bundle",
            };
            let from = match source {
                "" => String::new(),
                s => format!(" (trusted log key from {s})"),
            };
            checks.fail(name, format!("{e}{from}"));
            return None;
        }
    };
    let cp = &verified.checkpoint;
    checks.pass(
        "log entry",
        format!(
            "the bundle's log entry ({}) is this receipt",
            verified.entry_kind.name()
        ),
    );
    checks.pass(
        "inclusion",
        format!(
            "entry {} is in log {} at size {} (root {}), checkpoint signed by the trusted log key{}",
            verified.index,
            cp.origin,
            cp.size,
            cp.root,
            from(source)
        ),
    );
    Some(verified)
}

/// Every check of a proof bundle that needs only its bytes and the trusted keys, in the order
/// `poex verify` runs them: [`parse`], [`check_receipt`], [`check_log`], [`check_request`].
/// `name` is how the details refer to the bundle. A bare receipt fails `bundle`. Gives the
/// checks and, when the bundle's signature and log proof verified, what it establishes (the
/// request checks may still have failed: see [`Checks::all_ok`]).
///
/// The caller then adds the files it holds ([`check_subjects`], [`check_results`]) and, if it
/// can reach the log, `consistency` with a later checkpoint
/// ([`verify_extends_from_tiles`](crate::bundle::verify_extends_from_tiles)).
pub fn check_bundle(bytes: &[u8], name: &str, trust: &Trust<'_>) -> (Checks, Option<Verified>) {
    let mut checks = Checks::default();
    let bundle = match parse(bytes, name, &mut checks) {
        Some(Proof::Bundle(b)) => b,
        Some(Proof::Receipt(_)) => {
            checks.fail(
                "bundle",
                format!(
                    "{name} is a bare receipt (no mediaType), not a proof bundle: it does not \
                     prove the receipt is in the log; give the job's bundle.json"
                ),
            );
            return (checks, None);
        }
        None => return (checks, None),
    };
    let Some(statement) = check_receipt(
        &bundle.receipt,
        trust.processor,
        trust.processor_source,
        &mut checks,
    ) else {
        return (checks, None);
    };
    let verified = check_log(
        &bundle,
        trust.processor,
        trust.log,
        trust.log_source,
        &mut checks,
    );
    check_request(&statement, &mut checks);
    (checks, verified)
}

/// For jobs (`request`, `inputs`, `refusal`): the embedded request verifies under the
/// requester's key, and what it pinned is what the processor says it resolved. Other build
/// types add nothing.
pub fn check_request(statement: &ReceiptStatement, checks: &mut Checks) {
    let bd = &statement.predicate.build_definition;
    if bd.build_type != BUILD_TYPE_JOB {
        return;
    }
    let Some(env) = bd.external_parameters.get("jobRequest") else {
        checks.fail("request", "the receipt carries no jobRequest");
        return;
    };
    let signed = match serde_json::from_value::<Envelope>(env.clone())
        .map_err(|e| e.to_string())
        .and_then(|e| SignedRequest::open(e).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            checks.fail(
                "request",
                format!("the embedded job request does not verify: {e}"),
            );
            return;
        }
    };
    let req = &signed.request;
    checks.pass(
        "request",
        format!(
            "signed by requester {} at {}",
            req.requester.key_id, req.requested_at
        ),
    );
    let outcome = match Outcome::of(statement) {
        Ok(outcome) => Some(outcome),
        Err(OutcomeError::Missing) => None,
        Err(e) => {
            checks.fail("outcome", e.to_string());
            None
        }
    };
    let status = outcome.as_ref().map(|o| o.status);
    let reason = outcome
        .as_ref()
        .and_then(|o| o.reason.as_deref())
        .unwrap_or("?");
    if status == Some(EndStatus::Refused) {
        // A refusal receipt records what was checked before anything ran; its inputs list
        // stops at the asset that failed, so there is nothing further to match.
        checks.pass(
            "refusal",
            format!("the processor refused this job before running it: {reason}"),
        );
        return;
    }
    if let Some(status) = status.filter(|s| s.may_be_unrun())
        && bd.resolved_dependencies.is_empty()
    {
        // Cancelled or expired in a queue, or cut off by a node that stopped: the receipt
        // says so and attests no inputs and no results.
        checks.pass(
            "unrun",
            format!("the job ended {status} without a completed run: {reason}"),
        );
        return;
    }
    let resolved: BTreeMap<(&str, &str), &ResourceDescriptor> = bd
        .resolved_dependencies
        .iter()
        .filter_map(|r| {
            Some((
                (r.annotations.get("role")?.as_str()?, r.name.as_deref()?),
                r,
            ))
        })
        .collect();
    let wanted = std::iter::once(("algorithm", &req.algorithm))
        .chain(req.datasets.iter().map(|d| ("dataset", d)));
    let mut all = true;
    for (role, asset) in wanted {
        let got = resolved
            .get(&(role, asset.name.as_str()))
            .and_then(|r| r.digests().ok())
            .and_then(|d| d.sha256().copied());
        if got != Some(asset.digest) {
            all = false;
            checks.fail(
                "request",
                format!(
                    "{role} {}: requested {} but the receipt records {}",
                    asset.name,
                    asset.digest,
                    got.map(|d| d.to_string())
                        .unwrap_or_else(|| "nothing".into())
                ),
            );
        }
    }
    if all {
        checks.pass(
            "inputs",
            "the algorithm and datasets run are the ones the requester pinned",
        );
    }
}

/// The name of the subject a receipt has when the job made no result (a refused or failed
/// job): the request itself, not a file anyone holds.
const REQUEST_SUBJECT: &str = "poex:job-request";

/// The receipt's result files: its subjects, without the stand-in for a job with no result.
pub fn results(statement: &ReceiptStatement) -> Vec<&ResourceDescriptor> {
    statement
        .subject
        .iter()
        .filter(|s| s.name.as_deref() != Some(REQUEST_SUBJECT))
        .collect()
}

/// The receipt's execution log (a byproduct), if it has one.
pub fn execution_log(statement: &ReceiptStatement) -> Option<&ResourceDescriptor> {
    statement
        .predicate
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name.as_deref() == Some(LOG_NAME))
}

/// ` (source)`, or nothing when the caller did not say where a key came from.
fn from(source: &str) -> String {
    match source {
        "" => String::new(),
        s => format!(" ({s})"),
    }
}

fn digests_of(rd: &ResourceDescriptor) -> DigestSet {
    rd.digests().unwrap_or_default()
}

/// The sealed form of a result or of the log (docs/seal.md): the sealed file's name and
/// SHA-256 from the descriptor's `sealed` annotation, when the job sealed it to its requester.
fn sealed_form(rd: &ResourceDescriptor) -> Option<(&str, DigestSet)> {
    let sealed = rd.annotations.get("sealed")?.as_object()?;
    let name = sealed.get("name")?.as_str()?;
    let digest = Digest::from_hex(Algorithm::Sha256, sealed.get("sha256")?.as_str()?).ok()?;
    Some((name, DigestSet::of([digest])))
}

/// One thing the receipt says a file of some name may be: a result's plaintext (its subject)
/// or its sealed form (the subject's `sealed` annotation), with the digest that file must have.
struct Form<'a> {
    /// The subject (a result, or the execution log) this is a form of.
    subject: &'a ResourceDescriptor,
    /// Its index among the subjects given to [`forms_by_name`].
    index: usize,
    /// Whether this is the sealed form.
    sealed: bool,
    digest: DigestSet,
}

impl Form<'_> {
    fn of(&self) -> &str {
        self.subject.name.as_deref().unwrap_or("a subject")
    }

    /// How a file that matches this form is named in a detail.
    fn describe(&self) -> String {
        if self.sealed {
            format!("the sealed form of {}", self.of())
        } else {
            self.of().to_owned()
        }
    }
}

/// Every form of `subjects` by file name, the sealed forms first. The receipt's `sealed`
/// annotations are what say which file is which: with results `a` and `a.sealed` sealed, the
/// file `a.sealed` is the sealed `a` (and the sealed `a.sealed` is `a.sealed.sealed`), though
/// it bears the name of the result `a.sealed` too. A file of a name with several forms is
/// whichever of them its digest matches.
fn forms_by_name<'a>(subjects: &[&'a ResourceDescriptor]) -> BTreeMap<&'a str, Vec<Form<'a>>> {
    let mut by_name: BTreeMap<&str, Vec<Form<'a>>> = BTreeMap::new();
    for (index, subject) in subjects.iter().copied().enumerate() {
        if let Some((name, digest)) = sealed_form(subject) {
            by_name.entry(name).or_default().push(Form {
                subject,
                index,
                sealed: true,
                digest,
            });
        }
    }
    for (index, subject) in subjects.iter().copied().enumerate() {
        if let Some(name) = subject.name.as_deref() {
            by_name.entry(name).or_default().push(Form {
                subject,
                index,
                sealed: false,
                digest: digests_of(subject),
            });
        }
    }
    by_name
}

/// The detail of a file that matches none of the forms its name has, measured against the
/// first of them (the receipt's own name for that file).
fn modified(name: &str, want: &Form<'_>, found: &DigestSet) -> String {
    match want.digest.compare(found) {
        Comparison::NoCommonAlgorithm => {
            format!("{name}: the receipt has no sha256 to compare")
        }
        Comparison::Differ { ours, theirs } if !want.sealed => {
            format!("{name}: modified — the receipt says {ours}, the file is {theirs}")
        }
        _ => format!(
            "{name}: modified — the receipt says the sealed {} is {}, the file is {found}",
            want.of(),
            want.digest
        ),
    }
}

/// `file`, one per file: each file the caller holds (its name and SHA-256) must be a result or
/// the execution log of the receipt. A file named like a result or the execution log, or like
/// the sealed form of one (docs/seal.md: the name in its `sealed` annotation), must have the
/// digest of one of the forms of that name; a file of another name (a local path, a renamed
/// download) passes if any result, the execution log or a sealed form of them has its digest.
/// A digest that matches nothing fails, naming the file; a file whose name ends in `.log` is
/// then compared with the execution log.
pub fn check_subjects(
    statement: &ReceiptStatement,
    files: &[(String, Digest)],
    checks: &mut Checks,
) {
    let log = execution_log(statement);
    let candidates: Vec<&ResourceDescriptor> = results(statement).into_iter().chain(log).collect();
    let by_name = forms_by_name(&candidates);
    for (name, digest) in files {
        let found = DigestSet::of([*digest]);
        let matches = |f: &&Form<'_>| f.digest.compare(&found) == Comparison::Match;
        if let Some(forms) = by_name.get(name.as_str()) {
            match forms.iter().find(matches) {
                Some(f) => checks.pass("file", format!("{name} matches {}", f.describe())),
                None => checks.fail("file", modified(name, &forms[0], &found)),
            }
            continue;
        }
        // By digest alone, whatever the name.
        match by_name.values().flatten().find(matches) {
            Some(f) => checks.pass("file", format!("{name} matches {}", f.describe())),
            None => {
                let what = if name.ends_with(".log") {
                    log.map(|l| format!("the execution log recorded as {}", digests_of(l)))
                        .unwrap_or_else(|| "no execution log in the receipt".into())
                } else {
                    "any result in the receipt".into()
                };
                checks.fail("file", format!("{name} ({digest}) does not match {what}"));
            }
        }
    }
}

/// `results`: `files` (paths relative to a results folder, and their SHA-256) are exactly the
/// receipt's results, each unmodified. `place` names the folder in the details. Each result
/// missing or modified, and each file the receipt does not list, fails on its own; otherwise
/// one `results` check passes. A result the job sealed to its requester counts as there in
/// either form, sealed (under the name and digest its `sealed` annotation gives, normally
/// `NAME.sealed`) or decrypted (`NAME`, the subject's digest). The annotations decide which
/// file is which: results `a` and `a.sealed`, sealed, are the files `a.sealed` and
/// `a.sealed.sealed`.
pub fn check_results(
    statement: &ReceiptStatement,
    files: &[(String, Digest)],
    place: &str,
    checks: &mut Checks,
) {
    let subjects = results(statement);
    let by_name = forms_by_name(&subjects);
    // Each file held under a name the receipt has: its digest, and the subject whose form it
    // matches (`None`: it matches none, it was modified).
    let mut held: BTreeMap<&str, (DigestSet, Option<usize>)> = BTreeMap::new();
    let mut extra = Vec::new();
    for (name, digest) in files {
        let found = DigestSet::of([*digest]);
        match by_name.get(name.as_str()) {
            Some(forms) => {
                let matched = forms
                    .iter()
                    .find(|f| f.digest.compare(&found) == Comparison::Match)
                    .map(|f| f.index);
                held.insert(name, (found, matched));
            }
            None => extra.push(name.as_str()),
        }
    }
    let mut bad = 0;
    for (index, s) in subjects.iter().enumerate() {
        let plain = s.name.as_deref().unwrap_or("");
        let names = std::iter::once(plain).chain(sealed_form(s).map(|(n, _)| n));
        // There when a file matches one of its forms; a modified file counts against the
        // subject the receipt first names it for (its sealed form, if it is one), once.
        let (mut present, mut modified_here) = (false, false);
        for name in names {
            match held.get(name) {
                Some((_, Some(i))) => present |= *i == index,
                Some((found, None)) => {
                    let want = &by_name[name][0];
                    if want.index == index {
                        bad += 1;
                        modified_here = true;
                        checks.fail("results", modified(name, want, found));
                    }
                }
                None => {}
            }
        }
        if !present && !modified_here {
            bad += 1;
            checks.fail(
                "results",
                format!("{plain}: in the receipt but missing from {place}"),
            );
        }
    }
    for path in extra {
        bad += 1;
        checks.fail(
            "results",
            format!("{path}: in {place} but not in the receipt (added after the job)"),
        );
    }
    if bad == 0 {
        checks.pass(
            "results",
            format!(
                "all {} file(s) in {place} match the receipt",
                subjects.len()
            ),
        );
    }
}

/// What the processor attests, for a person: job, build type, processor, times, inputs,
/// results and outcome (the `summary` of `poex verify --json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Summary {
    /// The job id (the receipt's `invocationId`).
    pub job: Option<String>,
    /// The receipt's build type.
    pub build_type: String,
    /// The processor's builder id.
    pub processor: String,
    /// When the run started; none for a job that never ran.
    pub started_on: Option<String>,
    /// When the job ended.
    pub finished_on: Option<String>,
    /// The algorithm and datasets the run used.
    pub inputs: Vec<Attested>,
    /// What the receipt attests the job produced (or the request, for a job with no result).
    pub results: Vec<Attested>,
    /// How the job ended; none if the receipt has no readable outcome.
    pub outcome: Option<Outcome>,
}

/// One input or result of a [`Summary`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Attested {
    /// `algorithm` or `dataset`, for an input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Its digests by algorithm.
    pub digest: BTreeMap<String, String>,
}

impl Attested {
    /// Its SHA-256 in hex, if it has one.
    pub fn sha256(&self) -> Option<&str> {
        self.digest.get("sha256").map(String::as_str)
    }
}

/// The [`Summary`] of a verified statement.
pub fn summary(st: &ReceiptStatement) -> Summary {
    let p = &st.predicate;
    let attested = |r: &ResourceDescriptor, role: bool| Attested {
        role: role
            .then(|| r.annotations.get("role").and_then(Value::as_str))
            .flatten()
            .map(str::to_owned),
        name: r.name.clone(),
        digest: r.digest.clone(),
    };
    Summary {
        job: p.run_details.metadata.invocation_id.clone(),
        build_type: p.build_definition.build_type.clone(),
        processor: p.run_details.builder.id.clone(),
        started_on: p.run_details.metadata.started_on.clone(),
        finished_on: p.run_details.metadata.finished_on.clone(),
        inputs: p
            .build_definition
            .resolved_dependencies
            .iter()
            .map(|r| attested(r, true))
            .collect(),
        results: st.subject.iter().map(|s| attested(s, false)).collect(),
        outcome: Outcome::of(st).ok(),
    }
}

/// The report `poex verify --json` prints: `{"verified", "checks", "summary"}` (`summary` is
/// null when no statement verified).
pub fn report(checks: &Checks, statement: Option<&ReceiptStatement>) -> Value {
    json!({
        "verified": checks.all_ok(),
        "checks": checks.to_json(),
        "summary": statement.map(summary),
    })
}

/// Every check `poex verify` runs on a bundle that needs only its bytes and the trusted keys,
/// each named with its reason: [`check_bundle`] without
/// naming where the keys came from. Gives the checks and, when the receipt's signature and the
/// log proof verified, what the bundle establishes.
pub fn check(
    bundle: &[u8],
    processor: &PublicKey,
    log: &Ed25519Verifier,
) -> (Checks, Option<Verified>) {
    let trust = Trust {
        processor,
        processor_source: "",
        log,
        log_source: "",
    };
    check_bundle(bundle, "the bundle", &trust)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_serialize_as_a_list_of_check_ok_detail() {
        let mut c = Checks::default();
        assert!(c.all_ok() && c.is_empty() && c.first_failure().is_none());
        c.pass("signature", "signed");
        c.fail("file", "x does not match");
        c.push("results", true, "all 1 file(s)");
        assert_eq!((c.len(), c.all_ok()), (3, false));
        assert_eq!(c.first_failure().map(|f| f.name.as_str()), Some("file"));
        let expected = json!([
            {"check": "signature", "ok": true, "detail": "signed"},
            {"check": "file", "ok": false, "detail": "x does not match"},
            {"check": "results", "ok": true, "detail": "all 1 file(s)"},
        ]);
        assert_eq!(c.to_json(), expected);
        let text = serde_json::to_string(&c).unwrap_or_default();
        assert_eq!(serde_json::from_str::<Checks>(&text).ok(), Some(c.clone()));
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["signature", "file", "results"]);
        let mut more = Checks::default();
        more.extend(c.clone());
        assert_eq!(more, c);
    }
}
