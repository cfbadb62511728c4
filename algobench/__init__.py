"""The applications built on the harness and scoring: the `algobench` command line (cli.py) and
the reference leaderboard (leaderboard.py). Nothing in harness, scoring or workloads imports this
package (tests/test_architecture.py)."""
