"""Classify a folder of images on a Dask cluster: `ramscli classify --json` spread over workers.

    python3 -m ramstrans.distributed --scheduler ADDRESS [--model M] [--mode MODE] [--top-k K]
                                     [--precision P] [--kernel NAME] [--batch N]
                                     [--threads N] PATH...

ADDRESS is a running dask-scheduler (tcp://host:port) or local:N, a LocalCluster of N worker
processes on this machine.  The PATHs are walked here exactly as ramscli walks them; batches of
file names go to the workers, each worker process loads the model once and classifies its batches,
and the results come back as JSON lines on stdout in input order, byte for byte what
`ramscli classify --json` prints.  A file that fails gives one line on stderr,
"ramstrans.distributed: FILE: problem", and the rest go on (exit status 1).  A worker that dies
has its batches run again elsewhere (the scheduler reschedules them; a batch whose task raises is
retried --retries times), and each line is printed once, when its batch's turn comes.
The workers read the files and the model by the same paths as this client (a shared file
system), and need the ramstrans package and libramstrans (e.g. PYTHONPATH as here).
"""

import argparse
import collections
import logging
import os
import sys
import time
import uuid

PROG = "ramstrans.distributed"

USAGE_EPILOG = """\
ADDRESS: tcp://HOST:PORT of a running dask-scheduler, or local:N for a LocalCluster of N worker
processes (one thread each) on this machine.  Output: one JSON line per input in input order,
identical to `ramscli classify --json`; a failing input prints 'ramstrans.distributed: FILE:
problem' on stderr and the others still run.  Exit status: 0 all classified, 1 an input, the
model or the cluster failed, 2 usage error.  With many inputs and a terminal, stderr shows a
progress bar.
"""


def report(what, message):
    """cli_report's line: 'PROG: WHAT: MESSAGE', WHAT left out when MESSAGE starts with it."""
    message = message or "failed (no message)"
    if what and message.startswith(what + ":"):
        line = "%s: %s\n" % (PROG, message)
    elif what:
        line = "%s: %s: %s\n" % (PROG, what, message)
    else:
        line = "%s: %s\n" % (PROG, message)
    sys.stderr.buffer.write(line.encode("utf-8", "surrogateescape"))
    sys.stderr.flush()


class Progress:
    """ramscli's progress bar (cli/progress.c): on stderr, a terminal only, 5 inputs or more."""

    WIDTH = 30

    def __init__(self, total):
        self.total, self.done, self.drawn = total, 0, False
        self.enabled = total >= 5 and sys.stderr.isatty()
        self.start = self.last = time.monotonic()

    @staticmethod
    def _duration(s):
        if s < 0 or s > 99 * 3600:
            return "--:--"
        s = int(s + 0.5)
        return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60) if s >= 3600 else \
            "%d:%02d" % (s // 60, s % 60)

    def _draw(self, now):
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        filled = self.WIDTH * self.done // self.total if self.total else self.WIDTH
        bar = "#" * filled + "." * (self.WIDTH - filled)
        eta = self._duration((self.total - self.done) / rate if rate > 0 else -1)
        sys.stderr.write("\r%d/%d [%s] %.1f/s ETA %s\033[K" % (self.done, self.total, bar, rate, eta))
        sys.stderr.flush()
        self.drawn, self.last = True, now

    def step(self, n=1):
        self.done += n
        if self.enabled:
            now = time.monotonic()
            if now - self.last >= 0.1 or self.done == self.total or not self.drawn:
                self._draw(now)

    def clear(self):
        if self.enabled and self.drawn:
            sys.stderr.write("\r\033[K")
            self.drawn = False

    def finish(self):
        if self.enabled:
            if not self.drawn:
                self._draw(time.monotonic())
            sys.stderr.write("\n")
            self.drawn = False


def _positive(text):
    try:
        v = int(text, 10)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError("wants a positive number, not '%s'" % text)
    return v


def _count(text):
    try:
        v = int(text, 10)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError("wants a number >= 0, not '%s'" % text)
    return v


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python3 -m " + PROG,
        description="Classifies images (JPEG, PNG) and .npy tensors, files or directories, on a "
                    "Dask cluster: batches of file names go to the workers, JSON lines come back "
                    "in input order.",
        epilog=USAGE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scheduler", required=True, metavar="ADDRESS",
                   help="tcp://HOST:PORT of a dask-scheduler, or local:N (N worker processes here)")
    p.add_argument("-m", "--model", metavar="PATH",
                   help="the model file, by the path the workers see (default: the default model)")
    p.add_argument("--mode", choices=("scale1", "scale2", "fused"),
                   help="scale1, scale2 or fused (default: the model file's default mode)")
    p.add_argument("-k", "--top-k", type=_positive, default=5, metavar="K",
                   help="predictions per input (default 5)")
    p.add_argument("--precision", default="f32", metavar="P",
                   help="f32 (default; exact) or bf16: matrix products on bf16 operands with f32 "
                        "sums, as ramscli's --precision")
    p.add_argument("--kernel", metavar="NAME",
                   help="the precision's matrix-product kernel (default: the fastest the worker "
                        "runs), as ramscli's --kernel")
    p.add_argument("--batch", type=_positive, default=32, metavar="N",
                   help="file names per task (default 32)")
    p.add_argument("-t", "--threads", type=_count, default=0, metavar="N",
                   help="threads per image on a worker (default: as ramscli here: one for a small "
                        "model, this machine's CPUs for a large one, which gives ramscli's numbers "
                        "to the last bit)")
    p.add_argument("--retries", type=_count, default=3, metavar="R",
                   help="times a batch whose task raised is run again (default 3); batches of "
                        "a worker that died are rerun by the scheduler")
    p.add_argument("--timeout", type=_positive, default=30, metavar="S",
                   help="seconds to wait for the scheduler to answer (default 30)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="let Dask's own log lines (workers lost, tasks rescheduled) through to stderr")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files and directories")
    args = p.parse_args(argv)
    try:
        import ramstrans
    except ImportError as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        sys.exit(1)
    if args.precision.lower() not in ramstrans.PRECISIONS:
        p.error("--precision wants %s, not '%s'" % (" or ".join(ramstrans.PRECISIONS), args.precision))
    if args.scheduler.startswith("local:"):
        n = args.scheduler[len("local:"):]
        if not n.isdigit() or int(n) < 1:
            p.error("--scheduler local:N wants a positive number of workers, not '%s'" % n)
        args.local_workers = int(n)
    elif "://" in args.scheduler:
        args.local_workers = 0
    else:
        p.error("--scheduler wants tcp://HOST:PORT or local:N, not '%s'" % args.scheduler)
    return args


def _probe():
    """Runs on each worker (pickled by value): can it import ramstrans?"""
    try:
        import ramstrans as _r
        return {"ok": True, "version": _r.version}
    except Exception as e:  # ImportError, or the library not found
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def quiet_dask_logs():
    """Dask's own log lines (a worker lost, keys rescheduled, asyncio's complaints about the
    connections to it) stay off stderr unless --verbose:
    stderr holds one line per failed input, as ramscli's does.  Dask's logging configuration
    gives its loggers their own levels, so each is set."""
    import distributed  # noqa: F401  (configures its loggers)
    for name in list(logging.root.manager.loggerDict) + ["distributed", "asyncio"]:
        # asyncio: "Future exception was never retrieved" for a connection to a lost worker
        if name in ("distributed", "asyncio") or name.startswith(("distributed.", "tornado")):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _connect(args):
    """(client, cluster or None)."""
    from distributed import Client
    if args.local_workers:
        from distributed import LocalCluster
        # No dashboard; and the scheduler's HTTP server (health, metrics), which would otherwise
        # ask for port 8787 and print a warning among our error lines when another cluster holds
        # it (two runs at once), takes a free port.
        cluster = LocalCluster(n_workers=args.local_workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                               silence_logs=logging.ERROR)
        return Client(cluster), cluster
    return Client(args.scheduler, timeout="%ds" % args.timeout), None


def run(args):
    import ramstrans
    from ramstrans import _worker

    paths = [os.fsencode(p) for p in
             ramstrans.list_inputs(args.paths, report=lambda p, m: report(p, m))]
    if not paths:
        report("classify", "no images or .npy files found in the given directories")
        return 1
    # The model must load here too (same paths): a wrong --model is one line, not N failed tasks.
    try:
        with ramstrans.Model(args.model, threads=1, precision=args.precision,
                             kernel=args.kernel) as m:
            flops = m.flops("fused")
    except ramstrans.Error as e:
        report(args.model or "default model", str(e))
        return 1
    # Threads per image: ramscli's choice for these inputs on this machine (cli/pool.c), the
    # fastest: one image per thread for a small model and several inputs, else this machine's
    # online CPUs.  (Any count gives the same bits.)
    threads = args.threads
    if not threads:
        small = flops is not None and flops <= ramstrans.INTRA_IMAGE_FLOPS
        threads = 1 if small and len(paths) > 1 else ramstrans.online_cpus()

    if not args.verbose:
        quiet_dask_logs()
    try:
        client, cluster = _connect(args)
    except (OSError, TimeoutError, ValueError) as e:
        report(args.scheduler, "cannot reach the Dask scheduler: %s" % (e or type(e).__name__))
        return 1
    failures = 0
    progress = Progress(len(paths))
    pending = collections.deque()
    try:
        try:
            probes = client.run(_probe)
        except Exception as e:
            report(args.scheduler, "a worker cannot run ramstrans (%s: %s)" % (type(e).__name__, e))
            return 1
        for addr, probe in sorted(probes.items()):
            if not probe.get("ok"):
                report(addr, "this worker cannot import ramstrans (%s); start dask-worker where "
                             "`python3 -c 'import ramstrans'` works (e.g. with PYTHONPATH)"
                       % probe.get("error"))
                return 1
            if probe.get("version") != ramstrans.version:
                report(addr, "warning: this worker has libramstrans %s, this client %s"
                       % (probe.get("version"), ramstrans.version))
        model = args.model
        if model is not None and not os.path.isabs(model):
            model = os.path.join(os.getcwd(), model)
        nthreads = sum(client.nthreads().values()) or 1
        window = max(8, 4 * nthreads)
        token = uuid.uuid4().hex[:12]
        # Workers do not share this process's working directory: a relative name travels with
        # the absolute one to open (not normalised, so "..", symlinks mean what they mean here).
        cwd = os.getcwdb()
        items = [p if p.startswith(b"/") else (p, os.path.join(cwd, p)) for p in paths]
        batches = [items[i:i + args.batch] for i in range(0, len(items), args.batch)]
        submitted = 0
        out = sys.stdout.buffer

        def submit_more():
            nonlocal submitted
            while submitted < len(batches) and len(pending) < window:
                batch = batches[submitted]
                future = client.submit(_worker.classify_batch, batch, model, args.mode,
                                       args.top_k, args.precision, threads, args.kernel,
                                       key="ramstrans-batch-%s-%d" % (token, submitted),
                                       pure=False, retries=args.retries)
                pending.append((batch, future))
                submitted += 1

        submit_more()
        while pending:
            batch, future = pending.popleft()
            try:
                results = future.result()
                error = None
            except Exception as e:  # the batch could not run (e.g. KilledWorker after retries)
                results, error = None, "not classified: %s: %s" % (type(e).__name__, e)
            del future
            submit_more()
            for i, item in enumerate(batch):
                path = item[0] if isinstance(item, tuple) else item
                ok, text = results[i] if results is not None else (False, None)
                if ok:
                    out.write(text + b"\n")
                else:
                    progress.clear()
                    out.flush()
                    message = error if error else text.decode("utf-8", "surrogateescape")
                    report(os.fsdecode(path), message)
                    failures += 1
                progress.step()
            if progress.enabled:
                out.flush()
        out.flush()
    finally:
        progress.finish()
        for _, future in pending:
            future.cancel()
        try:
            client.close()
            if cluster is not None:
                cluster.close()
        except Exception:
            pass
    return 1 if failures else 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. | head): stop quietly as a shell tool does
        try:
            sys.stdout = None
        except Exception:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
