"""The ramstrans Python package (python/ramstrans) against ramscli and the C header.

    RAMSCLI=build/ramscli RAMS_ABI_LAYOUT=build/tests/python_abi_layout \
        RAMSTRANS_LIBRARY=build/libramstrans.so.1 /usr/bin/python3 tests/python/test_api.py

- the ctypes mirrors have the header's fields, sizes and offsets (a C program compiled against
  ramstrans.h prints them; the field names are also read from the header);
- classify() on the examples and every test photo prints, through ramstrans.dumps, byte for byte
  the lines `ramscli classify --json` prints, in every mode and for several top-k; failures raise
  ramstrans.Error with the message ramscli prints; info() is `ramscli info --json`;
- the directory walk is ramscli's (sorted, recursive, hidden files skipped, symlink loops and
  duplicate files once, file kinds by content, odd file names escaped alike);
- arrays in (HxWx3 uint8 images, 3xSxS float32 tensors, strided views) and out (rollout, mask,
  crop, decoded image, network input, probabilities; rollout as `ramscli explain --rollout`);
- errors, closing, and threads sharing one model with a context each;
- quantize() writes the bytes `ramscli quantize` writes, and names the file when it fails.
"""

import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (sets the paths up)
from common import (DATA, DEFAULT_MODEL, EXAMPLES, PHOTOS, ROOT, TINY_F16, TINY_F32,  # noqa: E402
                    python_classify, ramscli)

import numpy as np  # noqa: E402

import ramstrans  # noqa: E402
from ramstrans import _lib  # noqa: E402


def _examples():
    return sorted(os.path.join(EXAMPLES, f) for f in os.listdir(EXAMPLES) if f.endswith(".png"))


# Structs the library reads or writes only within a size the caller passes (the params' size
# fields, rams_run_params.result_size, rams_model_get_info_sized's out_size).
SIZED = {"rams_model_params", "rams_context_params", "rams_run_params", "rams_result",
         "rams_model_info"}


class Layout(unittest.TestCase):
    """The ctypes mirrors against the header."""

    def test_sizes_and_offsets(self):
        # The C program prints the fields the mirrors have; a struct that carries its size (or
        # is written within one) may be larger in the header, any other must be the same size.
        exe = os.environ.get("RAMS_ABI_LAYOUT")
        if not exe:
            exe = os.path.join(tempfile.mkdtemp(), "abi_layout")
            subprocess.run(["cc", "-std=c11", "-I", os.path.join(ROOT, "include"), "-o", exe,
                            os.path.join(os.path.dirname(__file__), "abi_layout.c")], check=True)
        lines = subprocess.run([exe], check=True, stdout=subprocess.PIPE).stdout.decode().split("\n")
        seen = set()
        for line in filter(None, lines):
            parts = line.split()
            cls = _lib.STRUCTS[parts[0]]
            if parts[1] == "-":
                if parts[0] in SIZED:
                    self.assertLessEqual(_lib.ctypes.sizeof(cls), int(parts[2]), parts[0])
                else:
                    self.assertEqual(_lib.ctypes.sizeof(cls), int(parts[2]), parts[0])
                seen.add(parts[0])
                continue
            field = getattr(cls, parts[1])
            self.assertEqual((field.offset, field.size), (int(parts[2]), int(parts[3])),
                             "%s.%s" % (parts[0], parts[1]))
        self.assertEqual(seen, set(_lib.STRUCTS))

    def test_fields_as_in_the_header(self):
        with open(os.path.join(ROOT, "include", "ramstrans.h")) as f:
            header = f.read()
        header = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
        structs = {}
        for body, name in re.findall(r"typedef struct\s*\{(.*?)\}\s*(\w+)\s*;", header, flags=re.S):
            fields = []
            for decl in body.split(";"):
                decl = decl.strip()
                if not decl:
                    continue
                # "int a, b" / "const float *p" / "float mean[3], std[3]"
                head = re.match(r"^(?:const\s+)?(?:unsigned\s+)?\w+\s*\**\s*", decl).group(0)
                for d in decl[len(head):].split(","):
                    fields.append(re.match(r"\s*\**\s*(\w+)", d).group(1))
            structs[name] = fields
        self.assertEqual(set(structs), set(_lib.STRUCTS), "public structs")
        for name, cls in _lib.STRUCTS.items():
            mirror = [f[0] for f in cls._fields_]
            if name in SIZED:
                # The library reads and writes these only within the size the caller gives, so
                # a mirror that lacks fields added at the end is still right (it cannot use them).
                self.assertEqual(mirror, structs[name][:len(mirror)], name)
                if structs[name][len(mirror):]:
                    print("NOTE: python/ramstrans/_lib.py's %s does not mirror the header's newer "
                          "fields %s yet" % (name, structs[name][len(mirror):]), file=sys.stderr)
            else:
                self.assertEqual(mirror, structs[name], name)

    def test_the_library_takes_the_sizes(self):
        # Params initialised with the mirrors' sizes are the defaults the C inline functions give.
        p = _lib.RunParams()
        _lib.lib.rams_run_params_init(_lib.ctypes.byref(p), _lib.ctypes.sizeof(p),
                                      _lib.ctypes.sizeof(_lib.Result))
        self.assertEqual((p.size, p.result_size, p.top_k, p.mode),
                         (_lib.ctypes.sizeof(p), _lib.ctypes.sizeof(_lib.Result), 5, 0))


class WithDefaultModel(unittest.TestCase):
    """Tests that share one Model of the default model (self.model)."""

    @classmethod
    def setUpClass(cls):
        cls.model = ramstrans.Model(DEFAULT_MODEL)

    @classmethod
    def tearDownClass(cls):
        cls.model.close()


class AgainstRamscli(WithDefaultModel):

    def compare(self, model, model_path, paths, args=(), **kw):
        rc, out, err = ramscli("classify", "--json", "--model", model_path, *args, *paths)
        py_out, py_err = python_classify(model, paths, **kw)
        self.assertEqual(py_out.decode(errors="replace").split("\n"),
                         out.decode(errors="replace").split("\n"))
        self.assertEqual(py_out, out)
        self.assertEqual(py_err, err)
        self.assertEqual(rc, 1 if err else 0)
        return out

    def test_examples_every_mode_and_top_k(self):
        for mode in (None, "scale1", "scale2", "fused"):
            for k in (5, 1, 3, 10, 50):
                args = (["--mode", mode] if mode else []) + ["--top-k", str(k)]
                with self.subTest(mode=mode, top_k=k):
                    out = self.compare(self.model, DEFAULT_MODEL, _examples(), args, mode=mode,
                                       top_k=k)
                    self.assertEqual(out.count(b"\n"), len(_examples()))

    def test_examples_default_model(self):
        with ramstrans.Model() as m:
            self.assertEqual(os.path.realpath(m.path), os.path.realpath(ramstrans.default_model_path()))
            rc, out, err = ramscli("classify", "--json", EXAMPLES)
            self.assertEqual(python_classify(m, [EXAMPLES]), (out, err))

    def test_photos(self):
        # Every test photo, valid or not, with relative names as a user types them.
        cwd = os.getcwd()
        os.chdir(DATA)
        try:
            for mode in (None, "scale1"):
                with self.subTest(mode=mode):
                    out = self.compare(self.model, DEFAULT_MODEL, ["images"],
                                       ["--mode", mode] if mode else [], mode=mode)
                    self.assertGreater(out.count(b"\n"), 40)
        finally:
            os.chdir(cwd)

    def test_tensors_and_other_models(self):
        inputs = [os.path.join(DATA, "input.npy"), os.path.join(DATA, "input_border.npy")]
        for path in (TINY_F32, TINY_F16):
            with ramstrans.Model(path) as m:
                for mode in ("scale1", "scale2", "fused"):
                    self.compare(m, path, inputs, ["--mode", mode], mode=mode)
                rc, out, err = ramscli("info", "--json", "--model", path)
                self.assertEqual(ramstrans.dumps(m.info()).encode() + b"\n", out)

    def test_precisions_and_kernels(self):
        # Every other precision, on the fastest kernel here and on every kernel this CPU runs, as
        # ramscli runs it; a precision or kernel ramscli refuses, Model refuses with its message.
        self.assertEqual((self.model.precision, self.model.kernel), ("f32", "openblas-sgemm"))
        kernels = [k for k in re.findall(r"\(there are ([^)]*)\)", ramscli(
            "classify", "--kernel", "?", "--model", DEFAULT_MODEL, _examples()[0])[2].decode())
            for k in k.split(", ")]
        for precision in ramstrans.PRECISIONS[1:]:
            for kernel in [None] + [k for k in kernels if k.startswith(precision + "-")]:
                args = ["--precision", precision] + (["--kernel", kernel] if kernel else [])
                with self.subTest(precision=precision, kernel=kernel):
                    rc, out, err = ramscli("classify", "--json", "--model", DEFAULT_MODEL, *args,
                                           *_examples())
                    try:
                        m = ramstrans.Model(DEFAULT_MODEL, precision=precision, kernel=kernel)
                    except ramstrans.Error as e:
                        self.assertEqual((rc, out), (1, b""))
                        self.assertIn(str(e), err.decode())
                        continue
                    with m:
                        self.assertEqual(m.precision, precision)
                        if kernel:
                            self.assertEqual(m.kernel, kernel)
                        self.compare(m, DEFAULT_MODEL, _examples(), args)

    def test_info(self):
        rc, out, err = ramscli("info", "--json", "--model", DEFAULT_MODEL)
        self.assertEqual((ramstrans.dumps(self.model.info()) + "\n").encode(), out)
        if "bf16" in ramstrans.PRECISIONS:
            rc, out, err = ramscli("info", "--json", "--model", DEFAULT_MODEL, "--precision", "bf16")
            with ramstrans.Model(DEFAULT_MODEL, precision="bf16") as m:
                self.assertEqual((ramstrans.dumps(m.info()) + "\n").encode(), out)
        self.assertEqual(self.model.labels, self.model.info()["labels"])

    def test_dict_reads_as_the_json_line(self):
        import json
        rc, out, err = ramscli("classify", "--json", "--model", DEFAULT_MODEL, *_examples())
        for line, path in zip(out.decode().splitlines(), _examples()):
            self.assertEqual(json.loads(line), self.model.classify(path))
            self.assertEqual(list(json.loads(line)), list(self.model.classify(path)))


class Walk(unittest.TestCase):
    """ramstrans.list_inputs against ramscli's walk, on a tree with every awkward case."""

    def test_tree(self):
        tmp = tempfile.mkdtemp()
        try:
            t = os.path.join(tmp, "tree")
            png = _examples()
            os.makedirs(os.path.join(t, "b", "deep", "er"))
            os.makedirs(os.path.join(t, "a"))
            os.makedirs(os.path.join(t, ".hidden_dir"))
            shutil.copy(png[0], os.path.join(t, "a", "one.png"))
            shutil.copy(png[1], os.path.join(t, "a", "Two.PNG"))
            shutil.copy(png[2], os.path.join(t, "a", ".hidden.png"))
            shutil.copy(png[3], os.path.join(t, ".hidden_dir", "x.png"))
            shutil.copy(png[4], os.path.join(t, "b", "deep", "er", "z.png"))
            shutil.copy(png[5], os.path.join(t, "b", "no_extension"))        # PNG by content
            shutil.copy(png[0], os.path.join(t, "b", "picture.txt"))         # PNG by content
            with open(os.path.join(t, "b", "notes.txt"), "w") as f:
                f.write("not an image\n")                                     # skipped
            with open(os.path.join(t, "b", "fake.jpg"), "w") as f:
                f.write("not a JPEG\n")                                       # listed: fails
            for name in ("fake.webp", "fake.JPEG", "fake.npy.txt", "fake.jfif"):
                with open(os.path.join(t, "b", name), "w") as f:               # as ramscli's list
                    f.write("not an image\n")
            shutil.copy(os.path.join(PHOTOS, "webp_lossy_q5_m6.webp"), os.path.join(t, "b", "w.webp"))
            shutil.copy(os.path.join(DATA, "input.npy"), os.path.join(t, "b", "tensor.npy"))
            os.link(os.path.join(t, "a", "one.png"), os.path.join(t, "b", "hardlink.png"))
            os.symlink("..", os.path.join(t, "b", "deep", "loop"))            # back to b
            os.symlink("../a/one.png", os.path.join(t, "b", "alias.png"))     # a file met before
            os.symlink("missing.png", os.path.join(t, "b", "broken.png"))     # dangling: skipped
            odd = [b"quote\".png", b"back\\slash.png", b"tab\tname.png", b"new\nline.png",
                   b"ctrl\x01.png", b"caf\xc3\xa9.png", b"latin1_\xe9.png", b"sp ace.png"]
            os.makedirs(os.path.join(t, "c"))
            for name in odd:
                shutil.copy(png[1], os.path.join(os.fsencode(t), b"c", name))
            with ramstrans.Model(DEFAULT_MODEL, threads=1) as m:
                for args in ([t], [t + "/"], [os.path.join(t, "b"), t], [os.path.join(t, "a", "one.png"),
                             os.path.join(t, "nothing.png"), os.path.join(t, "a")]):
                    with self.subTest(args=args):
                        rc, out, err = ramscli("classify", "--json", "--model", DEFAULT_MODEL, *args)
                        py_out, py_err = python_classify(m, args)
                        self.assertEqual(py_out, out)
                        self.assertEqual(py_err, err)
                        self.assertEqual(rc, 1)
            listed = ramstrans.list_inputs([t])
            names = [os.path.relpath(p, t) for p in listed]
            self.assertIn("b/no_extension", names)
            self.assertIn("b/fake.jpg", names)
            self.assertNotIn("b/notes.txt", names)
            self.assertFalse([n for n in names if "hidden" in n or "loop" in n or "alias" in n
                              or "hardlink" in n or "broken" in n], names)
            self.assertEqual(len(names), len(set(names)))
            self.assertTrue(ramstrans.is_input_file(os.path.join(t, "b", "picture.txt")))
            self.assertFalse(ramstrans.is_input_file(os.path.join(t, "b", "notes.txt")))
            self.assertEqual(ramstrans.file_kind(os.path.join(t, "b", "no_extension")), "png")
            self.assertEqual(ramstrans.file_kind(os.path.join(t, "b", "tensor.npy")), "npy")
            self.assertEqual(ramstrans.file_kind(os.path.join(t, "b", "notes.txt")), "unknown")
            with self.assertRaises(ramstrans.Error) as e:
                ramstrans.file_kind(os.path.join(t, "b"))
            self.assertEqual(e.exception.status, "RAMS_ERR_IO")
        finally:
            shutil.rmtree(tmp)


class Arrays(WithDefaultModel):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.model_cpus = ramstrans.Model(DEFAULT_MODEL, threads=ramstrans.online_cpus())

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.model_cpus.close()

    @staticmethod
    def without_file(d):
        return {k: v for k, v in d.items() if k != "file"}

    def test_image_round_trip(self):
        for path in _examples():
            r = self.model.classify(path, image=True)
            rgb = r.pop("image_rgb")
            self.assertEqual(rgb.dtype, np.uint8)
            self.assertEqual(rgb.shape, (r["image"]["height"], r["image"]["width"], 3))
            self.assertEqual(self.model.classify(rgb), self.without_file(r))
            # Views: a cropped region and a horizontally flipped one (negative strides) are
            # classified as their contiguous copies are.
            view = rgb[3:-5, 2:-7]
            self.assertEqual(self.model.classify(view), self.model.classify(view.copy()))
            flipped = rgb[:, ::-1]
            self.assertEqual(self.model.classify(flipped),
                             self.model.classify(np.ascontiguousarray(flipped)))

    def test_decoded_photos_as_arrays(self):
        # The test photos' reference pixels (PIL's decoding, *.rgb.npy) give the photo's result.
        done = 0
        for name in sorted(os.listdir(PHOTOS)):
            if not name.endswith(".rgb.npy"):
                continue
            photo = os.path.join(PHOTOS, name[:-len(".rgb.npy")])
            pixels = np.load(os.path.join(PHOTOS, name))  # float32 0..255, whole numbers
            rgb = pixels.astype(np.uint8)
            self.assertTrue((rgb == pixels).all(), name)
            try:
                expect = self.without_file(self.model.classify(photo))
            except ramstrans.Error:
                continue  # a format the library does not read (yet)
            with self.subTest(photo=name):
                self.assertEqual(self.model.classify(rgb), expect)
            done += 1
        self.assertGreater(done, 20)

    def test_pil_image(self):
        from PIL import Image
        path = _examples()[2]
        with Image.open(path) as im:
            r = self.model.classify(im.convert("RGB"))
        self.assertEqual(r, self.without_file(self.model.classify(path)))

    def test_tensor_round_trip(self):
        for path in _examples():
            r = self.model.classify(path, input=True)
            x = r.pop("input")
            self.assertEqual((x.dtype, x.shape), (np.float32, (3, 80, 80)))
            t = self.model.classify(x)
            # A tensor has no image: no image box, no size; everything else the same.
            expect = dict(self.without_file(r), box_image=None, image=None)
            self.assertEqual(t, expect)
            self.assertEqual(self.model.classify(x.astype(np.float64)), t)
        npy = os.path.join(DATA, "input.npy")
        with ramstrans.Model(TINY_F32) as tiny:
            self.assertEqual(tiny.classify(np.load(npy)), self.without_file(tiny.classify(npy)))

    def test_rollout_mask_crop_probs(self):
        tmp = tempfile.mkdtemp()
        try:
            for path in _examples():
                r = self.model.classify(path, rollout=True, crop=True, probs=True, mode="fused")
                g = self.model.info()["architecture"]["grid"]
                self.assertEqual((r["rollout"].shape, r["rollout"].dtype), ((g, g), np.float32))
                self.assertEqual(r["rollout"].max(), 1.0)
                self.assertEqual((r["mask"].shape, r["mask"].dtype), ((g, g), np.uint8))
                self.assertTrue(set(np.unique(r["mask"])) <= {0, 1, 2})
                self.assertTrue((r["mask"] == 2).any())
                self.assertEqual((r["rollout"] > r["threshold"]).sum(), (r["mask"] > 0).sum())
                self.assertEqual(r["crop"].shape, (3, 80, 80))
                np.testing.assert_array_equal(r["probs"], r["probs_fused"])
                self.assertAlmostEqual(float(r["probs"].sum()), 1.0, places=5)
                self.assertEqual(int(np.argmax(r["probs"])), r["top"][0]["index"])
                np.testing.assert_array_equal(
                    (r["probs_scale1"] + r["probs_scale2"]) / 2, r["probs_fused"])
                # The same rollout as `ramscli explain --rollout`, which runs one image on a
                # context of the online CPUs' threads.
                dump = os.path.join(tmp, "rollout.npy")
                rc, out, err = ramscli("explain", "--model", DEFAULT_MODEL, "--rollout", dump,
                                       "--out", os.path.join(tmp, "x.png"), path)
                self.assertEqual(rc, 0, err)
                np.testing.assert_array_equal(
                    np.load(dump), self.model_cpus.classify(path, rollout=True)["rollout"])
                # The crop is the zoomed region, resampled to the input size: not the input.
                x = self.model.classify(path, input=True)["input"]
                self.assertEqual(r["crop"].dtype, np.float32)
                self.assertFalse(np.array_equal(r["crop"], x))
            # scale1 runs no DPPM: nothing to give.
            r = self.model.classify(_examples()[0], mode="scale1", rollout=True, crop=True,
                                    probs=True)
            self.assertIsNone(r["rollout"])
            self.assertIsNone(r["crop"])
            self.assertIsNone(r["probs_scale2"])
            self.assertIsNone(r["box"])
            self.assertIsNone(r["logits"]["scale2"])
            # On request only: a plain call has exactly the JSON fields.
            self.assertEqual(list(self.model.classify(_examples()[0])),
                             ["file", "mode", "top", "logits", "box", "box_image", "fallback", "image"])
        finally:
            shutil.rmtree(tmp)


class Errors(WithDefaultModel):

    def raises(self, status, fn, *args, **kw):
        with self.assertRaises(ramstrans.Error) as e:
            fn(*args, **kw)
        self.assertEqual(e.exception.status, status, str(e.exception))
        self.assertNotIn("\n", str(e.exception))
        return str(e.exception)

    def test_files(self):
        msg = self.raises("RAMS_ERR_IO", self.model.classify, "/nonexistent/x.png")
        self.assertEqual(msg, "/nonexistent/x.png: cannot open: No such file or directory")
        msg = self.raises("RAMS_ERR_FORMAT", self.model.classify,
                          os.path.join(PHOTOS, "bad_png_crc.png"))
        rc, out, err = ramscli("classify", "--model", DEFAULT_MODEL,
                               os.path.join(PHOTOS, "bad_png_crc.png"))
        self.assertEqual(err.decode(), "ramscli: %s\n" % msg)
        self.raises("RAMS_ERR_LIMIT", self.model.classify, os.path.join(PHOTOS, "bad_png_huge.png"))
        self.raises("RAMS_ERR_IO", self.model.classify, PHOTOS)  # a directory
        # The model still works after errors.
        self.assertEqual(self.model.classify(_examples()[0])["mode"], "fused")

    def test_arguments(self):
        x = _examples()[0]
        self.assertIn("unknown mode 'zoom'",
                      self.raises("RAMS_ERR_INVALID_ARGUMENT", self.model.classify, x, mode="zoom"))
        self.raises("RAMS_ERR_INVALID_ARGUMENT", self.model.classify, x, top_k=0)
        self.raises("RAMS_ERR_INVALID_ARGUMENT", self.model.classify, np.zeros((10, 10), np.uint8))
        self.raises("RAMS_ERR_INVALID_ARGUMENT", self.model.classify, np.zeros((10, 10, 3), np.int32))
        self.raises("RAMS_ERR_INVALID_ARGUMENT", self.model.classify, np.zeros((3, 10), np.float32))
        self.raises("RAMS_ERR_INVALID_ARGUMENT", self.model.classify, 42)
        # A tensor of the wrong size is the library's refusal.
        msg = self.raises("RAMS_ERR_SHAPE", self.model.classify, np.zeros((3, 16, 16), np.float32))
        self.assertEqual(msg, "input tensor is 3x16x16, the model takes 3x80x80")
        # Images above max_pixels are refused by the library.
        self.raises("RAMS_ERR_LIMIT", self.model.classify, np.zeros((100, 100, 3), np.uint8),
                    max_pixels=5000)

    def test_models(self):
        msg = self.raises("RAMS_ERR_IO", ramstrans.Model, "/nonexistent/model.safetensors")
        self.assertTrue(msg.startswith("/nonexistent/model.safetensors: "), msg)
        rc, out, err = ramscli("info", "--model", "/nonexistent/model.safetensors")
        self.assertEqual(err.decode(), "ramscli: %s\n" % msg)
        msg = self.raises("RAMS_ERR_LIMIT", ramstrans.Model, os.path.join(EXAMPLES, "coat.png"))
        self.assertTrue(msg.startswith(os.path.join(EXAMPLES, "coat.png") + ": "), msg)
        msg = self.raises("RAMS_ERR_INVALID_ARGUMENT", ramstrans.Model, DEFAULT_MODEL,
                          precision="f16")
        self.assertIn("precision", msg)
        self.assertIn("f32", msg)
        if "bf16" in ramstrans.PRECISIONS:
            msg = self.raises("RAMS_ERR_INVALID_ARGUMENT", ramstrans.Model, DEFAULT_MODEL,
                              precision="bf16", kernel="no-such-kernel")
            self.assertIn("no-such-kernel", msg)
        self.raises("RAMS_ERR_INVALID_ARGUMENT", ramstrans.Model, DEFAULT_MODEL, threads=-1)

    def test_closed(self):
        m = ramstrans.Model(DEFAULT_MODEL)
        m.classify(_examples()[0])
        m.close()
        self.assertIn("closed", self.raises("RAMS_ERR_INVALID_ARGUMENT", m.classify, _examples()[0]))
        m.close()  # twice is fine


class Quantize(unittest.TestCase):
    """ramstrans.quantize against `ramscli quantize` (rams_quantize_model_file)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_same_bytes_as_ramscli(self):
        py, cli = os.path.join(self.tmp, "py.safetensors"), os.path.join(self.tmp, "cli.safetensors")
        self.assertIsNone(ramstrans.quantize(DEFAULT_MODEL, py))
        rc, out, err = ramscli("quantize", "--model", DEFAULT_MODEL, "--out", cli)
        self.assertEqual((rc, err), (0, b""))
        with open(py, "rb") as a, open(cli, "rb") as b:
            py_bytes, cli_bytes = a.read(), b.read()
        self.assertEqual(len(py_bytes), len(cli_bytes))
        self.assertTrue(py_bytes == cli_bytes, "the q8 files differ")
        # A path-like src and dst, and src None (the default model, as ramscli without --model).
        import pathlib
        again = os.path.join(self.tmp, "again.safetensors")
        ramstrans.quantize(pathlib.Path(DEFAULT_MODEL), pathlib.Path(again))
        with open(again, "rb") as f:
            self.assertTrue(f.read() == cli_bytes)
        if ramstrans.default_model_path() is not None:
            ramstrans.quantize(None, again)
            with ramstrans.Model(again, precision="int8") as m, \
                    ramstrans.Model(ramstrans.default_model_path(), precision="int8") as src:
                self.assertEqual(m.info()["dtype"], "Q8")
                x = _examples()[0]
                self.assertEqual(ramstrans.dumps(m.classify(x)), ramstrans.dumps(src.classify(x)))

    def error(self, status, src, dst):
        with self.assertRaises(ramstrans.Error) as e:
            ramstrans.quantize(src, dst)
        self.assertEqual(e.exception.status, status, str(e.exception))
        self.assertNotIn("\n", str(e.exception))
        if isinstance(dst, str):
            self.assertFalse(os.path.exists(dst), "a failure left %s" % dst)
        return str(e.exception)

    def test_bad_inputs(self):
        dst = os.path.join(self.tmp, "out.safetensors")
        # Not a model file: the library's message names it, and is the line ramscli prints.
        coat = os.path.join(EXAMPLES, "coat.png")
        msg = self.error("RAMS_ERR_LIMIT", coat, dst)
        self.assertTrue(msg.startswith(coat + ": "), msg)
        rc, out, err = ramscli("quantize", "--model", coat, "--out", dst)
        self.assertEqual((rc, err), (1, b"ramscli: %s\n" % msg.encode()))
        missing = os.path.join(self.tmp, "missing.safetensors")
        msg = self.error("RAMS_ERR_IO", missing, dst)
        self.assertTrue(msg.startswith(missing + ": "), msg)
        # A q8 file is refused.
        q8 = os.path.join(self.tmp, "q8.safetensors")
        ramstrans.quantize(TINY_F32, q8)
        msg = self.error("RAMS_ERR_INVALID_ARGUMENT", q8, dst)
        self.assertEqual(msg, "%s: already a q8 model file" % q8)
        # An output that cannot be written names it; wrong arguments are Error too.
        bad_dst = os.path.join(self.tmp, "no", "such", "dir.safetensors")
        msg = self.error("RAMS_ERR_IO", TINY_F32, bad_dst)
        self.assertIn(os.path.join(self.tmp, "no", "such"), msg)
        self.error("RAMS_ERR_INVALID_ARGUMENT", TINY_F32, None)
        self.error("RAMS_ERR_INVALID_ARGUMENT", 42, dst)


class Threads(unittest.TestCase):

    def test_shared_model(self):
        paths = _examples() * 4
        with ramstrans.Model(DEFAULT_MODEL, threads=1) as m:
            expect = [ramstrans.dumps(m.classify(p)) for p in paths]
            got = {}
            errors = []

            def work(i):
                try:
                    got[i] = [ramstrans.dumps(m.classify(p)) for p in paths]
                except Exception as e:  # pragma: no cover
                    errors.append(e)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])
            for i in range(6):
                self.assertEqual(got[i], expect)
            # Each thread had its own context, and an ended thread's context is freed.
            gc.collect()
            self.assertEqual(len(m._contexts), 1)  # this thread's
        # close() freed the model with its contexts: the library would have refused otherwise.

    def test_close_frees_other_threads_contexts(self):
        m = ramstrans.Model(DEFAULT_MODEL, threads=1)
        ready, stop = threading.Event(), threading.Event()

        def hold():
            m.classify(_examples()[0])
            ready.set()
            stop.wait(30)

        t = threading.Thread(target=hold)
        t.start()
        ready.wait(30)
        self.assertEqual(len(m._contexts), 1)
        m.close()  # the other thread's context is still referenced by its thread
        stop.set()
        t.join()


if __name__ == "__main__":
    print("libramstrans %s from %s" % (ramstrans.version, ramstrans.library_path))
    unittest.main(verbosity=2)
