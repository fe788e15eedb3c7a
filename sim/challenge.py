"""A scenario's challenge: goals the learner's run must meet, checked as strictly as the rest.

TOML (see presets/README.md)::

    [challenge]
    text = "Every row right with KL below 0.3 on both prompts by step 300, moving only beta."
    by_step = 300          # optional: every goal holds at once at a step <= by_step
    controls = ["beta"]    # optional: the only controls the learner may use ([] = none)
    [[challenge.goals]]
    metric = "rewards/accuracies"
    per = "row"            # the seven TRL metrics only: "judgement" (default) or "row"
    at_least = 1

``check_challenge`` validates one ``[challenge]`` table and returns it normalised (defaults
filled, numbers typed), the form a Scenario and its config line hold. Errors go through the
scenario validator's checker, so they read ``file: challenge.goals[1].prompt: rule``.
"""

from __future__ import annotations

from .settings import BY_NAME, LIVE

#: TRL's seven logged metrics: per judgement (vote-weighted, the record's) or per row
TRL_METRICS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
               "rewards/accuracies", "logps/chosen", "logps/rejected")
PROMPT_METRICS = ("kl", "kl_to_rlhf")                            # optional `prompt`
ROW_METRICS = ("pairs/margin", "pairs/sigma", "pairs/weight")    # optional `row`
NUMBER_SETTINGS = ("beta", "learning_rate", "label_smoothing")
EQUALS_SETTINGS = ("adaptive_weight", "loss_type")               # `equals` only
METRICS = (TRL_METRICS + PROMPT_METRICS + ROW_METRICS + ("probs", "step", "flips")
           + NUMBER_SETTINGS + EQUALS_SETTINGS)
COMPARISONS = ("above", "below", "at_least", "at_most")
PER = ("judgement", "row")
CHALLENGE_KEYS = ("text", "by_step", "controls", "goals")
#: what the learner may be limited to: the live settings by TOML name, and flipping rows
CONTROLS = tuple(BY_NAME[n].toml for n in LIVE) + ("flip",)
MAX_GOALS = 8


def goal_keys(metric: str) -> tuple[str, ...]:
    """The keys a goal on ``metric`` may have."""
    if metric in EQUALS_SETTINGS:
        return ("metric", "equals", "text")
    where = (("per",) if metric in TRL_METRICS else ("prompt",) if metric in PROMPT_METRICS
             else ("row",) if metric in ROW_METRICS else ("prompt", "reply")
             if metric == "probs" else ())
    return ("metric",) + where + COMPARISONS + ("text",)


def check_challenge(c, value, *, n_prompts: int, n_replies: int, n_rows: int,
                    max_text: int) -> dict:
    """The ``[challenge]`` table, validated by the checker ``c`` (scenario_io's) and
    normalised: {text?, by_step?, controls?, goals: [{metric, per?, prompt?, row?, reply?,
    <one comparison>, text?}]}."""
    f = "challenge"
    c.table(value, f)
    c.keys(value, CHALLENGE_KEYS, f, ("goals",))
    out: dict = {}
    if "text" in value:
        out["text"] = c.text(value["text"], f"{f}.text", max_text)
    if "by_step" in value:
        out["by_step"] = c.integer(value["by_step"], f"{f}.by_step", 1)
    if "controls" in value:
        controls = c.array_list(value["controls"], f"{f}.controls")
        seen: list[str] = []
        for i, k in enumerate(controls):
            fi = f"{f}.controls[{i}]"
            if not isinstance(k, str) or k not in CONTROLS:
                c.fail(fi, f"must be one of {', '.join(CONTROLS)}, got {k!r}")
            if k in seen:
                c.fail(fi, f"lists {k!r} twice")
            seen.append(k)
        out["controls"] = seen
    goals = c.array_list(value["goals"], f"{f}.goals")
    if not goals:
        c.fail(f"{f}.goals", "must hold at least one goal")
    if len(goals) > MAX_GOALS:
        c.fail(f"{f}.goals", f"holds {len(goals)} goals; at most {MAX_GOALS} "
                             f"(what the page can show)")
    out["goals"] = [_goal(c, g, f"{f}.goals[{j}]", n_prompts, n_replies, n_rows, max_text)
                    for j, g in enumerate(goals)]
    return out


def _goal(c, g, f: str, P: int, K: int, n_rows: int, max_text: int) -> dict:
    c.table(g, f)
    metric = g.get("metric")
    if metric is None:
        c.fail(f"{f}.metric", f"is required: one of {', '.join(METRICS)}")
    if not isinstance(metric, str) or metric not in METRICS:
        c.fail(f"{f}.metric", f"must be one of {', '.join(METRICS)}, got {metric!r}")
    allowed = goal_keys(metric)
    required = (("metric", "equals") if metric in EQUALS_SETTINGS
                else ("metric", "prompt", "reply") if metric == "probs" else ("metric",))
    c.keys(g, allowed, f, required)
    out: dict = {"metric": metric}
    if metric in TRL_METRICS:
        per = g.get("per", "judgement")
        if not isinstance(per, str) or per not in PER:
            c.fail(f"{f}.per", f"must be one of {', '.join(PER)}, got {per!r}")
        out["per"] = per
    if "prompt" in g:
        out["prompt"] = c.index(g["prompt"], f"{f}.prompt", P, "a prompt")
    if "row" in g:
        out["row"] = c.index(g["row"], f"{f}.row", n_rows, "a row of pairs")
    if "reply" in g:
        out["reply"] = c.index(g["reply"], f"{f}.reply", K,
                               f"a reply of prompt {out['prompt']}")
    if metric in EQUALS_SETTINGS:
        out["equals"] = c.setting(BY_NAME[metric], g["equals"], f"{f}.equals")
    else:
        given = [k for k in COMPARISONS if k in g]
        if len(given) != 1:
            c.fail(f, f"must have exactly one comparison: one of {', '.join(COMPARISONS)}"
                      + (f", got {len(given)} ({', '.join(given)})" if given else ""))
        k = given[0]
        out[k] = float(c.number(g[k], f"{f}.{k}"))
    if "text" in g:
        out["text"] = c.text(g["text"], f"{f}.text", max_text)
    return out
