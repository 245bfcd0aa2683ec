"""Process topologies and the neighbour collectives: Cartcomm (Get_topo, Shift, Sub, ranks and
coordinates), Compute_dims, Graphcomm, Distgraphcomm (adjacent and general), Topocomm's
degrees and edges, Neighbor_allgather(v) / Neighbor_alltoall(v/w) blocking and nonblocking,
lowercase neighbor_allgather / neighbor_alltoall; the same values and exceptions as mpi4py.
Works on any number of ranks."""

from harness import MPI, RANK, SIZE, check, done, np, raises

W = MPI.COMM_WORLD
right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE

check("Compute_dims(size, 2)", lambda: MPI.Compute_dims(SIZE, 2))
check("Compute_dims(12, [0, 0, 0])", lambda: MPI.Compute_dims(12, [0, 0, 0]), [3, 2, 2])

ring = W.Create_cart([SIZE], periods=[True])
line = W.Create_cart([SIZE], periods=False)
grid = W.Create_cart(MPI.Compute_dims(SIZE, 2), periods=[True, False])
check("ring topo", lambda: (ring.topo, ring.dims, ring.periods, ring.coords, ring.ndim))
check("grid topo", lambda: grid.Get_topo())
check("ring Shift", lambda: ring.Shift(0, 1), (left, right))
check("line Shift", lambda: line.Shift(0, 1))
check("grid Shift both axes", lambda: [grid.Shift(d, 1) for d in range(2)])
check("Get_coords/Get_cart_rank", lambda: [grid.Get_cart_rank(grid.Get_coords(r))
                                           for r in range(SIZE)], list(range(SIZE)))
check("grid Sub rows", lambda: (lambda s: (s.Get_size(), s.dims, type(s).__name__))(
    grid.Sub([False, True])))
check("Cartcomm kind", lambda: (ring.topology == MPI.CART, ring.is_topo, ring.degrees,
                                ring.inoutedges))
check("line edges", lambda: line.inoutedges)
check("Cart_map", lambda: W.Cart_map([SIZE], [True]))

index = [2 * (i + 1) for i in range(SIZE)]
edges = [x for i in range(SIZE) for x in ((i - 1) % SIZE, (i + 1) % SIZE)]
graph = W.Create_graph(index, edges)
check("graph topo", lambda: (graph.topo, graph.dims, graph.nnodes, graph.nedges))
check("graph neighbours", lambda: (graph.neighbors, graph.nneighbors, graph.Get_neighbors(0),
                                   graph.Get_neighbors_count(SIZE - 1)))
check("graph with a leading 0", lambda: W.Create_graph([0] + index, edges).Get_topo())
check("Graph_map", lambda: W.Graph_map(index, edges))

adj = W.Create_dist_graph_adjacent([left], [right], [1], [2])
check("dist graph adjacent", lambda: (adj.Get_dist_neighbors_count(), adj.Get_dist_neighbors(),
                                      adj.degrees, adj.inedges, adj.outedges))
unweighted = W.Create_dist_graph_adjacent([left, right], [right, left])
check("dist graph unweighted", lambda: unweighted.Get_dist_neighbors())
general = W.Create_dist_graph([RANK], [1], [right], [5])
check("dist graph general", lambda: (general.Get_dist_neighbors_count(),
                                     sorted(general.Get_dist_neighbors()[0])))
empty = W.Create_dist_graph_adjacent([], [], MPI.WEIGHTS_EMPTY, MPI.WEIGHTS_EMPTY)
check("dist graph empty", lambda: empty.Get_dist_neighbors_count())
check("Get_topology kinds", lambda: [c.Get_topology() == k for c, k in
                                     ((graph, MPI.GRAPH), (adj, MPI.DIST_GRAPH),
                                      (W, MPI.UNDEFINED))])


# -- neighbour collectives -------------------------------------------------------------------------
def allgather(comm, nonblocking=False):
    indeg = comm.degrees[0]
    got = np.full(indeg * 2, -1.0)
    call = comm.Ineighbor_allgather if nonblocking else comm.Neighbor_allgather
    req = call(np.array([RANK, RANK + 0.5]), got)
    if nonblocking:
        req.Wait()
    return got


def alltoall(comm, nonblocking=False):
    indeg, outdeg = comm.degrees
    send = np.array([100 * RANK + i for i in range(outdeg)], dtype="i")
    got = np.full(indeg, -1, dtype="i")
    call = comm.Ineighbor_alltoall if nonblocking else comm.Neighbor_alltoall
    req = call(send, got)
    if nonblocking:
        req.Wait()
    return got


for name, comm in (("ring", ring), ("line", line), ("grid", grid), ("graph", graph),
                   ("adjacent", adj), ("general", general)):
    check(f"{name} Neighbor_allgather", lambda c=comm: allgather(c))
    check(f"{name} Ineighbor_allgather", lambda c=comm: allgather(c, True))
    check(f"{name} Neighbor_alltoall", lambda c=comm: alltoall(c))
    check(f"{name} Ineighbor_alltoall", lambda c=comm: alltoall(c, True))
    check(f"{name} neighbor_allgather", lambda c=comm: c.neighbor_allgather({"from": RANK}))
    check(f"{name} neighbor_alltoall", lambda c=comm: c.neighbor_alltoall(
        [(RANK, i) for i in range(c.degrees[1])]))


def allgatherv(comm):
    indeg = comm.degrees[0]
    got = np.full(indeg, -1, dtype="i")
    comm.Neighbor_allgatherv(np.array([RANK], dtype="i"),
                             [got, [1] * indeg, list(range(indeg)), MPI.INT])
    return got


def alltoallv(comm):
    indeg, outdeg = comm.degrees
    send = np.arange(2 * outdeg, dtype="d") + 10 * RANK
    got = np.full(2 * indeg, -1.0)
    comm.Neighbor_alltoallv([send, [2] * outdeg, [2 * i for i in range(outdeg)], MPI.DOUBLE],
                            [got, [2] * indeg, [2 * i for i in range(indeg)], MPI.DOUBLE])
    return got


def alltoallw(comm):
    indeg, outdeg = comm.degrees
    send = np.arange(outdeg, dtype="i") + 10 * RANK
    got = np.full(indeg, -1, dtype="i")
    comm.Neighbor_alltoallw([send, [1] * outdeg, [4 * i for i in range(outdeg)],
                             [MPI.INT] * outdeg],
                            [got, [1] * indeg, [4 * i for i in range(indeg)], [MPI.INT] * indeg])
    return got


for name, comm in (("ring", ring), ("adjacent", adj), ("graph", graph)):
    check(f"{name} Neighbor_allgatherv", lambda c=comm: allgatherv(c))
    check(f"{name} Neighbor_alltoallv", lambda c=comm: alltoallv(c))
    check(f"{name} Neighbor_alltoallw", lambda c=comm: alltoallw(c))

# -- bad input ------------------------------------------------------------------------------------
raises("Compute_dims impossible dims", lambda: MPI.Compute_dims(SIZE, [SIZE + 1]))
raises("Compute_dims negative nnodes", lambda: MPI.Compute_dims(-1, 2))
raises("Compute_dims negative ndims", lambda: MPI.Compute_dims(SIZE, -1))
raises("Create_cart bad dims", lambda: W.Create_cart([SIZE + 1]))
raises("Get_coords rank outside", lambda: ring.Get_coords(SIZE))
raises("Get_cart_rank too many coords", lambda: ring.Get_cart_rank([0, 0]))
raises("Sub wrong length", lambda: grid.Sub([True]))
raises("Get_neighbors rank outside", lambda: graph.Get_neighbors(SIZE))
raises("Create_graph too many nodes", lambda: W.Create_graph([1] * (SIZE + 1),
                                                             [0] * (SIZE + 1)))
raises("dist graph WEIGHTS_EMPTY with edges", lambda: W.Create_dist_graph_adjacent(
    [left], [right], MPI.WEIGHTS_EMPTY, MPI.WEIGHTS_EMPTY))
raises("Cartcomm of a plain comm", lambda: MPI.Cartcomm(W))
raises("Neighbor_allgather recvbuf too small", lambda: ring.Neighbor_allgather(
    np.zeros(2), np.zeros(1)))
done()
