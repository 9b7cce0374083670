"""sedl: the helper package of *Science and Ethics of Deep Learning*.

Pages import modules, not names (``from sedl import data, models``). Plumbing:
:mod:`sedl.repro`, :mod:`sedl.data`, :mod:`sedl.checksums`, :mod:`sedl.wheels`,
:mod:`sedl.models`, :mod:`sedl.cache`, :mod:`sedl.train`, :mod:`sedl.plotting`. Each topic chapter adds the
module it teaches.
"""

__version__ = "0.1.0"
