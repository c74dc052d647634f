"""What the server installs and imports: the planners' libraries are an extra
(``citybrain[planning]``) that no server or command module needs."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from citybrain.analysis import PLANNING

ROOT = Path(__file__).resolve().parents[1]


def test_the_server_and_the_command_never_import_the_planning_libraries() -> None:
    probe = (
        "import sys, citybrain.api.main, citybrain.cli, citybrain.api.server\n"
        "from citybrain.api.main import create_app\n"
        f"print(sorted(m for m in {PLANNING!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_planning_libraries_are_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    extra = " ".join(project["optional-dependencies"]["planning"])
    for name in PLANNING:
        assert name not in core and name in extra, name
    app_image = (ROOT / "Dockerfile").read_text().split("FROM app AS test")[0]
    assert "planning" not in app_image  # (the test image installs it)


def test_the_analyses_name_the_extra_when_it_is_missing() -> None:
    """A planner's Python without the extra: importing citybrain.analysis says what to install
    (folium made unfindable stands in for an environment without it)."""
    probe = (
        "import importlib.util\n"
        "found = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'folium' else found(name)\n"
        "import citybrain.analysis\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode != 0
    assert "citybrain.analysis needs folium: pip install 'citybrain[planning]'" in out.stderr
