//! Lists: Stripe's filters, cursor paging and lazily resolved nested objects.

use serde_json::{json, Value};
use stripe_sandbox::{
    demo::{AVA, CHLOE, EMMA},
    fixtures::{self, ItemSpec},
    render::EMBEDDED_ITEMS,
};

use crate::helpers::spawn_app;

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn customers_page_through_with_next_cursor_newest_first() {
    let app = spawn_app().await;
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app.data(&format!("{{ customers(first: 2, after: {after}) {{ data {{ id created }} hasMore nextCursor }} }}")).await;
        let page = &data["customers"];
        seen.extend(ids(page));
        if page["hasMore"] == json!(false) {
            assert_eq!(page["nextCursor"], Value::Null);
            break;
        }
        assert_eq!(page["nextCursor"], json!(seen.last().unwrap()));
        after = page["nextCursor"].clone();
    }
    // Six live demo customers (the deleted one is not listed), newest first, no repeats.
    assert_eq!(seen.len(), 6, "{seen:?}");
    let created: Vec<i64> = seen
        .iter()
        .map(|id| app.stored("customer", id)["created"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
    assert_eq!(app.stripe_calls(), 3);
}

#[tokio::test]
async fn customers_filter_by_exact_email() {
    let app = spawn_app().await;
    let data = app
        .data(
            "{ customers(email: \"chloe.nguyen@example.com\") { data { id delinquent balance } } }",
        )
        .await;
    assert_eq!(
        data["customers"]["data"],
        json!([{ "id": CHLOE, "delinquent": true, "balance": 19000 }])
    );
    let calls = app.sandbox.calls();
    assert_eq!(calls[0].query, "email=chloe.nguyen%40example.com&limit=10");
}

#[tokio::test]
async fn subscriptions_filter_by_status_customer_and_price() {
    let app = spawn_app().await;
    let data = app
        .data(&format!(
            r#"{{
                pastDue: subscriptions(status: past_due) {{ data {{ id customerId }} }}
                pro: subscriptions(price: "price_ProMonthly") {{ data {{ id }} }}
                emmaAll: subscriptions(customer: "{EMMA}", status: all) {{ data {{ id status }} }}
                emmaDefault: subscriptions(customer: "{EMMA}") {{ data {{ id }} }}
                nobody: subscriptions(customer: "cus_Nobody") {{ data {{ id }} hasMore }}
            }}"#
        ))
        .await;
    assert_eq!(
        data["pastDue"]["data"],
        json!([{ "id": "sub_ChloeYearly", "customerId": CHLOE }])
    );
    assert_eq!(
        ids(&data["pro"]),
        ["sub_AvaPro"],
        "the deleted customer's canceled subscription is hidden"
    );
    assert_eq!(ids(&data["emmaAll"]), ["sub_EmmaApi", "sub_EmmaEssentials"]);
    assert_eq!(data["emmaAll"]["data"][1]["status"], json!("canceled"));
    assert_eq!(ids(&data["emmaDefault"]), ["sub_EmmaApi"]);
    assert_eq!(data["nobody"], json!({ "data": [], "hasMore": false }));
}

#[tokio::test]
async fn a_subscription_with_more_items_than_stripe_embeds_reads_the_rest() {
    let app = spawn_app().await;
    let price = app.stored("price", "price_SupportMonthly");
    let item_ids: Vec<String> = (0..EMBEDDED_ITEMS + 2)
        .map(|i| format!("si_Seat{i:02}"))
        .collect();
    let specs: Vec<ItemSpec> = item_ids
        .iter()
        .map(|id| ItemSpec {
            id,
            price: &price,
            quantity: Some(1),
        })
        .collect();
    app.sandbox.with_store(|s| {
        s.put(fixtures::subscription(
            "sub_ManySeats",
            AVA,
            "active",
            &specs,
            (100, 200),
            50,
        ))
    });

    let data = app
        .data("{ subscription(id: \"sub_ManySeats\") { items { data { id } hasMore } } }")
        .await;

    assert_eq!(ids(&data["subscription"]["items"]), item_ids);
    assert_eq!(data["subscription"]["items"]["hasMore"], json!(false));
    assert_eq!(app.sandbox.calls_to("/v1/subscription_items"), 1);
}

#[tokio::test]
async fn prices_filter_by_product_and_active() {
    let app = spawn_app().await;
    app.sandbox.with_store(|s| {
        s.update("price", "price_EssentialsYearly", |p| {
            p["active"] = json!(false)
        })
    });
    let data = app
        .data(r#"{
            all: prices(product: "prod_Essentials") { data { id active type recurring { interval intervalCount } } }
            active: prices(product: "prod_Essentials", active: true) { data { id } }
            oneTime: price(id: "price_OnboardingFee") { type recurring { interval } unitAmount unitAmountDecimal }
            metered: price(id: "price_ApiCallsMetered") { unitAmount unitAmountDecimal recurring { usageType meter } }
        }"#)
        .await;
    assert_eq!(
        ids(&data["all"]),
        ["price_EssentialsYearly", "price_EssentialsMonthly"]
    );
    assert_eq!(
        data["all"]["data"][0]["recurring"],
        json!({ "interval": "year", "intervalCount": 1 })
    );
    assert_eq!(ids(&data["active"]), ["price_EssentialsMonthly"]);
    assert_eq!(
        data["oneTime"],
        json!({ "type": "one_time", "recurring": null, "unitAmount": 4900, "unitAmountDecimal": "4900" })
    );
    assert_eq!(
        data["metered"],
        json!({ "unitAmount": null, "unitAmountDecimal": "0.5", "recurring": { "usageType": "metered", "meter": "mtr_ApiCalls" } })
    );
}

#[tokio::test]
async fn nested_objects_resolve_lazily_through_the_cache() {
    let app = spawn_app().await;
    let data = app
        .data(
            r#"{
            price(id: "price_ProMonthly") { product { name defaultPrice { id } } }
            plan(id: "price_ProMonthly") { amount interval product { name } }
            subscription(id: "sub_AvaPro") { customer { email } }
            missingPlan: plan(id: "price_OnboardingFee") { id }
            product(id: "prod_Nope") { id }
        }"#,
        )
        .await;
    assert_eq!(data["price"]["product"]["name"], json!("Pro"));
    assert_eq!(
        data["price"]["product"]["defaultPrice"]["id"],
        json!("price_ProMonthly")
    );
    assert_eq!(
        data["plan"],
        json!({ "amount": 4900, "interval": "month", "product": { "name": "Pro" } })
    );
    assert_eq!(
        data["subscription"]["customer"]["email"],
        json!("ava.martinez@example.com")
    );
    assert_eq!(
        data["missingPlan"],
        Value::Null,
        "a one-time price has no plan view"
    );
    assert_eq!(data["product"], Value::Null);
    // price, plan, subscription, one-time plan, missing product, the product (shared by price
    // and plan), the customer; the default price was cached by the price lookup.
    assert_eq!(app.sandbox.calls_to("/v1/products/prod_Pro"), 1);
    assert_eq!(app.sandbox.calls_to("/v1/prices/price_ProMonthly"), 1);
    assert_eq!(app.stripe_calls(), 7, "{:?}", app.sandbox.calls());
}

#[tokio::test]
async fn a_vanished_cursor_is_an_error_not_an_empty_last_page() {
    let app = spawn_app().await;
    for query in [
        format!("{{ customer(id: \"{AVA}\") {{ subscriptions(after: \"sub_gone\") {{ data {{ id }} hasMore }} }} }}"),
        format!("{{ subscriptions(customer: \"{AVA}\", after: \"sub_gone\") {{ data {{ id }} hasMore }} }}"),
    ] {
        let body = app.query(&query).await;
        let error = &body["errors"][0];
        assert_eq!(error["extensions"]["code"], json!("STRIPE_NOT_FOUND"), "{body}");
        assert_eq!(error["extensions"]["param"], json!("starting_after"), "{body}");
        assert_eq!(
            error["message"],
            json!("the Stripe object named by `starting_after` does not exist")
        );
    }
}
