"""Likelihood-displacement risk of preference pairs, scored before training (Razin et al. 2024, arXiv 2410.08847).

The scoring functions (`prefbuild.displacement.ches`) import torch; they load on first use, so that the folder writer,
which only needs `prefbuild.displacement.scores` for the summaries and the card, keeps `prefbuild build` free of
torch (about 0.35 GiB of resident memory and seconds of start-up, in the parent and every worker process).
"""

__all__ = ["ches_for_rows", "ches_from_ids", "ches_from_sums", "tokenize_pairs"]


def __getattr__(name: str):
    if name in __all__:
        from prefbuild.displacement import ches

        return getattr(ches, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
