//! huaweicloud-quota-exporter: flags, logging, start and stop; the rest is in the library.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser as _;
use huaweicloud_quota_exporter::{app, cli::Cli, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        print!(
            "{}",
            huaweicloud_quota_exporter::model::build::BUILD.version_text()
        );
        return ExitCode::SUCCESS;
    }
    logging::init(cli.log_level, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(app::run(cli))
}
