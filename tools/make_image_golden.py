#!/usr/bin/python3
"""Golden data for the decoding and preprocessing tests (tests/test_npy.c, test_image.c,
test_preprocess.c), written by numpy, PIL and torchvision -- never by the C code.

    /usr/bin/python3 tools/make_image_golden.py [OUT_DIR]     (default tests/data/images)

Written:
  npy_*.npy                 .npy files of every version/dtype the decoder accepts
  img_*.jpg / img_*.png     images of every kind the decoder must accept, written by PIL
  img_*.rgb.npy             what Image.open(f).convert('RGB') gives (uint8 values stored as float32)
  bad_*.{jpg,png}           truncated or corrupt files the decoder must refuse
  resize_*.npy              Image.resize((w, h), BILINEAR) of a source image (uint8 as float32)
  pre_*.npy                 the final torchvision tensor (3 x ch x cw float32)
  cases.txt                 one line per resize / preprocess case (read by test_preprocess.c)
"""
import io
import os
import sys

import numpy as np
import numpy.lib.format as npformat
from PIL import Image

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                          "images")


def path(name):
    return os.path.join(OUT, name)


def save_npy(name, array, version=None):
    with open(path(name), "wb") as f:
        npformat.write_array(f, array, version=version, allow_pickle=False)


def write_npy_cases():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * np.float32(0.25) - np.float32(1.5)
    save_npy("npy_f4_v1.npy", a, (1, 0))
    save_npy("npy_f4_v2.npy", a, (2, 0))
    save_npy("npy_f4_v3.npy", a, (3, 0))
    # float64 with values not exactly representable in float32: the decoder rounds to nearest.
    save_npy("npy_f8_v1.npy", np.array([0.1, -2.5, 1e-3, 3.0], dtype=np.float64), (1, 0))
    save_npy("npy_f4_1d.npy", np.array([1.0, 2.0, 3.0], dtype=np.float32), (1, 0))
    save_npy("npy_f4_scalar.npy", np.array(7.5, dtype=np.float32), (1, 0))
    save_npy("npy_f4_4d.npy", np.ones((1, 2, 1, 3), dtype=np.float32), (1, 0))
    # Refused ones.
    save_npy("npy_bad_i4.npy", np.arange(6, dtype=np.int32), (1, 0))
    save_npy("npy_bad_fortran.npy", np.asfortranarray(a), (1, 0))
    save_npy("npy_bad_5d.npy", np.ones((1, 1, 1, 1, 2), dtype=np.float32), (1, 0))
    save_npy("npy_bad_be.npy", np.arange(4, dtype=">f4"), (1, 0))


def main():
    os.makedirs(OUT, exist_ok=True)
    write_npy_cases()


if __name__ == "__main__":
    main()
