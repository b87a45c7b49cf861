//! `fleetsim load --html FILE.html`: the load report as a self-contained page (inline SVG,
//! no scripts) in the run report's style: cards, facts, the charts over time (latency from
//! the schedule, throughput, errors by class), the stalls, the errors and the thresholds.
//! Every figure shown from the report carries `data-summary`: JSON pointers into the
//! `--out` JSON, in the order shown, so that a test (or a reader) checks the page against it.
//! The main charts are also written as PNG in `<stem>_charts/` next to the page.

mod charts;

use super::figure::Figure;
use super::html::{escape, fact_row, head};
use super::png;
use crate::load::{Conclusion, LoadReport};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The page and its charts.
pub struct Page {
    pub html: String,
    pub figures: Vec<Figure>,
}

/// Writes the page at `path` and its main charts as `<stem>_charts/<slug>.png` beside it.
pub fn write_page(report: &LoadReport, path: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    let stem = path
        .file_stem()
        .map_or_else(|| "load".to_string(), |s| s.to_string_lossy().into_owned());
    let folder_name = format!("{stem}_charts");
    let page = page(report, &folder_name);
    let folder = path.with_file_name(&folder_name);
    std::fs::create_dir_all(&folder).map_err(|e| (folder.clone(), e))?;
    for f in &page.figures {
        let Ok(svg) = &f.svg else { continue };
        let png_path = folder.join(format!("{}.png", f.slug));
        let bytes = png::png(svg).map_err(|e| (png_path.clone(), std::io::Error::other(e)))?;
        std::fs::write(&png_path, bytes).map_err(|e| (png_path, e))?;
    }
    std::fs::write(path, &page.html).map_err(|e| (path.to_path_buf(), e))
}

/// The page, its PNG links pointing into `charts_dir` (relative to the page).
pub fn page(r: &LoadReport, charts_dir: &str) -> Page {
    let mut html = head(&format!("load test of {}", r.target));
    // A card's border says pass or fail (its figure is read against the JSON, uncoloured).
    html.push_str("<style>.card.ok{border-color:#1a7f37}.card.fail{border-color:#c00}.card.fail b{color:#c00}</style>");
    let _ = write!(
        html,
        "<h1>fleetsim load — {}</h1><p>{}</p>",
        escape(&r.target),
        escape(&r.headline())
    );
    html.push_str(&verdict(r));
    html.push_str(&cards(r));
    let closed = charts::closed_loop(r);
    let figures = vec![
        Figure::main(
            "load_latency",
            if closed {
                "Latency per second (closed loop: service time): p50, p99, max (stalls shaded)"
            } else {
                "Latency from the schedule per second: p50, p99, max (stalls shaded)"
            },
            charts::latency(r),
        ),
        Figure::main(
            "load_throughput",
            if closed {
                "Throughput per second: events sent vs acknowledged"
            } else {
                "Throughput per second: events due (offered) vs acknowledged"
            },
            charts::throughput(r),
        ),
        Figure::main(
            "load_errors",
            "Errors per second, by class",
            charts::errors(r),
        ),
    ];
    for f in &figures {
        let png = format!("{charts_dir}/{}.png", f.slug);
        html.push_str(&f.html_with_png("h2", f.svg.is_ok().then_some(png.as_str())));
    }
    html.push_str(&stall_table(r));
    html.push_str(&facts_table(r));
    html.push_str(&errors_table(r));
    html.push_str(&thresholds_table(r));
    html.push_str(&verification(r));
    html.push_str("<p>Second by second: the <code>series</code> of the <code>--out</code> JSON, or <code>--series FILE.csv</code>.</p></body></html>\n");
    Page { html, figures }
}

fn verdict(r: &LoadReport) -> String {
    let (ok, text) = match r.conclusion() {
        Conclusion::Ok => (true, "Passed"),
        Conclusion::NothingAcknowledged => (false, "FAILED: no request was acknowledged"),
        Conclusion::VerificationError => (false, "FAILED: usage could not be read back"),
        Conclusion::VerificationFailed => {
            (false, "FAILED: acknowledged events lost or counted twice")
        }
        Conclusion::ThresholdFailed => (false, "FAILED: a threshold was violated"),
    };
    let stalls = match r.stalls.len() {
        0 => "no stall".to_string(),
        1 => "1 stall".to_string(),
        n => format!("{n} stalls"),
    };
    format!(
        "<p class=\"{}\"><strong>{text}</strong> ({stalls} over {}).</p>",
        if ok { "ok" } else { "fail" },
        escape(&micros_text(r.stall_threshold_us))
    )
}

/// A card: its title, its figure (read from `from`, JSON pointers in the order shown) and a
/// line under it.
fn card(title: &str, from: &[&str], figure: &str, under: &str, class: &str) -> String {
    format!(
        "<div class=\"card {class}\"><span>{}</span><b data-summary=\"{}\">{}</b><span>{}</span></div>",
        escape(title),
        escape(&from.join(" ")),
        escape(figure),
        escape(under)
    )
}

fn cards(r: &LoadReport) -> String {
    let passed = r.thresholds.iter().filter(|v| v.ok).count();
    let thresholds = format!("{passed} of {} passed", r.thresholds.len());
    let verified = match r.verification.status {
        "ok" => "ok",
        "skipped" => "",
        _ => "fail",
    };
    let mut html = String::from("<div class=\"cards\">");
    html.push_str(&card(
        "Events/s acknowledged",
        &["/rate/events_per_second"],
        &format!("{:.0}", r.rate.events_per_second),
        &target_line(r),
        "",
    ));
    html.push_str(&card(
        "Requests/s acknowledged",
        &["/rate/requests_per_second"],
        &format!("{:.0}", r.rate.requests_per_second),
        &format!("{} events a request", r.batch_size),
        "",
    ));
    html.push_str(&card(
        if charts::closed_loop(r) {
            "p99 (closed loop: service time)"
        } else {
            "p99 from the schedule"
        },
        &["/latency_us/p99"],
        &ms(r.latency_us.p99),
        &format!("max {}", micros_text(r.latency_us.max)),
        "",
    ));
    html.push_str(&card(
        "Errors",
        &["/requests/failed", "/requests/sent"],
        &format!("{} of {}", r.requests.failed, r.requests.sent),
        "requests not acknowledged",
        if r.requests.failed == 0 { "ok" } else { "fail" },
    ));
    html.push_str(&card(
        "Late / dropped",
        &["/requests/late", "/requests/dropped"],
        &format!("{} / {}", r.requests.late, r.requests.dropped),
        "started over an interval late / never",
        "",
    ));
    html.push_str(&card(
        "Verification",
        &["/verification/status"],
        r.verification.status,
        if r.fleet.is_some() {
            "the fleet's truth against what the target metered and billed"
        } else {
            "acknowledged events stored once"
        },
        verified,
    ));
    let thresholds_class = if r.thresholds_ok() { "ok" } else { "fail" };
    let _ = write!(
        html,
        "<div class=\"card {thresholds_class}\"><span>Thresholds</span><b>{}</b><span>{}</span></div></div>",
        if r.thresholds_ok() { "pass" } else { "FAIL" },
        escape(&thresholds)
    );
    html
}

fn target_line(r: &LoadReport) -> String {
    match (r.target_events_per_second, &r.fleet) {
        (Some(rate), _) => format!("target {rate:.0}"),
        (None, Some(_)) => "the fleet's shape, paced".into(),
        (None, None) => "closed loop (max)".into(),
    }
}

/// Microseconds as milliseconds with two decimals (how the page shows every latency).
fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1e3)
}

fn micros_text(us: u64) -> String {
    crate::load::threshold::render_micros(us as f64)
}

fn facts_table(r: &LoadReport) -> String {
    let l = &r.latency_us;
    let s = &r.service_time_us;
    let mut rows = vec![
        fact_row("Mode", &["/mode"], r.mode),
        fact_row(
            "Connections, batch size, machines",
            &["/connections", "/batch_size", "/machines"],
            &format!("{}, {} events, {}", r.connections, r.batch_size, r.machines),
        ),
        fact_row(
            "Duration asked / elapsed",
            &["/duration_seconds", "/elapsed_seconds"],
            &format!("{:.1} s / {:.2} s", r.duration_seconds, r.elapsed_seconds),
        ),
    ];
    if let Some(rate) = r.target_events_per_second {
        rows.push(fact_row(
            "Target rate",
            &["/target_events_per_second"],
            &format!("{rate:.0} events/s"),
        ));
    }
    rows.extend([
        fact_row(
            "Requests scheduled / sent / acknowledged / failed",
            &[
                "/requests/scheduled",
                "/requests/sent",
                "/requests/acknowledged",
                "/requests/failed",
            ],
            &format!(
                "{} / {} / {} / {}",
                r.requests.scheduled, r.requests.sent, r.requests.acknowledged, r.requests.failed
            ),
        ),
        fact_row(
            "Events sent / acknowledged",
            &["/events/sent", "/events/acknowledged"],
            &format!("{} / {}", r.events.sent, r.events.acknowledged),
        ),
        fact_row(
            "Latency from the schedule: p50, p90, p99, p99.9, max",
            &[
                "/latency_us/p50",
                "/latency_us/p90",
                "/latency_us/p99",
                "/latency_us/p99_9",
                "/latency_us/max",
            ],
            &[l.p50, l.p90, l.p99, l.p99_9, l.max].map(ms).join(", "),
        ),
        fact_row(
            "Service time (from the send): p50, p99, max",
            &[
                "/service_time_us/p50",
                "/service_time_us/p99",
                "/service_time_us/max",
            ],
            &[s.p50, s.p99, s.max].map(ms).join(", "),
        ),
        fact_row(
            "Stall threshold",
            &["/stall_threshold_us"],
            &ms(r.stall_threshold_us),
        ),
    ]);
    if let Some(cpu) = &r.sender_cpu {
        rows.push(fact_row(
            "Sender CPU: seconds, cores, µs per request",
            &[
                "/sender_cpu/seconds",
                "/sender_cpu/cores",
                "/sender_cpu/us_per_request",
            ],
            &format!(
                "{:.2} s, {:.2} cores, {:.1} µs",
                cpu.seconds, cpu.cores, cpu.us_per_request
            ),
        ));
    }
    format!("<h2>The run</h2><table>{}</table>", rows.concat())
}

fn stall_table(r: &LoadReport) -> String {
    let mut html = String::from("<h2>Stalls</h2>");
    if r.stalls.is_empty() {
        let _ = write!(
            html,
            "<p>No stall: no gap without answers longer than {} while requests waited.</p>",
            escape(&micros_text(r.stall_threshold_us))
        );
        return html;
    }
    let _ = write!(
        html,
        "<p>Gaps without any answer longer than {} (max(100 ms, 20 × the median service time)) while requests waited; latency of the answers completed in the seconds each touches.</p>\
         <table><tr><th>stall</th><th>from (s)</th><th>to (s)</th><th>lasted (s)</th><th>requests waiting</th><th>p99 from the schedule</th><th>max</th></tr>",
        escape(&micros_text(r.stall_threshold_us))
    );
    for (i, s) in r.stalls.iter().enumerate() {
        let cell = |field: &str, text: String| {
            format!(
                "<td data-summary=\"/stalls/{i}/{field}\">{}</td>",
                escape(&text)
            )
        };
        let _ = write!(
            html,
            "<tr><th>{}</th>{}{}{}{}{}{}</tr>",
            i + 1,
            cell("start_s", format!("{:.2}", s.start_s)),
            cell("end_s", format!("{:.2}", s.end_s)),
            cell("seconds", format!("{:.2}", s.seconds)),
            cell("requests_waiting", s.requests_waiting.to_string()),
            cell("latency_p99_us", ms(s.latency_p99_us)),
            cell("latency_max_us", ms(s.latency_max_us)),
        );
    }
    html.push_str("</table>");
    html
}

fn errors_table(r: &LoadReport) -> String {
    let mut html = String::from("<h2>Errors by class</h2>");
    if r.errors_by_class.is_empty() {
        html.push_str("<p>None: every request was answered 2xx with every event accepted.</p>");
        return html;
    }
    html.push_str("<p><code>connect</code>: the connection could not be opened; <code>timeout</code>: no complete answer within --timeout; <code>io</code>: the connection broke mid-exchange; <code>protocol</code>: the answer was not well-formed HTTP/1.1; <code>http_&lt;status&gt;</code>: another non-2xx answer; <code>validation</code>: a 400 or 422, or a 2xx receipt that rejected events.</p><table><tr><th>class</th><th>requests</th></tr>");
    for (class, n) in &r.errors_by_class {
        let _ = write!(
            html,
            "<tr><th>{}</th><td data-summary=\"/errors_by_class/{}\">{n}</td></tr>",
            escape(class),
            escape(class)
        );
    }
    html.push_str("</table>");
    html
}

fn thresholds_table(r: &LoadReport) -> String {
    let mut html = String::from("<h2>Thresholds</h2>");
    if r.thresholds.is_empty() {
        html.push_str("<p>None asked (<code>--threshold 'p99&lt;10ms'</code>).</p>");
        return html;
    }
    html.push_str("<table><tr><th>threshold</th><th>observed</th><th>verdict</th></tr>");
    for (i, v) in r.thresholds.iter().enumerate() {
        let (class, verdict) = if v.ok {
            ("ok", "pass")
        } else {
            ("fail", "FAILED")
        };
        let _ = write!(
            html,
            "<tr><td data-summary=\"/thresholds/{i}/expression\">{}</td><td data-summary=\"/thresholds/{i}/observed_text\">{}</td><td class=\"{class}\">{verdict}</td></tr>",
            escape(&v.expression),
            escape(&v.observed_text)
        );
    }
    html.push_str("</table>");
    html
}

fn verification(r: &LoadReport) -> String {
    format!(
        "<h2>Verification</h2><table>{}</table>",
        fact_row(
            "Status, detail",
            &["/verification/status", "/verification/detail"],
            &format!("{}: {}", r.verification.status, r.verification.detail)
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::events::BodyStats;
    use crate::load::series::{Ending, Timeline};
    use crate::load::{Latency, Requests, Verification};
    use std::time::Duration;

    /// A closed loop against a target that refused every connection for 3 s.
    fn refused_everywhere() -> LoadReport {
        let mut timeline = Timeline::new();
        for ms in (0..3_000).step_by(10) {
            let at = Duration::from_millis(ms);
            timeline.record(at, at, 5, 0, None, Ending::Failed("connection_failed"));
        }
        LoadReport {
            target: "http://127.0.0.1:9".into(),
            mode: "max",
            connections: 1,
            batch_size: 5,
            machines: 10,
            duration_seconds: 3.0,
            target_events_per_second: None,
            target_requests_per_second: None,
            elapsed_seconds: 3.0,
            requests: Requests {
                scheduled: 300,
                sent: 300,
                failed: 300,
                ..Requests::default()
            },
            events: Default::default(),
            rate: Default::default(),
            latency_us: Latency::default(),
            service_time_us: Latency::default(),
            responses: Default::default(),
            transport_errors: [("connection_failed".to_string(), 300)].into(),
            errors_by_class: timeline
                .errors
                .iter()
                .map(|(c, n)| (c.name(), *n))
                .collect(),
            first_error: Some("connection refused".into()),
            server_receipts: Default::default(),
            bodies: BodyStats {
                mode: "prebuilt",
                prebuilt: 300,
                prebuilt_bytes: 300_000,
                body_bytes: 1_000,
                build_seconds: 0.01,
                build_us_per_body: 20.0,
                built_during_run: 0,
            },
            verification: Verification {
                status: "skipped",
                detail: "--no-verify".into(),
                ..Verification::default()
            },
            thresholds: Vec::new(),
            next_first_seq: 1,
            sender_cpu: None,
            stall_threshold_us: 100_000,
            stalls: Vec::new(),
            series: timeline.series.rows(),
            fleet: None,
        }
    }

    /// Every `data-summary` pointer of the page names a value of the `--out` JSON.
    fn pointers_resolve(html: &str, json: &serde_json::Value) -> usize {
        let mut n = 0;
        for cell in html.split("data-summary=\"").skip(1) {
            let pointers = cell.split('"').next().unwrap_or_default();
            for p in pointers.split(' ') {
                let value = json.pointer(p);
                assert!(
                    value.is_some_and(|v| !v.is_null()),
                    "{p} is not in the JSON"
                );
                n += 1;
            }
        }
        n
    }

    #[test]
    fn a_run_without_answers_says_why_its_latency_chart_is_missing_and_fails() {
        let report = refused_everywhere();
        let page = page(&report, "run_charts");
        let html = &page.html;
        assert!(
            html.contains("FAILED: no request was acknowledged"),
            "{html}"
        );
        assert!(html.contains("<p>chart unavailable: no answer was timed</p>"));
        assert!(html.contains("No stall: no gap without answers longer than 100.00 ms"));
        assert!(html.contains("data-summary=\"/errors_by_class/connect\">300</td>"));
        assert!(html.contains("p99 (closed loop: service time)"));
        // Only the charts drawn link a PNG, in the folder given.
        let pngs: Vec<&str> = html.matches("href=\"run_charts/").collect();
        assert_eq!(pngs.len(), 2, "{html}");
        assert!(page.figures[0].svg.is_err() && page.figures[2].svg.is_ok());
        let json = serde_json::to_value(&report).unwrap();
        // 8 in the cards, 21 facts (no target rate, no sender CPU), 1 error class, and
        // the verification's 2.
        assert_eq!(pointers_resolve(html, &json), 8 + 21 + 1 + 2);
    }
}
