"""Build the wheel, install it into a fresh venv offline, and use it:
`--version`, `server install` into a temporary unit dir (ExecStart points into
that venv), a man page rendered from the package data, `man agentctl` finding
the pages the wheel installs (in a venv and in a ~/.local-style prefix, as
`pip install --user` makes), and `agentctl man`.

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


MAN_PAGES = {"agentctl": "man1/agentctl.1", "agentd.toml": "man5/agentd.toml.5", "agentd": "man8/agentd.8"}


def test_wheel_carries_units_and_man_pages(venv):
    import zipfile

    names = zipfile.ZipFile(venv[1]).namelist()
    for f in ("agentd/data/systemd/agentd.service", "agentd/data/systemd/agentd.socket",
              "agentd/data/man/agentctl.1", "agentd/data/man/agentd.8", "agentd/data/man/agentd.toml.5"):
        assert f in names
    data = f"agentd-{agentd.__version__}.data/data/share/man/"
    for page in MAN_PAGES.values():
        assert data + page in names  # installed under PREFIX/share/man


def _man_env(bin_dir: Path, tmp_path: Path) -> dict:
    """An environment where man(1) derives its search path from PATH alone
    (no MANPATH), as in a login shell with the install's bin on PATH."""
    env = {k: v for k, v in _env(tmp_path).items() if k not in ("MANPATH", "MANOPT")}
    env.update(PATH=f"{bin_dir}:/usr/bin:/bin", MANPAGER="cat", PAGER="cat", MANWIDTH="80")
    return env


def _needs_man():
    if shutil.which("man") is None:
        pytest.skip("man is not installed (Debian package: man-db)")


def test_man_finds_the_pages_of_a_venv_install(venv, tmp_path):
    _needs_man()
    v, _ = venv
    env = _man_env(v / "bin", tmp_path)
    for page, rel in MAN_PAGES.items():
        r = subprocess.run(["man", "-w", page], env=env, capture_output=True, text=True, cwd=str(tmp_path))
        assert r.returncode == 0 and r.stdout.strip() == str(v / "share" / "man" / rel), (page, r.stderr)
    r = subprocess.run(["man", "agentctl"], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0 and "server install" in r.stdout, r.stderr


def test_man_finds_the_pages_of_a_user_install(venv, tmp_path):
    """`pip install --user` puts scripts in ~/.local/bin and data under
    ~/.local; --prefix ~/.local makes the same layout from this venv's pip."""
    _needs_man()
    _, wheel = venv
    local = tmp_path / "home" / ".local"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
                        "--prefix", str(local), str(wheel)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (local / "bin" / "agentctl").exists()
    env = _man_env(local / "bin", tmp_path)
    r = subprocess.run(["man", "-w", "agentctl"], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.strip() == str(local / "share" / "man" / "man1" / "agentctl.1"), r.stderr
    # without the bin directory on PATH, man has no way to know
    env["PATH"] = "/usr/bin:/bin"
    r = subprocess.run(["man", "-w", "agentctl"], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode != 0


def test_agentctl_man_shows_the_installed_pages(venv, tmp_path):
    _needs_man()
    v, _ = venv
    env = _man_env(Path("/nonexistent"), tmp_path)  # man itself would find nothing
    ctl = str(v / "bin" / "agentctl")
    for page, title in (("agentctl", "AGENTCTL(1)"), ("agentd", "AGENTD(8)"), ("agentd.toml", "AGENTD.TOML(5)")):
        r = subprocess.run([ctl, "man", page], env=env, capture_output=True, text=True, cwd=str(tmp_path))
        assert r.returncode == 0 and title in r.stdout, (page, r.stderr)
    r = subprocess.run([ctl, "man", "--path", "agentd.toml"], env=env, capture_output=True, text=True,
                       cwd=str(tmp_path))
    assert r.stdout.strip().startswith(str(v)) and r.stdout.strip().endswith("agentd/data/man/agentd.toml.5")


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
