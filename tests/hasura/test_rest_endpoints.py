"""The RESTified endpoints (rest_endpoints.yaml) and their documents (query_collections.yaml).

Hasura is not run here: these tests restate the rules Hasura applies when it builds its schema
cache (an endpoint whose rule fails becomes inconsistent metadata, and `hasura metadata apply`
refuses it) and when it serves /api/rest/ (how URL segments, query parameters and the JSON body
become variables), then validate every write document against the server's SDL as Hasura
exposes it: the server's root fields below the `stripe` namespace field.
"""

from __future__ import annotations

import itertools
import re

import pytest
from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
    is_introspection_type,
    parse,
    print_ast,
    validate,
)

import hasura_project as hp

WRITES = "stripe-writes"
SEED_COLLECTION, SEED_QUERY = "allowed-queries", "getCustomer"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}  # what Hasura accepts in `methods`
IDEMPOTENCY_KEY = "idempotencyKey"

# Which endpoint answers which write: (method, URL template) -> collection query. The table
# the docs show; changing a URL is an API change for every REST client.
EXPECTED_WRITE_ENDPOINTS = {
    ("POST", "stripe/customers"): "createCustomer",
    ("PATCH", "stripe/customers/:id"): "updateCustomer",
    ("POST", "stripe/customers/:id"): "updateCustomer",
    ("DELETE", "stripe/customers/:id"): "deleteCustomer",
    ("POST", "stripe/subscriptions"): "createSubscription",
    ("PATCH", "stripe/subscriptions/:id"): "updateSubscription",
    ("POST", "stripe/subscriptions/:id"): "updateSubscription",
    ("DELETE", "stripe/subscriptions/:id"): "cancelSubscription",
    ("POST", "stripe/subscriptions/:id/cancel-at-period-end"): "cancelSubscriptionAtPeriodEnd",
    ("POST", "stripe/subscriptions/:id/undo-cancellation"): "undoScheduledCancellation",
    ("POST", "stripe/subscriptions/:id/pause"): "pauseCollection",
    ("POST", "stripe/subscriptions/:id/resume"): "resumeSubscription",
    ("POST", "stripe/profiles/:ssoId/customer"): "ensureStripeCustomer",
}


def namespace() -> str:
    return hp.remote_schema("stripe")["definition"]["customization"]["root_fields_namespace"]


def hasura_schema(server: GraphQLSchema) -> GraphQLSchema:
    """The server's schema as a Hasura client sees it: `query_root.stripe` is the server's query
    root and `mutation_root.stripe` its mutation root (root_fields_namespace), every other type
    as the server defines it. Only the remote side: the Postgres fields are not modelled."""
    ns = namespace()
    query = GraphQLObjectType("query_root", {ns: GraphQLField(GraphQLNonNull(server.query_type))})
    mutation = None
    if server.mutation_type is not None:
        mutation = GraphQLObjectType(
            "mutation_root", {ns: GraphQLField(GraphQLNonNull(server.mutation_type))}
        )
    types = [t for t in server.type_map.values() if not is_introspection_type(t)]
    return GraphQLSchema(query=query, mutation=mutation, types=types)


def operation(text: str):
    return hp.single_operation(parse(text))


def namespaced_field(text: str) -> FieldNode:
    """The one server field below the namespace: `stripe { <this>(…) { … } }`."""
    op = operation(text)
    (ns_field,) = op.selection_set.selections
    assert isinstance(ns_field, FieldNode) and ns_field.name.value == namespace()
    (field,) = ns_field.selection_set.selections
    assert isinstance(field, FieldNode)
    return field


@pytest.fixture
def mutation_root(schema) -> GraphQLObjectType:
    assert schema.mutation_type is not None, (
        f"{hp.SERVER_SCHEMA_FILE} has no mutation root: the write documents need the server's "
        "mutations (MutationRoot)"
    )
    return schema.mutation_type


def write_queries() -> dict[str, str]:
    return {name: text for (coll, name), text in hp.collection_queries().items() if coll == WRITES}


def routes() -> list[tuple[str, str, dict]]:
    """(method, URL template, endpoint) for every method of every endpoint."""
    return [(m, ep["url"], ep) for ep in hp.rest_endpoints() for m in ep["methods"]]


def overlapping(url_a: str, url_b: str) -> bool:
    """Whether one request path can match both URL templates. Hasura's endpoint trie treats a
    `:name` segment as a wildcard, so two templates overlap when they have as many segments and
    every pair of segments is equal or holds a wildcard (Hasura.RQL.Types.Endpoint.Trie)."""
    a, b = hp.url_segments(url_a), hp.url_segments(url_b)
    return len(a) == len(b) and all(
        x == y or x.startswith(":") or y.startswith(":") for x, y in zip(a, b)
    )


# ---------------------------------------------------------------------------------------------
# What Hasura checks when it loads rest_endpoints.yaml
# ---------------------------------------------------------------------------------------------


def test_endpoint_names_are_unique():
    names = [ep["name"] for ep in hp.rest_endpoints()]
    assert len(names) == len(set(names))


def test_endpoint_urls_and_methods_are_well_formed():
    for ep in hp.rest_endpoints():
        url = ep["url"]
        segments = hp.url_segments(url)
        # Hasura: "Empty segments or unnamed variables are not allowed"; no leading slash either
        # (the template is relative to /api/rest/).
        assert all(seg not in ("", ":") for seg in segments), f"{ep['name']}: {url!r}"
        variables = hp.url_variables(url)
        assert len(variables) == len(set(variables)), f"{ep['name']}: duplicate URL variables"
        for seg in segments:
            assert re.fullmatch(r":[A-Za-z_][A-Za-z0-9_]*|[a-z0-9][a-z0-9-]*", seg), (
                f"{ep['name']}: segment {seg!r} (lower-case words with dashes, or :variable)"
            )
        methods = ep["methods"]
        assert methods and set(methods) <= HTTP_METHODS, f"{ep['name']}: methods {methods}"
        assert len(methods) == len(set(methods))


def test_the_overlap_rule_matches_hasuras():
    assert overlapping("customers/:a", "customers/:b")
    assert overlapping("a/:x", ":y/b")
    assert overlapping("stripe/customers/:id", "stripe/customers/search")
    assert not overlapping("stripe/customers/:id", "customers/:sso_id")
    assert not overlapping("stripe/subscriptions/:id", "stripe/subscriptions/:id/pause")
    assert not overlapping("stripe/subscriptions/:id/pause", "stripe/subscriptions/:id/resume")


def test_no_request_matches_two_endpoints():
    """Hasura marks such endpoints inconsistent ("Ambiguous URL paths"): one method and two URL
    templates that can match the same path. The same template with different methods is fine."""
    for (m1, u1, e1), (m2, u2, e2) in itertools.combinations(routes(), 2):
        if m1 == m2 and e1["name"] != e2["name"]:
            assert not overlapping(u1, u2), f"{m1} {u1} ({e1['name']}) vs {u2} ({e2['name']})"


def test_every_endpoint_runs_one_named_operation():
    for ep in hp.rest_endpoints():
        ref = ep["definition"]["query"]
        op = operation(hp.endpoint_document(ep))  # KeyError if the query does not exist
        assert op.name is not None and op.name.value == ref["query_name"], ep["name"]
        assert op.operation in (OperationType.QUERY, OperationType.MUTATION), (
            "Hasura serves only queries and mutations over REST"
        )


def test_url_variables_are_scalar_variables_of_the_document():
    """Hasura passes a URL segment as text (numbers and booleans parsed) and refuses list
    variables from the URL; every `:name` must be a declared `$name`."""
    for ep in hp.rest_endpoints():
        op = operation(hp.endpoint_document(ep))
        declared = {v.variable.name.value: v.type for v in op.variable_definitions}
        for var in hp.url_variables(ep["url"]):
            assert var in declared, f"{ep['name']}: :{var} is not a variable of the document"
            assert "[" not in print_ast(declared[var]), f"{ep['name']}: :{var} is a list"


# ---------------------------------------------------------------------------------------------
# The write endpoints
# ---------------------------------------------------------------------------------------------


def test_write_endpoints_are_the_documented_ones():
    actual = {
        (m, url): ep["definition"]["query"]["query_name"]
        for m, url, ep in routes()
        if ep["definition"]["query"]["collection_name"] == WRITES
    }
    assert actual == EXPECTED_WRITE_ENDPOINTS


def test_the_seed_endpoint_is_unchanged():
    ep = hp.rest_endpoint("getCustomer")
    assert (ep["url"], ep["methods"]) == ("customers/:sso_id", ["GET"])
    assert ep["definition"]["query"] == {
        "collection_name": SEED_COLLECTION,
        "query_name": SEED_QUERY,
    }


def test_mutations_are_never_served_on_get_and_queries_only_on_get():
    for ep in hp.rest_endpoints():
        op = operation(hp.endpoint_document(ep))
        if op.operation == OperationType.MUTATION:
            assert "GET" not in ep["methods"], f"{ep['name']}: a write behind GET"
        else:
            assert ep["methods"] == ["GET"], f"{ep['name']}: a read behind {ep['methods']}"


def test_every_write_document_has_an_endpoint():
    served = {
        ep["definition"]["query"]["query_name"]
        for ep in hp.rest_endpoints()
        if ep["definition"]["query"]["collection_name"] == WRITES
    }
    assert served == set(write_queries())


def test_the_writes_collection_holds_only_namespaced_mutations():
    for name, text in write_queries().items():
        op = operation(text)
        assert op.operation == OperationType.MUTATION, name
        assert op.name.value == name
        namespaced_field(text)  # exactly `stripe { <one field> }`


def test_collection_documents_are_getcustomer_or_namespaced():
    """Every document Hasura would validate is covered here: the seed query (checked against
    the tracked tables and the server in test_metadata.py / test_remote_schema.py) or a
    document whose only root field is the `stripe` namespace, validated below."""
    for (coll, name), text in hp.collection_queries().items():
        if (coll, name) == (SEED_COLLECTION, SEED_QUERY):
            continue
        roots = operation(text).selection_set.selections
        assert [r.name.value for r in roots] == [namespace()], f"{coll}/{name}"


@pytest.mark.parametrize("name", sorted(write_queries()))
def test_write_document_validates_against_the_server_schema(schema, mutation_root, name):
    """What Hasura checks for a collection query behind a REST endpoint: it must validate
    against the admin's schema. Here the server's SDL below the `stripe` namespace."""
    doc = parse(write_queries()[name])
    errors = validate(hasura_schema(schema), doc)
    assert not errors, "\n".join(str(e) for e in errors)


def test_every_server_mutation_has_an_endpoint(mutation_root):
    used = {namespaced_field(text).name.value for text in write_queries().values()}
    mutations = set(mutation_root.fields)
    assert mutations <= used, f"mutations without a REST endpoint: {sorted(mutations - used)}"


# The two documents of cancelSubscription split it by endpoint: DELETE …/:id cancels now (and
# takes prorate/invoiceNow, which only apply then), POST …/:id/cancel-at-period-end schedules.
FIXED_ARGUMENTS = {"cancelSubscriptionAtPeriodEnd": {"atPeriodEnd": "true"}}
LEFT_OUT_ARGUMENTS = {
    "cancelSubscription": {"atPeriodEnd"},
    "cancelSubscriptionAtPeriodEnd": {"prorate", "invoiceNow"},
}


@pytest.mark.parametrize("name", sorted(write_queries()))
def test_every_argument_is_a_same_named_variable_of_the_same_type(mutation_root, name):
    """A REST client sets any argument by the body key of the argument's own name (the URL's
    `:id` comes from the path), except the few a document fixes or leaves out on purpose
    (FIXED_ARGUMENTS, LEFT_OUT_ARGUMENTS). Same type as the argument, so an optional argument
    stays optional: left out of the body, it is not sent to the server."""
    text = write_queries()[name]
    op = operation(text)
    declared = {v.variable.name.value: print_ast(v.type) for v in op.variable_definitions}
    field = namespaced_field(text)
    definition = mutation_root.fields[field.name.value]
    given = {a.name.value: a.value for a in field.arguments}
    fixed = {k: print_ast(v) for k, v in given.items() if not isinstance(v, VariableNode)}
    assert fixed == FIXED_ARGUMENTS.get(name, {}), f"{name}: fixed arguments {fixed}"
    left_out = set(definition.args) - set(given)
    assert left_out == LEFT_OUT_ARGUMENTS.get(name, set()), f"{name}: cannot set {left_out}"
    for arg_name, value in given.items():
        if isinstance(value, VariableNode):
            assert value.name.value == arg_name, f"{name}: {arg_name} from ${value.name.value}"
            assert declared[arg_name] == str(definition.args[arg_name].type), f"{name}: ${arg_name}"


def test_idempotency_key_is_a_body_variable_wherever_the_server_takes_one(mutation_root):
    for ep in hp.rest_endpoints():
        if ep["definition"]["query"]["collection_name"] != WRITES:
            continue
        text = hp.endpoint_document(ep)
        field = namespaced_field(text)
        takes_key = IDEMPOTENCY_KEY in mutation_root.fields[field.name.value].args
        declared = {v.variable.name.value for v in operation(text).variable_definitions}
        assert (IDEMPOTENCY_KEY in declared) == takes_key, ep["name"]
        assert IDEMPOTENCY_KEY not in hp.url_variables(ep["url"])


def test_write_answers_select_what_getcustomer_selects(mutation_root):
    """A customer write answers with getCustomer's `stripe_data` selection, a subscription write
    with the selection of one of its subscriptions: a client renders both with the same code."""
    seed = hp.collection_query(SEED_COLLECTION, SEED_QUERY)
    customer = hp.relationship_selection(seed, "stripe_data").selection_set
    subscription = hp.find_field(customer, "subscriptions", "data").selection_set
    expected = {"StripeCustomer": print_ast(customer), "StripeSubscription": print_ast(subscription)}
    for name, text in write_queries().items():
        field = namespaced_field(text)
        field_type = mutation_root.fields[field.name.value].type
        assert not is_list_type(get_nullable_type(field_type)), f"{name}: answers a list"
        returned = get_named_type(field_type)
        if returned.name in expected:
            assert print_ast(field.selection_set) == expected[returned.name], name
        else:  # e.g. StripeDeletedCustomer: all of it
            selected = [s.name.value for s in field.selection_set.selections]
            assert sorted(selected) == sorted(returned.fields), name


def test_writes_are_not_in_the_allow_list():
    """The allow list is for the customer-facing reads; the admin bypasses it, so the writes
    need no entry, and a global entry would let every role submit them."""
    for entry in hp.metadata("allow_list.yaml"):
        assert entry["collection"] != WRITES
    for (coll, name), text in hp.collection_queries().items():
        if coll != WRITES:
            assert operation(text).operation == OperationType.QUERY, f"{coll}/{name}"


# ---------------------------------------------------------------------------------------------
# The docs
# ---------------------------------------------------------------------------------------------


def url_pattern(url: str) -> str:
    return "/api/rest/" + "/".join(
        r"[^/\s'\"]+" if seg.startswith(":") else re.escape(seg) for seg in hp.url_segments(url)
    )


def write_endpoint_names() -> list[str]:
    return sorted(
        ep["name"]
        for ep in hp.rest_endpoints()
        if ep["definition"]["query"]["collection_name"] == WRITES
    )


@pytest.mark.parametrize("name", write_endpoint_names())
def test_docs_show_a_curl_call_for_every_write_endpoint(name):
    """One `curl -X <one of its methods> http://localhost:8080/api/rest/<url>` per endpoint."""
    doc = (hp.REPO_ROOT / "docs" / "hasura.md").read_text(encoding="utf-8")
    ep = hp.rest_endpoint(name)
    methods = "|".join(ep["methods"])
    pattern = rf"curl [^\n]*-X (?:{methods}) [^\n]*http://localhost:8080{url_pattern(ep['url'])}(?:[?'\" ]|$)"
    assert re.search(pattern, doc, re.M), f"docs/hasura.md: no curl example for {name}"


def test_hasura_readme_lists_every_endpoint():
    readme = (hp.HASURA_DIR / "README.md").read_text(encoding="utf-8")
    for ep in hp.rest_endpoints():
        methods = "\\|".join(ep["methods"])  # `\|`: a pipe inside a Markdown table cell
        line = f"`{methods} /api/rest/{ep['url']}`"
        assert line in readme, f"hasura/README.md lacks {line}"
