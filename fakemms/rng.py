"""The one seedable source of randomness: ids, faker data and probabilistic faults."""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any


class Rng:
    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faker: Any = None
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self.seed = seed
            self._random = random.Random(seed)
            if self._faker is not None:
                self._faker.seed_instance(self._random.getrandbits(64))

    def random(self) -> float:
        with self._lock:
            return self._random.random()

    def randint(self, low: int, high: int) -> int:
        with self._lock:
            return self._random.randint(low, high)

    def choice(self, seq: list) -> Any:
        with self._lock:
            return self._random.choice(seq)

    def digits(self, width: int) -> int:
        """A positive integer of exactly ``width`` decimal digits."""
        with self._lock:
            return self._random.randint(10 ** (width - 1), 10**width - 1)

    def uuid(self) -> uuid.UUID:
        with self._lock:
            return uuid.UUID(int=self._random.getrandbits(128), version=4)

    def request_id(self) -> str:
        # openmarket-mms-send.txt: X-Request-Id like 015-3DD6C366-D68A-4A02-9777-19CBC8AB40C1
        return f"015-{str(self.uuid()).upper()}"

    def hex(self, nbytes: int) -> str:
        with self._lock:
            return f"{self._random.getrandbits(nbytes * 8):0{nbytes * 2}X}"

    @property
    def faker(self) -> Any:
        """A Faker seeded from this generator; created on first use (faker is slow to import)."""
        if self._faker is None:
            from faker import Faker

            fk = Faker(["en_US", "en_GB"])
            with self._lock:
                fk.seed_instance(self._random.getrandbits(64))
            self._faker = fk
        return self._faker
