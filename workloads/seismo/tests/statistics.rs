//! The estimators against independent computations: synthetic catalogues drawn with known
//! parameters (the stated uncertainty must cover the truth at its nominal rate over many draws),
//! exact formulas computed here, and a brute-force likelihood maximisation.
//!
//! Every test is seeded: the draws are the same on every run, so a pass is not luck of the day.
//! The acceptance bands are set from the binomial spread of a coverage rate over R draws
//! (sd = sqrt(0.95 · 0.05 / R)), not fitted to the outcome.

mod common;

use common::*;
use quakestream_seismo::stats::bvalue::aki_utsu;
use quakestream_seismo::stats::mc::{self, maxc};
use quakestream_seismo::stats::omori::{self, OmoriFit};
use std::f64::consts::{LN_10, LOG10_E};

/// Gutenberg–Richter magnitudes above `mc` binned to 0.1: continuous exponential from
/// mc − 0.05 (so that each bin is fully populated), β = b ln 10.
fn gr_sample(rng: &mut Rng, n: usize, b: f64, mc: f64) -> Vec<f64> {
    let beta = b * LN_10;
    (0..n)
        .map(|_| {
            let m = mc - 0.05 - uniform(rng).ln() / beta;
            (m * 10.0).round() / 10.0
        })
        .collect()
}

#[test]
fn b_value_uncertainty_covers_the_truth_at_its_nominal_rate() {
    const R: usize = 1000;
    let mut rng = rng(20250423);
    let (mut hits_all, mut draws_all) = (0usize, 0usize);
    for b in [0.8, 1.0, 1.3] {
        for n in [50, 200, 1000] {
            let mut hits = 0;
            let mut mean_b = 0.0;
            for _ in 0..R {
                let mags = gr_sample(&mut rng, n, b, 3.0);
                let est = aki_utsu(&mags, 30).unwrap();
                assert_eq!(est.n, n);
                hits += usize::from((est.b - b).abs() <= 1.96 * est.sigma);
                mean_b += est.b / R as f64;
            }
            let coverage = hits as f64 / R as f64;
            println!("b={b} n={n}: coverage {coverage:.3}, mean b {mean_b:.4}");
            // sd of the rate is 0.0069; the asymptotic interval runs a little short at n = 50.
            assert!((0.92..=0.98).contains(&coverage), "b={b} n={n}: coverage {coverage}");
            // The estimator's small-sample bias is about b/n.
            assert!(
                (mean_b / b - 1.0).abs() < 0.5 / n as f64 + 0.01,
                "b={b} n={n}: mean {mean_b}"
            );
            hits_all += hits;
            draws_all += R;
        }
    }
    let pooled = hits_all as f64 / draws_all as f64;
    assert!((0.935..=0.965).contains(&pooled), "pooled coverage {pooled}");
}

#[test]
fn the_binning_correction_matches_the_exact_discrete_maximum_likelihood() {
    // For magnitudes binned to ΔM the exact MLE is that of a geometric law (Bender 1983):
    // b = log10(1 + ΔM / (mean − Mc)) / ΔM. Aki–Utsu with Mc − ΔM/2 approximates it; without the
    // correction, b comes out about 12 % high at b = 1.
    let mut rng = rng(1);
    let mags = gr_sample(&mut rng, 200_000, 1.0, 2.0);
    let est = aki_utsu(&mags, 20).unwrap();
    let mean = mags.iter().sum::<f64>() / mags.len() as f64;
    let exact = (1.0 + 0.1 / (mean - 2.0)).log10() / 0.1;
    let uncorrected = LOG10_E / (mean - 2.0);
    assert!(
        (est.b / exact - 1.0).abs() < 0.005,
        "Aki–Utsu {} vs exact {exact}",
        est.b
    );
    assert!((exact - 1.0).abs() < 3.0 * est.sigma, "exact {exact} ± {}", est.sigma);
    assert!(uncorrected / est.b > 1.10, "uncorrected {uncorrected}");
    // Aki (1965): for large samples the standard error tends to b / sqrt(n).
    assert!((est.sigma / (est.b / (mags.len() as f64).sqrt()) - 1.0).abs() < 0.02);
}

/// Standard normal CDF (Abramowitz & Stegun 26.2.17, |error| < 7.5e-8).
fn phi(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.231_641_9 * x.abs());
    let poly =
        t * (0.319_381_530 + t * (-0.356_563_782 + t * (1.781_477_937 + t * (-1.821_255_978 + t * 1.330_274_429))));
    let tail = (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt() * poly;
    if x >= 0.0 { 1.0 - tail } else { tail }
}

#[test]
fn maximum_curvature_finds_a_sharp_cutoff() {
    let mut rng = rng(2);
    let mags = gr_sample(&mut rng, 5000, 1.0, 2.0);
    let m = maxc(&mags).unwrap();
    assert_eq!((m.mode_bin, m.bin), (20, 22));
}

#[test]
fn the_correction_removes_most_of_the_bias_of_a_gradual_detection_roll_off() {
    // Detection probability Φ((M − 1.8)/0.15) (the Ogata & Katsura 1993 model), b = 1: the
    // distribution peaks near 1.9 where only ~75 % of events are detected. Above the peak
    // alone the b-value is biased low; with the +0.2 of Woessner & Wiemer (2005) it is not.
    const R: usize = 200;
    let mut rng = rng(3);
    let (mut bias_raw, mut bias_corr) = (0.0, 0.0);
    for _ in 0..R {
        let mut mags = Vec::new();
        while mags.len() < 3000 {
            let m = 0.95 - uniform(&mut rng).ln() / LN_10;
            if uniform(&mut rng) < phi((m - 1.8) / 0.15) {
                mags.push((m * 10.0).round() / 10.0);
            }
        }
        let mc = maxc(&mags).unwrap();
        bias_raw += (aki_utsu(&mags, mc.mode_bin).unwrap().b - 1.0) / R as f64;
        bias_corr += (aki_utsu(&mags, mc.bin).unwrap().b - 1.0) / R as f64;
    }
    println!("mean b bias: above maxc {bias_raw:.4}, above maxc+0.2 {bias_corr:.4}");
    assert!(bias_raw < -0.04, "{bias_raw}");
    assert!(bias_corr.abs() < 0.02, "{bias_corr}");
}

/// Aftershock times on (0, t_end] drawn from λ(t) ∝ (t + c)^−p by inverting its CDF (the
/// closed form for p ≠ 1, written here independently of the library's integral).
fn omori_sample(rng: &mut Rng, n: usize, c: f64, p: f64, t_end: f64) -> Vec<f64> {
    let q = 1.0 - p;
    let (a, b) = (c.powf(q), (t_end + c).powf(q));
    let mut t: Vec<f64> = (0..n).map(|_| (a + uniform(rng) * (b - a)).powf(1.0 / q) - c).collect();
    t.sort_by(f64::total_cmp);
    t
}

#[test]
fn omori_uncertainty_covers_the_true_p_at_its_nominal_rate() {
    const R: usize = 400;
    let mut rng = rng(1983);
    let (mut hits_all, mut draws_all) = (0usize, 0usize);
    for p in [0.9, 1.1, 1.4] {
        for n in [omori::OMORI_MIN_EVENTS, 200] {
            let (mut hits, mut hits_c, mut mean_p, mut mean_sigma) = (0, 0, 0.0, 0.0);
            for _ in 0..R {
                let t = omori_sample(&mut rng, n, 0.05, p, 30.0);
                let f = omori::fit(&t, 0.0, 30.0).unwrap();
                hits += usize::from(f.sigma_p.is_some_and(|s| (f.p - p).abs() <= 1.96 * s));
                let lc = f.covariance.map(|m| m[1][1].sqrt());
                hits_c += usize::from(lc.is_some_and(|s| (f.c.ln() - 0.05f64.ln()).abs() <= 1.96 * s));
                mean_p += f.p / R as f64;
                mean_sigma += f.sigma_p.unwrap_or(f64::NAN) / R as f64;
            }
            let (cov, cov_c) = (hits as f64 / R as f64, hits_c as f64 / R as f64);
            println!(
                "p={p} n={n}: coverage of p {cov:.3}, of ln c {cov_c:.3}, mean p {mean_p:.4}, mean σ(p) {mean_sigma:.4}"
            );
            // sd of the rate is 0.011 at R = 400.
            assert!((0.91..=0.99).contains(&cov), "p={p} n={n}: coverage {cov}");
            assert!((0.90..=0.99).contains(&cov_c), "p={p} n={n}: coverage of ln c {cov_c}");
            // The MLE of p is biased upwards in small samples (about +0.05 at 50 events, a
            // third of its standard error); the bias fades as the sample grows.
            assert!(
                (mean_p - p).abs() < 0.4 * mean_sigma,
                "p={p} n={n}: mean p {mean_p}, σ {mean_sigma}"
            );
            hits_all += hits;
            draws_all += R;
        }
    }
    let pooled = hits_all as f64 / draws_all as f64;
    assert!((0.93..=0.97).contains(&pooled), "pooled coverage {pooled}");
}

/// −ln L of (K, c, p) written out directly (closed-form integral, p ≠ 1), K profiled out.
fn profile_nll(t: &[f64], c: f64, p: f64, t_end: f64) -> f64 {
    let a = ((t_end + c).powf(1.0 - p) - c.powf(1.0 - p)) / (1.0 - p);
    let n = t.len() as f64;
    let k = n / a;
    -(n * k.ln() - p * t.iter().map(|x| (x + c).ln()).sum::<f64>() - k * a)
}

#[test]
fn the_omori_fit_is_the_maximum_a_brute_force_search_finds() {
    let mut rng = rng(5);
    let t = omori_sample(&mut rng, 300, 0.1, 1.15, 60.0);
    let f = omori::fit(&t, 0.0, 60.0).unwrap();
    let mut best = (f64::INFINITY, 0.0, 0.0);
    for i in 0..=300 {
        let c = (1e-3f64.ln() + i as f64 * (2f64.ln() - 1e-3f64.ln()) / 300.0).exp();
        for j in 0..=300 {
            let p = 0.7 + j as f64 * 0.003 + 1e-7; // never exactly 1
            let v = profile_nll(&t, c, p, 60.0);
            if v < best.0 {
                best = (v, c, p);
            }
        }
    }
    let (nll, c, p) = best;
    assert!(
        -f.log_likelihood <= nll + 1e-9,
        "the fit ({}) is worse than the grid ({nll})",
        -f.log_likelihood
    );
    assert!((f.p - p).abs() < 0.006, "p {} vs grid {p}", f.p);
    assert!((f.c / c - 1.0).abs() < 0.05, "c {} vs grid {c}", f.c);
    assert!((f.k - 300.0 / ((60.0 + f.c).powf(1.0 - f.p) - f.c.powf(1.0 - f.p)) * (1.0 - f.p)).abs() < 1e-6 * f.k);
}

#[test]
fn the_expected_count_is_the_integral_of_the_rate() {
    let f = OmoriFit {
        k: 120.0,
        c: 0.02,
        p: 1.08,
        sigma_k: None,
        sigma_c: None,
        sigma_p: None,
        n: 0,
        t_start: 0.0,
        t_end: 1.0,
        log_likelihood: 0.0,
        at_bound: false,
        covariance: None,
    };
    // Simpson's rule over [2, 3] days.
    let rate = |t: f64| 120.0 * (t + 0.02f64).powf(-1.08);
    let n = 10_000;
    let h = 1.0 / n as f64;
    let s: f64 = (0..=n)
        .map(|i| {
            let w = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * rate(2.0 + i as f64 * h)
        })
        .sum::<f64>()
        * h
        / 3.0;
    assert!(
        (f.expected(2.0, 3.0) - s).abs() < 1e-9 * s,
        "{} vs {s}",
        f.expected(2.0, 3.0)
    );
}

#[test]
fn the_next_day_forecast_is_calibrated() {
    // Fit 30 days, forecast day 31, count what the same process produced on day 31.
    const R: usize = 300;
    let mut rng = rng(31);
    let (c, p) = (0.05, 1.1);
    let (mut expected, mut observed) = (0.0, 0usize);
    for _ in 0..R {
        let t = omori_sample(&mut rng, 400, c, p, 31.0);
        let f = omori::fit(&t, 0.0, 30.0).unwrap();
        expected += f.expected(30.0, 31.0);
        observed += t.iter().filter(|&&x| x > 30.0).count();
    }
    let ratio = observed as f64 / expected;
    println!("day-31 forecast: observed {observed}, expected {expected:.1}");
    // About 1200 events in all: the Poisson spread of the ratio is 3 %.
    assert!((0.88..=1.12).contains(&ratio), "observed/expected {ratio}");
}

#[test]
fn bins_are_those_of_the_histogram() {
    let h = mc::histogram(&[2.5, 2.54, 2.56, 3.0]);
    assert_eq!(h.into_iter().collect::<Vec<_>>(), vec![(25, 2), (26, 1), (30, 1)]);
}

#[test]
fn an_optimum_on_a_bound_is_flagged() {
    // Every aftershock in the first 20 minutes of a 100-day interval: the decay is as fast as
    // the bounds allow.
    let t: Vec<f64> = (1..=60).map(|i| i as f64 * 0.0002).collect();
    let f = omori::fit(&t, 0.0, 100.0).unwrap();
    assert!(f.at_bound, "{f:?}");
    assert!(f.p == omori::P_RANGE.1 || f.c <= omori::C_RANGE_DAYS.0 * 1.01, "{f:?}");
    // An ordinary sample is not.
    let mut rng = rng(9);
    let f = omori::fit(&omori_sample(&mut rng, 200, 0.05, 1.1, 30.0), 0.0, 30.0).unwrap();
    assert!(!f.at_bound, "{f:?}");
}
