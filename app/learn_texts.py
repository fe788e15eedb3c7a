r"""The texts of the "Read at your level" view (``views/learn.py``): the DPO paper explained
at six levels, the guided "Try it" path and the simulator's limitations, in our own words.

Every sentence is meant to be true, and every number stated about a preset is listed in
``FACTS`` with where it comes from (a ``dpo-sim run ID --steps N --format jsonl`` record):
``tests/test_learn.py`` recomputes each one and checks that no other number about a preset
appears in a level.

Markup of a level's blocks (``views/learn.render_block`` turns it into HTML):

- a block that is ``$$ ... $$`` is a displayed formula (TeX, rendered by KaTeX);
- ``$ ... $`` inside a block is an inline formula;
- ``**...**`` is bold;
- ``[[key]]`` is a live value of the current run (``views/learn.live_values``: the scenario
  in view, the step, the loss, the row looked at last, its σ(u), KL, ...), updated as the
  run changes;
- a block starting with ``### `` is a small heading.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    id: str
    label: str                  # the tab's label
    title: str                  # the heading of the level
    blocks: tuple[str, ...]     # paragraphs, formulas and live lines (markup above)


HEADING = "Read at your level"
INTRO = ("The DPO paper (Rafailov et al., 2023, “Direct Preference Optimization: your language "
         "model is secretly a reward model”) explained six ways. Pick a level; the numbers in "
         "the last paragraph of each follow the run on this page.")
LEVELS_LABEL = "Reading level"

# --- the derivation, shared by the levels from college up --------------------------------
OBJECTIVE = (r"$$\max_{\pi}\; \mathbb{E}_{y\sim\pi(\cdot\mid x)}\big[r(x,y)\big] \;-\; "
             r"\beta\,\mathrm{KL}\big(\pi(\cdot\mid x)\,\|\,\pi_{\text{ref}}(\cdot\mid x)\big)$$")
OPTIMUM = (r"$$\pi^*(y\mid x) = \frac{1}{Z(x)}\,\pi_{\text{ref}}(y\mid x)\,"
           r"\exp\!\big(r(x,y)/\beta\big), \qquad Z(x) = \sum_{y} \pi_{\text{ref}}(y\mid x)\,"
           r"\exp\!\big(r(x,y)/\beta\big)$$")
REWARD = (r"$$r(x,y) = \beta \log\frac{\pi^*(y\mid x)}{\pi_{\text{ref}}(y\mid x)} + "
          r"\beta\log Z(x)$$")
BRADLEY_TERRY = (r"$$P(y_w \succ y_l \mid x) = \sigma\big(r(x,y_w) - r(x,y_l)\big) = "
                 r"\sigma\Big(\beta\log\frac{\pi^*(y_w\mid x)}{\pi_{\text{ref}}(y_w\mid x)} - "
                 r"\beta\log\frac{\pi^*(y_l\mid x)}{\pi_{\text{ref}}(y_l\mid x)}\Big)$$")
LOSS = (r"$$\mathcal{L}_{\text{DPO}}(\pi_\theta;\pi_{\text{ref}}) = -\,"
        r"\mathbb{E}_{(x,y_w,y_l)\sim\mathcal{D}}\Big[\log\sigma\Big(\beta\log"
        r"\frac{\pi_\theta(y_w\mid x)}{\pi_{\text{ref}}(y_w\mid x)} - \beta\log"
        r"\frac{\pi_\theta(y_l\mid x)}{\pi_{\text{ref}}(y_l\mid x)}\Big)\Big]$$")
GRADIENT = (r"$$\nabla_\theta \mathcal{L}_{\text{DPO}} = -\beta\,\mathbb{E}\Big[\sigma(-u)\,"
            r"\big(\nabla_\theta\log\pi_\theta(y_w\mid x) - "
            r"\nabla_\theta\log\pi_\theta(y_l\mid x)\big)\Big]$$")
MARGIN_U = (r"$$u = \beta\log\frac{\pi_\theta(y_w\mid x)}{\pi_{\text{ref}}(y_w\mid x)} - "
            r"\beta\log\frac{\pi_\theta(y_l\mid x)}{\pi_{\text{ref}}(y_l\mid x)} = "
            r"\hat r_\theta(x,y_w) - \hat r_\theta(x,y_l)$$")

LEVELS: tuple[Level, ...] = (
    Level("child", "Age 5", "For a five-year-old", (
        "Think of a robot that answers questions. For every question it knows a few answers, "
        "and it picks one the way you pick a card from a hat: an answer with many cards in "
        "the hat comes up often, an answer with few cards comes up rarely.",
        "Some grown-ups looked at two answers at a time and said which one they liked "
        "better. The robot learns from them: it puts more cards of the answers they liked "
        "into its hat, and takes out cards of the answers they liked less.",
        "The robot also keeps a photo of its hat from the first day, and it may not wander "
        "too far from it, like a dog on a leash. The leash is a number called β (beta): a "
        "bigger β is a shorter leash.",
        "When the grown-ups do not all agree, the robot stops changing once its hat "
        "matches them, and the shorter the leash, the closer to its first-day photo it "
        "stops. In “Align to preferences” 7 grown-ups liked the long egg answer and 3 "
        "liked “Boil it.”, so the robot stops when it has 7 cards of the first for every 3 of "
        "the second. There the good egg answer comes up 25 times in 100 at the start, about "
        "61 times in 100 by lesson 400, and it stays there.",
        "When all the grown-ups agree, the robot never quite stops: it keeps moving towards "
        "always giving that answer, only more and more slowly.",
        "**Now on this page:** “[[scenario]]”, lesson [[step]]. [[favourite]]",
    )),
    Level("school", "High school", "For a high schooler", (
        "The model gives each of its replies y to a prompt x a probability, "
        r"$\pi(y\mid x)$; on each prompt they add up to 1. A frozen copy of the model from "
        r"before training, $\pi_{\text{ref}}$, is kept to compare with.",
        "Each reply gets a score: how much more likely the model makes it now than the "
        "frozen copy did, on a log scale, times a number β: "
        r"$\hat r(y) = \beta\log\frac{\pi(y\mid x)}{\pi_{\text{ref}}(y\mid x)}$. A reply that "
        "has not moved scores 0; one that became more likely scores above 0.",
        "For a preference “w is better than l”, take the difference of the two scores, "
        r"$u = \hat r(w) - \hat r(l)$, and squash it into a probability with the logistic "
        r"function $\sigma(u) = \frac{1}{1+e^{-u}}$. That is how sure the model is that w "
        "beats l: 0.5 when the scores are equal, close to 1 when w is far ahead.",
        r"Training lowers the loss $-\log\sigma(u)$, averaged over every annotator's vote. "
        "Each vote for w pushes σ(u) up, each vote for l pushes it down, and a vote pushes "
        "less the more the model already agrees with it. With 7 votes against 3 the pushes "
        "balance when σ(u) = 0.7, so the model stops there instead of becoming certain. When "
        "the rows of a prompt form no loop, every row stops at its own share of the votes.",
        "In “Align to preferences”, after 3000 steps the six rows' σ(u) are 0.7, 0.9, 0.8, "
        "0.6, 0.9 and 0.8, each its share of the votes, to within 0.0001.",
        "**Now on this page:** “[[scenario]]”, step [[step]]. Row [[row]] (votes [[votes]], "
        "a share of [[share]] for its chosen reply) has σ(u) = [[sigma]]. The loss in force, "
        "[[loss_name]], averages [[loss]] over all votes ([[loss0]] at step 0).",
    )),
    Level("college", "College", "For a college student: the derivation", (
        "DPO starts from the objective of RLHF (reinforcement learning from human feedback) "
        "and removes the reward model by algebra, in six steps.",
        "### 1. The objective",
        "For each prompt x, find the policy π that earns a high reward r(x, y) without "
        "moving far from the reference policy; β sets the price of moving:",
        OBJECTIVE,
        "### 2. Its optimum, in closed form",
        "Write the KL as a sum over replies and collect the terms: the objective equals "
        r"$\beta\log Z(x) - \beta\,\mathrm{KL}(\pi\,\|\,\pi^*)$, which is largest exactly "
        "when π = π*, the reference tilted by the reward:",
        OPTIMUM,
        "### 3. Solve for the reward",
        "Take logs and rearrange:",
        REWARD,
        "Z(x) sums over every possible reply, far too many to add up for a language model "
        "(every possible text); but it depends on the prompt x only.",
        "### 4. Z(x) cancels in Bradley–Terry",
        "The Bradley–Terry model says annotators prefer $y_w$ to $y_l$ with probability σ "
        r"of the reward difference. In that difference $\beta\log Z(x)$ appears once with "
        "each sign:",
        BRADLEY_TERRY,
        "### 5. The DPO loss",
        r"Put the trainable policy $\pi_\theta$ in place of π* and maximise the likelihood of "
        "the preferences in the data set D:",
        LOSS,
        "### 6. Its gradient",
        "Call the argument of σ u, the margin of the implicit rewards "
        r"$\hat r_\theta = \beta\log(\pi_\theta/\pi_{\text{ref}})$. Since "
        r"$\frac{d}{du}\big[-\log\sigma(u)\big] = -\sigma(-u)$:",
        GRADIENT,
        "The weight σ(−u) is close to 1 when the model gets a pair badly wrong and fades as "
        "it gets it right. In this simulator θ is a table of logits, so the bracket is "
        r"$e_{y_w} - e_{y_l}$: a step raises the winner's logit and lowers the loser's by the "
        "same amount.",
        "**Now on this page:** “[[scenario]]”, step [[step]], β = [[beta]]. Row [[row]] has "
        "u = [[u]] and σ(u) = [[sigma]]; [[weight_line]]. The loss in force, [[loss_name]], "
        "averages [[loss]].",
    )),
    Level("engineer", "Engineer", "For an industry engineer", (
        "What DPO needs: a frozen reference model (usually the supervised fine-tuned "
        "checkpoint), a data set of (prompt, chosen, rejected) triples, and β. What it does "
        "not need: a reward model, a value model, or sampling from the policy during "
        "training. It is a classification-style loss on offline pairs; each step needs the "
        "log-probabilities of both replies under the policy and under the reference, and the "
        "reference's can be computed once in advance.",
        "Why it works, one line per step. The KL-regularised objective "
        r"$\max_\pi \mathbb{E}[r] - \beta\,\mathrm{KL}(\pi\,\|\,\pi_{\text{ref}})$ has the "
        r"optimum $\pi^* = \pi_{\text{ref}}\, e^{r/\beta}/Z(x)$; so "
        r"$r = \beta\log(\pi^*/\pi_{\text{ref}}) + \beta\log Z(x)$; $Z(x)$ cancels in the "
        r"Bradley–Terry probability $\sigma\big(r(x,y_w)-r(x,y_l)\big)$; fitting that "
        "probability to the data with the policy in place of π* gives the loss, and its "
        "gradient weights each pair by σ(−u):",
        MARGIN_U,
        r"$$\mathcal{L}_{\text{DPO}} = -\,\mathbb{E}\big[\log\sigma(u)\big], \qquad "
        r"\nabla_\theta\mathcal{L}_{\text{DPO}} = -\beta\,\mathbb{E}\Big[\sigma(-u)\,"
        r"\big(\nabla_\theta\log\pi_\theta(y_w\mid x) - "
        r"\nabla_\theta\log\pi_\theta(y_l\mid x)\big)\Big]$$",
        "### Reading the logs",
        "TRL's DPOTrainer logs rewards/chosen and rewards/rejected (the mean implicit reward "
        "β log(π/π_ref) of each side), rewards/margins, rewards/accuracies, logps/chosen and "
        "logps/rejected. Three things this simulator makes visible:",
        "**Accuracy is capped by disagreement.** Counted per annotator judgement, “Align to "
        "preferences” can get at most 47 of its 60 judgements right (0.7833), and it does "
        "from step 1 on. Counted per stored row, as TRL would on these rows, every row is "
        "right from step 1 and accuracy reads 100 %. Perfect accuracy on stored rows says "
        "nothing about how split the annotators were.",
        "**With split labels the loss has a floor above 0.** In “Align to preferences” it "
        "levels off at 0.48914, the mean binary entropy of its six vote shares. A loss that "
        "stalls there has learned the data, not failed to.",
        "**Margins can grow while logps/chosen falls.** In “Unanimous labels” logps/chosen "
        "rises from −1.386 to −0.822 (step 44), then falls, and from step 655 on it is below "
        "where it started (−1.874 at step 3000), while every row's margin grows at every "
        "step. Watch both numbers.",
        "β is chosen by hand. With split votes a larger β ends closer to the reference "
        "(compare “Tight leash” with “Loose leash”); with unanimous labels no β stops the "
        "drift.",
        "**Now on this page:** “[[scenario]]”, step [[step]]: rewards/margins [[margin]], "
        "rewards/accuracies [[accuracy]] (per judgement), logps/chosen [[logps_chosen]], "
        "logps/rejected [[logps_rejected]], KL [[kl]].",
    )),
    Level("phd", "PhD student", "For a PhD student", (
        "### The optimum",
        r"Fix a prompt x and let $J(\pi) = \mathbb{E}_{y\sim\pi}[r(x,y)] - "
        r"\beta\,\mathrm{KL}(\pi\,\|\,\pi_{\text{ref}})$ over distributions π on the replies "
        "(the KL-regularised objective of RLHF):",
        OBJECTIVE,
        "Collecting terms gives the Gibbs variational identity",
        r"$$J(\pi) = \beta\log Z(x) - \beta\,\mathrm{KL}\big(\pi\,\|\,\pi^*\big), \qquad "
        r"\pi^*(y\mid x) = \frac{\pi_{\text{ref}}(y\mid x)\,e^{r(x,y)/\beta}}{Z(x)}$$",
        r"so for β > 0 the unique maximiser is π*, with $Z(x) = \sum_y "
        r"\pi_{\text{ref}}(y\mid x)\,e^{r(x,y)/\beta}$ (KL(π‖π*) ≥ 0, with equality only at "
        "π = π*).",
        "### Reparametrisation",
        "Inverting the optimum:",
        REWARD,
        "Two rewards that differ by a function of x alone give the same π* and the same "
        "Bradley–Terry probabilities, so they are equivalent here; and each such class "
        "contains exactly one reward of the form β log(π/π_ref) for a policy π (where "
        r"$\pi_{\text{ref}} > 0$), namely $r - \beta\log Z(x)$. Searching over policies "
        "instead of rewards loses nothing.",
        "### The likelihood and its gradient",
        "Under Bradley–Terry the partition function cancels:",
        BRADLEY_TERRY,
        r"and maximum likelihood over $\pi_\theta$ is the DPO loss, with u the margin of the "
        "implicit rewards:",
        LOSS,
        GRADIENT,
        "### Rest points in the tabular case",
        "Here θ is a table, one row of logits per prompt, and the bracket is "
        r"$e_{x,y_w} - e_{x,y_l}$. A preference row with a votes for w and b for l pulls on "
        r"$\theta_{x,w} - \theta_{x,l}$ with $a\,\sigma(-u) - b\,\sigma(u)$, which vanishes "
        "exactly at σ(u) = a/(a+b). If the rows of a prompt form no cycle, peeling off one "
        "leaf reply at a time shows that at rest every row sits at its vote share; with a "
        "cycle, the pulls need only cancel at each reply, which is the Bradley–Terry maximum "
        "likelihood fit of the votes. Either way, with split votes DPO rests at the π* of a "
        "maximum-likelihood Bradley–Terry reward (the fit leaves a constant free on each "
        "group of linked replies, and DPO, whose steps conserve each group's logit sum, picks "
        r"it). If the rows form no cycle and some row has b = 0, its pull "
        r"$a\,\sigma(-u)$ is above 0 for every finite u: there is no rest point, the loss "
        "keeps falling towards a bound it never reaches, and the steps shrink as the "
        "weights fade.",
        "In “Align to preferences” every σ(u) is within 0.0001 of its vote share after 3000 "
        "steps. In “Unanimous labels” row 0's weight σ(−u) is 0.0262 at step 400 and 0.0037 "
        "at step 3000, and the KL of the first prompt still rises, from 1.227 to 1.358, "
        "towards its ceiling log 4 = 1.386.",
        "**Now on this page:** “[[scenario]]”, step [[step]], β = [[beta]]: row [[row]] "
        "(votes [[votes]], share [[share]]) has u = [[u]], σ(u) = [[sigma]]; "
        "[[weight_line]]. [[rest]]",
    )),
    Level("researcher", "Researcher", "For a researcher", (
        "### The reduction",
        "DPO inverts the closed-form optimum of the KL-regularised objective,",
        OBJECTIVE,
        OPTIMUM,
        r"to write the reward as $r = \beta\log(\pi^*/\pi_{\text{ref}}) + \beta\log Z(x)$. "
        "The partition function cancels in Bradley–Terry, "
        r"$P(y_w\succ y_l\mid x) = \sigma\big(r(x,y_w)-r(x,y_l)\big)$, leaving a likelihood "
        "on the policy alone, whose gradient weights each pair by σ(−u):",
        LOSS,
        GRADIENT,
        "### Deterministic preferences (IPO)",
        "Azar et al. (2023) point out that the reduction needs the Bradley–Terry reward gap to "
        "be finite. If every comparison of a pair goes one way (and with a single label per "
        "pair every empirical preference is 0 or 1), the maximum-likelihood gap is infinite "
        "and the optimum gives the loser probability 0 whatever β is: the KL term no longer "
        "regularises. Their IPO replaces −log σ by a squared loss on the log-ratio margin h "
        "(u = βh), whose target is finite (the IPO paper calls the regularisation strength "
        "τ):",
        r"$$\mathcal{L}_{\text{IPO}} = \mathbb{E}\Big[\big(h - \tfrac{1}{2\beta}\big)^2\Big], "
        r"\qquad h = \log\frac{\pi_\theta(y_w\mid x)\,\pi_{\text{ref}}(y_l\mid x)}"
        r"{\pi_\theta(y_l\mid x)\,\pi_{\text{ref}}(y_w\mid x)}$$",
        "“Unanimous labels” shows DPO's side of this: row 0's weight falls from 0.0262 "
        "(step 400) to 0.0037 (step 3000), yet the KL of the first prompt keeps rising, "
        "from 1.227 to 1.358, towards its ceiling log 4 = 1.386.",
        "### Likelihood displacement",
        "Several groups observed that DPO can lower the log-probability of the chosen "
        "responses as well as of the rejected ones (Pal et al., 2024; Razin et al., 2024), "
        "so that probability mass moves to other responses. Razin et al. relate it to "
        "chosen and rejected responses whose hidden representations are similar: a step that "
        "pushes the loser down then pushes the winner down too.",
        "A table cannot show that mechanism: each reply has its own logit and prompts share "
        "none. For a prompt with a single unanimous row, a step raises the winner's logit by "
        "some δ > 0 and lowers the loser's by δ, and the winner's log-probability changes by",
        r"$$\Delta\log\pi(y_w\mid x) = \delta - \log\big(1 + \pi_w\,(e^{\delta}-1) - "
        r"\pi_l\,(1-e^{-\delta})\big) > 0 \qquad (\pi_w < 1)$$",
        "The logged mean can still fall, for another reason: in “Unanimous labels” “Boil "
        "it.” is the winner of one row and the loser of another. As it sinks, logps/chosen "
        "(the mean over winners) peaks at −0.822 at step 44 and is below its start from step "
        "655 on (−1.874 at step 3000), while logps/rejected falls at every step and every "
        "row's margin grows at every step.",
        "### What a table leaves out",
        "This simulator is a table of logits, not a language model: no shared parameters, no "
        "generalisation between prompts or replies, no sampling, exact full-batch gradients. "
        "It isolates the loss's own dynamics (the σ(−u) weight, rest points, the drift under "
        "unanimous labels) and cannot show effects that come from shared representations or "
        "from generating text. Conclusions about language models need a language model.",
        "**Now on this page:** “[[scenario]]”, step [[step]]: logps/chosen [[logps_chosen]], "
        "logps/rejected [[logps_rejected]]; row [[row]]: [[weight_line]]; KL of the first "
        "prompt [[kl0]] (ceiling [[ceil0]]).",
    )),
)

#: The levels by id.
BY_ID = {lv.id: lv for lv in LEVELS}


# --- numbers stated about presets, and where each comes from -------------------------------
@dataclass(frozen=True)
class Fact:
    """A number as a level states it, and the record it comes from:
    ``dpo-sim run SCENARIO --steps 3000 --format jsonl``, step STEP, field METRIC (TRL's
    name), at INDEX in that field, times SCALE, rounded to DIGITS decimals. A minus sign is
    written "−"."""

    text: str
    levels: tuple[str, ...]
    scenario: str
    step: int
    metric: str
    index: tuple[int, ...] = ()
    scale: float = 1.0
    digits: int = 4


FACTS: tuple[Fact, ...] = (
    Fact("25", ("child",), "align", 0, "probs", (0, 0), 100, 0),
    Fact("61", ("child",), "align", 400, "probs", (0, 0), 100, 0),
    Fact("0.48914", ("engineer",), "align", 3000, "loss", digits=5),
    Fact("0.7833", ("engineer",), "align", 1, "rewards/accuracies"),
    Fact("−1.386", ("engineer",), "unanimous", 0, "logps/chosen", digits=3),
    Fact("−0.822", ("engineer", "researcher"), "unanimous", 44, "logps/chosen", digits=3),
    Fact("−1.874", ("engineer", "researcher"), "unanimous", 3000, "logps/chosen", digits=3),
    Fact("0.0262", ("phd", "researcher"), "unanimous", 400, "pairs/weight", (0,)),
    Fact("0.0037", ("phd", "researcher"), "unanimous", 3000, "pairs/weight", (0,)),
    Fact("1.227", ("phd", "researcher"), "unanimous", 400, "kl", (0,), digits=3),
    Fact("1.358", ("phd", "researcher"), "unanimous", 3000, "kl", (0,), digits=3),
)
#: The run length the facts are read from.
FACT_STEPS = 3000


# --- the guided path -----------------------------------------------------------------------
@dataclass(frozen=True)
class TryStep:
    id: str
    instruction: str     # one line: what to do
    see: str             # what to watch once it is done


TRY_HEADING = "Try it"
TRY_INTRO = ("A short path through the simulator. Each step ticks itself when the page sees "
             "you do it, in any order.")
TRY_STEPS: tuple[TryStep, ...] = (
    TryStep("play-align", "Load “Align to preferences”, press Play and let it run past "
                          "step 100.",
            "The good replies climb, then stop once every pair's σ(u) equals its vote "
            "share."),
    TryStep("flip", "Flip a preference row with its Flip button.",
            "That pair turns round: its σ(u) becomes 1 − σ(u), and the majority of its "
            "votes now backs the other reply."),
    TryStep("beta", "Move the β slider to 4 or more.",
            "A shorter leash: in the presets with split votes the policy now settles "
            "nearer the reference."),
    TryStep("drop-sigma", "Load “Drop the sigma weight” and press Play.",
            "With the weight off the loss goes below 0 and never stops falling."),
    TryStep("unanimous", "Load “Unanimous labels” and let it run past step 400.",
            "The weights fade towards 0, yet KL keeps rising: there is no resting point."),
    TryStep("ipo", "Switch the loss to IPO.",
            "IPO's squared loss has a finite target margin, so even a unanimous row "
            "has a resting point."),
)
TRY_RESTART = "Start the path again"
TRY_DONE = "Done"
TRY_NEXT = "Next"
TRY_ALL_DONE = "Path complete: every step done."


# --- limitations -------------------------------------------------------------------------
LIMITS_HEADING = "What this simulator leaves out"
LIMITATIONS: tuple[str, ...] = (
    "**Fixed, offline data.** The preference rows never change during a run (except your "
    "flips). DPO never samples new replies from the policy, so nothing it learns is "
    "checked against replies outside the data.",
    "**β is chosen by hand.** Nothing in DPO tunes it, and the same data with another β "
    "ends at another policy.",
    "**A table, not a language model.** Each prompt has its own row of logits and prompts "
    "share no parameters, so nothing learned on one prompt carries over to another, and "
    "there are no new prompts or replies to generalise to.",
    "**Full-batch gradient descent.** Every step uses every judgement, with no minibatches, "
    "no sampling, no noise and no optimiser state: a run is exactly repeatable, and smoother "
    "than a real training curve.",
    "**The weight toggle.** The DPO paper's remark that the model degenerates without the "
    "weighting term is about its Unlikelihood baseline; the bare-margin toggle here shows "
    "the same mechanism (a push that never fades), not that experiment.",
)
