"""TaskFlow decorators of the provider (``@task.bulk_fetch``)."""
