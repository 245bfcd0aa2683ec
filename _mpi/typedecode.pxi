# Datatype.decode(): (base datatype, combiner name, the constructor's keyword arguments), read
# from MPI_Type_get_contents(_c) as mpi4py returns it, so that a datatype can be rebuilt or shown.

cdef dict _COMBINER_NAMES = {
    MPI_COMBINER_NAMED: "NAMED", MPI_COMBINER_DUP: "DUP", MPI_COMBINER_CONTIGUOUS: "CONTIGUOUS",
    MPI_COMBINER_VECTOR: "VECTOR", MPI_COMBINER_HVECTOR: "HVECTOR",
    MPI_COMBINER_INDEXED: "INDEXED", MPI_COMBINER_HINDEXED: "HINDEXED",
    MPI_COMBINER_INDEXED_BLOCK: "INDEXED_BLOCK", MPI_COMBINER_HINDEXED_BLOCK: "HINDEXED_BLOCK",
    MPI_COMBINER_STRUCT: "STRUCT", MPI_COMBINER_SUBARRAY: "SUBARRAY",
    MPI_COMBINER_DARRAY: "DARRAY", MPI_COMBINER_RESIZED: "RESIZED",
    MPI_COMBINER_F90_INTEGER: "F90_INTEGER", MPI_COMBINER_F90_REAL: "F90_REAL",
    MPI_COMBINER_F90_COMPLEX: "F90_COMPLEX",
}
if MPIK_HAVE_VALUE_INDEX:
    _COMBINER_NAMES[MPIK_COMBINER_VALUE_INDEX] = "VALUE_INDEX"


cdef tuple _decode(Datatype self):
    combiner = self.Get_envelope()[4]
    name = _COMBINER_NAMES.get(combiner)
    if name is None:
        raise ValueError(f"unknown combiner value {combiner}")
    if combiner == MPI_COMBINER_NAMED:
        return (self, name, {})
    i, a, c, types = self.Get_contents()
    base = types[0] if len(types) == 1 else DATATYPE_NULL
    if c:
        params = _decode_large(combiner, i, c, types)
    else:
        params = _decode_params(combiner, i, a, types)
    return (base, name, params)


cdef dict _decode_large(int combiner, list i, list c, list types):
    """The keyword arguments from MPI 4's large-count layout (counts and displacements in c)."""
    if combiner == MPI_COMBINER_CONTIGUOUS:
        return {"count": c[0]}
    if combiner in (MPI_COMBINER_VECTOR, MPI_COMBINER_HVECTOR):
        return {"count": c[0], "blocklength": c[1], "stride": c[2]}
    if combiner in (MPI_COMBINER_INDEXED, MPI_COMBINER_HINDEXED, MPI_COMBINER_STRUCT):
        n = c[0]
        params = {"blocklengths": c[1:1 + n], "displacements": c[1 + n:1 + 2 * n]}
        if combiner == MPI_COMBINER_STRUCT:
            params["datatypes"] = types
        return params
    if combiner in (MPI_COMBINER_INDEXED_BLOCK, MPI_COMBINER_HINDEXED_BLOCK):
        return {"blocklength": c[1], "displacements": c[2:2 + c[0]]}
    if combiner == MPI_COMBINER_SUBARRAY:
        n = i[0]
        return {"sizes": c[:n], "subsizes": c[n:2 * n], "starts": c[2 * n:3 * n], "order": i[1]}
    if combiner == MPI_COMBINER_DARRAY:
        n = i[2]
        return {"size": i[0], "rank": i[1], "gsizes": c[:n], "distribs": i[3:3 + n],
                "dargs": i[3 + n:3 + 2 * n], "psizes": i[3 + 2 * n:3 + 3 * n],
                "order": i[3 + 3 * n]}
    if combiner == MPI_COMBINER_RESIZED:
        return {"lb": c[0], "extent": c[1]}
    return _decode_params(combiner, i, [], types)


cdef dict _decode_params(int combiner, list i, list a, list types):
    """The keyword arguments of the constructor, from the int and address arrays of
    MPI_Type_get_contents (laid out as the MPI standard's table for each combiner)."""
    if combiner == MPI_COMBINER_CONTIGUOUS:
        return {"count": i[0]}
    if combiner == MPI_COMBINER_VECTOR:
        return {"count": i[0], "blocklength": i[1], "stride": i[2]}
    if combiner == MPI_COMBINER_HVECTOR:
        return {"count": i[0], "blocklength": i[1], "stride": a[0]}
    if combiner == MPI_COMBINER_INDEXED:
        n = i[0]
        return {"blocklengths": i[1:1 + n], "displacements": i[1 + n:1 + 2 * n]}
    if combiner == MPI_COMBINER_HINDEXED:
        return {"blocklengths": i[1:1 + i[0]], "displacements": a[:i[0]]}
    if combiner == MPI_COMBINER_INDEXED_BLOCK:
        return {"blocklength": i[1], "displacements": i[2:2 + i[0]]}
    if combiner == MPI_COMBINER_HINDEXED_BLOCK:
        return {"blocklength": i[1], "displacements": a[:i[0]]}
    if combiner == MPI_COMBINER_STRUCT:
        return {"blocklengths": i[1:1 + i[0]], "displacements": a[:i[0]], "datatypes": types}
    if combiner == MPI_COMBINER_SUBARRAY:
        n = i[0]
        return {"sizes": i[1:1 + n], "subsizes": i[1 + n:1 + 2 * n],
                "starts": i[1 + 2 * n:1 + 3 * n], "order": i[1 + 3 * n]}
    if combiner == MPI_COMBINER_DARRAY:
        n = i[2]
        return {"size": i[0], "rank": i[1], "gsizes": i[3:3 + n], "distribs": i[3 + n:3 + 2 * n],
                "dargs": i[3 + 2 * n:3 + 3 * n], "psizes": i[3 + 3 * n:3 + 4 * n],
                "order": i[3 + 4 * n]}
    if combiner == MPI_COMBINER_RESIZED:
        return {"lb": a[0], "extent": a[1]}
    if combiner == MPIK_COMBINER_VALUE_INDEX:
        return {"value": types[0], "index": types[1]}
    if combiner == MPI_COMBINER_F90_INTEGER:
        return {"r": i[0]}
    if combiner in (MPI_COMBINER_F90_REAL, MPI_COMBINER_F90_COMPLEX):
        return {"p": i[0], "r": i[1]}
    return {}


def _datatype_create(Datatype datatype, str combiner, dict params, bint free=False):
    """A committed datatype made by datatype's Create_<combiner>(**params): how a derived
    datatype is unpickled. free: free the (decoded, temporary) datatypes it was made from."""
    if "datatypes" in params:
        parts = list(params["datatypes"])
    elif "value" in params and "index" in params:
        parts = [params["value"], params["index"]]
    else:
        parts = [datatype]
    try:
        return getattr(datatype, f"Create_{combiner.lower()}")(**params).Commit()
    finally:
        if free:
            for part in parts:
                (<Datatype>part).free()
