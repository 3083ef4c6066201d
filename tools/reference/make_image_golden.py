#!/usr/bin/python3
"""Golden data for the decoding and preprocessing tests (tests/test_npy.c, test_image.c,
test_preprocess.c).  The expected values come from numpy, PIL and torchvision, never from our C code.

    /usr/bin/python3 tools/reference/make_image_golden.py [OUT_DIR]     (default tests/data/images)

Written:
  npy_*.npy          .npy files of every version/dtype the decoder accepts, and some it refuses
  *.jpg / *.png /    images of every kind the decoder must accept.  PIL writes them where it can;
  *.webp             PNG variants PIL cannot write (16-bit colour, 2/4-bit gray, Adam7, odd filters)
                     are assembled here with zlib; JPEG variants PIL cannot write (YCCK, 4:1:1, 4:4:0,
                     restart markers, arithmetic coding) by tools/reference/jpeg_writer.c through libjpeg;
                     JPEGs with stray bytes between header segments (as Photoshop and some cameras
                     write them) by inserting bytes into PIL's; WebP (lossy, lossless, alpha, animated,
                     odd sizes) by PIL, animations whose first frame leaves part of the canvas
                     uncovered assembled here from PIL's frames.
  *.rgb.npy          Image.open(f).convert('RGB') of each (uint8 values stored as float32)
  bad_*              truncated or corrupt files the decoder must refuse
  images.txt         "NAME OK" or "NAME STATUS" per image (read by test_image.c)
  resize_*.npy       Image.resize((w, h), BILINEAR) of a synthetic source (uint8 as float32)
  pre_*.npy          the torchvision tensor (3 x ch x cw float32) of Resize/CenterCrop/ToTensor/Normalize
  resize.txt         one line per resize / preprocess case (read by test_preprocess.c)
The synthetic source of the resize cases is `source_pixels` below; test_preprocess.c computes the
same integers.
"""
import io
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import numpy.lib.format as npformat
import torch
from PIL import Image
from torchvision import transforms

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "tests", "data", "images")


def path(name):
    return os.path.join(OUT, name)


def save_npy(name, array, version=None):
    with open(path(name), "wb") as f:
        npformat.write_array(f, array, version=version, allow_pickle=False)


# ---- .npy ---------------------------------------------------------------------------------------

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


# ---- images -------------------------------------------------------------------------------------

def picture(w, h, seed, channels=3):
    """A photo-like test picture: smooth gradients, an edge and noise (JPEG-hostile enough)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        v = 128 + 90 * np.sin(x / (3.0 + c) + y / (5.0 + 2 * c) + seed) + 40 * ((x + 2 * y + 7 * c) % 23 > 11)
        planes.append(v)
    img = np.stack(planes, -1) + rng.normal(0, 12, (h, w, channels))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_rows(rows, bpp, first_filter=0):
    """PNG-filters packed rows, cycling through the five filter types."""
    out, prev = [], bytes(len(rows[0])) if rows else b""
    for i, row in enumerate(rows):
        ft = (first_filter + i) % 5
        f = bytearray([ft])
        for j, v in enumerate(row):
            a = row[j - bpp] if j >= bpp else 0
            b = prev[j]
            c = prev[j - bpp] if j >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            f.append((v - pred) & 0xFF)
        out.append(bytes(f))
        prev = row
    return b"".join(out)


def pack_row(samples, bit_depth):
    """Packs one row of integer samples (already flattened per pixel) at the given bit depth."""
    if bit_depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    if bit_depth == 8:
        return bytes(int(v) for v in samples)
    per = 8 // bit_depth
    out = bytearray()
    for i in range(0, len(samples), per):
        byte = 0
        group = list(samples[i:i + per]) + [0] * (per - len(samples[i:i + per]))
        for v in group:
            byte = (byte << bit_depth) | int(v)
        out.append(byte)
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def raw_png(array, bit_depth, color_type, interlace=False, plte=None, trns=None, idat_pieces=1):
    """A PNG assembled by hand: array is H x W x samples of integers."""
    h, w = array.shape[:2]
    samples = array.reshape(h, w, -1)
    spp = samples.shape[2]
    bpp = max(1, spp * bit_depth // 8)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            rows = [pack_row(r.reshape(-1), bit_depth) for r in sub]
            raw += filter_rows(rows, bpp)
    else:
        rows = [pack_row(r.reshape(-1), bit_depth) for r in samples]
        raw = filter_rows(rows, bpp)
    data = zlib.compress(raw, 9)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0,
                                                                    1 if interlace else 0))
    if plte is not None:
        out += png_chunk(b"PLTE", bytes(plte))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    step = (len(data) + idat_pieces - 1) // idat_pieces
    for i in range(0, len(data), step):
        out += png_chunk(b"IDAT", data[i:i + step])
    return out + png_chunk(b"IEND", b"")


def jpeg_writer():
    """Builds tools/reference/jpeg_writer.c once (into a temporary directory)."""
    exe = os.path.join(tempfile.mkdtemp(), "jpeg_writer")
    subprocess.run(["gcc", "-O1", os.path.join(HERE, "jpeg_writer.c"), "-ljpeg", "-o", exe], check=True)
    return exe


def libjpeg_file(exe, pixels, kind, sampling=None):
    h, w, c = pixels.shape
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        args = [exe, f.name, kind] + ([sampling] if sampling else [])
        subprocess.run(args, input=f"{w} {h} {c}\n".encode() + pixels.tobytes(), check=True)
        return open(f.name, "rb").read()


def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def strip_adobe(jpeg):
    """Removes the APP14 'Adobe' segment: a CMYK JPEG without it (PIL still reads it inverted)."""
    i = jpeg.find(b"\xff\xeeAdobe"[:2] + b"\x00\x0eAdobe")
    assert i > 0
    n = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
    return jpeg[:i] + jpeg[i + 2 + n:]


def sof_offset(jpeg):
    for m in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc2"):
        i = jpeg.find(m)
        if i > 0:
            return i
    raise ValueError("no SOF")


def jpeg_segments(jpeg):
    """(offset, marker) of each header segment up to and including the first SOS."""
    out, i = [], 2
    while True:
        assert jpeg[i] == 0xFF, "stray bytes already in the header"
        out.append((i, jpeg[i + 1]))
        if jpeg[i + 1] == 0xDA:
            return out
        i += 2 + struct.unpack(">H", jpeg[i + 2:i + 4])[0]


def junk_before(jpeg, marker, junk, nth=0):
    """The JPEG with `junk` inserted just before its nth header segment with this marker byte:
    libjpeg warns "Corrupt JPEG data: N extraneous bytes before marker 0x.." and skips them."""
    at = [i for i, m in jpeg_segments(jpeg) if m == marker][nth]
    return jpeg[:at] + junk + jpeg[at:]


def riff_chunks(webp):
    """[(fourcc, payload)] of a WebP file's RIFF chunks."""
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    out, i = [], 12
    while i < len(webp):
        n = struct.unpack("<I", webp[i + 4:i + 8])[0]
        out.append((webp[i:i + 4], webp[i + 8:i + 8 + n]))
        i += 8 + n + (n & 1)
    return out


def riff_chunk(fourcc, payload):
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def riff_webp(chunks):
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def le24(v):
    return struct.pack("<I", v)[:3]


def webp_animation(canvas_w, canvas_h, frames, alpha=True, background=0):
    """An animated WebP assembled by hand: frames are (x, y, still WebP bytes) (x, y even); the
    first frame need not cover the canvas (what it leaves is transparent black in PIL's RGBA)."""
    chunks = [riff_chunk(b"VP8X", bytes([0x02 | (0x10 if alpha else 0), 0, 0, 0]) + le24(canvas_w - 1) +
                         le24(canvas_h - 1)),
              riff_chunk(b"ANIM", struct.pack("<IH", background, 0))]
    for x, y, still in frames:
        w, h = Image.open(io.BytesIO(still)).size
        body = b"".join(riff_chunk(c, d) for c, d in riff_chunks(still) if c in (b"ALPH", b"VP8 ", b"VP8L"))
        # x/2, y/2, width-1, height-1, duration 100 ms, flags 0 (blend, no dispose)
        chunks.append(riff_chunk(b"ANMF", le24(x // 2) + le24(y // 2) + le24(w - 1) + le24(h - 1) + le24(100) +
                                 b"\0" + body))
    return riff_webp(chunks)


def webp_images(rgb, alpha):
    """(name, bytes) of every WebP kind: PIL 9.4 reads each through WebPAnimDecoder (the first
    frame on a canvas cleared to transparent black) and convert('RGB') drops the alpha."""
    rgb_img = Image.fromarray(rgb, "RGB")
    rgba_img = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    # Alpha with fully transparent areas: the encoder may change the colour under them (exact=False).
    holes = alpha.copy()
    holes[::4, ::3] = 0
    holes_img = Image.fromarray(np.dstack([rgb, holes]), "RGBA")
    out = [
        ("webp_lossy.webp", pil_bytes(rgb_img, "WEBP", quality=80)),
        ("webp_lossy_q5_m6.webp", pil_bytes(rgb_img, "WEBP", quality=5, method=6)),
        ("webp_lossy_q100.webp", pil_bytes(rgb_img, "WEBP", quality=100, method=0)),
        ("webp_lossless.webp", pil_bytes(rgb_img, "WEBP", lossless=True)),
        ("webp_lossless_m0.webp", pil_bytes(rgb_img, "WEBP", lossless=True, quality=0, method=0)),
        ("webp_lossy_alpha.webp", pil_bytes(rgba_img, "WEBP", quality=75)),
        ("webp_lossy_alpha_holes.webp", pil_bytes(holes_img, "WEBP", quality=60, alpha_quality=50)),
        ("webp_lossless_alpha.webp", pil_bytes(rgba_img, "WEBP", lossless=True)),
        ("webp_lossless_alpha_exact.webp", pil_bytes(holes_img, "WEBP", lossless=True, exact=True)),
        # VP8X without alpha (an ICC profile and EXIF make PIL write the extended format).
        ("webp_lossy_vp8x_icc_exif.webp", pil_bytes(rgb_img, "WEBP", quality=85, icc_profile=b"\0" * 128,
                                                     exif=_orientation_exif(6))),
        ("webp_gray.webp", pil_bytes(Image.fromarray(rgb[:, :, 1], "L"), "WEBP", quality=90)),
        # Odd sizes: one pixel, below a 16x16 macroblock, one row.
        ("webp_1x1.webp", pil_bytes(Image.fromarray(rgb[:1, :1]), "WEBP", quality=90)),
        ("webp_1x1_lossless.webp", pil_bytes(Image.fromarray(rgb[:1, :1]), "WEBP", lossless=True)),
        ("webp_3x7.webp", pil_bytes(Image.fromarray(picture(3, 7, 11)), "WEBP", quality=70)),
        ("webp_3x7_alpha.webp", pil_bytes(Image.fromarray(picture(3, 7, 12, 4), "RGBA"), "WEBP", quality=70)),
        ("webp_255x1.webp", pil_bytes(Image.fromarray(picture(255, 1, 13)), "WEBP", quality=70)),
        ("webp_1x255_lossless.webp", pil_bytes(Image.fromarray(picture(1, 255, 14)), "WEBP", lossless=True)),
    ]
    # Animations as PIL writes them (every frame on the full canvas): lossy, lossless, mixed.
    frames = [Image.fromarray(picture(45, 31, 20 + k, 4), "RGBA") for k in range(3)]
    out.append(("webp_anim_lossy.webp", pil_bytes(rgba_img, "WEBP", save_all=True, append_images=frames,
                                                  duration=80, loop=0, quality=70)))
    out.append(("webp_anim_lossless.webp", pil_bytes(rgb_img, "WEBP", save_all=True, append_images=frames[:2],
                                                     duration=[50, 60, 70], lossless=True)))
    out.append(("webp_anim_mixed.webp", pil_bytes(holes_img, "WEBP", save_all=True, append_images=frames[1:],
                                                  allow_mixed=True, minimize_size=True, quality=50)))
    # Animations whose first frame covers only part of the canvas, at an offset.
    small = Image.fromarray(picture(13, 9, 30, 4), "RGBA")
    out.append(("webp_anim_offset_lossless.webp",
                webp_animation(45, 31, [(6, 10, pil_bytes(small, "WEBP", lossless=True)),
                                        (0, 0, pil_bytes(rgba_img, "WEBP", lossless=True))])))
    out.append(("webp_anim_offset_lossy_alpha.webp",
                webp_animation(40, 30, [(20, 4, pil_bytes(small, "WEBP", quality=60)),
                                        (2, 2, pil_bytes(small, "WEBP", quality=60))], background=0xFF00FF00)))
    out.append(("webp_anim_offset_lossy.webp",
                webp_animation(24, 24, [(2, 2, pil_bytes(small.convert("RGB"), "WEBP", quality=60))], alpha=False)))
    for name, data in out:
        assert Image.open(io.BytesIO(data)).format == "WEBP", name
    return out


def good_images():
    """(name, bytes) of every valid image kind."""
    W, H = 45, 31  # odd, not a multiple of any MCU size
    rgb = picture(W, H, 1)
    gray = picture(W, H, 2, 1)[:, :, 0]
    cmyk = picture(W, H, 3, 4)
    alpha = picture(W, H, 4, 1)[:, :, 0]
    rgb_img = Image.fromarray(rgb, "RGB")
    out = []

    # JPEG written by PIL.
    out.append(("jpeg_420.jpg", pil_bytes(rgb_img, "JPEG", quality=90, subsampling="4:2:0")))
    out.append(("jpeg_422.jpg", pil_bytes(rgb_img, "JPEG", quality=90, subsampling="4:2:2")))
    out.append(("jpeg_444.jpg", pil_bytes(rgb_img, "JPEG", quality=90, subsampling="4:4:4")))
    out.append(("jpeg_progressive.jpg", pil_bytes(rgb_img, "JPEG", quality=80, progressive=True)))
    out.append(("jpeg_progressive_444.jpg", pil_bytes(rgb_img, "JPEG", quality=95, progressive=True,
                                                      subsampling="4:4:4")))
    out.append(("jpeg_optimized.jpg", pil_bytes(rgb_img, "JPEG", quality=70, optimize=True)))
    out.append(("jpeg_gray.jpg", pil_bytes(Image.fromarray(gray, "L"), "JPEG", quality=90)))
    out.append(("jpeg_gray_progressive.jpg", pil_bytes(Image.fromarray(gray, "L"), "JPEG", progressive=True)))
    cmyk_jpeg = pil_bytes(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=90)
    out.append(("jpeg_cmyk_adobe.jpg", cmyk_jpeg))
    out.append(("jpeg_cmyk_noadobe.jpg", strip_adobe(cmyk_jpeg)))
    out.append(("jpeg_1x1.jpg", pil_bytes(Image.fromarray(rgb[:1, :1]), "JPEG")))
    out.append(("jpeg_tall.jpg", pil_bytes(Image.fromarray(picture(3, 70, 5)), "JPEG", subsampling="4:2:0")))
    out.append(("jpeg_exif.jpg", pil_bytes(rgb_img, "JPEG", exif=_orientation_exif(6))))

    # JPEG variants PIL cannot write, written by libjpeg (tools/reference/jpeg_writer.c).
    exe = jpeg_writer()
    out.append(("jpeg_411.jpg", libjpeg_file(exe, rgb, "ycc", "4x1")))
    out.append(("jpeg_440.jpg", libjpeg_file(exe, rgb, "ycc", "1x2")))
    out.append(("jpeg_ycck.jpg", libjpeg_file(exe, cmyk, "ycck")))
    out.append(("jpeg_ycck_444.jpg", libjpeg_file(exe, cmyk, "ycck", "1x1")))
    out.append(("jpeg_cmyk_libjpeg.jpg", libjpeg_file(exe, cmyk, "cmyk")))
    out.append(("jpeg_rgb_components.jpg", libjpeg_file(exe, rgb, "rgb")))
    out.append(("jpeg_restart.jpg", libjpeg_file(exe, rgb, "ycc-restart")))
    out.append(("jpeg_arith.jpg", libjpeg_file(exe, rgb, "ycc-arith")))

    # Stray bytes between header segments (editors, cameras): libjpeg skips them with a warning,
    # PIL's own parser skips them too, and the pixels are those of the file without them.
    jpeg = dict(out)["jpeg_420.jpg"]
    out.append(("jpeg_junk_before_dqt.jpg", junk_before(jpeg, 0xDB, b"\x00\x00\x00\x00\x00")))
    out.append(("jpeg_junk_before_app1.jpg", junk_before(dict(out)["jpeg_exif.jpg"], 0xE1, bytes(range(1, 17)))))
    out.append(("jpeg_junk_ff00_before_dqt.jpg", junk_before(jpeg, 0xDB, b"\xff\x00\xff\x00")))
    out.append(("jpeg_junk_before_sos_progressive.jpg",
                junk_before(dict(out)["jpeg_progressive.jpg"], 0xDA, b"\x0d\x0a" * 7)))
    d = dict(out)
    for name, base in (("jpeg_junk_before_dqt.jpg", "jpeg_420.jpg"), ("jpeg_junk_before_app1.jpg", "jpeg_exif.jpg"),
                       ("jpeg_junk_ff00_before_dqt.jpg", "jpeg_420.jpg"),
                       ("jpeg_junk_before_sos_progressive.jpg", "jpeg_progressive.jpg")):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(d[name])).convert("RGB")),
                              np.asarray(Image.open(io.BytesIO(d[base])).convert("RGB"))), name

    # PNG written by PIL.
    out.append(("png_rgb.png", pil_bytes(rgb_img, "PNG")))
    out.append(("png_rgba.png", pil_bytes(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG")))
    out.append(("png_la.png", pil_bytes(Image.fromarray(np.dstack([gray, alpha]), "LA"), "PNG")))
    out.append(("png_l.png", pil_bytes(Image.fromarray(gray, "L"), "PNG")))
    out.append(("png_1bit.png", pil_bytes(Image.fromarray(gray > 128), "PNG")))
    out.append(("png_p8.png", pil_bytes(rgb_img.quantize(200), "PNG")))
    out.append(("png_p4.png", pil_bytes(rgb_img.quantize(16), "PNG")))
    out.append(("png_p2.png", pil_bytes(rgb_img.quantize(3), "PNG")))
    out.append(("png_p1.png", pil_bytes(rgb_img.quantize(2), "PNG")))
    out.append(("png_p_trns.png", pil_bytes(rgb_img.quantize(16), "PNG", transparency=3)))
    p_alpha = rgb_img.quantize(8)
    out.append(("png_p_trns_table.png", pil_bytes(p_alpha, "PNG", transparency=bytes([0, 40, 255, 90]))))
    out.append(("png_rgb_trns.png", pil_bytes(rgb_img, "PNG", transparency=tuple(int(v) for v in rgb[3, 4]))))
    out.append(("png_l_trns.png", pil_bytes(Image.fromarray(gray, "L"), "PNG", transparency=int(gray[0, 0]))))
    i16 = (picture(W, H, 6, 1)[:, :, 0].astype(np.int32) * 3).astype(np.uint16)  # 0..765: some clip
    out.append(("png_i16_pil.png", pil_bytes(Image.fromarray(i16, "I;16"), "PNG")))
    out.append(("png_1x1.png", pil_bytes(Image.fromarray(rgb[:1, :1]), "PNG")))

    # PNG variants PIL cannot write, assembled here.
    rng = np.random.default_rng(7)
    wide = rng.integers(0, 65536, (H, W, 4))
    out.append(("png_rgb16.png", raw_png(wide[:, :, :3], 16, 2)))
    out.append(("png_rgba16.png", raw_png(wide, 16, 6)))
    out.append(("png_la16.png", raw_png(wide[:, :, :2], 16, 4)))
    out.append(("png_l16.png", raw_png(rng.integers(0, 600, (H, W, 1)), 16, 0)))
    out.append(("png_l2.png", raw_png(rng.integers(0, 4, (H, W, 1)), 2, 0)))
    out.append(("png_l4.png", raw_png(rng.integers(0, 16, (H, W, 1)), 4, 0)))
    out.append(("png_l16_trns.png", raw_png(rng.integers(0, 300, (H, W, 1)), 16, 0, trns=struct.pack(">H", 5))))
    out.append(("png_rgb16_trns.png", raw_png(wide[:, :, :3], 16, 2, trns=struct.pack(">HHH", 1, 2, 3))))
    out.append(("png_rgb_filters.png", raw_png(rgb, 8, 2, idat_pieces=5)))
    out.append(("png_adam7_rgb.png", raw_png(rgb, 8, 2, interlace=True)))
    out.append(("png_adam7_rgba16.png", raw_png(wide, 16, 6, interlace=True)))
    out.append(("png_adam7_l16.png", raw_png(rng.integers(0, 600, (H, W, 1)), 16, 0, interlace=True)))
    pal = rng.integers(0, 256, 3 * 4)
    out.append(("png_adam7_p2.png", raw_png(rng.integers(0, 4, (H, W, 1)), 2, 3, interlace=True, plte=pal)))
    out.append(("png_adam7_l1.png", raw_png(rng.integers(0, 2, (H, W, 1)), 1, 0, interlace=True)))
    out.append(("png_adam7_tiny.png", raw_png(rgb[:3, :2], 8, 2, interlace=True)))  # empty passes
    # Indices beyond the 5-entry PLTE: PIL's palette reads them as the gray ramp.
    out.append(("png_p_short_plte.png", raw_png(rng.integers(0, 256, (H, W, 1)), 8, 3,
                                                plte=rng.integers(0, 256, 15))))

    out += webp_images(rgb, alpha)
    return out


def _orientation_exif(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def bad_images(good):
    """(name, bytes, expected status) of files the decoder must refuse."""
    g = dict(good)
    # Valid, and PIL decodes it, but 2080 scans is a denial of service: refused above 1000 scans.
    many = libjpeg_file(jpeg_writer(), picture(16, 16, 9), "ycc-manyscans")
    assert Image.open(io.BytesIO(many)).convert("RGB").size == (16, 16)
    jpeg = g["jpeg_420.jpg"]
    prog = g["jpeg_progressive.jpg"]
    png = g["png_rgb.png"]
    out = [
        ("bad_jpeg_2080_scans.jpg", many, "RAMS_ERR_FORMAT"),
        ("bad_jpeg_half.jpg", jpeg[: len(jpeg) // 2], "RAMS_ERR_FORMAT"),
        ("bad_jpeg_progressive_half.jpg", prog[: len(prog) * 2 // 3], "RAMS_ERR_FORMAT"),
        ("bad_jpeg_no_eoi.jpg", jpeg[:-2], "RAMS_ERR_FORMAT"),
        ("bad_jpeg_header_only.jpg", jpeg[: sof_offset(jpeg) + 4], "RAMS_ERR_FORMAT"),
        ("bad_jpeg_soi_only.jpg", jpeg[:3], "RAMS_ERR_FORMAT"),
        # Sixteen junk bytes between the entropy-coded data and EOI: "extraneous bytes before marker".
        ("bad_jpeg_extraneous.jpg", jpeg[:-2] + b"\x00" * 16 + b"\xff\xd9", "RAMS_ERR_FORMAT"),
        ("bad_png_half.png", png[: len(png) // 2], "RAMS_ERR_FORMAT"),
        ("bad_png_no_iend.png", png[:-12], "RAMS_ERR_FORMAT"),
        ("bad_png_signature_only.png", png[:8], "RAMS_ERR_FORMAT"),
        ("bad_empty.jpg", b"", "RAMS_ERR_FORMAT"),
        ("bad_text.png", b"this is not an image\n", "RAMS_ERR_FORMAT"),
    ]
    # A restart marker where none may be: "Corrupt JPEG data" in the middle of the scan.
    sos = jpeg.find(b"\xff\xda")
    mid = sos + (len(jpeg) - sos) // 2
    out.append(("bad_jpeg_marker_in_scan.jpg", jpeg[:mid] + b"\xff\xd3" + jpeg[mid + 2:], "RAMS_ERR_FORMAT"))
    # Zero and huge dimensions in SOF (the huge one must be refused before any allocation).
    s = sof_offset(jpeg)
    out.append(("bad_jpeg_zero_width.jpg", jpeg[: s + 7] + b"\x00\x00" + jpeg[s + 9:], "RAMS_ERR_FORMAT"))
    out.append(("bad_jpeg_huge.jpg", jpeg[: s + 5] + struct.pack(">HH", 60000, 60000) + jpeg[s + 9:],
                "RAMS_ERR_LIMIT"))
    # A flipped byte in IDAT: CRC error.
    i = png.find(b"IDAT") + 20
    out.append(("bad_png_crc.png", png[:i] + bytes([png[i] ^ 0x55]) + png[i + 1:], "RAMS_ERR_FORMAT"))
    # Corrupt zlib data with a correct CRC.
    rgb = np.zeros((8, 8, 3), np.uint8)
    ok = raw_png(rgb, 8, 2)
    j = ok.find(b"IDAT")
    n = struct.unpack(">I", ok[j - 4:j])[0]
    body = bytearray(ok[j + 4:j + 4 + n])
    body[2:6] = b"\xff\xff\xff\xff"
    out.append(("bad_png_zlib.png", ok[: j + 4] + bytes(body) + struct.pack(">I", zlib.crc32(b"IDAT" + bytes(body)))
                + ok[j + 8 + n:], "RAMS_ERR_FORMAT"))
    # IDAT holding fewer rows than IHDR announces.
    short = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)) + \
        png_chunk(b"IDAT", zlib.compress(b"\x00" + bytes(24) * 1)) + png_chunk(b"IEND", b"")
    out.append(("bad_png_short_idat.png", short, "RAMS_ERR_FORMAT"))
    huge = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 200000, 200000, 8, 2, 0, 0, 0)) + \
        png_chunk(b"IDAT", zlib.compress(b"")) + png_chunk(b"IEND", b"")
    out.append(("bad_png_huge.png", huge, "RAMS_ERR_LIMIT"))

    # Stray bytes once the scan data has begun: libjpeg's warning is the same as in the header
    # ("N extraneous bytes before marker"), but here it means damaged entropy-coded data: refused
    # (PIL decodes on and returns what libjpeg made of it).  Before a restart marker, as in a
    # photo whose scan was damaged, and between the scans of a progressive JPEG.
    restart = g["jpeg_restart.jpg"]
    rst = restart.find(b"\xff\xd0", restart.find(b"\xff\xda"))
    out.append(("bad_jpeg_junk_before_rst.jpg", restart[:rst] + bytes(range(1, 40)) + restart[rst:],
                "RAMS_ERR_FORMAT"))
    sos = prog.find(b"\xff\xda")
    nxt = min(i for i in (prog.find(b"\xff\xc4", sos + 2), prog.find(b"\xff\xda", sos + 2)) if i > 0)
    out.append(("bad_jpeg_junk_between_scans.jpg", prog[:nxt] + bytes(range(1, 41)) + prog[nxt:], "RAMS_ERR_FORMAT"))

    out += bad_webp_images(g)
    return out


def bad_webp_images(g):
    """(name, bytes, status) of broken WebP files; PIL refuses every one of them too."""
    lossy, lossless = g["webp_lossy.webp"], g["webp_lossless.webp"]
    anim = g["webp_anim_lossless.webp"]
    out = [
        ("bad_webp_half.webp", lossy[: len(lossy) // 2], "RAMS_ERR_FORMAT"),
        ("bad_webp_anim_cut.webp", anim[: len(anim) * 3 // 4], "RAMS_ERR_FORMAT"),
        ("bad_webp_riff_only.webp", riff_webp([]), "RAMS_ERR_FORMAT"),
        # The extended header and nothing else: no frame.
        ("bad_webp_no_frame.webp", riff_webp([riff_chunk(b"VP8X", bytes(4) + le24(44) + le24(30))]),
         "RAMS_ERR_FORMAT"),
        # The first partition of the VP8 data damaged; the entropy-coded VP8L data damaged.
        ("bad_webp_lossy_damaged.webp", lossy[:30] + bytes([lossy[30] ^ 0xFF]) + lossy[31:], "RAMS_ERR_FORMAT"),
        ("bad_webp_lossless_damaged.webp", lossless[:100] + bytes([lossless[100] ^ 0xFF]) + lossless[101:],
         "RAMS_ERR_FORMAT"),
        # A VP8 frame header announcing 16383 x 16383: refused before any pixel memory (PIL refuses
        # it as a decompression bomb).
        ("bad_webp_huge.webp", lossy[:26] + struct.pack("<HH", 16383, 16383) + lossy[30:], "RAMS_ERR_LIMIT"),
    ]
    small = g["webp_1x1_lossless.webp"]
    out.append(("bad_webp_anim_huge_canvas.webp", webp_animation(16000, 16000, [(0, 0, small)]), "RAMS_ERR_LIMIT"))
    out.append(("bad_webp_anim_frame_outside.webp", webp_animation(8, 8, [(8, 0, small)]), "RAMS_ERR_FORMAT"))
    damaged = lossless[:100] + bytes([lossless[100] ^ 0xFF]) + lossless[101:]
    out.append(("bad_webp_anim_damaged_first_frame.webp", webp_animation(45, 31, [(0, 0, damaged), (0, 0, lossless)]),
                "RAMS_ERR_FORMAT"))
    for name, data, _ in out:
        try:
            Image.open(io.BytesIO(data)).convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
        raise AssertionError(f"PIL opens {name}")
    return out


def write_image_cases():
    lines = []
    good = good_images()
    for name, data in good:
        with open(path(name), "wb") as f:
            f.write(data)
        expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        save_npy(name + ".rgb.npy", expected.astype(np.float32))
        lines.append(f"{name} RAMS_OK")
    for name, data, status in bad_images(good):
        with open(path(name), "wb") as f:
            f.write(data)
        lines.append(f"{name} {status}")
    with open(path("images.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---- resizing and preprocessing ----------------------------------------------------------------

def source_pixels(w, h):
    """A noisy synthetic RGB source, computed with uint32 arithmetic that test_preprocess.c repeats."""
    y, x, c = np.meshgrid(np.arange(h, dtype=np.uint64), np.arange(w, dtype=np.uint64),
                          np.arange(3, dtype=np.uint64), indexing="ij")
    m = np.uint64(0xFFFFFFFF)
    v = ((x * np.uint64(73856093)) ^ (y * np.uint64(19349663)) ^ (c * np.uint64(83492791))) & m
    v ^= v >> np.uint64(13)
    v = (v * np.uint64(0x5BD1E995)) & m
    v ^= v >> np.uint64(15)
    smooth = (x * np.uint64(3) + y * np.uint64(5) + c * np.uint64(60)) % np.uint64(256)
    return ((smooth >> np.uint64(1)) + (v & np.uint64(127))).astype(np.uint8)


RESIZE_CASES = [  # (src w, h) -> (dst w, h)
    (13, 11, 40, 30), (200, 150, 37, 23), (64, 48, 64, 20), (64, 48, 20, 48), (31, 17, 31, 17),
    (1, 1, 5, 4), (5, 4, 1, 1), (1, 1, 1, 1), (3000, 7, 60, 5), (7, 3000, 5, 60), (3000, 7, 3, 2),
    (101, 99, 100, 100), (100, 100, 101, 99), (16, 16, 7, 9), (9, 7, 13, 200), (2, 3, 64, 1),
    (600, 450, 61, 47), (97, 89, 96, 45), (40, 30, 41, 31),
]

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

# (name, src w, h, resize mode, resize arg, crop (h, w)); mode "fixed": (h, w), "shorter": int, "none".
PRE_CASES = [
    ("fixed_square", 67, 43, "fixed", (30, 30), (22, 22)),
    ("fixed_rect_odd", 50, 80, "fixed", (24, 32), (20, 25)),
    ("shorter_wide", 90, 60, "shorter", 32, (28, 28)),
    ("shorter_tall", 7, 3000, "shorter", 16, (14, 14)),
    ("shorter_odd_round", 50, 31, "shorter", 31, (28, 28)),
    ("shorter_banker", 61, 40, "shorter", 27, (24, 22)),
    ("none_pad_height", 20, 10, "none", None, (16, 16)),
    ("none_pad_both", 5, 3, "none", None, (8, 9)),
    ("fixed_pad", 9, 9, "fixed", (6, 7), (9, 10)),
    ("one_pixel", 1, 1, "fixed", (4, 4), (3, 3)),
    ("none_exact", 12, 10, "none", None, (10, 12)),
]


def torch_geometry(w, h, mode, arg, crop):
    """Resized size and crop offset as torchvision 0.14 computes them (offset < 0: zero padding)."""
    if mode == "fixed":
        rh, rw = arg
    elif mode == "shorter":
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = arg, int(arg * long / short)
        rw, rh = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        rw, rh = w, h
    ch, cw = crop

    def offset(size, c):
        if c > size:
            return -((c - size) // 2)
        return int(round((size - c) / 2.0))

    return rw, rh, offset(rw, cw), offset(rh, ch)


def write_resize_cases():
    lines = []
    for sw, sh, dw, dh in RESIZE_CASES:
        src = Image.fromarray(source_pixels(sw, sh), "RGB")
        out = np.asarray(src.resize((dw, dh), Image.BILINEAR))
        name = f"resize_{sw}x{sh}_{dw}x{dh}.npy"
        save_npy(name, out.astype(np.float32))
        lines.append(f"resize {sw} {sh} {dw} {dh} {name}")
    for name, sw, sh, mode, arg, crop in PRE_CASES:
        steps = []
        if mode == "fixed":
            steps.append(transforms.Resize(arg, interpolation=transforms.InterpolationMode.BILINEAR))
        elif mode == "shorter":
            steps.append(transforms.Resize(arg, interpolation=transforms.InterpolationMode.BILINEAR))
        steps += [transforms.CenterCrop(crop), transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
        tensor = transforms.Compose(steps)(Image.fromarray(source_pixels(sw, sh), "RGB"))
        assert tensor.dtype == torch.float32 and tuple(tensor.shape) == (3, crop[0], crop[1])
        fname = f"pre_{name}.npy"
        save_npy(fname, tensor.numpy())
        rw, rh, cx, cy = torch_geometry(sw, sh, mode, arg, crop)
        if mode == "fixed":
            rarg = f"{arg[1]} {arg[0]}"
        elif mode == "shorter":
            rarg = f"{arg} 0"
        else:
            rarg = "0 0"
        lines.append(f"pre {sw} {sh} {mode} {rarg} {crop[1]} {crop[0]} {rw} {rh} {cx} {cy} {fname}")
    with open(path("resize.txt"), "w") as f:
        f.write("# resize SW SH DW DH FILE\n"
                "# pre SW SH MODE ARG1 ARG2 CROP_W CROP_H RESIZED_W RESIZED_H CROP_X CROP_Y FILE\n"
                "#   (fixed: ARG1 ARG2 = width height; shorter: ARG1 = shorter side; mean/std: ImageNet)\n")
        f.write("\n".join(lines) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    write_npy_cases()
    write_image_cases()
    write_resize_cases()


if __name__ == "__main__":
    main()
