"""A learner's commands: workspace (their own copy of the notebooks) and selfcheck."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.cli.common import console


def workspace(args: argparse.Namespace) -> int:
    """`workspace`: copy the notebooks a learner works in (never over their work)."""
    from grader.learner.workspace import populate, shown

    report = populate(Path(args.dir))
    for path in report.copied:
        print(f"copied {shown(path)}")
    if report.kept:
        print(
            f"{len(report.kept)} notebooks already in {shown(report.root)}/ left as they are "
            "(your work is never overwritten)"
        )
    return 0


def selfcheck(args: argparse.Namespace) -> int:
    """`selfcheck NOTEBOOK`: exit 0 at full marks, 1 below them (the table says which test
    cells lost points), 2 (and one line) when the notebook cannot be checked; so a script or
    CI job can use it: `make selfcheck NB=04 && echo all points`."""
    from grader.learner.selfcheck import SelfCheckError, render, selfcheck
    from grader.learner.workspace import resolve_notebook

    try:
        notebook = resolve_notebook(args.notebook, Path(args.dir))
        result = selfcheck(
            notebook,
            source_dir=Path(args.source),
            timeout=args.timeout,
            announce=lambda line: print(line, flush=True),
        )
    except SelfCheckError as exc:
        print(f"selfcheck: {exc}", file=sys.stderr)
        return 2
    render(result, console())
    return 0 if full_marks(result) else 1


def full_marks(result) -> bool:
    """Whether a self-checked notebook got every point of every test cell (and has some)."""
    return result.max_score > 0 and result.score >= result.max_score - 1e-9
