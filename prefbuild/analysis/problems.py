"""Deprecated: `prefbuild.analysis.problems` moved to `prefbuild.repro.problems` (repro is its own package since issue 15).

This alias is the new module itself (so patching either name patches both) and warns once per process, on first
import. It will be removed in the next release.
"""

import sys
import warnings

import prefbuild.repro.problems as _moved

warnings.warn(
    "prefbuild.analysis.problems is deprecated; import prefbuild.repro.problems instead.",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
