//! How likely a challenge is to catch a holder that lost or altered part of a file.
//!
//! A holder that lost or altered a fraction `f` of the chunks answers a challenged chunk only
//! if the chunk is intact (it cannot forge the bytes of a damaged one). The challenge draws
//! `k` distinct chunks of `n`, so it misses every one of the `b = f n` damaged chunks with the
//! hypergeometric probability `C(n - b, k) / C(n, k)`; drawing with replacement would give
//! `(1 - f)^k`, slightly more (distinct draws never waste a draw on a chunk already seen).

/// `1 - (1 - f)^k`: the chance that `k` independent uniform draws hit a damaged chunk when a
/// fraction `f` is damaged. A lower bound for [`exact`].
pub fn with_replacement(f: f64, k: u64) -> f64 {
    1.0 - (1.0 - f).powf(k as f64)
}

/// `1 - C(n - bad, k) / C(n, k)`: the chance that `k` distinct chunks drawn from `n` include at
/// least one of `bad` damaged ones (what [`crate::Challenge::indices`] draws). 1 if `k > n - bad`.
pub fn exact(n: u64, bad: u64, k: u64) -> f64 {
    if bad == 0 {
        return 0.0;
    }
    if k > n - bad {
        return 1.0;
    }
    // C(n - bad, k) / C(n, k) = prod_{i < k} (n - bad - i) / (n - i)
    let miss: f64 = (0..k)
        .map(|i| (n - bad - i) as f64 / (n - i) as f64)
        .product();
    1.0 - miss
}

/// The smallest `k` with `1 - (1 - f)^k >= p`: enough challenges to catch a loss of a fraction
/// `f` with probability `p` (draws without replacement do at least as well).
pub fn challenges_for(f: f64, p: f64) -> u64 {
    if f <= 0.0 || p <= 0.0 {
        return 0;
    }
    if f >= 1.0 {
        return 1;
    }
    ((1.0 - p).ln() / (1.0 - f).ln()).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_in_the_docs() {
        assert!((with_replacement(0.01, 100) - 0.634).abs() < 5e-4);
        assert!((with_replacement(0.01, 460) - 0.990).abs() < 5e-4);
        assert_eq!(challenges_for(0.01, 0.99), 459);
        // 1 GiB = 2^20 chunks, 1 % of them damaged.
        let (n, bad) = (1u64 << 20, (1u64 << 20) / 100);
        assert!(exact(n, bad, 100) >= with_replacement(bad as f64 / n as f64, 100));
        assert_eq!(exact(10, 1, 10), 1.0);
    }
}
