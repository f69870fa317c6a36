"""A learner's own folder, `workspace/`, and the rule that no command overwrites their work.

`workspace/` (git-ignored) holds the learner's copies: the release notebooks in the same
layout (`workspace/<id>/<id>.ipynb`) and the companion notebooks of `notebooks/`
(`workspace/00_start_here.ipynb`, ...). `populate` copies what is missing and never replaces
a file that exists, so running it again (every `make lab` does) only adds notebooks that
are new in the course.

`release/` is generated. `build_release` stamps each notebook it writes with a hash of its
cells (`metadata.backprop_course.cells_sha256`); before regenerating, `keep_edited_release`
compares every release notebook with its stamp. A notebook whose cells changed since it
was generated (someone typed in it, ran it, or it has no stamp and differs from the new
one) is copied into the workspace first, so `make release` never destroys anyone's work.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from grader.course import ASSIGNMENTS, REPO_ROOT, generate_release, match_assignment, new_course

#: The learner's folder (git-ignored).
WORKSPACE = REPO_ROOT / "workspace"
#: Where the release stamp lives in a notebook's metadata.
STAMP_KEY = "backprop_course"


@dataclass
class WorkspaceReport:
    """What `populate` did: files copied in, and files already there (left alone)."""

    root: Path
    copied: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


@dataclass
class KeptEdit:
    """A release notebook with edits, copied into the workspace before release/ was rewritten."""

    release: Path
    saved_as: Path


def _copy_new(src: Path, dest: Path) -> bool:
    """Copy src to dest only if dest does not exist (exclusive create: never overwrites)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with src.open("rb") as fin, dest.open("xb") as fout:
            shutil.copyfileobj(fin, fout)
    except FileExistsError:
        return False
    shutil.copystat(src, dest)
    return True


def course_notebooks(
    release: Path = REPO_ROOT / "release", notebooks: Path = REPO_ROOT / "notebooks"
) -> list[tuple[Path, Path]]:
    """(source file, path inside the workspace) for every notebook a learner gets, in order:
    the companions of notebooks/ at the top, then release/<id>/<id>.ipynb as <id>/<id>.ipynb."""
    pairs = [(p, Path(p.name)) for p in sorted(notebooks.glob("*.ipynb"))]
    for assignment in ASSIGNMENTS:
        src = release / assignment / f"{assignment}.ipynb"
        if src.is_file():
            pairs.append((src, Path(assignment) / src.name))
    return pairs


def populate(
    workspace: Path = WORKSPACE,
    *,
    release: Path = REPO_ROOT / "release",
    notebooks: Path = REPO_ROOT / "notebooks",
) -> WorkspaceReport:
    """Copy the course's notebooks into the workspace, never overwriting a file there.

    Args:
        workspace: the learner's folder (created when missing).
        release: the student notebooks, release/<id>/<id>.ipynb.
        notebooks: the companion notebooks (00_start_here.ipynb, ...).

    Returns:
        which files were copied and which already existed (and were left alone).

    Raises:
        FileNotFoundError: there is no release notebook to copy (run `make release`).
    """
    pairs = course_notebooks(release, notebooks)
    if not any(rel.parent != Path(".") for _, rel in pairs):
        raise FileNotFoundError(f"no student notebooks in {release}: run `make release` first")
    report = WorkspaceReport(Path(workspace))
    for src, rel in pairs:
        dest = report.root / rel
        (report.copied if _copy_new(src, dest) else report.kept).append(dest)
    return report


def cells_hash(nb: nbformat.NotebookNode) -> str:
    """sha256 of what a person can change in a notebook: every cell's id, type, source,
    outputs, execution count and nbgrader metadata (not the notebook's own metadata)."""
    cells = [
        {
            "id": c.get("id"),
            "type": c.cell_type,
            "source": c.source,
            "outputs": c.get("outputs", []),
            "count": c.get("execution_count"),
            "nbgrader": c.get("metadata", {}).get("nbgrader", {}),
        }
        for c in nb.cells
    ]
    blob = json.dumps(cells, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def stamp(path: Path) -> None:
    """Record in a freshly generated notebook the hash of its cells."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata[STAMP_KEY] = {"cells_sha256": cells_hash(nb)}
    nbformat.write(nb, path)


def is_edited(path: Path, fresh: Path | None = None) -> bool:
    """Whether a release notebook holds changes someone made after it was generated.

    Cells equal to `fresh`'s (the notebook about to replace it) are never edits: nothing
    would be lost. Otherwise a stamped notebook is edited when its cells no longer match its
    stamp, and an unstamped one (older than the stamps) always counts as edited; a file that
    is not a readable notebook counts as edited (it may be someone's damaged work).
    """
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return True
    current = cells_hash(nb)
    if fresh is not None and current == cells_hash(nbformat.read(fresh, as_version=4)):
        return False
    recorded = nb.metadata.get(STAMP_KEY, {}).get("cells_sha256")
    return recorded != current if recorded else True


def _free_name(folder: Path, assignment: str) -> Path:
    """workspace/<id>/<id>.ipynb when free, else a dated name next to it."""
    first = folder / f"{assignment}.ipynb"
    if not first.exists():
        return first
    when = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    candidate = folder / f"{assignment}.from-release-{when}.ipynb"
    k = 1
    while candidate.exists():
        k += 1
        candidate = folder / f"{assignment}.from-release-{when}-{k}.ipynb"
    return candidate


def keep_edited_release(
    release: Path, fresh: Path, assignments: list[str], workspace: Path = WORKSPACE
) -> list[KeptEdit]:
    """Copy every edited release notebook into the workspace before release/ is rewritten.

    Args:
        release: the release/ folder about to be regenerated.
        fresh: the folder holding the newly generated <id>/<id>.ipynb.
        assignments: the assignment ids about to be rewritten.
        workspace: where edited notebooks are kept: <id>/<id>.ipynb when that is free (the
            learner's workspace copy), else <id>/<id>.from-release-<UTC time>.ipynb.

    Returns:
        one entry per notebook kept (nothing else is written).
    """
    kept = []
    for assignment in assignments:
        folder = release / assignment
        if not folder.is_dir():
            continue
        new_files = {p.name for p in (fresh / assignment).iterdir()}
        for path in sorted(folder.iterdir()):
            if path.is_dir():
                continue
            if path.suffix == ".ipynb":
                new = fresh / assignment / path.name
                if not is_edited(path, new if new.is_file() else None):
                    continue
            elif (
                path.name in new_files
                and path.read_bytes() == (fresh / assignment / path.name).read_bytes()
            ):
                continue
            target_dir = Path(workspace) / assignment
            target_dir.mkdir(parents=True, exist_ok=True)
            if path.name == f"{assignment}.ipynb":
                target = _free_name(target_dir, assignment)
            else:  # any other file someone put there
                target = target_dir / f"{path.stem}.from-release{path.suffix}"
                k = 1
                while target.exists():
                    k += 1
                    target = target_dir / f"{path.stem}.from-release-{k}{path.suffix}"
            shutil.copy2(path, target)
            kept.append(KeptEdit(path, target))
    return kept


def shown(path: Path) -> str:
    """A path as a person reads it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def say_kept(edit: KeptEdit) -> None:
    """Tell, in one line, where an edited release notebook was kept."""
    print(
        f"{shown(edit.release)} had changes made after it was generated: kept them in "
        f"{shown(edit.saved_as)} (work there; release/ is regenerated)"
    )


def resolve_notebook(name: str, workspace: Path = WORKSPACE) -> Path:
    """The notebook `selfcheck NAME` means: a path as given, else an assignment id or its
    number ("04", "04_backprop_W2", any case; grader.course.match_assignment) in the
    workspace, workspace/<id>/<id>.ipynb.

    Raises:
        FileNotFoundError: nothing matches (the message says what to run).
    """
    path = Path(name)
    if path.exists():
        return path
    assignment = match_assignment(name)
    if assignment is not None:
        found = Path(workspace) / assignment / f"{assignment}.ipynb"
        if found.is_file():
            return found
        raise FileNotFoundError(
            f"{found} does not exist: run `make lab` (or `make workspace`) to create your "
            "workspace, or pass the path of your notebook"
        )
    raise FileNotFoundError(
        f"{name} does not exist; pass the path of your notebook or an assignment id "
        f"({', '.join(ASSIGNMENTS)}) or its number ({ASSIGNMENTS[0][:2]}-{ASSIGNMENTS[-1][:2]})"
    )


def build_release(
    dest: Path = REPO_ROOT / "release",
    *,
    workspace: Path | None = None,
    on_kept=None,
) -> list[str]:
    """Regenerate dest (the repository's release/ by default) from source/ with nbgrader.

    The generation happens in a temporary course copy, so no gradebook is left behind;
    dest then holds exactly nbgrader's output for every assignment in source/, each
    notebook stamped with the hash of its cells (`grader.learner.workspace.stamp`). A notebook in
    dest that was edited since it was generated is first copied into `workspace`
    (`grader.learner.workspace.keep_edited_release`): nobody's work is lost.

    Args:
        dest: the folder to write.
        workspace: where edited release notebooks are kept (default: workspace/).
        on_kept: called with each `grader.learner.workspace.KeptEdit`, before dest is rewritten
            (default: one line on stdout saying where the notebook was kept).

    Returns:
        the assignment ids written.
    """
    present = [a for a in ASSIGNMENTS if (REPO_ROOT / "source" / a).is_dir()]
    with tempfile.TemporaryDirectory(prefix="backprop-release-") as tmp:
        course = new_course(Path(tmp) / "course")
        generate_release(course, present)
        for notebook in (course / "release").glob("*/*.ipynb"):
            stamp(notebook)
        kept = keep_edited_release(dest, course / "release", present, workspace or WORKSPACE)
        for edit in kept:
            (on_kept or say_kept)(edit)
        dest.mkdir(parents=True, exist_ok=True)
        for assignment in present:
            target = dest / assignment
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(course / "release" / assignment, target)
    return present
