"""Django + Django REST framework, served by waitress: ``python -m tests.support.frameworks.drf --port P
--db PATH``. Prints ``listening on http://127.0.0.1:P`` once it accepts requests.

One model, ``Item(id, value)``, seeded with ``RECORDS`` rows in an SQLite file; three list views, each with
one of DRF's own paginators configured as its docs show (``PAGE_SIZE`` records a page):

* ``/page-number/`` — ``PageNumberPagination``: ``{"count", "next", "previous", "results"}``, ``?page=N``;
* ``/limit-offset/`` — ``LimitOffsetPagination``: the same body, ``?limit=L&offset=O``;
* ``/cursor/`` — ``CursorPagination`` (ordering ``id``): ``{"next", "previous", "results"}``, ``?cursor=C``.
"""

from __future__ import annotations

import argparse
import sys

import django
from django.conf import settings


def configure(db: str) -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="test-only-not-a-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db}},
        MIDDLEWARE=[],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        REST_FRAMEWORK={
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_PERMISSION_CLASSES": [],
            "UNAUTHENTICATED_USER": None,
            "PAGE_SIZE": 30,
        },
    )
    django.setup()


urlpatterns: list = []


def build() -> None:
    """The model, the views and the URLs (after ``django.setup()``)."""
    from django.db import connection, models
    from django.urls import path
    from rest_framework import generics, pagination, serializers

    from . import PAGE_SIZE, RECORDS

    class Item(models.Model):
        value = models.IntegerField()

        class Meta:
            app_label = "frameworks"
            ordering = ["id"]

    with connection.schema_editor() as editor:
        editor.create_model(Item)
    Item.objects.bulk_create([Item(id=i, value=i * 3) for i in range(1, RECORDS + 1)])

    class ItemSerializer(serializers.ModelSerializer):
        class Meta:
            model = Item
            fields = ["id", "value"]

    class Cursor(pagination.CursorPagination):
        page_size = PAGE_SIZE
        ordering = "id"

    def view(paginator: type) -> generics.ListAPIView:
        return generics.ListAPIView.as_view(
            queryset=Item.objects.all(), serializer_class=ItemSerializer, pagination_class=paginator
        )

    urlpatterns.extend(
        [
            path("page-number/", view(pagination.PageNumberPagination)),
            path("limit-offset/", view(pagination.LimitOffsetPagination)),
            path("cursor/", view(Cursor)),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    configure(args.db)
    build()
    from django.core.wsgi import get_wsgi_application
    from waitress.server import create_server

    server = create_server(get_wsgi_application(), host="127.0.0.1", port=args.port, threads=16)
    print(f"listening on http://127.0.0.1:{args.port}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
