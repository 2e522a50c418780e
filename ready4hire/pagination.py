"""The one pagination of every API list: `page` and `page_size` query parameters and a
`{"items": [...], "count": N}` body, used through ninja's `@paginate(Pagination)`."""

from __future__ import annotations

from typing import Any

from ninja import Field
from ninja.pagination import PageNumberPagination
from pydantic import create_model

from .validation import InputSchema

# Past this page the offset no longer fits a database integer (SQLite and PostgreSQL refuse it with an
# error); no list here is anywhere near that long.
MAX_PAGE = 1_000_000


class Pagination(PageNumberPagination):
    """ninja's page-number pagination, except that a `page_size` over the maximum or a `page` past MAX_PAGE is
    refused (422, like any other invalid query parameter) rather than silently cut or failing in the database,
    and each list may set its own default and maximum: `@paginate(Pagination, page_size=50, max_page_size=200)`."""

    def __init__(self, *, page_size: int = 20, max_page_size: int = 100, **kwargs: Any) -> None:
        super().__init__(page_size=page_size, max_page_size=max_page_size, **kwargs)
        self.Input = create_model(
            "PageQuery",
            __base__=InputSchema,
            page=(int, Field(default=1, ge=1, le=MAX_PAGE)),
            page_size=(int, Field(default=page_size, ge=1, le=max_page_size)),
        )
