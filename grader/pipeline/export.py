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


def _fmt(x: float) -> str:
    return f"{x:g}"


def export(course: Path, dest: Path | None = None) -> Path:
    """Write the grades CSV (default: course/grades.csv) and return its path.

    Columns: `student_id`, one per assignment (points), `total`, `max_total`,
    `needs_manual_grade` (`yes` or empty), `notes` (per assignment: not submitted, the reason
    grading failed, flags).
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
            total, manual, notes = 0.0, False, []
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
                if result and result.flags:
                    more = f" (+{len(result.flags) - 1} more)" if len(result.flags) > 1 else ""
                    notes.append(f"{a}: flagged: {result.flags[0]}{more}")
            row["total"] = _fmt(total)
            row["max_total"] = _fmt(sum(m for _, m in known))
            row["needs_manual_grade"] = "yes" if manual else ""
            row["notes"] = "; ".join(notes)
            rows.append(row)
    columns = ["student_id", *[a for a, _ in known], "total", "max_total"]
    columns += ["needs_manual_grade", "notes"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return dest
