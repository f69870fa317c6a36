"""`export`: a grades CSV an LMS can import, from the gradebook.

One row per student, a column per assignment (its score), the total and the maximum,
plus what nbgrader's own export leaves out: whether a submission needs a manual grade
and why (grading failed, not submitted, flagged).
"""

from __future__ import annotations

import csv
from pathlib import Path

from grader.pipeline.config import assignments_of, course_config
from grader.pipeline.results import load_results
from grader.pipeline.verified import current_record, unverified_reason


def _fmt(x: float) -> str:
    return f"{x:g}"


def export(course: Path, dest: Path | None = None) -> Path:
    """Write the grades CSV (default: course/grades.csv) and return its path.

    Columns: `student_id`, one per assignment (points), `total`, `max_total`,
    `needs_manual_grade` (`yes` or empty), `notes` (per assignment: not submitted, the reason
    grading failed, flags), `grading_checks` (per assignment: grades written without the
    course's verification or sandbox, see grader.pipeline.verified; empty when all is well).
    """
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course).resolve()
    dest = Path(dest) if dest else course / "grades.csv"
    results = load_results(course)
    assignments = assignments_of(course)
    with Gradebook(str(course_config(course).CourseDirectory.db_url)) as gb:
        known = []
        for a in assignments:
            try:
                known.append((a, float(gb.find_assignment(a).max_score)))
            except MissingEntry:
                continue  # never released or graded: no column
        rows = []
        for student in sorted(gb.students, key=lambda s: s.id):
            row = {"student_id": student.id}
            total, manual, notes, checks = 0.0, False, [], []
            for a, _ in known:
                try:
                    sub = gb.find_submission(a, student.id)
                except MissingEntry:
                    row[a] = "0"
                    notes.append(f"{a}: not submitted")
                    continue
                score = float(sub.score)
                row[a] = _fmt(score)
                total += score
                manual = manual or bool(sub.needs_manual_grade)
                result = results.get(f"{student.id}/{a}")
                if result and result.status == "failed":
                    notes.append(f"{a}: {result.reason}")
                elif sub.needs_manual_grade:
                    notes.append(f"{a}: needs manual grade")
                # Plain `nbgrader autograde` leaves no result, but its verification record.
                record = current_record(course, student.id, a)
                unverified = unverified_reason(course, student.id, a)
                if unverified:  # written by a route without the course's verification
                    notes.append(f"{a}: {unverified}")
                    checks.append(f"{a}: {unverified.split(':', 1)[0]}")
                elif (result or record) and (result or record).sandbox:
                    checks.append(f"{a}: graded without the sandbox")
                flags = (result.flags if result else []) or (record.flags if record else [])
                if flags:
                    more = f" (+{len(flags) - 1} more)" if len(flags) > 1 else ""
                    notes.append(f"{a}: flagged: {flags[0]}{more}")
            row["total"] = _fmt(total)
            row["max_total"] = _fmt(sum(m for _, m in known))
            row["needs_manual_grade"] = "yes" if manual else ""
            row["notes"] = "; ".join(notes)
            row["grading_checks"] = "; ".join(checks)
            rows.append(row)
    columns = ["student_id", *[a for a, _ in known], "total", "max_total"]
    columns += ["needs_manual_grade", "notes", "grading_checks"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return dest
