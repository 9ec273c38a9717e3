#!/usr/bin/env python3
"""What each step of one job costs: `poex exec` and `poex run` of /usr/bin/true, with and
without the job cgroup, split at the steps the pipeline reports (POEX_TIMINGS=1 prints the
milliseconds since the process started when each step begins). Medians of 21 runs each.

    cargo build --release -p poex-cli
    python3 crates/cli/benches/job_steps.py [target/release/poex]

The homes and job folders are made under a fresh temporary folder (POEX_BENCH_DIR, default
/tmp) and removed at the end. docs/performance.md ("What each step of a job costs") has the
figures and what they mean.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

POEX = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/poex")
ROUNDS = 21
STEP = re.compile(r"timing\s+([\d.]+) ms  (.*)")


def poex(home, *args, env=None, check=True):
    e = {**os.environ, "POEX_HOME": home, **(env or {})}
    return subprocess.run([POEX, *args], env=e, check=check, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def steps(home, args, env, clean):
    per, order = {}, []
    for _ in range(ROUNDS):
        clean()
        r = poex(home, *args, env={**env, "POEX_TIMINGS": "1"})
        prev, name = 0.0, "process start, argument parsing"
        for m in STEP.finditer(r.stderr):
            t = float(m.group(1))
            per.setdefault(name, []).append(t - prev)
            if name not in order:
                order.append(name)
            prev, name = t, m.group(2)
        per.setdefault("total (to the last step)", []).append(prev)
    order.append("total (to the last step)")
    return [(k, statistics.median(per[k])) for k in order]


def main():
    scratch = tempfile.mkdtemp(prefix="poex-steps-", dir=os.environ.get("POEX_BENCH_DIR"))
    try:
        home = os.path.join(scratch, "home")
        poex(home, "init", "-q")
        noop = os.path.join(scratch, "noop")
        os.mkdir(noop)
        with open(os.path.join(noop, "README"), "w") as f:
            f.write("runs /usr/bin/true\n")
        tiny = os.path.join(scratch, "tiny")
        with open(tiny, "w") as f:
            f.write("x")
        poex(home, "publish", "-q", "algorithm", noop, "--name", "noop", "--entrypoint", "/usr/bin/true")
        poex(home, "publish", "-q", "dataset", tiny, "--name", "tiny", "--allow", "noop")
        out = os.path.join(scratch, "out")
        job = os.path.join(scratch, "job")

        def clean_exec():
            shutil.rmtree(out, ignore_errors=True)
            for name in os.listdir(scratch):
                if name.startswith("out."):
                    os.remove(os.path.join(scratch, name))
            os.mkdir(out)

        def clean_run():
            shutil.rmtree(job, ignore_errors=True)

        exec_args = ["exec", "-q", "--out", out, "--", "/usr/bin/true"]
        run_args = ["run", "-q", "--algorithm", "noop", "--dataset", "tiny", "--out", job]
        for label, args, env, clean in [
            ("poex exec", exec_args, {}, clean_exec),
            ("poex exec, no cgroup", exec_args, {"POEX_CGROUP": "none"}, clean_exec),
            ("poex run", run_args, {}, clean_run),
            ("poex run, no cgroup", run_args, {"POEX_CGROUP": "none"}, clean_run),
        ]:
            print(f"## {label} (median of {ROUNDS})")
            for name, ms in steps(home, args, env, clean):
                print(f"  {ms:6.2f} ms  {name}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
