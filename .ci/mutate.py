#!/usr/bin/env python3
"""Mutation run for the containment mechanisms (docs/SECURITY.md).

Each mechanism is deleted, one at a time, in a fresh copy of the committed
tree (git archive HEAD), and the tests of its class are run: a mechanism
whose removal fails no test is not proved by the suite. The work tree is
never touched. Run from the repository as root and as an ordinary user:

    python3 .ci/mutate.py            # every mechanism
    python3 .ci/mutate.py ABI "PID"  # those whose names contain these words

Not part of CI (it runs the suites a dozen times).
"""
import os, subprocess, sys, tempfile

# name, file, text to replace, replacement, tests (go test -run), package
MUTATIONS = [
    ("seccomp ABI filter", "internal/sandbox/seccomp_linux.go",
     "\tif err := loadABIFilter(); err != nil {", "\tif err := error(nil); err != nil {",
     "TestContainment/(namespaces|filter-only)/(i386|x32)", "."),
    ("seccomp argument checks on other processes", "internal/sandbox/seccomp_linux.go",
     "{Action: eperm, NamesWithCondtions: selfOnlyRules(fc)},", "",
     "TestContainment/(namespaces|filter-only)/(prlimit|setpriority|sched|ioprio)", "."),
    ("PID namespace", "internal/sandbox/namespaces_linux.go",
     "nsBase = syscall.CLONE_NEWPID | ", "nsBase = ",
     "TestContainment/namespaces/|TestDescendants|TestHostilePlugins/namespaces/(opening|reading_the_host|signalling)", "."),
    ("read-only mounts", "internal/sandbox/confine_linux.go",
     "\t\tif err := readOnlyExceptWrites(p); err != nil {", "\t\tif err := error(nil); err != nil {",
     "TestContainment/namespaces/(chmod|chown|utimes|setxattr|hard)|TestHostilePlugins/namespaces/writing", "."),
    ("seccomp metadata refusal (no namespaces)", "internal/sandbox/seccomp_linux.go",
     "Names: existing(metadataCalls)", "Names: existing(nil)",
     "TestContainment/filter-only/(chmod|chown|utimes|setxattr)", "."),
    ("AF_UNIX needing the unix grant", "internal/sandbox/seccomp_linux.go",
     "\t\tallow(unix.AF_NETLINK) // routing", "\t\tallow(unix.AF_UNIX)\n\t\tallow(unix.AF_NETLINK) // routing",
     "TestContainment/.*/unix_socket", "."),
    ("capability drop", "internal/sandbox/confine_linux.go",
     "\tif err := dropPrivileges(p.RunAs, &rep); err != nil {", "\tif err := error(nil); err != nil {",
     "TestContainment/.*/capabilities|TestRunAs", "."),
    ("setsid refusal (no namespaces)", "internal/sandbox/seccomp_linux.go",
     'Names: []string{"setsid", "setpgid"}', "Names: nil",
     "TestDescendantsEndWithPlugin", "."),
    ("seccomp device-node refusal", "internal/sandbox/seccomp_linux.go",
     "{Action: eperm, NamesWithCondtions: deviceNodeRules()},", "",
     "TestContainment/.*/device", "."),
    ("Landlock signal scope", "internal/sandbox/confine_linux.go",
     "\t\tif err := cfg.RestrictScoped(); err != nil {", "\t\tif err := error(nil); err != nil {",
     "TestContainment/filter-only/(kill|abstract)|TestHostilePlugins/filter-only/signalling", "."),
    ("network namespace", "internal/sandbox/namespaces_linux.go",
     "\t\tflags |= syscall.CLONE_NEWNET", "\t\t_ = flags",
     "TestContainment|TestHostilePlugins", "."),
    ("a /proc of the PID namespace", "internal/sandbox/confine_linux.go",
     "\t\tif err := mountProc(); err != nil {", "\t\tif err := error(nil); err != nil {",
     "TestHostilePlugins/namespaces/(opening|reading_the_host)|TestContainment/namespaces/oom", "."),
]


def main(selected):
    repo = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="airlock-mutate-") as tree:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=repo, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        print(f"# mutation run on {head}, uid {os.getuid()}")
        for name, path, old, new, tests, pkg in MUTATIONS:
            if selected and not any(s.lower() in name.lower() for s in selected):
                continue
            run_one(tree, name, path, old, new, tests, pkg)


def run_one(tree, name, path, old, new, tests, pkg):
    file = os.path.join(tree, path)
    src = open(file).read()
    if old not in src:
        print(f"## {name}: MUTATION NOT APPLIED (text not found in {path}; update .ci/mutate.py)")
        return
    open(file, "w").write(src.replace(old, new, 1))
    try:
        r = subprocess.run(["go", "test", "-count=1", "-timeout", "600s", "-run", tests, pkg],
                           cwd=tree, capture_output=True, text=True)
    finally:
        open(file, "w").write(src)
    failed = [l.split()[2] for l in r.stdout.splitlines()
              if l.strip().startswith("--- FAIL") and "/" in l.split()[2]]
    tops = [l.split()[2] for l in r.stdout.splitlines() if l.startswith("--- FAIL")]
    if r.returncode == 0:
        print(f"## {name}: NO TEST FAILS")
    else:
        print(f"## {name}: {len(failed) or len(tops)} failing")
        for t in (failed or tops):
            print("    " + t)
        if not failed and not tops:
            print((r.stdout + r.stderr)[-1500:])
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
