"""`export`: grade CSVs an LMS can import, from the gradebook.

`grades.csv` (always): one row per student, a column per assignment (its score), the total
and the maximum, plus what nbgrader's own export leaves out: whether a submission needs a
manual grade and why (grading failed, not submitted, not graded yet, flagged).

`--format canvas` adds `grades-canvas.csv`, the layout of Canvas's gradebook export, which
its "Import" reads back (columns `Student, ID, SIS User ID, SIS Login ID, Section`, then one
column per assignment, headed as in the roster: `04_backprop_W2 (4321)`, then a
`Points Possible` row). `--format moodle` adds `grades-moodle-ASSIGNMENT.csv` per
assignment, the columns of Moodle's grading worksheet that its "Upload grading worksheet"
reads (`Identifier` = `Participant N`, `Grade`, `Last modified (grade)`), plus the name,
e-mail, maximum and `Feedback comments`.

A grade cell is the score when graded, empty when submitted but not graded yet, and 0 for
a student the LMS knows (students.csv) who handed in nothing (an empty cell would leave
the LMS's grade unchanged). An assignment nobody handed in has no column (no zeros for it);
the Canvas file also leaves out the assignments no Canvas student handed in and those
whose download was anonymous (`anon_xxxxx`: nobody is linked to a Canvas user id).

An LMS file never guesses. A grade that is not final (`Cell.pending`: the submission needs
a manual grade, is unreadable, could not be graded, or is not graded yet) stops
`export_canvas` and `export_moodle` with `IncompleteGrades`, which lists every one, before
anything is written; with `allow_incomplete` those cells are left empty (the LMS keeps what
it had) and listed. Moodle's "Feedback comments", which the student reads, hold only
`Cell.public` (nothing handed in, late, grade to follow), never the instructor's notes
(flags, failure reasons). The LMS's test account (Canvas's Test Student,
`grader.pipeline.lms.is_test_student`) is left out of the LMS files, the feedback zips and
the class report; grades.csv keeps its row, with a note.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from grader.config import assignments_of, course_config, require_course
from grader.nbcells import is_graded, points
from grader.pipeline.failures import unreadable
from grader.pipeline.lms import StudentRecord, is_test_student, load_students
from grader.pipeline.results import autograded_path, load_results, submitted_path
from grader.pipeline.verified import current_record, unverified_reason
from grader.verify.hand_scores import read_record as read_hand_record

FORMATS = ("generic", "canvas", "moodle")
#: What a student reads of a grade that is not final (Moodle's Feedback comments).
TO_FOLLOW = "not graded yet: your grade will follow"


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass
class Cell:
    """One student's standing on one assignment."""

    state: str  #: "graded", "not graded yet", "not submitted"
    score: float | None = None
    manual: bool = False
    notes: list[str] = field(default_factory=list)  #: for the instructor (grades.csv)
    #: grades written without the course's verification or sandbox (grader.pipeline.verified)
    checks: list[str] = field(default_factory=list)
    #: why the grade is not final ("" when it is): "needs manual grading", "unreadable: ...",
    #: "grading failed: ...", "not graded yet"
    pending: str = ""
    #: what the student may read of it (Moodle's Feedback comments)
    public: list[str] = field(default_factory=list)

    @property
    def value(self) -> str:
        if self.state == "graded":
            return _fmt(self.score or 0.0)
        return "0" if self.state == "not submitted" else ""


@dataclass
class Grades:
    assignments: list[tuple[str, float]]  #: (assignment id, max score)
    rows: dict[str, dict[str, Cell]]  #: student id -> assignment -> cell
    students: dict[str, StudentRecord]
    #: the LMS's test accounts among the rows (left out of LMS files and the report)
    test_students: set[str] = field(default_factory=set)


def source_max_score(course: Path, assignment: str) -> float:
    """Points of an assignment's graded cells, read from its source notebook."""
    import nbformat

    nb = nbformat.read(Path(course) / "source" / assignment / f"{assignment}.ipynb", 4)
    return float(sum(points(c) for c in nb.cells if is_graded(c)))


def gather(course: Path) -> Grades:
    """Every student (gradebook, submitted/ and students.csv) x every assignment somebody
    handed in (a submission in the gradebook or in submitted/)."""
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course).resolve()
    results = load_results(course)
    records = load_students(course)
    submitted = course / "submitted"
    handed = {
        (s.name, a.name)
        for s in (submitted.iterdir() if submitted.is_dir() else [])
        if s.is_dir()
        for a in s.iterdir()
        if a.is_dir()
    }
    with Gradebook(str(course_config(course).CourseDirectory.db_url)) as gb:
        known = []
        for a in assignments_of(course):
            try:
                entry = gb.find_assignment(a)
            except MissingEntry:
                entry = None
            if entry is not None and entry.num_submissions:
                known.append((a, float(entry.max_score)))
            elif any(h[1] == a for h in handed):
                top = float(entry.max_score) if entry else source_max_score(course, a)
                known.append((a, top))
        students = {s.id for s in gb.students} | {s for s, _ in handed} | set(records)
        rows: dict[str, dict[str, Cell]] = {}
        for student in sorted(students):
            row = rows[student] = {}
            for a, _ in known:
                try:
                    sub = gb.find_submission(a, student)
                except MissingEntry:
                    if (student, a) in handed:
                        row[a] = Cell(
                            "not graded yet",
                            notes=[f"{a}: not graded yet"],
                            pending="not graded yet",
                            public=[TO_FOLLOW],
                        )
                    else:
                        row[a] = Cell(
                            "not submitted",
                            0.0,
                            notes=[f"{a}: not submitted"],
                            public=["nothing handed in: 0 points"],
                        )
                    continue
                cell = row[a] = Cell("graded", float(sub.score), bool(sub.needs_manual_grade))
                result = results.get(f"{student}/{a}")
                if result and result.status == "failed":
                    cell.notes.append(f"{a}: {result.reason}")
                elif sub.needs_manual_grade:
                    cell.notes.append(f"{a}: needs manual grade")
                cell.pending = _pending(course, student, a, sub, result)
                if cell.pending:
                    cell.public.append(TO_FOLLOW)
                # Plain `nbgrader autograde` leaves no result, but its verification record.
                record = current_record(course, student, a)
                unverified = unverified_reason(course, student, a)
                if unverified:  # written by a route without the course's verification
                    cell.notes.append(f"{a}: {unverified}")
                    cell.checks.append(f"{a}: {unverified.split(':', 1)[0]}")
                elif (result or record) and (result or record).sandbox:
                    cell.checks.append(f"{a}: graded without the sandbox")
                flags = (result.flags if result else []) or (record.flags if record else [])
                if flags:
                    more = f" (+{len(flags) - 1} more)" if len(flags) > 1 else ""
                    cell.notes.append(f"{a}: flagged: {flags[0]}{more}")
            rec = records.get(student)
            for a in sorted(rec.late if rec else ()):
                if a in row and row[a].state != "not submitted":
                    row[a].notes.append(f"{a}: late")
                    row[a].public.append("handed in late")
    tests = {s for s in rows if is_test_student(records.get(s))}
    return Grades(known, rows, records, tests)


def _pending(course: Path, student: str, assignment: str, sub, result) -> str:
    """Why a graded submission's grade is not final ("" when it is).

    Not final: nbgrader says a cell needs a manual grade (a cell scored by hand in a
    submission that changed since says so); grading failed (the results file)
    and nobody has graded it by hand since; or nbgrader left no autograded notebook and no
    result (plain `nbgrader autograde` that failed). A failure names what failed, and an
    unreadable notebook says so.
    """
    if result is not None and result.status == "failed":
        by_hand = any(g.manual_score is not None for nb in sub.notebooks for g in nb.grades)
        if not sub.needs_manual_grade and by_hand:
            return ""  # a teaching assistant graded it in formgrader: their grade stands
        bad = unreadable(submitted_path(course, student, assignment))
        return f"unreadable: {bad}" if bad else f"grading failed: {result.reason}"
    if sub.needs_manual_grade:
        return (
            "needs manual grading"
            + _hand_review(course, student, assignment, sub)
            + _comment_review(course, student, assignment, sub)
        )
    comments = _comment_review(course, student, assignment, sub)
    if comments:
        return "needs manual grading" + comments
    if result is None and not autograded_path(course, student, assignment).is_file():
        bad = unreadable(submitted_path(course, student, assignment))
        if bad:
            return f"unreadable: {bad}"
        return "not graded yet: the gradebook has it but nbgrader wrote no autograded notebook"
    return ""


def _hand_review(course: Path, student: str, assignment: str, sub) -> str:
    """Why cells scored by hand are marked for review again (": ..." or ""): the submission
    changed since the score was given (`grader.verify.hand_scores`)."""
    review = read_hand_record(course, student, assignment)["review"]
    marked = [g.name for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade]
    whys: dict[str, list[str]] = {}
    for gid in marked:
        if gid in review:
            whys.setdefault(review[gid], []).append(gid)
    return "".join(f": {why} ({', '.join(gids)})" for why, gids in whys.items())


def _comment_review(course: Path, student: str, assignment: str, sub) -> str:
    """Comments given by hand for a notebook the student has since replaced, unchanged since
    (`grader.verify.hand_scores`): ": resubmitted after a comment given by hand (ids)" or ""."""
    record = read_hand_record(course, student, assignment)
    now = {c.name: c.manual_comment for nb in sub.notebooks for c in nb.comments}
    whys: dict[str, list[str]] = {}
    for cid, why in record["comment_review"].items():
        entry = record["comments"].get(cid)
        if entry and now.get(cid) == entry["comment"]:  # nobody edited it since
            whys.setdefault(why, []).append(cid)
    return "".join(f": {why} ({', '.join(ids)})" for why, ids in whys.items())


def export(course: Path, dest: Path | None = None) -> Path:
    """Write the grades CSV (default: course/grades.csv) and return its path.

    Columns: `student_id`, `name` and `lms_id` (from students.csv), one per assignment
    (points; empty when not graded yet), `total`, `max_total`, `needs_manual_grade` (`yes`
    or empty), `notes` (per assignment: not submitted, not graded yet, the reason grading
    failed, flags), `grading_checks` (per assignment: grades written without the course's
    verification or sandbox, see grader.pipeline.verified; empty when all is well).
    """
    course = require_course(course)
    dest = Path(dest) if dest else course / "grades.csv"
    grades = gather(course)
    out = []
    for student, cells in grades.rows.items():
        rec = grades.students.get(student)
        row = {
            "student_id": student,
            "name": rec.name if rec else "",
            "lms_id": rec.lms_id if rec else "",
        }
        for a, _ in grades.assignments:
            row[a] = cells[a].value
        row["total"] = _fmt(sum(c.score or 0.0 for c in cells.values() if c.state == "graded"))
        row["max_total"] = _fmt(sum(m for _, m in grades.assignments))
        manual = any(c.manual or c.state == "not graded yet" for c in cells.values())
        row["needs_manual_grade"] = "yes" if manual else ""
        notes = [n for c in cells.values() for n in c.notes]
        if student in grades.test_students:
            notes.insert(0, TEST_STUDENT_NOTE)
        row["notes"] = "; ".join(notes)
        row["grading_checks"] = "; ".join(k for c in cells.values() for k in c.checks)
        out.append(row)
    columns = ["student_id", "name", "lms_id", *[a for a, _ in grades.assignments]]
    columns += ["total", "max_total", "needs_manual_grade", "notes", "grading_checks"]
    _write(dest, columns, out)
    return dest


#: grades.csv's note on the LMS's test account.
TEST_STUDENT_NOTE = "the LMS's test student: left out of the LMS files and the class report"


def _write(dest: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def lms_settings_path(course: Path) -> Path:
    return Path(course) / "lms.json"


def canvas_columns(course: Path) -> dict[str, str]:
    """assignment id -> the Canvas gradebook column it goes to (from the roster collect read)."""
    path = lms_settings_path(course)
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8")).get("canvas_columns", {})


@dataclass
class Pending:
    """A grade that is not final, in an LMS file's row."""

    student: str
    name: str
    assignment: str
    why: str  #: Cell.pending

    def line(self) -> str:
        who = self.student
        if self.name and self.name != self.student:
            who += f" ({self.name})"
        return f"{who}: {self.assignment}: {self.why}"


class IncompleteGrades(Exception):
    """An LMS file was not written: some of its grades are not final (`pending`)."""

    def __init__(self, what: str, pending: list[Pending]):
        self.what, self.pending = what, pending
        shown = [f"  {p.line()}" for p in pending[:MAX_LISTED]]
        if len(pending) > MAX_LISTED:
            shown.append(f"  ... and {len(pending) - MAX_LISTED} more (grades.csv's notes)")
        are = "grade in it is" if len(pending) == 1 else "grades in it are"
        super().__init__(
            f"{what} not written: {len(pending)} {are} not final, and an LMS "
            "file never guesses one:\n" + "\n".join(shown) + "\nGive the manual grades "
            "(formgrader: Manual Grading), ask for unreadable notebooks again (collect, then "
            "autograde), grade what is not graded (autograde), then export again; or export "
            "with --allow-incomplete to leave these grades empty in the file (the LMS keeps "
            "what it has for them)"
        )


#: How many grades that are not final an error lists (the rest are in grades.csv).
MAX_LISTED = 50


@dataclass
class LmsExport:
    """What `export_canvas` or `export_moodle` wrote."""

    paths: list[Path] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  #: no id in this LMS: grades.csv only
    blank: list[Pending] = field(default_factory=list)  #: left empty (allow_incomplete)
    test_students: list[str] = field(default_factory=list)  #: the LMS's test accounts
    notes: list[str] = field(default_factory=list)  #: one line per thing to know


def _lms_value(cell: Cell, blank: list[Pending], pending: Pending | None) -> str:
    if pending is None:
        return cell.value
    blank.append(pending)
    return ""


def _pending_of(grades: Grades, student: str, a: str) -> Pending | None:
    cell = grades.rows[student][a]
    if not cell.pending:
        return None
    rec = grades.students.get(student)
    return Pending(student, rec.name if rec else "", a, cell.pending)


def export_canvas(
    course: Path, dest: Path | None = None, *, allow_incomplete: bool = False
) -> LmsExport:
    """grades-canvas.csv for Canvas's gradebook import.

    Only the assignments a Canvas student (a Canvas user id in students.csv) handed in get a
    column; an assignment whose download was anonymous (`anon_xxxxx` students) gets none.
    The notes say why an assignment is left out and what to do.

    Raises:
        IncompleteGrades: a grade in the file would not be final (nothing is written),
            unless `allow_incomplete`, which leaves those cells empty.
    """
    course = Path(course).resolve()
    dest = Path(dest) if dest else course / "grades-canvas.csv"
    grades = gather(course)
    headers = canvas_columns(course)
    out = LmsExport(test_students=sorted(grades.test_students))

    def canvas_student(s: str, rec: StudentRecord | None) -> bool:
        return rec is not None and rec.lms == "canvas" and s not in grades.test_students

    cols = _canvas_columns(course, grades, canvas_student, headers, dest.name, out.notes)
    fixed = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    rows = [{"Student": "    Points Possible", **{h: _fmt(m) for _, h, m in cols}}]
    for student, cells in grades.rows.items():
        rec = grades.students.get(student)
        if student in grades.test_students:
            continue
        if not canvas_student(student, rec) or not rec.lms_id.isdigit():
            out.left_out.append(student)
            continue
        row = {
            "Student": rec.name,
            "ID": rec.lms_id,
            "SIS User ID": rec.sis_user_id,
            "SIS Login ID": rec.sis_login_id,
            "Section": rec.section,
        }
        for a, h, _ in cols:
            row[h] = _lms_value(cells[a], out.blank, _pending_of(grades, student, a))
        rows.append(row)
    if out.blank and not allow_incomplete:
        raise IncompleteGrades(dest.name, out.blank)
    _write(dest, fixed + [h for _, h, _ in cols], rows)
    out.paths.append(dest)
    return out


def _canvas_columns(
    course: Path,
    grades: Grades,
    canvas_student: Callable[[str, StudentRecord | None], bool],
    headers: dict[str, str],
    dest_name: str,
    notes: list[str],
) -> list[tuple[str, str, float]]:
    """(assignment, Canvas column header, max score) of each assignment a Canvas student
    handed in under a Canvas user id; a note in `notes` for each one left out and why."""

    def handed(a: str, test) -> bool:
        return any(
            cells[a].state != "not submitted"
            and canvas_student(s, rec := grades.students.get(s))
            and test(rec.lms_id)
            for s, cells in grades.rows.items()
        )

    cols, anonymous = [], []
    for a, m in grades.assignments:
        if handed(a, lambda uid: uid.startswith("anon_")):
            anonymous.append(a)
        elif handed(a, str.isdigit):
            cols.append((a, headers.get(a, a), m))
    shown = {a for a, _, _ in cols} | set(anonymous)
    nobody = [a for a in assignments_of(course) if a not in shown]
    if nobody:
        notes.append(
            f"left out of {dest_name}, no Canvas student handed them in: {', '.join(nobody)}"
        )
    for a in anonymous:
        notes.append(
            f"{a} left out of {dest_name}: its Canvas download is anonymous (anon_... files), "
            "so no grade can be matched to a Canvas user; enter these grades in SpeedGrader "
            "(grades.csv lists them by anon id), or turn anonymous grading off for the "
            "assignment, download the submissions again and collect them"
        )
    bare = [a for a, h, _ in cols if h == a]
    if bare:
        notes.append(
            f"no Canvas assignment id for {', '.join(bare)} (collected without a roster): "
            "Canvas's import would create a new assignment for each; collect again with "
            "--roster (Canvas: Grades > Export) to name the columns as Canvas does"
        )
    return cols


MOODLE_COLUMNS = [
    "Identifier",
    "Full name",
    "Email address",
    "Grade",
    "Maximum Grade",
    "Last modified (grade)",
    "Feedback comments",
]


def export_moodle(
    course: Path, dest_dir: Path | None = None, *, allow_incomplete: bool = False
) -> LmsExport:
    """grades-moodle-ASSIGNMENT.csv per assignment, for Moodle's "Upload grading worksheet";
    `left_out`: the students with no Moodle participant id for an assignment they handed in.
    "Feedback comments" holds only what the student may read (`Cell.public`).

    Raises:
        IncompleteGrades: a grade in a worksheet would not be final (nothing is written),
            unless `allow_incomplete`, which leaves those cells empty.
    """
    course = Path(course).resolve()
    dest_dir = Path(dest_dir) if dest_dir else course
    grades = gather(course)
    out = LmsExport(test_students=sorted(grades.test_students))
    # Moodle reads this column with PHP's strtotime(); an ISO 8601 time with its UTC offset
    # means the same instant whatever the server's time zone.
    now = datetime.now(UTC).isoformat(timespec="seconds")
    sheets, left_out = [], set()
    for a, top in grades.assignments:
        rows, by_pid = [], {}
        # a graded student first: of two records with one participant id, the graded one
        order = sorted(grades.rows.items(), key=lambda kv: kv[1][a].state != "graded")
        for student, cells in order:
            rec = grades.students.get(student)
            pid = rec.participant_ids.get(a) if rec and rec.lms == "moodle" else None
            if student in grades.test_students:
                continue
            if not pid or pid in by_pid:
                if cells[a].state != "not submitted":
                    left_out.add(student)
                continue
            by_pid[pid] = student
            rows.append(
                {
                    "Identifier": f"Participant {pid}",
                    "Full name": rec.name,
                    "Email address": rec.email,
                    "Grade": _lms_value(cells[a], out.blank, _pending_of(grades, student, a)),
                    "Maximum Grade": _fmt(top),
                    "Last modified (grade)": now,
                    "Feedback comments": "; ".join(cells[a].public),
                }
            )
        rows.sort(key=lambda r: r["Identifier"])
        if rows:
            sheets.append((dest_dir / f"grades-moodle-{a}.csv", rows))
    if out.blank and not allow_incomplete:
        what = ", ".join(p.name for p, _ in sheets) or "the Moodle grading worksheets"
        raise IncompleteGrades(what, out.blank)
    for dest, rows in sheets:
        _write(dest, MOODLE_COLUMNS, rows)
        out.paths.append(dest)
    out.left_out = sorted(left_out)
    return out
