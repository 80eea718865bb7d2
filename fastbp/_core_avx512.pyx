# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False
"""The compiled core for AVX-512: the source of ``fastbp._core``
(_core.pyx), which setup.py compiles again with -march=x86-64-v4.
``fastbp._backend`` imports it where the CPU runs it."""

include "_core.pyx"
