"""After MPI.Finalize() every MPI call must raise a clear Python exception (mpi4py lets MPICH
abort the process here, so this program runs with mpikernel only), and the process must still
exit cleanly (no second finalize, no crash at exit)."""

from harness import MPI, SIZE, check, done, np, raises, value

W = MPI.COMM_WORLD
sub = W.Dup()
req = W.irecv(source=MPI.PROC_NULL)
check("before: allreduce", lambda: W.allreduce(1), SIZE)
check("Finalize", MPI.Finalize, None)
value("Is_finalized", MPI.Is_finalized(), True)
value("Is_initialized stays True", MPI.Is_initialized(), True)
raises("Get_rank", lambda: W.Get_rank())
raises(".rank", lambda: W.rank)
raises(".size", lambda: W.size)
raises("send", lambda: W.send(1, dest=0))
raises("recv", lambda: W.recv(source=0))
raises("Send", lambda: W.Send(np.zeros(2), dest=0))
raises("barrier", lambda: W.barrier())
raises("Barrier", lambda: W.Barrier())
raises("allreduce", lambda: W.allreduce(1))
raises("Bcast", lambda: W.Bcast(np.zeros(2), root=0))
raises("Dup", lambda: W.Dup())
raises("Split", lambda: W.Split(0, 0))
raises("derived comm allreduce", lambda: sub.allreduce(1))
raises("COMM_SELF bcast", lambda: MPI.COMM_SELF.bcast(1, root=0))
raises("Request.Wait", lambda: req.Wait())
raises("Finalize twice", MPI.Finalize)
raises("Get_processor_name", MPI.Get_processor_name)
raises("_reset_world", MPI._reset_world)
done()
