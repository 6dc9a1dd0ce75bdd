"""Side by side in one process: the model and the reference driven together by
Hypothesis's stateful machines (``machines``, ``crash_machines``), on a
simulated disk that crashes (``simdisk``), exhaustively for short traces
(``exhaustive``), and the defect hunts and campaign of ``walcheck check``
(``hunts``)."""
