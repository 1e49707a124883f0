//! The commands besides the daemon: the `--config.check` report, `app-quota create`, and
//! the `simulator` command.

use std::process::ExitCode;
use std::sync::Arc;

use super::setup::{Loaded, build_client};
#[cfg(feature = "simulator")]
use crate::cli::SimulatorArgs;
use crate::cli::{Cli, CreateAppQuota};
use crate::config::{AppQuotaSelection, Config, Credential, Project};
use crate::model::outcome::ApiCounters;
use crate::model::target::{Job, Target};
use crate::server::web::WebConfig;

/// `--config.check`: the report on stdout, then the web config's check if one was given.
pub(super) async fn check(cli: &Cli, loaded: &Loaded) -> ExitCode {
    print!("{}", describe(&loaded.config, &loaded.targets, cli));
    print!("{}", super::discovery::describe(&loaded.config));
    for w in &loaded.config.warnings {
        println!("warning: {w}");
    }
    let Some(path) = &cli.web_config_file else {
        return ExitCode::SUCCESS;
    };
    let p = path.clone();
    match tokio::task::spawn_blocking(move || WebConfig::load(&p)).await {
        Ok(Ok(web)) => {
            println!("web config OK: {} ({})", path.display(), web.describe());
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("{e}\nconfig check FAILED");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot check the web config: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The `--config.check` report: resolved settings and targets, never a secret.
pub fn describe(config: &Config, targets: &[Arc<Target>], cli: &Cli) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "config OK: {}", config.source.display());
    let _ = writeln!(
        s,
        "concurrency: {}  rate_limit: {}/s per API host",
        config.concurrency, config.rate_limit
    );
    let _ = writeln!(s, "http: {}", config.http.describe());
    let _ = writeln!(s, "projects:");
    for p in &config.projects {
        if p.http != config.http {
            let _ = writeln!(s, "  - {} http: {}", p.id, p.http.describe());
        }
        let _ = writeln!(
            s,
            "  - {} name={:?} region={:?} credentials={} [{}]\n    interval={} timeout={} max_staleness={}",
            p.id,
            p.name,
            p.region,
            p.credential.name,
            describe_credential(p),
            humantime::format_duration(p.settings.interval),
            humantime::format_duration(p.settings.timeout),
            humantime::format_duration(p.settings.max_staleness)
        );
    }
    let _ = writeln!(s, "targets (shard {}): {}", cli.shard, targets.len());
    for t in targets {
        let _ = writeln!(s, "  {} {}{}", t.key, t.base_url, describe_job(&t.job));
    }
    s
}

/// A project's credential kind, without its secret (four characters of an access key).
fn describe_credential(p: &Project) -> String {
    match &p.credential.credential {
        Credential::Token { .. } => "static token".to_string(),
        Credential::AkSk {
            access_key,
            security_token,
            ..
        } => {
            let shown: String = access_key.chars().take(4).collect();
            format!(
                "AK/SK (access key {shown}...{})",
                if security_token.is_some() {
                    ", temporary"
                } else {
                    ""
                }
            )
        }
        Credential::IamPassword {
            iam_endpoint,
            domain,
            username,
            ..
        } => {
            format!("IAM password ({username}@{domain} via {iam_endpoint})")
        }
        Credential::EcsMetadata { endpoint } => {
            format!("ECS/BMS agency, temporary keys from the metadata service {endpoint}")
        }
        Credential::PodIdentity { uri, token_file } => format!(
            "CCE pod identity, temporary keys from {uri} (authorization from {})",
            token_file.display()
        ),
        Credential::Oidc {
            provider_urn,
            agency_urn,
            id_token_file,
            sts_endpoint,
            duration,
        } => format!(
            "OIDC agency {agency_urn} via provider {provider_urn} at {sts_endpoint} (id token from {}, {} keys)",
            id_token_file.display(),
            humantime::format_duration(*duration)
        ),
    }
}

/// What a target polls beyond its API, as ` key=value` (empty when nothing).
fn describe_job(job: &Job) -> String {
    match job {
        Job::RomaAppQuota {
            app_quotas: AppQuotaSelection::Discover,
            ..
        } => " app_quotas=discover".to_string(),
        Job::RomaAppQuota {
            app_quotas: AppQuotaSelection::Ids(ids),
            ..
        } => format!(" app_quotas={}", ids.join(",")),
        Job::Eventgrid { types } if !types.is_empty() => format!(" types={}", types.join(",")),
        _ => String::new(),
    }
}

/// The `simulator` command: the built-in cloud simulator alone, until SIGTERM.
#[cfg(feature = "simulator")]
pub(super) async fn run_simulator(args: &SimulatorArgs) -> ExitCode {
    use crate::simulator::{Fault, Simulator, World};
    let listen = &args.listen_address;
    let addr: std::net::SocketAddr = match listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("invalid --listen-address `{listen}`: {e}");
            return ExitCode::FAILURE;
        }
    };
    let world = || {
        if args.roma_instances == 0 {
            World::demo()
        } else {
            World::with_roma_instances(args.roma_instances)
        }
    };
    let sim = match Simulator::start(addr, world()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot start the simulator on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !args.latency.is_zero() {
        sim.faults()
            .push(Fault::everywhere().with_latency(args.latency));
    }
    if let Some(path) = &args.write_config
        && let Err(e) = std::fs::write(
            path,
            world().exporter_config_yaml(&sim.base_url(), &args.interval),
        )
    {
        eprintln!("cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    eprintln!("simulator serving on {}", sim.base_url());
    super::setup::shutdown_signal().await;
    ExitCode::SUCCESS
}

/// `app-quota create`: validate locally, then POST with the project's credentials.
pub(super) async fn create_app_quota(cli: &Cli, args: &CreateAppQuota) -> ExitCode {
    let quota = crate::upstream::appquota::NewAppQuota {
        name: args.name.clone(),
        call_limits: args.call_limits,
        time_unit: args.time_unit.trim().to_ascii_uppercase(),
        time_interval: args.time_interval,
        reset_time: args.reset_time.clone(),
        remark: args.remark.clone(),
    };
    if let Err(problems) = quota.validate() {
        eprint!(
            "{}",
            crate::upstream::appquota::describe_problems(&problems)
        );
        return ExitCode::from(2);
    }
    let config = match Config::load(&cli.config_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(project) = config.projects.iter().find(|p| p.id == args.project_id) else {
        let known: Vec<&str> = config.projects.iter().map(|p| p.id.as_str()).collect();
        eprintln!(
            "project `{}` is not in {}: its credentials and endpoint come from there (projects: {})",
            args.project_id,
            cli.config_file.display(),
            known.join(", ")
        );
        return ExitCode::FAILURE;
    };
    if project.endpoints.roma.is_empty() {
        eprintln!(
            "project `{}` has no ROMA endpoint: set `region` or `endpoints.roma` in the config",
            project.id
        );
        return ExitCode::FAILURE;
    }
    let client = match build_client(&config, Arc::new(ApiCounters::default())) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match crate::upstream::roma::create_app_quota(&client, project, &args.instance_id, &quota).await
    {
        Ok(created) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&created).unwrap_or_else(|_| created.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the client quota was not created: {e}");
            ExitCode::FAILURE
        }
    }
}
