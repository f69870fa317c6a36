"""The command line stays thin: `--help` imports no library it does not need, every command
names a function that exists, and the defaults it shows are the library functions' own."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli
from grader.course import ASSIGNMENTS, REPO_ROOT

#: Imported by a command when it runs, never by the parser.
#: Two of the course's assignments, the last two (a made-up course's folders).
TWO = tuple(ASSIGNMENTS[-2:])
HEAVY = (
    "numpy",
    "nbgrader",
    "nbformat",
    "matplotlib",
    "rich",
    "traitlets",
    "grader.judge",
    "grader.pipeline",
    "grader.learner",
    "backprop_checks",
)


def _imported(*args: str) -> set[str]:
    """The modules `python -X importtime -m grader ARGS` imports (it must exit 0)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "grader", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage: backprop-grader" in proc.stdout
    lines = [line.split("|")[-1] for line in proc.stderr.splitlines() if "|" in line]
    modules = {line.strip() for line in lines if line.startswith(" ")}
    assert "grader.cli" in modules, "importtime printed nothing: the test would prove nothing"
    return modules


@pytest.mark.parametrize("args", [["--help"], ["autograde", "--help"], ["demo", "--help"]])
def test_help_imports_nothing_heavy(args):
    modules = _imported(*args)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == [], f"`backprop-grader {' '.join(args)}` imports {heavy}"


def _subparsers(parser):
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_every_command_names_a_function_of_its_group():
    parser = cli.build_parser()
    commands = _subparsers(parser)
    assert set(commands) == {
        "release",
        "workspace",
        "collect",
        "autograde",
        "feedback",
        "export",
        "report",
        "selfcheck",
        "handout",
        "demo",
    }
    for name, sub in commands.items():
        module, _, func = sub.get_default("func").partition(":")
        target = getattr(__import__(module, fromlist=[func]), func)
        assert callable(target), name
        assert list(inspect.signature(target).parameters) == ["args"], name


def test_defaults_shown_are_the_library_functions_own():
    from grader.learner.selfcheck import selfcheck
    from grader.pipeline.autograde import autograde
    from grader.pipeline.demo import run_demo

    def default(func, name):
        return inspect.signature(func).parameters[name].default

    assert (cli.AUTOGRADE_WORKERS, cli.AUTOGRADE_SCHEDULER, cli.AUTOGRADE_TIMEOUT) == (
        default(autograde, "workers"),
        default(autograde, "scheduler"),
        default(autograde, "timeout"),
    )
    assert Path(cli.SELFCHECK_SOURCE) == Path(default(selfcheck, "source_dir"))
    assert (cli.DEMO_STUDENTS, cli.DEMO_WORKERS, cli.DEMO_KEEP) == (
        default(run_demo, "students"),
        default(run_demo, "workers"),
        default(run_demo, "keep"),
    )
    parser = cli.build_parser()
    ag = parser.parse_args(["autograde"])
    assert (ag.workers, ag.scheduler, ag.timeout) == (None, None, None)
    assert parser.parse_args(["selfcheck", "04"]).source == str(REPO_ROOT / "source")
    assert parser.parse_args(["demo"]).students == default(run_demo, "students")


def test_resume_command_never_forces_and_keeps_the_options(tmp_path):
    from grader.cli.grading import resume_command

    args = cli.build_parser().parse_args(
        ["autograde", "04_backprop_W2", "--workers", "3", "--force", "--timeout", "9"]
    )
    assert resume_command(args, tmp_path / "my course") == (
        f"backprop-grader autograde 04_backprop_W2 --course '{tmp_path / 'my course'}' "
        "--workers 3 --timeout 9"
    )


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(cli.COURSE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # no nbgrader_config.py here: no course
    assert cli.main(["export"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("backprop-grader export: no course here") and err.count("\n") == 1
    assert cli.main(["report", "--course", str(tmp_path), "--db", "not a url"]) == 2
    assert "is not a database URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        ["feedback"],
        ["report"],
        ["autograde"],
        ["collect", "download.zip"],
        ["export"],
        ["feedback", "04"],
        ["autograde", "04_backprop_W2"],
    ],
)
def test_a_folder_that_is_not_a_course_is_refused(command, tmp_path, capsys, monkeypatch):
    """`--course DIR` on a folder without nbgrader_config.py: one line naming the folder,
    exit 2, and nothing written into it (no "0 feedback pages", no empty report)."""
    monkeypatch.delenv(cli.COURSE_ENV, raising=False)
    folder = tmp_path / "not a course"
    (folder / "submitted").mkdir(parents=True)
    assert cli.main([*command, "--course", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"backprop-grader {command[0]}: {folder} is not a course directory (no "
        "nbgrader_config.py); cd into your course folder (release --course DIR makes one) "
        "or pass --course DIR\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["submitted"]


def test_the_course_env_var_is_checked_too(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(cli.COURSE_ENV, str(tmp_path))
    assert cli.main(["report"]) == 2
    assert "is not a course directory" in capsys.readouterr().err


def test_an_assignment_is_named_by_its_id_in_any_case_or_its_number():
    from grader.course import match_assignment, resolve_assignment

    some = ASSIGNMENTS[-1]  # "05_backprop_W1"
    number = some[:2]
    for name in (some, some.lower(), some.upper(), number, number.lstrip("0"), f" {number} "):
        assert match_assignment(name) == some, name
    unknown = f"{int(ASSIGNMENTS[-1][:2]) + 1:02d}"  # one past the course's last
    assert match_assignment(unknown) is None and match_assignment("backprop") is None
    assert match_assignment("1", ["01_a", "1_b"]) is None  # two assignments numbered 1
    with pytest.raises(ValueError) as exc:
        resolve_assignment(unknown, ASSIGNMENTS, "COURSE/source")
    numbers = ", ".join(a[:2] for a in ASSIGNMENTS)
    assert str(exc.value) == (
        f"no assignment '{unknown}' in COURSE/source; give one of: "
        + ", ".join(ASSIGNMENTS)
        + f", or its number ({numbers})"
    )


def test_selfcheck_and_the_grading_commands_read_names_alike(tmp_path):
    """One resolver: the learner's `selfcheck 04` and the course's `feedback 04` agree."""
    from grader.config import assignments_of
    from grader.course import resolve_assignment
    from grader.learner.workspace import resolve_notebook

    course = tmp_path / "course"
    for a in TWO:
        (course / "source" / a).mkdir(parents=True)
        (tmp_path / "ws" / a).mkdir(parents=True)
        (tmp_path / "ws" / a / f"{a}.ipynb").write_text("{}")
    for name in (TWO[0][:2], TWO[0].swapcase(), TWO[1][:2].lstrip("0")):
        found = resolve_notebook(name, tmp_path / "ws")
        assert found.parent.name == resolve_assignment(name, assignments_of(course)), name


def test_selfcheck_looks_in_the_workspace_it_is_given(tmp_path, capsys):
    """`make selfcheck NB=01 WORKSPACE=...` passes `--dir`: a learner's workspace made
    elsewhere is where the number is looked up, and the one line names that place."""
    assert cli.main(["selfcheck", "--dir", str(tmp_path / "mine"), "01"]) == 2
    wanted = tmp_path / "mine" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    assert str(wanted) in capsys.readouterr().err
    make = subprocess.run(
        ["make", "-n", "--no-print-directory", "selfcheck", "NB=01", f"WORKSPACE={tmp_path}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert f"selfcheck --dir {tmp_path} 01" in make.stdout, make.stdout + make.stderr


def _course_without_work(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    for a in TWO:
        (course / "source" / a).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text((REPO_ROOT / "nbgrader_config.py").read_text())
    return course


def test_feedback_accepts_a_number_and_any_case(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(cli.COURSE_ENV, raising=False)
    course = _course_without_work(tmp_path)
    for name in (TWO[0][:2], TWO[0].lower()):
        assert cli.main(["feedback", name, "--course", str(course)]) == 0, capsys.readouterr()
        assert "0 feedback pages" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["feedback", "autograde"])
def test_an_unknown_assignment_lists_the_valid_ones(command, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(cli.COURSE_ENV, raising=False)
    course = _course_without_work(tmp_path)
    unknown = f"{int(TWO[1][:2]) + 1:02d}"
    assert cli.main([command, unknown, "--course", str(course)]) == 2
    assert capsys.readouterr().err == (
        f"backprop-grader {command}: no assignment '{unknown}' in {course / 'source'}; give one "
        f"of: {TWO[0]}, {TWO[1]}, or its number ({TWO[0][:2]}, {TWO[1][:2]})\n"
    )


def test_every_option_says_what_it_does():
    """`COMMAND --help` explains every option (demo's --students and --workers had none)."""
    bare = []
    for name, sub in _subparsers(cli.build_parser()).items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help" and not action.help:
                bare.append(f"{name} {action.option_strings[0]}")
    assert bare == []
