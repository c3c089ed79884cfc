// Starts GraphiQL on the page served by src/graphiql.rs. It runs after React, ReactDOM and the
// GraphiQL UMD bundle (the globals React, ReactDOM, GraphiQL). The page carries no inline script:
// its Content-Security-Policy allows same-origin script files only.
(function () {
  "use strict";

  // GraphiQL's dialogs add a <style> element (react-remove-scroll). It sets the nonce it finds
  // in `__webpack_nonce__` on that element; the page's policy allows styles with the nonce given
  // to this script.
  window.__webpack_nonce__ = document.currentScript.nonce;

  var root = document.getElementById("graphiql");
  var authRequired = root.dataset.authRequired === "true";

  var defaultQuery = [
    "# A customer with its subscriptions, items, prices and plans.",
    "# cus_AvaMartinez is a --demo customer: use an id of your Stripe account otherwise.",
    "# Run with Ctrl-Enter (Cmd-Enter on a Mac) or the play button.",
    "query {",
    '  customer(id: "cus_AvaMartinez") {',
    "    id",
    "    metadata",
    "    subscriptions {",
    "      data {",
    "        id metadata status created cancelAt currentPeriodStart currentPeriodEnd",
    "        plan { id metadata nickname created }",
    "        items { data { id metadata price { id nickname unitAmount recurring { aggregateUsage usageType } } } }",
    "      }",
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");

  // GraphiQL keeps its tabs and query history in localStorage, under keys starting with
  // "graphiql:". Its history entries carry the request headers whatever shouldPersistHeaders
  // says, so this storage writes every "headers" field as null and never writes the headers
  // key: a token typed into the headers editor stays in memory and is never stored.
  var NAMESPACE = "graphiql:";
  function withoutHeaders(value) {
    var parsed;
    try {
      parsed = JSON.parse(value);
    } catch (notJson) {
      return value;
    }
    return JSON.stringify(parsed, function (key, field) {
      return key === "headers" ? null : field;
    });
  }
  function ownKeys() {
    var keys = [];
    for (var i = 0; i < window.localStorage.length; i++) {
      var key = window.localStorage.key(i);
      if (key.indexOf(NAMESPACE) === 0) {
        keys.push(key);
      }
    }
    return keys;
  }
  var storage = {
    getItem: function (key) {
      return window.localStorage.getItem(key);
    },
    setItem: function (key, value) {
      if (key === NAMESPACE + "headers") {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, withoutHeaders(value));
      }
    },
    removeItem: function (key) {
      window.localStorage.removeItem(key);
    },
    clear: function () {
      ownKeys().forEach(function (key) {
        window.localStorage.removeItem(key);
      });
    },
    get length() {
      return ownKeys().length;
    },
  };

  var props = {
    fetcher: GraphiQL.createFetcher({
      url: new URL(root.dataset.endpoint, window.location.href).href,
    }),
    defaultQuery: defaultQuery,
    storage: storage,
    shouldPersistHeaders: false,
  };
  if (authRequired) {
    // The server requires `Authorization: Bearer <GRAPHQL_AUTH_TOKEN>` on /graphql. The page
    // never knows the token: it opens the headers editor with a placeholder to replace.
    props.defaultHeaders = JSON.stringify(
      { Authorization: "Bearer <paste GRAPHQL_AUTH_TOKEN here>" },
      null,
      2,
    );
    props.defaultEditorToolsVisibility = "headers";
  }

  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
