//! The default catalogue's plans and service tiers the rating benches spread shops over
//! (shop `h` signs `PLANS[h % 5]` and `SERVICES[h % 4]`, hashed), kept once for both.

pub const PLANS: [&str; 5] = [
    "per_mounting",
    "subscription_100",
    "graduated",
    "volume",
    "package_50",
];
pub const SERVICES: [Option<&str>; 4] = [
    None,
    Some("time_and_materials"),
    Some("maintenance"),
    Some("full_service"),
];
