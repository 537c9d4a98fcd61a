"""Figures: PNG files drawn from tidy tables (matplotlib, no display needed)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

__all__ = ["plot_training"]


def plot_training(history, path, title=""):
    """Loss and accuracy against epoch for each split of a training history.

    Parameters
    ----------
    history : pandas.DataFrame
        As returned by :meth:`Trainer.fit <brian2_delgrad.training.Trainer.fit>`.
    path : str or Path
        PNG file to write.
    title : str
    """
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
    for split, rows in history.groupby("split", sort=False):
        loss_axis.plot(rows.epoch, rows.loss, label=split)
        accuracy_axis.plot(rows.epoch, 100 * rows.accuracy, label=split)
    loss_axis.set(xlabel="epoch", ylabel="loss", yscale="log")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(30, 100))
    accuracy_axis.axhline(100 / 3, color="0.7", lw=0.8, ls=":", label="chance")
    accuracy_axis.legend(loc="lower right")
    figure.suptitle(title)
    figure.savefig(path, dpi=120)
    plt.close(figure)
