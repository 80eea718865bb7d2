"""Build the optional compiled core ``fastbp._core``.

If the C compiler fails, fastbp is installed without the extension and runs
on its pure-Python reference backend (it warns at import).  Set
FASTBP_REQUIRE_EXTENSION=1 to make a failed compile fail the install
(wheel builds, CI).
"""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

try:  # setuptools >= 59 vendors distutils' errors here
    from setuptools.errors import CCompilerError, ExecError, PlatformError
except ImportError:  # pragma: no cover
    from distutils.errors import CCompilerError
    from distutils.errors import DistutilsExecError as ExecError
    from distutils.errors import DistutilsPlatformError as PlatformError

BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)


class optional_build_ext(build_ext):
    """build_ext that installs without the extension when compiling fails."""

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
        if os.environ.get("FASTBP_REQUIRE_EXTENSION", "") not in ("", "0"):
            raise exc
        bar = "*" * 75
        sys.stderr.write(
            f"\n{bar}\nWARNING: the compiled core fastbp._core could not be built:\n"
            f"  {exc}\nfastbp is installed without it and will run on the slow "
            f"pure-Python reference backend.\n{bar}\n\n"
        )


def compile_args():
    """-O3; -fopenmp-simd for the `omp simd` loops of _kernels.h;
    -fno-trapping-math so that selects between two computed values can be
    vector blends (nothing in fastbp reads floating-point exception flags,
    and results do not change); and -march=native (AVX2 and FMA where the
    CPU has them, measured about 15% faster) unless FASTBP_PORTABLE=1, which
    a wheel meant for other machines needs."""
    args = ["-O3", "-fopenmp-simd", "-fno-trapping-math"]
    if os.environ.get("FASTBP_PORTABLE", "") in ("", "0") and compiles("-march=native"):
        args.append("-march=native")
    return args + OPENMP_ARGS


def openmp_args():
    """-fopenmp where the compiler builds and links an OpenMP program (the
    parallel training pass, ``fit(n_threads=...)``), unless FASTBP_OPENMP=0;
    without it the core is built serial and fastbp warns when more than one
    thread is asked for."""
    if os.environ.get("FASTBP_OPENMP", "") == "0" or not compiles("-fopenmp", link=True):
        return []
    return ["-fopenmp"]


def compiles(flag, link=False):
    """Whether the C compiler compiles (and, with ``link``, links) a small
    OpenMP-aware program with ``flag``."""
    import subprocess
    import sysconfig
    import tempfile

    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write("#ifdef _OPENMP\n#include <omp.h>\n#endif\n"
                    "int main(void) {\n#ifdef _OPENMP\n  return omp_get_max_threads() < 1;\n"
                    "#endif\n  return 0;\n}\n")
        output = ["-o", os.path.join(tmp, "probe")] if link else ["-c", "-o",
                                                                   os.path.join(tmp, "probe.o")]
        try:
            result = subprocess.run(compiler + [flag, source] + output, capture_output=True)
        except OSError:
            return False
    return result.returncode == 0


OPENMP_ARGS = openmp_args()   # the compiler probe runs once: compile and link args

extensions = cythonize(
    [Extension("fastbp._core", ["fastbp/_core.pyx"], extra_compile_args=compile_args(),
               extra_link_args=OPENMP_ARGS,
               depends=["fastbp/_kernels.h", "fastbp/_kernels_body.h",
                        "fastbp/_declarations.pxi", "fastbp/_example.pxi",
                        "fastbp/_copies.pxi"])],
    compiler_directives={
        "language_level": 3,
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
        "initializedcheck": False,
    },
)

setup(ext_modules=extensions, cmdclass={"build_ext": optional_build_ext})
