"""Build the optional compiled core: ``fastbp._core`` and its copies for
wider instruction sets.

The default build is portable: ``fastbp._core`` for the architecture's
baseline (x86-64, or aarch64 ...), and on x86-64 the same source again as
``fastbp._core_avx2`` (x86-64-v3: AVX2, FMA) and ``fastbp._core_avx512``
(x86-64-v4: AVX-512), each where the compiler takes its -march.
``fastbp._backend`` imports the widest one the CPU runs (FASTBP_ISA forces
one), so a build made here runs on any machine of the architecture.
FASTBP_NATIVE=1 builds ``fastbp._core`` alone for this machine
(-march=native), as an opt-in.

If the C compiler fails, fastbp is installed without the extension and runs
on its pure-Python reference backend (it warns at import).  Set
FASTBP_REQUIRE_EXTENSION=1 to make a failed compile fail the install
(wheel builds, CI).  The copies compile in parallel, without debug
information unless FASTBP_DEBUG=1.  The Cython directives are at the top
of _core.pyx.
"""

import os
import platform
import shlex
import sys
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)
PROBE = """#ifdef _OPENMP
#include <omp.h>
#endif
int main(void) {
#ifdef _OPENMP
    return omp_get_max_threads() < 1;
#endif
    return 0;
}
"""


def flag_set(name):
    return os.environ.get(name, "") not in ("", "0")


class optional_build_ext(build_ext):
    """build_ext that probes its compiler for the flags the core wants, and
    installs without the extension when compiling fails."""

    def build_extensions(self):
        compile_args, link_args = self.core_flags()
        kept = []
        for ext in self.extensions:
            isa = ISAS[ext.name]
            if not all(self.compiles(flag) for flag in isa.flags):
                if isa.name != "baseline":
                    continue  # this compiler cannot build that copy
                isa = ISA("baseline", None)  # an architecture gcc has no -march for
            ext.extra_compile_args += compile_args + isa.flags
            ext.extra_link_args += link_args
            ext.define_macros.append(("FBP_ISA", f'"{isa.name}"'))
            kept.append(ext)
        self.extensions[:] = kept
        super().build_extensions()

    def finalize_options(self):
        # the copies compile on every CPU at once unless told (-j N)
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1
        super().finalize_options()

    def core_flags(self):
        """-O3; -g0 (no debug information, which the wheels strip anyway and
        which only slows the compile; FASTBP_DEBUG=1 keeps Python's -g);
        -fopenmp-simd for the `omp simd` loops of _kernels.h;
        -fno-trapping-math so that selects between two computed values can
        be vector blends (nothing reads floating-point exception flags);
        -fno-math-errno so that Adam's and Adagrad's square roots can be
        vector instructions (nothing reads errno); and -fopenmp for the
        parallel training pass, unless FASTBP_OPENMP=0.  Each flag only
        where this compiler takes it (OpenMP: also links with it)."""
        wanted = ["-O3", "-fopenmp-simd", "-fno-trapping-math", "-fno-math-errno"]
        if not flag_set("FASTBP_DEBUG"):
            wanted.append("-g0")
        compile_args = [flag for flag in wanted if self.compiles(flag)]
        openmp = [] if os.environ.get("FASTBP_OPENMP", "") == "0" else ["-fopenmp"]
        if openmp and not self.compiles(openmp[0], link=True):
            openmp = []
        return compile_args + openmp, openmp

    def compiles(self, flag, link=False):
        """Whether this build's C compiler compiles (and, with ``link``,
        links) a small OpenMP-aware program with ``flag``."""
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "probe.c")
            with open(source, "w") as file:
                file.write(PROBE)
            try:
                objects = self.compiler.compile([source], output_dir=tmp, extra_postargs=[flag])
                if link:  # with LDFLAGS, as the extension's link gets them
                    self.compiler.link_executable(
                        objects,
                        "probe",
                        output_dir=tmp,
                        extra_postargs=[flag] + shlex.split(os.environ.get("LDFLAGS", "")),
                    )
            except (CompileError, LinkError):
                return False
        return True

    def run(self):
        try:
            super().run()
        except BUILD_ERRORS as exc:
            self._give_up(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as exc:
            self._give_up(exc)

    def _give_up(self, exc):
        if flag_set("FASTBP_REQUIRE_EXTENSION"):
            raise exc
        bar = "*" * 75
        sys.stderr.write(
            f"\n{bar}\nWARNING: the compiled core fastbp._core could not be built:\n"
            f"  {exc}\nfastbp is installed without it and will run on the slow "
            f"pure-Python reference backend.\n{bar}\n\n"
        )


class ISA:
    """An instruction set a copy of the core is built for: its name (what
    FASTBP_ISA and ``fastbp info`` say), gcc's -march for it (None: the
    compiler's default) and further tuning flags."""

    def __init__(self, name, march, tuning=()):
        self.name, self.march, self.tuning = name, march, list(tuning)

    @property
    def flags(self):
        return [f"-march={self.march}", *self.tuning] if self.march else []


X86_64 = platform.machine().lower() in ("x86_64", "amd64")
if flag_set("FASTBP_NATIVE"):
    ISAS = {"fastbp._core": ISA("native", "native")}
elif X86_64:
    ISAS = {
        "fastbp._core": ISA("baseline", "x86-64"),
        "fastbp._core_avx2": ISA("avx2", "x86-64-v3"),
        # tuned for an AVX-512 core: gcc's generic tuning of x86-64-v4
        # is slower on small layers than a native build
        "fastbp._core_avx512": ISA("avx512", "x86-64-v4", ["-mtune=icelake-server"]),
    }
else:
    ISAS = {"fastbp._core": ISA("baseline", None)}
DEPENDS = [
    "fastbp/_kernels.h",
    "fastbp/_kernels_body.h",
    "fastbp/_core.pyx",
    "fastbp/_declarations.pxi",
    "fastbp/_example.pxi",
    "fastbp/_copies.pxi",
    "fastbp/_hogwild.pxi",
    "fastbp/_lazy.pxi",
    "fastbp/_online.pxi",
]

extensions = cythonize(
    [Extension(name, [name.replace(".", "/") + ".pyx"], depends=DEPENDS) for name in ISAS]
)

setup(ext_modules=extensions, cmdclass={"build_ext": optional_build_ext})
