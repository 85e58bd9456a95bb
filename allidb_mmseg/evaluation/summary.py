"""The test metrics as a user reads them: a summary, a per-class table, JSON."""
from __future__ import annotations

from typing import Any, Optional

# BlastDetectionMetric's keys (0-1 fractions, count MAE in blasts) go into
# their own section, apart from mmseg's percentages.
from .detection import DETECTION_KEYS

__all__ = ['METRICS_FILENAME', 'SUMMARY_KEYS', 'metrics_report',
           'format_metrics']

METRICS_FILENAME = 'test_metrics.json'
SUMMARY_KEYS = ('aAcc', 'mIoU', 'mAcc', 'mDice')


def _clean(value: Any) -> Any:
    if value is None:
        return None
    value = float(value)
    # NaN (a class absent from labels and predictions) -> null in JSON;
    # mmseg rounds to 2 decimals in float32, so round away the float noise.
    return None if value != value else round(value, 2)


def metrics_report(metrics: dict, classes: Optional[list] = None) -> dict:
    """Split runner.test()'s flat metrics into a summary and per-class table."""
    summary = {k: _clean(metrics[k]) for k in SUMMARY_KEYS if k in metrics}
    per_class: dict[str, dict] = {}
    detection = {k: metrics[k] for k in DETECTION_KEYS if k in metrics}
    for key, value in metrics.items():
        if '.' in key:
            name, cls = key.split('.', 1)
            per_class.setdefault(cls, {})[name] = _clean(value)
    if classes:
        per_class = {c: per_class[c] for c in classes if c in per_class}
    report = dict(units='percent (paper uses 0-1: divide by 100)',
                  metrics=summary, per_class=per_class)
    if detection:
        report['detection'] = dict(
            detection, units='precision/recall/F1/ALL_accuracy 0-1; count_MAE in blasts per image')
    return report


def format_metrics(report: dict) -> str:
    """Human-readable table of a ``metrics_report``: lymphoblast IoU and Dice
    beside mIoU, the per-class table, and per-blast detection."""
    blast = report['per_class'].get('lymphoblast', {})
    lines = []
    if blast.get('IoU') is not None:
        dice = blast.get('Dice')
        lines += [f"lymphoblast IoU {blast['IoU']:.2f} %"
                  + (f", Dice {dice:.2f} %" if dice is not None else '')
                  + f"  (mIoU {report['metrics'].get('mIoU', float('nan')):.2f} %)", '']
    lines.append('metric   value (%)  (0-1)')
    for key, value in report['metrics'].items():
        lines.append(f'{key:<8} {value:9.2f}  {value / 100:.3f}'
                     if value is not None else f'{key:<8} {"nan":>9}')
    names = list(dict.fromkeys(n for v in report['per_class'].values() for n in v))
    if names:
        lines += ['', 'class'.ljust(14) + ''.join(f'{n:>9}' for n in names)]
        for cls, vals in report['per_class'].items():
            cells = ''.join(
                f'{vals[n]:9.2f}' if vals.get(n) is not None else f'{"nan":>9}'
                for n in names)
            lines.append(cls.ljust(14) + cells)
    det = report.get('detection')
    if det:
        lines += ['', f"blasts (per blast, label component centres): "
                  f"precision {det['blast_precision']:.3f}, recall "
                  f"{det['blast_recall']:.3f}, F1 {det['blast_F1']:.3f}; "
                  f"{det.get('predicted_blasts', '?')} predicted / "
                  f"{det.get('true_blasts', '?')} true; count MAE "
                  f"{det['count_MAE']:.2f}; ALL-vs-healthy accuracy "
                  f"{det['ALL_accuracy']:.3f}"]
    return '\n'.join(lines)
