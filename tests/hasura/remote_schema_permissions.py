"""The `user` role's remote schema permission for `stripe`, derived from schema.graphql.

With HASURA_GRAPHQL_ENABLE_REMOTE_SCHEMA_PERMISSIONS=true (as in docker-compose.yml) a non-admin
role sees nothing of a remote schema, and no remote relationship into it, unless the remote
schema's `permissions` grant it a subset of the schema. Without that setting every role sees the
whole remote schema, and a `user` could list every Stripe customer through `stripe.customers`.

The subset granted to `user` is the least the `getCustomer` query needs: the join's root field
(`customer`, with all its arguments) and, below it, exactly the fields that `stripe_data` selects,
plus every type those fields and arguments reference. It is computed from the server's SDL so it
cannot drift from it; the Hasura metadata keeps a copy (Hasura needs it inline) between marker
comments in hasura/metadata/remote_schemas.yaml, and test_remote_schema.py fails when the copy
differs from what this module computes.

Writes are never granted: the SDL declares only the `query` operation, and the mutation root,
the subscription root and every type that only they reach (the mutations' input types, enums
and answer types, e.g. StripeAddressInput, StripePauseBehavior, StripeDeletedCustomer) are
dropped by name (`excluded_types`), whatever the walk collected. A `user` therefore has no
`stripe { ... }` mutation field at all in Hasura; the admin (or a role granted a permission of
its own) writes.

    python remote_schema_permissions.py            # print the SDL
    python remote_schema_permissions.py --write    # rewrite the block in remote_schemas.yaml
(or `tests/hasura/run.sh --write-permissions`, which provides the Python packages).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    InputObjectTypeDefinitionNode,
    NameNode,
    NamedTypeNode,
    ObjectTypeDefinitionNode,
    OperationTypeDefinitionNode,
    OperationType,
    ScalarTypeDefinitionNode,
    SchemaDefinitionNode,
    SelectionSetNode,
    build_ast_schema,
    get_named_type,
    parse,
    print_ast,
    specified_scalar_types,
)

import hasura_project as hp

REMOTE_SCHEMA = "stripe"
ROLE = "user"
CUSTOMERS_TABLE = ("public", "customers")
RELATIONSHIP = "stripe_data"
COLLECTION, QUERY_NAME = "allowed-queries", "getCustomer"

BEGIN_MARKER = "# BEGIN GENERATED"
END_MARKER = "# END GENERATED"


class _Collector:
    """Walks a selection set over the schema and records what the role needs."""

    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments
        self.fields: dict[str, set[str]] = {}  # object type -> kept field names
        self.whole_types: set[str] = set()  # enums, input objects, custom scalars

    def keep_field(self, parent: GraphQLObjectType, name: str):
        if name not in parent.fields:
            raise ValueError(f"{parent.name}.{name} does not exist in the server's schema")
        self.fields.setdefault(parent.name, set()).add(name)
        field = parent.fields[name]
        for arg in field.args.values():
            self.keep_input(get_named_type(arg.type))
        return field

    def keep_input(self, named) -> None:
        if named.name in self.whole_types:
            return
        if isinstance(named, GraphQLScalarType):
            if named.name not in specified_scalar_types:
                self.whole_types.add(named.name)
        elif isinstance(named, GraphQLEnumType):
            self.whole_types.add(named.name)
        elif isinstance(named, GraphQLInputObjectType):
            self.whole_types.add(named.name)
            for f in named.fields.values():
                self.keep_input(get_named_type(f.type))
        else:  # pragma: no cover - the schema builder rejects anything else
            raise ValueError(f"unexpected input type {named}")

    def walk(self, parent: GraphQLObjectType, selection_set: SelectionSetNode | None) -> None:
        if selection_set is None:
            return
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                if sel.name.value == "__typename":
                    continue
                field = self.keep_field(parent, sel.name.value)
                named = get_named_type(field.type)
                if isinstance(named, GraphQLObjectType):
                    self.walk(named, sel.selection_set)
                elif isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)):
                    # Not needed by the seed query; Hasura would also need the implementations.
                    raise NotImplementedError(f"abstract type {named.name} in the selection")
                else:
                    self.keep_input(named)  # leaf: enum or scalar
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition.name.value if sel.type_condition else parent.name
                if cond != parent.name:
                    raise NotImplementedError(f"fragment on {cond} inside {parent.name}")
                self.walk(parent, sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments[sel.name.value]
                if frag.type_condition.name.value != parent.name:
                    raise NotImplementedError(f"fragment {sel.name.value} on another type")
                self.walk(parent, frag.selection_set)


def _reachable_types(roots) -> set[str]:
    """Names of every named type reachable from `roots` (object types) through field types,
    argument types and input fields; built-in scalars and introspection types excluded."""
    seen: set[str] = set()
    stack = [r for r in roots if r is not None]
    while stack:
        named = get_named_type(stack.pop())
        if named.name in seen or named.name in specified_scalar_types or named.name.startswith("__"):
            continue
        seen.add(named.name)
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
            for field in named.fields.values():
                stack.append(field.type)
                stack.extend(arg.type for arg in field.args.values())
            stack.extend(named.interfaces)
        elif isinstance(named, GraphQLInputObjectType):
            stack.extend(f.type for f in named.fields.values())
        elif isinstance(named, GraphQLUnionType):
            stack.extend(named.types)
    return seen


def excluded_types(schema: GraphQLSchema) -> set[str]:
    """What the `user` permission never contains: the mutation and subscription roots and every
    type reachable only from them (not from the query root), i.e. the write-only input objects,
    enums and answer types."""
    write_roots = [t for t in (schema.mutation_type, schema.subscription_type) if t is not None]
    only_writes = _reachable_types(write_roots) - _reachable_types([schema.query_type])
    return only_writes | {t.name for t in write_roots}


def _definition_nodes(doc: DocumentNode) -> dict[str, object]:
    nodes = {}
    for d in doc.definitions:
        name = getattr(d, "name", None)
        if name is not None and hasattr(d, "kind") and d.kind.endswith("_definition"):
            nodes[name.value] = d
    return nodes


def _strip_field(field):
    """A field or input value definition without description or directives."""
    kwargs = {k: getattr(field, k) for k in field.keys}
    kwargs["description"] = None
    kwargs["directives"] = ()
    if "arguments" in kwargs and kwargs["arguments"]:
        kwargs["arguments"] = tuple(_strip_field(a) for a in kwargs["arguments"])
    return type(field)(**kwargs)


def build_permission_sdl(schema_sdl: str, root_field: str, selection: FieldNode,
                         fragments: dict[str, FragmentDefinitionNode] | None = None) -> str:
    doc = parse(schema_sdl)
    schema = build_ast_schema(doc)
    if schema.query_type is None:
        raise ValueError("the server's schema has no query type")
    root = schema.query_type
    collector = _Collector(schema, fragments or {})
    field = collector.keep_field(root, root_field)
    named = get_named_type(field.type)
    if not isinstance(named, GraphQLObjectType):
        raise ValueError(f"{root.name}.{root_field} does not return an object type")
    collector.walk(named, selection.selection_set)

    nodes = _definition_nodes(doc)
    # Only the query operation: no `mutation:` or `subscription:` entry, whatever the server has.
    out = [
        SchemaDefinitionNode(
            description=None,
            directives=(),
            operation_types=(
                OperationTypeDefinitionNode(
                    operation=OperationType.QUERY,
                    type=NamedTypeNode(name=NameNode(value=root.name)),
                ),
            ),
        )
    ]
    # The write side is dropped explicitly, not merely left unvisited: the mutation root and
    # the types only mutations use never reach the role, even if a future walk collected one.
    excluded = excluded_types(schema)
    names = [root.name] + sorted(
        (set(collector.fields) | collector.whole_types) - {root.name} - excluded
    )
    for name in names:
        node = nodes.get(name)
        if node is None:
            raise ValueError(f"type {name} has no definition in the SDL (extend type?)")
        if isinstance(node, ObjectTypeDefinitionNode):
            keep = collector.fields[name]
            fields = tuple(_strip_field(f) for f in node.fields if f.name.value in keep)
            # Interfaces are dropped: the role's schema does not contain them.
            node = ObjectTypeDefinitionNode(
                name=node.name, description=None, directives=(), interfaces=(), fields=fields
            )
        elif isinstance(node, InputObjectTypeDefinitionNode):
            node = InputObjectTypeDefinitionNode(
                name=node.name,
                description=None,
                directives=(),
                fields=tuple(_strip_field(f) for f in node.fields),
            )
        elif isinstance(node, EnumTypeDefinitionNode):
            values = tuple(
                type(v)(name=v.name, description=None, directives=()) for v in node.values
            )
            node = EnumTypeDefinitionNode(
                name=node.name, description=None, directives=(), values=values
            )
        elif isinstance(node, ScalarTypeDefinitionNode):
            node = ScalarTypeDefinitionNode(name=node.name, description=None, directives=())
        else:
            raise NotImplementedError(f"cannot copy definition of {name}")
        out.append(node)
    sdl = print_ast(DocumentNode(definitions=tuple(out))).strip() + "\n"
    granted = build_ast_schema(parse(sdl))
    if granted.mutation_type is not None or granted.subscription_type is not None:
        raise ValueError("the role's schema must not have a mutation or subscription root")
    return sdl


def expected_permission_sdl(schema_file: Path | None = None) -> str:
    """The SDL the `user` role should get, from schema.graphql and the repository's metadata."""
    schema_file = schema_file or hp.SERVER_SCHEMA_FILE
    rel = hp.remote_relationship(CUSTOMERS_TABLE, RELATIONSHIP)["definition"]["to_remote_schema"]
    (root_field,) = rel["remote_field"].keys()
    query = hp.collection_query(COLLECTION, QUERY_NAME)
    selection = hp.relationship_selection(query, RELATIONSHIP)
    fragments = {
        d.name.value: d for d in parse(query).definitions if isinstance(d, FragmentDefinitionNode)
    }
    return build_permission_sdl(schema_file.read_text(encoding="utf-8"), root_field, selection,
                                fragments)


def committed_permission_sdl() -> str:
    perms = hp.remote_schema(REMOTE_SCHEMA).get("permissions") or []
    (perm,) = [p for p in perms if p["role"] == ROLE]
    return perm["definition"]["schema"]


def write_permission_sdl(sdl: str, path: Path | None = None) -> bool:
    """Replaces the generated block in remote_schemas.yaml; returns True if the file changed."""
    path = path or hp.METADATA_DIR / "remote_schemas.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    begin = next(i for i, line in enumerate(lines) if line.strip().startswith(BEGIN_MARKER))
    end = next(i for i, line in enumerate(lines) if line.strip().startswith(END_MARKER))
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    block = [f"{indent}schema: |"] + [
        (f"{indent}  {line}" if line else "") for line in sdl.rstrip("\n").splitlines()
    ]
    new = lines[: begin + 1] + block + lines[end:]
    if new == lines:
        return False
    path.write_text("\n".join(new) + "\n", encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="update remote_schemas.yaml")
    parser.add_argument("--schema", type=Path, default=None, help="SDL file (default: schema.graphql)")
    args = parser.parse_args(argv)
    sdl = expected_permission_sdl(args.schema)
    if args.write:
        changed = write_permission_sdl(sdl)
        print("remote_schemas.yaml " + ("updated" if changed else "already up to date"))
    else:
        sys.stdout.write(sdl)
    return 0


if __name__ == "__main__":
    sys.exit(main())
