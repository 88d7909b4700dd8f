"""The images the local node has, each built once into labkit's cache as an OCI archive.

An image's archive is named after its recipe's ``version``: change a recipe, bump it, and the next
``up`` (or ``labkit image build``) builds it again. Names are the full references the kubelet asks
containerd for (``busybox`` is ``docker.io/library/busybox:latest``).
"""

from __future__ import annotations

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
    name: str
    version: str
    build: Builder
    why: str


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
        write_oci_archive(SANDBOX_IMAGE, [layer], config, output)


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


def _build_busybox(context: BuildContext, output: Path) -> None:
    """Debian's busybox with every applet linked in /bin and libc6's loader and NSS; ``CMD ["sh"]``."""
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "root"
        unpack_packages(context, ("busybox", "libc6", "netbase"), root)
        libraries = root / "lib" / "x86_64-linux-gnu"
        if not libraries.is_dir():
            libraries = root / "usr" / "lib" / "x86_64-linux-gnu"
        busybox = root / "bin" / "busybox"
        entries = [*BASE_FILES, Entry("bin", "dir", mode=0o755), Entry("lib", "dir", mode=0o755)]
        entries += [Entry("lib64", "dir", mode=0o755), Entry("lib/x86_64-linux-gnu", "dir", mode=0o755)]
        entries.append(Entry("bin/busybox", source=busybox, mode=0o755))
        for name in LIBC_FILES:
            entries.append(Entry(f"lib/x86_64-linux-gnu/{name}", source=libraries / name, mode=0o755))
        entries.append(
            Entry(
                "lib64/ld-linux-x86-64.so.2", "symlink", target="/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
            )
        )
        entries.append(Entry("etc/nsswitch.conf", data=NSSWITCH))
        for name in ("services", "protocols"):
            entries.append(Entry(f"etc/{name}", source=root / "etc" / name))
        applets = _busybox_applets(busybox, libraries / "ld-linux-x86-64.so.2", libraries)
        entries += [Entry(f"bin/{name}", "symlink", target="busybox") for name in applets]
        layer = write_layer(entries, Path(work) / "layer.tar")
        config = ImageConfig(cmd=("sh",))
        write_oci_archive("docker.io/library/busybox:latest", [layer], config, output)


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
        write_oci_archive("docker.io/curlimages/curl:latest", [base, layer], config, output)


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
        write_oci_archive("docker.io/library/postgres:15-alpine", [base, layer], config, output)


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
        write_oci_archive(REGISTRY_IMAGE, [layer], config, output)


IMAGES: tuple[Recipe, ...] = (
    Recipe(SANDBOX_IMAGE, "1", _build_pause, "every pod's sandbox"),
    Recipe("docker.io/library/busybox:latest", "2", _build_busybox, 'the guide\'s busybox, CMD ["sh"]'),
    Recipe("docker.io/curlimages/curl:latest", "1", _build_curl, "the guide's test-curl pod"),
    Recipe("docker.io/library/postgres:15-alpine", "1", _build_postgres, "the PostgreSQL backend"),
    Recipe(REGISTRY_IMAGE, "1", _build_registry, "the kit's registry, from registry/Dockerfile"),
)


def images_dir(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "images"


def archive_path(recipe: Recipe, cache: Path | None = None) -> Path:
    safe = recipe.name.replace("/", "_").replace(":", "_")
    return images_dir(cache) / f"{safe}-v{recipe.version}.oci.tar"


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
        recipe.build(BuildContext(cache, tools, log), output)
    return output
