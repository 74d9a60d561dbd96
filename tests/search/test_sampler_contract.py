"""BudgetSampler passes Optuna's own sampler contract suites (``optuna.testing.pytest_samplers``).

The suites sample arbitrary float, int and categorical distributions, so the sampler screens them with a cost
that always fits (the screening itself is tested in tests/search/test_space.py); what the contract checks is that
the wrapper keeps TPE's and the random sampler's behaviour: values inside their distributions, of the right Python
type, conditional and dynamic spaces, NaN objectives, fixed parameters, relative sampling with several threads.
"""

from __future__ import annotations

import optuna
import pytest
from optuna.testing.pytest_samplers import BasicSamplerTestCase, RelativeSamplerTestCase

from nascomp.search.space.sampler import BudgetSampler


class _AnySpace:
    """A space with no dimensions of its own: the contract suites bring their distributions."""

    dimensions: dict = {}

    def distributions(self) -> dict:
        return {}


def _budget_sampler(base: optuna.samplers.BaseSampler) -> BudgetSampler:
    return BudgetSampler(base, _AnySpace(), cost=lambda point: 0, budget=1, seed=0)


@pytest.fixture(params=["tpe", "random"])
def _base(request):
    return request.param


class TestBudgetSamplerBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self, _base):
        make = {"tpe": lambda: optuna.samplers.TPESampler(seed=0, n_startup_trials=2),
                "random": lambda: optuna.samplers.RandomSampler(seed=0)}[_base]
        return lambda: _budget_sampler(make())


class TestBudgetSamplerRelative(RelativeSamplerTestCase):
    @pytest.fixture
    def sampler(self, _base):
        make = {"tpe": lambda: optuna.samplers.TPESampler(seed=0, n_startup_trials=2, multivariate=True),
                "random": lambda: optuna.samplers.RandomSampler(seed=0)}[_base]
        return lambda: _budget_sampler(make())


def test_over_budget_draws_are_never_proposed_by_the_contract_wrapper():
    """The same wrapper with a real budget: every relative draw is screened (a value the suites could not see)."""
    from optuna.distributions import IntDistribution

    space = {"x": IntDistribution(0, 10)}
    sampler = BudgetSampler(optuna.samplers.RandomSampler(seed=1), _AnySpace(), cost=lambda p: p["x"], budget=3,
                            seed=1)
    study = optuna.create_study(sampler=sampler)
    draws = [sampler.sample_relative(study, study.ask(), space)["x"] for _ in range(30)]
    assert max(draws) <= 3 and len(set(draws)) > 1
