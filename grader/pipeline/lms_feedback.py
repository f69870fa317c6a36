"""Feedback pages as one zip per assignment, named as each LMS's bulk feedback upload reads.

`feedback` writes `COURSE/feedback/STUDENT/ASSIGNMENT/ASSIGNMENT.html`; an LMS takes them
back in one upload when the files are named as its own download named the submissions:

- Moodle, "Upload multiple feedback files in a zip" (Assignment > View all submissions,
  feedback files enabled): `{Full Name}_{participant id}_assignsubmission_file_/FILE`.
  `assignfeedback_file_zip_importer::is_valid_filename_for_import`
  (mod/assign/feedback/file/importziplib.php of moodle/moodle) splits each folder name at
  `_` (at most 5 parts) and reads the participant id from the second part and the plugin
  from the third and fourth, so the name must hold no `_` (it is written with spaces).
- Canvas, "Re-Upload Submissions" (Assignment page): `{name}_{user id}_{attachment
  id}_FILE`. `Assignment#infer_comment_context_from_filename` (app/models/assignment.rb of
  instructure/canvas-lms) takes the first two all-digit parts as user id and attachment id
  and attaches the file as a comment to that user's submission only when the attachment
  belongs to it: the attachment id is the one of the download collect read.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.pipeline.lms import is_test_student, load_students, safe_id


@dataclass
class FeedbackZips:
    zips: list[Path] = field(default_factory=list)  #: one per assignment with a page in it
    left_out: list[str] = field(default_factory=list)  #: "STUDENT/ASSIGNMENT" with no LMS id


def _pages(course: Path) -> dict[str, dict[str, Path]]:
    """assignment -> student -> its feedback page."""
    out: dict[str, dict[str, Path]] = {}
    for page in sorted((Path(course) / "feedback").glob("*/*/*.html")):
        student, assignment = page.parent.parent.name, page.parent.name
        if page.name == f"{assignment}.html":
            out.setdefault(assignment, {})[student] = page
    return out


def feedback_zips(course: Path, lms: str, dest_dir: Path | None = None) -> FeedbackZips:
    """Write `feedback-LMS-ASSIGNMENT.zip` for every assignment that has feedback pages.

    Args:
        course: the course directory (feedback/ written by `backprop-grader feedback`).
        lms: "canvas" or "moodle".
        dest_dir: where to write the zips (default: the course directory).
    """
    course = Path(course).resolve()
    dest_dir = Path(dest_dir) if dest_dir else course
    records = load_students(course)
    out = FeedbackZips()
    for assignment, pages in sorted(_pages(course).items()):
        members = {}
        for student, page in pages.items():
            rec = records.get(student)
            if is_test_student(rec):  # the LMS's own test account: no upload for it
                continue
            name = None
            if rec and rec.lms == lms == "moodle" and assignment in rec.participant_ids:
                full = re.sub(r"[_/\\]+", " ", rec.name).strip() or "Participant"
                pid = rec.participant_ids[assignment]
                name = f"{full}_{pid}_assignsubmission_file_/{assignment}.html"
            elif (rec and rec.lms == lms == "canvas" and rec.lms_id.isdigit()
                  and assignment in rec.attachment_ids):  # fmt: skip
                squashed = re.sub(r"[^a-z0-9]", "", safe_id(rec.name)) or "student"
                att = rec.attachment_ids[assignment]
                name = f"{squashed}_{rec.lms_id}_{att}_{assignment}.html"
            if name is None:
                out.left_out.append(f"{student}/{assignment}")
            else:
                members[name] = page
        if not members:
            continue
        dest = dest_dir / f"feedback-{lms}-{assignment}.zip"
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, page in sorted(members.items()):
                zf.write(page, name)
        out.zips.append(dest)
    return out
