"""Molecular graphs with structure-derived binary labels, from the NCI molecules RDKit ships.

The source is ``rdkit/Data/NCI/first_5K.smi`` inside RDKit's wheel (4,999 SMILES from the NCI
open database). Each molecule becomes one graph padded to ``MAX_NODES`` atoms and ``MAX_EDGES``
directed bonds (both directions of every bond), with OGB-style atom and bond features, and
``len(TASKS)`` binary labels that RDKit computes from the structure (functional groups by SMARTS,
thresholds on computed properties, and similarity to reference drugs: the stand-in for
OGBG-molpcba's assays).
Molecules RDKit cannot parse and those with more than ``MAX_NODES`` atoms are dropped.

Arrays per split (N graphs):

- ``nodes``     float32 (N, MAX_NODES, NODE_FEATURES): atom features, zero for padding atoms
- ``edges``     float32 (N, MAX_EDGES, EDGE_FEATURES): bond features, zero for padding edges
- ``senders``, ``receivers`` int32 (N, MAX_EDGES): atom indices within the graph; padding edges
  point at atom 0
- ``node_mask`` float32 (N, MAX_NODES), ``edge_mask`` float32 (N, MAX_EDGES): 1 real, 0 padding
- ``targets``   float32 (N, len(TASKS)): 0/1

RDKit is imported only while building; a process that finds the cache never imports it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .cache import cached_arrays
from .splits import split_indices

__all__ = [
    "EDGE_FEATURES", "GRAPH_KEYS", "MAX_EDGES", "MAX_NODES", "NODE_FEATURES", "SPLIT_SEED",
    "TASKS", "build_graphs", "load_molecules", "nci_smiles",
]

MAX_NODES = 40  # keeps 4,906 of the 4,991 parsable molecules (98.3%)
MAX_EDGES = 96  # directed edges; the largest kept molecule has 47 bonds
SPLIT_SEED = 0
NUM_VALIDATION = 500
NUM_TEST = 500
GRAPH_KEYS = ("nodes", "edges", "senders", "receivers", "node_mask", "edge_mask")
_FORMAT_VERSION = 1  # bump when the processing below changes

# Atom features (one-hot groups, then flags): element, degree, formal charge, hybridization,
# total hydrogens, aromatic, in a ring.
ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P")  # and one slot for any other element
DEGREES = 6  # 0..4, and 5 or more
CHARGES = 3  # negative, zero, positive
HYBRIDIZATIONS = ("SP", "SP2", "SP3")  # and one slot for any other
HYDROGENS = 4  # 0..2, and 3 or more
NODE_FEATURES = (len(ELEMENTS) + 1) + DEGREES + CHARGES + (len(HYBRIDIZATIONS) + 1) + HYDROGENS + 2
# Bond features: type (single, double, triple, aromatic; any other counts as single), conjugated,
# in a ring.
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
EDGE_FEATURES = len(BOND_TYPES) + 2

# The labels. Functional groups: (name, SMARTS), present or not. Properties: thresholds on RDKit's
# descriptors (`_labels`). Similarity: Tanimoto similarity of the Morgan fingerprint (radius 2,
# 2,048 bits) to a reference drug among the top 10% of the kept molecules', a stand-in for an
# assay's actives (the similar-property principle); these are the hard tasks. Every task has
# 7-35% positives (docs/workloads/gnn.md).
SMARTS_TASKS = (
    ("carboxylic_acid", "[CX3](=O)[OX1H0-,OX2H1]"),
    ("ester", "[#6][CX3](=O)[OX2H0][#6]"),
    ("amide", "[NX3][CX3](=[OX1])"),
    ("primary_amine", "[NX3;H2;!$(NC=[O,S,N])][#6]"),
    ("alcohol", "[OX2H][CX4]"),
    ("ketone", "[#6][CX3](=O)[#6]"),
    ("nitro", "[$([NX3](=O)=O),$([NX3+](=O)[O-])]"),
    ("sulfonyl", "[SX4](=O)(=O)"),
)
PROPERTY_TASKS = (
    "fused_rings", "chiral_center", "logp_gt_3", "tpsa_gt_90", "rotatable_bonds_gt_5",
    "lipinski_violation",
)
REFERENCE_DRUGS = (
    ("aspirin", "CC(=O)Oc1ccccc1C(=O)O"),
    ("caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"),
    ("ibuprofen", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"),
    ("paracetamol", "CC(=O)Nc1ccc(O)cc1"),
    ("nicotine", "CN1CCCC1c1cccnc1"),
    ("morphine", "CN1CCC23C4C1CC5=C2C(=C(C=C5)O)OC3C(C=C4)O"),
    ("diazepam", "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21"),
    ("chloroquine", "CCN(CC)CCCC(C)Nc1ccnc2cc(Cl)ccc12"),
    ("penicillin_g", "CC1(C)SC2C(NC(=O)Cc3ccccc3)C(=O)N2C1C(=O)O"),
    ("testosterone", "CC12CCC3C(CCC4=CC(=O)CCC34C)C1CCC2O"),
)
SIMILAR_FRACTION = 0.1  # the top fraction of molecules by similarity that is labelled positive
TASKS = (tuple(name for name, _ in SMARTS_TASKS) + PROPERTY_TASKS
         + tuple(f"similar_to_{name}" for name, _ in REFERENCE_DRUGS))


def nci_smiles() -> list[str]:
    """The SMILES of ``first_5K.smi`` in the installed RDKit wheel, in file order."""
    spec = importlib.util.find_spec("rdkit")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the gnn workloads' data needs RDKit: pip install rdkit")
    path = Path(next(iter(spec.submodule_search_locations))) / "Data" / "NCI" / "first_5K.smi"
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def load_molecules(num_validation: int = NUM_VALIDATION, num_test: int = NUM_TEST,
                   limit: int | None = None) -> dict[str, dict[str, np.ndarray]]:
    """The NCI graphs as ``{'train'|'validation'|'test': {GRAPH_KEYS..., 'targets'}}``.

    Built once (about 15 s) and cached; the split comes from
    ``split_indices(N, {'validation': 500, 'test': 500}, seed=SPLIT_SEED)`` over the kept
    molecules in file order (3,906 / 500 / 500). ``limit`` builds from the file's first
    ``limit`` SMILES only (for tests).
    """
    params = {"source": "rdkit/Data/NCI/first_5K.smi", "rdkit": importlib.metadata.version("rdkit"),
              "max_nodes": MAX_NODES, "max_edges": MAX_EDGES, "tasks": list(TASKS),
              "references": [smiles for _, smiles in REFERENCE_DRUGS],
              "similar_fraction": SIMILAR_FRACTION, "validation": num_validation, "test": num_test,
              "seed": SPLIT_SEED, "limit": limit, "format": _FORMAT_VERSION}
    flat = cached_arrays("nci_molecules", params,
                         lambda: _build_splits(nci_smiles()[:limit], num_validation, num_test))
    return {split: {key: flat[f"{split}.{key}"] for key in (*GRAPH_KEYS, "targets")}
            for split in ("train", "validation", "test")}


def _build_splits(smiles: Sequence[str], num_validation: int, num_test: int) -> dict[str, np.ndarray]:
    graphs = build_graphs(smiles)
    n = len(graphs["targets"])
    idx = split_indices(n, {"validation": num_validation, "test": num_test}, SPLIT_SEED)
    return {f"{split}.{key}": value[idx[split]]
            for split in ("train", "validation", "test") for key, value in graphs.items()}


def empty_graphs(n: int) -> dict[str, np.ndarray]:
    """`n` graphs with no atoms or bonds: the zeroed, fully padded input arrays, to be filled."""
    return {
        "nodes": np.zeros((n, MAX_NODES, NODE_FEATURES), np.float32),
        "edges": np.zeros((n, MAX_EDGES, EDGE_FEATURES), np.float32),
        "senders": np.zeros((n, MAX_EDGES), np.int32),
        "receivers": np.zeros((n, MAX_EDGES), np.int32),
        "node_mask": np.zeros((n, MAX_NODES), np.float32),
        "edge_mask": np.zeros((n, MAX_EDGES), np.float32),
    }


def build_graphs(smiles: Sequence[str]) -> dict[str, np.ndarray]:
    """Padded graph arrays and labels of the molecules in ``smiles`` that RDKit parses and that
    have at most ``MAX_NODES`` atoms, in input order (the module docstring lists the arrays)."""
    from rdkit import Chem, RDLogger  # lazy: only a cache miss needs RDKit

    RDLogger.DisableLog("rdApp.*")  # unparsable SMILES are expected; they are dropped silently
    patterns = [Chem.MolFromSmarts(s) for _, s in SMARTS_TASKS]
    mols = [m for m in map(Chem.MolFromSmiles, smiles) if m is not None and m.GetNumAtoms() <= MAX_NODES]
    n = len(mols)
    out = {**empty_graphs(n), "targets": np.zeros((n, len(TASKS)), np.float32)}
    for i, mol in enumerate(mols):
        for atom in mol.GetAtoms():
            out["nodes"][i, atom.GetIdx()] = _atom_features(atom)
        out["node_mask"][i, : mol.GetNumAtoms()] = 1.0
        for b, bond in enumerate(mol.GetBonds()):
            u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            features = _bond_features(bond)
            for e, (s, r) in enumerate(((u, v), (v, u))):
                out["edges"][i, 2 * b + e] = features
                out["senders"][i, 2 * b + e], out["receivers"][i, 2 * b + e] = s, r
        out["edge_mask"][i, : 2 * mol.GetNumBonds()] = 1.0
        out["targets"][i, : len(SMARTS_TASKS) + len(PROPERTY_TASKS)] = _labels(mol, patterns)
    out["targets"][:, len(SMARTS_TASKS) + len(PROPERTY_TASKS):] = _similar_to_references(mols)
    return out


def _one_hot(index: int, size: int) -> list[float]:
    v = [0.0] * size
    v[index] = 1.0
    return v


def _atom_features(atom) -> list[float]:
    symbol, hybrid = atom.GetSymbol(), str(atom.GetHybridization())
    element = ELEMENTS.index(symbol) if symbol in ELEMENTS else len(ELEMENTS)
    hybridization = HYBRIDIZATIONS.index(hybrid) if hybrid in HYBRIDIZATIONS else len(HYBRIDIZATIONS)
    charge = int(np.sign(atom.GetFormalCharge())) + 1
    return (_one_hot(element, len(ELEMENTS) + 1) + _one_hot(min(atom.GetDegree(), DEGREES - 1), DEGREES)
            + _one_hot(charge, CHARGES) + _one_hot(hybridization, len(HYBRIDIZATIONS) + 1)
            + _one_hot(min(atom.GetTotalNumHs(), HYDROGENS - 1), HYDROGENS)
            + [float(atom.GetIsAromatic()), float(atom.IsInRing())])


def _bond_features(bond) -> list[float]:
    kind = str(bond.GetBondType())
    return (_one_hot(BOND_TYPES.index(kind) if kind in BOND_TYPES else 0, len(BOND_TYPES))
            + [float(bond.GetIsConjugated()), float(bond.IsInRing())])


def _similar_to_references(mols) -> np.ndarray:
    """(len(mols), len(REFERENCE_DRUGS)) 0/1: whether a molecule's similarity to each reference
    is above the (1 - SIMILAR_FRACTION) quantile of all molecules' similarities to it."""
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fingerprints = [generator.GetFingerprint(m) for m in mols]
    out = np.zeros((len(mols), len(REFERENCE_DRUGS)), np.float32)
    for j, (_, smiles) in enumerate(REFERENCE_DRUGS):
        reference = generator.GetFingerprint(Chem.MolFromSmiles(smiles))
        similarity = np.array(DataStructs.BulkTanimotoSimilarity(reference, fingerprints))
        out[:, j] = similarity > np.quantile(similarity, 1.0 - SIMILAR_FRACTION)
    return out


def _labels(mol, patterns) -> list[float]:
    from rdkit import Chem
    from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

    weight, logp = Descriptors.MolWt(mol), Crippen.MolLogP(mol)
    chiral = Chem.FindMolChiralCenters(mol, includeUnassigned=True, useLegacyImplementation=False)
    lipinski = (weight > 500, logp > 5, Lipinski.NumHDonors(mol) > 5, Lipinski.NumHAcceptors(mol) > 10)
    properties = {
        "fused_rings": mol.HasSubstructMatch(Chem.MolFromSmarts("[R2]")),  # an atom in two rings
        "chiral_center": len(chiral) > 0,
        "logp_gt_3": logp > 3,
        "tpsa_gt_90": rdMolDescriptors.CalcTPSA(mol) > 90,
        "rotatable_bonds_gt_5": rdMolDescriptors.CalcNumRotatableBonds(mol) > 5,
        "lipinski_violation": any(lipinski),  # Lipinski's rule of five: MW, logP, HBD, HBA
    }
    return ([float(mol.HasSubstructMatch(p)) for p in patterns]
            + [float(properties[name]) for name in PROPERTY_TASKS])
