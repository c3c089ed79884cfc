//! Scalars for Stripe's 64-bit integers.
//!
//! GraphQL's `Int` is 32-bit: Unix timestamps pass 2^31 in January 2038 and amounts in
//! currencies with large minor units pass it much sooner, so no Stripe integer is exposed as
//! `Int`. Each scalar below is a JSON number holding a signed 64-bit integer; Stripe's values
//! stay far below 2^53, so JavaScript clients read them exactly.
//!
//! They are also the models' field types (they deserialize from Stripe's JSON numbers), so a
//! model field is its GraphQL field, without a conversion.

use async_graphql::{InputValueError, InputValueResult, Number, Scalar, ScalarType, Value};

macro_rules! int64_scalar {
    ($(#[$doc:meta])* $name:ident, $gql:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Deserialize, serde::Serialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        $(#[$doc])*
        #[Scalar(name = $gql)]
        impl ScalarType for $name {
            fn parse(value: Value) -> InputValueResult<Self> {
                match &value {
                    Value::Number(n) => n
                        .as_i64()
                        .map($name)
                        .ok_or_else(|| InputValueError::custom("expected a whole number")),
                    _ => Err(InputValueError::expected_type(value)),
                }
            }

            fn to_value(&self) -> Value {
                Value::Number(Number::from(self.0))
            }
        }
    };
}

int64_scalar!(
    /// A point in time as whole seconds since the Unix epoch (UTC), as a JSON number.
    /// 64-bit, so it does not overflow in 2038 the way a GraphQL `Int` would.
    UnixTimestamp,
    "UnixTimestamp"
);

int64_scalar!(
    /// An amount of money as a whole number of the currency's smallest unit (cents for USD,
    /// yen for JPY), as Stripe sends it, as a JSON number. 64-bit; may be negative (credits).
    StripeAmount,
    "StripeAmount"
);

int64_scalar!(
    /// A whole-number count from Stripe (a quantity, a number of intervals or days), as a JSON
    /// number. 64-bit, because Stripe does not bound these to 32 bits.
    StripeCount,
    "StripeCount"
);
