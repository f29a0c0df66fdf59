"""scripts/setup.sh function by function: the package manager's lock, policy-rc.d, the Python
range, Mininet for the interpreter in use; and the subset `make test-fast` runs."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "scripts" / "setup.sh"


def _sigint_as_in_a_terminal() -> None:
    # A job started in the background (CI's runner may be one) inherits SIGINT ignored, and
    # bash cannot trap a signal ignored when it starts: Ctrl-C at a terminal finds it default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def setup_fn(script: str, **env: str) -> subprocess.Popen[str]:
    """Start bash with setup.sh's functions defined, running `script`."""
    return subprocess.Popen(
        ["bash", "-c", f"source {SETUP}\n{script}"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_sigint_as_in_a_terminal,
    )


def run_fn(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    p = setup_fn(script, **env)
    out, err = p.communicate(timeout=60)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.fixture
def held_lock(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A lock file held as dpkg holds its own (an fcntl write lock), by this process."""
    path = tmp_path / "lock-frontend"
    with path.open("w") as f:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield path, f.fileno()


def test_lock_wait_returns_at_once_when_no_install_runs(tmp_path: Path) -> None:
    free = tmp_path / "lock"
    free.write_text("")
    r = run_fn(f"APT_LOCKS=({free} {tmp_path / 'absent'}); wait_for_apt_locks")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_lock_wait_names_the_holder_and_goes_on_once_it_lets_go(
    held_lock: tuple[Path, int], tmp_path: Path
) -> None:
    path, fd = held_lock
    other = tmp_path / "lock"
    other.write_text("")
    p = setup_fn(f"APT_LOCKS=({other} {path}); wait_for_apt_locks && echo free")
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line == (
        f"setup: waiting for the package manager: {path} is locked by process {os.getpid()} "
        f"({' '.join(_cmdline(os.getpid()))})\n"
    )
    assert p.poll() is None, "it returned while the lock was still held"
    fcntl.lockf(fd, fcntl.LOCK_UN)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, out, err) == (0, "free\n", "")


def test_lock_wait_gives_up_after_its_timeout_with_a_message(
    held_lock: tuple[Path, int],
) -> None:
    path, _ = held_lock
    r = run_fn(f"APT_LOCKS=({path}); wait_for_apt_locks", APT_LOCK_TIMEOUT="0")
    assert r.returncode == 1
    assert r.stderr.startswith(f"setup: {path} is still locked by process {os.getpid()} ("), (
        r.stderr
    )
    assert r.stderr.endswith(
        "after 0 s; run setup again when that install has finished (APT_LOCK_TIMEOUT sets "
        "the wait).\n"
    )


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0").split("\0")


POLICY_SEEN = 'cat "$POLICY_RC_D"; "$POLICY_RC_D"; echo "policy says $?"'


def test_policy_rc_d_the_machine_has_is_used_and_left_as_it_was(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# the owner's own policy\nexit 0\n")
    policy.chmod(0o750)
    before = policy.stat()
    r = run_fn(f"with_policy_rc_d bash -c '{POLICY_SEEN}'", POLICY_RC_D=str(policy))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "#!/bin/sh\n# the owner's own policy\nexit 0\npolicy says 0\n"
    after = policy.stat()
    assert policy.read_text() == "#!/bin/sh\n# the owner's own policy\nexit 0\n"
    assert (stat.S_IMODE(after.st_mode), after.st_ino, after.st_mtime_ns) == (
        0o750,
        before.st_ino,
        before.st_mtime_ns,
    )


def test_policy_rc_d_is_written_for_the_command_and_removed_after_it(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    r = run_fn(f"with_policy_rc_d bash -c '{POLICY_SEEN}'", POLICY_RC_D=str(policy))
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("exit 101\npolicy says 101\n")
    assert not policy.exists()


def test_policy_rc_d_is_removed_when_the_command_fails(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    r = run_fn(
        "rc=0; with_policy_rc_d bash -c 'exit 3' || rc=$?; echo rc=$rc", POLICY_RC_D=str(policy)
    )
    assert r.stdout == "rc=3\n"
    assert not policy.exists()


def test_policy_rc_d_is_removed_when_setup_is_interrupted(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    p = setup_fn(
        "with_policy_rc_d bash -c 'echo running; sleep 60'; echo not reached",
        POLICY_RC_D=str(policy),
    )
    assert p.stdout is not None
    assert p.stdout.readline() == "running\n"
    assert policy.exists()
    os.killpg(p.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    out, _ = p.communicate(timeout=60)
    assert (p.returncode, out) == (-signal.SIGINT, "")
    assert not policy.exists()


def test_python_of_this_run_is_accepted() -> None:
    r = run_fn(f"check_python {sys.executable} && echo ok")
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr


def _interpreter(name: str) -> str | None:
    """An interpreter by command name, or from pyenv's versions (whose shims may not run)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    version = name.removeprefix("python")
    try:
        found = sorted(pyenv.glob(f"{version}.*/bin/python")) if version else []
    except OSError:  # another user's pyenv
        found = []
    return str(found[0]) if found else shutil.which(name)


@pytest.mark.parametrize("name", ["python3.10", "python3.14", "python2"])
def test_python_outside_the_range_is_refused_by_name(name: str) -> None:
    exe = _interpreter(name)
    probe = exe and subprocess.run(
        [exe, "-c", 'import sys; print("%d.%d" % sys.version_info[:2])'],
        capture_output=True,
        text=True,
    )
    if not probe or probe.returncode != 0:  # pyenv's shims are on PATH but may not run
        pytest.skip(f"no {name} on this machine to try")
    v = probe.stdout.strip()
    r = run_fn(f"check_python {exe}")
    assert r.returncode == 1
    assert r.stderr == (
        f"setup: Python {v} ({exe}) is not supported; use 3.11 to 3.13, "
        "e.g. PYTHON=python3.12 make setup.\n"
    )


def test_unknown_option_is_refused() -> None:
    r = subprocess.run(["bash", str(SETUP), "--fast"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == "setup: unknown option '--fast' (usage: scripts/setup.sh [--pip-only]).\n"


def test_mininet_imports_with_the_interpreter_in_use() -> None:
    found = run_fn("mininet_dir").stdout.strip()
    if not found:
        pytest.skip("Mininet is not installed here (Debian package 'mininet')")
    venv = Path(sys.prefix)
    link = venv / "debian-mininet" / "mininet"
    if not link.exists():
        pytest.skip(f"{venv} was not made by scripts/setup.sh")
    assert link.resolve() == Path(found).resolve()
    r = subprocess.run(
        [sys.executable, "-c", "import mininet.net, mininet.node, mininet.cli; print('ok')"],
        capture_output=True,
        text=True,
    )
    assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr


def test_fast_subset_has_unit_tests_of_every_part() -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "--fast",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    ids = [line for line in r.stdout.splitlines() if "::" in line]
    folders = {p.parent.name for p in (ROOT / "tests").glob("*/test_*.py")}
    per_folder = {f: sum(1 for i in ids if i.startswith(f"tests/{f}/")) for f in folders}
    assert not [f for f, n in per_folder.items() if n == 0], per_folder
