"""Errors of the local cluster: each message is one line naming what was wrong and what to do."""

from __future__ import annotations

from labkit.errors import LabError


class ClusterError(LabError):
    """The local cluster could not be started, stopped or inspected."""


class MissingPrerequisite(ClusterError):
    """A tool the local cluster needs is missing; the message names the command that provides it."""

    def __init__(self, what: str, provide: str) -> None:
        super().__init__(f"{what} is missing: {provide}")
        self.what = what
        self.provide = provide


class PortInUse(ClusterError):
    """A port the cluster was asked to use is taken by another program."""
