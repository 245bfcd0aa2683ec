# The part of the MPI C API that mpikernel.MPI uses (MPI >= 3.1), declared once.

cdef extern from "mpi.h" nogil:
    ctypedef struct _mpi_comm_t
    ctypedef struct _mpi_datatype_t
    ctypedef struct _mpi_op_t
    ctypedef struct _mpi_request_t
    ctypedef struct _mpi_errhandler_t
    ctypedef struct _mpi_message_t
    ctypedef struct _mpi_group_t

    # Handles are opaque: ints in MPICH, pointers in Open MPI. Declaring them as pointers to an
    # incomplete struct lets Cython pass them around without knowing which.
    ctypedef _mpi_comm_t* MPI_Comm
    ctypedef _mpi_datatype_t* MPI_Datatype
    ctypedef _mpi_op_t* MPI_Op
    ctypedef _mpi_request_t* MPI_Request
    ctypedef _mpi_errhandler_t* MPI_Errhandler
    ctypedef _mpi_message_t* MPI_Message
    ctypedef _mpi_group_t* MPI_Group
    ctypedef long MPI_Aint
    ctypedef long long MPI_Count

    ctypedef struct MPI_Status:
        int MPI_SOURCE
        int MPI_TAG
        int MPI_ERROR

    enum: MPI_VERSION
    enum: MPI_SUBVERSION
    enum: MPI_MAX_PROCESSOR_NAME
    enum: MPI_MAX_ERROR_STRING
    enum: MPI_MAX_LIBRARY_VERSION_STRING
    enum: MPI_MAX_OBJECT_NAME

    enum: MPI_SUCCESS
    enum: MPI_ERR_BUFFER
    enum: MPI_ERR_COUNT
    enum: MPI_ERR_TYPE
    enum: MPI_ERR_TAG
    enum: MPI_ERR_COMM
    enum: MPI_ERR_RANK
    enum: MPI_ERR_REQUEST
    enum: MPI_ERR_ROOT
    enum: MPI_ERR_GROUP
    enum: MPI_ERR_OP
    enum: MPI_ERR_TOPOLOGY
    enum: MPI_ERR_DIMS
    enum: MPI_ERR_ARG
    enum: MPI_ERR_UNKNOWN
    enum: MPI_ERR_TRUNCATE
    enum: MPI_ERR_OTHER
    enum: MPI_ERR_INTERN
    enum: MPI_ERR_IN_STATUS
    enum: MPI_ERR_PENDING
    enum: MPI_ERR_LASTCODE

    enum: MPI_ANY_SOURCE
    enum: MPI_ANY_TAG
    enum: MPI_PROC_NULL
    enum: MPI_ROOT
    enum: MPI_UNDEFINED
    enum: MPI_TAG_UB
    enum: MPI_IDENT
    enum: MPI_CONGRUENT
    enum: MPI_SIMILAR
    enum: MPI_UNEQUAL
    enum: MPI_CART
    enum: MPI_GRAPH
    enum: MPI_DIST_GRAPH
    enum: MPI_THREAD_SINGLE
    enum: MPI_THREAD_FUNNELED
    enum: MPI_THREAD_SERIALIZED
    enum: MPI_THREAD_MULTIPLE

    void *MPI_IN_PLACE
    void *MPI_BOTTOM
    MPI_Status *MPI_STATUS_IGNORE
    MPI_Status *MPI_STATUSES_IGNORE

    MPI_Comm MPI_COMM_NULL
    MPI_Comm MPI_COMM_WORLD
    MPI_Comm MPI_COMM_SELF
    MPI_Request MPI_REQUEST_NULL
    MPI_Message MPI_MESSAGE_NULL
    MPI_Op MPI_OP_NULL
    MPI_Datatype MPI_DATATYPE_NULL
    MPI_Errhandler MPI_ERRORS_RETURN
    MPI_Errhandler MPI_ERRORS_ARE_FATAL
    MPI_Group MPI_GROUP_NULL
    MPI_Group MPI_GROUP_EMPTY

    MPI_Op MPI_MAX
    MPI_Op MPI_MIN
    MPI_Op MPI_SUM
    MPI_Op MPI_PROD
    MPI_Op MPI_LAND
    MPI_Op MPI_BAND
    MPI_Op MPI_LOR
    MPI_Op MPI_BOR
    MPI_Op MPI_LXOR
    MPI_Op MPI_BXOR
    MPI_Op MPI_MAXLOC
    MPI_Op MPI_MINLOC
    MPI_Op MPI_REPLACE
    MPI_Op MPI_NO_OP

    MPI_Datatype MPI_CHAR
    MPI_Datatype MPI_WCHAR
    MPI_Datatype MPI_SIGNED_CHAR
    MPI_Datatype MPI_UNSIGNED_CHAR
    MPI_Datatype MPI_SHORT
    MPI_Datatype MPI_UNSIGNED_SHORT
    MPI_Datatype MPI_INT
    MPI_Datatype MPI_UNSIGNED
    MPI_Datatype MPI_LONG
    MPI_Datatype MPI_UNSIGNED_LONG
    MPI_Datatype MPI_LONG_LONG
    MPI_Datatype MPI_UNSIGNED_LONG_LONG
    MPI_Datatype MPI_FLOAT
    MPI_Datatype MPI_DOUBLE
    MPI_Datatype MPI_LONG_DOUBLE
    MPI_Datatype MPI_BYTE
    MPI_Datatype MPI_PACKED
    MPI_Datatype MPI_C_BOOL
    MPI_Datatype MPI_INT8_T
    MPI_Datatype MPI_INT16_T
    MPI_Datatype MPI_INT32_T
    MPI_Datatype MPI_INT64_T
    MPI_Datatype MPI_UINT8_T
    MPI_Datatype MPI_UINT16_T
    MPI_Datatype MPI_UINT32_T
    MPI_Datatype MPI_UINT64_T
    MPI_Datatype MPI_C_FLOAT_COMPLEX
    MPI_Datatype MPI_C_DOUBLE_COMPLEX
    MPI_Datatype MPI_C_LONG_DOUBLE_COMPLEX
    MPI_Datatype MPI_AINT
    MPI_Datatype MPI_OFFSET
    MPI_Datatype MPI_COUNT
    MPI_Datatype MPI_FLOAT_INT
    MPI_Datatype MPI_DOUBLE_INT
    MPI_Datatype MPI_LONG_INT
    MPI_Datatype MPI_2INT
    MPI_Datatype MPI_SHORT_INT
    MPI_Datatype MPI_LONG_DOUBLE_INT

    # environment
    int MPI_Init_thread(int *, char ***, int, int *)
    int MPI_Finalize()
    int MPI_Initialized(int *)
    int MPI_Finalized(int *)
    int MPI_Query_thread(int *)
    int MPI_Abort(MPI_Comm, int)
    double MPI_Wtime()
    double MPI_Wtick()
    int MPI_Get_processor_name(char *, int *)
    int MPI_Get_version(int *, int *)
    int MPI_Get_library_version(char *, int *)
    int MPI_Error_string(int, char *, int *)
    int MPI_Error_class(int, int *)

    # communicators
    int MPI_Comm_rank(MPI_Comm, int *)
    int MPI_Comm_size(MPI_Comm, int *)
    int MPI_Comm_dup(MPI_Comm, MPI_Comm *)
    int MPI_Comm_idup(MPI_Comm, MPI_Comm *, MPI_Request *)
    int MPI_Comm_split(MPI_Comm, int, int, MPI_Comm *)
    int MPI_Comm_free(MPI_Comm *)
    int MPI_Comm_compare(MPI_Comm, MPI_Comm, int *)
    int MPI_Comm_set_errhandler(MPI_Comm, MPI_Errhandler)
    int MPI_Comm_get_name(MPI_Comm, char *, int *)
    int MPI_Comm_set_name(MPI_Comm, char *)
    int MPI_Comm_test_inter(MPI_Comm, int *)
    int MPI_Comm_get_attr(MPI_Comm, int, void *, int *)
    int MPI_Topo_test(MPI_Comm, int *)
    int MPI_Comm_group(MPI_Comm, MPI_Group *)
    int MPI_Comm_create(MPI_Comm, MPI_Group, MPI_Comm *)
    int MPI_Group_size(MPI_Group, int *)
    int MPI_Group_rank(MPI_Group, int *)
    int MPI_Group_incl(MPI_Group, int, int *, MPI_Group *)
    int MPI_Group_excl(MPI_Group, int, int *, MPI_Group *)
    int MPI_Group_translate_ranks(MPI_Group, int, int *, MPI_Group, int *)
    int MPI_Group_free(MPI_Group *)

    # Cartesian topologies
    int MPI_Dims_create(int, int, int *)
    int MPI_Cart_create(MPI_Comm, int, int *, int *, int, MPI_Comm *)
    int MPI_Cartdim_get(MPI_Comm, int *)
    int MPI_Cart_get(MPI_Comm, int, int *, int *, int *)
    int MPI_Cart_rank(MPI_Comm, int *, int *)
    int MPI_Cart_coords(MPI_Comm, int, int, int *)
    int MPI_Cart_shift(MPI_Comm, int, int, int *, int *)
    int MPI_Cart_sub(MPI_Comm, int *, MPI_Comm *)

    # datatypes
    int MPI_Type_size(MPI_Datatype, int *)
    int MPI_Type_get_extent(MPI_Datatype, MPI_Aint *, MPI_Aint *)
    int MPI_Type_contiguous(int, MPI_Datatype, MPI_Datatype *)
    int MPI_Type_vector(int, int, int, MPI_Datatype, MPI_Datatype *)
    int MPI_Type_commit(MPI_Datatype *)
    int MPI_Type_free(MPI_Datatype *)
    int MPI_Type_dup(MPI_Datatype, MPI_Datatype *)
    int MPI_Get_count(MPI_Status *, MPI_Datatype, int *)
    int MPI_Status_set_elements(MPI_Status *, MPI_Datatype, int)
    int MPI_Get_elements(MPI_Status *, MPI_Datatype, int *)

    # operations
    ctypedef void MPI_User_function(void *, void *, int *, MPI_Datatype *) noexcept
    int MPI_Op_create(MPI_User_function *, int, MPI_Op *)
    int MPI_Op_free(MPI_Op *)
    int MPI_Op_commutative(MPI_Op, int *)

    # requests and the wait loop's primitives
    int MPI_Test(MPI_Request *, int *, MPI_Status *)
    int MPI_Testall(int, MPI_Request *, int *, MPI_Status *)
    int MPI_Testany(int, MPI_Request *, int *, int *, MPI_Status *)
    int MPI_Testsome(int, MPI_Request *, int *, int *, MPI_Status *)
    int MPI_Wait(MPI_Request *, MPI_Status *)
    int MPI_Cancel(MPI_Request *)
    int MPI_Request_free(MPI_Request *)
    int MPI_Test_cancelled(MPI_Status *, int *)

    # point to point
    int MPI_Send(void *, int, MPI_Datatype, int, int, MPI_Comm)
    int MPI_Isend(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Issend(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Irecv(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Iprobe(int, int, MPI_Comm, int *, MPI_Status *)
    int MPI_Improbe(int, int, MPI_Comm, int *, MPI_Message *, MPI_Status *)
    int MPI_Mrecv(void *, int, MPI_Datatype, MPI_Message *, MPI_Status *)
    int MPI_Imrecv(void *, int, MPI_Datatype, MPI_Message *, MPI_Request *)

    # nonblocking collectives (the blocking forms are these plus the wait loop)
    int MPI_Ibarrier(MPI_Comm, MPI_Request *)
    int MPI_Ibcast(void *, int, MPI_Datatype, int, MPI_Comm, MPI_Request *)
    int MPI_Igather(void *, int, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm, MPI_Request *)
    int MPI_Igatherv(void *, int, MPI_Datatype, void *, int *, int *, MPI_Datatype, int, MPI_Comm, MPI_Request *)
    int MPI_Iscatter(void *, int, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm, MPI_Request *)
    int MPI_Iscatterv(void *, int *, int *, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm, MPI_Request *)
    int MPI_Iallgather(void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm, MPI_Request *)
    int MPI_Iallgatherv(void *, int, MPI_Datatype, void *, int *, int *, MPI_Datatype, MPI_Comm, MPI_Request *)
    int MPI_Ialltoall(void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm, MPI_Request *)
    int MPI_Ialltoallv(void *, int *, int *, MPI_Datatype, void *, int *, int *, MPI_Datatype, MPI_Comm, MPI_Request *)
    int MPI_Ireduce(void *, void *, int, MPI_Datatype, MPI_Op, int, MPI_Comm, MPI_Request *)
    int MPI_Iallreduce(void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request *)
    int MPI_Ireduce_scatter_block(void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request *)
    int MPI_Ireduce_scatter(void *, void *, int *, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request *)
    int MPI_Iscan(void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request *)
    int MPI_Iexscan(void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Request *)

    # point to point, requests and status: the rest (issue 18)
    enum: MPI_BSEND_OVERHEAD
    MPI_Message MPI_MESSAGE_NO_PROC
    int MPI_Request_get_status(MPI_Request, int *, MPI_Status *)
    int MPI_Status_set_cancelled(MPI_Status *, int)
    int MPI_Ibsend(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Irsend(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Buffer_attach(void *, int)
    int MPI_Buffer_detach(void *, int *)
    int MPI_Send_init(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Bsend_init(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Ssend_init(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Rsend_init(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Recv_init(void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *)
    int MPI_Start(MPI_Request *)
    int MPI_Startall(int, MPI_Request *)
    ctypedef int MPI_Fint
    enum: MPI_F_STATUS_SIZE
    enum: MPI_F_SOURCE
    enum: MPI_F_TAG
    enum: MPI_F_ERROR
    int MPI_Status_c2f(MPI_Status *, MPI_Fint *)
    int MPI_Status_f2c(MPI_Fint *, MPI_Status *)
    MPI_Fint MPI_Request_c2f(MPI_Request)
    MPI_Request MPI_Request_f2c(MPI_Fint)

# ---- datatypes, ops, buffers and memory (btypes: datatype.pxi, dtypes.pxi, op.pxi, memory.pxi)
cdef extern from "mpi.h" nogil:
    ctypedef long long MPI_Offset
    enum: MPI_ORDER_C
    enum: MPI_ORDER_FORTRAN
    enum: MPI_DISTRIBUTE_NONE
    enum: MPI_DISTRIBUTE_BLOCK
    enum: MPI_DISTRIBUTE_CYCLIC
    enum: MPI_DISTRIBUTE_DFLT_DARG
    enum: MPI_TYPECLASS_INTEGER
    enum: MPI_TYPECLASS_REAL
    enum: MPI_TYPECLASS_COMPLEX
    enum: MPI_COMBINER_NAMED
    enum: MPI_COMBINER_DUP
    enum: MPI_COMBINER_CONTIGUOUS
    enum: MPI_COMBINER_VECTOR
    enum: MPI_COMBINER_HVECTOR
    enum: MPI_COMBINER_INDEXED
    enum: MPI_COMBINER_HINDEXED
    enum: MPI_COMBINER_INDEXED_BLOCK
    enum: MPI_COMBINER_HINDEXED_BLOCK
    enum: MPI_COMBINER_STRUCT
    enum: MPI_COMBINER_SUBARRAY
    enum: MPI_COMBINER_DARRAY
    enum: MPI_COMBINER_RESIZED
    enum: MPI_COMBINER_F90_INTEGER
    enum: MPI_COMBINER_F90_REAL
    enum: MPI_COMBINER_F90_COMPLEX

    MPI_Datatype MPI_CHARACTER
    MPI_Datatype MPI_LOGICAL
    MPI_Datatype MPI_INTEGER
    MPI_Datatype MPI_REAL
    MPI_Datatype MPI_DOUBLE_PRECISION
    MPI_Datatype MPI_COMPLEX
    MPI_Datatype MPI_DOUBLE_COMPLEX

    int MPI_Type_size_x(MPI_Datatype, MPI_Count *)
    int MPI_Type_get_extent_x(MPI_Datatype, MPI_Count *, MPI_Count *)
    int MPI_Type_get_true_extent_x(MPI_Datatype, MPI_Count *, MPI_Count *)
    int MPI_Type_indexed(int, int *, int *, MPI_Datatype, MPI_Datatype *)
    int MPI_Type_create_hindexed(int, int *, MPI_Aint *, MPI_Datatype, MPI_Datatype *)
    int MPI_Type_create_indexed_block(int, int, int *, MPI_Datatype, MPI_Datatype *)
    int MPI_Type_create_hindexed_block(int, int, MPI_Aint *, MPI_Datatype, MPI_Datatype *)
    int MPI_Type_create_struct(int, int *, MPI_Aint *, MPI_Datatype *, MPI_Datatype *)
    int MPI_Type_create_subarray(int, int *, int *, int *, int, MPI_Datatype, MPI_Datatype *)
    int MPI_Type_create_darray(int, int, int, int *, int *, int *, int *, int, MPI_Datatype, MPI_Datatype *)
    int MPI_Type_create_f90_integer(int, MPI_Datatype *)
    int MPI_Type_create_f90_real(int, int, MPI_Datatype *)
    int MPI_Type_create_f90_complex(int, int, MPI_Datatype *)
    int MPI_Type_match_size(int, int, MPI_Datatype *)
    int MPI_Type_get_name(MPI_Datatype, char *, int *)
    int MPI_Type_set_name(MPI_Datatype, char *)
    MPI_Fint MPI_Type_c2f(MPI_Datatype)
    MPI_Datatype MPI_Type_f2c(MPI_Fint)
    int MPI_Pack(void *, int, MPI_Datatype, void *, int, int *, MPI_Comm)
    int MPI_Unpack(void *, int, int *, void *, int, MPI_Datatype, MPI_Comm)
    int MPI_Pack_size(int, MPI_Datatype, MPI_Comm, int *)
    int MPI_Pack_external(char *, void *, int, MPI_Datatype, void *, MPI_Aint, MPI_Aint *)
    int MPI_Unpack_external(char *, void *, MPI_Aint, MPI_Aint *, void *, int, MPI_Datatype)
    int MPI_Pack_external_size(char *, int, MPI_Datatype, MPI_Aint *)
    int MPI_Get_address(void *, MPI_Aint *)
    MPI_Aint MPI_Aint_add(MPI_Aint, MPI_Aint)
    MPI_Aint MPI_Aint_diff(MPI_Aint, MPI_Aint)
    int MPI_Free_mem(void *)
    MPI_Fint MPI_Op_c2f(MPI_Op)
    MPI_Op MPI_Op_f2c(MPI_Fint)
    int MPI_Reduce_local(void *, void *, int, MPI_Datatype, MPI_Op)

# Datatypes that not every library has (C++, size-specific Fortran, MPI 4.1's FLOAT16_T): those
# the library lacks are MPI_DATATYPE_NULL, as in mpi4py. MPI_Type_get_value_index is MPI 4.1's.
cdef extern from * nogil:
    """
    #ifdef MPI_CXX_BOOL
    #define MPIK_CXX_BOOL MPI_CXX_BOOL
    #else
    #define MPIK_CXX_BOOL MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_CXX_FLOAT_COMPLEX
    #define MPIK_CXX_FLOAT_COMPLEX MPI_CXX_FLOAT_COMPLEX
    #else
    #define MPIK_CXX_FLOAT_COMPLEX MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_CXX_DOUBLE_COMPLEX
    #define MPIK_CXX_DOUBLE_COMPLEX MPI_CXX_DOUBLE_COMPLEX
    #else
    #define MPIK_CXX_DOUBLE_COMPLEX MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_CXX_LONG_DOUBLE_COMPLEX
    #define MPIK_CXX_LONG_DOUBLE_COMPLEX MPI_CXX_LONG_DOUBLE_COMPLEX
    #else
    #define MPIK_CXX_LONG_DOUBLE_COMPLEX MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_LOGICAL1
    #define MPIK_LOGICAL1 MPI_LOGICAL1
    #else
    #define MPIK_LOGICAL1 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_LOGICAL2
    #define MPIK_LOGICAL2 MPI_LOGICAL2
    #else
    #define MPIK_LOGICAL2 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_LOGICAL4
    #define MPIK_LOGICAL4 MPI_LOGICAL4
    #else
    #define MPIK_LOGICAL4 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_LOGICAL8
    #define MPIK_LOGICAL8 MPI_LOGICAL8
    #else
    #define MPIK_LOGICAL8 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_LOGICAL16
    #define MPIK_LOGICAL16 MPI_LOGICAL16
    #else
    #define MPIK_LOGICAL16 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_INTEGER1
    #define MPIK_INTEGER1 MPI_INTEGER1
    #else
    #define MPIK_INTEGER1 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_INTEGER2
    #define MPIK_INTEGER2 MPI_INTEGER2
    #else
    #define MPIK_INTEGER2 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_INTEGER4
    #define MPIK_INTEGER4 MPI_INTEGER4
    #else
    #define MPIK_INTEGER4 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_INTEGER8
    #define MPIK_INTEGER8 MPI_INTEGER8
    #else
    #define MPIK_INTEGER8 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_INTEGER16
    #define MPIK_INTEGER16 MPI_INTEGER16
    #else
    #define MPIK_INTEGER16 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_REAL2
    #define MPIK_REAL2 MPI_REAL2
    #else
    #define MPIK_REAL2 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_REAL4
    #define MPIK_REAL4 MPI_REAL4
    #else
    #define MPIK_REAL4 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_REAL8
    #define MPIK_REAL8 MPI_REAL8
    #else
    #define MPIK_REAL8 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_REAL16
    #define MPIK_REAL16 MPI_REAL16
    #else
    #define MPIK_REAL16 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_COMPLEX4
    #define MPIK_COMPLEX4 MPI_COMPLEX4
    #else
    #define MPIK_COMPLEX4 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_COMPLEX8
    #define MPIK_COMPLEX8 MPI_COMPLEX8
    #else
    #define MPIK_COMPLEX8 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_COMPLEX16
    #define MPIK_COMPLEX16 MPI_COMPLEX16
    #else
    #define MPIK_COMPLEX16 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_COMPLEX32
    #define MPIK_COMPLEX32 MPI_COMPLEX32
    #else
    #define MPIK_COMPLEX32 MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_FLOAT16_T
    #define MPIK_FLOAT16_T MPI_FLOAT16_T
    #elif defined(MPIX_C_FLOAT16)
    #define MPIK_FLOAT16_T MPIX_C_FLOAT16
    #else
    #define MPIK_FLOAT16_T MPI_DATATYPE_NULL
    #endif
    #ifdef MPI_BFLOAT16_T
    #define MPIK_BFLOAT16_T MPI_BFLOAT16_T
    #else
    #define MPIK_BFLOAT16_T MPI_DATATYPE_NULL
    #endif
    /* envelopes and contents with MPI 4's large counts (nc, c[]) where the library has them */
    #if MPI_VERSION >= 4
    #define MPIK_Type_get_envelope MPI_Type_get_envelope_c
    #define MPIK_Type_get_contents MPI_Type_get_contents_c
    #else
    static int MPIK_Type_get_envelope(MPI_Datatype t, MPI_Count *ni, MPI_Count *na,
                                      MPI_Count *nc, MPI_Count *nd, int *combiner) {
        int i = 0, a = 0, d = 0, ierr = MPI_Type_get_envelope(t, &i, &a, &d, combiner);
        *ni = i; *na = a; *nc = 0; *nd = d;
        return ierr;
    }
    static int MPIK_Type_get_contents(MPI_Datatype t, MPI_Count ni, MPI_Count na, MPI_Count nc,
                                      MPI_Count nd, int *i, MPI_Aint *a, MPI_Count *c,
                                      MPI_Datatype *d) {
        (void)nc; (void)c;
        return MPI_Type_get_contents(t, (int)ni, (int)na, (int)nd, i, a, d);
    }
    #endif
    #if MPI_VERSION >= 4
    #define MPIK_Type_contiguous MPI_Type_contiguous_c
    #define MPIK_Type_vector MPI_Type_vector_c
    #define MPIK_Type_create_hvector MPI_Type_create_hvector_c
    #define MPIK_Type_create_resized MPI_Type_create_resized_c
    #else
    #define MPIK_FITS(n) ((n) >= -2147483647LL - 1 && (n) <= 2147483647LL)
    static int MPIK_Type_contiguous(MPI_Count n, MPI_Datatype t, MPI_Datatype *r) {
        return MPIK_FITS(n) ? MPI_Type_contiguous((int)n, t, r) : MPI_ERR_ARG;
    }
    static int MPIK_Type_vector(MPI_Count n, MPI_Count b, MPI_Count s, MPI_Datatype t,
                                MPI_Datatype *r) {
        return MPIK_FITS(n) && MPIK_FITS(b) && MPIK_FITS(s) ?
            MPI_Type_vector((int)n, (int)b, (int)s, t, r) : MPI_ERR_ARG;
    }
    static int MPIK_Type_create_hvector(MPI_Count n, MPI_Count b, MPI_Count s, MPI_Datatype t,
                                        MPI_Datatype *r) {
        return MPIK_FITS(n) && MPIK_FITS(b) ?
            MPI_Type_create_hvector((int)n, (int)b, (MPI_Aint)s, t, r) : MPI_ERR_ARG;
    }
    static int MPIK_Type_create_resized(MPI_Datatype t, MPI_Count lb, MPI_Count ext,
                                        MPI_Datatype *r) {
        return MPI_Type_create_resized(t, (MPI_Aint)lb, (MPI_Aint)ext, r);
    }
    #endif
    #ifdef MPI_TYPECLASS_LOGICAL
    #define MPIK_TYPECLASS_LOGICAL MPI_TYPECLASS_LOGICAL
    #else
    #define MPIK_TYPECLASS_LOGICAL MPI_UNDEFINED
    #endif
    #if MPI_VERSION > 4 || (MPI_VERSION == 4 && MPI_SUBVERSION >= 1)
    #define MPIK_HAVE_VALUE_INDEX 1
    #define MPIK_COMBINER_VALUE_INDEX MPI_COMBINER_VALUE_INDEX
    #define MPIK_Type_get_value_index MPI_Type_get_value_index
    #else
    #define MPIK_HAVE_VALUE_INDEX 0
    #define MPIK_COMBINER_VALUE_INDEX (-1)
    #define MPIK_Type_get_value_index(v, i, t) MPI_ERR_OTHER
    #endif
    """
    MPI_Datatype MPIK_CXX_BOOL
    MPI_Datatype MPIK_CXX_FLOAT_COMPLEX
    MPI_Datatype MPIK_CXX_DOUBLE_COMPLEX
    MPI_Datatype MPIK_CXX_LONG_DOUBLE_COMPLEX
    MPI_Datatype MPIK_LOGICAL1
    MPI_Datatype MPIK_LOGICAL2
    MPI_Datatype MPIK_LOGICAL4
    MPI_Datatype MPIK_LOGICAL8
    MPI_Datatype MPIK_LOGICAL16
    MPI_Datatype MPIK_INTEGER1
    MPI_Datatype MPIK_INTEGER2
    MPI_Datatype MPIK_INTEGER4
    MPI_Datatype MPIK_INTEGER8
    MPI_Datatype MPIK_INTEGER16
    MPI_Datatype MPIK_REAL2
    MPI_Datatype MPIK_REAL4
    MPI_Datatype MPIK_REAL8
    MPI_Datatype MPIK_REAL16
    MPI_Datatype MPIK_COMPLEX4
    MPI_Datatype MPIK_COMPLEX8
    MPI_Datatype MPIK_COMPLEX16
    MPI_Datatype MPIK_COMPLEX32
    MPI_Datatype MPIK_FLOAT16_T
    MPI_Datatype MPIK_BFLOAT16_T
    enum: MPIK_HAVE_VALUE_INDEX
    enum: MPIK_COMBINER_VALUE_INDEX
    int MPIK_Type_get_envelope(MPI_Datatype, MPI_Count *, MPI_Count *, MPI_Count *, MPI_Count *, int *)
    int MPIK_Type_get_contents(MPI_Datatype, MPI_Count, MPI_Count, MPI_Count, MPI_Count, int *, MPI_Aint *, MPI_Count *, MPI_Datatype *)
    int MPIK_Type_contiguous(MPI_Count, MPI_Datatype, MPI_Datatype *)
    int MPIK_Type_vector(MPI_Count, MPI_Count, MPI_Count, MPI_Datatype, MPI_Datatype *)
    int MPIK_Type_create_hvector(MPI_Count, MPI_Count, MPI_Count, MPI_Datatype, MPI_Datatype *)
    int MPIK_Type_create_resized(MPI_Datatype, MPI_Count, MPI_Count, MPI_Datatype *)
    enum: MPIK_TYPECLASS_LOGICAL
    int MPIK_Type_get_value_index(MPI_Datatype, MPI_Datatype, MPI_Datatype *)

# ---- groups, communicators, info, errhandlers, intercommunicators, topologies (bcomm: group.pxi,
# info.pxi, errhandler.pxi, attr.pxi, intercomm.pxi, topo.pxi)
cdef extern from "mpi.h" nogil:
    ctypedef struct _mpi_info_t
    ctypedef _mpi_info_t* MPI_Info
    MPI_Info MPI_INFO_NULL
    MPI_Info MPI_INFO_ENV
    MPI_Errhandler MPI_ERRHANDLER_NULL
    MPI_Errhandler MPI_ERRORS_ABORT
    enum: MPI_MAX_INFO_KEY
    enum: MPI_MAX_INFO_VAL
    enum: MPI_KEYVAL_INVALID
    enum: MPI_HOST
    enum: MPI_IO
    enum: MPI_WTIME_IS_GLOBAL
    enum: MPI_UNIVERSE_SIZE
    enum: MPI_APPNUM
    enum: MPI_LASTUSEDCODE
    enum: MPI_COMM_TYPE_SHARED
    enum: MPI_COMM_TYPE_HW_GUIDED
    enum: MPI_COMM_TYPE_HW_UNGUIDED
    enum: MPI_COMM_TYPE_RESOURCE_GUIDED
    int *MPI_UNWEIGHTED
    int *MPI_WEIGHTS_EMPTY
    enum: MPI_ERR_INFO
    enum: MPI_ERR_ERRHANDLER
    enum: MPI_ERR_SESSION
    enum: MPI_ERR_WIN
    enum: MPI_ERR_FILE
    enum: MPI_ERR_KEYVAL
    enum: MPI_ERR_NO_MEM
    enum: MPI_ERR_INFO_KEY
    enum: MPI_ERR_INFO_VALUE
    enum: MPI_ERR_INFO_NOKEY
    enum: MPI_ERR_SPAWN
    enum: MPI_ERR_PORT
    enum: MPI_ERR_SERVICE
    enum: MPI_ERR_NAME
    enum: MPI_ERR_PROC_ABORTED
    enum: MPI_ERR_BASE
    enum: MPI_ERR_SIZE
    enum: MPI_ERR_DISP
    enum: MPI_ERR_ASSERT
    enum: MPI_ERR_LOCKTYPE
    enum: MPI_ERR_RMA_CONFLICT
    enum: MPI_ERR_RMA_SYNC
    enum: MPI_ERR_RMA_RANGE
    enum: MPI_ERR_RMA_ATTACH
    enum: MPI_ERR_RMA_SHARED
    enum: MPI_ERR_RMA_FLAVOR
    enum: MPI_ERR_BAD_FILE
    enum: MPI_ERR_NO_SUCH_FILE
    enum: MPI_ERR_FILE_EXISTS
    enum: MPI_ERR_FILE_IN_USE
    enum: MPI_ERR_AMODE
    enum: MPI_ERR_ACCESS
    enum: MPI_ERR_READ_ONLY
    enum: MPI_ERR_NO_SPACE
    enum: MPI_ERR_QUOTA
    enum: MPI_ERR_NOT_SAME
    enum: MPI_ERR_IO
    enum: MPI_ERR_UNSUPPORTED_OPERATION
    enum: MPI_ERR_UNSUPPORTED_DATAREP
    enum: MPI_ERR_CONVERSION
    enum: MPI_ERR_DUP_DATAREP
    enum: MPI_ERR_VALUE_TOO_LARGE
    enum: MPI_ERR_REVOKED "MPIK_ERR_REVOKED"
    enum: MPI_ERR_PROC_FAILED "MPIK_ERR_PROC_FAILED"
    enum: MPI_ERR_PROC_FAILED_PENDING "MPIK_ERR_PROC_FAILED_PENDING"

    MPI_Fint MPI_Comm_c2f(MPI_Comm)
    MPI_Comm MPI_Comm_f2c(MPI_Fint)
    MPI_Fint MPI_Group_c2f(MPI_Group)
    MPI_Group MPI_Group_f2c(MPI_Fint)
    MPI_Fint MPI_Info_c2f(MPI_Info)
    MPI_Info MPI_Info_f2c(MPI_Fint)
    MPI_Fint MPI_Errhandler_c2f(MPI_Errhandler)
    MPI_Errhandler MPI_Errhandler_f2c(MPI_Fint)
    MPI_Fint MPI_Message_c2f(MPI_Message)
    MPI_Message MPI_Message_f2c(MPI_Fint)

    int MPI_Group_compare(MPI_Group, MPI_Group, int *)
    int MPI_Group_union(MPI_Group, MPI_Group, MPI_Group *)
    int MPI_Group_intersection(MPI_Group, MPI_Group, MPI_Group *)
    int MPI_Group_difference(MPI_Group, MPI_Group, MPI_Group *)
    int MPI_Group_range_incl(MPI_Group, int, int (*)[3], MPI_Group *)
    int MPI_Group_range_excl(MPI_Group, int, int (*)[3], MPI_Group *)
    int MPI_Comm_create_group(MPI_Comm, MPI_Group, int, MPI_Comm *)
    int MPI_Comm_split_type(MPI_Comm, int, int, MPI_Info, MPI_Comm *)
    int MPI_Comm_dup_with_info(MPI_Comm, MPI_Info, MPI_Comm *)
    int MPI_Comm_idup_with_info "MPIK_Comm_idup_with_info" (MPI_Comm, MPI_Info, MPI_Comm *, MPI_Request *)
    int MPI_Comm_set_info(MPI_Comm, MPI_Info)
    int MPI_Comm_get_info(MPI_Comm, MPI_Info *)

    ctypedef int MPI_Comm_copy_attr_function(MPI_Comm, int, void *, void *, void *, int *) noexcept
    ctypedef int MPI_Comm_delete_attr_function(MPI_Comm, int, void *, void *) noexcept
    MPI_Comm_copy_attr_function *MPI_COMM_NULL_COPY_FN
    MPI_Comm_delete_attr_function *MPI_COMM_NULL_DELETE_FN
    int MPI_Comm_create_keyval(MPI_Comm_copy_attr_function *, MPI_Comm_delete_attr_function *,
                               int *, void *)
    int MPI_Comm_free_keyval(int *)
    int MPI_Comm_set_attr(MPI_Comm, int, void *)
    int MPI_Comm_delete_attr(MPI_Comm, int)

    int MPI_Info_create(MPI_Info *)
    int MPI_Info_create_env "MPIK_Info_create_env" (int, char **, MPI_Info *)
    int MPI_Info_dup(MPI_Info, MPI_Info *)
    int MPI_Info_free(MPI_Info *)
    int MPI_Info_set(MPI_Info, const char *, const char *)
    int MPI_Info_delete(MPI_Info, const char *)
    int MPI_Info_get_string "MPIK_Info_get_string" (MPI_Info, const char *, int *, char *, int *)
    int MPI_Info_get_nkeys(MPI_Info, int *)
    int MPI_Info_get_nthkey(MPI_Info, int, char *)

    ctypedef void MPI_Comm_errhandler_function(MPI_Comm *, int *, ...) noexcept
    int MPI_Comm_get_errhandler(MPI_Comm, MPI_Errhandler *)
    int MPI_Comm_call_errhandler(MPI_Comm, int)
    int MPI_Comm_create_errhandler(MPI_Comm_errhandler_function *, MPI_Errhandler *)
    int MPI_Errhandler_free(MPI_Errhandler *)
    int MPI_Add_error_class(int *)
    int MPI_Add_error_code(int, int *)
    int MPI_Add_error_string(int, const char *)

    int MPI_Intercomm_create(MPI_Comm, int, MPI_Comm, int, int, MPI_Comm *)
    int MPI_Comm_get_parent(MPI_Comm *)
    enum: MPIK_HAVE_MPI4
    enum: MPIK_HAVE_MPI41
    int MPI_Comm_create_from_group "MPIK_Comm_create_from_group" (
        MPI_Group, const char *, MPI_Info, MPI_Errhandler, MPI_Comm *)
    int MPI_Intercomm_create_from_groups "MPIK_Intercomm_create_from_groups" (
        MPI_Group, int, MPI_Group, int, const char *, MPI_Info, MPI_Errhandler, MPI_Comm *)
    int MPI_Remove_error_class "MPIK_Remove_error_class" (int)
    int MPI_Remove_error_code "MPIK_Remove_error_code" (int)
    int MPI_Remove_error_string "MPIK_Remove_error_string" (int)
    int MPI_Intercomm_merge(MPI_Comm, int, MPI_Comm *)
    int MPI_Comm_remote_size(MPI_Comm, int *)
    int MPI_Comm_remote_group(MPI_Comm, MPI_Group *)

    int MPI_Graph_create(MPI_Comm, int, int *, int *, int, MPI_Comm *)
    int MPI_Graphdims_get(MPI_Comm, int *, int *)
    int MPI_Graph_get(MPI_Comm, int, int, int *, int *)
    int MPI_Graph_neighbors_count(MPI_Comm, int, int *)
    int MPI_Graph_neighbors(MPI_Comm, int, int, int *)
    int MPI_Cart_map(MPI_Comm, int, int *, int *, int *)
    int MPI_Graph_map(MPI_Comm, int, int *, int *, int *)
    int MPI_Dist_graph_create(MPI_Comm, int, int *, int *, int *, int *, MPI_Info, int, MPI_Comm *)
    int MPI_Dist_graph_create_adjacent(MPI_Comm, int, int *, int *, int, int *, int *, MPI_Info,
                                       int, MPI_Comm *)
    int MPI_Dist_graph_neighbors_count(MPI_Comm, int *, int *, int *)
    int MPI_Dist_graph_neighbors(MPI_Comm, int, int *, int *, int, int *, int *)
    int MPI_Ineighbor_allgather(void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm,
                                MPI_Request *)
    int MPI_Ineighbor_allgatherv(void *, int, MPI_Datatype, void *, int *, int *, MPI_Datatype,
                                 MPI_Comm, MPI_Request *)
    int MPI_Ineighbor_alltoall(void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm,
                               MPI_Request *)
    int MPI_Ineighbor_alltoallv(void *, int *, int *, MPI_Datatype, void *, int *, int *,
                                MPI_Datatype, MPI_Comm, MPI_Request *)
    int MPI_Ineighbor_alltoallw(void *, int *, MPI_Aint *, MPI_Datatype *, void *, int *,
                                MPI_Aint *, MPI_Datatype *, MPI_Comm, MPI_Request *)

# MPI-4 names an MPI-3.1 library (an older Open MPI) lacks, with the fallbacks mpi4py uses
cdef extern from *:
    """
    /* Open MPI 4.1 keeps the Fortran status layout in mpif.h only: MPI_SOURCE, MPI_TAG and
       MPI_ERROR are the first three ints of its MPI_Status, the size is the whole struct. */
    #ifndef MPI_F_STATUS_SIZE
    #define MPI_F_STATUS_SIZE ((int)(sizeof(MPI_Status) / sizeof(int)))
    #define MPI_F_SOURCE 0
    #define MPI_F_TAG 1
    #define MPI_F_ERROR 2
    #endif
    #ifndef MPI_ERR_ERRHANDLER
    #define MPI_ERR_ERRHANDLER MPI_ERR_ARG
    #endif
    #ifndef MPI_ERR_PROC_ABORTED
    #define MPI_ERR_PROC_ABORTED MPI_ERR_UNKNOWN
    #endif
    #if MPI_VERSION < 4
    #define MPI_ERRORS_ABORT MPI_ERRORS_ARE_FATAL
    #define MPI_ERR_SESSION MPI_ERR_UNKNOWN
    #define MPI_ERR_VALUE_TOO_LARGE MPI_ERR_UNKNOWN
    #define MPI_COMM_TYPE_HW_GUIDED MPI_UNDEFINED
    #define MPI_COMM_TYPE_HW_UNGUIDED MPI_UNDEFINED
    #define MPI_COMM_TYPE_RESOURCE_GUIDED MPI_UNDEFINED
    static int MPIK_Info_get_string(MPI_Info info, const char *key, int *buflen, char *value,
                                    int *flag) {
        int n = 0, ierr;
        if (*buflen <= 0) {
            ierr = MPI_Info_get_valuelen(info, (char *)key, &n, flag);
            if (ierr == MPI_SUCCESS && *flag) *buflen = n + 1;
            return ierr;
        }
        ierr = MPI_Info_get_valuelen(info, (char *)key, &n, flag);
        if (ierr != MPI_SUCCESS || !*flag) return ierr;
        ierr = MPI_Info_get(info, (char *)key, *buflen - 1, value, flag);
        *buflen = n + 1;
        return ierr;
    }
    static int MPIK_Comm_idup_with_info(MPI_Comm c, MPI_Info i, MPI_Comm *n, MPI_Request *r) {
        (void)i; return MPI_Comm_idup(c, n, r);
    }
    #define MPIK_HAVE_MPI4 0
    #define MPIK_Info_create_env(c, v, i) MPI_ERR_OTHER
    #define MPIK_Comm_create_from_group(g, s, i, e, c) MPI_ERR_OTHER
    #define MPIK_Intercomm_create_from_groups(a, b, c, d, s, i, e, n) MPI_ERR_OTHER
    #else
    #define MPIK_HAVE_MPI4 1
    #define MPIK_Info_create_env MPI_Info_create_env
    #define MPIK_Comm_create_from_group MPI_Comm_create_from_group
    #define MPIK_Intercomm_create_from_groups MPI_Intercomm_create_from_groups
    #define MPIK_Info_get_string MPI_Info_get_string
    #define MPIK_Comm_idup_with_info MPI_Comm_idup_with_info
    #endif
    #if MPI_VERSION > 4 || (MPI_VERSION == 4 && MPI_SUBVERSION >= 1)
    #define MPIK_HAVE_MPI41 1
    #define MPIK_Remove_error_class MPI_Remove_error_class
    #define MPIK_Remove_error_code MPI_Remove_error_code
    #define MPIK_Remove_error_string MPI_Remove_error_string
    #else
    #define MPIK_HAVE_MPI41 0
    #define MPIK_Remove_error_class(e) MPI_ERR_OTHER
    #define MPIK_Remove_error_code(e) MPI_ERR_OTHER
    #define MPIK_Remove_error_string(e) MPI_ERR_OTHER
    #endif
    #if defined(MPI_ERR_REVOKED)
    #define MPIK_ERR_REVOKED MPI_ERR_REVOKED
    #elif defined(MPIX_ERR_REVOKED)
    #define MPIK_ERR_REVOKED MPIX_ERR_REVOKED
    #else
    #define MPIK_ERR_REVOKED MPI_ERR_UNKNOWN
    #endif
    #if defined(MPI_ERR_PROC_FAILED)
    #define MPIK_ERR_PROC_FAILED MPI_ERR_PROC_FAILED
    #elif defined(MPIX_ERR_PROC_FAILED)
    #define MPIK_ERR_PROC_FAILED MPIX_ERR_PROC_FAILED
    #else
    #define MPIK_ERR_PROC_FAILED MPI_ERR_UNKNOWN
    #endif
    #if defined(MPI_ERR_PROC_FAILED_PENDING)
    #define MPIK_ERR_PROC_FAILED_PENDING MPI_ERR_PROC_FAILED_PENDING
    #elif defined(MPIX_ERR_PROC_FAILED_PENDING)
    #define MPIK_ERR_PROC_FAILED_PENDING MPIX_ERR_PROC_FAILED_PENDING
    #else
    #define MPIK_ERR_PROC_FAILED_PENDING MPI_ERR_UNKNOWN
    #endif
    """

# MPI-4 persistent collectives (pcoll.pxi); before MPI 4 each is MPI_ERR_OTHER, never called
cdef extern from * nogil:
    """
    #if MPI_VERSION >= 4
    #define MPIK_HAVE_PCOLL 1
    #define MPIK_Barrier_init MPI_Barrier_init
    #define MPIK_Bcast_init MPI_Bcast_init
    #define MPIK_Gather_init MPI_Gather_init
    #define MPIK_Gatherv_init MPI_Gatherv_init
    #define MPIK_Scatter_init MPI_Scatter_init
    #define MPIK_Scatterv_init MPI_Scatterv_init
    #define MPIK_Allgather_init MPI_Allgather_init
    #define MPIK_Allgatherv_init MPI_Allgatherv_init
    #define MPIK_Alltoall_init MPI_Alltoall_init
    #define MPIK_Alltoallv_init MPI_Alltoallv_init
    #define MPIK_Reduce_init MPI_Reduce_init
    #define MPIK_Allreduce_init MPI_Allreduce_init
    #define MPIK_Reduce_scatter_block_init MPI_Reduce_scatter_block_init
    #define MPIK_Reduce_scatter_init MPI_Reduce_scatter_init
    #define MPIK_Scan_init MPI_Scan_init
    #define MPIK_Exscan_init MPI_Exscan_init
    #else
    #define MPIK_HAVE_PCOLL 0
    #define MPIK_Barrier_init(...) MPI_ERR_OTHER
    #define MPIK_Bcast_init(...) MPI_ERR_OTHER
    #define MPIK_Gather_init(...) MPI_ERR_OTHER
    #define MPIK_Gatherv_init(...) MPI_ERR_OTHER
    #define MPIK_Scatter_init(...) MPI_ERR_OTHER
    #define MPIK_Scatterv_init(...) MPI_ERR_OTHER
    #define MPIK_Allgather_init(...) MPI_ERR_OTHER
    #define MPIK_Allgatherv_init(...) MPI_ERR_OTHER
    #define MPIK_Alltoall_init(...) MPI_ERR_OTHER
    #define MPIK_Alltoallv_init(...) MPI_ERR_OTHER
    #define MPIK_Reduce_init(...) MPI_ERR_OTHER
    #define MPIK_Allreduce_init(...) MPI_ERR_OTHER
    #define MPIK_Reduce_scatter_block_init(...) MPI_ERR_OTHER
    #define MPIK_Reduce_scatter_init(...) MPI_ERR_OTHER
    #define MPIK_Scan_init(...) MPI_ERR_OTHER
    #define MPIK_Exscan_init(...) MPI_ERR_OTHER
    #endif
    """
    enum: MPIK_HAVE_PCOLL
    int MPIK_Barrier_init(MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Bcast_init(void *, int, MPI_Datatype, int, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Gather_init(void *, int, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Gatherv_init(void *, int, MPI_Datatype, void *, int *, int *, MPI_Datatype, int, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Scatter_init(void *, int, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Scatterv_init(void *, int *, int *, MPI_Datatype, void *, int, MPI_Datatype, int, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Allgather_init(void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Allgatherv_init(void *, int, MPI_Datatype, void *, int *, int *, MPI_Datatype, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Alltoall_init(void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Alltoallv_init(void *, int *, int *, MPI_Datatype, void *, int *, int *, MPI_Datatype, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Reduce_init(void *, void *, int, MPI_Datatype, MPI_Op, int, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Allreduce_init(void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Reduce_scatter_block_init(void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Reduce_scatter_init(void *, void *, int *, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Scan_init(void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Info, MPI_Request *)
    int MPIK_Exscan_init(void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm, MPI_Info, MPI_Request *)
