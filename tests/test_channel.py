"""The served page's commands and replies keep their order and each is taken once, whatever
the way between does (app/ui/channel.js on the page, app/page.py ``InOrder`` on the server):
Panel may hold one message and dispatch a later one at once, and a page then waited for ever
for a reply it never matched (one page in ~40 when four opened at once on one server)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from dpo_sim.app.page import InOrder, presets
from dpo_sim.sim.protocol import Session

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (node) is not on PATH")
def test_the_page_takes_every_reply_once_in_order_over_a_network_that_loses_and_reorders():
    out = subprocess.run(["node", str(HERE / "channel_driver.mjs")], capture_output=True,
                         text=True, timeout=120, check=True)
    runs = json.loads(out.stdout)
    want = list(range(1, 31))
    for r in runs:
        assert r["got"] == want, r            # every reply, once, in the order sent
        assert r["ran"] == want, r            # the server ran each command once, in order
        assert r["stats"]["pending"] == 0 and r["stats"]["early"] == 0, r
        if r["lose"] == 0:
            # nothing lost: a resend only where a reply was merely slow (none here: the
            # network's delays are under a second, the page waits three)
            assert r["stats"]["resent"] == 0, r
    assert sum(r["stats"]["resent"] > 0 for r in runs if r["lose"]) > 100   # loss was met


def _commands():
    return [{"op": "load", "scenario": "align"}, {"op": "advance", "n": 3},
            {"op": "flip", "row": 1}, {"op": "set", "changes": {"beta": 0.5}},
            {"op": "advance", "n": 7}, {"op": "flip", "row": 1}, {"op": "advance", "n": 1},
            {"op": "flip", "row": 99}, {"op": "advance", "n": 2}]


def test_the_server_runs_numbered_commands_in_their_order_once_whatever_order_they_come_in():
    """Replies to shuffled, repeated commands are those of one session running them in
    order (compared as parsed JSON, a session of its own as the reference)."""
    from dpo_sim.app.page import answer

    cmds = _commands()
    ref_session = Session(presets())
    reference = [json.loads(answer(ref_session, c)) for c in cmds]
    rnd = random.Random(7)
    for trial in range(20):
        numbered = [{**c, "_seq": i + 1} for i, c in enumerate(cmds)]
        arrivals = numbered + rnd.sample(numbered, 4)          # some come twice
        rnd.shuffle(arrivals)
        first = {}                                           # seq -> its first reply
        order = InOrder(Session(presets()))
        for m in arrivals:
            for text in order.take(m):
                reply = json.loads(text)
                seq = reply.pop("_seq")
                if seq in first:
                    assert reply == first[seq]               # sent again: the same reply
                else:
                    assert seq == len(first) + 1, (trial, seq)   # new replies in order
                    first[seq] = reply
        assert [first[i + 1] for i in range(len(cmds))] == reference, trial
        assert order.early == {}


def test_a_gap_holds_the_later_commands_and_a_bad_number_is_refused():
    order = InOrder(Session(presets()))
    assert order.take({"op": "advance", "n": 1, "_seq": 2}) == []          # waits for 1
    texts = order.take({"op": "load", "scenario": "align", "_seq": 1})
    assert [json.loads(t)["_seq"] for t in texts] == [1, 2]
    assert json.loads(texts[1])["record"]["step"] == 1
    for bad in (0, -1, True, "3", 1.5):
        (text,) = order.take({"op": "advance", "n": 1, "_seq": bad})
        assert "_seq must be a whole number" in json.loads(text)["error"]["message"]
    assert order.next == 3
