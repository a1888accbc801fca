//! The XXTEA throughput plot: an SVG written here (no plotting dependency), rendered to PNG by
//! `rsvg-convert` (Debian's librsvg2-bin, installed when absent) so that the repository page
//! shows it.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use super::benches_dir;

const W: f64 = 900.0;
const H: f64 = 520.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;

/// Colour per implementation, dash per operation.
fn style(label: &str) -> (&'static str, &'static str) {
    let colour = if label.starts_with("kaifang") {
        "#1f77b4"
    } else if label.starts_with("xxtea-nostd") {
        "#ff7f0e"
    } else {
        "#2ca02c"
    };
    let dash = if label.ends_with("decrypt") {
        "6,4"
    } else {
        "none"
    };
    (colour, dash)
}

/// The SVG of `series` ((label, [(bytes, MB/s)])) on a log2 size axis.
pub(super) fn svg(series: &[(String, Vec<(u64, f64)>)]) -> String {
    let max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(0.0_f64, f64::max);
    let y_max = nice_ceiling(max.max(1.0));
    let (x0, x1) = (6.0_f64, 16.0_f64); // log2(64) .. log2(65536)
    let px = |bytes: u64| LEFT + ((bytes as f64).log2() - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let py = |mbps: f64| TOP + (1.0 - mbps / y_max) * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="DejaVu Sans, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="28" font-size="17" text-anchor="middle">XXTEA throughput by size (higher is better)</text>"#,
        (W - RIGHT + LEFT) / 2.0
    );
    // Grid and y labels.
    for i in 0..=5 {
        let v = y_max * f64::from(i) / 5.0;
        let y = py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            W - RIGHT,
            LEFT - 8.0,
            y + 4.0
        );
    }
    for size in super::SIZES {
        let x = px(size);
        let label = if size >= 1024 {
            format!("{} KiB", size / 1024)
        } else {
            format!("{size} B")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 20.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">plaintext size (log scale)</text>"#,
        (W - RIGHT + LEFT) / 2.0,
        H - 20.0
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">MB/s</text>"#,
        (H - BOTTOM + TOP) / 2.0,
        (H - BOTTOM + TOP) / 2.0
    );
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
        W - LEFT - RIGHT,
        H - TOP - BOTTOM
    );
    // Series and legend.
    for (i, (label, points)) in series.iter().enumerate() {
        let (colour, dash) = style(label);
        if points.len() > 1 {
            let path: Vec<String> = points
                .iter()
                .map(|&(b, y)| format!("{:.1},{:.1}", px(b), py(y)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}"/>"#,
                path.join(" ")
            );
        }
        for &(b, y) in points {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"/>"#,
                px(b),
                py(y)
            );
        }
        let ly = TOP + 20.0 + 24.0 * i as f64;
        let lx = W - RIGHT + 20.0;
        let shown = if points.is_empty() {
            format!("{label} (not measured)")
        } else {
            label.clone()
        };
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{colour}" stroke-width="2.5" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}">{shown}</text>"#,
            lx + 30.0,
            lx + 38.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * mag)
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs a Debian package (with sudo when not root); best effort.
pub(super) fn apt_install(package: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let sudo = if root { "" } else { "sudo " };
    Command::new("sh")
        .args([
            "-c",
            &format!(
                "{sudo}apt-get update -qq && {sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends {package}"
            ),
        ])
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes `benches/xxtea-throughput.svg` and `.png`; returns a note for the report when the
/// PNG could not be made.
pub(super) fn write(root: &Path, series: &[(String, Vec<(u64, f64)>)]) -> String {
    let dir = benches_dir(root);
    let svg_path = dir.join("xxtea-throughput.svg");
    let png_path = dir.join("xxtea-throughput.png");
    if let Err(e) = std::fs::write(&svg_path, svg(series)) {
        return format!("(plot not written: {e})");
    }
    if !have("rsvg-convert") && !apt_install("librsvg2-bin") {
        return "(the PNG needs `rsvg-convert` (Debian librsvg2-bin), which could not be installed; see xxtea-throughput.svg)".to_owned();
    }
    let ok = Command::new("rsvg-convert")
        .args(["--format", "png", "--output"])
        .arg(&png_path)
        .arg(&svg_path)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        "Also as [SVG](xxtea-throughput.svg).".to_owned()
    } else {
        "(rsvg-convert failed; see xxtea-throughput.svg)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_every_series_and_axis() {
        let series = vec![
            (
                "kaifang encrypt".to_owned(),
                vec![(64, 300.0), (65536, 420.0)],
            ),
            ("xxtea-py decrypt".to_owned(), vec![]),
        ];
        let s = svg(&series);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert!(s.contains("kaifang encrypt") && s.contains("xxtea-py decrypt (not measured)"));
        assert!(s.contains("64 KiB") && s.contains("64 B"));
        assert_eq!(s.matches("<polyline").count(), 1);
    }

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(420.0), 500.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(1001.0), 2000.0);
    }
}
