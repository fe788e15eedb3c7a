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

import re
from dataclasses import dataclass, field


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

# --- the derivation (the College level; the levels above refer to it) ---------------------
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

LEVELS: tuple[Level, ...] = (
    Level("child", "Age 5", "For a five-year-old", (
        "Think of a robot that answers questions. For every question it knows a few answers, "
        "and it picks one the way you pick a card from a hat: an answer with many cards in "
        "the hat comes up often, an answer with few cards comes up rarely.",
        "Some grown-ups looked at two answers at a time and said which one they liked "
        "better. The robot learns from them: it puts more cards of the answers they liked "
        "into its hat, and takes out cards of the answers they liked less.",
        "Other robots learn this with a helper: a judge robot that gives every answer a "
        "score, and a lot of trying answers out to see what the judge says. This robot "
        "needs no judge and no trying out. The score of an answer is in its own hat: how "
        "many times more cards of it the robot has now than on the first day.",
        "The robot also keeps a photo of its hat from the first day, and it may not wander "
        "too far from it, like a dog on a leash. The leash is a number called β (beta): a "
        "bigger β is a shorter leash.",
        "When the grown-ups do not all agree, the robot stops changing, and where it stops "
        "depends on the leash. In “Align to preferences” the leash is β = 1 and every answer "
        "started with the same number of cards; 7 grown-ups liked the long egg answer and 3 "
        "liked “Boil it.”, so the robot stops when it has 7 cards of the first for every 3 "
        "of the second. There the good egg answer comes up 25 times in 100 at the start, "
        "about 61 times in 100 by lesson 400, and it stays there. In “Tight leash” (β = 4) "
        "the same grown-ups stop it much closer to its first-day photo: at about 5 cards of "
        "the long answer for every 4 of “Boil it.”.",
        "When all the grown-ups agree, the robot never quite stops: it keeps moving towards "
        "always giving that answer, only more and more slowly.",
        "**Now on this page:** “[[scenario]]”, lesson [[step]]. [[favourite]]",
    )),
    Level("school", "High school", "For a high schooler", (
        "The model gives each of its replies y to a prompt x a probability, "
        r"$\pi(y\mid x)$; on each prompt they add up to 1. A frozen copy of the model from "
        r"before training, $\pi_{\text{ref}}$, is kept to compare with.",
        "Before DPO, the usual recipe (RLHF, reinforcement learning from human feedback) "
        "had two stages: train a second model, a reward model, to score replies the way the "
        "annotators voted, then improve the first model by reinforcement learning: let it "
        "write replies, score them with the reward model, and nudge it towards the "
        "high-scoring ones. DPO needs neither the reward model nor the reinforcement "
        "learning. The score is read off the model itself, so training is a single loss on "
        "the votes.",
        "That score: how much more likely the model makes a reply now than the frozen copy "
        "did, on a log scale, times a number β: "
        r"$\hat r(y) = \beta\log\frac{\pi(y\mid x)}{\pi_{\text{ref}}(y\mid x)}$. A reply that "
        "has not moved scores 0; one that became more likely scores above 0.",
        "For a preference “w is better than l”, take the difference of the two scores, "
        r"$u = \hat r(w) - \hat r(l)$, and squash it into a probability with the logistic "
        r"function $\sigma(u) = \frac{1}{1+e^{-u}}$. That is how sure the model is that w "
        "beats l: 0.5 when the scores are equal, close to 1 when w is far ahead.",
        r"Training lowers the loss $-\log\sigma(u)$, averaged over every annotator's vote. "
        "Each vote for w pushes σ(u) up, each vote for l pushes it down, and a vote pushes "
        "less the more the model already agrees with it. With 7 votes against 3 the pushes "
        "balance when σ(u) = 0.7, so the model stops there instead of becoming certain. "
        "When the rows of a prompt form no loop and none of them is unanimous, every row "
        "stops at its own share of the votes.",
        "In odds, with p the share of votes for w: at rest "
        r"$\frac{\pi(w\mid x)}{\pi(l\mid x)} = \frac{\pi_{\text{ref}}(w\mid x)}"
        r"{\pi_{\text{ref}}(l\mid x)}\cdot\Big(\frac{p}{1-p}\Big)^{1/\beta}$. "
        "With β = 1 that is the reference's odds times the vote odds, 7/3 for a 7:3 row; "
        "“Tight leash” has β = 4, so the reference's odds are multiplied only by "
        "(7/3)^(1/4), about 1.24: a bigger β keeps the model nearer the frozen copy.",
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
        "it gets it right. When θ is a table of logits (this simulator's default model), the "
        r"bracket is $e_{y_w} - e_{y_l}$: a step raises the winner's logit and lowers the "
        "loser's by the same amount. In its features model, where every reply y has a fixed "
        r"vector $\phi(y)$ and $\pi_\theta(y\mid x) \propto \pi_{\text{ref}}(y\mid x)\,"
        r"e^{\theta^\top\phi(y)}$, the bracket is $\phi(y_w) - \phi(y_l)$: one θ serves "
        "every reply, so the step moves every reply that resembles the two.",
        "### What the paper found with it",
        "The paper first tests DPO where the true reward is known (its Section 6.1 and "
        "Figure 2, left): movie-review openings from IMDb, a model asked to continue them "
        "positively, and a sentiment classifier as the reward. Plotting expected reward "
        "against KL from the reference for many runs, DPO's frontier is the highest at every "
        "KL: above PPO's, the RLHF method it replaces, even when PPO is given the true "
        "reward instead of a learned one. The reward–KL frontier view on this page draws "
        "the same axes for one prompt.",
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
        "reference's can be computed once in advance. Per pair, with "
        r"$\Delta_y = \log\pi_\theta(y) - \log\pi_{\text{ref}}(y)$ for each reply (each "
        "log-probability the sum over the reply's tokens; the College level derives it):",
        r"$$\ell = -\log\sigma\big(\beta\,(\Delta_{y_w} - \Delta_{y_l})\big)$$",
        "### Reading the logs",
        "TRL's DPOTrainer logs rewards/chosen and rewards/rejected (the mean implicit reward "
        "β log(π/π_ref) of each side), rewards/margins, rewards/accuracies, logps/chosen and "
        "logps/rejected. Four things this simulator makes visible:",
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
        "**A learned pair can pull its chosen reply down.** In “Unanimous labels” each reply "
        "has its own logit, and the fall comes from replies that win one row and lose "
        "another. In a real model replies share parameters, as they do in this simulator's "
        "features model, where each reply is a fixed feature vector and one θ serves them "
        "all. In “Similar replies: the chosen reply falls” a single hard label is right from "
        "step 1 on and its margin grows at every step, yet logps/chosen falls at every "
        "step, to −3.006 at step 300: the chosen and rejected replies share most of their "
        "features, so the push that separates them lowers both. The mass goes to a short "
        "reply that no row mentions, 0.763 of it by step 300. Check what the rows leave "
        "out, not only what they say.",
        "### Choosing β",
        "β is chosen by hand. With split votes a larger β ends closer to the reference "
        "(compare “Tight leash” with “Loose leash”); with unanimous labels no β stops the "
        "drift. The loss's curvature grows like β², so a larger β needs a smaller learning "
        "rate: plain gradient descent settles only while learning rate × β² stays below a "
        "limit the data set, 18.6 for these rows. “Loose leash” with β raised to 4 and its "
        "own learning rate 8 (learning rate × β² = 128) never settles; with the learning "
        "rate cut to 0.5 (learning rate × β² = 8) it does.",
        "### What the paper found on real tasks",
        "With GPT-4 as the judge (its Section 6.2): on Reddit TL;DR summaries DPO's "
        "summaries beat the human-written reference summaries about 61 % of the time at "
        "sampling temperature 0, against 57 % for PPO at its best temperature (also 0), and "
        "DPO held up better as the temperature rose (Figure 2, right). On single-turn "
        "dialogue from Anthropic's Helpful and Harmless data it was the only computationally "
        "efficient method that improved over the preferred replies in the test set, and it "
        "did as well as or better than the costly best-of-128 sampling (Figure 3). For the "
        "summaries, the authors note that they did not meaningfully tune β.",
        "**Now on this page:** “[[scenario]]”, step [[step]]: rewards/margins [[margin]], "
        "rewards/accuracies [[accuracy]] (per judgement), logps/chosen [[logps_chosen]], "
        "logps/rejected [[logps_rejected]], KL [[kl]].",
    )),
    Level("phd", "PhD student", "For a PhD student", (
        "### Why the optimum is unique",
        "Step 2 of the derivation is the Gibbs variational identity:",
        r"$$J(\pi) = \mathbb{E}_{\pi}[r] - \beta\,\mathrm{KL}(\pi\,\|\,\pi_{\text{ref}}) = "
        r"\beta\log Z(x) - \beta\,\mathrm{KL}\big(\pi\,\|\,\pi^*\big)$$",
        "so for β > 0 the unique maximiser is π* (KL(π‖π*) ≥ 0, with equality only at "
        "π = π*).",
        "### What the reparametrisation loses",
        "Two rewards that differ by a function of x alone give the same π* and the same "
        "Bradley–Terry probabilities, so they are equivalent here; and each such class "
        "contains exactly one reward of the form β log(π/π_ref) for a policy π (where "
        r"$\pi_{\text{ref}} > 0$), namely $r - \beta\log Z(x)$. Searching over policies "
        "instead of rewards loses nothing.",
        "### Rest points in the tabular case",
        "Here θ is a table, one row of logits per prompt, and a preference row with a votes "
        r"for w and b for l pulls on $\theta_{x,w} - \theta_{x,l}$ with "
        r"$a\,\sigma(-u) - b\,\sigma(u)$, which vanishes exactly at σ(u) = a/(a+b). What "
        "rests, though, is each reply: the pulls of all its rows must cancel. If the rows of "
        "a prompt form no cycle, peeling off one leaf reply at a time shows that every row "
        "then sits at its vote share; with a cycle, the rows rest at the Bradley–Terry "
        "maximum-likelihood fit of the votes, where a row's own pull need not vanish. Either "
        "way, with split votes DPO rests at the π* of a maximum-likelihood Bradley–Terry "
        "reward (the fit leaves a constant free on each group of linked replies, and DPO, "
        "whose steps conserve each group's logit sum, picks it). If some reply, or group of "
        "replies, only wins (or only loses) against the rest, no finite fit exists: with "
        r"b = 0 and no cycle the pull $a\,\sigma(-u)$ is above 0 for every finite u, the loss "
        "keeps falling towards a bound it never reaches, and the margins grow like log t. A "
        "row that shares a reply with such a row never rests either; it only approaches its "
        "fit.",
        "In “Unanimous labels” row 0's weight σ(−u) is 0.0262 at step 400 and 0.0037 "
        "at step 3000, and the KL of the first prompt still rises, from 1.227 to 1.358, "
        "towards its ceiling log 4 = 1.386. Plain gradient descent reaches a rest point only "
        "if its steps do not overshoot it: lr · λ < 2, with λ the largest curvature there, "
        r"$\beta^2/N$ times the largest eigenvalue of $\sum_{\text{rows}} n\,q(1-q)\,"
        r"(e_w-e_l)(e_w-e_l)^\top$, so the learning rate must shrink like 1/β².",
        "### Rest points with shared parameters",
        "In the features model, "
        r"$\pi_\theta(y\mid x) \propto \pi_{\text{ref}}(y\mid x)\,e^{\theta^\top\phi(x,y)}$ "
        "with φ fixed, the mean loss in θ is the Bradley–Terry negative log-likelihood of a "
        r"reward linear in the features, $r_\theta = \beta\,\theta^\top\phi$. Its minimiser, "
        "where one exists, is the RLHF optimum for that reward, π*_φ, and DPO rests there. "
        "π*, the optimum for a reward with one free value per reply, is generally not in the "
        "family, so KL(π‖π*) stops at KL(π*_φ‖π*) > 0; the two agree when the table's fit is "
        "linear in φ (always with one-hot features, the table). The part of θ orthogonal to "
        r"every $\phi_w - \phi_l$ never moves.",
        "In “A reply no one judged ends on top” two 8:2 rows prefer a polite reply and a reply "
        "with steps to a rude one; the reply with both features is in no row. DPO gives it "
        "0.640 by step 300, above every labelled reply, which is π*_φ; π* keeps its start "
        "logit and gives it 0.219, and KL(π‖π*) levels off at 0.408.",
        "### How the paper checked its judge",
        "The paper's win rates are GPT-4's verdicts, so it ran a human study (its Section "
        "6.4 and Table 2): on TL;DR, people preferred DPO's summaries (temperature 0.25) to "
        "PPO's (temperature 0) 58 % of the time, and they agreed with GPT-4 about as often "
        "as with each other (65 % between people, 67 % and 70 % between people and GPT-4 with "
        "its two prompts, on that comparison). Out of distribution (Section 6.3, Table 1), "
        "on CNN/DailyMail news articles with the TL;DR-trained policies, DPO's summaries "
        "beat the reference summaries 36 % of the time at temperature 0 against 26 % for "
        "PPO.",
        "**Now on this page:** “[[scenario]]”, step [[step]], β = [[beta]]: row [[row]] "
        "(votes [[votes]], share [[share]]) has u = [[u]], σ(u) = [[sigma]]; "
        "[[weight_line]]. [[rest]]",
    )),
    Level("researcher", "Researcher", "For a researcher", (
        "### Deterministic preferences (IPO)",
        "Azar et al. (2023) point out that the reduction needs the Bradley–Terry reward gap to "
        "be finite. If every comparison of a pair goes one way (and with a single label per "
        "pair every empirical preference is 0 or 1), the maximum-likelihood gap is infinite "
        "and the optimum gives the loser probability 0 whatever β is: the KL term no longer "
        "regularises. The unanimous drift measured at the PhD level is DPO's side of this. "
        "Their IPO replaces −log σ by a squared loss on the log-ratio margin h (u = βh), "
        "whose target is finite (the IPO paper calls the regularisation strength τ):",
        r"$$\mathcal{L}_{\text{IPO}} = \mathbb{E}\Big[\big(h - \tfrac{1}{2\beta}\big)^2\Big], "
        r"\qquad h = \log\frac{\pi_\theta(y_w\mid x)\,\pi_{\text{ref}}(y_l\mid x)}"
        r"{\pi_\theta(y_l\mid x)\,\pi_{\text{ref}}(y_w\mid x)}$$",
        "### Noisy labels (robust DPO)",
        "Chowdhury et al. (2024) correct the loss for labels flipped at a known rate ε "
        "(rDPO, TRL's robust loss); its weight σ(−u) + ε/(1−2ε) never fades below "
        "ε/(1−2ε). On rows that form no cycle that moves each rest point to "
        "σ(u) = (p − ε)/(1 − 2ε), and a row with vote share p = 1 − ε loses its rest point "
        "altogether: it drifts as "
        "slowly as DPO's unanimous rows, and beyond 1 − ε at a steady pace. The formula "
        "strip says which, row by row, when the loss is set to robust.",
        "### Likelihood displacement",
        "Several groups observed that DPO can lower the log-probability of the chosen "
        "responses as well as of the rejected ones (Pal et al., 2024; Razin et al., 2024), "
        "so that probability mass moves to other responses. Razin et al. relate it to "
        "chosen and rejected responses whose hidden representations are similar: a step that "
        "pushes the loser down then pushes the winner down too.",
        "A table cannot show that mechanism: each reply has its own logit. For a prompt with a "
        "single unanimous row, a step raises the winner's logit by some δ > 0 and lowers the "
        "loser's by δ, and the winner's log-probability changes by",
        r"$$\Delta\log\pi(y_w\mid x) = \delta - \log\big(1 + \pi_w\,(e^{\delta}-1) - "
        r"\pi_l\,(1-e^{-\delta})\big) > 0 \qquad (\pi_w < 1)$$",
        "The logged mean can still fall, for another reason: a reply that wins one row and "
        "loses another. In “Unanimous labels” there is one such reply on each prompt, "
        "“Boil it.” and “Canberra.”. As they sink, each one's term in the mean logps/chosen "
        "falls by 0.622 from step 44 to step 3000, while each good answer's term rises by "
        "only 0.096: the fall of the mean over those steps is theirs, in equal shares.",
        "The features model shows the mechanism itself. A row's step moves θ by "
        r"$c\,(\phi_w - \phi_l)$, $c > 0$, which changes the chosen reply's logit by "
        r"$c\,(\lVert\phi_w\rVert^2 - \langle\phi_w,\phi_l\rangle)$: it falls exactly when "
        r"Razin et al.'s similarity score $\langle\phi_w,\phi_l\rangle - \lVert\phi_w\rVert^2$ "
        "is positive (by Cauchy–Schwarz, only when the loser's vector is the longer). In "
        "“Similar replies: the chosen reply falls” the score is 1.21, and the chosen logit "
        "loses 0.45 for every unit the margin gains.",
        "### One prompt moves another",
        "With shared parameters, rows on one prompt move every prompt. In “Rows on one prompt "
        "move the others” the only rows, on one question, reward sounding confident (9:1) far "
        "more than being right (6:4). On a second question the right and confident reply "
        "ends at 0.844; on a third, where no reply is both, the confident wrong one ends at "
        "0.783 and the hedged right one at 0.130. π* leaves both questions at the reference: "
        "no row mentions them.",
        "### The weight, ablated",
        "The paper's Section 4 notes that a naive version of the update without the weight "
        "σ(−u) can make the model degenerate, and points to its Appendix Table 3, samples "
        "of its Unlikelihood baseline on TL;DR prompts. That naive gradient is exactly the "
        "bare margin this page's weight toggle switches to (“Drop the sigma weight”): it "
        "raises the winner's log-probability and lowers the loser's at a constant rate, so "
        "nothing ever stops the push.",
        "### What the models leave out",
        "This simulator is not a language model. Its table isolates the loss's own dynamics "
        "(the σ(−u) weight, rest points, the drift under unanimous labels); its features "
        "model adds shared parameters, and with them displacement, mass to replies no row "
        "mentions and one prompt moving another, exactly. But its features are fixed, given "
        "by the lesson: a language model learns its representations, so what resembles what "
        "changes as it trains. There are no tokens, no depth, no sampling, and the "
        "gradients are exact and full-batch. Conclusions about language models need a "
        "language model.",
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
    Fact("−0.822", ("engineer",), "unanimous", 44, "logps/chosen", digits=3),
    Fact("−1.874", ("engineer",), "unanimous", 3000, "logps/chosen", digits=3),
    Fact("0.0262", ("phd",), "unanimous", 400, "pairs/weight", (0,)),
    Fact("0.0037", ("phd",), "unanimous", 3000, "pairs/weight", (0,)),
    Fact("1.227", ("phd",), "unanimous", 400, "kl", (0,), digits=3),
    Fact("1.358", ("phd",), "unanimous", 3000, "kl", (0,), digits=3),
    # the features model (issue 19's presets)
    Fact("−3.006", ("engineer",), "similar-replies", 300, "logps/chosen", digits=3),
    Fact("0.763", ("engineer",), "similar-replies", 300, "probs", (0, 2), digits=3),
    Fact("0.640", ("phd",), "unseen-reply", 300, "probs", (0, 3), digits=3),
    Fact("0.408", ("phd",), "unseen-reply", 3000, "kl_to_rlhf", (0,), digits=3),
    Fact("0.844", ("researcher",), "shared-prompts", 3000, "probs", (1, 0), digits=3),
    Fact("0.783", ("researcher",), "shared-prompts", 3000, "probs", (2, 0), digits=3),
    Fact("0.130", ("researcher",), "shared-prompts", 3000, "probs", (2, 1), digits=3),
)


@dataclass(frozen=True)
class PaperFact:
    """A figure the DPO paper reports (arXiv 2305.18290v3), as a level quotes it, with the
    place in the paper the level names next to it."""

    text: str
    level: str
    where: str


#: Every figure of the paper the levels quote. Taken from the paper's own text and tables:
#: Section 6.2 ("DPO has a win rate of approximately 61% at a temperature of 0.0, exceeding
#: the performance of PPO at 57% at its optimal sampling temperature of 0.0"; "DPO samples
#: at temperature 0.25 were preferred 58% times over PPO samples at temperature 0"), Table 2
#: (DPO vs PPO: H-H agree 65, GPT-4 (C)-H agree 67, GPT-4 (S)-H agree 70) and Table 1
#: (CNN/DailyMail, temperature 0: DPO 0.36, PPO 0.26).
PAPER: tuple[PaperFact, ...] = (
    PaperFact("61 %", "engineer", "Section 6.2"),
    PaperFact("57 %", "engineer", "Section 6.2"),
    PaperFact("58 %", "phd", "Section 6.4 and Table 2"),
    PaperFact("65 %", "phd", "Table 2"),
    PaperFact("67 % and 70 %", "phd", "Table 2"),
    PaperFact("36 %", "phd", "Table 1"),
    PaperFact("26 %", "phd", "Table 1"),
)
#: The run length the facts are read from.
FACT_STEPS = 3000


# --- the guided path -----------------------------------------------------------------------
@dataclass(frozen=True)
class TryStep:
    id: str
    instruction: str     # one line: what to do
    see: str             # what to watch once it is done
    target: str          # the page part it names (its hide= name): "Show me" points at it
    target_label: str    # that part, for the "Show me" button's accessible name
    #: when the step is done: a goal of app/ui/goals.js (a challenge's goal table, plus
    #: ``scenario``: only while that scenario is loaded, and ``learner``: a setting the
    #: learner's own action set), ticked the first time it holds after the path starts
    goal: dict = field(default_factory=dict)


#: The β the "Try it" path asks for.
TRY_BETA = 4.0
TRY_HEADING = "Try it"
TRY_INTRO = ("A short path through the simulator. Each step ticks itself when the page sees "
             "you do it, in any order; “Show me” brings the control it names into view.")
TRY_SHOW = "Show me"
TRY_STEPS: tuple[TryStep, ...] = (
    TryStep("play-align", "Load “Align to preferences”, press Play and let it run past "
                          "step 100.",
            "The good replies climb, then stop once every pair's σ(u) equals its vote "
            "share.", "picker", "the scenario picker",
            {"metric": "step", "at_least": 100, "scenario": "align"}),
    TryStep("flip", "Flip a preference row with its Flip button.",
            "That pair turns round: its σ(u) becomes 1 − σ(u), and the majority of its "
            "votes now backs the other reply.", "pairs", "the preference rows",
            {"metric": "flips", "at_least": 1}),
    TryStep("beta", "Move the β slider to 4 or more.",
            "A shorter leash: in “Align to preferences” the policy now settles nearer the "
            "reference (KL about 0.03 on each prompt, against 0.37 and 0.29 at β = 1). A "
            "larger β needs a smaller learning rate, shrinking like 1/β²: “Loose leash”, "
            "whose learning rate suits β = 0.25, never settles at β = 4.",
            "beta", "the β slider", {"metric": "beta", "at_least": TRY_BETA, "learner": True}),
    TryStep("drop-sigma", "Load “Drop the sigma weight” and press Play.",
            "With the weight off the loss goes below 0 and never stops falling.",
            "picker", "the scenario picker",
            {"metric": "loss", "below": 0, "scenario": "drop-sigma"}),
    TryStep("unanimous", "Load “Unanimous labels” and let it run past step 400.",
            "The weights fade towards 0, yet KL keeps rising: there is no resting point.",
            "picker", "the scenario picker",
            {"metric": "step", "at_least": 400, "scenario": "unanimous"}),
    TryStep("ipo", "Switch the loss to IPO.",
            "IPO's squared loss has a finite target margin, so even a unanimous row "
            "has a resting point, if the learning rate suits IPO's curvature (“Loose "
            "leash”'s 8 does not: its run blows up).", "loss", "the loss",
            {"metric": "loss_type", "equals": "ipo"}),
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
    "**One judgement per pair, in real data.** Preference data sets usually store a single "
    "judgement per pair, so each stored pair behaves like a 1:0 row of “Unanimous labels” "
    "(no rest point: it drifts), not like the split rows of “Align to preferences”.",
    "**β is chosen by hand.** Nothing in DPO tunes it, and the same data with another β "
    "ends at another policy.",
    "**Not a language model.** The default model is a table: each prompt has its own row "
    "of logits and nothing learned on one prompt carries over to another. The features "
    "model shares one θ between every prompt and reply, but its features are fixed, given "
    "by the lesson, not learned, and the policy is linear in θ (no depth). There are no "
    "new prompts or replies to generalise to.",
    "**Whole replies, not tokens.** In a language model a reply's log-probability is a "
    "sum over its tokens, so length matters (TRL's IPO averages over tokens instead). Here "
    "each reply is one item with one logit.",
    "**The reference.** In practice π_ref is usually the supervised fine-tuned (SFT) model, "
    "the checkpoint the policy starts from; here it is a uniform or hand-set table.",
    "**Full-batch gradient descent.** Every step uses every judgement, with no minibatches, "
    "no sampling, no noise and no optimiser state: a run is exactly repeatable, and smoother "
    "than a real training curve. Real training uses Adam or RMSprop, minibatches and a few "
    "passes (epochs) over the data.",
    "**The weight toggle is the paper's naive version.** Switched off, the update is the "
    "unweighted version the DPO paper says can degenerate (its Section 4; Appendix Table 3 "
    "shows samples of its Unlikelihood baseline, which makes the same update). Here it "
    "drives each prompt towards a single reply; degenerate text needs a language model.",
)


# --- the live lines' words (views/learn.py and app/ui/views/learn.js fill in the numbers) ---
#: The sentences a live value can be; ``{...}`` are the numbers the view fills in.
LIVE_TEXT = {
    "weight_dpo": "its weight σ(−u) is {w}",
    "weight_bare": "the weight is switched off, so it pulls with weight 1",
    "weight_other": "its weight under the {kind} loss is {w}",
    "weight_none": "no row to weigh",
    "loss_dpo": "−log σ(u)",
    "loss_bare": "the bare margin −u",
    "loss_other": "the {kind} loss",
    "favourite": "Asked “{prompt}”, it now picks “{reply}” about {n} times in 100.",
    "none": "–",
    "pending": "…",
}
#: Live values that are whole sentences (shown in the text's own weight, not in bold).
SENTENCES = ("favourite", "weight_line", "rest")
#: A Try-it step not yet done, for screen readers.
TRY_NOT_DONE = "Not done yet"


# --- everything above as JSON, for the shared views (app/ui/views/learn.js, tryit.js) ------
_INLINE = re.compile(r"\$(.+?)\$|\[\[(\w+)\]\]|\*\*(.+?)\*\*")
_LIVE_KEY = re.compile(r"\[\[(\w+)\]\]")


def inline_parts(text: str) -> list[dict]:
    """A block's markup as parts: ``{"text"}``, ``{"tex"}`` (an inline formula),
    ``{"live": key}`` (a value of the run, with ``"sentence": true`` for a whole sentence)
    and ``{"bold": [parts]}``. Plain text only: no HTML anywhere."""
    out: list[dict] = []
    pos = 0
    for m in _INLINE.finditer(text):
        if m.start() > pos:
            out.append({"text": text[pos:m.start()]})
        tex, key, bold = m.groups()
        if tex is not None:
            out.append({"tex": tex})
        elif key is not None:
            out.append({"live": key, **({"sentence": True} if key in SENTENCES else {})})
        else:
            out.append({"bold": inline_parts(bold)})
        pos = m.end()
    if pos < len(text):
        out.append({"text": text[pos:]})
    return out


def block_json(block: str) -> dict:
    """One block: ``{"display": TeX}`` (a displayed formula), ``{"heading": parts}`` or
    ``{"para": parts}`` (``"now": true`` on the paragraph quoting the run)."""
    b = block.strip()
    if b.startswith("$$") and b.endswith("$$") and len(b) > 4:
        return {"display": b[2:-2].strip()}
    if b.startswith("### "):
        return {"heading": inline_parts(b[4:])}
    out: dict = {"para": inline_parts(b)}
    if _LIVE_KEY.search(b):
        out["now"] = True
    return out


def level_keys(level: Level) -> list[str]:
    """The live values a level quotes, in order of first use."""
    return list(dict.fromkeys(k for b in level.blocks for k in _LIVE_KEY.findall(b)))


def learn_json() -> dict:
    """Everything "Read at your level" and "Try it" show, as JSON-ready data: the levels'
    words with their formulas as TeX, the live values each level quotes (the view fills
    them from the run), the Try-it steps, the limitations, and the figures the levels
    quote (``FACTS``: from runs; ``PAPER``: from the paper)."""
    return {
        "heading": HEADING,
        "intro": INTRO,
        "levels_label": LEVELS_LABEL,
        "levels": [{"id": lv.id, "label": lv.label, "title": lv.title,
                    "keys": level_keys(lv), "blocks": [block_json(b) for b in lv.blocks]}
                   for lv in LEVELS],
        "live_text": dict(LIVE_TEXT),
        "limits": {"heading": LIMITS_HEADING,
                   "items": [inline_parts(t) for t in LIMITATIONS]},
        "try": {"heading": TRY_HEADING, "intro": TRY_INTRO, "show": TRY_SHOW,
                "restart": TRY_RESTART, "done": TRY_DONE, "not_done": TRY_NOT_DONE,
                "next": TRY_NEXT, "all_done": TRY_ALL_DONE, "beta": TRY_BETA,
                "steps": [{"id": s.id, "instruction": s.instruction, "see": s.see,
                           "target": s.target, "target_label": s.target_label,
                           "goal": dict(s.goal)}
                          for s in TRY_STEPS]},
        "facts": {"steps": FACT_STEPS,
                  "runs": [{"text": f.text, "levels": list(f.levels), "scenario": f.scenario,
                            "step": f.step, "metric": f.metric, "index": list(f.index),
                            "scale": f.scale, "digits": f.digits} for f in FACTS],
                  "paper": [{"text": f.text, "level": f.level, "where": f.where}
                            for f in PAPER]},
    }
