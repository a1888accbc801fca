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

use crate::server::Builder;

pub mod device;
pub mod ilab;
pub mod tf56;
pub mod tianyi;
pub mod zhiyun;

impl Builder {
    /// Mounts all five platforms with their default tenants (the credentials printed in the
    /// seed documents), each overridable by a `[platforms.<name>]` section of the config.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = kaifang_sandbox::Sandbox::builder().all_platforms().start().await?;
    /// assert_eq!(sandbox.modules(), ["tianyi", "zhiyun", "device", "tf56", "ilab"]);
    /// sandbox.shutdown().await;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn all_platforms(self) -> Self {
        self.module(tianyi::TianyiModule)
            .module(zhiyun::ZhiyunModule::default())
            .module(device::DeviceModule::default())
            .module(tf56::Tf56Module)
            .module(ilab::IlabModule::default())
    }
}
