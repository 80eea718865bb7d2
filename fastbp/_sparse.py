"""Sparse inputs: scipy.sparse matrices and arrays of examples, checked once
into the CSR rows the backends take (``Rows``).

A CSR X is never densified whole: the compiled core reads an example's
entries only (its first layer costs O(nnz d[1])), the reference backend
densifies one row at a time.  scipy is imported only where X is already a
scipy object.
"""

import sys

import numpy as np

# Formats converted to CSR once; any other is a TypeError.
CONVERTED = ("csc", "coo")


def issparse(X):
    """Whether X is a scipy.sparse matrix or array (False where scipy was
    never imported: then X cannot be one)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


class Rows:
    """CSR rows checked for a network: ``data`` (the network's dtype),
    ``indices`` (int32, sorted and unique within each row, in [0, n_cols)),
    ``indptr`` (intp) and ``shape``; ``matrix`` is the scipy CSR matrix of
    the same data."""

    def __init__(self, matrix, dtype):
        sparse = sys.modules["scipy.sparse"]
        self.data = np.ascontiguousarray(matrix.data, dtype=dtype)
        self.indices = np.ascontiguousarray(matrix.indices, dtype=np.int32)
        self.indptr = np.ascontiguousarray(matrix.indptr, dtype=np.intp)
        self.matrix = sparse.csr_matrix((self.data, matrix.indices, matrix.indptr),
                                        shape=matrix.shape, copy=False)
        self.shape = matrix.shape

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        """Row r (an integer) as a dense 1-D array; rows (indices or a
        boolean mask) as Rows."""
        if isinstance(rows, (int, np.integer)):
            return self.row(rows)
        return Rows(self.matrix[rows], self.data.dtype)

    def __iter__(self):
        return (self.row(r) for r in range(self.shape[0]))

    def entries(self, r):
        """The columns of row r's entries."""
        return self.indices[self.indptr[r]:self.indptr[r + 1]]

    def row(self, r):
        """Row r as a dense 1-D array."""
        start, stop = self.indptr[r], self.indptr[r + 1]
        x = np.zeros(self.shape[1], dtype=self.data.dtype)
        x[self.indices[start:stop]] = self.data[start:stop]
        return x


def rows(value, name, dtype, width):
    """``value`` (a scipy.sparse matrix or array of ``width`` columns) as
    checked Rows of ``dtype``: CSR (CSC and COO converted once), no NaN or
    infinity, column indices in range, sorted and unique in each row."""
    fmt = value.format
    if fmt not in ("csr",) + CONVERTED:
        raise TypeError(f"{name} must be a scipy.sparse CSR matrix (CSC and COO are "
                        f"converted), got format {fmt!r}: use {name}.tocsr()")
    if len(value.shape) != 2 or value.shape[1] != width:
        raise ValueError(f"{name} must have shape (n, {width}), got {value.shape}")
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)
            or value.dtype == np.bool_):
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    matrix = value.tocsr() if fmt != "csr" else value
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    n_entries = len(indices)
    if (len(indptr) != matrix.shape[0] + 1 or indptr[0] != 0 or indptr[-1] != n_entries
            or len(data) != n_entries or (np.diff(indptr) < 0).any()):
        raise ValueError(f"{name} is not a valid CSR matrix (its indptr does not fit its "
                         "indices and data)")
    if n_entries and (indices.min() < 0 or indices.max() >= width):
        raise ValueError(f"{name} has column indices outside [0, {width})")
    if n_entries > 1:
        steps = np.diff(indices)          # > 0 within every row, where sorted and unique
        boundaries = indptr[1:-1] - 1     # the steps from one row's last entry to the next's
        steps[boundaries[(boundaries >= 0) & (boundaries < n_entries - 1)]] = 1
        if steps.min() <= 0:
            raise ValueError(f"{name} has unsorted or duplicate column indices within a row: "
                             f"call {name}.sum_duplicates() (which also sorts them) first")
    checked = Rows(matrix, dtype)
    if n_entries and not (np.isfinite(checked.data.min()) and np.isfinite(checked.data.max())):
        raise ValueError(f"{name} contains NaN or infinity")
    return checked
