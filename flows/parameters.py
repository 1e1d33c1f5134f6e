"""Parameter types the Prefect UI renders as form controls (enums become dropdowns/multi-selects)."""

from __future__ import annotations

from enum import StrEnum

from tandem.mapping import MAPPINGS_DIR, load_mapping_set

#: The entities of the shipped mapping set, for the UI's multi-select.
EntityName = StrEnum(  # type: ignore[misc]
    "EntityName", {name: name for name in load_mapping_set(MAPPINGS_DIR / "default.yaml").entities}
)


def selected_entities(chosen: list[EntityName] | None, enabled: list[str]) -> list[str]:
    """The entities to run: those chosen in the form (all enabled ones when none were chosen)."""
    if not chosen:
        return list(enabled)
    names = [str(entity.value) for entity in chosen]
    disabled = sorted(set(names) - set(enabled))
    if disabled:
        raise ValueError(f"not enabled on this connection: {', '.join(disabled)}")
    return names
