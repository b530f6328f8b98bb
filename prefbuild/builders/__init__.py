"""The builder registry: a plain dict, easy to grep and to parametrise tests over."""

from prefbuild.builders import arc, gsm8k, hellaswag, metamath, orca, truthy, ultrafeedback
from prefbuild.builders.base import Builder, RowOutcome
from prefbuild.errors import unknown_name_error

BUILDERS: dict[str, Builder] = {
    "arc": arc.BUILDER,
    "hellaswag": hellaswag.BUILDER,
    "gsm8k": gsm8k.BUILDER,
    "metamath": metamath.BUILDER,
    # existing preference sets, normalised to prompt / chosen / rejected (also the mixture's third-party entries)
    "orca": orca.BUILDER,
    "truthy": truthy.BUILDER,
    "ultrafeedback": ultrafeedback.BUILDER,
}


def get_builder(name: str) -> Builder:
    if name not in BUILDERS:
        raise unknown_name_error("builder", name, BUILDERS)
    return BUILDERS[name]


__all__ = ["BUILDERS", "Builder", "RowOutcome", "get_builder"]
