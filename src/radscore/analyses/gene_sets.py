"""Published TME cell-type gene sets shipped as package data (PROTOCOL B1).

``data/tme_cell_types.json`` holds the 24 immune cell types of Bindea et al., Immunity
2013;39:782-795 (Table S1) with their source, the repository and commit they were read
from, the licence note, the cell types counted as immune for naming the hot cluster, and
newer HGNC symbols of published symbols renamed since 2013. The lists are data, not code:
this module only reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from radscore.errors import DataError

DATA_FILE = "tme_cell_types.json"


@dataclass(frozen=True)
class GeneSetCollection:
    """Named gene sets with their provenance.

    Attributes
    ----------
    name, source, licence : str
        What the collection is, the paper it comes from, and the licence note.
    retrieved_from : dict of str to str
        Repository, path and commit the lists were read from.
    immune : tuple of str
        Cell types counted as immune effector/antigen-presenting (``immune_note`` says why).
    immune_note : str
    aliases : dict of str to str
        Published symbol -> newer HGNC symbol (``aliases_note`` says where each comes from).
    aliases_note : str
    sets : dict of str to tuple of str
        Cell type -> gene symbols as published.
    """

    name: str
    source: str
    retrieved_from: dict[str, str]
    licence: str
    immune: tuple[str, ...]
    immune_note: str
    aliases: dict[str, str]
    aliases_note: str
    sets: dict[str, tuple[str, ...]]


@lru_cache(maxsize=1)
def tme_cell_types() -> GeneSetCollection:
    """The shipped Bindea 2013 collection (read once; the result is immutable)."""
    raw = json.loads(resources.files("radscore.analyses").joinpath("data", DATA_FILE).read_text("utf-8"))
    return GeneSetCollection(
        name=raw["name"], source=raw["source"], retrieved_from=dict(raw["retrieved_from"]), licence=raw["licence"],
        immune=tuple(raw["immune"]), immune_note=raw["immune_note"], aliases=dict(raw["aliases"]),
        aliases_note=raw["aliases_note"], sets={k: tuple(v) for k, v in raw["sets"].items()})


def tme_gene_sets() -> dict[str, list[str]]:
    """Cell type -> published gene symbols of the shipped collection (a fresh copy)."""
    return {k: list(v) for k, v in tme_cell_types().sets.items()}


def resolve_gene_sets(gene_sets: Mapping[str, Sequence[str]], genes: Iterable[str],
                      aliases: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Each set's genes as named in the expression table.

    A gene present under its own symbol is kept; one absent whose alias (newer symbol) is
    present is replaced by the alias; others are dropped. Duplicates are kept once.

    Parameters
    ----------
    gene_sets : mapping of str to sequence of str
    genes : iterable of str
        The expression table's gene symbols.
    aliases : mapping of str to str, optional
        Published symbol -> newer symbol.

    Returns
    -------
    dict of str to list of str
        Every set, possibly empty, in the order given.
    """
    have = set(genes)
    aliases = aliases or {}
    out: dict[str, list[str]] = {}
    for name, members in gene_sets.items():
        if isinstance(members, str):
            raise DataError(f"gene set '{name}' is a string, not a list of genes.", fix="give a list of gene symbols.")
        found: list[str] = []
        for g in members:
            g = g if g in have else aliases.get(g, g)
            if g in have and g not in found:
                found.append(g)
        out[name] = found
    return out
