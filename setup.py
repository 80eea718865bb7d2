"""Build the optional compiled core ``fastbp._core``.

If the C compiler fails, fastbp is installed without the extension and runs
on its pure-Python reference backend (it warns at import).  Set
FASTBP_REQUIRE_EXTENSION=1 to make a failed compile fail the install
(wheel builds, CI).  The Cython directives are at the top of _core.pyx.
"""

import os
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
        for ext in self.extensions:
            ext.extra_compile_args += compile_args
            ext.extra_link_args += link_args
        super().build_extensions()

    def core_flags(self):
        """-O3; -fopenmp-simd for the `omp simd` loops of _kernels.h;
        -fno-trapping-math so that selects between two computed values can
        be vector blends (nothing reads floating-point exception flags);
        -fno-math-errno so that Adam's and Adagrad's square roots can be
        vector instructions (nothing reads errno);
        -march=native unless FASTBP_PORTABLE=1 (which a wheel for other
        machines needs); and -fopenmp for the parallel training pass,
        unless FASTBP_OPENMP=0.  Each flag only where this compiler takes it
        (OpenMP: also links with it)."""
        compile_args = [flag for flag in ("-O3", "-fopenmp-simd", "-fno-trapping-math",
                                          "-fno-math-errno") if self.compiles(flag)]
        if not flag_set("FASTBP_PORTABLE") and self.compiles("-march=native"):
            compile_args.append("-march=native")
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
                objects = self.compiler.compile([source], output_dir=tmp,
                                                extra_postargs=[flag])
                if link:   # with LDFLAGS, as the extension's link gets them
                    self.compiler.link_executable(
                        objects, "probe", output_dir=tmp,
                        extra_postargs=[flag] + shlex.split(os.environ.get("LDFLAGS", "")))
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


extensions = cythonize(
    [Extension("fastbp._core", ["fastbp/_core.pyx"],
               depends=["fastbp/_kernels.h", "fastbp/_kernels_body.h",
                        "fastbp/_declarations.pxi", "fastbp/_example.pxi",
                        "fastbp/_copies.pxi"])],
)

setup(ext_modules=extensions, cmdclass={"build_ext": optional_build_ext})
