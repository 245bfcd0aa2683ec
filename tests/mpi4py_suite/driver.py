"""What each rank runs (started by run.py under mpiexec): mpi4py's own runner, `test/main.py`'s
TestProgram (discovery of test_*.py, its -i/-e/--xfile options, its skipMPI rules), unedited,
with a result class that streams every test's outcome to OUTDIR/rank<R>.jsonl as it happens. So
when a test hangs or a rank crashes, run.py still knows what finished, names the test that did
not, and starts the rest again without it.

    python driver.py TESTDIR OUTDIR [main.py options...]

Each line of the .jsonl file is one JSON object: {"event": "start", "id": ...} when a test starts,
{"event": "end", "id": ..., "outcome": passed|failed|error|skipped, "detail": ...} when it ends
(detail: the last line of the traceback, or the skip reason), {"event": "error", "id": ...} for
an error outside a test (a module that does not import, a failing setUpClass).
"""

import json
import os
import sys
import traceback
import unittest

RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


def rank():
    for var in RANK_VARS:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def last_line(err):
    lines = "".join(traceback.format_exception_only(err[0], err[1])).strip().splitlines()
    return (lines[-1] if lines else repr(err[1]))[:500]


def main():
    testdir, outdir, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    sys.dont_write_bytecode = True
    sys.path.insert(0, testdir)
    import main as mpi4py_main  # mpi4py's test/main.py

    r = rank()
    events = open(os.path.join(outdir, f"rank{r}.jsonl"), "a", buffering=1)
    log = open(os.path.join(outdir, f"rank{r}.log"), "a", buffering=1)

    def emit(**fields):
        events.write(json.dumps(fields) + "\n")
        events.flush()

    class Result(unittest.TextTestResult):
        def startTest(self, test):
            self._outcome_now = ("passed", "")
            emit(event="start", id=test.id())
            super().startTest(test)

        def _set(self, outcome, detail):
            order = ("passed", "skipped", "failed", "error")
            if order.index(outcome) >= order.index(self._outcome_now[0]):
                self._outcome_now = (outcome, detail)

        def stopTest(self, test):
            super().stopTest(test)
            outcome, detail = self._outcome_now
            emit(event="end", id=test.id(), outcome=outcome, detail=detail)

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self._set("failed", last_line(err))

        def addError(self, test, err):
            super().addError(test, err)
            if isinstance(test, unittest.TestCase):
                self._set("error", last_line(err))
            else:  # setUpClass / setUpModule / tearDown* of a class or module
                emit(event="error", id=str(test), detail=last_line(err))

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            self._set("skipped", str(reason)[:300])

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self._set("failed", "unexpected success")

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is not None:
                failure = issubclass(err[0], test.failureException)
                self._set("failed" if failure else "error", last_line(err))

    class Runner(unittest.TextTestRunner):
        resultclass = Result

        def __init__(self, **kwargs):
            kwargs["stream"] = log
            super().__init__(**kwargs)

    # a module that does not import becomes unittest.loader._FailedTest, a TestCase: its id is
    # "unittest.loader._FailedTest.<module>", recorded as one error by the result class.
    try:
        mpi4py_main.main(module=None, argv=["main.py", *args], testRunner=Runner)
    except SystemExit:
        pass
    emit(event="done")


if __name__ == "__main__":
    main()
