//! The modified Omori (Omori–Utsu) law, λ(t) = K (t + c)^−p aftershocks per day at t days after
//! the mainshock (Utsu 1961; Utsu, Ogata & Matsu'ura 1995), fitted by maximum likelihood as in
//! Ogata (1983). For aftershock times t_i in (S, T]:
//!
//!   ln L(K, c, p) = N ln K − p Σ ln(t_i + c) − K A(c, p),   A(c, p) = ∫_S^T (t + c)^−p dt
//!
//! K is profiled out (∂ ln L/∂K = 0 gives K = N / A), the profile is maximised over
//! c ∈ [1e-5, 10] days and p ∈ [0.2, 3] (for fixed c it is concave in p), and the standard
//! errors come from the inverse of the observed information (the numerical Hessian of −ln L in
//! (ln K, ln c, p), carried back to K and c by the delta method).

use super::NotEnough;

/// At least this many aftershocks above Mc before a fit is attempted (the coverage test shows
/// the stated uncertainty of p holds from about this size; see `tests/statistics.rs`).
pub const OMORI_MIN_EVENTS: usize = 50;
pub const C_RANGE_DAYS: (f64, f64) = (1e-5, 10.0);
pub const P_RANGE: (f64, f64) = (0.2, 3.0);
/// Points of the initial scan over ln c, before the golden-section refinement.
const C_SCAN_POINTS: usize = 41;
const GOLDEN_ITERATIONS: usize = 60;
/// Finite-difference step for the Hessian, in (ln K, ln c, p).
const HESSIAN_STEP: f64 = 1e-3;
/// An optimum this close to a bound (relative to the range) is flagged as at the bound.
const BOUND_TOLERANCE: f64 = 1e-4;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OmoriFit {
    /// Productivity, events per day^(1−p).
    pub k: f64,
    /// Days.
    pub c: f64,
    pub p: f64,
    pub sigma_k: Option<f64>,
    pub sigma_c: Option<f64>,
    pub sigma_p: Option<f64>,
    /// Aftershocks in the fit.
    pub n: usize,
    /// The fitted interval, days after the mainshock.
    pub t_start: f64,
    pub t_end: f64,
    pub log_likelihood: f64,
    /// The optimum lies on a bound of c or p: the standard errors do not mean much.
    pub at_bound: bool,
    /// Covariance of (ln K, ln c, p), when the information matrix is positive definite.
    pub covariance: Option<[[f64; 3]; 3]>,
}

/// ∫_a^b (t + c)^−p dt, computed stably through p = 1.
pub fn integral(c: f64, p: f64, a: f64, b: f64) -> f64 {
    let (la, lb) = ((a + c).ln(), (b + c).ln());
    let q = 1.0 - p;
    let d = lb - la;
    let x = q * d;
    let scale = (q * la).exp();
    if x.abs() < 1e-10 {
        scale * d * (1.0 + x / 2.0)
    } else {
        scale * x.exp_m1() / q
    }
}

impl OmoriFit {
    /// The expected number of aftershocks (above the fit's magnitude threshold) between `from`
    /// and `to` days after the mainshock.
    pub fn expected(&self, from: f64, to: f64) -> f64 {
        self.k * integral(self.c, self.p, from, to)
    }

    /// Its standard error from the parameters' covariance (delta method; not counting the
    /// Poisson scatter of the count itself).
    pub fn expected_sigma(&self, from: f64, to: f64) -> Option<f64> {
        let cov = self.covariance?;
        let theta = [self.k.ln(), self.c.ln(), self.p];
        let f = |t: [f64; 3]| (t[0].exp() * integral(t[1].exp(), t[2], from, to)).ln();
        let mut g = [0.0; 3];
        for (i, gi) in g.iter_mut().enumerate() {
            let (mut up, mut dn) = (theta, theta);
            up[i] += HESSIAN_STEP;
            dn[i] -= HESSIAN_STEP;
            *gi = (f(up) - f(dn)) / (2.0 * HESSIAN_STEP);
        }
        let var: f64 = (0..3)
            .map(|i| (0..3).map(|j| g[i] * cov[i][j] * g[j]).sum::<f64>())
            .sum();
        let s = self.expected(from, to) * var.sqrt();
        s.is_finite().then_some(s)
    }
}

struct Data<'a> {
    t: &'a [f64],
    start: f64,
    end: f64,
}

impl Data<'_> {
    fn n(&self) -> f64 {
        self.t.len() as f64
    }

    fn sum_log(&self, c: f64) -> f64 {
        self.t.iter().map(|&t| (t + c).ln()).sum()
    }

    /// −ln L with K profiled out, less constants, for a given c (whose Σ ln(t + c) is `s1`).
    fn profile(&self, c: f64, p: f64, s1: f64) -> f64 {
        self.n() * integral(c, p, self.start, self.end).ln() + p * s1
    }

    /// The best p for a given c, and the profile value there.
    fn best_p(&self, c: f64) -> (f64, f64) {
        let s1 = self.sum_log(c);
        golden(P_RANGE.0, P_RANGE.1, |p| self.profile(c, p, s1))
    }

    /// −ln L in (ln K, ln c, p).
    fn nll(&self, theta: [f64; 3]) -> f64 {
        let (k, c, p) = (theta[0].exp(), theta[1].exp(), theta[2]);
        -self.n() * theta[0] + p * self.sum_log(c) + k * integral(c, p, self.start, self.end)
    }
}

/// Fits the times (days after the mainshock) that fall in (`t_start`, `t_end`].
pub fn fit(times: &[f64], t_start: f64, t_end: f64) -> Result<OmoriFit, NotEnough> {
    let t: Vec<f64> = times.iter().copied().filter(|&x| x > t_start && x <= t_end).collect();
    if t.len() < OMORI_MIN_EVENTS || t_end.is_nan() || t_end <= t_start || t_start < 0.0 {
        return Err(NotEnough {
            events: t.len(),
            required: OMORI_MIN_EVENTS,
        });
    }
    let data = Data {
        t: &t,
        start: t_start,
        end: t_end,
    };
    let (u_lo, u_hi) = (C_RANGE_DAYS.0.ln(), C_RANGE_DAYS.1.ln());
    let step = (u_hi - u_lo) / (C_SCAN_POINTS - 1) as f64;
    let scan: Vec<f64> = (0..C_SCAN_POINTS)
        .map(|i| data.best_p((u_lo + i as f64 * step).exp()).1)
        .collect();
    let i_best = (0..C_SCAN_POINTS)
        .min_by(|&a, &b| scan[a].total_cmp(&scan[b]))
        .expect("non-empty scan");
    let lo = u_lo + i_best.saturating_sub(1) as f64 * step;
    let hi = (u_lo + (i_best + 1) as f64 * step).min(u_hi);
    let (u, _) = golden(lo, hi, |u| data.best_p(u.exp()).1);
    let c = u.exp();
    let (p, _) = data.best_p(c);
    let n = t.len();
    let k = n as f64 / integral(c, p, t_start, t_end);

    let theta = [k.ln(), c.ln(), p];
    let covariance = hessian(|x| data.nll(x), theta).and_then(invert_spd);
    let sd = |i: usize| covariance.map(|m| m[i][i].sqrt()).filter(|s| s.is_finite());
    let near = |x: f64, (a, b): (f64, f64)| {
        (x - a).abs() <= BOUND_TOLERANCE * (b - a) || (b - x).abs() <= BOUND_TOLERANCE * (b - a)
    };
    Ok(OmoriFit {
        k,
        c,
        p,
        sigma_k: sd(0).map(|s| s * k),
        sigma_c: sd(1).map(|s| s * c),
        sigma_p: sd(2),
        n,
        t_start,
        t_end,
        log_likelihood: -data.nll(theta),
        at_bound: near(p, P_RANGE) || near(u, (u_lo, u_hi)),
        covariance,
    })
}

/// Minimum of a unimodal function on [a, b]: (argmin, value).
fn golden(mut a: f64, mut b: f64, f: impl Fn(f64) -> f64) -> (f64, f64) {
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let mut x1 = b - r * (b - a);
    let mut x2 = a + r * (b - a);
    let (mut f1, mut f2) = (f(x1), f(x2));
    for _ in 0..GOLDEN_ITERATIONS {
        if f1 <= f2 {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - r * (b - a);
            f1 = f(x1);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + r * (b - a);
            f2 = f(x2);
        }
    }
    // The bounds themselves are candidates: the minimum may sit on one.
    [(x1, f1), (x2, f2), (a, f(a)), (b, f(b))]
        .into_iter()
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .expect("four candidates")
}

#[allow(clippy::needless_range_loop)]
fn hessian(f: impl Fn([f64; 3]) -> f64, x: [f64; 3]) -> Option<[[f64; 3]; 3]> {
    let h = HESSIAN_STEP;
    let at = |d: [f64; 3]| f([x[0] + d[0], x[1] + d[1], x[2] + d[2]]);
    let f0 = f(x);
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        let mut e = [0.0; 3];
        e[i] = h;
        let neg = e.map(|v| -v);
        m[i][i] = (at(e) - 2.0 * f0 + at(neg)) / (h * h);
        for j in 0..i {
            let d = |si: f64, sj: f64| {
                let mut v = [0.0; 3];
                v[i] = si * h;
                v[j] = sj * h;
                at(v)
            };
            let v = (d(1.0, 1.0) - d(1.0, -1.0) - d(-1.0, 1.0) + d(-1.0, -1.0)) / (4.0 * h * h);
            m[i][j] = v;
            m[j][i] = v;
        }
    }
    m.iter().flatten().all(|v| v.is_finite()).then_some(m)
}

/// Inverse of a symmetric positive-definite 3×3 matrix (via Cholesky), or `None`.
#[allow(clippy::needless_range_loop)] // matrix code reads best with its indices
fn invert_spd(a: [[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let mut l = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - s;
                if d.is_nan() || d <= 0.0 {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    // Solve L Lᵀ X = I column by column.
    let mut inv = [[0.0; 3]; 3];
    for col in 0..3 {
        let mut y = [0.0; 3];
        for i in 0..3 {
            let rhs = if i == col { 1.0 } else { 0.0 };
            y[i] = (rhs - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
        }
        let mut x = [0.0; 3];
        for i in (0..3).rev() {
            x[i] = (y[i] - (i + 1..3).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
        }
        for i in 0..3 {
            inv[i][col] = x[i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integral_has_its_closed_forms() {
        // p = 1: ln((b + c)/(a + c)); p = 2: 1/(a + c) − 1/(b + c); p = 0.5: 2(√(b+c) − √(a+c)).
        let (c, a, b) = (0.05, 0.0, 30.0);
        assert!((integral(c, 1.0, a, b) - ((b + c) / (a + c)).ln()).abs() < 1e-12);
        assert!((integral(c, 1.0 + 1e-12, a, b) - ((b + c) / (a + c)).ln()).abs() < 1e-9);
        assert!((integral(c, 2.0, a, b) - (1.0 / (a + c) - 1.0 / (b + c))).abs() < 1e-12);
        assert!((integral(c, 0.5, a, b) - 2.0 * ((b + c).sqrt() - (a + c).sqrt())).abs() < 1e-12);
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn the_inverse_is_an_inverse() {
        let a = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let inv = invert_spd(a).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| a[i][k] * inv[k][j]).sum();
                assert!((v - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        assert!(invert_spd([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).is_none());
    }

    #[test]
    fn golden_finds_interior_and_boundary_minima() {
        let (x, _) = golden(0.0, 3.0, |x| (x - 1.2).powi(2));
        assert!((x - 1.2).abs() < 1e-8);
        let (x, _) = golden(0.0, 3.0, |x| x);
        assert_eq!(x, 0.0);
    }

    #[test]
    fn too_few_aftershocks_give_no_fit() {
        let t: Vec<f64> = (1..OMORI_MIN_EVENTS).map(|i| i as f64 * 0.1).collect();
        assert_eq!(
            fit(&t, 0.0, 10.0).unwrap_err(),
            NotEnough {
                events: OMORI_MIN_EVENTS - 1,
                required: OMORI_MIN_EVENTS
            }
        );
    }
}
