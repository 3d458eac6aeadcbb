"""What was tested, for the report's identity block: the board (as it answered INFO), its
chip and firmware build manifest (from the rig file), the code (git commit), the rig file,
the host and the time."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def git_commit(repo: Path = REPO) -> str:
    """HEAD's commit id, with "+dirty" when tracked files differ; "unknown" without git."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], text=True,
                              capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                "--untracked-files=no"], text=True, capture_output=True,
                               timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def identity(target: str, board_info: dict[str, Any] | None, rigfile: Any = None,
             started: float | None = None, retries: int = 0) -> dict[str, Any]:
    """The identity block (rigfile: a hardware.hil.rigfile.RigFile or None; retries: how
    often a test could run again after an infrastructure error)."""
    info = board_info or {}
    boards = [b.identity() for b in rigfile.boards] if rigfile is not None else []
    first = boards[0] if boards else {}
    runtime = str(info.get("runtime", ""))
    chip = first.get("chip") or ("virtual (" + runtime + ")" if "virtual" in runtime
                                 else None)
    return {
        "board": {k: info.get(k) for k in ("device_id", "fw_version", "runtime", "mode",
                                           "proto")},
        "chip": chip,
        "manifest": first.get("manifest"),
        "manifest_sha256": first.get("manifest_sha256"),
        "git_commit": git_commit(),
        "target": target,
        "rig_file": str(rigfile.path) if rigfile is not None else None,
        "rig_file_sha256": rigfile.sha256() if rigfile is not None else None,
        "rig_boards": boards,
        "retries": retries,
        "host": f"{platform.node()} ({platform.system()} {platform.machine()}, "
                f"Python {sys.version.split()[0]})",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started or time.time())),
    }
