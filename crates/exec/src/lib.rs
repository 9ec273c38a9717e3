//! poex-exec: running jobs.
//!
//! - [`sandbox`]: the sandbox profile (pure values) and the Linux runner (bubblewrap, a cgroup
//!   per job where the host allows one, rlimits, supervised by the parent): run one command
//!   with read-only inputs, one writable output folder, no network and resource limits; get
//!   back how it ended, what it used, its log, and the profile applied. A [`CancelToken`]
//!   stops a running job from another thread.
//!
//! - [`runner`]: the [`runner::Runner`] trait, what executes a prepared job for the pipeline:
//!   [`runner::Bubblewrap`] (the sandbox above) in production, [`runner::testing::Scripted`]
//!   (a closure, no isolation) for tests of the pipeline's own rules.
//!
//! - [`pipeline`]: the job pipeline on top of a runner: verify the request and the stored
//!   bytes against the registry, run, hash the results and the log, write audit events, and
//!   sign the receipt (or a failure receipt when a check refuses the job, or a job ends
//!   without running).
//!
//! - [`at_rest`]: datasets kept encrypted at rest: sealed into the store to the owner's data
//!   key at publish time, opened for one job into a private folder the sandbox mounts
//!   read-only, and removed when the job ends.
//!
//! The poex home on disk (keys, store, log, job folders) is poex-home's; the pipeline reaches a
//! home's log through [`pipeline::LedgerAccess`].
#![deny(unsafe_code)] // the sandbox's few FFI calls opt out one by one, each with a SAFETY argument
#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

pub mod at_rest;
mod inputs;
pub mod outdir;
pub mod pipeline;
pub mod runner;
pub mod sandbox;

pub use sandbox::CancelToken;
