"""The model response cache's rows (see harness.models.cache for what a key means)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from harness.store.schema import ModelResponseRecord
from harness.store.sessions import Sessions


class ResponseQueries(Sessions):
    def response(self, key: str) -> ModelResponseRecord | None:
        with self.reading() as session:
            return session.get(ModelResponseRecord, key)

    def add_response(self, record: ModelResponseRecord) -> bool:
        """Stores a response; False when one with the same key was stored meanwhile (by
        another worker or process), which is kept: either answer will do."""
        try:
            with self.writing() as session:
                session.add(record)
        except IntegrityError:
            return False
        return True
