"""The docs say what the records say: every table and count of notebooks and functions in
README.md, docs/, the notebooks and the handout's README agrees with grader.course.ASSIGNMENTS
and the functions' records (tests/doc_tables.py; `.venv/bin/python tests/doc_tables.py`
rewrites the generated tables)."""

from __future__ import annotations

import re

from grader.course import ASSIGNMENTS
from grader.handout.build import student_readme
from tests import doc_tables
from tests.doc_tables import count_problems, functions_of, render, rewrite, table_problems


def test_every_table_and_count_agrees_with_the_records():
    found = doc_tables.problems()
    assert not found, "pages that disagree with the course's records:\n" + "\n".join(found)


def test_the_generated_tables_come_from_the_records():
    table = render("notebooks")
    for a in ASSIGNMENTS:
        assert f"| `{a}` | " + ", ".join(f"`{f}`" for f in functions_of(a)) + " |" in table
    page = "intro\n<!-- course-table: checks -->\n| old |\n<!-- /course-table -->\nend\n"
    fresh = rewrite(page)
    assert "| old |" not in fresh and render("checks") in fresh and fresh.endswith("end\n")
    assert rewrite(fresh) == fresh


def test_a_stale_table_or_count_is_named():
    first, *rest = ASSIGNMENTS
    header = ["notebook", "you write"]
    rows = [header, *([f"`{a}`", ", ".join(f"`{f}`" for f in functions_of(a))] for a in rest)]
    assert table_problems(rows) == [f"lists {rest}, the course has {list(ASSIGNMENTS)}"]
    full = [header, [f"`{first}`", "`nothing`"], *rows[1:]]
    assert table_problems(full) == [
        f"{first}: you write says ['nothing'], its records {functions_of(first)}"
    ]
    wrong = len(ASSIGNMENTS) + 1
    assert count_problems(f"All {doc_tables.number_word(wrong)} notebooks.") != []
    assert count_problems(f"The {doc_tables.number_word(len(ASSIGNMENTS))} notebooks.") == []
    assert count_problems("A student has two notebooks for one assignment.") == []


def test_the_handout_readme_counts_nothing_stale():
    wheel = "backprop_course_checks-0.2.0-py3-none-any.whl"
    for assignment in (ASSIGNMENTS[0], ASSIGNMENTS[-1]):  # the first zip has the start-here
        text = student_readme(assignment, wheel, [], first=ASSIGNMENTS[0])
        assert count_problems(text) == [] and doc_tables.tag_range_problems(text) == []
        assert [p for t in doc_tables.tables(text) for p in table_problems(t)] == []


def test_the_contract_page_is_held_to_the_records_and_the_misconceptions(monkeypatch):
    from backprop_checks.catalog import MISCONCEPTIONS

    assert doc_tables.signature_problems() == [] and doc_tables.misconception_problems() == []
    monkeypatch.setitem(MISCONCEPTIONS, "M99", "a new mistake")
    assert "M99" in doc_tables.misconception_problems()[0]
    last = ASSIGNMENTS[-1]
    more = [*functions_of(last), "new_function"]
    monkeypatch.setattr(doc_tables, "functions_of", lambda a: more if a == last else [])
    assert any("new_function" in p for p in doc_tables.signature_problems())


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_relative_link_of_the_docs_reaches_a_file_and_heading():
    """README.md and docs/ link each other by relative paths and #anchors (the README's content
    moved into docs/: a stale link is a lost reader)."""
    broken = []
    for page in doc_tables.pages():
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(doc_tables.ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md":
                heads = re.findall(r"^#+ (.+)$", dest.read_text(encoding="utf-8"), re.M)
                if anchor not in {_anchor(h) for h in heads}:
                    broken.append(f"{page.relative_to(doc_tables.ROOT)}: {target} (no heading)")
    assert broken == []


def test_the_readme_is_a_front_page():
    """Under 200 lines, with one page per reader."""
    text = (doc_tables.ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    for page in ("docs/student.md", "docs/instructor.md", "docs/contributing.md"):
        assert f"]({page})" in text, page


def test_a_stale_range_of_tags_is_named(monkeypatch):
    """ "M1-M<n>" anywhere in the docs ends at the catalog's last tag: a tag added makes every
    stale range fail (docs/extending.md, "Adding a misconception tag")."""
    from backprop_checks.catalog import MISCONCEPTIONS

    last = list(MISCONCEPTIONS)[-1]
    text = f"the mistakes M1-{last} the grader names"
    assert doc_tables.tag_range_problems(text) == []
    monkeypatch.setitem(MISCONCEPTIONS, f"M{len(MISCONCEPTIONS) + 1}", "a new mistake")
    assert doc_tables.tag_range_problems(text) == [
        f"'M1-{last}': the misconceptions run M1-M{len(MISCONCEPTIONS)}"
    ]


def test_a_notebook_intro_that_misses_a_function_is_named():
    """A source notebook's intro counts its functions and lists them in its table, as its
    records do: a function added to the records (docs/extending.md, a function in an
    existing notebook) and not to the intro is named."""
    a = ASSIGNMENTS[1]
    names = functions_of(a)
    rows = "\n".join(f"| `{f}(z)` | something | 1 visible + 2 hidden |" for f in names)
    intro = (
        f"**You will write {doc_tables.number_word(len(names))} functions:**\n\n"
        f"| function | what it returns | points |\n|---|---|---|\n{rows}\n\nMore text.\n"
    )
    assert doc_tables.intro_problems(a, intro) == []
    shorter = intro.replace(rows.splitlines()[-1] + "\n", "")
    shorter = shorter.replace(doc_tables.number_word(len(names)) + " functions", "one functions")
    found = doc_tables.intro_problems(a, shorter)
    assert found == [
        f"intro: 'write one functions': {a} has {doc_tables.number_word(len(names))} functions",
        f"intro: its table of functions lists {names[:-1]}, its records {names}",
    ]
