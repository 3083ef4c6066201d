"""Cluttered Fashion-MNIST: one small Fashion-MNIST item in a large, busy scene.

Each image is S x S RGB (S = 80 by default): a textured, coloured background, a few distractor
fragments cut from other items, and one whole item whose box covers 1/16 to 1/6 of the image area,
at a random place.  The item is what the label names; finding it is the job of RAMS-Trans' zoom.

    /usr/bin/python3 tools/demo/fashion_clutter.py --split test --count 10000 --seed 1 --out data/test

writes DIR/<class>/<n>.png (an ImageFolder tree).  The train split draws its items (and fragments)
from Fashion-MNIST's training images, the test split from its test images.  The same arguments
give the same files.  `render()` gives the same images as uint8 arrays, for training.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["tshirt_top", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
RENDER_VERSION = 4                   # bump when the scenes change (training caches carry it)
DEFAULT_SIZE = 80
MIN_AREA, MAX_AREA = 1 / 16, 1 / 6   # item box area as a fraction of the image area
FRAGMENTS = (3, 6)                   # distractor fragments per image: [low, high)


def load_fashion(split):
    """Returns (images N x 28 x 28 uint8, labels N int64) of Debian's Fashion-MNIST (idx files)."""
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)
    assert len(images) == len(labels)
    return images, labels


def _resize(gray, w, h):
    return np.asarray(Image.fromarray(gray).resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0


def _background(rng, size, difficulty=1.0):
    """Smooth colour blobs + a faint periodic texture + grain: busy, but not item-like.
    difficulty < 1 (a training curriculum) flattens all of it towards one plain colour."""
    cells = int(rng.integers(3, 7))
    # Muted colours around a mid grey, so that an item stands out by its luminance (its shape) and
    # a small model can learn it in the CPU budget; the hue still varies across the scene.
    grey = rng.uniform(0.2, 0.45)
    low = (grey + difficulty * rng.uniform(-0.18, 0.18, size=(cells, cells, 3))).astype(np.float32)
    low_img = Image.fromarray((low * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    bg = np.asarray(low_img, dtype=np.float32) / 255.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(4, 14)
    wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period) + rng.uniform(0, 6.3))
    tint = rng.uniform(-1, 1, size=3).astype(np.float32)
    bg += difficulty * rng.uniform(0.02, 0.06) * wave[..., None] * tint
    bg += difficulty * rng.normal(0, rng.uniform(0.01, 0.05), size=bg.shape).astype(np.float32)
    return bg


def _paste(canvas, gray, colour, top, left, opaque=False):
    """Alpha-blend a coloured item into canvas; its own grey levels modulate the colour, so its
    texture shows.  Fragments: alpha = grey levels.  Whole items (opaque): alpha and shading are
    relative to the item's brightest pixel, so that the silhouette is solid also for the many dark
    garments of Fashion-MNIST (with alpha = grey level they were half transparent, some invisible)."""
    h, w = gray.shape
    region = canvas[top:top + h, left:left + w]
    if opaque:
        rel = gray / max(float(gray.max()), 1e-3)
        a = np.clip(rel * 3.0, 0, 1)[..., None]
        shade = (0.55 + 0.45 * rel)[..., None]
    else:
        a = np.clip(gray * 1.4, 0, 1)[..., None]
        shade = (0.7 + 0.3 * gray)[..., None]
    region[:] = region * (1 - a) + a * (colour * shade)


def _contrasting_colour(rng, bg_mean):
    """A light, tinted colour: items and fragments are always brighter than the background, as in
    Fashion-MNIST itself.  (With random polarity, dark-on-light and light-on-dark, a small ViT
    stayed at chance for 16 000 images: the class signal averages out to nothing.)"""
    c = rng.uniform(0.8, 1.0) + rng.uniform(-0.2, 0.0, size=3)
    return np.clip(c, 0, 1).astype(np.float32)


def render_one(rng, item, pool, size=DEFAULT_SIZE, difficulty=1.0):
    """item: 28 x 28 uint8; pool: images to cut fragments from.  Returns (S x S x 3 uint8, box).
    difficulty in [0, 1] is for a training curriculum only: 1 is the task itself; lower values give
    a flatter background, fewer fragments and a larger item (at 0: plain, one item filling ~2/3)."""
    canvas = _background(rng, size, difficulty)
    # Distractors first, so the item is never hidden under them.
    fragments = int(rng.integers(*FRAGMENTS))
    for _ in range(int(round(difficulty * fragments))):
        src = pool[int(rng.integers(len(pool)))]
        fh, fw = (int(v) for v in rng.integers(8, 15, size=2))
        y0, x0 = int(rng.integers(0, 28 - fh + 1)), int(rng.integers(0, 28 - fw + 1))
        frag = src[y0:y0 + fh, x0:x0 + fw]
        scale = rng.uniform(0.9, 1.4)
        w, h = max(2, int(fw * scale)), max(2, int(fh * scale))
        alpha = _resize(np.ascontiguousarray(frag), w, h)
        top, left = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
        bg_mean = canvas[top:top + h, left:left + w].reshape(-1, 3).mean(0)
        _paste(canvas, alpha, _contrasting_colour(rng, bg_mean), top, left)
    area = rng.uniform(MIN_AREA, MAX_AREA) * size * size
    area *= (0.6 / MAX_AREA) ** (1 - difficulty)  # curriculum: larger items while difficulty < 1
    aspect = rng.uniform(0.85, 1.18)
    w = int(round(np.sqrt(area * aspect)))
    h = int(round(np.sqrt(area / aspect)))
    alpha = _resize(item, w, h)
    if rng.random() < 0.5:
        alpha = alpha[:, ::-1]
    top, left = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
    bg_mean = canvas[top:top + h, left:left + w].reshape(-1, 3).mean(0)
    _paste(canvas, alpha, _contrasting_colour(rng, bg_mean), top, left, opaque=True)
    image = (np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8)
    return image, (top, left, top + h - 1, left + w - 1)


def render(images, labels, count, seed, size=DEFAULT_SIZE, with_boxes=False, difficulty=1.0):
    """Renders `count` scenes from the given Fashion-MNIST images.  Items are taken in a seeded
    random order that covers all source images before any repeats.  Returns X (count x S x S x 3
    uint8), y (count int64) [, boxes (count x 4 int: top, left, bottom, right)]."""
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(images)) for _ in range(count // len(images) + 1)])[:count]
    X = np.empty((count, size, size, 3), dtype=np.uint8)
    boxes = np.empty((count, 4), dtype=np.int64)
    for n, idx in enumerate(order):
        X[n], boxes[n] = render_one(rng, images[idx], images, size, difficulty)
    y = labels[order].copy()
    return (X, y, boxes) if with_boxes else (X, y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=["train", "test"], required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE)
    args = ap.parse_args()
    images, labels = load_fashion(args.split)
    X, y = render(images, labels, args.count, args.seed, args.size)
    for name in CLASSES:
        os.makedirs(os.path.join(args.out, name), exist_ok=True)
    for n in range(args.count):
        Image.fromarray(X[n]).save(os.path.join(args.out, CLASSES[y[n]], f"{n}.png"))
    print(f"wrote {args.count} images of {args.size}x{args.size} to {args.out}")


if __name__ == "__main__":
    main()
