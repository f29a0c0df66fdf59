"""vagrant/: what can be checked without starting the VM (which needs VirtualBox or libvirt)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

VAGRANT = Path(__file__).resolve().parents[2] / "vagrant"


@pytest.mark.skipif(shutil.which("ruby") is None, reason="needs ruby (Debian 'ruby') for -c")
def test_vagrantfile_is_valid_ruby() -> None:
    r = subprocess.run(["ruby", "-c", str(VAGRANT / "Vagrantfile")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Syntax OK"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck (Debian package)")
def test_provisioning_scripts_pass_shellcheck() -> None:
    scripts = sorted(VAGRANT.glob("*.sh"))
    assert [s.name for s in scripts] == ["provision.sh"]
    r = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_vagrantfile_shares_the_repository_and_runs_the_provisioning_script() -> None:
    text = (VAGRANT / "Vagrantfile").read_text()
    assert re.search(r'config\.vm\.box = "bento/ubuntu-24\.04"', text)
    assert 'config.vm.synced_folder "..", "/vagrant"' in text
    assert 'config.vm.provision "shell", path: "provision.sh", privileged: true' in text
    assert re.search(r'ENV\.fetch\("TESTBED_MEMORY_MB", "8192"\)', text)


def test_provisioning_installs_the_p4_toolchain_and_runs_setup() -> None:
    text = (VAGRANT / "provision.sh").read_text()
    assert "download.opensuse.org/repositories/home:/p4lang/xUbuntu_${VERSION_ID}" in text
    install = re.search(r"apt-get install -y -q --no-install-recommends \\\n(.*?)\n\n", text, re.S)
    assert install is not None
    packages = set(install.group(1).replace("\\", " ").split())
    assert {"p4lang-p4c", "p4lang-bmv2", "p4lang-pi", "mininet", "frr", "python3.12"} <= packages
    # fails early when a tool the BMv2 path needs did not come with the packages
    assert "for tool in p4c-bm2-ss simple_switch_grpc mn /usr/lib/frr/pimd python3.12" in text
    lines = text.splitlines()
    setup = lines.index("PYTHON=python3.12 make setup")
    assert lines[setup - 1] == 'cd "${REPO_DIR}"'
    assert "REPO_DIR=${REPO_DIR:-/vagrant}" in lines


def test_provisioning_insists_on_the_frr_that_pimsm_is_tested_with() -> None:
    """pimsm's configurations are written and tested for FRR 8.4 (Debian 12's 8.4.4): the VM
    is Ubuntu 24.04, which ships the same release (22.04 ships 8.1), and provisioning stops
    when the installed pimd is another."""
    text = (VAGRANT / "provision.sh").read_text()
    assert '"${VERSION_ID}" != "24.04"' in text
    check = re.search(r"^frr=\$\((.*)\)$", text, re.M)
    assert check is not None
    assert 'if [[ "${frr}" != 8.4* ]]; then' in text
    # the same extraction on pimd's real output
    parse = check.group(1).replace("/usr/lib/frr/pimd --version", "cat")
    for banner, version in (("pimd version 8.4.4\nCopyright ...", "8.4.4"),
                            ("pimd version 8.1\n", "8.1")):  # fmt: skip
        r = subprocess.run(["bash", "-c", parse], input=banner, capture_output=True, text=True)
        assert r.stdout.strip() == version


@pytest.mark.frr
def test_this_machines_frr_is_the_one_the_vm_requires() -> None:
    """The machine the pimsm tests run on has FRR 8.4, the release the VM installs."""
    r = subprocess.run(["/usr/lib/frr/pimd", "--version"], capture_output=True, text=True)
    assert r.stdout.startswith("pimd version 8.4"), r.stdout
