"""Sliding-window geometry shared by convolution and pooling (NCHW, two spatial axes).

Attributes follow ONNX: `pads` is (top, left, bottom, right), `strides` and `dilations` are
(vertical, horizontal). A window view of a (padded) input is made with stride tricks, so reading
every kernel offset costs no copy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlxa.errors import ShapeError


@dataclass(frozen=True)
class Window:
    """One 2-D sliding window over an input of spatial size (h, w). Invariant: out_h, out_w >= 1.
    `padded_h`/`padded_w` cover every window, so they may exceed h + top + bottom (ceil_mode)."""

    h: int
    w: int
    kh: int
    kw: int
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    out_h: int
    out_w: int

    @property
    def padded_h(self) -> int:
        reach = (self.out_h - 1) * self.strides[0] + self.dilations[0] * (self.kh - 1) + 1
        return max(reach, self.pads[0] + self.h)

    @property
    def padded_w(self) -> int:
        reach = (self.out_w - 1) * self.strides[1] + self.dilations[1] * (self.kw - 1) + 1
        return max(reach, self.pads[1] + self.w)

    @property
    def needs_padding(self) -> bool:
        return (self.pads[0] > 0 or self.pads[1] > 0 or self.padded_h > self.h
                or self.padded_w > self.w)


def pair(attrs: Mapping[str, Any], key: str, default: int) -> tuple[int, int]:
    value = tuple(int(v) for v in attrs.get(key, (default, default)))
    if len(value) != 2:
        raise ShapeError(f"{key}={value}: expected 2 values (NCHW)")
    return value[0], value[1]


def pads_of(attrs: Mapping[str, Any]) -> tuple[int, int, int, int]:
    pads = tuple(int(v) for v in attrs.get("pads", (0, 0, 0, 0)))
    if len(pads) != 4 or min(pads) < 0:
        raise ShapeError(f"pads={pads}: expected 4 non-negative values (top, left, bottom, right)")
    return pads  # type: ignore[return-value]


def window(h: int, w: int, kh: int, kw: int, attrs: Mapping[str, Any],
           ceil_mode: bool = False) -> Window:
    strides, dilations = pair(attrs, "strides", 1), pair(attrs, "dilations", 1)
    pads = pads_of(attrs)
    if min(strides) < 1 or min(dilations) < 1 or min(kh, kw) < 1:
        raise ShapeError(f"strides {strides}, dilations {dilations} and kernel ({kh},{kw}) "
                         "must be positive")
    out_h = _out_size(h, kh, strides[0], pads[0], pads[2], dilations[0], ceil_mode)
    out_w = _out_size(w, kw, strides[1], pads[1], pads[3], dilations[1], ceil_mode)
    return Window(h, w, kh, kw, strides, pads, dilations, out_h, out_w)


def _out_size(size: int, k: int, s: int, begin: int, end: int, d: int,
                    ceil_mode: bool) -> int:
    span = size + begin + end - d * (k - 1) - 1
    if span < 0:
        raise ShapeError(f"window {k} (dilation {d}) is larger than the padded input "
                         f"{size + begin + end}")
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= size + begin:  # the last window would start inside the end padding
        out -= 1
    return out


def padder(x: np.ndarray, buf: np.ndarray, win: Window, fill: float) -> Callable[[], None]:
    """A call that copies x (..., h, w) into buf (..., padded_h, padded_w) at (top, left) and
    fills the rest: only the border strips (at most four), its views made once."""
    top, left = win.pads[0], win.pads[1]
    bottom, right = top + win.h, left + win.w
    interior = buf[..., top:bottom, left:right]
    strips = [v for v in (buf[..., :top, :], buf[..., bottom:, :], buf[..., top:bottom, :left],
                          buf[..., top:bottom, right:]) if v.size]

    def run() -> None:
        for v in strips:
            v.fill(fill)
        np.copyto(interior, x)

    return run


def windows_view(xp: np.ndarray, win: Window) -> np.ndarray:
    """A read-only view (..., kh, kw, out_h, out_w) of every window of a padded (..., H, W)."""
    *lead, sh, sw = xp.strides
    shape = xp.shape[:-2] + (win.kh, win.kw, win.out_h, win.out_w)
    strides = (*lead, sh * win.dilations[0], sw * win.dilations[1],
               sh * win.strides[0], sw * win.strides[1])
    return np.lib.stride_tricks.as_strided(xp, shape, strides, writeable=False)
