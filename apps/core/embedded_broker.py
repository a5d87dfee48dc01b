"""The embedded broker: kombu's filesystem transport, with atomic message writes.

kombu's filesystem Channel creates `<name>.msg` and then writes into it; a consumer listing the
folder in between moves and reads an empty file, fails to decode it, and Celery stops the
worker's consumer for good ("Unrecoverable error: JSONDecodeError"). Here a message is written
under a name the consumer ignores and renamed into place, which is atomic on POSIX; names sort
in the order messages were put.
"""

from __future__ import annotations

import os
import uuid
from itertools import count
from time import time
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

ALIAS = "sbfs"
_sequence = count()


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        # Zero-padded time and sequence, so `_get`'s name sort is first-in first-out.
        name = f"{int(time() * 1000):015d}_{next(_sequence):09d}_{uuid.uuid4().hex}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"  # `_get` only takes names ending in .<queue>.msg
        try:
            with open(partial, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> None:
    TRANSPORT_ALIASES[ALIAS] = f"{__name__}:Transport"
