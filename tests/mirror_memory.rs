//! How much heap a mirrored customer takes, counted by this test binary's own allocator (a
//! count of the bytes asked for, not timed, the same on every run): a regression guard for the
//! mirror's memory, beside the resident memory the benchmark measures (docs/benchmarks.md).
//!
//! Its own binary, so its counting allocator sees nothing but this test.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        atomic::{AtomicIsize, Ordering},
        Arc,
    },
};

use serde_json::{json, Value};
use stripe_graphql::{
    mirror::{store::MirrorStore, version::Version},
    stripe::models::{Customer, List, Plan, Price, Subscription},
};
use stripe_sandbox::{demo, fixtures};

/// The system allocator, counting the bytes held.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

fn held() -> isize {
    HELD.load(Ordering::SeqCst)
}

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::SeqCst);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(new_size as isize - layout.size() as isize, Ordering::SeqCst);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CUSTOMERS: usize = 2_000;

/// Customer `n` as a page of `GET /v1/customers?expand[]=data.subscriptions` has it, in the
/// benchmark's shape (the seed's, twice): two active subscriptions of two items each (Pro
/// monthly ×1, Priority Support ×2), a metadata key on the customer and on each subscription.
fn row(n: usize, pro: &Value, support: &Value) -> String {
    let id = format!("cus_mirror{n:06}");
    let mut customer = fixtures::customer(
        &id,
        &format!("Mirror Customer {n}"),
        &format!("mirror{n}@example.com"),
        1_700_000_000 + n as i64,
    );
    customer["metadata"] = json!({ "sso": format!("00000000-0000-4000-8000-{n:012}") });
    let subscriptions: Vec<Value> = ["a", "b"]
        .iter()
        .map(|s| {
            let (first, second) = (
                format!("si_mirror{n:06}{s}1"),
                format!("si_mirror{n:06}{s}2"),
            );
            let items = [
                fixtures::ItemSpec {
                    id: &first,
                    price: pro,
                    quantity: Some(1),
                },
                fixtures::ItemSpec {
                    id: &second,
                    price: support,
                    quantity: Some(2),
                },
            ];
            let mut subscription = fixtures::subscription(
                &format!("sub_mirror{n:06}{s}"),
                &id,
                "active",
                &items,
                (1_790_000_000, 1_792_592_000),
                1_700_000_100 + n as i64,
            );
            subscription["metadata"] = json!({ "source": "mirror-section" });
            subscription
        })
        .collect();
    customer["subscriptions"] = json!({ "object": "list", "data": subscriptions, "has_more": false, "url": "/v1/subscriptions" });
    customer.to_string()
}

#[test]
fn a_mirrored_customer_with_two_subscriptions_of_two_items_takes_under_3_5_kib_of_heap() {
    let demo = demo::store(1_790_000_000);
    let pro = demo.get("price", "price_ProMonthly").unwrap().clone();
    let support = demo.get("price", "price_SupportMonthly").unwrap().clone();
    let version = Version::read(1_790_000_000, 1_790_000_001);
    let mut mirror = MirrorStore::default();
    // The catalog first, as the backfill's catalog pages usually arrive: the items' prices
    // and plans are then shared with these.
    let catalog = fixtures::subscription(
        "sub_catalog",
        "cus_catalog",
        "active",
        &[
            fixtures::ItemSpec {
                id: "si_catalog1",
                price: &pro,
                quantity: Some(1),
            },
            fixtures::ItemSpec {
                id: "si_catalog2",
                price: &support,
                quantity: Some(1),
            },
        ],
        (1, 2),
        1,
    );
    for price in [&pro, &support] {
        let price: Price = serde_json::from_value(price.clone()).unwrap();
        mirror.join_price(Arc::new(price), &version);
    }
    for k in 0..2 {
        let plan: Plan =
            serde_json::from_value(catalog["items"]["data"][k]["plan"].clone()).unwrap();
        mirror.join_plan(Arc::new(plan), &version);
    }
    let rows: Vec<String> = (0..CUSTOMERS).map(|n| row(n, &pro, &support)).collect();
    let json_bytes: usize = rows.iter().map(String::len).sum();

    let before = held();
    for text in &rows {
        // As the client decodes a page: JSON, the embedded page taken off, each typed.
        let mut value: Value = serde_json::from_str(text).unwrap();
        let page = value
            .as_object_mut()
            .unwrap()
            .remove("subscriptions")
            .unwrap();
        let customer: Customer = serde_json::from_value(value).unwrap();
        let page: List<Subscription> = serde_json::from_value(page).unwrap();
        let id = customer.id.clone();
        mirror.join_customer(
            &id,
            Some(Arc::new(customer)),
            Some(Arc::new(page)),
            &version,
        );
    }
    mirror.share_all_embedded();
    let per_customer = (held() - before) / CUSTOMERS as isize;
    let counts = mirror.counts();
    assert_eq!(
        (counts.customers, counts.subscriptions),
        (CUSTOMERS, 2 * CUSTOMERS)
    );
    eprintln!(
        "{per_customer} bytes of heap per mirrored customer ({} bytes of Stripe JSON each)",
        json_bytes / CUSTOMERS
    );
    assert!(per_customer > 1_000, "{per_customer}: nothing was counted?");
    assert!(per_customer <= 3_584, "{per_customer} bytes per customer");
}
