//! [`Runner`]: what executes a prepared job for the pipeline.
//!
//! The pipeline's rules — verify before running, refuse, record every read, hash and seal the
//! results, sign the receipt — do not depend on how a job is executed. They ask a `Runner` to
//! run a [`Spec`] and get an [`Outcome`] back. [`Bubblewrap`] (the Linux sandbox,
//! docs/sandbox.md) is the runner of `poex run`, `poex exec` and `poex node`;
//! [`testing::Scripted`] runs a closure in-process so that the pipeline's rules are tested
//! without a sandbox. Further runners (WebAssembly, a cluster scheduler) implement the same
//! contract.

use crate::sandbox::{self, Outcome, SandboxError, Spec};

/// Executes one prepared job.
///
/// # Implementation notes
///
/// - `run` blocks until the job has ended and nothing of it runs any more.
/// - It applies [`Spec::limits`] and honours [`Spec::cancel`] (within a fraction of a second),
///   mounts [`Spec::read_only`] read-only and [`Spec::output`] writable, and nothing else of
///   the host is the job's.
/// - A job that fails, is killed or exceeds a limit is an `Ok` [`Outcome`]: its termination
///   says how it ended, its usage what it used, its profile the isolation actually applied
///   (recorded in the receipt, so it must be true). `Err` only when the job could not be run at
///   all; the pipeline then signs a `failed` receipt with the error's message.
/// - It may be called from several threads at once.
pub trait Runner: Sync {
    /// Runs the job described by `spec` and waits for it to end.
    fn run(&self, spec: &Spec) -> Result<Outcome, SandboxError>;
}

/// The Linux sandbox: bubblewrap, a cgroup per job, rlimits and a supervising parent
/// ([`sandbox::run`], docs/sandbox.md).
#[derive(Clone, Copy, Debug, Default)]
pub struct Bubblewrap;

impl Runner for Bubblewrap {
    fn run(&self, spec: &Spec) -> Result<Outcome, SandboxError> {
        sandbox::run(spec)
    }
}

/// Runners for tests of the pipeline's own rules.
pub mod testing {
    use std::os::unix::fs::MetadataExt as _;
    use std::time::Instant;

    use super::Runner;
    use crate::sandbox::{
        Access, Accounting, Outcome, Profile, ProfileMount, SandboxError, Spec, Termination, Usage,
    };

    /// What a [`Scripted`] job did.
    #[derive(Debug)]
    #[non_exhaustive]
    pub struct Script {
        /// How it ended.
        pub termination: Termination,
        /// What it printed.
        pub log: Vec<u8>,
    }

    impl Script {
        /// A job that exited with `code` after printing `log`.
        pub fn exited(code: i32, log: &str) -> Script {
            Script {
                termination: Termination::Exited(code),
                log: log.as_bytes().to_vec(),
            }
        }

        /// A job that ended as `termination`, printing nothing.
        pub fn ended(termination: Termination) -> Script {
            Script {
                termination,
                log: Vec::new(),
            }
        }
    }

    fn own_id(f: impl Fn(&std::fs::Metadata) -> u32) -> u32 {
        std::fs::metadata("/proc/self").map_or(0, |m| f(&m))
    }

    /// Runs a closure in this process instead of a job: it gets the [`Spec`] (and may write
    /// results into [`Spec::output`], the host folder) and says how the "job" ended. **No
    /// isolation at all**: for tests of what the pipeline does around a run. Its profile says
    /// so (`engine: scripted (in-process, no isolation; tests only)`), so a receipt from it
    /// can never pass for a sandboxed one.
    pub struct Scripted<F>(pub F);

    impl<F> Runner for Scripted<F>
    where
        F: Fn(&Spec) -> Result<Script, SandboxError> + Sync,
    {
        fn run(&self, spec: &Spec) -> Result<Outcome, SandboxError> {
            let start = Instant::now();
            let script = (self.0)(spec)?;
            let out = crate::outdir::measure(&spec.output);
            let log_cap = usize::try_from(spec.limits.log_bytes).unwrap_or(usize::MAX);
            let total = script.log.len() as u64;
            let mut log = script.log;
            log.truncate(log_cap);
            let mut mounts: Vec<ProfileMount> = spec
                .read_only
                .iter()
                .map(|m| ProfileMount {
                    path: m.sandbox.to_string_lossy().into_owned(),
                    kind: "input".into(),
                    access: Access::Ro,
                })
                .collect();
            mounts.push(ProfileMount {
                path: spec.output_at.to_string_lossy().into_owned(),
                kind: "output".into(),
                access: Access::Rw,
            });
            Ok(Outcome {
                termination: script.termination,
                usage: Usage {
                    wall: start.elapsed(),
                    output_bytes: out.bytes,
                    output_files: out.files,
                    output_entries: out.entries,
                    output_too_deep: out.too_deep,
                    log_bytes: total,
                    ..Usage::default()
                },
                log_truncated: total > log.len() as u64,
                log,
                profile: Profile {
                    engine: "scripted (in-process, no isolation; tests only)".into(),
                    namespaces: Vec::new(),
                    nested_user_namespaces: true,
                    network: "host".into(),
                    uid: own_id(|m| m.uid()),
                    gid: own_id(|m| m.gid()),
                    hostname: String::new(),
                    mounts,
                    limits: spec.limits.clone(),
                    nproc_rlimit: None,
                    env_keys: spec.env.iter().map(|(k, _)| k.clone()).collect(),
                    accounting: Accounting::PerProcess,
                    seccomp: "none".into(),
                },
            })
        }
    }
}
