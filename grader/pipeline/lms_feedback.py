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

#: What to do about a feedback page that no longer shows the gradebook's grade.
RUN_FEEDBACK = "run `backprop-grader feedback` again, then export"


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
            elif (
                rec
                and rec.lms == lms == "canvas"
                and rec.lms_id.isdigit()
                and assignment in rec.attachment_ids
            ):
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


@dataclass
class StalePage:
    """A feedback page that shows a score or comment the gradebook no longer has."""

    student: str
    assignment: str
    why: str  #: "hidden_test_grad_W2: the page shows 0, the gradebook 1.5", ...

    def line(self) -> str:
        return f"{self.student}/{self.assignment}: {self.why}"


#: nbgrader's feedback page lists every graded cell at its top (templates/feedback/
#: index.html.j2): `<a href="#GRADE_ID">Test cell</a> (Score: 1.5 / 2.0)`.
_TOC_SCORE = re.compile(r'<a href="#([^"]+)">[^<]*</a>\s*\(Score:\s*([-\d.]+)\s*/')
_WORDS = re.compile(r"[^\W_]+")
_TAG = re.compile(r"<[^>]+>")


def _words(text: str) -> str:
    """A text's words, lower case, one space apart (markup and punctuation dropped)."""
    return " ".join(_WORDS.findall(text.lower()))


def _shown_words(comment: str) -> tuple[str, str]:
    """A comment's words as the page shows them (rendered as markdown, as nbgrader's
    template does), and as written."""
    import html

    from nbconvert.filters.markdown import markdown2html

    try:
        rendered = html.unescape(_TAG.sub(" ", markdown2html(comment)))
    except Exception:  # noqa: BLE001 - a comment the renderer cannot read: its words
        rendered = comment
    return _words(rendered), _words(comment)


def stale_pages(course: Path, lms: str | None = None) -> list[StalePage]:
    """The feedback pages whose scores or comments differ from the gradebook's now.

    nbgrader's gradebook keeps no time of a grade's change (formgrader's Save writes only
    the score and comment), so the page is compared with the gradebook itself: each graded
    cell's score in the page's table of contents against `Grade.score` (to 2 decimals, as
    the page rounds), and each comment (`Comment.comment`: the hand's, else nbgrader's)
    against the page's text, word for word (the page renders it as markdown). Works for
    pages of `backprop-grader feedback` and of plain `nbgrader generate_feedback` alike.

    Args:
        course: the course directory.
        lms: only the pages of this LMS's students ("canvas" or "moodle"; None: all),
            never the LMS's test account.
    """
    import html

    from nbgrader.api import Gradebook, MissingEntry

    from grader.config import course_config

    course = Path(course).resolve()
    records = load_students(course)
    out: list[StalePage] = []
    with Gradebook(str(course_config(course).CourseDirectory.db_url)) as gb:
        for assignment, pages in sorted(_pages(course).items()):
            for student, page in sorted(pages.items()):
                rec = records.get(student)
                if is_test_student(rec) or (lms and (rec is None or rec.lms != lms)):
                    continue
                try:
                    nb = gb.find_submission_notebook(assignment, assignment, student)
                except MissingEntry:
                    continue  # nothing graded to compare with
                text = page.read_text(encoding="utf-8", errors="replace")
                shown = {gid: float(x) for gid, x in _TOC_SCORE.findall(text)}
                whys = []
                for g in sorted(nb.grades, key=lambda g: g.name) if shown else []:
                    now = round(float(g.score or 0.0), 2)
                    if g.name in shown and abs(shown[g.name] - now) > 0.004:
                        whys.append(
                            f"{g.name}: the page shows {shown[g.name]:g}, the gradebook {now:g}"
                        )
                    elif g.name not in shown:
                        whys.append(f"{g.name}: not on the page")
                body = _words(html.unescape(_TAG.sub(" ", text)))
                for c in sorted(nb.comments, key=lambda c: c.name):
                    said = _shown_words(c.comment or "")
                    if said[1] and said[0] not in body and said[1] not in body:
                        whys.append(f"{c.name}: the page does not show its comment now")
                if whys:
                    out.append(StalePage(student, assignment, "; ".join(whys)))
    return out


def set_aside(dest_dir: Path, lms: str) -> list[Path]:
    """Rename the LMS files of an earlier export (`grades-canvas.csv`, `grades-moodle-*.csv`,
    `feedback-LMS-*.zip` in `dest_dir`) to `NAME.stale` (`NAME.stale-2`, ... when taken), so
    nobody uploads them after an export refused; nothing is deleted. Returns the new paths."""
    dest_dir = Path(dest_dir)
    grades = ["grades-canvas.csv"] if lms == "canvas" else ["grades-moodle-*.csv"]
    moved = []
    for pattern in [*grades, f"feedback-{lms}-*.zip"]:
        for path in sorted(dest_dir.glob(pattern)):
            if not path.is_file():
                continue
            new, n = path.with_name(path.name + ".stale"), 1
            while new.exists():
                n += 1
                new = path.with_name(f"{path.name}.stale-{n}")
            path.rename(new)
            moved.append(new)
    return moved
