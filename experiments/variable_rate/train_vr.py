"""Prototype trainer: ONE variable-rate scale hyperprior for all 8 quality levels (learned per-channel gains).

Recipe (the project's issue): start from the shipped hyperprior q8 (all weights) and learn a gain per latent
channel and level, log_gain (8, M), level l starting at sqrt(lambda_l / lambda_8) in every channel (q8 starts
exactly as the shipped model). At level l: y = g_a(x); z = h_a(|y|) (hyper path unchanged, it sees the
unscaled y); scales = h_s(z_hat) * g_l; y_s = y * g_l is what is coded (zero-mean Gaussian, so the decoder
gets round(y_s)); g_s reads round(y_s) / g_l. Each batch holds 8 crops, crop i at level i + 1, and each
crop's RD loss is divided by ref_l, the held-out loss of the shipped ladder model q_l at lambda_l, so every
level weighs about equally. Held-out evaluation goes through aecodec.training.train.evaluate, the same function (and the
same centre crops of the same split) that scores the ladder models, so loss_l / ref_l compares like with like.

Stops by itself at --deadline (UTC): the learning rate follows a cosine over the elapsed share of the time
left. Every --eval-minutes (and at the end) it appends a row to heldout.csv and writes vr-latest.pt (and
vr-best.pt, the best mean ratio so far); train.csv gets a row every --log-every steps. --resume continues
from vr-latest.pt.

    python experiments/variable_rate/train_vr.py --data path/to/train --out runs/vr --deadline 21:10
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import signal
import time
from pathlib import Path

import torch
from torch import nn

import aecodec
from aecodec import zoo
from aecodec.checkpoint import load_final, safe_load, with_code_constants
from aecodec.config import QUALITY_LAMBDAS
from aecodec.images import list_images
from aecodec.models.base import bottleneck_coded, straight_through_round
from aecodec.training.data import CropSampler, center_crops, split_files
from aecodec.metrics import psnr_from_mse
from aecodec.training.export import atomic_compressed_save, atomic_torch_save
from aecodec.training.loss import RateDistortionLoss
from aecodec.training.train import evaluate, split_parameters

LEVELS = len(QUALITY_LAMBDAS)
RECIPE = (
    "hyperprior-q8 warm start, log_gain (8, M) per level and channel, init log sqrt(lambda_l/lambda_8); "
    "scales = h_s(z_hat) * g_l, y_s = y * g_l (noisy rate), g_s(round(y_s) / g_l) straight-through, "
    "h_s fed z rounded as the decoder gets it (the ladder's rounded synthesis); loss per crop "
    "(lambda_l 255^2 MSE + bpp) / ref_l; batch 8 x 256^2, crop i at level i+1; Adam net lr 1e-4 "
    "(200-step warm-up, cosine over the time budget to 1e-5), gains lr 3e-3 (same schedule), clip 1.0 on "
    "network weights, aux Adam 1e-3; seed 400, 1 thread"
)


class VariableRateHyperprior(nn.Module):
    """A ScaleHyperprior plus per-level, per-channel gains on the coded latent."""

    def __init__(self, base: nn.Module, start_level: int = LEVELS - 1, scalar: bool = False) -> None:
        super().__init__()
        if base.config.means:
            raise ValueError("prototype covers the scale-only hyperprior")
        self.base = base
        lam = torch.tensor(QUALITY_LAMBDAS, dtype=torch.float64)
        init = 0.5 * torch.log(lam / lam[start_level])  # exactly 0 at the level of the starting model
        # scalar: one gain per level for every channel (broadcast in forward), for the recipe comparison
        self.log_gain = nn.Parameter(init.float()[:, None].repeat(1, 1 if scalar else base.config.M))

    def forward(self, x: torch.Tensor, levels: torch.Tensor) -> dict:
        """``levels``: (B,) 0-based level index per crop. Train mode: noisy rate, rounded synthesis. Eval mode:
        what the coder does (round(y_s), z rounded to integer offsets from its medians)."""
        m = self.base
        gain = self.log_gain[levels].exp()[:, :, None, None]  # (B, M, 1, 1)
        y = m.g_a(x)
        z = m.h_a(torch.abs(y))
        z_hat, z_likelihoods = m.entropy_bottleneck(z)  # noisy in training, rounded in eval
        if self.training:  # h_s gets z as the decoder will (rate above still from the noisy z), as the ladder did
            z_hat = bottleneck_coded(m.entropy_bottleneck, z)
        y_s = y * gain
        y_coded, y_likelihoods = m.gaussian_conditional(y_s, m.h_s(z_hat) * gain)  # eval: y_coded = round(y_s)
        if self.training:
            y_coded = straight_through_round(y_s)
        return {"x_hat": m.g_s(y_coded / gain), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}


class AtLevel(nn.Module):
    """The variable-rate model fixed at one level, with the plain ``model(x)`` contract aecodec.training.train.evaluate
    expects (its eval()/train() calls reach the wrapped model)."""

    def __init__(self, vr: VariableRateHyperprior, level: int) -> None:
        super().__init__()
        self.vr, self.level = vr, level

    def forward(self, x: torch.Tensor) -> dict:
        return self.vr(x, torch.full((len(x),), self.level, dtype=torch.long))


def heldout_losses(vr: VariableRateHyperprior, crops: torch.Tensor) -> list[float]:
    """Held-out RD loss of each level at its own lambda (eval mode, real rounding)."""
    return [evaluate(AtLevel(vr, l), crops, RateDistortionLoss(QUALITY_LAMBDAS[l]))["loss"] for l in range(LEVELS)]


def ladder_losses(crops: torch.Tensor) -> list[float]:
    """ref_l: held-out loss of each shipped hyperprior q_l at lambda_l, with the same evaluate()."""
    refs = []
    for q in range(1, LEVELS + 1):
        entry = zoo.lookup("hyperprior", q)
        model = load_final(entry.path, entry.sha256)
        refs.append(evaluate(model, crops, RateDistortionLoss(QUALITY_LAMBDAS[q - 1]))["loss"])
    return refs


def save_compact(source: Path, target: Path) -> None:
    """The weights, gains and record of a checkpoint, without optimizer state, float16, zlib-compressed: small
    enough to commit, and what --init-from starts the next round from (with fresh optimizers)."""
    ckpt = safe_load(source)
    keep = ("log_gain", "config", "lambdas", "refs", "heldout_loss", "ratio_pct", "mean_ratio_pct", "step",
            "elapsed_s", "cpu_s", "lineage")  # fmt: skip
    compact = {k: ckpt[k] for k in keep}
    compact["model"] = {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    atomic_compressed_save(compact, target)


def schedule(step: int, progress: float, warmup: int, floor: float) -> float:
    """Multiplier of the peak learning rates: linear warm-up over steps, cosine over the time budget."""
    cosine = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return min(1.0, (step + 1) / warmup) * cosine


def deadline_timestamp(text: str) -> float:
    """'HH:MM' today in UTC (or an ISO date-time) -> Unix time."""
    if len(text) <= 5:
        hour, minute = map(int, text.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        return now.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


def append_row(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def drop_rows_after(path: Path, step: int) -> None:
    """On resume: forget rows logged after the checkpoint (those steps are trained again)."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, [r for r in reader if int(r["step"]) <= step]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", help="folder of training photos (5%% held out by name hash)")
    p.add_argument("--out", default="runs/vr")
    p.add_argument("--deadline", help="UTC 'HH:MM' today, or ISO date-time (UTC)")
    p.add_argument("--init-from", type=Path, help="start from the weights and gains of a checkpoint of this script "
                                                  "(full or compact), with fresh optimizers")
    p.add_argument("--compact", nargs=2, type=Path, metavar=("CHECKPOINT", "TARGET"),
                   help="write CHECKPOINT's weights and gains in the compact form to TARGET, and exit")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke runs)")
    p.add_argument("--cpu-minutes", type=float, default=None,
                   help="stop after this much CPU time in this run, the cosine running over it (recipe "
                        "comparisons at equal compute) instead of over the time to --deadline")
    p.add_argument("--start-quality", type=int, default=LEVELS,
                   help="the shipped hyperprior quality whose weights start a fresh run (the gains start at 1 there)")
    p.add_argument("--scalar-gains", action="store_true", help="one gain per level instead of one per channel")
    p.add_argument("--distill", type=float, default=0.0,
                   help="weight of distillation: each level's reconstruction is also pulled towards the shipped "
                        "ladder model's of the same level (its lambda-weighted MSE to it, over ref_l)")
    p.add_argument("--eval-minutes", type=float, default=15.0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--gain-lr", type=float, default=3e-3)
    p.add_argument("--final-lr-ratio", type=float, default=0.1)
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--seed", type=int, default=400)
    p.add_argument("--compile", action="store_true", help="torch.compile the training forward pass")
    p.add_argument("--resume", action="store_true", help="continue from OUT/vr-latest.pt")
    args = p.parse_args()
    if args.compact:
        save_compact(*args.compact)
        return
    if not args.data or not (args.deadline or args.cpu_minutes):
        p.error("--data and one of --deadline and --cpu-minutes are required for training")

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    latest, best = out / "vr-latest.pt", out / "vr-best.pt"
    print(f"aecodec from {aecodec.__file__}", flush=True)

    q8 = zoo.lookup("hyperprior", args.start_quality)  # the starting model (q8 unless --start-quality)
    vr = VariableRateHyperprior(load_final(q8.path, q8.sha256), args.start_quality - 1, args.scalar_gains)
    main_params, aux_params = split_parameters(vr.base)
    optimizer = torch.optim.Adam([
        {"params": main_params, "lr": args.lr, "peak": args.lr},
        {"params": [vr.log_gain], "lr": args.gain_lr, "peak": args.gain_lr},
    ])  # fmt: skip
    aux_optimizer = torch.optim.Adam(aux_params, lr=1e-3)
    generator = torch.Generator().manual_seed(args.seed)

    # the project's split and validation crops (TrainConfig defaults: 5% held out by name hash, 256 centre crops)
    train_files, val_files = split_files(list_images(args.data), 0.05)
    val_crops = center_crops(val_files, 256)
    print(f"{len(train_files)} training files, {len(val_files)} held out ({tuple(val_crops.shape)})", flush=True)

    step, elapsed_before, cpu_before, refs, best_ratio, earlier = 0, 0.0, 0.0, None, math.inf, {}
    if args.init_from:
        start = safe_load(args.init_from)
        # with_code_constants: the float16 copy stores the likelihood floor (1e-9) as 0, and log2(0) is -inf
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in start["model"].items()}
        vr.base.load_state_dict(with_code_constants(vr.base, state))
        with torch.no_grad():
            vr.log_gain.copy_(start["log_gain"].float())
        # a new round: its own step count and schedule; the lineage keeps what the start had already had
        earlier = {"init_from": str(args.init_from), "earlier_steps": start["step"], "earlier_cpu_s": start["cpu_s"],
                   "earlier_lineage": start["lineage"]}  # fmt: skip
        print(f"started from {args.init_from} ({start['step']} steps, {start['cpu_s'] / 3600:.2f} CPU-hours)", flush=True)
    if args.resume:
        ckpt = safe_load(latest)
        vr.base.load_state_dict(ckpt["model"])
        with torch.no_grad():
            vr.log_gain.copy_(ckpt["log_gain"])
        optimizer.load_state_dict(ckpt["optimizer"])
        aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
        generator.set_state(ckpt["generator"])
        step, elapsed_before, cpu_before = ckpt["step"], ckpt["elapsed_s"], ckpt["cpu_s"]
        refs, best_ratio = ckpt["refs"], ckpt["best_mean_ratio"]
        for name in ("train.csv", "heldout.csv"):
            drop_rows_after(out / name, step)
        print(f"resumed at step {step}", flush=True)
    sampler = CropSampler(train_files, args.crop, generator)  # after set_state: the resumed crop stream

    t0, cpu0 = time.time(), time.process_time()
    elapsed = lambda: elapsed_before + time.time() - t0  # noqa: E731
    cpu = lambda: cpu_before + time.process_time() - cpu0  # noqa: E731
    if refs is None:
        refs = ladder_losses(val_crops)
    ref_t = torch.tensor(refs)
    lambdas = torch.tensor(QUALITY_LAMBDAS)

    def checkpoint(losses: list[float], ratios: list[float], mean_ratio: float) -> dict:
        return {
            "model": vr.base.state_dict(), "log_gain": vr.log_gain.detach().clone(),
            "config": vr.base.config.to_dict(), "lambdas": list(QUALITY_LAMBDAS), "refs": refs,
            "heldout_loss": losses, "ratio_pct": ratios, "mean_ratio_pct": mean_ratio,
            "best_mean_ratio": min(best_ratio, mean_ratio), "step": step, "elapsed_s": elapsed(), "cpu_s": cpu(),
            "optimizer": optimizer.state_dict(), "aux_optimizer": aux_optimizer.state_dict(),
            "generator": generator.get_state(), "args": vars(args),
            "lineage": {"started_from": f"hyperprior-q{args.start_quality}", "sha256": q8.sha256,
                        "recipe": RECIPE + (f"; distillation weight {args.distill}" if args.distill else "")
                        + ("; one scalar gain per level" if args.scalar_gains else ""),
                        "data": f"{args.data}, split_files val_fraction 0.05 (held-out files never trained on)",
                        **earlier},
        }  # fmt: skip

    def evaluate_and_save() -> float:
        nonlocal best_ratio
        t = time.time()
        losses = heldout_losses(vr, val_crops)
        ratios = [100 * (loss / ref - 1) for loss, ref in zip(losses, refs)]
        mean_ratio = sum(ratios) / LEVELS
        gains = vr.log_gain.detach().mean(1).exp().tolist()  # geometric-mean gain per level
        row = {"step": step, "elapsed_s": f"{elapsed():.1f}", "cpu_s": f"{cpu():.1f}"}
        row.update({f"loss_q{l + 1}": f"{v:.5f}" for l, v in enumerate(losses)})
        row.update({f"ratio_q{l + 1}_pct": f"{v:+.3f}" for l, v in enumerate(ratios)})
        row.update({"mean_ratio_pct": f"{mean_ratio:+.3f}"})
        row.update({f"gain_q{l + 1}": f"{v:.4f}" for l, v in enumerate(gains)})
        append_row(out / "heldout.csv", row)
        state = checkpoint(losses, ratios, mean_ratio)
        atomic_torch_save(state, latest)  # temp file beside it, then os.replace
        if mean_ratio < best_ratio:
            best_ratio = mean_ratio
            atomic_torch_save(state, best)
        table = "  ".join(f"q{l + 1} {r:+.1f}%" for l, r in enumerate(ratios))
        print(f"[heldout] step {step}: {table}  mean {mean_ratio:+.2f}%  ({time.time() - t:.0f} s)", flush=True)
        return time.time() - t

    eval_seconds = evaluate_and_save() if not args.resume else 120.0
    if args.cpu_minutes:
        cpu_start, cpu_budget = cpu(), 60 * args.cpu_minutes
        stop_at = math.inf
        progress = lambda: (cpu() - cpu_start) / cpu_budget  # noqa: E731
        print(f"training for {args.cpu_minutes} CPU-minutes", flush=True)
    else:
        # stop early enough for the final evaluation and save to finish before the deadline
        stop_at = deadline_timestamp(args.deadline) - 1.5 * eval_seconds - 30
        budget = elapsed_before + (stop_at - t0)  # the cosine runs over this many seconds of the run
        progress = lambda: elapsed() / budget  # noqa: E731
        print(f"training until {dt.datetime.fromtimestamp(stop_at, dt.timezone.utc):%H:%M:%S} UTC", flush=True)
    teachers = []
    if args.distill:
        for q in range(1, LEVELS + 1):
            entry = zoo.lookup("hyperprior", q)
            teachers.append(load_final(entry.path, entry.sha256).eval().requires_grad_(False))

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))  # end cleanly: final eval + checkpoint
    forward = torch.compile(vr) if args.compile else vr
    levels = torch.arange(LEVELS)  # crop i at level i + 1: every level in every batch
    vr.train()
    next_eval = time.time() + 60 * args.eval_minutes
    sums, window_t, window_n = torch.zeros(5), time.time(), 0
    while time.time() < stop_at and progress() < 1 and not stopping and (args.max_steps is None or step < args.max_steps):
        factor = schedule(step, progress(), args.warmup_steps, args.final_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = group["peak"] * factor
        x = sampler.batch(LEVELS)
        out_ = forward(x, levels)
        n, _, h, w = x.shape
        bpp = sum(-torch.log2(lk).flatten(1).sum(1) for lk in out_["likelihoods"].values()) / (h * w)
        mse = (out_["x_hat"] - x).pow(2).flatten(1).mean(1)
        loss = ((lambdas * 255**2 * mse + bpp) / ref_t).mean()  # each level relative to its ladder model
        if teachers:
            with torch.no_grad():  # crop i's teacher: the ladder model of its level, as the decoder sees it
                taught = torch.cat([teachers[int(l)](x[i : i + 1])["x_hat"] for i, l in enumerate(levels)])
            pull = (out_["x_hat"] - taught).pow(2).flatten(1).mean(1)
            loss = loss + args.distill * (lambdas * 255**2 * pull / ref_t).mean()
        optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):  # one bad batch must not poison the weights: skip it, say so
            print(f"step {step}: non-finite loss, batch skipped", flush=True)
            continue
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(main_params, 1.0)  # network weights only, as train.py
        optimizer.step()
        aux_optimizer.zero_grad(set_to_none=True)
        aux_loss = vr.base.aux_loss()
        aux_loss.backward()
        aux_optimizer.step()
        step += 1

        sums += torch.tensor([loss.item(), bpp.mean().item(), mse.mean().item(), aux_loss.item(), float(grad_norm)])
        window_n += 1
        if step % args.log_every == 0:
            m = (sums / window_n).tolist()
            append_row(out / "train.csv", {
                "step": step, "elapsed_s": f"{elapsed():.1f}", "cpu_s": f"{cpu():.1f}",
                "lr": f"{optimizer.param_groups[0]['lr']:.3g}", "rel_loss": f"{m[0]:.5f}", "bpp": f"{m[1]:.4f}",
                "psnr_db": f"{psnr_from_mse(m[2]):.3f}", "aux_loss": f"{m[3]:.2f}",
                "grad_norm": f"{m[4]:.4f}", "s_per_step": f"{(time.time() - window_t) / window_n:.3f}",
            })  # fmt: skip
            print(f"step {step} rel_loss {m[0]:.4f} {(time.time() - window_t) / window_n:.2f} s/step", flush=True)
            sums, window_t, window_n = torch.zeros(5), time.time(), 0
        if time.time() >= next_eval:
            evaluate_and_save()
            vr.train()
            next_eval = time.time() + 60 * args.eval_minutes
    evaluate_and_save()
    print(f"done at step {step}; best mean ratio {best_ratio:+.2f}%", flush=True)


if __name__ == "__main__":
    main()
