//! The five platforms, each on its real paths (they do not overlap, so one sandbox serves all
//! of them and a client only swaps its base URL). Each module is thin glue over the server half
//! of its `kaifang-proto-*` crate.
//!
//! | module | platform | paths |
//! |---|---|---|
//! | [`tianyi`] | Tianyi Shilian VCP | `/open/oauth/...`, `/open/token/...` |
//! | [`zhiyun`] | Zhiyun open auth | `/apis/rest/...` |
//! | [`device`] | device provisioning + Aliyun IoT | `/device/provision`, `/auth/register/device`, `/auth/devicename` |
//! | [`tf56`] | Transfar open gateway | `/openGateway/...` |
//! | [`ilab`] | iLab-x style experiments | `/oauth/...`, `/open/api/v2/...` |

pub mod device;
pub mod ilab;
pub mod tf56;
pub mod tianyi;
pub mod zhiyun;
