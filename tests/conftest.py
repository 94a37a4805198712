import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from nbsupport.fingerprint import flush_to_zero_active  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_torch_float_state():
    """Every test starts with the thread count and flush-to-zero state the one before it started with.

    A seeded CPU run depends on both (``nbsupport.fingerprint``); a test that pins them (``torch.set_num_threads(1)``
    to compare with a stored row, ``torch.set_flush_denormal`` as the grid command does) would otherwise make the
    tests after it depend on the order they run in.
    """
    threads, flush = torch.get_num_threads(), flush_to_zero_active()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if flush_to_zero_active() != flush:
        torch.set_flush_denormal(flush)
