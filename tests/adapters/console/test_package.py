"""The console ships inside the package: a built wheel (not the editable checkout) carries every static file."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "adapters" / "console" / "static"


def test_wheel_contains_every_console_file(tmp_path):
    if importlib.util.find_spec("wheel") is None:
        pytest.skip("the 'wheel' package is not installed (it is in the test extra: pip install -e '.[test]')")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(tmp_path.glob("tabletalk-*.whl"))
    shipped = set(zipfile.ZipFile(wheel).namelist())
    wanted = {"tabletalk/adapters/console/__init__.py"} | {
        f"tabletalk/adapters/console/static/{p.relative_to(STATIC).as_posix()}" for p in STATIC.rglob("*") if p.is_file()}
    assert {"tabletalk/adapters/console/static/index.html", "tabletalk/adapters/console/static/js/app.js"} <= wanted
    assert wanted <= shipped, f"missing from the wheel: {sorted(wanted - shipped)}"
