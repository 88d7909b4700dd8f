"""The images the local node has, each built once into labkit's cache as an OCI archive.

An image's archive is named after its recipe's ``version`` and, for an image built from the kit's own
files (the registry), a digest of those ``sources``: change a recipe and bump it, or change the
registry's code, and the next ``up`` (or ``labkit image build``) builds it again; the newest few builds
of a recipe stay in the cache. Names are the full references the kubelet asks containerd for
(``busybox`` is ``docker.io/library/busybox:latest``); ``tags`` are more names of the same image (the
pinned tags the guide and the manifests use).
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.builder.apt import PrivateApt, extract_deb
from labkit.cluster.builder.kubernetes import KubernetesBuild
from labkit.cluster.builder.logged import run_logged
from labkit.cluster.errors import ClusterError
from labkit.cluster.images import debian, dockerfile
from labkit.cluster.images.layers import BASE_FILES, Entry, write_layer, write_rootfs_layer
from labkit.cluster.images.oci import ImageConfig, write_oci_archive
from labkit.cluster.kubelet.containerd import SANDBOX_IMAGE
from labkit.cluster.kubelet.tools import NodeTools
from labkit.cluster.locks import exclusive_lock
from labkit.cluster.paths import cache_root


@dataclass(frozen=True)
class BuildContext:
    """What a recipe may use: the cache, the node's unpacked packages, a log."""

    cache: Path
    tools: NodeTools
    log: Path
    names: tuple[str, ...] = ()  # every name of the image being built (its recipe's and its tags)

    def named(self, default: str) -> tuple[str, ...]:
        return self.names or (default,)


Builder = Callable[[BuildContext, Path], None]


def unpack_packages(context: BuildContext, packages: tuple[str, ...], destination: Path) -> None:
    """Download Debian packages with labkit's private apt and unpack them (``dpkg -x``) into a folder."""
    apt = PrivateApt(context.cache / "node-apt")
    downloads = images_dir(context.cache) / "debs"
    for package in packages:
        try:
            deb = apt.download(package, downloads, context.log)
        except ClusterError as error:
            raise ClusterError(f"the image build needs Debian's package {package!r}: {error}") from error
        extract_deb(deb, destination, context.log)


@dataclass(frozen=True)
class Recipe:
    """How one image is built: its name, more tags of it, and what its archive is keyed by."""

    name: str
    version: str
    build: Builder
    why: str
    tags: tuple[str, ...] = ()  # more full references of the same image
    sources: tuple[str, ...] = ()  # the kit's files and folders it is built from (relative to its root)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.tags)


def _build_pause(context: BuildContext, output: Path) -> None:
    """The sandbox image: the source's ``build/pause/linux/pause.c``, compiled static with gcc."""
    source = KubernetesBuild(context.cache, context.log).source / "build" / "pause" / "linux" / "pause.c"
    if not source.is_file():
        raise ClusterError(f"the Kubernetes source has no {source}: build the binaries first")
    with tempfile.TemporaryDirectory() as work:
        binary = Path(work) / "pause"
        run_logged(
            ["gcc", "-Os", "-Wall", "-static", "-DVERSION=v3.2", "-o", str(binary), str(source)], context.log
        )
        layer = write_layer([Entry("pause", source=binary, mode=0o755)], Path(work) / "layer.tar")
        config = ImageConfig(entrypoint=("/pause",), env=())
        write_oci_archive(context.named(SANDBOX_IMAGE), [layer], config, output)


def _busybox_applets(busybox: Path, loader: Path, libraries: Path) -> list[str]:
    result = subprocess.run(
        [str(loader), "--library-path", str(libraries), str(busybox), "--list"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [name for name in result.stdout.split() if name and name != "busybox"]


# libc6's files a dynamic busybox needs: the loader, libc, and the NSS modules and resolver that
# wget, nslookup and ping use for names and services (a static glibc busybox crashes there).
LIBC_FILES = ("ld-linux-x86-64.so.2", "libc.so.6", "libresolv.so.2", "libnss_files.so.2", "libnss_dns.so.2")
NSSWITCH = b"passwd: files\ngroup: files\nhosts: files dns\nservices: files\nprotocols: files\n"


def _libraries(root: Path) -> Path:
    """libc6's library folder in an unpacked root (``/lib`` before the usr merge, ``/usr/lib`` after)."""
    libraries = root / "lib" / "x86_64-linux-gnu"
    return libraries if libraries.is_dir() else root / "usr" / "lib" / "x86_64-linux-gnu"


def _libc_entries(root: Path) -> list[Entry]:
    """The base files, /bin, and libc6's loader, libc and NSS from an unpacked root with libc6 and
    netbase: what a dynamically linked program needs to run, resolve names and look up services."""
    libraries = _libraries(root)
    entries = [*BASE_FILES, Entry("bin", "dir", mode=0o755), Entry("lib", "dir", mode=0o755)]
    entries += [Entry("lib64", "dir", mode=0o755), Entry("lib/x86_64-linux-gnu", "dir", mode=0o755)]
    for name in LIBC_FILES:
        entries.append(Entry(f"lib/x86_64-linux-gnu/{name}", source=libraries / name, mode=0o755))
    entries.append(
        Entry("lib64/ld-linux-x86-64.so.2", "symlink", target="/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    )
    entries.append(Entry("etc/nsswitch.conf", data=NSSWITCH))
    for name in ("services", "protocols"):
        entries.append(Entry(f"etc/{name}", source=root / "etc" / name))
    return entries


def _build_busybox(context: BuildContext, output: Path) -> None:
    """Debian's busybox with every applet linked in /bin and libc6's loader and NSS; ``CMD ["sh"]``."""
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "root"
        unpack_packages(context, ("busybox", "libc6", "netbase"), root)
        libraries = _libraries(root)
        busybox = root / "bin" / "busybox"
        entries = _libc_entries(root)
        entries.append(Entry("bin/busybox", source=busybox, mode=0o755))
        applets = _busybox_applets(busybox, libraries / "ld-linux-x86-64.so.2", libraries)
        entries += [Entry(f"bin/{name}", "symlink", target="busybox") for name in applets]
        layer = write_layer(entries, Path(work) / "layer.tar")
        config = ImageConfig(cmd=("sh",))
        write_oci_archive(context.named("docker.io/library/busybox:latest"), [layer], config, output)


# Debian trixie's: bookworm's prometheus 2.42 is built without Kubernetes service discovery
# (``kubernetes_sd_configs`` is not a field there). The manifests pin the upstream image of this version.
PROMETHEUS_SUITE = "trixie"
PROMETHEUS_VERSION = "2.53.3"
PROMETHEUS_IMAGE = f"docker.io/prom/prometheus:v{PROMETHEUS_VERSION}"


def debian_upstream_version(deb: Path) -> str:
    """The upstream part of a .deb's version: ``prometheus_2.53.3+ds1-2_amd64.deb`` is 2.53.3."""
    version = deb.name.split("_")[1].replace("%3a", ":")  # apt-get download writes an epoch's colon so
    version = version.split(":")[-1].rsplit("-", 1)[0]
    return version.split("+")[0].split("~")[0]


def _build_prometheus(context: BuildContext, output: Path) -> None:
    """prom/prometheus on Debian's prometheus package (with trixie's libc): /bin/prometheus, the upstream
    image's entrypoint, arguments, user nobody and /prometheus. The package's version must be the tag's."""
    apt = PrivateApt(context.cache / f"node-apt-{PROMETHEUS_SUITE}", PROMETHEUS_SUITE)
    apt.update(context.log)  # once per build: indexes kept from an earlier one may name old versions
    downloads = images_dir(context.cache) / f"debs-{PROMETHEUS_SUITE}"
    debs = {
        package: apt.download(package, downloads, context.log)
        for package in ("prometheus", "libc6", "netbase")
    }
    found = debian_upstream_version(debs["prometheus"])
    if found != PROMETHEUS_VERSION:
        raise ClusterError(
            f"Debian {PROMETHEUS_SUITE}'s prometheus package is {found}, the image is "
            f"prom/prometheus:v{PROMETHEUS_VERSION}: change PROMETHEUS_VERSION and the manifests' tag "
            "together"
        )
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "root"
        for deb in debs.values():
            extract_deb(deb, root, context.log)
        entries = _libc_entries(root)
        entries.append(Entry("bin/prometheus", source=root / "usr" / "bin" / "prometheus", mode=0o755))
        entries += [Entry("etc/prometheus", "dir", mode=0o755), Entry("prometheus", "dir", mode=0o777)]
        entries.append(
            Entry("etc/prometheus/prometheus.yml", source=root / "etc" / "prometheus" / "prometheus.yml")
        )
        layer = write_layer(entries, Path(work) / "layer.tar")
        config = ImageConfig(
            entrypoint=("/bin/prometheus",),
            cmd=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"),
            user="nobody",
            working_dir="/prometheus",
            exposed_ports=("9090/tcp",),
            volumes=("/prometheus",),
        )
        write_oci_archive(context.named(PROMETHEUS_IMAGE), [layer], config, output)


FILES = Path(__file__).parent / "files"
REGISTRY_IMAGE = "docker.io/mcp-mesh/registry:dev"


def _mmdebstrap(context: BuildContext) -> Path:
    """Debian's mmdebstrap, unpacked once into the images' cache."""
    root = images_dir(context.cache) / "tools" / "mmdebstrap"
    program = root / "usr" / "bin" / "mmdebstrap"
    if not program.is_file():
        unpack_packages(context, ("mmdebstrap",), root)
    return program


def _rootfs(context: BuildContext, recipe: debian.RootfsRecipe) -> Path:
    return debian.rootfs_tar(recipe, _mmdebstrap(context), images_dir(context.cache) / "rootfs", context.log)


def _with_user(passwd: bytes, group: bytes, user: str, uid: int, gid: int, home: str) -> list[Entry]:
    """An upper layer's /etc/passwd and /etc/group with one more account."""
    return [
        Entry("etc/passwd", data=passwd + f"{user}:x:{uid}:{gid}::{home}:/bin/sh\n".encode()),
        Entry("etc/group", data=group + f"{user}:x:{gid}:\n".encode()),
    ]


def _build_curl(context: BuildContext, output: Path) -> None:
    """curlimages/curl on Debian's curl: the real image's entrypoint, ``CMD ["curl"]``, user curl_user."""
    base = _rootfs(context, debian.BASE)
    passwd, group = debian.read_member(base, "etc/passwd"), debian.read_member(base, "etc/group")
    entries = [Entry("home", "dir", mode=0o755), Entry("home/curl_user", "dir", mode=0o755)]
    entries += _with_user(passwd, group, "curl_user", 100, 101, "/home/curl_user")
    entries.append(Entry("entrypoint.sh", source=FILES / "curl-entrypoint.sh", mode=0o755))
    with tempfile.TemporaryDirectory() as work:
        layer = write_layer(entries, Path(work) / "layer.tar")
        config = ImageConfig(
            entrypoint=("/entrypoint.sh",), cmd=("curl",), user="curl_user", working_dir="/home/curl_user"
        )
        write_oci_archive(context.named("docker.io/curlimages/curl:latest"), [base, layer], config, output)


def _build_postgres(context: BuildContext, output: Path) -> None:
    """postgres:15-alpine's behaviour on Debian's PostgreSQL 15: its environment, PGDATA and entrypoint."""
    base = _rootfs(context, debian.POSTGRES)
    entries = [
        Entry("usr/local/bin", "dir", mode=0o755),
        Entry("usr/local/bin/docker-entrypoint.sh", source=FILES / "postgres-entrypoint.sh", mode=0o755),
        Entry("var/lib/postgresql/data", "dir", mode=0o700),
    ]
    path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    config = ImageConfig(
        entrypoint=("docker-entrypoint.sh",),
        cmd=("postgres",),
        env=(path, "LANG=C.UTF-8", "PG_MAJOR=15", "PGDATA=/var/lib/postgresql/data"),
        exposed_ports=("5432/tcp",),
        volumes=("/var/lib/postgresql/data",),
        stop_signal="SIGINT",
    )
    with tempfile.TemporaryDirectory() as work:
        layer = write_layer(entries, Path(work) / "layer.tar")
        names = context.named("docker.io/library/postgres:15-alpine")
        write_oci_archive(names, [base, layer], config, output)


def _python_slim(context: BuildContext, work: Path) -> Path:
    """The stand-in for ``python:3.11-slim``: Debian's Python 3.11 as a virtual environment at
    /usr/local (``python`` and ``pip`` on PATH, installs beside it, PEP 668 not in the way)."""
    rootfs = debian.extracted(_rootfs(context, debian.BASE), work)
    run_logged(["chroot", str(rootfs), "python3", "-m", "venv", "/usr/local"], context.log)
    tar = work / "python-slim.tar"
    write_rootfs_layer(rootfs, tar)
    return tar


def kit_root() -> Path:
    """The kit's checkout (where ``registry/Dockerfile`` is): labkit must be installed from it."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "registry" / "Dockerfile").is_file():
        raise ClusterError(
            f"no registry/Dockerfile beside labkit ({root}): install labkit from the kit's checkout"
        )
    return root


def _build_registry(context: BuildContext, output: Path) -> None:
    """mcp-mesh/registry:dev from the kit's own registry/Dockerfile, the file users build."""
    root = kit_root()
    with tempfile.TemporaryDirectory(dir=images_dir(context.cache)) as folder:
        work = Path(folder)
        bases = {"python:3.11-slim": _python_slim(context, work)}
        rootfs, config = dockerfile.build(root / "registry" / "Dockerfile", root, bases, work, context.log)
        layer = write_rootfs_layer(rootfs, work / "layer.tar")
        write_oci_archive(context.named(REGISTRY_IMAGE), [layer], config, output)


IMAGES: tuple[Recipe, ...] = (
    Recipe(SANDBOX_IMAGE, "1", _build_pause, "every pod's sandbox"),
    Recipe(
        "docker.io/library/busybox:latest",
        "3",
        _build_busybox,
        'the guide\'s busybox, CMD ["sh"]',
        tags=("docker.io/library/busybox:1.36",),
    ),
    Recipe(
        "docker.io/curlimages/curl:latest",
        "2",
        _build_curl,
        "the guide's test-curl pod",
        tags=("docker.io/curlimages/curl:8.8.0",),
    ),
    Recipe("docker.io/library/postgres:15-alpine", "1", _build_postgres, "the PostgreSQL backend"),
    Recipe(PROMETHEUS_IMAGE, "1", _build_prometheus, "the monitoring component's Prometheus server"),
    Recipe(
        REGISTRY_IMAGE,
        "2",
        _build_registry,
        "the kit's registry, from registry/Dockerfile",
        sources=("registry", "pyproject.toml", "README.md"),
    ),
)
KEEP_BUILDS = 3  # archives of one recipe kept in the cache (the newest), so a code change can be undone


def images_dir(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "images"


def _archive_stem(recipe: Recipe) -> str:
    return recipe.name.replace("/", "_").replace(":", "_")


def sources_digest(recipe: Recipe, root: Path | None = None) -> str:
    """A digest of the recipe's source files (names and contents; caches and build output left out)."""
    if not recipe.sources:
        return ""
    root = root or kit_root()
    digest = hashlib.sha256()
    for source in recipe.sources:
        path = root / source
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts or file.suffix in (".pyc", ".pyo"):
                continue
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def archive_path(recipe: Recipe, cache: Path | None = None, root: Path | None = None) -> Path:
    """Where the recipe's archive is: named by its version and, with sources, their digest."""
    key = sources_digest(recipe, root)
    suffix = f"-{key}" if key else ""
    return images_dir(cache) / f"{_archive_stem(recipe)}-v{recipe.version}{suffix}.oci.tar"


def prune_builds(recipe: Recipe, cache: Path | None = None, keep: int = KEEP_BUILDS) -> list[Path]:
    """Delete all but the newest ``keep`` archives of the recipe; returns the deleted ones."""
    found = sorted(
        images_dir(cache).glob(f"{_archive_stem(recipe)}-v*.oci.tar"),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for old in found[keep:]:
        old.unlink(missing_ok=True)
    return found[keep:]


def normalize(name: str) -> str:
    """A reference as containerd reads it: ``busybox`` is ``docker.io/library/busybox:latest``."""
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def find_recipe(name: str) -> Recipe:
    """The recipe for an image name (short names as the kubelet expands them), or a one-line error."""
    wanted = normalize(name)
    for recipe in IMAGES:
        if recipe.name in (name, wanted):
            return recipe
    known = ", ".join(recipe.name for recipe in IMAGES)
    raise ClusterError(f"labkit builds no image named {name!r}; it builds: {known}")


def ensure_image(recipe: Recipe, tools: NodeTools, cache: Path | None = None, rebuild: bool = False) -> Path:
    """The recipe's OCI archive, built (under a lock) when missing or when ``rebuild``."""
    cache = cache or cache_root()
    output = archive_path(recipe, cache)
    if output.is_file() and not rebuild:
        return output
    log = images_dir(cache) / "build.log"
    images_dir(cache).mkdir(parents=True, exist_ok=True)
    with exclusive_lock(images_dir(cache) / ".lock"):
        if output.is_file() and not rebuild:
            return output
        recipe.build(BuildContext(cache, tools, log, recipe.names), output)
        prune_builds(recipe, cache)
    return output
