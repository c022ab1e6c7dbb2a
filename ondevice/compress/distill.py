"""Distillation as a recipe step: the model compressed so far learns from the uncompressed teacher."""

from __future__ import annotations

from ondevice.compress import technique
from ondevice.errors import ConfigError
from ondevice.train import DistillConfig, distill, training_report


@technique(DistillConfig, "distill")
def apply_distill(
    model,
    cfg: DistillConfig,
    student=None,
    teacher=None,
    train=None,
    dev=None,
    teacher_logits=None,
    select=None,
    **_,
) -> dict:
    """Distil ``student`` (whose model is ``model``) from ``teacher`` on ``train``, the kept weights
    chosen as ``cfg.select`` says (on ``select`` where given), never by ``dev``, which is only reported;
    ``teacher_logits``: the teacher's logits on ``train``, computed once by the caller
    (``ondevice.train.teacher_logits``)."""
    if student is None or teacher is None or train is None:
        raise ConfigError("distill needs the teacher and training data")
    if student.model is not model:
        raise ConfigError("distill: the student checkpoint must hold the model being compressed")
    return training_report(distill(student, teacher, train, dev, cfg, teacher_logits=teacher_logits, select=select))
