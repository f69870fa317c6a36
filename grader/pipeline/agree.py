"""The results file and the gradebook must agree before a grade is trusted.

`.grader/results.json` records what autograde finished; the gradebook holds the grades
that export reads. A gradebook replaced or deleted after grading (`rm gradebook.db`)
leaves results behind with no grade: those submissions are graded again, never skipped.
"""

from __future__ import annotations

from pathlib import Path

from grader.config import course_config, safe_url
from grader.pipeline.results import GradeResult, load_results


def in_gradebook(course: Path, assignments: list[str]) -> dict[str, tuple[float, bool]]:
    """ "student/assignment" -> (score, needs manual grade) of every submission the gradebook
    holds for these assignments."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(str(course_config(course).CourseDirectory.db_url)) as gb:
        for a in assignments:
            try:
                subs = gb.assignment_submissions(a)
            except MissingEntry:
                continue
            for sub in subs:
                out[f"{sub.student_id}/{a}"] = (float(sub.score), bool(sub.needs_manual_grade))
    return out


def refresh(results: dict[str, GradeResult], graded: dict[str, tuple[float, bool]]) -> list[str]:
    """Take the gradebook's score (a manual grade given in formgrader) into the results;
    returns the keys that changed."""
    changed = []
    for key, result in results.items():
        if key in graded:
            score, manual = graded[key]
            if abs(score - result.score) > 1e-9 or manual != result.needs_manual_grade:
                result.score, result.needs_manual_grade = score, manual
                changed.append(key)
    return changed


def disagreements(course: Path, keys: list[str], results: dict[str, GradeResult]) -> list[str]:
    """What the results file says is graded but the gradebook does not hold (or scores
    differently), for these "student/assignment" keys."""
    assignments = sorted({k.split("/", 1)[1] for k in keys})
    graded = in_gradebook(course, assignments)
    out = []
    for key in keys:
        result = results.get(key)
        if result is None or result.status != "graded":
            continue
        if key not in graded:
            out.append(f"{key}: graded in results.json but not in the gradebook")
        elif abs(graded[key][0] - result.score) > 1e-9:
            theirs = graded[key][0]
            out.append(f"{key}: results.json says {result.score:g}, the gradebook {theirs:g}")
    return out


def wrong_gradebook(course: Path) -> str:
    """Why the course's gradebook cannot be the one it was graded into ("" when it can): it
    holds no submission of the assignments `.grader/results.json` records as graded (a
    course graded into another database, given per command before `--db` was kept; or a
    lost gradebook)."""
    recorded = [key for key, r in load_results(course).items() if r.status == "graded"]
    if not recorded or in_gradebook(course, sorted({k.split("/", 1)[1] for k in recorded})):
        return ""
    url = safe_url(str(course_config(course).CourseDirectory.db_url))
    return (
        f"the course's gradebook {url} holds none of the {len(recorded)} grades "
        ".grader/results.json records. If they are in another database (PostgreSQL), give it "
        "once with --db URL (the course keeps it); if the gradebook was lost, run autograde, "
        "which grades them again"
    )
