"""Build the wheel, install it into a fresh venv offline, and use it:
`--version`, `server install` into a temporary unit dir (ExecStart points into
that venv), and a man page rendered from the package data.

Offline: the wheel is built with --no-build-isolation from a copy of the
sources (needs setuptools >= 68 in this environment; the test extra brings
it), installed with --no-deps --no-index, and the venv finds the
dependencies through a .pth line naming this environment's site-packages
(a plain path line: the editable install of agentd there is not activated,
so `agentd` is imported from the wheel, which the test checks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import agentd
from ship_helpers import ROOT


def _setuptools_ok() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    major = int(setuptools.__version__.split(".")[0])
    try:
        import wheel  # noqa: F401
        has_wheel = True
    except ImportError:
        has_wheel = major >= 71
    return major >= 68 and has_wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    if not _setuptools_ok():
        pytest.skip("building the wheel offline needs setuptools>=68 with bdist_wheel "
                    "(`pip install -e '.[test]'` installs it)")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("agentd", "agentctl"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", "-w", str(dist), str(src)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    wheel = next(dist.glob("agentd-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    py = venv / "bin" / "python"
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                        "--no-index", str(wheel)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "zz_agentd_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv, wheel


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTD_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_RUNTIME_DIR=str(tmp_path / "run"), PATH="/usr/bin:/bin")
    return env


def test_wheel_carries_units_and_man_pages(venv):
    import zipfile

    names = zipfile.ZipFile(venv[1]).namelist()
    for f in ("agentd/data/systemd/agentd.service", "agentd/data/systemd/agentd.socket",
              "agentd/data/man/agentctl.1", "agentd/data/man/agentd.8", "agentd/data/man/agentd.toml.5"):
        assert f in names


def test_installed_commands_work(venv, tmp_path):
    v, _ = venv
    env = _env(tmp_path)
    out = subprocess.run([str(v / "bin" / "agentctl"), "--version"], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert out.stdout.strip() == f"agentctl {agentd.__version__}", out.stderr
    out = subprocess.run([str(v / "bin" / "agentd"), "--version"], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert out.stdout.strip() == f"agentd {agentd.__version__}", out.stderr
    where = subprocess.run([str(v / "bin" / "python"), "-c", "import agentd, agentctl; print(agentd.__file__)"],
                           env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert where.stdout.strip().startswith(str(v)), where  # the wheel's, not the editable install's
    units = tmp_path / "units"
    r = subprocess.run([str(v / "bin" / "agentctl"), "server", "install", "--socket-activation", "--unit-dir",
                        str(units)], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    service = (units / "agentd.service").read_text()
    assert f"ExecStart={v / 'bin' / 'agentd'}\n" in service
    assert (units / "agentd.socket").exists()


def test_man_page_from_the_installed_package(venv, tmp_path):
    if shutil.which("man") is None and shutil.which("groff") is None:
        pytest.skip("neither man nor groff is installed")
    v, _ = venv
    page = subprocess.run([str(v / "bin" / "python"), "-c",
                           "from importlib.resources import files; print(files('agentd') / 'data/man/agentctl.1')"],
                          env=_env(tmp_path), capture_output=True, text=True, cwd=str(tmp_path)).stdout.strip()
    assert page.startswith(str(v))
    if shutil.which("man"):
        r = subprocess.run(["man", "-l", page], capture_output=True, text=True,
                           env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "MANPAGER": "cat"})
    else:
        r = subprocess.run(["groff", "-man", "-Tutf8", page], capture_output=True, text=True)
    assert r.returncode == 0 and "server install" in r.stdout
