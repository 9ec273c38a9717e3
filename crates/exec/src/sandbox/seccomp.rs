//! The seccomp filter bubblewrap installs in the job (`--seccomp FD`): a small deny list of
//! system calls that a data-processing job never needs and that are classic escape or
//! information-leak vectors. Everything else is allowed; see `docs/sandbox.md` for what this
//! stops and what it does not.
//!
//! The program is classic BPF, built here as bytes: an array of `struct sock_filter`
//! `{ u16 code; u8 jt; u8 jf; u32 k; }` in native byte order, which bubblewrap reads from the
//! descriptor and loads with `PR_SET_NO_NEW_PRIVS` just before it executes the job. It runs on
//! each system call over `struct seccomp_data { int nr; u32 arch; u64 ip; u64 args[6]; }`:
//!
//! ```text
//!  0  A = arch                      ; seccomp_data.arch (offset 4)
//!  1  if A == AUDIT_ARCH_X86_64 goto 3
//!  2  return KILL_PROCESS           ; i386 (int 0x80) or anything else: numbers differ there
//!  3  A = nr                        ; seccomp_data.nr (offset 0)
//!  4  if A >= 0x40000000 goto deny  ; the x32 ABI (__X32_SYSCALL_BIT)
//!  5  if A == DENIED[0] goto deny
//!     ...                           ; one comparison per denied call
//!  N  return ALLOW
//!  N+1 deny: return ERRNO(EPERM)
//! ```
//!
//! `EPERM` rather than a kill, so that a program probing for a feature (glibc, Python) falls
//! back as it would without privileges. The numbers are x86_64's; the
//! filter is built only for `target_arch = "x86_64"`, and elsewhere the profile says `none`.
//! Changing [`DENIED_SYSCALLS`] changes the policy: bump the version in [`description`].

/// System calls the job gets `EPERM` for, with their x86_64 numbers
/// (`/usr/include/x86_64-linux-gnu/asm/unistd_64.h`; the unit tests check them against it and
/// against `libc::SYS_*`).
pub const DENIED_SYSCALLS: &[(&str, u32)] = &[
    // Reading or writing another process's memory.
    ("ptrace", 101),
    ("process_vm_readv", 310),
    ("process_vm_writev", 311),
    // Replacing or extending the kernel.
    ("kexec_load", 246),
    ("kexec_file_load", 320),
    ("init_module", 175),
    ("finit_module", 313),
    ("delete_module", 176),
    // Large, often-exploited kernel subsystems a data job does not use.
    ("bpf", 321),
    ("perf_event_open", 298),
    ("userfaultfd", 323),
    ("io_uring_setup", 425),
    ("io_uring_enter", 426),
    ("io_uring_register", 427),
    // The kernel keyring (not namespaced).
    ("keyctl", 250),
    ("add_key", 248),
    ("request_key", 249),
    // Mounts and namespaces: bubblewrap has built the sandbox, the job changes nothing.
    ("mount", 165),
    ("umount2", 166),
    ("pivot_root", 155),
    ("chroot", 161),
    ("setns", 308),
    ("unshare", 272),
    ("move_mount", 429),
    ("open_tree", 428),
    ("fsopen", 430),
    ("fsconfig", 431),
    ("fsmount", 432),
    ("fspick", 433),
    ("mount_setattr", 442),
    // File handles bypass path lookup (the classic container escape).
    ("open_by_handle_at", 304),
    ("name_to_handle_at", 303),
    // Host-wide state: swap, reboot, accounting, clocks, quotas.
    ("swapon", 167),
    ("swapoff", 168),
    ("reboot", 169),
    ("acct", 163),
    ("settimeofday", 164),
    ("clock_settime", 227),
    ("clock_adjtime", 305),
    ("adjtimex", 159),
    ("quotactl", 179),
    ("vhangup", 153),
    // Raw I/O ports.
    ("iopl", 172),
    ("ioperm", 173),
    // Kernel information leaks.
    ("syslog", 103),
    ("lookup_dcookie", 212),
    ("fanotify_init", 300),
];

// The filter's jump offsets are u8 (see `x86_64::instructions`).
const _: () = assert!(DENIED_SYSCALLS.len() < 254);

/// What the receipt records as the seccomp filter applied (`Profile::seccomp`).
pub fn description() -> String {
    if cfg!(target_arch = "x86_64") {
        format!(
            "deny-list v1: {} syscalls -> EPERM, x32 -> EPERM, non-x86_64 -> kill",
            DENIED_SYSCALLS.len()
        )
    } else {
        "none".into()
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86_64::program;

/// The generator, built only where the numbers above mean what they say.
#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use super::DENIED_SYSCALLS;

    // Classic BPF opcodes (linux/bpf_common.h). An opcode is class | size | mode (or operation).
    const BPF_LD: u16 = 0x00;
    const BPF_JMP: u16 = 0x05;
    const BPF_RET: u16 = 0x06;
    const BPF_W: u16 = 0x00; // 32-bit load
    const BPF_ABS: u16 = 0x20; // load from a fixed offset of seccomp_data
    const BPF_JEQ: u16 = 0x10;
    const BPF_JGE: u16 = 0x30;
    const BPF_K: u16 = 0x00; // compare with the constant `k`

    // Return values (linux/seccomp.h): the action in the high 16 bits, data (the errno) below.
    const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 1;

    /// `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE` (linux/audit.h).
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    /// x32 system calls are x86_64 numbers with this bit set (`__X32_SYSCALL_BIT`).
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    /// Offsets in `struct seccomp_data`.
    const OFFSET_NR: u32 = 0;
    const OFFSET_ARCH: u32 = 4;

    /// One `struct sock_filter`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Insn {
        code: u16,
        jt: u8,
        jf: u8,
        k: u32,
    }

    impl Insn {
        fn load(offset: u32) -> Insn {
            Insn {
                code: BPF_LD | BPF_W | BPF_ABS,
                jt: 0,
                jf: 0,
                k: offset,
            }
        }

        /// `if A <op> k` skip `jt` instructions, else skip `jf`.
        fn jump(op: u16, k: u32, jt: u8, jf: u8) -> Insn {
            Insn {
                code: BPF_JMP | op | BPF_K,
                jt,
                jf,
                k,
            }
        }

        fn ret(k: u32) -> Insn {
            Insn {
                code: BPF_RET | BPF_K,
                jt: 0,
                jf: 0,
                k,
            }
        }
    }

    /// The instructions, as drawn in the module documentation.
    fn instructions() -> Vec<Insn> {
        let n = DENIED_SYSCALLS.len();
        // Jump offsets are u8 and count the instructions skipped: the deny return sits n + 1
        // instructions after the x32 check, which the length assertion above keeps below 255.
        let to_deny = |skip: usize| u8::try_from(skip).expect("deny list below 254 entries");
        let mut prog = Vec::with_capacity(n + 7);
        prog.push(Insn::load(OFFSET_ARCH));
        prog.push(Insn::jump(BPF_JEQ, AUDIT_ARCH_X86_64, 1, 0));
        prog.push(Insn::ret(SECCOMP_RET_KILL_PROCESS));
        prog.push(Insn::load(OFFSET_NR));
        // Between here and the deny return: n comparisons and the allow return.
        prog.push(Insn::jump(BPF_JGE, X32_SYSCALL_BIT, to_deny(n + 1), 0));
        for (i, &(_, nr)) in DENIED_SYSCALLS.iter().enumerate() {
            // After comparison i: n - 1 - i comparisons and the allow return.
            prog.push(Insn::jump(BPF_JEQ, nr, to_deny(n - i), 0));
        }
        prog.push(Insn::ret(SECCOMP_RET_ALLOW));
        prog.push(Insn::ret(SECCOMP_RET_ERRNO | EPERM));
        prog
    }

    /// The filter as bubblewrap reads it: 8 bytes per instruction, native byte order.
    pub(crate) fn program() -> Vec<u8> {
        instructions()
            .iter()
            .flat_map(|i| {
                let mut b = [0u8; 8];
                b[0..2].copy_from_slice(&i.code.to_ne_bytes());
                b[2] = i.jt;
                b[3] = i.jf;
                b[4..8].copy_from_slice(&i.k.to_ne_bytes());
                b
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Runs the program the way the kernel would, for the instructions it uses.
        fn run(prog: &[Insn], arch: u32, nr: u32) -> u32 {
            let mut a = 0u32;
            let mut pc = 0usize;
            loop {
                let i = prog[pc];
                pc += 1;
                match i.code {
                    0x20 => {
                        a = match i.k {
                            OFFSET_NR => nr,
                            OFFSET_ARCH => arch,
                            k => panic!("load from offset {k}"),
                        }
                    }
                    0x15 | 0x35 => {
                        let taken = if i.code == 0x15 { a == i.k } else { a >= i.k };
                        pc += usize::from(if taken { i.jt } else { i.jf });
                    }
                    0x06 => return i.k,
                    code => panic!("opcode {code:#x}"),
                }
            }
        }

        #[test]
        fn program_has_the_expected_shape() {
            let n = DENIED_SYSCALLS.len();
            assert_eq!(n, 47);
            let prog = instructions();
            assert_eq!(prog.len(), n + 7);
            assert_eq!(prog.len(), 54);
            // The kernel limit is 4096 instructions; a pipe accepts 4096 bytes without blocking,
            // which the runner relies on when it writes the program before spawning.
            {
                let bytes = program();
                assert_eq!(bytes.len(), prog.len() * 8);
                assert!(bytes.len() <= 4096);
                // The first instruction, byte for byte: BPF_LD|BPF_W|BPF_ABS, 0, 0, offset 4.
                assert_eq!(bytes[..8], [0x20, 0, 0, 0, 4, 0, 0, 0]);
            }
            // Opcodes and return values as the kernel headers define them.
            assert_eq!(
                u32::from(BPF_LD | BPF_W | BPF_ABS),
                libc::BPF_LD | libc::BPF_W | libc::BPF_ABS
            );
            assert_eq!(
                u32::from(BPF_JMP | BPF_JEQ | BPF_K),
                libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K
            );
            assert_eq!(
                u32::from(BPF_JMP | BPF_JGE | BPF_K),
                libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K
            );
            assert_eq!(u32::from(BPF_RET | BPF_K), libc::BPF_RET | libc::BPF_K);
            assert_eq!(SECCOMP_RET_KILL_PROCESS, libc::SECCOMP_RET_KILL_PROCESS);
            assert_eq!(SECCOMP_RET_ERRNO, libc::SECCOMP_RET_ERRNO);
            assert_eq!(SECCOMP_RET_ALLOW, libc::SECCOMP_RET_ALLOW);
            assert_eq!(EPERM, u32::try_from(libc::EPERM).unwrap());
            assert_eq!(
                usize::try_from(OFFSET_NR).unwrap(),
                std::mem::offset_of!(libc::seccomp_data, nr)
            );
            assert_eq!(
                usize::try_from(OFFSET_ARCH).unwrap(),
                std::mem::offset_of!(libc::seccomp_data, arch)
            );
        }

        #[test]
        fn program_denies_the_list_x32_and_foreign_arches_and_allows_the_rest() {
            let prog = instructions();
            let deny = SECCOMP_RET_ERRNO | EPERM;
            for &(name, nr) in DENIED_SYSCALLS {
                assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr), deny, "{name}");
                // The same call through the x32 ABI.
                assert_eq!(
                    run(&prog, AUDIT_ARCH_X86_64, nr | X32_SYSCALL_BIT),
                    deny,
                    "x32 {name}"
                );
            }
            // read, write, openat, mmap, clone, clone3, execve, exit_group, getpid (x32 too).
            for nr in [0, 1, 257, 9, 56, 435, 59, 231] {
                assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr), SECCOMP_RET_ALLOW, "{nr}");
                assert_eq!(
                    run(&prog, AUDIT_ARCH_X86_64, nr | X32_SYSCALL_BIT),
                    deny,
                    "x32 {nr}"
                );
            }
            let allowed = (0..1024)
                .filter(|&nr| run(&prog, AUDIT_ARCH_X86_64, nr) == SECCOMP_RET_ALLOW)
                .count();
            assert_eq!(allowed, 1024 - DENIED_SYSCALLS.len());
            // AUDIT_ARCH_I386 (`int 0x80` from a 64-bit process), and any other value.
            for arch in [0x4000_0003, 0, u32::MAX] {
                assert_eq!(run(&prog, arch, 39), SECCOMP_RET_KILL_PROCESS);
            }
        }

        #[test]
        fn deny_list_matches_libc() {
            let libc: &[(&str, libc::c_long)] = &[
                ("ptrace", libc::SYS_ptrace),
                ("process_vm_readv", libc::SYS_process_vm_readv),
                ("process_vm_writev", libc::SYS_process_vm_writev),
                ("kexec_load", libc::SYS_kexec_load),
                ("kexec_file_load", libc::SYS_kexec_file_load),
                ("init_module", libc::SYS_init_module),
                ("finit_module", libc::SYS_finit_module),
                ("delete_module", libc::SYS_delete_module),
                ("bpf", libc::SYS_bpf),
                ("perf_event_open", libc::SYS_perf_event_open),
                ("userfaultfd", libc::SYS_userfaultfd),
                ("io_uring_setup", libc::SYS_io_uring_setup),
                ("io_uring_enter", libc::SYS_io_uring_enter),
                ("io_uring_register", libc::SYS_io_uring_register),
                ("keyctl", libc::SYS_keyctl),
                ("add_key", libc::SYS_add_key),
                ("request_key", libc::SYS_request_key),
                ("mount", libc::SYS_mount),
                ("umount2", libc::SYS_umount2),
                ("pivot_root", libc::SYS_pivot_root),
                ("chroot", libc::SYS_chroot),
                ("setns", libc::SYS_setns),
                ("unshare", libc::SYS_unshare),
                ("move_mount", libc::SYS_move_mount),
                ("open_tree", libc::SYS_open_tree),
                ("fsopen", libc::SYS_fsopen),
                ("fsconfig", libc::SYS_fsconfig),
                ("fsmount", libc::SYS_fsmount),
                ("fspick", libc::SYS_fspick),
                ("mount_setattr", libc::SYS_mount_setattr),
                ("open_by_handle_at", libc::SYS_open_by_handle_at),
                ("name_to_handle_at", libc::SYS_name_to_handle_at),
                ("swapon", libc::SYS_swapon),
                ("swapoff", libc::SYS_swapoff),
                ("reboot", libc::SYS_reboot),
                ("acct", libc::SYS_acct),
                ("settimeofday", libc::SYS_settimeofday),
                ("clock_settime", libc::SYS_clock_settime),
                ("clock_adjtime", libc::SYS_clock_adjtime),
                ("adjtimex", libc::SYS_adjtimex),
                ("quotactl", libc::SYS_quotactl),
                ("vhangup", libc::SYS_vhangup),
                ("iopl", libc::SYS_iopl),
                ("ioperm", libc::SYS_ioperm),
                ("syslog", libc::SYS_syslog),
                ("lookup_dcookie", libc::SYS_lookup_dcookie),
                ("fanotify_init", libc::SYS_fanotify_init),
            ];
            assert_eq!(libc.len(), DENIED_SYSCALLS.len());
            for (&(name, nr), &(libc_name, libc_nr)) in DENIED_SYSCALLS.iter().zip(libc) {
                assert_eq!(name, libc_name);
                assert_eq!(libc::c_long::from(nr), libc_nr, "{name}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_list_has_no_duplicates_and_only_x86_64_numbers() {
        let mut names: Vec<&str> = DENIED_SYSCALLS.iter().map(|(n, _)| *n).collect();
        let mut numbers: Vec<u32> = DENIED_SYSCALLS.iter().map(|(_, nr)| *nr).collect();
        names.sort_unstable();
        names.dedup();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(names.len(), DENIED_SYSCALLS.len(), "duplicate name");
        assert_eq!(numbers.len(), DENIED_SYSCALLS.len(), "duplicate number");
        // Below __X32_SYSCALL_BIT (0x40000000), which the filter checks first.
        let x32_bit = 0x4000_0000;
        assert!(numbers.iter().all(|&nr| nr < x32_bit), "{numbers:?}");
    }

    /// Every number against the kernel header, when it is installed.
    #[test]
    fn deny_list_matches_the_kernel_header() {
        let Ok(header) = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
        else {
            return;
        };
        for &(name, nr) in DENIED_SYSCALLS {
            let define = format!("__NR_{name}");
            let found = header.lines().find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some("#define") && words.next() == Some(define.as_str()))
                    .then(|| words.next())
                    .flatten()
            });
            assert_eq!(found, Some(nr.to_string().as_str()), "{name}");
        }
    }

    #[test]
    fn description_counts_the_list() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            description(),
            "deny-list v1: 47 syscalls -> EPERM, x32 -> EPERM, non-x86_64 -> kill"
        );
        #[cfg(not(target_arch = "x86_64"))]
        assert_eq!(description(), "none");
    }
}
