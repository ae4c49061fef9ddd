# The project's CLI in a container: docker-compose.yml's testbed service (`testbed serve`,
# which deploys template.yaml into the compose LocalStack and serves POST /run) and its stress
# profile (`testbed worker`, `testbed publish`). Python 3.11, as the functions' runtime.
FROM python:3.11.13-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md template.yaml ./
COPY statemachine/ statemachine/
COPY src/ src/
COPY examples/ examples/

# The project, then the handlers' wheels for the Lambda zip, fetched with the same pip flags
# packaging.py installs them with (pure Python, for Lambda's Python): `testbed serve` then
# builds the zip from /wheels, with no index and no network at start.
RUN pip install --no-cache-dir . \
    && pip download --no-cache-dir --dest /wheels --requirement src/requirements.txt \
        --python-version 3.11 --implementation py --abi none --platform any --only-binary=:all:
ENV PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheels

RUN useradd --create-home --uid 10001 testbed
USER 10001

EXPOSE 4567
ENTRYPOINT ["testbed"]
CMD ["--help"]
