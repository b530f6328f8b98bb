"""Deprecated: `prefbuild.analysis.report` moved to `prefbuild.repro.report` (repro is its own package since issue 15).

This alias is the new module itself (so patching either name patches both) and warns once per process, on first
import. It will be removed in the next release.
"""

import sys
import warnings

import prefbuild.repro.report as _moved

warnings.warn(
    "prefbuild.analysis.report is deprecated; import prefbuild.repro.report instead.",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
