//! Which endpoint serves an API in a region, from declarative tables.
//!
//! The facts are the region tables of the official Huawei Cloud Python SDKs (PyPI packages
//! named at each table; `scripts/sdk-regions.py` prints the generated block below from an
//! installed SDK, so it can be refreshed). Hostnames are not uniform: GaussDB for MySQL is
//! `gaussdb.`, `gaussdbformysql.` or `gaussdb-mysql.` depending on the region, and the EU
//! sovereign region `eu-west-101` is on `.myhuaweicloud.eu`. Open Telekom Cloud (OTC) is not
//! in those SDKs: its tables below are hand-written.
//!
//! [`endpoint`] answers one of three things:
//! - [`Lookup::Known`]: the region is in the service's table; that exact URL.
//! - [`Lookup::NotOffered`]: the region is known (some table lists it) but the service's
//!   table does not, or its cloud has no such service at all (ROMA Connect and EventGrid on
//!   OTC): there is no endpoint to derive. Skip the API for discovered projects, warn for
//!   configured ones.
//! - [`Lookup::Pattern`]: no table knows the region (a region newer than the tables, or one
//!   whose endpoints are unverified, such as OTC Swiss `eu-ch2`): the usual hostname
//!   pattern of its cloud, which the caller should warn about.
//!
//! URLs are bare origins (`https://host`, no path, no trailing slash); IAM's API paths
//! (`/v3/...`) are the caller's to add.
//!
//! Self-contained on purpose: nothing here depends on the rest of the crate.

/// An API whose endpoint depends on the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// Identity and Access Management (tokens, project listing).
    Iam,
    /// ROMA Connect (livedata and app quotas, instance listing).
    Roma,
    /// EventGrid (EG).
    EventGrid,
    /// GaussDB for MySQL (`huaweicloudsdkgaussdb`, API v3).
    GaussDbMysql,
}

impl Service {
    /// Every service, in a fixed order.
    pub const ALL: [Service; 4] = [
        Service::Iam,
        Service::Roma,
        Service::EventGrid,
        Service::GaussDbMysql,
    ];

    /// The service's region table from the SDK, in the SDK's order.
    pub fn sdk_table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Service::Iam => IAM,
            Service::Roma => ROMA,
            Service::EventGrid => EVENTGRID,
            Service::GaussDbMysql => GAUSSDB_MYSQL,
        }
    }

    /// The service's Open Telekom Cloud table (empty where OTC has no such service).
    pub fn otc_table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Service::Iam => OTC_IAM,
            Service::GaussDbMysql => OTC_GAUSSDB_MYSQL,
            Service::Roma | Service::EventGrid => &[],
        }
    }

    /// The hostname's first label in the usual pattern (`roma.{region}...`).
    fn host_label(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Roma => "roma",
            Service::EventGrid => "eg",
            Service::GaussDbMysql => "gaussdb",
        }
    }
}

/// Where a service is served in a region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The region is in the service's table: this URL, exactly as the table lists it.
    Known(&'static str),
    /// No table knows the region: the cloud's usual pattern, not verified (warn).
    Pattern(String),
    /// The region is known, but the service is not offered there.
    NotOffered,
}

impl Lookup {
    /// The URL, known or derived; `None` where the service is not offered.
    pub fn url(&self) -> Option<&str> {
        match self {
            Lookup::Known(u) => Some(u),
            Lookup::Pattern(u) => Some(u),
            Lookup::NotOffered => None,
        }
    }
}

/// The cloud a region belongs to: they differ in domain and in global IAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// Huawei Cloud (`*.myhuaweicloud.com`).
    HuaweiCloud,
    /// Huawei Cloud's EU sovereign cloud (`eu-west-101`, `*.myhuaweicloud.eu`).
    HuaweiCloudEu,
    /// Open Telekom Cloud (`eu-de`, `eu-nl`; `*.otc.t-systems.com`).
    OpenTelekomCloud,
    /// Open Telekom Cloud Switzerland (`eu-ch2`); its endpoints are unverified.
    OpenTelekomCloudSwiss,
}

/// Open Telekom Cloud regions (not in the Huawei Cloud SDKs).
pub static OTC_REGIONS: &[&str] = &["eu-de", "eu-nl"];

/// Open Telekom Cloud Switzerland's region. Its hostnames are unverified (public configs
/// show both `iam-pub.eu-ch2.sc.otc.t-systems.com` and `iam.eu-ch2.otc.t-systems.com`), so
/// it is in no table: its endpoints are [`Lookup::Pattern`]s, warned about.
pub const OTC_SWISS_REGION: &str = "eu-ch2";

/// IAM on Open Telekom Cloud (hand-written: OTC's API docs, not an SDK).
pub static OTC_IAM: &[(&str, &str)] = &[
    ("eu-de", "https://iam.eu-de.otc.t-systems.com"),
    ("eu-nl", "https://iam.eu-nl.otc.t-systems.com"),
];

/// GaussDB for MySQL on Open Telekom Cloud (hand-written: OTC's API docs, not an SDK).
/// OTC offers neither ROMA Connect nor EventGrid, so those have no OTC table.
pub static OTC_GAUSSDB_MYSQL: &[(&str, &str)] = &[
    ("eu-de", "https://gaussdb-mysql.eu-de.otc.t-systems.com"),
    ("eu-nl", "https://gaussdb-mysql.eu-nl.otc.t-systems.com"),
];

// BEGIN generated by scripts/sdk-regions.py (do not edit by hand)

/// ROMA Connect: `huaweicloudsdkroma` 3.1.219, `huaweicloudsdkroma/v2/region/roma_region.py` (8 regions).
#[rustfmt::skip]
pub static ROMA: &[(&str, &str)] = &[
    ("cn-north-1", "https://roma.cn-north-1.myhuaweicloud.com"),
    ("cn-north-4", "https://roma.cn-north-4.myhuaweicloud.com"),
    ("cn-east-3", "https://roma.cn-east-3.myhuaweicloud.com"),
    ("cn-east-2", "https://roma.cn-east-2.myhuaweicloud.com"),
    ("cn-south-1", "https://roma.cn-south-1.myhuaweicloud.com"),
    ("ap-southeast-3", "https://roma.ap-southeast-3.myhuaweicloud.com"),
    ("ap-southeast-1", "https://roma.ap-southeast-1.myhuaweicloud.com"),
    ("ru-northwest-2", "https://roma.ru-northwest-2.myhuaweicloud.com"),
];

/// EventGrid: `huaweicloudsdkeg` 3.1.219, `huaweicloudsdkeg/v1/region/eg_region.py` (10 regions).
#[rustfmt::skip]
pub static EVENTGRID: &[(&str, &str)] = &[
    ("cn-north-4", "https://eg.cn-north-4.myhuaweicloud.com"),
    ("cn-east-2", "https://eg.cn-east-2.myhuaweicloud.com"),
    ("cn-east-3", "https://eg.cn-east-3.myhuaweicloud.com"),
    ("sa-brazil-1", "https://eg.sa-brazil-1.myhuaweicloud.com"),
    ("ap-southeast-3", "https://eg.ap-southeast-3.myhuaweicloud.com"),
    ("cn-south-1", "https://eg.cn-south-1.myhuaweicloud.com"),
    ("cn-north-11", "https://eg.cn-north-11.myhuaweicloud.com"),
    ("cn-north-9", "https://eg.cn-north-9.myhuaweicloud.com"),
    ("na-mexico-1", "https://eg.na-mexico-1.myhuaweicloud.com"),
    ("eu-west-101", "https://eg.eu-west-101.myhuaweicloud.eu"),
];

/// GaussDB for MySQL: `huaweicloudsdkgaussdb` 3.1.219, `huaweicloudsdkgaussdb/v3/region/gaussdb_region.py` (20 regions).
#[rustfmt::skip]
pub static GAUSSDB_MYSQL: &[(&str, &str)] = &[
    ("cn-north-4", "https://gaussdb.cn-north-4.myhuaweicloud.com"),
    ("cn-southwest-2", "https://gaussdb.cn-southwest-2.myhuaweicloud.com"),
    ("cn-east-3", "https://gaussdb.cn-east-3.myhuaweicloud.com"),
    ("cn-south-1", "https://gaussdb.cn-south-1.myhuaweicloud.com"),
    ("ru-northwest-2", "https://gaussdb.ru-northwest-2.myhuaweicloud.com"),
    ("ap-southeast-3", "https://gaussdb.ap-southeast-3.myhuaweicloud.com"),
    ("cn-north-2", "https://gaussdb.cn-north-2.myhuaweicloud.com"),
    ("cn-north-9", "https://gaussdb.cn-north-9.myhuaweicloud.com"),
    ("tr-west-1", "https://gaussdbformysql.tr-west-1.myhuaweicloud.com"),
    ("ap-southeast-4", "https://gaussdb.ap-southeast-4.myhuaweicloud.com"),
    ("sa-brazil-1", "https://gaussdb.sa-brazil-1.myhuaweicloud.com"),
    ("ap-southeast-1", "https://gaussdbformysql.ap-southeast-1.myhuaweicloud.com"),
    ("ap-southeast-2", "https://gaussdbformysql.ap-southeast-2.myhuaweicloud.com"),
    ("af-south-1", "https://gaussdb-mysql.af-south-1.myhuaweicloud.com"),
    ("cn-south-4", "https://gaussdb.cn-south-4.myhuaweicloud.com"),
    ("cn-north-11", "https://gaussdbformysql.cn-north-11.myhuaweicloud.com"),
    ("cn-east-5", "https://gaussdb-mysql.cn-east-5.myhuaweicloud.com"),
    ("la-north-2", "https://gaussdb-mysql.la-north-2.myhuaweicloud.com"),
    ("cn-southwest-3", "https://gaussdb-mysql.cn-southwest-3.myhuaweicloud.com"),
    ("me-east-1", "https://gaussdbformysql.me-east-1.myhuaweicloud.com"),
];

/// IAM: `huaweicloudsdkiam` 3.1.219, `huaweicloudsdkiam/v3/region/iam_region.py` (28 regions).
#[rustfmt::skip]
pub static IAM: &[(&str, &str)] = &[
    ("cn-north-2", "https://iam.cn-north-2.myhuaweicloud.com"),
    ("cn-north-4", "https://iam.cn-north-4.myhuaweicloud.com"),
    ("cn-north-1", "https://iam.cn-north-1.myhuaweicloud.com"),
    ("cn-east-2", "https://iam.cn-east-2.myhuaweicloud.com"),
    ("cn-east-3", "https://iam.cn-east-3.myhuaweicloud.com"),
    ("cn-south-1", "https://iam.cn-south-1.myhuaweicloud.com"),
    ("cn-south-2", "https://iam.cn-south-2.myhuaweicloud.com"),
    ("cn-southwest-2", "https://iam.cn-southwest-2.myhuaweicloud.com"),
    ("ap-southeast-1", "https://iam.ap-southeast-1.myhuaweicloud.com"),
    ("ap-southeast-2", "https://iam.ap-southeast-2.myhuaweicloud.com"),
    ("ap-southeast-3", "https://iam.ap-southeast-3.myhuaweicloud.com"),
    ("af-south-1", "https://iam.af-south-1.myhuaweicloud.com"),
    ("sa-brazil-1", "https://iam.sa-brazil-1.myhuaweicloud.com"),
    ("la-south-2", "https://iam.la-south-2.myhuaweicloud.com"),
    ("na-mexico-1", "https://iam.na-mexico-1.myhuaweicloud.com"),
    ("la-north-2", "https://iam.la-north-2.myhuaweicloud.com"),
    ("cn-north-9", "https://iam.cn-north-9.myhuaweicloud.com"),
    ("eu-west-101", "https://iam.eu-west-101.myhuaweicloud.eu"),
    ("eu-west-0", "https://iam.eu-west-0.myhuaweicloud.com"),
    ("my-kualalumpur-1", "https://iam.my-kualalumpur-1.myhuaweicloud.com"),
    ("ru-moscow-1", "https://iam.ru-moscow-1.myhuaweicloud.com"),
    ("me-east-1", "https://iam.me-east-1.myhuaweicloud.com"),
    ("ap-southeast-4", "https://iam.ap-southeast-4.myhuaweicloud.com"),
    ("ae-ad-1", "https://iam.ae-ad-1.myhuaweicloud.com"),
    ("cn-east-4", "https://iam.cn-east-4.myhuaweicloud.com"),
    ("cn-east-5", "https://iam.cn-east-5.myhuaweicloud.com"),
    ("tr-west-1", "https://iam.tr-west-1.myhuaweicloud.com"),
    ("cn-north-12", "https://iam.cn-north-12.myhuaweicloud.com"),
];

// END generated

fn find(table: &'static [(&'static str, &'static str)], region: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, url)| *url)
}

/// Whether any table (SDK or OTC) lists the region.
fn in_any_table(region: &str) -> bool {
    OTC_REGIONS.contains(&region)
        || Service::ALL
            .iter()
            .any(|s| find(s.sdk_table(), region).is_some() || find(s.otc_table(), region).is_some())
}

/// The endpoint of `service` in `region` (a region id such as `cn-north-4`, not a project
/// name: see [`region_of_project`]).
///
/// IAM is also a global service: where the regional IAM is [`Lookup::NotOffered`] (the SDK
/// lists no regional IAM for, e.g., `cn-north-11`), use [`global_iam`] of [`cloud_of`].
pub fn endpoint(service: Service, region: &str) -> Lookup {
    if let Some(url) =
        find(service.sdk_table(), region).or_else(|| find(service.otc_table(), region))
    {
        return Lookup::Known(url);
    }
    if in_any_table(region) {
        return Lookup::NotOffered;
    }
    let label = service.host_label();
    match cloud_of(region) {
        Cloud::HuaweiCloud => {
            Lookup::Pattern(format!("https://{label}.{region}.myhuaweicloud.com"))
        }
        Cloud::HuaweiCloudEu => {
            Lookup::Pattern(format!("https://{label}.{region}.myhuaweicloud.eu"))
        }
        Cloud::OpenTelekomCloud | Cloud::OpenTelekomCloudSwiss => match service {
            Service::Iam => Lookup::Pattern(format!("https://iam.{region}.otc.t-systems.com")),
            Service::GaussDbMysql => {
                Lookup::Pattern(format!("https://gaussdb-mysql.{region}.otc.t-systems.com"))
            }
            Service::Roma | Service::EventGrid => Lookup::NotOffered,
        },
    }
}

/// The cloud of a region id: OTC's own regions, the EU sovereign cloud where a table puts
/// the region on `.myhuaweicloud.eu`, else Huawei Cloud.
pub fn cloud_of(region: &str) -> Cloud {
    if OTC_REGIONS.contains(&region) {
        return Cloud::OpenTelekomCloud;
    }
    if region == OTC_SWISS_REGION {
        return Cloud::OpenTelekomCloudSwiss;
    }
    let on_eu = Service::ALL
        .iter()
        .any(|s| find(s.sdk_table(), region).is_some_and(|url| url.ends_with(".myhuaweicloud.eu")));
    if on_eu {
        Cloud::HuaweiCloudEu
    } else {
        Cloud::HuaweiCloud
    }
}

/// The global IAM of a cloud (project and domain listing, domain-scoped tokens).
/// OTC Switzerland's is unverified, so it is a [`Lookup::Pattern`] (warn).
pub fn global_iam(cloud: Cloud) -> Lookup {
    match cloud {
        Cloud::HuaweiCloud => Lookup::Known("https://iam.myhuaweicloud.com"),
        Cloud::HuaweiCloudEu => Lookup::Known("https://iam.myhuaweicloud.eu"),
        Cloud::OpenTelekomCloud => Lookup::Known("https://iam.eu-de.otc.t-systems.com"),
        Cloud::OpenTelekomCloudSwiss => {
            Lookup::Pattern(format!("https://iam.{OTC_SWISS_REGION}.otc.t-systems.com"))
        }
    }
}

/// Whether `name` is a region id: one a table lists, an OTC region, or one shaped like
/// Huawei Cloud's (`xx-word-N`: `cn-north-4`, `ap-southeast-1`, a region newer than the
/// tables). Special project names such as `MOS` are not regions.
pub fn is_region(name: &str) -> bool {
    in_any_table(name) || name == OTC_SWISS_REGION || region_shaped(name)
}

/// `xx-word-N`: two lowercase letters, a lowercase word, a number without a leading zero
/// (`eu-west-0` is a region; `eu-de-01` is an availability zone).
fn region_shaped(name: &str) -> bool {
    let mut parts = name.split('-');
    let (Some(geo), Some(word), Some(number), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    geo.len() == 2
        && geo.bytes().all(|b| b.is_ascii_lowercase())
        && !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_lowercase())
        && number.bytes().all(|b| b.is_ascii_digit())
        && !number.is_empty()
        && (number == "0" || !number.starts_with('0'))
}

/// The region of an IAM project, from its name: region projects are named after the region
/// (`cn-north-4`, `eu-de`), sub-projects `{region}_{suffix}` (`cn-north-4_dev`); other
/// projects (`MOS`, ...) have none.
pub fn region_of_project(project_name: &str) -> Option<&str> {
    let region = project_name
        .split_once('_')
        .map_or(project_name, |(region, _)| region);
    is_region(region).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated by `scripts/sdk-regions.py --expected` from huaweicloudsdkroma 3.1.219, huaweicloudsdkeg 3.1.219, huaweicloudsdkgaussdb 3.1.219, huaweicloudsdkiam 3.1.219.
    const SDK_EXPECTED: &str = "\
        roma cn-north-1 https://roma.cn-north-1.myhuaweicloud.com
        roma cn-north-4 https://roma.cn-north-4.myhuaweicloud.com
        roma cn-east-3 https://roma.cn-east-3.myhuaweicloud.com
        roma cn-east-2 https://roma.cn-east-2.myhuaweicloud.com
        roma cn-south-1 https://roma.cn-south-1.myhuaweicloud.com
        roma ap-southeast-3 https://roma.ap-southeast-3.myhuaweicloud.com
        roma ap-southeast-1 https://roma.ap-southeast-1.myhuaweicloud.com
        roma ru-northwest-2 https://roma.ru-northwest-2.myhuaweicloud.com
        eventgrid cn-north-4 https://eg.cn-north-4.myhuaweicloud.com
        eventgrid cn-east-2 https://eg.cn-east-2.myhuaweicloud.com
        eventgrid cn-east-3 https://eg.cn-east-3.myhuaweicloud.com
        eventgrid sa-brazil-1 https://eg.sa-brazil-1.myhuaweicloud.com
        eventgrid ap-southeast-3 https://eg.ap-southeast-3.myhuaweicloud.com
        eventgrid cn-south-1 https://eg.cn-south-1.myhuaweicloud.com
        eventgrid cn-north-11 https://eg.cn-north-11.myhuaweicloud.com
        eventgrid cn-north-9 https://eg.cn-north-9.myhuaweicloud.com
        eventgrid na-mexico-1 https://eg.na-mexico-1.myhuaweicloud.com
        eventgrid eu-west-101 https://eg.eu-west-101.myhuaweicloud.eu
        gaussdb_mysql cn-north-4 https://gaussdb.cn-north-4.myhuaweicloud.com
        gaussdb_mysql cn-southwest-2 https://gaussdb.cn-southwest-2.myhuaweicloud.com
        gaussdb_mysql cn-east-3 https://gaussdb.cn-east-3.myhuaweicloud.com
        gaussdb_mysql cn-south-1 https://gaussdb.cn-south-1.myhuaweicloud.com
        gaussdb_mysql ru-northwest-2 https://gaussdb.ru-northwest-2.myhuaweicloud.com
        gaussdb_mysql ap-southeast-3 https://gaussdb.ap-southeast-3.myhuaweicloud.com
        gaussdb_mysql cn-north-2 https://gaussdb.cn-north-2.myhuaweicloud.com
        gaussdb_mysql cn-north-9 https://gaussdb.cn-north-9.myhuaweicloud.com
        gaussdb_mysql tr-west-1 https://gaussdbformysql.tr-west-1.myhuaweicloud.com
        gaussdb_mysql ap-southeast-4 https://gaussdb.ap-southeast-4.myhuaweicloud.com
        gaussdb_mysql sa-brazil-1 https://gaussdb.sa-brazil-1.myhuaweicloud.com
        gaussdb_mysql ap-southeast-1 https://gaussdbformysql.ap-southeast-1.myhuaweicloud.com
        gaussdb_mysql ap-southeast-2 https://gaussdbformysql.ap-southeast-2.myhuaweicloud.com
        gaussdb_mysql af-south-1 https://gaussdb-mysql.af-south-1.myhuaweicloud.com
        gaussdb_mysql cn-south-4 https://gaussdb.cn-south-4.myhuaweicloud.com
        gaussdb_mysql cn-north-11 https://gaussdbformysql.cn-north-11.myhuaweicloud.com
        gaussdb_mysql cn-east-5 https://gaussdb-mysql.cn-east-5.myhuaweicloud.com
        gaussdb_mysql la-north-2 https://gaussdb-mysql.la-north-2.myhuaweicloud.com
        gaussdb_mysql cn-southwest-3 https://gaussdb-mysql.cn-southwest-3.myhuaweicloud.com
        gaussdb_mysql me-east-1 https://gaussdbformysql.me-east-1.myhuaweicloud.com
        iam cn-north-2 https://iam.cn-north-2.myhuaweicloud.com
        iam cn-north-4 https://iam.cn-north-4.myhuaweicloud.com
        iam cn-north-1 https://iam.cn-north-1.myhuaweicloud.com
        iam cn-east-2 https://iam.cn-east-2.myhuaweicloud.com
        iam cn-east-3 https://iam.cn-east-3.myhuaweicloud.com
        iam cn-south-1 https://iam.cn-south-1.myhuaweicloud.com
        iam cn-south-2 https://iam.cn-south-2.myhuaweicloud.com
        iam cn-southwest-2 https://iam.cn-southwest-2.myhuaweicloud.com
        iam ap-southeast-1 https://iam.ap-southeast-1.myhuaweicloud.com
        iam ap-southeast-2 https://iam.ap-southeast-2.myhuaweicloud.com
        iam ap-southeast-3 https://iam.ap-southeast-3.myhuaweicloud.com
        iam af-south-1 https://iam.af-south-1.myhuaweicloud.com
        iam sa-brazil-1 https://iam.sa-brazil-1.myhuaweicloud.com
        iam la-south-2 https://iam.la-south-2.myhuaweicloud.com
        iam na-mexico-1 https://iam.na-mexico-1.myhuaweicloud.com
        iam la-north-2 https://iam.la-north-2.myhuaweicloud.com
        iam cn-north-9 https://iam.cn-north-9.myhuaweicloud.com
        iam eu-west-101 https://iam.eu-west-101.myhuaweicloud.eu
        iam eu-west-0 https://iam.eu-west-0.myhuaweicloud.com
        iam my-kualalumpur-1 https://iam.my-kualalumpur-1.myhuaweicloud.com
        iam ru-moscow-1 https://iam.ru-moscow-1.myhuaweicloud.com
        iam me-east-1 https://iam.me-east-1.myhuaweicloud.com
        iam ap-southeast-4 https://iam.ap-southeast-4.myhuaweicloud.com
        iam ae-ad-1 https://iam.ae-ad-1.myhuaweicloud.com
        iam cn-east-4 https://iam.cn-east-4.myhuaweicloud.com
        iam cn-east-5 https://iam.cn-east-5.myhuaweicloud.com
        iam tr-west-1 https://iam.tr-west-1.myhuaweicloud.com
        iam cn-north-12 https://iam.cn-north-12.myhuaweicloud.com
";

    fn service(name: &str) -> Service {
        match name {
            "iam" => Service::Iam,
            "roma" => Service::Roma,
            "eventgrid" => Service::EventGrid,
            "gaussdb_mysql" => Service::GaussDbMysql,
            other => panic!("unknown service {other}"),
        }
    }

    #[test]
    fn every_sdk_entry_round_trips_and_the_tables_hold_nothing_else() {
        let mut per_service = std::collections::HashMap::new();
        for line in SDK_EXPECTED.lines().filter(|l| !l.trim().is_empty()) {
            let [svc, region, url]: [&str; 3] = line
                .split_whitespace()
                .collect::<Vec<_>>()
                .try_into()
                .unwrap_or_else(|v| panic!("bad line {v:?}"));
            let s = service(svc);
            assert_eq!(endpoint(s, region), Lookup::Known(url), "{svc} {region}");
            *per_service.entry(s).or_insert(0usize) += 1;
        }
        for s in Service::ALL {
            assert_eq!(
                per_service.get(&s).copied(),
                Some(s.sdk_table().len()),
                "{s:?}"
            );
        }
    }

    #[test]
    fn table_sizes_are_those_of_the_sdk() {
        assert_eq!(ROMA.len(), 8);
        assert_eq!(EVENTGRID.len(), 10);
        assert_eq!(GAUSSDB_MYSQL.len(), 20);
        assert_eq!(IAM.len(), 28);
    }

    #[test]
    fn tables_are_well_formed() {
        for s in Service::ALL {
            for table in [s.sdk_table(), s.otc_table()] {
                let mut seen = std::collections::HashSet::new();
                for (region, url) in table {
                    assert!(seen.insert(*region), "{s:?}: {region} twice");
                    assert!(
                        region_shaped(region) || OTC_REGIONS.contains(region),
                        "{s:?}: {region}"
                    );
                    assert!(url.starts_with("https://"), "{url}");
                    assert!(url.contains(&format!(".{region}.")), "{url}");
                    assert!(!url["https://".len()..].contains('/'), "{url}");
                }
            }
        }
    }

    #[test]
    fn gaussdb_hostnames_differ_by_region() {
        for region in [
            "tr-west-1",
            "ap-southeast-1",
            "ap-southeast-2",
            "cn-north-11",
            "me-east-1",
        ] {
            assert_eq!(
                endpoint(Service::GaussDbMysql, region).url(),
                Some(format!("https://gaussdbformysql.{region}.myhuaweicloud.com").as_str())
            );
        }
        for region in ["af-south-1", "cn-east-5", "la-north-2", "cn-southwest-3"] {
            assert_eq!(
                endpoint(Service::GaussDbMysql, region).url(),
                Some(format!("https://gaussdb-mysql.{region}.myhuaweicloud.com").as_str())
            );
        }
        assert_eq!(
            endpoint(Service::GaussDbMysql, "cn-north-4"),
            Lookup::Known("https://gaussdb.cn-north-4.myhuaweicloud.com")
        );
    }

    #[test]
    fn the_eu_sovereign_region_is_on_myhuaweicloud_eu() {
        assert_eq!(cloud_of("eu-west-101"), Cloud::HuaweiCloudEu);
        assert_eq!(
            endpoint(Service::EventGrid, "eu-west-101"),
            Lookup::Known("https://eg.eu-west-101.myhuaweicloud.eu")
        );
        assert_eq!(
            endpoint(Service::Iam, "eu-west-101"),
            Lookup::Known("https://iam.eu-west-101.myhuaweicloud.eu")
        );
        assert_eq!(endpoint(Service::Roma, "eu-west-101"), Lookup::NotOffered);
        assert_eq!(
            endpoint(Service::GaussDbMysql, "eu-west-101"),
            Lookup::NotOffered
        );
        assert_eq!(
            global_iam(Cloud::HuaweiCloudEu),
            Lookup::Known("https://iam.myhuaweicloud.eu")
        );
        // The older Paris region is Huawei Cloud proper.
        assert_eq!(cloud_of("eu-west-0"), Cloud::HuaweiCloud);
    }

    #[test]
    fn open_telekom_cloud_has_iam_and_gaussdb_but_no_roma_or_eventgrid() {
        for region in ["eu-de", "eu-nl"] {
            assert_eq!(cloud_of(region), Cloud::OpenTelekomCloud);
            assert_eq!(
                endpoint(Service::Iam, region).url(),
                Some(format!("https://iam.{region}.otc.t-systems.com").as_str())
            );
            assert_eq!(
                endpoint(Service::GaussDbMysql, region),
                Lookup::Known(if region == "eu-de" {
                    "https://gaussdb-mysql.eu-de.otc.t-systems.com"
                } else {
                    "https://gaussdb-mysql.eu-nl.otc.t-systems.com"
                })
            );
            assert_eq!(endpoint(Service::Roma, region), Lookup::NotOffered);
            assert_eq!(endpoint(Service::EventGrid, region), Lookup::NotOffered);
        }
        assert_eq!(
            global_iam(Cloud::OpenTelekomCloud),
            Lookup::Known("https://iam.eu-de.otc.t-systems.com")
        );
    }

    #[test]
    fn swiss_otc_endpoints_are_unverified_patterns() {
        assert_eq!(cloud_of("eu-ch2"), Cloud::OpenTelekomCloudSwiss);
        assert_eq!(
            endpoint(Service::GaussDbMysql, "eu-ch2"),
            Lookup::Pattern("https://gaussdb-mysql.eu-ch2.otc.t-systems.com".into())
        );
        assert_eq!(
            endpoint(Service::Iam, "eu-ch2"),
            Lookup::Pattern("https://iam.eu-ch2.otc.t-systems.com".into())
        );
        assert_eq!(endpoint(Service::Roma, "eu-ch2"), Lookup::NotOffered);
        assert_eq!(endpoint(Service::EventGrid, "eu-ch2"), Lookup::NotOffered);
        assert!(matches!(
            global_iam(Cloud::OpenTelekomCloudSwiss),
            Lookup::Pattern(_)
        ));
        assert!(is_region("eu-ch2"));
    }

    #[test]
    fn a_known_region_missing_from_a_table_is_not_offered() {
        // sa-brazil-1 has EventGrid, GaussDB and IAM, but no ROMA.
        assert_eq!(endpoint(Service::Roma, "sa-brazil-1"), Lookup::NotOffered);
        // cn-north-11 has EventGrid and GaussDB, but no regional IAM: global IAM then.
        assert_eq!(endpoint(Service::Iam, "cn-north-11"), Lookup::NotOffered);
        assert_eq!(cloud_of("cn-north-11"), Cloud::HuaweiCloud);
        assert_eq!(
            global_iam(cloud_of("cn-north-11")),
            Lookup::Known("https://iam.myhuaweicloud.com")
        );
        // ROMA only where its table says.
        assert_eq!(
            endpoint(Service::EventGrid, "cn-north-1"),
            Lookup::NotOffered
        );
        assert_eq!(
            endpoint(Service::Roma, "cn-north-1"),
            Lookup::Known("https://roma.cn-north-1.myhuaweicloud.com")
        );
    }

    #[test]
    fn a_region_no_table_knows_falls_back_to_the_pattern() {
        assert_eq!(
            endpoint(Service::Roma, "cn-north-13"),
            Lookup::Pattern("https://roma.cn-north-13.myhuaweicloud.com".into())
        );
        assert_eq!(
            endpoint(Service::EventGrid, "cn-north-13"),
            Lookup::Pattern("https://eg.cn-north-13.myhuaweicloud.com".into())
        );
        assert_eq!(
            endpoint(Service::GaussDbMysql, "cn-north-13"),
            Lookup::Pattern("https://gaussdb.cn-north-13.myhuaweicloud.com".into())
        );
        assert_eq!(
            endpoint(Service::Iam, "cn-north-13"),
            Lookup::Pattern("https://iam.cn-north-13.myhuaweicloud.com".into())
        );
        assert_eq!(Lookup::NotOffered.url(), None);
    }

    #[test]
    fn regions_are_told_from_other_names() {
        for yes in [
            "cn-north-4",
            "ap-southeast-1",
            "my-kualalumpur-1",
            "ae-ad-1",
            "eu-west-101",
            "eu-west-0",
            "eu-de",
            "eu-nl",
            "eu-ch2",
            "cn-north-13",
        ] {
            assert!(is_region(yes), "{yes}");
        }
        for no in [
            "MOS",
            "",
            "cn-north",
            "CN-NORTH-4",
            "cn-north-4_dev",
            "eu-de-01",
            "cn-north-4-1",
            "c-north-4",
            "cn--4",
            "cn-north-x",
            "eu-fr",
        ] {
            assert!(!is_region(no), "{no}");
        }
    }

    #[test]
    fn the_region_of_a_project_comes_from_its_name() {
        for (name, region) in [
            ("cn-north-4", Some("cn-north-4")),
            ("cn-north-4_dev", Some("cn-north-4")),
            ("ap-southeast-1_team_a", Some("ap-southeast-1")),
            ("eu-de", Some("eu-de")),
            ("eu-de_prod", Some("eu-de")),
            ("eu-nl", Some("eu-nl")),
            ("eu-west-101_x", Some("eu-west-101")),
            ("MOS", None),
            ("MOS_x", None),
            ("", None),
            ("_cn-north-4", None),
            ("dev_cn-north-4", None),
        ] {
            assert_eq!(region_of_project(name), region, "{name}");
        }
    }
}
