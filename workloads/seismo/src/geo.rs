//! Distances and centroids on a spherical Earth.

/// Mean Earth radius (IUGG), km.
pub const EARTH_RADIUS_KM: f64 = 6371.0;
/// Kilometres per degree of a great circle.
pub const KM_PER_DEGREE: f64 = EARTH_RADIUS_KM * std::f64::consts::PI / 180.0;

/// Great-circle (epicentral) distance, haversine formula.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// The centroid of epicentres: the normalised mean of their unit vectors (correct across the
/// antimeridian and near the poles). `None` for no points or points that cancel out.
pub fn centroid(points: impl IntoIterator<Item = (f64, f64)>) -> Option<(f64, f64)> {
    let (mut x, mut y, mut z, mut n) = (0.0, 0.0, 0.0, 0usize);
    for (lat, lon) in points {
        let (p, l) = (lat.to_radians(), lon.to_radians());
        x += p.cos() * l.cos();
        y += p.cos() * l.sin();
        z += p.sin();
        n += 1;
    }
    let r = (x * x + y * y + z * z).sqrt();
    if n == 0 || r < 1e-12 {
        return None;
    }
    Some(((z / r).asin().to_degrees(), y.atan2(x).to_degrees()))
}

/// `lon` relative to `origin`, in (−180, 180].
pub fn lon_offset(origin: f64, lon: f64) -> f64 {
    let d = (lon - origin).rem_euclid(360.0);
    if d > 180.0 { d - 360.0 } else { d }
}

/// A longitude wrapped into [−180, 180).
pub fn wrap_lon(lon: f64) -> f64 {
    (lon + 180.0).rem_euclid(360.0) - 180.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        // One degree of latitude, and a quarter of a meridian.
        assert!((haversine_km(0.0, 0.0, 1.0, 0.0) - KM_PER_DEGREE).abs() < 1e-9);
        assert!((haversine_km(0.0, 10.0, 90.0, -70.0) - EARTH_RADIUS_KM * std::f64::consts::FRAC_PI_2).abs() < 1e-6);
        // Across the antimeridian: 0.2 degrees of longitude on the equator.
        assert!((haversine_km(0.0, 179.9, 0.0, -179.9) - 0.2 * KM_PER_DEGREE).abs() < 1e-6);
        // Istanbul to Ankara is about 350 km.
        let d = haversine_km(41.01, 28.98, 39.93, 32.86);
        assert!((340.0..360.0).contains(&d), "{d}");
    }

    #[test]
    fn centroids() {
        let (lat, lon) = centroid([(10.0, 179.0), (10.0, -179.0)]).unwrap();
        assert!(
            (lat - 10.0).abs() < 0.01 && (lon.abs() - 180.0).abs() < 1e-9,
            "{lat} {lon}"
        );
        let (lat, lon) = centroid([(40.0, 28.0), (41.0, 29.0)]).unwrap();
        assert!((lat - 40.5).abs() < 0.01 && (lon - 28.5).abs() < 0.01);
        assert!(centroid([]).is_none());
        assert!(centroid([(0.0, 0.0), (0.0, 180.0)]).is_none());
    }

    #[test]
    fn longitude_arithmetic() {
        assert_eq!(lon_offset(179.0, -179.0), 2.0);
        assert_eq!(lon_offset(-179.0, 179.0), -2.0);
        assert_eq!(wrap_lon(181.0), -179.0);
        assert_eq!(wrap_lon(-180.0), -180.0);
    }
}
