//! The figures of a sample set: sorted in place (no heap), then median and
//! minimum. Pure: tested on the host.

/// What the benchmark prints about one sample set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The middle sample (the mean of the two middle ones for an even count).
    pub median: u64,
    pub min: u64,
    pub max: u64,
    pub iters: usize,
}

/// Sort `samples` and summarise them; `None` for no samples.
pub fn summarize(samples: &mut [u64]) -> Option<Summary> {
    samples.sort_unstable();
    let n = samples.len();
    let min = *samples.first()?;
    let max = *samples.last()?;
    let hi = *samples.get(n / 2)?;
    let median = if n.is_multiple_of(2) {
        let lo = *samples.get(n / 2 - 1)?;
        lo + (hi - lo) / 2
    } else {
        hi
    };
    Some(Summary { median, min, max, iters: n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_and_even_counts() {
        let mut s = [9, 1, 5];
        assert_eq!(summarize(&mut s), Some(Summary { median: 5, min: 1, max: 9, iters: 3 }));
        assert_eq!(s, [1, 5, 9]);
        let mut s = [10, 2, 4, 8];
        assert_eq!(summarize(&mut s), Some(Summary { median: 6, min: 2, max: 10, iters: 4 }));
        let mut s = [7];
        assert_eq!(summarize(&mut s).map(|x| (x.median, x.min)), Some((7, 7)));
    }

    #[test]
    fn empty_and_extremes() {
        assert_eq!(summarize(&mut []), None);
        let mut s = [u64::MAX, u64::MAX - 2];
        assert_eq!(summarize(&mut s).map(|x| x.median), Some(u64::MAX - 1));
    }
}
