"""Deprecated: `prefbuild.analysis.repro` moved to `prefbuild.repro.run` (repro is its own package since issue 15).

This alias is the new module itself (so patching either name patches both) and warns once per process, on first
import. It will be removed in the next release.
"""

import sys
import warnings

import prefbuild.repro.run as _moved

warnings.warn(
    "prefbuild.analysis.repro is deprecated; import prefbuild.repro.run instead.",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved
