//! Per-job control groups: each job gets cgroups of its own, so that its memory (anonymous
//! memory, page cache, the pages of its tmpfs mounts and memfds, socket buffers and the other
//! kernel memory the controller charges), its processes and its CPU time are counted and
//! limited for the job as a whole, not per process or per uid.
//!
//! Where they go is found once per process ([`hierarchy`]):
//!
//! - **cgroup v2** (the common case): the process's own cgroup must offer the `memory` and
//!   `pids` controllers and be writable by it (a delegated subtree: systemd's `Delegate=yes`,
//!   `systemd-run --scope -p Delegate=yes`, or root). cgroup v2 allows processes only in
//!   leaves, so when that cgroup still holds this process (and nothing else), the process
//!   first moves itself into a leaf `poex-supervisor` below it, then enables the controllers
//!   for the children; each job is a sibling `poex-<pid>-<n>`.
//! - **cgroup v1**: the `memory` and `pids` hierarchies (and `cpuacct`, where mounted) must be
//!   writable; each job is `poex-<pid>-<n>` below the process's own cgroup in each.
//! - otherwise, or with `POEX_CGROUP=none` in the environment, no cgroup is used and the
//!   sandbox falls back to per-process rlimits ([`Accounting::PerProcess`]).
//!
//! The job's first process (bubblewrap) joins its cgroups between fork and exec, by writing
//! `0` to `cgroup.procs` files the parent opened, so every process of the job is in them from
//! its first instruction.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Accounting;

/// Environment variable that turns job cgroups off (`none`); anything else, or unset, means
/// use them where the host allows.
pub const ENV: &str = "POEX_CGROUP";

/// Name prefix of every job cgroup (`poex-<pid>-<n>`), and of the v2 supervisor leaf.
const PREFIX: &str = "poex-";
/// The v2 leaf this process moves into so that its own cgroup may have children with
/// controllers (cgroup v2 has no processes in inner nodes).
const SUPERVISOR: &str = "poex-supervisor";

/// Where job cgroups are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Hierarchy {
    /// Job cgroups are children of this v2 cgroup, whose `cgroup.subtree_control` enables
    /// `memory` and `pids` (and `cpu` where the host offers it).
    V2 {
        /// The parent directory (in the cgroup2 mount).
        parent: PathBuf,
    },
    /// Job cgroups are children of these v1 cgroups.
    V1 {
        /// In the `memory` hierarchy.
        memory: PathBuf,
        /// In the `pids` hierarchy.
        pids: PathBuf,
        /// In the `cpuacct` hierarchy, if mounted.
        cpuacct: Option<PathBuf>,
    },
}

impl Hierarchy {
    pub(super) fn accounting(&self) -> Accounting {
        match self {
            Hierarchy::V2 { .. } => Accounting::CgroupV2,
            Hierarchy::V1 { .. } => Accounting::CgroupV1,
        }
    }

    /// The folders job cgroups are made in.
    fn parents(&self) -> Vec<&Path> {
        match self {
            Hierarchy::V2 { parent } => vec![parent],
            Hierarchy::V1 {
                memory,
                pids,
                cpuacct,
            } => {
                let mut v: Vec<&Path> = vec![memory, pids];
                v.extend(cpuacct.as_deref());
                v
            }
        }
    }
}

/// The hierarchy job cgroups go into, found once per process; `Err` says why there is none
/// (for the per-process fallback's warning).
pub(super) fn hierarchy() -> Result<&'static Hierarchy, &'static str> {
    static FOUND: OnceLock<Result<Hierarchy, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if std::env::var(ENV).is_ok_and(|v| v == "none") {
                return Err(format!("{ENV}=none is set"));
            }
            let cgroups = fs::read_to_string("/proc/self/cgroup")
                .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
            let mounts = fs::read_to_string("/proc/self/mountinfo")
                .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
            let places = Places::parse(&cgroups, &mounts);
            let v2 = match places.v2() {
                Some(dir) => match prepare_v2(&dir) {
                    Ok(parent) => return Ok(Hierarchy::V2 { parent }),
                    Err(e) => Some(e),
                },
                None => None,
            };
            match places.v1() {
                Some(h) => probe(&h).map(|()| h).map_err(|e| {
                    format!("the cgroup v1 memory and pids hierarchies are not usable: {e}")
                }),
                None => Err(v2.unwrap_or_else(|| {
                    "neither a cgroup v2 with the memory and pids controllers nor writable cgroup v1 memory and pids hierarchies were found".into()
                })),
            }
        })
        .as_ref()
        .map_err(String::as_str)
}

/// What the host offers: the process's cgroup in each mounted hierarchy.
#[derive(Debug, Default)]
struct Places {
    /// The v2 cgroup directory of this process, if a cgroup2 filesystem is mounted.
    v2: Option<PathBuf>,
    /// (controllers, directory) of this process in each v1 hierarchy.
    v1: Vec<(Vec<String>, PathBuf)>,
}

impl Places {
    /// From `/proc/self/cgroup` (`ID:CONTROLLERS:PATH`, v2 as `0::PATH`) and
    /// `/proc/self/mountinfo` (where each hierarchy is mounted, and from which root).
    fn parse(cgroups: &str, mountinfo: &str) -> Places {
        let mut places = Places::default();
        let mounts: Vec<Mount> = mountinfo.lines().filter_map(Mount::parse).collect();
        for line in cgroups.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if controllers.is_empty() {
                if let Some(m) = mounts.iter().find(|m| m.fstype == "cgroup2") {
                    places.v2 = m.dir_of(path);
                }
                continue;
            }
            let names: Vec<String> = controllers.split(',').map(str::to_owned).collect();
            let mount = mounts.iter().find(|m| {
                m.fstype == "cgroup"
                    && names
                        .iter()
                        .all(|n| m.super_options.split(',').any(|o| o == n))
            });
            if let Some(dir) = mount.and_then(|m| m.dir_of(path)) {
                places.v1.push((names, dir));
            }
        }
        places
    }

    /// This process's v2 cgroup, if it offers `memory` and `pids`.
    fn v2(&self) -> Option<PathBuf> {
        let dir = self.v2.as_ref()?;
        let offered = fs::read_to_string(dir.join("cgroup.controllers")).ok()?;
        let offered: Vec<&str> = offered.split_whitespace().collect();
        (offered.contains(&"memory") && offered.contains(&"pids")).then(|| dir.clone())
    }

    fn v1(&self) -> Option<Hierarchy> {
        let find = |name: &str| {
            self.v1
                .iter()
                .find(|(names, _)| names.iter().any(|n| n == name))
                .map(|(_, dir)| dir.clone())
        };
        Some(Hierarchy::V1 {
            memory: find("memory")?,
            pids: find("pids")?,
            cpuacct: find("cpuacct"),
        })
    }
}

/// One line of `/proc/self/mountinfo`.
struct Mount {
    root: String,
    mount_point: PathBuf,
    fstype: String,
    super_options: String,
}

impl Mount {
    /// `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS`
    fn parse(line: &str) -> Option<Mount> {
        let (left, right) = line.split_once(" - ")?;
        let mut l = left.split(' ');
        let root = unescape(l.nth(3)?);
        let mount_point = PathBuf::from(unescape(l.next()?));
        let mut r = right.split(' ');
        let fstype = r.next()?.to_owned();
        let super_options = r.nth(1).unwrap_or("").to_owned();
        Some(Mount {
            root,
            mount_point,
            fstype,
            super_options,
        })
    }

    /// Where the cgroup `path` (as `/proc/self/cgroup` names it) is in this mount; `None` if
    /// the mount does not show it (mounted from a root below it).
    fn dir_of(&self, path: &str) -> Option<PathBuf> {
        let rel = if self.root == "/" {
            path
        } else {
            let rest = path.strip_prefix(self.root.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            rest
        };
        Some(self.mount_point.join(rel.trim_start_matches('/')))
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len() + 1
            && bytes
                .get(i + 1..i + 4)
                .is_some_and(|o| o.iter().all(|b| (b'0'..=b'7').contains(b)))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Makes the v2 cgroup `dir` a parent of job cgroups: its `cgroup.subtree_control` must enable
/// `memory` and `pids` (and `cpu` where offered). Enabling fails with `EBUSY` while `dir`
/// holds processes; if the only one is this process, it moves into the leaf
/// [`SUPERVISOR`] first. Returns `dir`.
fn prepare_v2(dir: &Path) -> Result<PathBuf, String> {
    let offered = read_string(&dir.join("cgroup.controllers")).unwrap_or_default();
    let mut wanted = vec!["memory", "pids"];
    if offered.split_whitespace().any(|c| c == "cpu") {
        wanted.push("cpu");
    }
    let enabled = |d: &Path| {
        let on = read_string(&d.join("cgroup.subtree_control")).unwrap_or_default();
        wanted
            .iter()
            .all(|w| on.split_whitespace().any(|c| c == *w))
    };
    if enabled(dir) {
        probe(&Hierarchy::V2 {
            parent: dir.to_owned(),
        })
        .map_err(|e| format!("cannot make a job cgroup in {}: {e}", dir.display()))?;
        return Ok(dir.to_owned());
    }
    let control = dir.join("cgroup.subtree_control");
    let request: String = wanted.iter().map(|w| format!("+{w} ")).collect();
    match write_file(&control, request.trim_end()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let me = std::process::id().to_string();
            let procs = read_string(&dir.join("cgroup.procs")).unwrap_or_default();
            if procs.split_whitespace().any(|p| p != me) {
                return Err(format!(
                    "the cgroup {} holds other processes besides poex; run poex in a delegated cgroup of its own (systemd: Delegate=yes, or systemd-run --scope -p Delegate=yes)",
                    dir.display()
                ));
            }
            let leaf = dir.join(SUPERVISOR);
            match fs::create_dir(&leaf) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("cannot create {}: {e}", leaf.display())),
            }
            write_file(&leaf.join("cgroup.procs"), &me)
                .map_err(|e| format!("cannot move poex into {}: {e}", leaf.display()))?;
            write_file(&control, request.trim_end())
                .map_err(|e| format!("cannot enable {request}in {}: {e}", control.display()))?;
        }
        Err(e) => {
            return Err(format!(
                "cannot enable the memory and pids controllers in {} ({e}); run poex in a delegated cgroup (systemd: Delegate=yes)",
                control.display()
            ));
        }
    }
    Ok(dir.to_owned())
}

/// Makes and removes one job cgroup, to learn whether jobs can have them.
fn probe(h: &Hierarchy) -> io::Result<()> {
    let probe = JobCgroup::create(h, 64 << 20, 8)?;
    probe.remove();
    Ok(())
}

/// The cgroups of one job (one per v1 hierarchy, or one v2 cgroup). Removed by
/// [`JobCgroup::remove`]; dropping it without removing leaves it for [`clean_leftovers`].
#[derive(Debug)]
pub(super) struct JobCgroup {
    accounting: Accounting,
    /// The cgroup folders: v2 one; v1 memory, pids, then cpuacct if mounted.
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of each, open for writing: the child writes `0` to each to join.
    procs: Vec<File>,
    /// The folder with the CPU figures (v2: the cgroup; v1: the cpuacct cgroup).
    cpu_dir: Option<PathBuf>,
}

impl JobCgroup {
    /// Makes the job cgroups in `h` and sets their limits: `memory` bytes of memory, no
    /// swap, `pids` tasks.
    pub(super) fn create(h: &Hierarchy, memory: u64, pids: u64) -> io::Result<JobCgroup> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Self::create_named(h, &name, memory, pids)
    }

    fn create_named(h: &Hierarchy, name: &str, memory: u64, pids: u64) -> io::Result<JobCgroup> {
        let mut cg = JobCgroup {
            accounting: h.accounting(),
            dirs: Vec::new(),
            procs: Vec::new(),
            cpu_dir: None,
        };
        // Any failure below removes what was made (the folders are empty until a task joins).
        let made = (|| -> io::Result<()> {
            for parent in h.parents() {
                let dir = parent.join(name);
                match fs::create_dir(&dir) {
                    Ok(()) => {}
                    // Left by a crashed process with the same pid: no task can be in it
                    // (that pid is us now), so it is ours to reuse.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
                cg.dirs.push(dir);
            }
            match h {
                Hierarchy::V2 { .. } => {
                    let dir = &cg.dirs[0];
                    write_file(&dir.join("memory.max"), &memory.to_string())?;
                    // Absent without swap accounting; then there is no swap to limit.
                    write_optional(&dir.join("memory.swap.max"), "0")?;
                    // On OOM the kernel kills the whole job, not one process of it.
                    write_optional(&dir.join("memory.oom.group"), "1")?;
                    write_file(&dir.join("pids.max"), &pids.to_string())?;
                    cg.cpu_dir = Some(dir.clone());
                }
                Hierarchy::V1 { cpuacct, .. } => {
                    let (mem, pid_dir) = (&cg.dirs[0], &cg.dirs[1]);
                    write_file(&mem.join("memory.limit_in_bytes"), &memory.to_string())?;
                    // memory+swap at the same figure: no swap (absent without swap accounting).
                    write_optional(
                        &mem.join("memory.memsw.limit_in_bytes"),
                        &memory.to_string(),
                    )?;
                    write_file(&pid_dir.join("pids.max"), &pids.to_string())?;
                    if cpuacct.is_some() {
                        cg.cpu_dir = cg.dirs.get(2).cloned();
                    }
                }
            }
            for dir in &cg.dirs {
                cg.procs.push(
                    OpenOptions::new()
                        .write(true)
                        .open(dir.join("cgroup.procs"))?,
                );
            }
            Ok(())
        })();
        match made {
            Ok(()) => Ok(cg),
            Err(e) => {
                cg.remove();
                Err(e)
            }
        }
    }

    pub(super) fn accounting(&self) -> Accounting {
        self.accounting
    }

    /// The `cgroup.procs` descriptors the child writes `0` to (see the module docs).
    pub(super) fn procs_fds(&self) -> Vec<RawFd> {
        self.procs.iter().map(AsRawFd::as_raw_fd).collect()
    }

    /// CPU time of every task that ever ran in the job cgroup: (user, system), or `None`
    /// without a CPU-accounting controller.
    pub(super) fn cpu(&self) -> Option<(Duration, Duration)> {
        let dir = self.cpu_dir.as_ref()?;
        match self.accounting {
            Accounting::CgroupV2 => {
                let stat = read_string(&dir.join("cpu.stat")).ok()?;
                let field = |name: &str| keyed(&stat, name).map(Duration::from_micros);
                Some((field("user_usec")?, field("system_usec")?))
            }
            _ => {
                let ns = |file: &str| {
                    read_string(&dir.join(file))
                        .ok()?
                        .trim()
                        .parse::<u64>()
                        .ok()
                        .map(Duration::from_nanos)
                };
                Some((ns("cpuacct.usage_user")?, ns("cpuacct.usage_sys")?))
            }
        }
    }

    /// Total CPU time (user + system) so far; cheap enough to read every poll.
    pub(super) fn cpu_total(&self) -> Option<Duration> {
        let dir = self.cpu_dir.as_ref()?;
        match self.accounting {
            Accounting::CgroupV2 => keyed(&read_string(&dir.join("cpu.stat")).ok()?, "usage_usec")
                .map(Duration::from_micros),
            _ => read_string(&dir.join("cpuacct.usage"))
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
                .map(Duration::from_nanos),
        }
    }

    /// Peak memory charged to the job cgroup, if the kernel reports it.
    pub(super) fn memory_peak(&self) -> Option<u64> {
        let file = match self.accounting {
            Accounting::CgroupV2 => "memory.peak",
            _ => "memory.max_usage_in_bytes",
        };
        read_string(&self.dirs[0].join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// How many times the kernel's OOM killer killed a task of the job cgroup.
    pub(super) fn oom_kills(&self) -> u64 {
        let file = match self.accounting {
            Accounting::CgroupV2 => "memory.events",
            _ => "memory.oom_control",
        };
        read_string(&self.dirs[0].join(file))
            .ok()
            .and_then(|text| keyed(&text, "oom_kill"))
            .unwrap_or(0)
    }

    /// Kills every task still in the job cgroups (none normally: the pid namespace took them
    /// down with the sandbox's init).
    pub(super) fn kill_all(&self) {
        kill_tasks(&self.dirs);
    }

    /// Removes the job cgroups, killing what is left in them first; waits up to a second for
    /// killed tasks to go. Whatever cannot be removed is left for [`clean_leftovers`].
    pub(super) fn remove(mut self) {
        self.procs.clear();
        remove_dirs(&self.dirs);
    }
}

/// SIGKILLs every task listed in each folder's `cgroup.procs` (v2: through `cgroup.kill` where
/// the kernel has it).
fn kill_tasks(dirs: &[PathBuf]) {
    for dir in dirs {
        if write_file(&dir.join("cgroup.kill"), "1").is_ok() {
            continue;
        }
        for pid in read_string(&dir.join("cgroup.procs"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            kill(pid);
        }
    }
}

#[expect(unsafe_code, reason = "kill is an FFI call")]
fn kill(pid: i32) {
    if pid > 0 {
        // SAFETY: kill takes two integers and touches no memory. The pid was read from a
        // cgroup that only the job's processes join; a pid recycled since is the accepted race
        // of every cgroup v1 killer (v2 avoids it through cgroup.kill).
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

fn remove_dirs(dirs: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(1);
    for dir in dirs {
        loop {
            match fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    kill_tasks(std::slice::from_ref(dir));
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => break,
            }
        }
    }
}

/// What [`clean_leftovers`](crate::sandbox::clean_leftovers) found and removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Leftovers {
    /// Job cgroups of processes that no longer exist, removed.
    pub cgroups: usize,
    /// Processes still running in them, killed.
    pub processes: usize,
    /// Staging folders (`/run/poex-sandbox/<pid>-<n>`) of processes that no longer exist,
    /// removed.
    pub staging: usize,
}

/// Removes the job cgroups that processes which died without removing them left behind
/// (`poex-<pid>-<n>` where `<pid>` is gone), killing anything still running in them: a
/// killed node's jobs. Cgroups of live poex processes are left alone.
pub(super) fn clean_leftovers() -> Leftovers {
    let mut found = Leftovers::default();
    let Ok(h) = hierarchy() else {
        return found;
    };
    for parent in h.parents() {
        let Ok(entries) = fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            // (`poex-supervisor` has no pid: never a leftover.)
            if super::owner_is_gone(&entry.file_name(), PREFIX) != Some(true) {
                continue;
            }
            let dir = entry.path();
            found.processes += read_string(&dir.join("cgroup.procs"))
                .unwrap_or_default()
                .split_whitespace()
                .count();
            remove_dirs(std::slice::from_ref(&dir));
            if !dir.exists() {
                found.cgroups += 1;
            }
        }
    }
    found
}

/// `name value` lines (cpu.stat, memory.events, memory.oom_control): the value of `name`.
fn keyed(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok()).flatten()
    })
}

fn read_string(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
}

/// Writes `value` to a cgroup control file in one `write` (the kernel parses each write).
fn write_file(path: &Path, value: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(value.as_bytes())
}

/// As [`write_file`], but a control file the kernel does not offer is not an error.
fn write_optional(path: &Path, value: &str) -> io::Result<()> {
    match write_file(path, value) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_V1: &str = "\
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
35 24 0:30 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
36 35 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 35 0:32 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
38 35 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
39 35 0:34 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const CGROUP_V1: &str = "\
9:pids:/
4:memory:/process_api/f98a
2:cpu,cpuacct:/
0::/
";

    #[test]
    fn v1_places_follow_each_hierarchy_and_the_own_path() {
        let places = Places::parse(CGROUP_V1, MOUNTINFO_V1);
        assert_eq!(places.v2, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(
            places.v1(),
            Some(Hierarchy::V1 {
                memory: "/sys/fs/cgroup/memory/process_api/f98a".into(),
                pids: "/sys/fs/cgroup/pids".into(),
                cpuacct: Some("/sys/fs/cgroup/cpu,cpuacct".into()),
            })
        );
    }

    #[test]
    fn v2_path_is_relative_to_the_mount_root_and_escapes_are_decoded() {
        let mountinfo = "\
30 1 0:26 /user.slice /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw,nsdelegate
";
        let places = Places::parse("0::/user.slice/user-1000.slice/app.scope\n", mountinfo);
        assert_eq!(
            places.v2,
            Some(PathBuf::from("/sys/fs/cgroup x/user-1000.slice/app.scope"))
        );
        // A cgroup outside the mounted root is not reachable.
        let places = Places::parse("0::/system.slice/x\n", mountinfo);
        assert_eq!(places.v2, None);
        // Without memory and pids controllers there is no v1 choice either.
        assert_eq!(places.v1(), None);
    }

    #[test]
    fn keyed_reads_flat_keyed_files() {
        let stat = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n";
        assert_eq!(keyed(stat, "usage_usec"), Some(1500));
        assert_eq!(keyed(stat, "user_usec"), Some(1000));
        assert_eq!(
            keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            Some(3)
        );
        assert_eq!(keyed("", "oom_kill"), None);
    }

    /// cgroup v2 cannot run on this project's test machine (its memory and pids controllers
    /// are bound to v1), so the v2 file protocol is checked against a folder laid out as a
    /// delegated v2 cgroup: what is written where, and what is read back.
    #[test]
    fn a_v2_job_cgroup_writes_the_v2_control_files() {
        let root = tempfile::tempdir().unwrap();
        let parent = root.path().to_path_buf();
        fs::write(parent.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        fs::write(parent.join("cgroup.subtree_control"), "cpu memory pids\n").unwrap();
        let h = Hierarchy::V2 {
            parent: parent.clone(),
        };
        // The kernel makes the control files of a new cgroup; here a pre-made folder stands in.
        let dir = parent.join("poex-1-0");
        fs::create_dir(&dir).unwrap();
        for f in [
            "memory.max",
            "memory.swap.max",
            "memory.oom.group",
            "pids.max",
            "cgroup.procs",
        ] {
            fs::write(dir.join(f), "").unwrap();
        }
        fs::write(
            dir.join("cpu.stat"),
            "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\n",
        )
        .unwrap();
        fs::write(dir.join("memory.peak"), "12345\n").unwrap();
        fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
        )
        .unwrap();
        let cg = JobCgroup::create_named(&h, "poex-1-0", 256 << 20, 66).unwrap();
        assert_eq!(cg.dirs, std::slice::from_ref(&dir));
        assert_eq!(
            fs::read_to_string(dir.join("memory.max")).unwrap(),
            (256u64 << 20).to_string()
        );
        assert_eq!(
            fs::read_to_string(dir.join("memory.swap.max")).unwrap(),
            "0"
        );
        assert_eq!(
            fs::read_to_string(dir.join("memory.oom.group")).unwrap(),
            "1"
        );
        assert_eq!(fs::read_to_string(dir.join("pids.max")).unwrap(), "66");
        assert_eq!(cg.accounting(), Accounting::CgroupV2);
        assert_eq!(cg.procs_fds().len(), 1);
        assert_eq!(
            cg.cpu(),
            Some((Duration::from_millis(2), Duration::from_millis(1)))
        );
        assert_eq!(cg.cpu_total(), Some(Duration::from_millis(3)));
        assert_eq!(cg.memory_peak(), Some(12345));
        assert_eq!(cg.oom_kills(), 1);
    }
}
