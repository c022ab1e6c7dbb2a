"""Every file and directory a command writes goes through here.

An output is staged in a temporary sibling of its destination and renamed into place only when it is
complete, so a reader never sees half of it. A staged output is removed on every way out that Python
sees: an error, Ctrl-C, and SIGTERM or SIGHUP (``install_signal_handlers`` turns those into an
exception, so the same cleanup runs). Only SIGKILL leaves one behind; its name carries the owner's
PID, and the next run that writes into the same directory removes it once that process is gone.
Outputs that cannot be written (read-only, no permission, no room) are refused up front where the
size is known, and any OS error while writing becomes one ``OutputError`` line naming the path.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ondevice.errors import OutputError

# Staged names: ".<name>.ondevice-tmp-<pid>-<random>"; the PID says whether the owner is still alive.
MARK = ".ondevice-tmp-"
_STAGED = re.compile(r"^\..*" + re.escape(MARK) + r"(\d+)-")
_live: set[Path] = set()  # staged paths of this process, removed by the signal handler's exception
# Signals received. Python swallows an exception raised inside a __del__ or a weakref callback (it
# prints "Exception ignored in" and goes on), so the handler's exception can be lost; the record
# stays, and ``check_stopped`` raises it again before anything is committed and when a command ends.
_received: list[int] = []


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived. A BaseException, like KeyboardInterrupt, so no ``except Exception``
    swallows it and every ``finally`` and staged output cleans up on the way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP raise ``Terminated`` and SIGINT ``KeyboardInterrupt`` in the main thread
    (once: a second signal while the cleanup runs is ignored, so the cleanup finishes). Where Python
    swallows that exception, ``check_stopped`` raises it again and nothing is printed for it."""

    def handler(signum, frame):
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        _received.append(signum)
        # Staged outputs go now, not only as the exception unwinds: a signal that lands in Python code
        # called back from C++ (ExecuTorch's lowering passes) can end in the C++ runtime aborting the
        # process, and then no cleanup runs (seen once under load: exit -6, the staged bundle left).
        for path in list(_live):
            _remove(path)
        raise _stop(signum)

    default_hook = sys.unraisablehook

    def unraisable(info):
        if not isinstance(info.exc_value, (Terminated, KeyboardInterrupt)):
            default_hook(info)

    sys.unraisablehook = unraisable
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, handler)


def _stop(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def check_stopped() -> None:
    """Raise the exception of a signal already received, in case Python swallowed it."""
    if _received:
        raise _stop(_received[0])


def describe(e: OSError) -> str:
    """An OS error as a user reads it: what went wrong, in words, without errno numbers."""
    reasons = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.ENOTDIR: "a part of the path is not a directory",
        errno.EISDIR: "is a directory",
        errno.ENAMETOOLONG: "file name too long",
        errno.EFBIG: "file too large for the file system",
    }
    return reasons.get(e.errno, e.strerror or str(e))


def error_for(e: OSError, path: Path | str) -> OutputError:
    return OutputError(f"cannot write {path}: {describe(e)}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(dest: Path, need_bytes: int = 0) -> None:
    """Refuse, before any work, an output that cannot be written: the directory it will be staged in
    (its nearest existing ancestor) must take a new file, even for root on a read-only file system,
    and hold ``need_bytes`` more.

    Raises:
        OutputError: naming ``dest`` and the reason.
    """
    dest = Path(dest)
    where = _existing_ancestor(dest.parent if dest.name else dest)
    if not where.is_dir():
        raise OutputError(f"cannot write {dest}: {where} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".probe{MARK}{os.getpid()}-", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise error_for(e, dest) from None
    free = shutil.disk_usage(where).free
    if need_bytes > free:
        raise OutputError(
            f"cannot write {dest}: it needs about {need_bytes / 1e6:.0f} MB and {where} has {free / 1e6:.0f} MB free"
        )


def sweep_stale(directory: Path) -> list[Path]:
    """Remove what a killed run of ondevice staged in ``directory`` (its process no longer exists)."""
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _STAGED.match(entry.name)
        if not m or _alive(int(m.group(1))):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            removed.append(entry)
        except OSError:
            pass  # another user's, or already gone: it stays named as staged, which readers ignore
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mkdir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write into {directory}: it exists and is not a directory") from None
    except OSError as e:
        raise error_for(e, directory) from None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def _staged(dest: Path, make: Callable[[Path, str], Path]) -> Iterator[Path]:
    dest = Path(dest)
    _mkdir(dest.parent)
    sweep_stale(dest.parent)
    try:
        tmp = make(dest.parent, f".{dest.name[:64]}{MARK}{os.getpid()}-")
    except OSError as e:
        raise error_for(e, dest) from None
    _live.add(tmp)
    try:
        yield tmp
    except OSError as e:
        _remove(tmp)
        raise error_for(e, dest) from None
    except BaseException:
        _remove(tmp)
        raise
    finally:
        _live.discard(tmp)


@contextmanager
def staged_dir(out: Path) -> Iterator[Path]:
    """A temporary sibling directory of ``out``, moved into place (replacing ``out``) when the block
    ends without error and removed when it does not."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"cannot write {out}: it exists and is not a directory")

    def make(parent: Path, prefix: str) -> Path:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would make the result private
        return tmp

    with _staged(out, make) as tmp:
        yield tmp
        check_stopped()
        replace_dir(tmp, out)


@contextmanager
def staged_file(path: Path, mode: int = 0o666, stopping: bool = False) -> Iterator[Path]:
    """A temporary sibling path of ``path`` to write to, renamed onto ``path`` when the block ends
    without error and removed when it does not. Once a signal has stopped the command nothing is
    renamed into place, unless ``stopping``: a record of the stop itself, written as the command unwinds."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")

    def make(parent: Path, prefix: str) -> Path:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=parent)
        os.close(fd)
        return Path(tmp)

    with _staged(path, make) as tmp:
        yield tmp
        os.chmod(tmp, mode & ~_umask())  # mkstemp's 0600 would make the file private
        if not stopping:
            check_stopped()
        os.replace(tmp, path)


def write_bytes(path: Path, data: bytes, stopping: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically: never half a file (``stopping``: see ``staged_file``)."""
    with staged_file(path, stopping=stopping) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: Path, text: str, stopping: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"), stopping)


def write_json(path: Path, data, stopping: bool = False) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=2) + "\n", stopping)


def replace_dir(new: Path, out: Path) -> None:
    """Move a finished directory into place, replacing ``out`` only once ``new`` is complete."""
    if not out.exists():
        os.rename(new, out)
        return
    if not out.is_dir():
        raise OutputError(f"cannot write {out}: it exists and is not a directory")
    old = Path(tempfile.mkdtemp(prefix=f".{out.name[:64]}{MARK}{os.getpid()}-old-", dir=out.parent))
    os.rename(out, old / "d")
    os.rename(new, out)
    shutil.rmtree(old, ignore_errors=True)
