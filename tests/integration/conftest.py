"""pytest glue: a `moat` fixture that starts a fresh daemon per test (the
factory form `moat_factory` takes settings) and prints the daemon's log
when a test fails."""

import pytest

from moat_harness import Moat, PASSWORD

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "WARNING: ThreadSanitizer",
                   "runtime error:")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def moat_factory(request):
    instances = []

    def make(settings=None, users=("demo@example.test",), start=True):
        m = Moat(settings)
        instances.append(m)
        for u in users:
            m.add_user(u)
        if start:
            m.start()
        return m

    yield make
    failed = getattr(request.node, "rep_call", None)
    reports = []
    for m in instances:
        m.stop()
        log = m.log()
        # Under ASan/UBSan a report in the daemon's log fails the test.
        if any(s in log for s in SANITIZER_MARKS):
            reports.append(m.top)
        if (failed is not None and failed.failed) or reports:
            print("\n===== moatd log (%s) =====\n%s" % (m.top, log))
        m.cleanup()
    assert not reports, "sanitizer report in the moatd log"


@pytest.fixture
def moat(moat_factory):
    return moat_factory()


@pytest.fixture
def password():
    return PASSWORD
