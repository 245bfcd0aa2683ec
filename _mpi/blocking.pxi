# Calls MPI has no nonblocking form for (Win.Lock, Win.Fence, File.Open, Comm.Spawn, ...) still
# wait in the one wait loop: the call runs on a helper thread ("the runner") while the calling
# thread polls for its end with wait_until, so Ctrl-C interrupts it and a long wait burns little
# CPU. The runner is a persistent thread that spins briefly after each call, so a loop of
# Lock/Put/Unlock hands over in well under a microsecond; a call that an interrupt abandoned
# keeps its runner (MPI gives no way to leave a blocked call), and the next call gets a new one.
# Needs MPI_THREAD_MULTIPLE (the default level): below it, the calls are made in place.

cdef extern from *:
    """
    #include <pthread.h>
    #include <stdlib.h>
    #include <sched.h>
    #include <time.h>
    typedef int (*mpik_call_fn)(void *ctx);
    enum { MPIK_JOB_QUEUED = 0, MPIK_JOB_DONE = 2, MPIK_JOB_ABANDONED = 3 };
    typedef struct {
        mpik_call_fn fn;
        int ierr;
        int state;                 /* atomic: QUEUED, DONE, ABANDONED */
        size_t size;
        double ctx[];              /* the call's arguments and results (aligned) */
    } mpik_job;

    static pthread_mutex_t mpik_mu = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t mpik_cv = PTHREAD_COND_INITIALIZER;
    static mpik_job *mpik_slot = NULL;        /* the next job (atomic), taken by an idle runner */
    static int mpik_idle = 0;                 /* runners free for a job (under mpik_mu) */
    static int mpik_sleeping = 0;             /* of those, waiting on mpik_cv (under mpik_mu) */

    static double mpik_clock(void) {
        struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec * 1e-9;
    }

    static mpik_job *mpik_take_spinning(double seconds) {
        double t0 = mpik_clock();
        unsigned n = 0;
        for (;;) {
            mpik_job *job = __atomic_exchange_n(&mpik_slot, NULL, __ATOMIC_ACQ_REL);
            if (job) return job;
            if ((++n & 63) == 0) {
                if (mpik_clock() - t0 > seconds) return NULL;
                sched_yield();
            }
        }
    }

    static void *mpik_runner(void *unused) {
        (void)unused;
        for (;;) {
            mpik_job *job = mpik_take_spinning(200e-6);
            if (!job) {
                pthread_mutex_lock(&mpik_mu);
                for (;;) {
                    job = __atomic_exchange_n(&mpik_slot, NULL, __ATOMIC_ACQ_REL);
                    if (job) break;
                    mpik_sleeping++;
                    pthread_cond_wait(&mpik_cv, &mpik_mu);
                    mpik_sleeping--;
                }
                mpik_idle--;
                pthread_mutex_unlock(&mpik_mu);
            } else {
                pthread_mutex_lock(&mpik_mu);
                mpik_idle--;
                pthread_mutex_unlock(&mpik_mu);
            }
            job->ierr = job->fn(job->ctx);
            pthread_mutex_lock(&mpik_mu);
            mpik_idle++;
            pthread_mutex_unlock(&mpik_mu);
            if (__atomic_exchange_n(&job->state, MPIK_JOB_DONE, __ATOMIC_ACQ_REL)
                    == MPIK_JOB_ABANDONED)
                free(job);
        }
        return NULL;
    }

    /* Hand a job to an idle runner (starting one if none is idle): 0, or -1 (no thread). */
    static int mpik_submit(mpik_job *job) {
        pthread_t t;
        pthread_attr_t attr;
        int rc = 0;
        pthread_mutex_lock(&mpik_mu);
        if (mpik_idle == 0) {
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &attr, mpik_runner, NULL) != 0) rc = -1;
            else mpik_idle++;
            pthread_attr_destroy(&attr);
        }
        if (rc == 0) {
            __atomic_store_n(&mpik_slot, job, __ATOMIC_RELEASE);
            if (mpik_sleeping) pthread_cond_signal(&mpik_cv);
        }
        pthread_mutex_unlock(&mpik_mu);
        return rc;
    }

    /* After an interrupt: a job no runner took yet is withdrawn (1: the caller frees it);
       a running one is left to its runner, which frees it when the call returns (0). */
    static int mpik_abandon(mpik_job *job) {
        mpik_job *expected = job;
        if (__atomic_compare_exchange_n(&mpik_slot, &expected, NULL, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
        return __atomic_exchange_n(&job->state, MPIK_JOB_ABANDONED, __ATOMIC_ACQ_REL)
               == MPIK_JOB_DONE;
    }

    static int mpik_job_done(mpik_job *job) {
        return __atomic_load_n(&job->state, __ATOMIC_ACQUIRE) == MPIK_JOB_DONE;
    }
    """
    ctypedef int (*mpik_call_fn)(void *ctx) noexcept nogil
    ctypedef struct mpik_job:
        mpik_call_fn fn
        int ierr
        int state
        size_t size
        double ctx[1]
    int mpik_submit(mpik_job *job) nogil
    int mpik_abandon(mpik_job *job) nogil
    int mpik_job_done(mpik_job *job) nogil
    enum: MPIK_JOB_QUEUED


cdef int _poll_job(void *ctx, int *done) noexcept nogil:
    done[0] = mpik_job_done(<mpik_job *>ctx)
    return MPI_SUCCESS


cdef int _threads_ok() noexcept:
    cdef int provided = MPI_THREAD_SINGLE
    MPI_Query_thread(&provided)
    return provided == MPI_THREAD_MULTIPLE


cdef int run_blocking(mpik_call_fn fn, void *args, size_t size, const char *call, int peer,
                      object comm) except -1:
    """Run fn(args) - a blocking MPI call on a struct of arguments and results of `size`
    bytes - on the runner, and wait for it in the wait loop. Returns when it did (its results
    copied back into args) or raises: its MPI error, or KeyboardInterrupt, after which the
    call is abandoned (it may still complete later, into the runner's copy, never into args).
    """
    global _interrupt_count
    cdef int ierr
    cdef mpik_job *job
    if not _threads_ok():
        with nogil:
            ierr = fn(args)
        return CHKERR(ierr)
    job = <mpik_job *>malloc(sizeof(mpik_job) + size)
    if job == NULL:
        raise MemoryError()
    job.fn = fn
    job.ierr = MPI_SUCCESS
    job.state = MPIK_JOB_QUEUED
    job.size = size
    memcpy(<void *>job.ctx, args, size)
    if mpik_submit(job) != 0:
        free(job)
        with nogil:
            ierr = fn(args)
        return CHKERR(ierr)
    try:
        wait_until(_poll_job, job, call, peer, 0, 0, comm)
    except BaseException:
        if mpik_abandon(job):
            free(job)
        _interrupt_count += 1
        raise
    memcpy(args, <void *>job.ctx, size)
    ierr = job.ierr
    free(job)
    return CHKERR(ierr)
