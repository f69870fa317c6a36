"""What one job in a warm zygote can leave behind, and how the next job is kept from it.

Stdlib only: grader.sandbox.zygote imports it, in the kernel zygote as part of `grader` and
in the verification zygote as a copy beside the zygote's own (grader.verify.launch_warm).

Two layers (docs/sandbox.md, "Warm zygotes"):

- before a job: `fresh_namespaces` puts the forked child in an IPC namespace and a mount
  namespace of its own, with new empty tmpfs mounts for /tmp (HOME is in it), /dev/shm and
  the folders the sandbox hides, and /dev read-only, so what a job writes there or leaves
  in System V IPC is gone with it, by construction; `drop_capabilities` then leaves the
  child no capability (the zygote keeps NAMESPACE_CAPS for this, and never runs student
  code); `probe_namespaces` finds out once whether this works here;
- after a job: `kill_all` ends every process of the sandbox's PID namespace, and
  `remove_sysv_ipc`, `clear_keyrings` and `wipe` (of each of `writable_tmpfs`) remove what
  the zygote's own namespaces hold: the only layer where fresh namespaces cannot be made,
  the second one where they can.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any, NamedTuple

IPC_RMID = 0
#: keyctl(2): the syscall number (x86-64, aarch64 differ), KEYCTL_CLEAR, and the special
#: keyrings a child shares with the zygote (session -3, user -4, user session -5).
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
KEYCTL_CLEAR = 7
KEYCTL_JOIN_SESSION_KEYRING = 1
SHARED_KEYRINGS = (-3, -4, -5)
HOME = "/tmp/home"
#: The capabilities the zygote's sandbox keeps in its user namespace (bwrap `--cap-add`;
#: every other one is dropped): CAP_SYS_ADMIN to give each job namespaces of its own,
#: CAP_SETPCAP to empty the job's bounding set. The zygote never runs student code; each
#: child drops all of them before it becomes the job (`drop_capabilities`).
NAMESPACE_CAPS = ("CAP_SYS_ADMIN", "CAP_SETPCAP")
#: unshare(2), mount(2) and prctl(2) constants (linux/sched.h, linux/mount.h, linux/prctl.h).
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def libc() -> Any:
    """The C library, with errno kept (ctypes)."""
    return ctypes.CDLL(None, use_errno=True)


# --------------------------------------------------------------------------- fresh namespaces


class NotUnshared(OSError):
    """unshare(2) failed: the child is still in the zygote's namespaces, nothing changed."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


#: /proc/self/mountinfo's rows: (id, parent id, mount point, type, writable, (major, minor)).
MountTable = list[tuple[int, int, str, str, bool, tuple[int, int]]]


def _mount_table() -> MountTable:
    """This mount namespace's mounts, in the order they were made (/proc/self/mountinfo):
    (id, parent id, mount point, file system type, writable, (major, minor))."""
    table = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        major, minor = (int(n) for n in fields[2].split(":"))
        table.append(
            (
                int(fields[0]),
                int(fields[1]),
                fields[4].encode().decode("unicode_escape"),
                fields[fields.index("-") + 1],
                "rw" in fields[5].split(","),
                (major, minor),
            )
        )
    return table


def _visible(path: str, dev: tuple[int, int]) -> bool:
    """Whether the file system at `path` is the mount with device `dev` (not one covered)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (os.major(st.st_dev), os.minor(st.st_dev)) == dev


def _mountpoint(path: str, is_dir: bool) -> None:
    if os.path.lexists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if is_dir:
        os.mkdir(path, 0o755)
    else:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))


def fresh_namespaces(tmpfs_bytes: int, narrow: dict[str, str] | None = None) -> None:
    """Put this process (a child, before it becomes the job) in namespaces of its own.

    A new IPC namespace (System V objects and POSIX message queues: none of the zygote's or
    an earlier job's, and its own go when it ends) and a new mount namespace in which every
    writable tmpfs of the sandbox (/tmp with HOME in it, the empty tmpfs that hides the
    course directory) is replaced by a new empty one and the mounts inside it (folders shown
    again read-only, verification's overlay) are bound again at the same places, but a mount
    named in `narrow` ({mount point: folder inside it}: the zygote's shared folder and the
    job's own folder in it), of which only that folder is bound; /dev/shm gets a new tmpfs,
    /dev itself becomes read-only, and /proc/1 (bwrap's init, whose root is the zygote's
    mount namespace) is covered. What a job writes there is in its own mounts, which no
    later job sees. Needs CAP_SYS_ADMIN in the sandbox's user namespace (NAMESPACE_CAPS).

    Raises:
        NotUnshared: unshare(2) failed (nothing changed).
        OSError: a later step failed (the job must not run: its file system is half made).
    """
    lib = libc()
    if lib.unshare(CLONE_NEWNS | CLONE_NEWIPC) != 0:
        err = ctypes.get_errno()
        raise NotUnshared(err, f"unshare: {os.strerror(err)}")
    _check(lib.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    table = _mount_table()
    plan: list[_Remount] = []
    try:
        _open_remounts(table, narrow, plan)
        _apply_remounts(lib, plan, tmpfs_bytes)
        _seal_shm_proc_dev(lib, table, plan, tmpfs_bytes)
    finally:
        for item in plan:
            if item.fd is not None:
                os.close(item.fd)
    fresh_home()


class _Remount(NamedTuple):
    """One mount of the job's new mount namespace: a new tmpfs (`fd` None, with `mode`) or
    the folder open as `fd` bound again at `path`."""

    path: str
    fd: int | None
    is_dir: bool
    mode: int


def _open_remounts(table: MountTable, narrow: dict[str, str] | None, plan: list[_Remount]) -> None:
    """Append to `plan` each writable tmpfs to replace and each mount inside one to bind again,
    opened now, before anything covers it (a mount can be bound only from this namespace, so
    after unshare). Appends as it opens, so the caller closes what was opened if this raises."""
    fresh = {
        mid
        for mid, _parent, path, fstype, writable, dev in table
        if fstype == "tmpfs" and writable and path != "/dev" and _visible(path, dev)
    }
    parent_of = {mid: parent for mid, parent, *_ in table}

    def under_fresh(mid: int) -> bool:
        seen = set()
        while mid in parent_of and mid not in seen:
            seen.add(mid)
            mid = parent_of[mid]
            if mid in fresh:
                return True
        return False

    for mid, _parent, path, _fstype, _writable, _dev in table:
        if mid in fresh:
            plan.append(_Remount(path, None, True, os.stat(path).st_mode & 0o7777))
        elif under_fresh(mid):
            path = (narrow or {}).get(path, path)
            try:
                fd = os.open(path, os.O_PATH)
            except OSError:  # covered by a later mount: nothing to see there anyway
                continue
            plan.append(_Remount(path, fd, os.path.isdir(f"/proc/self/fd/{fd}"), 0))


def _apply_remounts(lib: ctypes.CDLL, plan: list[_Remount], tmpfs_bytes: int) -> None:
    """Mount each new tmpfs and bind each opened folder again, in the plan's order."""
    for path, fd, is_dir, mode in plan:
        _mountpoint(path, is_dir)
        if fd is None:
            options = f"size={tmpfs_bytes},mode={mode:o}".encode()
            _check(
                lib.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options),
                f"mount tmpfs {path}",
            )
        else:
            source = f"/proc/self/fd/{fd}".encode()
            _check(lib.mount(source, path.encode(), None, MS_BIND, None), f"bind {path}")


def _seal_shm_proc_dev(
    lib: ctypes.CDLL, table: MountTable, plan: list[_Remount], tmpfs_bytes: int
) -> None:
    """A new /dev/shm (unless the plan made one), /proc/1 covered, /dev read-only."""
    if "/dev/shm" not in {item.path for item in plan if item.fd is None}:
        shm_mode = os.stat("/dev/shm").st_mode & 0o7777 if os.path.isdir("/dev/shm") else 0o1777
        options = f"size={tmpfs_bytes},mode={shm_mode:o}".encode()
        _mountpoint("/dev/shm", True)
        flags = MS_NOSUID | MS_NODEV
        _check(lib.mount(b"tmpfs", b"/dev/shm", b"tmpfs", flags, options), "mount /dev/shm")
    if os.getpid() != 1 and os.path.isdir("/proc/1"):
        # bwrap's init (pid 1) stays in the zygote's namespaces, and /proc/1/root would
        # lead back to them: an empty read-only tmpfs covers its /proc entry.
        flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
        cover = lib.mount(b"tmpfs", b"/proc/1", b"tmpfs", flags, b"size=4k,mode=555")
        _check(cover, "cover /proc/1")
    dev = [m for m in table if m[2] == "/dev" and _visible("/dev", m[5])]
    if dev and dev[-1][3] == "tmpfs" and dev[-1][4]:  # bwrap's --dev: no new entries
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
        _check(lib.mount(None, b"/dev", None, flags, None), "remount /dev read-only")


def drop_capabilities() -> None:
    """Leave no capability in this process, now or after an exec (the zygote's sandbox keeps
    NAMESPACE_CAPS for the children's namespaces; a job must hold none).

    Raises:
        OSError: a capability is left (the job must not run).
    """
    lib = libc()
    lib.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    lib.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    for cap in range(64):  # needs CAP_SETPCAP; EINVAL past the last capability
        lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: two 32-bit halves
    _check(lib.capset(header, data), "capset")
    # A session keyring of its own (an earlier job's keys in the zygote's are not reachable).
    if SYS_KEYCTL is not None:
        lib.syscall(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None)
    status = Path("/proc/self/status").read_text().splitlines()
    left = [
        line
        for line in status
        if line.startswith(("CapInh:", "CapPrm:", "CapEff:", "CapAmb:"))
        and int(line.split()[1], 16)
    ]
    if left:
        raise OSError(f"capabilities left before the job: {left}")


def probe_namespaces(tmpfs_bytes: int) -> str:
    """Whether a child can get fresh namespaces here: "" when it can, else why not (a child
    is forked and does exactly what each job's child will do)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        reason = ""
        try:
            fresh_namespaces(tmpfs_bytes)
            drop_capabilities()
        except BaseException as exc:  # noqa: BLE001 - reported to the zygote
            reason = str(exc) or type(exc).__name__
        os.write(write, reason.encode()[:4000])
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 4096):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode(errors="replace")


# --------------------------------------------------------------------------- clean-up


def kill_all() -> None:
    """SIGKILL every process of this PID namespace but the zygote and bwrap's init."""
    for _ in range(1000):
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            break
        _reap()
        time.sleep(0.002)
    _reap()


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def remove_sysv_ipc() -> None:
    lib = libc()
    for kind, call in (("shm", "shmctl"), ("msg", "msgctl"), ("sem", "semctl")):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 1:
                ipc_id = int(parts[1])
                if kind == "sem":
                    lib.semctl(ipc_id, 0, IPC_RMID)
                else:
                    getattr(lib, call)(ipc_id, IPC_RMID, None)


def wipe(path: str, keep: set[str] | None = None) -> None:
    """Remove everything inside `path` (but the paths in `keep`, and the folders leading to
    them, whose other entries go), whatever its modes."""
    keep = keep or set()
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        full = os.path.join(path, name)
        if full in keep:
            continue
        if any(k.startswith(full + "/") for k in keep) and not os.path.islink(full):
            wipe(full, keep)
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            for root, dirs, _files in os.walk(full):
                for d in dirs:
                    try:
                        os.chmod(os.path.join(root, d), 0o700)
                    except OSError:
                        pass
            try:
                os.chmod(full, 0o700)
            except OSError:
                pass
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except OSError:
                pass


def clear_keyrings() -> None:
    """Empty the kernel keyrings every process of this sandbox shares (its user namespace's
    user keyrings and the zygote's session keyring): a key one submission added is gone."""
    if SYS_KEYCTL is None:
        return
    lib = libc()
    for ring in SHARED_KEYRINGS:
        lib.syscall(SYS_KEYCTL, KEYCTL_CLEAR, ring)


def writable_tmpfs() -> list[str]:
    """Mount points of this sandbox's writable tmpfs mounts (from /proc/self/mountinfo)."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        fstype = fields[fields.index("-") + 1]
        if fstype == "tmpfs" and "rw" in fields[5].split(","):
            mounts.append(fields[4].encode().decode("unicode_escape"))
    return mounts


def fresh_home() -> None:
    for sub in (".mpl", ".ipython"):
        os.makedirs(os.path.join(HOME, sub), exist_ok=True)
