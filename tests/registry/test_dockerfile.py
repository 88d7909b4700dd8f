"""registry/Dockerfile, checked without a Docker engine: what it copies exists, and what it runs works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import REPO_ROOT, run_registry

DOCKERFILE = REPO_ROOT / "registry" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def exec_form(text: str) -> list[str]:
    command = json.loads(text)
    assert isinstance(command, list), "exec form, so SIGTERM reaches the registry directly"
    return command


def test_copied_paths_exist_and_image_is_non_root() -> None:
    steps = instructions()
    copies = [rest.split() for keyword, rest in steps if keyword == "COPY" and not rest.startswith("--from")]
    sources = [src for parts in copies for src in parts[:-1]]
    assert sources, "the Dockerfile copies the project"
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY source {source} does not exist in the build context"
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("0", "root")
    assert any(keyword == "VOLUME" and "/data" in rest for keyword, rest in steps)
    env = " ".join(rest for keyword, rest in steps if keyword == "ENV")
    assert "DATABASE_PATH=/data/registry.db" in env
    assert [k for k, _ in steps].count("FROM") == 2, "multi-stage: build tools stay out of the image"


def test_cmd_starts_the_registry_and_healthcheck_passes(tmp_path: Path) -> None:
    steps = dict(instructions())
    command = exec_form(steps["CMD"])
    assert command == ["python", "-m", "registry"]
    health = re.sub(r"^(--\S+\s+)*CMD\s+", "", steps["HEALTHCHECK"])
    health_command = exec_form(health)
    with run_registry(tmp_path) as registry:
        assert registry.proc.args[1:] == command[1:], "tests run the same command the image runs"
        result = subprocess.run(
            [sys.executable, *health_command[1:]],
            cwd=REPO_ROOT,
            env={**os.environ, "REGISTRY_PORT": registry.env["REGISTRY_PORT"]},
            capture_output=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
    stopped = subprocess.run(
        [sys.executable, *health_command[1:]],
        cwd=REPO_ROOT,
        env={**os.environ, "REGISTRY_PORT": registry.env["REGISTRY_PORT"]},
        capture_output=True,
        timeout=30,
    )
    assert stopped.returncode == 1, "the healthcheck fails when nothing answers"


@pytest.mark.parametrize("path", ["pyproject.toml", "README.md", "registry/__main__.py"])
def test_build_context_has_the_package_files(path: str) -> None:
    assert (REPO_ROOT / path).is_file()
