"""Convert between numpy dtypes and MPI datatypes: ``mpi4py.util.dtlib``'s two functions on our
binding (``from mpikernel.util.dtlib import from_numpy_dtype, to_numpy_dtype``).

from_numpy_dtype builds a new datatype the caller frees (structs, subarrays, contiguous arrays
of any predefined type); to_numpy_dtype reads a datatype through its envelope (decode) and
frees what decoding gave back. Without numpy, to_numpy_dtype returns the specs numpy would take.
"""

from mpikernel import MPI

try:
    from numpy import dtype as _np_dtype
except ImportError:  # pragma: no cover - numpy is optional here, as in mpi4py
    _np_dtype = None

__all__ = ["from_numpy_dtype", "to_numpy_dtype"]

_PAIRS = ("SHORT", "INT", "LONG", "FLOAT", "DOUBLE", "LONG_DOUBLE")   # MPI.<X>_INT, MINLOC/MAXLOC


def _free_derived(types):
    for t in types:
        if not t.is_predefined:
            t.Free()


def _is_aligned(datatype, offset=0):
    """Whether every part of `datatype` placed at `offset` sits at a multiple of its alignment."""
    if datatype.is_predefined:
        return offset == 0 or offset % (MPI._typealign(datatype) or 1) == 0
    combiner = datatype.combiner
    base, _, info = datatype.decode()
    types, disps = [base], [0]
    try:
        if combiner == MPI.COMBINER_RESIZED:
            disps = [info["extent"]]
        elif combiner == MPI.COMBINER_STRUCT:
            types, disps = info["datatypes"], info["displacements"]
        elif combiner == MPI.COMBINER_HVECTOR:
            disps = [info["stride"] if info["count"] > 1 else 0]
        elif combiner in (MPI.COMBINER_HINDEXED, MPI.COMBINER_HINDEXED_BLOCK):
            disps = info["displacements"]
        return all(_is_aligned(t, offset + d) for t, d in zip(types, disps))
    finally:
        _free_derived(types)


# -- numpy -> MPI ---------------------------------------------------------------------------------


def from_numpy_dtype(dtype):
    """A new MPI datatype laid out as numpy's `dtype` (structured, subarray or scalar)."""
    if _np_dtype is None:
        raise RuntimeError("NumPy is not available") from None
    dtype = _np_dtype(dtype)
    if dtype.hasobject:
        raise ValueError("NumPy datatype with object entries")
    if not dtype.isnative:
        raise ValueError("NumPy datatype with non-native byteorder")
    if dtype.fields:
        return _from_struct(dtype)
    if dtype.subdtype:
        base, shape = dtype.subdtype
        element = from_numpy_dtype(base)
        try:
            if len(shape) == 1:
                return element.Create_contiguous(shape[0])
            return element.Create_subarray(shape, shape, (0,) * len(shape))
        finally:
            element.Free()
    return MPI.Datatype.fromcode(dtype.char).Dup()


def _from_struct(dtype):
    members = []
    try:
        displacements = []
        for name in dtype.names or ():
            field_type, offset, *_ = dtype.fields[name]
            members.append(from_numpy_dtype(field_type))
            displacements.append(offset)
        struct = MPI.Datatype.Create_struct([1] * len(members), displacements, members)
    finally:
        _free_derived(members)
    try:
        return struct.Create_resized(0, dtype.itemsize)    # numpy's itemsize includes padding
    finally:
        struct.Free()


# -- MPI -> numpy ---------------------------------------------------------------------------------


def _np(spec, **kwargs):
    if _np_dtype is None:
        return spec if not kwargs else (spec, kwargs)
    return _np_dtype(spec, **kwargs)


def _record(formats, offsets, aligned, itemsize=None):
    spec = {"names": [f"f{i}" for i in range(len(formats))], "formats": formats, "offsets": offsets}
    if itemsize is not None:
        spec["itemsize"] = itemsize
    spec["aligned"] = aligned
    return _np(spec)


def to_numpy_dtype(datatype):
    """The numpy dtype (a spec without numpy) of an MPI datatype; ValueError where numpy has
    no equivalent (holes a subarray or a resize leaves, a null datatype)."""
    if datatype == MPI.DATATYPE_NULL:
        raise ValueError("cannot convert null MPI datatype to NumPy")
    combiner = datatype.combiner
    if combiner == MPI.COMBINER_NAMED:
        code = MPI._typecode(datatype)
        if code is not None:
            return _np(code)
        value = _PAIRS[[getattr(MPI, f"{p}_INT") for p in _PAIRS].index(datatype)]
        return _np(f"{MPI._typecode(getattr(MPI, value))},i", align=True)
    if combiner in (MPI.COMBINER_F90_INTEGER, MPI.COMBINER_F90_REAL, MPI.COMBINER_F90_COMPLEX):
        return _np(MPI._typecode(datatype))
    base, _, info = datatype.decode()
    owned = [base]
    try:
        return _derived(datatype, combiner, base, info, owned)
    finally:
        _free_derived(owned)


def _element(datatype, count):
    dtype = to_numpy_dtype(datatype)
    return dtype if count == 1 else (dtype, count)


def _derived(datatype, combiner, base, info, owned):
    """Long because it is one case per combiner, each a few lines, in one place."""
    if combiner == MPI.COMBINER_DUP:
        return to_numpy_dtype(base)
    if combiner == MPI.COMBINER_CONTIGUOUS:
        return _np((to_numpy_dtype(base), (info["count"],)))
    if combiner == MPI.COMBINER_SUBARRAY:
        sizes, subsizes, starts = info["sizes"], info["subsizes"], info["starts"]
        if subsizes != sizes or min(starts) != 0 or max(starts) != 0:
            raise ValueError("cannot convert subarray MPI datatype to NumPy")
        if info["order"] == MPI.ORDER_FORTRAN:
            sizes = sizes[::-1]
        return _np((to_numpy_dtype(base), tuple(sizes)))
    if combiner == MPI.COMBINER_VALUE_INDEX:  # pragma: no cover - MPI 4.1 libraries only
        value, index = to_numpy_dtype(info["value"]), to_numpy_dtype(info["index"])
        return _np([("f0", value), ("f1", index)], align=True)
    aligned = True
    if combiner == MPI.COMBINER_RESIZED and base.combiner == MPI.COMBINER_STRUCT:
        aligned = _is_aligned(base, info["extent"])    # a struct padded to numpy's itemsize
        combiner = MPI.COMBINER_STRUCT
        _, _, info = base.decode()
    if combiner == MPI.COMBINER_STRUCT:
        types, offsets = info["datatypes"], info["displacements"]
        owned.extend(types)
        aligned = aligned and all(map(_is_aligned, types, offsets))
        return _record(list(map(_element, types, info["blocklengths"])), offsets, aligned,
                       datatype.extent)
    if combiner in (MPI.COMBINER_VECTOR, MPI.COMBINER_HVECTOR):
        count, stride = info["count"], info["stride"]
        if combiner == MPI.COMBINER_VECTOR:
            stride *= base.extent
            aligned = _is_aligned(base)
        else:
            stride = stride if count > 1 else 0
            aligned = _is_aligned(base, stride)
        block = (to_numpy_dtype(base), (info["blocklength"],))
        return _record([block] * count, [stride * i for i in range(count)], aligned, datatype.extent)
    indexed = (MPI.COMBINER_INDEXED, MPI.COMBINER_HINDEXED, MPI.COMBINER_INDEXED_BLOCK,
               MPI.COMBINER_HINDEXED_BLOCK)
    if combiner in indexed:
        displacements = info["displacements"]
        if combiner in (MPI.COMBINER_INDEXED, MPI.COMBINER_HINDEXED):
            lengths = info["blocklengths"]
        else:
            lengths = [info["blocklength"]] * len(displacements)
        in_bytes = combiner in (MPI.COMBINER_HINDEXED, MPI.COMBINER_HINDEXED_BLOCK)
        unit = 1 if in_bytes else base.extent
        aligned = _is_aligned(base) and (not in_bytes or all(_is_aligned(base, d) for d in displacements))
        element = to_numpy_dtype(base)
        return _record([(element, (n,)) for n in lengths], [d * unit for d in displacements], aligned)
    raise ValueError("cannot convert MPI datatype to NumPy")
