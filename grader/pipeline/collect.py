"""`collect`: take submissions as an LMS hands them out into nbgrader's submitted/ folder.

Accepted inputs: a .zip file or a folder, holding .ipynb files named in one of these ways
(ASSIGNMENT is an assignment id of the course, e.g. 04_backprop_W2):

- `STUDENT_ASSIGNMENT.ipynb` (flat, as most LMS downloads are: `alice_04_backprop_W2.ipynb`);
- `STUDENT/ASSIGNMENT.ipynb` (one folder per student);
- `STUDENT/ASSIGNMENT/ASSIGNMENT.ipynb` (nbgrader's own layout);

any of them inside one extra top-level folder (as zips often are). A trailing LMS
resubmission counter (`-1`, `-2`, ...) after the assignment id is accepted; the highest one
wins. A student id is letters, digits, `_`, `.`, `-` and `@`. A notebook whose name names no
assignment is placed by its content when its nbgrader cell ids match exactly one
assignment (reported as such). Every file that cannot be placed is reported with the reason,
never dropped silently. Each notebook lands in `submitted/STUDENT/ASSIGNMENT/ASSIGNMENT.ipynb`
and the student is added to the gradebook.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.pipeline.config import assignments_of, db_url

STUDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
_VERSION_RE = re.compile(r"^(?P<stem>.*?)(?:-(?P<version>\d+))?$")
_IGNORED_PARTS = ("__MACOSX", ".ipynb_checkpoints")


@dataclass
class Placed:
    """A notebook written to submitted/STUDENT/ASSIGNMENT/ASSIGNMENT.ipynb."""

    source: str
    student: str
    assignment: str
    note: str = ""


@dataclass
class Unplaced:
    """A file that collect could not place, with the reason and what to do."""

    source: str
    reason: str


@dataclass
class CollectReport:
    placed: list[Placed] = field(default_factory=list)
    problems: list[Unplaced] = field(default_factory=list)

    @property
    def students(self) -> list[str]:
        return sorted({p.student for p in self.placed})


def _members(src: Path) -> Iterator[tuple[str, bytes]]:
    """(relative posix path, bytes) of every file in the zip or folder, sorted by path."""
    if src.is_file() and zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if not info.is_dir():
                    yield info.filename, zf.read(info)
    elif src.is_dir():
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            yield path.relative_to(src).as_posix(), path.read_bytes()
    else:
        raise FileNotFoundError(
            f"{src} is neither a folder nor a .zip file; pass the folder or zip your LMS gave you"
        )


def _split_version(stem: str) -> tuple[str, int]:
    m = _VERSION_RE.match(stem)
    assert m is not None
    return m["stem"], int(m["version"] or 0)


def _grade_ids(nb_bytes: bytes) -> set[str]:
    try:
        nb = json.loads(nb_bytes)
        return {
            c["metadata"]["nbgrader"]["grade_id"]
            for c in nb.get("cells", [])
            if "grade_id" in c.get("metadata", {}).get("nbgrader", {})
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()


def _assignment_ids(course: Path, assignments: list[str]) -> dict[str, set[str]]:
    """grade_ids of each assignment's source notebook (to place renamed notebooks)."""
    out = {}
    for a in assignments:
        path = course / "source" / a / f"{a}.ipynb"
        out[a] = _grade_ids(path.read_bytes()) if path.exists() else set()
    return out


def place(relpath: str, assignments: list[str]) -> tuple[str, str, int] | str:
    """Where a file goes: (student, assignment, version), or the reason it cannot be placed.

    Args:
        relpath: the file's path inside the zip or folder (posix separators).
        assignments: the course's assignment ids.
    """
    parts = [p for p in PurePosixPath(relpath).parts if p not in ("", ".")]
    name = parts[-1]
    if not name.endswith(".ipynb"):
        return "not a notebook (.ipynb)"
    stem, version = _split_version(name[: -len(".ipynb")])
    folders = parts[:-1]
    # nbgrader layout STUDENT/ASSIGNMENT/ASSIGNMENT.ipynb
    if len(folders) >= 2 and folders[-1] == stem and stem in assignments:
        return folders[-2], stem, version
    # STUDENT/ASSIGNMENT.ipynb
    if folders and stem in assignments:
        return folders[-1], stem, version
    # STUDENT_ASSIGNMENT.ipynb (longest assignment id first)
    for a in sorted(assignments, key=len, reverse=True):
        if stem.endswith("_" + a) and len(stem) > len(a) + 1:
            return stem[: -len(a) - 1], a, version
    if stem in assignments:
        return "no student id in the name or folder (expected STUDENT_ASSIGNMENT.ipynb)"
    return f"the name names no assignment of this course ({', '.join(assignments)})"


def collect(src: Path, *, course: Path, assignments: list[str] | None = None) -> CollectReport:
    """Copy every notebook of `src` (a zip or folder) into course/submitted/ and register students.

    Args:
        src: the zip or folder as the LMS gave it.
        course: the nbgrader course directory.
        assignments: the assignment ids to accept (default: every folder in course/source/).

    Returns:
        what was placed and what could not be (with reasons).
    """
    from nbgrader.api import Gradebook

    course = Path(course).resolve()
    assignments = assignments or assignments_of(course)
    if not assignments:
        raise FileNotFoundError(f"{course / 'source'} holds no assignment; nothing to collect for")
    report = CollectReport()
    by_content = None
    chosen: dict[tuple[str, str], tuple[int, str, bytes, str]] = {}
    for relpath, data in _members(Path(src)):
        parts = PurePosixPath(relpath).parts
        if any(p in _IGNORED_PARTS or p.startswith(".") for p in parts):
            continue
        where = place(relpath, assignments)
        note = ""
        if isinstance(where, str) and relpath.endswith(".ipynb"):
            # A renamed notebook: place it by its nbgrader cell ids if they fit one assignment.
            by_content = by_content or _assignment_ids(course, assignments)
            ids = _grade_ids(data)
            fits = [a for a, a_ids in by_content.items() if ids and a_ids and ids <= a_ids]
            student = _student_from(relpath)
            if len(fits) == 1 and student:
                where, note = (student, fits[0], 0), f"renamed file placed by content as {fits[0]}"
        if isinstance(where, str):
            report.problems.append(Unplaced(relpath, where))
            continue
        student, assignment, version = where
        if not STUDENT_RE.match(student):
            report.problems.append(
                Unplaced(
                    relpath,
                    f"student id {student!r} has characters nbgrader cannot use in a folder name "
                    "(allowed: letters, digits, _ . - @); rename the file",
                )
            )
            continue
        key = (student, assignment)
        if key in chosen:
            old_version, old_path, _, _ = chosen[key]
            if version >= old_version:
                report.problems.append(
                    Unplaced(old_path, f"superseded by {relpath} (same student and assignment)")
                )
            else:
                report.problems.append(
                    Unplaced(relpath, f"superseded by {old_path} (same student and assignment)")
                )
                continue
        chosen[key] = (version, relpath, data, note)

    for (student, assignment), (_, relpath, data, note) in sorted(chosen.items()):
        dest = course / "submitted" / student / assignment / f"{assignment}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Rewriting an identical file would make it look newer and force a regrade.
        if not dest.exists() or dest.read_bytes() != data:
            dest.write_bytes(data)
        report.placed.append(Placed(relpath, student, assignment, note))

    if report.placed:
        with Gradebook(db_url(course)) as gb:
            for student in report.students:
                gb.update_or_create_student(student)
    return report


def _student_from(relpath: str) -> str | None:
    """The student of a file whose name names no assignment: its folder, or the name's prefix."""
    parts = PurePosixPath(relpath).parts
    if len(parts) >= 2:
        return parts[-2]
    stem = PurePosixPath(relpath).stem
    return stem.split("_")[0] if "_" in stem else None
