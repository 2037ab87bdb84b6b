"""An interactive before/after view: two pictures over each other with a draggable divider (mouse, touch,
arrow keys), a 100% / fit zoom with panning, labels, and an optional third picture (the sharp frame) to
switch to. It shows itself in Jupyter, JupyterLab and VS Code notebooks (``_repr_html_``) and saves as one
self-contained HTML file: pictures embedded as PNG, plain HTML, CSS and JavaScript, nothing loaded from a
network."""

from __future__ import annotations

import base64
import html
import io
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rdafnet.utils.atomic import atomic_write

_CSS = """
.rdafnet-compare{font:13px sans-serif;max-width:100%;outline:none;user-select:none}
.rdafnet-compare:focus .rc-stage{box-shadow:0 0 0 2px #4a90d9}
.rdafnet-compare .rc-bar{display:flex;gap:8px;align-items:center;margin:0 0 4px}
.rdafnet-compare .rc-bar .rc-r{margin-left:auto}
.rdafnet-compare button{font:inherit;padding:1px 8px}
.rdafnet-compare .rc-stage{position:relative;overflow:hidden;touch-action:none;cursor:ew-resize;background:#222}
.rdafnet-compare.rc-zoomed .rc-stage{cursor:grab}
.rdafnet-compare .rc-inner{position:absolute;left:0;top:0}
.rdafnet-compare .rc-inner img{position:absolute;left:0;top:0;width:100%;height:100%;display:block;max-width:none}
.rdafnet-compare.rc-zoomed .rc-inner img{image-rendering:pixelated}
.rdafnet-compare .rc-divider{position:absolute;top:0;bottom:0;width:2px;margin-left:-1px;background:#fff;
 box-shadow:0 0 2px #000;pointer-events:none}
.rdafnet-compare .rc-handle{position:absolute;top:50%;left:-9px;width:16px;height:16px;margin-top:-10px;
 border:2px solid #fff;border-radius:50%;background:rgba(0,0,0,.4);pointer-events:auto;cursor:ew-resize}
"""

# One view per element id; everything it touches is inside that element, so several views share a page.
_JS = """
(function(){
const root=document.getElementById(%(id)s); if(!root||root.dataset.ready)return; root.dataset.ready='1';
const stage=root.querySelector('.rc-stage'),inner=root.querySelector('.rc-inner'),
 div=root.querySelector('.rc-divider'),handle=root.querySelector('.rc-handle'),
 imgs=root.querySelectorAll('.rc-inner img'),zoomBtn=root.querySelector('.rc-zoom'),
 thirdBtn=root.querySelector('.rc-third'),rLabel=root.querySelector('.rc-r');
const W=%(w)d,H=%(h)d,labels=%(labels)s; let split=0.5,zoom=false,px=0,py=0,third=false,drag=null;
function size(){const dpr=window.devicePixelRatio||1;
 if(zoom){return [W/dpr,H/dpr];} const s=Math.min(1,stage.parentNode.clientWidth/(W/dpr));
 return [W/dpr*s,H/dpr*s];}
function layout(){const [w,h]=size(); const sw=stage.parentNode.clientWidth;
 stage.style.width=Math.min(sw,w)+'px';
 stage.style.height=(zoom?Math.min(h,Math.max(200,window.innerHeight*0.85)):h)+'px';
 const vw=stage.clientWidth,vh=stage.clientHeight;
 px=Math.min(0,Math.max(vw-w,px)); py=Math.min(0,Math.max(vh-h,py)); if(!zoom){px=0;py=0;}
 inner.style.width=w+'px'; inner.style.height=h+'px';
 inner.style.transform='translate('+px+'px,'+py+'px)';
 const clip='inset(0 0 0 '+(split*100)+'%%)';
 imgs[1].style.clipPath=clip; if(imgs[2])imgs[2].style.clipPath=clip;
 imgs[1].style.visibility=third?'hidden':'visible'; if(imgs[2])imgs[2].style.visibility=third?'visible':'hidden';
 div.style.left=(px+split*w)+'px'; root.dataset.split=split.toFixed(4);
 root.dataset.panX=px.toFixed(1); root.dataset.panY=py.toFixed(1);
 root.dataset.zoom=zoom?'100':'fit'; rLabel.textContent=labels[third?2:1];
 zoomBtn.textContent=zoom?'fit':'100%%';}
function setSplit(x){const r=inner.getBoundingClientRect(); split=Math.min(1,Math.max(0,(x-r.left)/r.width)); layout();}
stage.addEventListener('pointerdown',e=>{root.focus({preventScroll:true});
 drag=(zoom&&e.target!==handle)?{x:e.clientX-px,y:e.clientY-py}:'split';
 if(drag==='split')setSplit(e.clientX); stage.setPointerCapture(e.pointerId); e.preventDefault();});
stage.addEventListener('pointermove',e=>{if(!drag)return;
 if(drag==='split')setSplit(e.clientX); else {px=e.clientX-drag.x; py=e.clientY-drag.y; layout();}});
const end=()=>{drag=null;}; stage.addEventListener('pointerup',end); stage.addEventListener('pointercancel',end);
root.addEventListener('keydown',e=>{const step=e.shiftKey?0.1:0.01;
 if(e.key==='ArrowLeft'){split=Math.max(0,split-step);} else if(e.key==='ArrowRight'){split=Math.min(1,split+step);}
 else return; e.preventDefault(); layout();});
zoomBtn.addEventListener('click',()=>{zoom=!zoom; const [w1]=size();
 px=zoom?stage.clientWidth/2-split*w1:0; layout();});
if(thirdBtn)thirdBtn.addEventListener('click',()=>{third=!third;
 thirdBtn.textContent='show '+labels[third?1:2]; layout();});
window.addEventListener('resize',layout); if(imgs[0].complete)layout(); else imgs[0].addEventListener('load',layout);
layout();})();
"""


def _rgb8(image: Any) -> np.ndarray:
    """Any image :func:`rdafnet.deblur` takes (array, PIL image, tensor, path) as (H, W, 3) uint8 RGB."""
    from rdafnet.inference.convert import prepare

    batch, _ = prepare(image)
    if batch.shape[0] != 1:
        raise ValueError(f"compare shows one image at a time; got a batch of {batch.shape[0]}")
    arr = batch[0].permute(1, 2, 0).clamp(0, 1).mul(255).round().byte().numpy()
    return np.ascontiguousarray(arr)


def _png_uri(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def view_html(images: Sequence[np.ndarray], labels: Sequence[str], *, element_id: str | None = None) -> str:
    """The view of two or three same-size uint8 RGB pictures, as an HTML fragment (its style and script
    included, scoped to its own element)."""
    import json

    uid = element_id or f"rdafnet-compare-{uuid.uuid4().hex[:12]}"
    h, w = images[0].shape[:2]
    tags = "".join(
        f'<img class="rc-{k}" alt="{html.escape(lab)}" src="{_png_uri(im)}" draggable="false">'
        for k, im, lab in zip("abc", images, labels, strict=False)
    )
    third = f'<button class="rc-third" type="button">show {html.escape(labels[2])}</button>' if len(images) > 2 else ""
    script = _JS % {"id": json.dumps(uid), "w": w, "h": h, "labels": json.dumps(list(labels))}
    return (
        f"<style>{_CSS}</style>"
        f'<div class="rdafnet-compare" id="{uid}" tabindex="0" data-width="{w}" data-height="{h}">'
        f'<div class="rc-bar"><span class="rc-l">{html.escape(labels[0])}</span>'
        f'<button class="rc-zoom" type="button">100%</button>{third}'
        f'<span class="rc-r">{html.escape(labels[1])}</span></div>'
        f'<div class="rc-stage"><div class="rc-inner">{tags}</div>'
        '<div class="rc-divider"><div class="rc-handle"></div></div></div>'
        f"</div><script>{script}</script>"
    )


def page(body: str, title: str) -> str:
    """A whole HTML document around view fragments."""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{margin:12px;font:13px sans-serif}</style></head>"
        f"<body>{body}</body></html>\n"
    )


class CompareView:
    """A before/after view; shows itself in notebooks, ``save(path)`` writes one self-contained HTML file."""

    def __init__(self, images: Sequence[np.ndarray], labels: Sequence[str]) -> None:
        self.images, self.labels = list(images), list(labels)

    def _repr_html_(self) -> str:
        return view_html(self.images, self.labels)

    def html(self) -> str:
        """The view as a whole HTML document."""
        return page(view_html(self.images, self.labels), " / ".join(self.labels))

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the view to ``path`` (``.html``), atomically; an existing file only with ``overwrite=True``."""
        path = Path(path)
        if path.suffix.lower() not in (".html", ".htm"):
            raise ValueError(f"{path}: name the view with the .html suffix (a browser opens it by that)")
        text = self.html()
        return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), overwrite=overwrite)


def compare(
    before: Any,
    after: Any,
    *,
    labels: Sequence[str] = ("blurry", "restored"),
    sharp: Any = None,
    max_side: int | None = None,
) -> CompareView:
    """A before/after view of ``before`` and ``after`` (numpy arrays, PIL images, tensors or paths, any
    size, the two the same size), with ``sharp`` as a third picture to switch to. Pictures are embedded at
    full resolution (the point is the pixels); ``max_side`` downscales them so that neither side exceeds it.

    ``labels`` names the pictures (a third label for ``sharp`` defaults to "sharp").
    """
    if isinstance(labels, str) or len(labels) < 2:
        raise ValueError(f"labels names the two pictures, e.g. ('blurry', 'restored'); got {labels!r}")
    images = [_rgb8(before), _rgb8(after), *([_rgb8(sharp)] if sharp is not None else [])]
    names = [*labels[:2], *(list(labels[2:3]) or ["sharp"])][: len(images)]
    sizes = {im.shape[:2] for im in images}
    if len(sizes) > 1:
        raise ValueError(
            f"the pictures differ in size ({', '.join(f'{w}x{h}' for h, w in (im.shape[:2] for im in images))}); "
            "compare shows the same pixels of each, so pass pictures of one size"
        )
    if max_side is not None:
        if max_side < 1:
            raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
        h, w = images[0].shape[:2]
        scale = max_side / max(h, w)
        if scale < 1:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            images = [np.asarray(Image.fromarray(im).resize(size, Image.Resampling.LANCZOS)) for im in images]
    return CompareView(images, names)
