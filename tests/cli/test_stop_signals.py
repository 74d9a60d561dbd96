"""A second signal aborts at once, and the command's exit code names that signal (128 + signum, the shell's rule)."""

from __future__ import annotations

import signal

import pytest

from nascomp._stop import Aborted, StopFlag
from nascomp.cli.main import main as cli_main


@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT),
                                           (signal.SIGTERM, signal.SIGTERM)])
def test_second_signal_aborts_with_its_own_number(first, second):
    with StopFlag() as stop:
        stop.request(first)
        with pytest.raises(Aborted) as info:
            stop.request(second)
    assert stop.exit_code == 128 + first
    assert info.value.signum == second and isinstance(info.value, KeyboardInterrupt)


@pytest.mark.parametrize("raised, code", [(Aborted(signal.SIGTERM), 143), (Aborted(signal.SIGINT), 130),
                                          (KeyboardInterrupt(), 130)])
def test_cli_exit_code_after_an_abort(monkeypatch, capsys, raised, code):
    import nascomp.cli.zoo_cmd as zoo_cmd

    def run(args):
        raise raised

    monkeypatch.setattr(zoo_cmd, "run", run)
    assert cli_main(["zoo"]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nascomp: ") and "Traceback" not in err[0]
