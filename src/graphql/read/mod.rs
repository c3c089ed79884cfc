//! The read path: the root fields that read Stripe, and the object fields that need a Stripe
//! call or a computation (`#[ComplexObject]`). Every read goes through the cache
//! ([`crate::cache::StripeCache`]).
//!
//! | module | root fields | computed fields |
//! |---|---|---|
//! | [`customer`] | `customer`, `customers` | `StripeCustomer.subscriptions`, `.defaultPaymentMethodId` |
//! | [`subscription`] | `subscription`, `subscriptions` | `StripeSubscription.customer`, `.items` |
//! | [`price`] | `price`, `prices`, `plan` | `StripePrice.product`, `StripePlan.product` |
//! | [`product`] | `product` | `StripeProduct.defaultPrice` |

pub mod customer;
pub mod price;
pub mod product;
pub mod subscription;
