"""Named lineups: which contenders a run gets, and why each is in it.

A lineup is named with ``@`` wherever contenders are (``--contenders @seeds``, a
suite's ``contenders:``), alone or among names and wildcards:

- ``@default``: the comparison the harness exists for, used when no contender is
  named: the linear floor, the hand-built Keras CNN(s) suited to the images, one or
  two Keras transfer contenders and AutoMM, chosen by the images' size, the number of
  classes, the budget and the GPUs (:func:`default_lineup` says the rules).
- ``@seeds``: the seed projects' exact models.
- ``@quick``: contenders that need no pretrained weights and train in seconds.
- ``@all``: every registered contender.

Members are names only: nothing here imports a framework, so that the CLI stays
instant. A member whose framework is missing becomes a ``skipped`` row saying what to
install, never something else.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.errors import HarnessError

#: side in pixels under which the seed's one-convolution MNIST model is the CNN of
#: choice (measured: digits, 8 px); from it, keras-fastnet (28 px digits, 32 px photos)
SMALL_SIDE = 28
#: budgets from which a second, heavier contender of a family is worth its setup
LONG_BUDGET = 600.0
#: the budget (with GPUs) from which AutoMM's high-quality preset pays off
AUTOMM_HIGH_BUDGET = 1800.0
#: training images up to which the RBF SVM joins the default lineup: its fit grows with
#: the square of the images, and classifying the test set with the number of support
#: vectors; on small sets it is the classical model to beat (digits: 98.9 %, in seconds)
SVC_MAX_TRAIN = 10_000

SEEDS: tuple[tuple[str, str], ...] = (
    ("keras-shallow", "the first seed's MNIST model: one Conv2D with 8 kernels"),
    ("keras-cnn6", "the first seed's CIFAR-10 network: six Conv2D with batch norm"),
    ("keras-deep", "the first seed's CIFAR-100 network, cosine decay with warm-up"),
    ("mobilenet-scratch", "the second seed's MobileNet from scratch with L2 and dropout"),
    ("keras-tuner-bayes", "the second seed's KerasTuner search"),
    ("nasnetmobile-frozen", "the second seed's Model I: NASNetMobile frozen"),
    ("nasnetmobile-224-frozen", "the second seed's Model II: NASNetMobile at 224, frozen"),
    ("nasnetmobile-224-finetune", "the second seed's Model III: NASNetMobile fine-tuned"),
    ("convnext-base-2phase", "the first seed's ConvNeXtBase in two phases"),
    ("automm-medium", "the third seed's AutoGluon AutoMM"),
)
QUICK: tuple[tuple[str, str], ...] = (
    ("sklearn-logreg", "the linear floor"),
    ("keras-shallow", "the smallest hand-built CNN"),
    ("keras-fastnet", "a small CNN built for accuracy per second"),
)

LINEUPS: dict[str, str] = {
    "@default": "every family, chosen by image size, classes, budget and GPUs "
                "(the default of `harness run`)",
    "@seeds": "the seed projects' exact models",
    "@quick": "no pretrained weights, seconds to train",
    "@all": "every registered contender",
}


@dataclass(frozen=True)
class Profile:
    """What the default lineup is chosen by: the data, the budget and the GPUs."""

    image_shape: tuple[int, ...]
    num_classes: int
    budget_seconds: float
    gpus: int = 0
    n_train: int = 0  # training images, where known (0: not known)


@dataclass(frozen=True)
class Pick:
    """A contender of a run and why it is in it."""

    name: str
    why: str


def default_lineup(p: Profile) -> list[Pick]:
    """The default comparison: a member of every family, sized to the data and budget.

    - ``sklearn-logreg``: the floor every model must beat; ``sklearn-svc`` beside it
      where the training images are known and at most ``SVC_MAX_TRAIN``.
    - Hand-built CNN, as the real-image benchmark (``make bench-real``) ranks them:
      ``keras-shallow`` for images under ``SMALL_SIDE`` px (digits' 8 px: 98.2 % in
      10 s, the best CNN there), ``keras-fastnet`` from ``SMALL_SIDE`` px (CIFAR-10
      photos at 30 s: 57 % against the Keras example convnet's 54 % and the seed's
      ``keras-cnn6`` at 22 %; photo patches at 15 s: 80 % against 71 %); from a
      10-minute budget or with GPUs also the seed's network for the data
      (``keras-cnn6`` up to 32 px and 10 classes, else ``keras-deep``).
    - Keras transfer: ``mobilenetv2-frozen`` (the quickest ImageNet backbone per CPU
      second; frozen, the budget trains its head); with GPUs or from a 10-minute budget
      also ``efficientnetb0-224-finetune`` (every layer, at its ImageNet size).
    - AutoMM: ``automm-high`` with GPUs from a 30-minute budget, else ``automm-medium``.
    """
    side = min(p.image_shape[:2])
    long = p.budget_seconds >= LONG_BUDGET
    picks = [Pick("sklearn-logreg", "the linear floor every model must beat")]
    if 0 < p.n_train <= SVC_MAX_TRAIN:
        picks.append(Pick("sklearn-svc", f"{p.n_train} training images (at most "
                                         f"{SVC_MAX_TRAIN:,}): an RBF SVM on raw pixels fits "
                                         "in seconds, the classical model to beat"))
    if side < SMALL_SIDE:
        picks.append(Pick("keras-shallow", f"images of {side} px (under {SMALL_SIDE}): the "
                                           "seed's one-convolution model, the most epochs "
                                           "per second"))
    else:
        picks.append(Pick("keras-fastnet", f"{side} px: the CNN built for accuracy per "
                                           "second, ahead of the seed networks at short "
                                           "budgets on real photos"))
    if long or p.gpus:
        seed_net = "keras-cnn6" if side <= 32 and p.num_classes <= 10 else "keras-deep"
        picks.append(Pick(seed_net, "a budget of 10 min or more, or GPUs: the seed's "
                                    f"network for {side} px and {p.num_classes} classes"))
    picks.append(Pick("mobilenetv2-frozen", "transfer: the quickest ImageNet backbone per "
                                            "CPU second, frozen (the budget trains its head)"))
    if long or p.gpus:
        picks.append(Pick("efficientnetb0-224-finetune", "transfer: GPUs or 10 min or more "
                                                         "buy fine-tuning at 224 px"))
    if p.gpus and p.budget_seconds >= AUTOMM_HIGH_BUDGET:
        picks.append(Pick("automm-high", "AutoMM: GPUs and 30 min or more buy its "
                                         "high-quality preset"))
    else:
        picks.append(Pick("automm-medium", "AutoMM, medium-quality preset: the budget or "
                                           "the CPU is too short for its larger ones"))
    return picks


def lineup(name: str, profile: Profile | None = None) -> list[Pick]:
    """The members of lineup ``name`` (``@default`` needs the run's ``profile``)."""
    from harness.contenders.registry import list_contenders

    if name == "@default":
        if profile is None:
            raise HarnessError("@default depends on the dataset and budget: use it in "
                               "`harness run` or a suite")
        return default_lineup(profile)
    if name == "@seeds":
        return [Pick(n, why) for n, why in SEEDS]
    if name == "@quick":
        return [Pick(n, why) for n, why in QUICK]
    if name == "@all":
        return [Pick(n, "every registered contender (@all)") for n in list_contenders("all")]
    raise HarnessError(f"unknown lineup {name!r}; known: {', '.join(LINEUPS)}")


def for_dataset(pattern: str | None, dataset: str, budget_seconds: float,
                gpus: int = 0, image_size: int | None = None) -> list[Pick]:
    """The contenders of ``pattern`` (None: the default lineup) for a run of ``dataset``
    at this budget on this many GPUs: the one place a run and a suite's cell choose
    their lineup."""
    from harness.data.registry import get_spec

    spec = get_spec(dataset, image_size)  # its shape: the working size
    return select(pattern, Profile(tuple(spec.image_shape), spec.num_classes,
                                   budget_seconds, gpus, spec.n_train))


def select(pattern: str | None, profile: Profile | None = None) -> list[Pick]:
    """The contenders of a comma list of names, wildcards and ``@lineups``, each once.

    ``None`` is the default lineup.
    """
    from harness.contenders.registry import get, list_contenders

    if pattern is None:
        pattern = "@default"
    parts = [p.strip() for p in pattern.split(",") if p.strip()]
    if not parts:
        raise HarnessError("--contenders is empty: name contenders ('keras-*', 'all', "
                           "'@seeds') or leave the option out for the default lineup")
    picks: dict[str, Pick] = {}
    for part in parts:
        if part.startswith("@"):
            got = lineup(part, profile)
            for pick in got:
                get(pick.name)  # a lineup naming an unregistered contender is a bug here
        else:
            got = [Pick(n, "named" if n == part else f"matches {part!r}")
                   for n in list_contenders(part)]
        for pick in got:
            picks.setdefault(pick.name, pick)
    return [_at_its_side(pick, profile) for pick in picks.values()]


def _at_its_side(pick: Pick, profile: Profile | None) -> Pick:
    """``pick`` with the side it trains at in its reason, where it is not the images'."""
    from harness.contenders.contract import trained_side
    from harness.contenders.registry import get

    if profile is None or len(profile.image_shape) < 2:
        return pick
    side = min(profile.image_shape[:2])
    own = trained_side(get(pick.name), side, profile.budget_seconds, profile.gpus)
    if own is None:
        return pick
    why = pick.why.removeprefix(f"{side} px: ")
    return Pick(pick.name, f"at {own} px, its size for this budget (images of {side} px): "
                           f"{why}")
