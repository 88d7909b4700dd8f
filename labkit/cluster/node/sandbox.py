"""Start one container process: enter its own mount and UTS namespace, mount its volumes, exec its command.

Run as a script, not as a module (``python -I -S sandbox.py SPEC.json``), so that it imports only the
standard library and starts fast. The spec is written by the pod worker (``write_spec``):

    {"argv": [...], "env": {...}, "workdir": "/", "hostname": "pod-0", "isolate": true,
     "mounts": [{"source": "/host/dir", "target": "/data", "readonly": false}],
     "error_file": "/path/start-error", "uid": 1000, "gid": 1000, "groups": [2000]}

With ``isolate`` (root only) the process gets a private mount namespace with every mount bind-mounted at
its target, and its own hostname; without it, the command runs directly (mounts are not honoured).
When the command cannot be started, the reason goes to ``error_file`` and the exit status is 128, which
the pod worker reports as the container runtime's StartError.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
START_ERROR_STATUS = 128


def write_spec(path: str, spec: dict[str, Any]) -> None:
    """Write a sandbox spec file (used by the pod worker, in the agent's process)."""
    with open(path, "w") as handle:
        json.dump(spec, handle)


def _libc() -> Any:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return libc


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _ensure_target(source: str, target: str) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
        if not os.path.exists(target):
            open(target, "a").close()


def enter_namespaces(spec: dict[str, Any]) -> None:
    """Private mount + UTS namespace, with the spec's bind mounts and hostname."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    for mount in spec.get("mounts", []):
        source, target = mount["source"], mount["target"]
        _ensure_target(source, target)
        _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None), f"mount {target}")
        if mount.get("readonly"):
            flags = MS_BIND | MS_REMOUNT | MS_RDONLY
            _check(libc.mount(b"none", target.encode(), None, flags, None), f"read-only {target}")
    hostname = str(spec.get("hostname") or "")[:63].encode()
    if hostname:
        _check(libc.sethostname(hostname, len(hostname)), "sethostname")


def main(spec_path: str) -> None:
    """Read the spec, set up the sandbox, exec the command (never returns on success)."""
    with open(spec_path) as handle:
        spec = json.load(handle)
    argv: list[str] = spec["argv"]
    try:
        if not argv:
            raise OSError("no command specified")
        if spec.get("isolate"):
            enter_namespaces(spec)
        os.chdir(spec.get("workdir") or "/")
        if "uid" in spec:
            os.setgroups([int(g) for g in spec.get("groups") or []])
            os.setgid(int(spec["gid"]))
            os.setuid(int(spec["uid"]))
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as exc:
        message = f'exec: "{argv[0] if argv else ""}": {exc.strerror or exc}'
        if isinstance(exc, FileNotFoundError):
            message = f'exec: "{argv[0]}": executable file not found in $PATH'
        with open(spec["error_file"], "w") as handle:
            handle.write(message)
        print(message, file=sys.stderr, flush=True)
        os._exit(START_ERROR_STATUS)


if __name__ == "__main__":
    main(sys.argv[1])
