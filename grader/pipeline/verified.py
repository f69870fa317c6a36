"""The verification record: proof that a submission's grades went through the course's route.

Every route into the gradebook (plain `nbgrader autograde`, the formgrader's Autograde
button, `backprop-grader autograde`) runs nbgrader's `Autograde` converter with the course's
nbgrader_config.py: the sandboxed kernel (`grader.sandbox.execute.SandboxedExecute`) and, as
nbgrader's `post_convert_hook`, `grader.pipeline.hooks.post_convert`, which verifies the
submission outside the student's process and writes this record:

    .grader/verified/STUDENT/ASSIGNMENT.json

It names the autograded notebook it verified (by SHA-256). An autograded
notebook without a matching record was graded some other way (a configuration without the
course's steps): `unverified_reason` says so, and `export` and `report` flag those grades.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.pipeline.results import autograded_path


@dataclass
class VerifyRecord:
    """What the post-grading step found for one submission."""

    student: str
    assignment: str
    notebook_sha256: str = ""  #: of the autograded notebook ("" when nbgrader wrote none)
    notebook_mtime_ns: int = 0
    sandbox: str = ""  #: why the kernel ran without bubblewrap ("" = sandboxed)
    kernel: str = ""  #: "" = the course's SandboxedExecute ran it; else what did
    flags: list[str] = field(default_factory=list)
    #: for the instructor, not flags: where verification disagrees with a score given by hand
    notes: list[str] = field(default_factory=list)
    reason: str = ""
    error: str = ""  #: verification itself failed ("" = it ran)
    seconds: float = 0.0  #: grading and verification, wall clock
    limit: int = 0  #: the notebook's one time limit (notebook_timeout)
    at: float = 0.0  #: time.time() when written


def record_path(course: Path, student: str, assignment: str) -> Path:
    return Path(course) / ".grader" / "verified" / student / f"{assignment}.json"


def _fingerprint(path: Path) -> tuple[str, int]:
    if not path.is_file():
        return "", 0
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def write_record(course: Path, record: VerifyRecord) -> Path:
    """Write the record (atomically) for the autograded notebook as it is now."""
    graded = autograded_path(course, record.student, record.assignment)
    record.notebook_sha256, record.notebook_mtime_ns = _fingerprint(graded)
    record.at = time.time()
    path = record_path(course, record.student, record.assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def clear_record(course: Path, student: str, assignment: str) -> None:
    """Forget the record before a submission is graded again (a stale one never counts)."""
    record_path(course, student, assignment).unlink(missing_ok=True)


def read_record(course: Path, student: str, assignment: str) -> VerifyRecord | None:
    """The record, or None when there is none (or it cannot be read)."""
    path = record_path(course, student, assignment)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return VerifyRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def current_record(course: Path, student: str, assignment: str) -> VerifyRecord | None:
    """The record when it belongs to the autograded notebook that is there now, else None."""
    record = read_record(course, student, assignment)
    if record is None:
        return None
    graded = autograded_path(course, student, assignment)
    if not graded.is_file():
        return record if not record.notebook_sha256 else None
    # By content only: a course folder copied or restored (new mtimes) stays verified.
    return record if _fingerprint(graded)[0] == record.notebook_sha256 else None


def unverified_reason(course: Path, student: str, assignment: str) -> str:
    """Why the grades of an autograded submission cannot be trusted ("" when they can).

    Names grades written without the course's verification (another nbgrader
    configuration), a kernel that was not the course's sandboxed one, and verification
    that failed. A submission without an autograded notebook has nothing to check ("").
    """
    if not autograded_path(course, student, assignment).is_file():
        return ""
    record = current_record(course, student, assignment)
    if record is None:
        return (
            "NOT VERIFIED: graded without the course's verification (nbgrader ran with a "
            "configuration that lacks it); regrade with backprop-grader autograde --force"
        )
    if record.kernel:
        return f"NOT SANDBOXED: {record.kernel}; regrade with backprop-grader autograde --force"
    if record.error:
        return f"NOT VERIFIED: {record.error}"
    return ""
