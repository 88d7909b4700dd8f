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
from labkit.cluster.images.layers import BASE_FILES, Entry, write_layer
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


IMAGES: tuple[Recipe, ...] = (
    Recipe(SANDBOX_IMAGE, "1", _build_pause, "every pod's sandbox"),
    Recipe("docker.io/library/busybox:latest", "2", _build_busybox, 'the guide\'s busybox, CMD ["sh"]'),
)


def images_dir(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "images"


def archive_path(recipe: Recipe, cache: Path | None = None) -> Path:
    safe = recipe.name.replace("/", "_").replace(":", "_")
    return images_dir(cache) / f"{safe}-v{recipe.version}.oci.tar"


def find_recipe(name: str) -> Recipe:
    """The recipe for an image name (short names as the kubelet expands them), or a one-line error."""
    wanted = name if "/" in name.split(":")[0] else f"docker.io/library/{name}"
    if ":" not in wanted.rsplit("/", 1)[-1]:
        wanted += ":latest"
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
