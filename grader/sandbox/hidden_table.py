"""The hidden checks' right answers, computed once on the host and handed to every kernel zygote.

Every kernel zygote fills the same table of hidden answers (`kernel_preload.precompute_hidden`:
a fixed seed, deterministic reference code), about 1.4 CPU-s each. `backprop-grader
autograde` computes it once per run instead, outside any sandbox, and each worker's kernel
zygote reads it before its first fork:

- **computed by trusted code only**: the autograde parent (or the cluster's instructor
  process) starts `python -m grader.sandbox.hidden_table OUT FUNCTIONS` (`start_build`), the
  grader's own code in the kernels' environment (one BLAS thread, as in a kernel), before
  any student code runs; no student code ever runs in that process;
- **stored where no student can write**: a fresh folder of the run (mode 700, under the
  host's temporary folder, which every sandbox sees as its own empty tmpfs), written under a
  temporary name and renamed, removed at the end of the run. A worker reads it only if the
  folder and the file are its own user's and writable by no one else (`read_table`);
- **a format that cannot run code**: numpy's .npz (`allow_pickle=False`) with a JSON
  description; only arrays, numbers, strings, lists, tuples, dicts and the student
  package's `Variant` are decoded;
- **handed over, not shared**: the worker (outside the sandbox) writes the bytes into the
  zygote's control pipe (grader.sandbox.zygote_host); the zygote reads them before it forks
  any child, so no sandbox sees the file and no child can write what the next one reads;
- **validated on load** (`install`, in the zygote): the table's key (`table_key`: the
  format, the functions, the seed, a digest of the code that computes and judges the
  answers, numpy's and Python's versions, the machine and the BLAS thread settings) must
  equal the zygote's own; on any mismatch or error the zygote computes the answers itself,
  as before (never a wrong table), and says why (`Zygote.hidden`).

On a Dask cluster the instructor's process sends the bytes to every worker (once, with
the assignments' bundles); a worker on another machine has another key and computes the
answers itself (docs/performance.md).
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from grader.sandbox import kernel_preload

#: Set in `autograde`'s workers: the path of the run's table (it may not exist yet: the
#: parent is still computing it, or failed to; then `FAILED_SUFFIX` appears beside it).
TABLE_ENV = "BACKPROP_GRADER_HIDDEN_TABLE"
FAILED_SUFFIX = ".failed"
#: Bump when the encoding changes.
FORMAT = 1
#: Seconds a worker waits for the run's table before its zygote computes the answers itself.
WAIT_SECONDS = 120.0
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# ------------------------------------------------------------------ the key


def _code_digest() -> str:
    """A digest of the code that computes and judges the hidden answers: grader/judge, this
    module, kernel_preload and the student package (its *.py and *.json files)."""
    import backprop_checks
    from backprop_checks.version import content_hash

    import grader

    root = Path(grader.__file__).resolve().parent
    files = sorted((root / "judge").rglob("*.py"))
    files += [root / "sandbox" / "kernel_preload.py", root / "sandbox" / "hidden_table.py"]
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(content_hash(Path(backprop_checks.__file__).resolve().parent).encode())
    return h.hexdigest()


def _machine() -> str:
    """This machine, as far as floating-point results go: its id, CPU model and flags."""
    h = hashlib.sha256(f"{platform.machine()}|{platform.node()}".encode())
    for name in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            h.update(Path(name).read_bytes())
            break
        except OSError:
            continue
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        if line.startswith(("model name", "flags", "Features", "CPU part")):
            h.update(line.encode())
        if not line.strip():  # the first processor's block only
            break
    return h.hexdigest()


def table_key(functions: list[str] | None) -> dict[str, Any]:
    """What a table of hidden answers depends on; a zygote uses a table only with its own key."""
    import numpy as np
    from backprop_checks.catalog import DEFAULT_SEED

    return {
        "format": FORMAT,
        "functions": "all" if functions is None else sorted(set(functions)),
        "seed": DEFAULT_SEED,
        "code": _code_digest(),
        "numpy": np.__version__,
        "python": sys.version,
        "executable": sys.executable,
        "machine": _machine(),
        "threads": {k: os.environ.get(k, "") for k in THREAD_VARS},
    }


# ------------------------------------------------------------------ the encoding


def _encode(value: Any, blob: bytearray) -> Any:
    """`value` as JSON; the bytes of its arrays and numpy scalars appended to `blob`."""
    import numpy as np
    from backprop_checks.mistakes import Variant

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError("an object array cannot be stored without pickle")
        fortran = bool(arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous)
        where = [arr.dtype.str, list(arr.shape), fortran, len(blob)]
        blob += np.ascontiguousarray(arr).tobytes()
        return {"@s" if isinstance(value, np.generic) else "@a": where}
    if isinstance(value, float):
        return {"@f": value.hex()}  # exact, and NaN or infinite too
    if isinstance(value, int):
        return value
    if isinstance(value, tuple):
        return {"@t": [_encode(v, blob) for v in value]}
    if isinstance(value, list):
        return [_encode(v, blob) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a dict with keys that are not strings")
        return {"@d": [[k, _encode(v, blob)] for k, v in value.items()]}
    if type(value) is Variant:
        fields = ("tags", "formula", "gloss", "value", "noise")
        return {"@v": [_encode(getattr(value, f), blob) for f in fields]}
    raise TypeError(f"cannot store a {type(value).__name__} in the table")


def _array(where: list, blob: Any) -> Any:
    """An array of its own (a copy) from `_encode`'s description and the bytes."""
    import numpy as np

    dtype, shape, fortran, offset = np.dtype(where[0]), tuple(where[1]), where[2], where[3]
    if dtype.hasobject:
        raise ValueError("an object array in the table")
    count = int(np.prod(shape, dtype=np.int64))
    arr = np.frombuffer(blob, dtype=dtype, count=count, offset=int(offset)).reshape(shape)
    return np.asfortranarray(arr) if fortran else arr.copy()


def _decode(value: Any, blob: Any) -> Any:
    from backprop_checks.mistakes import Variant

    if isinstance(value, list):
        return [_decode(v, blob) for v in value]
    if not isinstance(value, dict):
        return value
    ((tag, body),) = value.items()
    if tag == "@a":
        return _array(body, blob)
    if tag == "@s":
        return _array(body, blob)[()]
    if tag == "@f":
        return float.fromhex(body)
    if tag == "@t":
        return tuple(_decode(v, blob) for v in body)
    if tag == "@d":
        return {str(k): _decode(v, blob) for k, v in body}
    if tag == "@v":
        tags, formula, gloss, val, noise = (_decode(v, blob) for v in body)
        return Variant(tuple(tags), formula, gloss, val, noise)
    raise ValueError(f"unknown tag {tag!r} in the table")


def encode(tables: dict[str, dict[bytes, Any]], key: dict[str, Any]) -> bytes:
    """The .npz bytes of `tables` (kernel_preload.TABLES) under `key`: a JSON description
    ("meta") and every array's bytes one after the other ("data"), both as uint8 arrays.

    Raises:
        TypeError: an answer of a kind the format does not store.
    """
    import numpy as np

    blob = bytearray()
    body = {
        name: [[k.hex(), _encode(v, blob)] for k, v in entries.items()]
        for name, entries in tables.items()
    }
    meta = json.dumps({"key": key, "tables": body}).encode()
    out = io.BytesIO()
    np.savez(
        out,
        meta=np.frombuffer(meta, dtype=np.uint8),
        data=np.frombuffer(bytes(blob), dtype=np.uint8),
    )
    return out.getvalue()


def decode(data: bytes) -> tuple[dict[str, Any], dict[str, dict[bytes, Any]]]:
    """(key, tables) from `encode`'s bytes; never unpickles anything.

    Raises:
        ValueError, KeyError, OSError: not such a table.
    """
    import numpy as np

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        meta = json.loads(bytes(npz["meta"]).decode())
        blob = npz["data"]
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise ValueError("the table's data is not bytes")
    tables = {
        str(name): {bytes.fromhex(k): _decode(v, blob) for k, v in entries}
        for name, entries in meta["tables"].items()
    }
    return meta["key"], tables


def install(data: bytes, functions: list[str] | None) -> str:
    """Fill this process's hidden answers (kernel_preload.TABLES) from a table's bytes.

    Returns "" when installed, else why not (a wrong key, an unreadable table: nothing was
    installed, the caller computes the answers itself).
    """
    try:
        key, tables = decode(data)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, it is not used
        return f"unreadable table ({type(exc).__name__}: {exc})"
    mine = table_key(functions)
    if key != mine:
        differ = sorted(k for k in set(key) | set(mine) if key.get(k) != mine.get(k))
        return f"the table was computed for another {', '.join(differ)}"
    if set(tables) - set(kernel_preload.MEMOIZED):
        return "the table answers methods this grader does not have"
    kernel_preload.memoize_reference()
    for name, entries in tables.items():
        kernel_preload.TABLES.setdefault(name, {}).update(entries)
    _warm_up()
    return ""


def _warm_up() -> None:
    """Import what running the hidden checks would have imported (every forked kernel that
    runs a hidden check would otherwise import it again)."""
    import importlib

    for name in ("numpy.random", "grader.judge.hidden", "grader.judge.reference"):
        importlib.import_module(name)  # with cases, diagnose, expect, netmath, numeric
    from grader.judge.functions import records

    records()


# ------------------------------------------------------------------ the host's side


def build(out: Path, functions: list[str] | None) -> None:
    """Compute the hidden answers in this process and write them to `out` (renamed into
    place when complete). Run by `start_build` in a fresh process."""
    kernel_preload.precompute_hidden(functions)
    data = encode(kernel_preload.TABLES, table_key(functions))
    tmp = out.with_name(out.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.rename(tmp, out)


class TableBuild:
    """The run's table being computed in a process of its own (`start_build`)."""

    def __init__(self, folder: Path, functions: list[str] | None) -> None:
        from grader.sandbox.boxrun import _kernel_env

        self.folder = folder
        self.path = folder / "hidden.npz"
        self.failed = folder / ("hidden.npz" + FAILED_SUFFIX)
        home = folder / "home"
        home.mkdir(mode=0o700)
        env = _kernel_env(home)  # one BLAS thread, as in the kernels that use it
        argv = [sys.executable, "-m", __name__, str(self.path)]
        if functions is not None:
            argv.append(",".join(functions))
        self.log = folder / "build.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                argv, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        self.proc.wait()
        if not self.path.exists():  # the workers stop waiting and compute it themselves
            try:
                self.failed.touch()
            except OSError:  # the folder is gone: the run has ended
                pass

    def result(self, timeout: float = WAIT_SECONDS) -> bytes:
        """The table's bytes once computed (b"" if it failed or took longer than `timeout`)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return b""
        return read_table(self.path, timeout=0)

    def close(self) -> None:
        """Stop the computation if it still runs and remove the folder."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._waiter.join(timeout=10)  # its mark of a failed build is written before the rmtree
        shutil.rmtree(self.folder, ignore_errors=True)


def start_build(functions: list[str] | None) -> TableBuild | None:
    """Start computing the hidden answers of `functions` for this run (None: every function)
    in a fresh private folder; None when it cannot start (the zygotes compute them then)."""
    folder = Path(tempfile.mkdtemp(prefix="backprop-hidden-"))
    atexit.register(shutil.rmtree, folder, True)  # also when the run ends without close()
    try:
        os.chmod(folder, 0o700)
        return TableBuild(folder, functions)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None


def _private(path: Path, st: os.stat_result, *, folder: bool) -> bool:
    """Owned by this user, writable by no one else (and a real folder or file)."""
    kind = stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode)
    other = 0o077 if folder else 0o022
    return kind and st.st_uid == os.getuid() and not st.st_mode & other


def read_table(path: Path, timeout: float = WAIT_SECONDS) -> bytes:
    """The bytes of the run's table at `path`, waiting up to `timeout` seconds for it to
    appear; b"" when it failed, did not come, or is not safely ours (a folder or file of
    another user, or writable by others, or a symbolic link)."""
    end = time.monotonic() + timeout
    failed = path.with_name(path.name + FAILED_SUFFIX)
    while not path.exists():
        if failed.exists() or time.monotonic() >= end:
            return b""
        time.sleep(0.05)
    try:
        if not _private(path.parent, os.lstat(path.parent), folder=True):
            return b""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as f:
        if not _private(path, os.fstat(fd), folder=False):
            return b""
        return f.read()


#: The table given to this worker process (a Dask worker: `offer`), or read once.
_OFFERED: list[bytes] = []


def offer(data: bytes, functions: list[str] | None) -> None:
    """Hand this worker process the run's table (a Dask worker gets it with its tasks); its
    kernel zygote, started later, reads it, for the same `functions`."""
    _OFFERED[:] = [data]
    if functions is not None:
        os.environ[kernel_preload.PRECOMPUTE_ENV] = ",".join(functions)


def for_zygote() -> bytes:
    """The table a new kernel zygote of this process gets (b"": none, it computes)."""
    if not _OFFERED:
        path = os.environ.get(TABLE_ENV)
        if not path:
            return b""
        _OFFERED.append(read_table(Path(path)))
    return _OFFERED[0]


def main(argv: list[str] | None = None) -> int:
    """`python -m grader.sandbox.hidden_table OUT [FUNCTIONS]`: compute and write a table."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) not in (1, 2):
        print("usage: python -m grader.sandbox.hidden_table OUT [F1,F2,...]", file=sys.stderr)
        return 2
    functions = [f for f in argv[1].split(",") if f] if len(argv) == 2 else None
    build(Path(argv[0]), functions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
