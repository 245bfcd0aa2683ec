/* allreduce of one int and bcast of a large buffer: the C context for the 4-rank rows.
 *
 * usage: collectives REPS WARMUP ALLREDUCE_ITERS BCAST_BYTES BCAST_ITERS
 * Rank 0 prints BENCH {"case": "allreduce_int", ...} and BENCH {"case": "bcast_dict", ...} lines
 * with the time per call (s), measured like benchmarks/binding_prog.py does for Python.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MPI_Init_thread at the level named by $BENCH_THREAD_LEVEL (single, funneled, serialized,
 * multiple; default single = what plain MPI_Init gives). The Python bindings both ask for
 * multiple, and with MPICH the level changes how a waiting rank polls (see docs/benchmarks.md). */
static int init_thread_level(int *argc, char ***argv)
{
    const char *name = getenv("BENCH_THREAD_LEVEL");
    int required = MPI_THREAD_SINGLE, provided;
    if (name && strcmp(name, "funneled") == 0) required = MPI_THREAD_FUNNELED;
    else if (name && strcmp(name, "serialized") == 0) required = MPI_THREAD_SERIALIZED;
    else if (name && strcmp(name, "multiple") == 0) required = MPI_THREAD_MULTIPLE;
    MPI_Init_thread(argc, argv, required, &provided);
    return provided;
}

int main(int argc, char **argv)
{
    int rank, size, reps, warmup, ar_iters, bc_iters;
    long bc_bytes;
    int thread_level = init_thread_level(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc != 6) {
        if (rank == 0) fprintf(stderr, "usage: %s REPS WARMUP ALLREDUCE_ITERS BCAST_BYTES BCAST_ITERS\n", argv[0]);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    reps = atoi(argv[1]);
    warmup = atoi(argv[2]);
    ar_iters = atoi(argv[3]);
    bc_bytes = atol(argv[4]);
    bc_iters = atoi(argv[5]);

    int one = 1, total = 0;
    for (int i = 0; i < warmup; i++)
        MPI_Allreduce(&one, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("BENCH {\"case\": \"allreduce_int\", \"unit\": \"s\", \"ranks\": %d, \"thread_level\": %d, \"samples\": [", size, thread_level);
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int i = 0; i < ar_iters; i++)
            MPI_Allreduce(&one, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0) printf("%s%.9e", r ? ", " : "", (MPI_Wtime() - t0) / ar_iters);
    }
    if (rank == 0) { printf("]}\n"); fflush(stdout); }
    if (total != size) MPI_Abort(MPI_COMM_WORLD, 3);

    char *buf = malloc(bc_bytes);
    memset(buf, rank == 0 ? 7 : 0, bc_bytes);
    MPI_Bcast(buf, (int)bc_bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank == 0) printf("BENCH {\"case\": \"bcast_dict\", \"unit\": \"s\", \"ranks\": %d, \"nbytes\": %ld, \"samples\": [", size, bc_bytes);
    for (int r = 0; r < reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int i = 0; i < bc_iters; i++)
            MPI_Bcast(buf, (int)bc_bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) printf("%s%.9e", r ? ", " : "", (MPI_Wtime() - t0) / bc_iters);
    }
    if (rank == 0) { printf("]}\n"); fflush(stdout); }
    if (buf[bc_bytes - 1] != 7) MPI_Abort(MPI_COMM_WORLD, 4);
    free(buf);
    MPI_Finalize();
    return 0;
}
