"""How merged, rank-labelled output looks in a notebook: a header that is not just another line.

Printed as a stream, ``[rank 1]`` is one more line of stdout and a student's eye slides over it.
In a notebook each merged block is therefore shown as

- its header as a small rich display: ``text/plain`` is the header line a terminal prints
  (``[rank 1]``), ``text/html`` draws it as a label with a rule across the output, styled only
  with JupyterLab's CSS variables (``--jp-*``) so it follows the light and the dark theme, with
  plain fallbacks for viewers without them (nbviewer, GitHub);
- then the rank's output exactly as before: its text as a real ``stream`` message (so a `print`
  on the ranks stays stdout for nbclient, ``jupyter console``, the kernel conformance suite and
  JupyterLab's own stream rendering, stderr's red background included), or its rich output.

Read in order, the plain text of a cell's outputs is character for character what a terminal
prints (`Screen.show`). The header's metadata, ``{"mpikernel": {"kind": "header", "stream":
"stdout", "ranks": [0, 1]}}``, lets programs that read notebooks tell our labels from the user's
own displays (`as_stream`).

The HTML pieces are generic so other outputs can reuse them: `labelled_html(header, body_html,
tone)` renders a header above any content, `header_html` the label alone, `pre_html` text in
the notebook's code font.
"""

from __future__ import annotations

import html
import sys
from typing import Callable, Sequence

from mpikernel.cells import merge as out

#: metadata key under which our displays describe themselves
META_KEY = "mpikernel"

# Theme-aware colours: JupyterLab's variable first, a value for viewers without it second.
_ACCENTS = {
    "stdout": "var(--jp-brand-color1, #1976d2)",
    "stderr": "var(--jp-error-color1, #d32f2f)",
    "note": "var(--jp-warn-color1, #f57c00)",
}
_CODE_FONT = (
    "font-family:var(--jp-code-font-family, monospace); font-size:var(--jp-code-font-size, 13px)"
)
_ROW = "display:flex; align-items:center; gap:8px; margin:2px 0 0 0"
_LABEL = (
    "flex:none; padding:0 7px; border-radius:3px; border:1px solid {accent};"
    f" {_CODE_FONT}; font-weight:600; line-height:1.45; color:{{accent}};"
    " background:var(--jp-layout-color2, rgba(127,127,127,0.12))"
)
_RULE = "flex:auto; height:0; border-top:1px dashed var(--jp-border-color1, rgba(127,127,127,0.5))"
_BOX = "margin:0 0 4px 0; padding:2px 0 2px 8px; border-left:3px solid {accent}"
_PRE = (
    f"margin:2px 0 0 0; padding:0; background:transparent; border:none; {_CODE_FONT};"
    " line-height:var(--jp-code-line-height, 1.3077); color:var(--jp-content-font-color1, inherit);"
    " white-space:pre-wrap; word-break:break-word"
)


def accent(tone: str) -> str:
    """The CSS colour of a tone: 'stdout' (the theme's brand colour), 'stderr' or 'note'."""
    try:
        return _ACCENTS[tone]
    except KeyError:
        raise ValueError(f"unknown tone {tone!r}; use one of {', '.join(_ACCENTS)}") from None


def header_html(header: str, tone: str = "stdout") -> str:
    """The label, e.g. '[ranks 0-3]', with a rule to the right edge of the output."""
    colour = accent(tone)
    return (
        f'<div class="mpikernel-header" style="{_ROW}">'
        f'<span style="{_LABEL.format(accent=colour)}">{html.escape(header)}</span>'
        f'<span style="{_RULE}"></span></div>'
    )


def pre_html(text: str) -> str:
    """Text as a <pre> in the notebook's code font (escaped; a final newline adds no blank line)."""
    return f'<pre style="{_PRE}">{html.escape(text.removesuffix(chr(10)))}</pre>'


def labelled_html(header: str, body_html: str, tone: str = "stdout") -> str:
    """A header above any content in one box (for outputs that are not a rank's stream).

    `body_html` is inserted as given: escape text with `pre_html`. `tone` picks the colour.
    """
    colour = accent(tone)
    return (
        f'<div class="mpikernel-block" style="{_BOX.format(accent=colour)}">'
        f"{header_html(header, tone)}{body_html}</div>"
    )


def header_bundle(block: out.Block) -> tuple[dict, dict]:
    """(data, metadata) of the display that labels `block`."""
    tone = "stderr" if block.kind == "stderr" else "stdout"
    data = {"text/plain": block.header, "text/html": header_html(block.header, tone)}
    stream = block.kind if block.kind in ("stdout", "stderr") else "stdout"
    return data, {META_KEY: {"kind": "header", "stream": stream, "ranks": list(block.ranks)}}


def show_blocks(
    blocks: Sequence[out.Block],
    publish: Callable[..., None] | None = None,
    publish_result: Callable[[dict], None] | None = None,
    write: Callable[[str, str], None] | None = None,
) -> None:
    """Show merged blocks in a notebook: each one's label, then its stream text or rich output.

    `publish(data, metadata, transient=None, update=False)` sends a display_data (default:
    IPython's publish_display_data; a display the rank gave a display_id keeps it, so a later
    cell's `handle.update(...)` finds it), `write(stream_name, text)` writes a stream (default:
    sys.stdout / sys.stderr, flushed so labels and texts arrive in order), `publish_result(content)`
    sends the cell's ONE execute_result (the kernel does): the ranks' value when they agree, every
    rank's value under its label when they differ (`result_bundle`). Without it a result is
    displayed like a display. An "update" block updates that earlier display, without a label;
    a "clear" block is a clear_output (first, before the cell's merged output).
    """
    publish = publish or _publish_display
    write = write or _write_stream
    results = [b for b in blocks if b.kind == "result"]
    for block in blocks:
        if block.kind == "clear":
            from IPython.display import clear_output

            clear_output(wait=block.payload["wait"])
            continue
        if block.kind == "update":
            publish(block.payload.get("data", {}), block.payload.get("metadata") or {},
                    transient=block.payload.get("transient"), update=True)
            continue
        if block.kind == "result" and publish_result is not None and len(results) > 1:
            if block is results[0]:
                publish_result(result_bundle(results))
            continue
        publish(*header_bundle(block))
        if block.kind in ("stdout", "stderr"):
            write(block.kind, block.payload if block.payload.endswith("\n") else block.payload + "\n")
        elif block.kind == "result" and publish_result is not None:
            publish_result(block.payload)
        else:  # a display the rank gave an id keeps it (a publisher without `transient` is fine)
            extra = {"transient": block.payload["transient"]} if block.payload.get("transient") else {}
            publish(block.payload.get("data", {}), block.payload.get("metadata") or {}, **extra)


def result_bundle(results: Sequence[out.Block]) -> dict:
    """ONE execute_result for ranks whose values differ: text/plain and text/html hold every
    rank's value under its label (so a saved notebook keeps one result per cell)."""
    html_parts = []
    for b in results:
        data = b.payload.get("data", {})
        body = data.get("text/html") or pre_html(data.get("text/plain", ""))
        html_parts.append(labelled_html(b.header, body))
    ranks = sorted(r for b in results for r in b.ranks)
    return {"data": {"text/plain": out.labelled_results(results), "text/html": "".join(html_parts)},
            "metadata": {META_KEY: {"kind": "results", "ranks": ranks}}}


def _publish_display(data: dict, metadata: dict, transient: dict | None = None, update: bool = False) -> None:
    from IPython.display import publish_display_data

    if update:  # as handle.update(...) does it
        publish_display_data(data, metadata, transient=transient, update=True)
    else:
        publish_display_data(data, metadata, transient=transient)


def _write_stream(name: str, text: str) -> None:
    stream = sys.stdout if name == "stdout" else sys.stderr
    stream.write(text)
    stream.flush()  # before the next label is published


def as_stream(data: dict, metadata: dict | None) -> tuple[str, str] | None:
    """('stdout', '[rank 1]\\n') for one of our labels: the line a terminal prints for it.

    For programs that read notebooks or iopub messages and want the terminal's text back: join
    the stream texts with these in output order. Any other display gives None.
    """
    info = (metadata or {}).get(META_KEY) or {}
    if info.get("kind") != "header":
        return None
    return info.get("stream", "stdout"), data.get("text/plain", "") + "\n"
