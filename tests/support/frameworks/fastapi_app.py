"""FastAPI + fastapi-pagination, served by uvicorn: ``python -m tests.support.frameworks.fastapi_app --port P
--db PATH``. Prints ``listening on http://127.0.0.1:P`` once it accepts requests.

The records live in an SQLite file through SQLAlchemy and are paginated with fastapi-pagination's SQLAlchemy
extension, as its docs show (``CursorPage`` needs it: its cursors are keyset positions):

* ``/page`` — ``Page``: ``{"items", "total", "page", "size", "pages"}``, ``?page=N&size=S``;
* ``/limit-offset`` — ``LimitOffsetPage``: ``{"items", "total", "limit", "offset"}``, ``?limit=L&offset=O``;
* ``/cursor`` — ``CursorPage``: ``{"items", "total", "current_page", "current_page_backwards",
  "previous_page", "next_page"}``, ``?cursor=C&size=S``;
* ``/cursor-forever`` — a ``CursorPage`` (built with ``CursorPage.create``) whose ``next_page`` is never
  null: past the last record it keeps returning empty pages with a fresh cursor, and answers 400 once the
  cursor is 10 pages past the data (what some APIs do; a client must stop on the first empty page).
"""

import argparse
import sys
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi_pagination import Page, Params
from fastapi_pagination.cursor import CursorPage, CursorParams
from fastapi_pagination.ext.sqlalchemy import paginate
from fastapi_pagination.limit_offset import LimitOffsetPage, LimitOffsetParams
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Integer, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tests.support.frameworks import RECORDS


class Base(DeclarativeBase):
    pass


class ItemRow(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class Item(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    value: int


def build(db: str) -> FastAPI:
    engine = create_engine(f"sqlite:///{db}", connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(ItemRow(id=i, value=i * 3) for i in range(1, RECORDS + 1))
        session.commit()

    def db_session() -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    app = FastAPI()
    ordered = select(ItemRow).order_by(ItemRow.id)

    # the params as explicit dependencies (fastapi-pagination's documented alternative to add_pagination,
    # whose route patching does not match the FastAPI version Airflow pins)
    @app.get("/page")
    def page(
        params: Annotated[Params, Depends()], session: Annotated[Session, Depends(db_session)]
    ) -> Page[Item]:
        return paginate(session, ordered, params)  # type: ignore[no-any-return]

    @app.get("/limit-offset")
    def limit_offset(
        params: Annotated[LimitOffsetParams, Depends()], session: Annotated[Session, Depends(db_session)]
    ) -> LimitOffsetPage[Item]:
        return paginate(session, ordered, params)  # type: ignore[no-any-return]

    @app.get("/cursor")
    def cursor(
        params: Annotated[CursorParams, Depends()], session: Annotated[Session, Depends(db_session)]
    ) -> CursorPage[Item]:
        return paginate(session, ordered, params)  # type: ignore[no-any-return]

    @app.get("/cursor-forever")
    def cursor_forever(
        params: Annotated[CursorParams, Depends()], session: Annotated[Session, Depends(db_session)]
    ) -> CursorPage[Item]:
        after = int(params.to_raw_params().cursor or 0)
        if after > RECORDS + 10 * params.size:  # the cursor walked far past the data: the server gives up
            raise HTTPException(400, "cursor out of range")
        rows = session.scalars(ordered.where(ItemRow.id > after).limit(params.size)).all()
        following = rows[-1].id if rows else after + params.size  # a next cursor even on an empty page
        items = [Item.model_validate(r) for r in rows]
        page = CursorPage[Item].create(items, params, current=str(after), next_=str(following), total=RECORDS)
        return page  # type: ignore[return-value]

    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    import uvicorn

    app = build(args.db)

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            print(f"listening on http://127.0.0.1:{args.port}", flush=True)

    Announcing(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
