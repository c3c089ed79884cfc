"""docker-compose.yml, Dockerfile and .env.example, checked without a Docker engine."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from jsonschema import Draft7Validator

import hasura_project as hp

HEALTHCHECK = ["CMD", "/usr/local/bin/stripe-graphql", "healthcheck"]
BINARY = "/usr/local/bin/stripe-graphql"
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return hp.compose()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_validates_against_compose_spec(compose):
    spec = json.loads(hp.COMPOSE_SPEC_FILE.read_text(encoding="utf-8"))
    # The spec declares draft-07 (its "$schema" URL is not the canonical one jsonschema knows).
    assert "draft-07" in spec["$schema"]
    Draft7Validator.check_schema(spec)
    errors = sorted(Draft7Validator(spec).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_services(services):
    assert set(services) == {"postgres", "stripe-graphql", "hasura"}


def test_postgres(services):
    pg = services["postgres"]
    assert re.fullmatch(r"postgres:\d+(\.\d+)?(-[a-z0-9]+)?", pg["image"]), "pin the major version"
    test = pg["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in pg["volumes"])


def test_stripe_graphql(services):
    svc = services["stripe-graphql"]
    build = svc["build"]
    assert (hp.REPO_ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).is_file()
    assert svc["healthcheck"]["test"] == HEALTHCHECK
    env = hp.env_mapping(svc)
    for name in ("STRIPE_SECRET_KEY", "GRAPHQL_AUTH_TOKEN", "STRIPE_API_VERSION",
                 "CACHE_TTL_SECONDS", "LOG_FORMAT", "LISTEN_ADDR", "DEMO"):
        assert name in env, f"stripe-graphql: {name} not set"
    # No key by default, and then the demo sandbox.
    assert env["STRIPE_SECRET_KEY"] == "${STRIPE_SECRET_KEY:-}"
    assert env["DEMO"] == "${DEMO:-auto}"
    assert env["LISTEN_ADDR"].endswith(":8000")


def test_hasura_image_is_an_exact_cli_migrations_v3_tag(services):
    assert re.fullmatch(
        r"hasura/graphql-engine:v2\.\d+\.\d+\.cli-migrations-v3", services["hasura"]["image"]
    )


def test_hasura_waits_for_healthy_dependencies(services):
    deps = services["hasura"]["depends_on"]
    assert isinstance(deps, dict), "use the long form with conditions"
    for name in ("postgres", "stripe-graphql"):
        assert deps[name]["condition"] == "service_healthy"
        assert "healthcheck" in services[name]


def test_hasura_mounts(services):
    targets = {}
    for volume in services["hasura"]["volumes"]:
        host, target, *mode = volume.split(":")
        assert mode == ["ro"], f"{volume}: mount read-only"
        path = (hp.REPO_ROOT / host).resolve()
        assert path.is_dir(), f"{host} is not a directory in the repository"
        targets[target] = path
    assert targets == {
        "/hasura-metadata": hp.METADATA_DIR.resolve(),
        "/hasura-migrations": hp.MIGRATIONS_DIR.parent.resolve(),
        "/hasura-seeds": hp.SEEDS_DIR.parent.resolve(),
    }
    # cli-migrations-v3 applies seeds with `--database-name default`.
    assert (hp.SEEDS_DIR.parent / "default").is_dir() and (hp.MIGRATIONS_DIR.parent / "default").is_dir()


def test_hasura_environment(services):
    env = hp.env_mapping(services["hasura"])
    for name in ("HASURA_GRAPHQL_METADATA_DATABASE_URL", "PG_DATABASE_URL",
                 "HASURA_GRAPHQL_ADMIN_SECRET", "HASURA_GRAPHQL_ENABLE_CONSOLE"):
        assert env.get(name), f"hasura: {name} not set"
    assert "@postgres:5432/" in env["PG_DATABASE_URL"]
    assert env["STRIPE_GRAPHQL_URL"].endswith("http://stripe-graphql:8000/graphql}")
    # Hasura's Authorization header carries the token the server expects, with the same default.
    server_token = hp.env_mapping(services["stripe-graphql"])["GRAPHQL_AUTH_TOKEN"]
    assert env["STRIPE_GRAPHQL_AUTHORIZATION"] == f"Bearer {server_token}"
    # The remote schema permission for `user` has no effect (and `user` sees all of Stripe)
    # unless remote schema permissions are enabled.
    assert env["HASURA_GRAPHQL_ENABLE_REMOTE_SCHEMA_PERMISSIONS"].endswith(":-true}")


def test_every_interpolated_variable_is_documented(compose):
    text = hp.COMPOSE_FILE.read_text(encoding="utf-8")
    used = {m.group(1) for m in INTERPOLATION.finditer(text)}
    # Escaped `$${X}` would be container-side; this file should not need any.
    assert "$${" not in text
    for m in INTERPOLATION.finditer(text):
        # `docker compose up` must work without any .env file.
        assert m.group(2) == ":-", f"{m.group(0)}: every variable needs a default"
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (hp.REPO_ROOT / ".env.example").read_text(), re.M))
    assert used <= documented, f"missing from .env.example: {sorted(used - documented)}"


# ---------------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = hp.DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    ins = dockerfile_instructions()
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    return ins[last_from:]


def test_dockerfile_is_multi_stage():
    froms = [rest for w, rest in dockerfile_instructions() if w == "FROM"]
    assert len(froms) >= 2
    assert " AS " in froms[0].upper(), "name the builder stage"


def test_dockerfile_runtime_stage():
    stage = final_stage()
    (base,) = [rest for w, rest in stage if w == "FROM"]
    assert base.startswith(("gcr.io/distroless/", "debian:")), base
    users = [rest for w, rest in stage if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "run as a non-root user"
    copies = " ".join(rest for w, rest in stage if w == "COPY")
    assert BINARY in copies
    (health,) = [rest for w, rest in stage if w == "HEALTHCHECK"]
    exec_form = health[health.index("CMD") + 3:].strip()
    assert json.loads(exec_form) == HEALTHCHECK[1:], "exec-form HEALTHCHECK using the subcommand"
    (entry,) = [rest for w, rest in stage if w == "ENTRYPOINT"]
    assert json.loads(entry) == [BINARY]
    assert ("EXPOSE", "8000") in stage


def test_dockerfile_dependency_stage_has_every_workspace_member():
    # The dependency stage builds the workspace from its manifests alone, with placeholder
    # sources: a member whose Cargo.toml is not copied fails that build, and one whose
    # placeholder artefacts are kept could stand in for its real sources in the build after it.
    workspace = tomllib.loads((hp.REPO_ROOT / "Cargo.toml").read_text(encoding="utf-8"))
    members = workspace["workspace"]["members"]
    assert members, "the server's Cargo.toml names its workspace members"
    ins = dockerfile_instructions()
    sources = ins.index(("COPY", ". ."))
    copied = " ".join(rest for w, rest in ins[:sources] if w == "COPY")
    placeholder = " ".join(rest for w, rest in ins[:sources] if w == "RUN")
    real_build = " ".join(rest for w, rest in ins[sources:] if w == "RUN")
    for member in members:
        manifest = tomllib.loads((hp.REPO_ROOT / member / "Cargo.toml").read_text(encoding="utf-8"))
        package = manifest["package"]["name"]
        lib = manifest.get("lib", {}).get("name", package.replace("-", "_"))
        assert f"{member}/Cargo.toml" in copied, f"copy {member}/Cargo.toml before the sources"
        assert f"{member}/src/lib.rs" in placeholder, f"give {member} a placeholder src/lib.rs"
        for artefact in (f"deps/lib{lib}-*", f".fingerprint/{package}-*"):
            assert f"target/release/{artefact}" in placeholder, f"delete {artefact}"
        assert f"{member}/src/lib.rs" in real_build, f"touch {member}/src/lib.rs"


def test_dockerignore():
    lines = {l.strip() for l in (hp.REPO_ROOT / ".dockerignore").read_text().splitlines()}
    assert "target/" in lines and ".git/" in lines and ".env" in lines
    # Nothing the Rust build needs may be excluded.
    for needed in ("Cargo.toml", "Cargo.lock", "src/", "src"):
        assert needed not in lines
    # hasura/ is left out, but for the documents the server sends to Hasura, which its
    # sources may include_str! (the last matching line wins).
    assert "hasura/" in lines
    order = [l.strip() for l in (hp.REPO_ROOT / ".dockerignore").read_text().splitlines()]
    assert order.index("!hasura/server_documents/") > order.index("hasura/")
    assert (hp.HASURA_DIR / "server_documents").is_dir()


def test_server_gets_the_phone_default_region_unset_by_default():
    env = hp.env_mapping(hp.compose()["services"]["stripe-graphql"])
    assert env["PHONE_DEFAULT_REGION"] == "${PHONE_DEFAULT_REGION:-}"
