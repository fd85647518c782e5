//! `shardload-charts RESULTS.json OUT_DIR`: bar charts (SVG) of the figures
//! `benches/compare` measured — server CPU µs per request (64 B echo, one
//! request in flight per connection) and user-space instructions per
//! request, by implementation.
//!
//! Text is laid out with the DejaVu Sans font from the system
//! (`/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf`, Debian's
//! fonts-dejavu-core), or the file named by `SHARDLOAD_FONT`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use plotters::prelude::*;
use plotters::style::FontStyle;
use serde_json::Value;

const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(results), Some(out)) = (args.next(), args.next()) else {
        bail!("usage: shardload-charts RESULTS.json OUT_DIR");
    };
    let font = std::env::var("SHARDLOAD_FONT").unwrap_or_else(|_| DEFAULT_FONT.into());
    let bytes = std::fs::read(&font).with_context(|| format!("font {font}"))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into()))
        .map_err(|_| anyhow::anyhow!("{font}: not a usable font"))?;
    let res: Value =
        serde_json::from_str(&std::fs::read_to_string(&results).with_context(|| results.clone())?)?;
    let out = PathBuf::from(out);

    let mut cpu: Vec<(String, f64)> = Vec::new();
    for row in res["matrix"].as_array().into_iter().flatten() {
        if row["size"] == 64 && row["pipeline"] == 1 {
            if let (Some(name), Some(v)) = (
                row["impl"].as_str(),
                row["server_cpu_us_per_request"].as_f64(),
            ) {
                cpu.push((name.to_string(), v));
            }
        }
    }
    let cpu = medians(cpu);
    if !cpu.is_empty() {
        bars(
            &out.join("cpu_per_request.svg"),
            "Server CPU µs per request (64 B echo, 50 connections)",
            &cpu,
        )?;
    }
    let instr: Vec<(String, f64)> = res["callgrind"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["impl"].as_str()?.to_string(),
                r["instructions_per_request"].as_f64()?,
            ))
        })
        .collect();
    if !instr.is_empty() {
        bars(
            &out.join("instructions_per_request.svg"),
            "User-space instructions per request (callgrind, c=10, 64 B)",
            &instr,
        )?;
    }
    Ok(())
}

/// The median of each implementation's values, in first-seen order.
fn medians(values: Vec<(String, f64)>) -> Vec<(String, f64)> {
    let mut names: Vec<String> = Vec::new();
    for (n, _) in &values {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
        .into_iter()
        .map(|n| {
            let mut v: Vec<f64> = values
                .iter()
                .filter(|(m, _)| *m == n)
                .map(|(_, v)| *v)
                .collect();
            v.sort_by(f64::total_cmp);
            let mid = v[v.len() / 2];
            (n, mid)
        })
        .collect()
}

fn bars(path: &Path, title: &str, data: &[(String, f64)]) -> anyhow::Result<()> {
    let max = data.iter().map(|(_, v)| *v).fold(0.0, f64::max) * 1.15;
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0..data.len() as i32 - 1).into_segmented(), 0.0..max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(data.len())
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => data
                .get(*i as usize)
                .map(|(n, _)| n.clone())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .label_style(("sans-serif", 15))
        .draw()?;
    chart.draw_series(data.iter().enumerate().map(|(i, (name, v))| {
        let color = if name.starts_with("shardloop") {
            RGBColor(200, 80, 40)
        } else {
            RGBColor(70, 110, 170)
        };
        let i = i as i32;
        Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *v),
            ],
            color.filled(),
        )
    }))?;
    chart.draw_series(data.iter().enumerate().map(|(i, (_, v))| {
        Text::new(
            if *v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            },
            (SegmentValue::CenterOf(i as i32), *v + max * 0.02),
            ("sans-serif", 14),
        )
    }))?;
    root.present()?;
    Ok(())
}
