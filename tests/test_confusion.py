"""course_utils.analysis.confusion: per-class accuracy, worst classes, confused pairs, readable orders."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_utils.analysis.confusion import (  # noqa: E402
    class_order,
    confusion_matrix,
    examples_of,
    per_class_accuracy,
    plot_confusion,
    show_confusion_examples,
    top_confusions,
    worst_classes,
)
from course_utils.analysis.predictions import Predictions

NAMES = ["rose", "tulip", "daisy", "lily", "iris"]
# rows: true class, columns: predicted. rose and lily are taken for each other; tulip and iris too;
# daisy is always right.
MATRIX = torch.tensor([
    [6, 0, 0, 4, 0],  # rose: 6 right, 4 taken for lily
    [0, 7, 0, 0, 3],  # tulip: 3 taken for iris
    [0, 0, 9, 0, 0],  # daisy: all right
    [3, 0, 0, 1, 0],  # lily: 3 taken for rose
    [0, 2, 0, 0, 3],  # iris: 2 taken for tulip
])


def predictions_of(matrix: torch.Tensor) -> Predictions:
    """Predictions whose confusion matrix is ``matrix`` (one row per image)."""
    targets, predicted = [], []
    for t in range(matrix.shape[0]):
        for p in range(matrix.shape[1]):
            targets += [t] * int(matrix[t, p])
            predicted += [p] * int(matrix[t, p])
    top = torch.tensor(predicted)[:, None]
    return Predictions(torch.tensor(targets), top, torch.ones_like(top, dtype=torch.float))


def test_the_matrix_of_predictions_is_the_one_described():
    assert torch.equal(confusion_matrix(predictions_of(MATRIX), 5), MATRIX)


def test_per_class_accuracy_is_the_diagonal_over_the_row():
    expected = torch.tensor([0.6, 0.7, 1.0, 0.25, 0.6], dtype=torch.float64)
    torch.testing.assert_close(per_class_accuracy(MATRIX), expected)
    with_empty = MATRIX.clone()
    with_empty[2] = 0  # a class without validation images
    accuracy = per_class_accuracy(with_empty)
    assert torch.isnan(accuracy[2]) and not torch.isnan(accuracy[[0, 1, 3, 4]]).any()


def test_worst_classes_with_what_they_are_taken_for():
    """Lowest accuracy first; equal accuracies: the class with more images first (rose 6/10 before iris 3/5)."""
    worst = worst_classes(MATRIX, NAMES, n=5)
    assert [w.name for w in worst] == ["lily", "rose", "iris", "tulip", "daisy"]
    lily = worst[0]
    assert (lily.index, lily.correct, lily.total, lily.accuracy) == (3, 1, 4, 0.25)
    assert (lily.taken_for, lily.taken_for_count) == ("rose", 3)
    daisy = worst[-1]
    assert daisy.taken_for is None and daisy.taken_for_count == 0
    with_empty = MATRIX.clone()
    with_empty[3] = 0
    assert "lily" not in [w.name for w in worst_classes(with_empty, NAMES, n=5)]


def test_top_confusions_are_the_largest_off_diagonal_cells():
    pairs = top_confusions(MATRIX, NAMES, n=3)
    assert [(p.true_name, p.predicted_name, p.count) for p in pairs] == [
        ("rose", "lily", 4), ("tulip", "iris", 3), ("lily", "rose", 3)]  # tie 3-3: lower true index first
    assert len(top_confusions(MATRIX, NAMES, n=100)) == 4  # only the non-zero mistakes
    assert top_confusions(torch.eye(3, dtype=torch.long) * 5, NAMES[:3]) == []
    assert (pairs[0].reverse, pairs[0].both_ways) == (3, 7)  # lily was taken for rose 3 times


def test_top_confusions_both_ways_list_each_pair_once():
    pairs = top_confusions(MATRIX, NAMES, n=5, both_ways=True)
    assert [(p.true_name, p.predicted_name, p.count, p.reverse) for p in pairs] == [
        ("rose", "lily", 4, 3), ("tulip", "iris", 3, 2)]
    one_way = MATRIX.clone()
    one_way[3, 0] = 0
    one_way[0, 3] = 0
    one_way[4, 2] = 2  # iris taken for daisy twice, never the reverse
    pairs = top_confusions(one_way, NAMES, n=5, both_ways=True)
    assert [(p.true_name, p.predicted_name, p.both_ways) for p in pairs] == [("tulip", "iris", 5), ("iris", "daisy", 2)]


def test_order_by_accuracy_puts_the_worst_first():
    assert class_order(MATRIX, by="accuracy") == [3, 0, 4, 1, 2]


def test_clustered_order_puts_confused_classes_next_to_each_other():
    order = class_order(MATRIX, by="cluster")
    assert sorted(order) == [0, 1, 2, 3, 4]
    position = {c: i for i, c in enumerate(order)}
    assert abs(position[0] - position[3]) == 1  # rose next to lily
    assert abs(position[1] - position[4]) == 1  # tulip next to iris


def test_clustering_finds_blocks_in_a_larger_shuffled_matrix():
    """Four groups of five look-alike classes, listed in a scrambled order: the order finds the groups."""
    generator = torch.Generator().manual_seed(0)
    groups = torch.arange(20) // 5
    matrix = torch.zeros(20, 20, dtype=torch.long)
    for t in range(20):
        for p in range(20):
            if t == p:
                matrix[t, p] = 10
            elif groups[t] == groups[p]:
                matrix[t, p] = int(torch.randint(1, 4, (), generator=generator))
    scramble = torch.randperm(20, generator=generator)
    scrambled = matrix[scramble][:, scramble]
    order = class_order(scrambled, by="cluster")
    found_groups = [int(groups[scramble[c]]) for c in order]
    # each group appears as one run of five
    runs = [found_groups[i:i + 5] for i in range(0, 20, 5)]
    assert all(len(set(run)) == 1 for run in runs), found_groups


def test_examples_of_a_confusion():
    predictions = predictions_of(MATRIX)
    found = examples_of(predictions.targets, predictions.predicted, 3, 0)
    assert len(found) == 3
    assert all(int(predictions.targets[i]) == 3 and int(predictions.predicted[i]) == 0 for i in found)
    assert len(examples_of(predictions.targets, predictions.predicted, 2, 2)) == 9
    with pytest.raises(ValueError, match="shape"):
        examples_of(torch.zeros(3), torch.zeros(4), 0, 0)


def test_plot_shows_the_reordered_row_normalised_matrix():
    order = [3, 0, 4, 1, 2]
    ax = plot_confusion(MATRIX, NAMES, order)
    shown = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    rates = (MATRIX[order][:, order].double() / MATRIX[order].sum(1, keepdim=True)).numpy()
    np.testing.assert_allclose(np.nan_to_num(shown), rates)
    assert np.isnan(shown[0, 3])  # an empty cell is left blank
    assert [t.get_text() for t in ax.get_yticklabels()] == ["lily", "rose", "iris", "tulip", "daisy"]
    plt.close("all")


def test_examples_figure_has_two_photos_per_confusion():
    pairs = top_confusions(MATRIX, NAMES, n=2)
    photo = np.zeros((8, 8, 3))
    fig = show_confusion_examples(pairs, [photo, photo], [photo, photo])
    assert len(fig.axes) == 4 and "taken for\nlily ×4, and back ×3" in fig.axes[0].get_title()
    assert fig.axes[3].get_title() == "a real\niris"
    with pytest.raises(ValueError, match="one mistaken"):
        show_confusion_examples(pairs, [photo], [photo, photo])
    plt.close("all")


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="square"):
        per_class_accuracy(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="counts"):
        per_class_accuracy(torch.rand(3, 3))
    with pytest.raises(ValueError, match="class names"):
        worst_classes(MATRIX, NAMES[:3])
    with pytest.raises(ValueError, match="by must be"):
        class_order(MATRIX, by="name")
    with pytest.raises(ValueError, match="order"):
        plot_confusion(MATRIX, NAMES, [0, 0, 1])


def test_mistake_distance_counts_how_far_mistakes_lie_from_the_diagonal():
    from course_utils.analysis.confusion import mistake_distance

    matrix = torch.tensor([[5, 0, 2], [0, 5, 0], [1, 0, 5]])  # classes 0 and 2 are taken for each other
    assert mistake_distance(matrix, [0, 1, 2]) == pytest.approx(2.0)
    assert mistake_distance(matrix, [0, 2, 1]) == pytest.approx(1.0)  # look-alikes side by side
    assert mistake_distance(torch.eye(3, dtype=torch.long), [2, 1, 0]) == 0.0
    with pytest.raises(ValueError, match="every class"):
        mistake_distance(matrix, [0, 1])


def test_mistake_distances_give_one_value_per_mistake_in_the_same_order_for_any_order():
    from course_utils.analysis.confusion import mistake_distance, mistake_distances

    matrix = torch.tensor([[4, 0, 2], [0, 5, 0], [1, 0, 3]])
    assert mistake_distances(matrix, [0, 1, 2]).tolist() == [2.0, 2.0, 2.0]  # the cell of 2 counts twice
    assert mistake_distances(matrix, [0, 2, 1]).tolist() == [1.0, 1.0, 1.0]  # the same mistakes, paired
    assert float(mistake_distances(matrix, [1, 0, 2]).mean()) == pytest.approx(mistake_distance(matrix, [1, 0, 2]))
    assert len(mistake_distances(torch.eye(3, dtype=torch.long), [0, 1, 2])) == 0
