"""The notes' own code (``course_utils.training.notes_code``): the notebooks' cells are the package's
copy, word for word, and ``fit`` is the notes' ``train_model`` plus conveniences: on the CPU, with
one seed and the same batches, both give the same per-epoch losses and accuracies."""

from __future__ import annotations

import ast
import inspect
import io
from contextlib import redirect_stdout
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.models.inception import InceptionOutputs

from course_utils.lessons.architectures import FirstCNN
from course_utils.training import notes_code
from course_utils.training.loop import fit

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
BORN_IN = {  # function -> the notebook whose code cell defines it, as the package has it
    "train_model": "05-classic-architectures",
    "set_parameter_requires_grad": "06-flowers-transfer-learning",
    "initialize_model": "06-flowers-transfer-learning",
}
TOLERANCE = 1e-4


def defined_in_notebook(notebook: str, name: str) -> list[str]:
    """The source of every ``def name`` in the notebook's code cells, exercises' answers aside."""
    cells = nbformat.read(NOTEBOOKS / f"{notebook}.ipynb", as_version=4).cells
    found = []
    for cell in cells:
        if cell.cell_type != "code" or f"def {name}(" not in cell.source or "solution" in cell.metadata.get("tags", []):
            continue  # (an exercise's answer cell may write it again)
        tree = ast.parse("\n".join(line for line in cell.source.splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
        found += [ast.get_source_segment(cell.source, node) for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name == name]
    return found


@pytest.mark.parametrize("name", list(BORN_IN))
def test_the_notebook_cell_is_the_package_copy(name):
    cells = defined_in_notebook(BORN_IN[name], name)
    assert len(cells) == 1, f"{BORN_IN[name]} should define {name} in exactly one code cell, found {len(cells)}"
    package = inspect.getsource(getattr(notes_code, name)).rstrip()
    assert cells[0].rstrip() == package, (
        f"{name} in notebook {BORN_IN[name]} differs from course_utils/training/notes_code.py: "
        "edit both (the notebook teaches it, the package's copy is what the tests and benchmark run)")


def digits(n: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 28, 28, generator=generator), torch.randint(0, 10, (n,), generator=generator))


def loaders(train: TensorDataset, valid: TensorDataset) -> dict[str, DataLoader]:
    """Fresh loaders that shuffle the training set from seed 0 (the same batches on both sides)."""
    return {"train": DataLoader(train, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0)),
            "valid": DataLoader(valid, batch_size=32)}


def notes_run(model: nn.Module, data: dict, epochs: int, tmp_path: Path, *, is_inception: bool = False) -> tuple:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
    with redirect_stdout(io.StringIO()):
        return notes_code.train_model(model, data, nn.CrossEntropyLoss(), optimizer, scheduler, num_epochs=epochs,
                                      is_inception=is_inception, filename=str(tmp_path / "notes.pth"))


def fit_run(model: nn.Module, data: dict, epochs: int, context) -> object:
    """fit in the notes' memory layout (channels_last adds in another order: the last digits would differ)."""
    context = replace(context, channels_last=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
    return fit(model, data["train"], data["valid"], epochs=epochs, optimizer=optimizer, scheduler=scheduler,
               context=context, seed=None, progress=False)  # seed=None: the loaders' own generators decide


def test_fit_gives_the_notes_loop_per_epoch_losses_and_accuracies(tmp_path, context):
    train, valid = digits(96, seed=1), digits(40, seed=2)
    torch.manual_seed(0)
    notes_model = FirstCNN()
    torch.manual_seed(0)
    fit_model = FirstCNN()
    epochs = 3
    _, val_acc, train_acc, valid_losses, train_losses, LRs = notes_run(notes_model, loaders(train, valid), epochs,
                                                                       tmp_path)
    history = fit_run(fit_model, loaders(train, valid), epochs, context)

    assert len(train_losses) == history.epochs == epochs
    for ours, notes in ((history.train_loss, train_losses), (history.val_loss, valid_losses),
                        (history.train_acc, train_acc), (history.val_acc, val_acc)):
        assert max(abs(a - b) for a, b in zip(ours, notes, strict=True)) < TOLERANCE, (ours, notes)
    assert history.lr == LRs[1:]  # the notes' list starts with the rate before the first epoch
    assert len(set(LRs)) == epochs  # StepLR(1, 0.1) visibly decays
    assert history.best_acc == max(val_acc) and history.best_epoch == val_acc.index(max(val_acc)) + 1
    for name, tensor in notes_model.state_dict().items():  # both keep the best epoch's weights
        assert torch.allclose(tensor, fit_model.state_dict()[name], atol=TOLERANCE), name
    saved = torch.load(tmp_path / "notes.pth", weights_only=True)  # the notes' checkpoint
    assert set(saved) == {"state_dict", "best_acc", "optimizer"} and saved["best_acc"] == max(val_acc)


def test_the_loop_would_see_a_difference(tmp_path, context):
    """The comparison can fail: another learning rate on one side moves the losses by more than the tolerance."""
    train, valid = digits(96, seed=1), digits(40, seed=2)
    torch.manual_seed(0)
    notes_model = FirstCNN()
    torch.manual_seed(0)
    fit_model = FirstCNN()
    _, _, _, _, train_losses, _ = notes_run(notes_model, loaders(train, valid), 1, tmp_path)
    optimizer = torch.optim.Adam(fit_model.parameters(), lr=2e-3)
    data = loaders(train, valid)
    history = fit(fit_model, data["train"], data["valid"], epochs=1, optimizer=optimizer, context=context,
                  seed=None, progress=False)
    assert abs(history.train_loss[0] - train_losses[0]) > TOLERANCE


class TinyInception(nn.Module):
    """Inception-v3's interface in miniature: (logits, aux_logits) in training mode, logits otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 16), nn.ReLU())
        self.fc, self.aux = nn.Linear(16, 10), nn.Linear(16, 10)

    def forward(self, x: torch.Tensor):
        h = self.body(x)
        return InceptionOutputs(self.fc(h), self.aux(h)) if self.training else self.fc(h)


def test_is_inception_adds_the_auxiliary_loss_as_fit_does(tmp_path, context):
    train, valid = digits(64, seed=3), digits(32, seed=4)
    torch.manual_seed(0)
    notes_model = TinyInception()
    torch.manual_seed(0)
    fit_model = TinyInception()
    _, val_acc, _, valid_losses, train_losses, _ = notes_run(notes_model, loaders(train, valid), 2, tmp_path,
                                                             is_inception=True)
    history = fit_run(fit_model, loaders(train, valid), 2, context)
    assert max(abs(a - b) for a, b in zip(history.train_loss, train_losses, strict=True)) < TOLERANCE
    assert max(abs(a - b) for a, b in zip(history.val_loss, valid_losses, strict=True)) < TOLERANCE
    with pytest.raises(TypeError, match="InceptionOutputs"):  # without is_inception the pair reaches the loss
        notes_run(TinyInception(), loaders(train, valid), 1, tmp_path, is_inception=False)


@pytest.mark.parametrize("name", notes_code.NOTES_MODELS)
def test_initialize_model_builds_the_notes_model_list(name):
    with torch.device("meta"):  # shapes only: no download, no memory
        model, input_size = notes_code.initialize_model(name, 102, feature_extract=True, use_pretrained=False)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith(("fc", "classifier", "AuxLogits.fc")) for n in trainable), trainable
    assert input_size == (299 if name == "inception" else 224)
    model.eval()
    with torch.device("meta"):
        out = model(torch.zeros(2, 3, input_size, input_size))
    assert tuple(out.shape) == (2, 102)
    with pytest.raises(ValueError, match="choose one of"):
        notes_code.initialize_model("resnet9000", 102, feature_extract=True)
