"""remember / recall: the goal's long-term memories through ``ctx.memories``."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from .base import ToolContext


class RememberParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(
        min_length=1, max_length=4000,
        description="What to remember for future runs of this goal, as one self-contained statement.",
    )]
    type: Annotated[Literal["note", "fact", "artifact"], msgspec.Meta(
        description="note: an observation or reminder; fact: something verified; artifact: the name of a saved file.",
    )] = "note"


class RecallParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=500, description="Words to look for in memories.")]
    limit: Annotated[int, msgspec.Meta(ge=1, le=20, description="Most memories to return.")] = 5


class Remember:
    name: ClassVar[str] = "remember"
    description: ClassVar[str] = "Save a memory that later runs of this goal can recall."
    Params: ClassVar[type[msgspec.Struct]] = RememberParams
    timeout_s: ClassVar[float] = 10.0
    side_effect: ClassVar[bool] = False
    working_memory: ClassVar[tuple[str, str] | None] = ("remembered", "content")
    read_only: ClassVar[bool] = False
    idempotent: ClassVar[bool] = False
    external: ClassVar[bool] = False
    default: ClassVar[bool] = True

    async def run(self, params: RememberParams, ctx: ToolContext) -> str:
        memory_id = await ctx.memories.remember(type=params.type, content=params.content)
        return f"Remembered ({params.type}, id {memory_id})."


class Recall:
    name: ClassVar[str] = "recall"
    description: ClassVar[str] = "Search this goal's long-term memories from earlier runs."
    Params: ClassVar[type[msgspec.Struct]] = RecallParams
    timeout_s: ClassVar[float] = 10.0
    side_effect: ClassVar[bool] = False
    read_only: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True
    external: ClassVar[bool] = False
    default: ClassVar[bool] = True

    async def run(self, params: RecallParams, ctx: ToolContext) -> str:
        found = await ctx.memories.recall(query=params.query, limit=params.limit)
        if not found:
            return f"No memories match {params.query!r}."
        lines = [f"{i}. [{m.type}, {m.created_at}] {m.content}" for i, m in enumerate(found, 1)]
        return "\n".join(lines)
