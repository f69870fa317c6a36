"""Reading an LMS download for `collect`: a folder or a zip, zips inside it, and what a file
that is not a zip is.

A zip inside the download (the download zipped again, or a student who handed in a zip of
their notebook) is unpacked into a folder of the zip's name without `.zip`
(`submissions.zip` -> `submissions/...`, `smithalice_12345_67890_work.zip` ->
`smithalice_12345_67890_work/...`), down to `NESTED_ZIP_DEPTH` levels; the LMS naming
(`grader.pipeline.lms`) then reads the student from the folder as it would from the file.

A file given as the download that is not a zip is named for what it is, from its first
bytes: an HTML page (a login or error page saved instead of the download), a zip cut off
half way, a gzip/7-Zip/RAR archive, a PDF, a single notebook, a text file, nothing at all.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

#: How many levels of zips inside the download are unpacked.
NESTED_ZIP_DEPTH = 3
#: Folders and files no LMS or person means as a submission (macOS resource forks, Jupyter's
#: checkpoints; hidden files are skipped too).
IGNORED_PARTS = ("__MACOSX", ".ipynb_checkpoints")


@dataclass
class Download:
    """Every file of a download, zips inside it unpacked."""

    files: list[tuple[str, bytes]] = field(default_factory=list)  #: (posix path, bytes), sorted
    notes: list[str] = field(default_factory=list)  #: zips unpacked, zips left packed
    not_zips: dict[str, str] = field(default_factory=dict)  #: a path named .zip -> what it is


def _ignored(relpath: str) -> bool:
    return any(part in IGNORED_PARTS or part[:1] == "." for part in relpath.split("/"))


def read_download(src: Path) -> Download:
    """The files of a folder or zip as an LMS (or a person) made it.

    Raises:
        FileNotFoundError: `src` does not exist.
        ValueError: `src` is a file that is not a zip (the message says what it looks like
            and what to do), or a damaged zip.
    """
    src = Path(src)
    out = Download()
    if src.is_dir():
        top = [
            (path.relative_to(src).as_posix(), path.read_bytes())
            for path in sorted(p for p in src.rglob("*") if p.is_file())
        ]
    elif src.is_file():
        if not zipfile.is_zipfile(src):
            with src.open("rb") as f:
                head = f.read(65536)
            raise ValueError(
                f"{src} is not a zip file: {what_it_is(head)}; collect takes the zip or "
                "folder your LMS's 'Download all submissions' gives"
            )
        try:
            with zipfile.ZipFile(src) as zf:
                top = _zip_files(zf)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise ValueError(
                f"{src} is a damaged zip ({exc}): download it again (or unpack what your "
                "system can and collect the folder)"
            ) from exc
    else:
        raise FileNotFoundError(
            f"{src}: no such file or folder; pass the folder or zip your LMS gave you"
        )
    for relpath, data in top:
        _add(out, relpath, data, 1)
    out.files.sort(key=lambda f: f[0])
    return out


def _zip_files(zf: zipfile.ZipFile) -> list[tuple[str, bytes]]:
    return [
        (info.filename, zf.read(info))
        for info in sorted(zf.infolist(), key=lambda i: i.filename)
        if not info.is_dir()
    ]


def _add(out: Download, relpath: str, data: bytes, depth: int) -> None:
    """Add one file, or, for a zip, its files under a folder of its name."""
    if _ignored(relpath):
        return
    if not relpath.lower().endswith(".zip"):
        out.files.append((relpath, data))
        return
    if not zipfile.is_zipfile(io.BytesIO(data)):
        out.not_zips[relpath] = what_it_is(data[:65536])
        out.files.append((relpath, data))
        return
    if depth > NESTED_ZIP_DEPTH:
        out.notes.append(
            f"{relpath}: a zip {depth} levels deep, left packed; unpack it by hand and "
            "collect the folder"
        )
        out.files.append((relpath, data))
        return
    folder = relpath[: -len(".zip")]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            inner = _zip_files(zf)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        out.not_zips[relpath] = f"a damaged zip ({exc})"
        out.files.append((relpath, data))
        return
    kept = [(f"{folder}/{name}", content) for name, content in inner]
    out.notes.append(f"unpacked the zip inside it, {relpath} ({len(kept)} files)")
    for name, content in kept:
        _add(out, name, content, depth + 1)


def what_it_is(head: bytes) -> str:
    """What a file that should be a zip is, from its first bytes (up to 64 kB)."""
    if not head:
        return "it is empty (0 bytes): the download did not finish; download it again"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    low = text[:1024].lower()
    if low.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in low:
        found = re.search(rb"<title[^>]*>(.*?)</title>", head, flags=re.IGNORECASE | re.DOTALL)
        title = " ".join(found[1].decode("utf-8", "replace").split())[:80] if found else ""
        titled = f' (titled "{title}")' if title else ""
        return (
            f"this is an HTML page{titled}, probably a login or error page saved instead of "
            "the download; log in to the LMS in your browser, download the submissions "
            "again and check that the file you save is a .zip"
        )
    if head.startswith(b"PK"):
        return "it begins as a zip does but is cut off or damaged: download it again"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive (.gz, .tar.gz), not a zip: unpack it and collect the folder"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "a 7-Zip archive, not a zip: unpack it and collect the folder"
    if head.startswith(b"Rar!"):
        return "a RAR archive, not a zip: unpack it and collect the folder"
    if head.startswith(b"%PDF"):
        return "a PDF document, not a zip"
    if text.startswith(b"{"):
        try:
            is_notebook = "cells" in json.loads(head)
        except ValueError:
            is_notebook = b'"cells"' in head
        if is_notebook:
            return (
                "a single notebook, not a zip: put it in a folder as "
                "STUDENT_ASSIGNMENT.ipynb and collect the folder"
            )
        return "a JSON file, not a zip"
    if b"\x00" in head[:1024]:
        return f"not a zip (it begins with the bytes {head[:8].hex(' ')})"
    lines = text[:400].decode("utf-8", "replace").splitlines()
    return f"a text file, not a zip (it begins: {lines[0][:80]!r})"
