# The Airflow image for docker-compose.yaml: the official apache/airflow image + this provider, installed from
# the repository at build time, not at every container start (why: docs/scaling.md, "Production
# (docker-compose)").
#
#   docker compose build                    # or: docker build -t airflow-bulk-uploader:local .
#
# The official image already ships the providers the example DAGs need (amazon, celery, postgres, redis, fab);
# the amazon provider's [s3fs] extra is added, at the image's own amazon version, so that
# ObjectStoragePath("s3://aws_default@bucket/...") works through the `aws` connection.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2
FROM ${AIRFLOW_IMAGE}

USER airflow
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow/src/airflow-provider-bulk-uploader/
COPY --chown=airflow:0 airflow_provider_bulk_uploader \
     /opt/airflow/src/airflow-provider-bulk-uploader/airflow_provider_bulk_uploader

# "apache-airflow==${AIRFLOW_VERSION}" (set by the base image) is the official extend-the-image recipe: pip
# must never up- or downgrade Airflow itself to satisfy a dependency.
RUN AMAZON_VERSION="$(python -c 'import importlib.metadata as m; print(m.version("apache-airflow-providers-amazon"))')" \
    && pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        "apache-airflow-providers-amazon[s3fs]==${AMAZON_VERSION}" \
        /opt/airflow/src/airflow-provider-bulk-uploader \
    && python -c "import importlib.metadata as m; \
eps = [e.value for e in m.entry_points(group='apache_airflow_provider')]; \
assert any(v.startswith('airflow_provider_bulk_uploader.') for v in eps), eps; \
import airflow_provider_bulk_uploader.testing.demo_api, s3fs"
