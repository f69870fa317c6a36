"""Who handed in what: LMS download naming, student ids, rosters and the students file.

Each LMS names the files of its "Download all submissions" zip its own way (the code that
writes them, read for this module):

- Canvas (`lib/content_zipper.rb` of instructure/canvas-lms, `get_filename` and
  `add_upload_submission`): `{name}{_LATE}_{user id}_{attachment id}_{file name}`, where
  `{name}` is the student's sortable name, lower-cased, with every non-word character
  removed ("Smith, Alice" -> `smithalice`), `_LATE` marks a late submission, and an
  anonymous assignment writes `anon_{anonymous id}` instead of name and user id.
- Moodle (`mod/assign/classes/downloader.php` of moodle/moodle, `get_student_prefix` and
  `load_submissionplugin_filelist`): a folder per student and plugin,
  `{Full Name}_{participant id}_assignsubmission_file/` (Moodle 4.x; 3.x writes a trailing
  `_`), holding the student's files under their own names; or, with "download submissions
  in folders" off, flat files `{Full Name}_{participant id}_assignsubmission_file_{file}`.
  Blind marking writes `Participant` instead of the name. The participant id is Moodle's
  per-assignment id of a student (the "Participant 123456" of the grading worksheet).
- generic: a hand-made folder or zip: `STUDENT_ASSIGNMENT.ipynb`, `STUDENT - ASSIGNMENT.ipynb`,
  `STUDENT/ASSIGNMENT.ipynb` or nbgrader's `STUDENT/ASSIGNMENT/ASSIGNMENT.ipynb`.

A student is keyed by what the LMS says (Canvas user id, Moodle participant id or the
e-mail a Moodle grading worksheet gives for it, the name in a generic download); two files
are the same student only when those keys are equal. The nbgrader student id is derived
from that key (letters, digits, `_ . - @`) and recorded with the display name in
`COURSE/students.csv`, which export and report read.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

LMS_NAMES = ("canvas", "moodle", "generic")

#: nbgrader's student ids become folder names: these characters only.
STUDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")

_CANVAS_ANON_RE = re.compile(
    r"^(?P<late>LATE_)?(?P<uid>anon_[A-Za-z0-9]+)_(?P<att>\d+)_(?P<file>.+)$"
)
_CANVAS_RE = re.compile(
    r"^(?:(?P<name>[^/]*?)_)?(?P<late>LATE_)?(?P<uid>\d+|anon_[A-Za-z0-9]+)_(?P<att>\d+)_(?P<file>.+)$"
)
_MOODLE_RE = re.compile(
    r"^(?P<name>.+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)(?:_(?P<file>.*))?$"
)
_DUP_RE = re.compile(r"\s*\(\d+\)$")  # "name (1)": a browser's or LMS's duplicate copy
_COPY_RE = re.compile(r"(?:[-_ ]Copy\d*|[-_ ]copy(?: \d+)?|-checkpoint| - Copy(?: \(\d+\))?)$")
_VERSION_RE = re.compile(r"^(?P<stem>.*?)-(?P<version>\d+)$")


@dataclass
class FileName:
    """A student's own file name, cleaned: the assignment it names and what was stripped."""

    stem: str  #: without extension(s) and markers
    version: int = 0  #: a trailing resubmission counter "-2"
    markers: list[str] = field(default_factory=list)  #: "(1)", "-Copy1", ".ipynb.ipynb", ...


def clean_name(name: str) -> FileName | None:
    """The stem of a notebook's file name without LMS and browser markers (None: not .ipynb)."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name.lower().endswith(".ipynb"):
        return None
    markers = []
    stem = name[: -len(".ipynb")]
    while stem.lower().endswith(".ipynb"):
        stem = stem[: -len(".ipynb")]
        markers.append(".ipynb.ipynb")
    changed = True
    while changed:
        changed = False
        for pattern in (_DUP_RE, _COPY_RE):
            m = pattern.search(stem)
            if m and m.start() > 0:
                markers.append(m.group().strip())
                stem, changed = stem[: m.start()], True
    version = 0
    m = _VERSION_RE.match(stem)
    if m:
        stem, version = m["stem"], int(m["version"])
    return FileName(stem.strip(), version, markers)


def find_assignment(stem: str, assignments: list[str]) -> tuple[str, str, str] | None:
    """(assignment, text before it, text after it) when the stem names an assignment.

    Case does not matter and `_`, `-` or spaces may separate the id's words
    (`04_backprop_w2`, `04 backprop W2`).
    """
    for a in sorted(assignments, key=len, reverse=True):
        words = [re.escape(w) for w in a.split("_")]
        pattern = r"(?<![A-Za-z0-9])" + r"[_\s-]+".join(words) + r"(?![A-Za-z0-9])"
        m = re.search(pattern, stem, flags=re.IGNORECASE)
        if m:
            return a, stem[: m.start()], stem[m.end() :]
    return None


def safe_id(text: str) -> str:
    """An nbgrader-safe id from any text: accents folded, lower case, `_` for the rest."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).replace("ß", "ss")
    t = t.encode("ascii", "ignore").decode()
    t = re.sub(r"[^A-Za-z0-9_.@-]+", "_", t).strip("_.-@").lower()
    return t


# ---------------------------------------------------------------- one file of a download


@dataclass
class Found:
    """A notebook of a download and who handed it in, as the LMS's naming says."""

    relpath: str
    key: str  #: the LMS's identity of the student ("" when the name carries none)
    name: str  #: display name as the LMS wrote it
    filename: str  #: the student's own file name
    late: bool = False
    folder_student: bool = False  #: generic: the student came from a folder, not the name
    attachment: str = ""  #: Canvas: the attachment id in the name


def parse_canvas(relpath: str) -> Found | str:
    """The Canvas naming of a file, or of the folder holding it: a student's own zip that
    collect unpacked into a folder of the zip's name (grader.pipeline.download)."""
    parts = PurePosixPath(relpath).parts
    base = parts[-1]
    m = _CANVAS_ANON_RE.match(base) or _CANVAS_RE.match(base)
    filename = m["file"] if m else base
    if not m and len(parts) > 1:
        m = _CANVAS_ANON_RE.match(parts[-2]) or _CANVAS_RE.match(parts[-2])
    if not m:
        return "not a Canvas download name ({name}_{user id}_{attachment id}_{file})"
    uid = m["uid"]
    name = m.groupdict().get("name") or ""
    return Found(relpath, uid, name, filename, late=bool(m["late"]), attachment=m["att"])


def parse_moodle(relpath: str) -> Found | str:
    parts = PurePosixPath(relpath).parts
    for i, part in enumerate(parts):
        m = _MOODLE_RE.match(part)
        if not m:
            continue
        if i == len(parts) - 1:  # flat: the prefix and the file in one name
            filename = m["file"] or ""
        else:  # a folder per student and plugin (or a flat zip of theirs, unpacked)
            filename = PurePosixPath(*parts[i + 1 :]).name
        name = "" if m["name"] == "Participant" else m["name"]
        if m["plugin"] != "file":
            return f"a Moodle {m['plugin']} submission, not a file"
        return Found(relpath, m["pid"], name, filename)
    return "not a Moodle download name ({Full Name}_{participant id}_assignsubmission_file/...)"


def parse_generic(relpath: str, assignments: list[str]) -> Found | str:
    """A hand-made layout: the student from the name (`alice_A`, `Anna Lee - A`) or folders."""
    parts = PurePosixPath(relpath).parts
    cleaned = clean_name(parts[-1])
    if cleaned is None:
        return "not a notebook (.ipynb)"
    hit = find_assignment(cleaned.stem, assignments)
    folders = list(parts[:-1])
    if hit:
        a, before, _ = hit
        student = before.strip(" _-.")
        if student:
            return Found(relpath, student, student, parts[-1])
        # nbgrader layout STUDENT/ASSIGNMENT/ASSIGNMENT.ipynb
        if len(folders) >= 2 and find_assignment(folders[-1], [a]):
            return Found(relpath, folders[-2], folders[-2], parts[-1], folder_student=True)
    if folders:  # STUDENT/whatever.ipynb: the folder is the student
        return Found(relpath, folders[-1], folders[-1], parts[-1], folder_student=True)
    if hit:
        return (
            "no student id in the name or folder: rename it STUDENT_ASSIGNMENT.ipynb "
            "and collect it again"
        )
    return f"the name names no assignment of this course ({', '.join(assignments)})"


def detect(paths: list[str]) -> str | None:
    """The LMS whose naming every notebook follows: "canvas", "moodle", "generic", or None
    when some follow an LMS's naming and others do not (ambiguous: ask for --lms)."""
    notebooks = [p for p in paths if p.lower().endswith(".ipynb")]
    for lms, parse in (("canvas", parse_canvas), ("moodle", parse_moodle)):
        ok = [p for p in notebooks if isinstance(parse(p), Found)]
        if notebooks and len(ok) == len(notebooks):
            return lms
        if ok:
            return None
    return "generic"


def wrapper_folder(paths: list[str], assignments: list[str]) -> str | None:
    """The one top folder a zip puts everything in (`submissions/`), which is no student.

    A top folder is a student's only when everything in it is a bare assignment notebook
    (`alice/04_backprop_W2.ipynb`, ...).
    """
    paths = [p for p in paths if p.lower().endswith(".ipynb")]  # a README beside it: no matter
    if not paths:
        return None
    tops = {PurePosixPath(p).parts[0] for p in paths}
    if len(tops) != 1 or any(len(PurePosixPath(p).parts) < 2 for p in paths):
        return None
    top = tops.pop()
    children = [PurePosixPath(p).parts[1:] for p in paths]
    if any(len(c) > 1 for c in children):
        return top  # it holds folders: a folder of students
    for (name,) in children:
        cleaned = clean_name(name)
        if cleaned is None:
            continue
        hit = find_assignment(cleaned.stem, assignments)
        if not hit or hit[1].strip(" _-."):
            return top  # a name that carries a student (or none at all)
    return None


# ---------------------------------------------------------------- rosters


@dataclass
class Person:
    """A student as the LMS knows them."""

    key: str
    name: str = ""
    email: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    participant: str = ""  #: Moodle: the participant id of the worksheet's assignment


@dataclass
class Roster:
    lms: str
    people: list[Person]
    columns: list[str] = field(default_factory=list)  #: the LMS's grade columns (Canvas)


def read_roster(path: Path) -> Roster:
    """The LMS's class list: Canvas's gradebook export, Moodle's grading worksheet, or a
    CSV with `student_id,name` (generic).

    Raises:
        ValueError: not one of these (the message says which columns were expected).
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(text.splitlines()))
    header = list(rows[0].keys()) if rows else next(csv.reader(text.splitlines()), [])
    if {"Student", "ID"} <= set(header):
        people = []
        for r in rows:
            uid = (r.get("ID") or "").strip()
            if not uid.isdigit():  # "Points Possible" and similar rows
                continue
            people.append(
                Person(
                    uid,
                    (r.get("Student") or "").strip(),
                    sis_user_id=(r.get("SIS User ID") or "").strip(),
                    sis_login_id=(r.get("SIS Login ID") or "").strip(),
                    section=(r.get("Section") or "").strip(),
                )
            )
        fixed = {"Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Integration ID"}
        return Roster("canvas", people, [c for c in header if c not in fixed])
    if "Identifier" in header:
        people = []
        for r in rows:
            m = re.search(r"(\d+)\s*$", r.get("Identifier") or "")
            if not m:
                continue
            email = (r.get("Email address") or "").strip()
            people.append(
                Person(
                    email or m[1],
                    (r.get("Full name") or "").strip(),
                    email=email,
                    participant=m[1],
                )
            )
        return Roster("moodle", people)
    if "student_id" in header:
        people = [
            Person(
                (r["student_id"] or "").strip(),
                (r.get("name") or "").strip(),
                email=(r.get("email") or "").strip(),
            )
            for r in rows
            if (r.get("student_id") or "").strip()
        ]
        return Roster("generic", people)
    raise ValueError(
        f"{path}: not a roster I know; expected Canvas's gradebook export (Student, ID, ...), "
        "Moodle's grading worksheet (Identifier, Full name, ...) or a CSV with student_id,name"
    )


# ---------------------------------------------------------------- the students file


STUDENTS_FILE = "students.csv"
STUDENT_COLUMNS = [
    "student_id",
    "lms",
    "lms_id",
    "name",
    "email",
    "sis_user_id",
    "sis_login_id",
    "section",
    "participant_ids",
    "late",
    "attachment_ids",
]
_LIST_COLUMNS = ("participant_ids", "late", "attachment_ids")


def save_canvas_columns(course: Path, columns: list[str], assignments: list[str]) -> None:
    """Remember which Canvas gradebook column each assignment is ("04_backprop_W2 (4321)")
    in COURSE/lms.json, for `export --format canvas`."""
    from grader.pipeline.export import lms_settings_path

    mapping = {}
    for column in columns:
        title = re.sub(r"\s*\(\d+\)$", "", column)
        hit = find_assignment(title, assignments)
        if hit and not (hit[1] + hit[2]).strip(" _-."):
            mapping[hit[0]] = column
    if not mapping:
        return
    path = lms_settings_path(course)
    settings = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    settings.setdefault("canvas_columns", {}).update(mapping)
    path.write_text(json.dumps(settings, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def split_name(name: str) -> tuple[str | None, str | None]:
    """(last, first) of "Smith, Alice" or "Alice Smith" (None when unknown)."""
    if not name:
        return None, None
    if "," in name:
        last, first = (s.strip() for s in name.split(",", 1))
        return last or None, first or None
    parts = name.split()
    if len(parts) == 1:
        return parts[0], None
    return parts[-1], " ".join(parts[:-1])


@dataclass
class StudentRecord:
    student_id: str
    lms: str
    lms_id: str
    name: str = ""
    email: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    #: Moodle: assignment -> participant id ("04_backprop_W2:123456;...")
    participant_ids: dict[str, str] = field(default_factory=dict)
    #: the assignments whose graded notebook the LMS marked late ("04_backprop_W2;...")
    late: set[str] = field(default_factory=set)
    #: Canvas: assignment -> attachment id of the graded file (for the feedback zip)
    attachment_ids: dict[str, str] = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        out = {c: getattr(self, c) for c in STUDENT_COLUMNS if c not in _LIST_COLUMNS}
        pids = sorted(self.participant_ids.items())
        out["participant_ids"] = ";".join(f"{a}:{p}" for a, p in pids)
        out["late"] = ";".join(sorted(self.late))
        out["attachment_ids"] = ";".join(f"{a}:{i}" for a, i in sorted(self.attachment_ids.items()))
        return out


def students_path(course: Path) -> Path:
    return Path(course) / STUDENTS_FILE


def load_students(course: Path) -> dict[str, StudentRecord]:
    """COURSE/students.csv keyed by nbgrader student id (empty when there is none)."""
    path = students_path(course)
    if not path.exists():
        return {}
    out = {}
    with path.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            pids = _pairs(r.get("participant_ids"))
            plain = [c for c in STUDENT_COLUMNS if c not in _LIST_COLUMNS]
            rec = StudentRecord(**{c: r.get(c) or "" for c in plain})
            rec.participant_ids = pids
            rec.late = {a for a in (r.get("late") or "").split(";") if a}
            rec.attachment_ids = _pairs(r.get("attachment_ids"))
            out[rec.student_id] = rec
    return out


def _pairs(text: str | None) -> dict[str, str]:
    """ "a:1;b:2" -> {"a": "1", "b": "2"}."""
    items = (text or "").split(";")
    return dict(item.split(":", 1) for item in items if ":" in item)


def save_students(course: Path, records: dict[str, StudentRecord]) -> Path:
    path = students_path(course)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=STUDENT_COLUMNS)
        writer.writeheader()
        for sid in sorted(records):
            writer.writerow(records[sid].row())
    tmp.replace(path)
    return path


class Registry:
    """Student ids for LMS keys: the ones in students.csv first, new ones derived uniquely."""

    def __init__(self, course: Path, existing_ids: set[str]):
        self.course = Path(course)
        self.records = load_students(course)
        self.by_key = {(r.lms, r.lms_id): r for r in self.records.values()}
        self.taken = set(self.records) | set(existing_ids)
        self.clashes: list[str] = []

    def student(self, lms: str, key: str, name: str = "") -> StudentRecord:
        """The record of the LMS's student `key`, created (with a new unique id) if new."""
        rec = self.by_key.get((lms, key))
        if rec:
            if name and not rec.name:
                rec.name = name
            return rec
        base = self._base_id(lms, key, name)
        sid, n = base, 1
        while sid in self.taken:
            n += 1
            sid = f"{base}-{n}"
        if n > 1:
            self.clashes.append(
                f"{name or key!r} became student {sid}: {base} is another student "
                f"({lms} says they are different people); merge by hand if they are not"
            )
        rec = StudentRecord(sid, lms, key, name)
        self.records[sid] = rec
        self.by_key[(lms, key)] = rec
        self.taken.add(sid)
        return rec

    @staticmethod
    def _base_id(lms: str, key: str, name: str) -> str:
        if lms == "canvas":
            squashed = re.sub(r"[^a-z0-9]", "", safe_id(name))  # as Canvas writes it
            return f"{squashed or 'canvas'}-{safe_id(key)}"
        if lms == "moodle":
            if "@" in key:
                return safe_id(key)
            return f"{safe_id(name) or 'participant'}-{key}"
        return safe_id(key) or "student"

    def save(self) -> Path:
        return save_students(self.course, self.records)


#: Canvas's Test Student (the account behind its Student View), as its gradebook export
#: ("Student, Test") and its download (`studenttest_...`) write the name, squashed.
_TEST_STUDENT_NAMES = ("studenttest", "teststudent")


def is_test_student(rec: StudentRecord | None) -> bool:
    """Whether a student is the LMS's own test account, not a person: Canvas's Test Student
    (every Canvas course has one; its submissions come in the download like any other).
    Moodle has no built-in test account."""
    if rec is None or rec.lms != "canvas":
        return False
    return re.sub(r"[^a-z0-9]", "", safe_id(rec.name)) in _TEST_STUDENT_NAMES
