"""The original page's code, verbatim, against nbsupport on the real MNIST split."""

import re

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import OneCycleLR

import nbsupport
from test_data import _real_mnist_or_skip

PAGE_CODE = '''
epochs = 3
model = mnist_model().to(DEVICE)
loss_fn = F.cross_entropy
optim = torch.optim.AdamW(model.parameters(), lr=0.001)
scheduler = OneCycleLR(optim, max_lr=0.01, steps_per_epoch=len(dl_train), epochs=epochs)
scheduler_stats = SchedulerStatsCallback(optim)
trainer = Trainer(model, optim, loss_fn, scheduler, callbacks=[scheduler_stats])
trainer.run(epochs=epochs, train_loader=dl_train, valid_loader=dl_valid)
'''


def test_page_code_runs_unchanged_for_one_epoch(capsys):
    _real_mnist_or_skip()
    nbsupport.seed_everything(0)
    dl_train, dl_valid = nbsupport.mnist_loaders(scaling="page")
    namespace = dict(torch=torch, F=F, OneCycleLR=OneCycleLR, dl_train=dl_train, dl_valid=dl_valid,
                     DEVICE=nbsupport.DEVICE, mnist_model=nbsupport.mnist_model, Trainer=nbsupport.Trainer,
                     SchedulerStatsCallback=nbsupport.SchedulerStatsCallback)
    # One epoch keeps the suite short; the one-cycle chapter runs all three under nbval.
    exec(PAGE_CODE.replace("epochs = 3", "epochs = 1"), namespace)
    (line,) = capsys.readouterr().out.splitlines()
    match = re.fullmatch(r"\[Epoch: 1/1\]  loss: (\d\.\d{4})  acc: (\d\.\d{4})  "
                         r"val_loss: (\d\.\d{4})  val_acc: (\d\.\d{4})", line)
    assert match, line
    assert float(match[4]) > 0.9  # chance is 0.1
    assert len(namespace["scheduler_stats"].lr) == len(dl_train)
