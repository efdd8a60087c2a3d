"""The image domains the adapter benchmark (benchmarks/adapt.py) teaches the codec, made from what packages ship:
charts and plots rendered with matplotlib, text pages and UI-like screenshots drawn with Pillow, and crops of
scikit-image's scientific images. Each set is a pure function of its seed, so a run can be repeated exactly.

Every generator returns ``(name, H x W x 3 uint8 array, group)``; images of one group (the scientific crops of
one source image) must land on the same side of the train / held-out split (:func:`split`), so held-out figures
are never measured on the pictures training saw.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Words the text pages and screenshots are made of (letters of every height and width).
WORDS = (
    "the of and to in is that for it with as was on be by this are from at or an have not which data image model "
    "codec rate quality figure table result value method sample error total page section report update settings "
    "window file edit view help open save cancel apply search status ready loading account profile message"
).split()


def _font_files() -> list[Path]:
    """The TrueType fonts matplotlib ships (DejaVu Sans, Serif, Mono in several weights): the same on every
    machine, unlike the system's."""
    import matplotlib

    fonts = sorted((Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("DejaVu*.ttf"))
    if not fonts:
        raise FileNotFoundError("matplotlib's DejaVu fonts are missing")
    return fonts


def _color(rng: np.random.Generator, dark: bool) -> tuple[int, int, int]:
    low, high = (0, 110) if dark else (170, 256)
    return tuple(int(v) for v in rng.integers(low, high, 3))


def charts(count: int, seed: int) -> Iterator[tuple[str, np.ndarray, str]]:
    """Charts and plots of many kinds, sizes, styles and fonts, rendered with matplotlib's Agg backend."""
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    import matplotlib.style

    rng = np.random.default_rng(seed)
    styles = ["default", "ggplot", "bmh", "classic", "fivethirtyeight", "grayscale", "dark_background",
              "seaborn-v0_8-whitegrid", "seaborn-v0_8-darkgrid", "Solarize_Light2"]  # fmt: skip
    families = ["DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono"]
    kinds = ["line", "bar", "scatter", "hist", "pie", "heatmap", "area", "step", "errorbar", "subplots"]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        style = styles[int(rng.integers(len(styles)))]
        width, height = int(rng.integers(320, 720)), int(rng.integers(256, 560))
        dpi = int(rng.choice([72, 96, 110]))
        fonts = {"font.family": families[i % 3], "font.size": float(rng.uniform(7, 13))}
        with matplotlib.style.context(style), matplotlib.rc_context(fonts):
            figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
            FigureCanvasAgg(figure)
            axes = figure.subplots(1, 2) if kind == "subplots" else [figure.subplots()]
            for ax in axes:
                _plot(ax, kind if kind != "subplots" else kinds[int(rng.integers(4))], rng)
            figure.suptitle(" ".join(rng.choice(WORDS, int(rng.integers(2, 5)))).capitalize())
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=dpi)
        yield f"chart-{i:03d}", np.asarray(Image.open(buffer).convert("RGB")), f"chart-{i:03d}"


def _plot(ax, kind: str, rng: np.random.Generator) -> None:
    n = int(rng.integers(8, 60))
    x = np.arange(n)
    series = int(rng.integers(1, 5))
    if kind == "line":
        for s in range(series):
            marker = str(rng.choice(["", "o", "s"]))
            ax.plot(x, np.cumsum(rng.standard_normal(n)), label=f"series {s + 1}", marker=marker)
        ax.legend()
    elif kind == "bar":
        ax.bar([str(v) for v in rng.choice(WORDS, min(n, 12), replace=False)], rng.uniform(1, 10, min(n, 12)))
        ax.tick_params(axis="x", rotation=45)
    elif kind == "scatter":
        ax.scatter(rng.standard_normal(4 * n), rng.standard_normal(4 * n), c=rng.uniform(0, 1, 4 * n),
                   s=rng.uniform(5, 60, 4 * n), cmap=rng.choice(["viridis", "plasma", "coolwarm", "tab10"]))  # fmt: skip
    elif kind == "hist":
        ax.hist(rng.standard_normal((500, series)), bins=int(rng.integers(10, 40)), stacked=bool(rng.integers(2)))
    elif kind == "pie":
        ax.pie(rng.uniform(1, 5, 5), labels=list(rng.choice(WORDS, 5, replace=False)), autopct="%1.0f%%")
    elif kind == "heatmap":
        image = ax.imshow(rng.standard_normal((12, 16)).cumsum(0), cmap=rng.choice(["magma", "Blues", "RdBu"]))
        ax.figure.colorbar(image, ax=ax)
    elif kind == "area":
        ax.stackplot(x, np.abs(rng.standard_normal((series + 1, n))).cumsum(1))
    elif kind == "step":
        ax.step(x, rng.integers(0, 10, n), where="mid")
        ax.grid(True)
    else:  # errorbar
        k = min(n, 15)
        ax.errorbar(x[:k], rng.uniform(2, 8, k), yerr=rng.uniform(0.2, 1.5, k), capsize=3, fmt="o-")
    ax.set_xlabel(str(rng.choice(WORDS)))
    ax.set_ylabel(str(rng.choice(WORDS)))


def text_ui(count: int, seed: int) -> Iterator[tuple[str, np.ndarray, str]]:
    """Text pages (paragraphs in many fonts, sizes and colours) and UI-like screenshots (title bar, sidebar,
    buttons, list rows, text fields), drawn with Pillow; every other image is a screenshot."""
    rng = np.random.default_rng(seed)
    fonts = _font_files()
    for i in range(count):
        width, height = int(rng.integers(320, 800)), int(rng.integers(256, 640))
        draw_page = _page if i % 2 == 0 else _screenshot
        image = draw_page(width, height, rng, fonts)
        yield f"{'page' if i % 2 == 0 else 'screen'}-{i:03d}", np.asarray(image), f"text-{i:03d}"


def _font(rng: np.random.Generator, fonts: list[Path], low: int, high: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]), int(rng.integers(low, high)))


def _sentence(rng: np.random.Generator, words: int) -> str:
    return " ".join(rng.choice(WORDS, words)).capitalize()


def _page(width: int, height: int, rng: np.random.Generator, fonts: list[Path]) -> Image.Image:
    dark = rng.random() < 0.2
    if dark:
        background = (24, 24, 28)
    else:
        background = _color(rng, False) if rng.random() < 0.5 else (255, 255, 255)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    ink = (230, 230, 230) if dark else _color(rng, True)
    margin, y = int(rng.integers(8, 40)), int(rng.integers(8, 30))
    heading = _font(rng, fonts, 18, 34)
    draw.text((margin, y), _sentence(rng, int(rng.integers(2, 6))), font=heading, fill=ink)
    y += heading.size + 10
    body = _font(rng, fonts, 9, 18)
    while y < height - body.size:
        line, words = "", int(rng.integers(3, 30))
        for _ in range(words):
            candidate = f"{line} {rng.choice(WORDS)}".strip()
            if draw.textlength(candidate, font=body) > width - 2 * margin:
                break
            line = candidate
        draw.text((margin, y), line, font=body, fill=ink)
        y += int(body.size * rng.uniform(1.2, 1.6)) + (body.size if rng.random() < 0.1 else 0)
    return image


def _screenshot(width: int, height: int, rng: np.random.Generator, fonts: list[Path]) -> Image.Image:
    dark = rng.random() < 0.3
    background = (40, 42, 48) if dark else (242, 242, 245)
    ink = (220, 220, 225) if dark else (30, 30, 35)
    accent = _color(rng, True)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    font = _font(rng, fonts, 10, 16)
    bar = font.size + 14
    draw.rectangle((0, 0, width, bar), fill=accent)
    draw.text((10, 7), _sentence(rng, 3), font=font, fill=(255, 255, 255))
    for k in range(3):  # window buttons
        draw.ellipse((width - 20 * (k + 1), 6, width - 20 * (k + 1) + 12, 18), fill=_color(rng, False))
    side = int(rng.integers(80, max(81, width // 3)))
    draw.rectangle((0, bar, side, height), fill=(52, 55, 62) if dark else (225, 228, 234))
    y = bar + 10
    while y < height - font.size:
        draw.text((12, y), str(rng.choice(WORDS)).capitalize(), font=font, fill=ink)
        y += font.size + 12
    x0, y = side + 16, bar + 16
    for _ in range(int(rng.integers(1, 4))):  # text fields and buttons
        if y > height - 40:
            break
        draw.rounded_rectangle((x0, y, min(width - 16, x0 + 220), y + font.size + 12), radius=4,
                               outline=ink, fill=background)  # fmt: skip
        draw.text((x0 + 6, y + 6), _sentence(rng, 2), font=font, fill=ink)
        draw.rounded_rectangle((x0 + 230, y, x0 + 310, y + font.size + 12), radius=6, fill=accent)
        label = str(rng.choice(["OK", "Save", "Apply", "Cancel"]))
        draw.text((x0 + 240, y + 6), label, font=font, fill=(255, 255, 255))
        y += font.size + 24
    while y < height - font.size - 8:  # list rows, alternating shades
        shade = (48, 50, 57) if dark else (250, 250, 252)
        if rng.random() < 0.5:
            draw.rectangle((side, y - 4, width, y + font.size + 6), fill=shade)
        draw.text((x0, y), _sentence(rng, int(rng.integers(2, 8))), font=font, fill=ink)
        draw.text((width - 90, y), f"{rng.integers(1, 999)} KB", font=font, fill=ink)
        y += font.size + 12
    return image


#: The scikit-image pictures the scientific domain is cut from: microscopy, astronomy, medical, materials.
SCIENTIFIC_SOURCES = ("hubble_deep_field", "immunohistochemistry", "retina", "cell", "moon", "coins", "brick",
                      "gravel", "grass", "camera", "astronaut", "coffee")  # fmt: skip


def scientific(count: int, seed: int) -> Iterator[tuple[str, np.ndarray, str]]:
    """Random crops (160..384 pixels a side) of scikit-image's scientific pictures, grouped by source."""
    import skimage.data

    rng = np.random.default_rng(seed)
    sources = {}
    for name in SCIENTIFIC_SOURCES:
        array = np.asarray(getattr(skimage.data, name)())
        sources[name] = np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array[..., :3]
    for i in range(count):
        name = SCIENTIFIC_SOURCES[i % len(SCIENTIFIC_SOURCES)]
        source = sources[name]
        h, w = source.shape[:2]
        ch, cw = min(h, int(rng.integers(160, 385))), min(w, int(rng.integers(160, 385)))
        top, left = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
        yield f"{name}-{i:03d}", np.ascontiguousarray(source[top : top + ch, left : left + cw]), name


#: Domain name -> generator(count, seed).
DOMAINS: dict[str, Callable[[int, int], Iterator[tuple[str, np.ndarray, str]]]] = {
    "charts": charts, "text-ui": text_ui, "scientific": scientific,
}


def _group_hash(group: str) -> bytes:
    return hashlib.sha256(group.encode()).digest()


def write_domain(domain: str, folder: Path, count: int, seed: int, fraction: float) -> tuple[list[Path], list[Path]]:
    """Render a domain's images as PNGs into ``folder``/train and ``folder``/heldout: the ``fraction`` of the
    groups (at least one) that come first in the order of a hash of their names are held out, whole."""
    images = list(DOMAINS[domain](count, seed))
    groups = sorted({group for _, _, group in images}, key=_group_hash)
    held = set(groups[: max(1, round(fraction * len(groups)))])
    if len(held) == len(groups):
        raise ValueError(f"{domain}: {count} images make too few groups to split; make more")
    train, heldout = [], []
    for name, array, group in images:
        split = "heldout" if group in held else "train"
        path = folder / split / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path)
        (heldout if group in held else train).append(path)
    return train, heldout
