"""The images built here behave like the real ones, by the guide's own commands."""

from __future__ import annotations

from tests.cluster.kubelet.conftest import Kubectl, busybox_pod

WEB = "mkdir -p /www && echo healthy > /www/health && exec httpd -f -p 8000 -h /www"


def _web_service(kubectl: Kubectl) -> str:
    kubectl.apply(busybox_pod("web", WEB))
    kubectl.run("expose", "pod", "web", "--port=8000", "--name=web")
    kubectl.wait_running("web")
    kubectl.wait_for(
        lambda: kubectl.jsonpath("endpoints/web", "{.subsets[0].addresses[0].ip}") != "", "endpoints"
    )
    return f"http://web.{kubectl.namespace}:8000/health"


def _run_rm(kubectl: Kubectl, name: str, *command: str) -> str:
    """``kubectl run NAME --rm -i --image=curlimages/curl --restart=Never -- COMMAND``'s output."""
    return kubectl.run_rm(name, "curlimages/curl", *command, expect="healthy")


def test_curl_image_runs_the_command_once(kubectl: Kubectl) -> None:
    """``kubectl run test-curl --rm -it --image=curlimages/curl --restart=Never -- curl -s URL``: the
    entrypoint runs ``curl -s URL`` once (``curl curl -s URL`` would print curl's error for ``curl``)."""
    url = _web_service(kubectl)
    output = _run_rm(kubectl, "test-curl", "curl", "-s", url)
    assert output.splitlines()[0] == "healthy"


def test_curl_image_takes_options_alone(kubectl: Kubectl) -> None:
    """The real entrypoint: arguments that start with ``-`` run curl with them."""
    url = _web_service(kubectl)
    assert _run_rm(kubectl, "opts", "-s", url).splitlines()[0] == "healthy"


def test_busybox_default_command_is_sh(kubectl20: Kubectl) -> None:
    result = kubectl20.run(
        "run",
        "bb2",
        "--image=busybox",
        "--restart=Never",
        "-i",
        "--rm",
        input="echo $0 from-sh\n",
        timeout=120,
    )
    assert "sh from-sh" in result.stdout


def test_postgres_follows_the_official_environment_rules(kubectl20: Kubectl) -> None:
    extra = """    env:
    - {name: POSTGRES_PASSWORD, value: secret}
    - {name: POSTGRES_USER, value: mesh}
    - {name: POSTGRES_DB, value: registry}"""
    manifest = busybox_pod("pg", "unused", extra).replace("image: busybox", "image: postgres:15-alpine")
    manifest = manifest.replace('    command: ["sh", "-c", "unused"]\n', "")
    kubectl20.apply(manifest)
    kubectl20.wait_running("pg", timeout=120)

    def ready() -> bool:
        return kubectl20.run("exec", "pg", "--", "pg_isready", "-U", "mesh", check=False).returncode == 0

    kubectl20.wait_for(ready, "PostgreSQL to accept connections", timeout=90)
    query = kubectl20.run(
        "exec", "pg", "--", "psql", "-U", "mesh", "-d", "registry", "-tAc", "select current_database()"
    )
    assert query.stdout.strip() == "registry"
    assert (
        kubectl20.run("exec", "pg", "--", "sh", "-c", "echo $PGDATA").stdout.strip()
        == "/var/lib/postgresql/data"
    )


def test_postgres_without_a_password_refuses_to_initialise(kubectl20: Kubectl) -> None:
    manifest = busybox_pod("nopw", "unused").replace("image: busybox", "image: postgres:15-alpine")
    kubectl20.apply(manifest.replace('    command: ["sh", "-c", "unused"]\n', ""))

    def failed() -> bool:
        logs = (
            kubectl20.run("logs", "nopw", check=False).stdout
            + kubectl20.run("logs", "nopw", "-p", check=False).stdout
        )
        return "superuser password is not specified" in logs

    kubectl20.wait_for(failed, "the official image's error", timeout=90)


IMPORTS_WITHOUT_BYTECODE = """
import importlib.util, os, sys
import registry.__main__, registry.server
files = [getattr(module, "__file__", None) or "" for module in list(sys.modules.values())]
sources = [file for file in files if file.endswith(".py")]
missing = [s for s in sources if not os.path.exists(importlib.util.cache_from_source(s))]
print(len(sources), "modules,", len(missing), "without bytecode:", *missing[:5])
"""


def test_registry_image_has_the_guide_debug_tools(kubectl20: Kubectl) -> None:
    """The registry pod as the guide debugs it: wget to its health, sqlite3 on its database, df.

    And every module the registry imports comes with its bytecode: compiling them at each start takes
    most of the start-up and pages the compiler in and out under a tight memory limit.
    """
    extra = """    imagePullPolicy: Never
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, emptyDir: {}}]"""
    manifest = busybox_pod("registry", "unused", extra).replace(
        "image: busybox", "image: mcp-mesh/registry:dev"
    )
    kubectl20.apply(manifest.replace('    command: ["sh", "-c", "unused"]\n', ""))
    kubectl20.wait_running("registry", timeout=120)

    def healthy() -> bool:
        result = kubectl20.run(
            "exec", "registry", "--", "wget", "-qO-", "http://localhost:8000/health", check=False
        )
        return result.returncode == 0

    kubectl20.wait_for(healthy, "the registry's /health", timeout=90)
    assert kubectl20.run("exec", "registry", "--", "id", "-u").stdout.strip() == "10001"
    tables = kubectl20.run("exec", "registry", "--", "sqlite3", "/data/registry.db", ".tables").stdout
    assert tables.split()
    assert "/data" in kubectl20.run("exec", "registry", "--", "df", "-h", "/data").stdout
    imports = kubectl20.run("exec", "registry", "--", "python", "-c", IMPORTS_WITHOUT_BYTECODE).stdout
    assert " 0 without bytecode" in imports, imports
    assert int(imports.split()[0]) > 100, imports
