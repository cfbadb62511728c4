"""Settings of the whole test suite.

The host calibration (harness/calibration.py) is off in every trial the tests run, in this process
and in the trial processes it starts (they inherit the environment): it costs about half a second
a trial and no test but those that ask for it checks it. A test that checks the calibration of a
real trial turns it back on with `monkeypatch.delenv(SKIP_CALIBRATION)`; the runner's
calibration is tested with a fake clock in tests/harness/test_calibration.py.
"""

import os

from harness.trial import SKIP_CALIBRATION

os.environ[SKIP_CALIBRATION] = "1"
