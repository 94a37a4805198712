import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from nbsupport import LRFinderResult, plot_lr_finder, plot_training_curves  # noqa: E402


def test_training_curves_has_the_page_layout():
    log = {"loss": [2.0, 1.0, 0.5], "loss_avg": [2.0, 1.5, 1.2], "accs": [0.1, 0.5, 0.9], "accs_avg": [0.1, 0.3, 0.5]}
    fig = plot_training_curves(log, lr=[1e-3, 1e-2, 1e-4], momentum=[0.95, 0.85, 0.95])
    top, bottom = fig.axes[0], fig.axes[1]
    assert tuple(fig.get_size_inches()) == (8, 4)
    assert len(fig.axes) == 4  # loss + twin accuracy, lr + twin beta1
    assert top.get_position().height > 3 * bottom.get_position().height
    assert [len(line.get_ydata()) for line in top.lines] == [3, 3]
    assert fig.axes[3].get_ylabel() == "beta1"
    plt.close(fig)


def test_lr_finder_plot_marks_suggestions():
    result = LRFinderResult(lrs=[1e-4, 1e-3, 1e-2], losses=[2.3, 1.5, 3.0], smoothed=[2.3, 1.8, 2.0],
                            suggestions={"steepest": 1e-3, "valley": 1e-3})
    fig = result.plot()
    ax = fig.axes[0]
    assert plot_lr_finder(result, title="a title").axes[0].get_title() == "a title"
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "steepest: 0.001" in labels and "valley: 0.001" in labels
    plt.close(fig)
