"""Dataset cards: YAML metadata built in code (huggingface_hub's DatasetCardData) plus a body rendered from
`data_cards/<name>.md` with Jinja2. A template that uses a field the build does not provide fails the build
(StrictUndefined), never the upload."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from huggingface_hub import DatasetCardData

from prefbuild.errors import PrefbuildError


def card_directory() -> Path:
    """data_cards/ inside an installed wheel, else the repository's top-level data_cards/ (editable install)."""
    packaged = Path(__file__).parent / "data_cards"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "data_cards"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(card_directory())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def size_category(rows: int) -> str:
    """The Hub's `size_categories` bucket for a row count."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "1M<n<10M"


def configs_metadata(shards: dict[str, list[str]]) -> list[dict[str, Any]]:
    """`configs` YAML that makes `load_dataset(DIR)` and the Hub see our split names (`eval`, not `validation`)."""
    return [
        {
            "config_name": "default",
            "data_files": [{"split": split, "path": f"data/{split}-*"} for split in shards],
        }
    ]


def render_card(template: str, metadata: DatasetCardData, context: dict[str, Any]) -> str:
    """README.md text: `---\\n<yaml>\\n---\\n` followed by the rendered template body."""
    try:
        body = _environment().get_template(f"{template}.md").render(**context)
    except jinja2.TemplateNotFound:
        raise PrefbuildError(f"No card template data_cards/{template}.md in {card_directory()}.") from None
    except jinja2.UndefinedError as error:
        raise PrefbuildError(
            f"Card template data_cards/{template}.md uses a field the build does not provide: {error.message}."
        ) from None
    return f"---\n{metadata.to_yaml()}\n---\n\n{body.lstrip()}"
