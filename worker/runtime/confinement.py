"""The operating-system boundary of a sandbox process, applied once right after it is forked.

Whatever escapes the RestrictedPython layer runs as plain Python in the sandbox process, so
that process itself is confined by the kernel:

* its environment holds no service configuration (own database URL, secret key, broker
  credentials) and it keeps no file descriptor but its pipe to the worker and stdio;
* when the service runs as root it switches to an unprivileged user (``nobody`` by default);
  if that user cannot read the Python installation, it stays uid 0 without any capability;
* ``PR_SET_NO_NEW_PRIVS`` and a non-dumpable process (no ptrace, no core);
* Landlock: reads only below the Python installation, the loaded packages and the few system
  files a client needs (CA certificates, zoneinfo, resolver files); no writes, no execution,
  no TCP ``bind``; signals and abstract UNIX sockets stay inside the sandbox's own domain;
* ``RLIMIT_NPROC`` 0 and a seccomp filter refusing ``fork``/``clone``/``execve``, ``ptrace``,
  namespaces, mounts, ``bpf``, ``io_uring`` and their like, so no new process or thread
  starts, and new UNIX sockets (local services such as the database's or Docker's socket).

Landlock and seccomp are called through ``ctypes``: a few constant numbers and three system
calls, with full control over which ABI version is used, instead of another dependency.
Network access stays: Odoo RPC and ``requests`` in protected code need it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import platform
import pwd
import resource
import stat
import struct
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConfinementError", "Plan", "confine", "landlock_abi", "plan", "scrub_environment"]

logger = logging.getLogger("syncstudio.sandbox")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# prctl options
_PR_SET_DUMPABLE = 4
_PR_SET_SECCOMP = 22
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SECCOMP_MODE_FILTER = 2

# Landlock (the system call numbers are the same on every architecture)
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_REFER = 1 << 13      # ABI 2
_FS_TRUNCATE = 1 << 14   # ABI 3
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_NET_BIND_TCP = 1 << 0   # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1                # ABI 6
_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV

# Environment variables a sandbox keeps; every other one (SYNCSTUDIO_*, PG*, cloud keys,
# ${ODOO_PASSWORD} of a project file …) is dropped.
KEPT_ENVIRONMENT = frozenset({
    "PATH", "LANG", "LANGUAGE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
    "no_proxy", "PYTHONHASHSEED", "PYTHONIOENCODING",
})

# System files and folders read by the runtime's clients (TLS, DNS, time zones, MIME types).
SYSTEM_READS = (
    "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/usr/share/ca-certificates", "/etc/pki/tls/certs",
    "/usr/share/zoneinfo", "/etc/localtime", "/etc/timezone", "/etc/resolv.conf", "/etc/hosts",
    "/etc/nsswitch.conf", "/etc/gai.conf", "/etc/host.conf", "/etc/services", "/etc/protocols",
    "/etc/mime.types", "/etc/ld.so.cache",
    # Shared libraries a lazily imported extension module may load.
    "/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib",
    "/dev/urandom", "/dev/random", "/dev/zero",
)


class ConfinementError(RuntimeError):
    """The confinement could not be applied: the sandbox process must not serve jobs."""


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise ConfinementError(f"{what} failed: {os.strerror(code)}")
    return result


def _prctl(option: int, arg: int = 0, what: str = "prctl") -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), what)


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------


def _zero_initial_environment(names: Iterable[str]) -> None:
    """Overwrite the values of ``names`` in the environment block the process started with.

    ``os.environ`` is a copy: the block the kernel placed on the stack keeps every value and
    could be read from memory; /proc/self/stat tells where it is.
    """
    wanted = {name.encode() for name in names}
    if not wanted:
        return
    try:
        with open("/proc/self/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        # Fields 50 and 51 (1-based) are env_start/env_end; the list starts at field 3.
        start, end = int(fields[47]), int(fields[48])
    except (OSError, IndexError, ValueError):
        return
    if not 0 < start < end:
        return
    block = ctypes.string_at(start, end - start)
    offset = 0
    for entry in block.split(b"\0"):
        name, sep, _ = entry.partition(b"=")
        if sep and name in wanted:
            ctypes.memset(start + offset + len(name) + 1, 0, len(entry) - len(name) - 1)
        offset += len(entry) + 1


def scrub_environment() -> None:
    """Drop every environment variable a sandbox does not need, here and in memory."""
    dropped = [name for name in os.environ
               if name not in KEPT_ENVIRONMENT and not name.startswith("LC_")]
    for name in dropped:
        del os.environ[name]
    os.environ["HOME"] = "/"
    _zero_initial_environment(dropped)


# --------------------------------------------------------------------------------------------
# Landlock
# --------------------------------------------------------------------------------------------


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    version = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                            ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _handled_fs(abi: int) -> int:
    handled = (1 << 13) - 1  # ABI 1: execute … make_sym
    if abi >= 2:
        handled |= _FS_REFER
    if abi >= 3:
        handled |= _FS_TRUNCATE
    if abi >= 5:
        handled |= _FS_IOCTL_DEV
    return handled


def _landlock(abi: int, reads: Iterable[str], read_write: Iterable[str]) -> None:
    handled = _handled_fs(abi)
    net = _NET_BIND_TCP if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0
    if abi >= 6:
        attr = struct.pack("=QQQ", handled, net, scoped)
    elif abi >= 4:
        attr = struct.pack("=QQ", handled, net)
    else:
        attr = struct.pack("=Q", handled)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(_libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, buffer,
                                   ctypes.c_size_t(len(attr)), ctypes.c_uint32(0)),
                     "landlock_create_ruleset")
    try:
        rules = [(path, _FS_READ_FILE | _FS_READ_DIR) for path in reads]
        rules += [(path, _FS_READ_FILE | _FS_WRITE_FILE) for path in read_write]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # absent on this system
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= _FILE_ONLY
                rule = _PathBeneath(access & handled, fd)
                _check(_libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset),
                                     ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH),
                                     ctypes.byref(rule), ctypes.c_uint32(0)),
                       f"landlock_add_rule({path})")
            finally:
                os.close(fd)
        _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset),
                             ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)


# --------------------------------------------------------------------------------------------
# seccomp
# --------------------------------------------------------------------------------------------

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# Refused system calls: new processes and threads, program execution, other processes'
# memory, namespaces and mounts, and kernel interfaces that mostly serve exploits.
_REFUSED = {
    "x86_64": (56, 57, 58, 435, 59, 322, 101, 310, 311, 272, 308, 165, 166, 155, 161, 321,
               323, 298, 248, 249, 250, 425, 426, 427),
    "aarch64": (220, 435, 221, 281, 117, 270, 271, 97, 268, 40, 39, 41, 51, 280, 282, 241,
                217, 218, 219, 425, 426, 427),
}
# socket() and socketpair(): refused for AF_UNIX, which Landlock does not cover: a UNIX
# socket reaches local services by path (the database's, Docker's) without a network rule.
_SOCKET_CALLS = {"x86_64": (41, 53), "aarch64": (198, 199)}
_AF_UNIX = 1
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_EPERM = 0x7FFF0000, 0x00050000 | errno.EPERM


class _SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


def _seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions."""
    # Jumps name their targets ("deny", "unix"); they are resolved to offsets at the end.
    ops: list[tuple[int, Any, Any, int]] = [
        (_BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_BPF_JEQ_K, 1, 0, _AUDIT_ARCH[machine]),
        (_BPF_RET_K, 0, 0, _RET_EPERM),  # another ABI (i386 int 0x80 …): refused
        (_BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":
        ops.append((_BPF_JGE_K, "deny", 0, 0x40000000))  # x32 system calls
    ops += [(_BPF_JEQ_K, "deny", 0, nr) for nr in _REFUSED[machine]]
    ops += [(_BPF_JEQ_K, "unix", 0, nr) for nr in _SOCKET_CALLS[machine]]
    ops.append((_BPF_RET_K, 0, 0, _RET_ALLOW))
    labels = {"unix": len(ops)}
    ops += [(_BPF_LD_W_ABS, 0, 0, 16),  # seccomp_data.args[0]: the address family
            (_BPF_JEQ_K, "deny", 0, _AF_UNIX),
            (_BPF_RET_K, 0, 0, _RET_ALLOW)]
    labels["deny"] = len(ops)
    ops.append((_BPF_RET_K, 0, 0, _RET_EPERM))
    program = []
    for index, (code, jt, jf, k) in enumerate(ops):
        if isinstance(jt, str):
            jt = labels[jt] - index - 1
        program.append((code, jt, jf, k))
    return program


def _seccomp(machine: str) -> None:
    program = _seccomp_program(machine)
    filters = (_SockFilter * len(program))(*[_SockFilter(*op) for op in program])
    fprog = _SockFprog(len(program), filters)
    _check(_libc.prctl(_PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER),
                       ctypes.byref(fprog), 0, 0), "seccomp")


# --------------------------------------------------------------------------------------------
# The plan (made once in the template process) and its application (in each sandbox)
# --------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What :func:`confine` applies: computed once, before the template forks."""

    uid: int | None = None  # None: keep the current user
    gid: int | None = None
    drop_capabilities: bool = False
    landlock: int = 0  # the ABI version to use, 0 for none
    reads: list[str] = field(default_factory=list)
    seccomp: str | None = None  # the machine name, None when unsupported
    warnings: list[str] = field(default_factory=list)


def _parents(path: str) -> list[str]:
    parts, current = [], os.path.abspath(path)
    while True:
        parts.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            return parts
        current = parent


def _readable_by(path: str, uid: int, gid: int) -> bool:
    """Whether ``uid``/``gid`` (no supplementary groups) may reach and read ``path``."""
    for index, part in enumerate(_parents(path)):
        try:
            info = os.stat(part)
        except OSError:
            return False
        need = 0o5 if index == 0 and stat.S_ISDIR(info.st_mode) else 0o1
        if index == 0 and not stat.S_ISDIR(info.st_mode):
            need = 0o4
        if info.st_uid == uid:
            bits = (info.st_mode >> 6) & 0o7
        elif info.st_gid == gid:
            bits = (info.st_mode >> 3) & 0o7
        else:
            bits = info.st_mode & 0o7
        if bits & need != need:
            return False
    return True


def _runtime_reads() -> list[str]:
    """The Python installation, ``sys.path`` and the folders of the packages loaded here."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    roots.update(entry for entry in sys.path if entry and os.path.abspath(entry) != "/")
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        name = getattr(module, "__name__", None)
        if not isinstance(filename, str) or not isinstance(name, str):
            continue
        path = os.path.abspath(filename)
        # How many folders up the top-level package's folder is (0: a top-level module file).
        levels = name.count(".") + (1 if os.path.basename(path).startswith("__init__.") else 0)
        for _ in range(levels):
            path = os.path.dirname(path)
        roots.add(path)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(name):
            roots.add(os.environ[name])
    return sorted(os.path.abspath(root) for root in roots)


def _below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _around(root: str, private: list[str]) -> list[str]:
    """The entries of folder ``root`` that hold none of ``private`` (those are split too)."""
    if any(p == root for p in private) or not os.path.isdir(root):
        return []
    result: list[str] = []
    try:
        names = os.listdir(root)
    except OSError:
        return []
    for name in names:
        entry = os.path.join(root, name)
        held = [p for p in private if _below(p, entry)]
        if not held:
            result.append(entry)
        elif not os.path.islink(entry):
            result += _around(entry, held)
    return result


def _minimal(paths: Iterable[str]) -> set[str]:
    """``paths`` without those below another one."""
    result: set[str] = set()
    for path in sorted({os.path.abspath(p) for p in paths}, key=len):
        if not any(path == kept or path.startswith(kept.rstrip("/") + "/") for kept in result):
            result.add(path)
    return result


def plan(user: str | None, private: Iterable[str] = ()) -> Plan:
    """Decide the confinement for sandboxes of this process (call it in the template).

    ``user`` is the account sandboxes run as when this process is root (a name or a number;
    empty for none); ``private`` are paths no sandbox may read (the service's home, its own
    database file): a folder holding one of them is readable only around it.
    """
    result = Plan()
    reads = _runtime_reads()
    private_paths = [os.path.abspath(p) for p in private if p]
    for root in list(reads):
        held = [p for p in private_paths if _below(p, root)]
        if held:
            # Readable entry by entry instead, around the private paths.
            reads.remove(root)
            reads += _around(root, held)
    reads = sorted(_minimal(reads))
    result.reads = reads + [p for p in SYSTEM_READS if p not in reads]
    if os.geteuid() == 0:
        target = None
        if user:
            try:
                entry = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
                target = (entry.pw_uid, entry.pw_gid)
            except KeyError:
                result.warnings.append(f"the sandbox user {user!r} does not exist")
        if target is not None:
            unreadable = [p for p in reads if not _readable_by(p, *target)]
            if unreadable:
                result.warnings.append(
                    f"the sandbox user {user!r} cannot read {unreadable[0]}; sandboxes keep "
                    "uid 0 without any capability (install Python where other users can "
                    "read it to run them unprivileged)")
                target = None
        if target is not None:
            result.uid, result.gid = target
        result.drop_capabilities = True
    result.landlock = min(landlock_abi(), 7)
    if not result.landlock:
        result.warnings.append("Landlock is not available in this kernel: sandbox processes "
                               "run without filesystem confinement")
    machine = platform.machine()
    result.seccomp = machine if machine in _REFUSED else None
    if result.seccomp is None:
        result.warnings.append(f"no seccomp filter for {machine}: RLIMIT_NPROC alone keeps "
                               "sandboxes from starting processes")
    return result


def _close_inherited(keep: Iterable[int]) -> None:
    # A forked child holds copies of the template's descriptors (multiprocessing's resource
    # tracker pipe among them): only stdio and the job pipe may stay.
    with contextlib.suppress(Exception):
        from multiprocessing import resource_tracker

        resource_tracker._resource_tracker._fd = None  # type: ignore[attr-defined]
    kept = sorted({0, 1, 2, *keep})
    start = 0
    for fd in kept:
        if start < fd:  # closerange(n, n) closes everything on some Python versions
            os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, 65536)
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)


def _drop_capabilities() -> None:
    for cap in range(64):
        if _libc.prctl(_PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) < 0:
            break  # past the last capability this kernel knows
    with contextlib.suppress(ConfinementError):
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, "clear ambient capabilities")
    header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = ctypes.create_string_buffer(24)  # two empty {effective, permitted, inheritable}
    _check(_libc.capset(ctypes.create_string_buffer(header, 8), data), "capset")


def confine(settings: Plan, keep_fds: Iterable[int] = ()) -> None:
    """Apply ``settings`` to this process for good (a sandbox process, right after fork)."""
    _close_inherited(keep_fds)
    _prctl(_PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")
    if settings.uid is not None and settings.gid is not None:
        os.setgroups([])
        os.setresgid(settings.gid, settings.gid, settings.gid)
        os.setresuid(settings.uid, settings.uid, settings.uid)
        _prctl(_PR_SET_DUMPABLE, 0, "PR_SET_DUMPABLE")  # a uid change may reset it
    elif settings.drop_capabilities:
        _drop_capabilities()
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    _prctl(_PR_SET_NO_NEW_PRIVS, 1, "PR_SET_NO_NEW_PRIVS")
    if settings.landlock:
        pid_dir = f"/proc/{os.getpid()}"
        own = [f"{pid_dir}/{name}" for name in ("stat", "statm", "status")]
        _landlock(settings.landlock, [*settings.reads, *own], ["/dev/null"])
    if settings.seccomp:
        _seccomp(settings.seccomp)


def warn(settings: Plan, log: logging.Logger = logger) -> None:
    """Log the plan's warnings (once per template process)."""
    for text in settings.warnings:
        log.warning("sandbox confinement: %s", text)


def describe(settings: Plan) -> Mapping[str, object]:
    """The plan as plain data (for tests and diagnostics)."""
    return {"uid": settings.uid, "landlock": settings.landlock, "seccomp": settings.seccomp,
            "reads": list(settings.reads)}
