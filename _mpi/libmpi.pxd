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
