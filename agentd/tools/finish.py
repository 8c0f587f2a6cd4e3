"""finish: the model's way to end the run with a summary (``ends_run``)."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from .base import ToolContext


class FinishParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    summary: Annotated[str, msgspec.Meta(
        min_length=1, max_length=100_000,
        description="The final result of the run in markdown: what was done and found.",
    )]


class Finish:
    name: ClassVar[str] = "finish"
    description: ClassVar[str] = "End the run and report the final summary (markdown). Call this once the objective is met."
    Params: ClassVar[type[msgspec.Struct]] = FinishParams
    timeout_s: ClassVar[float] = 5.0
    side_effect: ClassVar[bool] = False
    ends_run: ClassVar[bool] = True
    read_only: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True
    external: ClassVar[bool] = False
    default: ClassVar[bool] = True

    async def run(self, params: FinishParams, ctx: ToolContext) -> str:
        return params.summary
