/* The C anchors as a shared library, for the interleaved mode (benchmarks/interleaved_prog.py).
 *
 * The same loops as pingpong.c and collectives.c, callable through ctypes from a process that
 * also runs the mpi4py and mpikernel versions, so C, mpi4py and mpikernel samples alternate
 * within one run of the ranks and a busy machine slows all three alike. Each function returns
 * the time per operation on the calling rank (rank 0's value is the one reported).
 */
#include <mpi.h>

/* One-way time of `iters` MPI_Send/MPI_Recv round trips between ranks 0 and 1. */
double bench_pingpong(void *buf, int nbytes, int iters)
{
    int rank;
    double t0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    for (int i = 0; i < iters; i++) {
        if (rank == 0) {
            MPI_Send(buf, nbytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, nbytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(buf, nbytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, nbytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
        }
    }
    return (MPI_Wtime() - t0) / (2.0 * iters);
}

/* Time per MPI_Allreduce of one int (sum); -1 if the sum is wrong. */
double bench_allreduce_int(int iters)
{
    int one = 1, total = 0, size;
    double t0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    for (int i = 0; i < iters; i++)
        MPI_Allreduce(&one, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    t0 = (MPI_Wtime() - t0) / iters;
    return total == size ? t0 : -1.0;
}

/* Time per MPI_Bcast of nbytes from rank 0 (the loop ends with a barrier, like the Python one). */
double bench_bcast(void *buf, int nbytes, int iters)
{
    double t0;
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    for (int i = 0; i < iters; i++)
        MPI_Bcast(buf, nbytes, MPI_BYTE, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    return (MPI_Wtime() - t0) / iters;
}
