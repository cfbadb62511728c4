"""`conformer`: being built (see workloads/data/speech.py for the data)."""

SPECS = []
