"""The training loop: explicit, seeded, resumable.

One epoch = one pass over the training records in an order fixed by ``(seed, epoch)``; after each
epoch the model is scored on the validation split, the best checkpoint (by
``train.selection_metric``) is kept, and training stops early after ``train.patience`` epochs without
improvement. ``last.pt`` is written after every epoch with the optimiser, scheduler and RNG states,
so ``fit(resume=True)`` continues a killed run to exactly the result of an uninterrupted one.
The test split is never read here: :func:`xmer.scoring.evaluate_run` reads it, once.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from xmer.config import Config, flatten_config, load_config, save_config
from xmer.data.contract import modality_dropout
from xmer.data.dataset import Dataset
from xmer.data.from_config import open_dataset  # noqa: F401  (re-exported for one release)
from xmer.errors import ConfigError, DataError
from xmer.evaluation.evaluate import predict_records
from xmer.evaluation.metrics import compute_metrics
from xmer.evaluation.report import plot_curves
from xmer.guard import MARKER, check_output, made_by_xmer, mark
from xmer.io import is_temporary, sweep_temporaries
from xmer.locks import Lock
from xmer.modalities import SUBSETS, parse_subset
from xmer.models.system import build_system
from xmer.training.objectives import subsample_steps, translation_objectives
from xmer.io import atomic_write_json as write_json
from xmer.io import read_json
from xmer.training.checkpoint import environment, load_checkpoint, save_checkpoint
from xmer.training.distributed import Context, average_gradients, barrier, check_in_sync, init_from_env, shard

CHECKPOINTS = "checkpoints"
LOCK = ".lock"
RESUMABLE = ("train.epochs", "train.patience", "train.progress", "train.threads", "train.device")
"""Config keys a resumed run may change (they change neither the model nor the data)."""


@dataclass
class RunState:
    """Bookkeeping that a resumed run must continue from."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    best_score: float = -math.inf
    best_epoch: int = 0
    translator_epochs: int = 0  # pipeline strategy: translator-only epochs completed
    translator_steps: int = 0  # translator-only updates taken
    history: list[dict] = field(default_factory=list)
    translator_history: list[dict] = field(default_factory=list)  # pipeline strategy: translator-only epochs
    combinations: dict[str, int] = field(default_factory=dict)  # Algorithm 1 combinations used, by name
    config_changes: list[dict] = field(default_factory=list)  # changes allowed on resume: after_epoch, key -> [old, new]


def resolve_device(name: str) -> torch.device:
    """``train.device`` as a torch device; a ConfigError when this machine has no such device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ConfigError(f"config key 'train.device': {name!r} is not available here ({count} CUDA device(s)); "
                              "expected auto or cpu" + (f", or cuda:0..cuda:{count - 1}" if count else ""))
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"config key 'train.device': {name!r} is not available here; expected auto or cpu")
    return device


class Trainer:
    """Trains one model on one prepared dataset into a run folder (one process, or one rank of a
    torchrun job: see :mod:`xmer.training.distributed`)."""

    context = Context()  # not distributed unless __init__ finds torchrun's environment
    _pending_changes: dict = {}

    def __init__(self, config: Config, run_dir: str | Path, dataset: Dataset | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        self.dataset = dataset or open_dataset(config)
        self.device = resolve_device(config.train.device)
        self.context = init_from_env(self.device)
        if self.device.type == "cuda" and self.context.distributed:
            self.device = torch.device("cuda", self.context.local_rank)
            torch.cuda.set_device(self.device)
        if config.train.threads:
            torch.set_num_threads(config.train.threads)
        self.train_records = self.dataset.split("train", config.data.train_subsets, config.data.usage,
                                                config.data.complete_fraction)
        self.valid_records = self.dataset.split("valid")
        if not self.train_records:
            raise DataError(f"{self.dataset.root}: no training samples (split 'train', subsets {config.data.train_subsets!r})")
        if not self.valid_records:
            raise DataError(f"{self.dataset.root}: no validation samples (split 'valid')")
        self.input_dims = self.dataset.dims
        # The schedule counts the steps an epoch runs: a mixture draws its sources per epoch, so its
        # epoch holds the records drawn (first epoch's draw), not every record it could draw from.
        drawn = len(self.dataset.epoch(self.train_records, self._epoch_seed(1)))
        per_rank = math.ceil(drawn / self.context.world)
        self._build(len(self.dataset.labels), self.dataset.multi_label, math.ceil(per_rank / config.data.batch_size))

    def _build(self, num_classes: int, multi_label: bool, steps_per_epoch: int) -> None:
        """The model, its optimisers and the schedule (needs ``config``, ``device``, ``input_dims``)."""
        config, method = self.config, self.config.method
        torch.manual_seed(config.train.seed)
        self.model = build_system(config, self.input_dims, num_classes, multi_label)
        self.model.to(self.device)
        if method.strategy not in ("end_to_end", "pipeline"):
            raise ConfigError(f"method.strategy {method.strategy!r}: expected 'end_to_end' or 'pipeline'")
        if method.recognizer_steps_per_translator_step < 1:
            raise ConfigError("method.recognizer_steps_per_translator_step must be >= 1")
        try:
            self.imaginable = parse_subset(method.augment_modalities)
        except ValueError as error:
            raise ConfigError(f"method.augment_modalities: {error}") from None
        # The recogniser's optimiser; end to end, the recogniser's loss also updates the translators.
        main = list(self.model.recognizer.parameters())
        self.translator_optimizer = self.discriminator_optimizer = None
        if self.model.can_imagine():
            if method.strategy == "end_to_end":
                main += list(self.model.translator.parameters())
            self.translator_optimizer = torch.optim.Adam(self.model.translator.parameters(), lr=method.translator_lr)
            self.discriminator_optimizer = torch.optim.Adam(
                self.model.discriminators.parameters(), lr=method.discriminator_lr, betas=(0.5, 0.999)
            )
        self.optimizer = torch.optim.AdamW(main, lr=config.train.lr, weight_decay=config.train.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _warmup_cosine(config.train.warmup_steps, steps_per_epoch * config.train.epochs)
        )
        self.state = RunState()

    # -- the run folder ---------------------------------------------------------------------------

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / CHECKPOINTS

    def model_card(self) -> dict:
        """``model.json``: what a predictor needs to know to use the checkpoint."""
        return {
            "model": self.config.model.name,
            "input_dims": self.input_dims,
            "labels": list(self.dataset.labels),
            "multi_label": self.dataset.multi_label,
            "label_space": self.dataset.info.label_space,
            "dataset": str(self.dataset.root),
            "dataset_name": self.dataset.info.name,
            "synthetic": self.dataset.info.synthetic,
            # which extractor made each modality's features: predicting from media must use the same
            "extractors": {m: self.dataset.extractor(m) for m in self.input_dims},
            # an input of unknown source is standardised with these (xmer.data.moments); absent: read as extracted
            **({"standardise": {m: v.to_json() for m, v in moments.items()}} if (moments := self.dataset.pooled_moments()) else {}),
        }

    def _start_run_folder(self, resume: bool) -> None:
        """Check, lock and start (or, with ``resume``, reopen) the run folder.

        Refused: a file; a folder holding files xmer did not write; ``resume`` of a folder that is
        not a run; a fresh start over a run that has a checkpoint; a resumed config that changes the
        model or the data (:data:`RESUMABLE` lists what may change; the change is recorded).
        """
        run_dir, last = self.run_dir, self.checkpoint_dir / "last.pt"
        check_output(run_dir)
        kind = made_by_xmer(run_dir)
        if resume and kind != "run":
            raise DataError(f"--resume: {run_dir} is not a run folder (no config.yaml and model.json); "
                            "run without --resume to start a new run there")
        # (a lock or a temporary is not a user's file: under torchrun, rank 0 may have made them already)
        foreign = [p for p in run_dir.iterdir() if p.name != LOCK and not is_temporary(p.name)] if run_dir.is_dir() else []
        if not resume and foreign and kind != "run":
            raise DataError(f"--out {run_dir} holds files xmer did not write; choose another --out")
        if not resume and last.exists():
            raise DataError(f"run folder {run_dir} already holds a run; pass --resume to continue it or choose another --out")
        if self.context.is_main:
            self._lock = Lock(run_dir / LOCK, f"run folder {run_dir}").acquire()
            for folder in (run_dir, self.checkpoint_dir):
                for stale in sweep_temporaries(folder):
                    self._log(f"removed {stale}, left by a killed run")
        if resume:
            changes = self._check_resumed_config()
            if last.exists():
                self._restore(load_checkpoint(last, restore_rng=True))
            if changes:
                if self.config.train.epochs < self.state.epoch:
                    raise ConfigError(f"config key 'train.epochs': {self.config.train.epochs} is below the "
                                      f"{self.state.epoch} epochs {run_dir} has done; expected >= {self.state.epoch}")
                self.state.config_changes = self.state.config_changes + [{"after_epoch": self.state.epoch, **changes}]
                self._pending_changes = changes
                if self.context.is_main:
                    save_config(self.config, run_dir / "config.yaml")
            if last.exists():
                barrier(self.context)
                return
        self._fresh = True
        if self.context.is_main:
            mark(run_dir, "run")  # first: another rank checking the folder now sees a run
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.config, run_dir / "config.yaml")
            write_json(run_dir / "environment.json", environment())
            write_json(run_dir / "model.json", self.model_card())
        barrier(self.context)

    def _check_resumed_config(self) -> dict[str, list]:
        """Compare this config with the run's ``config.yaml``: a change of a key outside
        :data:`RESUMABLE` is refused, naming the keys; returns the allowed changes, key -> [old, new]."""
        path = self.run_dir / "config.yaml"
        try:
            saved = flatten_config(load_config(path))
        except ConfigError as error:
            raise DataError(f"--resume: cannot read the run's config ({error})") from None
        now = flatten_config(self.config)
        changed = {k: [saved.get(k), now.get(k)] for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)}
        refused = {k: v for k, v in changed.items() if k not in RESUMABLE}
        if refused:
            listing = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in refused.items())
            raise ConfigError(f"--resume: {self.run_dir} was trained with another config; these changes alter the model "
                              f"or the data: {listing} (only {', '.join(RESUMABLE)} may change on resume; "
                              "start a new run with another --out)")
        return changed

    def _discard_unstarted_run(self) -> None:
        """After a failure before the first checkpoint: remove what this run wrote (nothing to resume)."""
        if not (self.context.is_main and getattr(self, "_fresh", False)) or (self.checkpoint_dir / "last.pt").exists():
            return
        for name in ("config.yaml", "environment.json", "model.json", "history.json", "translator_history.json",
                     "combinations.json", MARKER):
            (self.run_dir / name).unlink(missing_ok=True)
        for folder in (self.checkpoint_dir, self.run_dir):
            try:
                folder.rmdir()  # only when empty: a folder that held anything else stays
            except OSError:
                pass

    def _payload(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "translator_optimizer": self.translator_optimizer and self.translator_optimizer.state_dict(),
            "discriminator_optimizer": self.discriminator_optimizer and self.discriminator_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "state": self.state.__dict__,
            "config": self.config.to_dict(),
        }

    def _restore(self, payload: dict) -> None:
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        if self.translator_optimizer is not None:
            self.translator_optimizer.load_state_dict(payload["translator_optimizer"])
            self.discriminator_optimizer.load_state_dict(payload["discriminator_optimizer"])
        self.state = RunState(**payload["state"])

    # -- training -------------------------------------------------------------------------------

    def fit(self, resume: bool = False) -> RunState:
        """Train until ``train.epochs`` or early stopping; returns the final bookkeeping."""
        try:
            self._start_run_folder(resume)
            return self._fit()
        except BaseException:
            self._release()
            self._discard_unstarted_run()
            raise
        finally:
            self._release()

    def _release(self) -> None:
        if getattr(self, "_lock", None) is not None:
            self._lock.release()
            self._lock = None

    def _fit(self) -> RunState:
        cfg = self.config.train
        self._log_mixture()
        if self.model.can_imagine() and self.config.method.strategy == "pipeline":
            self._pretrain_translators()
        while self.state.epoch < cfg.epochs and (not cfg.patience or self.state.epoch - self.state.best_epoch < cfg.patience):
            epoch = self.state.epoch + 1
            started = time.perf_counter()
            losses = self.train_epoch(epoch)
            check_in_sync(self.model, self.context)  # torchrun: the replicas took the same steps
            metrics = self.validate()
            score = metrics["subset_mean"][cfg.selection_metric] if cfg.select_on_subsets else metrics[cfg.selection_metric]
            improved = score > self.state.best_score
            entry = {"epoch": epoch, **losses, **{f"valid_{k}": metrics[k] for k in _SCALARS if k in metrics},
                     **{f"valid_subset_mean_{k}": v for k, v in metrics.get("subset_mean", {}).items()},
                     "seconds": round(time.perf_counter() - started, 2)}
            if self._pending_changes:  # a resume changed epochs or patience: the history says so
                entry["config_changes"], self._pending_changes = self._pending_changes, {}
            self.state.epoch, self.state.history = epoch, self.state.history + [entry]
            if improved:
                self.state.best_score, self.state.best_epoch = score, epoch
            if self.context.is_main:
                if improved:
                    save_checkpoint(self.checkpoint_dir / "best.pt", self._payload())
                save_checkpoint(self.checkpoint_dir / "last.pt", self._payload())
                write_json(self.run_dir / "history.json", self.state.history)
                if self.state.combinations:
                    write_json(self.run_dir / "combinations.json", dict(sorted(self.state.combinations.items())))
            self._log(
                f"epoch {epoch:3d}  loss {losses['loss']:.4f}  valid {cfg.selection_metric} {score:.4f}"
                + ("  *best*" if improved else "")
            )
        if self.state.history and self.context.is_main:
            plot_curves(self.state.history, self.run_dir / "curves.png")
            self.calibrate()
        barrier(self.context)  # the run folder is complete before any rank returns
        self._log(f"best epoch {self.state.best_epoch}: valid {cfg.selection_metric} {self.state.best_score:.4f}")
        return self.state

    def _log_mixture(self) -> None:
        """A mixture's drops in the run log: training records holding an evaluation item, per source."""
        report = self.dataset.report() if hasattr(self.dataset, "report") else None
        if not report:
            return
        for source, n in report["overlaps_dropped"].items():
            unchecked = report["overlaps_unchecked"].get(source, 0)
            self._log(f"{source}: {n} training record(s) dropped, holding an item of the primary's valid or test split"
                      + (f"; {unchecked} not compared (media unreadable)" if unchecked else ""))

    def calibrate(self) -> None:
        """Fit the softmax temperature of the best checkpoint on the validation split and record it,
        with the validation ECE before and after, in ``model.json`` (single-label sets only).

        Leaves the best checkpoint's weights in :attr:`model` (training is over when this runs).
        """
        if self.dataset.multi_label or not (self.checkpoint_dir / "best.pt").is_file():
            return
        from xmer.evaluation.calibration import calibrate

        self.model.load_state_dict(load_checkpoint(self.checkpoint_dir / "best.pt")["model"])
        fitted = calibrate(self.model, self.dataset, self.valid_records, self.config.data.batch_size, self.input_dims,
                           self.device, max_steps=self.config.data.max_steps)
        card = {**read_json(self.run_dir / "model.json"), **fitted}
        write_json(self.run_dir / "model.json", card)
        temperature = self.model.temperature
        self._log(f"calibrated: temperature {temperature:.3f}, valid ECE {card['calibration']['ece_before']:.3f} -> "
                  f"{card['calibration']['ece_after']:.3f}")

    def _pretrain_translators(self) -> None:
        """Pipeline strategy, phase 1: train the translators alone; they are frozen afterwards."""
        epochs = self.config.method.pipeline_translator_epochs
        while self.state.translator_epochs < epochs:
            epoch = self.state.translator_epochs + 1
            started = time.perf_counter()
            losses = self.train_epoch(-epoch, step=self.translator_update)
            self.state.translator_epochs = epoch
            self.state.translator_history = self.state.translator_history + [
                {"epoch": epoch, **losses, "seconds": round(time.perf_counter() - started, 2)}
            ]
            if self.context.is_main:
                save_checkpoint(self.checkpoint_dir / "last.pt", self._payload())
                write_json(self.run_dir / "translator_history.json", self.state.translator_history)
            self._log(f"translator epoch {epoch:3d}  " + "  ".join(f"{k} {v:.4f}" for k, v in losses.items()))
        self.model.translator.requires_grad_(False)

    def train_epoch(self, epoch: int, step=None) -> dict[str, float]:
        """One pass over the training records; ``step`` (default :meth:`train_step`) runs per batch."""
        self.model.train()
        if self.model.can_imagine() and not any(p.requires_grad for p in self.model.translator.parameters()):
            self.model.translator.eval()  # pipeline: frozen translators imagine with the latent mean, as at test time
        step = step or self.train_step
        cfg = self.config
        seed = self._epoch_seed(epoch)
        # The epoch is drawn once (a mixture resamples its sources), identically on every rank, and
        # then sharded: every torchrun rank takes the same number of steps.
        records = shard(self.dataset.epoch(self.train_records, seed), self.context, seed=seed)  # all, in one process
        batches = self.dataset.batches(
            records,
            cfg.data.batch_size,
            dims=self.input_dims,
            shuffle_seed=seed,
            max_steps=cfg.data.max_steps,
        )
        total = math.ceil(len(records) / cfg.data.batch_size)
        bar = tqdm(batches, total=total, desc=f"epoch {epoch}", leave=False, disable=not self._show_progress())
        sums: dict[str, float] = {}
        count = 0
        for batch in bar:
            losses = step(batch.to(self.device))
            count += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix({k: f"{v:.3f}" for k, v in list(losses.items())[:1]})
        return {k: round(v / count, 5) for k, v in sums.items()}

    def _epoch_seed(self, epoch: int) -> int:
        return self.config.train.seed * 100_003 + epoch

    def train_step(self, batch) -> dict[str, float]:
        """One recogniser step (on Algorithm 1's combinations when translators are on), and every
        n-th step one translator-only update; returns the named losses."""
        method = self.config.method
        recognizer = self.model.recognizer
        observed = batch
        if method.modality_dropout:
            dropper = torch.Generator().manual_seed(self.config.train.seed * 1_000_039 + self.state.step)
            batch = batch.withhold(modality_dropout(batch.present, method.modality_dropout, dropper))
        if self.model.can_imagine():
            end_to_end = method.strategy == "end_to_end"
            sampler = torch.Generator().manual_seed(self.config.train.seed * 1_000_003 + self.state.step)
            with torch.set_grad_enabled(end_to_end):  # pipeline: translators are frozen
                batch_in, combos = self.model.augment(batch, method.combinations, method.k, method.include_observed, sampler,
                                                      imaginable=self.imaginable)
            for name in self.model.combination_names(combos):
                self.state.combinations[name] = self.state.combinations.get(name, 0) + 1
        else:
            batch_in = batch
        loss = recognizer.loss(recognizer(batch_in), batch_in.labels)  # (B', K) logits
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.optimizer.param_groups[0]["params"], self.context)  # no-op in one process
        if self.config.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], self.config.train.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.state.step += 1
        losses = {"loss": float(loss.detach())}
        # The paper's 1:n (Table 9): a translator-only update once every n recogniser steps.
        if (self.model.can_imagine() and method.strategy == "end_to_end"
                and self.state.step % method.recognizer_steps_per_translator_step == 0):
            losses.update(self.translator_update(observed))  # the translators learn from every real modality
        return losses

    def translator_update(self, batch) -> dict[str, float]:
        """One update of the translators with their own losses and one of the discriminators, from
        the same forward pass (each side's loss reaches only its own parameters)."""
        method, cfg = self.config.method, self.config.translator
        lengths = {m: mask.sum(1) for m, mask in batch.mask.items()}  # (B,) real steps before subsampling
        if not cfg.aligned:  # aligned data keep every step, so paired steps stay paired
            sampler = torch.Generator().manual_seed(self.config.train.seed * 1_000_033 + self.state.translator_steps)
            batch = subsample_steps(batch, cfg.loss_steps, sampler)
        g_total, d_total, parts = translation_objectives(
            self.model, batch, method.losses, aligned=cfg.aligned, one_source=cfg.seqdis_one_source,
            generator=torch.Generator().manual_seed(self.config.train.seed * 1_000_037 + self.state.translator_steps),
            lengths=lengths,
        )
        translator_params = [p for p in self.model.translator.parameters() if p.requires_grad]
        self.translator_optimizer.zero_grad(set_to_none=True)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        g_total.backward(inputs=translator_params, retain_graph=True)
        d_total.backward(inputs=list(self.model.discriminators.parameters()))
        average_gradients(translator_params + list(self.model.discriminators.parameters()), self.context)
        if self.config.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(translator_params, self.config.train.grad_clip)
        self.translator_optimizer.step()
        self.discriminator_optimizer.step()
        self.state.translator_steps += 1
        return {"translator_loss": float(g_total.detach()), **parts}

    def validate(self) -> dict:
        """Metrics on the validation split with every modality; with ``train.select_on_subsets``, also
        ``subset_mean``: each scalar metric averaged over the 7 modality subsets (the others withheld)."""
        def score(keep=None) -> dict:
            y_true, scores = predict_records(
                self.model, self.dataset, self.valid_records, self.config.data.batch_size, self.input_dims, self.device,
                keep=keep, max_steps=self.config.data.max_steps,
            )
            if not np.isfinite(scores).all():
                raise DataError(
                    "training diverged: the model's validation scores are not finite after this epoch. Features far "
                    "outside the usual range do this (values near 1e38 overflow float32 arithmetic): check the "
                    f"largest values in {self.dataset.root}'s features, or re-extract them; a lower train.lr may also help")
            return compute_metrics(y_true, scores, list(self.dataset.labels), self.dataset.multi_label)

        metrics = score()
        if self.config.train.select_on_subsets:
            subsets = [score(s) for s in SUBSETS if set(s) <= set(self.input_dims)]
            metrics["subset_mean"] = {k: float(np.mean([m[k] for m in subsets])) for k in _SCALARS if k in metrics}
        return metrics

    # -- output -----------------------------------------------------------------------------------

    def _show_progress(self) -> bool:
        return self.config.train.progress and sys.stderr.isatty() and self.context.is_main

    def _log(self, message: str) -> None:
        if self.config.train.progress and self.context.is_main:
            tqdm.write(message, file=sys.stderr)


_SCALARS = ("accuracy", "unweighted_accuracy", "macro_f1", "weighted_f1", "wa")


def _warmup_cosine(warmup: int, total: int):
    """Linear warm-up over ``warmup`` steps, then cosine decay to 10% of the peak at ``total``."""

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    return factor
