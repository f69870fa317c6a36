"""The course's counts and tables in the docs, from its records (grader.course.ASSIGNMENTS, the
functions' records in grader/judge/functions/, the source notebooks' points).

Two kinds of text are kept equal to the records (tests/test_doc_tables.py):

- **Generated blocks**: between `<!-- course-table: KIND -->` and `<!-- /course-table -->` in a
  Markdown page, the table `render(KIND)` makes. After adding a notebook or a function, rewrite
  them all with

      .venv/bin/python tests/doc_tables.py

- **Checked text**: every other Markdown table of README.md, docs/, notebooks/ and source/
  whose rows name assignments (`01_partial_derivatives`, or a link to its notebook) must list
  exactly ASSIGNMENTS, in order, and its columns "you write", "function", "check" and "points"
  must say what the records and the notebooks say; a number word before "notebooks" (outside
  code blocks) must be the number of assignments; docs/course.md's table of mistakes lists
  the misconceptions of backprop_checks.catalog, and a range of tags such as "M1-M13"
  anywhere ends at its last tag; each source notebook's intro (cell `intro`) counts its
  functions ("You will write three functions") and lists them in its table as the records do.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: tests/doc_tables.py
    sys.path.insert(0, str(ROOT))

from grader.course import ASSIGNMENTS  # noqa: E402
from grader.judge.functions import records  # noqa: E402

#: Pages whose tables and counts are checked (Markdown pages; notebooks' markdown cells).
PAGES = ("README.md", "docs/*.md", "student/README.md")
NOTEBOOKS = ("notebooks/*.ipynb", "source/*/*.ipynb")

WORDS = ("zero one two three four five six seven eight nine ten eleven twelve").split()

BLOCK = re.compile(r"(<!-- course-table: (\w+) -->\n)(.*?)(<!-- /course-table -->)", re.S)
ASSIGNMENT_ID = re.compile(r"\b\d\d_[A-Za-z0-9_]+\b")


def number_word(n: int) -> str:
    """'five' for 5 (up to twelve), else the digits."""
    return WORDS[n] if 0 <= n < len(WORDS) else str(n)


def functions_of(assignment: str) -> list[str]:
    """The student functions of one notebook, in teaching order (its records)."""
    return [r.name for r in records() if r.notebook == assignment]


def points_of(assignment: str) -> int | float:
    """The notebook's total: the sum of its source test cells' points."""
    from tests.notebook_tools import source_total

    total = source_total(assignment)
    return int(total) if total.is_integer() else total


def _names(names: list[str], prefix: str = "") -> str:
    return ", ".join(f"`{prefix}{n}`" for n in names)


def render(kind: str) -> str:
    """The Markdown table of a generated block."""
    if kind == "notebooks":
        rows = ["| notebook | you write |", "|---|---|"]
        rows += [f"| `{a}` | {_names(functions_of(a))} |" for a in ASSIGNMENTS]
    elif kind == "checks":
        rows = ["| notebook | function | check |", "|---|---|---|"]
        rows += [
            f"| {a} | {_names(functions_of(a))} | {_names(functions_of(a), 'check_')} |"
            for a in ASSIGNMENTS
        ]
    else:
        raise KeyError(f"no course table {kind!r}: notebooks or checks")
    return "\n".join(rows) + "\n"


def pages() -> list[Path]:
    return sorted({p for pattern in PAGES for p in ROOT.glob(pattern)})


def rewrite(text: str) -> str:
    """The page with every generated block rendered afresh."""
    return BLOCK.sub(lambda m: m[1] + render(m[2]) + m[4], text)


def markdown_of(path: Path) -> str:
    """A page's Markdown: the file, or a notebook's markdown cells."""
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def intro_of(path: Path) -> str:
    """A notebook's cell `intro` (its first markdown cell), or "" when it has none."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return next((c.source for c in nb.cells if c.get("id") == "intro"), "")


def _outside_code(text: str) -> str:
    return re.sub(r"```.*?```", "", text, flags=re.S)


def tables(text: str) -> Iterator[list[list[str]]]:
    """Every Markdown table outside code blocks, as rows of stripped cells (header first,
    the |---| line left out)."""
    block: list[list[str]] = []
    for line in [*_outside_code(text).splitlines(), ""]:
        if line.lstrip().startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                block.append(cells)
        elif block:
            yield block
            block = []


def table_problems(rows: list[list[str]]) -> list[str]:
    """What a table that lists the assignments says differently from the records."""
    header = [h.lower() for h in rows[0]]
    ids = []
    for row in rows[1:]:
        found = [m for m in ASSIGNMENT_ID.findall(" ".join(row)) if m in ASSIGNMENTS]
        if found:
            ids.append((found[0], row))
    listed = [a for a, _ in ids]
    if len(ids) < 2 or len(set(listed)) < len(listed) or len(ids) < len(rows) - 2:
        return []  # not a table of the assignments (one row each)
    out = []
    if listed != list(ASSIGNMENTS):
        out.append(f"lists {listed}, the course has {list(ASSIGNMENTS)}")
    for a, row in ids:
        for col, head in enumerate(header):
            if col >= len(row):
                continue
            said = re.findall(r"`([^`]+)`", row[col])
            if head in ("you write", "function", "functions") and said:
                if said != functions_of(a):
                    out.append(f"{a}: {head} says {said}, its records {functions_of(a)}")
            elif head == "check" and said != [f"check_{f}" for f in functions_of(a)]:
                out.append(f"{a}: check says {said}, its records {functions_of(a)}")
            elif head == "points" and row[col].strip() != str(points_of(a)):
                out.append(f"{a}: points says {row[col]}, its test cells {points_of(a)}")
    return out


#: The course's count of notebooks: "Five Jupyter notebooks", "all five notebooks", "the 5
#: graded notebooks", "12 students x 5 notebooks" (a sentence's start or after all/the/its/x;
#: "a student has two notebooks for one assignment" is another count).
COUNT = re.compile(
    r"(?:^|[.:(] |\b(?:all|the|its|x) )"
    r"(" + "|".join(WORDS[1:]) + r"|\d+)((?: [A-Za-z]+)?) notebooks\b",
    re.I | re.M,
)


def count_problems(text: str) -> list[str]:
    """Number words before "notebooks" that are not the course's number of assignments."""
    want = len(ASSIGNMENTS)
    out = []
    for m in COUNT.finditer(_outside_code(text)):
        word, between = m[1].lower(), m[2].strip()
        if between in ("companion", "ungraded", "other", "more"):
            continue
        n = int(word) if word.isdigit() else WORDS.index(word)
        if n != want:
            out.append(f"{m[0]!r}: the course has {number_word(want)} notebooks")
    return out


#: A notebook's count of its functions: "each of the five functions" in 05_backprop_W1.
FUNCTION_COUNT = re.compile(r"\b(?:all|the) (" + "|".join(WORDS[1:]) + r"|\d+) functions\b", re.I)


def function_count_problems(assignment: str, text: str) -> list[str]:
    """Counts of "the N functions" in a source notebook that are not its records' count."""
    want = len(functions_of(assignment))
    out = []
    for m in FUNCTION_COUNT.finditer(_outside_code(text)):
        word = m[1].lower()
        if (int(word) if word.isdigit() else WORDS.index(word)) != want:
            out.append(f"{m[0]!r}: {assignment} has {number_word(want)} functions")
    return out


def misconception_problems() -> list[str]:
    """docs/course.md's table of mistakes lists exactly the tags the checks name."""
    from backprop_checks.catalog import MISCONCEPTIONS

    text = (ROOT / "docs" / "course.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| (M\d+) \|", text, re.M)
    if listed == list(MISCONCEPTIONS):
        return []
    return [
        f"docs/course.md: the mistakes table lists {listed}, backprop_checks.catalog "
        f"MISCONCEPTIONS {list(MISCONCEPTIONS)}"
    ]


#: A range of misconception tags: "M1-M13" (hyphen or en dash).
TAG_RANGE = re.compile(r"\bM1 ?[-\u2013] ?M(\d+)\b")


def tag_range_problems(text: str) -> list[str]:
    """Ranges "M1-M<n>" whose end is not the last tag of backprop_checks.catalog's
    MISCONCEPTIONS (tags are numbered on from the last, docs/extending.md)."""
    from backprop_checks.catalog import MISCONCEPTIONS

    last = list(MISCONCEPTIONS)[-1]
    return [
        f"{m[0]!r}: the misconceptions run M1-{last}"
        for m in TAG_RANGE.finditer(text)
        if f"M{m[1]}" != last
    ]


#: A source notebook's intro counting its functions: "You will write three functions".
WRITE_COUNT = re.compile(r"\bwrite (" + "|".join(WORDS[1:]) + r"|\d+) functions\b", re.I)


def intro_problems(assignment: str, intro: str) -> list[str]:
    """A source notebook's intro cell: "write N functions" must count its records, and a
    table of its functions (a `function` column) must list them in the records' order."""
    want = functions_of(assignment)
    out = [
        f"intro: {m[0]!r}: {assignment} has {number_word(len(want))} functions"
        for m in WRITE_COUNT.finditer(_outside_code(intro))
        if (int(m[1]) if m[1].isdigit() else WORDS.index(m[1].lower())) != len(want)
    ]
    for rows in tables(intro):
        header = [h.lower() for h in rows[0]]
        column = next((i for i, h in enumerate(header) if h in ("function", "functions")), None)
        if column is None:
            continue
        said = [m.split("(")[0] for row in rows[1:] for m in re.findall(r"`([^`]+)`", row[column])]
        if said != want:
            out.append(f"intro: its table of functions lists {said}, its records {want}")
    return out


def signature_problems() -> list[str]:
    """docs/course.md's "The functions students write": one paragraph per notebook
    (`**01_partial_derivatives**`), in course order, giving each of its functions' signature
    (`` `df_dx(` ``)."""
    text = (ROOT / "docs" / "course.md").read_text(encoding="utf-8")
    section = text.split("## The functions students write", 1)[-1].split("\n## ", 1)[0]
    parts = re.split(r"^\*\*(\d\d_\w+)\*\*", section, flags=re.M)
    listed = parts[1::2]
    out = []
    if listed != list(ASSIGNMENTS):
        out.append(f"docs/course.md: The functions students write lists {listed}")
    for a, body in zip(parts[1::2], parts[2::2], strict=True):
        said = re.findall(r"^- `(\w+)\(", body, re.M)
        if a in ASSIGNMENTS and said != functions_of(a):
            out.append(f"docs/course.md: {a}'s functions are {said}, its records {functions_of(a)}")
    return out


def problems() -> list[str]:
    """Every place a page says something about the course other than its records."""
    out = misconception_problems() + signature_problems()
    for path in pages() + sorted({p for g in NOTEBOOKS for p in ROOT.glob(g)}):
        rel = path.relative_to(ROOT)
        text = markdown_of(path)
        if path.suffix == ".md" and rewrite(text) != text:
            out.append(f"{rel}: a generated table is stale: run python tests/doc_tables.py")
        for rows in tables(text):
            out += [f"{rel}: table {rows[0]}: {p}" for p in table_problems(rows)]
        out += [f"{rel}: {p}" for p in count_problems(text)]
        out += [f"{rel}: {p}" for p in tag_range_problems(text)]
        if rel.parts[0] == "source" and rel.parent.name in ASSIGNMENTS:
            out += [f"{rel}: {p}" for p in function_count_problems(rel.parent.name, text)]
            out += [f"{rel}: {p}" for p in intro_problems(rel.parent.name, intro_of(path))]
    return out


if __name__ == "__main__":
    for page in pages():
        before = page.read_text(encoding="utf-8")
        after = rewrite(before)
        if after != before:
            page.write_text(after, encoding="utf-8")
            print(f"rewrote {page.relative_to(ROOT)}")
    left = problems()
    print("\n".join(left) if left else "every course table and count agrees with the records")
    sys.exit(1 if left else 0)
