/* Ping-pong between ranks 0 and 1 with MPI_Send/MPI_Recv: the C anchor for the binding.
 *
 * usage: pingpong REPS WARMUP NBYTES:ITERS [NBYTES:ITERS ...]
 * For each size, rank 0 prints one line
 *   BENCH {"case": "pingpong", "nbytes": N, "unit": "s", "samples": [...]}
 * where each sample is the one-way time (round trip / 2) averaged over ITERS round trips.
 * A first line {"case": "_info", ...} names the MPI library actually loaded, so the harness can
 * check that C, mpi4py and mpikernel ran on the same libmpi.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') { putchar('\\'); putchar(*s); }
        else if (*s == '\n') fputs("\\n", stdout);
        else if (*s == '\t') fputs("\\t", stdout);
        else if ((unsigned char)*s >= 0x20) putchar(*s);
    }
    putchar('"');
}

/* The path of the libmpi mapped into this process (from /proc/self/maps), or "". */
static void loaded_libmpi(char *out, size_t len)
{
    char line[4096];
    FILE *f = fopen("/proc/self/maps", "r");
    out[0] = '\0';
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *p = strchr(line, '/');
        if (p && strstr(p, "/libmpi")) {
            p[strcspn(p, "\n")] = '\0';
            strncpy(out, p, len - 1);
            out[len - 1] = '\0';
            break;
        }
    }
    fclose(f);
}

static double one_way(char *buf, int nbytes, int iters, int rank)
{
    double t0;
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
    int rank, size, reps, warmup;
    int thread_level = init_thread_level(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 4 || size < 2) {
        if (rank == 0) fprintf(stderr, "usage: mpiexec -n 2 %s REPS WARMUP NBYTES:ITERS ...\n", argv[0]);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    reps = atoi(argv[1]);
    warmup = atoi(argv[2]);
    if (rank == 0) {
        char version[MPI_MAX_LIBRARY_VERSION_STRING], path[4096];
        int vlen;
        MPI_Get_library_version(version, &vlen);
        loaded_libmpi(path, sizeof path);
        printf("BENCH {\"case\": \"_info\", \"impl\": \"c\", \"library_version\": ");
        print_json_string(version);
        printf(", \"libmpi\": [");
        print_json_string(path);
        printf("], \"thread_level\": %d}\n", thread_level);
        fflush(stdout);
    }
    for (int a = 3; a < argc; a++) {
        long nbytes = 0;
        int iters = 0;
        if (sscanf(argv[a], "%ld:%d", &nbytes, &iters) != 2 || nbytes < 0 || iters < 1) {
            if (rank == 0) fprintf(stderr, "bad NBYTES:ITERS argument %s\n", argv[a]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        char *buf = malloc(nbytes > 0 ? nbytes : 1);
        memset(buf, 1, nbytes > 0 ? nbytes : 1);
        one_way(buf, (int)nbytes, warmup > 0 ? warmup : 1, rank);
        if (rank == 0) printf("BENCH {\"case\": \"pingpong\", \"nbytes\": %ld, \"unit\": \"s\", \"samples\": [", nbytes);
        for (int r = 0; r < reps; r++) {
            double t = one_way(buf, (int)nbytes, iters, rank);
            if (rank == 0) printf("%s%.9e", r ? ", " : "", t);
        }
        if (rank == 0) { printf("]}\n"); fflush(stdout); }
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
