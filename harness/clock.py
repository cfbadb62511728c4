"""The trial's clock: a ledger that gives every instant of a trial's wall time to one account.

Accounts are `submission` (the only one that counts toward time-to-target), `eval`, `logging`,
`checkpoint`, `setup` and `other`. Because the ledger switches from one account to the next at a
single reading of the time, the accounts add up to the wall time exactly. The runner waits for the
device inside the submission account (`backend.sync`), so queued work is charged to the submission.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

from harness.logs import TIME_ACCOUNTS

# The harness's time function, bound when the harness is imported: the loader imports this module
# before any submission module, so a submission that patches `time.perf_counter` cannot reach it.
perf_counter = time.perf_counter


class Ledger:
    def __init__(self, time_fn: Callable[[], float] = perf_counter, totals: dict | None = None):
        self._time = time_fn
        self.totals = {name: 0.0 for name in TIME_ACCOUNTS}
        self.totals.update(totals or {})
        self._account = "setup"
        self._since = time_fn()

    @property
    def account(self) -> str:
        return self._account

    def switch(self, account: str) -> None:
        """Close the current account at this instant and open `account`."""
        if account not in self.totals:
            raise ValueError(f"unknown time account {account!r}")
        now = self._time()
        self.totals[self._account] += now - self._since
        self._account, self._since = account, now

    @contextmanager
    def charge(self, account: str) -> Iterator[None]:
        """Charge the enclosed block to `account`, then return to the previous account."""
        previous = self._account
        self.switch(account)
        try:
            yield
        finally:
            self.switch(previous)

    def read(self) -> dict[str, float]:
        """All accounts as of now (the open account included) and their sum, `total_duration`."""
        totals = dict(self.totals)
        totals[self._account] += self._time() - self._since
        return {**totals, "total_duration": sum(totals.values())}

    @property
    def submission_time(self) -> float:
        """Accumulated submission time, as of the last switch (a submission step is never split)."""
        return self.totals["submission"] + (
            self._time() - self._since if self._account == "submission" else 0.0
        )
