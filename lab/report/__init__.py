"""`lab report DIR`: the standard figures of a run (curves, weight norm, Fourier spectra, neuron
frequencies, progress measures, trajectory PCA, phase diagram) and an index.md explaining them.

    from lab.report import build_report, classify
    build_report("checkpoints/quickstart")              # -> checkpoints/quickstart/report/index.md
    classify(run.metrics[run.metrics.model == 0])       # the PAIR explorable's phase of one model
"""

from lab.report.build import FIGURES, build_report
from lab.report.phases import CLASSES, classify, phase_table

__all__ = ["CLASSES", "FIGURES", "build_report", "classify", "phase_table"]
