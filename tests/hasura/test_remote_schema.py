"""The remote side: the metadata and the seed query against the server's SDL (schema.graphql)."""

from __future__ import annotations

import json
import re

import pytest
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    build_schema,
    get_named_type,
    is_introspection_type,
    is_specified_scalar_type,
    parse,
    print_ast,
    validate,
)

import hasura_project as hp
import remote_schema_permissions as rsp

CUSTOMERS = ("public", "customers")
SAMPLE_CUSTOMER_ID = "cus_AvaMartinez"

# The server's query root as agreed with the server (argument -> type).
EXPECTED_ROOT_FIELDS = {
    "customer": {"id": "String!"},
    "subscription": {"id": "String!"},
    "price": {"id": "String!"},
    "plan": {"id": "String!"},
    "product": {"id": "String!"},
    "customers": {"email": "String", "first": "Int", "after": "String"},
    "subscriptions": {
        "customer": "String",
        "status": "StripeSubscriptionStatusFilter",
        "price": "String",
        "first": "Int",
        "after": "String",
    },
    "prices": {"product": "String", "active": "Boolean", "first": "Int", "after": "String"},
}

# Names Hasura generates for this project's Postgres side (or built in); a remote type with one
# of these names would clash when Hasura merges the schemas.
HASURA_NAMES = {
    "customers", "returns", "warranties", "query_root", "mutation_root", "subscription_root",
    "order_by", "cursor_ordering", "uuid", "timestamptz", "numeric", "bigint", "jsonb", "json",
    "date", "String_comparison_exp", "Int_comparison_exp", "Boolean_comparison_exp",
    "uuid_comparison_exp", "timestamptz_comparison_exp",
}


def join_spec() -> tuple[str, dict]:
    to = hp.remote_relationship(CUSTOMERS, "stripe_data")["definition"]["to_remote_schema"]
    ((field, spec),) = to["remote_field"].items()
    return field, spec


def join_document(relationship_field: FieldNode) -> DocumentNode:
    """`query { <remote_field>(<args with a sample key>) { <the relationship's selection> } }`,
    i.e. what Hasura sends for one row (minus the fN alias), built from the metadata."""
    field, spec = join_spec()
    args = []
    for name, value in spec["arguments"].items():
        assert isinstance(value, str) and value.startswith("$"), "only $column arguments expected"
        args.append(ArgumentNode(name=NameNode(value=name), value=StringValueNode(value=SAMPLE_CUSTOMER_ID)))
    root = FieldNode(
        name=NameNode(value=field),
        arguments=tuple(args),
        directives=(),
        selection_set=relationship_field.selection_set,
    )
    op = OperationDefinitionNode(
        operation=OperationType.QUERY,
        variable_definitions=(),
        directives=(),
        selection_set=SelectionSetNode(selections=(root,)),
    )
    return DocumentNode(definitions=(op,))


def assert_valid(schema: GraphQLSchema, doc: DocumentNode):
    errors = validate(schema, doc)
    assert not errors, "\n".join(str(e) for e in errors) + "\n\n" + print_ast(doc)


def test_query_root_fields(schema):
    root = schema.query_type
    assert root is not None
    for name, args in EXPECTED_ROOT_FIELDS.items():
        assert name in root.fields, f"query root lacks {name}"
        actual = {a: str(t.type) for a, t in root.fields[name].args.items()}
        assert actual == args, f"{name}: arguments {actual}, expected {args}"
    assert schema.mutation_type is None or schema.mutation_type.fields
    assert schema.subscription_type is None, "Hasura cannot forward subscriptions to a remote schema"


def test_join_field_and_argument(schema):
    field_name, spec = join_spec()
    field = schema.query_type.fields.get(field_name)
    assert field is not None, f"remote field {field_name} not on the query root"
    assert not isinstance(field.type, GraphQLNonNull), "the join field must be nullable (unknown ids -> null)"
    assert isinstance(get_named_type(field.type), GraphQLObjectType)
    for arg_name in spec["arguments"]:
        arg = field.args.get(arg_name)
        assert arg is not None, f"{field_name} has no argument {arg_name}"
        # A text column arrives as a GraphQL string literal.
        assert str(arg.type) in ("String", "String!"), f"{arg_name}: {arg.type} does not accept text"
        assert not arg.deprecation_reason, "Hasura does not see deprecated arguments"
    missing = [
        a for a, d in field.args.items()
        if a not in spec["arguments"] and isinstance(d.type, GraphQLNonNull) and d.default_value is None
    ]
    assert not missing, f"required arguments the join does not supply: {missing}"


def test_type_names(schema):
    for name, t in schema.type_map.items():
        if is_introspection_type(t) or is_specified_scalar_type(t):
            continue
        assert name not in HASURA_NAMES, f"{name} clashes with a Hasura-generated name"
        if t is schema.query_type or t is schema.mutation_type:
            continue
        if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType,
                          GraphQLEnumType, GraphQLInputObjectType)):
            assert name.startswith("Stripe"), f"type {name} is not Stripe-prefixed"


def test_stripe_data_selection_validates(schema):
    seed = hp.strip_leading_comments(hp.seed_query_text())
    doc = join_document(hp.relationship_selection(seed, "stripe_data"))
    assert_valid(schema, doc)


def test_collection_query_stripe_data_validates(schema):
    query = hp.collection_query("allowed-queries", "getCustomer")
    assert_valid(schema, join_document(hp.relationship_selection(query, "stripe_data")))


def test_seed_join_request_validates(schema):
    """The request Hasura sends for the seed query (shared reference) is valid for the server."""
    body = json.loads(hp.SEED_JOIN_REQUEST_FILE.read_text(encoding="utf-8"))
    doc = parse(body["query"])
    assert_valid(schema, doc)
    field, _ = join_spec()
    (op,) = doc.definitions
    assert [s.name.value for s in op.selection_set.selections] == [field]


# ---------------------------------------------------------------------------------------------
# The `user` role's remote schema permission
# ---------------------------------------------------------------------------------------------


def test_user_permission_is_up_to_date(schema):
    expected = rsp.expected_permission_sdl()
    committed = rsp.committed_permission_sdl()
    assert committed.strip() == expected.strip(), (
        "hasura/metadata/remote_schemas.yaml: the `user` permission is stale; "
        "run `tests/hasura/run.sh --write-permissions`"
    )


def test_user_permission_is_a_subset_of_the_schema(schema):
    """Independent of the generator: what the role gets exists upstream with identical types."""
    role = build_schema(rsp.committed_permission_sdl())
    assert role.query_type.name == schema.query_type.name
    for name, t in role.type_map.items():
        if is_introspection_type(t) or is_specified_scalar_type(t):
            continue
        up = schema.type_map.get(name)
        assert up is not None and type(up) is type(t), f"{name} differs from the server's schema"
        if isinstance(t, (GraphQLObjectType, GraphQLInputObjectType)):
            for fname, f in t.fields.items():
                assert fname in up.fields, f"{name}.{fname} not in the server's schema"
                assert str(f.type) == str(up.fields[fname].type), f"{name}.{fname} type differs"
                up_args = getattr(up.fields[fname], "args", {})
                for aname, a in getattr(f, "args", {}).items():
                    assert aname in up_args, f"{name}.{fname}({aname}) not in the server's schema"
                    assert str(a.type) == str(up_args[aname].type)
                    assert a.default_value == up_args[aname].default_value, "default values must match"
                # Hasura rejects a role field that drops a non-null argument.
                required = {a for a, d in up_args.items() if isinstance(d.type, GraphQLNonNull)}
                assert required <= set(getattr(f, "args", {})), f"{name}.{fname} drops required arguments"
        if isinstance(t, GraphQLEnumType):
            assert set(t.values) <= set(up.values)


def test_user_can_run_stripe_data(schema):
    role = build_schema(rsp.committed_permission_sdl())
    query = hp.collection_query("allowed-queries", "getCustomer")
    assert_valid(role, join_document(hp.relationship_selection(query, "stripe_data")))


def test_user_cannot_list_stripe_customers():
    role = build_schema(rsp.committed_permission_sdl())
    assert set(role.query_type.fields) == {join_spec()[0]}


def test_user_permission_has_no_mutations(schema):
    """Writes are for the admin: the `user` role's SDL has no `mutation:` root, no type of the
    server's mutation root, none of its fields and none of the types only mutations use."""
    sdl = rsp.committed_permission_sdl()
    assert not re.search(r"\b(mutation|subscription)\s*:", sdl), "a write root in the user SDL"
    role = build_schema(sdl)
    assert role.mutation_type is None and role.subscription_type is None
    assert set(role.type_map).isdisjoint(rsp.excluded_types(schema))
    if schema.mutation_type is not None:
        assert schema.mutation_type.name not in role.type_map
        assert set(role.query_type.fields).isdisjoint(schema.mutation_type.fields)


def test_generator_drops_the_mutation_root_and_what_only_it_uses():
    """The generator itself, on a schema with writes: shared types stay, write-only ones go."""
    sdl = """
    schema { query: Q mutation: M }
    type Q { customer(id: String!): C }
    type M {
      createC(address: StripeAddressInput, mode: StripeMode, at: UnixTimestamp): C
      deleteC(id: String!): StripeDeleted
    }
    type C { id: String! created: UnixTimestamp! }
    input StripeAddressInput { city: String nested: StripeNestedInput }
    input StripeNestedInput { x: Int }
    enum StripeMode { a b }
    type StripeDeleted { id: String! deleted: Boolean! }
    scalar UnixTimestamp
    """
    schema = build_schema(sdl)
    assert rsp.excluded_types(schema) == {
        "M", "StripeAddressInput", "StripeNestedInput", "StripeMode", "StripeDeleted",
    }
    selection = parse("{ customer(id: \"cus_1\") { id created } }").definitions[0]
    (field,) = selection.selection_set.selections
    out = rsp.build_permission_sdl(sdl, "customer", field)
    role = build_schema(out)
    assert role.mutation_type is None and "mutation" not in out
    assert set(role.type_map) >= {"Q", "C", "UnixTimestamp"}
    assert set(role.type_map).isdisjoint(rsp.excluded_types(schema))
