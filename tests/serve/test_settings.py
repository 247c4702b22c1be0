"""Safe defaults: loopback unless a token is given; the CLI refuses to start otherwise, with a clear line."""

from __future__ import annotations

import pytest

from posekit.cli import main
from posekit.serve.settings import ServeSettings, is_loopback


def test_only_loopback_without_a_token():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
    ServeSettings().check()
    ServeSettings(host="0.0.0.0", token="long-enough-token").check()
    with pytest.raises(ValueError, match="--token"):
        ServeSettings(host="0.0.0.0").check()
    with pytest.raises(ValueError, match="at least 8"):
        ServeSettings(token="short").check()


def test_threads_share_the_machine():
    import os

    assert ServeSettings(workers=2).threads_per_worker == max(1, (os.cpu_count() or 1) // 2)
    assert ServeSettings(workers=2, threads=3).threads_per_worker == 3
    assert ServeSettings(workers=3).queue_limit == 12


def test_cli_refuses_a_public_address_without_a_token(capsys):
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "posekit: error:" in err and "--token" in err and "0.0.0.0" in err
