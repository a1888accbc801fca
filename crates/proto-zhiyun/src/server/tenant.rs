//! The built-in tenant: the seed document's test client, its two test access tokens and its
//! masked sample user and company, so the document's examples work against the sandbox.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use kaifang_proto_zhiyun::server::{ServerState, tenant};
//! let issued = UNIX_EPOCH + Duration::from_secs(1_522_000_000);
//! let state = tenant::seed_state(issued, tenant::ACCESS_TOKEN_TTL);
//! let token = state.access_token(tenant::ACCESS_TOKENS[0]).unwrap();
//! assert_eq!(token.user_id, "1152");
//! assert_eq!(state.client(tenant::CLIENT_ID).unwrap().scope, ["getUserInfo", "getCompanyInfo"]);
//! ```

use std::time::{Duration, SystemTime};

use super::state::{MemoryState, ServerClient};
use crate::model::{CompanyInfo, UserInfo};

/// The seed's `client_id`.
pub const CLIENT_ID: &str = "1102084294";
/// The seed's `client_secret`.
pub const CLIENT_SECRET: &str = "aku8hCyXBd9SqYkT";
/// The scope given to the seed's client: both data methods.
pub const SCOPE: &str = "getUserInfo,getCompanyInfo";
/// The seed's two test access tokens (36 and 35 hex characters: lengths are not validated).
pub const ACCESS_TOKENS: [&str; 2] = [
    "9106c9fd1e138a042d4aedf94cede7a766e0",
    "55427e5af26a1319e168beb699b0fd1b11e",
];
/// The users behind them. `1152` is read from the sample's avatar path
/// (`…/000/00/11/52_avatar_small`); `1153` is kaifang's choice \[I\], a second user with the same
/// sample data, so that "auth code of another user" (100023) can be shown.
pub const USER_IDS: [&str; 2] = ["1152", "1153"];
/// Access token lifetime: "过期时间一般为3个月" (about 3 months), taken as 90 days.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// The seed's sample `getUserInfo` answer's `nowtime`.
pub const USER_SAMPLE_NOWTIME: i64 = 1_522_404_566;
/// The seed's sample `getCompanyInfo` answer's `nowtime`.
pub const COMPANY_SAMPLE_NOWTIME: i64 = 1_522_404_881;

/// The seed's sample user (`nowtime` left empty: the server fills in its clock).
pub fn sample_user() -> UserInfo {
    UserInfo {
        username: "li******40".into(),
        truename: "李**".into(),
        sex: "3".into(),
        phone: "13******0170".into(),
        is_admin: "1".into(),
        status: None,
        avatar: "http://avatar.xxx.dev.com/000/00/11/52_avatar_small".into(),
        created: "2017-11-30 10:37:30".into(),
        nowtime: None,
    }
}

/// The seed's sample company (`nowtime` left empty).
pub fn sample_company() -> CompanyInfo {
    CompanyInfo {
        company_name: "水磨沟区*******餐饮店".into(),
        company_type: "1".into(),
        tax_number: "6523248***************03404".into(),
        province: String::new(),
        city: String::new(),
        zone: String::new(),
        address: "乌鲁木齐市***巷186号".into(),
        disable: String::new(),
        tel_phone: String::new(),
        legal_person_phone: "133*****0170".into(),
        legal_person_name: "李**".into(),
        created: "2017-11-30 10:37:30".into(),
        nowtime: None,
    }
}

/// The seed's client.
pub fn seed_client() -> ServerClient {
    ServerClient::new(CLIENT_ID, CLIENT_SECRET, SCOPE)
}

/// Adds the seed tenant to `state`: the client, both tokens issued at `issued_at` and living
/// `token_ttl`, and their users with the sample data.
pub fn add_seed(state: &mut MemoryState, issued_at: SystemTime, token_ttl: Duration) {
    let expires = issued_at.checked_add(token_ttl).unwrap_or(issued_at);
    state.add_client(seed_client());
    for (token, user_id) in ACCESS_TOKENS.into_iter().zip(USER_IDS) {
        state.add_token(token, user_id, expires).add_user(
            user_id,
            sample_user(),
            Some(sample_company()),
        );
    }
}

/// A state holding only the seed tenant.
pub fn seed_state(issued_at: SystemTime, token_ttl: Duration) -> MemoryState {
    let mut state = MemoryState::new();
    add_seed(&mut state, issued_at, token_ttl);
    state
}
