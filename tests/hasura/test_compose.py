"""docker-compose.yml, docker-compose.replicas.yml, the load balancer's nginx configuration,
the Dockerfile and .env.example, checked without a Docker engine (Redis and nginx, when
installed, run the files' own command line and configuration)."""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import tomllib
import types
import urllib.parse
from pathlib import Path

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


@pytest.mark.parametrize("path", [hp.COMPOSE_FILE, hp.REPLICAS_COMPOSE_FILE], ids=lambda p: p.name)
def test_every_interpolated_variable_is_documented(path):
    text = path.read_text(encoding="utf-8")
    used = {m.group(1) for m in INTERPOLATION.finditer(text)}
    assert used, f"{path.name} interpolates nothing: the pattern is wrong"
    # Escaped `$${X}` would be container-side; these files should not need any.
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


# ---------------------------------------------------------------------------------------------
# docker-compose.replicas.yml: two replicas sharing Redis behind nginx, which Hasura calls
# ---------------------------------------------------------------------------------------------

REPLICAS = ("stripe-graphql", "stripe-graphql-2")
LB = "stripe-graphql-lb"
UPSTREAM = "stripe_graphql"
# actix-web's default keep-alive: how long the server keeps an idle connection open.
SERVER_KEEP_ALIVE_SECONDS = 5
# The nginx the functional tests below need; .ci/run installs Debian's.
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def need(binary: str | None, what: str):
    """Skips without `binary` locally; in CI (CI=true) its absence is a failure."""
    if binary:
        return binary
    message = f"{what} not installed (Debian: apt-get install -y {what}); .ci/run installs it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def replicas_file() -> dict:
    return hp.load_compose_file(hp.REPLICAS_COMPOSE_FILE)


@pytest.fixture(scope="module")
def stack() -> dict:
    """The services `docker compose -f docker-compose.yml -f docker-compose.replicas.yml` runs."""
    return hp.compose_replicas()["services"]


@pytest.fixture(scope="module")
def nginx() -> hp.NginxBlock:
    return hp.nginx_conf()


@pytest.fixture(scope="module")
def lb_server(nginx) -> hp.NginxBlock:
    return nginx.one("http").one("server")


def redis_url_parts(url: str) -> urllib.parse.SplitResult:
    return urllib.parse.urlsplit(hp.with_defaults(url))


def test_replicas_file_and_merged_stack_validate_against_compose_spec(replicas_file):
    spec = json.loads(hp.COMPOSE_SPEC_FILE.read_text(encoding="utf-8"))
    validator = Draft7Validator(spec)
    for name, model in (("override", replicas_file), ("merged", hp.compose_replicas())):
        errors = sorted(validator.iter_errors(model), key=lambda e: list(e.path))
        assert not errors, name + ":\n" + "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_replicas_stack_services(stack, replicas_file):
    assert set(stack) == {"postgres", "hasura", "redis", LB, *REPLICAS}
    # The override extends hasura and stripe-graphql and adds the three others.
    assert set(replicas_file["services"]) == {"redis", LB, "hasura", *REPLICAS}
    # No profile: the file is the switch (its header says why).
    assert not any("profiles" in svc for svc in stack.values())


def test_redis_is_a_bounded_cache_with_a_health_check(stack):
    redis = stack["redis"]
    assert re.fullmatch(r"redis:7\.\d+-alpine", redis["image"]), "pin Redis 7 by its minor"
    command = [hp.with_defaults(str(c)) for c in redis["command"]]
    assert command[0] == "redis-server"
    flags = dict(zip(command[1::2], command[2::2]))
    assert len(command) % 2 == 1 and len(flags) == len(command) // 2, command
    assert flags["--maxmemory-policy"] == "volatile-lru"
    assert flags["--maxmemory"] == "256mb"
    assert flags["--save"] == "" and flags["--appendonly"] == "no", "a cache: no persistence"
    assert redis["command"][redis["command"].index("--requirepass") + 1] == "${REDIS_PASSWORD:-dev-only-redis-password}"
    # redis-cli exits 0 on NOAUTH or LOADING: the check must look for PONG.
    assert redis["healthcheck"]["test"] == ["CMD-SHELL", "redis-cli ping | grep -q PONG"]
    assert hp.env_mapping(redis)["REDISCLI_AUTH"] == "${REDIS_PASSWORD:-dev-only-redis-password}"
    assert "ports" not in redis and "volumes" not in redis


def test_both_replicas_share_redis_and_wait_for_it(stack):
    redis_password = stack["redis"]["command"][stack["redis"]["command"].index("--requirepass") + 1]
    for name in REPLICAS:
        env = hp.env_mapping(stack[name])
        url = redis_url_parts(env["REDIS_URL"])
        # `default`, Redis's own user: `redis://:password@` is read differently by clients
        # (redis-cli 7.0 sends an empty user name and is refused).
        assert (url.scheme, url.hostname, url.port, url.username) == ("redis", "redis", 6379, "default")
        assert env["REDIS_URL"] == f"redis://default:{redis_password}@redis:6379"
        assert env["REDIS_EXPECTED_REPLICAS"] == str(len(REPLICAS))
        assert "REDIS_CLUSTER" not in env and "REDIS_KEY_PREFIX" not in env
        assert stack[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
        # Never the other way: the server must not wait for Hasura (a cycle).
        assert "hasura" not in stack[name]["depends_on"]


def test_replicas_are_the_same_server(stack):
    one, two = (stack[name] for name in REPLICAS)
    # Replica 1 is docker-compose.yml's server with REDIS_* added; replica 2 is written out and
    # must stay its copy: every setting, the Stripe key and webhook secret included.
    assert hp.env_mapping(two) == hp.env_mapping(one)
    base = hp.env_mapping(hp.compose()["services"]["stripe-graphql"])
    assert hp.env_mapping(one) == {**base, "REDIS_URL": hp.env_mapping(one)["REDIS_URL"],
                                   "REDIS_EXPECTED_REPLICAS": str(len(REPLICAS))}
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "GRAPHQL_AUTH_TOKEN",
                 "STRIPE_API_VERSION", "CACHE_TTL_SECONDS", "HASURA_ADMIN_SECRET"):
        assert hp.env_mapping(two)[name] == base[name] != ""
    assert base["STRIPE_SECRET_KEY"] == "${STRIPE_SECRET_KEY:-}"
    assert base["STRIPE_WEBHOOK_SECRET"] == "${STRIPE_WEBHOOK_SECRET:-}"
    for key in ("build", "image", "restart", "healthcheck"):
        assert two[key] == one[key], key
    assert one["healthcheck"]["test"] == HEALTHCHECK
    # Two containers cannot publish one host port: only replica 1 keeps docker-compose.yml's.
    assert one["ports"] == hp.compose()["services"]["stripe-graphql"]["ports"]
    assert "ports" not in two


def test_load_balancer_service(stack):
    lb = stack[LB]
    assert re.fullmatch(r"nginx:1\.\d+-alpine", lb["image"]), "pin nginx by its minor"
    (mount,) = lb["volumes"]
    host, target, mode = mount.split(":")
    assert (hp.REPO_ROOT / host).resolve() == hp.NGINX_CONF.resolve() and hp.NGINX_CONF.is_file()
    assert (target, mode) == ("/etc/nginx/nginx.conf", "ro")
    # It starts once both replicas are healthy (nginx resolves their names at start) and is
    # restarted with them.
    assert lb["depends_on"] == {
        name: {"condition": "service_healthy", "restart": True} for name in REPLICAS
    }


def test_load_balancer_listens_where_its_health_check_and_port_point(stack, lb_server):
    (listen,) = lb_server.value("listen")
    port = int(listen)
    assert port == 8000
    (published,) = stack[LB]["ports"]
    assert hp.with_defaults(published) == f"127.0.0.1:8001:{port}", "loopback only"
    test = stack[LB]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "wget"] and test[-1] == f"http://127.0.0.1:{port}/healthz"
    # /healthz goes through the balancer to a replica.
    assert hp.nginx_location(lb_server, "/healthz").value("proxy_pass") == [f"http://{UPSTREAM}"]


def test_load_balancer_round_robins_over_both_replicas(stack, nginx):
    upstream = nginx.one("http").one("upstream", UPSTREAM)
    servers = upstream.all("server")
    port = hp.env_mapping(stack[REPLICAS[0]])["LISTEN_ADDR"].rsplit(":", 1)[1]
    assert [s.args[0] for s in servers] == [f"{name}:{port}" for name in REPLICAS]
    for s in servers:
        # Equal weights, none a backup: plain round robin.
        assert not any(a.startswith(("weight=", "backup", "down")) for a in s.args[1:]), s.args
    methods = {"hash", "ip_hash", "least_conn", "least_time", "random", "sticky"}
    assert not methods & {c.name for c in upstream.children}, "round robin is nginx's default"
    assert upstream.value("zone"), "one rotation for all workers"
    # Every replica named here is a server of the stack, and every server is named here.
    replicas = {n for n, svc in stack.items() if svc.get("image") == "stripe-graphql:local"}
    assert replicas == set(REPLICAS)
    # Idle connections close before the server closes them.
    assert hp.nginx_seconds(upstream.value("keepalive_timeout")[0]) < SERVER_KEEP_ALIVE_SECONDS
    assert int(upstream.value("keepalive")[0]) > 0


def readme_routes() -> list[tuple[str, str]]:
    """(method, path) of every row of the README's HTTP route table."""
    text = (hp.REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### HTTP", 1)[1].split("\n### ", 1)[0]
    routes = re.findall(r"^\| `(GET|POST) (/[^` ?]*)", section, re.M)
    assert len(routes) >= 9, routes
    return [(m, p.replace("…", "app.js")) for m, p in routes]


def test_load_balancer_passes_every_route_but_metrics(lb_server):
    # Exact and prefix locations only, which hp.nginx_location matches as nginx does.
    for location in lb_server.all("location"):
        assert location.args[0] == "=" or (len(location.args) == 1 and location.args[0].startswith("/")), location.args
    routes = readme_routes()
    paths = {p for _, p in routes}
    assert {"/graphql", "/webhooks/stripe", "/hasura/events", "/healthz", "/readyz", "/metrics"} <= paths
    for path in paths:
        location = hp.nginx_location(lb_server, path)
        if path == "/metrics":
            # Each replica has its own registry: a scrape through the balancer would mix them.
            assert location.value("proxy_pass") is None
            status, body = location.value("return")
            assert status == "404" and json.loads(body)["error"]["code"] == "NOT_ROUTED"
        else:
            assert location.value("proxy_pass") == [f"http://{UPSTREAM}"], path


def test_load_balancer_leaves_bodies_and_headers_as_sent(lb_server, nginx):
    blocks = [nginx, nginx.one("http"), lb_server, *lb_server.all("location")]
    for blk in blocks:
        for name in ("proxy_set_body", "proxy_pass_request_body", "proxy_pass_request_headers",
                     "proxy_hide_header", "underscores_in_headers", "proxy_method"):
            assert blk.value(name) is None, f"{name} in {blk.name} {blk.args}"
        # Only the headers a proxy adds; Authorization, Stripe-Signature, x-hasura-* pass as sent.
        for header in blk.all("proxy_set_header"):
            assert header.args[0].lower() in {"connection", "host", "x-request-id",
                                              "x-forwarded-for", "x-forwarded-proto"}, header.args
    # Keep-alive to the replicas needs HTTP/1.1 and no `Connection: close`.
    assert lb_server.value("proxy_http_version") == ["1.1"]
    assert ["Connection", ""] in [h.args for h in lb_server.all("proxy_set_header")]
    # The server, not nginx, refuses a body over MAX_BODY_BYTES, with its JSON 413.
    max_body = int(hp.readme_default("MAX_BODY_BYTES"))
    assert max_body == 8 * 1024 * 1024
    assert hp.nginx_bytes(lb_server.value("client_max_body_size")[0]) > max_body


def test_load_balancer_timeouts_fit_between_the_server_and_hasura(lb_server):
    remote_schema_timeout = hp.remote_schema("stripe")["definition"]["timeout_seconds"]
    request_deadline = int(hp.readme_default("REQUEST_DEADLINE_SECONDS"))
    assert (request_deadline, remote_schema_timeout) == (18, 20)
    trigger = next(t for t in hp.tracked_tables()[("public", "customers")]["event_triggers"]
                   if t["name"] == "customers_stripe_sync")
    trigger_timeout = trigger["retry_conf"]["timeout_sec"]

    def seconds(path: str, name: str) -> float:
        (value,) = hp.nginx_effective([lb_server, hp.nginx_location(lb_server, path)], name)
        return hp.nginx_seconds(value)

    for path in ("/graphql", "/webhooks/stripe", "/healthz"):
        # The server's own REQUEST_TIMEOUT answer arrives before nginx gives up, and nginx
        # gives up before Hasura does.
        assert request_deadline < seconds(path, "proxy_read_timeout") < remote_schema_timeout, path
        assert seconds(path, "proxy_send_timeout") < remote_schema_timeout, path
    assert remote_schema_timeout <= seconds("/hasura/events", "proxy_read_timeout") < trigger_timeout
    assert seconds("/graphql", "proxy_connect_timeout") <= 2
    # Another replica is tried only for a connection that failed, quickly; a POST a replica
    # received is never sent again (no `non_idempotent`), and no answer is retried.
    assert set(lb_server.value("proxy_next_upstream")) == {"error", "timeout"}
    assert seconds("/graphql", "proxy_next_upstream_timeout") < request_deadline
    assert lb_server.value("proxy_next_upstream_tries") == [str(len(REPLICAS))]


def test_hasura_calls_the_load_balancer_in_the_replicas_stack(stack, lb_server):
    env = hp.env_mapping(stack["hasura"])
    (port,) = lb_server.value("listen")
    # Literals: a .env holding the single server's URLs (as .env.example does) cannot win.
    assert env["STRIPE_GRAPHQL_URL"] == f"http://{LB}:{port}/graphql"
    assert env["STRIPE_GRAPHQL_EVENTS_URL"] == f"http://{LB}:{port}/hasura/events"
    # The variables the metadata reads are exactly these (remote schema, event trigger).
    assert hp.remote_schema("stripe")["definition"]["url_from_env"] == "STRIPE_GRAPHQL_URL"
    for path in ("/graphql", "/hasura/events"):
        assert hp.nginx_location(lb_server, path).value("proxy_pass") == [f"http://{UPSTREAM}"]
    # The header Hasura sends is still the replicas' token.
    assert env["STRIPE_GRAPHQL_AUTHORIZATION"] == f"Bearer {hp.env_mapping(stack['stripe-graphql-2'])['GRAPHQL_AUTH_TOKEN']}"
    # Hasura introspects the remote schema before it serves: it waits for the balancer too.
    assert stack["hasura"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "stripe-graphql": {"condition": "service_healthy"},
        LB: {"condition": "service_healthy"},
    }
    for name in ("postgres", "redis", LB, *REPLICAS):
        assert "healthcheck" in stack[name], name
    # The default stack is unchanged: Hasura calls its one server.
    single = hp.env_mapping(hp.compose()["services"]["hasura"])
    assert hp.with_defaults(single["STRIPE_GRAPHQL_URL"]) == "http://stripe-graphql:8000/graphql"


SECRET_LITERAL = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}|\bwhsec_[A-Za-z0-9]{8,}")


def test_no_secret_literal_in_the_deployment_files(stack):
    files = [hp.COMPOSE_FILE, hp.REPLICAS_COMPOSE_FILE, hp.REPO_ROOT / ".env.example",
             *sorted((hp.REPO_ROOT / "deploy").rglob("*"))]
    for path in files:
        if path.is_file():
            found = SECRET_LITERAL.findall(path.read_text(encoding="utf-8"))
            assert not found, f"{path.relative_to(hp.REPO_ROOT)}: {found}"
    env_example = (hp.REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    assert re.search(r"^STRIPE_SECRET_KEY=$", env_example, re.M)
    assert re.search(r"^STRIPE_WEBHOOK_SECRET=$", env_example, re.M)
    assert re.search(r"^REDIS_PASSWORD=dev-only-", env_example, re.M)
    # Every secret a service gets comes from a variable; the only defaults are empty or dev-only.
    secret_names = {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "GRAPHQL_AUTH_TOKEN",
                    "HASURA_ADMIN_SECRET", "HASURA_GRAPHQL_ADMIN_SECRET", "REDISCLI_AUTH"}
    for name, svc in stack.items():
        for key, value in hp.env_mapping(svc).items():
            if key in secret_names:
                m = INTERPOLATION.fullmatch(value)
                assert m and (m.group(3) == "" or m.group(3).startswith("dev-only-")), f"{name}.{key}"
            if key == "REDIS_URL":
                password = value.split("://default:", 1)[1].rsplit("@", 1)[0]
                m = INTERPOLATION.fullmatch(password)
                assert m and m.group(3).startswith("dev-only-"), f"{name}.{key}"


def test_docs_give_the_replicas_command():
    command = "docker compose -f docker-compose.yml -f docker-compose.replicas.yml up --build"
    for doc in ("README.md", "docs/hasura.md", "docker-compose.replicas.yml"):
        assert command in (hp.REPO_ROOT / doc).read_text(encoding="utf-8"), doc


# ---------------------------------------------------------------------------------------------
# The same files run: redis-server with the service's command line, nginx with the balancer's
# configuration in front of two recording HTTP servers (Docker's names replaced by loopback
# ports, the only change)
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"exited {process.returncode}: {log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listens on {port}: {log.read_text(errors='replace')}")


def test_redis_runs_with_the_service_command_and_answers_its_health_check(stack, tmp_path):
    server = need(shutil.which("redis-server"), "redis-server")
    cli = need(shutil.which("redis-cli"), "redis-tools")
    redis = stack["redis"]
    command = [hp.with_defaults(str(c)) for c in redis["command"]]
    port = free_port()
    log = tmp_path / "redis.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [server, *command[1:], "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log)
        password = hp.with_defaults(hp.env_mapping(redis)["REDISCLI_AUTH"])
        check = redis["healthcheck"]["test"][1].replace("redis-cli", f"{cli} -p {port}")
        env = {**os.environ, "REDISCLI_AUTH": password}
        assert subprocess.run(["sh", "-c", check], env=env).returncode == 0
        # Without the password Redis answers NOAUTH, and the check says unhealthy.
        bare = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
        assert subprocess.run(["sh", "-c", check], env=bare).returncode != 0

        def config(name: str) -> str:
            out = subprocess.run([cli, "-p", str(port), "--raw", "config", "get", name], env=env,
                                 capture_output=True, text=True, check=True).stdout.splitlines()
            return out[1] if len(out) > 1 else ""

        assert config("maxmemory") == str(256 * 1024 * 1024)
        assert config("maxmemory-policy") == "volatile-lru"
        assert config("save") == "" and config("appendonly") == "no"
        # The URL the replicas get authenticates (its host, `redis`, is the compose network's).
        url = hp.with_defaults(hp.env_mapping(stack["stripe-graphql-2"])["REDIS_URL"])
        url = url.replace("@redis:6379", f"@127.0.0.1:{port}")
        pong = subprocess.run([cli, "-u", url, "ping"], capture_output=True, text=True,
                              env=bare, check=True).stdout.strip()
        assert pong == "PONG"
    finally:
        process.terminate()
        process.wait(10)
    assert not any(tmp_path.glob("*.rdb")) and not any(tmp_path.glob("appendonly*")), "persisted"


class Recorder(http.server.ThreadingHTTPServer):
    """A replica stand-in: answers 200 with its name and records every request it gets."""

    daemon_threads = True

    def __init__(self, name: str):
        self.name = name
        self.seen: list[dict] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive uses it

    def handle_one(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.seen.append({"method": self.command, "path": self.path,
                                     "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": body})
        answer = json.dumps({"replica": self.server.name}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = handle_one

    def log_message(self, *args):
        pass


@pytest.fixture
def balancer(tmp_path):
    """nginx with deploy/nginx/stripe-graphql-lb.conf in front of two Recorders."""
    binary = need(NGINX, "nginx")
    one, two = Recorder("one"), Recorder("two")
    port = free_port()
    text = hp.NGINX_CONF.read_text(encoding="utf-8")
    replaced = {
        "server stripe-graphql:8000 ": f"server 127.0.0.1:{one.server_address[1]} ",
        "server stripe-graphql-2:8000 ": f"server 127.0.0.1:{two.server_address[1]} ",
        "listen 8000;": f"listen 127.0.0.1:{port};",
        # nginx's compiled-in temporary directories are the package's; these are the test's.
        "http {": "http {\n" + "".join(f"    {kind}_temp_path {tmp_path}/{kind};\n" for kind in
                                      ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
    }
    for old, new in replaced.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    tmp_path.chmod(0o755)  # nginx's workers drop root, if the test runs as root
    log = tmp_path / "nginx.out"
    with log.open("w") as out:
        process = subprocess.Popen(
            [binary, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log"),
             "-g", f"daemon off; pid {tmp_path}/nginx.pid;"], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log)
        yield types.SimpleNamespace(port=port, replicas=(one, two), log=log, conf=conf, binary=binary)
    finally:
        process.terminate()
        process.wait(10)
        for r in (one, two):
            r.shutdown()
            r.server_close()


def call(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def log_lines(log: Path, count: int) -> list[dict]:
    """The balancer's first `count` access log lines (nginx writes one after its answer)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(l) for l in log.read_text().splitlines() if l.startswith("{")]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def test_nginx_accepts_the_configuration(balancer):
    tmp = balancer.conf.parent
    checked = subprocess.run([balancer.binary, "-t", "-p", str(tmp), "-c", str(balancer.conf),
                              "-e", "stderr", "-g", f"pid {tmp}/nginx-t.pid;"],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_balancer_alternates_between_the_replicas_and_passes_bodies_untouched(balancer):
    one, two = balancer.replicas
    # A Stripe event as signed: the signature covers these exact bytes (non-ASCII, the
    # trailing newline and spaces included).
    event = '{"id":"evt_1","type":"customer.updated","data":{"object":{"name":"Zoë Ørsted"}}}\n  '.encode()
    signature = "t=1767225600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
    sent = [
        ("POST", "/graphql", b'{"query":"{ __typename }"}',
         {"Authorization": "Bearer t0ken", "x-hasura-role": "user",
          "x-hasura-user-id": "6f1c2a3e-8b4d-4e5f-9a01-1b2c3d4e5f60", "Content-Type": "application/json",
          "X-Request-Id": "hasura-req-1"}),
        ("POST", "/webhooks/stripe", event, {"Stripe-Signature": signature, "Content-Type": "application/json"}),
        ("POST", "/hasura/events", b'{"event":{"op":"INSERT"}}', {"Authorization": "Bearer t0ken"}),
        ("GET", "/healthz", b"", {}),
        ("GET", "/readyz", b"", {}),
        ("GET", "/graphql?query=%7B__typename%7D", b"", {"Authorization": "Bearer t0ken"}),
    ]
    answered_by = []
    for method, path, body, headers in sent:
        status, answer = call(balancer.port, method, path, body, headers)
        assert status == 200, (path, answer)
        answered_by.append(json.loads(answer)["replica"])
    # Round robin: every second request to each replica.
    assert answered_by in (["one", "two"] * 3, ["two", "one"] * 3), answered_by
    seen = sorted(one.seen + two.seen, key=lambda r: [p for _, p, _, _ in sent].index(r["path"]))
    assert [(r["method"], r["path"]) for r in seen] == [(m, p) for m, p, _, _ in sent]
    for (method, path, body, headers), got in zip(sent, seen):
        assert got["body"] == body, path
        for name, value in headers.items():
            assert got["headers"][name.lower()] == value, (path, name)
    # Without an X-Request-Id from the caller the replica gets nginx's (which it accepts).
    assert re.fullmatch(r"[0-9a-f]{32}", seen[1]["headers"]["x-request-id"])
    # One JSON log line per request (nginx's workers may write them out of order), with the id
    # the replica got, the path without its query string, and the replica that answered.
    lines = {l["request_id"]: l for l in log_lines(balancer.log, len(sent))}
    assert len(lines) == len(sent)
    ports = {str(r.server_address[1]): r.name for r in (one, two)}
    for (method, path, _, _), got, replica in zip(sent, seen, answered_by):
        line = lines[got["headers"]["x-request-id"]]
        assert (line["method"], line["path"], line["status"]) == (method, path.split("?")[0], 200)
        assert ports[line["upstream"].rsplit(":", 1)[1]] == replica
    assert "hasura-req-1" in lines


def test_balancer_refuses_metrics_without_asking_a_replica(balancer):
    status, body = call(balancer.port, "GET", "/metrics", headers={"Authorization": "Bearer t0ken"})
    assert status == 404 and json.loads(body)["error"]["code"] == "NOT_ROUTED"
    assert not any(r.seen for r in balancer.replicas)


def test_balancer_sends_everything_to_the_replica_left_when_one_is_down(balancer):
    one, two = balancer.replicas
    two.shutdown()
    two.server_close()  # connection refused from now on
    for i in range(6):
        status, answer = call(balancer.port, "POST", "/graphql", b'{"query":"{ __typename }"}',
                              {"Content-Type": "application/json"})
        assert (status, json.loads(answer)["replica"]) == (200, "one"), i
    assert len(one.seen) == 6 and not two.seen
