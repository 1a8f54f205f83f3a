//! The estimate as a table for people (like infracost's breakdown) or JSON for machines.

use crate::estimate::Breakdown;
use std::fmt::Write;

/// Thousands separators and `decimals` places: 1234.5 -> "1,234.50".
pub fn money(x: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, x.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A quantity with up to three significant decimals.
fn quantity(x: f64) -> String {
    if x >= 100.0 || x == x.trunc() {
        money(x, 0)
    } else if x >= 1.0 {
        money(x, 2)
    } else {
        format!("{x:.4}")
    }
}

/// A unit price: enough places for $0.0000007 per request.
fn unit_price(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x >= 0.01 {
        format!("{x:.4}")
    } else if x >= 1e-4 {
        format!("{x:.6}")
    } else {
        format!("{x:.3e}")
    }
}

pub fn table(b: &Breakdown) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "QuakeStream on EKS, {}: estimated cost in {} ({} h a month; prices read {})\n",
        b.region, b.currency, b.hours_per_month, b.prices_read_on
    );
    let _ = writeln!(
        out,
        " {:<54} {:>14} {:<16} {:>11} {:>9} {:>10}",
        "Name", "Monthly qty", "Unit", "Unit price", "Hourly", "Monthly"
    );
    for r in &b.resources {
        let _ = writeln!(out, "\n {}", r.address);
        for (i, c) in r.components.iter().enumerate() {
            let branch = if i + 1 == r.components.len() {
                "└─"
            } else {
                "├─"
            };
            let name: String = format!("{branch} {}", c.name).chars().take(54).collect();
            let _ = writeln!(
                out,
                " {:<54} {:>14} {:<16} {:>11} {:>9} {:>10}",
                name,
                quantity(c.quantity),
                c.unit,
                unit_price(c.unit_price),
                format!("{:.4}", c.hourly),
                money(c.monthly, 2)
            );
        }
        let _ = writeln!(out, " {:>118}", format!("subtotal {}", money(r.monthly, 2)));
    }
    let _ = writeln!(
        out,
        "\n {:<54} {:>53} {:>10}",
        "TOTAL",
        format!("{:.4}", b.total_hourly),
        money(b.total_monthly, 2)
    );
    let u = &b.usage;
    let _ = writeln!(
        out,
        "\nUsage profile: {} events/day ingested, {} page views/day, {} open browsers, {} GB/month of control-plane logs.",
        u.events_per_day, u.page_views_per_day, u.open_browsers, u.log_gb_per_month
    );
    let _ = writeln!(out, "How uncertain parts are modelled:");
    for n in &b.uncertainties {
        let _ = writeln!(out, "  - {n}");
    }
    out
}

pub fn json(b: &Breakdown) -> String {
    serde_json::to_string_pretty(b).expect("a breakdown serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(1234567.891, 2), "1,234,567.89");
        assert_eq!(money(73.0, 2), "73.00");
        assert_eq!(money(0.004, 2), "0.00");
        assert_eq!(money(-1234.5, 1), "-1,234.5");
        assert_eq!(money(999.0, 0), "999");
    }
}
