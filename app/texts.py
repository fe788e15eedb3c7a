"""Every explanation the page gives a learner, in one place (each is checked by a test,
with a number where one can carry it: tests/test_texts.py).

The one-line explanations (``TERMS``) are reachable on the page by hover, keyboard focus
or tap on the term they explain; the longer texts are shown as they are.
"""

from __future__ import annotations

#: The page's subtitle and its note that the model is a table.
SUBTITLE = "Direct Preference Optimization, one gradient step at a time"
TABLE_NOT_LM = (
    "The model here is a table, not a language model: each prompt has its own row of "
    "logits and prompts share no parameters, so one prompt's data never moves another "
    "prompt. In a real language model the prompts share parameters and move together.")

#: The bars' legend (also the static export's).
LEGEND = ("Bars: the policy π(y|x); green tick: the reference π_ref(y|x). ★, outlined: "
          "the reply with the most net votes on its prompt (judgements for it minus "
          "against it); DPO need not end with it on top.")

#: What the page adds to the legend (the static export draws no RLHF optimum).
LEGEND_RLHF = ("Diamond: π*, the policy RLHF would reach with a Bradley–Terry reward "
               "fitted to these votes.")
NO_OPTIMUM = ("No finite RLHF optimum on this prompt: some reply, or group of replies, never "
              "loses (or never wins) against the others it is compared with, so the fitted "
              "reward runs off to infinity. The policy heads toward {heading}.")

#: One line each, shown on hover, focus or tap of the term.
TERMS = {
    "step": "Gradient steps taken so far. Each step moves every logit by the learning rate "
            "times the gradient of the mean loss.",
    "loss": "The mean over all annotator judgements of −log σ(u). It starts at log 2 = "
            "0.693, where the policy is the reference, and levels off where the pulls on "
            "every reply cancel out.",
    "loss_off": "The sigma weight is off, so the objective is the bare margin: the mean of "
                "−u over all judgements. It has no floor, so it goes below 0 and keeps "
                "falling.",
    "kl": "KL(π ‖ π_ref) of this prompt, in nats: how far the policy has moved from the "
          "reference. After the slash, the most it can reach: log(1 / min π_ref).",
    "margin": "rewards/margins: the mean of u = r̂(chosen) − r̂(rejected), the implicit "
              "reward margin of each judgement.",
    "accuracy": "rewards/accuracies: the share of judgements whose winner has the larger "
                "implicit reward (u > 0, so 0 % at step 0).",
    "chosen": "rewards/chosen: the mean implicit reward r̂ = β · log(π / π_ref) of the "
              "winning reply of each judgement.",
    "rejected": "rewards/rejected: the mean implicit reward of the losing reply of each "
                "judgement.",
    "kl_rlhf": "KL(π ‖ π*): how far the policy is from π*, the policy RLHF would reach "
               "(π* = π_ref·exp(r/β)/Z, r the Bradley–Terry reward fitted to the votes). "
               "DPO's own loss (sigmoid, weight on) goes there, and this to 0, when no reply "
               "or group of replies only wins (or only loses) against the others it meets.",
    "beta_log_z": "β·log Z(x): the normaliser of π* on this prompt. It is what cancels in "
                  "DPO: at π* the implicit reward is r − β·log Z(x), so every margin is "
                  "the reward margin.",
    "per_judgement": "This simulator's numbers: every annotator's judgement counts once, "
                     "so a 7:3 row counts ten times, three of them the other way.",
    "per_row": "What TRL's DPOTrainer would log on these rows as stored: each row once, "
               "its chosen reply as the winner, the votes not seen.",
    "pi": "π(y|x): the policy's probability of this reply now.",
    "pi_ref": "π_ref(y|x): the frozen reference's probability of this reply.",
    "rhat": "Implicit reward r̂(y) = β · log(π(y|x) / π_ref(y|x)): β times the log of how "
            "much more likely the policy makes the reply than the reference does.",
    "votes": "Annotators who preferred the chosen reply : annotators who preferred the "
             "rejected one. Votes are also how conservative DPO (older TRL's sigmoid loss "
             "with label smoothing ε) appears here: a 10:0 row with ε = 0.1 takes the same "
             "steps as a 9:1 row.",
    "u": "The margin u = r̂(chosen) − r̂(rejected) of this row.",
    "sigma": "σ(u): the model's probability that the chosen reply beats the rejected one.",
    "pull_for": "The chosen side's pull: its votes × σ(−u), its weight. It pushes the "
                "chosen reply up and the rejected one down.",
    "pull_against": "The rejected side's pull: its votes × σ(u). It pushes the other way.",
    "net": "Pull for minus pull against: what moves this pair. The pair rests where it "
           "is 0.",
    "chart_loss": "The loss over time (see loss above).",
    "chart_kl": "KL of each prompt over time; the dashed lines are their ceilings.",
    "chart_rewards": "Mean implicit rewards of the winning and losing replies, and their "
                     "difference, the margin, over time.",
}

#: Each loss type's per-judgement formula (the page's and the export's labels), and the
#: name of its weight w(u) = −d loss / d u.
LOSS_FORMULAS = {"sigmoid": "−log σ(u)", "ipo": "(h − 1/(2β))²", "hinge": "max(0, 1 − u)",
                 "robust": "(−(1−ε)·log σ(u) + ε·log σ(−u)) / (1−2ε)"}
#: The loss chart's axis: what it plots, short enough for the axis.
LOSS_AXIS = {"sigmoid": "−log σ(u)", "ipo": "(h − 1/(2β))²", "hinge": "max(0, 1 − u)",
             "robust": "robust loss (ε)"}
WEIGHT_NAMES = {"sigmoid": "σ(−u)", "ipo": "(1 − 2u)/β²", "hinge": "[u < 1]",
                "robust": "σ(−u) + ε/(1−2ε)"}
#: What the loss readout means, per loss type (TERMS["loss"] is DPO's).
LOSS_TERMS = {
    "ipo": "The mean over all annotator judgements of IPO's (h − 1/(2β))², h the log-ratio "
           "margin. It is 1/(4β²) at step 0, and each row settles at h = (2p − 1)/(2β) for "
           "its share p of the votes, even a unanimous one.",
    "hinge": "The mean over all annotator judgements of the hinge max(0, 1 − u): 1 at step "
             "0, and 0 for a judgement once its margin u passes 1.",
    "robust": "The mean over all annotator judgements of the robust loss (rDPO), which "
              "assumes a share ε of the labels are flipped: "
              "(−(1−ε)·log σ(u) + ε·log σ(−u)) / (1−2ε). It is log 2 = 0.693 at step 0.",
}

#: The page's alert when the run stops by itself: the next update left the loss non-finite.
#: tests/test_diverged.py checks each clause on a run that does this (IPO, lr 8).
DIVERGED = ("The run stopped at step {step}: the next update would make the loss "
            "overflow, too large to be a number (loss {loss}, β {beta}, learning rate "
            "{lr}). Each update overshoots, further "
            "than the one before, when the learning rate is too large for the loss's "
            "curvature. Lower the learning rate and press Reset.")

#: The banner when the page loses its server, and what it says when the server answers again
#: (app/views/reconnect.py; tests/test_reconnect.py restarts a server under an open page).
CONNECTION_LOST = ("The connection to the server was lost (the server restarted, or the "
                   "network dropped), so the run stopped at step {step}. Reload to carry on: "
                   "the address holds this run, so the page comes back at step {step} with "
                   "the same numbers.")
CONNECTION_BACK = "The server answers again: press Reload."

#: What the formula strip says stops a row, and the run.
REST_SPLIT = ("This row stops pulling where its two pulls balance, {a} · σ(−u) = {b} · σ(u), "
              "that is at σ(u) = {share}, its share of votes for the chosen reply.")
REST_UNANIMOUS = ("Nothing stops this row: every vote backs the {side} reply, and its pull "
                  "{n} · {w} is above 0 for every u. It only fades, so the row drifts on "
                  "ever more slowly.")
REST_WEIGHT_OFF = ("With the weight off every judgement pulls with weight 1, so this row's "
                   "net pull is {a} − {b} = {net} at every step: nothing stops it.")
REST_TIE = ("A tie: the two pulls are equal at u = 0, so this row pushes neither way "
            "there.")
REST_AT = ("This row stops pulling where its two pulls balance, {a} · w(u) = {b} · w(−u): "
           "at u = {u}.")
REST_NEVER = ("Nothing stops this row: its net pull stays above 0 for every u, it only "
              "fades, so the row drifts on.")
REST_RUN = ("The run stops when the pulls on every reply cancel out. When the rows form no "
            "cycle, as in most presets, that is when every row's two pulls balance.")
