"""ramstrans: RAMS-Trans image recognition from Python, on libramstrans's C engine (no PyTorch).

    import ramstrans
    model = ramstrans.Model()                      # the default model; or Model("m.safetensors")
    r = model.classify("bird.jpg")                 # a path, an HxWx3 uint8 array or a 3xSxS
    print(r["top"][0]["label"], r["top"][0]["prob"])   # float32 preprocessed array
    print(ramstrans.dumps(r))                      # the line `ramscli classify --json` prints

classify() returns a dict with exactly the fields of one `ramscli classify --json` line (file,
mode, top, logits, box, box_image, fallback, image; "file" only when x was a path), with the same
numbers; numpy arrays (rollout, mask, crop, the decoded image, the network input, probabilities)
are added on request.  Every failure raises ramstrans.Error with the library's one-line message.

    ramstrans.quantize("m.safetensors", "m_q8.safetensors")   # `ramscli quantize`: a q8 file

quantize() writes a q8 model file (int8 Linear weights with one f32 scale per output row) from a
model file with f32, f16 or bf16 weights, byte for byte what `ramscli quantize` and
`tools/convert.py --dtype q8` write; run it with Model(path, precision="int8").

Threads: a Model may be shared by any number of threads.  Each thread that classifies gets its own
libramstrans context (scratch memory and worker threads), made on its first call and freed when the
thread ends or the model is closed; the library releases the GIL while it runs.
"""

import ctypes
import os
import threading
import weakref

import numpy as np

from . import _lib
from ._inputs import is_input_file, list_inputs
from ._json import dumps, short_float

__all__ = ["Model", "Error", "dumps", "list_inputs", "is_input_file", "file_kind", "quantize",
           "default_model_path", "version", "__version__", "library_path"]

#: The version of the loaded libramstrans ("0.3.0"): the package follows the library it loads.
version = _lib.lib.rams_version_string().decode()
__version__ = version
#: The path of the shared library this package loaded.
library_path = _lib.path

#: The precisions this library knows (rams_precision_parse); a model may still refuse one that
#: has no kernel yet, with the library's message.
PRECISIONS = (("f32", "bf16", "int8") if getattr(_lib.lib, "rams_precision_parse", None)
              else ("f32",))
#: Above this many FLOPs per image ramscli splits one image over its threads (cli/pool.c).
INTRA_IMAGE_FLOPS = 2e9


def online_cpus():
    """The online CPUs, 1..256: the library's and ramscli's default thread count."""
    try:
        n = os.sysconf("SC_NPROCESSORS_ONLN")
    except (ValueError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(256, n))


MODES = ("scale1", "scale2", "fused")


class Error(Exception):
    """A libramstrans failure: str(error) is the library's one-line message; .status its
    rams_status name ("RAMS_ERR_IO", ...)."""

    def __init__(self, message, status="RAMS_ERR_INVALID_ARGUMENT"):
        super().__init__(message)
        self.message = message
        self.status = status


def _text(b):
    return b.decode("utf-8", "surrogateescape") if b is not None else None


def _fail(status):
    """Raise the calling thread's last library error."""
    raise Error(_text(_lib.lib.rams_last_error()) or "failed (no message)",
                _text(_lib.lib.rams_status_name(status)))


def _check(status):
    if status != _lib.RAMS_OK:
        _fail(status)


def file_kind(path):
    """What the library makes of a file's first bytes: "jpeg", "png", "npy" or "unknown".
    Raises Error when the file cannot be opened or is not a regular file."""
    from ._inputs import file_kind_code
    status, kind = file_kind_code(os.fsencode(path))
    _check(status)
    return _text(_lib.lib.rams_file_kind_name(kind))


def default_model_path():
    """Where Model() with no path loads from ($RAMSTRANS_MODEL, the installed model, the source
    tree's), or None."""
    return _text(_lib.lib.rams_default_model_path())


def quantize(src, dst):
    """Writes the q8 model file dst from the model file src (f32, f16 or bf16 weights; None: the
    default model, as `ramscli quantize` without --model): every Linear weight matrix but the patch
    embedding as int8 with one f32 scale per output row, the rest f32; byte for byte what
    `ramscli quantize --model SRC --out DST` and `tools/convert.py --dtype q8` write
    (rams_quantize_model_file).  src is validated as Model() validates it, and a q8 src is refused;
    dst is written beside itself and renamed into place, so a failure leaves no partial file.
    Raises Error with the library's message (naming the file) on failure."""
    f = getattr(_lib.lib, "rams_quantize_model_file", None)
    if f is None:
        raise Error("this libramstrans (%s) has no rams_quantize_model_file" % version)
    if src is None:
        src = default_model_path()
        if src is None:
            raise Error("no model given and no default model found")
    paths = (str, bytes, os.PathLike)
    if not isinstance(src, paths) or not isinstance(dst, paths):
        raise Error("quantize wants two file paths, not %r and %r" % (src, dst))
    _check(f(os.fsencode(src), os.fsencode(dst)))


def _mode_name(mode):
    return _text(_lib.lib.rams_mode_name(mode))


def _parse_mode(mode):
    if mode is None:
        return _lib.MODE_DEFAULT
    if not isinstance(mode, str):
        raise Error("unknown mode %r (scale1, scale2 or fused)" % (mode,))
    out = ctypes.c_int(0)
    if _lib.lib.rams_mode_parse(mode.encode(), ctypes.byref(out)) != _lib.RAMS_OK:
        raise Error("unknown mode '%s' (scale1, scale2 or fused)" % mode)
    return out.value


def _parse_precision(precision):
    if not isinstance(precision, str) or precision.lower() not in PRECISIONS:
        raise Error("unknown precision %r: this libramstrans (%s) computes in %s"
                    % (precision, version, " or ".join(PRECISIONS)))
    parse = getattr(_lib.lib, "rams_precision_parse", None)
    if parse is None:
        return _lib.PRECISION_F32
    out = ctypes.c_int(0)
    _check(parse(precision.encode(), ctypes.byref(out)))
    return out.value


def _floats(ptr, n):
    """A copy of n float32 values at ptr as a numpy array (None for NULL)."""
    if not ptr:
        return None
    return np.ctypeslib.as_array(ptr, shape=(n,)).copy()


def _short_list(ptr, n):
    return None if not ptr else [short_float(v) for v in ptr[:n]]


def _box(b):
    return {"top": b.top, "left": b.left, "bottom": b.bottom, "right": b.right}


class _Owned:
    """A library object, freed once: by free() or when collected (at exit the library may be gone
    already).  A subclass's _release(ptr) frees it; when that raises, the pointer is kept."""

    def __init__(self, ptr):
        self.ptr = ptr
        self.lock = threading.Lock()

    def free(self):
        with self.lock:
            if self.ptr and _lib is not None and _lib.lib is not None:
                self._release(self.ptr)
            self.ptr = None

    def __del__(self):
        try:
            self.free()
        except Exception:
            pass


class _Handle(_Owned):
    """Owns the rams_model; freed after every context made from it (contexts hold it)."""

    def _release(self, ptr):
        _check(_lib.lib.rams_model_free(ptr))


class _Context(_Owned):
    """One thread's rams_context.  Freed when its thread ends (threading.local lets go of it),
    when the model is closed, or at exit."""

    def __init__(self, handle, threads):
        params = _lib.ContextParams()
        _lib.lib.rams_context_params_init(ctypes.byref(params), ctypes.sizeof(params))
        params.threads = threads
        ptr = ctypes.c_void_p()
        _check(_lib.lib.rams_context_create(handle.ptr, ctypes.byref(params), ctypes.byref(ptr)))
        super().__init__(ptr)
        self.handle = handle  # the model outlives its contexts

    def _release(self, ptr):
        _lib.lib.rams_context_free(ptr)


class Model:
    """A loaded model file.

    Model(path=None, threads=0, precision="f32"): path None loads the default model
    (default_model_path()); threads is the number of threads one classification uses, the
    caller's included; 0 chooses as `ramscli classify` does for a list of inputs: one thread
    for a small model (under 2 GFLOP per image, where splitting an image costs more than it
    gains: run several Python threads instead), else the online CPUs.  The results are the same
    bits on any thread count (with OpenBLAS's Haswell and Zen kernels; on its AVX-512 ones a
    small model's last bits may change: README, "Exactness and tests"); this default is only the
    fastest choice.  The same number of
    threads (0: the online CPUs) packs a bf16 or int8 model's weights at load.
    precision is the arithmetic of the matrix products: "f32" (the default, exact), "bf16" (bf16
    operands, f32 sums) or whatever else the library offers (PRECISIONS); kernel names one of the
    precision's matrix-product kernels (None: the fastest this CPU runs; info() tells which), as
    ramscli's --precision and --kernel do.
    Use it as a context manager, or call close(), to free the model at a known time.
    """

    def __init__(self, path=None, threads=0, precision="f32", kernel=None, use_mmap=True):
        precision_code = _parse_precision(precision)
        if not isinstance(threads, int) or isinstance(threads, bool) or not 0 <= threads <= 256:
            raise Error("threads wants 0..256, not %r" % (threads,))
        self._path_arg = None if path is None else os.fspath(path)
        params = _lib.ModelParams()
        _lib.lib.rams_model_params_init(ctypes.byref(params), ctypes.sizeof(params))
        params.use_mmap = 1 if use_mmap else 0
        if kernel is not None and getattr(_lib.lib, "rams_kernel_for", None) is None:
            raise Error("this libramstrans (%s) has no kernel choice" % version)
        params.precision = precision_code
        params.kernel = None if kernel is None else str(kernel).encode()
        params.threads = threads  # packs a bf16/int8 model's weights (0: the online CPUs)
        ptr = ctypes.c_void_p()
        cpath = None if path is None else os.fsencode(path)
        _check(_lib.lib.rams_model_load(cpath, ctypes.byref(params), ctypes.byref(ptr)))
        self._handle = _Handle(ptr)
        self._local = threading.local()
        self._contexts = weakref.WeakSet()
        self._lock = threading.Lock()
        #: The path of the model file (the default model's when path was None).
        self.path = (os.fsdecode(self._path_arg) if self._path_arg is not None
                     else default_model_path())
        info = _lib.ModelInfo()
        _check(_lib.lib.rams_model_get_info_sized(ptr, ctypes.byref(info), ctypes.sizeof(info)))
        self.num_classes = info.num_classes
        #: The precision ("f32", "bf16") and matrix-product kernel the model runs with.
        name = getattr(_lib.lib, "rams_precision_name", None)
        self.precision = _text(name(info.precision)) if name else "f32"
        self.kernel = _text(info.kernel) if info.kernel else None
        self.labels = [self._label(i) for i in range(info.num_classes)]
        #: Threads one classification uses (the threads argument, or what 0 chose).
        self.threads = threads or self._ramscli_threads()

    def flops(self, mode="fused"):
        """Floating-point operations one image costs in `mode`, as the library counts them
        (experimental in libramstrans; None when the library does not say)."""
        f = getattr(_lib.lib, "rams_model_flops", None)
        return None if f is None else f(self._model_ptr(), _parse_mode(mode))

    def _ramscli_threads(self):
        """ramscli's choice for many inputs (cli/pool.c): a model under 2 GFLOP per image runs
        one image per thread, a larger one splits each image over the online CPUs: the
        fastest choice (the library gives the same bits on any thread count, but for the caveat
        in Model's docstring)."""
        flops = self.flops("fused")
        if flops is not None and flops <= INTRA_IMAGE_FLOPS:
            return 1
        return online_cpus()

    # ---- lifetime ------------------------------------------------------------------------------
    def close(self):
        """Frees every context and the model.  No thread may be classifying with it then."""
        with self._lock:
            for ctx in list(self._contexts):
                ctx.free()
            self._local = threading.local()
            self._handle.free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _model_ptr(self):
        ptr = self._handle.ptr
        if not ptr:
            raise Error("the model is closed")
        return ptr

    def _context(self):
        ctx = getattr(self._local, "ctx", None)
        if ctx is None or not ctx.ptr:
            with self._lock:
                self._model_ptr()
                ctx = _Context(self._handle, self.threads)
                self._contexts.add(ctx)
                self._local.ctx = ctx
        return ctx

    # ---- description ---------------------------------------------------------------------------
    def _label(self, i):
        p = _lib.lib.rams_model_label(self._model_ptr(), i)
        return _text(ctypes.string_at(p)) if p else ""

    def info(self):
        """The model's description: the dict `ramscli info --json` prints."""
        info = _lib.ModelInfo()
        _check(_lib.lib.rams_model_get_info_sized(self._model_ptr(), ctypes.byref(info), ctypes.sizeof(info)))
        pp = info.preprocess
        if pp.resize_mode == _lib.RESIZE_FIXED:
            resize = {"mode": "fixed", "width": pp.resize_width, "height": pp.resize_height}
        elif pp.resize_mode == _lib.RESIZE_SHORTER:
            resize = {"mode": "shorter", "size": pp.resize_shorter}
        else:
            resize = {"mode": "none"}
        d = {
            "path": self.path,
            "library_version": version,
            "architecture": {
                "image_size": info.image_size, "patch_size": info.patch_size, "grid": info.grid,
                "hidden_size": info.hidden_size, "num_heads": info.num_heads,
                "num_layers": info.num_layers, "mlp_size": info.mlp_size,
                "num_classes": info.num_classes,
                "ln_eps": short_float(info.ln_eps), "alpha": short_float(info.alpha),
            },
            "dtype": _text(info.dtype) if info.dtype else "unknown",
            "default_mode": _mode_name(info.default_mode),
            "file_bytes": info.file_bytes,
            "preprocess": {
                "resize": resize,
                "interpolation": "bilinear",
                "crop": {"width": pp.crop_width, "height": pp.crop_height},
                "mean": [short_float(v) for v in pp.mean],
                "std": [short_float(v) for v in pp.std],
            },
        }
        pname = getattr(_lib.lib, "rams_precision_name", None)
        if pname is not None:  # since the precision switch: the loaded precision and kernel, and
            d["precision"] = _text(pname(info.precision))  # what this CPU offers
            d["kernel"] = _text(info.kernel) if info.kernel else "unknown"
            if info.attention_kernel:  # since 0.3
                d["attention_kernel"] = _text(info.attention_kernel)
            kernels = {}
            for p in (_lib.PRECISION_F32, _lib.PRECISION_BF16, _lib.PRECISION_INT8):
                kernels[_text(pname(p))] = _text(_lib.lib.rams_kernel_for(p))
            d["cpu"] = {"features": _text(_lib.lib.rams_cpu_features()), "kernels": kernels}
        d["labels"] = list(self.labels)
        return d

    # ---- classification ------------------------------------------------------------------------
    def classify(self, x, mode=None, top_k=5, *, rollout=False, crop=False, image=False,
                 input=False, probs=False, max_pixels=0):
        """Classifies x: a file path (JPEG, PNG or .npy tensor, judged by content), an HxWx3 uint8
        RGB array (preprocessed as the model file says), or a 3xSxS float32 array that is
        already preprocessed.

        mode: "scale1", "scale2", "fused" or None (the model file's default); top_k: predictions
        in "top" (clipped to the classes).  Returns the dict of one `ramscli classify --json`
        line ("file" only for a path; ramstrans.dumps() prints the line) and, on request, numpy
        arrays (None where the run has none, e.g. scale1 runs no DPPM):
          rollout=True  "rollout" (G x G float32, p = v / max(v)), "mask" (G x G uint8: 1 above
                        the threshold, 2 in the kept component) and "threshold"
          crop=True     "crop": the zoomed scale-2 input, 3 x S x S float32
          image=True    "image_rgb": the decoded photo, H x W x 3 uint8 (None for a tensor)
          input=True    "input": the preprocessed network input, 3 x S x S float32
          probs=True    "probs" (the mode's), "probs_scale1", "probs_scale2", "probs_fused"
        """
        params = _lib.RunParams()
        result = _lib.Result()
        _lib.lib.rams_run_params_init(ctypes.byref(params), ctypes.sizeof(params),
                                      ctypes.sizeof(result))
        params.mode = _parse_mode(mode)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= 1000000:
            raise Error("top_k wants a positive number, not %r" % (top_k,))
        params.top_k = top_k
        params.want_rollout = 1 if rollout else 0
        params.want_crop = 1 if crop else 0
        params.want_image = 1 if image else 0
        params.want_input = 1 if input else 0
        if not isinstance(max_pixels, int) or max_pixels < 0:
            raise Error("max_pixels wants a number >= 0, not %r" % (max_pixels,))
        params.max_pixels = max_pixels

        file = None
        keep = None  # the array the library reads, alive until the call returns
        if isinstance(x, (str, bytes, os.PathLike)):
            file = os.fsdecode(x)
            ctx = self._context()
            status = _lib.lib.rams_classify_file(ctx.ptr, os.fsencode(x), ctypes.byref(params),
                                                 ctypes.byref(result))
        else:
            a = np.asarray(x)
            if a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3:
                if a.strides[2] != 1 or a.strides[1] != 3 or a.strides[0] < 3 * a.shape[1]:
                    a = np.ascontiguousarray(a)
                keep = a
                ctx = self._context()
                status = _lib.lib.rams_classify_rgb(
                    ctx.ptr, a.ctypes.data, a.shape[1], a.shape[0], a.strides[0],
                    ctypes.byref(params), ctypes.byref(result))
            elif a.dtype.kind == "f" and a.ndim == 3 and a.shape[0] == 3:
                a = np.ascontiguousarray(a, dtype=np.float32)
                keep = a
                ctx = self._context()
                status = _lib.lib.rams_classify_tensor(
                    ctx.ptr, a.ctypes.data, a.shape[0], a.shape[1], a.shape[2],
                    ctypes.byref(params), ctypes.byref(result))
            else:
                raise Error("classify wants a file path, an HxWx3 uint8 image or a 3xSxS float32 "
                            "tensor, not an array of shape %s and dtype %s"
                            % (tuple(a.shape), a.dtype))
        if status != _lib.RAMS_OK:
            _fail(status)
        del keep
        return self._result(file, result, rollout, crop, image, input, probs)

    def _result(self, file, r, rollout, crop, image, input, probs):
        d = {}
        if file is not None:
            d["file"] = file
        d["mode"] = _mode_name(r.mode)
        d["top"] = [{"index": p.index,
                     "label": _text(ctypes.string_at(p.label)) if p.label else "",
                     "prob": short_float(p.prob)} for p in r.top[:r.top_k]]
        n = r.num_classes
        d["logits"] = {"scale1": _short_list(r.logits_scale1, n),
                       "scale2": _short_list(r.logits_scale2, n)}
        d["box"] = _box(r.box) if r.has_box else None
        d["box_image"] = _box(r.image_box) if r.has_box and r.has_image_box else None
        d["fallback"] = bool(r.has_box and r.box_is_fallback)
        d["image"] = ({"width": r.image_width, "height": r.image_height} if r.has_image_box
                      else None)
        g, s = r.grid, r.input_size
        if rollout:
            d["rollout"] = None if not r.rollout else _floats(r.rollout, g * g).reshape(g, g)
            d["mask"] = (None if not r.mask else
                         np.ctypeslib.as_array(r.mask, shape=(g * g,)).copy().reshape(g, g))
            d["threshold"] = short_float(r.threshold) if r.rollout else None
        if crop:
            d["crop"] = None if not r.crop else _floats(r.crop, 3 * s * s).reshape(3, s, s)
        if image:
            w, h = r.image_width, r.image_height
            d["image_rgb"] = (None if not r.image_rgb else
                              np.ctypeslib.as_array(r.image_rgb, shape=(h * w * 3,))
                              .copy().reshape(h, w, 3))
        if input:
            d["input"] = None if not r.input else _floats(r.input, 3 * s * s).reshape(3, s, s)
        if probs:
            d["probs"] = _floats(r.probs, n)
            d["probs_scale1"] = _floats(r.probs_scale1, n)
            d["probs_scale2"] = _floats(r.probs_scale2, n)
            d["probs_fused"] = _floats(r.probs_fused, n)
        return d

    def __repr__(self):
        state = "closed" if not self._handle.ptr else "%d classes" % self.num_classes
        return "<ramstrans.Model %r (%s)>" % (self.path, state)
