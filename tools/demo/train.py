"""Trains the default RAMS-Trans model on cluttered Fashion-MNIST, on the CPU (2 threads).

    /usr/bin/python3 tools/demo/train.py --out runs/main [--resume] [options]

Both scales share all weights: scale 1 reads the whole scene through CLS token 1; DPPM (attention
rollout of scale 1, detached) crops the item and scale 2 reads the crop through CLS token 2; one head
serves both.  Loss = CE(scale 1) + lambda * CE(scale 2) (with label smoothing).  Optionally the first
part of training is scale 1 only (a curriculum: the zoom is useless until attention finds the item).

The scenes are rendered once (tools/demo/fashion_clutter.py) and cached as .npy under runs/cache/.
Training items come from Fashion-MNIST train images 0..54999; a validation draw from the held-out
55000..59999 steers alpha.  At the end the model is scored on a test-split draw, the best mode
becomes default_mode and the model file is written through tools/model_file.py.
Seeded: the same arguments give the same run; --resume continues from runs/<out>/ckpt.pt.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tools/: convert.py, model_file.py
sys.path[:0] = [TOOLS, os.path.join(TOOLS, "reference")]
import fashion_clutter  # noqa: E402
import model_file  # noqa: E402
from eval_torch import MODES, accuracy, predict, uint8_to_input  # noqa: E402
from ramstrans_torch import Config, RamsTrans, dppm, zoom_crop  # noqa: E402

MEAN = [0.5, 0.5, 0.5]
STD = [0.25, 0.25, 0.25]
TRAIN_SOURCES = 55000  # Fashion-MNIST train images used for training; the rest is validation


def cached_draw(split, count, seed, size, sources=None, cache_dir="runs/cache"):
    """Rendered scenes as uint8 arrays, rendered once and kept as .npy."""
    tag = f"{split}_{sources[0]}-{sources[1]}" if sources else split
    base = os.path.join(cache_dir, f"v{fashion_clutter.RENDER_VERSION}_{tag}_s{size}_n{count}_seed{seed}")
    if os.path.exists(base + "_boxes.npy"):
        return np.load(base + "_X.npy", mmap_mode="r"), np.load(base + "_y.npy"), np.load(base + "_boxes.npy")
    os.makedirs(cache_dir, exist_ok=True)
    images, labels = fashion_clutter.load_fashion(split)
    if sources:
        images, labels = images[sources[0]:sources[1]], labels[sources[0]:sources[1]]
    t0 = time.time()
    X, y, boxes = fashion_clutter.render(images, labels, count, seed, size, with_boxes=True)
    np.save(base + "_X.npy", X)
    np.save(base + "_y.npy", y)
    np.save(base + "_boxes.npy", boxes)
    log(f"rendered {count} {tag} scenes in {time.time() - t0:.0f} s -> {base}_X.npy")
    return np.load(base + "_X.npy", mmap_mode="r"), y, boxes


LOG_FILE = None


def log(msg):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    if LOG_FILE:
        with open(LOG_FILE, "a") as f:
            f.write(line + "\n")


def cpu_has_fast_bf16():
    """AVX512-BF16 or AMX: oneDNN then runs bf16 matrix products natively."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def make_config(args):
    return Config(image_size=args.size, patch_size=args.patch, hidden_size=args.hidden,
                  num_heads=args.heads, num_layers=args.layers, mlp_size=args.mlp,
                  num_classes=len(fashion_clutter.CLASSES), alpha=args.alpha)


def init_weights(model):
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
    emb = model.transformer.embeddings
    for p in (emb.position_embeddings, emb.cls_token1, emb.cls_token2):
        nn.init.trunc_normal_(p, std=0.02)
    nn.init.zeros_(model.part_head.weight)


def build_model_from_checkpoint(path):
    ck = torch.load(path, map_location="cpu")
    args = argparse.Namespace(**ck["args"])
    model = RamsTrans(make_config(args))
    model.load_state_dict(ck["model"])
    if "alpha" in ck:
        model.cfg.alpha = ck["alpha"]
    model.eval()
    return model, list(fashion_clutter.CLASSES), preprocess_meta(args.size)


def preprocess_meta(size):
    return {"resize": {"mode": "fixed", "width": size, "height": size}, "interpolation": "bilinear",
            "crop": {"width": size, "height": size}, "mean": MEAN, "std": STD}


def gt_crops(xb, boxes, flipped, cfg, rng=None):
    """Zoom crops around the rendered item box, grown to whole patches as DPPM's boxes are, with a
    random margin of 0..1 patch on each side drawn from rng (none without one): what a good DPPM
    proposal would give."""
    S, P = cfg.image_size, cfg.patch_size
    out = []
    for b in range(len(xb)):
        t, l, btm, r = (int(v) for v in boxes[b])
        if flipped[b]:
            l, r = S - 1 - r, S - 1 - l
        m = rng.integers(0, 2, size=4) * P if rng is not None else np.zeros(4, dtype=np.int64)
        t = max(0, (t // P) * P - m[0] - 1)
        l = max(0, (l // P) * P - m[1] - 1)
        btm = min(S - 1, (btm // P + 1) * P - 1 + m[2])
        r = min(S - 1, (r // P + 1) * P - 1 + m[3])
        out.append(zoom_crop(xb[b], (t, l, btm, r), S))
    return torch.stack(out)


def zoom_out_inputs(xb, boxes, flipped, cfg, progress, rng):
    """Curriculum: a square window that holds the item, whose side grows geometrically from 1.25x the
    item's longer side (progress 0) to the whole image (progress 1), resized to S x S."""
    S = cfg.image_size
    out = []
    for b in range(len(xb)):
        t, l, btm, r = (int(v) for v in boxes[b])
        if flipped[b]:
            l, r = S - 1 - r, S - 1 - l
        start = min(S, 1.25 * max(btm - t + 1, r - l + 1))
        side = int(round(start ** (1 - progress) * S ** progress))
        if side >= S:
            out.append(xb[b])
            continue
        top = int(rng.integers(max(0, btm + 1 - side), min(t, S - side) + 1))
        left = int(rng.integers(max(0, r + 1 - side), min(l, S - side) + 1))
        out.append(zoom_crop(xb[b], (top, left, top + side - 1, left + side - 1), S))
    return torch.stack(out)


def time_budget_spent(args, t_start):
    """Which limit (--deadline, --max-minutes) the training loop has reached, or "" for none."""
    if args.deadline and time.strftime("%H:%M", time.gmtime()) >= args.deadline:
        return f"deadline {args.deadline} UTC"
    if args.max_minutes and (time.time() - t_start) / 60 >= args.max_minutes:
        return f"{args.max_minutes} minutes"
    return ""


def lr_at(step, total, args):
    warm = max(1, int(args.warmup * total))
    if step < warm:
        return args.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * t))


def evaluate(model, X, y, batch=200):
    x = uint8_to_input(np.asarray(X), MEAN, STD)
    probs = predict(model, x, batch)
    return accuracy(probs, torch.from_numpy(np.asarray(y)))


@torch.no_grad()
def zoom_quality(model, X, true_boxes, batch=200):
    """How well DPPM finds the item: the share of zoom boxes that contain the item's centre, the
    mean share of the item box inside the zoom box, and the mean zoom-box area (fraction of image)."""
    model.eval()
    x = uint8_to_input(np.asarray(X), MEAN, STD)
    S = model.cfg.image_size
    centre, cover, area = [], [], []
    for i in range(0, len(x), batch):
        _, maps = model.scale1(x[i:i + batch])
        _, boxes = dppm(x[i:i + batch], maps, model.cfg)
        for (t, l, b, r), (tt, tl, tb, tr) in zip(boxes, true_boxes[i:i + batch]):
            cy, cx = (tt + tb) / 2, (tl + tr) / 2
            centre.append(t <= cy <= b and l <= cx <= r)
            ih = max(0, min(b, tb) - max(t, tt) + 1)
            iw = max(0, min(r, tr) - max(l, tl) + 1)
            cover.append(ih * iw / ((tb - tt + 1) * (tr - tl + 1)))
            area.append((b - t + 1) * (r - l + 1) / (S * S))
    return float(np.mean(centre)), float(np.mean(cover)), float(np.mean(area))


def fmt(acc):
    return " ".join(f"{m} {100 * acc[m]:.2f}" for m in MODES)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="runs/main")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init-from", default="", help="start from the weights of a finished run's final.pt "
                    "(a second stage with its own schedule)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", default="auto", choices=["auto", "on", "off"],
                    help="train with bfloat16 matrix products (torch.autocast; weights, optimiser and "
                         "evaluation stay float32). auto: on where the CPU has AVX512-BF16 or AMX, "
                         "which makes oneDNN's bf16 GEMM ~6x faster than float32 here")
    # data
    ap.add_argument("--size", type=int, default=80)
    ap.add_argument("--train-count", type=int, default=50000)
    ap.add_argument("--train-seed", type=int, default=1000)
    ap.add_argument("--val-count", type=int, default=2000)
    ap.add_argument("--val-seed", type=int, default=2000)
    ap.add_argument("--test-count", type=int, default=10000)
    ap.add_argument("--test-seed", type=int, default=1)
    # model
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp", type=int, default=256)
    ap.add_argument("--alpha", type=float, default=1.2)
    # schedule
    ap.add_argument("--images", type=int, default=100000, help="training images seen in total")
    ap.add_argument("--scale1-only", type=float, default=0.0,
                    help="fraction of --images trained on scale 1 alone before the zoom joins")
    ap.add_argument("--curriculum", type=float, default=0.0,
                    help="fraction of --images over which the scenes go from plain (one large item on a "
                         "flat background) to the real task; training scenes are then rendered per batch")
    ap.add_argument("--zoom-out", type=float, default=0.0,
                    help="fraction of --images over which scale-1 inputs widen from a window around the "
                         "item to the whole scene (a curriculum; 0 = whole scenes from the start)")
    ap.add_argument("--gt-zoom", type=float, default=0.0,
                    help="fraction of --images (after --scale1-only) whose scale-2 crops come from the "
                         "rendered item box (jittered) instead of DPPM: a warm-up for the zoomed scale")
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--warmup", type=float, default=0.05)
    ap.add_argument("--smooth", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=300, help="steps")
    ap.add_argument("--ckpt-every", type=int, default=100, help="steps")
    ap.add_argument("--deadline", default="",
                    help="UTC HH:MM: past it, end training early and go on to evaluation and writing")
    ap.add_argument("--max-minutes", type=float, default=0.0,
                    help="end training early once the loop has run this long (a wall-time budget that, "
                         "unlike --deadline, does not depend on the start time)")
    ap.add_argument("--stop-after", type=int, default=0, help="stop (resumable) after this many steps")
    # output
    ap.add_argument("--model-out", default="")
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16"])
    ap.add_argument("--alpha-grid", default="1.0,1.2,1.4,1.6")
    args = ap.parse_args()

    global LOG_FILE
    os.makedirs(args.out, exist_ok=True)
    LOG_FILE = os.path.join(args.out, "train.log")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ckpt_path = os.path.join(args.out, "ckpt.pt")

    use_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and cpu_has_fast_bf16())
    log(f"bf16 matrix products: {'on' if use_bf16 else 'off'}")

    def bf16_products():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16)
    cfg = make_config(args)
    model = RamsTrans(cfg)
    init_weights(model)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "position" not in n and "cls" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "position" not in n and "cls" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.999))
    step = 0
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        log(f"resumed from {ckpt_path} at step {step}")
    else:
        log("args " + json.dumps(vars(args)))
        if args.init_from:
            model.load_state_dict(torch.load(args.init_from, map_location="cpu")["model"])
            log(f"weights from {args.init_from}")
    n_params = sum(p.numel() for p in model.parameters())
    N, D, M, L = cfg.num_tokens, cfg.hidden_size, cfg.mlp_size, cfg.num_layers
    gflop = 2 * L * N * (4 * D * D + 2 * D * M + 2 * N * D) / 1e9
    log(f"model: {n_params / 1e6:.2f} M parameters, {N} tokens, {gflop:.3f} GFLOP per pass")

    if args.curriculum > 0:
        src_images, src_labels = fashion_clutter.load_fashion("train")
        src_images, src_labels = src_images[:TRAIN_SOURCES], src_labels[:TRAIN_SOURCES]
    else:
        Xtr, ytr, btr = cached_draw("train", args.train_count, args.train_seed, args.size, (0, TRAIN_SOURCES))
        per_epoch = len(ytr) // args.batch
    Xva, yva, bva = cached_draw("train", args.val_count, args.val_seed, args.size, (TRAIN_SOURCES, 60000))
    total = args.images // args.batch
    s1_steps = int(args.scale1_only * total)
    gt_steps = s1_steps + int(args.gt_zoom * total)
    curriculum_steps = int(args.zoom_out * total)
    t_start, seen_t0, seen_step = time.time(), time.time(), step
    model.train()
    while step < total:
        if args.curriculum > 0:
            # fresh scenes every batch, rendered at this step's difficulty (cheap next to training)
            difficulty = min(1.0, step / max(1, int(args.curriculum * total)))
            Xb, yb_np, boxes = fashion_clutter.render(src_images, src_labels, args.batch, [args.seed, 11, step],
                                                      args.size, with_boxes=True, difficulty=difficulty)
        else:
            epoch, k = divmod(step, per_epoch)
            order = np.random.default_rng([args.seed, epoch]).permutation(len(ytr))
            idx = np.sort(order[k * args.batch:(k + 1) * args.batch])
            Xb, yb_np, boxes = np.asarray(Xtr[idx]), ytr[idx], btr[idx]
        xb = uint8_to_input(Xb, MEAN, STD)
        yb = torch.from_numpy(yb_np)
        step_rng = np.random.default_rng([args.seed, 7, step])
        flip = torch.from_numpy(step_rng.random(len(yb)) < 0.5)
        xb[flip] = xb[flip].flip(-1)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, args)
        if step < curriculum_steps:
            xb = zoom_out_inputs(xb, boxes, flip.numpy(), cfg, step / curriculum_steps, step_rng)
        with bf16_products():
            logits1, maps = model.scale1(xb)
        logits1 = logits1.float()
        loss1 = F.cross_entropy(logits1, yb, label_smoothing=args.smooth)
        loss = loss1
        loss2 = torch.zeros(())
        if step >= s1_steps and args.lam > 0:
            if step < gt_steps:
                crops = gt_crops(xb, boxes, flip.numpy(), cfg, step_rng)
            else:
                crops, _ = dppm(xb, maps, cfg)  # detached: no gradient through the proposal
            with bf16_products():
                logits2 = model.scale2(crops)
            logits2 = logits2.float()
            loss2 = F.cross_entropy(logits2, yb, label_smoothing=args.smooth)
            loss = loss1 + args.lam * loss2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 20 == 0:
            rate = (step - seen_step) * args.batch / (time.time() - seen_t0)
            acc1 = (logits1.argmax(1) == yb).float().mean().item()
            log(f"step {step}/{total} lr {lr_at(step, total, args):.2e} loss1 {loss1.item():.3f} "
                f"loss2 {loss2.item():.3f} batch-acc1 {acc1:.2f} {rate:.1f} img/s "
                f"elapsed {(time.time() - t_start) / 60:.1f} min")
        if step % args.ckpt_every == 0 or step == total:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "args": vars(args)}, ckpt_path + ".tmp")
            os.replace(ckpt_path + ".tmp", ckpt_path)
        if step % args.eval_every == 0 or step == total:
            top1, _ = evaluate(model, Xva, yva)
            model.train()
            zq = zoom_quality(model, Xva, bva)
            model.train()
            log(f"val@{step} top1 {fmt(top1)} | zoom: centre-in {zq[0]:.2f} item-covered {zq[1]:.2f} "
                f"box-area {zq[2]:.2f}")
        out_of_time = time_budget_spent(args, t_start)
        if out_of_time and step < total:
            log(f"{out_of_time} reached at step {step}/{total}: training ends early")
            break
        if args.stop_after and step >= args.stop_after and step < total:
            log(f"stopping after step {step} as asked (resume with --resume)")
            return

    # alpha on the held-out validation draw (it only changes the zoom, not the network)
    best_alpha, best_fused = cfg.alpha, -1.0
    for a in [float(v) for v in args.alpha_grid.split(",") if v]:
        model.cfg.alpha = a
        top1, _ = evaluate(model, Xva, yva)
        zq = zoom_quality(model, Xva, bva)
        log(f"val alpha {a}: top1 {fmt(top1)} | zoom: centre-in {zq[0]:.2f} item-covered {zq[1]:.2f} "
            f"box-area {zq[2]:.2f}")
        if top1["fused"] > best_fused:
            best_alpha, best_fused = a, top1["fused"]
    model.cfg.alpha = best_alpha
    log(f"alpha = {best_alpha}")

    images, labels = fashion_clutter.load_fashion("test")
    Xte, yte = fashion_clutter.render(images, labels, args.test_count, args.test_seed, args.size)
    top1, top5 = evaluate(model, Xte, yte)
    log(f"test ({args.test_count} images, seed {args.test_seed}) top1 {fmt(top1)}")
    log(f"test top5 {fmt(top5)}")
    default_mode = max(MODES, key=lambda m: top1[m])
    log(f"default_mode = {default_mode}")
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump({"alpha": best_alpha, "top1": top1, "top5": top5, "default_mode": default_mode}, f)
    torch.save({"model": model.state_dict(), "step": step, "args": vars(args), "alpha": best_alpha},
               os.path.join(args.out, "final.pt"))
    if args.model_out:
        meta = model_file.make_metadata(model.cfg, labels=fashion_clutter.CLASSES,
                                        preprocess=preprocess_meta(args.size), default_mode=default_mode)
        model_file.write(args.model_out, model.state_dict(), meta, dtype=args.dtype)
        log(f"wrote {args.model_out} ({os.path.getsize(args.model_out) / 1e6:.2f} MB, {args.dtype})")


if __name__ == "__main__":
    main()
