// Starts GraphiQL on the element #graphiql. Served by stripe-graphql (src/graphiql.rs); no
// inline script, so the page runs under a Content-Security-Policy without 'unsafe-inline'.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint");
  var authRequired = root.getAttribute("data-auth-required") === "true";

  var defaultQuery = [
    "# stripe-graphql: Stripe customers, subscriptions, prices and products.",
    "# Run with the ▶ button or Ctrl-Enter. With --demo, cus_AvaMartinez is a sample customer.",
    "query {",
    '  customer(id: "cus_AvaMartinez") {',
    "    id",
    "    email",
    "    metadata",
    "    subscriptions {",
    "      data {",
    "        id status created cancelAt currentPeriodStart currentPeriodEnd",
    "        plan { id nickname }",
    "        items { data { id price { id nickname unitAmount recurring { usageType } } } }",
    "      }",
    "    }",
    "  }",
    "}",
    ""
  ].join("\n");

  var props = {
    fetcher: GraphiQL.createFetcher({ url: endpoint }),
    defaultQuery: defaultQuery
  };
  if (authRequired) {
    // The server requires a bearer token on /graphql. The page never holds it: the user
    // pastes it here, and GraphiQL sends these headers with every request.
    props.defaultHeaders = JSON.stringify(
      { Authorization: "Bearer <paste GRAPHQL_AUTH_TOKEN here>" }, null, 2);
    props.defaultEditorToolsVisibility = "headers";
  }
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
