"""`collect`: take submissions as an LMS hands them out into nbgrader's submitted/ folder.

Accepted inputs: a .zip file or a folder, as Canvas's or Moodle's "Download all
submissions" writes it, or laid out by hand (see `grader.pipeline.lms` for the naming of
each and the documents it follows). `lms` is "canvas", "moodle", "generic" or "auto"
(the default: the LMS whose naming every notebook follows; a mix is an error that asks
for --lms).

A student is keyed by the LMS's id (Canvas user id, Moodle participant id or the e-mail a
Moodle grading worksheet gives it, the name in a hand-made download) and gets an
nbgrader-safe id derived from it; `COURSE/students.csv` records id, LMS id and display
name. Two files belong to the same student only when those keys are equal. The student's
own file name says the assignment, whatever its case or LMS and browser markers (`(1)`,
`-Copy1`, `.ipynb.ipynb`, a `-2` resubmission counter); a file whose name names none is
placed by its nbgrader cell ids when they fit exactly one assignment.

Nothing is dropped: a file that cannot be placed is listed with the reason; when one
student has two notebooks for one assignment, the one with a higher resubmission counter
(or else the one without copy markers) is graded and the other is set aside in
`COURSE/.grader/aside/` and listed with what to do. An optional roster (the LMS's grade
export or grading worksheet) gives names and adds the students who handed in nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.config import assignments_of, db_url, require_course
from grader.nbcells import grade_ids as cell_grade_ids
from grader.pipeline.download import read_download
from grader.pipeline.lms import (
    LMS_NAMES,
    STUDENT_RE,
    Found,
    Registry,
    Roster,
    clean_name,
    detect,
    find_assignment,
    parse_canvas,
    parse_generic,
    parse_moodle,
    read_roster,
    save_canvas_columns,
    split_name,
    wrapper_folder,
)
from grader.pipeline.results import GradeResult, load_results

__all__ = ["STUDENT_RE", "Candidate", "CollectReport", "Placed", "Unplaced", "collect", "place"]


@dataclass
class Placed:
    """A notebook written to submitted/STUDENT/ASSIGNMENT/ASSIGNMENT.ipynb."""

    source: str
    student: str
    assignment: str
    note: str = ""
    name: str = ""  #: the student's display name


@dataclass
class Unplaced:
    """A file that collect could not place (or set aside), with the reason and what to do."""

    source: str
    reason: str
    aside: str = ""  #: where the file was kept, when it was set aside


@dataclass
class CollectReport:
    placed: list[Placed] = field(default_factory=list)
    problems: list[Unplaced] = field(default_factory=list)
    lms: str = ""  #: the naming read ("canvas", "moodle", "generic")
    roster_only: list[str] = field(default_factory=list)  #: on the roster, nothing handed in
    notes: list[str] = field(default_factory=list)  #: other things to know
    #: why no notebook was placed, and what to do ("" when some were)
    nothing_placed: str = ""

    @property
    def students(self) -> list[str]:
        return sorted({p.student for p in self.placed})


def grade_ids(nb_bytes: bytes) -> set[str]:
    """The nbgrader grade_ids of a notebook file's cells (none when it is not a notebook)."""
    try:
        cells = json.loads(nb_bytes).get("cells", [])
    except (ValueError, AttributeError):
        return set()
    return set(cell_grade_ids(cells)) if isinstance(cells, list) else set()


def assignment_cells(course: Path, assignments: list[str]) -> dict[str, set[str]]:
    """grade_ids of each assignment's source notebook (to place renamed notebooks)."""
    out = {}
    for a in assignments:
        path = course / "source" / a / f"{a}.ipynb"
        out[a] = grade_ids(path.read_bytes()) if path.exists() else set()
    return out


def content_assignment(data: bytes, by_content: dict[str, set[str]]) -> str | None:
    """The one assignment whose source notebook's cell ids hold all of this notebook's."""
    ids = grade_ids(data)
    fits = [a for a, a_ids in by_content.items() if ids and a_ids and ids <= a_ids]
    return fits[0] if len(fits) == 1 else None


def place(relpath: str, assignments: list[str]) -> tuple[str, str, int] | str:
    """Where a file of a hand-made download goes: (student, assignment, version), or why not.

    Args:
        relpath: the file's path inside the zip or folder (posix separators).
        assignments: the course's assignment ids.
    """
    found = parse_generic(relpath, assignments)
    if isinstance(found, str):
        return found
    cleaned = clean_name(found.filename)
    hit = find_assignment(cleaned.stem, assignments) if cleaned else None
    if not hit:
        return f"the name names no assignment of this course ({', '.join(assignments)})"
    return found.key, hit[0], cleaned.version


@dataclass(frozen=True)
class Candidate:
    """A notebook one student handed in for one assignment, before one of several is chosen."""

    student: str  #: the student's nbgrader id
    assignment: str
    relpath: str  #: its path in the download
    data: bytes
    version: int  #: the resubmission counter of its file name (0 when none)
    copy_markers: int  #: how many LMS or browser copy markers its name carries
    note: str  #: what to know about it ("; "-joined)
    found: Found  #: who handed it in, as the LMS's naming says

    @property
    def rank(self) -> tuple[int, int]:
        """A higher resubmission counter wins, then fewer copy markers (then name order)."""
        return (self.version, -self.copy_markers)


@dataclass
class _Sorter:
    """Reads each file of a download into a Candidate, or an Unplaced that says why not.

    The registry gets a record for each student met, in the order the files are read."""

    course: Path
    assignments: list[str]
    lms: str  #: the naming read ("canvas", "moodle", "generic")
    registry: Registry
    not_zips: dict[str, str]  #: relpath -> why a .zip of the download is not a zip
    wrapper: str | None  #: generic: the one folder the whole download sits in
    #: Moodle: participant id -> the roster's key (e-mail) of that person
    key_of: dict[str, str] = field(default_factory=dict)
    #: Moodle: (assignment, participant id) -> the key students.csv already gives that person
    #: (an e-mail from an earlier worksheet wins over a bare participant id)
    recorded: dict[tuple[str, str], str] = field(default_factory=dict)
    unmatched: bool = False  #: a Moodle notebook was keyed by its bare participant id
    _by_content: dict[str, set[str]] | None = None

    def __post_init__(self) -> None:
        for rec in sorted(self.registry.records.values(), key=lambda r: "@" in r.lms_id):
            if rec.lms == "moodle":
                for a, pid in rec.participant_ids.items():
                    self.recorded[(a, pid)] = rec.lms_id

    def by_content(self) -> dict[str, set[str]]:
        """grade_ids of each assignment's source notebook, read when first needed."""
        self._by_content = self._by_content or assignment_cells(self.course, self.assignments)
        return self._by_content

    def parse(self, relpath: str) -> Found | str:
        """Who handed the file in and its own name, as the LMS's naming says, or why not."""
        inner = relpath
        if self.wrapper and relpath.startswith(self.wrapper + "/"):
            inner = relpath[len(self.wrapper) + 1 :]
        if self.lms == "canvas":
            return parse_canvas(inner)
        if self.lms == "moodle":
            return parse_moodle(inner)
        return parse_generic(inner, self.assignments)

    def sort(
        self, files: list[tuple[str, bytes]], report: CollectReport
    ) -> dict[tuple[str, str], list[Candidate]]:
        """The candidates of each (student, assignment), in download order; each file that
        cannot be placed is added to `report.problems`."""
        chosen: dict[tuple[str, str], list[Candidate]] = {}
        for relpath, data in files:
            got = self.read(relpath, data)
            if isinstance(got, Unplaced):
                report.problems.append(got)
            else:
                chosen.setdefault((got.student, got.assignment), []).append(got)
        return chosen

    def read(self, relpath: str, data: bytes) -> Candidate | Unplaced:
        """The candidate one file of the download is, or why it cannot be placed."""
        found = self.parse(relpath)
        if isinstance(found, str):
            if relpath in self.not_zips:
                found = f"a .zip that is not a zip: {self.not_zips[relpath]}"
            elif not relpath.lower().endswith(".ipynb") and "notebook" not in found:
                found = "not a notebook (.ipynb)"
            return Unplaced(relpath, found)
        cleaned = clean_name(found.filename)
        if cleaned is None:
            return Unplaced(relpath, "not a notebook (.ipynb)")
        if self.lms in ("canvas", "moodle") and not found.key:
            return Unplaced(relpath, "no student id in the LMS's name")
        notes = list(cleaned.markers)
        if found.late:
            notes.append("late")
        assignment = self.assignment(relpath, data, cleaned.stem, notes)
        if isinstance(assignment, Unplaced):
            return assignment
        key = found.key
        if self.lms == "moodle":
            key = self.key_of.get(key) or self.recorded.get((assignment, key)) or key
            self.unmatched = self.unmatched or key == found.key
        rec = self.registry.student(self.lms, key, found.name)
        if self.lms == "moodle":
            rec.participant_ids.setdefault(assignment, found.key)
        return Candidate(
            student=rec.student_id,
            assignment=assignment,
            relpath=relpath,
            data=data,
            version=cleaned.version,
            copy_markers=len(cleaned.markers),
            note="; ".join(notes),
            found=found,
        )

    def assignment(self, relpath: str, data: bytes, stem: str, notes: list[str]) -> str | Unplaced:
        """The assignment a notebook is for: by its name, else by its cells (either noted in
        `notes` when they disagree or only the cells say), or why neither says."""
        hit = find_assignment(stem, self.assignments)
        by_cells = content_assignment(data, self.by_content())
        if hit:
            assignment = hit[0]
            if by_cells and by_cells != assignment:
                notes.append(
                    f"this is the notebook of another assignment ({by_cells}), handed in as "
                    f"{assignment}: ask the student for their {assignment} notebook"
                )
            return assignment
        if by_cells:
            notes.append(f"renamed file placed by content as {by_cells}")
            return by_cells
        return Unplaced(
            relpath,
            f"the name names no assignment of this course ({', '.join(self.assignments)}) "
            "and its cells match none; rename it STUDENT_ASSIGNMENT.ipynb",
        )


def collect(
    src: Path,
    *,
    course: Path,
    assignments: list[str] | None = None,
    lms: str = "auto",
    roster: Path | None = None,
) -> CollectReport:
    """Copy every notebook of `src` (a zip or folder) into course/submitted/ and register students.

    Args:
        src: the zip or folder as the LMS gave it.
        course: the nbgrader course directory.
        assignments: the assignment ids to accept (default: every folder in course/source/).
        lms: "auto", "canvas", "moodle" or "generic": whose download naming to read.
        roster: the LMS's class list (Canvas gradebook export, Moodle grading worksheet,
            or a CSV with student_id,name): names, and students who handed in nothing.

    Returns:
        what was placed, what was set aside or could not be placed (with reasons).

    Raises:
        ValueError: an unknown `lms`, an unreadable roster, or a download whose naming
            is a mix (say which LMS with `lms`).
    """
    course = require_course(course)
    if lms not in ("auto", *LMS_NAMES):
        raise ValueError(f"unknown LMS {lms!r}; use one of auto, {', '.join(LMS_NAMES)}")
    assignments = assignments or assignments_of(course)
    if not assignments:
        raise FileNotFoundError(f"{course / 'source'} holds no assignment; nothing to collect for")
    people = read_roster(Path(roster)) if roster else None

    report = CollectReport()
    download = read_download(Path(src))
    report.notes.extend(download.notes)
    paths = [p for p, _ in download.files]
    report.lms = _naming(src, lms, paths, people, roster)

    existing = set()
    if (course / "submitted").is_dir():
        existing = {p.name for p in (course / "submitted").iterdir() if p.is_dir()}
    registry = Registry(course, set())
    sorter = _Sorter(
        course,
        assignments,
        report.lms,
        registry,
        download.not_zips,
        wrapper_folder(paths, assignments) if report.lms == "generic" else None,
    )
    if people is not None and report.lms == "moodle":
        sorter.key_of = {p.participant: p.key for p in people.people if p.participant}
    chosen = sorter.sort(download.files, report)
    results = load_results(course)
    for student_assignment in sorted(chosen):
        _place_one(course, registry, chosen[student_assignment], results, report)

    if people is not None:
        _add_roster(registry, people, report, existing)
    for p in report.placed:  # the roster's name where it gave one
        p.name = registry.records[p.student].name or p.name
    if people is not None and people.lms == "canvas":
        save_canvas_columns(course, people.columns, assignments)
    report.notes.extend(registry.clashes)
    if report.lms == "moodle" and people is None and sorter.unmatched:
        report.notes.append(
            "Moodle's participant ids differ between assignments: pass each assignment's "
            "grading worksheet with --roster so one person's notebooks share one student id"
        )
    if not report.placed:
        report.nothing_placed = _why_nothing(paths, lms, report.lms)
    touched = {p.student for p in report.placed} | set(report.roster_only)
    if touched:
        registry.save()
        _update_gradebook(course, registry, touched)
    return report


def _naming(
    src: Path, lms: str, paths: list[str], people: Roster | None, roster: Path | None
) -> str:
    """The LMS whose naming to read: `lms`, or when "auto" the one every notebook follows.

    Raises:
        ValueError: the naming is a mix, or the roster is another LMS's file.
    """
    if lms == "auto":
        found_lms = detect(paths)
        if found_lms is None:
            raise ValueError(
                f"{src}: some notebooks are named as Canvas or Moodle name them and others "
                "are not; say which naming to read with --lms canvas|moodle|generic"
            )
        lms = found_lms
    if people is not None and people.lms not in (lms, "generic"):
        raise ValueError(
            f"the roster {roster} is a {people.lms} file but the download is read as {lms}; "
            f"pass the {lms} roster or --lms {people.lms}"
        )
    return lms


def _place_one(
    course: Path,
    registry: Registry,
    candidates: list[Candidate],
    results: dict[str, GradeResult],
    report: CollectReport,
) -> None:
    """Write the best of one student's notebooks for one assignment into submitted/, the
    others set aside in .grader/aside/ (each listed in `report` with what to do)."""
    candidates = sorted(candidates, key=lambda c: c.rank, reverse=True)
    best = candidates[0]
    student, assignment = best.student, best.assignment
    for other in candidates[1:]:
        aside = course / ".grader" / "aside" / student / assignment
        aside = aside / PurePosixPath(other.relpath).name
        aside.parent.mkdir(parents=True, exist_ok=True)
        aside.write_bytes(other.data)
        dest = f"submitted/{student}/{assignment}/{assignment}.ipynb"
        if other.version < best.version:
            why = f"superseded by {best.relpath} (a later resubmission of the same student)"
        else:
            why = (
                f"{student} handed in two notebooks for {assignment}; {best.relpath} is graded. "
                f"If this one is the right one, copy it over {dest} and run "
                f"backprop-grader autograde {assignment} --force"
            )
        report.problems.append(Unplaced(other.relpath, why, str(aside.relative_to(course))))
    note = best.note
    dest = course / "submitted" / student / assignment / f"{assignment}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Rewriting an identical file would make it look newer and force a regrade.
    if not dest.exists() or dest.read_bytes() != best.data:
        if dest.exists():  # an earlier download's notebook: kept, and said so
            earlier = results.get(f"{student}/{assignment}")
            replaced = _keep_replaced(course, dest, best.relpath, earlier)
            report.problems.append(replaced)
            note = "; ".join(n for n in (note, replaced.reason.split(": ", 1)[0]) if n)
        dest.write_bytes(best.data)
    rec = registry.records[student]
    if best.found.late:
        rec.late.add(assignment)
    else:
        rec.late.discard(assignment)
    if best.found.attachment:
        rec.attachment_ids[assignment] = best.found.attachment
    report.placed.append(Placed(best.relpath, student, assignment, note, best.found.name))


def _add_roster(
    registry: Registry, people: Roster, report: CollectReport, existing: set[str]
) -> None:
    """Register everyone on the roster with its names and LMS columns; list in
    `report.roster_only` those who handed in nothing, now or before (`existing`)."""
    handed_in = {p.student for p in report.placed}
    placed_in = {p.assignment for p in report.placed}
    for person in people.people:
        rec = registry.student(
            report.lms if people.lms != "generic" else "generic", person.key, person.name
        )
        rec.name = person.name or rec.name
        for attr in ("email", "sis_user_id", "sis_login_id", "section"):
            setattr(rec, attr, getattr(person, attr) or getattr(rec, attr))
        if report.lms == "moodle" and person.participant and len(placed_in) == 1:
            # a Moodle download and its worksheet belong to one assignment
            rec.participant_ids.setdefault(next(iter(placed_in)), person.participant)
        if rec.student_id not in handed_in and rec.student_id not in existing:
            report.roster_only.append(rec.student_id)


def _update_gradebook(course: Path, registry: Registry, students: set[str]) -> None:
    """Create or update each student in nbgrader's gradebook, with names and e-mail."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url(course)) as gb:
        for sid in sorted(students):
            rec = registry.records[sid]
            last, first = split_name(rec.name)
            gb.update_or_create_student(
                sid, first_name=first, last_name=last, email=rec.email or None
            )


def _why_nothing(paths: list[str], asked: str, lms: str) -> str:
    """Why a download placed no notebook, and what to do."""
    notebooks = [p for p in paths if p.lower().endswith(".ipynb")]
    if not paths:
        return "it holds no files"
    if not notebooks:
        return (
            f"it holds no notebook (.ipynb), only {len(paths)} other files (such as "
            f"{paths[0]}); is it the right download?"
        )
    if asked != "auto":
        named = detect(notebooks)
        if named and named != lms:
            how = f"as {named.capitalize()} names them" if named != "generic" else "by hand"
            return (
                f"its notebooks are named {how}, not as {lms.capitalize()} does: run collect "
                f"again with --lms {named} (or without --lms)"
            )
    return f"none of its {len(notebooks)} notebooks could be placed: the reasons are above"


def _keep_replaced(course: Path, dest: Path, by: str, result) -> Unplaced:
    """Copy the notebook at dest (about to be replaced by `by`) to .grader/aside/ under a new
    name; the reason starts "replaces the graded submission from DATE (SCORE)"."""
    student, assignment = dest.parent.parent.name, dest.parent.name
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(dest.stat().st_mtime))
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(dest.stat().st_mtime))
    folder = course / ".grader" / "aside" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    aside, n = folder / f"replaced-{stamp}-{assignment}.ipynb", 1
    while aside.exists():  # never overwrite what is already kept
        n += 1
        aside = folder / f"replaced-{stamp}-{n}-{assignment}.ipynb"
    aside.write_bytes(dest.read_bytes())
    if result is not None and result.status == "graded":
        what = f"replaces the graded submission from {when} ({result.score:g}/{result.max_score:g})"
    elif result is not None and result.status == "failed":
        what = f"replaces the graded submission from {when} (grading failed)"
    else:
        what = f"replaces the submission from {when} (not graded)"
    rel = dest.relative_to(course).as_posix()
    return Unplaced(
        rel,
        f"{what}: {by} is graded next; to grade the earlier one instead, copy it back over "
        f"{rel} and run backprop-grader autograde {assignment} --force",
        str(aside.relative_to(course)),
    )
