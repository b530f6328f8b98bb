"""Likelihood-displacement risk of preference pairs, scored before training (Razin et al. 2024, arXiv 2410.08847)."""

from prefbuild.displacement.ches import ches_for_rows, ches_from_ids, ches_from_sums, tokenize_pairs

__all__ = ["ches_for_rows", "ches_from_ids", "ches_from_sums", "tokenize_pairs"]
