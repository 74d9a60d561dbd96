"""Doctest set-up for the ``>>>`` examples in ``nascomp/`` (run by ``make test`` with ``--doctest-modules``).

Each example runs in a fresh temporary working folder (examples that write files leave nothing in the checkout)
with the names an example may use without importing them: ``nascomp``, ``torch``, ``optuna``, ``load_space``
and ``study`` (an empty Optuna study on a journal file in that folder).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _doctest_setup(request: pytest.FixtureRequest) -> None:
    if not isinstance(request.node, pytest.DoctestItem):
        return
    import optuna
    import torch

    import nascomp
    from nascomp.search.space.search_space import load_space

    tmp_path = request.getfixturevalue("tmp_path")
    request.getfixturevalue("monkeypatch").chdir(tmp_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log")))
    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update(nascomp=nascomp, torch=torch, optuna=optuna, load_space=load_space,
                     study=optuna.create_study(storage=storage, study_name="doctest"))
