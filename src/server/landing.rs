//! The landing page at `/`: summary, every quota sorted by utilisation (fullest first,
//! bars coloured at 80% and 95%), every target with its last poll, every client quota.
//! Server-rendered HTML and CSS, no JavaScript; every upstream string is escaped.
//!
//! Tables are paginated ([`PAGE_SIZE`] rows, `?qp=`, `?tp=`, `?cp=`), so a page view costs
//! the same with ten targets or ten thousand; the sorted rows come from the shared
//! [`StatusModel`].

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::status::StatusModel;
use crate::model::credentials::CredentialState;
use crate::model::discovery::{DiscoveryStatus, FoundProject};

/// Rows per table page.
pub const PAGE_SIZE: usize = 100;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Which page of each table to show (1-based), from the query string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageQuery {
    /// `qp`: quotas.
    pub quotas: usize,
    /// `tp`: targets.
    pub targets: usize,
    /// `cp`: client quotas.
    pub clients: usize,
}

impl Default for PageQuery {
    fn default() -> Self {
        PageQuery {
            quotas: 1,
            targets: 1,
            clients: 1,
        }
    }
}

impl PageQuery {
    /// Reads `qp`, `tp` and `cp`; anything else or unreadable is ignored.
    pub fn parse(query: Option<&str>) -> PageQuery {
        let mut q = PageQuery::default();
        for pair in query.unwrap_or("").split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let Ok(n) = v.parse::<usize>() else { continue };
            let n = n.max(1);
            match k {
                "qp" => q.quotas = n,
                "tp" => q.targets = n,
                "cp" => q.clients = n,
                _ => {}
            }
        }
        q
    }

    fn href(self, anchor: &str) -> String {
        format!(
            "?qp={}&amp;tp={}&amp;cp={}#{anchor}",
            self.quotas, self.targets, self.clients
        )
    }
}

/// What the page needs besides the model.
#[derive(Clone, Copy, Debug)]
pub struct PageContext<'a> {
    /// `--web.telemetry-path`.
    pub telemetry_path: &'a str,
    /// Time since start.
    pub uptime: Duration,
    /// Now, for ages.
    pub now: SystemTime,
    /// Every configured credential (the Credentials section).
    pub credentials: &'a [CredentialState],
}

const STYLE: &str = r#"
:root{--bg:#f5f6f8;--fg:#1f2328;--muted:#5f6b7a;--line:#e2e6ea;--card:#fff;--ok:#1f883d;--warn:#d4a72c;--warn-fg:#9a6700;--crit:#d1242f;--accent:#0969da;--brand:#c7000b}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
.top{background:#1f2328;color:#fff}
.wrap{max-width:1480px;margin:0 auto;padding:0 24px}
.top .wrap{display:flex;align-items:center;justify-content:space-between;height:56px}
.brand{font-size:17px;font-weight:600;display:flex;align-items:center;gap:10px}
.mark{display:inline-block;width:22px;height:22px;border-radius:50%;background:conic-gradient(var(--brand) 0 80%,#ffffff33 80% 100%)}
.top nav a{color:#d0d7de;margin-left:20px;font-size:13px}.top nav a:hover{color:#fff}
.meta{color:var(--muted);margin:18px 0 14px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:22px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px;border-top:4px solid #8c959f}
.card .num{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums}
.card .label{color:var(--muted);font-size:12.5px;text-transform:uppercase;letter-spacing:.04em}
.card.ok{border-top-color:var(--ok)}.card.failed{border-top-color:var(--crit)}.card.pending{border-top-color:#8c959f}
.card.critical{border-top-color:var(--crit)}.card.warning{border-top-color:var(--warn)}
.card.failed .num,.card.critical .num{color:var(--crit)}.card.warning .num{color:var(--warn-fg)}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;margin-bottom:22px;overflow:hidden}
.panel h2{font-size:15px;margin:0;padding:14px 16px;border-bottom:1px solid var(--line);display:flex;gap:8px;align-items:center}
.count{background:#eef1f4;color:var(--muted);border-radius:10px;padding:0 8px;font-size:12px;font-weight:500}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th{white-space:nowrap;text-align:left;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);background:#fafbfc;font-weight:600}
th,td{padding:8px 14px;border-bottom:1px solid var(--line);vertical-align:top}
tbody tr:last-child td{border-bottom:0}
tbody tr:hover{background:#f8fafc}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;color:var(--muted);white-space:nowrap}
.stack b{display:block;font-weight:600}.stack .id{display:block}
.when{white-space:nowrap}
.meter{display:flex;align-items:center;gap:10px;min-width:190px}
.bar{flex:0 0 120px;height:10px;border-radius:5px;background:#eaeef2;overflow:hidden}
.bar span{display:block;height:100%;border-radius:5px}
.bar .ok{background:var(--ok)}.bar .warning{background:var(--warn)}.bar .critical{background:var(--crit)}
.pct{white-space:nowrap;font-weight:600;font-variant-numeric:tabular-nums;min-width:4.5em}
.pct.critical{color:var(--crit)}.pct.warning{color:var(--warn-fg)}.pct.unknown{color:var(--muted);font-weight:400}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}
.badge.ok{background:#dafbe1;color:#116329}.badge.failed{background:#ffebe9;color:#a40e26}.badge.pending{background:#eef1f4;color:var(--muted)}
tr.failed td{background:#fff8f7}
.msg{min-width:12em;max-width:34em;overflow-wrap:anywhere}
.api{white-space:nowrap}
.pager{display:flex;justify-content:space-between;align-items:center;padding:10px 16px;border-top:1px solid var(--line);color:var(--muted);font-size:13px}
.pager a{margin-left:14px}
.empty{padding:16px;color:var(--muted)}
footer{color:var(--muted);font-size:12.5px;margin:6px 0 30px}
"#;

fn format_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A quota figure: integers with thousands separators, fractions as they are.
fn format_number(v: Option<f64>) -> String {
    match v {
        None => "&ndash;".to_string(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => {
            let s = format_count(v.abs() as usize);
            if v < 0.0 { format!("-{s}") } else { s }
        }
        Some(v) => format!("{v}"),
    }
}

/// `12s`, `3m 4s`, `2h 5m`, `3d 4h`.
fn format_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

fn format_duration(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// A window length in the largest unit that divides it: `1 hour`, `30 minutes`.
fn format_window(seconds: Option<f64>) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return "&ndash;".to_string();
    };
    if s.fract() != 0.0 {
        return format!("{s} s");
    }
    let s = s as u64;
    for (unit, name) in [(86_400, "day"), (3600, "hour"), (60, "minute")] {
        if s >= unit && s.is_multiple_of(unit) {
            let n = s / unit;
            return format!("{n} {name}{}", if n == 1 { "" } else { "s" });
        }
    }
    format!("{s} second{}", if s == 1 { "" } else { "s" })
}

fn utc(t: SystemTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from(t).format(&f).unwrap_or_default()
}

fn utc_minutes(t: SystemTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from(t).format(&f).unwrap_or_default()
}

/// Project name above its id.
fn project_cell(h: &mut String, name: &str, id: &str) {
    h.push_str("<td class=\"stack\">");
    if !name.is_empty() {
        h.push_str("<b>");
        push_escaped(h, name);
        h.push_str("</b>");
    }
    h.push_str("<span class=\"id\">");
    push_escaped(h, id);
    h.push_str("</span></td>");
}

/// Where a client quota lives: the project (its id on hover) above the instance id.
fn location_cell(h: &mut String, project_name: &str, project_id: &str, instance_id: &str) {
    h.push_str("<td class=\"stack\"><b title=\"");
    push_escaped(h, project_id);
    h.push_str("\">");
    push_escaped(
        h,
        if project_name.is_empty() {
            project_id
        } else {
            project_name
        },
    );
    h.push_str("</b><span class=\"id\">");
    push_escaped(h, instance_id);
    h.push_str("</span></td>");
}

fn id_cell(h: &mut String, id: &str) {
    if id.is_empty() {
        h.push_str("<td class=\"id\">&ndash;</td>");
    } else {
        h.push_str("<td class=\"id\">");
        push_escaped(h, id);
        h.push_str("</td>");
    }
}

/// Clamps a 1-based page to the rows; returns (page, first index, end index).
fn page_bounds(page: usize, total: usize) -> (usize, usize, usize) {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    let start = (page - 1) * PAGE_SIZE;
    (page, start, (start + PAGE_SIZE).min(total))
}

fn pager(
    h: &mut String,
    total: usize,
    (page, start, end): (usize, usize, usize),
    link: impl Fn(usize) -> String,
) {
    if total <= PAGE_SIZE {
        return;
    }
    let pages = total.div_ceil(PAGE_SIZE);
    let _ = write!(
        h,
        "<nav class=\"pager\"><span>Showing {}&ndash;{} of {} &middot; page {page} of {pages}</span><span>",
        format_count(start + 1),
        format_count(end),
        format_count(total)
    );
    if page > 1 {
        let _ = write!(h, "<a href=\"{}\">&lsaquo; Previous</a>", link(page - 1));
    }
    if page < pages {
        let _ = write!(h, "<a href=\"{}\">Next &rsaquo;</a>", link(page + 1));
    }
    h.push_str("</span></nav>");
}

/// Renders the page.
pub fn render(model: &StatusModel, query: PageQuery, ctx: &PageContext<'_>) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let metrics = escape(ctx.telemetry_path);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<link rel=\"icon\" href=\"data:,\"><title>Huawei Cloud quota exporter</title><style>{STYLE}</style></head><body>\
<header class=\"top\"><div class=\"wrap\"><div class=\"brand\"><span class=\"mark\"></span>Huawei Cloud quota exporter</div>\
<nav><a href=\"{metrics}\">Metrics</a><a href=\"/api/v1/status\">Status JSON</a>\
<a href=\"/-/healthy\">Health</a><a href=\"/-/ready\">Readiness</a></nav></div></header><main class=\"wrap\">\
<p class=\"meta\">Version {} &middot; up {} &middot; data as of {}{}</p>",
        env!("CARGO_PKG_VERSION"),
        format_age(ctx.uptime),
        utc(model.built_at),
        if model.reload_ok {
            ""
        } else {
            " &middot; <b class=\"pct critical\">last config reload failed</b>"
        }
    );

    if let Some(restored) = &model.restored {
        h.push_str("<p class=\"meta\">Persistence: ");
        push_escaped(&mut h, restored);
        h.push_str("</p>");
    }
    let s = &model.summary;
    h.push_str("<section class=\"cards\">");
    for (class, n, label) in [
        ("", s.targets, "targets"),
        ("ok", s.targets_ok, "polled ok"),
        ("failed", s.targets_failed, "failing"),
        ("pending", s.targets_pending, "not polled yet"),
        ("critical", s.quotas_critical, "quotas &ge; 95%"),
        ("warning", s.quotas_warning, "quotas &ge; 80%"),
    ] {
        // Alarm colours only when there is something to see.
        let class = if n == 0 { "" } else { class };
        let _ = write!(
            h,
            "<div class=\"card {class}\"><div class=\"num\">{}</div><div class=\"label\">{label}</div></div>",
            format_count(n)
        );
    }
    h.push_str("</section>");

    quotas_table(&mut h, model, query);
    targets_table(&mut h, model, query, ctx.now);
    credentials_section(&mut h, ctx.credentials, ctx.now);
    clients_table(&mut h, model, query);
    discovery_section(&mut h, model, ctx.now);

    let _ = writeln!(
        h,
        "<footer>Scrape <a href=\"{metrics}\">{metrics}</a> with Prometheus; alert on \
<code>huaweicloud_quota_used / huaweicloud_quota_limit &gt; 0.8</code>. \
The same data as JSON: <a href=\"/api/v1/status\">/api/v1/status</a>.</footer></main></body></html>"
    );
    h
}

fn quotas_table(h: &mut String, model: &StatusModel, query: PageQuery) {
    let total = model.quotas.len();
    let _ = write!(
        h,
        "<section class=\"panel\" id=\"quotas\"><h2>Quotas by utilisation <span class=\"count\">{}</span></h2>",
        format_count(total)
    );
    if total == 0 {
        h.push_str("<p class=\"empty\">No quota figures yet: the first polls have not finished.</p></section>");
        return;
    }
    h.push_str("<div class=\"scroll\"><table><thead><tr><th>Utilisation</th><th>Resource</th><th class=\"n\">Used</th><th class=\"n\">Limit</th><th>API</th><th>Project</th><th>Instance</th></tr></thead><tbody>");
    let bounds = page_bounds(query.quotas, total);
    for q in &model.quotas[bounds.1..bounds.2] {
        let r = q.quota();
        let level = q.level.as_str();
        h.push_str("<tr><td><div class=\"meter\">");
        match q.utilisation {
            Some(u) => {
                let width = (u * 100.0).clamp(0.0, 100.0);
                let pct = if u.is_finite() {
                    format!("{:.1}%", u * 100.0)
                } else {
                    "over".to_string()
                };
                let _ = write!(
                    h,
                    "<div class=\"bar\"><span class=\"{level}\" style=\"width:{width:.1}%\"></span></div><span class=\"pct {level}\">{pct}</span>"
                );
            }
            None => {
                let why = match (r.used, r.limit) {
                    (Some(_), Some(l)) if l < 0.0 => "no limit",
                    (None, _) => "no usage figure",
                    _ => "&ndash;",
                };
                let _ = write!(
                    h,
                    "<div class=\"bar\"></div><span class=\"pct unknown\">{why}</span>"
                );
            }
        }
        h.push_str("</div></td><td>");
        push_escaped(h, &r.resource);
        let _ = write!(
            h,
            "</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"api\">{}</td>",
            format_number(r.used),
            format_number(r.limit),
            q.target.api().as_str()
        );
        project_cell(h, &q.target.project.name, &q.target.project.id);
        id_cell(h, q.target.instance_id());
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
    pager(h, total, bounds, |p| {
        PageQuery { quotas: p, ..query }.href("quotas")
    });
    h.push_str("</section>");
}

fn targets_table(h: &mut String, model: &StatusModel, query: PageQuery, now: SystemTime) {
    let total = model.targets.len();
    let _ = write!(
        h,
        "<section class=\"panel\" id=\"targets\"><h2>Targets <span class=\"count\">{}</span></h2>",
        format_count(total)
    );
    if total == 0 {
        h.push_str("<p class=\"empty\">No targets: the configuration (or this shard) has none.</p></section>");
        return;
    }
    h.push_str("<div class=\"scroll\"><table><thead><tr><th>Result</th><th>API</th><th>Project</th><th>Instance</th><th>Last poll</th><th class=\"n\">Duration</th><th>Error code</th><th>Message</th><th>Request id</th></tr></thead><tbody>");
    let bounds = page_bounds(query.targets, total);
    for row in &model.targets[bounds.1..bounds.2] {
        let t = &row.status.target;
        let state = row.state.as_str();
        let _ = write!(
            h,
            "<tr class=\"{state}\"><td><span class=\"badge {state}\">{state}</span></td><td class=\"api\">{}</td>",
            t.api().as_str()
        );
        project_cell(h, &t.project.name, &t.project.id);
        id_cell(h, t.instance_id());
        match &row.status.last_poll {
            None => {
                h.push_str("<td>never</td><td class=\"n\">&ndash;</td><td></td><td></td><td></td>")
            }
            Some(p) => {
                let age = now.duration_since(p.finished_at).unwrap_or_default();
                let _ = write!(
                    h,
                    "<td class=\"when\" title=\"{}\">{} ago</td><td class=\"n\">{}</td>",
                    utc(p.finished_at),
                    format_age(age),
                    format_duration(p.duration)
                );
                match &p.error {
                    None if p.value_errors > 0 => {
                        let _ = write!(
                            h,
                            "<td></td><td class=\"msg\">{} value(s) could not be read; see the log</td><td></td>",
                            p.value_errors
                        );
                    }
                    None => h.push_str("<td></td><td></td><td></td>"),
                    Some(e) => {
                        h.push_str("<td class=\"id\">");
                        push_escaped(h, &e.code.as_str());
                        h.push_str("</td><td class=\"msg\">");
                        push_escaped(h, &e.message);
                        h.push_str("</td><td class=\"id\">");
                        push_escaped(h, e.request_id.as_deref().unwrap_or(""));
                        h.push_str("</td>");
                    }
                }
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
    pager(h, total, bounds, |p| {
        PageQuery {
            targets: p,
            ..query
        }
        .href("targets")
    });
    h.push_str("</section>");
}

/// `2026-12-01 10:00:00 UTC (in 4m 3s)` or `(... 12s ago)`; `&ndash;` for none.
fn when_cell(h: &mut String, t: Option<SystemTime>, now: SystemTime) {
    let Some(t) = t else {
        h.push_str("<td>&ndash;</td>");
        return;
    };
    let relative = match t.duration_since(now) {
        Ok(ahead) => format!("in {}", format_age(ahead)),
        Err(e) => format!("{} ago", format_age(e.duration())),
    };
    let _ = write!(h, "<td class=\"when\" title=\"{}\">{relative}</td>", utc(t));
}

/// One row per configured credential: kind, source (never a secret), and for the kinds
/// that are refreshed: valid until, last refresh, next refresh, the last error.
fn credentials_section(h: &mut String, credentials: &[CredentialState], now: SystemTime) {
    if credentials.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<section class=\"panel\" id=\"credentials\"><h2>Credentials <span class=\"count\">{}</span></h2>",
        format_count(credentials.len())
    );
    h.push_str("<div class=\"scroll\"><table><thead><tr><th>State</th><th>Credential</th><th>Kind</th><th>Source</th><th>Valid until</th><th>Last refresh</th><th>Next refresh</th><th>Last error</th><th>Error code</th><th>Message</th></tr></thead><tbody>");
    for c in credentials {
        let (state, label) = if !c.refreshed {
            ("pending", "static")
        } else if c.failing() {
            ("failed", "failing")
        } else if c.last_refresh.is_some() {
            ("ok", "ok")
        } else {
            ("pending", "pending")
        };
        let _ = write!(
            h,
            "<tr class=\"{state}\"><td><span class=\"badge {state}\">{label}</span></td><td><b>"
        );
        push_escaped(h, &c.name);
        let _ = write!(
            h,
            "</b></td><td class=\"api\">{}</td><td class=\"msg\">",
            c.kind
        );
        push_escaped(h, &c.source);
        h.push_str("</td>");
        if !c.refreshed {
            h.push_str("<td colspan=\"6\" class=\"msg\">used as configured (files are read again when they change)</td></tr>");
            continue;
        }
        when_cell(h, c.valid_until, now);
        when_cell(h, c.last_refresh, now);
        when_cell(h, c.next_refresh, now);
        match &c.last_error {
            None => h.push_str("<td>&ndash;</td><td></td><td></td>"),
            Some(e) => {
                when_cell(h, Some(e.at), now);
                h.push_str("<td class=\"id\">");
                push_escaped(h, &e.code);
                h.push_str("</td><td class=\"msg\">");
                push_escaped(h, &e.message);
                h.push_str("</td>");
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div></section>");
}

/// Per credential: the last discovery, its errors, the projects it polls (instances
/// counted) and the ones it skipped with the reason.
fn discovery_section(h: &mut String, model: &StatusModel, now: SystemTime) {
    if model.discovery.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<section class=\"panel\" id=\"discovery\"><h2>Discovery <span class=\"count\">{}</span></h2>",
        format_count(model.discovery.len())
    );
    for d in model.discovery.iter() {
        discovery_heading(h, d, now);
        if d.projects.is_empty() && d.skipped.is_empty() {
            continue;
        }
        h.push_str("<div class=\"scroll\"><table><thead><tr><th>Project</th><th>Region</th><th>Instances polled</th><th>Not polled</th><th>Notes</th></tr></thead><tbody>");
        for p in &d.projects {
            discovered_project_row(h, p);
        }
        for p in &d.skipped {
            h.push_str("<tr class=\"pending\">");
            project_cell(h, &p.name, &p.id);
            h.push_str("<td></td><td class=\"n\">&ndash;</td><td></td><td class=\"msg\">skipped: ");
            push_escaped(h, &p.reason);
            h.push_str("</td></tr>");
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("</section>");
}

/// One credential's discovery: state, last run, last success, errors by scope.
fn discovery_heading(h: &mut String, d: &DiscoveryStatus, now: SystemTime) {
    let (state, label) = match (d.last_run, d.success) {
        (None, _) => ("pending", "pending"),
        (Some(_), true) => ("ok", "ok"),
        (Some(_), false) => ("failed", "failed"),
    };
    h.push_str("<h3>");
    push_escaped(h, &d.credentials);
    let _ = write!(
        h,
        " <span class=\"badge {state}\">{label}</span></h3><p class=\"meta\">"
    );
    match d.last_run {
        Some(t) => {
            let age = now.duration_since(t).unwrap_or_default();
            let _ = write!(
                h,
                "last run {} ago ({}), {} projects, {} skipped, {} targets",
                format_age(age),
                format_duration(d.duration),
                d.projects.len(),
                d.skipped.len(),
                d.targets
            );
        }
        None => h.push_str("first run under way"),
    }
    if let Some(t) = d.last_success {
        let _ = write!(h, "; last success {}", utc(t));
    }
    h.push_str("</p>");
    for (scope, e) in &d.errors {
        h.push_str("<p class=\"msg\"><b class=\"pct critical\">");
        push_escaped(h, scope);
        h.push_str("</b>: ");
        push_escaped(h, &e.to_string());
        h.push_str(" (the last good list is kept)</p>");
    }
}

/// A discovered project: region, instances polled, the ones not polled and why, notes.
fn discovered_project_row(h: &mut String, p: &FoundProject) {
    h.push_str("<tr class=\"ok\">");
    project_cell(h, &p.name, &p.id);
    h.push_str("<td>");
    push_escaped(h, &p.region);
    let polled = p.instances.iter().filter(|i| i.skipped.is_none()).count();
    let _ = write!(h, "</td><td class=\"n\">{polled}</td><td class=\"msg\">");
    for (n, i) in p
        .instances
        .iter()
        .filter(|i| i.skipped.is_some())
        .enumerate()
    {
        if n > 0 {
            h.push_str(", ");
        }
        push_escaped(h, if i.name.is_empty() { &i.id } else { &i.name });
        h.push_str(" (");
        push_escaped(h, i.skipped.as_deref().unwrap_or(""));
        h.push(')');
    }
    h.push_str("</td><td class=\"msg\">");
    let mut notes = p.notes.clone();
    if p.configured {
        notes.insert(0, "configured project".into());
    }
    if p.stale_instances {
        notes.push("instance list failed: last good list".into());
    }
    push_escaped(h, &notes.join("; "));
    h.push_str("</td></tr>");
}

fn clients_table(h: &mut String, model: &StatusModel, query: PageQuery) {
    let total = model.clients.len();
    let _ = write!(
        h,
        "<section class=\"panel\" id=\"clients\"><h2>ROMA Connect client quotas <span class=\"count\">{}</span></h2>",
        format_count(total)
    );
    if total == 0 {
        h.push_str("<p class=\"empty\">No client quotas polled.</p></section>");
        return;
    }
    h.push_str("<div class=\"scroll\"><table><thead><tr><th>Name and id</th><th class=\"n\">Call limit</th><th>Window</th><th class=\"n\">Bound apps</th><th>First reset</th><th>Remark</th><th>Project and instance</th></tr></thead><tbody>");
    let bounds = page_bounds(query.clients, total);
    for row in &model.clients[bounds.1..bounds.2] {
        let c = row.quota();
        h.push_str("<tr><td class=\"stack\"><b>");
        push_escaped(h, &c.name);
        h.push_str("</b><span class=\"id\">");
        push_escaped(h, &c.app_quota_id);
        h.push_str("</span>");
        let reset = c
            .reset_timestamp
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| utc_minutes(std::time::UNIX_EPOCH + Duration::from_secs_f64(s)))
            .unwrap_or_else(|| "&ndash;".to_string());
        let _ = write!(
            h,
            "</td><td class=\"n\">{}</td><td class=\"when\">{}</td><td class=\"n\">{}</td><td class=\"when\">{reset}</td><td class=\"msg\">",
            format_number(c.call_limit),
            format_window(c.window_seconds),
            format_number(c.bound_apps),
        );
        push_escaped(h, &c.remark);
        h.push_str("</td>");
        let p = &row.target.project;
        location_cell(h, &p.name, &p.id, row.target.instance_id());
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
    pager(h, total, bounds, |p| {
        PageQuery {
            clients: p,
            ..query
        }
        .href("clients")
    });
    h.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_rows_are_escaped_and_show_their_state() {
        use crate::model::credentials::CredentialError;
        let now = SystemTime::now();
        let row = CredentialState {
            name: "<i>cred</i>".into(),
            kind: "oidc",
            source: "STS https://sts.example/<x>".into(),
            refreshed: true,
            valid_until: Some(now + Duration::from_secs(600)),
            last_refresh: Some(now - Duration::from_secs(5)),
            next_refresh: Some(now + Duration::from_secs(300)),
            last_error: Some(CredentialError {
                code: "STS.0006".into(),
                message: "bad <script>".into(),
                at: now - Duration::from_secs(60),
            }),
        };
        let mut h = String::new();
        credentials_section(&mut h, &[row], now);
        assert!(
            h.contains("&lt;i&gt;cred&lt;/i&gt;") && !h.contains("<i>"),
            "{h}"
        );
        assert!(
            h.contains("bad &lt;script&gt;") && !h.contains("<script>"),
            "{h}"
        );
        assert!(h.contains("badge ok\">ok<"), "an older error: {h}");
        assert!(
            h.contains(">in 10m 0s<") || h.contains(">in 9m 59s<"),
            "{h}"
        );
        assert!(h.contains(">1m 0s ago<") && h.contains("STS.0006"), "{h}");
        let mut h = String::new();
        credentials_section(&mut h, &[], now);
        assert!(h.is_empty(), "no section without credentials");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>\"x\"&'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format_count(1234567), "1,234,567");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_number(Some(10000.0)), "10,000");
        assert_eq!(format_number(Some(-1.0)), "-1");
        assert_eq!(format_number(Some(2.5)), "2.5");
        assert_eq!(format_window(Some(3600.0)), "1 hour");
        assert_eq!(format_window(Some(172_800.0)), "2 days");
        assert_eq!(format_window(Some(90.0)), "90 seconds");
        assert_eq!(format_age(Duration::from_secs(3725)), "1h 2m");
        assert_eq!(format_duration(Duration::from_millis(42)), "42 ms");
    }

    #[test]
    fn page_query_and_bounds() {
        let q = PageQuery::parse(Some("qp=3&tp=0&cp=x&other=1"));
        assert_eq!((q.quotas, q.targets, q.clients), (3, 1, 1));
        assert_eq!(page_bounds(3, 250), (3, 200, 250));
        assert_eq!(
            page_bounds(9, 250),
            (3, 200, 250),
            "clamped to the last page"
        );
        assert_eq!(page_bounds(1, 0), (1, 0, 0));
    }
}
