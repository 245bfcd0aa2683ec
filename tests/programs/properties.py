"""Property-based tests of the binding, run INSIDE one mpiexec job (tests/binding/test_binding_properties.py).

Rank 0 runs hypothesis: for every example it draws, it broadcasts the case on a private
communicator, every rank plays its part, and the verdicts are gathered back on rank 0, which
asserts them (so hypothesis can shrink a failure to a small case — shrinking is just more cases).
Hundreds of examples cost one launch. The other ranks only follow orders; `None` ends the job.

Properties:
- round trip: Python objects (nested containers, big ints, nan, numpy arrays of any dtype, shape,
  byte order, contiguity, 0-size) come out of send/recv, bcast, scatter, gather exactly as they
  went in; numpy arrays of every dtype with a buffer through Send/Recv, Bcast, Scatter, Gather;
- bad arguments (wrong types, negative counts, out-of-range ranks and tags, buffers too small,
  non-contiguous or unbufferable arrays) raise a Python exception on the rank that made the
  mistake — never a crash, never a hang. Every rank makes the same local mistake at once, so
  one rank's error cannot leave a partner waiting.

Environment: PROPS_EXAMPLES (default 200), PROPS_SEED (default 20261125), PROPS_OUT (a folder:
rank 0 writes the case it is running to current.txt, so a hang says where it hung).
"""

import math
import os
import pickle
import sys
import traceback

import numpy as np

from mpikernel import MPI

WORLD = MPI.COMM_WORLD
CTL = WORLD.Dup()  # orders and verdicts travel apart from the messages under test
RANK, SIZE = WORLD.Get_rank(), WORLD.Get_size()
EXAMPLES = int(os.environ.get("PROPS_EXAMPLES", "200"))
SEED = int(os.environ.get("PROPS_SEED", "20261125"))
OUT = os.environ.get("PROPS_OUT")
# MPI.TAG_UB is the attribute's key (as in mpi4py): its value is the largest tag. The key happened
# to exceed the bound on MPICH; on Open MPI the key is 0, so TAG_UB + 1 was the legal tag 1.
TAG_UB = MPI.COMM_WORLD.Get_attr(MPI.TAG_UB)
SPECIAL_RANKS = {MPI.PROC_NULL, MPI.ANY_SOURCE, getattr(MPI, "ROOT", -3)}


# ------------------------------------------------------------------------------- equality


def pickled(obj):
    """obj after a round trip through pickle itself: what a lowercase call must deliver.

    (numpy's pickle already changes some arrays: a non-contiguous or datetime array of
    non-native byte order comes back native, with the same values.)"""
    return pickle.loads(pickle.dumps(obj, protocol=5))


def same(a, b):
    """Exact equality: same types all the way down, nan == nan, -0.0 != 0.0, arrays bit for bit."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return False
        if a.dtype != b.dtype:
            return False
        if a.dtype.hasobject:
            return all(same(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
        return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


# --------------------------------------------------------------------------- the cases


def tag_of(case_no):
    return case_no % (TAG_UB + 1)  # a tag per case: a stray message cannot match a later case


def run_case(case_no, case):
    """This rank's part of `case`; returns None if all is well, else a sentence."""
    kind = case["kind"]
    try:
        return CASES[kind](case, tag_of(case_no))
    except Exception as exc:
        return f"{kind}: rank {RANK} raised {type(exc).__name__}: {exc}"


def c_sendrecv(case, tag):
    src, dst, obj = case["src"], case["dst"], case["obj"]
    if src == dst:
        if RANK == src:
            req = WORLD.isend(obj, dest=dst, tag=tag)
            got = WORLD.recv(source=src, tag=tag)
            req.wait()
            return None if same(got, pickled(obj)) else f"send/recv to self changed {describe(obj)} into {describe(got)}"
        return None
    if RANK == src:
        WORLD.send(obj, dest=dst, tag=tag)
    elif RANK == dst:
        got = WORLD.recv(source=src, tag=tag)
        return None if same(got, pickled(obj)) else f"send/recv changed {describe(obj)} into {describe(got)}"
    return None


def c_bcast(case, tag):
    obj = case["obj"] if RANK == case["root"] else None
    got = WORLD.bcast(obj, root=case["root"])
    if RANK == case["root"] and got is obj:
        return None  # the root gets its own object back, not a copy (on purpose: docs/binding.md)
    return None if same(got, pickled(case["obj"])) else f"bcast changed {case['obj']!r} into {got!r}"


def c_scatter(case, tag):
    objs = case["objs"] if RANK == case["root"] else None
    got = WORLD.scatter(objs, root=case["root"])
    return None if same(got, pickled(case["objs"][RANK])) else f"scatter gave rank {RANK} {got!r}"


def c_gather(case, tag):
    got = WORLD.gather(case["objs"][RANK], root=case["root"])
    if RANK == case["root"]:
        return None if same(got, pickled(case["objs"])) else f"gather gave {got!r}"
    return None if got is None else f"gather gave a non-root {got!r}"


def c_allgather(case, tag):
    got = WORLD.allgather(case["objs"][RANK])
    return None if same(got, pickled(case["objs"])) else f"allgather gave {got!r}"


def c_Sendrecv_buf(case, tag):
    src, dst, arr = case["src"], case["dst"], case["arr"]
    if src == dst:
        if RANK == src:
            out = np.empty_like(arr)
            req = WORLD.Isend(arr, dest=dst, tag=tag)
            WORLD.Recv(out, source=src, tag=tag)
            req.Wait()
            return None if same(out, arr) else "Send/Recv to self changed the array"
        return None
    if RANK == src:
        WORLD.Send(arr, dest=dst, tag=tag)
    elif RANK == dst:
        out = np.empty_like(arr)
        st = MPI.Status()
        WORLD.Recv(out, source=src, tag=tag, status=st)
        if st.Get_source() != src or st.Get_tag() != tag:
            return f"Recv status says source {st.Get_source()} tag {st.Get_tag()}"
        return None if same(out, arr) else f"Send/Recv changed {arr!r} into {out!r}"
    return None


def c_Bcast_buf(case, tag):
    arr = case["arr"]
    buf = arr.copy() if RANK == case["root"] else np.zeros_like(arr)
    WORLD.Bcast(buf, root=case["root"])
    return None if same(buf, arr) else f"Bcast changed {arr!r} into {buf!r}"


def row(arr, r):
    """Row r of arr as an array (arr[r] of a 1-d array would be a numpy scalar)."""
    return arr[r:r + 1].reshape(arr.shape[1:])


def c_Scatter_buf(case, tag):
    arr = case["arr"]  # shape (SIZE, ...): row r goes to rank r
    out = np.zeros_like(row(arr, 0))
    WORLD.Scatter(arr if RANK == case["root"] else None, out, root=case["root"])
    return None if same(out, row(arr, RANK)) else f"Scatter gave rank {RANK} {out!r}, not {row(arr, RANK)!r}"


def c_Gather_buf(case, tag):
    arr = case["arr"]
    mine = row(arr, RANK).copy()
    out = np.zeros_like(arr) if RANK == case["root"] else None
    WORLD.Gather(mine, out, root=case["root"])
    if RANK == case["root"]:
        return None if same(out, arr) else f"Gather gave {out!r}, not {arr!r}"
    return None


def c_bad(case, tag):
    """Every rank makes the same local mistake: it must raise, and MPI must still work after."""
    call = BAD_CALLS[case["call"]]
    try:
        call(case["value"], tag)
    except Exception as exc:
        if not str(exc).strip():
            return f"bad {case['call']}({case['value']!r}) raised {type(exc).__name__} without a message"
    else:
        return f"bad {case['call']}({case['value']!r}) did not raise"
    return None


def _buf(n=4, dtype="i4"):
    return np.zeros(n, dtype=dtype)


BAD_CALLS = {
    # out-of-range or wrongly typed peers and tags, point to point
    "send_dest": lambda v, tag: WORLD.send(1, dest=v, tag=tag),
    "send_tag": lambda v, tag: WORLD.send(1, dest=MPI.PROC_NULL, tag=v),
    "Send_dest": lambda v, tag: WORLD.Send(_buf(), dest=v, tag=tag),
    "Send_tag": lambda v, tag: WORLD.Send(_buf(), dest=RANK, tag=v),
    "Recv_source": lambda v, tag: WORLD.Recv(_buf(), source=v, tag=tag),
    "recv_source": lambda v, tag: WORLD.recv(source=v, tag=tag),
    "Isend_dest": lambda v, tag: WORLD.Isend(_buf(), dest=v, tag=tag).Wait(),
    "Irecv_tag": lambda v, tag: WORLD.Irecv(_buf(), source=RANK, tag=v).Wait(),
    # roots of collectives (every rank passes the same bad root)
    "bcast_root": lambda v, tag: WORLD.bcast(1, root=v),
    "Bcast_root": lambda v, tag: WORLD.Bcast(_buf(), root=v),
    "gather_root": lambda v, tag: WORLD.gather(1, root=v),
    "Scatter_root": lambda v, tag: WORLD.Scatter(_buf(4 * SIZE), _buf(), root=v),
    # buffers: wrong objects, negative and too large counts, bad datatypes
    "Send_buffer": lambda v, tag: WORLD.Send(_local(v), dest=MPI.PROC_NULL, tag=tag),
    "Recv_buffer": lambda v, tag: WORLD.Recv(_local(v), source=MPI.PROC_NULL, tag=tag),
    "Bcast_buffer": lambda v, tag: WORLD.Bcast(_local(v), root=0),
    "Send_count": lambda v, tag: WORLD.Send([_buf(), v, MPI.INT], dest=MPI.PROC_NULL, tag=tag),
    "Recv_count": lambda v, tag: WORLD.Recv([_buf(), v, MPI.INT], source=MPI.PROC_NULL, tag=tag),
    "Send_datatype": lambda v, tag: WORLD.Send([_buf(), 4, v], dest=MPI.PROC_NULL, tag=tag),
    # a receive buffer too small for what arrives (the message comes from this rank itself)
    "Recv_truncate": lambda v, tag: _truncate(v, tag),
}


def _truncate(short, tag):
    req = WORLD.Isend(np.arange(8, dtype="i4"), dest=RANK, tag=tag)
    try:
        WORLD.Recv(np.zeros(8 - short, dtype="i4"), source=RANK, tag=tag)
    finally:
        req.Wait()


CASES = {
    "sendrecv": c_sendrecv, "bcast": c_bcast, "scatter": c_scatter, "gather": c_gather,
    "allgather": c_allgather, "Sendrecv": c_Sendrecv_buf, "Bcast": c_Bcast_buf,
    "Scatter": c_Scatter_buf, "Gather": c_Gather_buf, "bad": c_bad,
}


# ------------------------------------------------------------------------ the followers


def follow():
    """Ranks other than 0: run each case broadcast on CTL, report, until None arrives."""
    while True:
        order = CTL.bcast(None, root=0)
        if order is None:
            return
        case_no, case = order
        CTL.gather(run_case(case_no, case), root=0)


# --------------------------------------------------------------------------- the driver


def strategies():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as npst

    ranks = st.integers(0, SIZE - 1)
    dtypes_with_buffer = st.one_of(
        npst.boolean_dtypes(),
        npst.integer_dtypes(endianness="?"),
        npst.unsigned_integer_dtypes(endianness="?"),
        npst.floating_dtypes(endianness="?"),
        npst.complex_number_dtypes(endianness="?"),
        npst.byte_string_dtypes(endianness="?", min_len=1, max_len=4),
        npst.unicode_string_dtypes(endianness="?", min_len=1, max_len=3),
        npst.array_dtypes(npst.integer_dtypes(endianness="?") | npst.floating_dtypes(), max_size=3),
    )
    all_dtypes = dtypes_with_buffer | npst.datetime64_dtypes(endianness="?") | npst.timedelta64_dtypes(endianness="?")
    shapes = npst.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)

    @st.composite
    def arrays(draw, dtypes=all_dtypes, contiguous=False):
        a = draw(npst.arrays(draw(dtypes), draw(shapes)))
        if not contiguous:
            view = draw(st.sampled_from(["as is", "T", "step", "reverse", "fortran"]))
            if view == "T":
                a = a.T
            elif view == "step" and a.ndim:
                a = a[::2]
            elif view == "reverse" and a.ndim:
                a = a[::-1]
            elif view == "fortran":
                a = np.asfortranarray(a)
        return a

    leaves = (st.none() | st.booleans() | st.integers(-(2**130), 2**130) | st.floats(allow_nan=True)
              | st.complex_numbers(allow_nan=True) | st.text(max_size=20) | st.binary(max_size=40)
              | arrays() | st.builds(bytearray, st.binary(max_size=16))
              | st.frozensets(st.integers(-5, 5), max_size=4)
              | st.integers(-100, 100).map(np.int16) | st.floats(width=32).map(np.float32)
              | st.sampled_from([MPI.DOUBLE, MPI.INT, MPI.SUM, MPI.MAXLOC]))  # travel by name
    objects = st.recursive(
        leaves,
        lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                       | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)),
        max_leaves=12,
    )
    objects = arrays() | objects  # half of the single objects are arrays (any dtype, any view)
    per_rank = st.lists(objects, min_size=SIZE, max_size=SIZE)

    def stacked(draw):
        dt = draw(dtypes_with_buffer)
        shape = draw(shapes)
        return draw(npst.arrays(dt, (SIZE,) + tuple(shape)))

    # (floats are left out: like mpi4py, the binding takes 2.0 as a rank or tag)
    bad_peer = st.sampled_from([SIZE, SIZE + 1, 10**6, -4, -100, 2**31, 2**63, "1", None, [0]])
    bad_tag = st.sampled_from([-5, -100, TAG_UB + 1, 2**31, 2**63, "x", None, b"1"])
    bad_root = st.sampled_from([SIZE, -5, 10**6, 2**40, "0", None, [0]])
    unbufferable = (npst.arrays(npst.datetime64_dtypes() | npst.timedelta64_dtypes(), shapes)
                    # non-contiguous views are made on each rank (pickling would make them contiguous)
                    | npst.arrays(dtypes_with_buffer, st.tuples(st.integers(3, 7))).map(lambda a: ("step", a))
                    | npst.arrays(dtypes_with_buffer, st.tuples(st.integers(2, 4), st.integers(3, 5))).map(
                        lambda a: ("columns", a)))  # (a.T would be Fortran-contiguous: legal)
    bad_buffer = st.sampled_from(["text", 5, 1.5, object(), [1, 2]]) | unbufferable  # None: empty, legal
    readonly = st.sampled_from([b"12345678", ("readonly", np.zeros(4, "i4"))])
    bad_count = st.sampled_from([-1, -100, 5, 100, 2**31, 2**63, "4", [4]])  # None: automatic, legal
    bad_datatype = st.sampled_from(["INT", 4, 2.5, object(), MPI.DATATYPE_NULL, MPI.SUM])  # None: automatic
    bad = st.one_of(
        st.tuples(st.sampled_from(["send_dest", "Send_dest", "Recv_source", "recv_source", "Isend_dest"]), bad_peer),
        st.tuples(st.sampled_from(["send_tag", "Send_tag", "Irecv_tag"]), bad_tag),
        st.tuples(st.sampled_from(["bcast_root", "Bcast_root", "gather_root", "Scatter_root"]), bad_root),
        st.tuples(st.sampled_from(["Send_buffer", "Recv_buffer", "Bcast_buffer"]), bad_buffer),
        st.tuples(st.just("Recv_buffer"), readonly),
        st.tuples(st.sampled_from(["Send_count", "Recv_count"]), bad_count),
        st.tuples(st.just("Send_datatype"), bad_datatype),
        st.tuples(st.just("Recv_truncate"), st.integers(1, 8)),
    ).filter(_bad_is_really_bad).map(lambda cv: {"kind": "bad", "call": cv[0], "value": cv[1]})

    kinds = [
        st.builds(lambda s, d, o: {"kind": "sendrecv", "src": s, "dst": d, "obj": o}, ranks, ranks, objects),
        st.builds(lambda r, o: {"kind": "bcast", "root": r, "obj": o}, ranks, objects),
        st.builds(lambda r, o: {"kind": "scatter", "root": r, "objs": o}, ranks, per_rank),
        st.builds(lambda r, o: {"kind": "gather", "root": r, "objs": o}, ranks, per_rank),
        st.builds(lambda o: {"kind": "allgather", "objs": o}, per_rank),
        st.builds(lambda s, d, a: {"kind": "Sendrecv", "src": s, "dst": d, "arr": a}, ranks, ranks,
                  arrays(dtypes_with_buffer, contiguous=True)),
        st.builds(lambda r, a: {"kind": "Bcast", "root": r, "arr": a}, ranks, arrays(dtypes_with_buffer, contiguous=True)),
        st.builds(lambda r, a: {"kind": "Scatter", "root": r, "arr": a}, ranks, st.composite(stacked)()),
        st.builds(lambda r, a: {"kind": "Gather", "root": r, "arr": a}, ranks, st.composite(stacked)()),
        bad,
    ]
    # each kind is its own property with its own share of the examples: drawn together, the
    # generator starved some kinds (0 Sendrecv in 80 cases once the MPI's constants changed the draw)
    return kinds


def _local(v):
    """Make on this rank what cannot travel in a pickle: views and flags of an array."""
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], np.ndarray):
        how, a = v
        if how == "step":
            return a[::2]
        if how == "columns":
            return a[:, ::2]
        a.flags.writeable = False
        return a
    return v


def _bad_is_really_bad(call_value):
    """Drop the values that are legal after all (MPI's special ranks), so every bad case is bad."""
    call, v = call_value
    if call.endswith(("_dest", "_source", "_root")) and isinstance(v, int) and not isinstance(v, bool):
        return v not in SPECIAL_RANKS and not 0 <= v < SIZE
    return True


def drive():
    from hypothesis import HealthCheck, Phase, given, settings

    counts = {}
    status = {"case_no": 0}
    kinds = strategies()
    share = -(-EXAMPLES // len(kinds))  # ceil: at least EXAMPLES cases in all

    def every_case_holds_on_every_rank(case):
        status["case_no"] += 1
        case_no = status["case_no"]
        counts[case["kind"]] = counts.get(case["kind"], 0) + 1
        for feature in array_features(case):
            counts[feature] = counts.get(feature, 0) + 1
        if OUT:
            with open(os.path.join(OUT, "current.txt"), "w") as f:
                f.write(f"case {case_no}: {short(case)}\n")
        CTL.bcast((case_no, case), root=0)
        mine = run_case(case_no, case)
        verdicts = CTL.gather(mine, root=0)
        bad = [(r, v) for r, v in enumerate(verdicts) if v is not None]
        assert not bad, f"{short(case)}: " + "; ".join(f"rank {r}: {v}" for r, v in bad)

    failed = False
    try:
        for kind in kinds:
            check = settings(max_examples=share, derandomize=True, database=None, deadline=None,
                             suppress_health_check=list(HealthCheck), print_blob=False,
                             phases=[Phase.explicit, Phase.generate, Phase.shrink])(
                given(kind)(every_case_holds_on_every_rank))
            try:
                check()
            except BaseException:
                traceback.print_exc()
                failed = True
    finally:
        CTL.bcast(None, root=0)
    print(f"PROPS cases={status['case_no']} " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())),
          flush=True)
    return failed


def array_features(obj):
    """The kinds of numpy array a case holds (reported, so a run shows what it covered)."""
    found = set()
    if isinstance(obj, np.ndarray):
        found.add("arrays")
        if obj.size == 0:
            found.add("arrays-0size")
        if not obj.flags.c_contiguous:
            found.add("arrays-noncontig")
        if any(d.byteorder == ">" for d in _leaf_dtypes(obj.dtype)):
            found.add("arrays-bigendian")
        if obj.dtype.names:
            found.add("arrays-structured")
    elif isinstance(obj, dict):
        for v in obj.values():
            found |= array_features(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            found |= array_features(v)
    return found


def _leaf_dtypes(dt):
    if dt.names:
        return [leaf for name in dt.names for leaf in _leaf_dtypes(dt.fields[name][0])]
    return [dt]


def describe(x):
    """repr, plus dtype (with byte order), shape and strides for arrays."""
    if isinstance(x, np.ndarray):
        return f"{x!r} (dtype {x.dtype.str}, shape {x.shape}, strides {x.strides})"
    return repr(x)


def short(case, limit=400):
    text = repr(case)
    return text if len(text) <= limit else text[:limit] + "…"


if __name__ == "__main__":
    if RANK == 0:
        failed = drive()
    else:
        follow()
        failed = False
    WORLD.Barrier()  # MPI still works after every mistake the cases made
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
