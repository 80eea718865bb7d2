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
    ``indptr`` (intp, rising from 0 to nnz) and ``shape``; ``matrix`` is
    the scipy CSR matrix of the same arrays.

    ``indices`` and ``indptr`` are always fastbp's own arrays, never the
    caller's: the compiled core indexes with them without the GIL, so no
    other thread may change them after they were checked.
    """

    def __init__(self, data, indices, indptr, shape):
        sparse = sys.modules["scipy.sparse"]
        self.data, self.indices, self.indptr, self.shape = data, indices, indptr, shape
        self.matrix = sparse.csr_matrix((data, indices, indptr), shape=shape, copy=False)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        """Row r (an integer) as a dense 1-D array; rows (indices or a
        boolean mask) as Rows."""
        if isinstance(rows, (int, np.integer)):
            return self.row(rows)
        subset = self.matrix[rows]  # fresh arrays, checked as their source was
        return Rows(
            np.ascontiguousarray(subset.data, dtype=self.data.dtype),
            np.array(subset.indices, dtype=np.int32),
            np.array(subset.indptr, dtype=np.intp),
            subset.shape,
        )

    def __iter__(self):
        return (self.row(r) for r in range(self.shape[0]))

    def entries(self, r):
        """The columns of row r's entries."""
        return self.indices[self.indptr[r] : self.indptr[r + 1]]

    def row(self, r):
        """Row r as a dense 1-D array."""
        start, stop = self.indptr[r], self.indptr[r + 1]
        x = np.zeros(self.shape[1], dtype=self.data.dtype)
        x[self.indices[start:stop]] = self.data[start:stop]
        return x


def rows(value, name, dtype, width):
    """``value`` (a scipy.sparse matrix or array of ``width`` columns) as
    checked Rows of ``dtype``: CSR (CSC and COO converted once), integer
    indices, indptr rising from 0 to nnz, column indices in range, no NaN
    or infinity; unsorted or duplicate indices within a row are sorted and
    summed in a copy.

    Index arrays are copied first and the copies checked, so that what was
    checked is what is converted and what the core reads.  The checks make
    no temporary array as large as the data.
    """
    fmt = value.format
    if fmt not in ("csr",) + CONVERTED:
        raise TypeError(
            f"{name} must be a scipy.sparse CSR matrix (CSC and COO are "
            f"converted), got format {fmt!r}: use {name}.tocsr()"
        )
    if len(value.shape) != 2 or value.shape[1] != width:
        raise ValueError(f"{name} must have shape (n, {width}), got {value.shape}")
    if value.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if not (
        np.issubdtype(value.dtype, np.floating)
        or np.issubdtype(value.dtype, np.integer)
        or value.dtype == np.bool_
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    if width - 1 > np.iinfo(np.int32).max:
        raise ValueError(f"{name} has {width} columns, more than sparse input takes (2**31)")
    if np.ndim(value.data) != 1:
        raise ValueError(f"{name} is not a valid sparse matrix: its data is not 1-D")
    n_rows, n_entries = value.shape[0], len(value.data)
    sparse = sys.modules["scipy.sparse"]
    if fmt == "coo":
        row = _index_copy(value.row, f"{name}.row", np.intp, n_rows - 1, n_entries)
        col = _index_copy(value.col, f"{name}.col", np.intp, width - 1, n_entries)
        value = sparse.coo_matrix((value.data, (row, col)), shape=value.shape).tocsr()
    elif fmt == "csc":
        indptr, indices = _compressed(value, name, width, n_rows)
        value = sparse.csc_matrix((value.data, indices, indptr), shape=value.shape).tocsr()
    indptr, indices = _compressed(value, name, n_rows, width)
    if not _sorted_and_unique(indices, indptr):
        # sorted and duplicates summed (as scikit-learn does), in a copy:
        # the caller's X stays as it is
        value = sparse.csr_matrix((np.array(value.data), indices, indptr), shape=value.shape)
        value.sum_duplicates()
        indptr = np.array(value.indptr, dtype=np.intp)
        indices = np.array(value.indices, dtype=np.int32)
    data = np.ascontiguousarray(value.data, dtype=dtype)
    if len(data) and not (np.isfinite(data.min()) and np.isfinite(data.max())):
        raise ValueError(f"{name} contains NaN or infinity")
    return Rows(data, indices, indptr, value.shape)


def _compressed(matrix, name, n_major, n_minor):
    """Checked copies of a CSR (or CSC) matrix's (indptr, indices): n_major
    rows (columns), each an index of [0, n_minor)."""
    n_entries = len(matrix.data)
    indptr = _index_copy(matrix.indptr, f"{name}.indptr", np.intp, n_entries, n_major + 1)
    if indptr[0] != 0 or indptr[-1] != n_entries or (indptr[1:] < indptr[:-1]).any():
        raise ValueError(
            f"{name}.indptr must rise from 0 to the number of entries "
            f"({n_entries}): {name} is not a valid {matrix.format.upper()} matrix"
        )
    indices = _index_copy(matrix.indices, f"{name}.indices", np.int32, n_minor - 1, n_entries)
    return indptr, indices


def _index_copy(array, name, dtype, largest, length):
    """A copy of the index array ``array`` (``length`` values) as
    ``dtype``, its values checked to lie in [0, largest]: before the cast
    (which could wrap them) and in the copy (which another thread cannot
    change)."""
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.ndim != 1 or len(array) != length:
        raise ValueError(f"{name} must hold {length} values, got shape {array.shape}")
    copy = np.array(array, dtype=dtype)
    for values in (array, copy):
        if len(values) and (values.min() < 0 or values.max() > largest):
            raise ValueError(f"{name} has values outside [0, {largest}]")
    return copy


# Entries checked at a time by _sorted_and_unique: its temporaries' size.
BLOCK = 1 << 16


def _sorted_and_unique(indices, indptr):
    """Whether the column indices rise strictly within every row of CSR
    rows (``indptr`` checked already)."""
    n = len(indices)
    for start in range(0, n - 1, BLOCK):
        stop = min(start + BLOCK, n - 1)  # the steps from entry k to k + 1, k < stop
        rising = indices[start + 1 : stop + 1] > indices[start:stop]
        first, last = np.searchsorted(indptr, start + 1), np.searchsorted(indptr, stop, "right")
        rising[indptr[first:last] - 1 - start] = True  # steps into the next row
        if not rising.all():
            return False
    return True
