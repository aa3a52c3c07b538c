"""``scripts/_env.sh``: the project is installed into the venv only when its dependencies changed.

``./scripts/run.sh`` run a second time (or while a server runs from the same
venv) must not reinstall into that venv. Runs the real script in a copy of the
repository with a venv of its own.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _copy_repository(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


def _install(repo: Path) -> str:
    done = subprocess.run(["bash", "-c", 'source scripts/_env.sh && install_project ""'], cwd=repo,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _site_state(repo: Path) -> dict[str, int]:
    site = next((repo / ".venv" / "lib").glob("python3*/site-packages"))
    return {p.name: p.stat().st_mtime_ns for p in site.iterdir() if "creditgate" in p.name.lower()}


def test_install_runs_once_and_again_only_when_pyproject_changes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _copy_repository(repo)
    _install(repo)
    installed = _site_state(repo)
    assert installed, "the project was not installed"

    assert _install(repo) == ""  # nothing to do, nothing printed
    assert _site_state(repo) == installed

    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n# changed\n")
    _install(repo)
    assert _site_state(repo) != installed
