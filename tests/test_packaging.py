"""`pip install .` gives a working `wardgate`: the package data travels in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DATA = {
    "wardgate/py.typed",
    "wardgate/data/default-policy.yaml",
    "wardgate/data/names/given.txt",
}


def test_wheel_carries_the_package_data(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("wardgate-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert names >= PACKAGE_DATA
    assert any(name.endswith("entry_points.txt") for name in names)
