"""Fine-tuning on labelled text: full fine-tuning, or training the classification head alone.

Both are made for CPUs: batches of similar length with dynamic padding, the word-embedding table
frozen by default (its dense gradient and optimizer update cost more than the encoder's at
SST-2's short lengths), and a wall-clock bound that also anneals the learning rate.
``prepare_finetune`` settles the labels and refuses bad input before any training;
``finetune_record`` is what a fine-tuned checkpoint keeps of its run.

Which weights are kept is never decided on the data whose figures are reported. With
``select="split"`` (the default) a seeded share of the training data is carved out before training
(``carve_selection``), never trained on, and the weights that score best on it are kept; with
``select="last"`` the final weights are kept. The dev data is evaluated once, after training, and
only reported: the training loop is not even given it. Fine-tuning, distillation and the ``distill``
step of a recipe all work this way.

Multi-label models train on binary cross-entropy against multi-hot targets and are selected by micro
F1 at 0.5. Their per-label decision thresholds are chosen afterwards on the same carved-out split
(one split for both, so that no more training data is withheld than one needs; with
``select="last"`` it is carved for the thresholds alone) and saved in the config
(``EncoderConfig.thresholds``).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save

from ondevice.bundle import sha256
from ondevice.data import FROM_FINETUNE, SPLIT, Columns, Dataset, held_out, read_train_dev
from ondevice.errors import CheckpointError, ConfigError, DataError
from ondevice.evaluate import choose_thresholds, micro_f1, predict_logits
from ondevice.model import Checkpoint, load_model, save_checkpoint
from ondevice.model.checkpoint import checkpoint_bytes, is_ondevice_checkpoint
from ondevice.model.config import MULTI_LABEL, check_int
from ondevice.model.hf import read_hf_config, resolve_source
from ondevice.model.tokenizer import Rows, length_sorted_batches
from ondevice.output import check_writable
from ondevice.progress import progress
from ondevice.scores import decisions, sigmoid


@dataclass
class FinetuneConfig:
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 5e-5  # head-only training uses head_lr
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128  # truncation during training and evaluation
    seed: int = 0
    max_minutes: float | None = None  # stop (keeping the best weights) after this long
    # Train exactly this many steps (batches), in place of ``epochs``: the learning-rate schedule spans
    # them. The same steps on the same data and seed train the same way however fast the machine is.
    max_steps: int | None = None
    evals_per_epoch: int = 4
    freeze_embeddings: bool = True  # word embeddings only; positions and norms still train
    head_only: bool = False
    # Which weights are kept: "split", the best evaluation on a split carved from the training data
    # (never trained on); "last", the final weights. Dev data is only reported, whichever it is.
    select: str = "split"
    select_share: float = 0.1  # of the training data carved out (multi-label: its thresholds are chosen there too)
    select_max: int = 2000  # at most this many examples: enough to rank checkpoints, cheap to evaluate often

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise ConfigError("epochs must be positive")
        if self.batch_size < 1:
            raise ConfigError("batch size must be at least 1")
        if self.lr <= 0 or self.head_lr <= 0:
            raise ConfigError("learning rates must be positive")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError("--max-minutes must be positive")
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps, 1)
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError("warmup ratio must be in [0, 1)")
        if self.select not in SELECT:
            raise ConfigError(f"select (--select) must be one of {', '.join(SELECT)}, not {self.select!r}")
        if not 0 < self.select_share < 1:
            raise ConfigError(
                f"select_share (--select-share) must be between 0 and 1, a share of the training data, "
                f"not {self.select_share}"
            )
        if self.select_max < 1:
            raise ConfigError(f"select_max must be at least 1, not {self.select_max}")


SELECT = ("split", "last")  # FinetuneConfig.select: how the kept weights are chosen


@dataclass
class FinetuneResult:
    best_select: float | None  # the kept weights' score on the carved-out split (None: select="last")
    best_step: int  # the step whose weights were kept
    steps: int
    seconds: float
    stopped_by_time: bool
    history: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    metric: str = "accuracy"  # what the scores are: accuracy, or micro F1 for multi-label models
    select_examples: int = 0  # training examples carved out to select on (multi-label: and to choose thresholds)
    dev_score: float | None = None  # the kept weights on dev, measured once after training; never selects
    thresholds: list[float] = field(default_factory=list)  # multi-label: chosen on the carved-out split
    select_sha256: str | None = None  # Dataset.digest of the carved-out split: what a search checks it carves again


def bucketed_batches(lengths: list[int], batch_size: int, rng: np.random.Generator, pool: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar length: sort within pools of `pool` batches, shuffle the batches."""
    order = rng.permutation(len(lengths))
    lengths_arr = np.asarray(lengths)
    batches = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths_arr[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _lr_factor(progress_frac: float, warmup: float) -> float:
    if warmup and progress_frac < warmup:
        return progress_frac / warmup
    return max(0.0, (1.0 - progress_frac) / (1.0 - warmup))


def _check_labels(ckpt: Checkpoint, train: Dataset) -> None:
    if len(train.labels) != ckpt.config.num_labels:
        raise ConfigError(f"the data has {len(train.labels)} labels but the model's head has {ckpt.config.num_labels}")


def _targets(data: Dataset) -> torch.Tensor:
    """Class indices, or (N, labels) multi-hot floats for multi-label data."""
    return torch.from_numpy(data.multi_hot()) if data.multi_label else torch.tensor(data.targets)


def task_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy over the labels, or binary cross-entropy per label for multi-hot targets."""
    if targets.dtype.is_floating_point:
        return F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction)
    return F.cross_entropy(logits, targets, reduction=reduction)


def selection_score(logits: np.ndarray, data: Dataset, thresholds: list[float] | None = None) -> float:
    """Accuracy, or for multi-label data micro F1 at ``thresholds`` (default 0.5 for every label): what
    the kept weights are chosen by on the carved-out split, and what a run reports on dev."""
    if data.multi_label:
        return micro_f1(data.multi_hot(), decisions(logits, thresholds or [0.5] * logits.shape[1]))
    return float((logits.argmax(-1) == np.asarray(data.targets)).mean())


def carve_selection(
    train: Dataset, cfg: FinetuneConfig, thresholds: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows to train on, rows to select on) of ``train``, disjoint, each in file order.

    The split is ``data.held_out``'s: ``select_share`` of the groups of texts (a sentence and the phrases
    cut from it), at most ``select_max``, at least one and never all, drawn with ``cfg.seed`` so that a
    rerun carves the same one. None is carved with
    ``select="last"`` unless ``thresholds`` (a multi-label fine-tuning run chooses its thresholds there).

    Raises:
        DataError: fewer than two training examples (or groups of texts), where a split is needed.
    """
    n = len(train)
    if cfg.select == "last" and not thresholds:
        return np.arange(n), None
    if n < 2:
        why = "to choose the decision thresholds on" if cfg.select == "last" else "to select on (or --select last)"
        raise DataError(f"{train.path}: {n} training example(s); at least 2 are needed to carve out a split {why}")
    return held_out(train, cfg.select_share, cfg.seed, cfg.select_max)


def finetune_held_out(ckpt: Checkpoint, data_path: Path, data: Dataset) -> tuple[tuple | None, str | None]:
    """The texts of ``data`` (read from ``data_path``) that ``ckpt``'s fine-tuning held out and never
    trained on, where its record says which: ``((rest, held, how), None)``. ``(None, note)`` where the
    record names a split of this file but carving it again gives other examples than it held out (the
    file read with other columns): the note says so; ``(None, None)`` where the record names no split
    of this file.

    A distillation from ``ckpt`` selects on these texts, and a search validates on them: the rest is
    data ``ckpt`` learned, and a student that starts from its weights remembers it.
    """
    record = (ckpt.info or {}).get("finetune") or {}
    cfg = record.get("config") or {}
    if not (
        record.get("split") == SPLIT
        and cfg.get("select") == "split"
        and record.get("train_sha256") == sha256(data_path)
    ):
        return None, None
    share, seed, most = cfg["select_share"], cfg["seed"], cfg["select_max"]
    rest, held = data.split(share, seed, most)
    # The same file read with other columns (or carved by another version) gives other examples; the
    # record's digest of what it held out says whether these are they (records before it: trusted).
    if record.get("split_sha256") not in (None, held.digest()):
        return None, (
            f"carving {data_path} as the input model's fine-tuning did gives other examples than it held out "
            "(other --text-columns or --label-column?)"
        )
    return (rest, held, {"method": SPLIT, "from": FROM_FINETUNE, "share": share, "seed": seed, "most": most}), None


def _report_dev(result: FinetuneResult, ckpt: Checkpoint, held: Dataset | None, dev: Dataset | None, max_length: int):
    """Fill in what a finished run reports: the carved-out split's size, and the one dev evaluation of
    the kept weights (a multi-label model at its own thresholds)."""
    result.select_examples = len(held) if held is not None else 0
    result.select_sha256 = held.digest() if held is not None else None
    if dev is not None:
        logits = predict_logits(ckpt, dev.texts, max_length=max_length, desc="dev")
        result.dev_score = selection_score(logits, dev, ckpt.config.decision_thresholds() if dev.multi_label else None)
    return result


def finetune(ckpt: Checkpoint, train: Dataset, dev: Dataset | None, cfg: FinetuneConfig) -> FinetuneResult:
    """Fine-tune ``ckpt.model`` in place on ``train`` less the split carved out to select on.

    On return the model holds the weights ``cfg.select`` chose (the best accuracy, multi-label: micro F1,
    on the split; or the last), and a multi-label model's config the thresholds chosen on that split.
    ``dev`` (optional) is evaluated once, afterwards, into ``FinetuneResult.dev_score``.
    """
    _check_labels(ckpt, train)
    ckpt.config.check_length(cfg.max_length)
    torch.manual_seed(cfg.seed)
    kept, rows = carve_selection(train, cfg, thresholds=train.multi_label)
    held = None if rows is None else train.take(rows)
    select = held if cfg.select == "split" else None
    train = train.take(kept)
    if cfg.head_only:
        result = _finetune_head(ckpt, train, select, cfg)
    else:
        targets = _targets(train)

        def batch_loss(model, idx, inputs):
            return task_loss(model(*inputs), targets[idx])

        result = _train_loop(ckpt, train, select, cfg, batch_loss, desc="finetune")
    if train.multi_label:
        logits = predict_logits(ckpt, held.texts, max_length=cfg.max_length, desc="thresholds")
        ckpt.config.thresholds = choose_thresholds(held.multi_hot(), sigmoid(logits))
        result.thresholds = list(ckpt.config.thresholds)
    return _report_dev(result, ckpt, held, dev, cfg.max_length)


def _train_loop(
    ckpt: Checkpoint, train: Dataset, select: Dataset | None, cfg: FinetuneConfig, batch_loss, desc: str
) -> FinetuneResult:
    """The shared loop: bucketed batches, AdamW with warm-up and linear decay to the deadline; the
    weights that score best on ``select`` kept, or the last ones if it is None.

    ``batch_loss(model, idx, inputs)`` returns the loss of the training examples ``idx``, whose model
    inputs are ``inputs`` (input_ids, attention_mask[, token_type_ids]).
    """
    model = ckpt.model
    rng = np.random.default_rng(cfg.seed)
    rows = Rows(ckpt.tokenizer, train.texts, cfg.max_length)
    steps_per_epoch = math.ceil(len(rows) / cfg.batch_size)
    total = cfg.max_steps or max(1, int(steps_per_epoch * cfg.epochs))
    eval_every = max(1, steps_per_epoch // max(1, cfg.evals_per_epoch))

    table = word_table(model)
    table.requires_grad_(not cfg.freeze_embeddings)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
    )
    budget = cfg.max_minutes * 60 if cfg.max_minutes else None
    t0 = time.monotonic()
    best = (-1.0, 0, None)
    history: list[dict] = []
    step, loss_sum, loss_n, stopped = 0, 0.0, 0, False

    metric = _metric(train)

    def run_eval() -> None:
        nonlocal best, loss_sum, loss_n
        entry = {"step": step, "epoch": round(step / steps_per_epoch, 3), "train_loss": loss_sum / max(loss_n, 1)}
        if select is not None:
            score = selection_score(
                predict_logits(ckpt, select.texts, max_length=cfg.max_length, desc="select"), select
            )
            entry[f"select_{metric}"] = score
            if score > best[0]:
                best = (score, step, copy.deepcopy(model.state_dict()))
        history.append({**entry, "seconds": round(time.monotonic() - t0, 1)})
        loss_sum, loss_n = 0.0, 0
        model.train()

    bar = progress(total=total, desc=desc, unit="step")
    model.train()
    while step < total and not stopped:
        for idx in bucketed_batches(rows.lengths, cfg.batch_size, rng):
            elapsed = time.monotonic() - t0
            frac = max(step / total, elapsed / budget if budget else 0.0)
            if frac >= 1.0:
                stopped = step < total
                break
            for g in opt.param_groups:
                g["lr"] = cfg.lr * _lr_factor(frac, cfg.warmup_ratio)
            loss = batch_loss(model, torch.as_tensor(idx), rows.batch(idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            loss_sum += loss.item()
            loss_n += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", best=f"{max(best[0], 0):.4f}", refresh=False)
            if step % eval_every == 0 or step == total:
                run_eval()
            if step >= total:
                break
    if not history or history[-1]["step"] != step:
        run_eval()
    bar.close()
    table.requires_grad_(True)
    if select is None:
        best = (None, step, None)
    else:
        model.load_state_dict(best[2])
    model.eval()
    return FinetuneResult(best[0], best[1], step, time.monotonic() - t0, stopped, history, asdict(cfg), metric)


def _metric(data: Dataset) -> str:
    return "micro_f1" if data.multi_label else "accuracy"


@dataclass
class DistillConfig(FinetuneConfig):
    """Recovery by distillation: the compressed student learns the uncompressed teacher's soft labels."""

    epochs: float = 1.0
    lr: float = 1e-4
    temperature: float = 2.0  # softens both distributions in the KL term
    alpha: float = 0.5  # weight of the KL term; the task loss gets 1 - alpha
    hidden_weight: float = 0.0  # > 0: also match the last hidden states (MSE), same hidden size only

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.head_only:
            raise ConfigError("distillation trains the whole student; head_only does not apply")
        if self.temperature <= 0:
            raise ConfigError("distill: temperature must be positive")
        if not 0 <= self.alpha <= 1:
            raise ConfigError("distill: alpha must be in [0, 1]")
        if self.hidden_weight < 0:
            raise ConfigError("distill: hidden_weight must be >= 0")


def teacher_logits(teacher: Checkpoint, train: Dataset, max_length: int) -> np.ndarray:
    """The teacher's (N, labels) logits on every example of ``train``, in its order, truncated to
    ``max_length``: what ``distill`` computes when it is not given them. Computed once, they can be
    shared by every distillation from the same teacher on the same data (a search's trials)."""
    return predict_logits(teacher, train.texts, max_length=max_length, desc="teacher logits")


def distill(
    student: Checkpoint,
    teacher: Checkpoint,
    train: Dataset,
    dev: Dataset | None,
    cfg: DistillConfig,
    extra_loss: Callable[[torch.nn.Module], torch.Tensor] | None = None,
    teacher_logits: np.ndarray | None = None,
    select: Dataset | None = None,
) -> FinetuneResult:
    """Train ``student.model`` in place against ``teacher.model``: KL on softened logits + task loss
    (multi-label: binary cross-entropy against the teacher's softened sigmoids, per label).

    The kept weights are chosen as ``finetune`` chooses them (``cfg.select``: on a split carved from
    ``train``, or the last); ``dev`` (optional) is evaluated once, afterwards, and only reported.
    With ``select`` given and ``cfg.select`` "split", the weights are chosen on ``select`` instead and
    all of ``train`` is trained on. Give it the texts the teacher was not trained on (those its own
    fine-tuning held out): a split carved from the teacher's training data is one the teacher, and so a
    student that starts from its weights, remembers, and it ranks checkpoints by that memory.
    The teacher's logits are computed once for the whole training set (it is frozen and runs
    without dropout), so an epoch costs little more than fine-tuning; hidden-state matching runs
    the teacher batch by batch. ``extra_loss(model)``, read after the student's forward pass, is
    added to every batch's loss (token skimming's skim loss).

    Args:
        teacher_logits: the teacher's logits on ``train`` as passed in, row for row
            (``teacher_logits(teacher, train, max_length)`` at the length this run trains at), used
            instead of running the teacher; the rows carved out to select on are left out here.

    Raises:
        ConfigError: ``teacher_logits`` not of shape (examples, labels); hidden-state matching across
            hidden sizes.
        DataError: too few examples to carve a split from.
    """
    _check_labels(student, train)
    # A recipe's truncation length is written once for any model; a step before this one (Linformer)
    # may have made the student take fewer tokens, so truncate to what both models take.
    longest = min(student.config.max_length, teacher.config.max_length)
    if cfg.max_length > longest:
        cfg = replace(cfg, max_length=longest)
    if cfg.hidden_weight and teacher.config.hidden_size != student.config.hidden_size:
        raise ConfigError("distill: hidden-state matching needs the same hidden size in teacher and student")
    expected = (len(train), len(train.labels))
    if teacher_logits is not None and np.shape(teacher_logits) != expected:
        raise ConfigError(
            f"distill: teacher logits of shape {np.shape(teacher_logits)}; they must be {expected}, "
            "a row for each training example and a column for each label"
        )
    if select is not None and cfg.select == "split":
        if train.labels != select.labels:
            raise ConfigError("distill: the split to select on has other labels than the training data")
        kept, rows = np.arange(len(train)), None
    else:
        kept, rows = carve_selection(train, cfg)
        select = None if rows is None else train.take(rows)
    if teacher_logits is None:  # on every row, the carved-out ones too: the same as a caller's, exactly
        teacher_logits = predict_logits(teacher, train.texts, max_length=cfg.max_length, desc="teacher logits")
    torch.manual_seed(cfg.seed)
    soft_targets = torch.as_tensor(np.asarray(teacher_logits, dtype=np.float32)[kept])
    train = train.take(kept)
    targets = _targets(train)
    T = cfg.temperature
    teacher.model.eval()
    # The teacher reads its own ids: a vocab step renumbers the student's, and the texts keep their
    # tokenization, so the two rows of an example line up position by position.
    teacher_rows = Rows(teacher.tokenizer, train.texts, cfg.max_length) if cfg.hidden_weight else None

    def batch_loss(model, idx, inputs):
        mask = inputs[1]
        if cfg.hidden_weight:
            hidden = model.encode(*inputs)
            logits = model.head(model.pool(hidden, mask))
        else:
            logits = model(*inputs)
        if train.multi_label:
            soft = F.binary_cross_entropy_with_logits(logits / T, torch.sigmoid(soft_targets[idx] / T))
        else:
            soft = F.kl_div(F.log_softmax(logits / T, -1), F.softmax(soft_targets[idx] / T, -1), reduction="batchmean")
        loss = cfg.alpha * soft * (T * T) + (1 - cfg.alpha) * task_loss(logits, targets[idx])
        if cfg.hidden_weight:
            with torch.no_grad():
                t_hidden = teacher.model.encode(*teacher_rows.batch(idx.tolist(), width=inputs[0].shape[1]))
            m = mask.unsqueeze(-1).to(hidden.dtype)
            loss = loss + cfg.hidden_weight * (((hidden - t_hidden) ** 2) * m).sum() / (m.sum() * hidden.shape[-1])
        if extra_loss is not None:
            loss = loss + extra_loss(model)
        return loss

    result = _train_loop(student, train, select, cfg, batch_loss, desc="distill")
    return _report_dev(result, student, select, dev, cfg.max_length)


def word_table(model) -> torch.nn.Parameter:
    """The (vocab, ·) word-embedding table, dense or factorized: the tensor that freezing skips."""
    word = model.embeddings.word
    return word.table.weight if hasattr(word, "table") else word.weight


def dev_accuracy(ckpt: Checkpoint, dev: Dataset, max_length: int) -> float:
    """The share of dev examples classified right; for multi-label data, with every label right (subset
    accuracy) at the model's thresholds."""
    logits = predict_logits(ckpt, dev.texts, max_length=max_length, desc="dev")
    if dev.multi_label:
        return float(
            (decisions(logits, ckpt.config.decision_thresholds()) == dev.multi_hot().astype(bool)).all(1).mean()
        )
    return float((logits.argmax(-1) == np.asarray(dev.targets)).mean())


@torch.no_grad()
def _pooled_features(ckpt: Checkpoint, texts: list[str], max_length: int, desc: str) -> torch.Tensor:
    """Pooled encoder outputs (N, C): the frozen encoder runs once, not once per epoch."""
    model = ckpt.model.eval()
    rows = Rows(ckpt.tokenizer, texts, max_length)
    out = torch.zeros(len(rows), ckpt.config.hidden_size)
    for idx in progress(length_sorted_batches(rows.lengths, 128), desc=desc, unit="batch"):
        inputs = rows.batch(idx)
        out[torch.as_tensor(idx)] = model.pool(model.encode(*inputs), inputs[1])
    return out


def _finetune_head(ckpt: Checkpoint, train: Dataset, select: Dataset | None, cfg: FinetuneConfig) -> FinetuneResult:
    """The head on the frozen encoder's features, an evaluation on ``select`` after every epoch and the
    best one kept (None: the last)."""
    model = ckpt.model
    t0 = time.monotonic()
    x_train = _pooled_features(ckpt, train.texts, cfg.max_length, "encode train")
    x_select = None if select is None else _pooled_features(ckpt, select.texts, cfg.max_length, "encode select")
    y_train = _targets(train)
    metric = _metric(train)
    head = [p for n, p in model.named_parameters() if n.startswith(("pre_classifier.", "classifier."))]
    opt = torch.optim.AdamW(head, lr=cfg.head_lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = math.ceil(len(x_train) / cfg.batch_size)
    total = cfg.max_steps or max(1, int(steps_per_epoch * cfg.epochs))
    best = (-1.0, 0, None)
    history, step = [], 0
    bar = progress(total=total, desc="train head", unit="step")
    while step < total:
        model.train()
        perm = torch.randperm(len(x_train), generator=g)
        loss_sum = 0.0
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            for group in opt.param_groups:
                group["lr"] = cfg.head_lr * _lr_factor(step / total, cfg.warmup_ratio)
            loss = task_loss(model.head(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            step += 1
            bar.update(1)
            if step >= total:
                break
        model.eval()
        entry = {"step": step, "epoch": round(step / steps_per_epoch, 3), "train_loss": loss_sum / steps_per_epoch}
        if x_select is not None:
            with torch.no_grad():
                score = selection_score(model.head(x_select).float().numpy(), select)
            entry[f"select_{metric}"] = score
            if score > best[0]:
                best = (score, step, copy.deepcopy(model.state_dict()))
        history.append({**entry, "seconds": round(time.monotonic() - t0, 1)})
    bar.close()
    if select is None:
        best = (None, step, None)
    else:
        model.load_state_dict(best[2])
    model.eval()
    return FinetuneResult(best[0], best[1], step, time.monotonic() - t0, False, history, asdict(cfg), metric)


def head_state(ckpt: Checkpoint) -> dict[str, torch.Tensor]:
    """The classification-head tensors: what the built-in default model ships."""
    return {
        k: v.detach().contiguous()
        for k, v in ckpt.model.state_dict().items()
        if k.startswith(("pre_classifier.", "classifier."))
    }


def prepare_finetune(
    model: str,
    train_path: Path,
    dev_path: Path,
    out: Path,
    labels: list[str] | None = None,
    allow_new_labels: bool = False,
    pooling: str | None = None,
    columns: Columns | None = None,
    multi_label: bool = False,
) -> tuple[Checkpoint, Dataset, Dataset]:
    """The model to fine-tune and its training and dev data, agreeing on one list of labels.

    The label names are ``labels`` (--labels), else an ondevice checkpoint's own, else those of the
    training data, where a class the dev data never shows is refused as a likely typo unless
    ``allow_new_labels`` (``ondevice.data.check_new_labels``). Any other model gets a new head with
    that many labels. Everything that can be refused is refused here, ``out`` included, so that no
    training time is spent on a run that cannot be saved.

    Args:
        model: a model spec (``ondevice.model.load_model``).
        train_path, dev_path: labelled files.
        out: the checkpoint directory the run will be saved to.
        labels: the label names in index order, or None.
        allow_new_labels: accept a training label the dev data lacks.
        pooling: the sentence pooling of a new head (None: the checkpoint's).
        columns: the layout of TSV and CSV data (``--text-columns``); two text columns, or JSONL
            objects with ``text_pair``, make a model of sentence pairs.
        multi_label: train a multi-label model (``--multi-label``); a model whose config says it is
            one (an ondevice checkpoint, or a Hugging Face config.json's ``problem_type``) is one anyway.

    Returns:
        (checkpoint with its labels set, training data, dev data).

    Raises:
        ConfigError: bad ``labels``, ``out`` a file, ``pooling`` on an ondevice checkpoint, or
            ``multi_label`` for an ondevice checkpoint trained for single labels.
        DataError, CheckpointError, OutputError: unreadable data or model, no room at ``out``.
    """
    if labels is not None and (len(labels) < 2 or not all(labels) or len(set(labels)) != len(labels)):
        raise ConfigError("--labels needs at least two distinct, non-empty names")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    path = Path(model).expanduser()
    base_labels = None
    if path.is_dir() and is_ondevice_checkpoint(path):
        base = load_model(model)
        base_labels = base.labels
        if multi_label and not base.config.multi_label:
            raise ConfigError(
                f"{model} is a single-label classifier; --multi-label needs a model without a head "
                "(a Hugging Face checkpoint) or a multi-label one"
            )
        multi_label = base.config.multi_label
    elif not multi_label and model_problem_type(model) == MULTI_LABEL:
        multi_label = True
    train, dev = read_train_dev(train_path, dev_path, labels or base_labels, allow_new_labels, columns, multi_label)
    if base_labels is None:
        overrides = {"pooling": pooling} if pooling else {}
        if multi_label:
            overrides["problem_type"] = MULTI_LABEL
        base = load_model(model, num_labels=len(train.labels), **overrides)
    elif pooling and pooling != base.config.pooling:
        raise ConfigError("--pooling cannot change the pooling of an ondevice checkpoint")
    base.labels = list(train.labels)
    settings = base.tokenizer.settings
    if settings.text_pair and not train.pairs:
        raise DataError(f"{train_path}: {base.source} classifies sentence pairs; give pairs (--text-columns A,B)")
    # Pairs are told apart by their token types where the architecture has a table of them (BERT's two
    # rows); RoBERTa's one row leaves it to the separators.
    settings.text_pair = train.pairs
    settings.token_type_ids = train.pairs and base.config.type_vocab_size > 1
    check_writable(out, checkpoint_bytes(base.model))
    return base, train, dev


def model_problem_type(model: str) -> str | None:
    """What a Hugging Face checkpoint's config.json says of its problem_type (None: nothing, or no such
    directory here: the built-in default model, which loading names as it refuses)."""
    try:
        return read_hf_config(resolve_source(model)).get("problem_type")
    except CheckpointError:  # the same spec is loaded next, and that load names what is wrong with it
        return None


def training_report(result: FinetuneResult) -> dict:
    """The record of a training run that fine-tuning and distillation (a recipe step) both keep.

    ``best_select_<metric>`` is what chose the kept weights (on ``select_examples`` examples carved
    from the training data, or given: those the teacher never trained on; None when the last weights
    were kept); ``dev_<metric>`` is the kept
    weights' figure on the dev data (None without it), which chose nothing.
    """
    extra = {"thresholds": result.thresholds} if result.thresholds else {}
    return {
        "select": result.config.get("select", "split"),
        f"best_select_{result.metric}": result.best_select,
        "select_examples": result.select_examples,
        "best_step": result.best_step,
        "steps": result.steps,
        f"dev_{result.metric}": result.dev_score,
        "seconds": round(result.seconds, 1),
        "stopped_by_time": result.stopped_by_time,
        "history": result.history,
        **extra,
    }


def finetune_record(result: FinetuneResult, *, base: str, train: Path, dev: Path, command: str, threads: int) -> dict:
    """The "finetune" entry of a fine-tuned checkpoint's info.json: where it came from and how it trained."""
    run = training_report(result)
    history = run.pop("history")  # after the figures, as the record has always been laid out
    return {
        "base": base,
        "train": str(train),
        # The split's texts can be carved again from the same file (data.held_out with the config's
        # select_share, seed and select_max): what a search of this model validates on.
        "train_sha256": sha256(train),
        "split": SPLIT,
        "split_sha256": result.select_sha256,  # the carved-out examples as read: a search checks it has the same
        "dev": str(dev),
        "command": command,
        **run,
        "threads": threads,
        "history": history,
        "config": result.config,
    }


def result_line(result: FinetuneResult) -> str:
    """One line on a finished run: which step was kept and why, its dev figure, how long it took."""
    name = "micro F1" if result.metric == "micro_f1" else "accuracy"
    if result.best_select is None:
        kept = f"kept the last step, {result.steps}"
    else:
        kept = (
            f"kept step {result.best_step} of {result.steps} (select {name} {result.best_select:.4f} on "
            f"{result.select_examples} examples carved from the training data)"
        )
    dev = "" if result.dev_score is None else f", dev {name} {result.dev_score:.4f}"
    return f"{kept}{dev}, {result.seconds / 60:.1f} min" + (
        " (stopped by --max-minutes)" if result.stopped_by_time else ""
    )


def save_finetuned(ckpt: Checkpoint, out: Path, record: dict, head_only: bool) -> None:
    """Save ``ckpt`` with its run's ``record``; a head-only run also writes head.safetensors, the
    head alone (what the built-in default model ships on top of a stock encoder)."""
    ckpt.info = {**ckpt.info, "finetune": record}
    extra = {"head.safetensors": save(head_state(ckpt))} if head_only else None
    save_checkpoint(ckpt, out, extra_files=extra)
