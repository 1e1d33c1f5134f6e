"""Saving a Prefect block from a test with one API client.

``Block.save`` called from synchronous code registers the block's type and schema, and each nested block's, through
a new client per block class (each with its own SSL context: some 20-40 ms of CPU apiece), then writes the document
through one more: 0.4-0.5 s of CPU for the connection block with its three nested blocks. ``Block.asave`` does the
same requests, in the same order, through one client it opens for the call (Prefect's ``inject_client``): the same
block types, schemas and document are saved, for 0.15-0.2 s.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from prefect.blocks.core import Block


def save_block(block: Block, name: str) -> UUID:
    """Save ``block`` as the document ``name`` (overwriting one of that name) and return the document's id.

    Call it from synchronous code only (it runs its own event loop).
    """
    return asyncio.run(block.asave(name, overwrite=True))
