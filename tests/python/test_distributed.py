"""python3 -m ramstrans.distributed against `ramscli classify --json`, on Dask (python3-distributed).

    RAMSCLI=build/ramscli RAMSTRANS_LIBRARY=build/libramstrans.so.1 \
        /usr/bin/python3 tests/python/test_distributed.py          (exit 77: Dask not installed)

- a LocalCluster of 2 worker processes (--scheduler local:2) over the examples and every test
  photo, good and bad: stdout byte for byte ramscli's, the same error lines, the same exit status;
- a dask-scheduler and two dask-workers started as separate processes on 127.0.0.1: the same
  lines as ramscli over the examples and photos; then the client runs over 60 images in batches
  of 2 (each batch made slow by tests/python/slow_worker.py), one worker is killed (SIGKILL,
  nanny and all) while it is in the middle of a batch; the output is still ramscli's, no line
  twice, and the killed worker's batch ran again on the other;
- the command-line errors that need no cluster.
With RAMS_INSTALLED_PREFIX (tests/install/test_install.sh), the installed ramscli and package.
Every process started here runs in its own session and is killed at the end, pass or fail;
everything listens on 127.0.0.1 only, and every wait is bounded.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (sets the paths up)
from common import DEFAULT_MODEL, EXAMPLES, ROOT, ramscli  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable or "/usr/bin/python3"


def distributed_cli(*args, cwd=ROOT, timeout=180):
    p = subprocess.run([PY, "-m", "ramstrans.distributed"] + list(args), cwd=cwd, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout, p.stderr


def as_ramscli(stderr):
    """The client's error lines with ramscli's name in front."""
    prefix = b"ramstrans.distributed: "
    return b"".join(b"ramscli: " + line[len(prefix):] if line.startswith(prefix) else line
                    for line in stderr.splitlines(keepends=True))


class Processes:
    """Processes started in their own sessions, all killed (with their children) by close()."""

    def __init__(self, tmp):
        self.tmp, self.procs = tmp, []

    def start(self, name, args, env=None):
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, cwd=self.tmp, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    @staticmethod
    def kill(p):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        for p in self.procs:
            self.kill(p)

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class LocalCluster(unittest.TestCase):

    def test_examples_and_photos(self):
        paths = ["examples", "tests/data/images"]
        rc, out, err = ramscli("classify", "--json", *paths, cwd=ROOT)
        self.assertGreater(out.count(b"\n"), 40)
        self.assertGreater(err.count(b"\n"), 40)
        d_rc, d_out, d_err = distributed_cli("--scheduler", "local:2", "--batch", "5", *paths)
        self.assertEqual(d_out, out)
        self.assertEqual(as_ramscli(d_err), err)
        self.assertEqual((d_rc, rc), (1, 1))

    def test_options_and_progress(self):
        # Options passed through; stderr a terminal: ramscli's progress bar there, ending on the
        # count of inputs, and stdout unchanged.
        import pty
        args = ["--model", "models/default.safetensors", "--mode", "scale2", "--top-k", "3"]
        rc, out, err = ramscli("classify", "--json", *args, "examples", cwd=ROOT)
        self.assertEqual(rc, 0)
        master, slave = pty.openpty()
        try:
            p = subprocess.run([PY, "-m", "ramstrans.distributed", "--scheduler", "local:1",
                                "--batch", "4", *args, "examples"], cwd=ROOT, timeout=180,
                               stdout=subprocess.PIPE, stderr=slave)
            os.close(slave)
            slave = None
            tty = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed and drained
                    break
                if not chunk:
                    break
                tty += chunk
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)
        self.assertEqual((p.returncode, p.stdout), (0, out))
        n = out.count(b"\n")
        self.assertRegex(tty, rb"\r%d/%d \[#{30}\] [0-9.]+/s ETA 0:00\x1b\[K\r?\n$" % (n, n))


class Errors(unittest.TestCase):
    """Mistakes found before any cluster starts (or when none answers)."""

    def test_usage(self):
        for args in (["examples"], ["--scheduler", "nowhere", "examples"],
                     ["--scheduler", "local:0", "examples"], ["--scheduler", "local:2"],
                     ["--scheduler", "local:2", "--precision", "f16", "examples"],
                     ["--scheduler", "local:2", "--mode", "zoom", "examples"],
                     ["--scheduler", "local:2", "--top-k", "0", "examples"],
                     ["--scheduler", "local:2", "--batch", "x", "examples"]):
            with self.subTest(args=args):
                rc, out, err = distributed_cli(*args)
                self.assertEqual((rc, out), (2, b""))
                self.assertIn(b"usage:", err)

    def test_model_and_inputs(self):
        rc, out, err = distributed_cli("--scheduler", "local:2", "--model", "/nonexistent.safetensors",
                                       "examples")
        self.assertEqual((rc, out), (1, b""))
        self.assertEqual(err, b"ramstrans.distributed: /nonexistent.safetensors: cannot open: "
                              b"No such file or directory\n")
        tmp = tempfile.mkdtemp()
        try:
            rc, out, err = distributed_cli("--scheduler", "local:2", tmp)
            self.assertEqual((rc, out), (1, b""))
            self.assertEqual(err, b"ramstrans.distributed: classify: no images or .npy files found "
                                  b"in the given directories\n")
        finally:
            shutil.rmtree(tmp)

    def test_no_scheduler(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        t = time.monotonic()
        rc, out, err = distributed_cli("--scheduler", "tcp://127.0.0.1:%d" % port, "--timeout", "2",
                                       "examples")
        self.assertEqual((rc, out), (1, b""))
        self.assertIn(b"cannot reach the Dask scheduler", err)
        self.assertLess(time.monotonic() - t, 60)


class SchedulerAndWorkers(unittest.TestCase):
    """A dask-scheduler and 2 dask-worker processes started by hand on 127.0.0.1 (each worker's
    batches logged and slowed by slow_worker.py); the same lines as ramscli, then one worker
    killed mid-run."""

    BATCH_DELAY = "0.5"  # margin for a busy machine: the victim must still be inside its batch

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.procs = Processes(cls.tmp)
        try:
            cls.address = cls.start_cluster()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.procs.close()
        if os.environ.get("RAMS_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def start_cluster(cls):
        env = dict(os.environ, RAMSTRANS_TEST_BATCH_LOG=os.path.join(cls.tmp, "batches.log"),
                   RAMSTRANS_TEST_BATCH_DELAY=cls.BATCH_DELAY)
        sched_file = os.path.join(cls.tmp, "scheduler.json")
        cls.procs.start("scheduler", [PY, "-m", "distributed.cli.dask_scheduler", "--host",
                                      "127.0.0.1", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", sched_file, "--idle-timeout", "600"],
                        env=env)
        deadline = time.monotonic() + 60
        address = None
        while time.monotonic() < deadline and not address:
            try:
                with open(sched_file) as f:
                    address = json.load(f)["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        if not address:
            raise AssertionError("no scheduler after 60 s:\n" + cls.procs.log("scheduler"))
        cls.workers = [
            cls.procs.start("worker%d" % i, [
                PY, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--host",
                "127.0.0.1", "--no-dashboard", "--local-directory", os.path.join(cls.tmp, "w%d" % i),
                "--preload", os.path.join(HERE, "slow_worker.py"), "--death-timeout", "120"], env=env)
            for i in range(2)]
        from distributed import Client
        with Client(address, timeout="60s") as c:
            try:
                c.wait_for_workers(2, timeout=120)
            except Exception as e:
                raise AssertionError("%s\n%s" % (e, "\n".join(
                    "---- %s\n%s" % (n, cls.procs.log(n)) for n in ("scheduler", "worker0", "worker1"))))
        return address

    def test_1_same_lines(self):
        paths = ["examples", "tests/data/images"]
        rc, out, err = ramscli("classify", "--json", *paths, cwd=ROOT)
        d_rc, d_out, d_err = distributed_cli("--scheduler", self.address, "--batch", "64", *paths)
        self.assertEqual(d_out, out)
        self.assertEqual(as_ramscli(d_err), err)
        self.assertEqual((d_rc, rc), (1, 1))

    def make_inputs(self):
        d = os.path.join(self.tmp, "images")
        os.makedirs(d)
        pngs = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".png"))
        for i in range(60):
            shutil.copy(os.path.join(EXAMPLES, pngs[i % len(pngs)]), os.path.join(d, "img_%02d.png" % i))
        with open(os.path.join(d, "img_30_bad.png"), "w") as f:
            f.write("not a PNG\n")
        return d

    def test_2_kill_a_worker(self):
        address = self.address
        images = self.make_inputs()
        rc, out, err = ramscli("classify", "--json", "--model", DEFAULT_MODEL, images)
        self.assertEqual(out.count(b"\n"), 60)
        log = os.path.join(self.tmp, "batches.log")
        if os.path.exists(log):
            os.unlink(log)

        client = subprocess.Popen([PY, "-m", "ramstrans.distributed", "--scheduler", address,
                                   "--model", DEFAULT_MODEL, "--batch", "2", images],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        self.procs.procs.append(client)
        got = {}
        readers = [threading.Thread(target=lambda k, s: got.__setitem__(k, s.read()), args=(k, s))
                   for k, s in (("out", client.stdout), ("err", client.stderr))]
        for t in readers:
            t.start()

        # Kill the worker that has just started a batch (it sleeps in it), once both have run some.
        victim, victim_pid = None, None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and victim is None and client.poll() is None:
            try:
                with open(log, "rb") as f:
                    lines = f.read().splitlines()
            except OSError:
                lines = []
            pids = [int(line.split(b" ", 1)[0]) for line in lines]
            if len(lines) >= 6 and len(set(pids)) >= 2:
                victim_pid = pids[-1]
                victim = next(w for w in self.workers if os.getpgid(victim_pid) == w.pid)
                Processes.kill(victim)
                killed_after = len(lines)
            else:
                time.sleep(0.02)
        self.assertIsNotNone(victim, "no worker was killed (the run ended or stalled first)")

        client.wait(timeout=150)
        for t in readers:
            t.join(timeout=30)
        client.stdout.close()
        client.stderr.close()
        self.assertIsNotNone(victim.poll())
        self.assertEqual(got["out"], out, got["err"].decode(errors="replace"))
        lines = got["out"].splitlines()
        self.assertEqual(len(lines), len(set(lines)), "a line printed twice")
        self.assertEqual(as_ramscli(got["err"]).decode(errors="replace").splitlines(),
                         err.decode(errors="replace").splitlines())
        self.assertEqual((client.returncode, rc), (1, 1))

        # The batch the victim was in the middle of ran again on the surviving worker.
        with open(log, "rb") as f:
            started = [line.split(b" ", 1) for line in f.read().splitlines()]
        by_victim = {first for pid, first in started if int(pid) == victim_pid}
        by_others = {first for pid, first in started if int(pid) != victim_pid}
        self.assertTrue(by_victim & by_others, "no batch of the killed worker was run again")
        self.assertGreater(len(started), killed_after)


def main():
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("SKIP: Dask's distributed is not installed (apt-get install python3-distributed)")
        return 77
    program = unittest.main(verbosity=2, exit=False)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
