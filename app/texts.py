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
               "fitted to these votes. A reply no row compares keeps its start logit in π* "
               "(the votes leave its reward free, and DPO never moves it).")
NO_OPTIMUM = ("No finite RLHF optimum on this prompt: some reply, or group of replies, never "
              "loses (or never wins) against the others it is compared with, so the fitted "
              "reward runs off to infinity. {then}")
#: What follows NO_OPTIMUM: under DPO (sigmoid, the weight on) where the policy heads;
#: under any other loss in force, that this heading is DPO's only.
NO_OPTIMUM_DPO = "Under DPO the policy heads toward {heading}."
NO_OPTIMUM_OTHER = ("Under DPO the policy would head toward {heading}; under the loss in force "
                    "it need not.")

#: One line each, shown on hover, focus or tap of the term.
TERMS = {
    "step": "Gradient steps taken so far. Each step moves every logit by the learning rate "
            "times the gradient of the mean loss.",
    "loss": "The mean over all annotator judgements of −log σ(u). It starts at log 2 = "
            "0.693, where the policy is the reference, and stops falling only where the "
            "pulls on every reply cancel out; with unanimous votes it never does, and keeps "
            "falling towards 0.",
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
               "or group of replies only wins (or only loses) against the others it meets "
               "and the learning rate is small enough for the loss's curvature there.",
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
    "pull_for": "The chosen side's pull: its votes × its weight at u (σ(−u) for DPO; the "
                "loss in force sets it, as the pulls chart draws). It pushes the chosen "
                "reply up and the rejected one down.",
    "pull_against": "The rejected side's pull: its votes × the weight at −u (σ(u) for DPO). "
                    "It pushes the other way.",
    "net": "Pull for minus pull against: how hard this row pushes its chosen reply up and "
           "its rejected reply down. A reply stops moving when the pushes of all its rows "
           "cancel; a row's own net pull is then 0 only if its rows form no cycle and none "
           "of them drifts (in “Rock, paper, scissors” it is +2.000 on every row while "
           "nothing moves).",
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
           "margin. It is 1/(4β²) at step 0. When a prompt's rows form no cycle, each row "
           "settles at h = (2p − 1)/(2β) for its share p of the votes, even a unanimous one "
           "(if the learning rate is below what IPO's curvature allows).",
    "hinge": "The mean over all annotator judgements of the hinge max(0, 1 − u): 1 at step "
             "0, and 0 for a judgement once its margin u passes 1.",
    "robust": "The mean over all annotator judgements of the robust loss (rDPO, Chowdhury "
              "et al. 2024, “Provably Robust DPO”), which assumes a share ε of the labels "
              "are flipped: "
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

#: The pulls chart (the weight curve of the loss in force with the rows as dots): its
#: heading, its axes and its note.
PULLS_HEADING = "The pulls: the weight of each row's chosen side"
PULLS_X_LABEL = "margin u of the row"
PULLS_Y_LABEL = "weight"
PULLS_NOTE = (
    "Each dot is a row at its margin u, on the curve of its chosen side's weight. The "
    "chosen side pulls with its votes × that weight, the rejected side with its votes × "
    "the weight at −u. A tick below the axis marks where a row comes to rest; where its "
    "rows form no cycle and none of them drifts, that is where its two pulls are "
    "equal. A row without a tick does not come to rest at a margin the page can name "
    "(a unanimous row's dot slides on down the curve, ever more slowly): its "
    "worked-out numbers (“Row … worked out”) say what it does.")

#: The formula strip's words around its numbers (one row worked out); ``head`` is filled
#: with the row, its two replies' letters and texts and its votes.
FORMULA = {
    "head": "Row {i} worked out: “{c}: {chosen}” over “{l}: {rejected}”, votes {a}:{b}",
    "reward": ("Implicit reward: β times the log of how much more likely the policy makes a "
               "reply than the reference does. "),
    "reward_eq": "r̂(y) = β · log(π(y|x) / π_ref(y|x))",
    "chosen": "chosen: ",
    "rejected": "rejected: ",
    "margin": "margin: ",
    "pull_for": "The two pulls on this pair: for the chosen reply ",
    "pull_against": ", for the rejected reply ",
    "net": ", net ",
}
#: The pulls chart's text alternative (a visually hidden table: its column heads; "—" where
#: a row does not rest) and the numbers of the dot under the pointer.
PULLS_TABLE = ("row", "votes", "margin u", "weight", "comes to rest at u")
PULLS_TIP = "row {row} · votes {votes} · u {u} · weight {w}"

#: Where a row ends, as the formula strip and the reading levels say it: one sentence per
#: case of ``sim.rest`` (``app/ui/rest_text.js`` picks it and fills it in). Each is
#: checked against long runs (tests/test_rest.py).
REST_OWN = {
    "sigmoid": "This row comes to rest at u = {u}, where its two pulls balance, "
               "{a} · σ(−u) = {b} · σ(u): σ(u) = {q}, its share of the votes for the "
               "chosen reply.",
    "robust": "This row comes to rest at u = {u}, where its two pulls balance: "
              "σ(u) = (p − ε)/(1 − 2ε) = {q}, its vote share p = {p} corrected for a share "
              "ε = {eps} of flipped labels.",
    "ipo": "This row comes to rest at u = {u}, where its two pulls balance: "
           "h = (2p − 1)/(2β) = {h}, IPO's target margin for its vote share p = {p}.",
}
REST_SHARED = ("This row comes to rest at u = {u}{at}, though its own two pulls do not "
               "balance there (its net pull at rest is {net}): {why}")
REST_WHY_CYCLE = ("its prompt's rows form a cycle, so what comes to rest is each reply, "
                  "where the pulls of all its rows cancel.")
REST_WHY_CARRIED = ("row {via} drifts at a steady pace and drags a reply of this group "
                    "along; this row's net pull moves its other reply at the same pace, so "
                    "its margin stays put.")
REST_WHY_OTHER = "the pulls of the other rows on its replies cancel it."
REST_STILL = ("Nothing in this row's group moves: the pulls of its rows on each reply "
              "cancel exactly, so it stays at u = {u}.")
REST_STILL_OFF = ("With the weight off every judgement pulls with weight 1, and the pulls "
                  "on this row's two replies move them by the same amount at every step, so "
                  "its margin stays at u = {u}.")
REST_APPROACHES = ("This row heads for u = {u}{at}, {where}, but never comes to rest: row "
                   "{via}, linked to it through a shared reply, drifts for ever, and its "
                   "pull, fading but never 0, keeps tugging.")
REST_WHERE_OWN = "where its two pulls balance"
REST_WHERE_SHARED = "where the pulls on its replies cancel"
REST_DRIFT_SLOWING = ("This row never comes to rest: its margin u runs to {side} for ever, "
                      "ever more slowly (like log t). {why}")
REST_DRIFT_STEADY = ("This row never comes to rest: its margin u runs to {side} at a steady "
                     "pace, {pace} per step in the long run. {why}")
REST_DRIFT_SHAKEN = ("This row never comes to rest: it has no rest point, and the steps on "
                     "the rows beside it overshoot.")
REST_WHY_UNANIMOUS = ("Every vote backs the {side} reply, so its pull {n} · {w} is above 0 "
                      "for every u: it fades but never stops.")
REST_WHY_ROBUST_EDGE = ("Its vote share p = {p} is 1 − ε: corrected for a share ε = {eps} of "
                        "flipped labels, every vote backs the {side} reply, so its pull "
                        "fades but never stops.")
REST_WHY_ROBUST_BEYOND = ("Its vote share p = {p} is beyond 1 − ε = {edge}: its weight never "
                          "falls below ε/(1 − 2ε) = {floor}, so its net pull tends to {net} "
                          "and never fades.")
REST_WHY_OFF = ("With the weight off every judgement pulls with weight 1, so the pulls never "
                "fade.")
REST_WHY_GROUP = ("Its group of rows splits into two parts, one on each side of this row, "
                  "and nothing in the votes holds the parts together: the pulls between them "
                  "never cancel at a finite margin.")
REST_WHY_DRAGGED = ("The rows around it drift at a steady pace and pull its replies apart "
                    "faster than its own pull can hold them.")
REST_SWINGS = ("This row never comes to rest: while u is {where} its net pull is {a} − {b} = "
               "{d}, and once u passes {edge} it is {after}, never 0, so it swings about "
               "u = {edge} for ever, by an amount set by the learning rate.")
REST_STOPS = ("With the hinge a judgement stops pulling once its margin reaches 1. Every vote "
              "here backs the {side} reply, so this row pulls until u reaches {edge} and "
              "stops pulling at the first step that takes it there; it pulls again only if "
              "another row drags it back.")
REST_IDLE = ("A tie: while −1 < u < 1 its two pulls, {a} and {b}, cancel, so it moves only "
             "when the rows sharing its replies move them.")
REST_OVERSHOOTS = ("This row would rest at u = {u}, but the learning rate {lr} is too large "
                   "for the loss's curvature there (the steps settle only with a learning "
                   "rate below {limit}): each step overshoots it, so it never comes to "
                   "rest.{ipo} Lower the learning rate.")
REST_OVERSHOOTS_IPO = (" On IPO's quadratic the overshoots grow until the loss overflows and "
                       "the run stops.")
REST_HEADS = ("This row heads for u = {u}, {where}. The learning rate {lr} suits the "
              "curvature there (the steps settle with a learning rate below {limit}) but may "
              "be too large for the steeper curvature on the way, so the page does not "
              "promise that the steps settle.")
REST_HALTS = ("This row would rest at u = {u}, but the run will stop first: on row {via} "
              "IPO's steps overshoot further each time, until the loss overflows.")
REST_OPEN_HINGE = ("This row's group of rows forms a cycle. With the hinge's kink the pulls "
                   "round a cycle can cancel or keep swinging, so the page makes no claim "
                   "about where this row ends.")
REST_OPEN = ("This row's group of linked replies is too large for the page to decide where "
             "it ends.")
REST_RUN = ("What comes to rest is each reply: a step moves each reply by the sum of the "
            "pulls of all the rows on it, so the run stops only where those sums cancel on "
            "every reply. A row's own two pulls must balance then only when its rows form no "
            "cycle and none of them drifts.")


# -- the page's controls, log and share (app/ui/views/*.js) -----------------------------------
PICKER_HELP = ("Each scenario is a small lesson: its prompts, replies, preference votes and "
               "settings. Choosing one starts it from step 0 with its own settings.")
LOSS_OFF = "−u (weight off)"
#: A preference row's numbers, in order, and their labels.
ROW_KEYS = ("votes", "u", "sigma", "pull_for", "pull_against", "net")
ROW_LABELS = {"votes": "votes", "u": "u", "sigma": "σ(u)", "pull_for": "pull for",
              "pull_against": "pull against", "net": "net"}
EMBED_HEIGHT = 900
PLAYING_NOTE = ("Playing: this link opens at the start (after any actions in it). "
                "Pause first to link to the step shown.")
INVITATION = ("Nothing has happened yet. Press Step (or the → key) to take one gradient "
              "step, move a slider, or press a row's Flip button: every change is listed "
              "here, newest first, and marked on the charts over time.")
#: The preference rows' key: "Each row: votes · u · ... . Hover, ..." (each number a term).
ROWS_KEY = ("Each row: ", ". Hover, focus or tap a row to see its numbers worked out below; "
            "Flip (or Enter on the row) swaps its chosen and rejected replies, the votes "
            "staying with their sides.")
# -- the reward-KL frontier and the beta x learning-rate map (app/ui/views/frontier.js,
# app/ui/views/sweep.js; the words of app/views/frontier.py and app/views/sweep.py). A
# {name} is filled in by the view; in FRONTIER_NONE and FRONTIER_STATUS {r} is the term r*
# with FRONTIER_TIP_R as its explanation.
FRONTIER_HEADING = "The reward–KL frontier"
FRONTIER_NOTE = (
    "Each policy is a point: how far it has moved from the reference (KL) and how good "
    "its replies are by the true reward r*. The curve is π_ref·exp(r*/b)/Z for every "
    "b > 0: no policy with the same KL scores higher. With split votes DPO ends on it "
    "(at b = β); a run trained on wrong labels ends below the curve of the true reward.")
FRONTIER_TIP_R = (
    "r*: the true quality of each reply. A scenario may state it (true_reward in its "
    "file); otherwise it is the Bradley–Terry reward fitted to the votes as they stand.")
FRONTIER_PROMPT = "Prompt"
FRONTIER_X = "KL(π ‖ π_ref) (nats)"
FRONTIER_Y = "E_π[r*], expected true reward"
FRONTIER_LEGEND = {"curve": "the frontier", "run": "this run", "sweep": "β sweep, end points"}
FRONTIER_NONE = (
    "No frontier for this prompt: its votes are unanimous where no other vote leads back, "
    "so the Bradley–Terry fit to them is not finite (the reward of the winning replies "
    "grows without bound). A scenario can state the true quality of its replies instead "
    "({r}: true_reward in its file).")
FRONTIER_SOURCE = {"scenario": "the scenario's own true reward (true_reward)",
                   "bradley-terry": "the Bradley–Terry fit to the votes as they stand"}
FRONTIER_UNLINKED = (" The rows do not link every reply of this prompt: the fit gives a "
                     "reply no row names 0, and each linked group a mean of 0.")
FRONTIER_STATUS = ("{r} = {source}.{extra} Diamonds: where runs with β = {lo} … {hi} end "
                   "after {steps} steps, each with learning rate {lr}/β² (the scenario's "
                   "lr·β²) and the loss in force.")
FRONTIER_STEPS_OF = "{steps} (of the scenario's {total})"
FRONTIER_READOUT = "Now: KL {kl}, E[r*] {reward}: {where}."
FRONTIER_ON = "on the curve"
FRONTIER_BELOW = "{gap} below the curve (which reaches {best} at this KL)"

SWEEP_HEADING = "A sweep over β and the learning rate"
SWEEP_NOTE = (
    "Each cell is one run with that β and learning rate, from the scenario's start on the "
    "rows as they stand, with the loss in force. Hatched cells did not settle: their loss "
    "rose again near the end, ended above its start, or overflowed. Click a cell to load "
    "its settings and start again from step 0.")
SWEEP_COLOUR_BY = "Colour by"
SWEEP_OPTIONS = {"kl": "final KL(π ‖ π_ref), mean over prompts",
                 "loss": "final loss",
                 "kl_opt": "final KL(π ‖ π*), distance to the RLHF optimum"}
SWEEP_TITLES = {"kl": "KL(π ‖ π_ref)", "loss": "loss", "kl_opt": "KL(π ‖ π*) (log scale)"}
SWEEP_X = "β"
SWEEP_Y = "learning rate"
SWEEP_CELL = {"diverged": "unstable: diverged", "oscillating": "unstable: still oscillating",
              "settled": "settled or settling", "none": "none (no finite optimum)",
              "infinite": "not finite"}
SWEEP_WAITING = "The map is computed when it is shown."
SWEEP_STATUS = "{size}, {steps}. {boundary} The ring marks the settings in force."
SWEEP_SIZE = "{b} × {l} = {n} runs"
SWEEP_STEPS = "after {steps} steps"
SWEEP_STEPS_OF = ("after {steps} of the scenario's {total} steps (a sweep runs at most "
                  "{max})")
SWEEP_NO_LIMIT_SOME = "Hatched cells: {n} of {total}. No curvature predicts them: {why}."
SWEEP_NO_LIMIT_NONE = "No cell is unstable: {why}."
SWEEP_NO_REST = ("No row has a resting point here (with these votes and this loss every "
                 "row drifts), so the loss's curvature fades to 0 as the run drifts and no "
                 "step size is too large to settle: {end}")
SWEEP_NO_REST_NONE = "no cell is unstable."
SWEEP_NO_REST_SOME = "yet {n} cells did not settle within the steps."
SWEEP_PRED = {"lr*beta^2": "lr·β² = {v}", "lr": "learning rate {v}, whatever β"}
SWEEP_SEEN = {"lr*beta^2": "lr·β² ≈ {v}", "lr": "learning rate ≈ {v}"}
SWEEP_WHY = {"lr": " IPO's loss is a quadratic whose curvature does not depend on β.",
             "lr*beta^2": (" Where a run settles the loss curves by β²·q(1−q) per judgement "
                           "(q the pair's preference probability there), so the edge is a "
                           "line lr ∝ 1/β².")}
SWEEP_ALL_OR_NONE = ("Plain gradient descent: {where} is unstable here; the curvature "
                     "predicts the edge at {pred} (dashed line).{still}{why}")
SWEEP_WHERE = {"all": "every cell of the grid", "none": "no cell of the grid"}
SWEEP_STILL = (" No run moves from its start: its pulls cancel exactly, so nothing can "
               "overshoot.")
SWEEP_BOUNDARY = ("Plain gradient descent turns unstable (hatched) above {seen}, measured "
                  "from the runs; the curvature predicts {pred} (dashed line).{why}")

#: Every text of the two views above, by name: what the page's JSON (ctx.T) must carry.
STACK_TEXTS = {name: value for name, value in globals().items()
               if name.startswith(("FRONTIER_", "SWEEP_"))}

#: The texts the pulls chart, the formula strip and the rest statements read (app/ui:
#: views/pulls.js, views/formula.js, rest_text.js), carried in the page's JSON.
VIEW_TEXT_NAMES = (
    "REST_OWN", "REST_SHARED", "REST_WHY_CYCLE", "REST_WHY_CARRIED", "REST_WHY_OTHER",
    "REST_STILL", "REST_STILL_OFF", "REST_APPROACHES", "REST_WHERE_OWN", "REST_WHERE_SHARED",
    "REST_DRIFT_SLOWING", "REST_DRIFT_STEADY", "REST_DRIFT_SHAKEN", "REST_WHY_UNANIMOUS",
    "REST_WHY_ROBUST_EDGE", "REST_WHY_ROBUST_BEYOND", "REST_WHY_OFF", "REST_WHY_GROUP",
    "REST_WHY_DRAGGED", "REST_SWINGS", "REST_STOPS", "REST_IDLE", "REST_OVERSHOOTS",
    "REST_OVERSHOOTS_IPO", "REST_HEADS", "REST_HALTS", "REST_OPEN_HINGE", "REST_OPEN",
    "REST_RUN", "WEIGHT_NAMES", "FORMULA", "PULLS_HEADING", "PULLS_NOTE", "PULLS_X_LABEL",
    "PULLS_Y_LABEL", "PULLS_TABLE", "PULLS_TIP")


# --- challenges (issue 18, part "goals": app/ui/goals.js, app/ui/views/challenge.js) -----
#: The words of a challenge on the page. A goal without its own text is worded from its
#: metric and comparison (goals.js goalText); ``{...}`` are filled in by the page.
CHALLENGE_TEXTS = {
    "heading": "Challenge",
    "take": "Take the challenge",
    "leave": "Leave the challenge",
    "not_taken": ("Not taken: the goals are ticked as this run meets them. Take the challenge "
                  "to play it from step 0. {lock}"),
    "all_free": "Every control stays free.",
    "cmp": {"above": "above", "below": "below", "at_least": "at least",
            "at_most": "at most", "equals": "is"},
    "per": {"judgement": "per judgement", "row": "per row"},
    "metric": {"kl": "KL", "kl_to_rlhf": "KL to π*", "pairs/margin": "margin u",
               "pairs/sigma": "σ(u)", "pairs/weight": "weight",
               "step": "the step", "flips": "your flips", "beta": "β",
               "learning_rate": "the learning rate", "label_smoothing": "ε (label smoothing)"},
    "on_prompt": "{metric} on prompt {prompt}",
    "every_prompt": "{metric} on every prompt",
    "of_row": "row {row}'s {metric}",
    "every_row": "every row's {metric}",
    "probs": "π({reply} | prompt {prompt})",
    "weight_on": "the σ weight on",
    "weight_off": "the σ weight off",
    "loss_is": "the loss {value}",
    "goal": "{what} {cmp} {value}",
    "holds": "Holds now",
    "not_yet": "Not yet",
    "held": "Held",
    "by_step": "All goals must hold at once at a step up to {by_step}.",
    "any_step": "All goals must hold at once, at any step.",
    "open": "Open: not all goals hold at once yet.",
    "open_by": "Open: not all goals have held at once yet; {left} steps left to step {by_step}.",
    "met": "Challenge met at step {step}: every goal held at once. Reset plays it again.",
    "missed": ("Can no longer be met: step {by_step} has passed and the goals did not all "
               "hold at once at any step checked. Reset starts it again."),
    "void": ("Can no longer be met: this run used {what}, which this challenge does not "
             "let you use. Reset starts it again."),
    "void_link": ("The link you opened uses {what}, which this challenge does not let you "
                  "use: this run does not count. Reset starts the challenge again."),
    "only": "This challenge lets you move only {what}.",
    "none": "This challenge lets you move no control: only Play, Step and Reset.",
    "flip_word": "flips",
    "and": " and ",
    "checked": ("Checked at each step the page receives (a few at a time while playing); "
                "the run never steps over step {by_step} unchecked."),
    "goal_met": "Goal met: {text}",
    "said_met": "Challenge met at step {step}.",
    "said_missed": "Challenge missed: it can no longer be met.",
    "control_names": {"beta": "β", "learning_rate": "the learning rate",
                      "adaptive_weight": "the σ weight", "loss_type": "the loss",
                      "label_smoothing": "ε (label smoothing)", "flip": "flips"},
}

# -- Pin a run (issue 18, part "pin"): app/ui/pin.js, views/charts.js, views/bars.js, the
# controller's log. Carried in the page's JSON (ctx.T) by app/interactive.py's page_texts.
PIN_TEXTS = {
    "PIN_BUTTON": "Pin this run",
    "PIN_UNPIN": "Unpin",
    "PIN_HELP": ("Pin keeps this run on screen: its curves stay on these charts, faded, and "
                 "its end shows as dashed outlines on the bars, while the next run plays "
                 "(change a setting, or press Reset)."),
    "PIN_STATUS": "Pinned at step {step}: {settings}.",
    "PIN_LABEL": "pinned: {what}",
    "PIN_SAME": "pinned run",
    "PIN_LOSS": {"sigmoid": "sigmoid", "ipo": "IPO", "hinge": "hinge", "robust": "robust"},
    "PIN_BETA": "β = {v}",
    "PIN_LR": "lr = {v}",
    "PIN_EPS": "ε = {v}",
    "PIN_WEIGHT": ["weight off", "weight on"],
    "PIN_FLIPS": ["row {rows} flipped", "rows {rows} flipped"],
    "PIN_NO_FLIPS": "no row flipped",
    "PIN_BARS": "Dashed outlines: the pinned run's π(y|x) at its step {step} ({label}).",
    "PIN_LOG": "pin this run at step {step} ({settings})",
    "PIN_LOG_LINK": "the link's pinned run, replayed to step {step} ({settings})",
    "PIN_LOG_KEPT": "the run pinned at step {step} stays on the charts ({settings})",
    "PIN_LOG_OFF": "unpin the run pinned at step {step}",
    "PIN_LOG_CLEARED": "the pin of {id} cleared: a pin belongs to its scenario",
    "PIN_ROW": "{name}, {label}",
    "PIN_ROW_END": "{name}, {label}, at its end (step {step})",
}

# -- issue 18, the editor ("Your own lesson", app/ui/views/editor.js) and its downloads ----
EDITOR_TEXTS = {
    "EDITOR_OPEN": "Your own lesson…",
    "EDITOR_HEADING": "Your own lesson",
    "EDITOR_LIMITS": ("What the page can show: at most {prompts} prompts, {replies} replies per "
                      "prompt (every prompt the same number), {rows} rows; a prompt or a reply "
                      "at most {text} characters, the title {title}, what to watch {watch}. "
                      "Every field is checked as you type by the rules of a TOML lesson file; "
                      "nothing changes on the page until Apply."),
    "EDITOR_PROMPTS_HINT": ("Every prompt needs the same number of replies (at least 2): the "
                            "policy is a table of prompts by replies."),
    "EDITOR_ROWS_HINT": ("Each row: on a prompt, how many annotators preferred the chosen reply "
                         "(votes for) and how many the rejected one (votes against). Rows name "
                         "prompts and replies by index, as the TOML file does, counting from 0: "
                         "prompt 1 is index 0, reply A is index 0."),
    "EDITOR_PROBS_HINT": "Each prompt's probabilities: positive, summing to 1.",
    "EDITOR_LOGITS_HINT": "Each prompt's logits: π_ref = softmax of the row.",
    "EDITOR_IMPORT_HINT": ("TRL's preference formats: standard (prompt, chosen, rejected), "
                           "conversational, or with an implicit prompt; one example per line "
                           "(JSON Lines) or a JSON array. Each example is one vote. The data "
                           "fills the editor; nothing is applied until Apply."),
    "EDITOR_CHALLENGE_HINT": ("Optional goals the run must meet, all at once, at some step (by "
                              "a step, if given); the page ticks each goal when it is met. "
                              "The comparison: above and below are strict; equals only for "
                              "the weight (true/false) and the loss."),
    "EDITOR_KEEPS_EVENTS": ("Its scripted events ({n}) are kept as they are: the editor does "
                            "not change them."),
    "EDITOR_KEEPS_TRUE_REWARD": "Its true reward is kept as it is.",
    "EDITOR_NO_LINK": ("This lesson is too long for a link (more than 8,000 characters "
                       "compressed): share it with Download TOML or Download this page."),
    "EDITOR_VALID": "Valid: Apply loads it and starts the run.",
    "EDITOR_NOT_APPLIED": "Not applied until valid:",
    "EDITOR_ENGINE_REFUSED": "The engine refused it, nothing changed:",
}

# -- issue 19, io: the editor's features model (app/ui/views/editor.js) ----------------------
EDITOR_TEXTS.update({
    "EDITOR_MODEL_HINT": ("The table gives each reply its own logit: nothing learned about one "
                          "reply moves another except through its prompt's softmax. Shared "
                          "features give each reply a vector φ of d numbers and one θ shared "
                          "by every prompt and reply, π(y|x) ∝ π_ref(y|x) · exp(θ·φ(x, y)): a "
                          "step that moves θ moves the logit of every reply whose vector has a "
                          "non-zero coordinate where θ moved, on every prompt."),
    "EDITOR_FEATURES_HINT": ("Each reply's vector: d finite numbers (d from 1 to {max}). Switching "
                             "to features starts reply k of every prompt at the unit vector "
                             "e_k, so replies in the same place share a coordinate."),
    "EDITOR_THETA_HINT": "θ₀: d finite numbers. All 0 (the default): π starts at π_ref.",
    "EDITOR_FEATURES_START": ("A features model has no start logits: π starts at π_ref "
                              "moved by θ₀ (the model, below)."),
})

# --- rest statements on a features model (issue 19, part "optima": sim/rest.py's
# _features, app/ui/rest_text.js; each checked against long runs in
# tests/test_rest_features.py). The rows share theta, so the reasons are theta's, not the
# replies'.
REST_WHY_THETA = ("the rows share θ, so what comes to rest is θ, where the pulls of all the "
                  "rows, each along its own φ_w − φ_l, cancel.")
REST_WHERE_THETA = "where the pulls of all the rows on the shared θ cancel"
REST_APPROACHES_THETA = ("This row heads for u = {u}{at}, {where}, but never comes to rest: "
                         "row {via}, which shares θ with it, drifts for ever, and its pull, "
                         "fading but never 0, keeps tugging.")
REST_WHY_THETA_FREE = ("{votes} the {side} reply, and no other judgement holds θ back: some "
                       "direction of θ raises this row's margin and lowers no judgement's, so "
                       "the pulls never cancel at a finite margin.")
REST_THETA_VOTES = "Every vote backs"
REST_THETA_VOTES_ROBUST = ("Corrected for a share ε = {eps} of flipped labels, every vote "
                           "backs")
REST_OPEN_THETA = {
    "theta-hinge": ("On a features model the rows share θ, and with the hinge's kink their "
                    "pulls on θ can cancel or keep swinging: the page makes no claim about "
                    "where this row ends."),
    "theta-robust": ("A row's vote share is beyond 1 − ε, so its pull never fades; the rows "
                     "share θ, and the page does not decide whether the others hold it: no "
                     "claim about where this row ends."),
    "theta-path": ("This row's margin depends on where θ drifts along directions the votes "
                   "do not fix, which the path of the steps decides: the page makes no claim "
                   "about where it ends."),
}
VIEW_TEXT_NAMES = VIEW_TEXT_NAMES + (
    "REST_WHY_THETA", "REST_WHERE_THETA", "REST_APPROACHES_THETA", "REST_WHY_THETA_FREE",
    "REST_THETA_VOTES", "REST_THETA_VOTES_ROBUST", "REST_OPEN_THETA")

# --- issue 19, part "views": the features model on the page (views/features.js, the π*φ
# marker on the bars, KL to π*φ, the similarity score in the rows and the formula strip) ----
#: π*φ is written "π*φ" (φ as a subscript where the page can: app/ui/views/*.js).
FEATURES_TEXTS = {
    "heading": "The features: what the replies share",
    "not_lm": ("The model here is log-linear, not a language model: each reply has a "
               "feature vector φ(x, y) of {d} numbers, and one θ, shared by every prompt and "
               "reply, sets its logit, log π_ref(y|x) + θ·φ(x, y). A row's push moves θ along "
               "φ_w − φ_l, so it moves every reply whose features overlap with the row's, on "
               "any prompt. What it still leaves out: tokens, depth, and features that are "
               "learned rather than fixed."),
    "note": ("Each reply's feature vector φ(x, y) (one column per coordinate; shaded by "
             "sign and size), the shared θ now, and θ·φ, what θ adds to each reply's logit "
             "(then the softmax)."),
    "table": "the features of each reply, θ now and θ·φ per reply",
    "reply": "reply",
    "prompt": "Prompt {x}",
    "theta": "θ now",
    "theta0": "θ at the start",
    "score": "θ·φ",
    "score_term": ("θ·φ(x, y): what the shared θ adds to this reply's logit, "
                   "log π(y|x) = log π_ref(y|x) + θ·φ(x, y) − log Z(x). A row moves θ along "
                   "φ_w − φ_l, so every reply's θ·φ moves with it."),
    "legend_rlhf": "Diamond: π*, RLHF's optimum for a reward over replies fitted to the votes.",
    "legend_ring": ("Ring (where it differs from π*): π*φ, RLHF's optimum for a reward linear "
                    "in the features, where DPO's own loss ends on this model."),
    "coincide": ("Here π*φ, RLHF's optimum for a reward linear in the features (where DPO's "
                 "own loss ends on this model), equals π* within 1e-9: the diamond marks both."),
    "no_optimum_phi": ("No finite π* (a reward over replies) on this prompt: some reply, or "
                       "group of replies, never loses (or never wins) against the others it "
                       "is compared with. π*φ, over the features, is finite: the ring marks it."),
    "kl_phi": "KL to π*φ",
    "kl_phi_term": ("KL(π ‖ π*φ): how far the policy is from π*φ, the RLHF optimum for a "
                    "Bradley–Terry reward linear in the features. π*φ is a policy this "
                    "model can reach, and DPO's own loss (sigmoid, weight on) goes there, so "
                    "this goes to 0 (when π*φ is finite and the learning rate is small "
                    "enough). KL to π* need not: when π* lies outside the policies the "
                    "features allow, it stops at a floor."),
    "kl_star_term": ("KL(π ‖ π*): how far the policy is from π*, the RLHF optimum for a "
                     "Bradley–Terry reward over replies. On a features model π* may lie outside "
                     "the policies the features allow: then no run reaches it, and this stops "
                     "at a floor above 0 while KL to π*φ goes to 0."),
    "similarity": "similarity",
    "similarity_term": ("The row's similarity score, ⟨φ_w, φ_l⟩ − ‖φ_w‖² (Razin et al. 2024, "
                        "for embeddings). Positive: a push that raises this row's margin "
                        "lowers its chosen reply's logit θ·φ_w (likelihood displacement)."),
    "margin_line": "On a features model the margin is u = β θ·(φ_w − φ_l): ",
    "similarity_line": "Similarity ⟨φ_w, φ_l⟩ − ‖φ_w‖² = ",
    "similarity_pos": (": positive, so a push that raises this row's margin lowers its chosen "
                       "reply's logit θ·φ_w."),
    "similarity_neg": (": negative, so a push that raises this row's margin raises its chosen "
                       "reply's logit θ·φ_w too."),
    "similarity_zero": (": 0, so a push on this row's margin leaves its chosen reply's logit "
                        "θ·φ_w where it is."),
}
VIEW_TEXT_NAMES += ("FEATURES_TEXTS",)
