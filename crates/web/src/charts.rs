//! Charts as inline SVG, drawn on the server: pages load nothing from outside (users' networks
//! may not reach a CDN) and print as they look.

use maud::{Markup, PreEscaped, html};

const PALETTE: [&str; 9] = ["#0f766e", "#2563eb", "#d97706", "#7c3aed", "#dc2626", "#0891b2", "#65a30d", "#be185d", "#6b7280"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Grouped columns: one group per label, one column per series (values ≥ 0), with a legend.
pub fn columns(title: &str, labels: &[String], series: &[(&str, Vec<i64>)], unit: &str) -> Markup {
    let (w, h, left, bottom, top) = (420.0_f64, 240.0_f64, 56.0_f64, 28.0_f64, 28.0_f64);
    let max = series.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0).max(1) as f64;
    let group = (w - left - 8.0) / labels.len().max(1) as f64;
    let bar = (group * 0.8) / series.len().max(1) as f64;
    let y = |v: i64| top + (h - top - bottom) * (1.0 - v as f64 / max);
    let mut svg = format!(r#"<svg viewBox="0 0 {w} {h}" role="img" aria-label="{}" class="chart">"#, esc(title));
    for i in 0..=4 {
        let v = (max * i as f64 / 4.0) as i64;
        let yy = y(v);
        svg += &format!(r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" text-anchor="end" font-size="12" fill="#6b7280">{}</text>"##, w - 8.0, left - 4.0, yy + 3.0, short(v));
    }
    for (g, label) in labels.iter().enumerate() {
        let x0 = left + group * g as f64 + group * 0.1;
        for (s, (name, values)) in series.iter().enumerate() {
            let v = values.get(g).copied().unwrap_or(0).max(0);
            let x = x0 + bar * s as f64;
            svg += &format!(
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} {} {}{}</title></rect>"#,
                y(v),
                (bar - 1.0).max(1.0),
                (h - bottom - y(v)).max(0.0),
                PALETTE[s % PALETTE.len()],
                esc(label),
                esc(name),
                short(v),
                unit
            );
        }
        svg += &format!(r##"<text x="{:.1}" y="{}" text-anchor="middle" font-size="12" fill="#374151">{}</text>"##, x0 + group * 0.4, h - 10.0, esc(label));
    }
    for (s, (name, _)) in series.iter().enumerate() {
        let x = left + 120.0 * s as f64;
        svg += &format!(r#"<rect x="{x}" y="6" width="10" height="10" fill="{}"/><text x="{}" y="15" font-size="13">{}</text>"#, PALETTE[s % PALETTE.len()], x + 14.0, esc(name));
    }
    svg += "</svg>";
    html! { figure.chart { figcaption { (title) } (PreEscaped(svg)) } }
}

/// Horizontal bars of ratios (ppm) per label, with a target line.
pub fn ratios(title: &str, rows: &[(String, Option<i64>)], target_ppm: Option<i64>) -> Markup {
    let (w, row_h, left) = (420.0_f64, 24.0_f64, 110.0_f64);
    let h = 16.0 + row_h * rows.len().max(1) as f64;
    let max = rows.iter().filter_map(|(_, v)| *v).chain(target_ppm).max().unwrap_or(0).max(1) as f64 * 1.1;
    let x = |v: i64| left + (w - left - 60.0) * v as f64 / max;
    let mut svg = format!(r#"<svg viewBox="0 0 {w} {h}" role="img" aria-label="{}" class="chart">"#, esc(title));
    for (i, (label, v)) in rows.iter().enumerate() {
        let yy = 8.0 + row_h * i as f64;
        svg += &format!(r##"<text x="{}" y="{:.1}" text-anchor="end" font-size="13" fill="#374151">{}</text>"##, left - 6.0, yy + 13.0, esc(label));
        if let Some(v) = v {
            let over = target_ppm.is_some_and(|t| *v > t);
            svg += &format!(
                r##"<rect x="{left}" y="{yy:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="13">{}</text>"##,
                (x(*v) - left).max(1.0),
                row_h - 6.0,
                if over { "#dc2626" } else { "#0f766e" },
                x(*v) + 4.0,
                yy + 13.0,
                pct(*v)
            );
        }
    }
    if let Some(t) = target_ppm {
        svg += &format!(r##"<line x1="{0:.1}" x2="{0:.1}" y1="2" y2="{1}" stroke="#111827" stroke-dasharray="4 3"/><text x="{2:.1}" y="{3}" font-size="12">目标 {4}</text>"##, x(t), h - 2.0, x(t) + 3.0, h - 4.0, pct(t));
    }
    svg += "</svg>";
    html! { figure.chart { figcaption { (title) } (PreEscaped(svg)) } }
}

/// One stacked bar of shares (e.g. what each fund and the patient paid of the total).
pub fn shares(title: &str, parts: &[(String, i64)]) -> Markup {
    let w = 420.0_f64;
    let total: i64 = parts.iter().map(|(_, v)| (*v).max(0)).sum::<i64>().max(1);
    let (mut bars, mut legend) = (String::new(), String::new());
    let (mut x, mut lx, mut ly) = (0.0, 0.0, 46.0);
    for (i, (label, v)) in parts.iter().enumerate().filter(|(_, (_, v))| *v > 0) {
        let width = (w - 2.0) * *v as f64 / total as f64;
        let share = i128::from(*v) * 1_000_000 / i128::from(total);
        let color = PALETTE[i % PALETTE.len()];
        bars += &format!(r#"<rect x="{x:.1}" y="4" width="{width:.1}" height="24" fill="{color}"><title>{} {}</title></rect>"#, esc(label), pct(share as i64));
        // The legend wraps onto new lines rather than running off the edge.
        let text = format!("{} {}", label, pct(share as i64));
        let item = 18.0 + 13.0 * text.chars().map(|c| if c.is_ascii() { 0.6 } else { 1.0 }).sum::<f64>() + 12.0;
        if lx > 0.0 && lx + item > w {
            lx = 0.0;
            ly += 20.0;
        }
        legend += &format!(r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{color}"/><text x="{:.1}" y="{ly:.1}" font-size="13">{}</text>"#, ly - 11.0, lx + 16.0, esc(&text));
        lx += item;
        x += width;
    }
    let h = ly + 8.0;
    let svg = format!(r#"<svg viewBox="0 0 {w} {h}" role="img" aria-label="{}" class="chart">{bars}{legend}</svg>"#, esc(title));
    html! { figure.chart { figcaption { (title) } (PreEscaped(svg)) } }
}

fn pct(ppm: i64) -> String {
    huimin_domain::format::percent(ppm, 1_000_000)
}

/// 12,345,678 → 1,234.6万 (ten-thousands, as Chinese reports write large amounts).
fn short(v: i64) -> String {
    if v.abs() >= 100_000 { format!("{:.1}万", v as f64 / 10_000.0) } else { v.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_self_contained_svg() {
        let c = columns("按月", &["2025-01".into(), "2025-02".into()], &[("总费用", vec![100, 250]), ("基金支付", vec![90, 230])], "元").into_string();
        assert!(c.contains("<svg") && c.contains("2025-02") && !c.contains("http"));
        assert_eq!(c.matches("<rect").count(), 4 + 2, "four columns and two legend keys");
        let r = ratios("自付", &[("一镇".into(), Some(120_000)), ("二镇".into(), None)], Some(100_000)).into_string();
        assert!(r.contains("#dc2626") && r.contains("12.0%") && r.contains("目标 10.0%"));
        let s = shares("份额", &[("基本医保".into(), 3), ("个人".into(), 1), ("无".into(), 0)]).into_string();
        assert!(s.contains("75.0%") && s.contains("25.0%") && !s.contains("无 "));
        assert!(columns("<x>", &[], &[], "").into_string().contains("&lt;x&gt;"));
    }
}
