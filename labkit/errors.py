"""The LabError family: one clear line per failure, saying what was wrong and what to do."""

from __future__ import annotations

from typing import Any


class LabError(Exception):
    """Base of every error labkit raises on purpose; its message is one line a learner can act on."""


class ClusterUnavailable(LabError):
    """No cluster, an unreachable API server, or a kube context that does not exist."""


class NamespaceMissing(LabError):
    """The lab's namespace does not exist (yet)."""


class ObjectNotFound(LabError):
    """A named Kubernetes object does not exist."""


class ManifestError(LabError):
    """A manifest source that does not exist, cannot be parsed, or is rejected by the API server."""


class RegistryUnavailable(LabError):
    """The registry did not answer at all."""


class RegistryError(LabError):
    """The registry answered a request with an error status (or ``status: error``)."""

    def __init__(self, method: str, path: str, response: Any, detail: str | None = None) -> None:
        self.status_code = int(getattr(response, "status_code", 0) or 0)
        self.body = getattr(response, "text", "")
        if detail is None:
            detail = registry_message(response)
        status = f" with HTTP {self.status_code}" if self.status_code else ""
        super().__init__(f"the registry answered {method} {path}{status}: {detail}")


def registry_message(response: Any) -> str:
    """The error message in a registry response body (JSON ``error``/``message``/``reason``), else text."""
    try:
        body = response.json()
    except Exception:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "reason", "detail"):
            if body.get(key):
                return str(body[key])
    text = str(getattr(response, "text", "") or "").strip()
    return text[:200] or "no body"


class BadParameter(LabError, TypeError):
    """A parameter of the wrong type or out of range."""


class WaitTimeout(LabError, TimeoutError):
    """A wait ended before its condition held; the message says what it waited for and what it saw."""


class KubectlFailed(LabError):
    """The real kubectl exited non-zero."""


class CheckFailed(LabError, AssertionError):
    """A lesson's check did not hold."""


def require_type(name: str, value: object, expected: type | tuple[type, ...]) -> None:
    """Raise BadParameter naming the parameter when value is not of the expected type."""
    if isinstance(value, bool) and expected in (int, float, (int, float)):
        raise BadParameter(f"{name} must be a number, not a bool ({value!r})")
    if not isinstance(value, expected):
        names = (
            " or ".join(t.__name__ for t in expected) if isinstance(expected, tuple) else expected.__name__
        )
        raise BadParameter(f"{name} must be {names}, not {type(value).__name__} ({value!r})")
