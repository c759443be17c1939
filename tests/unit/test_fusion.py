"""Reciprocal-rank fusion of the dense and lexical rankings."""

from ragls.core.retrieval import fuse_rankings


def test_first_in_every_ranking_scores_one():
    fused = fuse_rankings([[(1, 0.9), (2, 0.5)], [(1, 7.0), (3, 2.0)]])
    assert fused[0] == (1, 1.0)
    assert {item for item, _ in fused} == {1, 2, 3}


def test_weights_let_the_heavier_ranking_win_a_disagreement():
    dense, lexical = [(10, 0.9), (20, 0.8)], [(20, 5.0), (10, 1.0)]
    assert fuse_rankings([dense, lexical])[0][1] == fuse_rankings([dense, lexical])[1][1]  # a tie
    assert fuse_rankings([dense, lexical], weights=[2.0, 1.0])[0][0] == 10
    assert fuse_rankings([dense, lexical], weights=[1.0, 2.0])[0][0] == 20


def test_an_item_found_by_one_ranking_only_still_appears():
    fused = dict(fuse_rankings([[(1, 0.9)], []], weights=[2.0, 1.0]))
    assert 0 < fused[1] < 1
