"""A dask-worker --preload for tests/python/test_distributed.py: each batch the worker starts is
logged ("PID FIRST-FILE" appended to $RAMSTRANS_TEST_BATCH_LOG) and made slower by
$RAMSTRANS_TEST_BATCH_DELAY seconds, so that a worker can be killed in the middle of a run and the
test can tell which batches it had started.  ramstrans.distributed sends
ramstrans._worker.classify_batch by reference, so replacing it here is what the worker runs."""

import os
import time

import ramstrans._worker as worker

# Dask may execute a preload file more than once in a process (it reloads it): wrap the original
# function once, never the wrapper.
if not hasattr(worker, "_unwrapped_classify_batch"):
    worker._unwrapped_classify_batch = worker.classify_batch


def _logged_slow_batch(items, *args, **kw):
    first = items[0][0] if isinstance(items[0], (tuple, list)) else items[0]
    log = os.environ.get("RAMSTRANS_TEST_BATCH_LOG")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"%d %s\n" % (os.getpid(), first))
        finally:
            os.close(fd)
    time.sleep(float(os.environ.get("RAMSTRANS_TEST_BATCH_DELAY", "0")))
    return worker._unwrapped_classify_batch(items, *args, **kw)


worker.classify_batch = _logged_slow_batch
