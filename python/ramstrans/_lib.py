"""libramstrans through ctypes: finding the shared library, and mirrors of ramstrans.h's structs.

The mirrors must match include/ramstrans.h field for field (tests/python/test_api.py compares
their sizes and offsets with a C program compiled against the header).  The params structs carry
their own size and rams_run_params the result's, so the library reads and writes only what these
mirrors declare.
"""

import ctypes
import ctypes.util
import os

SOVERSION = 1
LIBRARY_NAME = "libramstrans.so.%d" % SOVERSION

# ---- status and enums (ramstrans.h) -----------------------------------------------------------
RAMS_OK = 0
RAMS_ERR_INVALID_ARGUMENT = 1

MODE_DEFAULT, MODE_SCALE1, MODE_SCALE2, MODE_FUSED = 0, 1, 2, 3
PRECISION_F32, PRECISION_BF16, PRECISION_INT8 = 0, 1, 2
RESIZE_NONE, RESIZE_FIXED, RESIZE_SHORTER = 0, 1, 2
FILE_UNKNOWN, FILE_JPEG, FILE_PNG, FILE_NPY = 0, 1, 2, 3

_c_size = ctypes.c_size_t
_c_int = ctypes.c_int
_c_float = ctypes.c_float
_c_str = ctypes.c_char_p
_c_enum = ctypes.c_int  # every enum of the header fits an int (GCC and Clang make them int-sized)


class ModelParams(ctypes.Structure):
    _fields_ = [("size", _c_size), ("use_mmap", _c_int), ("max_file_bytes", _c_size),
                ("precision", _c_enum), ("kernel", _c_str), ("threads", _c_int)]


class Preprocess(ctypes.Structure):
    _fields_ = [("resize_mode", _c_enum), ("resize_width", _c_int), ("resize_height", _c_int),
                ("resize_shorter", _c_int), ("crop_width", _c_int), ("crop_height", _c_int),
                ("mean", _c_float * 3), ("std", _c_float * 3)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("image_size", _c_int), ("patch_size", _c_int), ("grid", _c_int),
                ("hidden_size", _c_int), ("num_heads", _c_int), ("num_layers", _c_int),
                ("mlp_size", _c_int), ("num_classes", _c_int),
                ("ln_eps", _c_float), ("alpha", _c_float),
                ("default_mode", _c_enum), ("dtype", _c_str), ("file_bytes", _c_size),
                ("preprocess", Preprocess), ("num_cls_tokens", _c_int),
                ("precision", _c_enum), ("kernel", _c_str), ("attention_kernel", _c_str)]


class ContextParams(ctypes.Structure):
    _fields_ = [("size", _c_size), ("threads", _c_int)]


class RunParams(ctypes.Structure):
    _fields_ = [("size", _c_size), ("result_size", _c_size), ("mode", _c_enum), ("top_k", _c_int),
                ("want_rollout", _c_int), ("want_crop", _c_int), ("max_pixels", _c_size),
                ("want_image", _c_int), ("want_input", _c_int)]


class Prediction(ctypes.Structure):
    _fields_ = [("index", _c_int), ("label", ctypes.c_void_p), ("prob", _c_float)]


class Box(ctypes.Structure):
    _fields_ = [("top", _c_int), ("left", _c_int), ("bottom", _c_int), ("right", _c_int)]


_p_float = ctypes.POINTER(_c_float)
_p_pred = ctypes.POINTER(Prediction)


class Result(ctypes.Structure):
    _fields_ = [("mode", _c_enum), ("num_classes", _c_int), ("top_k", _c_int),
                ("top", _p_pred), ("probs", _p_float),
                ("logits_scale1", _p_float), ("logits_scale2", _p_float),
                ("has_box", _c_int), ("box_is_fallback", _c_int), ("box", Box),
                ("has_image_box", _c_int), ("image_box", Box),
                ("image_width", _c_int), ("image_height", _c_int), ("grid", _c_int),
                ("rollout", _p_float), ("mask", ctypes.POINTER(ctypes.c_ubyte)),
                ("threshold", _c_float), ("crop", _p_float),
                ("probs_scale1", _p_float), ("probs_scale2", _p_float), ("probs_fused", _p_float),
                ("top_scale1", _p_pred), ("top_scale2", _p_pred), ("top_fused", _p_pred),
                ("image_rgb", ctypes.POINTER(ctypes.c_uint8)), ("input", _p_float),
                ("input_size", _c_int)]


# Every struct the tests compare with the header, by its C name.
STRUCTS = {
    "rams_model_params": ModelParams,
    "rams_preprocess": Preprocess,
    "rams_model_info": ModelInfo,
    "rams_context_params": ContextParams,
    "rams_run_params": RunParams,
    "rams_prediction": Prediction,
    "rams_box": Box,
    "rams_result": Result,
}

_vp = ctypes.c_void_p
_pp = ctypes.POINTER(ctypes.c_void_p)

# name: (restype, argtypes)
_FUNCTIONS = {
    "rams_version_number": (ctypes.c_uint, []),
    "rams_version_string": (_c_str, []),
    "rams_status_name": (_c_str, [_c_int]),
    "rams_last_error": (_c_str, []),
    "rams_mode_name": (_c_str, [_c_int]),
    "rams_mode_parse": (_c_int, [_c_str, ctypes.POINTER(_c_int)]),
    "rams_model_params_init": (None, [ctypes.POINTER(ModelParams), _c_size]),
    "rams_model_load": (_c_int, [_c_str, ctypes.POINTER(ModelParams), _pp]),
    "rams_model_free": (_c_int, [_vp]),
    "rams_default_model_path": (_c_str, []),
    "rams_model_get_info_sized": (_c_int, [_vp, ctypes.POINTER(ModelInfo), _c_size]),
    "rams_model_label": (ctypes.c_void_p, [_vp, _c_int]),
    "rams_context_params_init": (None, [ctypes.POINTER(ContextParams), _c_size]),
    "rams_context_create": (_c_int, [_vp, ctypes.POINTER(ContextParams), _pp]),
    "rams_context_free": (None, [_vp]),
    "rams_run_params_init": (None, [ctypes.POINTER(RunParams), _c_size, _c_size]),
    "rams_classify_tensor": (_c_int, [_vp, _vp, _c_int, _c_int, _c_int, ctypes.POINTER(RunParams),
                                      ctypes.POINTER(Result)]),
    "rams_classify_file": (_c_int, [_vp, _c_str, ctypes.POINTER(RunParams), ctypes.POINTER(Result)]),
    "rams_classify_rgb": (_c_int, [_vp, _vp, _c_int, _c_int, _c_size, ctypes.POINTER(RunParams),
                                   ctypes.POINTER(Result)]),
    "rams_file_kind_name": (_c_str, [_c_int]),
    "rams_file_kind_of": (_c_int, [_c_str, ctypes.POINTER(_c_int)]),
}
# Experimental in the header (may change in a minor version): used only to choose the default
# threads as ramscli does, and missing is fine.
_OPTIONAL = {
    "rams_model_flops": (ctypes.c_double, [_vp, _c_int]),
}
# Since the precision switch (bf16): optional, so that a library without it still loads (f32).
_OPTIONAL.update({
    "rams_precision_name": (_c_str, [_c_int]),
    "rams_precision_parse": (_c_int, [_c_str, ctypes.POINTER(_c_int)]),
    "rams_kernel_for": (_c_str, [_c_int]),
    "rams_cpu_features": (_c_str, []),
})
# Since q8 model files (issue 13): optional, so that an older library still loads.
_OPTIONAL.update({
    "rams_quantize_model_file": (_c_int, [_c_str, _c_str]),
})


def _candidates():
    """Where to look for libramstrans.so.1, in order, as (path or name, why)."""
    env = os.environ.get("RAMSTRANS_LIBRARY")
    if env:
        # An explicit choice is the only one: a wrong path must not quietly load another library.
        return [(env, "$RAMSTRANS_LIBRARY")]
    found = []
    here = os.path.dirname(os.path.abspath(__file__))
    try:  # written by `cmake --install`: the library's place relative to this package
        from . import _install
        found.append((os.path.normpath(os.path.join(here, _install.LIBRARY)), "the installed tree"))
    except ImportError:
        pass
    # Beside the package in an installed tree: <prefix>/lib/python3/dist-packages/ramstrans ->
    # <prefix>/lib (and its multiarch folder), or the package's own folder.
    lib = os.path.normpath(os.path.join(here, "..", "..", ".."))
    found.append((os.path.join(lib, LIBRARY_NAME), "beside the package"))
    multiarch = getattr(__import__("sys").implementation, "_multiarch", None)
    if multiarch:
        found.append((os.path.join(lib, multiarch, LIBRARY_NAME), "beside the package"))
    found.append((os.path.join(here, LIBRARY_NAME), "in the package"))
    # The system's: the dynamic loader's search (LD_LIBRARY_PATH, ldconfig's cache).
    found.append((LIBRARY_NAME, "the system"))
    name = ctypes.util.find_library("ramstrans")
    if name and name != LIBRARY_NAME:
        found.append((name, "the system"))
    return found


def _load():
    tried = []
    for path, why in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            if why == "$RAMSTRANS_LIBRARY":
                raise ImportError("ramstrans: cannot load $RAMSTRANS_LIBRARY=%s: %s" % (path, e))
            tried.append(path)
            continue
        return lib, path
    raise ImportError("ramstrans: cannot find %s (looked in: %s); install libramstrans or set "
                      "RAMSTRANS_LIBRARY to its path" % (LIBRARY_NAME, ", ".join(tried)))


lib, path = _load()
for _name, (_res, _args) in list(_FUNCTIONS.items()) + list(_OPTIONAL.items()):
    _f = getattr(lib, _name, None)
    if _f is None and _name in _OPTIONAL:
        continue
    _f.restype = _res
    _f.argtypes = _args

version_number = lib.rams_version_number()
if version_number < 200 or version_number >= 10000:
    raise ImportError("ramstrans: %s is libramstrans %s; this package needs 0.2 or later with "
                      "SOVERSION %d" % (path, lib.rams_version_string().decode(), SOVERSION))


def _strtof():
    """libc's strtof, for numbers printed exactly as ramscli prints them."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    f = libc.strtof
    f.restype = ctypes.c_float
    f.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    return f


strtof = _strtof()
