"""CPU steal accounting (harness/host_load.py): the fraction over the chosen cores, where it is
recorded and flagged: test_runner_timing (meta.json) and test_study (the progress lines)."""

from __future__ import annotations

import sys
from collections import namedtuple

import pytest

from harness import host_load

Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")


def fake_cpu_times(monkeypatch, samples):
    """psutil.cpu_times(percpu=True) returns the next of `samples` (a list of per-CPU lists)."""
    calls = iter(samples)
    monkeypatch.setattr(host_load.psutil, "cpu_times", lambda percpu: next(calls))


def test_the_fraction_is_steal_over_all_cpu_time_of_the_chosen_cores_only(monkeypatch):
    idle = Times(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    later = [Times(6, 0, 1, 1, 0, 0, 0, 2, 5, 0),  # 10 s in all (guest is inside user), 2 stolen
             Times(0, 0, 0, 0, 0, 0, 0, 50, 0, 0)]  # core 1: not measured
    fake_cpu_times(monkeypatch, [[idle, idle], later])
    meter = host_load.StealMeter(cores=[0])
    assert meter.fraction() == pytest.approx(0.2)


def test_no_fraction_where_steal_is_not_counted_or_no_time_passed(monkeypatch):
    Mac = namedtuple("Mac", "user nice system idle")
    fake_cpu_times(monkeypatch, [[Mac(1, 0, 1, 1)], [Mac(2, 0, 1, 1)]])
    assert host_load.StealMeter(cores=[0]).fraction() is None
    same = [Times(1, 0, 0, 0, 0, 0, 0, 0, 0, 0)]
    fake_cpu_times(monkeypatch, [same, same])
    assert host_load.StealMeter(cores=[0]).fraction() is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="steal is counted on Linux")
def test_this_machine_gives_a_fraction_between_0_and_1():
    meter = host_load.StealMeter()
    sum(i * i for i in range(300_000))  # some CPU time on this process's cores
    assert 0.0 <= meter.fraction() <= 1.0


def test_only_a_contended_host_is_described():
    assert host_load.describe(None) == "" and host_load.describe(0.049) == ""
    assert host_load.describe(0.31) == "host steal 31% (contended host: repeat to time it)"



def test_a_trials_fraction_is_read_from_meta_and_malformed_values_are_unknown():
    assert host_load.of_trial({"final": {"host_steal_fraction": 0.25}}) == 0.25
    assert host_load.of_trial({"final": {"host_steal_fraction": "lots"}}) is None
    assert host_load.of_trial({"status": "running"}) is None


def test_the_largest_known_fraction_fills_a_table_cell():
    assert host_load.largest([0.02, None, 0.374]) == "37%"
    assert host_load.largest([None, None]) == "-" and host_load.largest([]) == "-"
