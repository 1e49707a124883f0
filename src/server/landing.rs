//! The landing page at `/`: targets with their last poll, and every quota sorted by
//! utilisation, near-exhausted first. Plain server-rendered HTML; every upstream string
//! is escaped.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::AppState;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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
    out
}

fn age(now: SystemTime, t: SystemTime) -> String {
    let secs = now.duration_since(t).unwrap_or_default().as_secs();
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string() + " ago"
}

/// Renders the page.
pub fn render(state: &AppState) -> String {
    let now = SystemTime::now();
    let targets = state.snapshot.view();
    let mut h = String::with_capacity(8192);
    let uptime = humantime::format_duration(std::time::Duration::from_secs(
        state.started.elapsed().as_secs(),
    ));
    let _ = write!(
        h,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Huawei Cloud quota exporter</title>\
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin-bottom:2em}}\
td,th{{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left;font-size:14px}}th{{background:#f4f4f4}}\
.ok{{color:#1a7f37}}.fail{{color:#cf222e;font-weight:bold}}.bar{{background:#eee;width:160px;height:12px;display:inline-block}}\
.bar span{{display:block;height:12px}}.lvl0{{background:#2da44e}}.lvl1{{background:#d4a72c}}.lvl2{{background:#cf222e}}</style></head><body>\
<h1>Huawei Cloud quota exporter</h1><p>Version {} &middot; up {} &middot; <a href=\"{}\">Metrics</a> &middot; \
<a href=\"/-/healthy\">Health</a> &middot; <a href=\"/-/ready\">Readiness</a></p>",
        env!("CARGO_PKG_VERSION"),
        uptime,
        escape(&state.telemetry_path)
    );
    h.push_str("<h2>Targets</h2><table><tr><th>API</th><th>Project</th><th>Instance</th><th>Last poll</th><th>Duration</th><th>Result</th><th>Error code</th><th>Message</th><th>Request id</th></tr>");
    for t in &targets {
        let p = &t.target.project;
        let (when, dur, result, code, msg, rid) = match &t.last_poll {
            None => (
                "never".to_string(),
                String::new(),
                "<span>pending</span>".to_string(),
                "",
                "",
                "",
            ),
            Some(r) => {
                let (res, code, msg, rid) = match &r.error {
                    None => ("<span class=\"ok\">ok</span>".to_string(), "", "", ""),
                    Some(e) => (
                        "<span class=\"fail\">failed</span>".to_string(),
                        e.code.as_str(),
                        e.message.as_str(),
                        e.request_id.as_deref().unwrap_or(""),
                    ),
                };
                (
                    age(now, r.finished_at),
                    format!("{:.3}s", r.duration.as_secs_f64()),
                    res,
                    code,
                    msg,
                    rid,
                )
            }
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{} <small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.target.api.as_str(),
            escape(&p.name),
            escape(&p.id),
            escape(&t.target.instance_id),
            when,
            dur,
            result,
            escape(code),
            escape(msg),
            escape(rid)
        );
    }
    h.push_str("</table>");

    // Quotas by utilisation, the fullest first.
    let mut rows: Vec<(f64, String)> = Vec::new();
    for t in &targets {
        let Some(data) = &t.data else { continue };
        for r in &data.resources {
            let (Some(limit), Some(used)) = (r.limit, r.used) else {
                continue;
            };
            let util = if limit > 0.0 {
                used / limit
            } else if used > 0.0 {
                1.0
            } else {
                0.0
            };
            let pct = (util * 100.0).clamp(0.0, 100.0);
            let lvl = if util >= 0.95 {
                2
            } else if util >= 0.80 {
                1
            } else {
                0
            };
            rows.push((
                util,
                format!(
                    "<tr><td>{:.1}%</td><td><span class=\"bar\"><span class=\"lvl{lvl}\" style=\"width:{pct:.0}%\"></span></span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    util * 100.0,
                    t.target.api.as_str(),
                    escape(&t.target.project.name),
                    escape(&t.target.instance_id),
                    escape(&r.resource),
                    used,
                    limit
                ),
            ));
        }
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    h.push_str("<h2>Quotas by utilisation</h2><table><tr><th>Used</th><th></th><th>API</th><th>Project</th><th>Instance</th><th>Resource</th><th>Used</th><th>Limit</th></tr>");
    for (_, r) in rows {
        h.push_str(&r);
    }
    h.push_str("</table><h2>Client quotas</h2><table><tr><th>Project</th><th>Instance</th><th>Name</th><th>Id</th><th>Call limit</th><th>Window</th><th>Bound apps</th><th>Remark</th></tr>");
    for t in &targets {
        let Some(data) = &t.data else { continue };
        for c in &data.clients {
            let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
            let window = c
                .window_seconds
                .map(|s| {
                    humantime::format_duration(std::time::Duration::from_secs_f64(s.max(0.0)))
                        .to_string()
                })
                .unwrap_or_else(|| "-".into());
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&t.target.project.name),
                escape(&t.target.instance_id),
                escape(&c.name),
                escape(&c.app_quota_id),
                opt(c.call_limit),
                window,
                opt(c.bound_apps),
                escape(&c.remark)
            );
        }
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<script>\"x\"&'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;&lt;/script&gt;"
        );
    }
}
