"""The MPI world and its environment: ranks, constants, datatypes, ops, communicator management,
Cartesian topologies, timers and version queries. Works on any number of ranks."""

import os
import socket
import time

from harness import MPI, RANK, SIZE, check, done, info, value

W = MPI.COMM_WORLD
S = MPI.COMM_SELF


def _prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def _separate(other):
    """A message on `other` must not match a receive on the world, and vice versa."""
    right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    r1 = W.isend(("world", RANK), dest=right, tag=3)
    r2 = other.isend(("other", RANK), dest=right, tag=3)
    got_other = other.recv(source=left, tag=3)
    got_world = W.recv(source=left, tag=3)
    r1.wait()
    r2.wait()
    assert got_other[0] == "other" and got_world[0] == "world", (got_other, got_world)
    return [(got_other[1] + 1) % SIZE, (got_world[1] + 1) % SIZE]


def _dup_free(c):
    d = c.Dup()
    try:
        return (d.rank, d.size)
    finally:
        d.Free()


def _dup_type(c):
    d = c.Dup()
    try:
        return type(d).__name__
    finally:
        d.Free()


# -- who am I: the launcher tells each rank its place independently of MPI ---------------------
launcher_rank = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "-1")))
launcher_size = int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "-1")))
value("world.Get_rank", W.Get_rank(), launcher_rank)
value("world.Get_size", W.Get_size(), launcher_size)
value("world.rank", W.rank, launcher_rank)
value("world.size", W.size, launcher_size)
value("world.size==BINDTEST_N", W.size, int(os.environ["BINDTEST_N"]))
value("self.Get_rank", S.Get_rank(), 0)
value("self.Get_size", S.Get_size(), 1)
value("self.rank/size", (S.rank, S.size), (0, 1))
check("self.allreduce", lambda: S.allreduce(RANK + 5), RANK + 5)
check("self.bcast", lambda: S.bcast({"r": RANK}, root=0), {"r": RANK})
check("self.gather", lambda: S.gather(RANK, root=0), [RANK])
check("world is COMM_WORLD", lambda: MPI.COMM_WORLD is W, True)
check("world == COMM_WORLD", lambda: W == MPI.COMM_WORLD, True)
check("world != COMM_SELF", lambda: W != S, True)
check("world type", lambda: type(W).__name__, "Intracomm")
check("world isinstance Comm", lambda: isinstance(W, MPI.Comm) and isinstance(W, MPI.Intracomm), True)
check("self type", lambda: type(S).__name__, "Intracomm")

# -- constants, datatypes and ops exist with MPI's values ----------------------------------------
for name in ["ANY_SOURCE", "ANY_TAG", "PROC_NULL", "UNDEFINED", "ROOT", "TAG_UB", "SUCCESS",
             "ERR_RANK", "ERR_TAG", "ERR_COMM", "ERR_TRUNCATE", "ERR_ROOT", "ERR_COUNT",
             "ERR_BUFFER", "ERR_TYPE", "ERR_OP", "ERR_ARG", "ERR_OTHER", "ERR_INTERN",
             "IDENT", "CONGRUENT", "SIMILAR", "UNEQUAL", "THREAD_MULTIPLE", "THREAD_SINGLE",
             "MAX_PROCESSOR_NAME", "MAX_ERROR_STRING"]:
    check(f"const.{name}", lambda name=name: getattr(MPI, name))
check("IN_PLACE exists", lambda: MPI.IN_PLACE is not None, True)
check("BOTTOM exists", lambda: MPI.BOTTOM is not None, True)
check("COMM_NULL exists", lambda: MPI.COMM_NULL is not None and MPI.COMM_NULL != W, True)
check("REQUEST_NULL exists", lambda: MPI.REQUEST_NULL is not None, True)
check("tag upper bound", lambda: W.Get_attr(MPI.TAG_UB) >= 32767, True)

for name in ["BYTE", "CHAR", "SIGNED_CHAR", "UNSIGNED_CHAR", "SHORT", "UNSIGNED_SHORT", "INT",
             "UNSIGNED", "LONG", "UNSIGNED_LONG", "LONG_LONG", "UNSIGNED_LONG_LONG", "FLOAT",
             "DOUBLE", "LONG_DOUBLE", "C_BOOL", "BOOL", "INT8_T", "INT16_T", "INT32_T",
             "INT64_T", "UINT8_T", "UINT16_T", "UINT32_T", "UINT64_T", "C_FLOAT_COMPLEX",
             "C_DOUBLE_COMPLEX", "COMPLEX", "DOUBLE_COMPLEX", "WCHAR", "AINT", "OFFSET", "COUNT",
             "FLOAT_INT", "DOUBLE_INT", "LONG_INT", "SHORT_INT", "TWOINT", "LONG_DOUBLE_INT",
             "PACKED"]:
    check(f"datatype.{name}.Get_size", lambda name=name: getattr(MPI, name).Get_size())
check("datatype.DOUBLE.size", lambda: MPI.DOUBLE.size, 8)
check("datatype.DOUBLE.Get_extent", lambda: MPI.DOUBLE.Get_extent(), (0, 8))
check("datatype type", lambda: type(MPI.DOUBLE).__name__, "Datatype")

for name in ["SUM", "PROD", "MAX", "MIN", "LAND", "LOR", "LXOR", "BAND", "BOR", "BXOR",
             "MAXLOC", "MINLOC", "REPLACE", "NO_OP"]:
    check(f"op.{name}", lambda name=name: type(getattr(MPI, name)).__name__, "Op")
check("op.SUM.Is_commutative", lambda: MPI.SUM.Is_commutative(), True)

# -- environment -----------------------------------------------------------------------------------
check("Is_initialized", MPI.Is_initialized, True)
check("Is_finalized", MPI.Is_finalized, False)
check("Query_thread >= THREAD_SINGLE", lambda: MPI.Query_thread() >= MPI.THREAD_SINGLE, True)
t1 = MPI.Wtime()
time.sleep(0.05)
t2 = MPI.Wtime()
value("Wtime is float", type(t1).__name__, "float")
value("Wtime advances ~50 ms", 0.04 < t2 - t1 < 2.0, True)
info("Wtime elapsed", t2 - t1)
check("Wtick positive and small", lambda: 0.0 < MPI.Wtick() < 0.01, True)
check("Get_processor_name", MPI.Get_processor_name)
check("Get_processor_name nonempty str", lambda: isinstance(MPI.Get_processor_name(), str)
      and len(MPI.Get_processor_name()) > 0, True)
info("hostname", socket.gethostname())
check("Get_version", MPI.Get_version)
check("Get_version shape", lambda: [type(v).__name__ for v in MPI.Get_version()], ["int", "int"])
check("Get_library_version", MPI.Get_library_version)
info("library version", MPI.Get_library_version())
check("Get_error_string(ERR_RANK)", lambda: MPI.Get_error_string(MPI.ERR_RANK))
check("Get_error_class(ERR_TAG)", lambda: MPI.Get_error_class(MPI.ERR_TAG), MPI.ERR_TAG)

# -- Compute_dims -----------------------------------------------------------------------------------
check("Compute_dims(size,2)", lambda: MPI.Compute_dims(SIZE, 2))
check("Compute_dims(12,3)", lambda: MPI.Compute_dims(12, 3), [3, 2, 2])
check("Compute_dims(12,[0,3,0])", lambda: MPI.Compute_dims(12, [0, 3, 0]), [2, 3, 2])
check("Compute_dims(7,2)", lambda: MPI.Compute_dims(7, 2), [7, 1])
check("Compute_dims product", lambda: _prod(MPI.Compute_dims(SIZE, 3)), SIZE)


# -- Split / Dup / Clone / Free -------------------------------------------------------------------
color = RANK % 2
same = [r for r in range(SIZE) if r % 2 == color]
sub = W.Split(color, key=-RANK)  # key reverses the order inside each colour
value("Split type", type(sub).__name__, "Intracomm")
value("Split rank", sub.Get_rank(), sorted(same, reverse=True).index(RANK))
value("Split size", sub.Get_size(), len(same))
check("Split allreduce", lambda: sub.allreduce(RANK), sum(same))
check("Split Compare", lambda: W.Compare(sub) == MPI.UNEQUAL if SIZE > 1 else True, True)
check("Split Free", lambda: sub.Free())
check("Split freed is COMM_NULL", lambda: sub == MPI.COMM_NULL, True)

maybe = W.Split(MPI.UNDEFINED if RANK % 2 else 0, RANK)
value("Split UNDEFINED gives COMM_NULL", maybe == MPI.COMM_NULL, bool(RANK % 2))
if maybe != MPI.COMM_NULL:
    check("Split even-only size", lambda: maybe.Get_size(), (SIZE + 1) // 2)
    maybe.Free()

dup = W.Dup()
value("Dup type", type(dup).__name__, "Intracomm")
value("Dup rank/size", (dup.rank, dup.size), (RANK, SIZE))
value("Dup is a new communicator", dup == W, False)
check("Dup Compare is CONGRUENT", lambda: W.Compare(dup) == MPI.CONGRUENT, True)
check("Dup allreduce", lambda: dup.allreduce(1), SIZE)
check("Dup traffic is separate from world", lambda: _separate(dup), [RANK, RANK])
check("Dup Free", lambda: dup.Free())
check("Dup freed is COMM_NULL", lambda: dup == MPI.COMM_NULL, True)


clone = W.Clone()
value("Clone type", type(clone).__name__, "Intracomm")
value("Clone rank/size", (clone.rank, clone.size), (RANK, SIZE))
check("Clone bcast", lambda: clone.bcast("from root" if RANK == 0 else None, root=0), "from root")
check("Clone Free", lambda: clone.Free())
check("self Dup", lambda: _dup_free(S), (0, 1))


# -- Cartesian topology -----------------------------------------------------------------------------
dims = MPI.Compute_dims(SIZE, 2)
cart = W.Create_cart(dims, periods=[True, False], reorder=False)
value("Cart type", type(cart).__name__, "Cartcomm")
value("Cart isinstance", isinstance(cart, MPI.Cartcomm) and isinstance(cart, MPI.Intracomm), True)
row, col = RANK // dims[1], RANK % dims[1]


def at(r, c):
    return r * dims[1] + c


value("Cart rank", cart.Get_rank(), RANK)  # reorder=False keeps ranks
check("Cart Get_coords", lambda: cart.Get_coords(RANK), [row, col])
check("Cart Get_coords other", lambda: cart.Get_coords(SIZE - 1),
      [(SIZE - 1) // dims[1], (SIZE - 1) % dims[1]])
check("Cart Get_cart_rank", lambda: cart.Get_cart_rank([row, col]), RANK)
check("Cart dims/periods/coords", lambda: (cart.dims, cart.periods, cart.coords))
check("Cart ndim", lambda: cart.ndim, 2)
check("Cart Get_topo", lambda: cart.Get_topo())


check("Cart Shift periodic dim", lambda: cart.Shift(0, 1),
      (at((row - 1) % dims[0], col), at((row + 1) % dims[0], col)))
check("Cart Shift open dim", lambda: cart.Shift(1, 1), (
    at(row, col - 1) if col > 0 else MPI.PROC_NULL,
    at(row, col + 1) if col < dims[1] - 1 else MPI.PROC_NULL))
check("Cart Shift by 2", lambda: cart.Shift(0, 2),
      (at((row - 2) % dims[0], col), at((row + 2) % dims[0], col)))
src, dest = cart.Shift(1, 1)
check("Cart halo sendrecv (PROC_NULL at edges)",
      lambda: cart.sendrecv(RANK, dest=dest, source=src),
      None if src == MPI.PROC_NULL else src)
check("Cart Free", lambda: cart.Free())

ring = W.Create_cart([SIZE], periods=[True])
left, right = ring.Shift(0, 1)
value("ring Shift", (left, right), ((RANK - 1) % SIZE, (RANK + 1) % SIZE))
check("ring sendrecv", lambda: ring.sendrecv(("r", RANK), dest=right, source=left), ("r", left))
check("ring Dup type", lambda: _dup_type(ring), "Cartcomm")
ring.Free()


# -- Barrier ------------------------------------------------------------------------------------------
check("barrier", W.barrier, None)
check("Barrier", W.Barrier, None)
check("world still works", lambda: W.allreduce(1), SIZE)
done()
