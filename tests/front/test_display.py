"""The notebook look of merged output (mpikernel.front.display): rich labels, streams and text unchanged."""

import html
import re

import pytest

from mpikernel.front import display as d
from mpikernel.cells.merge import Block, RankOutput, merge_outputs, render_text


def _blocks():
    outs = [RankOutput(r, stdout="same\n" if r != 2 else "<b>two</b> & more", stderr="warn\n" if r == 1 else "")
            for r in range(4)]
    outs[0].result = {"data": {"text/plain": "6"}, "metadata": {}}
    outs[3].displays = [{"data": {"image/png": "PNG", "text/plain": "<Figure>"}, "metadata": {}}]
    return merge_outputs(outs)


def _show(blocks, **kw):
    """The outputs show_blocks produces, as ('display'|'stdout'|'stderr'|'result', data, metadata)."""
    sent = []
    d.show_blocks(blocks, publish=lambda data, meta: sent.append(("display", data, meta)),
                  write=lambda name, text: sent.append((name, text, None)), **kw)
    return sent


def test_each_block_gets_a_label_then_its_own_output():
    sent = _show(_blocks(), publish_result=lambda c: None)
    labels = [s[1]["text/plain"] for s in sent if s[0] == "display" and d.META_KEY in s[2]]
    assert labels == ["[ranks 0-1,3]", "[rank 2]", "[rank 3]", "[rank 0]", "[rank 1]"]
    assert [s[0] for s in sent] == ["display", "stdout", "display", "stdout", "display", "display",
                                    "display", "display", "stderr"]
    assert sent[3][1] == "<b>two</b> & more\n"  # a missing final newline is added, as the terminal does
    assert sent[5][1]["image/png"] == "PNG" and d.META_KEY not in sent[5][2]


def test_results_go_to_the_result_publisher():
    results = []
    sent = _show([Block("result", [0, 1], {"data": {"text/plain": "1"}, "metadata": {}})],
                 publish_result=results.append)
    assert [s[1]["text/plain"] for s in sent] == ["[ranks 0-1]"]
    assert results == [{"data": {"text/plain": "1"}, "metadata": {}}]
    sent = _show([Block("result", [0], {"data": {"text/plain": "1"}, "metadata": {}})])
    assert [s[1]["text/plain"] for s in sent] == ["[rank 0]", "1"]  # no publisher: displayed


def test_text_in_output_order_is_what_a_terminal_prints():
    blocks = _blocks()
    stdout, stderr = [], []
    for kind, data, meta in _show(blocks, publish_result=lambda c: None):
        if kind == "display":
            labelled = d.as_stream(data, meta)
            if labelled:
                (stdout if labelled[0] == "stdout" else stderr).append(labelled[1])
        else:
            (stdout if kind == "stdout" else stderr).append(data)
    assert "".join(stdout) == render_text(blocks, "stdout") + "[rank 3]\n[rank 0]\n"
    assert "".join(stderr) == render_text(blocks, "stderr") == "[rank 1]\nwarn\n"
    assert d.as_stream({"text/plain": "x"}, {}) is None and d.as_stream({"text/plain": "x"}, None) is None


def test_label_metadata_says_what_it_labels():
    data, meta = d.header_bundle(Block("stderr", [1, 2], "x"))
    assert meta == {"mpikernel": {"kind": "header", "stream": "stderr", "ranks": [1, 2]}}
    assert data["text/plain"] == "[ranks 1-2]" and "var(--jp-error-color1" in data["text/html"]


def test_html_escapes_and_follows_the_jupyterlab_theme():
    page = d.labelled_html("[rank <1>]", d.pre_html("a < b & c\n"), "stderr")
    assert html.escape("[rank <1>]") in page and "a &lt; b &amp; c</pre>" in page
    colours = re.findall(r"(?:color|background|border(?:-top|-left)?):([^;\"]+)", page)
    colours = [c.strip() for c in colours]
    assert colours and all("var(--jp-" in c or c == "transparent" or c == "none" for c in colours), colours


def test_bad_tone_is_refused():
    with pytest.raises(ValueError, match="tone"):
        d.labelled_html("[rank 0]", "", "purple")
