import pytest

from harness.contenders import Contender, Family, create, list_contenders
from harness.contenders import registry as reg
from harness.core.errors import HarnessError


def test_wildcards_and_comma_lists():
    assert list_contenders("sklearn-*") == ["sklearn-logreg", "sklearn-svc"]
    assert list_contenders("keras-shallow,sklearn-logreg") == ["keras-shallow", "sklearn-logreg"]
    assert set(list_contenders("all")) >= {"keras-shallow", "sklearn-logreg"}


@pytest.mark.parametrize("pattern", ["nope", "sklearn-logreg,nope", "zz-*"])
def test_unknown_contender_names_the_fix(pattern):
    with pytest.raises(HarnessError, match="harness contenders"):
        list_contenders(pattern)


def test_create_drops_none_and_keeps_defaults():
    c = create("sklearn-logreg", seed=3, C=None, max_iterations=20)
    assert c.seed == 3
    assert c.params["C"] == 1.0
    assert c.params["max_iterations"] == 20


def test_unknown_parameter_is_refused():
    with pytest.raises(HarnessError, match="unknown parameter"):
        create("sklearn-logreg", bogus=1)


def test_missing_requirement_says_what_to_install():
    class Needs(Contender):
        framework = Family("needs", extra="keras", modules=("numpy",))
        requires = ("surely_not_installed_module",)

    why = Needs.unavailable()
    assert "surely_not_installed_module" in why and "harness[keras]" in why
    assert reg.get("sklearn-logreg").unavailable() is None


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(HarnessError, match="twice"):
        reg.register("sklearn-logreg")(type("Other", (Contender,), {}))
