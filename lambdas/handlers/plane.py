"""The domain facade a function uses, built once per execution environment: on the first event, not at
import (so a cold start that fails reports why in the invocation's log), and replaceable by tests and the
local sandbox, which hand in a ControlPlane wired to moto and a local hub."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workshop_hub.service import ControlPlane

_plane: ControlPlane | None = None


def control_plane() -> ControlPlane:
    global _plane
    if _plane is None:
        from workshop_hub.service import ControlPlane

        _plane = ControlPlane.from_env()
    return _plane


def use_control_plane(plane: ControlPlane | None) -> None:
    """Use ``plane`` from now on (None: build it from the environment again at the next event)."""
    global _plane
    _plane = plane
